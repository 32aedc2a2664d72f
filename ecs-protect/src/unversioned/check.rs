//! What `ecs-protect check` reports: what this environment would do (backend, task,
//! region, endpoint, proxy, credential source, shared directory, settings), proven by one
//! read-only call, and one line per problem naming what to fix.
//!
//! **Outside semver**: this module exists for the `ecs-protect` command (feature `cli`),
//! which is a separate crate that sees only the library's public items. Its shape may
//! change in any release; do not use it from other code.

mod queue;
mod report;
mod settings;

pub use report::{
    CredentialFacts, ProtectionFacts, QueueFacts, Report, Setting, Sourced, mask_key_id,
};

use crate::agent::AgentBackend;
use crate::aws::EcsClient;
use crate::aws::credentials;
use crate::aws::endpoint::{self, EndpointConfig};
use crate::aws::http::{HttpClient, Timeouts};
use crate::aws::metadata::{METADATA_URI, MetadataClient};
use crate::aws::proxy::ProxySettings;
use crate::aws::retry::RetryPolicy;
use crate::aws::time;
use crate::{Config, Disabled, Env, Error};

pub(crate) const BACKEND: &str = "ECS_PROTECT_BACKEND";
pub(crate) const SHARED_DIR: &str = "ECS_PROTECT_SHARED_DIR";
const QUEUE_URL: &str = "QUEUE_URL";

/// Checks the environment `env` describes; `queue` is `--queue` (else `QUEUE_URL` is read).
/// Makes at most one call to the task metadata endpoint, one to the credential source, one
/// read-only protection call and one `GetQueueAttributes`; changes nothing.
pub fn run(env: &Env, queue: Option<&str>) -> Report {
    let mut report = Report::default();
    let config = settings::settings(env, &mut report);
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
            match queue::queue_attributes(&url, source, fallback, creds, http, retry) {
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
pub(crate) fn call_problem(error: &Error, permission: &str, endpoint: &str) -> String {
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
