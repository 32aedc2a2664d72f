//! The SDKs' standard retry mode (aws-spec.md §7): which failures are retried, exponential
//! backoff with full jitter, the retry quota, and the clock-skew re-sign.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{ApiError, Env, Error};

/// Attempts per call when `AWS_MAX_ATTEMPTS` is unset (the SDKs' default).
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// The backoff base: the first retry waits up to this long (botocore, Rust and Go SDKs).
pub(crate) const DEFAULT_BASE_DELAY: Duration = Duration::from_secs(1);
/// No retry waits longer than this.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// The retry quota's capacity and costs (standard mode).
const QUOTA_CAPACITY: u32 = 500;
const RETRY_COST: u32 = 5;
const TIMEOUT_RETRY_COST: u32 = 10;
const NO_RETRY_INCREMENT: u32 = 1;

/// How a failed attempt should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Throttling, a transient code, a 5xx, or a connection failure: back off and retry.
    Retryable {
        /// A timeout (a retry costs more quota).
        timed_out: bool,
    },
    /// The clock offset was corrected from the server's `Date`: re-sign and retry at once.
    ClockSkew,
    /// The service said the credentials expired (`ExpiredToken`); they were dropped from
    /// the cache: fetch fresh ones and retry at once, once per call.
    ExpiredCredentials,
    /// Retrying cannot help.
    Permanent,
}

/// A failed attempt: the error to return if no retry follows, and how to handle it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) kind: Kind,
}

impl Failure {
    /// Classifies `error`: transport errors are retryable, API errors by [`classify`],
    /// anything else (decode, credentials, config) is permanent.
    pub(crate) fn from_error(error: Error) -> Failure {
        let kind = match &error {
            Error::Transport { timed_out, .. } => Kind::Retryable {
                timed_out: *timed_out,
            },
            Error::Api(api) => classify(api),
            _ => Kind::Permanent,
        };
        Failure { error, kind }
    }
}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

const TRANSIENT_CODES: &[&str] = &["RequestTimeout", "RequestTimeoutException"];

/// Codes saying the session token expired (botocore's `EXPIRED_CREDS_ERROR_CODES` that
/// the ECS and SQS APIs use).
const EXPIRED_CREDENTIALS_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException"];

/// Whether `code` says the credentials used have expired.
pub(crate) fn is_expired_credentials_code(code: &str) -> bool {
    EXPIRED_CREDENTIALS_CODES.contains(&code)
}

const CLOCK_SKEW_CODES: &[&str] = &[
    "RequestTimeTooSkewed",
    "RequestExpired",
    "RequestInTheFuture",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
];

/// Whether `code` is one AWS uses when a request's time is too far from its clock (the
/// caller then checks the `Date` header before treating it as skew).
pub(crate) fn is_clock_skew_code(code: &str) -> bool {
    CLOCK_SKEW_CODES.contains(&code)
}

/// Standard mode's decision for an error answer: throttling and transient codes, HTTP 429
/// and 500/502/503/504 are retried; everything else (access denied, validation, signature
/// errors) is not.
pub(crate) fn classify(api: &ApiError) -> Kind {
    let code = api.code.as_str();
    if THROTTLING_CODES.contains(&code)
        || TRANSIENT_CODES.contains(&code)
        || matches!(api.status, 429 | 500 | 502 | 503 | 504)
    {
        Kind::Retryable { timed_out: false }
    } else {
        Kind::Permanent
    }
}

/// The standard mode's token bucket: retries draw from it, successes refill it, and when
/// it is empty failures are returned at once instead of piling onto a struggling service.
#[derive(Debug)]
pub(crate) struct RetryQuota {
    tokens: Mutex<u32>,
}

impl Default for RetryQuota {
    fn default() -> Self {
        RetryQuota {
            tokens: Mutex::new(QUOTA_CAPACITY),
        }
    }
}

impl RetryQuota {
    /// Takes `cost` tokens; `false` (taking none) when fewer are left.
    fn acquire(&self, cost: u32) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if *tokens >= cost {
            *tokens -= cost;
            true
        } else {
            false
        }
    }

    fn release(&self, amount: u32) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        *tokens = (*tokens + amount).min(QUOTA_CAPACITY);
    }

    /// Tokens left.
    pub(crate) fn available(&self) -> u32 {
        *self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A number in `[0, 1)` for jitter, from std's randomly seeded hasher (no `rand` crate).
pub(crate) fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    hasher.write_u32(nanos);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The delay before retry `retry` (1-based): `random[0,1) * min(base * 2^(retry-1), 20 s)`.
pub(crate) fn backoff(retry: u32, base: Duration, unit: f64) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    let ceiling = base.saturating_mul(factor).min(MAX_BACKOFF);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// How a blocking wait is done; replaced in tests to record delays without waiting.
pub(crate) type Sleep = Arc<dyn Fn(Duration) + Send + Sync>;

/// The retry settings of one client and its quota.
#[derive(Clone)]
pub(crate) struct RetryPolicy {
    /// Attempts per call, including the first (`AWS_MAX_ATTEMPTS`, default 3).
    pub(crate) max_attempts: u32,
    /// The backoff base (default 1 s).
    pub(crate) base_delay: Duration,
    quota: Arc<RetryQuota>,
    sleep: Sleep,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("quota", &self.quota.available())
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
            quota: Arc::default(),
            sleep: Arc::new(std::thread::sleep),
        }
    }
}

impl RetryPolicy {
    /// The policy `env` asks for: `AWS_MAX_ATTEMPTS` (a whole number from 1), and
    /// `AWS_RETRY_MODE` (`standard`; `legacy` and `adaptive` are accepted and run as
    /// `standard`, with a log line; any case, surrounding spaces ignored).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable when a value is not accepted.
    pub(crate) fn from_env(env: &Env) -> Result<RetryPolicy, Error> {
        let mut policy = RetryPolicy::default();
        if let Some(text) = env.get("AWS_MAX_ATTEMPTS") {
            policy.max_attempts = text
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    Error::config(
                        "AWS_MAX_ATTEMPTS",
                        format!("expected a whole number of attempts in 1..=100, got {text:?}"),
                    )
                })?;
        }
        let mode = env
            .get("AWS_RETRY_MODE")
            .map(|m| m.trim().to_ascii_lowercase());
        match mode.as_deref() {
            None | Some("" | "standard") => {}
            Some(mode @ ("legacy" | "adaptive")) => log::info!(
                target: "ecs_protect::aws",
                "AWS_RETRY_MODE={mode}: this client implements the standard retry mode and uses it"
            ),
            Some(_) => {
                let given = env.get("AWS_RETRY_MODE").unwrap_or_default();
                return Err(Error::config(
                    "AWS_RETRY_MODE",
                    format!("expected standard, legacy or adaptive, got {given:?}"),
                ));
            }
        }
        Ok(policy)
    }

    /// The same policy with `sleep` doing the waiting.
    #[cfg(test)]
    pub(crate) fn with_sleep(mut self, sleep: Sleep) -> Self {
        self.sleep = sleep;
        self
    }

    /// The quota shared by this policy's calls.
    #[cfg(test)]
    pub(crate) fn quota(&self) -> &RetryQuota {
        &self.quota
    }

    /// Runs `attempt` (given the 1-based attempt number) until it succeeds, fails for good,
    /// runs out of attempts or the quota is empty. Every attempt counts against
    /// `max_attempts` (`AWS_MAX_ATTEMPTS`), whatever made the one before it fail. A
    /// [`Kind::ExpiredCredentials`] failure is retried at once, once per call; a
    /// [`Kind::ClockSkew`] failure too, without backoff or quota, once per call.
    ///
    /// # Errors
    ///
    /// The last attempt's error.
    pub(crate) fn run<T>(
        &self,
        operation: &str,
        mut attempt: impl FnMut(u32) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        let mut number = 1;
        let mut retries = 0;
        let mut last_cost = None;
        let mut corrected_skew = false;
        let mut refreshed = false;
        loop {
            let failure = match attempt(number) {
                Ok(value) => {
                    self.quota.release(last_cost.unwrap_or(NO_RETRY_INCREMENT));
                    return Ok(value);
                }
                Err(failure) => failure,
            };
            if number >= self.max_attempts {
                if failure.kind != Kind::Permanent {
                    log::debug!(
                        target: "ecs_protect::aws",
                        "{operation}: giving up after {number} attempts (AWS_MAX_ATTEMPTS): {}",
                        failure.error
                    );
                }
                return Err(failure.error);
            }
            number += 1;
            match failure.kind {
                Kind::ClockSkew if !corrected_skew => {
                    log::warn!(
                        target: "ecs_protect::aws",
                        "{operation}: request rejected for clock skew; re-signing with the \
                         server's clock: {}",
                        failure.error
                    );
                    corrected_skew = true;
                }
                Kind::ExpiredCredentials if !refreshed => {
                    log::warn!(
                        target: "ecs_protect::aws",
                        "{operation}: the credentials expired; retrying once with fresh ones: {}",
                        failure.error
                    );
                    refreshed = true;
                }
                Kind::ClockSkew | Kind::ExpiredCredentials | Kind::Permanent => {
                    return Err(failure.error);
                }
                Kind::Retryable { timed_out } => {
                    let cost = if timed_out {
                        TIMEOUT_RETRY_COST
                    } else {
                        RETRY_COST
                    };
                    if !self.quota.acquire(cost) {
                        log::warn!(
                            target: "ecs_protect::aws",
                            "{operation}: retry quota exhausted, not retrying: {}",
                            failure.error
                        );
                        return Err(failure.error);
                    }
                    last_cost = Some(cost);
                    retries += 1;
                    let delay = backoff(retries, self.base_delay, random_unit());
                    log::debug!(
                        target: "ecs_protect::aws",
                        "{operation}: attempt {number} of {} in {delay:?}: {}",
                        self.max_attempts,
                        failure.error
                    );
                    (self.sleep)(delay);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ApiError {
        ApiError {
            operation: "UpdateTaskProtection".into(),
            endpoint: "https://ecs.eu-west-1.amazonaws.com/".into(),
            status,
            code: code.into(),
            message: None,
            request_id: None,
        }
    }

    const RETRY: Kind = Kind::Retryable { timed_out: false };

    #[test]
    fn classification() {
        for (status, code) in [
            (400, "ThrottlingException"),
            (400, "Throttling"),
            (400, "TooManyRequestsException"),
            (400, "RequestLimitExceeded"),
            (400, "PriorRequestNotComplete"),
            (400, "RequestTimeout"),
            (408, "RequestTimeoutException"),
            (500, "ServerException"),
            (502, "BadGateway"),
            (503, "ServiceUnavailable"),
            (504, "RequestCanceled"),
            (429, "TooManyRequests"),
        ] {
            assert_eq!(classify(&api(status, code)), RETRY, "{status} {code}");
        }
        for (status, code) in [
            (400, "AccessDeniedException"),
            (400, "ClientException"),
            (400, "InvalidParameterException"),
            (400, "ValidationException"),
            (400, "UnrecognizedClientException"),
            (400, "InvalidSignatureException"),
            (403, "SignatureDoesNotMatch"),
            (400, "ExpiredTokenException"),
            (501, "NotImplemented"),
        ] {
            assert_eq!(
                classify(&api(status, code)),
                Kind::Permanent,
                "{status} {code}"
            );
        }
        assert!(is_clock_skew_code("InvalidSignatureException"));
        assert!(is_clock_skew_code("RequestTimeTooSkewed"));
        assert!(!is_clock_skew_code("AccessDeniedException"));
    }

    #[test]
    fn backoff_is_capped_exponential_with_full_jitter() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(1, base, 0.0), Duration::ZERO);
        assert_eq!(backoff(1, base, 0.5), Duration::from_millis(500));
        assert_eq!(backoff(2, base, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(3, base, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(6, base, 0.5), Duration::from_secs(10));
        assert_eq!(backoff(40, base, 0.5), Duration::from_secs(10));
        assert!(backoff(40, base, 0.999_999) < MAX_BACKOFF);
        for _ in 0..1000 {
            let unit = random_unit();
            assert!((0.0..1.0).contains(&unit), "{unit}");
        }
    }

    #[test]
    fn max_attempts_from_the_environment() {
        let read = |v: &str| RetryPolicy::from_env(&Env::from_vars([("AWS_MAX_ATTEMPTS", v)]));
        assert_eq!(
            RetryPolicy::from_env(&Env::default()).unwrap().max_attempts,
            3
        );
        assert_eq!(read("5").unwrap().max_attempts, 5);
        assert_eq!(read("1").unwrap().max_attempts, 1);
        for bad in ["0", "-1", "three", "1.5", "101"] {
            assert_eq!(
                read(bad).unwrap_err().to_string(),
                format!(
                    "invalid AWS_MAX_ATTEMPTS: expected a whole number of attempts in 1..=100, got {bad:?}"
                )
            );
        }
        let mode = |v: &str| RetryPolicy::from_env(&Env::from_vars([("AWS_RETRY_MODE", v)]));
        assert!(mode("standard").is_ok() && mode("adaptive").is_ok());
        // Any case, surrounding spaces ignored; blank counts as unset.
        for given in ["Standard", " STANDARD\n", "Legacy", "ADAPTIVE ", "  "] {
            assert!(mode(given).is_ok(), "{given:?}");
        }
        assert_eq!(
            mode("fast").unwrap_err().to_string(),
            "invalid AWS_RETRY_MODE: expected standard, legacy or adaptive, got \"fast\""
        );
    }

    fn recording_policy(max_attempts: u32) -> (RetryPolicy, Arc<Mutex<Vec<Duration>>>) {
        let slept = Arc::new(Mutex::new(Vec::new()));
        let record = slept.clone();
        let mut policy =
            RetryPolicy::default().with_sleep(Arc::new(move |d| record.lock().unwrap().push(d)));
        policy.max_attempts = max_attempts;
        (policy, slept)
    }

    fn fail(kind: Kind) -> Failure {
        Failure {
            error: Error::from(api(400, "X")),
            kind,
        }
    }

    #[test]
    fn retries_until_success_within_max_attempts() {
        let (policy, slept) = recording_policy(3);
        let mut seen = Vec::new();
        let result = policy.run("Op", |n| {
            seen.push(n);
            if n < 3 { Err(fail(RETRY)) } else { Ok(n) }
        });
        assert_eq!(result.unwrap(), 3);
        assert_eq!(seen, [1, 2, 3]);
        let slept = slept.lock().unwrap();
        assert_eq!(slept.len(), 2);
        assert!(slept[0] < Duration::from_secs(1) && slept[1] < Duration::from_secs(2));
        // The successful retry refunded its cost.
        assert_eq!(policy.quota().available(), 500 - 5);
    }

    #[test]
    fn gives_up_after_max_attempts_and_never_retries_permanent_errors() {
        let (policy, slept) = recording_policy(3);
        let mut calls = 0;
        let err = policy
            .run::<()>("Op", |_| {
                calls += 1;
                Err(fail(RETRY))
            })
            .unwrap_err();
        assert!(err.as_api().is_some());
        assert_eq!(calls, 3);
        assert_eq!(slept.lock().unwrap().len(), 2);

        let mut calls = 0;
        policy
            .run::<()>("Op", |_| {
                calls += 1;
                Err(fail(Kind::Permanent))
            })
            .unwrap_err();
        assert_eq!(calls, 1);
        assert_eq!(slept.lock().unwrap().len(), 2);
    }

    #[test]
    fn clock_skew_is_retried_once_at_once() {
        let (policy, slept) = recording_policy(3);
        let mut calls = 0;
        let result = policy.run("Op", |n| {
            calls += 1;
            if n == 1 {
                Err(fail(Kind::ClockSkew))
            } else {
                Ok(())
            }
        });
        assert!(result.is_ok());
        assert_eq!(calls, 2);
        let mut calls = 0;
        policy
            .run::<()>("Op", |_| {
                calls += 1;
                Err(fail(Kind::ClockSkew))
            })
            .unwrap_err();
        assert_eq!(calls, 2);
        assert!(slept.lock().unwrap().is_empty());
    }

    #[test]
    fn expired_credentials_are_retried_once_per_call_at_once() {
        let (policy, slept) = recording_policy(3);
        let mut calls = 0;
        policy
            .run::<()>("Op", |_| {
                calls += 1;
                Err(fail(Kind::ExpiredCredentials))
            })
            .unwrap_err();
        assert_eq!(calls, 2);
        // A skew correction and an expired token in one call: each retried once.
        let mut calls = 0;
        let result = policy.run("Op", |n| {
            calls += 1;
            match n {
                1 => Err(fail(Kind::ClockSkew)),
                2 => Err(fail(Kind::ExpiredCredentials)),
                _ => Ok(()),
            }
        });
        assert!(result.is_ok());
        assert_eq!(calls, 3);
        assert!(slept.lock().unwrap().is_empty());
        assert!(is_expired_credentials_code("ExpiredTokenException"));
        assert!(is_expired_credentials_code("ExpiredToken"));
        assert!(!is_expired_credentials_code("ExpiredTokenExceptionX"));
    }

    /// Issue 19: clock-skew and expired-token retries count as attempts, and the skew
    /// correction happens once per call (it used to reset after each ordinary retry), so
    /// a call never makes more than `AWS_MAX_ATTEMPTS` attempts.
    #[test]
    fn every_attempt_counts_against_max_attempts() {
        for max in 1..=6 {
            let (policy, _) = recording_policy(max);
            // A server whose clock keeps jumping between throttled answers.
            let mut calls = 0;
            let _ = policy.run::<()>("Op", |n| {
                calls += 1;
                Err(fail(if n % 2 == 1 { Kind::ClockSkew } else { RETRY }))
            });
            assert_eq!(calls, max.min(3), "max_attempts {max}");
            let mut calls = 0;
            let _ = policy.run::<()>("Op", |n| {
                calls += 1;
                Err(fail(match n {
                    1 => Kind::ExpiredCredentials,
                    2 => Kind::ClockSkew,
                    _ => RETRY,
                }))
            });
            assert_eq!(calls, max, "max_attempts {max}");
        }
        // With one attempt nothing is retried, not even a skew correction.
        let (policy, _) = recording_policy(1);
        let mut calls = 0;
        let _ = policy.run::<()>("Op", |_| {
            calls += 1;
            Err(fail(Kind::ClockSkew))
        });
        assert_eq!(calls, 1);
        // The skew correction is once per call: a second skew ends the call.
        let (policy, _) = recording_policy(10);
        let mut calls = 0;
        let _ = policy.run::<()>("Op", |n| {
            calls += 1;
            Err(fail(if n == 2 { RETRY } else { Kind::ClockSkew }))
        });
        assert_eq!(calls, 3);
    }

    #[test]
    fn quota_runs_dry_and_refills() {
        let (policy, _) = recording_policy(2);
        // Each failed call spends one retry; timeouts cost 10.
        for _ in 0..50 {
            let _ = policy.run::<()>("Op", |_| Err(fail(Kind::Retryable { timed_out: true })));
        }
        assert_eq!(policy.quota().available(), 0);
        let mut calls = 0;
        let _ = policy.run::<()>("Op", |_| {
            calls += 1;
            Err(fail(RETRY))
        });
        assert_eq!(calls, 1, "no retry with an empty quota");
        policy.run("Op", |_| Ok(())).unwrap();
        assert_eq!(policy.quota().available(), 1);
        for _ in 0..600 {
            policy.run("Op", |_| Ok(())).unwrap();
        }
        assert_eq!(policy.quota().available(), 500);
    }

    /// Jitter spreads a fleet's retries: the random unit covers both halves of `[0, 1)`.
    #[test]
    fn jitter_covers_the_whole_range() {
        let units: Vec<f64> = (0..1000).map(|_| random_unit()).collect();
        assert!(units.iter().any(|u| *u < 0.5), "no unit below 0.5");
        assert!(units.iter().any(|u| *u >= 0.5), "no unit from 0.5 up");
    }

    /// Each retry of one call may wait up to twice as long as the one before (the ceiling
    /// grows with the retry count). With full jitter a single delay may be short, but nine
    /// retries all within the first ceiling (1 s) happen with probability under 1e-8.
    #[test]
    fn later_retries_of_a_call_may_wait_longer_than_the_first() {
        let (policy, slept) = recording_policy(10);
        let _ = policy.run::<()>("Op", |_| Err(fail(RETRY)));
        let slept = slept.lock().unwrap();
        assert_eq!(slept.len(), 9);
        for (retry, delay) in (1u32..).zip(slept.iter()) {
            assert!(
                *delay < backoff(retry, DEFAULT_BASE_DELAY, 1.0),
                "{slept:?}"
            );
        }
        assert!(
            slept.iter().any(|d| *d >= DEFAULT_BASE_DELAY),
            "every retry waited under the first ceiling: {slept:?}"
        );
    }

    #[test]
    fn debug_shows_the_settings_and_the_quota_left() {
        let policy = RetryPolicy::default();
        assert_eq!(
            format!("{policy:?}"),
            "RetryPolicy { max_attempts: 3, base_delay: 1s, quota: 500 }"
        );
    }

    #[test]
    fn failures_classify_transport_errors_as_retryable() {
        let transport = Failure::from_error(Error::Transport {
            endpoint: "http://x/".into(),
            timed_out: true,
            source: "boom".into(),
        });
        assert_eq!(transport.kind, Kind::Retryable { timed_out: true });
        let decode = Failure::from_error(Error::Decode {
            endpoint: "http://x/".into(),
            message: "bad".into(),
        });
        assert_eq!(decode.kind, Kind::Permanent);
        assert_eq!(
            Failure::from_error(Error::from(api(400, "ThrottlingException"))).kind,
            RETRY
        );
    }
}
