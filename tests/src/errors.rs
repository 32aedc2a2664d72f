//! The errors the tests inject into a fake backend or queue, one constructor per kind.

use ecs_protect::{ApiError, Error, RefusalReason};

/// The ECS endpoint the injected ECS errors name.
const ECS: &str = "https://ecs.eu-west-1.amazonaws.com/";

/// The queue the injected queue errors name.
const QUEUE: &str = "memory://queue";

/// An ECS call that timed out: its answer is lost, ECS may have applied it.
pub fn transport_error() -> Error {
    Error::Transport {
        endpoint: ECS.into(),
        timed_out: true,
        source: "operation timed out".into(),
    }
}

/// An ECS error answer to `UpdateTaskProtection`.
fn ecs_error(status: u16, code: &str, message: Option<&str>) -> Error {
    Error::from(ApiError {
        operation: "UpdateTaskProtection".into(),
        endpoint: ECS.into(),
        status,
        code: code.into(),
        message: message.map(Into::into),
        request_id: None,
    })
}

/// ECS throttling the call (retryable).
pub fn throttled() -> Error {
    ecs_error(400, "ThrottlingException", Some("Rate exceeded"))
}

/// An ECS 5xx (its answer is lost, ECS may have applied it).
pub fn server_error() -> Error {
    ecs_error(500, "ServerException", None)
}

/// The task role may not call `UpdateTaskProtection` (a permanent refusal).
pub fn access_denied() -> Error {
    ecs_error(400, "AccessDeniedException", Some("not authorized"))
}

/// ECS refusing protection with `DEPLOYMENT_BLOCKED`.
pub fn blocked() -> Error {
    Error::TaskRefused {
        reason: RefusalReason::DeploymentBlocked,
        detail: None,
        arn: Some("arn:aws:ecs:eu-west-1:1:task/c/t".into()),
    }
}

/// A queue call that timed out.
pub fn queue_transport_error() -> Error {
    Error::Transport {
        endpoint: QUEUE.into(),
        timed_out: true,
        source: Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)),
    }
}

/// SQS answering `operation` with the error `code`.
pub fn queue_error(operation: &str, code: &str) -> Error {
    Error::from(ApiError {
        operation: operation.into(),
        endpoint: QUEUE.into(),
        status: 400,
        code: code.into(),
        message: Some("injected".into()),
        request_id: None,
    })
}
