//! The blocking ECS client: UpdateTaskProtection and GetTaskProtection over JSON 1.1.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::credentials::{self, CachingProvider, Credentials, StaticProvider};
use super::endpoint::{self, Endpoint, EndpointConfig};
use super::http::{HttpClient, Timeouts};
use super::metadata::{METADATA_URI, MetadataClient};
use super::retry::RetryPolicy;
use super::signed::{AwsRequest, SignedClient};
use super::time;
use crate::backend::{Backend, Protection, ProtectionState};
use crate::{Env, Error, RefusalReason};

/// The JSON 1.1 target prefix of the ECS API.
const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Default connect timeout of the ECS API client.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default read timeout of the ECS API client.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The protection state of the task, as ECS reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskProtection {
    /// The task's ARN.
    pub task_arn: String,
    /// Whether the task is protected from scale-in.
    pub enabled: bool,
    /// When ECS clears the protection by itself; `None` when off.
    pub expires_at: Option<SystemTime>,
}

impl From<TaskProtection> for ProtectionState {
    fn from(task: TaskProtection) -> Self {
        ProtectionState {
            enabled: task.enabled,
            expires_at: task.expires_at,
        }
    }
}

/// Which task and cluster the calls name, and where requests go.
#[derive(Clone, Debug)]
struct Target {
    task_arn: String,
    cluster: String,
    region: String,
    endpoint: Endpoint,
}

/// Where the task comes from: given, or the metadata endpoint (fetched on first use).
#[derive(Debug)]
enum TaskSource {
    Given { task_arn: String, cluster: String },
    Metadata(MetadataClient),
}

/// A blocking client of the ECS API's task-protection calls for one task.
///
/// It signs with SigV4 (service `ecs`), retries per the SDKs' standard mode, and corrects
/// for a skewed clock. The task and cluster come from the task metadata endpoint
/// (`ECS_CONTAINER_METADATA_URI_V4`, read on the first call) unless given.
///
/// It is a [`Backend`] (named `ecs-api`): [`Protector`](crate::Protector) uses it by default
/// on ECS.
///
/// ```no_run
/// use ecs_protect::unversioned::EcsClient;
///
/// let client = EcsClient::from_env()?;
/// let state = client.update_task_protection(true, Some(60))?;
/// println!("protected until {:?}", state.expires_at);
/// client.update_task_protection(false, None)?;
/// # Ok::<(), ecs_protect::Error>(())
/// ```
pub struct EcsClient {
    signed: SignedClient,
    endpoint: EndpointConfig,
    region: Option<String>,
    task: TaskSource,
    target: Mutex<Option<Arc<Target>>>,
}

impl fmt::Debug for EcsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcsClient")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

/// Builds an [`EcsClient`]. Every setting not given is read from the environment.
///
/// ```
/// use ecs_protect::Env;
/// use ecs_protect::unversioned::{Credentials, EcsClient};
/// use std::time::Duration;
///
/// let client = EcsClient::builder()
///     .env(&Env::from_vars([("AWS_MAX_ATTEMPTS", "5")]))
///     .region("eu-west-1")
///     .task(
///         "arn:aws:ecs:eu-west-1:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c",
///         "default",
///     )
///     .credentials(Credentials::new("AKIDEXAMPLE", "secret", None))
///     .read_timeout(Duration::from_secs(5))
///     .build()?;
/// # let _ = client;
/// # Ok::<(), ecs_protect::Error>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct EcsClientBuilder {
    env: Env,
    region: Option<String>,
    task: Option<(String, String)>,
    credentials: Option<Credentials>,
    endpoint_url: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
    max_attempts: Option<u32>,
    retry_base_delay: Duration,
}

impl EcsClientBuilder {
    /// Where unset settings are read from. Default: [`Env::process()`].
    pub fn env(mut self, env: &Env) -> Self {
        self.env = env.clone();
        self
    }

    /// The region to call. Default: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the
    /// region in the task ARN.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The task to protect (ARN or id) and its cluster (name or ARN). Default: read from the
    /// task metadata endpoint (`ECS_CONTAINER_METADATA_URI_V4`) on the first call.
    pub fn task(mut self, task_arn: impl Into<String>, cluster: impl Into<String>) -> Self {
        self.task = Some((task_arn.into(), cluster.into()));
        self
    }

    /// Fixed credentials. Default: the SDKs' chain: the environment (`AWS_ACCESS_KEY_ID`,
    /// ...), else the shared config and credentials files (`AWS_PROFILE`: static keys or
    /// `credential_process`), else the ECS container endpoint (the task role), else EC2
    /// instance metadata (the instance role); refreshed before expiry.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The endpoint URL. Default: `AWS_ENDPOINT_URL_ECS`, else `AWS_ENDPOINT_URL`, else
    /// `https://ecs.<region>.amazonaws.com` (or the partition's, FIPS or dual-stack one).
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// How long to wait for a connection (DNS, TCP and TLS). Default: 3 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for the response headers, and again for its body. Default: 10 s.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Attempts per call, the first included (1 disables retries). Default:
    /// `AWS_MAX_ATTEMPTS`, else 3.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The backoff base: retry `i` waits a random time below `min(base * 2^(i-1), 20 s)`.
    /// Default: 1 s (the SDKs' standard mode).
    pub fn retry_base_delay(mut self, base: Duration) -> Self {
        self.retry_base_delay = base;
        self
    }

    /// Builds the client, checking every setting now; nothing is fetched yet.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting or variable that is invalid (region, endpoint
    /// URL and flags, `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, credentials variables or
    /// profile, a credential with a character that cannot be sent, the proxy variables,
    /// `AWS_CA_BUNDLE`, the metadata URI), or
    /// when neither a task nor `ECS_CONTAINER_METADATA_URI_V4` is given;
    /// [`Error::Credentials`] when no credentials are configured.
    pub fn build(self) -> Result<EcsClient, Error> {
        let env = &self.env;
        let mut retry = RetryPolicy::from_env(env)?;
        if let Some(attempts) = self.max_attempts {
            if !(1..=100).contains(&attempts) {
                return Err(Error::config(
                    "EcsClientBuilder::max_attempts",
                    format!("expected 1..=100, got {attempts}"),
                ));
            }
            retry.max_attempts = attempts;
        }
        retry.base_delay = self.retry_base_delay;
        let region = match self.region {
            Some(region) => Some(endpoint::check_region(&region, "EcsClientBuilder::region")?),
            None => endpoint::region_from_env(env)?,
        };
        let endpoint = match &self.endpoint_url {
            Some(url) => EndpointConfig::fixed(url, "EcsClientBuilder::endpoint_url")?,
            None => EndpointConfig::from_env(env)?,
        };
        let task = match self.task {
            Some((task_arn, cluster)) => TaskSource::Given { task_arn, cluster },
            None => match MetadataClient::from_env(env, retry.clone())? {
                Some(metadata) => TaskSource::Metadata(metadata),
                None => {
                    return Err(Error::config(
                        METADATA_URI,
                        "is not set: outside ECS, give the task and cluster with \
                         EcsClientBuilder::task",
                    ));
                }
            },
        };
        let credentials = match self.credentials {
            Some(creds) => {
                creds.check("EcsClientBuilder::credentials")?;
                CachingProvider::new(Arc::new(StaticProvider(creds)))
            }
            None => credentials::default_chain(env)?,
        };
        let timeouts = Timeouts {
            connect: self.connect_timeout,
            read: self.read_timeout,
        };
        let client = EcsClient {
            signed: SignedClient::new(
                HttpClient::for_aws(timeouts, env)?,
                Arc::new(credentials),
                "ecs",
                retry,
            ),
            endpoint,
            region,
            task,
            target: Mutex::new(None),
        };
        // Everything known now is resolved now, so a bad combination fails here.
        match (&client.task, &client.region) {
            (TaskSource::Given { .. }, _) => {
                client.target()?;
            }
            (_, Some(region)) => {
                client.endpoint.resolve(region)?;
            }
            _ => {}
        }
        Ok(client)
    }
}

impl EcsClient {
    /// A builder; unset settings are read from the environment.
    pub fn builder() -> EcsClientBuilder {
        EcsClientBuilder {
            env: Env::process(),
            region: None,
            task: None,
            credentials: None,
            endpoint_url: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_attempts: None,
            retry_base_delay: super::retry::DEFAULT_BASE_DELAY,
        }
    }

    /// A client configured by the process environment, as the AWS SDKs read it.
    ///
    /// # Errors
    ///
    /// As [`EcsClientBuilder::build`].
    pub fn from_env() -> Result<Self, Error> {
        EcsClient::builder().build()
    }

    /// A client configured by `env`.
    ///
    /// # Errors
    ///
    /// As [`EcsClientBuilder::build`].
    pub fn from_env_with(env: &Env) -> Result<Self, Error> {
        EcsClient::builder().env(env).build()
    }

    /// The task, cluster, region and endpoint: resolved once (fetching the task metadata if
    /// needed) and kept.
    fn target(&self) -> Result<Arc<Target>, Error> {
        let mut slot = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(target) = &*slot {
            return Ok(target.clone());
        }
        let (task_arn, cluster) = match &self.task {
            TaskSource::Given { task_arn, cluster } => (task_arn.clone(), cluster.clone()),
            TaskSource::Metadata(metadata) => {
                let task = metadata.task()?;
                (task.task_arn, task.cluster)
            }
        };
        let region = match &self.region {
            Some(region) => region.clone(),
            None => endpoint::region_from_arn(&task_arn).map_err(|_| {
                Error::config(
                    "AWS_REGION",
                    format!(
                        "is not set, and the task {task_arn:?} is not an ARN naming a region; \
                         set AWS_REGION"
                    ),
                )
            })?,
        };
        let endpoint = self.endpoint.resolve(&region)?;
        log::debug!(
            target: "ecs_protect::aws",
            "ECS client: task {task_arn} in cluster {cluster}, region {region}, endpoint {} (from {})",
            endpoint.url,
            endpoint.origin
        );
        let target = Arc::new(Target {
            task_arn,
            cluster,
            region,
            endpoint,
        });
        *slot = Some(target.clone());
        Ok(target)
    }

    fn call(&self, operation: &str, target: &Target, body: &Value) -> Result<Value, Error> {
        let body = body.to_string();
        let amz_target = format!("{TARGET_PREFIX}.{operation}");
        let response = self.signed.send(&AwsRequest {
            operation,
            region: &target.region,
            url: &target.endpoint.url,
            headers: &[
                ("content-type", CONTENT_TYPE),
                ("x-amz-target", &amz_target),
            ],
            body: body.as_bytes(),
        })?;
        serde_json::from_slice(&response.body).map_err(|e| Error::Decode {
            endpoint: target.endpoint.url.to_string(),
            message: format!("{operation}: malformed JSON: {e}"),
        })
    }

    /// Turns protection on for `expires_in_minutes` (1..=2880; `None`: ECS's default, 120)
    /// or off. Turning it on again resets the expiry.
    ///
    /// # Errors
    ///
    /// [`Error::TaskRefused`] when ECS refuses this task (`TASK_NOT_VALID`,
    /// `DEPLOYMENT_BLOCKED`); [`Error::Api`] for an error answer after retries;
    /// [`Error::Transport`], [`Error::Decode`], [`Error::Credentials`]; [`Error::Config`]
    /// for `expires_in_minutes` out of range.
    pub fn update_task_protection(
        &self,
        enabled: bool,
        expires_in_minutes: Option<u32>,
    ) -> Result<TaskProtection, Error> {
        if let Some(minutes) = expires_in_minutes
            && !(1..=2880).contains(&minutes)
        {
            return Err(Error::config(
                "expires_in_minutes",
                format!("expected 1..=2880 minutes, got {minutes}"),
            ));
        }
        let target = self.target()?;
        let mut body = json!({
            "cluster": target.cluster,
            "tasks": [target.task_arn],
            "protectionEnabled": enabled,
        });
        if let (true, Some(minutes)) = (enabled, expires_in_minutes) {
            body["expiresInMinutes"] = json!(minutes);
        }
        let answer = self.call("UpdateTaskProtection", &target, &body)?;
        decode_protection(&answer, &target)
    }

    /// Reads the task's protection state.
    ///
    /// # Errors
    ///
    /// As [`update_task_protection`](Self::update_task_protection).
    pub fn get_task_protection(&self) -> Result<TaskProtection, Error> {
        let target = self.target()?;
        let body = json!({ "cluster": target.cluster, "tasks": [target.task_arn] });
        let answer = self.call("GetTaskProtection", &target, &body)?;
        decode_protection(&answer, &target)
    }
}

impl Backend for EcsClient {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let (enabled, expires_in_minutes) = change.as_update();
        Ok(self
            .update_task_protection(enabled, expires_in_minutes)?
            .into())
    }

    fn name(&self) -> &str {
        "ecs-api"
    }
}

/// Decodes `{"protectedTasks": [...], "failures": [...]}` for our task; a failure becomes
/// [`Error::TaskRefused`], a bad shape [`Error::Decode`] naming the field.
fn decode_protection(answer: &Value, target: &Target) -> Result<TaskProtection, Error> {
    let decode_error = |message: String| Error::Decode {
        endpoint: target.endpoint.url.to_string(),
        message,
    };
    let list = |name: &str| -> Result<&[Value], Error> {
        match answer.get(name) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(decode_error(format!("field {name} is not an array"))),
        }
    };
    if !answer.is_object() {
        return Err(decode_error("expected a JSON object".to_owned()));
    }
    let failures = list("failures")?;
    if let Some(failure) = failures.first() {
        let text = |key: &str| failure.get(key).and_then(Value::as_str).map(str::to_owned);
        let reason = text("reason").ok_or_else(|| {
            decode_error("field failures[0].reason is missing or not a string".to_owned())
        })?;
        return Err(Error::TaskRefused {
            reason: RefusalReason::parse(&reason),
            detail: text("detail"),
            arn: text("arn"),
        });
    }
    let tasks = list("protectedTasks")?;
    let index = tasks
        .iter()
        .position(|t| t.get("taskArn").and_then(Value::as_str) == Some(&target.task_arn))
        .unwrap_or(0);
    let task = tasks
        .get(index)
        .ok_or_else(|| decode_error("protectedTasks and failures are both empty".to_owned()))?;
    let field = |name: &str| format!("protectedTasks[{index}].{name}");
    let task_arn = match task.get("taskArn") {
        Some(Value::String(arn)) => arn.clone(),
        None | Some(Value::Null) => target.task_arn.clone(),
        Some(_) => {
            return Err(decode_error(format!(
                "field {} is not a string",
                field("taskArn")
            )));
        }
    };
    let enabled = task
        .get("protectionEnabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            decode_error(format!(
                "field {} is missing or not a boolean",
                field("protectionEnabled")
            ))
        })?;
    let expires_at = match task.get("expirationDate") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_f64()
                .and_then(time::from_epoch_seconds)
                .ok_or_else(|| {
                    decode_error(format!(
                        "field {}: expected epoch seconds, got {value}",
                        field("expirationDate")
                    ))
                })?,
        ),
    };
    Ok(TaskProtection {
        task_arn,
        enabled,
        expires_at,
    })
}

/// [`decode_protection`] of a raw answer for task `task_arn` from `endpoint`, JSON
/// decoding included as in `call`: what the property tests feed with random bodies.
#[cfg(test)]
pub(crate) fn decode_answer(
    body: &[u8],
    task_arn: &str,
    endpoint: &str,
) -> Result<TaskProtection, Error> {
    let url = super::url::Url::parse(endpoint).map_err(|m| Error::config("endpoint", m))?;
    let target = Target {
        task_arn: task_arn.to_owned(),
        cluster: String::new(),
        region: String::new(),
        endpoint: Endpoint {
            url,
            origin: "test",
        },
    };
    let answer: Value = serde_json::from_slice(body).map_err(|e| Error::Decode {
        endpoint: target.endpoint.url.to_string(),
        message: format!("malformed JSON: {e}"),
    })?;
    decode_protection(&answer, &target)
}

#[cfg(test)]
mod tests;
