//! `ecs-protect check` against the fake AWS: a real process of the command with only the
//! fake's environment, once when everything holds and once per failure (no credentials,
//! AccessDenied, an unreachable endpoint, bad settings, a missing queue).

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use ecs_protect::mock::{MockAws, Operation};
use serde_json::Value;

const CLI: &str = env!("CARGO_BIN_EXE_ecs-protect");

/// Runs `ecs-protect check ARGS` with the fake's environment, minus `remove`, plus `extra`.
fn check(mock: &MockAws, remove: &[&str], extra: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(CLI);
    command
        .arg("check")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(
            mock.env()
                .into_iter()
                .filter(|(k, _)| !remove.contains(&k.as_str())),
        )
        .envs(extra.iter().copied())
        .stdin(Stdio::null());
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `problem:` lines of the text output.
fn problems(output: &Output) -> Vec<String> {
    stdout(output)
        .lines()
        .filter_map(|l| l.strip_prefix("problem: "))
        .map(str::to_owned)
        .collect()
}

/// A one-shot ECS stand-in on 127.0.0.1 answering every request with `status` and `body`.
fn ecs_answering(status: u16, body: &'static str) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut ignored = Vec::new();
            let _ = request.as_reader().read_to_end(&mut ignored);
            let response = tiny_http::Response::from_string(body)
                .with_status_code(status)
                .with_header(
                    "Content-Type: application/x-amz-json-1.1"
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                );
            let _ = request.respond(response);
        }
    });
    url
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[test]
fn everything_holds_against_the_fake() {
    let mock = MockAws::start().unwrap();
    let (queue, _) = mock.create_queue("orders");
    let output = check(
        &mock,
        &[],
        &[("ECS_PROTECT_LINGER", "2s")],
        &["--queue", &queue],
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{text}\n{output:?}");
    assert!(
        text.contains("backend:      api (default: ECS_CONTAINER_METADATA_URI_V4 is set)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("task:         {}", mock.task_arn())),
        "{text}"
    );
    assert!(
        text.contains(&format!("region:       {} (AWS_REGION)", mock.region())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ecs endpoint: {}/ (AWS_ENDPOINT_URL_ECS)",
            mock.url()
        )),
        "{text}"
    );
    assert!(text.contains("proxy:        none (direct)"), "{text}");
    let key = mock.credentials().access_key_id.clone();
    let masked = format!("{}{}", "*".repeat(key.len() - 4), &key[key.len() - 4..]);
    assert!(
        text.contains(&format!(
            "the container endpoint {}/creds, access key {masked}, expires ",
            mock.url()
        )),
        "{text}"
    );
    assert!(!text.contains(&key), "the key id is shown whole: {text}");
    assert!(
        text.contains("protection:   off (ecs:GetTaskProtection)"),
        "{text}"
    );
    assert!(
        text.contains("visibility timeout 30 s, redrive policy none"),
        "{text}"
    );
    assert!(
        text.contains("ECS_PROTECT_LINGER               2s (set)"),
        "{text}"
    );
    assert!(
        text.contains("ECS_PROTECT_MAX_HOLD             15m (default)"),
        "{text}"
    );
    assert!(text.contains("shared dir:   not set"), "{text}");
    assert!(text.ends_with("ok: everything holds\n"), "{text}");
    // One read-only call, signed with the fake's task-role key; nothing changed.
    let calls = mock.calls();
    let gets: Vec<_> = calls
        .iter()
        .filter(|c| c.operation == Operation::GetTaskProtection)
        .collect();
    assert_eq!(gets.len(), 1, "{calls:?}");
    assert_eq!(gets[0].access_key_id.as_deref(), Some(key.as_str()));
    assert_eq!(mock.api_calls(Operation::UpdateTaskProtection), 0);
    assert_eq!(mock.api_calls(Operation::Sqs), 1);

    // --json, for machines.
    let output = check(&mock, &[], &[], &["--json", "--queue", &queue]);
    assert!(output.status.success());
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["backend"]["value"], "api");
    assert_eq!(json["task_arn"], mock.task_arn());
    assert_eq!(json["region"]["source"], "AWS_REGION");
    assert_eq!(json["credentials"]["access_key_id"], masked);
    assert_eq!(json["protection"]["enabled"], false);
    assert_eq!(json["queue"]["visibility_timeout_secs"], 30);
    assert_eq!(json["problems"], Value::Array(vec![]));
    // The protection the task has now is the one shown.
    let protector = mock.protector().unwrap();
    let guard = protector.acquire().unwrap();
    assert!(guard.is_protected());
    let text = stdout(&check(&mock, &[], &[], &[]));
    assert!(text.contains("protection:   on until 20"), "{text}");
    drop(guard);
}

#[test]
fn the_agent_backend_is_proven_by_a_get_of_the_agent_endpoint() {
    let mock = MockAws::start().unwrap();
    // The agent signs for us: no credentials needed.
    let output = check(
        &mock,
        &["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        &[("ECS_PROTECT_BACKEND", "agent")],
        &[],
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("backend:      agent (ECS_PROTECT_BACKEND)"),
        "{text}"
    );
    assert!(text.contains("protection:   off (GET "), "{text}");
    assert!(
        text.contains("credentials:  not needed (the ECS agent calls ECS with the task role)"),
        "{text}"
    );
    assert_eq!(mock.api_calls(Operation::AgentGetTaskProtection), 1);
    assert_eq!(mock.api_calls(Operation::Credentials), 0);
}

#[test]
fn outside_ecs_the_backend_is_off_and_nothing_is_called() {
    let mock = MockAws::start().unwrap();
    let output = check(&mock, &["ECS_CONTAINER_METADATA_URI_V4"], &[], &["--json"]);
    assert!(output.status.success());
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["backend"]["value"], "off");
    assert_eq!(json["protection"], Value::Null);
    assert!(
        json["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("the backend is off: no protection call was made"),
        "{json}"
    );
    assert!(mock.calls().is_empty(), "{:?}", mock.calls());
}

#[test]
fn no_credentials_names_the_variables_to_set() {
    let mock = MockAws::start().unwrap();
    let output = check(&mock, &["AWS_CONTAINER_CREDENTIALS_FULL_URI"], &[], &[]);
    assert_eq!(output.status.code(), Some(1));
    let problems = problems(&output);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .contains("no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{problems:?}"
    );
    assert_eq!(mock.api_calls(Operation::GetTaskProtection), 0);
}

#[test]
fn access_denied_names_the_iam_action() {
    let mock = MockAws::start().unwrap();
    let ecs = ecs_answering(
        400,
        r#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::1:assumed-role/task is not authorized to perform: ecs:GetTaskProtection"}"#,
    );
    let output = check(&mock, &[], &[("AWS_ENDPOINT_URL_ECS", &ecs)], &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = problems[0].as_str().unwrap();
    assert!(
        problem.starts_with(
            "ecs:GetTaskProtection: access denied; allow it in the task role's IAM policy"
        ),
        "{problem}"
    );
    assert_eq!(json["ok"], false);
}

#[test]
fn an_unreachable_endpoint_names_it_and_its_variable() {
    let mock = MockAws::start().unwrap();
    let closed = closed_port();
    let output = check(
        &mock,
        &[],
        &[("AWS_ENDPOINT_URL_ECS", &closed), ("AWS_MAX_ATTEMPTS", "1")],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let problems = problems(&output);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!(
            "cannot reach {closed}/ (from AWS_ENDPOINT_URL_ECS)"
        )),
        "{problems:?}"
    );
}

#[test]
fn bad_settings_are_one_line_each() {
    let mock = MockAws::start().unwrap();
    let output = check(
        &mock,
        &[],
        &[
            ("ECS_PROTECT_LINGER", "5"),
            ("ECS_PROTECT_POLICY", "maybe"),
            ("AWS_MAX_ATTEMPTS", "zero"),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let problems = problems(&output);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].starts_with("invalid ECS_PROTECT_LINGER: "),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("invalid ECS_PROTECT_POLICY: "),
        "{problems:?}"
    );
    assert!(
        problems[2].starts_with("invalid AWS_MAX_ATTEMPTS: "),
        "{problems:?}"
    );
}

#[test]
fn a_missing_queue_is_named() {
    let mock = MockAws::start().unwrap();
    let absent = format!("{}/000000000000/absent", mock.url());
    let output = check(&mock, &[], &[("QUEUE_URL", &absent)], &[]);
    assert_eq!(output.status.code(), Some(1));
    let problems = problems(&output);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!("QUEUE_URL: the queue {absent} does not exist")),
        "{problems:?}"
    );
    // The task's own check still passed.
    assert!(stdout(&output).contains("protection:   off (ecs:GetTaskProtection)"));
}
