//! What `#[protected]`'s expansion names. Not public API: no semver guarantees.

use crate::{Error, FailurePolicy, Guard, Protector};

/// The default protector (`#[protected]` without `protector = …`).
#[inline]
pub fn global() -> &'static Protector {
    crate::global()
}

/// `#[protected]`: counts the unit, protected if protection can be had; never fails.
#[inline]
pub fn enter<P: AsRef<Protector> + ?Sized>(protector: &P) -> Guard {
    protector.as_ref().enter()
}

/// `#[protected(required)]`: the guard, or the error that kept protection from being on.
///
/// # Errors
///
/// As [`Protector::acquire_with`] under [`FailurePolicy::Require`].
#[inline]
pub fn enter_required<P: AsRef<Protector> + ?Sized>(protector: &P) -> Result<Guard, Error> {
    protector.as_ref().acquire_with(FailurePolicy::Require)
}
