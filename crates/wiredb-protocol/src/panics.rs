//! [`without_panics`]: the one place where a yrs panic on peer input becomes an error.

use crate::error::{ProtocolError, Result};

/// Runs `f`, turning a panic into [`ProtocolError::InvalidUpdate`] naming `what` was
/// being done.
///
/// yrs asserts on some malformed input instead of returning an error (a client id
/// above 2^53, for one), and its own tests only promise that corrupt updates do not
/// *abort*. Bytes from a peer (or a file) must never take a task down, so every yrs
/// call that parses or applies outside input goes through here.
///
/// ```
/// use wiredb_protocol::{ProtocolError, without_panics};
///
/// let result: Result<(), _> = without_panics("testing", || panic!("boom"));
/// assert!(matches!(result, Err(ProtocolError::InvalidUpdate(m)) if m.contains("boom")));
/// ```
pub fn without_panics<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        Err(ProtocolError::InvalidUpdate(format!(
            "yrs panicked {what}: {}",
            panic_message(panic.as_ref())
        )))
    })
}

/// The message a panic carried (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
