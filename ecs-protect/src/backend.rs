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

impl Protection {
    /// The arguments of an `UpdateTaskProtection` call: `protectionEnabled` and
    /// `expiresInMinutes` (left out when disabling).
    pub(crate) fn as_update(self) -> (bool, Option<u32>) {
        match self {
            Protection::On { expires_in_minutes } => (true, Some(expires_in_minutes)),
            Protection::Off => (false, None),
        }
    }
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

    /// When the current stretch of continuous protection began, if this backend knows it
    /// better than the protector: [`SharedBackend`](crate::SharedBackend) reports the
    /// stretch all the task's processes share, so that their breathing windows open at the
    /// same instants. The protector reads it after each successful enable that turned its
    /// protection on. `None` (the default): the protector counts from its own enable call.
    fn protected_since(&self) -> Option<SystemTime> {
        None
    }

    /// The protector that owns this backend has been asked to shut down
    /// ([`Protector::request_shutdown`](crate::Protector::request_shutdown),
    /// [`Protector::drain`](crate::Protector::drain) or a linked
    /// [`Shutdown`](crate::Shutdown)): a call that waits for something other than ECS ends
    /// that wait at once with [`Error::ShuttingDown`], and so do later ones.
    /// [`SharedBackend`](crate::SharedBackend) ends its wait for another process's
    /// breathing window. Called once, from the thread that asked, possibly while a call is
    /// in the air on another thread. Default: nothing.
    fn shutting_down(&self) {}
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

/// The variable that picks the backend.
const BACKEND_VAR: &str = "ECS_PROTECT_BACKEND";

/// Picks the backend the environment asks for: `ECS_PROTECT_BACKEND=api|agent|off`, else
/// the ECS API ([`EcsClient`](crate::unversioned::EcsClient)) when
/// `ECS_CONTAINER_METADATA_URI_V4` is set, else [`Disabled`]; wrapped in a
/// [`SharedBackend`](crate::SharedBackend) when `ECS_PROTECT_SHARED_DIR` is set.
///
/// # Errors
///
/// [`Error::Config`] naming `ECS_PROTECT_BACKEND` for another value, the chosen
/// backend's own configuration error (which names its variable), or one naming
/// `ECS_PROTECT_SHARED_DIR` for a directory that cannot coordinate.
///
/// The call timeouts come from `config` (`ECS_PROTECT_CONNECT_TIMEOUT`,
/// `ECS_PROTECT_READ_TIMEOUT`), else the backend's defaults.
pub(crate) fn from_env(
    env: &crate::Env,
    config: &crate::Config,
) -> Result<Box<dyn Backend>, Error> {
    crate::shared::from_env(env, config, chosen(env, config)?)
}

/// The backend `ECS_PROTECT_BACKEND` and the ECS variables pick, before any wrapping.
fn chosen(env: &crate::Env, config: &crate::Config) -> Result<Box<dyn Backend>, Error> {
    let api = || -> Result<Box<dyn Backend>, Error> {
        let mut builder = crate::aws::EcsClient::builder().env(env);
        if let Some(timeout) = config.connect_timeout() {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = config.read_timeout() {
            builder = builder.read_timeout(timeout);
        }
        Ok(Box::new(builder.build()?))
    };
    let agent = || -> Result<Box<dyn Backend>, Error> {
        let agent = crate::agent::AgentBackend::from_env_with(env)?;
        Ok(Box::new(agent.with_timeouts(
            config.connect_timeout(),
            config.read_timeout(),
        )))
    };
    let choice = env.get(BACKEND_VAR).map(|v| v.trim().to_ascii_lowercase());
    match choice.as_deref() {
        Some("api") => api(),
        Some("agent") => agent(),
        Some("off") => Ok(Box::new(Disabled)),
        Some(_) => Err(Error::config(
            BACKEND_VAR,
            format!(
                "expected api, agent or off, got {:?}",
                env.get(BACKEND_VAR).unwrap_or_default()
            ),
        )),
        None if env.get(crate::aws::metadata::METADATA_URI).is_some() => api(),
        None => Ok(Box::new(Disabled)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Env;

    fn pick(vars: &[(&str, &str)]) -> Result<String, String> {
        from_env(
            &Env::from_vars(vars.iter().copied()),
            &crate::Config::default(),
        )
        .map(|b| b.name().to_owned())
        .map_err(|e| e.to_string())
    }

    const ECS: [(&str, &str); 4] = [
        (
            "ECS_CONTAINER_METADATA_URI_V4",
            "http://169.254.170.2/v4/abc",
        ),
        ("ECS_AGENT_URI", "http://169.254.170.2/api/abc"),
        ("AWS_REGION", "eu-west-1"),
        (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/abc",
        ),
    ];

    #[test]
    fn selection() {
        assert_eq!(pick(&[]).unwrap(), "off");
        assert_eq!(pick(&ECS).unwrap(), "ecs-api");
        let with = |value| {
            let mut vars = ECS.to_vec();
            vars.push((BACKEND_VAR, value));
            pick(&vars)
        };
        assert_eq!(with("api").unwrap(), "ecs-api");
        assert_eq!(with("agent").unwrap(), "ecs-agent");
        assert_eq!(with("Agent").unwrap(), "ecs-agent");
        assert_eq!(with("off").unwrap(), "off");
        assert!(
            from_env(
                &Env::from_vars([(BACKEND_VAR, "off")]),
                &crate::Config::default()
            )
            .unwrap()
            .is_local()
        );
        assert_eq!(
            with("sdk").unwrap_err(),
            "invalid ECS_PROTECT_BACKEND: expected api, agent or off, got \"sdk\""
        );
    }

    #[test]
    fn chosen_backend_errors_name_their_variable() {
        assert!(
            pick(&[(BACKEND_VAR, "agent")])
                .unwrap_err()
                .starts_with("invalid ECS_AGENT_URI: is not set")
        );
        assert!(
            pick(&[(BACKEND_VAR, "api")])
                .unwrap_err()
                .starts_with("invalid ECS_CONTAINER_METADATA_URI_V4: is not set")
        );
        let mut no_credentials = ECS.to_vec();
        no_credentials.retain(|(k, _)| !k.starts_with("AWS_CONTAINER"));
        // Off EC2 as in CI: no probe of the instance metadata address from a test.
        no_credentials.push(("AWS_EC2_METADATA_DISABLED", "true"));
        assert!(pick(&no_credentials).unwrap_err().starts_with(
            "could not load AWS credentials from the environment: no credentials found"
        ));
    }
}
