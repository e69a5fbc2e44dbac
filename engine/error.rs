//! Errors that callers branch on (by `downcast_ref`, never by message text).

/// A computation produced NaN or Inf: the loss, a gradient, or a spectral solver's
/// iterate. A training run that meets it has diverged; any other error is a failure.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct NonFinite {
    /// What was non-finite and where, in words (the whole message).
    pub what: String,
}

impl NonFinite {
    pub fn new(what: impl Into<String>) -> Self {
        NonFinite { what: what.into() }
    }
}

/// Whether `error` (or any error it wraps) is a [`NonFinite`].
pub fn is_non_finite(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<NonFinite>().is_some())
}
