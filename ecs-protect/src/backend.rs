//! The [`Backend`] trait: how protection is switched on and off.
//!
//! Implementations: the signed ECS API (`aws::ecs`), the ECS agent's local endpoint
//! (`agent`), [`Disabled`] (local mode), and any user type.

use std::time::SystemTime;

use crate::Error;

/// A change of protection to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Protect the task for this many minutes from now (ECS accepts 1..=2880).
    /// Asking again while protected resets the expiry: this is how renewal works.
    On {
        /// Minutes until ECS clears the protection by itself.
        expires_in_minutes: u32,
    },
    /// Remove protection.
    Off,
}

/// The protection state a backend confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtectionState {
    /// Whether the task is protected.
    pub enabled: bool,
    /// When ECS will clear the protection by itself; `None` when off or not reported.
    pub expires_at: Option<SystemTime>,
}

/// Switches task protection on or off. The protector calls it from one thread at a time.
///
/// Implement it to put protection behind something else (a test double, another control
/// plane). A call blocks until the change is confirmed or has failed; retries are the
/// implementation's business.
///
/// ```
/// use ecs_protect::{Backend, Error, Protection, ProtectionState};
///
/// #[derive(Debug)]
/// struct AlwaysOn;
///
/// impl Backend for AlwaysOn {
///     fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
///         Ok(ProtectionState { enabled: matches!(change, Protection::On { .. }), expires_at: None })
///     }
/// }
/// ```
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Asks for `change` and returns the state that was confirmed.
    ///
    /// # Errors
    ///
    /// Whatever stopped the change: transport, API, refusal or credentials errors.
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error>;

    /// A short name for logs and stats: `ecs-api`, `ecs-agent`, `off`, or the type's own.
    fn name(&self) -> &str {
        "custom"
    }

    /// Whether this backend calls nothing (local mode). The protector then counts work
    /// without ever waiting for a call.
    fn is_local(&self) -> bool {
        false
    }
}

/// Local mode: counts nothing remotely, confirms every change at once.
///
/// Used outside ECS (no `ECS_CONTAINER_METADATA_URI_V4`) or with `ECS_PROTECT_BACKEND=off`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Disabled;

impl Backend for Disabled {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        Ok(ProtectionState {
            enabled: matches!(change, Protection::On { .. }),
            expires_at: None,
        })
    }

    fn name(&self) -> &str {
        "off"
    }

    fn is_local(&self) -> bool {
        true
    }
}

/// Picks the backend the environment asks for: `ECS_PROTECT_BACKEND=api|agent|off`, else
/// the ECS API when `ECS_CONTAINER_METADATA_URI_V4` is set, else [`Disabled`].
///
/// PLACEHOLDER: always [`Disabled`] until the clients exist.
#[allow(dead_code)] // PLACEHOLDER: used once the config lands
pub(crate) fn from_env(env: &crate::Env) -> Result<Box<dyn Backend>, Error> {
    let _ = env;
    Ok(Box::new(Disabled))
}
