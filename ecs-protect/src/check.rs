//! What `ecs-protect check` reports: what this environment would do (backend, task,
//! region, endpoint, proxy, credential source, shared directory, settings), proven by one
//! read-only call, and one line per problem naming what to fix.
//!
//! **Outside semver**: this module exists for the `ecs-protect` command (feature `cli`),
//! which is a separate crate that sees only the library's public items. Its shape may
//! change in any release; do not use it from other code.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::aws::credentials::{self, CachingProvider, StaticProvider};
use crate::aws::endpoint::{self, EndpointConfig};
use crate::aws::http::{HttpClient, Timeouts};
use crate::aws::metadata::{METADATA_URI, MetadataClient};
use crate::aws::proxy::ProxySettings;
use crate::aws::retry::RetryPolicy;
use crate::aws::signed::{AwsRequest, SignedClient};
use crate::aws::time;
use crate::aws::url::Url;
use crate::config::Readable;
use crate::{AgentBackend, Config, Credentials, Disabled, EcsClient, Env, Error};

/// A value and where it came from (`AWS_REGION`, `the task ARN`, `default`, `set`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sourced {
    /// The value, as shown to the user.
    pub value: String,
    /// Where it came from.
    pub source: String,
}

/// The credentials the chain picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialFacts {
    /// The provider and its input: `the container endpoint http://...`, `profile dev in
    /// /home/me/.aws/config (credential_process)`.
    pub provider: String,
    /// The access key id with all but its last 4 characters hidden.
    pub access_key_id: String,
    /// When they expire (RFC 3339), if they do.
    pub expires_at: Option<String>,
}

/// One `ECS_PROTECT_*` setting: its effective value and whether it was `set` or `default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The variable.
    pub name: &'static str,
    /// The effective value.
    pub value: String,
    /// `set` or `default`.
    pub source: &'static str,
}

/// The task's protection as the read-only call returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionFacts {
    /// The call that proved it: `ecs:GetTaskProtection` or `GET <agent endpoint>`.
    pub call: String,
    /// Whether the task is protected.
    pub enabled: bool,
    /// When protection ends (RFC 3339), if on.
    pub expires_at: Option<String>,
}

/// The queue's attributes from `GetQueueAttributes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueFacts {
    /// The queue URL and where it came from (`QUEUE_URL` or `--queue`).
    pub url: Sourced,
    /// `VisibilityTimeout`, in seconds, when the call succeeded.
    pub visibility_timeout_secs: Option<u64>,
    /// `RedrivePolicy` (a JSON text), when the queue has one.
    pub redrive_policy: Option<String>,
}

/// Everything `ecs-protect check` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `api`, `agent` or `off`, and why.
    pub backend: Option<Sourced>,
    /// The task ARN, from the task metadata endpoint.
    pub task_arn: Option<String>,
    /// The cluster, from the task metadata endpoint.
    pub cluster: Option<String>,
    /// The signing region and its source.
    pub region: Option<Sourced>,
    /// The ECS endpoint and its source.
    pub ecs_endpoint: Option<Sourced>,
    /// The proxy ECS calls go through (`host:port`) and its variable; `None`: direct.
    pub proxy: Option<Sourced>,
    /// The credentials the chain picked (not looked for with the agent backend and no queue).
    pub credentials: Option<CredentialFacts>,
    /// `ECS_PROTECT_SHARED_DIR`'s state.
    pub shared_dir: Sourced,
    /// Every `ECS_PROTECT_*` setting.
    pub settings: Vec<Setting>,
    /// The task's current protection, when the read-only call succeeded.
    pub protection: Option<ProtectionFacts>,
    /// The queue, with `QUEUE_URL` or `--queue`.
    pub queue: Option<QueueFacts>,
    /// Things worth knowing that do not fail the check.
    pub warnings: Vec<String>,
    /// One line per problem, each naming the variable or permission to fix.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether everything holds.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as JSON (what `--json` prints).
    pub fn to_json(&self) -> Value {
        let sourced = |s: &Option<Sourced>| match s {
            Some(s) => json!({ "value": s.value, "source": s.source }),
            None => Value::Null,
        };
        json!({
            "ok": self.ok(),
            "backend": sourced(&self.backend),
            "task_arn": self.task_arn,
            "cluster": self.cluster,
            "region": sourced(&self.region),
            "ecs_endpoint": sourced(&self.ecs_endpoint),
            "proxy": sourced(&self.proxy),
            "credentials": self.credentials.as_ref().map(|c| json!({
                "provider": c.provider,
                "access_key_id": c.access_key_id,
                "expires_at": c.expires_at,
            })),
            "shared_dir": { "value": self.shared_dir.value, "source": self.shared_dir.source },
            "settings": self.settings.iter().map(|s| json!({
                "name": s.name, "value": s.value, "source": s.source,
            })).collect::<Vec<_>>(),
            "protection": self.protection.as_ref().map(|p| json!({
                "call": p.call, "enabled": p.enabled, "expires_at": p.expires_at,
            })),
            "queue": self.queue.as_ref().map(|q| json!({
                "url": q.url.value,
                "source": q.url.source,
                "visibility_timeout_secs": q.visibility_timeout_secs,
                "redrive_policy": q.redrive_policy,
            })),
            "warnings": self.warnings,
            "problems": self.problems,
        })
    }
}

/// `access_key_id` with all but its last 4 characters replaced by `*`.
pub fn mask_key_id(access_key_id: &str) -> String {
    let chars: Vec<char> = access_key_id.chars().collect();
    let shown = chars.len().saturating_sub(4);
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < shown { '*' } else { *c })
        .collect()
}

const BACKEND: &str = "ECS_PROTECT_BACKEND";
const SHARED_DIR: &str = "ECS_PROTECT_SHARED_DIR";
const QUEUE_URL: &str = "QUEUE_URL";

/// The `ECS_PROTECT_*` variables [`Config::from_env_with`] reads.
const CONFIG_VARS: &[&str] = &[
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

/// Checks the environment `env` describes; `queue` is `--queue` (else `QUEUE_URL` is read).
/// Makes at most one call to the task metadata endpoint, one to the credential source, one
/// read-only protection call and one `GetQueueAttributes`; changes nothing.
pub fn run(env: &Env, queue: Option<&str>) -> Report {
    let mut report = Report::default();
    let config = settings(env, &mut report);
    let backend = backend(env, &mut report);
    let retry = match RetryPolicy::from_env(env) {
        Ok(retry) => retry,
        Err(err) => {
            report.problems.push(err.to_string());
            RetryPolicy::default()
        }
    };

    // The task, from the metadata endpoint.
    let task = match MetadataClient::from_env(env, retry.clone()) {
        Ok(Some(metadata)) => match metadata.task() {
            Ok(task) => {
                if task.service_name.is_none() {
                    report.warnings.push(format!(
                        "{METADATA_URI}: the task metadata names no service (ServiceName): \
                         ECS refuses protection for tasks outside a service (TASK_NOT_VALID)"
                    ));
                }
                report.task_arn = Some(task.task_arn.clone());
                report.cluster = Some(task.cluster.clone());
                Some(task)
            }
            Err(err) => {
                report.problems.push(format!(
                    "{METADATA_URI}: cannot read the task metadata: {err}"
                ));
                None
            }
        },
        Ok(None) => {
            if backend == Backend::Api {
                report.problems.push(format!(
                    "{METADATA_URI} is not set: the api backend needs the task metadata \
                     endpoint (run inside an ECS task), or set {BACKEND}=off"
                ));
            }
            None
        }
        Err(err) => {
            report.problems.push(err.to_string());
            None
        }
    };

    // Region and ECS endpoint.
    let region = match endpoint::region_from_env(env) {
        Ok(Some(region)) => {
            let source = if env.get("AWS_REGION").is_some() {
                "AWS_REGION"
            } else {
                "AWS_DEFAULT_REGION"
            };
            Some(Sourced {
                value: region,
                source: source.to_owned(),
            })
        }
        Ok(None) => task.as_ref().and_then(|task| {
            endpoint::region_from_arn(&task.task_arn)
                .ok()
                .map(|region| Sourced {
                    value: region,
                    source: "the task ARN".to_owned(),
                })
        }),
        Err(err) => {
            report.problems.push(err.to_string());
            None
        }
    };
    if region.is_none() && backend == Backend::Api && task.is_some() {
        report.problems.push(
            "AWS_REGION is not set and the task ARN names no region: set AWS_REGION".to_owned(),
        );
    }
    report.region = region.clone();
    let ecs_endpoint = match (EndpointConfig::from_env(env), &region) {
        (Ok(config), Some(region)) => match config.resolve(&region.value) {
            Ok(endpoint) => Some(endpoint),
            Err(err) => {
                report.problems.push(err.to_string());
                None
            }
        },
        (Ok(_), None) => None,
        (Err(err), _) => {
            report.problems.push(err.to_string());
            None
        }
    };
    if let Some(endpoint) = &ecs_endpoint {
        report.ecs_endpoint = Some(Sourced {
            value: endpoint.url.to_string(),
            source: endpoint.origin.to_owned(),
        });
    }
    match ProxySettings::from_env(env) {
        Ok(proxies) => {
            if let Some((proxy, variable)) = ecs_endpoint
                .as_ref()
                .and_then(|endpoint| proxies.for_url(&endpoint.url))
            {
                report.proxy = Some(Sourced {
                    value: format!("{}:{}", proxy.host(), proxy.port()),
                    source: (*variable).to_owned(),
                });
            }
        }
        Err(err) => report.problems.push(err.to_string()),
    }
    let timeouts = Timeouts {
        connect: config
            .connect_timeout()
            .unwrap_or(crate::aws::ecs::DEFAULT_CONNECT_TIMEOUT),
        read: config
            .read_timeout()
            .unwrap_or(crate::aws::ecs::DEFAULT_READ_TIMEOUT),
    };
    // AWS_CA_BUNDLE and the proxies, as the clients read them.
    let http = HttpClient::for_aws(timeouts, env)
        .map_err(|err| report.problems.push(err.to_string()))
        .ok();

    // Credentials: for the api backend and for the queue.
    let queue_url = queue.map(|url| (url.to_owned(), "--queue")).or_else(|| {
        env.get(QUEUE_URL)
            .map(|url| (url.trim().to_owned(), QUEUE_URL))
    });
    let credentials = if backend == Backend::Api || queue_url.is_some() {
        match credentials::chain_source(env) {
            Ok((provider, source)) => match provider.fetch() {
                Ok(creds) => {
                    report.credentials = Some(CredentialFacts {
                        provider: source,
                        access_key_id: mask_key_id(creds.access_key_id()),
                        expires_at: creds.expires_at().map(time::format_rfc3339),
                    });
                    Some(creds)
                }
                Err(err) => {
                    report
                        .problems
                        .push(format!("credentials from {source}: {err}"));
                    None
                }
            },
            Err(err) => {
                report.problems.push(err.to_string());
                None
            }
        }
    } else {
        None
    };

    shared_dir(env, &config, &mut report);

    // The read-only call.
    match backend {
        Backend::Api => {
            if let (Some(task), Some(creds), Some(_), Some(endpoint)) =
                (&task, &credentials, &region, &ecs_endpoint)
            {
                let client = EcsClient::builder()
                    .env(env)
                    .task(task.task_arn.clone(), task.cluster.clone())
                    .credentials(creds.clone())
                    .connect_timeout(timeouts.connect)
                    .read_timeout(timeouts.read)
                    .build();
                let call = "ecs:GetTaskProtection".to_owned();
                match client.and_then(|c| c.get_task_protection()) {
                    Ok(state) => {
                        report.protection = Some(ProtectionFacts {
                            call,
                            enabled: state.enabled,
                            expires_at: state.expires_at.map(time::format_rfc3339),
                        });
                    }
                    Err(err) => report.problems.push(call_problem(
                        &err,
                        "ecs:GetTaskProtection",
                        &format!("{} (from {})", endpoint.url, endpoint.origin),
                    )),
                }
            }
        }
        Backend::Agent => match AgentBackend::from_env_with(env) {
            Ok(agent) => {
                let agent = agent.with_timeouts(config.connect_timeout(), config.read_timeout());
                let call = format!("GET {}", agent.endpoint());
                match agent.get_task_protection() {
                    Ok(state) => {
                        if report.task_arn.is_none() && !state.task_arn.is_empty() {
                            report.task_arn = Some(state.task_arn.clone());
                        }
                        report.protection = Some(ProtectionFacts {
                            call,
                            enabled: state.enabled,
                            expires_at: state.expires_at.map(time::format_rfc3339),
                        });
                    }
                    Err(err) => report.problems.push(call_problem(
                        &err,
                        "ecs:GetTaskProtection (on the task role: the agent calls ECS with it)",
                        &format!("{} (from ECS_AGENT_URI)", agent.endpoint()),
                    )),
                }
            }
            Err(err) => report.problems.push(err.to_string()),
        },
        Backend::Off => report.warnings.push(format!(
            "the backend is off: no protection call was made (set {BACKEND}, or run in an ECS \
             task where {METADATA_URI} is set)"
        )),
        Backend::Invalid => {}
    }

    // The queue.
    if let Some((url, source)) = queue_url {
        let facts = QueueFacts {
            url: Sourced {
                value: url.clone(),
                source: source.to_owned(),
            },
            visibility_timeout_secs: None,
            redrive_policy: None,
        };
        report.queue = Some(facts);
        if let (Some(creds), Some(http)) = (credentials, http) {
            let fallback = region.as_ref().map(|r| r.value.as_str());
            match queue_attributes(&url, source, fallback, creds, http, retry) {
                Ok((timeout, redrive)) => {
                    if let Some(queue) = &mut report.queue {
                        queue.visibility_timeout_secs = timeout;
                        queue.redrive_policy = redrive;
                    }
                }
                Err(problem) => report.problems.push(problem),
            }
        }
    }
    // A bad setting the calls met again is one problem.
    let mut seen = std::collections::BTreeSet::new();
    report.problems.retain(|p| seen.insert(p.clone()));
    report
}

/// The backend the environment selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Api,
    Agent,
    Off,
    Invalid,
}

fn backend(env: &Env, report: &mut Report) -> Backend {
    let (backend, value, source) = match env.get(BACKEND).map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "api" => (Backend::Api, "api", BACKEND.to_owned()),
        Some(v) if v == "agent" => (Backend::Agent, "agent", BACKEND.to_owned()),
        Some(v) if v == "off" => (Backend::Off, "off", BACKEND.to_owned()),
        Some(_) => {
            report.problems.push(format!(
                "invalid {BACKEND}: expected api, agent or off, got {:?}",
                env.get(BACKEND).unwrap_or_default()
            ));
            (Backend::Invalid, "invalid", BACKEND.to_owned())
        }
        None if env.get(METADATA_URI).is_some() => (
            Backend::Api,
            "api",
            format!("default: {METADATA_URI} is set"),
        ),
        None => (
            Backend::Off,
            "off",
            format!("default: {METADATA_URI} is not set, local mode (nothing is called)"),
        ),
    };
    report.backend = Some(Sourced {
        value: value.to_owned(),
        source,
    });
    backend
}

/// Checks each `ECS_PROTECT_*` setting on its own (so every bad one is reported), records
/// their effective values, and returns the configuration of the valid ones.
fn settings(env: &Env, report: &mut Report) -> Config {
    let mut valid: Vec<(&str, String)> = Vec::new();
    for &name in CONFIG_VARS {
        let Some(value) = env.get(name) else { continue };
        // The hard cap's range depends on the hold and its grace.
        let mut alone: Vec<(&str, String)> = vec![(name, value.clone())];
        if name == "ECS_PROTECT_HARD_CAP" {
            alone.extend(
                valid
                    .iter()
                    .filter(|(n, _)| *n == "ECS_PROTECT_MAX_HOLD" || *n == "ECS_PROTECT_HOLD_GRACE")
                    .cloned(),
            );
        }
        match Config::from_env_with(&Env::from_vars(alone)) {
            Ok(_) => valid.push((name, value)),
            Err(err) => report.problems.push(err.to_string()),
        }
    }
    let set = |name: &str| valid.iter().any(|(n, _)| *n == name);
    let config = Config::from_env_with(&Env::from_vars(valid.clone())).unwrap_or_default();
    let duration = |d: Duration| Readable(d).to_string();
    let values: [(&'static str, String); 14] = [
        (
            "ECS_PROTECT_EXPIRES_MINUTES",
            config.expires_in_minutes().to_string(),
        ),
        ("ECS_PROTECT_LINGER", duration(config.linger())),
        ("ECS_PROTECT_MAX_HOLD", duration(config.max_hold())),
        ("ECS_PROTECT_WINDOW", duration(config.window())),
        ("ECS_PROTECT_HOLD_GRACE", duration(config.hold_grace())),
        ("ECS_PROTECT_HARD_CAP", duration(config.hard_cap())),
        ("ECS_PROTECT_POLICY", config.policy().to_string()),
        ("ECS_PROTECT_RETRY_AFTER", duration(config.retry_after())),
        (
            "ECS_PROTECT_BLOCKED_RETRY_AFTER",
            duration(config.blocked_retry_after()),
        ),
        (
            "ECS_PROTECT_REFUSED_RETRY_AFTER",
            duration(config.refused_retry_after()),
        ),
        (
            "ECS_PROTECT_CONNECT_TIMEOUT",
            config
                .connect_timeout()
                .map_or("3s (agent 2s)".to_owned(), duration),
        ),
        (
            "ECS_PROTECT_READ_TIMEOUT",
            config.read_timeout().map_or("10s".to_owned(), duration),
        ),
        ("ECS_PROTECT_EMF", config.emf().to_string()),
        (
            "ECS_PROTECT_EMF_NAMESPACE",
            config.emf_namespace().to_owned(),
        ),
    ];
    report.settings = values
        .into_iter()
        .map(|(name, value)| Setting {
            name,
            value,
            source: if set(name) { "set" } else { "default" },
        })
        .collect();
    let backend = env.get(BACKEND);
    report.settings.insert(
        0,
        Setting {
            name: BACKEND,
            value: backend
                .clone()
                .unwrap_or_else(|| "(chosen from the environment)".into()),
            source: if backend.is_some() { "set" } else { "default" },
        },
    );
    report.settings.push(Setting {
        name: SHARED_DIR,
        value: env.get(SHARED_DIR).unwrap_or_else(|| "(none)".into()),
        source: if env.get(SHARED_DIR).is_some() {
            "set"
        } else {
            "default"
        },
    });
    config
}

/// `ECS_PROTECT_SHARED_DIR`: unset, or checked as a protector would open it (exists,
/// writable, file locks work).
fn shared_dir(env: &Env, config: &Config, report: &mut Report) {
    let Some(path) = env.get(SHARED_DIR) else {
        report.shared_dir = Sourced {
            value: "not set".to_owned(),
            source: "this process coordinates with no other".to_owned(),
        };
        return;
    };
    let state = match crate::shared::from_env(env, config, Box::new(Disabled)) {
        Ok(_) => "usable (exists, writable, file locks work)".to_owned(),
        Err(err) => {
            report.problems.push(err.to_string());
            "unusable".to_owned()
        }
    };
    report.shared_dir = Sourced {
        value: path,
        source: state,
    };
}

/// One line for a failed call: the IAM permission to add for access denied, the endpoint
/// and the variables that route to it for a network failure, else the error.
fn call_problem(error: &Error, permission: &str, endpoint: &str) -> String {
    if let Some(api) = error.as_api() {
        let code = api.code.as_str();
        if code.contains("AccessDenied")
            || code.contains("NotAuthorized")
            || code == "AuthorizationError"
        {
            return format!(
                "{permission}: access denied; allow it in the task role's IAM policy ({error})"
            );
        }
        if matches!(
            code,
            "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "IncompleteSignature"
                | "ExpiredTokenException"
                | "ExpiredToken"
        ) {
            return format!(
                "credentials: AWS refused them ({error}); check the credential source shown above"
            );
        }
    }
    match error {
        Error::Transport { .. } => format!(
            "cannot reach {endpoint}: {error}; check that endpoint variable, HTTPS_PROXY and \
             NO_PROXY, and the network path (security groups, VPC endpoints)"
        ),
        // A setting, already reported by name.
        Error::Config { .. } => error.to_string(),
        Error::TaskRefused { .. } => format!(
            "{permission}: ECS refused this task ({error}); protection works only for tasks \
             of a service"
        ),
        _ => format!("{permission}: {error}"),
    }
}

/// `GetQueueAttributes` for `VisibilityTimeout` and `RedrivePolicy`.
fn queue_attributes(
    url: &str,
    source: &str,
    fallback_region: Option<&str>,
    creds: Credentials,
    http: HttpClient,
    retry: RetryPolicy,
) -> Result<(Option<u64>, Option<String>), String> {
    let parsed = Url::parse(url).map_err(|m| format!("invalid {source}: {m}"))?;
    // sqs.<region>.amazonaws.com names its region; a custom endpoint takes the ECS one.
    let region = parsed
        .host
        .strip_prefix("sqs.")
        .and_then(|rest| rest.split('.').next())
        .filter(|r| endpoint::check_region(r, source).is_ok() && r.contains('-'))
        .map(str::to_owned)
        .or_else(|| fallback_region.map(str::to_owned))
        .ok_or_else(|| {
            format!("AWS_REGION: not set, and {source} names no region: set AWS_REGION")
        })?;
    let mut endpoint = parsed.clone();
    endpoint.path = "/".to_owned();
    endpoint.query = None;
    let provider = CachingProvider::new(Arc::new(StaticProvider(creds)));
    let client = SignedClient::new(http, Arc::new(provider), "sqs", retry);
    let body = json!({
        "QueueUrl": url,
        "AttributeNames": ["VisibilityTimeout", "RedrivePolicy"],
    })
    .to_string();
    let answer = client
        .send(&AwsRequest {
            operation: "GetQueueAttributes",
            region: &region,
            url: &endpoint,
            headers: &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", "AmazonSQS.GetQueueAttributes"),
            ],
            body: body.as_bytes(),
        })
        .map_err(|err| {
            let missing = err.as_api().is_some_and(|api| {
                api.code.contains("NonExistentQueue") || api.code.contains("QueueDoesNotExist")
            });
            if missing {
                format!("{source}: the queue {url} does not exist ({err})")
            } else {
                call_problem(
                    &err,
                    "sqs:GetQueueAttributes",
                    &format!("{} (from {source})", endpoint),
                )
            }
        })?;
    let value: Value = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("sqs:GetQueueAttributes: malformed JSON answer: {e}"))?;
    let attributes = &value["Attributes"];
    let timeout = attributes["VisibilityTimeout"]
        .as_str()
        .and_then(|t| t.parse().ok());
    let redrive = attributes["RedrivePolicy"].as_str().map(str::to_owned);
    Ok((timeout, redrive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_keep_only_their_last_four_characters() {
        assert_eq!(mask_key_id("ASIAEXAMPLE1234"), "***********1234");
        assert_eq!(mask_key_id("AKID"), "AKID");
        assert_eq!(mask_key_id(""), "");
    }

    #[test]
    fn every_bad_setting_is_its_own_problem() {
        let report = run(
            &Env::from_vars([
                ("ECS_PROTECT_LINGER", "5"),
                ("ECS_PROTECT_POLICY", "maybe"),
                ("ECS_PROTECT_EXPIRES_MINUTES", "90"),
                ("ECS_PROTECT_BACKEND", "off"),
            ]),
            None,
        );
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        assert!(report.problems[0].starts_with("invalid ECS_PROTECT_LINGER: "));
        assert!(report.problems[1].starts_with("invalid ECS_PROTECT_POLICY: "));
        let minutes = report
            .settings
            .iter()
            .find(|s| s.name == "ECS_PROTECT_EXPIRES_MINUTES")
            .unwrap();
        assert_eq!((minutes.value.as_str(), minutes.source), ("90", "set"));
        let linger = report
            .settings
            .iter()
            .find(|s| s.name == "ECS_PROTECT_LINGER")
            .unwrap();
        assert_eq!((linger.value.as_str(), linger.source), ("5s", "default"));
    }
}
