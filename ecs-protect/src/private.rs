//! What `#[protected]`'s expansion names. Not public API: no semver guarantees.

use crate::{Error, FailurePolicy, Guard, Protector};

/// The default protector (`#[protected]` without `protector = …`).
#[inline]
pub fn global() -> &'static Protector {
    crate::global()
}

/// `#[protected]`: counts the unit, protected if protection can be had; never fails.
#[inline]
pub fn enter(protector: &Protector) -> Guard {
    protector.enter()
}

/// `#[protected(required)]`: the guard, or the error that kept protection from being on.
///
/// # Errors
///
/// As [`Protector::acquire_with`] under [`FailurePolicy::Require`].
#[inline]
pub fn enter_required(protector: &Protector) -> Result<Guard, Error> {
    protector.acquire_with(FailurePolicy::Require)
}

/// What `protector = EXPR` accepts: a `Protector`, a reference to one, an
/// `Arc<Protector>`, or any type that is `AsRef<Protector>`.
///
/// The expansion calls `ProtectorSource::protector(&(EXPR))`, spanned at `EXPR`, so a value
/// of another type fails to compile with this trait's message, at the expression.
#[diagnostic::on_unimplemented(
    message = "`protector = ...` needs a `Protector`, a reference to one, or a type that is \
               `AsRef<Protector>` such as `Arc<Protector>`, not `{Self}`",
    label = "not a protector"
)]
pub trait ProtectorSource {
    /// The protector to acquire from.
    fn protector(&self) -> &Protector;
}

// Not recommended: the error names the expression's type, not every `AsRef` impl it has.
#[diagnostic::do_not_recommend]
impl<T: AsRef<Protector> + ?Sized> ProtectorSource for T {
    #[inline]
    fn protector(&self) -> &Protector {
        self.as_ref()
    }
}

/// A return type `#[protected(required)]` can return the acquire error in: `Result<T, E>`
/// with `E: From<ecs_protect::Error>`, the conversion `?` would make.
///
/// The expansion's early return is `RequiredReturn::refused(error)` with `Self` inferred
/// from the function's return type, so a function that cannot carry the error fails to
/// compile with this trait's message, at its return type.
#[diagnostic::on_unimplemented(
    message = "`#[protected(required)]` needs a function returning `Result<_, E>` with \
               `E: From<ecs_protect::Error>`, not `{Self}`",
    label = "cannot return the protection error as `{Self}`",
    note = "without `required`, the body runs even when protection cannot be had"
)]
pub trait RequiredReturn {
    /// The acquire error, converted as `?` would.
    fn refused(error: Error) -> Self;
}

// Not recommended: when `E` lacks `From<Error>`, the error is this trait's message naming
// the whole return type, not a list of every `From` impl `E` has.
#[diagnostic::do_not_recommend]
impl<T, E: From<Error>> RequiredReturn for Result<T, E> {
    #[inline]
    fn refused(error: Error) -> Self {
        Err(E::from(error))
    }
}
