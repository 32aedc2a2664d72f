//! The ECS operations of the fake: the signed JSON 1.1 API (`POST /`) and the ECS agent's
//! task-protection endpoint, sharing one protection state and one set of queued faults.

use std::thread;
use std::time::{Instant, SystemTime};

use serde_json::{Map, Value, json};

use super::clock;
use super::server::{Handled, Reply, Shared};
use super::state::{Event, Fault, Operation, Outcome, State};
use super::verify::Received;
use crate::{Protection, RefusalReason};

const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const JSON_11: &str = "application/x-amz-json-1.1";
/// ECS's default when `expiresInMinutes` is left out.
const DEFAULT_MINUTES: u32 = 120;
const MAX_MINUTES: u64 = 2880;

/// An ECS error: HTTP status, code, message.
struct ApiError {
    status: u16,
    code: String,
    message: String,
}

fn api_error(status: u16, code: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code: code.to_owned(),
        message: message.into(),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    api_error(400, "InvalidParameterException", message)
}

/// The JSON 1.1 error answer: `{"__type", "message"}` and `x-amzn-RequestId`.
fn json11_error(error: &ApiError, request_id: String) -> Reply {
    Reply {
        status: error.status,
        content_type: JSON_11,
        body: json!({"__type": error.code, "message": error.message}).to_string(),
        headers: vec![("x-amzn-RequestId", request_id)],
    }
}

fn json11_ok(body: &Value, request_id: String) -> Reply {
    Reply {
        status: 200,
        content_type: JSON_11,
        body: body.to_string(),
        headers: vec![("x-amzn-RequestId", request_id)],
    }
}

/// `POST /`: the signed ECS API.
pub(crate) fn handle(shared: &Shared, request: &Received<'_>) -> Handled {
    let target = request.header("x-amz-target").unwrap_or("");
    let operation = match target.strip_prefix(TARGET_PREFIX) {
        Some("UpdateTaskProtection") => Operation::UpdateTaskProtection,
        Some("GetTaskProtection") => Operation::GetTaskProtection,
        _ => Operation::Other,
    };
    let mut handled = Handled {
        reply: json11_ok(&Value::Null, String::new()),
        operation,
        outcome: Outcome::Accepted,
        change: None,
        access_key_id: None,
    };
    let result = signed_call(shared, request, operation, target, &mut handled);
    let mut state = shared.lock();
    let request_id = state.next_request_id();
    match result {
        Ok(body) => handled.reply = json11_ok(&body, request_id),
        Err(error) => {
            handled.outcome = Outcome::Error {
                status: error.status,
                code: error.code.clone(),
            };
            handled.reply = json11_error(&error, request_id);
        }
    }
    handled
}

fn signed_call(
    shared: &Shared,
    request: &Received<'_>,
    operation: Operation,
    target: &str,
    handled: &mut Handled,
) -> Result<Value, ApiError> {
    // Authenticate first, as AWS does.
    let (now, latency) = {
        let state = shared.lock();
        (shared.now(&state), state.faults.latency)
    };
    let access_key_id = shared
        .verify_signature(request, "ecs", now)
        .map_err(|r| api_error(400, r.code, r.message))?;
    handled.access_key_id = Some(access_key_id);

    if operation == Operation::Other {
        return Err(api_error(
            400,
            "UnknownOperationException",
            format!("unknown X-Amz-Target '{target}'"),
        ));
    }
    let content_type = request.header("content-type").unwrap_or("");
    if !content_type.eq_ignore_ascii_case(JSON_11) {
        return Err(api_error(
            400,
            "SerializationException",
            format!("expected Content-Type {JSON_11}, got '{content_type}'"),
        ));
    }
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    let body: Value = serde_json::from_slice(request.body)
        .map_err(|e| api_error(400, "SerializationException", format!("invalid JSON: {e}")))?;
    let Some(body) = body.as_object() else {
        return Err(api_error(
            400,
            "SerializationException",
            "the request body must be a JSON object",
        ));
    };

    let mut state = shared.lock();
    match state.faults.take_error() {
        Some(Fault::Throttle) => {
            return Err(api_error(400, "ThrottlingException", "Rate exceeded"));
        }
        Some(Fault::Fail) => {
            return Err(api_error(
                500,
                "ServerException",
                "injected failure: the server encountered an internal error",
            ));
        }
        None => {}
    }
    let cluster = required_str(body, "cluster")?;
    check_cluster(shared, cluster)?;
    if operation == Operation::GetTaskProtection {
        let tasks = task_list(body, false, 100)?;
        return Ok(get_answer(shared, &state, &tasks));
    }
    let tasks = task_list(body, true, 10)?;
    let enabled = match body.get("protectionEnabled") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("protectionEnabled must be a boolean")),
        None => return Err(invalid("protectionEnabled is required")),
    };
    let minutes = expires_in_minutes(body.get("expiresInMinutes"), "expiresInMinutes")?;
    let change = if enabled {
        Protection::On {
            expires_in_minutes: minutes,
        }
    } else {
        Protection::Off
    };
    handled.change = Some(change);
    let (answer, outcome, _) = update_answer(shared, &mut state, &tasks, change);
    handled.outcome = outcome;
    Ok(answer)
}

fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(invalid(format!("{field} must not be empty"))),
        Some(_) => Err(invalid(format!("{field} must be a string"))),
        None => Err(invalid(format!("{field} is required"))),
    }
}

fn check_cluster(shared: &Shared, cluster: &str) -> Result<(), ApiError> {
    let s = &shared.settings;
    if cluster == s.cluster || cluster == s.cluster_arn() {
        Ok(())
    } else {
        Err(api_error(
            400,
            "ClusterNotFoundException",
            "Cluster not found.",
        ))
    }
}

/// The `tasks` list; `None` members are not strings.
fn task_list(
    body: &Map<String, Value>,
    required: bool,
    max: usize,
) -> Result<Vec<String>, ApiError> {
    let tasks = match body.get("tasks") {
        None if required => return Err(invalid("tasks is required")),
        None => return Ok(Vec::new()),
        Some(Value::Array(tasks)) => tasks,
        Some(_) => return Err(invalid("tasks must be a list of strings")),
    };
    if tasks.len() > max {
        return Err(invalid(format!("tasks can have at most {max} members")));
    }
    if required && tasks.is_empty() {
        return Err(invalid("tasks must have at least 1 member"));
    }
    tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("tasks[{i}] must be a string")))
        })
        .collect()
}

/// `expiresInMinutes` (or the agent's `ExpiresInMinutes`): 1..=2880, default 120.
fn expires_in_minutes(value: Option<&Value>, field: &str) -> Result<u32, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(DEFAULT_MINUTES),
        Some(v) => match v.as_u64() {
            Some(m @ 1..=MAX_MINUTES) => Ok(u32::try_from(m).unwrap_or(DEFAULT_MINUTES)),
            _ => Err(invalid(format!(
                "{field} must be an integer between 1 and {MAX_MINUTES}, got {v}"
            ))),
        },
    }
}

fn is_our_task(shared: &Shared, task: &str) -> bool {
    task == shared.settings.task_arn() || task == shared.settings.task_id
}

/// The per-task failure for a task this fake does not run or that is not in a service.
fn task_failure(shared: &Shared, task: &str) -> Option<(RefusalReason, String)> {
    if !is_our_task(shared, task) {
        return Some((
            RefusalReason::TaskNotValid,
            format!(
                "task {task} was not found in cluster {}",
                shared.settings.cluster
            ),
        ));
    }
    if shared.settings.service_name.is_none() {
        return Some((
            RefusalReason::TaskNotValid,
            "The task is not part of a service: task scale-in protection applies only to \
             tasks started by a service"
                .to_owned(),
        ));
    }
    None
}

fn failure_json(arn: &str, reason: &RefusalReason, detail: &str) -> Value {
    json!({"arn": arn, "reason": reason.as_str(), "detail": detail})
}

fn protected_task_json(arn: &str, protection: Option<SystemTime>) -> Value {
    match protection {
        Some(until) => json!({
            "taskArn": arn,
            "protectionEnabled": true,
            "expirationDate": clock::epoch_seconds(until),
        }),
        None => json!({"taskArn": arn, "protectionEnabled": false}),
    }
}

fn current_protection(state: &State) -> Option<SystemTime> {
    state
        .timeline
        .protection_at(Instant::now())
        .map(|(_, until_time)| until_time)
}

fn get_answer(shared: &Shared, state: &State, tasks: &[String]) -> Value {
    let arn = shared.settings.task_arn();
    let tasks: Vec<&str> = if tasks.is_empty() {
        vec![arn.as_str()]
    } else {
        tasks.iter().map(String::as_str).collect()
    };
    let (mut protected, mut failures) = (Vec::new(), Vec::new());
    for task in tasks {
        match task_failure(shared, task) {
            Some((reason, detail)) => failures.push(failure_json(task, &reason, &detail)),
            None => protected.push(protected_task_json(&arn, current_protection(state))),
        }
    }
    json!({"protectedTasks": protected, "failures": failures})
}

/// Applies an update to our task (unless refused) and builds the answer; also returns the
/// expiry it set.
fn update_answer(
    shared: &Shared,
    state: &mut State,
    tasks: &[String],
    change: Protection,
) -> (Value, Outcome, Option<SystemTime>) {
    let arn = shared.settings.task_arn();
    let (mut protected, mut failures) = (Vec::new(), Vec::new());
    let mut outcome = Outcome::Accepted;
    let mut expiry = None;
    for task in tasks {
        let failure = task_failure(shared, task).or_else(|| {
            state
                .faults
                .take_refusal(matches!(change, Protection::On { .. }))
                .map(|reason| {
                    let detail = match reason {
                        RefusalReason::DeploymentBlocked => {
                            "The service has more protected tasks than its desired count: \
                             a deployment or scale-in is held back"
                        }
                        _ => "injected refusal",
                    };
                    (reason, detail.to_owned())
                })
        });
        match failure {
            Some((reason, detail)) => {
                failures.push(failure_json(task, &reason, &detail));
                outcome = Outcome::Refused(reason);
            }
            None => {
                let until = apply(shared, state, change);
                expiry = until;
                protected.push(protected_task_json(&arn, until));
            }
        }
    }
    (
        json!({"protectedTasks": protected, "failures": failures}),
        outcome,
        expiry,
    )
}

/// Records the change in the timeline; the expiry it set, if enabled.
fn apply(shared: &Shared, state: &mut State, change: Protection) -> Option<SystemTime> {
    let at = Instant::now();
    match change {
        Protection::On { expires_in_minutes } => {
            let lasts = shared.settings.minute * expires_in_minutes;
            let until_time = shared.now(state) + lasts;
            state.timeline.push(Event::Enabled {
                at,
                until: at + lasts,
                until_time,
            });
            Some(until_time)
        }
        Protection::Off => {
            state.timeline.push(Event::Disabled { at });
            None
        }
    }
}

// ---- The ECS agent's endpoint (`$ECS_AGENT_URI/task-protection/v1/state`) ----

/// The agent's error answer; `request_id` only when ECS was reached.
fn agent_error(shared: &Shared, error: &ApiError, request_id: Option<String>) -> Reply {
    let mut body = json!({
        "error": {"Arn": shared.settings.task_arn(), "Code": error.code, "Message": error.message}
    });
    if let (Some(id), Some(object)) = (request_id, body.as_object_mut()) {
        object.insert("requestID".into(), json!(id));
    }
    Reply::json(error.status, &body)
}

fn agent_protection(shared: &Shared, until: Option<SystemTime>) -> Value {
    json!({"protection": {
        "ExpirationDate": until.map(clock::rfc3339_millis),
        "ProtectionEnabled": until.is_some(),
        "TaskArn": shared.settings.task_arn(),
    }})
}

/// `PUT .../task-protection/v1/state`.
pub(crate) fn agent_update(shared: &Shared, request: &Received<'_>) -> Handled {
    let mut handled = Handled {
        reply: Reply::json(200, &Value::Null),
        operation: Operation::AgentUpdateTaskProtection,
        outcome: Outcome::Accepted,
        change: None,
        access_key_id: None,
    };
    let fail = |handled: &mut Handled, error: ApiError, request_id: Option<String>| {
        handled.outcome = Outcome::Error {
            status: error.status,
            code: error.code.clone(),
        };
        handled.reply = agent_error(shared, &error, request_id);
    };
    // The agent's own validation: JSON object, known keys only, ProtectionEnabled required.
    let parsed: Result<(bool, Option<Value>), ApiError> = (|| {
        let body: Value = serde_json::from_slice(request.body).map_err(|e| {
            invalid(format!(
                "UpdateTaskProtection: failed to decode request: {e}"
            ))
        })?;
        let Some(body) = body.as_object() else {
            return Err(invalid(
                "UpdateTaskProtection: failed to decode request: not a JSON object",
            ));
        };
        if let Some(unknown) = body
            .keys()
            .find(|k| !matches!(k.as_str(), "ProtectionEnabled" | "ExpiresInMinutes"))
        {
            return Err(invalid(format!(
                "UpdateTaskProtection: failed to decode request: unknown field \"{unknown}\""
            )));
        }
        let enabled = match body.get("ProtectionEnabled") {
            Some(Value::Bool(b)) => *b,
            None | Some(Value::Null) => {
                return Err(invalid(
                    "Invalid request: does not contain 'ProtectionEnabled' field",
                ));
            }
            Some(_) => {
                return Err(invalid(
                    "UpdateTaskProtection: failed to decode request: ProtectionEnabled must be a boolean",
                ));
            }
        };
        Ok((enabled, body.get("ExpiresInMinutes").cloned()))
    })();
    let (enabled, minutes) = match parsed {
        Ok(p) => p,
        Err(error) => {
            fail(&mut handled, error, None);
            return handled;
        }
    };
    let latency = shared.lock().faults.latency;
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    // Then the agent calls ECS: its faults and validation pass through with a request id.
    let mut state = shared.lock();
    let request_id = state.next_request_id();
    if let Some(error) = ecs_fault(&mut state) {
        fail(&mut handled, error, Some(request_id));
        return handled;
    }
    let change = if enabled {
        match expires_in_minutes(minutes.as_ref(), "expiresInMinutes") {
            Ok(m) => Protection::On {
                expires_in_minutes: m,
            },
            Err(error) => {
                fail(&mut handled, error, Some(request_id));
                return handled;
            }
        }
    } else {
        Protection::Off
    };
    handled.change = Some(change);
    let arn = shared.settings.task_arn();
    let (_, outcome, until) = update_answer(shared, &mut state, std::slice::from_ref(&arn), change);
    handled.outcome = outcome.clone();
    handled.reply = match outcome {
        Outcome::Refused(reason) => Reply::json(
            200,
            &json!({"failure": {"Arn": arn, "Reason": reason.as_str(), "Detail": Value::Null}}),
        ),
        _ => Reply::json(200, &agent_protection(shared, until)),
    };
    handled
}

/// `GET .../task-protection/v1/state`.
pub(crate) fn agent_get(shared: &Shared) -> Handled {
    let latency = shared.lock().faults.latency;
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    let mut state = shared.lock();
    let request_id = state.next_request_id();
    let mut handled = Handled {
        reply: Reply::json(200, &Value::Null),
        operation: Operation::AgentGetTaskProtection,
        outcome: Outcome::Accepted,
        change: None,
        access_key_id: None,
    };
    if let Some(error) = ecs_fault(&mut state) {
        handled.outcome = Outcome::Error {
            status: error.status,
            code: error.code.clone(),
        };
        handled.reply = agent_error(shared, &error, Some(request_id));
        return handled;
    }
    let arn = shared.settings.task_arn();
    handled.reply = match task_failure(shared, &arn) {
        Some((reason, _)) => {
            handled.outcome = Outcome::Refused(reason.clone());
            Reply::json(
                200,
                &json!({"failure": {"Arn": arn, "Reason": reason.as_str(), "Detail": Value::Null}}),
            )
        }
        None => Reply::json(200, &agent_protection(shared, current_protection(&state))),
    };
    handled
}

fn ecs_fault(state: &mut State) -> Option<ApiError> {
    match state.faults.take_error()? {
        Fault::Throttle => Some(api_error(400, "ThrottlingException", "Rate exceeded")),
        Fault::Fail => Some(api_error(
            500,
            "ServerException",
            "injected failure: the server encountered an internal error",
        )),
    }
}
