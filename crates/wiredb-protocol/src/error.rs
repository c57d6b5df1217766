//! [`ProtocolError`]: what can go wrong while decoding or handling y-protocols frames.

/// Everything the protocol layer can fail with. Every variant is the peer's doing:
/// bytes that do not decode, an update yrs rejects, or the peer's own refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame could not be decoded as y-protocols messages (bad var-uint, a length
    /// that runs past the end of the frame, an unknown sync message tag, ...).
    #[error("malformed frame: {0}")]
    Decode(#[from] yrs::encoding::read::Error),

    /// The frame decoded, but the document update inside it was rejected by yrs.
    #[error("invalid document update: {0}")]
    InvalidUpdate(String),

    /// An awareness update could not be applied or encoded.
    #[error("awareness error: {0}")]
    Awareness(#[from] yrs::sync::awareness::Error),

    /// A message declares more entries than its bytes can hold (each entry takes at
    /// least a few bytes). Refused before yrs decodes it: yrs reserves memory by the
    /// declared count, so 8 bytes could otherwise cost a gigabyte.
    #[error("{what} declares {declared} entries in {bytes} bytes")]
    ImpossibleCount {
        /// The kind of message (`state vector`, `awareness update`, `update`).
        what: &'static str,
        /// The count it declares.
        declared: u64,
        /// The bytes that follow the count.
        bytes: usize,
    },

    /// The peer's awareness updates would make it the source of more states than
    /// its connection may introduce ([`AwarenessLimits::max_states`]).
    ///
    /// [`AwarenessLimits::max_states`]: crate::AwarenessLimits::max_states
    #[error("awareness: more than {limit} states from one connection")]
    TooManyAwarenessStates {
        /// The limit.
        limit: usize,
    },

    /// One awareness state is larger than a state may be
    /// ([`AwarenessLimits::max_state_bytes`]).
    ///
    /// [`AwarenessLimits::max_state_bytes`]: crate::AwarenessLimits::max_state_bytes
    #[error("awareness state of {size} bytes exceeds the limit of {limit} bytes")]
    AwarenessStateTooLarge {
        /// The state's size (its JSON).
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// The peer answered with an auth message denying access to the document.
    #[error("permission denied: {reason}")]
    PermissionDenied {
        /// The reason the peer gave.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;
