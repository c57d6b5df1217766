//! The per-connection y-protocols state machine.
//!
//! [`Connection`] holds no socket, no task and no clock: it is handed frames and the
//! [`Awareness`] (which owns the document) and answers with frames to send back and
//! events to act on. Rooms, providers and tests all drive the same code, which is why
//! the protocol can be tested with two peers passing bytes by hand.

use bytes::Bytes;
use std::collections::HashSet;

use yrs::sync::awareness::{Awareness, AwarenessUpdate, AwarenessUpdateSummary};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Origin, ReadTxn, StateVector, Transact, Update};

use crate::error::{ProtocolError as Error, Result};
use crate::message::{
    UPDATE_CLIENT_MIN, check_count, decode_frame, encode_awareness, encode_sync_step1,
    encode_sync_step2,
};
use crate::panics::without_panics;

/// Which end of a connection a [`Connection`] plays.
///
/// Both ends exchange SyncStep1/SyncStep2; the difference is that a server announces
/// the awareness states of everyone in the room on connect, while a client announces
/// only its own and becomes *synced* once it has applied the server's SyncStep2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that joined a room (a provider).
    Client,
    /// The side that hosts the room.
    Server,
}

/// Something the owner of a [`Connection`] may want to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer's SyncStep2 was applied: this side now has everything the peer had
    /// when it answered.
    Synced,
    /// Awareness states changed because of this peer's message.
    Awareness(AwarenessUpdateSummary),
    /// A document update was held back instead of applied (remote updates are held
    /// while auto-pull is off; see [`Connection::release_held`]).
    UpdateHeld,
    /// A document update from a read-only peer was dropped.
    ReadOnlyUpdateDropped,
    /// A message of a type this crate does not handle was ignored, as y-protocols
    /// asks.
    Ignored {
        /// The y-protocols message type.
        message_type: u8,
    },
}

/// How much awareness one connection may bring into a room: without a bound, one peer
/// could add so many states that every joiner's first frame is over the frame limit,
/// and the room could not be joined at all.
///
/// ```
/// use wiredb_protocol::AwarenessLimits;
///
/// let limits = AwarenessLimits::default().max_states(16);
/// assert_eq!(limits.max_state_bytes, 8 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwarenessLimits {
    /// States one connection may introduce (default 256: a browser has one; an
    /// upstream link relays one per client of its edge server).
    pub max_states: usize,
    /// Bytes of one state's JSON (default 8 KiB; a cursor and a name take ~200).
    pub max_state_bytes: usize,
}

impl Default for AwarenessLimits {
    fn default() -> Self {
        AwarenessLimits {
            max_states: 256,
            max_state_bytes: 8 * 1024,
        }
    }
}

impl AwarenessLimits {
    /// Sets [`AwarenessLimits::max_states`].
    pub fn max_states(mut self, states: usize) -> Self {
        self.max_states = states;
        self
    }

    /// Sets [`AwarenessLimits::max_state_bytes`].
    pub fn max_state_bytes(mut self, bytes: usize) -> Self {
        self.max_state_bytes = bytes;
        self
    }
}

/// What a call to [`Connection::receive`] produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Frames to send back to this peer, in order.
    pub replies: Vec<Bytes>,
    /// Events for the owner.
    pub events: Vec<Event>,
}

/// The y-protocols state of one connection.
///
/// ```
/// use wiredb_protocol::{Connection, Event};
/// use yrs::sync::Awareness;
/// use yrs::{Doc, GetString, Text, Transact};
///
/// let server_doc = Doc::new();
/// server_doc.get_or_insert_text("t").push(&mut server_doc.transact_mut(), "hi");
/// let mut server_aw = Awareness::new(server_doc);
/// let mut client_aw = Awareness::new(Doc::new());
/// let mut server = Connection::server(1u64);
/// let mut client = Connection::client(2u64);
///
/// // Each side opens with SyncStep1; each answers the other's with SyncStep2.
/// let to_server = client.open(&client_aw).unwrap();
/// let to_client = server.open(&server_aw).unwrap();
/// for frame in to_server {
///     for reply in server.receive(&mut server_aw, &frame).unwrap().replies {
///         let outcome = client.receive(&mut client_aw, &reply).unwrap();
///         assert!(outcome.events.contains(&Event::Synced));
///     }
/// }
/// # drop(to_client);
/// let text = client_aw.doc().get_or_insert_text("t");
/// assert_eq!(text.get_string(&client_aw.doc().transact()), "hi");
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    awareness_limits: AwarenessLimits,
    /// Client ids whose awareness state this peer brought into the awareness (and
    /// has not removed): what [`AwarenessLimits::max_states`] counts.
    introduced: HashSet<ClientID>,
    origin: Origin,
    read_only: bool,
    hold_remote_updates: bool,
    held: Vec<Vec<u8>>,
    synced: bool,
}

impl Connection {
    /// A connection playing `role`. Updates it applies are tagged with `origin`, which
    /// is how the owner recognises (and does not echo back) changes that came from
    /// this peer.
    pub fn new(role: Role, origin: impl Into<Origin>) -> Self {
        Connection {
            role,
            awareness_limits: AwarenessLimits::default(),
            introduced: HashSet::new(),
            origin: origin.into(),
            read_only: false,
            hold_remote_updates: false,
            held: Vec::new(),
            synced: false,
        }
    }

    /// A client-side connection (see [`Connection::new`]).
    pub fn client(origin: impl Into<Origin>) -> Self {
        Self::new(Role::Client, origin)
    }

    /// A server-side connection (see [`Connection::new`]).
    pub fn server(origin: impl Into<Origin>) -> Self {
        Self::new(Role::Server, origin)
    }

    /// Bounds the awareness states this peer may introduce and their size (default
    /// [`AwarenessLimits::default`]). A message over them is refused whole, before
    /// anything of it is applied.
    pub fn set_awareness_limits(&mut self, limits: AwarenessLimits) {
        self.awareness_limits = limits;
    }

    /// Drop document updates sent by this peer (it still receives everything).
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// Hold remote document updates instead of applying them, until
    /// [`Connection::release_held`]. This is a provider's `auto_pull = false`.
    pub fn set_hold_remote_updates(&mut self, hold: bool) {
        self.hold_remote_updates = hold;
    }

    /// The origin attached to every transaction this connection applies.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The role this connection plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True once the peer's SyncStep2 has been received.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Number of remote updates held back (see [`Connection::set_hold_remote_updates`]).
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// The frames to send when the connection opens: SyncStep1 with this side's state
    /// vector, then the awareness states this side announces (every known state for a
    /// server, the local state for a client), if there are any.
    pub fn open(&self, awareness: &Awareness) -> Result<Vec<Bytes>> {
        let state_vector = awareness.doc().transact().state_vector();
        let mut frames = vec![encode_sync_step1(&state_vector)];
        let announced = match self.role {
            Role::Server => awareness.update()?,
            Role::Client => match awareness.local_state_raw() {
                Some(_) => awareness.update_with_clients([awareness.client_id()])?,
                None => return Ok(frames),
            },
        };
        if !announced.clients.is_empty() {
            frames.push(encode_awareness(&announced));
        }
        Ok(frames)
    }

    /// Handles one frame from the peer.
    ///
    /// Messages are handled in order; an error stops at the offending message (earlier
    /// messages of the frame stay applied, which is safe because every Yjs update is
    /// idempotent). A `permission denied` auth message is returned as
    /// [`Error::PermissionDenied`].
    pub fn receive(&mut self, awareness: &mut Awareness, frame: &[u8]) -> Result<Outcome> {
        let mut replies = Vec::new();
        let events = self.receive_with(awareness, frame, |reply| {
            replies.push(reply);
            Ok::<(), Error>(())
        })?;
        Ok(Outcome { replies, events })
    }

    /// [`Connection::receive`], handing each reply to `reply` as soon as it is built,
    /// and stopping at the first one `reply` refuses (its error is returned).
    ///
    /// This is how an owner bounds the work done for a peer by what the peer may be
    /// sent: a frame of many SyncStep1s or awareness queries (each answered with the
    /// whole document or every awareness state) is answered one message at a time,
    /// and the first answer over the peer's budget ends it.
    pub fn receive_with<E: From<Error>>(
        &mut self,
        awareness: &mut Awareness,
        frame: &[u8],
        mut reply: impl FnMut(Bytes) -> std::result::Result<(), E>,
    ) -> std::result::Result<Vec<Event>, E> {
        let mut events = Vec::new();
        for message in decode_frame(frame)? {
            if let Some(answer) = self.handle(awareness, message, &mut events)? {
                reply(answer)?;
            }
        }
        Ok(events)
    }

    /// Handles one message; the reply it calls for, if any.
    fn handle(
        &mut self,
        awareness: &mut Awareness,
        message: Message,
        events: &mut Vec<Event>,
    ) -> Result<Option<Bytes>> {
        match message {
            Message::Sync(SyncMessage::SyncStep1(remote)) => {
                return Ok(Some(answer_sync_step1(awareness, &remote)?));
            }
            Message::Sync(SyncMessage::SyncStep2(update)) => {
                self.incoming_update(awareness, update, events)?;
                if !self.synced {
                    self.synced = true;
                    events.push(Event::Synced);
                }
            }
            Message::Sync(SyncMessage::Update(update)) => {
                self.incoming_update(awareness, update, events)?;
            }
            Message::Awareness(update) => {
                let new = self.check_awareness(awareness, &update)?;
                let summary = without_panics("applying awareness", || {
                    Ok(awareness.apply_update_summary_with(update, self.origin.clone())?)
                })?;
                // Counted whether or not yrs reports them as added: a `null` about an
                // unknown client still leaves an entry behind.
                self.introduced.extend(new);
                if let Some(summary) = summary {
                    events.push(Event::Awareness(summary));
                }
            }
            Message::AwarenessQuery => {
                return Ok(Some(encode_awareness(&awareness.update()?)));
            }
            Message::Auth(Some(reason)) => return Err(Error::PermissionDenied { reason }),
            Message::Auth(None) => {}
            Message::Custom(message_type, _) => {
                events.push(Event::Ignored { message_type });
            }
        }
        Ok(None)
    }

    /// Refuses an awareness update over [`AwarenessLimits`], and returns the clients
    /// it would make this peer the source of: every entry for a client this peer has
    /// not introduced and that has no live state in the awareness, removals included
    /// (yrs keeps an entry even for a `null` about an unknown client, and a later state
    /// for it would then count as an update, not an addition).
    fn check_awareness(
        &self,
        awareness: &Awareness,
        update: &AwarenessUpdate,
    ) -> Result<Vec<ClientID>> {
        let limits = self.awareness_limits;
        for entry in update.clients.values() {
            if entry.json.len() > limits.max_state_bytes {
                return Err(Error::AwarenessStateTooLarge {
                    size: entry.json.len(),
                    limit: limits.max_state_bytes,
                });
            }
        }
        let mut unknown = update
            .clients
            .keys()
            .filter(|client| !self.introduced.contains(*client))
            .peekable();
        if unknown.peek().is_none() {
            return Ok(Vec::new());
        }
        // Only now, for a message about clients this peer has not introduced yet (a
        // join, not the 15 s renewal of its own state).
        let live: HashSet<ClientID> = awareness
            .iter()
            .filter(|(_, state)| state.data.is_some())
            .map(|(client, _)| client)
            .collect();
        let new: Vec<ClientID> = unknown
            .filter(|client| !live.contains(*client))
            .copied()
            .collect();
        if self.introduced.len() + new.len() > limits.max_states {
            return Err(Error::TooManyAwarenessStates {
                limit: limits.max_states,
            });
        }
        Ok(new)
    }

    fn incoming_update(
        &mut self,
        awareness: &Awareness,
        update: Vec<u8>,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        if self.read_only {
            events.push(Event::ReadOnlyUpdateDropped);
            return Ok(());
        }
        // Decode before holding, so that a held update is known to be well formed and
        // a bad one is reported now, to the peer that sent it.
        check_count("update", &update, UPDATE_CLIENT_MIN)?;
        let decoded = decode_update(&update)?;
        if decoded.is_empty() {
            // An empty SyncStep2 (the peer had nothing we lack) changes nothing.
            return Ok(());
        }
        if self.hold_remote_updates {
            self.held.push(update);
            events.push(Event::UpdateHeld);
            return Ok(());
        }
        apply(awareness, decoded, &self.origin)
    }

    /// Applies every held remote update (a provider's `pull()`), returning how many
    /// there were.
    pub fn release_held(&mut self, awareness: &Awareness) -> Result<usize> {
        let held = std::mem::take(&mut self.held);
        let count = held.len();
        for update in held {
            let decoded = decode_update(&update)?;
            apply(awareness, decoded, &self.origin)?;
        }
        Ok(count)
    }
}

fn answer_sync_step1(awareness: &Awareness, remote: &StateVector) -> Result<Bytes> {
    // Guarded too: yrs encodes the doc's pending updates here, and one it cannot
    // encode back would otherwise panic the reader of whoever asked.
    let diff = without_panics("encoding the document", || {
        Ok(awareness.doc().transact().encode_state_as_update_v1(remote))
    })?;
    Ok(encode_sync_step2(&diff))
}

/// Decodes a peer's update, refusing one that yrs decodes but cannot encode back
/// into something it decodes. Applied, such an update (found by fuzzing) stays in the
/// document's pending structs, and every later SyncStep1 answer, for every peer,
/// panics: the room could not be joined any more, and its file could not be loaded.
fn decode_update(update: &[u8]) -> Result<Update> {
    without_panics("decoding an update", || {
        let decoded = Update::decode_v1(update)?;
        if Update::decode_v1(&decoded.encode_v1()).is_err() {
            return Err(Error::InvalidUpdate(
                "the update does not survive re-encoding (it would corrupt the document)".into(),
            ));
        }
        Ok(decoded)
    })
}

fn apply(awareness: &Awareness, update: Update, origin: &Origin) -> Result<()> {
    without_panics("applying an update", || {
        let mut txn = awareness.doc().transact_mut_with(origin.clone());
        txn.apply_update(update)
            .map_err(|e| Error::InvalidUpdate(e.to_string()))
    })
}
