//! [`Error`]: what can go wrong between a document and Redis.

/// Errors of the Redis wire.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a Redis URL (`redis://[user:password@]host[:port][/db]`).
    #[error("invalid Redis URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given (its password hidden).
        url: String,
        /// Why.
        reason: String,
    },
    /// Redis could not be reached, refused our credentials, or failed a command.
    #[error("Redis at {url}: {source}")]
    Redis {
        /// The server (its password hidden).
        url: String,
        /// The cause.
        #[source]
        source: redis::RedisError,
    },
    /// Something stored in Redis is not what a wiredb room stores there (a
    /// snapshot or stream entry that does not decode).
    #[error("room {room:?}: {reason}")]
    BadData {
        /// The room.
        room: String,
        /// What is wrong.
        reason: String,
    },
}

/// Results of the Redis wire.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `url` with any password replaced by `***`, for messages and logs.
///
/// ```
/// assert_eq!(wire_redis::redact_url("redis://:pw@host:6379"), "redis://:***@host:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            super::redact_url("redis://user:secret@host:6379/2"),
            "redis://user:***@host:6379/2"
        );
        assert_eq!(
            super::redact_url("redis://:secret@host"),
            "redis://:***@host"
        );
        assert_eq!(super::redact_url("redis://host:6379"), "redis://host:6379");
    }
}
