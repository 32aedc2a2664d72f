//! AWS credentials and where they come from: static values, the environment, the shared
//! config and credentials files, the ECS container endpoint, EC2 instance metadata; the
//! default chain; a cache that refreshes before expiry.

pub(crate) mod cache;
pub(crate) mod container;
pub(crate) mod imds;
pub(crate) mod process;
pub(crate) mod profile;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

pub(crate) use cache::CachingProvider;
#[cfg(test)]
use cache::Clock;
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
/// use ecs_protect::unversioned::Credentials;
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

    /// Checks that every part can be sent in a header: visible ASCII, no spaces or control
    /// characters (a trailing newline in a token, say). `origin` names where they came from.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `origin` and the part (never its value).
    pub(crate) fn check(&self, origin: &str) -> Result<(), Error> {
        let parts = [
            ("access key id", Some(self.access_key_id.as_str())),
            ("secret access key", Some(self.secret_access_key.as_str())),
            ("session token", self.session_token.as_deref()),
        ];
        for (what, value) in parts {
            if let Some(value) = value {
                check_part(what, value, origin)?;
            }
        }
        Ok(())
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

/// Checks one part of a credential (`what`: "session token") read from `origin`.
fn check_part(what: &str, value: &str, origin: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::config(origin, format!("the {what} is empty")));
    }
    if let Some(bad) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(Error::config(
            origin,
            format!(
                "the {what} contains {}, which cannot be sent in a header",
                describe_char(bad)
            ),
        ));
    }
    Ok(())
}

/// Names a character without showing the secret around it.
fn describe_char(c: char) -> String {
    match c {
        '\n' => "a newline".to_owned(),
        '\r' => "a carriage return".to_owned(),
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        c if c.is_control() => format!("a control character (U+{:04X})", u32::from(c)),
        c => format!("the non-ASCII character U+{:04X}", u32::from(c)),
    }
}

/// A credential variable, trimmed; blank counts as unset (as the Rust SDK).
fn trimmed(env: &Env, name: &str) -> Option<String> {
    env.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`
/// (each trimmed; a blank one counts as unset); `None` when neither of the first two is set.
///
/// # Errors
///
/// [`Error::Config`] naming the variable: only one of the pair is set (the SDKs disagree on
/// this case; refusing it is deliberate), or a value has a character that cannot be sent
/// in a header.
pub(crate) fn from_environment(env: &Env) -> Result<Option<Credentials>, Error> {
    const ID: &str = "AWS_ACCESS_KEY_ID";
    const SECRET: &str = "AWS_SECRET_ACCESS_KEY";
    const TOKEN: &str = "AWS_SESSION_TOKEN";
    match (trimmed(env, ID), trimmed(env, SECRET)) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => {
            let token = trimmed(env, TOKEN);
            check_part("access key id", &id, ID)?;
            check_part("secret access key", &secret, SECRET)?;
            if let Some(token) = &token {
                check_part("session token", token, TOKEN)?;
            }
            Ok(Some(Credentials::new(id, secret, token)))
        }
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

/// Refuses web identity configured in the environment, which the SDKs use before the
/// shared files, the container endpoint and IMDS.
///
/// # Errors
///
/// [`Error::Config`] naming `AWS_WEB_IDENTITY_TOKEN_FILE` when it is set (not blank).
fn web_identity_from_env(env: &Env) -> Result<(), Error> {
    const TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
    if trimmed(env, TOKEN_FILE).is_none() {
        return Ok(());
    }
    let role = if trimmed(env, "AWS_ROLE_ARN").is_some() {
        "with AWS_ROLE_ARN"
    } else {
        "(without AWS_ROLE_ARN)"
    };
    Err(Error::config(
        TOKEN_FILE,
        format!(
            "is set {role}: web identity (AssumeRoleWithWebIdentity, as EKS and IRSA set it \
             up) is not supported by ecs-protect, and the credentials that follow it in the \
             chain (container endpoint, instance role) would be another identity; unset it, \
             or give credentials explicitly (AWS_ACCESS_KEY_ID, or a profile with \
             credential_process)"
        ),
    ))
}

/// The default chain, decided once from `env`, in the SDKs' order:
///
/// 1. the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`);
/// 2. web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`): not supported, so
///    an error naming the variable, never a fall through to a later source (which would
///    sign as another identity, the instance's role say);
/// 3. the shared config and credentials files (`AWS_PROFILE`, static keys or
///    `credential_process`; a profile with `role_arn`, `credential_source` or
///    `web_identity_token_file` is an error);
/// 4. the ECS container endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`);
/// 5. EC2 instance metadata (IMDSv2, or IMDSv1 when the token request is refused), unless
///    `AWS_EC2_METADATA_DISABLED=true`: chosen when it answers within about a second.
///
/// Wrapped in a [`CachingProvider`].
///
/// # Errors
///
/// [`Error::Config`] for a bad setting of a configured source (naming the variable, file or
/// profile); [`Error::Credentials`] when no source has credentials.
pub(crate) fn default_chain(env: &Env) -> Result<CachingProvider, Error> {
    let (provider, source) = chain_source(env)?;
    log::debug!(target: "ecs_protect::aws", "using AWS credentials from {source}");
    Ok(CachingProvider::new(provider))
}

/// The source [`default_chain`] picks, and what it is: `the environment
/// (AWS_ACCESS_KEY_ID)`, `profile dev in /home/me/.aws/config (credential_process)`, `the
/// container endpoint http://...`, `EC2 instance metadata at http://...`.
///
/// # Errors
///
/// As [`default_chain`].
pub(crate) fn chain_source(env: &Env) -> Result<(Arc<dyn ProvideCredentials>, String), Error> {
    if let Some(creds) = from_environment(env)? {
        return Ok((
            Arc::new(StaticProvider(creds)),
            "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".to_owned(),
        ));
    }
    web_identity_from_env(env)?;
    if let Some(found) = profile::from_env_described(env)? {
        return Ok(found);
    }
    if let Some(container) = ContainerProvider::from_env(env)? {
        let source = format!("the container endpoint {}", container.endpoint());
        return Ok((Arc::new(container), source));
    }
    let imds = match imds::ImdsProvider::from_env(env)? {
        None => "EC2 instance metadata is disabled (AWS_EC2_METADATA_DISABLED)".to_owned(),
        Some(imds) => match imds.probe() {
            Ok(()) => {
                let source = format!("EC2 instance metadata at {}", imds.endpoint());
                return Ok((Arc::new(imds), source));
            }
            Err(err) => format!("EC2 instance metadata did not answer ({err})"),
        },
    };
    Err(Error::Credentials {
        origin: "the environment".to_owned(),
        message: format!(
            "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
             AWS_PROFILE (a profile with static keys or credential_process), or run in an \
             ECS task with a task role (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) or on EC2 \
             with an instance role; {imds}"
        ),
        source: None,
    })
}

#[cfg(test)]
mod tests;
