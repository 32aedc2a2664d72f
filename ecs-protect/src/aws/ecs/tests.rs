use std::time::UNIX_EPOCH;

use super::*;
use crate::aws::credentials::container::tests::credentials_json;
use crate::aws::http::test_server::{Reply, Seen, TestServer, closed_port_url};
use crate::aws::metadata::tests::{TASK_ARN, task_json};

const CLUSTER: &str = "arn:aws:ecs:eu-west-1:111122223333:cluster/default";

fn protected(enabled: bool, expiration: Option<f64>) -> String {
    let expiration = expiration
        .map(|e| format!(r#","expirationDate":{e}"#))
        .unwrap_or_default();
    format!(
        r#"{{"protectedTasks":[{{"taskArn":"{TASK_ARN}","protectionEnabled":{enabled}{expiration}}}],"failures":[]}}"#
    )
}

/// A client of `ecs` (a test server) with static session credentials, the task given.
fn client(ecs: &TestServer, extra: &[(&str, &str)]) -> EcsClient {
    let mut vars = vec![
        ("AWS_ENDPOINT_URL_ECS", ecs.url.as_str()),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ("AWS_SESSION_TOKEN", "session-token-1"),
    ];
    vars.extend_from_slice(extra);
    EcsClient::builder()
        .env(&Env::from_vars(vars))
        .task(TASK_ARN, CLUSTER)
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap()
}

fn body(seen: &Seen) -> Value {
    serde_json::from_str(&seen.body).unwrap()
}

/// `X-Amz-Date` (`20261124T215744Z`) as a time.
fn amz_date(seen: &Seen) -> SystemTime {
    crate::aws::sigv4::parse_amz_date(seen.header("x-amz-date").expect("x-amz-date")).unwrap()
}

/// Verifies `seen`'s signature with an independent signer, the AWS SDK for Rust's
/// `aws-sigv4`: signs the request as received (the headers its `SignedHeaders` lists, with
/// the values the server got, at its `X-Amz-Date`) and compares the `Authorization` header.
/// A bug in this crate's signer makes the two differ.
fn assert_signed_by(seen: &Seen, access_key_id: &str, secret: &str, token: Option<&str>) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity;

    let auth = seen.header("authorization").expect("authorization");
    let signed_names = auth
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("SignedHeaders");
    assert_eq!(
        signed_names,
        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target".replace(
            if token.is_some() {
                ""
            } else {
                "x-amz-security-token;"
            },
            ""
        )
    );
    // aws-sigv4 adds the date and the token itself.
    let headers: Vec<(&str, &str)> = signed_names
        .split(';')
        .filter(|n| *n != "x-amz-date" && *n != "x-amz-security-token")
        .map(|n| {
            (
                n,
                seen.header(n).unwrap_or_else(|| panic!("{n} not received")),
            )
        })
        .collect();
    let identity: Identity = aws_credential_types::Credentials::new(
        access_key_id,
        secret,
        token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("ecs")
        .time(amz_date(seen))
        .settings(SigningSettings::default())
        .build()
        .expect("valid aws-sigv4 params")
        .into();
    let url = format!("http://{}{}", seen.header("host").expect("host"), seen.path);
    let request = SignableRequest::new(
        &seen.method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(seen.body.as_bytes()),
    )
    .expect("a request aws-sigv4 can sign");
    let (instructions, _) = sign(request, &params)
        .expect("aws-sigv4 signs")
        .into_parts();
    let (added, _) = instructions.into_parts();
    let expected = added
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case("authorization"))
        .map(|h| h.value());
    assert_eq!(Some(auth), expected, "signature of {seen:?} (aws-sigv4)");
    if let Some(token) = token {
        assert_eq!(seen.header("x-amz-security-token"), Some(token));
    }
}

#[test]
fn enable_and_disable_round_trip() {
    let mut ecs = TestServer::start(vec![
        Reply::json(200, &protected(true, Some(1_764_019_800.5))).header("x-amzn-RequestId", "r1"),
        Reply::json(200, &protected(false, None)),
    ]);
    let client = client(&ecs, &[]);
    let on = client
        .set_protection(Protection::On {
            expires_in_minutes: 60,
        })
        .unwrap();
    assert!(on.enabled);
    assert_eq!(
        on.expires_at,
        Some(UNIX_EPOCH + Duration::from_millis(1_764_019_800_500))
    );
    let off = client.set_protection(Protection::Off).unwrap();
    assert_eq!(
        off,
        ProtectionState {
            enabled: false,
            expires_at: None
        }
    );
    assert_eq!(client.name(), "ecs-api");

    let seen = ecs.requests().to_vec();
    assert_eq!(seen.len(), 2);
    let enable = &seen[0];
    assert_eq!(
        (enable.method.as_str(), enable.path.as_str()),
        ("POST", "/")
    );
    assert_eq!(
        enable.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(
        enable.header("x-amz-target"),
        Some("AmazonEC2ContainerServiceV20141113.UpdateTaskProtection")
    );
    assert_eq!(
        enable.header("x-amz-security-token"),
        Some("session-token-1")
    );
    assert_eq!(
        enable.header("host"),
        Some(ecs.url.trim_start_matches("http://"))
    );
    let auth = enable.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/"),
        "{auth}"
    );
    assert!(auth.contains("/eu-west-1/ecs/aws4_request"), "{auth}");
    assert!(!auth.contains("wJalrXUtnFEMI"));
    // The signed host (with the port) is the one ureq sent; the session token is signed.
    for request in &seen {
        assert_signed_by(
            request,
            "ASIAEXAMPLE",
            "wJalrXUtnFEMI",
            Some("session-token-1"),
        );
    }
    assert_eq!(
        body(enable),
        json!({"cluster": CLUSTER, "tasks": [TASK_ARN], "protectionEnabled": true, "expiresInMinutes": 60})
    );
    assert_eq!(
        body(&seen[1]),
        json!({"cluster": CLUSTER, "tasks": [TASK_ARN], "protectionEnabled": false})
    );
}

#[test]
fn get_task_protection_reads_the_state() {
    let mut ecs = TestServer::start(vec![Reply::json(
        200,
        &protected(true, Some(1_800_000_000.0)),
    )]);
    let state = client(&ecs, &[]).get_task_protection().unwrap();
    assert_eq!(state.task_arn, TASK_ARN);
    assert!(state.enabled);
    assert_eq!(
        state.expires_at,
        Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
    );
    let seen = &ecs.requests()[0];
    assert_eq!(
        seen.header("x-amz-target"),
        Some("AmazonEC2ContainerServiceV20141113.GetTaskProtection")
    );
    assert_eq!(body(seen), json!({"cluster": CLUSTER, "tasks": [TASK_ARN]}));
}

#[test]
fn rotated_container_credentials_are_picked_up() {
    // Credentials past their expiry margin are fetched again at each call (here they come
    // already expired; a scripted endpoint does not check).
    let soon = SystemTime::now() - Duration::from_secs(1);
    let mut creds = TestServer::start(vec![
        Reply::json(200, &credentials_json("ASIAFIRST", soon)),
        Reply::json(200, &credentials_json("ASIASECOND", soon)),
    ]);
    let mut ecs = TestServer::start(vec![Reply::json(200, &protected(true, Some(1.8e9)))]);
    let full_uri = format!("{}/creds", creds.url);
    let client = EcsClient::builder()
        .env(&Env::from_vars([
            ("AWS_ENDPOINT_URL_ECS", ecs.url.as_str()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-token"),
        ]))
        .task(TASK_ARN, CLUSTER)
        .build()
        .unwrap();
    client.update_task_protection(true, Some(30)).unwrap();
    client.update_task_protection(true, Some(30)).unwrap();
    let seen = ecs.requests().to_vec();
    assert!(
        seen[0]
            .header("authorization")
            .unwrap()
            .contains("Credential=ASIAFIRST/")
    );
    assert_eq!(
        seen[0].header("x-amz-security-token"),
        Some("token-ASIAFIRST")
    );
    assert!(
        seen[1]
            .header("authorization")
            .unwrap()
            .contains("Credential=ASIASECOND/")
    );
    assert_eq!(
        seen[1].header("x-amz-security-token"),
        Some("token-ASIASECOND")
    );
    assert_eq!(creds.requests().len(), 2);
    assert_eq!(
        creds.requests()[0].header("authorization"),
        Some("pod-token")
    );
}

#[test]
fn throttled_call_is_retried_and_succeeds() {
    let mut ecs = TestServer::start(vec![
        Reply::json(
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        ),
        Reply::json(
            500,
            r#"{"__type":"com.amazonaws.ecs#ServerException","message":"internal"}"#,
        ),
        Reply::json(200, &protected(true, Some(1.8e9))),
    ]);
    let state = client(&ecs, &[])
        .update_task_protection(true, Some(60))
        .unwrap();
    assert!(state.enabled);
    let seen = ecs.requests();
    assert_eq!(seen.len(), 3);
    // Each attempt is signed anew.
    assert!(seen.iter().all(|s| s.header("authorization").is_some()));
}

#[test]
fn throttling_beyond_max_attempts_is_returned() {
    let mut ecs = TestServer::start(vec![Reply::json(
        400,
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    )]);
    let err = client(&ecs, &[("AWS_MAX_ATTEMPTS", "2")])
        .update_task_protection(true, Some(60))
        .unwrap_err();
    assert_eq!(err.as_api().unwrap().code, "ThrottlingException");
    assert!(!err.is_permanent());
    assert_eq!(ecs.requests().len(), 2);
}

/// Issue 19: a server whose clock keeps jumping between throttled answers gets
/// `AWS_MAX_ATTEMPTS` requests, not about twice as many: the skew re-sign counts as an
/// attempt, and happens once per call.
#[test]
fn a_jumping_clock_never_makes_a_call_exceed_max_attempts() {
    let skewed = |secs: i64| {
        let at = if secs >= 0 {
            SystemTime::now() + Duration::from_secs(secs.unsigned_abs())
        } else {
            SystemTime::now() - Duration::from_secs(secs.unsigned_abs())
        };
        Reply::json(
            400,
            r#"{"__type":"InvalidSignatureException","message":"Signature expired"}"#,
        )
        .header("Date", &http_date(at))
    };
    let throttled = || Reply::json(400, r#"{"__type":"ThrottlingException"}"#);
    for max in [2usize, 3, 5] {
        let mut ecs = TestServer::start(vec![
            skewed(900),
            throttled(),
            skewed(-900),
            throttled(),
            skewed(900),
            throttled(),
        ]);
        let max_text = max.to_string();
        let err = client(&ecs, &[("AWS_MAX_ATTEMPTS", &max_text)])
            .update_task_protection(true, Some(60))
            .unwrap_err();
        assert!(err.as_api().is_some(), "{err}");
        assert!(
            ecs.requests().len() <= max,
            "{} requests with AWS_MAX_ATTEMPTS={max}",
            ecs.requests().len()
        );
    }
}

#[test]
fn access_denied_fails_at_once_with_a_clear_error() {
    let mut ecs = TestServer::start(vec![
        Reply::json(
            400,
            r#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::1:assumed-role/task is not authorized to perform: ecs:UpdateTaskProtection"}"#,
        )
        .header("x-amzn-RequestId", "req-denied"),
    ]);
    let err = client(&ecs, &[])
        .update_task_protection(true, Some(60))
        .unwrap_err();
    assert_eq!(ecs.requests().len(), 1);
    assert!(err.is_permanent());
    let api = err.as_api().unwrap();
    assert_eq!(api.status, 400);
    assert_eq!(api.request_id.as_deref(), Some("req-denied"));
    assert_eq!(
        err.to_string(),
        format!(
            "UpdateTaskProtection at {}/ failed: AccessDeniedException (HTTP 400, request id \
             req-denied): User: arn:aws:sts::1:assumed-role/task is not authorized to perform: \
             ecs:UpdateTaskProtection",
            ecs.url
        )
    );
}

#[test]
fn clock_skew_of_900_seconds_is_corrected() {
    let server_now = SystemTime::now() + Duration::from_secs(900);
    let date = http_date(server_now);
    let mut ecs = TestServer::start(vec![
        Reply::json(
            400,
            r#"{"__type":"InvalidSignatureException","message":"Signature expired: 20261124T215744Z is now earlier than 20261124T221244Z (20261124T222744Z - 15 min.)"}"#,
        )
        .header("Date", &date),
        Reply::json(200, &protected(true, Some(1.8e9))),
    ]);
    // The correction is an attempt of its own (issue 19): two attempts allowed.
    let client = client(&ecs, &[("AWS_MAX_ATTEMPTS", "2")]);
    client.update_task_protection(true, Some(60)).unwrap();
    client.update_task_protection(true, Some(60)).unwrap();
    let seen = ecs.requests().to_vec();
    assert_eq!(seen.len(), 3);
    let first = amz_date(&seen[0]);
    for later in &seen[1..] {
        let shift = amz_date(later).duration_since(first).unwrap();
        assert!(
            (Duration::from_secs(890)..Duration::from_secs(910)).contains(&shift),
            "{shift:?}"
        );
    }
    for request in &seen {
        assert_signed_by(
            request,
            "ASIAEXAMPLE",
            "wJalrXUtnFEMI",
            Some("session-token-1"),
        );
    }
    let skew = client.signed.skew().millis;
    assert!((890_000..910_000).contains(&skew), "{skew}");
}

#[test]
fn signature_errors_without_skew_are_not_retried() {
    // InvalidSignatureException with a Date matching our clock: a real signature problem.
    let mut ecs = TestServer::start(vec![Reply::json(
        400,
        r#"{"__type":"InvalidSignatureException","message":"The request signature we calculated does not match"}"#,
    )]);
    let err = client(&ecs, &[])
        .update_task_protection(true, Some(60))
        .unwrap_err();
    assert_eq!(err.as_api().unwrap().code, "InvalidSignatureException");
    assert_eq!(ecs.requests().len(), 1);
}

fn http_date(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = crate::aws::civil::to_civil(t);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // The weekday is not checked by the parser.
    format!(
        "Mon, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        MONTHS[mo as usize - 1]
    )
}

#[test]
fn refusals_and_bad_answers_are_clear_errors() {
    let ecs = TestServer::start(vec![
        Reply::json(
            200,
            &format!(
                r#"{{"protectedTasks":[],"failures":[{{"arn":"{TASK_ARN}","reason":"TASK_NOT_VALID","detail":"not part of a service"}}]}}"#
            ),
        ),
        Reply::json(
            200,
            r#"{"protectedTasks":[],"failures":[{"reason":"DEPLOYMENT_BLOCKED"}]}"#,
        ),
        Reply::json(200, "{\"protectedTasks\": [tru"),
        Reply::json(
            200,
            &format!(r#"{{"protectedTasks":[{{"taskArn":"{TASK_ARN}"}}]}}"#),
        ),
        Reply::json(
            200,
            &format!(
                r#"{{"protectedTasks":[{{"taskArn":"{TASK_ARN}","protectionEnabled":true,"expirationDate":"tomorrow"}}]}}"#
            ),
        ),
        Reply::json(200, r#"{"protectedTasks":[],"failures":[]}"#),
    ]);
    let client = client(&ecs, &[]);
    let call = || client.update_task_protection(true, Some(60)).unwrap_err();

    let not_valid = call();
    assert!(not_valid.is_permanent());
    assert_eq!(
        not_valid.to_string(),
        format!(
            "ECS refused task protection: TASK_NOT_VALID for {TASK_ARN} (not part of a service)"
        )
    );
    let blocked = call();
    assert!(blocked.is_deployment_blocked() && !blocked.is_permanent());

    let endpoint = format!("{}/", ecs.url);
    let malformed = call().to_string();
    assert!(
        malformed.starts_with(&format!(
            "unexpected response from {endpoint}: UpdateTaskProtection: malformed JSON"
        )),
        "{malformed}"
    );
    assert_eq!(
        call().to_string(),
        format!(
            "unexpected response from {endpoint}: field protectedTasks[0].protectionEnabled is \
             missing or not a boolean"
        )
    );
    assert_eq!(
        call().to_string(),
        format!(
            "unexpected response from {endpoint}: field protectedTasks[0].expirationDate: \
             expected epoch seconds, got \"tomorrow\""
        )
    );
    assert_eq!(
        call().to_string(),
        format!("unexpected response from {endpoint}: protectedTasks and failures are both empty")
    );
}

#[test]
fn unreachable_endpoint_is_a_transport_error() {
    let url = closed_port_url();
    let client = EcsClient::builder()
        .env(&Env::from_vars([
            ("AWS_ENDPOINT_URL_ECS", url.as_str()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ]))
        .task(TASK_ARN, CLUSTER)
        .max_attempts(2)
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    let err = client.update_task_protection(true, Some(60)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                timed_out: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("request to {url}/ failed"));
}

#[test]
fn task_and_region_come_from_metadata_once() {
    let mut metadata = TestServer::start(vec![Reply::json(200, &task_json(Some("orders")))]);
    let mut ecs = TestServer::start(vec![Reply::json(200, &protected(true, Some(1.8e9)))]);
    let uri = format!("{}/v4/abc", metadata.url);
    let env = Env::from_vars([
        ("ECS_CONTAINER_METADATA_URI_V4", uri.as_str()),
        ("AWS_ENDPOINT_URL", ecs.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
    ]);
    let client = EcsClient::from_env_with(&env).unwrap();
    assert!(
        metadata.requests().is_empty(),
        "nothing is fetched at construction"
    );
    client.update_task_protection(true, Some(60)).unwrap();
    client.update_task_protection(false, None).unwrap();
    assert_eq!(metadata.requests().len(), 1);
    let seen = ecs.requests().to_vec();
    assert_eq!(body(&seen[0])["cluster"], CLUSTER);
    assert_eq!(body(&seen[0])["tasks"][0], TASK_ARN);
    // The region came from the task ARN.
    assert!(
        seen[0]
            .header("authorization")
            .unwrap()
            .contains("/eu-west-1/ecs/")
    );
}

#[test]
fn bad_configuration_fails_at_construction_naming_the_setting() {
    let base = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/x"),
    ];
    let build = |extra: &[(&str, &str)], drop: &str| {
        let vars = base
            .iter()
            .filter(|(k, _)| *k != drop)
            .chain(extra)
            .copied()
            .collect::<Vec<_>>();
        EcsClient::from_env_with(&Env::from_vars(vars))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(EcsClient::from_env_with(&Env::from_vars(base)).is_ok());
    for (extra, drop, expected) in [
        (
            &[("AWS_MAX_ATTEMPTS", "lots")][..],
            "",
            "invalid AWS_MAX_ATTEMPTS: ",
        ),
        (
            &[("AWS_ENDPOINT_URL_ECS", "nope")][..],
            "",
            "invalid AWS_ENDPOINT_URL_ECS: ",
        ),
        (
            &[("AWS_REGION", "Europe")][..],
            "AWS_REGION",
            "invalid AWS_REGION: ",
        ),
        (
            &[][..],
            "AWS_SECRET_ACCESS_KEY",
            "invalid AWS_SECRET_ACCESS_KEY: ",
        ),
        (
            &[][..],
            "ECS_CONTAINER_METADATA_URI_V4",
            "invalid ECS_CONTAINER_METADATA_URI_V4: is not set",
        ),
        (
            &[("ECS_CONTAINER_METADATA_URI_V4", "x")][..],
            "ECS_CONTAINER_METADATA_URI_V4",
            "invalid ECS_CONTAINER_METADATA_URI_V4: ",
        ),
        (&[][..], "AWS_ACCESS_KEY_ID", "invalid AWS_ACCESS_KEY_ID: "),
        (
            &[("AWS_RETRY_MODE", "fast")][..],
            "",
            "invalid AWS_RETRY_MODE: ",
        ),
        (
            &[("AWS_ENDPOINT_URL_ECS", "https://ecs.bücher.example/")][..],
            "",
            "invalid AWS_ENDPOINT_URL_ECS: expected an ASCII URL",
        ),
        (
            &[("AWS_SESSION_TOKEN", "tok en")][..],
            "",
            "invalid AWS_SESSION_TOKEN: the session token contains a space",
        ),
        (
            &[("HTTPS_PROXY", "ftp://proxy:21")][..],
            "",
            "invalid HTTPS_PROXY: expected a proxy URL",
        ),
        (
            &[("AWS_CA_BUNDLE", "/nonexistent/ca.pem")][..],
            "",
            "invalid AWS_CA_BUNDLE: /nonexistent/ca.pem: cannot read the file",
        ),
    ] {
        let err = build(extra, drop);
        assert!(err.starts_with(expected), "{expected} / {err}");
    }
    let err = EcsClient::builder()
        .env(&Env::from_vars(base))
        .max_attempts(0)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid EcsClientBuilder::max_attempts: expected 1..=100, got 0"
    );
    let ecs = TestServer::start(vec![]);
    let err = client(&ecs, &[])
        .update_task_protection(true, Some(0))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid expires_in_minutes: expected 1..=2880 minutes, got 0"
    );
    // Given a task id (not an ARN) and no region, the region cannot be found.
    let err = EcsClient::builder()
        .env(&Env::from_vars([
            ("AWS_ACCESS_KEY_ID", "A"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
        ]))
        .task("158d1c8083dd", "default")
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid AWS_REGION: is not set"),
        "{err}"
    );
}

#[test]
fn debug_shows_no_secrets() {
    let ecs = TestServer::start(vec![]);
    let shown = format!("{:?}", client(&ecs, &[]));
    assert!(
        !shown.contains("wJalrXUtnFEMI") && !shown.contains("session-token-1"),
        "{shown}"
    );
}

/// One log record of this test process.
#[derive(Clone, Debug)]
struct Record {
    level: log::Level,
    target: String,
    message: String,
    /// The thread that logged it: ureq's wire dump is one row per record, and rows from
    /// other tests' threads interleave.
    thread: std::thread::ThreadId,
}

/// Every log record of this test process, at every level (ureq's included).
fn captured_logs() -> &'static Mutex<Vec<Record>> {
    struct Capture(Mutex<Vec<Record>>);
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Record {
                    level: record.level(),
                    target: record.target().to_owned(),
                    message: record.args().to_string(),
                    thread: std::thread::current().id(),
                });
        }
        fn flush(&self) {}
    }
    static CAPTURE: std::sync::OnceLock<&'static Capture> = std::sync::OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        // Only this test installs a logger in the library's unit tests.
        log::set_logger(capture).expect("no other logger in the lib tests");
        log::set_max_level(log::LevelFilter::Trace);
        capture
    });
    &capture.0
}

/// The bytes of ureq's `TRACE` wire dump (`ureq_proto::util`: rows of
/// `4745 5420 2f63 ...  GET./c...`, 16 bytes each, `--` past the end), per thread, in order.
fn wire_dump(records: &[Record]) -> Vec<Vec<u8>> {
    let mut threads: Vec<(std::thread::ThreadId, Vec<u8>)> = Vec::new();
    for record in records.iter().filter(|r| r.target == "ureq_proto::util") {
        let hex: String = record
            .message
            .split("  ")
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = hex
            .as_bytes()
            .chunks(2)
            .filter(|pair| *pair != b"--")
            .map(|pair| {
                let pair = std::str::from_utf8(pair).expect("ASCII");
                u8::from_str_radix(pair, 16)
                    .unwrap_or_else(|_| panic!("not a wire dump row: {:?}", record.message))
            });
        match threads.iter_mut().find(|(id, _)| *id == record.thread) {
            Some((_, dump)) => dump.extend(bytes),
            None => threads.push((record.thread, bytes.collect())),
        }
    }
    threads.into_iter().map(|(_, dump)| dump).collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// No secret in what this crate logs or shows, at any level; ureq's `TRACE` wire dump (hex
/// rows, decoded here) does carry them, as the README's "Logs" section and the crate docs
/// say, and the documented filter (`ureq=warn,ureq_proto=warn`) removes every line that does.
#[test]
fn no_secret_in_log_lines_or_errors() {
    let logs = captured_logs();
    let soon = SystemTime::now() + Duration::from_secs(5 * 60);
    let creds_body = credentials_json("ASIALOGGED", soon);
    let creds = TestServer::start(vec![Reply::json(200, &creds_body)]);
    let skewed = http_date(SystemTime::now() + Duration::from_secs(900));
    let ecs = TestServer::start(vec![
        Reply::json(400, r#"{"__type":"ThrottlingException"}"#),
        Reply::json(
            400,
            r#"{"__type":"InvalidSignatureException","message":"Signature expired"}"#,
        )
        .header("Date", &skewed),
        Reply::json(200, &protected(true, Some(1.8e9))),
        Reply::json(
            400,
            r#"{"__type":"AccessDeniedException","message":"denied"}"#,
        ),
    ]);
    let full_uri = format!("{}/creds", creds.url);
    let client = EcsClient::builder()
        .env(&Env::from_vars([
            ("AWS_ENDPOINT_URL_ECS", ecs.url.as_str()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                "container-auth-token-xyz",
            ),
        ]))
        .task(TASK_ARN, CLUSTER)
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    client.update_task_protection(true, Some(60)).unwrap();
    let err = client.update_task_protection(true, Some(60)).unwrap_err();
    let shown = format!("{err} {err:?} {client:?}");
    let records = logs.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let text = |records: &[&Record]| -> String {
        records
            .iter()
            .map(|r| format!("{} {}: {}\n", r.level, r.target, r.message))
            .collect()
    };
    let ours: Vec<&Record> = records
        .iter()
        .filter(|r| r.target.starts_with("ecs_protect"))
        .collect();
    let ours = text(&ours);
    assert!(
        ours.contains("signing with the server's time"),
        "the capture works"
    );
    // ureq's lines other than the hex rows (its DEBUG request and response lines).
    let ureq_plain: Vec<&Record> = records
        .iter()
        .filter(|r| r.target.starts_with("ureq") && r.target != "ureq_proto::util")
        .collect();
    let ureq_plain = text(&ureq_plain);
    // What the documented filter lets through: everything but ureq's targets below WARN.
    let filtered: Vec<&Record> = records
        .iter()
        .filter(|r| !r.target.starts_with("ureq") || r.level <= log::Level::Warn)
        .collect();
    let filtered_dump = wire_dump(&filtered.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
    let filtered = text(&filtered);
    let dump = wire_dump(&records);
    assert!(
        !dump.is_empty(),
        "ureq no longer dumps the wire at TRACE: update the README's Logs section, the crate \
         docs and this test"
    );
    for secret in [
        "secret-ASIALOGGED",
        "token-ASIALOGGED",
        "container-auth-token-xyz",
    ] {
        assert!(!ours.contains(secret), "{secret} in this crate's logs");
        assert!(!shown.contains(secret), "{secret} in {shown}");
        assert!(
            !ureq_plain.contains(secret),
            "{secret} in ureq's non-dump lines"
        );
        assert!(
            !filtered.contains(secret),
            "{secret} through the documented filter"
        );
        assert!(
            filtered_dump.is_empty(),
            "a wire dump through the documented filter"
        );
        // The documented leak: the raw wire, secrets included, at TRACE.
        assert!(
            dump.iter().any(|bytes| contains(bytes, secret)),
            "{secret} is no longer in ureq's TRACE wire dump: update the README's Logs \
             section, the crate docs and this test"
        );
    }
}

/// A client whose credentials come from the scripted container endpoint `creds`.
fn container_client(ecs: &TestServer, creds: &TestServer) -> EcsClient {
    let full_uri = format!("{}/creds", creds.url);
    EcsClient::builder()
        .env(&Env::from_vars([
            ("AWS_ENDPOINT_URL_ECS", ecs.url.as_str()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
        ]))
        .task(TASK_ARN, CLUSTER)
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap()
}

fn signed_with(seen: &Seen) -> String {
    let auth = seen.header("authorization").expect("authorization");
    auth.split("Credential=")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn an_expired_token_answer_fetches_fresh_credentials_and_retries_once() {
    let later = SystemTime::now() + Duration::from_secs(3600);
    let mut creds = TestServer::start(vec![
        Reply::json(200, &credentials_json("ASIAFIRST", later)),
        Reply::json(200, &credentials_json("ASIASECOND", later)),
        Reply::json(200, &credentials_json("ASIATHIRD", later)),
    ]);
    let expired = r#"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#;
    let mut ecs = TestServer::start(vec![
        Reply::json(400, expired),
        Reply::json(200, &protected(true, Some(1.8e9))),
    ]);
    let client = container_client(&ecs, &creds);
    let state = client.update_task_protection(true, Some(30)).unwrap();
    assert!(state.enabled);
    let seen = ecs.requests().to_vec();
    assert_eq!(seen.len(), 2);
    assert_eq!(signed_with(&seen[0]), "ASIAFIRST");
    assert_eq!(signed_with(&seen[1]), "ASIASECOND");
    assert_signed_by(
        &seen[1],
        "ASIASECOND",
        "secret-ASIASECOND",
        Some("token-ASIASECOND"),
    );
    assert_eq!(creds.requests().len(), 2);

    // Expired again after the refresh: returned, after one retry only.
    ecs.script(vec![Reply::json(400, expired)]);
    let err = client.update_task_protection(true, Some(30)).unwrap_err();
    assert_eq!(
        err.as_api().map(|a| a.code.as_str()),
        Some("ExpiredTokenException")
    );
    assert_eq!(ecs.requests().len(), 4);
    assert_eq!(creds.requests().len(), 3);
}

#[test]
fn a_token_with_a_newline_is_a_configuration_error() {
    let mut ecs = TestServer::start(vec![Reply::json(200, &protected(true, Some(1.8e9)))]);
    let url = ecs.url.clone();
    let build = |creds: Credentials| {
        EcsClient::builder()
            .env(&Env::from_vars([
                ("AWS_ENDPOINT_URL_ECS", url.as_str()),
                ("AWS_REGION", "eu-west-1"),
            ]))
            .task(TASK_ARN, CLUSTER)
            .credentials(creds)
            .build()
    };
    let err = build(Credentials::new("ASIA", "secret", Some("token-1\n".into()))).unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(
        err.to_string(),
        "invalid EcsClientBuilder::credentials: the session token contains a newline, \
         which cannot be sent in a header"
    );
    assert!(!err.to_string().contains("token-1"));
    // From the environment the variable is trimmed, as the Rust SDK does.
    let client = client(&ecs, &[("AWS_SESSION_TOKEN", "session-token-1\n")]);
    client.update_task_protection(true, Some(30)).unwrap();
    assert_eq!(
        ecs.requests()[0].header("x-amz-security-token"),
        Some("session-token-1")
    );
    // Inside the value it is refused, naming the variable.
    let err = EcsClient::builder()
        .env(&Env::from_vars([
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "ASIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "line-one\nline-two"),
        ]))
        .task(TASK_ARN, CLUSTER)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid AWS_SESSION_TOKEN: the session token contains a newline, which cannot be \
         sent in a header"
    );
    assert_eq!(ecs.requests().len(), 1);
}

#[test]
fn the_credential_id_is_redacted_in_errors_debug_and_logs() {
    const ID: &str = "/v2/credentials/7f3c2b1a-secret-credential-id";
    let logs = captured_logs();
    let ecs = TestServer::start(vec![]);
    // The agent's credentials host is a closed local port here (never 169.254.170.2 from a
    // test): the fetch fails, naming the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    crate::aws::credentials::container::test_host::set(&origin);
    let client = EcsClient::builder()
        .env(&Env::from_vars([
            ("AWS_ENDPOINT_URL_ECS", ecs.url.as_str()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ID),
        ]))
        .task(TASK_ARN, CLUSTER)
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.update_task_protection(true, Some(30)).unwrap_err();
    let shown = format!("{err} {err:?} {client:?} {client:#?}");
    assert!(
        shown.contains(&format!("{origin}/** credential id redacted **")),
        "{shown}"
    );
    // This crate's log lines; ureq logs request URIs at debug level under its own target
    // (the README says to keep `ureq` at info or above).
    let logs = logs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|record| record.target.starts_with("ecs_protect"))
        .map(|record| record.message.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(logs.contains("credential id redacted"), "the capture works");
    for text in [&shown, &logs] {
        assert!(!text.contains("7f3c2b1a-secret-credential-id"), "{text}");
    }
}

#[test]
fn proxies_come_from_the_clients_env() {
    let mut proxy = TestServer::start(vec![Reply::json(502, "{}")]);
    let mut ecs = TestServer::start(vec![Reply::json(200, &protected(true, Some(1.8e9)))]);
    // Through HTTP_PROXY: the proxy is asked to connect to the ECS endpoint.
    let proxied = client(&ecs, &[("HTTP_PROXY", proxy.url.as_str())]);
    assert!(proxied.update_task_protection(true, Some(30)).is_err());
    let seen = proxy.requests().to_vec();
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].path, ecs.url.trim_start_matches("http://"));
    assert!(ecs.requests().is_empty());
    // NO_PROXY names the endpoint's host: direct.
    let direct = client(
        &ecs,
        &[
            ("HTTP_PROXY", proxy.url.as_str()),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    assert!(
        direct
            .update_task_protection(true, Some(30))
            .unwrap()
            .enabled
    );
    assert_eq!(ecs.requests().len(), 1);
    assert_eq!(proxy.requests().len(), seen.len());
}

/// Issue 19, from the outside: with a container endpoint configured, a profile whose keys
/// are indented (as botocore reads them) signs the call; a profile with `role_arn` and
/// keys, and web identity in the environment, stop the client before any request, instead
/// of signing as the base keys or the container's role.
#[test]
fn the_configured_identity_signs_or_nothing_does() {
    let later = SystemTime::now() + Duration::from_secs(3600);
    let mut creds = TestServer::start(vec![Reply::json(
        200,
        &credentials_json("ASIACONTAINER", later),
    )]);
    let full_uri = format!("{}/creds", creds.url);
    let home = std::env::temp_dir().join(format!(
        "ecs-protect-identity-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    let build = |ecs: &TestServer, credentials_file: &str, extra: &[(&str, &str)]| {
        std::fs::write(home.join(".aws/credentials"), credentials_file).unwrap();
        let home = home.display().to_string();
        let mut vars = vec![
            ("AWS_ENDPOINT_URL_ECS", ecs.url.as_str()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("HOME", home.as_str()),
        ];
        vars.extend_from_slice(extra);
        EcsClient::builder()
            .env(&Env::from_vars(vars))
            .task(TASK_ARN, CLUSTER)
            .build()
    };
    let mut ecs = TestServer::start(vec![Reply::json(200, &protected(true, Some(1.8e9)))]);
    let indented = "[default]\n  aws_access_key_id = AKIAINDENTED\n  aws_secret_access_key = s\n";
    build(&ecs, indented, &[])
        .unwrap()
        .update_task_protection(true, Some(60))
        .unwrap();
    let seen = ecs.requests().to_vec();
    assert_eq!(seen.len(), 1);
    assert_eq!(signed_with(&seen[0]), "AKIAINDENTED");

    let role = "[default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n\
                aws_access_key_id = AKIABASE\naws_secret_access_key = s\n";
    let err = build(&ecs, role, &[]).unwrap_err().to_string();
    assert!(err.contains("unsupported: assume-role profile"), "{err}");
    let err = build(
        &ecs,
        "",
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/pod"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("invalid AWS_WEB_IDENTITY_TOKEN_FILE"),
        "{err}"
    );
    // Nothing else was signed, and the container's role was never asked.
    assert_eq!(ecs.requests().len(), 1);
    assert!(creds.requests().is_empty());
    let _ = std::fs::remove_dir_all(&home);
}
