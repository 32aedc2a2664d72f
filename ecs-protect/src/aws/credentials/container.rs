//! The ECS container credentials endpoint (the task role): `AWS_CONTAINER_CREDENTIALS_*`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::{Credentials, ProvideCredentials};
use crate::aws::http::{HttpClient, HttpResponse, Timeouts};
use crate::aws::time;
use crate::aws::url::Url;
use crate::{Env, Error};

const RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
const FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
const TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
const TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";

/// The ECS agent's credentials host for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_HOST: &str = "http://169.254.170.2";

/// Where a relative URI is fetched from: [`ECS_HOST`], except in this crate's unit tests,
/// which must never send a packet to a link-local address: they put a local server there.
fn ecs_host() -> String {
    #[cfg(test)]
    if let Some(host) = test_host::get() {
        return host;
    }
    ECS_HOST.to_owned()
}

/// The unit tests' stand-in for the ECS agent's credentials host (this thread only).
#[cfg(test)]
pub(crate) mod test_host {
    use std::cell::RefCell;

    thread_local!(static HOST: RefCell<Option<String>> = const { RefCell::new(None) });

    pub(crate) fn get() -> Option<String> {
        HOST.with(|h| h.borrow().clone())
    }

    /// Fetches relative URIs from `origin` (`http://127.0.0.1:PORT`) on this thread.
    pub(crate) fn set(origin: &str) {
        HOST.with(|h| *h.borrow_mut() = Some(origin.to_owned()));
    }
}

/// Fetch timeouts, as the Rust SDK: 2 s to connect, 5 s to read.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(5),
};

/// Attempts per fetch and the pause between them (botocore: 3 attempts, 1 s apart, on any
/// error status or connection failure).
const ATTEMPTS: u32 = 3;
const PAUSE: Duration = Duration::from_secs(1);

/// Where the authorization token comes from.
#[derive(Clone)]
enum AuthToken {
    None,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, checked at construction.
    Value(String),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read at every fetch (it rotates).
    File(PathBuf),
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthToken::None => f.write_str("None"),
            AuthToken::Value(_) => f.write_str("Value(** redacted **)"),
            AuthToken::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Credentials from the ECS container endpoint: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on
/// 169.254.170.2, else `AWS_CONTAINER_CREDENTIALS_FULL_URI` (https, or an http host on the
/// SDKs' allow-list).
#[derive(Debug)]
pub(crate) struct ContainerProvider {
    url: Url,
    /// The variable the URL came from.
    origin: &'static str,
    token: AuthToken,
    http: HttpClient,
    attempts: u32,
    pause: Duration,
}

impl ContainerProvider {
    /// The provider `env` configures; `None` when neither URI variable is set.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable: a malformed URI, an http `FULL_URI` host that
    /// is not allowed, or a token containing CR or LF.
    pub(crate) fn from_env(env: &Env) -> Result<Option<ContainerProvider>, Error> {
        let (url, origin) = if let Some(relative) = env.get(RELATIVE_URI) {
            if !relative.starts_with('/') {
                return Err(Error::config(
                    RELATIVE_URI,
                    "expected a path starting with /",
                ));
            }
            // The path is the credential id: the agent serves credentials by it alone, so
            // it is never shown (logs, errors, Debug).
            let url = Url::parse(&format!("{}{relative}", ecs_host()))
                .map_err(|_| {
                    Error::config(
                        RELATIVE_URI,
                        "expected a URL path (ASCII, no spaces or control characters)",
                    )
                })?
                .redacted();
            (url, RELATIVE_URI)
        } else if let Some(full) = env.get(FULL_URI) {
            let url = Url::parse(&full).map_err(|message| Error::config(FULL_URI, message))?;
            check_literal_host(&url)?;
            (url, FULL_URI)
        } else {
            return Ok(None);
        };
        let token = if let Some(path) = env.get(TOKEN_FILE) {
            AuthToken::File(PathBuf::from(path))
        } else if let Some(token) = env.get(TOKEN) {
            check_token(&token, TOKEN)?;
            AuthToken::Value(token)
        } else {
            AuthToken::None
        };
        Ok(Some(ContainerProvider {
            url,
            origin,
            token,
            http: HttpClient::local(TIMEOUTS),
            attempts: ATTEMPTS,
            pause: PAUSE,
        }))
    }

    /// The credentials URL.
    pub(crate) fn endpoint(&self) -> &Url {
        &self.url
    }

    /// Sets the attempts per fetch and the pause between them (tests use tiny pauses).
    #[cfg(test)]
    pub(crate) fn retrying(mut self, attempts: u32, pause: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.pause = pause;
        self
    }

    fn error(&self, message: String, source: Option<Error>) -> Error {
        Error::Credentials {
            origin: self.origin.to_owned(),
            message,
            source: source.map(|e| Box::new(e) as _),
        }
    }

    /// The `Authorization` value, reading the token file now.
    fn authorization(&self) -> Result<Option<String>, Error> {
        match &self.token {
            AuthToken::None => Ok(None),
            AuthToken::Value(token) => Ok(Some(token.clone())),
            AuthToken::File(path) => {
                let token = std::fs::read_to_string(path).map_err(|e| Error::Credentials {
                    origin: TOKEN_FILE.to_owned(),
                    message: format!("cannot read the token file {}", path.display()),
                    source: Some(Box::new(e)),
                })?;
                check_token(&token, TOKEN_FILE)?;
                Ok(Some(token))
            }
        }
    }

    fn fetch_once(&self) -> Result<HttpResponse, Error> {
        check_resolved_host(&self.url)?;
        let authorization = self.authorization()?;
        let mut headers = vec![("accept", "application/json")];
        if let Some(token) = &authorization {
            headers.push(("authorization", token.as_str()));
        }
        self.http.send("GET", &self.url, &headers, None)
    }
}

impl ProvideCredentials for ContainerProvider {
    fn fetch(&self) -> Result<Credentials, Error> {
        let mut attempt = 1;
        let response = loop {
            let retry = match self.fetch_once() {
                Ok(response) if response.is_success() => break response,
                // Every error status is retried, as botocore does: the agent answers 4xx
                // while a task's credentials are still being set up.
                Ok(response) => {
                    if attempt >= self.attempts {
                        return Err(self.error(status_message(&self.url, &response), None));
                    }
                    status_message(&self.url, &response)
                }
                Err(err @ Error::Transport { .. }) if attempt < self.attempts => err.to_string(),
                Err(err @ Error::Transport { .. }) => {
                    let message = format!("{err} ({attempt} attempts)");
                    return Err(self.error(message, Some(err)));
                }
                Err(err) => return Err(err),
            };
            log::debug!(
                target: "ecs_protect::aws",
                "fetching container credentials, attempt {attempt} of {}: {retry}",
                self.attempts
            );
            attempt += 1;
            thread::sleep(self.pause);
        };
        let creds = parse(&response.body).map_err(|message| {
            self.error(
                format!("unexpected response from {}: {message}", self.url),
                None,
            )
        })?;
        creds.check(self.origin)?;
        Ok(creds)
    }
}

/// `HTTP <status>` plus the body's `message`/`Message`/`code` when it is JSON; never the
/// raw body (it may echo secrets).
fn status_message(url: &Url, response: &HttpResponse) -> String {
    let mut message = format!("{url} answered HTTP {}", response.status);
    if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&response.body) {
        for key in ["code", "Code"] {
            if let Some(code) = body.get(key).and_then(Value::as_str) {
                message.push_str(&format!(" {code}"));
            }
        }
        for key in ["message", "Message"] {
            if let Some(text) = body.get(key).and_then(Value::as_str) {
                message.push_str(&format!(": {text}"));
            }
        }
    }
    message
}

/// Decodes `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`; the error names the
/// field, never a secret value.
pub(crate) fn parse(body: &[u8]) -> Result<Credentials, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
    let field = |name: &str| -> Result<String, String> {
        match value.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(format!("field {name} is empty")),
            Some(_) => Err(format!("field {name} is not a string")),
            None => Err(format!("missing field {name}")),
        }
    };
    let id = field("AccessKeyId")?;
    let secret = field("SecretAccessKey")?;
    let token = field("Token")?;
    let expiration = field("Expiration")?;
    let expires_at = time::parse_rfc3339(&expiration).ok_or_else(|| {
        format!("field Expiration: expected an RFC 3339 time, got {expiration:?}")
    })?;
    Ok(Credentials::new(id, secret, Some(token)).expiring(expires_at))
}

/// A token is sent as a header value: CR or LF would let it inject headers.
fn check_token(token: &str, origin: &str) -> Result<(), Error> {
    if token.contains(['\r', '\n']) {
        return Err(Error::Credentials {
            origin: origin.to_owned(),
            message: "the authorization token contains a CR or LF character".to_owned(),
            source: None,
        });
    }
    Ok(())
}

/// The addresses the SDKs allow for an http `FULL_URI`: loopback, the ECS agent
/// (169.254.170.2), EKS Pod Identity (169.254.170.23, fd00:ec2::23).
fn allowed_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4 == Ipv4Addr::new(169, 254, 170, 2)
                || v4 == Ipv4Addr::new(169, 254, 170, 23)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)
        }
    }
}

fn disallowed(url: &Url, why: String) -> Error {
    Error::config(
        FULL_URI,
        format!(
            "{url}: {why}; an http URL must be on a loopback address, localhost, \
             169.254.170.2, 169.254.170.23 or fd00:ec2::23 (or use https)"
        ),
    )
}

/// The check that needs no network: https, an allowed IP literal, `localhost`, or a host
/// name (resolved at each fetch).
fn check_literal_host(url: &Url) -> Result<(), Error> {
    if url.is_https() {
        return Ok(());
    }
    match url.ip() {
        Some(ip) if allowed_ip(ip) => Ok(()),
        Some(ip) => Err(disallowed(url, format!("{ip} is not allowed"))),
        None => Ok(()),
    }
}

/// For an http host name: every address it resolves to must be allowed (as the Rust SDK).
fn check_resolved_host(url: &Url) -> Result<(), Error> {
    if url.is_https() || url.ip().is_some() || url.host == "localhost" {
        return Ok(());
    }
    let addresses: Vec<IpAddr> = (url.host.as_str(), url.effective_port())
        .to_socket_addrs()
        .map_err(|e| Error::Credentials {
            origin: FULL_URI.to_owned(),
            message: format!("cannot resolve the host of {url}"),
            source: Some(Box::new(e)),
        })?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() {
        return Err(disallowed(
            url,
            format!("{} resolves to no address", url.host),
        ));
    }
    if let Some(ip) = addresses.iter().find(|ip| !allowed_ip(**ip)) {
        return Err(disallowed(
            url,
            format!("{} resolves to {ip}, which is not allowed", url.host),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn credentials_json(id: &str, expires_at: std::time::SystemTime) -> String {
        format!(
            r#"{{"AccessKeyId":"{id}","SecretAccessKey":"secret-{id}","Token":"token-{id}","Expiration":"{}","RoleArn":"arn:aws:iam::1:role/task"}}"#,
            time::format_rfc3339(expires_at)
        )
    }

    fn provider(vars: &[(&str, &str)]) -> Result<Option<ContainerProvider>, Error> {
        ContainerProvider::from_env(&Env::from_vars(vars.iter().copied()))
    }

    #[test]
    fn relative_uri_goes_to_the_ecs_agent_and_wins_over_full_uri() {
        let p = provider(&[
            (RELATIVE_URI, "/v2/credentials/abc"),
            (FULL_URI, "http://127.0.0.1:9999/creds"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            p.endpoint().wire(),
            "http://169.254.170.2/v2/credentials/abc"
        );
        // The credential id is never shown.
        for shown in [p.endpoint().to_string(), format!("{p:?}")] {
            assert!(!shown.contains("/v2/credentials/abc"), "{shown}");
        }
        assert!(provider(&[]).unwrap().is_none());
        let err = provider(&[(RELATIVE_URI, "v2/credentials")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: expected a path starting with /"
        );
    }

    #[test]
    fn full_uri_allow_list() {
        for allowed in [
            "http://127.0.0.1/creds",
            "http://127.1.2.3:8080/creds",
            "http://[::1]:8080/creds",
            "http://localhost:8080/creds",
            "http://169.254.170.2/creds",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "https://creds.example.com/creds",
        ] {
            assert!(
                provider(&[(FULL_URI, allowed)]).unwrap().is_some(),
                "{allowed}"
            );
        }
        for refused in [
            "http://192.168.1.10/creds",
            "http://169.254.169.254/latest",
            "http://[fd00:ec2::24]/creds",
        ] {
            let err = provider(&[(FULL_URI, refused)]).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid AWS_CONTAINER_CREDENTIALS_FULL_URI: ")
                    && err.contains("is not allowed"),
                "{err}"
            );
        }
        let err = provider(&[(FULL_URI, "file:///etc/passwd")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid AWS_CONTAINER_CREDENTIALS_FULL_URI: expected an http")
        );
    }

    #[test]
    fn host_names_must_resolve_to_allowed_addresses() {
        // `localhost.` style names are resolved; an unresolvable one is a clear error.
        let url = Url::parse("http://nonexistent.invalid/creds").unwrap();
        let err = check_resolved_host(&url).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("could not load AWS credentials from AWS_CONTAINER_CREDENTIALS_FULL_URI: cannot resolve"),
            "{err}"
        );
        assert!(check_resolved_host(&Url::parse("http://localhost/creds").unwrap()).is_ok());
    }

    #[test]
    fn token_with_newline_is_refused_and_never_shown() {
        let err = provider(&[
            (FULL_URI, "http://127.0.0.1/creds"),
            (TOKEN, "secret-token\r\nX-Injected: 1"),
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "could not load AWS credentials from AWS_CONTAINER_AUTHORIZATION_TOKEN: \
             the authorization token contains a CR or LF character"
        );
        let p = provider(&[
            (FULL_URI, "http://127.0.0.1/creds"),
            (TOKEN, "secret-token"),
        ])
        .unwrap()
        .unwrap();
        assert!(!format!("{p:?}").contains("secret-token"));
    }

    #[test]
    fn parse_names_the_field_and_hides_secrets() {
        let ok = parse(
            credentials_json(
                "ASIA1",
                time::parse_rfc3339("2026-11-24T21:00:00Z").unwrap(),
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.access_key_id(), "ASIA1");
        assert_eq!(ok.session_token(), Some("token-ASIA1"));
        assert_eq!(ok.expires_at(), time::parse_rfc3339("2026-11-24T21:00:00Z"));
        for (body, expected) in [
            ("{", "malformed JSON"),
            (
                r#"{"SecretAccessKey":"s3cr3t","Token":"t","Expiration":"x"}"#,
                "missing field AccessKeyId",
            ),
            (
                r#"{"AccessKeyId":"A","SecretAccessKey":7,"Token":"t"}"#,
                "field SecretAccessKey is not a string",
            ),
            (
                r#"{"AccessKeyId":"A","SecretAccessKey":"s3cr3t","Token":"t"}"#,
                "missing field Expiration",
            ),
            (
                r#"{"AccessKeyId":"A","SecretAccessKey":"s3cr3t","Token":"t","Expiration":"soon"}"#,
                "field Expiration: expected an RFC 3339 time, got \"soon\"",
            ),
        ] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert!(err.starts_with(expected), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }
}
