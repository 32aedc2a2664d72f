//! IMDSv2 against a scripted server: token, role name, credentials, refresh, disabled.

use std::time::SystemTime;

use super::*;
use crate::aws::credentials::container::tests::credentials_json;
use crate::aws::http::test_server::{Reply, TestServer, closed_port_url};

fn text(status: u16, body: &str) -> Reply {
    let mut reply = Reply::json(status, body);
    reply.headers.clear();
    reply
}

fn imds_json(id: &str) -> String {
    let json = credentials_json(id, SystemTime::now() + Duration::from_secs(6 * 3600));
    json.replacen('{', r#"{"Code":"Success","Type":"AWS-HMAC","#, 1)
}

fn provider(server: &TestServer) -> ImdsProvider {
    ImdsProvider::from_env(&Env::from_vars([(ENDPOINT, server.url.as_str())]))
        .unwrap()
        .unwrap()
}

#[test]
fn token_then_role_then_credentials() {
    let mut server = TestServer::start(vec![
        text(200, "session-token-1"),
        text(200, "worker-role\n"),
        Reply::json(200, &imds_json("ASIAIMDS")),
    ]);
    let imds = provider(&server);
    let creds = imds.fetch().unwrap();
    assert_eq!(creds.access_key_id(), "ASIAIMDS");
    assert_eq!(creds.session_token(), Some("token-ASIAIMDS"));
    assert!(creds.expires_at().is_some());
    let seen = server.requests().to_vec();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("PUT", TOKEN_PATH)
    );
    assert_eq!(
        seen[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        ("GET", ROLE_PATH)
    );
    assert_eq!(
        seen[1].header("x-aws-ec2-metadata-token"),
        Some("session-token-1")
    );
    assert_eq!(
        seen[2].path,
        "/latest/meta-data/iam/security-credentials/worker-role"
    );
    assert_eq!(
        seen[2].header("x-aws-ec2-metadata-token"),
        Some("session-token-1")
    );
}

#[test]
fn refresh_reuses_the_token_and_replaces_it_when_refused() {
    let mut server = TestServer::start(vec![
        text(200, "session-token-1"),
        text(200, "worker-role"),
        Reply::json(200, &imds_json("ASIAONE")),
        // Refresh: the token is still valid, no PUT.
        text(200, "worker-role"),
        Reply::json(200, &imds_json("ASIATWO")),
        // Next refresh: the token was revoked (401): a new one, then the calls again.
        text(401, ""),
        text(200, "session-token-2"),
        text(200, "worker-role"),
        Reply::json(200, &imds_json("ASIATHREE")),
    ]);
    let imds = provider(&server);
    assert_eq!(imds.fetch().unwrap().access_key_id(), "ASIAONE");
    assert_eq!(imds.fetch().unwrap().access_key_id(), "ASIATWO");
    assert_eq!(imds.fetch().unwrap().access_key_id(), "ASIATHREE");
    let seen = server.requests().to_vec();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "PUT", "GET", "GET", "GET", "GET", "GET", "PUT", "GET", "GET"
        ]
    );
    assert_eq!(
        seen[5].header("x-aws-ec2-metadata-token"),
        Some("session-token-1")
    );
    assert_eq!(
        seen[7].header("x-aws-ec2-metadata-token"),
        Some("session-token-2")
    );
}

#[test]
fn errors_say_what_the_service_answered() {
    let server = TestServer::start(vec![text(200, "tok"), text(404, "")]);
    let err = provider(&server).fetch().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "could not load AWS credentials from EC2 instance metadata at {}/: the instance \
             has no IAM role (instance profile)",
            server.url
        )
    );
    let server = TestServer::start(vec![
        text(200, "tok"),
        text(200, "role"),
        Reply::json(
            200,
            r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"no"}"#,
        ),
    ]);
    let err = provider(&server).fetch().unwrap_err().to_string();
    assert!(
        err.ends_with("role role: the service answered Code AssumeRoleUnauthorizedAccess"),
        "{err}"
    );
}

#[test]
fn disabled_or_absent_metadata_is_skipped_quickly() {
    assert!(
        ImdsProvider::from_env(&Env::from_vars([(DISABLED, "true")]))
            .unwrap()
            .is_none()
    );
    let err = ImdsProvider::from_env(&Env::from_vars([(DISABLED, "yes")])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid AWS_EC2_METADATA_DISABLED: ")
    );
    let err = ImdsProvider::from_env(&Env::from_vars([(ENDPOINT_MODE, "IPv5")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: expected IPv4 or IPv6, got \"IPv5\""
    );
    let v6 = ImdsProvider::from_env(&Env::from_vars([(ENDPOINT_MODE, "ipv6")]))
        .unwrap()
        .unwrap();
    assert_eq!(v6.endpoint().to_string(), "http://[fd00:ec2::254]/");
    let default = ImdsProvider::from_env(&Env::from_vars([("AWS_REGION", "x")]))
        .unwrap()
        .unwrap();
    assert_eq!(default.endpoint().to_string(), "http://169.254.169.254/");

    // Nothing listening: the probe fails at once (one attempt, 1 s timeouts).
    let closed = closed_port_url();
    let absent = ImdsProvider::from_env(&Env::from_vars([(ENDPOINT, closed.as_str())]))
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let err = absent.probe().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string().contains("the session token request failed"),
        "{err}"
    );
}

/// Issue 19: an IMDS that refuses the token `PUT` (403, 404 or 405) is read without a
/// token (IMDSv1), as botocore and the Go SDK do, instead of "no credentials found".
#[test]
fn a_refused_token_request_falls_back_to_imdsv1() {
    for status in [403, 404, 405] {
        let mut server = TestServer::start(vec![
            text(status, ""),
            text(200, "worker-role\n"),
            text(200, "worker-role\n"),
            Reply::json(200, &imds_json("ASIAVONE")),
        ]);
        let imds = provider(&server);
        imds.probe().unwrap();
        let creds = imds.fetch().unwrap();
        assert_eq!(creds.access_key_id(), "ASIAVONE", "{status}");
        let seen = server.requests().to_vec();
        assert_eq!(
            seen.len(),
            4,
            "{status}: one PUT, then GETs without a token"
        );
        assert_eq!(seen[0].method, "PUT");
        for get in &seen[1..] {
            assert_eq!(get.method, "GET");
            assert_eq!(get.header("x-aws-ec2-metadata-token"), None, "{status}");
        }
    }
    // A server refusing everything is not an IMDS: the probe fails, naming both answers.
    let server = TestServer::start(vec![text(403, ""), text(403, "")]);
    let err = provider(&server).probe().unwrap_err().to_string();
    assert!(
        err.contains("the session token request was refused, and GET"),
        "{err}"
    );
    // Other refusals of the token request stay errors, naming the status.
    let server = TestServer::start(vec![text(400, "")]);
    let err = provider(&server).probe().unwrap_err().to_string();
    assert!(
        err.contains("the session token request answered HTTP 400"),
        "{err}"
    );
}
