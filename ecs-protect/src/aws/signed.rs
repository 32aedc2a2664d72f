//! Signed AWS calls: credentials, SigV4, the HTTP exchange, retries and the clock-skew
//! correction, for any JSON-protocol service (ECS here; SQS can use it too).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::SystemTime;

use super::api_error;
use super::credentials::CachingProvider;
use super::http::{HttpClient, HttpResponse};
use super::retry::{self, Failure, Kind, RetryPolicy};
use super::sigv4::{SignableRequest, Signer, SigningParams};
use super::time::{self, Skew};
use super::url::Url;
use crate::Error;

/// A skew answer moves the clock only when the server's `Date` is at least this far from
/// our corrected clock; a smaller gap means the rejection had another cause.
const MIN_SKEW_CORRECTION_MILLIS: i64 = 60_000;

/// One call to sign and send.
#[derive(Debug)]
pub(crate) struct AwsRequest<'a> {
    /// The operation, for errors and logs (`UpdateTaskProtection`).
    pub(crate) operation: &'a str,
    /// The signing region.
    pub(crate) region: &'a str,
    /// Where to `POST`.
    pub(crate) url: &'a Url,
    /// Headers to send and sign besides `host` (e.g. `content-type`, `x-amz-target`).
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
}

/// Signs with the service's name and credentials, sends, retries per the standard mode.
///
/// An `ExpiredToken`/`ExpiredTokenException` answer drops the credentials used from the
/// cache and retries once with fresh ones; credential expiry is judged on the server's
/// clock once a skew has been learnt.
#[derive(Debug)]
pub(crate) struct SignedClient {
    http: HttpClient,
    credentials: Arc<CachingProvider>,
    service: &'static str,
    signer: Signer,
    retry: RetryPolicy,
    /// The server clock's offset from ours, learnt from skew answers ([`Skew::millis`]).
    skew_millis: AtomicI64,
}

impl SignedClient {
    pub(crate) fn new(
        http: HttpClient,
        credentials: Arc<CachingProvider>,
        service: &'static str,
        retry: RetryPolicy,
    ) -> Self {
        SignedClient {
            http,
            credentials,
            service,
            signer: Signer::new(),
            retry,
            skew_millis: AtomicI64::new(0),
        }
    }

    /// The clock offset in use.
    pub(crate) fn skew(&self) -> Skew {
        Skew {
            millis: self.skew_millis.load(Ordering::Relaxed),
        }
    }

    /// Sends `request` (`POST`), retrying as the standard mode says; returns a 2xx response.
    ///
    /// # Errors
    ///
    /// The last attempt's error: [`Error::Api`] for an error answer (decoded code, message,
    /// status, request id), [`Error::Transport`], or the credentials' error.
    pub(crate) fn send(&self, request: &AwsRequest<'_>) -> Result<HttpResponse, Error> {
        self.retry.run(request.operation, |_| self.attempt(request))
    }

    fn attempt(&self, request: &AwsRequest<'_>) -> Result<HttpResponse, Failure> {
        let skew = self.skew();
        let credentials = self
            .credentials
            .credentials_with_skew(skew)
            .map_err(|error| Failure {
                error,
                kind: Kind::Permanent,
            })?;
        let host = request.url.host_header();
        let mut to_sign: Vec<(&str, &str)> = Vec::with_capacity(request.headers.len() + 1);
        to_sign.push(("host", &host));
        to_sign.extend_from_slice(request.headers);
        let signed = self.signer.sign(
            &SignableRequest {
                method: "POST",
                path: &request.url.path,
                query: &[],
                headers: &to_sign,
                body: request.body,
            },
            &SigningParams {
                access_key_id: credentials.access_key_id(),
                secret_access_key: credentials.secret_access_key(),
                session_token: credentials.session_token(),
                region: request.region,
                service: self.service,
                time: skew.apply(SystemTime::now()),
            },
        );
        let mut headers: Vec<(&str, &str)> = request.headers.to_vec();
        headers.extend(signed.headers().iter().map(|(n, v)| (*n, v.as_str())));
        let response = self
            .http
            .send("POST", request.url, &headers, Some(request.body))
            .map_err(Failure::from_error)?;
        if response.is_success() {
            return Ok(response);
        }
        let api = api_error::decode(request.operation, &request.url.to_string(), &response);
        if retry::is_expired_credentials_code(&api.code) {
            self.credentials.invalidate(&credentials);
            return Err(Failure {
                error: Error::from(api),
                kind: Kind::ExpiredCredentials,
            });
        }
        if retry::is_clock_skew_code(&api.code)
            && let Some(server) = response.date()
        {
            let learnt = Skew::between(SystemTime::now(), server);
            if (learnt.millis - skew.millis).abs() >= MIN_SKEW_CORRECTION_MILLIS {
                self.skew_millis.store(learnt.millis, Ordering::Relaxed);
                log::warn!(
                    target: "ecs_protect::aws",
                    "{} answered {}: the server's clock ({}) is {:.0} s {} ours; \
                     signing with the server's time from now on",
                    request.url,
                    api.code,
                    time::format_rfc3339(server),
                    learnt.millis.unsigned_abs() as f64 / 1000.0,
                    if learnt.millis > 0 { "ahead of" } else { "behind" },
                );
                return Err(Failure {
                    error: Error::from(api),
                    kind: Kind::ClockSkew,
                });
            }
        }
        Err(Failure::from_error(Error::from(api)))
    }
}
