//! The ECS agent's local task-protection endpoint (`$ECS_AGENT_URI/task-protection/v1/state`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::aws::TaskProtection;
use crate::aws::api_error;
use crate::aws::http::{HttpClient, HttpResponse, Timeouts};
use crate::aws::retry::{Failure, RetryPolicy};
use crate::aws::time;
use crate::aws::url::Url;
use crate::backend::{Backend, Protection, ProtectionState};
use crate::{Env, Error, RefusalReason};

const AGENT_URI: &str = "ECS_AGENT_URI";
const STATE_PATH: &str = "/task-protection/v1/state";

/// The agent answers within its own 5 s server timeouts (its ECS call gives up after 4 s):
/// the read timeout must be above that.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(10),
};

/// Task protection through the ECS agent's endpoint: no signing and no credentials here,
/// the agent calls ECS with the task role (which still needs `ecs:UpdateTaskProtection`).
///
/// Needs `ECS_AGENT_URI`, set by the ECS agent 1.65.0 or later. Select it for a
/// [`Protector`](crate::Protector) with `ECS_PROTECT_BACKEND=agent`. Calls are retried on
/// throttling, 5xx and the agent's `504 RequestCanceled`, per `AWS_MAX_ATTEMPTS`.
///
/// ```no_run
/// use ecs_protect::Protector;
/// use ecs_protect::unversioned::AgentBackend;
///
/// let protector = Protector::with_backend(AgentBackend::from_env()?);
/// # drop(protector);
/// # Ok::<(), ecs_protect::Error>(())
/// ```
#[derive(Debug)]
pub struct AgentBackend {
    url: Url,
    http: HttpClient,
    retry: RetryPolicy,
}

impl AgentBackend {
    /// The backend for `ECS_AGENT_URI` in the process environment.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `ECS_AGENT_URI` (unset or not a URL) or `AWS_MAX_ATTEMPTS`.
    pub fn from_env() -> Result<Self, Error> {
        AgentBackend::from_env_with(&Env::process())
    }

    /// The backend for `ECS_AGENT_URI` in `env`.
    ///
    /// ```
    /// use ecs_protect::Env;
    /// use ecs_protect::unversioned::AgentBackend;
    ///
    /// let env = Env::from_vars([("ECS_AGENT_URI", "http://169.254.170.2/api/0c6e-4f2a")]);
    /// let agent = AgentBackend::from_env_with(&env)?;
    /// assert_eq!(agent.endpoint(), "http://169.254.170.2/api/0c6e-4f2a/task-protection/v1/state");
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_with(env: &Env) -> Result<Self, Error> {
        let uri = env.get(AGENT_URI).ok_or_else(|| {
            Error::config(
                AGENT_URI,
                "is not set: the agent backend needs the ECS agent 1.65.0 or later, which sets it \
                 in every container",
            )
        })?;
        AgentBackend::build(&uri, AGENT_URI, RetryPolicy::from_env(env)?)
    }

    /// The backend for the agent at `agent_uri` (the value of `ECS_AGENT_URI`), with the
    /// standard retry policy (3 attempts).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `agent_uri` is not an http(s) URL.
    pub fn new(agent_uri: &str) -> Result<Self, Error> {
        AgentBackend::build(agent_uri, "AgentBackend::new", RetryPolicy::default())
    }

    fn build(uri: &str, origin: &str, retry: RetryPolicy) -> Result<Self, Error> {
        let base = Url::parse(uri).map_err(|message| Error::config(origin, message))?;
        Ok(AgentBackend {
            url: base.join_path(STATE_PATH),
            http: HttpClient::local(TIMEOUTS),
            retry,
        })
    }

    /// The same backend with these call timeouts (`None`: keep the default).
    pub(crate) fn with_timeouts(
        mut self,
        connect: Option<Duration>,
        read: Option<Duration>,
    ) -> Self {
        self.http = HttpClient::local(Timeouts {
            connect: connect.unwrap_or(TIMEOUTS.connect),
            read: read.unwrap_or(TIMEOUTS.read),
        });
        self
    }

    #[cfg(test)]
    fn with_retry_base(mut self, base: Duration) -> Self {
        self.retry.base_delay = base;
        self
    }

    /// The state URL called.
    pub fn endpoint(&self) -> String {
        self.url.to_string()
    }

    /// Turns protection on for `expires_in_minutes` (`None`: ECS's default, 120) or off.
    ///
    /// # Errors
    ///
    /// [`Error::TaskRefused`] for the agent's `failure` answer; [`Error::Api`] for its
    /// `error` answer (ECS's code, or the agent's own); [`Error::Transport`];
    /// [`Error::Decode`] for an answer of unknown shape.
    pub fn update_task_protection(
        &self,
        enabled: bool,
        expires_in_minutes: Option<u32>,
    ) -> Result<TaskProtection, Error> {
        let mut body = json!({ "ProtectionEnabled": enabled });
        if let (true, Some(minutes)) = (enabled, expires_in_minutes) {
            body["ExpiresInMinutes"] = json!(minutes);
        }
        let response = self.call("PUT", Some(body.to_string().as_bytes()))?;
        self.decode(&response)
    }

    /// Reads the protection state.
    ///
    /// # Errors
    ///
    /// As [`update_task_protection`](Self::update_task_protection).
    pub fn get_task_protection(&self) -> Result<TaskProtection, Error> {
        let response = self.call("GET", None)?;
        self.decode(&response)
    }

    fn call(&self, method: &str, body: Option<&[u8]>) -> Result<HttpResponse, Error> {
        let operation = format!("{method} task-protection state");
        let endpoint = self.url.to_string();
        let headers: &[(&str, &str)] = match body {
            Some(_) => &[
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ],
            None => &[("accept", "application/json")],
        };
        self.retry.run(&operation, |_| {
            let response = self
                .http
                .send(method, &self.url, headers, body)
                .map_err(Failure::from_error)?;
            if response.is_success() {
                Ok(response)
            } else {
                let api = api_error::decode(&operation, &endpoint, &response);
                Err(Failure::from_error(Error::from(api)))
            }
        })
    }

    pub(crate) fn decode(&self, response: &HttpResponse) -> Result<TaskProtection, Error> {
        let bad = |message: String| Error::Decode {
            endpoint: self.url.to_string(),
            message,
        };
        let value: Value = serde_json::from_slice(&response.body)
            .map_err(|e| bad(format!("malformed JSON: {e}")))?;
        if let Some(failure) = value.get("failure").filter(|f| f.is_object()) {
            let text = |key: &str| failure.get(key).and_then(Value::as_str).map(str::to_owned);
            let reason = text("Reason")
                .ok_or_else(|| bad("field failure.Reason is missing or not a string".to_owned()))?;
            return Err(Error::TaskRefused {
                reason: RefusalReason::parse(&reason),
                detail: text("Detail"),
                arn: text("Arn"),
            });
        }
        let Some(protection) = value.get("protection").filter(|p| p.is_object()) else {
            let body = String::from_utf8_lossy(&response.body);
            let shown: String = body.chars().take(200).collect();
            return Err(bad(format!(
                "expected a protection or failure object, got {shown}"
            )));
        };
        let enabled = protection
            .get("ProtectionEnabled")
            .and_then(Value::as_bool)
            .ok_or_else(|| {
                bad("field protection.ProtectionEnabled is missing or not a boolean".to_owned())
            })?;
        let task_arn = protection
            .get("TaskArn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let expires_at = match protection.get("ExpirationDate") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(time::parse_rfc3339(text).ok_or_else(|| {
                bad(format!(
                    "field protection.ExpirationDate: expected an RFC 3339 time, got {text:?}"
                ))
            })?),
            Some(other) => {
                return Err(bad(format!(
                    "field protection.ExpirationDate: expected an RFC 3339 time, got {other}"
                )));
            }
        };
        Ok(TaskProtection {
            task_arn,
            enabled,
            expires_at,
        })
    }
}

impl Backend for AgentBackend {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let (enabled, expires_in_minutes) = change.as_update();
        Ok(self
            .update_task_protection(enabled, expires_in_minutes)?
            .into())
    }

    fn name(&self) -> &str {
        "ecs-agent"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::http::test_server::{Reply, TestServer, closed_port_url};

    const ARN: &str = "arn:aws:ecs:eu-west-1:111122223333:task/default/158d";

    fn agent(server: &TestServer) -> AgentBackend {
        let env = Env::from_vars([("ECS_AGENT_URI", format!("{}/api/abc", server.url))]);
        AgentBackend::from_env_with(&env)
            .unwrap()
            .with_retry_base(Duration::from_millis(1))
    }

    fn protection(enabled: bool, expiration: &str) -> String {
        format!(
            r#"{{"protection":{{"ExpirationDate":{expiration},"ProtectionEnabled":{enabled},"TaskArn":"{ARN}"}}}}"#
        )
    }

    #[test]
    fn put_enable_and_disable() {
        let mut server = TestServer::start(vec![
            Reply::json(200, &protection(true, r#""2026-11-24T21:57:44.837Z""#)),
            Reply::json(200, &protection(false, "null")),
        ]);
        let agent = agent(&server);
        let on = agent
            .set_protection(Protection::On {
                expires_in_minutes: 60,
            })
            .unwrap();
        assert!(on.enabled);
        assert_eq!(
            on.expires_at,
            time::parse_rfc3339("2026-11-24T21:57:44.837Z")
        );
        let off = agent.set_protection(Protection::Off).unwrap();
        assert_eq!(
            off,
            ProtectionState {
                enabled: false,
                expires_at: None
            }
        );
        assert_eq!(agent.name(), "ecs-agent");
        let seen = server.requests();
        assert_eq!(seen[0].method, "PUT");
        assert_eq!(seen[0].path, "/api/abc/task-protection/v1/state");
        assert_eq!(
            serde_json::from_str::<Value>(&seen[0].body).unwrap(),
            json!({"ProtectionEnabled": true, "ExpiresInMinutes": 60})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&seen[1].body).unwrap(),
            json!({"ProtectionEnabled": false})
        );
        assert!(seen[0].header("authorization").is_none(), "unsigned");
    }

    #[test]
    fn get_reads_the_state() {
        let mut server = TestServer::start(vec![Reply::json(
            200,
            &protection(true, r#""2026-11-24T21:57:44Z""#),
        )]);
        let state = agent(&server).get_task_protection().unwrap();
        assert_eq!(state.task_arn, ARN);
        assert!(state.enabled);
        assert_eq!(server.requests()[0].method, "GET");
    }

    #[test]
    fn throttling_and_request_canceled_are_retried() {
        let mut server = TestServer::start(vec![
            Reply::json(
                400,
                r#"{"requestID":"r1","error":{"Arn":"arn:x","Code":"ThrottlingException","Message":"Rate exceeded"}}"#,
            ),
            Reply::json(
                504,
                r#"{"error":{"Code":"RequestCanceled","Message":"Timed out calling ECS"}}"#,
            ),
            Reply::json(200, &protection(true, r#""2026-11-24T21:57:44Z""#)),
        ]);
        assert!(
            agent(&server)
                .update_task_protection(true, Some(5))
                .unwrap()
                .enabled
        );
        assert_eq!(server.requests().len(), 3);
    }

    #[test]
    fn refusals_and_errors_are_typed() {
        let server = TestServer::start(vec![
            Reply::json(
                200,
                &format!(
                    r#"{{"failure":{{"Arn":"{ARN}","Reason":"TASK_NOT_VALID","Detail":null}}}}"#
                ),
            ),
            Reply::json(
                403,
                r#"{"error":{"Code":"AccessDeniedException","Message":"no task role credentials"}}"#,
            ),
            Reply::json(
                400,
                r#"{"requestID":"req-7","error":{"Code":"ClientException","Message":"not a service task"}}"#,
            ),
            Reply::json(200, r#"{"unexpected":1}"#),
            Reply::json(
                200,
                r#"{"protection":{"ProtectionEnabled":true,"ExpirationDate":"later"}}"#,
            ),
        ]);
        let agent = agent(&server);
        let call = || agent.update_task_protection(true, Some(60)).unwrap_err();
        let refused = call();
        assert!(refused.is_permanent());
        assert_eq!(
            refused.to_string(),
            format!("ECS refused task protection: TASK_NOT_VALID for {ARN}")
        );
        let denied = call();
        assert!(denied.is_permanent());
        assert_eq!(denied.as_api().unwrap().status, 403);
        let client = call();
        let api = client.as_api().unwrap();
        assert_eq!(api.code, "ClientException");
        assert_eq!(api.request_id.as_deref(), Some("req-7"));
        let endpoint = agent.endpoint();
        assert_eq!(
            call().to_string(),
            format!(
                "unexpected response from {endpoint}: expected a protection or failure object, got {{\"unexpected\":1}}"
            )
        );
        assert_eq!(
            call().to_string(),
            format!(
                "unexpected response from {endpoint}: field protection.ExpirationDate: expected \
                 an RFC 3339 time, got \"later\""
            )
        );
    }

    #[test]
    fn configuration_and_unreachable_agent() {
        let err = AgentBackend::from_env_with(&Env::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid ECS_AGENT_URI: is not set"),
            "{err}"
        );
        let err = AgentBackend::new("169.254.170.2/api").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid AgentBackend::new: expected an http"),
            "{err}"
        );
        let url = closed_port_url();
        let agent = AgentBackend::new(&url)
            .unwrap()
            .with_retry_base(Duration::from_millis(1));
        let err = agent.update_task_protection(false, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("request to {url}/task-protection/v1/state failed")
        );
    }
}
