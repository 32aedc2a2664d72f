//! The fake AWS over real HTTP (ureq as the client): signatures made by our signer are
//! accepted, bad ones are rejected with AWS's codes, the credentials, metadata and agent
//! endpoints answer their shapes, the timeline and the faults behave as documented.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ecs_protect::mock::{MockAws, MockCredentials, Operation, Outcome, SpanEnd};
use ecs_protect::unversioned::sigv4::{SignableRequest, Signer, SigningParams, SigningSettings};
use ecs_protect::{Env, RefusalReason};
use ecs_protect_tests::{DEADLINE, wait_until};
use serde_json::{Value, json};

const UPDATE: &str = "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection";
const GET: &str = "AmazonEC2ContainerServiceV20141113.GetTaskProtection";
const JSON_11: &str = "application/x-amz-json-1.1";

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    )
}

/// An answer: status, headers (lower-case names), JSON body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

fn answer(response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = response
        .into_body()
        .read_to_string()
        .expect("the fake answers a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn host(ecs: &MockAws) -> String {
    ecs.url().trim_start_matches("http://").to_owned()
}

/// How to (mis)sign a call.
struct Signing<'a> {
    creds: &'a MockCredentials,
    time: SystemTime,
    settings: SigningSettings,
    /// Sign with this secret instead of the real one.
    secret: Option<&'a str>,
    region: &'a str,
}

impl<'a> Signing<'a> {
    fn new(creds: &'a MockCredentials) -> Self {
        Signing {
            creds,
            time: SystemTime::now(),
            settings: SigningSettings::default(),
            secret: None,
            region: "eu-west-1",
        }
    }
}

/// A signed `POST /`; `sent_body` replaces the body after signing when given.
fn post(
    ecs: &MockAws,
    target: &str,
    body: &Value,
    signing: &Signing<'_>,
    sent_body: Option<&str>,
) -> Answer {
    let body = body.to_string();
    let host = host(ecs);
    let headers = [
        ("content-type", JSON_11),
        ("host", host.as_str()),
        ("x-amz-target", target),
    ];
    let signed = Signer::new().sign_with(
        &SignableRequest {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            body: body.as_bytes(),
        },
        &SigningParams {
            access_key_id: &signing.creds.access_key_id,
            secret_access_key: signing.secret.unwrap_or(&signing.creds.secret_access_key),
            session_token: signing.creds.session_token.as_deref(),
            region: signing.region,
            service: "ecs",
            time: signing.time,
        },
        &signing.settings,
    );
    let mut request = agent()
        .post(ecs.url())
        .header("content-type", JSON_11)
        .header("x-amz-target", target);
    for (name, value) in signed.headers() {
        request = request.header(*name, value);
    }
    answer(
        request
            .send(sent_body.unwrap_or(&body))
            .expect("the fake answers"),
    )
}

fn update_body(ecs: &MockAws, enabled: bool, minutes: Option<u64>) -> Value {
    let mut body =
        json!({"cluster": "default", "tasks": [ecs.task_arn()], "protectionEnabled": enabled});
    if let Some(m) = minutes {
        body["expiresInMinutes"] = json!(m);
    }
    body
}

fn update(ecs: &MockAws, enabled: bool, minutes: Option<u64>) -> Answer {
    let creds = ecs.credentials();
    post(
        ecs,
        UPDATE,
        &update_body(ecs, enabled, minutes),
        &Signing::new(&creds),
        None,
    )
}

fn get_protection(ecs: &MockAws) -> Answer {
    let creds = ecs.credentials();
    post(
        ecs,
        GET,
        &json!({"cluster": ecs.cluster_arn(), "tasks": [ecs.task_arn()]}),
        &Signing::new(&creds),
        None,
    )
}

fn epoch(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Parses an IMF-fixdate (`Sun, 30 Aug 2015 12:36:00 GMT`) into seconds since the epoch.
fn parse_http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split([' ', ':']).collect();
    let [_, day, month, year, h, m, s, "GMT"] = parts[..] else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|x| *x == month)? as i64 + 1;
    let (year, day): (i64, i64) = (year.parse().ok()?, day.parse().ok()?);
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(
        days * 86_400
            + h.parse::<i64>().ok()? * 3600
            + m.parse::<i64>().ok()? * 60
            + s.parse::<i64>().ok()?,
    )
}

#[test]
fn a_request_signed_by_our_signer_is_accepted_and_round_trips() {
    let ecs = MockAws::start().expect("fake starts");
    let before = SystemTime::now();
    let on = update(&ecs, true, Some(60));
    assert_eq!(on.status, 200, "{}", on.body);
    assert!(on.header("x-amzn-requestid").is_some());
    let task = &on.body["protectedTasks"][0];
    assert_eq!(task["taskArn"], json!(ecs.task_arn()));
    assert_eq!(task["protectionEnabled"], json!(true));
    let expires = task["expirationDate"].as_f64().expect("epoch seconds");
    assert!(expires >= epoch(before) + 3599.0 && expires <= epoch(SystemTime::now()) + 3601.0);
    assert_eq!(on.body["failures"], json!([]));
    assert!(ecs.protected_now());

    let got = get_protection(&ecs);
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(
        got.body["protectedTasks"][0]["protectionEnabled"],
        json!(true)
    );
    assert_eq!(
        got.body["protectedTasks"][0]["expirationDate"].as_f64(),
        Some(expires)
    );

    let during = Instant::now();
    let off = update(&ecs, false, None);
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(
        off.body["protectedTasks"][0]["protectionEnabled"],
        json!(false)
    );
    assert!(
        off.body["protectedTasks"][0]
            .get("expirationDate")
            .is_none()
    );
    assert!(ecs.protected_at(during));
    assert!(!ecs.protected_now());

    let timeline = ecs.timeline();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0].ended, SpanEnd::Disabled);

    let calls = ecs.calls();
    let ops: Vec<Operation> = calls.iter().map(|c| c.operation).collect();
    assert_eq!(
        ops,
        [
            Operation::UpdateTaskProtection,
            Operation::GetTaskProtection,
            Operation::UpdateTaskProtection
        ]
    );
    assert!(calls.iter().all(|c| c.outcome == Outcome::Accepted));
    assert_eq!(
        calls[0].change,
        Some(ecs_protect::Protection::On {
            expires_in_minutes: 60
        })
    );
    assert_eq!(
        calls[0].access_key_id.as_deref(),
        Some(ecs.credentials().access_key_id.as_str())
    );
    assert_eq!(ecs.api_calls(Operation::UpdateTaskProtection), 2);
}

#[test]
fn bad_signatures_are_rejected_with_aws_codes() {
    let ecs = MockAws::start().expect("fake starts");
    let creds = ecs.credentials();
    let body = update_body(&ecs, true, Some(5));
    let mismatch = "The request signature we calculated does not match the signature you provided.";

    // Body changed after signing.
    let tampered = post(
        &ecs,
        UPDATE,
        &body,
        &Signing::new(&creds),
        Some("{\"cluster\":\"x\"}"),
    );
    assert_eq!(
        (tampered.status, tampered.error_type()),
        (400, "InvalidSignatureException")
    );
    assert!(
        tampered.message().starts_with(mismatch),
        "{}",
        tampered.message()
    );
    assert!(tampered.header("x-amzn-requestid").is_some());

    // Wrong secret.
    let wrong = post(
        &ecs,
        UPDATE,
        &body,
        &Signing {
            secret: Some("not-the-secret"),
            ..Signing::new(&creds)
        },
        None,
    );
    assert_eq!(
        (wrong.status, wrong.error_type()),
        (400, "InvalidSignatureException")
    );
    assert!(wrong.message().starts_with(mismatch));

    // Session token sent but not signed.
    let unsigned = post(
        &ecs,
        UPDATE,
        &body,
        &Signing {
            settings: SigningSettings::default().sign_session_token(false),
            ..Signing::new(&creds)
        },
        None,
    );
    assert_eq!(unsigned.error_type(), "InvalidSignatureException");
    assert!(
        unsigned.message().contains("x-amz-security-token"),
        "{}",
        unsigned.message()
    );

    // Wrong region in the scope.
    let region = post(
        &ecs,
        UPDATE,
        &body,
        &Signing {
            region: "us-east-1",
            ..Signing::new(&creds)
        },
        None,
    );
    assert_eq!(region.error_type(), "InvalidSignatureException");

    // Unknown access key.
    let stranger = MockCredentials::new(
        "ASIASTRANGER",
        &creds.secret_access_key,
        creds.session_token.as_deref(),
    );
    let unknown = post(&ecs, UPDATE, &body, &Signing::new(&stranger), None);
    assert_eq!(
        (unknown.status, unknown.error_type()),
        (400, "UnrecognizedClientException")
    );

    // Another key's session token.
    let other_token = MockCredentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        Some("forged"),
    );
    let forged = post(&ecs, UPDATE, &body, &Signing::new(&other_token), None);
    assert_eq!(forged.error_type(), "UnrecognizedClientException");

    // No Authorization at all.
    let bare = answer(
        agent()
            .post(ecs.url())
            .header("content-type", JSON_11)
            .header("x-amz-target", UPDATE)
            .send(body.to_string())
            .expect("the fake answers"),
    );
    assert_eq!(bare.error_type(), "MissingAuthenticationTokenException");

    // Expired key.
    ecs.expire_credentials();
    let expired = post(&ecs, UPDATE, &body, &Signing::new(&creds), None);
    assert_eq!(expired.error_type(), "ExpiredTokenException");

    // None of that changed protection; every call was recorded with its code.
    assert!(!ecs.protected_now());
    let codes: Vec<String> = ecs
        .calls()
        .iter()
        .filter_map(|c| c.outcome.error_code().map(str::to_owned))
        .collect();
    assert_eq!(
        codes,
        [
            "InvalidSignatureException",
            "InvalidSignatureException",
            "InvalidSignatureException",
            "InvalidSignatureException",
            "UnrecognizedClientException",
            "UnrecognizedClientException",
            "MissingAuthenticationTokenException",
            "ExpiredTokenException",
        ]
    );
    // A fresh key works again.
    assert_eq!(update(&ecs, true, Some(5)).status, 200);
}

#[test]
fn a_stale_date_is_rejected_with_the_fakes_clock_in_the_date_header() {
    let ecs = MockAws::start().expect("fake starts");
    ecs.set_clock_skew_secs(900);
    let creds = ecs.credentials();
    let stale = post(
        &ecs,
        UPDATE,
        &update_body(&ecs, true, Some(5)),
        &Signing::new(&creds),
        None,
    );
    assert_eq!(
        (stale.status, stale.error_type()),
        (400, "InvalidSignatureException")
    );
    assert!(
        stale.message().starts_with("Signature expired: "),
        "{}",
        stale.message()
    );
    assert!(
        stale.message().ends_with(" - 5 min.)"),
        "{}",
        stale.message()
    );
    let date = parse_http_date(stale.header("date").expect("a Date header")).expect("IMF-fixdate");
    let real = epoch(SystemTime::now()) as i64;
    assert!(
        (real + 890..=real + 910).contains(&date),
        "Date {date}, real clock {real}"
    );

    // Signing at the fake's time (as a client correcting skew does) is accepted.
    let corrected = post(
        &ecs,
        UPDATE,
        &update_body(&ecs, true, Some(5)),
        &Signing {
            time: ecs.clock(),
            ..Signing::new(&creds)
        },
        None,
    );
    assert_eq!(corrected.status, 200, "{}", corrected.body);

    // A clock behind: "not yet current".
    ecs.set_clock_skew_secs(-900);
    let early = post(
        &ecs,
        GET,
        &json!({"cluster": "default"}),
        &Signing::new(&creds),
        None,
    );
    assert!(
        early.message().starts_with("Signature not yet current: "),
        "{}",
        early.message()
    );
}

#[test]
fn bodies_targets_and_content_types_are_validated() {
    let ecs = MockAws::start().expect("fake starts");
    let creds = ecs.credentials();
    let send = |target: &str, body: Value| post(&ecs, target, &body, &Signing::new(&creds), None);
    let arn = ecs.task_arn();
    for (body, needle) in [
        (
            json!({"tasks": [arn], "protectionEnabled": true}),
            "cluster",
        ),
        (
            json!({"cluster": "default", "protectionEnabled": true}),
            "tasks",
        ),
        (
            json!({"cluster": "default", "tasks": [arn]}),
            "protectionEnabled",
        ),
        (
            json!({"cluster": "default", "tasks": [arn], "protectionEnabled": true, "expiresInMinutes": 0}),
            "expiresInMinutes",
        ),
        (
            json!({"cluster": "default", "tasks": [arn], "protectionEnabled": true, "expiresInMinutes": 2881}),
            "expiresInMinutes",
        ),
        (
            json!({"cluster": "default", "tasks": [], "protectionEnabled": true}),
            "tasks",
        ),
    ] {
        let a = send(UPDATE, body.clone());
        assert_eq!(
            (a.status, a.error_type()),
            (400, "InvalidParameterException"),
            "{body}"
        );
        assert!(a.message().contains(needle), "{body}: {}", a.message());
    }
    let max = send(
        UPDATE,
        json!({"cluster": "default", "tasks": [arn], "protectionEnabled": true, "expiresInMinutes": 2880}),
    );
    assert_eq!(max.status, 200);
    let default = send(
        UPDATE,
        json!({"cluster": "default", "tasks": [arn], "protectionEnabled": true}),
    );
    let expires = default.body["protectedTasks"][0]["expirationDate"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (expires - epoch(SystemTime::now()) - 7200.0).abs() < 5.0,
        "default is 120 minutes"
    );

    assert_eq!(
        send(GET, json!({"tasks": [arn]})).error_type(),
        "InvalidParameterException"
    );
    assert_eq!(
        send(
            UPDATE,
            json!({"cluster": "other", "tasks": [arn], "protectionEnabled": true})
        )
        .error_type(),
        "ClusterNotFoundException"
    );
    let stranger = send(
        UPDATE,
        json!({"cluster": "default", "tasks": ["arn:aws:ecs:eu-west-1:111122223333:task/default/other"], "protectionEnabled": true}),
    );
    assert_eq!(stranger.status, 200);
    assert_eq!(
        stranger.body["failures"][0]["reason"],
        json!("TASK_NOT_VALID")
    );
    assert_eq!(
        send(
            "AmazonEC2ContainerServiceV20141113.DescribeTasks",
            json!({})
        )
        .error_type(),
        "UnknownOperationException"
    );

    // A wrong content type, still correctly signed.
    let host = host(&ecs);
    let headers = [
        ("content-type", "application/json"),
        ("host", host.as_str()),
        ("x-amz-target", GET),
    ];
    let signed = Signer::new().sign(
        &SignableRequest {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            body: b"{}",
        },
        &SigningParams {
            access_key_id: &creds.access_key_id,
            secret_access_key: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
            region: "eu-west-1",
            service: "ecs",
            time: SystemTime::now(),
        },
    );
    let mut request = agent()
        .post(ecs.url())
        .header("content-type", "application/json")
        .header("x-amz-target", GET);
    for (n, v) in signed.headers() {
        request = request.header(*n, v);
    }
    assert_eq!(
        answer(request.send("{}").expect("answer")).error_type(),
        "SerializationException"
    );
}

#[test]
fn credentials_endpoint_checks_the_token_fails_on_demand_and_rotates() {
    let ecs = MockAws::start().expect("fake starts");
    let env = Env::from_vars(ecs.env());
    let uri = env
        .get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .expect("FULL_URI");
    let token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN").expect("token");
    let fetch = |auth: Option<&str>| {
        let mut request = agent().get(&uri);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        answer(request.call().expect("the fake answers"))
    };
    assert_eq!(fetch(None).status, 401);
    let wrong = fetch(Some("nope"));
    assert_eq!(wrong.status, 403);
    assert!(wrong.body["message"].is_string());

    ecs.fail_credentials_next(1);
    assert_eq!(fetch(Some(&token)).status, 500);
    let first = fetch(Some(&token));
    assert_eq!(first.status, 200);
    for field in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(first.body[field].is_string(), "{field} in {}", first.body);
    }
    let expiration = first.body["Expiration"].as_str().unwrap_or("");
    assert!(
        expiration.ends_with('Z') && expiration.len() == 20,
        "{expiration}"
    );
    assert_eq!(
        fetch(Some(&token)).body["AccessKeyId"],
        first.body["AccessKeyId"]
    );

    ecs.rotate_credentials();
    let second = fetch(Some(&token));
    assert_ne!(second.body["AccessKeyId"], first.body["AccessKeyId"]);
    assert_ne!(second.body["Token"], first.body["Token"]);

    // The fake's own view agrees with the last fetch.
    let current = ecs.credentials();
    assert_eq!(
        current.access_key_id,
        second.body["AccessKeyId"].as_str().unwrap_or("")
    );
    // The old key stays valid until its expiry, as STS keys do.
    let first_creds = MockCredentials::new(
        first.body["AccessKeyId"].as_str().unwrap_or(""),
        first.body["SecretAccessKey"].as_str().unwrap_or(""),
        first.body["Token"].as_str(),
    );
    let answer = post(
        &ecs,
        GET,
        &json!({"cluster": "default"}),
        &Signing::new(&first_creds),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(ecs.api_calls(Operation::Credentials), 6);
}

#[test]
fn rotation_period_issues_new_keys_on_fetch() {
    let ecs = MockAws::builder()
        .credential_rotation(Duration::ZERO)
        .start()
        .expect("fake starts");
    let a = ecs.credentials();
    let b = ecs.credentials();
    assert_ne!(a.access_key_id, b.access_key_id);
    // Both sign successfully.
    for creds in [&a, &b] {
        let r = post(
            &ecs,
            GET,
            &json!({"cluster": "default"}),
            &Signing::new(creds),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[test]
fn task_metadata_and_standalone_tasks() {
    let ecs = MockAws::start().expect("fake starts");
    let env = Env::from_vars(ecs.env());
    let uri = env
        .get("ECS_CONTAINER_METADATA_URI_V4")
        .expect("metadata uri");
    let meta = answer(agent().get(format!("{uri}/task")).call().expect("answer"));
    assert_eq!(meta.status, 200);
    assert_eq!(meta.body["TaskARN"], json!(ecs.task_arn()));
    assert_eq!(meta.body["Cluster"], json!(ecs.cluster_arn()));
    assert_eq!(meta.body["ServiceName"], json!("worker"));
    assert_eq!(meta.body["Family"], json!("worker"));

    let standalone = MockAws::builder()
        .service_name(None)
        .start()
        .expect("fake starts");
    let uri = Env::from_vars(standalone.env())
        .get("ECS_CONTAINER_METADATA_URI_V4")
        .expect("metadata uri");
    let meta = answer(agent().get(format!("{uri}/task")).call().expect("answer"));
    assert!(meta.body.get("ServiceName").is_none(), "{}", meta.body);
    let refused = update(&standalone, true, Some(5));
    assert_eq!(refused.status, 200);
    assert_eq!(
        refused.body["failures"][0]["reason"],
        json!("TASK_NOT_VALID")
    );
    assert_eq!(refused.body["protectedTasks"], json!([]));
    assert!(!standalone.protected_now());
    assert_eq!(
        standalone.calls().last().map(|c| c.outcome.clone()),
        Some(Outcome::Refused(RefusalReason::TaskNotValid))
    );
}

#[test]
fn agent_endpoint_round_trips_in_the_agents_shapes() {
    let ecs = MockAws::start().expect("fake starts");
    let base = Env::from_vars(ecs.env())
        .get("ECS_AGENT_URI")
        .expect("agent uri");
    let url = format!("{base}/task-protection/v1/state");
    let put = |body: &str| {
        answer(
            agent()
                .put(&url)
                .header("content-type", "application/json")
                .send(body)
                .expect("answer"),
        )
    };
    let get = || answer(agent().get(&url).call().expect("answer"));

    let on = put(r#"{"ProtectionEnabled": true, "ExpiresInMinutes": 5}"#);
    assert_eq!(on.status, 200, "{}", on.body);
    let protection = &on.body["protection"];
    assert_eq!(protection["ProtectionEnabled"], json!(true));
    assert_eq!(protection["TaskArn"], json!(ecs.task_arn()));
    let date = protection["ExpirationDate"].as_str().expect("RFC 3339");
    assert!(date.ends_with('Z') && date.contains('T'), "{date}");
    assert!(ecs.protected_now());
    assert_eq!(get().body["protection"]["ProtectionEnabled"], json!(true));

    let unknown = put(r#"{"ProtectionEnabled": true, "Extra": 1}"#);
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.body["error"]["Code"],
        json!("InvalidParameterException")
    );
    assert!(
        unknown.body.get("requestID").is_none(),
        "the agent did not reach ECS"
    );
    assert_eq!(put(r#"{"ExpiresInMinutes": 5}"#).status, 400);
    let range = put(r#"{"ProtectionEnabled": true, "ExpiresInMinutes": 5000}"#);
    assert_eq!(range.status, 400);
    assert!(
        range.body["requestID"].is_string(),
        "ECS's validation passes through"
    );

    ecs.throttle_next(1);
    let throttled = put(r#"{"ProtectionEnabled": true}"#);
    assert_eq!(throttled.status, 400);
    assert_eq!(
        throttled.body["error"]["Code"],
        json!("ThrottlingException")
    );
    assert_eq!(throttled.body["error"]["Arn"], json!(ecs.task_arn()));
    assert!(throttled.body["requestID"].is_string());

    ecs.refuse_next(1, RefusalReason::TaskNotValid);
    let refused = put(r#"{"ProtectionEnabled": true}"#);
    assert_eq!(
        refused.body,
        json!({"failure": {"Arn": ecs.task_arn(), "Reason": "TASK_NOT_VALID", "Detail": null}})
    );

    let off = put(r#"{"ProtectionEnabled": false}"#);
    assert_eq!(off.body["protection"]["ProtectionEnabled"], json!(false));
    assert_eq!(off.body["protection"]["ExpirationDate"], Value::Null);
    assert!(!ecs.protected_now());
    assert_eq!(get().body["protection"]["ExpirationDate"], Value::Null);
    assert_eq!(ecs.api_calls(Operation::AgentUpdateTaskProtection), 7);
    assert_eq!(ecs.api_calls(Operation::AgentGetTaskProtection), 2);
}

#[test]
fn protection_lapses_after_the_scaled_minute() {
    let minute = Duration::from_millis(200);
    let ecs = MockAws::builder()
        .minute(minute)
        .start()
        .expect("fake starts");
    let asked = Instant::now();
    assert_eq!(update(&ecs, true, Some(1)).status, 200);
    let answered = Instant::now();
    let span = ecs.timeline()[0];
    assert!(span.start >= asked && span.start <= answered);
    assert_eq!(span.duration(), minute);
    assert!(ecs.protected_at(span.start));
    assert!(ecs.protected_at(span.end - Duration::from_millis(1)));
    assert!(!ecs.protected_at(span.end));
    assert!(!ecs.protected_at(asked - Duration::from_millis(1)));

    // Nobody renews: ECS reports it off once the expiry instant has passed, not before.
    assert!(
        ecs.wait_protected(false, DEADLINE),
        "protection never lapsed"
    );
    assert!(Instant::now() >= span.end);
    assert_eq!(ecs.timeline().len(), 1);
    assert_eq!(ecs.timeline()[0].ended, SpanEnd::Expired);
    let got = get_protection(&ecs);
    assert_eq!(
        got.body["protectedTasks"][0]["protectionEnabled"],
        json!(false)
    );
}

#[test]
fn renewal_before_the_expiry_extends_the_same_span() {
    let minute = Duration::from_millis(200);
    let ecs = MockAws::builder()
        .minute(minute)
        .start()
        .expect("fake starts");
    // 100 scaled minutes (20 s): the renewal below cannot arrive after this expiry.
    assert_eq!(update(&ecs, true, Some(100)).status, 200);
    let first = ecs.timeline()[0];
    let renewing = Instant::now();
    assert_eq!(update(&ecs, true, Some(200)).status, 200);
    let renewed = ecs.timeline();
    assert_eq!(renewed.len(), 1, "a renewal is not a new span: {renewed:?}");
    assert_eq!(renewed[0].start, first.start);
    assert!(renewed[0].end >= renewing + minute * 200);
    assert_eq!(renewed[0].ended, SpanEnd::Ongoing);
}

#[test]
fn faults_throttle_fail_and_refuse() {
    let ecs = MockAws::start().expect("fake starts");
    ecs.throttle_next(2);
    ecs.fail_next(1);
    let codes: Vec<(u16, String)> = (0..4)
        .map(|_| {
            let a = update(&ecs, true, Some(5));
            (a.status, a.error_type().to_owned())
        })
        .collect();
    assert_eq!(
        codes,
        [
            (400, "ThrottlingException".to_owned()),
            (400, "ThrottlingException".to_owned()),
            (500, "ServerException".to_owned()),
            (200, String::new()),
        ]
    );
    assert!(ecs.protected_now());

    ecs.refuse_next(1, RefusalReason::DeploymentBlocked);
    // A disable is never blocked and does not use the refusal up.
    assert_eq!(update(&ecs, false, None).body["failures"], json!([]));
    let blocked = update(&ecs, true, Some(5));
    assert_eq!(
        blocked.body["failures"][0]["reason"],
        json!("DEPLOYMENT_BLOCKED")
    );
    assert!(!ecs.protected_now());
    assert_eq!(update(&ecs, true, Some(5)).body["failures"], json!([]));

    ecs.refuse_all(Some(RefusalReason::TaskNotValid));
    assert_eq!(
        update(&ecs, true, Some(5)).body["failures"][0]["reason"],
        json!("TASK_NOT_VALID")
    );
    assert_eq!(
        update(&ecs, true, Some(5)).body["failures"][0]["reason"],
        json!("TASK_NOT_VALID")
    );
    ecs.refuse_all(None);
    assert_eq!(update(&ecs, true, Some(5)).body["failures"], json!([]));
    assert_eq!(ecs.api_calls(Operation::UpdateTaskProtection), 10);

    // Latency delays the answer by at least that much.
    ecs.set_latency(Duration::from_millis(50));
    let start = Instant::now();
    assert_eq!(update(&ecs, true, Some(5)).status, 200);
    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn static_credentials_sign_without_a_token() {
    let ecs = MockAws::builder()
        .static_credentials("AKIAMOCKSTATIC", "static-secret")
        .start()
        .expect("fake starts");
    let creds = MockCredentials::new("AKIAMOCKSTATIC", "static-secret", None);
    let ok = post(
        &ecs,
        GET,
        &json!({"cluster": "default"}),
        &Signing::new(&creds),
        None,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[test]
fn wait_until_sees_calls_from_other_threads() {
    let ecs = MockAws::start().expect("fake starts");
    std::thread::scope(|scope| {
        scope.spawn(|| update(&ecs, true, Some(5)));
        assert!(ecs.wait_until(Duration::from_secs(10), |calls| {
            calls
                .iter()
                .any(|c| c.operation == Operation::UpdateTaskProtection)
        }));
    });
}

#[test]
fn no_secret_in_debug_output() {
    let ecs = MockAws::start().expect("fake starts");
    let creds = ecs.credentials();
    let shown = format!("{ecs:?} {creds:?} {:?}", ecs.calls());
    assert!(!shown.contains(&creds.secret_access_key), "{shown}");
    assert!(
        !shown.contains(creds.session_token.as_deref().unwrap_or("?")),
        "{shown}"
    );
    assert!(!shown.contains(ecs.authorization_token()), "{shown}");
}

#[test]
fn dropping_the_fake_closes_its_listener() {
    let ecs = MockAws::start().expect("fake starts");
    let addr = host(&ecs);
    assert_eq!(update(&ecs, true, Some(5)).status, 200);
    drop(ecs);
    // tiny_http closes the listener from its accept thread once woken: allow it a moment.
    assert!(
        wait_until(DEADLINE, || std::net::TcpStream::connect(&addr).is_err()),
        "{addr} still accepts connections {DEADLINE:?} after the fake was dropped"
    );
}

#[test]
fn the_crates_own_client_is_accepted_through_the_protector() {
    let ecs = MockAws::start().expect("fake starts");
    let protector = ecs.protector().expect("protector on the fake");
    let guard = protector.acquire().expect("protection");
    assert!(guard.is_protected());
    assert!(ecs.protected_now());
    drop(guard);
    assert!(protector.drain(DEADLINE).is_complete());
    assert!(!ecs.protected_now(), "drain clears protection");
    let calls = ecs.calls();
    let updates: Vec<&Outcome> = calls
        .iter()
        .filter(|c| c.operation == Operation::UpdateTaskProtection)
        .map(|c| &c.outcome)
        .collect();
    assert_eq!(
        updates,
        [&Outcome::Accepted, &Outcome::Accepted],
        "{calls:#?}"
    );
    assert_eq!(ecs.api_calls(Operation::TaskMetadata), 1);
    assert!(ecs.api_calls(Operation::Credentials) >= 1);
    let timeline = ecs.timeline();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0].ended, SpanEnd::Disabled);
}

#[test]
fn the_agent_backend_works_against_the_fake() {
    let ecs = MockAws::start().expect("fake starts");
    let mut vars = ecs.env();
    vars.push(("ECS_PROTECT_BACKEND".into(), "agent".into()));
    let protector = ecs_protect::Protector::from_env_with(&Env::from_vars(vars))
        .expect("protector on the agent endpoint");
    let guard = protector.acquire().expect("protection");
    assert!(ecs.protected_now());
    drop(guard);
    assert!(protector.drain(DEADLINE).is_complete());
    assert!(!ecs.protected_now());
    assert_eq!(ecs.api_calls(Operation::AgentUpdateTaskProtection), 2);
    assert_eq!(ecs.api_calls(Operation::UpdateTaskProtection), 0);
}

#[test]
fn the_client_corrects_a_skewed_clock_and_retries_throttling() {
    let ecs = MockAws::start().expect("fake starts");
    ecs.set_clock_skew_secs(900);
    ecs.throttle_next(1);
    let protector = ecs.protector().expect("protector on the fake");
    let guard = protector
        .acquire()
        .expect("protection despite skew and throttling");
    assert!(ecs.protected_now());
    drop(guard);
    let codes: Vec<Option<String>> = ecs
        .calls()
        .iter()
        .filter(|c| c.operation == Operation::UpdateTaskProtection)
        .map(|c| c.outcome.error_code().map(str::to_owned))
        .collect();
    assert_eq!(
        codes,
        [
            Some("InvalidSignatureException".to_owned()),
            Some("ThrottlingException".to_owned()),
            None
        ]
    );
}
