//! [`Config`]: every setting of a protector, its builder and `from_env`.

pub(crate) mod duration;

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

pub(crate) use duration::Readable;

use crate::{Env, Error};

/// What `acquire` does when protection cannot be confirmed.
///
/// ```
/// use ecs_protect::FailurePolicy;
///
/// assert_eq!(FailurePolicy::default(), FailurePolicy::Proceed);
/// assert_eq!("require".parse::<FailurePolicy>(), Ok(FailurePolicy::Require));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FailurePolicy {
    /// Run the work unprotected and log a warning (the default).
    #[default]
    Proceed,
    /// Return the error, so the work is refused and its message goes back to the queue.
    Require,
}

impl std::str::FromStr for FailurePolicy {
    type Err = String;

    /// Parses `proceed` or `require` (any case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "proceed" => Ok(FailurePolicy::Proceed),
            "require" => Ok(FailurePolicy::Require),
            _ => Err(format!("expected proceed or require, got {text:?}")),
        }
    }
}

impl fmt::Display for FailurePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailurePolicy::Proceed => "proceed",
            FailurePolicy::Require => "require",
        })
    }
}

const MINUTES: RangeInclusive<u32> = 1..=2880;
const LINGER: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(15 * 60);
const MAX_HOLD: RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(48 * 3600);
const WINDOW: RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(3600);
const GRACE: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(24 * 3600);
const HARD_CAP_MAX: Duration = Duration::from_secs(168 * 3600);
const RETRY: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(3600);
const REFUSED: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(24 * 3600);
const CONNECT: RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(60);
const READ: RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(300);

/// Every setting of a [`Protector`](crate::Protector), validated.
///
/// Build one with [`Config::builder`] or read it from `ECS_PROTECT_*` variables with
/// [`Config::from_env`]; the table below lists the variables.
///
/// ```
/// use ecs_protect::{Config, FailurePolicy, Protector, Disabled};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .expires_in_minutes(60)
///     .linger(Duration::from_secs(2))
///     .policy(FailurePolicy::Require)
///     .build()?;
/// assert_eq!(config.linger(), Duration::from_secs(2));
/// let protector = Protector::with_config(config, Disabled);
/// # drop(protector);
/// # Ok::<(), ecs_protect::Error>(())
/// ```
///
/// # Environment variables
///
/// [`Config::from_env`] reads these variables (an empty value counts as unset). The backend
/// itself is chosen by `ECS_PROTECT_BACKEND` and the AWS variables (see the crate docs).
///
/// | variable | meaning | default | accepted |
/// |---|---|---|---|
/// | `ECS_PROTECT_EXPIRES_MINUTES` | minutes ECS keeps protection before clearing it by itself; renewed while work runs | `120` | `1..=2880` |
/// | `ECS_PROTECT_LINGER` | how long protection stays on after the last unit of work ends | `5s` | `0s..=15m` |
/// | `ECS_PROTECT_MAX_HOLD` | continuous protection after which a breathing window opens | `15m` | `1ms..=48h` |
/// | `ECS_PROTECT_WINDOW` | how long protection stays off during a breathing window | `30s` | `1ms..=1h` |
/// | `ECS_PROTECT_HOLD_GRACE` | how long the window waits for work in flight before letting new work in again | `2m` | `0s..=24h` |
/// | `ECS_PROTECT_HARD_CAP` | longest continuous protection, even with work in flight (logged as an error) | `4 × MAX_HOLD` | `MAX_HOLD + HOLD_GRACE ..= 168h` |
/// | `ECS_PROTECT_POLICY` | what `acquire` does when protection cannot be had: `proceed` (run unprotected, warn) or `require` (return the error) | `proceed` | `proceed`, `require` |
/// | `ECS_PROTECT_RETRY_AFTER` | the longest back-off after failed calls (network, throttling, 5xx): the first waits about 1 s, each further failure in a row doubles it up to this; reset only by a confirmed enable or renewal | `30s` | `0s..=1h` |
/// | `ECS_PROTECT_BLOCKED_RETRY_AFTER` | back-off after a `DEPLOYMENT_BLOCKED` answer | `1m` | `0s..=1h` |
/// | `ECS_PROTECT_REFUSED_RETRY_AFTER` | back-off after a permanent refusal (`TASK_NOT_VALID`, access denied) | `10m` | `0s..=24h` |
/// | `ECS_PROTECT_CONNECT_TIMEOUT` | how long one attempt of a backend call waits for a connection (DNS, TCP, TLS) | `3s` (API), `2s` (agent) | `1ms..=1m` |
/// | `ECS_PROTECT_READ_TIMEOUT` | how long one attempt waits for the answer's headers, and again for its body | `10s` | `1ms..=5m` |
/// | `ECS_PROTECT_EMF` | write a CloudWatch Embedded Metric Format line on stdout at each state change | `false` | `true`, `false`, `1`, `0` |
/// | `ECS_PROTECT_EMF_NAMESPACE` | the CloudWatch namespace of those metrics | `ECSProtect` | 1 to 255 characters |
///
/// Durations are written as `0` or as one or more `<whole number><unit>` parts with the units
/// `ms`, `s`, `m` and `h`: `250ms`, `5s`, `30m`, `1h30m`. A bare number other than `0` is
/// rejected, so that `ECS_PROTECT_LINGER=5` cannot be misread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    expires_in_minutes: u32,
    linger: Duration,
    max_hold: Duration,
    window: Duration,
    hold_grace: Duration,
    hard_cap: Duration,
    policy: FailurePolicy,
    retry_after: Duration,
    blocked_retry_after: Duration,
    refused_retry_after: Duration,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    emf: bool,
    emf_namespace: String,
}

impl Default for Config {
    fn default() -> Self {
        let max_hold = Duration::from_secs(15 * 60);
        Config {
            expires_in_minutes: 120,
            linger: Duration::from_secs(5),
            max_hold,
            window: Duration::from_secs(30),
            hold_grace: Duration::from_secs(120),
            hard_cap: max_hold * 4,
            policy: FailurePolicy::Proceed,
            retry_after: Duration::from_secs(30),
            blocked_retry_after: Duration::from_secs(60),
            refused_retry_after: Duration::from_secs(600),
            connect_timeout: None,
            read_timeout: None,
            emf: false,
            emf_namespace: "ECSProtect".to_owned(),
        }
    }
}

/// Every variable [`Config::from_env_with`] reads (listed by `ecs-protect check`).
#[cfg(any(test, feature = "cli"))]
pub(crate) const VARIABLES: &[&str] = &[
    "ECS_PROTECT_EXPIRES_MINUTES",
    "ECS_PROTECT_LINGER",
    "ECS_PROTECT_MAX_HOLD",
    "ECS_PROTECT_WINDOW",
    "ECS_PROTECT_HOLD_GRACE",
    "ECS_PROTECT_HARD_CAP",
    "ECS_PROTECT_POLICY",
    "ECS_PROTECT_RETRY_AFTER",
    "ECS_PROTECT_BLOCKED_RETRY_AFTER",
    "ECS_PROTECT_REFUSED_RETRY_AFTER",
    "ECS_PROTECT_CONNECT_TIMEOUT",
    "ECS_PROTECT_READ_TIMEOUT",
    "ECS_PROTECT_EMF",
    "ECS_PROTECT_EMF_NAMESPACE",
];

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
            hard_cap: None,
            error: None,
        }
    }

    /// Reads the `ECS_PROTECT_*` variables of the process environment (see the
    /// [`Config`] docs); unset variables keep their defaults.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the first invalid variable and what it accepts.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_env_with(&Env::process())
    }

    /// Like [`from_env`](Self::from_env), reading `env` instead of the process environment.
    ///
    /// ```
    /// use ecs_protect::{Config, Env};
    /// use std::time::Duration;
    ///
    /// let env = Env::from_vars([("ECS_PROTECT_LINGER", "250ms"), ("ECS_PROTECT_POLICY", "require")]);
    /// let config = Config::from_env_with(&env)?;
    /// assert_eq!(config.linger(), Duration::from_millis(250));
    ///
    /// let bad = Env::from_vars([("ECS_PROTECT_EXPIRES_MINUTES", "0")]);
    /// let err = Config::from_env_with(&bad).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid ECS_PROTECT_EXPIRES_MINUTES: expected whole minutes in 1..=2880, got \"0\"");
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the first invalid variable and what it accepts.
    pub fn from_env_with(env: &Env) -> Result<Config, Error> {
        let mut c = Config::default();
        let var = |name: &str| env.get(name);
        if let Some(raw) = var("ECS_PROTECT_EXPIRES_MINUTES") {
            c.expires_in_minutes = raw
                .trim()
                .parse()
                .ok()
                .filter(|m| MINUTES.contains(m))
                .ok_or_else(|| {
                    Error::config(
                        "ECS_PROTECT_EXPIRES_MINUTES",
                        format!("expected whole minutes in 1..=2880, got {raw:?}"),
                    )
                })?;
        }
        let duration = |name: &str, range: &RangeInclusive<Duration>| -> Result<_, Error> {
            var(name)
                .map(|raw| {
                    duration::parse(&raw)
                        .filter(|d| range.contains(d))
                        .ok_or_else(|| Error::config(name, duration_message(range, &raw)))
                })
                .transpose()
        };
        if let Some(d) = duration("ECS_PROTECT_LINGER", &LINGER)? {
            c.linger = d;
        }
        if let Some(d) = duration("ECS_PROTECT_MAX_HOLD", &MAX_HOLD)? {
            c.max_hold = d;
        }
        if let Some(d) = duration("ECS_PROTECT_WINDOW", &WINDOW)? {
            c.window = d;
        }
        if let Some(d) = duration("ECS_PROTECT_HOLD_GRACE", &GRACE)? {
            c.hold_grace = d;
        }
        if let Some(d) = duration("ECS_PROTECT_RETRY_AFTER", &RETRY)? {
            c.retry_after = d;
        }
        if let Some(d) = duration("ECS_PROTECT_BLOCKED_RETRY_AFTER", &RETRY)? {
            c.blocked_retry_after = d;
        }
        if let Some(d) = duration("ECS_PROTECT_REFUSED_RETRY_AFTER", &REFUSED)? {
            c.refused_retry_after = d;
        }
        if let Some(d) = duration("ECS_PROTECT_CONNECT_TIMEOUT", &CONNECT)? {
            c.connect_timeout = Some(d);
        }
        if let Some(d) = duration("ECS_PROTECT_READ_TIMEOUT", &READ)? {
            c.read_timeout = Some(d);
        }
        let min_cap = c.max_hold + c.hold_grace;
        c.hard_cap = match duration("ECS_PROTECT_HARD_CAP", &(min_cap..=HARD_CAP_MAX))? {
            Some(d) => d,
            None => default_hard_cap(c.max_hold, c.hold_grace),
        };
        if let Some(raw) = var("ECS_PROTECT_POLICY") {
            c.policy = raw
                .parse()
                .map_err(|message| Error::config("ECS_PROTECT_POLICY", message))?;
        }
        if let Some(raw) = var("ECS_PROTECT_EMF") {
            c.emf = match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(Error::config(
                        "ECS_PROTECT_EMF",
                        format!("expected true, false, 1 or 0, got {raw:?}"),
                    ));
                }
            };
        }
        if let Some(raw) = var("ECS_PROTECT_EMF_NAMESPACE") {
            c.emf_namespace = check_namespace(&raw)
                .map_err(|message| Error::config("ECS_PROTECT_EMF_NAMESPACE", message))?;
        }
        Ok(c)
    }

    /// Minutes ECS keeps protection before clearing it by itself.
    pub fn expires_in_minutes(&self) -> u32 {
        self.expires_in_minutes
    }

    /// How long protection stays on after the last unit of work ends.
    pub fn linger(&self) -> Duration {
        self.linger
    }

    /// Continuous protection after which a breathing window opens.
    pub fn max_hold(&self) -> Duration {
        self.max_hold
    }

    /// How long protection stays off during a breathing window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// How long a breathing window waits for the work in flight.
    pub fn hold_grace(&self) -> Duration {
        self.hold_grace
    }

    /// The longest continuous protection, even with work in flight.
    pub fn hard_cap(&self) -> Duration {
        self.hard_cap
    }

    /// What `acquire` does when protection cannot be had.
    pub fn policy(&self) -> FailurePolicy {
        self.policy
    }

    /// The longest back-off after failed calls (the first is about 1 s, doubling).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// Back-off after a `DEPLOYMENT_BLOCKED` answer.
    pub fn blocked_retry_after(&self) -> Duration {
        self.blocked_retry_after
    }

    /// Back-off after a permanent refusal.
    pub fn refused_retry_after(&self) -> Duration {
        self.refused_retry_after
    }

    /// The connect timeout of each attempt of a backend call; `None`: the backend's own
    /// default (3 s for the ECS API, 2 s for the agent).
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The read timeout (for the headers, and again for the body) of each attempt of a
    /// backend call; `None`: the backend's own default (10 s).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// Whether state changes are also written as CloudWatch Embedded Metric Format lines.
    pub fn emf(&self) -> bool {
        self.emf
    }

    /// The CloudWatch namespace of the EMF metrics.
    pub fn emf_namespace(&self) -> &str {
        &self.emf_namespace
    }
}

fn default_hard_cap(max_hold: Duration, grace: Duration) -> Duration {
    (max_hold.saturating_mul(4))
        .max(max_hold + grace)
        .min(HARD_CAP_MAX.max(max_hold + grace))
}

fn duration_message(range: &RangeInclusive<Duration>, raw: &str) -> String {
    format!(
        "expected a duration such as 250ms, 5s, 30m or 1h30m in {}..={}, got {raw:?}",
        Readable(*range.start()),
        Readable(*range.end())
    )
}

fn check_namespace(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 255 || trimmed.contains(':') {
        return Err(format!(
            "expected 1 to 255 characters without ':', got {raw:?}"
        ));
    }
    Ok(trimmed.to_owned())
}

/// Builds a [`Config`]; every setter states its default and accepted range.
///
/// An out-of-range value does not panic: [`build`](Self::build) returns
/// [`Error::Config`] naming the setter (`ConfigBuilder::linger`) and the range.
///
/// ```
/// use ecs_protect::Config;
/// use std::time::Duration;
///
/// let err = Config::builder().expires_in_minutes(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid ConfigBuilder::expires_in_minutes: expected 1..=2880, got 0");
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    config: Config,
    hard_cap: Option<Duration>,
    /// The first invalid setting: the setter's name and what was wrong.
    error: Option<(String, String)>,
}

impl ConfigBuilder {
    fn fail(&mut self, method: &str, message: String) {
        if self.error.is_none() {
            self.error = Some((format!("ConfigBuilder::{method}"), message));
        }
    }

    fn duration(
        mut self,
        method: &str,
        value: Duration,
        range: RangeInclusive<Duration>,
        set: impl FnOnce(&mut Config, Duration),
    ) -> Self {
        if range.contains(&value) {
            set(&mut self.config, value);
        } else {
            let message = format!(
                "expected {}..={}, got {value:?}",
                Readable(*range.start()),
                Readable(*range.end()),
            );
            self.fail(method, message);
        }
        self
    }

    /// Minutes ECS keeps protection before clearing it by itself, the `expiresInMinutes` of
    /// each call. Protection is renewed half-way while work runs. Default `120`, range
    /// `1..=2880`.
    pub fn expires_in_minutes(mut self, minutes: u32) -> Self {
        if MINUTES.contains(&minutes) {
            self.config.expires_in_minutes = minutes;
        } else {
            self.fail(
                "expires_in_minutes",
                format!("expected 1..=2880, got {minutes}"),
            );
        }
        self
    }

    /// How long protection stays on after the last unit of work ends, so a steady stream of
    /// work costs a handful of calls. Zero during shutdown. Default 5 s, range 0 s..=15 min.
    ///
    /// The linger counts from the last release: the release path takes no lock and reads
    /// no clock, so the background thread looks at the count every quarter linger, at most
    /// every 50 ms, while protection is on, and the disable starts between one linger and
    /// one linger plus 50 ms after the last unit ends. With zero, each last release wakes
    /// the thread.
    pub fn linger(self, linger: Duration) -> Self {
        self.duration("linger", linger, LINGER, |c, d| c.linger = d)
    }

    /// Continuous protection after which a breathing window opens: new work waits, the
    /// work in flight finishes, protection is released for [`window`](Self::window), then
    /// taken again. Default 15 min, range 1 ms..=48 h.
    pub fn max_hold(self, max_hold: Duration) -> Self {
        self.duration("max_hold", max_hold, MAX_HOLD, |c, d| c.max_hold = d)
    }

    /// How long protection stays off during a breathing window; ECS must notice the task is
    /// unprotected within it. Default 30 s, range 1 ms..=1 h.
    pub fn window(self, window: Duration) -> Self {
        self.duration("window", window, WINDOW, |c, d| c.window = d)
    }

    /// How long a breathing window waits for the work in flight; after it, new work is let
    /// in again under the current protection and the window is skipped until the
    /// [`hard_cap`](Self::hard_cap). Default 2 min, range 0 s..=24 h.
    pub fn hold_grace(self, grace: Duration) -> Self {
        self.duration("hold_grace", grace, GRACE, |c, d| c.hold_grace = d)
    }

    /// The longest continuous protection: reaching it releases protection even with work in
    /// flight (logged as an error), so a stuck handler cannot hold the task forever.
    /// Default four times `max_hold` (1 h), and at least `max_hold + hold_grace`; range
    /// `max_hold + hold_grace ..= 168 h` (checked by [`build`](Self::build)).
    pub fn hard_cap(mut self, hard_cap: Duration) -> Self {
        self.hard_cap = Some(hard_cap);
        self
    }

    /// What `acquire` does when protection cannot be had. Default [`FailurePolicy::Proceed`].
    pub fn policy(mut self, policy: FailurePolicy) -> Self {
        self.config.policy = policy;
        self
    }

    /// The longest back-off after failed calls (network, throttling, 5xx): until a back-off
    /// passes, acquires apply the policy at once instead of calling ECS again. The first
    /// back-off is 0.5 to 1 s, each further failure in a row doubles it (with jitter) up to
    /// this cap, and a success resets it. Default 30 s, range 0 s..=1 h (0: no back-off).
    pub fn retry_after(self, backoff: Duration) -> Self {
        self.duration("retry_after", backoff, RETRY, |c, d| c.retry_after = d)
    }

    /// Back-off after a `DEPLOYMENT_BLOCKED` answer. Default 1 min, range 0 s..=1 h.
    pub fn blocked_retry_after(self, backoff: Duration) -> Self {
        self.duration("blocked_retry_after", backoff, RETRY, |c, d| {
            c.blocked_retry_after = d;
        })
    }

    /// Back-off after a permanent refusal (`TASK_NOT_VALID`, access denied, bad setup), so
    /// a misconfigured fleet does not hammer ECS. Default 10 min, range 0 s..=24 h.
    pub fn refused_retry_after(self, backoff: Duration) -> Self {
        self.duration("refused_retry_after", backoff, REFUSED, |c, d| {
            c.refused_retry_after = d;
        })
    }

    /// How long each attempt of a backend call waits for a connection (DNS, TCP, TLS), for
    /// the backend [`Protector::from_env`](crate::Protector::from_env) builds. Default: the
    /// backend's own (3 s for the ECS API, 2 s for the agent); range 1 ms..=1 min.
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.duration("connect_timeout", timeout, CONNECT, |c, d| {
            c.connect_timeout = Some(d);
        })
    }

    /// How long each attempt of a backend call waits for the answer's headers, and again
    /// for its body, for the backend [`Protector::from_env`](crate::Protector::from_env)
    /// builds. Default 10 s; range 1 ms..=5 min. Keep it above 5 s for the agent backend
    /// (the agent's own call to ECS may take that long).
    pub fn read_timeout(self, timeout: Duration) -> Self {
        self.duration("read_timeout", timeout, READ, |c, d| {
            c.read_timeout = Some(d)
        })
    }

    /// Whether each state change also writes one CloudWatch Embedded Metric Format line on
    /// stdout (CloudWatch Logs turns it into metrics at no API cost). Default `false`.
    pub fn emf(mut self, enabled: bool) -> Self {
        self.config.emf = enabled;
        self
    }

    /// The CloudWatch namespace of the EMF metrics. Default `ECSProtect`; 1 to 255
    /// characters, no `:`.
    pub fn emf_namespace(mut self, namespace: impl AsRef<str>) -> Self {
        match check_namespace(namespace.as_ref()) {
            Ok(ns) => self.config.emf_namespace = ns,
            Err(message) => self.fail("emf_namespace", message),
        }
        self
    }

    /// The validated configuration.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the first setter given an out-of-range value.
    pub fn build(mut self) -> Result<Config, Error> {
        let min_cap = self.config.max_hold + self.config.hold_grace;
        match self.hard_cap {
            Some(cap) if (min_cap..=HARD_CAP_MAX).contains(&cap) => self.config.hard_cap = cap,
            Some(cap) => {
                let message = format!(
                    "expected max_hold + hold_grace ({min_cap:?})..={}, got {cap:?}",
                    Readable(HARD_CAP_MAX),
                );
                self.fail("hard_cap", message);
            }
            None => {
                self.config.hard_cap =
                    default_hard_cap(self.config.max_hold, self.config.hold_grace);
            }
        }
        match self.error {
            Some((origin, message)) => Err(Error::config(origin, message)),
            None => Ok(self.config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<Config, Error> {
        Config::from_env_with(&Env::from_vars(vars.iter().copied()))
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = env(&[]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.expires_in_minutes(), 120);
        assert_eq!(c.linger(), Duration::from_secs(5));
        assert_eq!(c.max_hold(), Duration::from_secs(900));
        assert_eq!(c.window(), Duration::from_secs(30));
        assert_eq!(c.hold_grace(), Duration::from_secs(120));
        assert_eq!(c.hard_cap(), Duration::from_secs(3600));
        assert_eq!(c.policy(), FailurePolicy::Proceed);
        assert_eq!(c.retry_after(), Duration::from_secs(30));
        assert_eq!((c.connect_timeout(), c.read_timeout()), (None, None));
        assert!(!c.emf());
        assert_eq!(c.emf_namespace(), "ECSProtect");
        assert_eq!(Config::builder().build().unwrap(), c);
    }

    #[test]
    fn reads_every_variable() {
        let c = env(&[
            ("ECS_PROTECT_EXPIRES_MINUTES", "2880"),
            ("ECS_PROTECT_LINGER", "0"),
            ("ECS_PROTECT_MAX_HOLD", "1h"),
            ("ECS_PROTECT_WINDOW", "45s"),
            ("ECS_PROTECT_HOLD_GRACE", "5m"),
            ("ECS_PROTECT_HARD_CAP", "2h"),
            ("ECS_PROTECT_POLICY", "Require"),
            ("ECS_PROTECT_RETRY_AFTER", "1s"),
            ("ECS_PROTECT_BLOCKED_RETRY_AFTER", "2m"),
            ("ECS_PROTECT_REFUSED_RETRY_AFTER", "1h"),
            ("ECS_PROTECT_CONNECT_TIMEOUT", "500ms"),
            ("ECS_PROTECT_READ_TIMEOUT", "2s"),
            ("ECS_PROTECT_EMF", "1"),
            ("ECS_PROTECT_EMF_NAMESPACE", "Billing/Workers"),
        ])
        .unwrap();
        assert_eq!(c.expires_in_minutes(), 2880);
        assert_eq!(c.linger(), Duration::ZERO);
        assert_eq!(c.max_hold(), Duration::from_secs(3600));
        assert_eq!(c.window(), Duration::from_secs(45));
        assert_eq!(c.hold_grace(), Duration::from_secs(300));
        assert_eq!(c.hard_cap(), Duration::from_secs(7200));
        assert_eq!(c.policy(), FailurePolicy::Require);
        assert_eq!(c.retry_after(), Duration::from_secs(1));
        assert_eq!(c.blocked_retry_after(), Duration::from_secs(120));
        assert_eq!(c.refused_retry_after(), Duration::from_secs(3600));
        assert_eq!(c.connect_timeout(), Some(Duration::from_millis(500)));
        assert_eq!(c.read_timeout(), Some(Duration::from_secs(2)));
        assert!(c.emf());
        assert_eq!(c.emf_namespace(), "Billing/Workers");
    }

    #[test]
    fn invalid_variables_name_the_variable_and_range() {
        let cases = [
            (
                ("ECS_PROTECT_EXPIRES_MINUTES", "2881"),
                "invalid ECS_PROTECT_EXPIRES_MINUTES: expected whole minutes in 1..=2880, got \"2881\"",
            ),
            (
                ("ECS_PROTECT_LINGER", "5"),
                "invalid ECS_PROTECT_LINGER: expected a duration such as 250ms, 5s, 30m or 1h30m in 0s..=15m, got \"5\"",
            ),
            (
                ("ECS_PROTECT_LINGER", "16m"),
                "invalid ECS_PROTECT_LINGER: expected a duration such as 250ms, 5s, 30m or 1h30m in 0s..=15m, got \"16m\"",
            ),
            (
                ("ECS_PROTECT_MAX_HOLD", "0"),
                "invalid ECS_PROTECT_MAX_HOLD: expected a duration such as 250ms, 5s, 30m or 1h30m in 1ms..=48h, got \"0\"",
            ),
            (
                ("ECS_PROTECT_WINDOW", "2h"),
                "invalid ECS_PROTECT_WINDOW: expected a duration such as 250ms, 5s, 30m or 1h30m in 1ms..=1h, got \"2h\"",
            ),
            (
                ("ECS_PROTECT_HARD_CAP", "10m"),
                "invalid ECS_PROTECT_HARD_CAP: expected a duration such as 250ms, 5s, 30m or 1h30m in 17m..=168h, got \"10m\"",
            ),
            (
                ("ECS_PROTECT_POLICY", "maybe"),
                "invalid ECS_PROTECT_POLICY: expected proceed or require, got \"maybe\"",
            ),
            (
                ("ECS_PROTECT_EMF", "yes"),
                "invalid ECS_PROTECT_EMF: expected true, false, 1 or 0, got \"yes\"",
            ),
            (
                ("ECS_PROTECT_CONNECT_TIMEOUT", "0"),
                "invalid ECS_PROTECT_CONNECT_TIMEOUT: expected a duration such as 250ms, 5s, 30m or 1h30m in 1ms..=1m, got \"0\"",
            ),
            (
                ("ECS_PROTECT_READ_TIMEOUT", "10"),
                "invalid ECS_PROTECT_READ_TIMEOUT: expected a duration such as 250ms, 5s, 30m or 1h30m in 1ms..=5m, got \"10\"",
            ),
            (
                ("ECS_PROTECT_REFUSED_RETRY_AFTER", "25h"),
                "invalid ECS_PROTECT_REFUSED_RETRY_AFTER: expected a duration such as 250ms, 5s, 30m or 1h30m in 0s..=24h, got \"25h\"",
            ),
        ];
        for ((name, value), expected) in cases {
            let err = env(&[(name, value)]).unwrap_err();
            assert!(matches!(&err, Error::Config { origin, .. } if origin == name));
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn hard_cap_default_follows_max_hold() {
        let c = env(&[
            ("ECS_PROTECT_MAX_HOLD", "50ms"),
            ("ECS_PROTECT_HOLD_GRACE", "1s"),
        ])
        .unwrap();
        assert_eq!(c.hard_cap(), Duration::from_millis(1050));
        let c = Config::builder()
            .max_hold(Duration::from_secs(48 * 3600))
            .build()
            .unwrap();
        assert_eq!(c.hard_cap(), Duration::from_secs(168 * 3600));
    }

    #[test]
    fn builder_errors_name_the_method() {
        let ms = Duration::from_millis;
        let cases: [(ConfigBuilder, &str); 8] = [
            (
                Config::builder().linger(ms(900_001)),
                "ConfigBuilder::linger",
            ),
            (
                Config::builder().max_hold(Duration::ZERO),
                "ConfigBuilder::max_hold",
            ),
            (
                Config::builder().window(Duration::ZERO),
                "ConfigBuilder::window",
            ),
            (
                Config::builder()
                    .max_hold(ms(100))
                    .hold_grace(ms(50))
                    .hard_cap(ms(120)),
                "ConfigBuilder::hard_cap",
            ),
            (
                Config::builder().emf_namespace(""),
                "ConfigBuilder::emf_namespace",
            ),
            (
                Config::builder().retry_after(Duration::from_secs(3601)),
                "ConfigBuilder::retry_after",
            ),
            (
                Config::builder().connect_timeout(Duration::ZERO),
                "ConfigBuilder::connect_timeout",
            ),
            (
                Config::builder().read_timeout(Duration::from_secs(301)),
                "ConfigBuilder::read_timeout",
            ),
        ];
        for (builder, method) in cases {
            let err = builder.build().unwrap_err();
            assert!(
                matches!(&err, Error::Config { origin, .. } if origin == method),
                "{err}"
            );
        }
        let err = Config::builder()
            .max_hold(ms(100))
            .hold_grace(ms(50))
            .hard_cap(ms(120))
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ConfigBuilder::hard_cap: expected max_hold + hold_grace (150ms)..=168h, got 120ms"
        );
    }

    #[test]
    fn first_error_wins() {
        let err = Config::builder()
            .expires_in_minutes(0)
            .linger(Duration::from_secs(3600))
            .build()
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid ConfigBuilder::expires_in_minutes")
        );
    }
}
