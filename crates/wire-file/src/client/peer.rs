//! The file as a y-protocols peer: the other end of the in-memory channel a
//! file client's [`Provider`](wiredb::Provider) talks to.
//!
//! Storage is just another connection (as in Python wiredb): the provider
//! does for a file what it does for a WebSocket (origins, auto_push,
//! auto_pull, push, pull, synced), and this peer plays the file's part of the
//! conversation:
//!
//! - it opens with SyncStep1 carrying the *file's* state vector, so that the
//!   provider answers with exactly what the document holds and the file lacks
//!   (a document that had content before it was attached to the file);
//! - it answers the provider's SyncStep1 with SyncStep2 = the file's content.
//!   The provider applies it under its own transaction origin, so it never
//!   comes back as an update to persist: what was loaded is not re-written;
//! - every SyncStep2 or Update the provider sends is a document change to
//!   persist, handed to the writer task. Those are the local changes *and*
//!   the changes that reached the document through another provider sharing
//!   it, since a provider forwards every change whose origin is not its own.
//!
//! Our SyncStep1 goes out before the provider's SyncStep1 is answered, and a
//! channel keeps its order, so the provider answers it before it applies the
//! file's content: the answer cannot contain what was just loaded.

use tokio::sync::mpsc;
use wiredb::Channel;
use wiredb::protocol::{decode_frame, encode_sync_step1, encode_sync_step2};
use wiredb::yrs::StateVector;
use wiredb::yrs::sync::{Message, SyncMessage};

use super::writer::Job;

/// A Yjs v1 update that changes nothing (no structs, empty delete set): what
/// a provider's SyncStep2 carries when the document holds nothing the file
/// lacks. Python `wire_file` skips it the same way.
const EMPTY_UPDATE: &[u8] = &[0, 0];

/// Plays the file's side of the conversation on `channel` until the provider
/// closes it.
///
/// `content` is the file's content as one update, `state` its state vector.
/// Returns an error only for a frame that does not decode, which would be a
/// bug in the provider: everything else ends the conversation cleanly.
pub(crate) async fn run<C: Channel>(
    channel: C,
    content: Vec<u8>,
    state: StateVector,
    jobs: mpsc::UnboundedSender<Job>,
) -> wiredb::Result<()> {
    if channel.send(encode_sync_step1(&state)).await.is_err() {
        return Ok(()); // the provider is already gone
    }
    let mut content = Some(content);
    while let Some(frame) = channel.recv().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(_) => break,
        };
        for message in decode_frame(&frame)? {
            match message {
                Message::Sync(SyncMessage::SyncStep1(_)) => {
                    // A provider sends one SyncStep1; should another come, the
                    // document already has the content: answer with nothing.
                    let answer = content.take().unwrap_or_else(|| EMPTY_UPDATE.to_vec());
                    if channel.send(encode_sync_step2(&answer)).await.is_err() {
                        return Ok(());
                    }
                }
                Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) => {
                    if update == EMPTY_UPDATE {
                        continue;
                    }
                    if jobs.send(Job::Update(update)).is_err() {
                        // The writer has stopped: nothing more can be stored.
                        return Ok(());
                    }
                }
                // Awareness, auth, queries: nothing a file keeps.
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiredb::MemoryChannel;
    use wiredb::protocol::{encode_awareness, encode_update};
    use wiredb::yrs::sync::awareness::AwarenessUpdate;
    use wiredb::yrs::updates::decoder::Decode;

    /// The peer, driven by hand: no provider, no doc.
    #[tokio::test]
    async fn answers_with_the_content_and_forwards_updates() {
        let (ours, theirs) = MemoryChannel::pair("test", "file");
        let (jobs, mut queued) = mpsc::unbounded_channel();
        let mut state = StateVector::default();
        state.set_max(wiredb::yrs::ClientID::new(1), 5);
        let peer = tokio::spawn(run(theirs, b"content".to_vec(), state.clone(), jobs));

        let hello = decode_frame(&ours.recv().await.unwrap().unwrap()).unwrap();
        assert_eq!(hello, [Message::Sync(SyncMessage::SyncStep1(state))]);

        ours.send(encode_sync_step1(&StateVector::default()))
            .await
            .unwrap();
        let answer = decode_frame(&ours.recv().await.unwrap().unwrap()).unwrap();
        assert_eq!(
            answer,
            [Message::Sync(SyncMessage::SyncStep2(b"content".to_vec()))]
        );
        // A second SyncStep1 gets an empty answer.
        ours.send(encode_sync_step1(&StateVector::default()))
            .await
            .unwrap();
        let answer = decode_frame(&ours.recv().await.unwrap().unwrap()).unwrap();
        assert_eq!(
            answer,
            [Message::Sync(SyncMessage::SyncStep2(EMPTY_UPDATE.to_vec()))]
        );

        ours.send(encode_sync_step2(EMPTY_UPDATE)).await.unwrap();
        ours.send(encode_sync_step2(b"old")).await.unwrap();
        let awareness = AwarenessUpdate::decode_v1(&[0]).unwrap();
        ours.send(encode_awareness(&awareness)).await.unwrap();
        ours.send(encode_update(b"new")).await.unwrap();
        ours.close(wiredb::CloseReason::normal()).await.unwrap();
        peer.await.unwrap().unwrap();

        let mut updates = Vec::new();
        while let Some(job) = queued.recv().await {
            if let Job::Update(update) = job {
                updates.push(update);
            }
        }
        assert_eq!(updates, [b"old".to_vec(), b"new".to_vec()]);
    }

    #[tokio::test]
    async fn a_garbled_frame_is_an_error_not_a_panic() {
        let (ours, theirs) = MemoryChannel::pair("test", "file");
        let (jobs, _queued) = mpsc::unbounded_channel();
        let peer = tokio::spawn(run(theirs, Vec::new(), StateVector::default(), jobs));
        let _hello = ours.recv().await;
        // An update frame cut short: its declared length runs past the end.
        let cut = encode_update(&[1, 2, 3, 4]).slice(..4);
        ours.send(cut).await.unwrap();
        assert!(peer.await.unwrap().is_err());
    }
}
