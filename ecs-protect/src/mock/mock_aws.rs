//! [`MockAws`]: an in-process fake of everything a task sees of AWS: ECS and SQS.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::endpoints;
use super::server::{Running, Settings, Shared};
use super::state::{AwsCall, IssuedKey, Operation, ProtectedSpan, State};
use super::wait;
use crate::{Env, Error, Protector, RefusalReason};

/// How many requests the fake answers at once (each worker sleeps through the injected
/// latency of the call it handles).
const WORKERS: usize = 4;

/// An in-process fake AWS: task metadata, container credentials, the signed ECS API, the
/// ECS agent's task-protection endpoint and (feature `sqs`) SQS queues, on `127.0.0.1` and
/// a free port.
///
/// It serves what a task on ECS sees:
///
/// | endpoint | answers |
/// |---|---|
/// | `GET /v4/<id>/task` (`ECS_CONTAINER_METADATA_URI_V4`) | `Cluster`, `TaskARN`, `ServiceName`, `Family`, ... |
/// | `GET /creds` (`AWS_CONTAINER_CREDENTIALS_FULL_URI`) | `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`; checks `Authorization` against `AWS_CONTAINER_AUTHORIZATION_TOKEN` (401 missing, 403 wrong) |
/// | `POST /` (`AWS_ENDPOINT_URL_ECS`) | `UpdateTaskProtection`, `GetTaskProtection` over JSON 1.1, every SigV4 signature verified as AWS does |
/// | `PUT`/`GET /api/<id>/task-protection/v1/state` (`ECS_AGENT_URI`) | the agent's shapes, unsigned |
/// | `POST /` with `X-Amz-Target: AmazonSQS.*` (feature `sqs`, queues made by `create_queue`) | `ReceiveMessage`, `DeleteMessageBatch`, `ChangeMessageVisibilityBatch`, `SendMessage`, signed (service `sqs`) |
///
/// The signed API rejects a request the way AWS does, with HTTP 400, `{"__type", "message"}`
/// and `x-amzn-RequestId`: `MissingAuthenticationTokenException`,
/// `IncompleteSignatureException` (a malformed `Authorization`, `host` or `x-amz-date` not
/// signed), `InvalidSignatureException` (scope date, region or service wrong; `X-Amz-Date`
/// more than 5 minutes from the fake's clock, "Signature expired: ..."; the session token
/// not signed; "The request signature we calculated does not match..."),
/// `UnrecognizedClientException` (unknown access key, or a session token that is not the
/// one issued with it) and `ExpiredTokenException`. Signatures are recomputed with this
/// crate's own signer and compared in constant time: a bug in that signer
/// would be shared by the client and the fake, so the fake alone cannot catch it (the
/// official SigV4 vectors and the `aws-sigv4` cross-checks in the test suite do, including
/// that the fake accepts what `aws-sigv4` signs). Every answer carries a `Date` header from
/// the fake's clock, which [`set_clock_skew_secs`](Self::set_clock_skew_secs) can move.
///
/// Bodies are validated as ECS does (`cluster`, `tasks`, `protectionEnabled` required;
/// `expiresInMinutes` in 1..=2880, default 120) with `InvalidParameterException`. A task
/// that is not this fake's, or any task when the builder left the service name out, gets a
/// `TASK_NOT_VALID` failure, as a standalone task does on ECS.
///
/// It records every call ([`calls`](Self::calls)) and the protection timeline
/// ([`protected_at`](Self::protected_at), [`timeline`](Self::timeline)), and injects faults
/// ([`throttle_next`](Self::throttle_next), [`fail_next`](Self::fail_next),
/// [`refuse_next`](Self::refuse_next), [`set_latency`](Self::set_latency), ...). Faults and
/// the protection state are shared by the signed API and the agent endpoint (the agent
/// calls the same ECS). It stops when dropped: the worker threads are joined and the
/// listener is closed.
///
/// ```
/// use ecs_protect::mock::MockAws;
/// use ecs_protect::Env;
///
/// let mock = MockAws::start()?;
/// let env = Env::from_vars(mock.env());
/// assert_eq!(env.get("AWS_ENDPOINT_URL_ECS"), Some(mock.url()));
/// assert!(!mock.protected_now());
/// # Ok::<(), ecs_protect::Error>(())
/// ```
pub struct MockAws {
    shared: Arc<Shared>,
    addr: SocketAddr,
    running: Option<Running>,
}

impl fmt::Debug for MockAws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockAws")
            .field("url", &self.url())
            .field("task_arn", &self.task_arn())
            .finish_non_exhaustive()
    }
}

/// Credentials the fake issued, as its credentials endpoint answers them.
///
/// `Debug` shows only the access key id and expiry.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockCredentials {
    /// The access key id (`ASIAMOCK...` for issued keys).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token (`None` for static credentials given to the builder).
    pub session_token: Option<String>,
    /// When the fake stops accepting them (`None`: never).
    pub expiration: Option<SystemTime>,
}

impl fmt::Debug for MockCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl MockCredentials {
    /// Credentials to sign test requests with (e.g. ones read from the credentials
    /// endpoint's answer, or deliberately wrong ones).
    ///
    /// ```
    /// use ecs_protect::mock::MockCredentials;
    ///
    /// let creds = MockCredentials::new("ASIAEXAMPLE", "secret", Some("token"));
    /// assert_eq!(creds.session_token.as_deref(), Some("token"));
    /// assert!(!format!("{creds:?}").contains("secret"));
    /// ```
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        MockCredentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token.map(str::to_owned),
            expiration: None,
        }
    }
}

impl From<IssuedKey> for MockCredentials {
    fn from(key: IssuedKey) -> Self {
        MockCredentials {
            access_key_id: key.access_key_id,
            secret_access_key: key.secret_access_key,
            session_token: key.session_token,
            expiration: key.expiration,
        }
    }
}

/// Settings for a [`MockAws`]; start it with [`start`](Self::start).
///
/// ```
/// use ecs_protect::mock::MockAws;
/// use std::time::Duration;
///
/// let mock = MockAws::builder()
///     .region("us-east-2")
///     .cluster("prod")
///     .minute(Duration::from_millis(200))
///     .start()?;
/// assert!(mock.task_arn().starts_with("arn:aws:ecs:us-east-2:111122223333:task/prod/"));
/// # Ok::<(), ecs_protect::Error>(())
/// ```
#[derive(Clone)]
pub struct MockAwsBuilder {
    region: String,
    account: String,
    cluster: String,
    service_name: Option<String>,
    family: String,
    authorization_token: Option<String>,
    minute: Duration,
    rotation: Duration,
    lifetime: Duration,
    static_credentials: Option<(String, String)>,
    clock_skew_secs: i64,
}

impl fmt::Debug for MockAwsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockAwsBuilder")
            .field("region", &self.region)
            .field("cluster", &self.cluster)
            .field("service_name", &self.service_name)
            .field("minute", &self.minute)
            .finish_non_exhaustive()
    }
}

impl Default for MockAwsBuilder {
    fn default() -> Self {
        MockAwsBuilder {
            region: "eu-west-1".into(),
            account: "111122223333".into(),
            cluster: "default".into(),
            service_name: Some("worker".into()),
            family: "worker".into(),
            authorization_token: None,
            minute: Duration::from_secs(60),
            rotation: Duration::from_secs(3600),
            lifetime: Duration::from_secs(6 * 3600),
            static_credentials: None,
            clock_skew_secs: 0,
        }
    }
}

impl MockAwsBuilder {
    /// The region of the task ARN and the one signatures must be scoped to (default
    /// `eu-west-1`).
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The cluster name (default `default`); requests may name it or its ARN.
    #[must_use]
    pub fn cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = cluster.into();
        self
    }

    /// The task's service (default `worker`). `None` plays a standalone task: the metadata
    /// has no `ServiceName` and every protection call gets a `TASK_NOT_VALID` failure.
    #[must_use]
    pub fn service_name(mut self, service: Option<&str>) -> Self {
        self.service_name = service.map(str::to_owned);
        self
    }

    /// The task definition family in the metadata (default `worker`).
    #[must_use]
    pub fn family(mut self, family: impl Into<String>) -> Self {
        self.family = family.into();
        self
    }

    /// The token the credentials endpoint expects in `Authorization` (default: one made up
    /// per fake, given by [`MockAws::authorization_token`] and [`MockAws::env`]).
    #[must_use]
    pub fn authorization_token(mut self, token: impl Into<String>) -> Self {
        self.authorization_token = Some(token.into());
        self
    }

    /// How long one "minute" of `expiresInMinutes` lasts (default 60 s). With 200 ms, a
    /// protection asked for 1 minute lapses after 200 ms: expiry tests run fast.
    #[must_use]
    pub fn minute(mut self, minute: Duration) -> Self {
        self.minute = minute;
        self
    }

    /// How long the credentials endpoint keeps answering the same key before issuing a new
    /// one (default 1 hour). Older keys stay valid until their own expiry.
    #[must_use]
    pub fn credential_rotation(mut self, every: Duration) -> Self {
        self.rotation = every;
        self
    }

    /// How long issued keys are valid (default 6 hours, as ECS task-role credentials are).
    #[must_use]
    pub fn credential_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Also accept long-term credentials (no session token, no expiry), for clients that
    /// read `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (default: none).
    #[must_use]
    pub fn static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.static_credentials = Some((access_key_id.into(), secret_access_key.into()));
        self
    }

    /// Starts with the fake's clock this many seconds ahead (negative: behind) of the real
    /// one (default 0). See [`MockAws::set_clock_skew_secs`].
    #[must_use]
    pub fn clock_skew_secs(mut self, secs: i64) -> Self {
        self.clock_skew_secs = secs;
        self
    }

    /// Binds `127.0.0.1` on a free port and starts serving on background threads.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] when the listener cannot be bound or a thread not started.
    pub fn start(self) -> Result<MockAws, Error> {
        let bind_error = |source: Box<dyn std::error::Error + Send + Sync>| Error::Transport {
            endpoint: "http://127.0.0.1:0 (mock AWS listener)".into(),
            timed_out: false,
            source,
        };
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(bind_error)?;
        let addr = match server.server_addr() {
            tiny_http::ListenAddr::IP(addr) => addr,
            #[allow(unreachable_patterns)]
            _ => return Err(bind_error("the mock AWS listener has no IP address".into())),
        };
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let serial = STARTED.fetch_add(1, Ordering::Relaxed);
        let task_id = endpoints::digest_hex(
            format!("{:?}/{}/{serial}", SystemTime::now(), addr.port()).as_bytes(),
        )[..32]
            .to_owned();
        let token = self
            .authorization_token
            .unwrap_or_else(|| format!("mock-ecs-auth-{}", &task_id[..16]));
        let mut state = State {
            skew_secs: self.clock_skew_secs,
            ..State::default()
        };
        if let Some((access_key_id, secret_access_key)) = self.static_credentials {
            state.keys.push(IssuedKey {
                access_key_id,
                secret_access_key,
                session_token: None,
                expiration: None,
            });
        }
        let shared = Arc::new(Shared {
            settings: Settings {
                region: self.region,
                account: self.account,
                cluster: self.cluster,
                task_id: task_id.clone(),
                service_name: self.service_name,
                family: self.family,
                endpoint_id: format!("mock-{}", &task_id[..12]),
                authorization_token: token,
                minute: self.minute,
                rotation: self.rotation,
                lifetime: self.lifetime,
            },
            signer: crate::aws::sigv4::Signer::new(),
            state: Mutex::new(state),
            changed: Condvar::new(),
        });
        let running = Running::start(server, Arc::clone(&shared), WORKERS)
            .map_err(|e| bind_error(Box::new(e)))?;
        Ok(MockAws {
            shared,
            addr,
            running: Some(running),
        })
    }
}

impl MockAws {
    /// Starts a fake with the default settings (see [`MockAwsBuilder`]).
    ///
    /// # Errors
    ///
    /// As [`MockAwsBuilder::start`].
    pub fn start() -> Result<MockAws, Error> {
        MockAwsBuilder::default().start()
    }

    /// Settings for a fake (region, cluster, service, time scale, credentials).
    pub fn builder() -> MockAwsBuilder {
        MockAwsBuilder::default()
    }

    /// Creates an SQS queue named `name` (feature `sqs`) and returns its URL and the queue
    /// itself, for sending messages and inspecting deliveries; a name ending `.fifo` makes
    /// a FIFO queue (see [`MemoryQueue`](super::MemoryQueue)). The fake serves
    /// `ReceiveMessage`, `DeleteMessageBatch`, `ChangeMessageVisibilityBatch` and
    /// `SendMessage` on it, checking each request's SigV4 signature (service `sqs`).
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    ///
    /// let mock = MockAws::start()?;
    /// let (url, queue) = mock.create_queue("orders");
    /// assert!(url.ends_with("/000000000000/orders"));
    /// queue.send("order 1");
    /// assert_eq!(queue.visible(), 1);
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    #[cfg(feature = "sqs")]
    pub fn create_queue(&self, name: &str) -> (String, super::MemoryQueue) {
        let url = format!("{}/000000000000/{name}", self.url());
        let mut state = self.shared.lock();
        let queue = state
            .queues
            .entry(url.clone())
            .or_insert_with(|| super::MemoryQueue::with_url(&url))
            .clone();
        (url, queue)
    }

    /// The base URL, e.g. `http://127.0.0.1:38211` (also the ECS API endpoint).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The variables that point a client at this fake, for
    /// [`Env::from_vars`](crate::Env::from_vars):
    ///
    /// | variable | value |
    /// |---|---|
    /// | `ECS_CONTAINER_METADATA_URI_V4` | `<url>/v4/<id>` |
    /// | `AWS_CONTAINER_CREDENTIALS_FULL_URI` | `<url>/creds` |
    /// | `AWS_CONTAINER_AUTHORIZATION_TOKEN` | the token the fake expects |
    /// | `AWS_ENDPOINT_URL_ECS` | `<url>` |
    /// | `AWS_REGION` | the fake's region |
    /// | `ECS_AGENT_URI` | `<url>/api/<id>` |
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    ///
    /// let mock = MockAws::start()?;
    /// let env = mock.env();
    /// let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    /// assert_eq!(get("AWS_REGION").as_deref(), Some("eu-west-1"));
    /// assert_eq!(get("AWS_CONTAINER_CREDENTIALS_FULL_URI"), Some(format!("{}/creds", mock.url())));
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn env(&self) -> Vec<(String, String)> {
        let url = self.url();
        let s = &self.shared.settings;
        [
            (
                "ECS_CONTAINER_METADATA_URI_V4",
                format!("{url}/v4/{}", s.endpoint_id),
            ),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{url}/creds")),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                s.authorization_token.clone(),
            ),
            ("AWS_ENDPOINT_URL_ECS", url.clone()),
            ("AWS_REGION", s.region.clone()),
            ("ECS_AGENT_URI", format!("{url}/api/{}", s.endpoint_id)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A protector on this fake: [`Protector::from_env_with`] over [`env`](Self::env), so
    /// the signed ECS API backend, with the default settings.
    ///
    /// To choose the agent backend or other settings, build the [`Env`] yourself from
    /// [`env`](Self::env) plus `ECS_PROTECT_*` variables.
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    ///
    /// let mock = MockAws::start()?;
    /// let protector = mock.protector()?;
    /// let guard = protector.acquire()?;
    /// assert!(guard.is_protected() && mock.protected_now());
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Protector::from_env_with`].
    pub fn protector(&self) -> Result<Protector, Error> {
        Protector::from_env_with(&Env::from_vars(self.env()))
    }

    /// The region signatures must be scoped to.
    pub fn region(&self) -> &str {
        &self.shared.settings.region
    }

    /// The fake task's ARN.
    pub fn task_arn(&self) -> String {
        self.shared.settings.task_arn()
    }

    /// The fake cluster's ARN.
    pub fn cluster_arn(&self) -> String {
        self.shared.settings.cluster_arn()
    }

    /// The token the credentials endpoint expects.
    pub fn authorization_token(&self) -> &str {
        &self.shared.settings.authorization_token
    }

    /// The credentials the credentials endpoint would answer now (issuing or rotating them
    /// as a fetch would), without recording a call.
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    ///
    /// let mock = MockAws::start()?;
    /// let first = mock.credentials();
    /// assert_eq!(mock.credentials(), first);
    /// mock.rotate_credentials();
    /// assert_ne!(mock.credentials().access_key_id, first.access_key_id);
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn credentials(&self) -> MockCredentials {
        let mut state = self.shared.lock();
        endpoints::current_key(&self.shared, &mut state).into()
    }

    /// Every call answered so far, oldest first.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.shared.lock().calls.clone()
    }

    /// How many calls were made to `operation` (whatever their outcome).
    ///
    /// ```
    /// use ecs_protect::mock::{MockAws, Operation};
    ///
    /// let mock = MockAws::start()?;
    /// assert_eq!(mock.api_calls(Operation::UpdateTaskProtection), 0);
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn api_calls(&self, operation: Operation) -> usize {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// Waits until `condition` holds over the calls answered so far, or `timeout` passes;
    /// returns whether it held.
    ///
    /// ```
    /// use ecs_protect::mock::{MockAws, Operation};
    /// use std::time::Duration;
    ///
    /// let mock = MockAws::start()?;
    /// let seen = mock.wait_until(Duration::from_millis(10), |calls| {
    ///     calls.iter().any(|c| c.operation == Operation::TaskMetadata)
    /// });
    /// assert!(!seen);
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&[AwsCall]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        wait::until(
            &self.shared.changed,
            self.shared.lock(),
            deadline,
            |state| condition(&state.calls),
        )
    }

    /// Whether the task was protected at `instant`, as ECS saw it: from the moment an
    /// enabling call was applied until a disabling call was applied or the expiry passed.
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    /// use std::time::Instant;
    ///
    /// let mock = MockAws::start()?;
    /// assert!(!mock.protected_at(Instant::now()));
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn protected_at(&self, instant: Instant) -> bool {
        self.shared.lock().timeline.protection_at(instant).is_some()
    }

    /// Whether the task is protected now.
    pub fn protected_now(&self) -> bool {
        self.protected_at(Instant::now())
    }

    /// Waits until the task's protection, as ECS sees it, is `protected` (switched by a call
    /// or lapsed at its expiry), or `timeout` passes; returns whether it became so.
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    /// use std::time::Duration;
    ///
    /// let ecs = MockAws::start()?;
    /// assert!(ecs.wait_protected(false, Duration::ZERO));
    /// assert!(!ecs.wait_protected(true, Duration::from_millis(10)));
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn wait_protected(&self, protected: bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let now = Instant::now();
            let expiry = state.timeline.protection_at(now).map(|(until, _)| until);
            if expiry.is_some() == protected {
                return true;
            }
            let mut left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return false;
            }
            // A lapse is not a call, which is what wakes this wait: wake at the expiry too.
            if let Some(until) = expiry {
                left = left.min(until.saturating_duration_since(now));
            }
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The protected spans so far, renewals merged, oldest first.
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    ///
    /// let mock = MockAws::start()?;
    /// assert!(mock.timeline().is_empty());
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn timeline(&self) -> Vec<ProtectedSpan> {
        self.shared.lock().timeline.spans(Instant::now())
    }

    /// Answers the next `n` ECS calls (signed API or agent) with 400
    /// `ThrottlingException` "Rate exceeded" (after authentication). Default: none.
    pub fn throttle_next(&self, n: u32) {
        self.shared.lock().faults.throttle = n;
    }

    /// Answers the next `n` ECS calls with 500 `ServerException` (after any queued
    /// throttling). Default: none.
    pub fn fail_next(&self, n: u32) {
        self.shared.lock().faults.fail = n;
    }

    /// Answers the next `n` protection updates with a per-task failure `reason` (HTTP 200,
    /// the task not changed). `DEPLOYMENT_BLOCKED` refuses only enabling calls: a disable
    /// goes through and does not use one up. Default: none.
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    /// use ecs_protect::RefusalReason;
    ///
    /// let mock = MockAws::start()?;
    /// mock.refuse_next(2, RefusalReason::DeploymentBlocked);
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn refuse_next(&self, n: u32, reason: RefusalReason) {
        let mut state = self.shared.lock();
        state.faults.refuse = (0..n).map(|_| reason.clone()).collect();
    }

    /// Refuses every protection update with `reason` until called with `None` (default:
    /// `None`). Queued [`refuse_next`](Self::refuse_next) refusals come first.
    pub fn refuse_all(&self, reason: Option<RefusalReason>) {
        self.shared.lock().faults.refuse_all = reason;
    }

    /// Answers the next `n` credential fetches with HTTP 500. Default: none.
    pub fn fail_credentials_next(&self, n: u32) {
        self.shared.lock().faults.fail_credentials = n;
    }

    /// Delays every ECS call (signed API or agent) by `latency` before it is applied and
    /// answered (default: zero); a signed call rejected for its signature is answered at
    /// once. Up to four calls are served at once.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().faults.latency = latency;
    }

    /// Moves the fake's clock `secs` ahead of real time (negative: behind). Requests whose
    /// `X-Amz-Date` is more than 5 minutes from it are rejected, "Signature expired", and
    /// every answer's `Date` header shows it, so a client can correct its own clock.
    /// Default: 0.
    ///
    /// ```
    /// use ecs_protect::mock::MockAws;
    /// use std::time::{Duration, SystemTime};
    ///
    /// let mock = MockAws::start()?;
    /// mock.set_clock_skew_secs(900);
    /// assert!(mock.clock() > SystemTime::now() + Duration::from_secs(890));
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn set_clock_skew_secs(&self, secs: i64) {
        self.shared.lock().skew_secs = secs;
    }

    /// The fake's clock: real time plus the skew.
    pub fn clock(&self) -> SystemTime {
        let state = self.shared.lock();
        self.shared.now(&state)
    }

    /// Makes the next credential fetch issue a new key (the old ones stay valid until their
    /// expiry).
    pub fn rotate_credentials(&self) {
        self.shared.lock().rotate_now = true;
    }

    /// Expires every key issued so far (requests signed with them get
    /// `ExpiredTokenException`) and makes the next fetch issue a new one.
    pub fn expire_credentials(&self) {
        let mut state = self.shared.lock();
        let now = self.shared.now(&state);
        for key in &mut state.keys {
            if key.expiration.is_some() {
                key.expiration = Some(now);
            }
        }
        state.rotate_now = true;
    }
}

impl Drop for MockAws {
    fn drop(&mut self) {
        // Joins the workers; the listener closes with the server.
        drop(self.running.take());
    }
}
