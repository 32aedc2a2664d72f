//! Task metadata, ECS answers (signed API and agent) and error bodies.

use std::time::{Duration, UNIX_EPOCH};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;

use super::strategies::{
    Body, any_json, body, field, json_text, object, whole_milli, whole_second,
};
use super::{check, ensure};
use crate::Error;
use crate::agent::AgentBackend;
use crate::aws::http::HttpResponse;
use crate::aws::{api_error, ecs, metadata, time};

const TASK_ARN: &str = "arn:aws:ecs:eu-west-1:111122223333:task/default/0123456789abcdef";
const ENDPOINT: &str = "http://127.0.0.1:9/";

/// A decode error must come from the endpoint that answered and name what was wrong.
fn assert_decode_error(err: &Error, endpoint: &str, known: &[&str]) -> Result<(), TestCaseError> {
    let Error::Decode {
        endpoint: from,
        message,
    } = err
    else {
        return Err(TestCaseError::fail(format!("not a decode error: {err:?}")));
    };
    ensure(from == endpoint, || {
        format!("the error names {from}, not {endpoint}")
    })?;
    ensure(known.iter().any(|k| message.contains(k)), || {
        format!("the error names no field: {message:?}")
    })
}

#[test]
fn task_metadata() {
    let value = object(vec![
        ("TaskARN", field(json_text())),
        ("Cluster", field(json_text())),
        ("ServiceName", field(json_text())),
    ]);
    check(
        "task metadata",
        body(value),
        |body| match metadata::decode(&body) {
            Ok(task) => {
                let value: Value = serde_json::from_slice(&body).expect("decoded from JSON");
                let text = |name: &str| value.get(name).and_then(Value::as_str);
                ensure(Some(task.task_arn.as_str()) == text("TaskARN"), || {
                    "TaskARN".into()
                })?;
                ensure(Some(task.cluster.as_str()) == text("Cluster"), || {
                    "Cluster".into()
                })?;
                ensure(
                    task.service_name.as_deref() == text("ServiceName").filter(|s| !s.is_empty()),
                    || "ServiceName".into(),
                )
            }
            Err(message) => {
                let named = ["TaskARN", "Cluster", "ServiceName"].iter().any(|f| {
                    message.starts_with(&format!("field {f} "))
                        || message == format!("missing field {f}")
                });
                ensure(
                    named
                        || message.starts_with("malformed JSON")
                        || message == "expected a JSON object",
                    || format!("the error names no field: {message:?}"),
                )
            }
        },
    );
}

/// Epoch seconds with milliseconds, as ECS sends `expirationDate`.
fn epoch_seconds() -> BoxedStrategy<Value> {
    whole_milli()
        .prop_map(|t| {
            let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
            serde_json::from_str(&format!("{}.{:03}", ms / 1000, ms % 1000)).unwrap_or(Value::Null)
        })
        .boxed()
}

fn ecs_answer() -> BoxedStrategy<Value> {
    let task = object(vec![
        (
            "taskArn",
            field(prop_oneof![Just(Value::from(TASK_ARN)), json_text()].boxed()),
        ),
        (
            "protectionEnabled",
            field(any::<bool>().prop_map(Value::Bool).boxed()),
        ),
        ("expirationDate", field(epoch_seconds())),
    ]);
    let failure = object(vec![
        ("arn", field(json_text())),
        (
            "reason",
            field(prop_oneof![Just(Value::from("TASK_NOT_VALID")), json_text()].boxed()),
        ),
        ("detail", field(json_text())),
    ]);
    object(vec![
        (
            "protectedTasks",
            field(vec(task, 0..3).prop_map(Value::Array).boxed()),
        ),
        (
            "failures",
            field(
                prop_oneof![3 => Just(Vec::new()), 1 => vec(failure, 1..3)]
                    .prop_map(Value::Array)
                    .boxed(),
            ),
        ),
    ])
}

#[test]
fn ecs_answers() {
    check(
        "ECS UpdateTaskProtection answers",
        body(ecs_answer()),
        |body| match ecs::decode_answer(&body, TASK_ARN, ENDPOINT) {
            Ok(task) => {
                let value: Value = serde_json::from_slice(&body).expect("decoded from JSON");
                let tasks = value["protectedTasks"].as_array().expect("protectedTasks");
                let ours = tasks
                    .iter()
                    .find(|t| t["taskArn"] == TASK_ARN)
                    .unwrap_or(&tasks[0]);
                ensure(
                    Some(task.enabled) == ours["protectionEnabled"].as_bool(),
                    || "protectionEnabled not read back".into(),
                )?;
                let expected = ours["expirationDate"]
                    .as_f64()
                    .map(|s| UNIX_EPOCH + Duration::from_secs_f64(s));
                let close = match (task.expires_at, expected) {
                    (None, None) => true,
                    (Some(a), Some(b)) => {
                        a.max(b).duration_since(a.min(b)).unwrap_or_default()
                            < Duration::from_millis(1)
                    }
                    _ => false,
                };
                ensure(close, || {
                    format!(
                        "expirationDate read as {:?}, expected {expected:?}",
                        task.expires_at
                    )
                })
            }
            Err(Error::TaskRefused { reason, .. }) => {
                let value: Value = serde_json::from_slice(&body).expect("decoded from JSON");
                ensure(value["failures"][0]["reason"] == reason.as_str(), || {
                    "reason not read back".into()
                })
            }
            Err(err) => assert_decode_error(
                &err,
                ENDPOINT,
                &[
                    "field ",
                    "malformed JSON",
                    "expected a JSON object",
                    "both empty",
                ],
            ),
        },
    );
}

#[test]
fn agent_answers() {
    let agent = AgentBackend::new("http://127.0.0.1:9").expect("a loopback URI");
    let endpoint = agent.endpoint();
    let value = object(vec![
        (
            "protection",
            field(object(vec![
                (
                    "ProtectionEnabled",
                    field(any::<bool>().prop_map(Value::Bool).boxed()),
                ),
                ("TaskArn", field(json_text())),
                (
                    "ExpirationDate",
                    field(
                        whole_second()
                            .prop_map(|t| Value::from(time::format_rfc3339(t)))
                            .boxed(),
                    ),
                ),
            ])),
        ),
        (
            "failure",
            option::weighted(
                0.2,
                object(vec![
                    ("Reason", field(json_text())),
                    ("Arn", field(json_text())),
                ]),
            )
            .boxed(),
        ),
    ]);
    check("ECS agent answers", body(value), |body| {
        let response = HttpResponse {
            status: 200,
            headers: Vec::new(),
            body: body.0,
        };
        match agent.decode(&response) {
            Ok(task) => {
                let value: Value =
                    serde_json::from_slice(&response.body).expect("decoded from JSON");
                let p = &value["protection"];
                ensure(
                    Some(task.enabled) == p["ProtectionEnabled"].as_bool(),
                    || "ProtectionEnabled".into(),
                )?;
                ensure(
                    task.expires_at == p["ExpirationDate"].as_str().and_then(time::parse_rfc3339),
                    || "ExpirationDate".into(),
                )
            }
            Err(Error::TaskRefused { .. }) => Ok(()),
            Err(err) => assert_decode_error(
                &err,
                &endpoint,
                &[
                    "field ",
                    "malformed JSON",
                    "expected a protection or failure object",
                ],
            ),
        }
    });
}

#[test]
fn error_answers() {
    let fields = || {
        vec![
            ("__type", field(json_text())),
            ("code", field(json_text())),
            ("message", field(json_text())),
            ("Message", field(json_text())),
            ("requestID", field(json_text())),
        ]
    };
    let mut top = fields();
    top.push(("error", field(object(fields()))));
    let strategy = (
        400u16..600,
        option::of(any::<String>()),
        option::of("[a-z0-9-]{1,12}"),
        prop_oneof![
            body(object(top)),
            any_json().prop_map(|v| Body(v.to_string().into_bytes()))
        ],
    );
    check(
        "error answers",
        strategy,
        |(status, error_type, request_id, body)| {
            let mut headers = Vec::new();
            if let Some(t) = &error_type {
                headers.push(("x-amzn-errortype".to_owned(), t.clone()));
            }
            if let Some(id) = &request_id {
                headers.push(("x-amzn-requestid".to_owned(), id.clone()));
            }
            let response = HttpResponse {
                status,
                headers,
                body: body.0,
            };
            let api = api_error::decode("UpdateTaskProtection", ENDPOINT, &response);
            ensure(api.endpoint == ENDPOINT && api.status == status, || {
                format!("{api:?}")
            })?;
            ensure(!api.code.is_empty(), || format!("an empty code: {api:?}"))?;
            ensure(api.request_id == request_id || request_id.is_none(), || {
                "request id".into()
            })?;
            if let Some(message) = &api.message {
                ensure(!message.is_empty(), || "an empty message".into())?;
            }
            Ok(())
        },
    );
}

#[test]
fn dates_on_the_wire_never_panic_and_read_back() {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    check(
        "HTTP and X-Amz-Date dates",
        (whole_second(), any::<String>()),
        |(at, noise)| {
            let _ = (
                time::parse_http_date(&noise),
                crate::aws::sigv4::parse_amz_date(&noise),
            );
            let (y, mo, d, h, mi, s) = crate::aws::civil::to_civil(at);
            let http = format!(
                "Mon, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
                MONTHS[mo as usize - 1]
            );
            ensure(time::parse_http_date(&http) == Some(at), || {
                format!("{http} does not read back")
            })?;
            let amz = crate::aws::sigv4::format_amz_date(at);
            ensure(crate::aws::sigv4::parse_amz_date(&amz) == Some(at), || {
                format!("{amz} does not read back")
            })
        },
    );
}
