//! The ECS task metadata endpoint v4: which task this is (`$ECS_CONTAINER_METADATA_URI_V4/task`).

use std::time::Duration;

use serde_json::Value;

use super::api_error;
use super::http::{HttpClient, Timeouts};
use super::retry::{Failure, RetryPolicy};
use super::url::Url;
use crate::{Env, Error};

/// The variable the ECS agent sets in every container of a task.
pub(crate) const METADATA_URI: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// Timeouts for the metadata endpoint (on the task's own host): 2 s to connect, 5 s to read.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(5),
};

/// What the protection calls need to know about the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TaskMetadata {
    /// `TaskARN`.
    pub(crate) task_arn: String,
    /// `Cluster`: an ARN on Fargate, possibly a short name on EC2 (ECS accepts both).
    pub(crate) cluster: String,
    /// `ServiceName`: absent for standalone tasks (and from older agents).
    pub(crate) service_name: Option<String>,
}

/// Reads the task's identity from the metadata endpoint.
#[derive(Debug)]
pub(crate) struct MetadataClient {
    url: Url,
    http: HttpClient,
    retry: RetryPolicy,
}

impl MetadataClient {
    /// The client for `$ECS_CONTAINER_METADATA_URI_V4`; `None` when it is unset.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable when it is not an http(s) URL.
    pub(crate) fn from_env(env: &Env, retry: RetryPolicy) -> Result<Option<Self>, Error> {
        let Some(text) = env.get(METADATA_URI) else {
            return Ok(None);
        };
        let base = Url::parse(&text).map_err(|message| Error::config(METADATA_URI, message))?;
        Ok(Some(MetadataClient {
            url: base.join_path("/task"),
            http: HttpClient::local(TIMEOUTS),
            retry,
        }))
    }

    /// `GET /task`, retried on connection errors, 429 and 5xx.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] or [`Error::Api`] (the status) naming the endpoint;
    /// [`Error::Decode`] naming the missing or mistyped field.
    pub(crate) fn task(&self) -> Result<TaskMetadata, Error> {
        let endpoint = self.url.to_string();
        let response = self.retry.run("task metadata", |_| {
            let response = self
                .http
                .send("GET", &self.url, &[("accept", "application/json")], None)
                .map_err(Failure::from_error)?;
            if response.is_success() {
                Ok(response)
            } else {
                let api = api_error::decode("GET task metadata", &endpoint, &response);
                Err(Failure::from_error(Error::from(api)))
            }
        })?;
        let metadata = decode(&response.body).map_err(|message| Error::Decode {
            endpoint: endpoint.clone(),
            message,
        })?;
        if metadata.service_name.is_none() {
            log::warn!(
                target: "ecs_protect",
                "task metadata from {endpoint} has no ServiceName: unless this ECS agent is too \
                 old to report it, the task {} was not started by an ECS service, and ECS \
                 answers TASK_NOT_VALID to task protection for such tasks",
                metadata.task_arn
            );
        }
        Ok(metadata)
    }
}

/// Decodes `{"TaskARN": "...", "Cluster": "...", "ServiceName": "..."}`; the error names the
/// field.
pub(crate) fn decode(body: &[u8]) -> Result<TaskMetadata, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
    if !value.is_object() {
        return Err("expected a JSON object".to_owned());
    }
    let required = |name: &str| match value.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(format!("field {name} is empty")),
        Some(_) => Err(format!("field {name} is not a string")),
        None => Err(format!("missing field {name}")),
    };
    let service_name = match value.get("ServiceName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("field ServiceName is not a string".to_owned()),
    };
    Ok(TaskMetadata {
        task_arn: required("TaskARN")?,
        cluster: required("Cluster")?,
        service_name,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::aws::http::test_server::{Reply, TestServer, closed_port_url};

    pub(crate) const TASK_ARN: &str =
        "arn:aws:ecs:eu-west-1:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c";

    pub(crate) fn task_json(service: Option<&str>) -> String {
        let service = service
            .map(|s| format!(r#","ServiceName":"{s}""#))
            .unwrap_or_default();
        format!(
            r#"{{"Cluster":"arn:aws:ecs:eu-west-1:111122223333:cluster/default","TaskARN":"{TASK_ARN}","Family":"worker","Revision":"26","DesiredStatus":"RUNNING","KnownStatus":"RUNNING","LaunchType":"FARGATE","Containers":[]{service}}}"#
        )
    }

    fn client(uri: &str) -> MetadataClient {
        let mut retry = RetryPolicy::default();
        retry.base_delay = Duration::from_millis(1);
        MetadataClient::from_env(&Env::from_vars([(METADATA_URI, uri)]), retry)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn reads_task_arn_cluster_and_service() {
        let mut server = TestServer::start(vec![
            Reply::json(429, "{}"),
            Reply::json(200, &task_json(Some("orders"))),
        ]);
        let metadata = client(&format!("{}/v4/abc", server.url)).task().unwrap();
        assert_eq!(metadata.task_arn, TASK_ARN);
        assert_eq!(
            metadata.cluster,
            "arn:aws:ecs:eu-west-1:111122223333:cluster/default"
        );
        assert_eq!(metadata.service_name.as_deref(), Some("orders"));
        let seen = server.requests();
        assert_eq!(seen.len(), 2, "the 429 was retried");
        assert_eq!(seen[1].method, "GET");
        assert_eq!(seen[1].path, "/v4/abc/task");
    }

    #[test]
    fn decode_errors_name_the_field_and_endpoint() {
        for (body, expected) in [
            ("{", "malformed JSON"),
            ("[]", "expected a JSON object"),
            (r#"{"Cluster":"c"}"#, "missing field TaskARN"),
            (
                r#"{"TaskARN":"t","Cluster":5}"#,
                "field Cluster is not a string",
            ),
            (
                r#"{"TaskARN":"t","Cluster":"c","ServiceName":1}"#,
                "field ServiceName is not a string",
            ),
        ] {
            assert!(
                decode(body.as_bytes()).unwrap_err().starts_with(expected),
                "{body}"
            );
        }
        let server = TestServer::start(vec![Reply::json(200, r#"{"Cluster":"c"}"#)]);
        let err = client(&server.url).task().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "unexpected response from {}/task: missing field TaskARN",
                server.url
            )
        );
        assert!(
            decode(task_json(None).as_bytes())
                .unwrap()
                .service_name
                .is_none()
        );
    }

    #[test]
    fn unreachable_and_bad_uri() {
        let err = client(&closed_port_url()).task().unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(err.to_string().ends_with("/task failed"), "{err}");
        let err = MetadataClient::from_env(
            &Env::from_vars([(METADATA_URI, "169.254.170.2/v4")]),
            RetryPolicy::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid ECS_CONTAINER_METADATA_URI_V4: expected an http"),
            "{err}"
        );
        let server = TestServer::start(vec![Reply::json(404, "task not found")]);
        let err = client(&server.url).task().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "GET task metadata at {}/task failed: UnknownError (HTTP 404): task not found",
                server.url
            )
        );
    }
}
