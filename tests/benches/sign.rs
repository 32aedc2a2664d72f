//! Signing one UpdateTaskProtection request: `ecs_protect::sigv4` against the official
//! `aws-sigv4` crate, in the same run, on the same inputs (POST /, content-type, host with
//! a port, x-amz-target, a JSON body, a session token). Goal: ours at most as slow.
//!
//! Both are measured by criterion, then once more in an interleaved loop whose per-call
//! times and ratio are printed (criterion does not hand its estimates back to the program).
//!
//! `cargo bench -p ecs-protect-tests --bench sign`

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest as AwsSignableRequest, SigningSettings as AwsSigningSettings,
    sign as aws_sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::Criterion;
use ecs_protect::sigv4::{SignableRequest, Signer, SigningParams};

const ACCESS_KEY: &str = "ASIAQEXAMPLEEXAMPLE1";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJHMEUCIQDexampleexampleexampleexampleexampleexampleexampleexampleexampleAiAexampleexampleexampleexampleexampleexampleexampleexampleexampleKvgDCKP//////////ARAAGgwxMTExMjIyMjMzMzMiDexampleexample==";
const HOST: &str = "127.0.0.1:4566";
const TARGET: &str = "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection";
const BODY: &[u8] = br#"{"cluster":"arn:aws:ecs:eu-west-1:111122223333:cluster/default","tasks":["arn:aws:ecs:eu-west-1:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c"],"protectionEnabled":true,"expiresInMinutes":60}"#;
const HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/x-amz-json-1.1"),
    ("host", HOST),
    ("x-amz-target", TARGET),
];

/// Signs with this crate; returns the Authorization value.
fn ours(signer: &Signer, time: SystemTime) -> String {
    let signed = signer.sign(
        &SignableRequest {
            method: "POST",
            path: "/",
            query: &[],
            headers: HEADERS,
            body: BODY,
        },
        &SigningParams {
            access_key_id: ACCESS_KEY,
            secret_access_key: SECRET,
            session_token: Some(TOKEN),
            region: "eu-west-1",
            service: "ecs",
            time,
        },
    );
    signed.authorization().to_owned()
}

/// Signs with `aws-sigv4`; returns the Authorization value.
fn official(identity: &Identity, time: SystemTime) -> String {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region("eu-west-1")
        .name("ecs")
        .time(time)
        .settings(AwsSigningSettings::default())
        .build()
        .expect("aws-sigv4 params")
        .into();
    let request = AwsSignableRequest::new(
        "POST",
        "http://127.0.0.1:4566/",
        HEADERS.iter().copied(),
        SignableBody::Bytes(BODY),
    )
    .expect("aws-sigv4 request");
    let (instructions, _signature) = aws_sign(request, &params)
        .expect("aws-sigv4 signs")
        .into_parts();
    instructions
        .headers()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.to_owned())
        .expect("aws-sigv4 authorization header")
}

fn identity() -> Identity {
    Credentials::new(ACCESS_KEY, SECRET, Some(TOKEN.to_owned()), None, "bench").into()
}

/// Both signers must produce the same Authorization header, or the comparison is moot.
fn same_output(signer: &Signer, identity: &Identity, time: SystemTime) {
    assert_eq!(
        ours(signer, time),
        official(identity, time),
        "signatures differ"
    );
}

fn criterion_benches(c: &mut Criterion, signer: &Signer, identity: &Identity, time: SystemTime) {
    let mut group = c.benchmark_group("sign UpdateTaskProtection");
    group.bench_function("ecs-protect", |b| {
        b.iter(|| black_box(ours(signer, black_box(time))))
    });
    group.bench_function("ecs-protect, new signer each call (no cached key)", |b| {
        b.iter(|| black_box(ours(&Signer::new(), black_box(time))))
    });
    group.bench_function("aws-sigv4", |b| {
        b.iter(|| black_box(official(identity, black_box(time))))
    });
    group.finish();
}

/// Interleaved rounds of each; prints the median per-call time of each and the ratio.
fn ratio(signer: &Signer, identity: &Identity, time: SystemTime) {
    const ROUNDS: usize = 15;
    const CALLS: u32 = 4_000;
    let mut ours_t = Vec::with_capacity(ROUNDS);
    let mut theirs_t = Vec::with_capacity(ROUNDS);
    let mut uncached_t = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..CALLS {
            black_box(ours(&Signer::new(), black_box(time)));
        }
        uncached_t.push(start.elapsed() / CALLS);
        let start = Instant::now();
        for _ in 0..CALLS {
            black_box(ours(signer, black_box(time)));
        }
        ours_t.push(start.elapsed() / CALLS);
        let start = Instant::now();
        for _ in 0..CALLS {
            black_box(official(identity, black_box(time)));
        }
        theirs_t.push(start.elapsed() / CALLS);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut ours_t), median(&mut theirs_t));
    let u = median(&mut uncached_t);
    println!(
        "sign UpdateTaskProtection: ecs-protect {a:.2?}/call, aws-sigv4 {b:.2?}/call, \
         ratio ours/theirs = {:.2} (goal <= 1.00); without the key cache {u:.2?}/call, \
         ratio {:.2}",
        a.as_secs_f64() / b.as_secs_f64(),
        u.as_secs_f64() / b.as_secs_f64()
    );
}

fn main() {
    let signer = Signer::new();
    let identity = identity();
    let time = SystemTime::now();
    same_output(&signer, &identity, time);
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &signer, &identity, time);
    c.final_summary();
    // The interleaved loop takes about a second: only under `cargo bench`.
    if std::env::args().any(|a| a == "--bench") {
        ratio(&signer, &identity, time);
    }
}
