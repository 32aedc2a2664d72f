//! The crate's one error type.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error from a lower layer, kept as [`Error::source`](StdError::source).
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong in `ecs-protect`.
///
/// Each variant's message says what failed and where the input came from: which
/// environment variable, which endpoint, which field. Secrets never appear in it.
///
/// ```
/// use ecs_protect::{Config, Env, Error};
///
/// let err = Config::from_env_with(&Env::from_vars([("ECS_PROTECT_LINGER", "5")])).unwrap_err();
/// assert!(matches!(&err, Error::Config { origin, .. } if origin == "ECS_PROTECT_LINGER"));
/// assert_eq!(
///     err.to_string(),
///     "invalid ECS_PROTECT_LINGER: expected a duration such as 250ms, 5s, 30m or 1h30m in 0s..=15m, got \"5\"",
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or invalid. `origin` names it: an environment variable such as
    /// `ECS_PROTECT_EXPIRES_MINUTES`, or a builder method such as `Config::linger`.
    Config {
        /// Where the setting came from.
        origin: String,
        /// What is wrong with it, and what would be accepted.
        message: String,
    },
    /// AWS credentials could not be loaded. `origin` names the provider's input, e.g.
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` or `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    Credentials {
        /// Where the credentials were looked for.
        origin: String,
        /// What went wrong.
        message: String,
        /// The lower-level cause, if any (an I/O or HTTP error).
        source: Option<BoxError>,
    },
    /// An endpoint could not be reached, or the connection failed or timed out mid-way.
    Transport {
        /// The URL that was called.
        endpoint: String,
        /// Whether a connect or read timeout expired.
        timed_out: bool,
        /// The lower-level cause.
        source: BoxError,
    },
    /// An endpoint answered with something that cannot be decoded: malformed JSON, a
    /// missing or mistyped field.
    Decode {
        /// The URL that answered.
        endpoint: String,
        /// What was wrong, naming the field.
        message: String,
    },
    /// AWS (or the ECS agent) answered with an error code.
    Api(Box<ApiError>),
    /// ECS answered, but refused protection for this task (a `failures` entry).
    TaskRefused {
        /// Why ECS refused.
        reason: RefusalReason,
        /// ECS's detail text, if any.
        detail: Option<String>,
        /// The task ARN the failure names, if any.
        arn: Option<String>,
    },
    /// Protection was not requested because shutdown has begun: ECS has already decided
    /// to stop this task, so the work should go back to its queue.
    ShuttingDown,
}

impl Error {
    /// A configuration error naming where the bad value came from: an environment variable
    /// or a builder method.
    ///
    /// ```
    /// use ecs_protect::Error;
    ///
    /// let err = Error::config("QUEUE_URL", "expected an https:// URL, got \"orders\"");
    /// assert_eq!(err.to_string(), "invalid QUEUE_URL: expected an https:// URL, got \"orders\"");
    /// ```
    pub fn config(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            origin: origin.into(),
            message: message.into(),
        }
    }

    /// Whether asking again soon is pointless: the task is not valid for protection, the
    /// role may not call the API, the credentials are rejected, or the setup is wrong.
    ///
    /// The protector remembers such an answer for a back-off period instead of asking ECS
    /// on every acquire.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Config { .. } => true,
            Error::TaskRefused { reason, .. } => *reason == RefusalReason::TaskNotValid,
            Error::Api(api) => api.is_permanent(),
            _ => false,
        }
    }

    /// Whether ECS answered `DEPLOYMENT_BLOCKED`: the service already has more protected
    /// tasks than its desired count, so this task was not protected.
    pub fn is_deployment_blocked(&self) -> bool {
        matches!(
            self,
            Error::TaskRefused {
                reason: RefusalReason::DeploymentBlocked,
                ..
            }
        )
    }

    /// The API error, when AWS or the agent answered with an error code.
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { origin, message } => write!(f, "invalid {origin}: {message}"),
            Error::Credentials {
                origin, message, ..
            } => {
                write!(f, "could not load AWS credentials from {origin}: {message}")
            }
            Error::Transport {
                endpoint,
                timed_out: true,
                ..
            } => {
                write!(f, "request to {endpoint} timed out")
            }
            Error::Transport { endpoint, .. } => write!(f, "request to {endpoint} failed"),
            Error::Decode { endpoint, message } => {
                write!(f, "unexpected response from {endpoint}: {message}")
            }
            Error::Api(api) => fmt::Display::fmt(api, f),
            Error::TaskRefused {
                reason,
                detail,
                arn,
            } => {
                write!(f, "ECS refused task protection: {reason}")?;
                if let Some(arn) = arn {
                    write!(f, " for {arn}")?;
                }
                if let Some(detail) = detail {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            Error::ShuttingDown => f.write_str("shutdown requested: no new protection is taken"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Credentials {
                source: Some(source),
                ..
            }
            | Error::Transport { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<ApiError> for Error {
    fn from(api: ApiError) -> Self {
        Error::Api(Box::new(api))
    }
}

/// Why ECS refused to protect a task (the `reason` of a `failures` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalReason {
    /// `TASK_NOT_VALID`: the task is not part of a service, or was not found. Permanent.
    TaskNotValid,
    /// `DEPLOYMENT_BLOCKED`: the service already has more protected tasks than its desired
    /// count. Transient: clears when protections expire or the desired count rises.
    DeploymentBlocked,
    /// Any other reason, as ECS spelled it (e.g. `MISSING`).
    Other(String),
}

impl RefusalReason {
    /// Parses ECS's spelling of a failure reason.
    pub fn parse(reason: &str) -> Self {
        match reason {
            "TASK_NOT_VALID" => RefusalReason::TaskNotValid,
            "DEPLOYMENT_BLOCKED" => RefusalReason::DeploymentBlocked,
            other => RefusalReason::Other(other.to_owned()),
        }
    }

    /// ECS's spelling of the reason.
    pub fn as_str(&self) -> &str {
        match self {
            RefusalReason::TaskNotValid => "TASK_NOT_VALID",
            RefusalReason::DeploymentBlocked => "DEPLOYMENT_BLOCKED",
            RefusalReason::Other(other) => other,
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer from AWS or the ECS agent: code, message, HTTP status and request id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The operation or path that was called, e.g. `UpdateTaskProtection`.
    pub operation: String,
    /// The URL that answered.
    pub endpoint: String,
    /// The HTTP status code.
    pub status: u16,
    /// The error code, shortened as the SDKs do (`ThrottlingException`).
    pub code: String,
    /// The error message, if the body had one.
    pub message: Option<String>,
    /// The request id (`x-amzn-RequestId`, or the agent's `requestID`), if any.
    pub request_id: Option<String>,
}

impl ApiError {
    /// Whether retrying soon cannot help: access denied, unrecognized or invalid
    /// credentials, validation errors. Clock-skew answers are handled by the retry layer.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.code.as_str(),
            "AccessDeniedException"
                | "AccessDenied"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "ClientException"
                | "InvalidParameterException"
                | "ClusterNotFoundException"
                | "ResourceNotFoundException"
                | "UnsupportedFeatureException"
                | "ValidationException"
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {} failed: {} (HTTP {}",
            self.operation, self.endpoint, self.code, self.status
        )?;
        if let Some(id) = &self.request_id {
            write!(f, ", request id {id}")?;
        }
        f.write_str(")")?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl StdError for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 80,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }

    #[test]
    fn messages_name_what_and_where() {
        let api = Error::from(ApiError {
            operation: "UpdateTaskProtection".into(),
            endpoint: "https://ecs.eu-west-1.amazonaws.com/".into(),
            status: 400,
            code: "AccessDeniedException".into(),
            message: Some("not authorized".into()),
            request_id: Some("req-1".into()),
        });
        assert_eq!(
            api.to_string(),
            "UpdateTaskProtection at https://ecs.eu-west-1.amazonaws.com/ failed: \
             AccessDeniedException (HTTP 400, request id req-1): not authorized"
        );
        assert!(api.is_permanent());
        let refused = Error::TaskRefused {
            reason: RefusalReason::parse("DEPLOYMENT_BLOCKED"),
            detail: None,
            arn: Some("arn:aws:ecs:eu-west-1:1:task/c/t".into()),
        };
        assert!(refused.is_deployment_blocked() && !refused.is_permanent());
        assert_eq!(
            refused.to_string(),
            "ECS refused task protection: DEPLOYMENT_BLOCKED for arn:aws:ecs:eu-west-1:1:task/c/t"
        );
    }
}
