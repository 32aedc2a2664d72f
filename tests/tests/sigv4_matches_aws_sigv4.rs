//! ecs-protect's signer produces exactly the headers the official `aws-sigv4` crate (the
//! AWS SDK for Rust's signer) produces, on the requests this crate sends: ECS JSON 1.1 calls
//! with and without a session token, endpoint overrides with a port, SQS calls with a path
//! and query, other regions, and times on both sides of midnight UTC.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest as AwsRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use ecs_protect::unversioned::sigv4::{SignableRequest, Signer, SigningParams};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token==";

struct Case {
    name: &'static str,
    /// The URL as aws-sigv4 takes it (already percent-encoded).
    url: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    headers: &'static [(&'static str, &'static str)],
    body: &'static [u8],
    region: &'static str,
    service: &'static str,
    token: Option<&'static str>,
    unix_seconds: u64,
}

const UPDATE: &[u8] = br#"{"cluster":"workers","tasks":["arn:aws:ecs:us-east-1:123456789012:task/workers/abc"],"protectionEnabled":true,"expiresInMinutes":60}"#;
const GET: &[u8] =
    br#"{"cluster":"workers","tasks":["arn:aws:ecs:us-east-1:123456789012:task/workers/abc"]}"#;

const CASES: &[Case] = &[
    Case {
        name: "UpdateTaskProtection with a session token",
        url: "https://ecs.us-east-1.amazonaws.com/",
        path: "/",
        query: &[],
        headers: &[
            ("host", "ecs.us-east-1.amazonaws.com"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection"),
        ],
        body: UPDATE,
        region: "us-east-1",
        service: "ecs",
        token: Some(TOKEN),
        unix_seconds: 1_767_225_600,
    },
    Case {
        name: "GetTaskProtection without a token, just before midnight",
        url: "https://ecs.eu-west-1.amazonaws.com/",
        path: "/",
        query: &[],
        headers: &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Host", "ecs.eu-west-1.amazonaws.com"),
            ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.GetTaskProtection"),
        ],
        body: GET,
        region: "eu-west-1",
        service: "ecs",
        token: None,
        unix_seconds: 1_767_311_999,
    },
    Case {
        name: "endpoint override with a port",
        url: "http://localhost:4566/",
        path: "/",
        query: &[],
        headers: &[
            ("host", "localhost:4566"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection"),
            ("user-agent-extra", "  spaced   value  "),
        ],
        body: UPDATE,
        region: "ap-southeast-2",
        service: "ecs",
        token: Some(TOKEN),
        unix_seconds: 1_767_312_000,
    },
    Case {
        name: "SQS with a path and a query",
        url: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs?b=2&Action=ReceiveMessage&a=x%20y%2Fz",
        path: "/123456789012/jobs",
        query: &[("b", "2"), ("Action", "ReceiveMessage"), ("a", "x y/z")],
        headers: &[
            ("host", "sqs.us-east-1.amazonaws.com"),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.ReceiveMessage"),
        ],
        body: br#"{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/jobs","MaxNumberOfMessages":10}"#,
        region: "us-east-1",
        service: "sqs",
        token: Some(TOKEN),
        unix_seconds: 1_700_000_000,
    },
];

fn sorted(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.sort();
    headers
}

#[test]
fn headers_match_aws_sigv4_byte_for_byte() {
    let signer = Signer::new();
    for case in CASES {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(case.unix_seconds);
        let signed = signer.sign(
            &SignableRequest {
                method: "POST",
                path: case.path,
                query: case.query,
                headers: case.headers,
                body: case.body,
            },
            &SigningParams {
                access_key_id: "ASIAEXAMPLE",
                secret_access_key: SECRET,
                session_token: case.token,
                region: case.region,
                service: case.service,
                time,
            },
        );
        let ours = sorted(
            signed
                .headers()
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        );

        let identity: Identity = Credentials::new(
            "ASIAEXAMPLE",
            SECRET,
            case.token.map(str::to_owned),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(case.region)
            .name(case.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .expect("valid aws-sigv4 params")
            .into();
        let request = AwsRequest::new(
            "POST",
            case.url,
            case.headers.iter().copied(),
            SignableBody::Bytes(case.body),
        )
        .expect("valid aws-sigv4 request");
        let (instructions, _) = aws_sigv4::http_request::sign(request, &params)
            .expect("aws-sigv4 signs")
            .into_parts();
        let (headers, query) = instructions.into_parts();
        assert!(
            query.is_empty(),
            "{}: aws-sigv4 added query parameters",
            case.name
        );
        let theirs = sorted(
            headers
                .iter()
                .map(|header| (header.name().to_owned(), header.value().to_owned()))
                .collect(),
        );

        assert_eq!(ours, theirs, "{}: signed headers differ", case.name);
    }
}
