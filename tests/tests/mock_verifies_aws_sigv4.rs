//! The fake AWS verifies signatures with this crate's own signer; these tests check that
//! verification against an independent signer, the AWS SDK for Rust's `aws-sigv4`: what it
//! signs is accepted, and the same request tampered with after signing is rejected with
//! AWS's error code. A signer bug shared by the client and the fake would fail here.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use ecs_protect::mock::{MockAws, MockCredentials, Operation, Outcome};
use serde_json::{Value, json};

const UPDATE: &str = "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection";
const GET: &str = "AmazonEC2ContainerServiceV20141113.GetTaskProtection";
const JSON_11: &str = "application/x-amz-json-1.1";

/// A request signed by aws-sigv4, ready to be (tampered with and) sent.
struct Signed {
    headers: Vec<(String, String)>,
    body: String,
}

/// Signs `POST /` with `target` and `body` for the fake's region, as aws-sigv4 does.
fn aws_sign(mock: &MockAws, creds: &MockCredentials, target: &str, body: &str) -> Signed {
    let host = mock.url().trim_start_matches("http://").to_owned();
    let base = [
        ("content-type", JSON_11),
        ("host", host.as_str()),
        ("x-amz-target", target),
    ];
    let identity: Identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "mock",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(mock.region())
        .name("ecs")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("valid aws-sigv4 params")
        .into();
    let request = SignableRequest::new(
        "POST",
        mock.url(),
        base.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("aws-sigv4 takes the request");
    let (instructions, _) = sign(request, &params)
        .expect("aws-sigv4 signs")
        .into_parts();
    let (added, _) = instructions.into_parts();
    let mut headers: Vec<(String, String)> = base
        .iter()
        .filter(|(name, _)| *name != "host")
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    headers.extend(
        added
            .iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned())),
    );
    Signed {
        headers,
        body: body.to_owned(),
    }
}

/// Sends `signed` to the fake; the status and AWS's error type (`__type`), if any.
fn send(mock: &MockAws, signed: &Signed) -> (u16, String, Value) {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build(),
    );
    let mut request = agent.post(mock.url());
    for (name, value) in &signed.headers {
        request = request.header(name, value);
    }
    let response = request.send(&signed.body).expect("the fake answers");
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().expect("a body");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let kind = body["__type"].as_str().unwrap_or("").to_owned();
    (status, kind, body)
}

fn enable_body(mock: &MockAws) -> String {
    json!({"cluster": "default", "tasks": [mock.task_arn()], "protectionEnabled": true, "expiresInMinutes": 5})
        .to_string()
}

#[test]
fn the_fake_accepts_requests_signed_by_aws_sigv4() {
    let mock = MockAws::start().expect("the fake starts");
    let creds = mock.credentials();
    assert!(
        creds.session_token.is_some(),
        "container credentials carry a token"
    );
    let (status, kind, body) = send(&mock, &aws_sign(&mock, &creds, UPDATE, &enable_body(&mock)));
    assert_eq!((status, kind.as_str()), (200, ""), "{body}");
    assert!(mock.protected_now());
    let get = json!({"cluster": "default", "tasks": [mock.task_arn()]}).to_string();
    let (status, _, body) = send(&mock, &aws_sign(&mock, &creds, GET, &get));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["protectedTasks"][0]["protectionEnabled"], json!(true));
    let calls = mock.calls();
    assert!(
        calls
            .iter()
            .filter(|c| c.operation.is_ecs())
            .all(|c| c.outcome == Outcome::Accepted),
        "{calls:?}"
    );
}

#[test]
fn the_fake_accepts_static_credentials_signed_by_aws_sigv4() {
    let mock = MockAws::builder()
        .static_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .start()
        .expect("the fake starts");
    // The static key, as a worker with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY signs.
    let creds = MockCredentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
    );
    let (status, _, body) = send(&mock, &aws_sign(&mock, &creds, UPDATE, &enable_body(&mock)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(mock.api_calls(Operation::UpdateTaskProtection), 1);
}

#[test]
fn the_fake_rejects_aws_sigv4_requests_tampered_after_signing() {
    let mock = MockAws::start().expect("the fake starts");
    let creds = mock.credentials();
    let body = enable_body(&mock);
    let header = |signed: &mut Signed, name: &str| -> usize {
        signed
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("aws-sigv4 did not add {name}"))
    };
    type Tamper = fn(&mut Signed, &dyn Fn(&mut Signed, &str) -> usize);
    let cases: [(&str, Tamper); 5] = [
        ("the body", |s, _| s.body = s.body.replace("true", "false")),
        ("the target", |s, h| {
            let i = h(s, "x-amz-target");
            s.headers[i].1 = GET.to_owned();
        }),
        ("the signature's last digit", |s, h| {
            let i = h(s, "authorization");
            let value = &mut s.headers[i].1;
            let last = value.pop().expect("a signature");
            value.push(if last == '0' { '1' } else { '0' });
        }),
        ("the date, by a second", |s, h| {
            let i = h(s, "x-amz-date");
            let value = &mut s.headers[i].1;
            let last = value.remove(value.len() - 2);
            value.insert(value.len() - 1, if last == '0' { '1' } else { '0' });
        }),
        ("the session token", |s, h| {
            let i = h(s, "x-amz-security-token");
            s.headers[i].1.push('x');
        }),
    ];
    for (what, tamper) in cases {
        let mut signed = aws_sign(&mock, &creds, UPDATE, &body);
        tamper(&mut signed, &header);
        let (status, kind, answer) = send(&mock, &signed);
        assert!(
            (400..500).contains(&status)
                && ["InvalidSignatureException", "UnrecognizedClientException"]
                    .contains(&kind.as_str()),
            "tampered {what}: {status} {answer}"
        );
        assert!(!mock.protected_now(), "tampered {what} enabled protection");
    }

    // Signed with the wrong secret: aws-sigv4's signature does not verify either.
    let mut wrong = creds.clone();
    wrong.secret_access_key.push('x');
    let (status, kind, answer) = send(&mock, &aws_sign(&mock, &wrong, UPDATE, &body));
    assert_eq!(
        (status, kind.as_str()),
        (400, "InvalidSignatureException"),
        "{answer}"
    );
    // Every one reached the fake (the tampered target as a GetTaskProtection), none passed.
    let ecs_calls: Vec<_> = mock
        .calls()
        .into_iter()
        .filter(|c| c.operation.is_ecs())
        .collect();
    assert_eq!(ecs_calls.len(), 6, "{ecs_calls:?}");
    assert!(
        ecs_calls.iter().all(|c| c.outcome != Outcome::Accepted),
        "{ecs_calls:?}"
    );
}
