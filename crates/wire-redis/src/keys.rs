//! The Redis keys of a room: `{prefix}{room}:stream` (the y-protocols messages since
//! the snapshot), `{prefix}{room}:snapshot` (a hash: `state`, the document as one
//! update, and `upto`, the last stream entry merged into it), `{prefix}{room}:lease`
//! (which process compacts the room now).
//!
//! The room id is percent-encoded (all but ASCII letters, digits, `-_.~/`), so that no
//! id can end with `:stream` or otherwise name another room's keys.

/// The keys of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoomKeys {
    pub(crate) stream: String,
    pub(crate) snapshot: String,
    pub(crate) lease: String,
}

impl RoomKeys {
    pub(crate) fn new(prefix: &str, room: &str) -> Self {
        let base = format!("{prefix}{}", encode(room));
        RoomKeys {
            stream: format!("{base}:stream"),
            snapshot: format!("{base}:snapshot"),
            lease: format!("{base}:lease"),
        }
    }
}

fn encode(room: &str) -> String {
    let mut out = String::with_capacity(room.len());
    for byte in room.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_reach_other_rooms_keys() {
        let keys = RoomKeys::new("wiredb:", "notes/today");
        assert_eq!(keys.stream, "wiredb:notes/today:stream");
        let sneaky = RoomKeys::new("wiredb:", "a:stream");
        assert_eq!(sneaky.stream, "wiredb:a%3Astream:stream");
        assert_eq!(
            RoomKeys::new("p:", "é %").snapshot,
            "p:%C3%A9%20%25:snapshot"
        );
    }
}
