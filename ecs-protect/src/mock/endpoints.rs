//! The local endpoints of the fake: task metadata v4 and container credentials.

use std::time::{Instant, SystemTime};

use serde_json::json;

use super::clock;
use super::server::{Handled, Reply, Shared};
use super::state::{IssuedKey, Operation, Outcome, State};
use super::verify::Received;

/// `GET /v4/<id>/task`.
pub(crate) fn task_metadata(shared: &Shared) -> Handled {
    let s = &shared.settings;
    let mut body = json!({
        "Cluster": s.cluster_arn(),
        "TaskARN": s.task_arn(),
        "Family": s.family,
        "Revision": "1",
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "AvailabilityZone": format!("{}a", s.region),
        "LaunchType": "FARGATE",
        "Containers": [],
    });
    if let (Some(service), Some(object)) = (&s.service_name, body.as_object_mut()) {
        object.insert("ServiceName".into(), json!(service));
    }
    Handled {
        reply: Reply::json(200, &body),
        operation: Operation::TaskMetadata,
        outcome: Outcome::Accepted,
        change: None,
        access_key_id: None,
    }
}

/// `GET /creds`: checks the authorization token, rotates keys, answers the newest.
pub(crate) fn credentials(shared: &Shared, request: &Received<'_>) -> Handled {
    let error = |status: u16, code: &str, message: &str| Handled {
        reply: Reply::json(status, &json!({"code": code, "message": message})),
        operation: Operation::Credentials,
        outcome: Outcome::Error {
            status,
            code: code.to_owned(),
        },
        change: None,
        access_key_id: None,
    };
    let mut state = shared.lock();
    if state.faults.fail_credentials > 0 {
        state.faults.fail_credentials -= 1;
        return error(
            500,
            "InternalServerError",
            "injected failure: the credentials endpoint is unavailable",
        );
    }
    match request.header("authorization") {
        None => {
            return error(
                401,
                "NoAuthorizationToken",
                "missing Authorization header: set it to AWS_CONTAINER_AUTHORIZATION_TOKEN",
            );
        }
        Some(token) if token != shared.settings.authorization_token => {
            return error(
                403,
                "InvalidAuthorizationToken",
                "invalid authorization token",
            );
        }
        Some(_) => {}
    }
    let key = current_key(shared, &mut state);
    let body = json!({
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.secret_access_key,
        "Token": key.session_token,
        "Expiration": key.expiration.map(clock::rfc3339_secs),
        "RoleArn": format!("arn:aws:iam::{}:role/mock-ecs-task-role", shared.settings.account),
    });
    Handled {
        reply: Reply::json(200, &body),
        operation: Operation::Credentials,
        outcome: Outcome::Accepted,
        change: None,
        access_key_id: Some(key.access_key_id),
    }
}

/// The newest issued temporary key, issuing a new one first when none exists, the
/// rotation period has passed or a rotation was asked for. Older keys stay valid until
/// their own expiry, as STS's do.
pub(crate) fn current_key(shared: &Shared, state: &mut State) -> IssuedKey {
    let due = match state.last_issue {
        None => true,
        Some(at) => state.rotate_now || at.elapsed() >= shared.settings.rotation,
    };
    let newest = state
        .keys
        .iter()
        .rev()
        .find(|k| k.session_token.is_some())
        .cloned();
    match newest {
        Some(key) if !due => key,
        _ => issue(shared, state),
    }
}

fn issue(shared: &Shared, state: &mut State) -> IssuedKey {
    state.issued += 1;
    let n = state.issued;
    // Unpredictable enough for a fake: derived from the start time, the port-specific
    // endpoint id and the counter.
    let seed = format!(
        "{:?}/{}/{n}",
        SystemTime::now(),
        shared.settings.endpoint_id
    );
    let digest = digest_hex(seed.as_bytes());
    let key = IssuedKey {
        access_key_id: format!("ASIAMOCK{:012}", n),
        secret_access_key: format!("mock/{}", &digest[..32]),
        session_token: Some(format!("mock-session-token-{n}-{}", &digest[32..])),
        expiration: Some(SystemTime::now() + shared.settings.lifetime),
    };
    state.keys.push(key.clone());
    state.last_issue = Some(Instant::now());
    state.rotate_now = false;
    key
}

/// An error for an unknown path or method.
pub(crate) fn not_found(status: u16, message: &str) -> Handled {
    Handled {
        reply: Reply::json(status, &json!({"message": message})),
        operation: Operation::Other,
        outcome: Outcome::Error {
            status,
            code: if status == 404 {
                "NotFound".into()
            } else {
                "MethodNotAllowed".into()
            },
        },
        change: None,
        access_key_id: None,
    }
}

/// Lower-case hex SHA-256 of `data`: made-up but unpredictable ids, keys and tokens.
pub(crate) fn digest_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
