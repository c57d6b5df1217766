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

    /// The peer answered with an auth message denying access to the document.
    #[error("permission denied: {reason}")]
    PermissionDenied {
        /// The reason the peer gave.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;
