//! SigV4 signing speed: `ecs_protect::unversioned::sigv4::Signer::sign` against the official
//! `aws-sigv4` crate's `http_request::sign`, on the same UpdateTaskProtection request, in the
//! same run.
//!
//! Both sign with the same credentials (with a session token) and time, and the bench first
//! checks that both produce the same `Authorization` header. After criterion, a plain timed
//! loop prints one line: `sign: ecs-protect X ns, aws-sigv4 Y ns, ratio X/Y` (goal: at
//! most 1.0), then the same for ecs-protect with a new `Signer` per call, which derives the
//! signing key every time as aws-sigv4 does (isolating what the key cache saves).
//!
//! `cargo bench -p ecs-protect-tests --bench sign`

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest as AwsSignableRequest, SigningParams as AwsSigningParams,
    SigningSettings as AwsSigningSettings, sign as aws_sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::Criterion;
use ecs_protect::unversioned::sigv4::{SignableRequest, Signer, SigningParams};

const ACCESS_KEY_ID: &str = "ASIAEXAMPLEEXAMPLE12";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexampleexample==";
const REGION: &str = "us-east-1";
const SERVICE: &str = "ecs";
const HOST: &str = "ecs.us-east-1.amazonaws.com";
const URL: &str = "https://ecs.us-east-1.amazonaws.com/";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET: &str = "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection";
const BODY: &[u8] = br#"{"cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/workers","tasks":["arn:aws:ecs:us-east-1:123456789012:task/workers/0123456789abcdef0123456789abcdef"],"protectionEnabled":true,"expiresInMinutes":60}"#;
const HEADERS: [(&str, &str); 3] = [
    ("content-type", CONTENT_TYPE),
    ("host", HOST),
    ("x-amz-target", TARGET),
];

fn time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600) // 2026-01-01
}

/// ecs-protect: sign and return the `Authorization` header.
fn sign_ours(signer: &Signer) -> String {
    let request = SignableRequest {
        method: "POST",
        path: "/",
        query: &[],
        headers: &HEADERS,
        body: BODY,
    };
    let params = SigningParams {
        access_key_id: ACCESS_KEY_ID,
        secret_access_key: SECRET,
        session_token: Some(TOKEN),
        region: REGION,
        service: SERVICE,
        time: time(),
    };
    let signed = signer.sign(&request, &params);
    let (_, authorization) = signed
        .headers()
        .iter()
        .find(|(name, _)| *name == "authorization")
        .expect("ecs-protect adds an authorization header");
    authorization.clone()
}

/// aws-sigv4: sign and return the `Authorization` header (its API as the SDK uses it).
fn sign_theirs(identity: &Identity) -> String {
    let params: AwsSigningParams<'_> = v4::SigningParams::builder()
        .identity(identity)
        .region(REGION)
        .name(SERVICE)
        .time(time())
        .settings(AwsSigningSettings::default())
        .build()
        .expect("valid aws-sigv4 params")
        .into();
    let request = AwsSignableRequest::new(
        "POST",
        URL,
        HEADERS.iter().copied(),
        SignableBody::Bytes(BODY),
    )
    .expect("valid aws-sigv4 request");
    let (instructions, _signature) = aws_sign(request, &params)
        .expect("aws-sigv4 signs")
        .into_parts();
    let (headers, _) = instructions.into_parts();
    headers
        .iter()
        .find(|header| header.name() == "authorization")
        .map(|header| header.value().to_owned())
        .expect("aws-sigv4 adds an authorization header")
}

/// Mean nanoseconds per call over a timed loop of at least `min` (after a warm-up).
fn nanos_per_call(min: Duration, mut op: impl FnMut()) -> f64 {
    for _ in 0..1_000 {
        op();
    }
    let mut calls: u64 = 0;
    let start = Instant::now();
    while start.elapsed() < min {
        for _ in 0..1_000 {
            op();
        }
        calls += 1_000;
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn main() {
    let signer = Signer::new();
    let identity: Identity =
        Credentials::new(ACCESS_KEY_ID, SECRET, Some(TOKEN.to_owned()), None, "bench").into();

    let ours = sign_ours(&signer);
    let theirs = sign_theirs(&identity);
    assert_eq!(
        ours, theirs,
        "ecs-protect and aws-sigv4 must sign the same request identically"
    );

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("sign UpdateTaskProtection");
    group.bench_function("ecs-protect", |b| {
        b.iter(|| black_box(sign_ours(black_box(&signer))))
    });
    // A new signer per call: the signing key is derived every time, as aws-sigv4 does.
    group.bench_function("ecs-protect, no key cache", |b| {
        b.iter(|| black_box(sign_ours(&Signer::new())))
    });
    group.bench_function("aws-sigv4", |b| {
        b.iter(|| black_box(sign_theirs(black_box(&identity))))
    });
    group.finish();
    c.final_summary();

    let window = Duration::from_secs(2);
    let ours_ns = nanos_per_call(window, || {
        black_box(sign_ours(black_box(&signer)));
    });
    let cold_ns = nanos_per_call(window, || {
        black_box(sign_ours(&Signer::new()));
    });
    let theirs_ns = nanos_per_call(window, || {
        black_box(sign_theirs(black_box(&identity)));
    });
    println!(
        "sign: ecs-protect {ours_ns:.0} ns, aws-sigv4 {theirs_ns:.0} ns, ratio {:.2}",
        ours_ns / theirs_ns
    );
    println!(
        "sign without the key cache: ecs-protect {cold_ns:.0} ns, ratio {:.2}",
        cold_ns / theirs_ns
    );
}
