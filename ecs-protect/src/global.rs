//! The process-wide default protector that `#[protected]` uses. (PLACEHOLDER)

use std::sync::OnceLock;

use crate::{Disabled, Protector};

static GLOBAL: OnceLock<Protector> = OnceLock::new();

/// The process-wide default protector, built from the environment on first use.
pub fn global() -> &'static Protector {
    GLOBAL.get_or_init(|| Protector::with_backend(Disabled))
}

/// Installs `protector` as the default, if none has been built yet.
///
/// # Errors
///
/// Gives `protector` back when the default already exists.
pub fn set_global(protector: Protector) -> Result<(), Protector> {
    GLOBAL.set(protector)
}
