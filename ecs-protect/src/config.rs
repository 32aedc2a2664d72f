//! [`Config`]: every setting of a protector, its builder and `from_env`.
//!
//! PLACEHOLDER: only the failure policy exists yet.

/// What `acquire` does when protection cannot be confirmed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Run the work unprotected and log a warning (the default).
    #[default]
    Proceed,
    /// Return the error, so the work is refused and its message goes back to the queue.
    Require,
}
