//! EC2 instance metadata (IMDSv2): the instance role's credentials, for EC2-launch-type
//! tasks without a task role and for workers run on an EC2 instance.
//!
//! A session token is fetched with `PUT /latest/api/token` and sent with every `GET`; the
//! role name comes from `/latest/meta-data/iam/security-credentials/`, its credentials from
//! `.../security-credentials/<role>`. When the token request answers 403, 404 or 405 (an
//! IMDS proxy or emulator that refuses `PUT`, or a token hop limit reached), the requests
//! go on without a token (IMDSv1) and a warning is logged, as botocore and the Go SDK do:
//! refusing would leave such hosts with no credentials at all, and an instance that
//! requires IMDSv2 answers 401 to tokenless requests, which is reported as an error.
//! Timeouts are 1 s so that off EC2 the probe costs
//! about a second. Read: `AWS_EC2_METADATA_DISABLED`, `AWS_EC2_METADATA_SERVICE_ENDPOINT`,
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` (`IPv4` or `IPv6`).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Credentials, ProvideCredentials};
use crate::aws::endpoint::env_flag;
use crate::aws::http::{HttpClient, HttpResponse, Timeouts};
use crate::aws::url::Url;
use crate::{Env, Error};

const DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
const ENDPOINT: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
const ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";

const IPV4_ENDPOINT: &str = "http://169.254.169.254";
const IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";

const TOKEN_PATH: &str = "/latest/api/token";
const ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// The session token's lifetime asked for (6 hours, the maximum), and how long before its
/// end a new one is fetched.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 60 * 60);
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// Short timeouts: the metadata service is link-local and answers in milliseconds.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    read: Duration::from_secs(1),
};

/// Attempts per request once on EC2 (the SDKs: 3 attempts of 1 s).
const ATTEMPTS: u32 = 3;

/// The instance role's credentials from IMDSv2.
#[derive(Debug)]
pub(crate) struct ImdsProvider {
    endpoint: Url,
    http: HttpClient,
    /// The session token (`None`: IMDSv1, the token request was refused) and when to
    /// ask for one again.
    token: Mutex<Option<(Option<String>, Instant)>>,
    attempts: u32,
}

impl ImdsProvider {
    /// The provider `env` configures; `None` when `AWS_EC2_METADATA_DISABLED=true`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable: a malformed flag, endpoint or mode.
    pub(crate) fn from_env(env: &Env) -> Result<Option<ImdsProvider>, Error> {
        if env_flag(env, DISABLED)? {
            return Ok(None);
        }
        let text = match (env.get(ENDPOINT), env.get(ENDPOINT_MODE)) {
            (Some(url), _) => url,
            (None, None) => IPV4_ENDPOINT.to_owned(),
            (None, Some(mode)) if mode.trim().eq_ignore_ascii_case("ipv4") => {
                IPV4_ENDPOINT.to_owned()
            }
            (None, Some(mode)) if mode.trim().eq_ignore_ascii_case("ipv6") => {
                IPV6_ENDPOINT.to_owned()
            }
            (None, Some(mode)) => {
                return Err(Error::config(
                    ENDPOINT_MODE,
                    format!("expected IPv4 or IPv6, got {mode:?}"),
                ));
            }
        };
        let endpoint = Url::parse(text.trim()).map_err(|m| Error::config(ENDPOINT, m))?;
        Ok(Some(ImdsProvider {
            endpoint,
            http: HttpClient::local(TIMEOUTS),
            token: Mutex::new(None),
            attempts: ATTEMPTS,
        }))
    }

    /// The metadata service's URL.
    pub(crate) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Whether the metadata service answers: one token request, at most about a second.
    ///
    /// # Errors
    ///
    /// The request's error (off EC2: a connection failure or a timeout).
    pub(crate) fn probe(&self) -> Result<(), Error> {
        if self.token_with(1)?.is_some() {
            return Ok(());
        }
        // IMDSv1: a refused PUT alone proves little (any web server may refuse one), so
        // the role list must answer too, as botocore only uses IMDS when it yields.
        let response = self
            .send_with("GET", ROLE_PATH, &[], 1)
            .map_err(|e| self.error(format!("GET {ROLE_PATH} failed: {e}"), Some(e)))?;
        if response.is_success() {
            Ok(())
        } else {
            Err(self.error(
                format!(
                    "the session token request was refused, and GET {ROLE_PATH} without a \
                     token answered HTTP {}",
                    response.status
                ),
                None,
            ))
        }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.endpoint.clone();
        url.path = format!("{}{path}", url.path.trim_end_matches('/'));
        url.query = None;
        url
    }

    fn error(&self, message: String, source: Option<Error>) -> Error {
        Error::Credentials {
            origin: format!("EC2 instance metadata at {}", self.endpoint),
            message,
            source: source.map(|e| Box::new(e) as _),
        }
    }

    /// Sends until a 2xx answer, retrying connection failures and 5xx (not 4xx: 401 means
    /// the token must be replaced, 404 that there is no role).
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, Error> {
        self.send_with(method, path, headers, self.attempts)
    }

    fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        attempts: u32,
    ) -> Result<HttpResponse, Error> {
        let url = self.url(path);
        let mut attempt = 1;
        loop {
            let result = self.http.send(method, &url, headers, None);
            let retry = match &result {
                Ok(response) => response.status >= 500,
                Err(Error::Transport { .. }) => true,
                Err(_) => false,
            };
            if !retry || attempt >= attempts {
                return result;
            }
            attempt += 1;
        }
    }

    /// The session token, fetched when there is none or it is about to end; `None` when
    /// the token request answered 403, 404 or 405 (IMDSv1 then, with a warning).
    fn token_with(&self, attempts: u32) -> Result<Option<String>, Error> {
        let mut slot = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((token, renew_at)) = &*slot
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let ttl = TOKEN_TTL.as_secs().to_string();
        let response = self
            .send_with(
                "PUT",
                TOKEN_PATH,
                &[("x-aws-ec2-metadata-token-ttl-seconds", &ttl)],
                attempts,
            )
            .map_err(|e| self.error(format!("the session token request failed: {e}"), Some(e)))?;
        if (403..=405).contains(&response.status) {
            log::warn!(
                target: "ecs_protect::aws",
                "EC2 instance metadata at {}: the session token request answered HTTP {}; \
                 going on without a token (IMDSv1), as the AWS SDKs do",
                self.endpoint,
                response.status
            );
            *slot = Some((None, Instant::now() + TOKEN_TTL - TOKEN_MARGIN));
            return Ok(None);
        }
        if !response.is_success() {
            return Err(self.error(
                format!(
                    "the session token request answered HTTP {}",
                    response.status
                ),
                None,
            ));
        }
        let token = String::from_utf8(response.body)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()))
            .ok_or_else(|| self.error("the session token is empty or not text".to_owned(), None))?;
        *slot = Some((
            Some(token.clone()),
            Instant::now() + TOKEN_TTL - TOKEN_MARGIN,
        ));
        Ok(Some(token))
    }

    /// A `GET` with the session token; a 401 (token expired) fetches a new one, once.
    fn get(&self, path: &str) -> Result<HttpResponse, Error> {
        let mut renewed = false;
        loop {
            let token = self.token_with(self.attempts)?;
            let headers: Vec<(&str, &str)> = token
                .iter()
                .map(|token| ("x-aws-ec2-metadata-token", token.as_str()))
                .collect();
            let response = self
                .send("GET", path, &headers)
                .map_err(|e| self.error(format!("GET {path} failed: {e}"), Some(e)))?;
            match response.status {
                401 if !renewed => {
                    *self.token.lock().unwrap_or_else(PoisonError::into_inner) = None;
                    renewed = true;
                }
                404 if path == ROLE_PATH => {
                    return Err(self.error(
                        "the instance has no IAM role (instance profile)".to_owned(),
                        None,
                    ));
                }
                status if !(200..300).contains(&status) => {
                    return Err(self.error(format!("GET {path} answered HTTP {status}"), None));
                }
                _ => return Ok(response),
            }
        }
    }
}

impl ProvideCredentials for ImdsProvider {
    fn fetch(&self) -> Result<Credentials, Error> {
        let roles = self.get(ROLE_PATH)?;
        let role = String::from_utf8_lossy(&roles.body)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                self.error("the instance has no IAM role (empty list)".to_owned(), None)
            })?;
        if !role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        {
            return Err(self.error(format!("unexpected role name {role:?}"), None));
        }
        let response = self.get(&format!("{ROLE_PATH}{role}"))?;
        let value: Value = serde_json::from_slice(&response.body)
            .map_err(|e| self.error(format!("malformed JSON for role {role}: {e}"), None))?;
        if let Some(code) = value.get("Code").and_then(Value::as_str)
            && code != "Success"
        {
            return Err(self.error(
                format!("role {role}: the service answered Code {code}"),
                None,
            ));
        }
        let creds = super::container::parse(&response.body)
            .map_err(|m| self.error(format!("unexpected answer for role {role}: {m}"), None))?;
        creds.check(&format!("EC2 instance metadata role {role}"))?;
        Ok(creds)
    }
}

#[cfg(test)]
mod tests;
