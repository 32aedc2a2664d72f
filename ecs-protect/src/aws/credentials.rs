//! AWS credentials and where they come from: static values, the environment, the ECS
//! container endpoint; the default chain; a cache that refreshes before expiry.

pub(crate) mod container;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

pub(crate) use container::ContainerProvider;

use crate::{Env, Error};

/// What `Debug` and `Display` show instead of a secret.
const REDACTED: &str = "** redacted **";

/// AWS credentials: an access key id, its secret, and a session token for temporary
/// credentials.
///
/// The secret and the token never appear in `Debug` or `Display` output, nor in any log
/// line or error of this crate.
///
/// ```
/// use ecs_protect::Credentials;
///
/// let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", Some("session-token".into()));
/// assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
/// let shown = format!("{creds:?} {creds}");
/// assert!(!shown.contains("wJalrXUtnFEMI") && !shown.contains("session-token"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expires_at: Option<SystemTime>,
}

impl Credentials {
    /// Credentials that do not expire (long-term keys, or temporary ones you refresh
    /// yourself). `session_token` is required for temporary (`ASIA...`) credentials.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
            expires_at: None,
        }
    }

    /// These credentials, expiring at `expires_at`.
    pub(crate) fn expiring(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// The access key id (not a secret: it appears in every signed request).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// When these credentials expire; `None` for credentials that do not.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    pub(crate) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub(crate) fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &REDACTED)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| REDACTED),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl fmt::Display for Credentials {
    /// The access key id; the secret (and token, if any) as `** redacted **`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "access key {}, secret {REDACTED}", self.access_key_id)?;
        if self.session_token.is_some() {
            write!(f, ", session token {REDACTED}")?;
        }
        Ok(())
    }
}

/// A source of credentials. Implementations fetch; [`CachingProvider`] decides when.
pub(crate) trait ProvideCredentials: Send + Sync + fmt::Debug {
    /// Fetches credentials now.
    fn fetch(&self) -> Result<Credentials, Error>;
}

/// Fixed credentials (given in code, or read once from the environment).
#[derive(Debug)]
pub(crate) struct StaticProvider(pub(crate) Credentials);

impl ProvideCredentials for StaticProvider {
    fn fetch(&self) -> Result<Credentials, Error> {
        Ok(self.0.clone())
    }
}

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`;
/// `None` when neither of the first two is set.
///
/// # Errors
///
/// [`Error::Config`] naming the missing variable when only one of the pair is set (the SDKs
/// disagree on this case; refusing it is deliberate).
pub(crate) fn from_environment(env: &Env) -> Result<Option<Credentials>, Error> {
    const ID: &str = "AWS_ACCESS_KEY_ID";
    const SECRET: &str = "AWS_SECRET_ACCESS_KEY";
    match (env.get(ID), env.get(SECRET)) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => Ok(Some(Credentials::new(
            id,
            secret,
            env.get("AWS_SESSION_TOKEN"),
        ))),
        (Some(_), None) => Err(Error::config(
            SECRET,
            format!("is not set but {ID} is: set both or neither"),
        )),
        (None, Some(_)) => Err(Error::config(
            ID,
            format!("is not set but {SECRET} is: set both or neither"),
        )),
    }
}

/// The default chain, decided once from `env`: the environment variables when set, else
/// the ECS container endpoint. Wrapped in a [`CachingProvider`].
///
/// # Errors
///
/// [`Error::Config`] for a half-set key pair or a malformed or disallowed container
/// endpoint (naming the variable); [`Error::Credentials`] when no source is configured.
pub(crate) fn default_chain(env: &Env) -> Result<CachingProvider, Error> {
    if let Some(creds) = from_environment(env)? {
        log::debug!(
            target: "ecs_protect::aws",
            "using AWS credentials from the environment (access key {})",
            creds.access_key_id()
        );
        return Ok(CachingProvider::new(Arc::new(StaticProvider(creds))));
    }
    if let Some(container) = ContainerProvider::from_env(env)? {
        log::debug!(
            target: "ecs_protect::aws",
            "using AWS credentials from the container endpoint {}",
            container.endpoint()
        );
        return Ok(CachingProvider::new(Arc::new(container)));
    }
    Err(Error::Credentials {
        origin: "the environment".to_owned(),
        message: "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
                  run in an ECS task with a task role (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)"
            .to_owned(),
        source: None,
    })
}

/// Refresh when the credentials expire within this time, by one caller, keeping the old
/// ones on failure (botocore's advisory refresh).
pub(crate) const ADVISORY_REFRESH: Duration = Duration::from_secs(15 * 60);
/// Refresh when the credentials expire within this time, every caller waiting for it, and
/// fail if it fails (botocore's mandatory refresh).
pub(crate) const MANDATORY_REFRESH: Duration = Duration::from_secs(10 * 60);

/// The clock a cache reads; replaced in tests.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Caches credentials and refreshes them before they expire.
///
/// - More than 15 minutes left: the cached credentials are used, nothing is fetched.
/// - 10 to 15 minutes left: one caller refreshes while the others keep using the cached
///   credentials; a failed refresh is logged and the cached ones are kept.
/// - Less than 10 minutes left (or nothing cached): callers wait for one refresh, which
///   must succeed.
pub(crate) struct CachingProvider {
    inner: Arc<dyn ProvideCredentials>,
    cached: Mutex<Option<Credentials>>,
    /// Held by the one caller that is refreshing.
    refresh: Mutex<()>,
    clock: Clock,
}

impl fmt::Debug for CachingProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingProvider")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

enum Freshness {
    Fresh,
    Advisory,
    Mandatory,
}

impl CachingProvider {
    /// A cache over `inner`, on the system clock.
    pub(crate) fn new(inner: Arc<dyn ProvideCredentials>) -> Self {
        CachingProvider::with_clock(inner, Arc::new(SystemTime::now))
    }

    /// A cache over `inner` reading `clock`.
    pub(crate) fn with_clock(inner: Arc<dyn ProvideCredentials>, clock: Clock) -> Self {
        CachingProvider {
            inner,
            cached: Mutex::new(None),
            refresh: Mutex::new(()),
            clock,
        }
    }

    fn cached(&self) -> Option<Credentials> {
        self.cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn freshness(&self, creds: &Option<Credentials>) -> Freshness {
        let Some(creds) = creds else {
            return Freshness::Mandatory;
        };
        let Some(expires_at) = creds.expires_at else {
            return Freshness::Fresh;
        };
        let left = expires_at
            .duration_since((self.clock)())
            .unwrap_or(Duration::ZERO);
        if left > ADVISORY_REFRESH {
            Freshness::Fresh
        } else if left > MANDATORY_REFRESH {
            Freshness::Advisory
        } else {
            Freshness::Mandatory
        }
    }

    fn store(&self, creds: &Credentials) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(creds.clone());
    }

    /// Credentials valid for the next few minutes.
    ///
    /// # Errors
    ///
    /// The provider's error when nothing valid is cached and fetching fails.
    pub(crate) fn credentials(&self) -> Result<Credentials, Error> {
        let cached = self.cached();
        match self.freshness(&cached) {
            Freshness::Fresh => cached.ok_or_else(unreachable_empty),
            Freshness::Advisory => {
                // Only one caller refreshes; the others keep the still-valid credentials.
                let Ok(_refreshing) = self.refresh.try_lock() else {
                    return cached.ok_or_else(unreachable_empty);
                };
                let again = self.cached();
                if let Freshness::Fresh = self.freshness(&again) {
                    return again.ok_or_else(unreachable_empty);
                }
                match self.inner.fetch() {
                    Ok(fresh) => {
                        self.store(&fresh);
                        Ok(fresh)
                    }
                    Err(err) => {
                        log::warn!(
                            target: "ecs_protect::aws",
                            "refreshing AWS credentials failed; using the current ones until \
                             they are within {} minutes of expiry: {err}",
                            MANDATORY_REFRESH.as_secs() / 60
                        );
                        again.ok_or(err)
                    }
                }
            }
            Freshness::Mandatory => {
                let _refreshing = self.refresh.lock().unwrap_or_else(PoisonError::into_inner);
                let again = self.cached();
                if let Freshness::Fresh | Freshness::Advisory = self.freshness(&again) {
                    return again.ok_or_else(unreachable_empty);
                }
                let fresh = self.inner.fetch()?;
                self.store(&fresh);
                Ok(fresh)
            }
        }
    }
}

/// `freshness` says `Mandatory` for an empty cache, so the `Fresh`/`Advisory` arms always
/// have credentials; this error is never seen.
fn unreachable_empty() -> Error {
    Error::Credentials {
        origin: "the credentials cache".to_owned(),
        message: "no credentials cached".to_owned(),
        source: None,
    }
}

#[cfg(test)]
mod tests;
