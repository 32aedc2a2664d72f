//! Signed requests: what the crate's signer signs, the fake AWS's verifier accepts, and
//! any change to the request after signing is rejected.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

use super::{check, ensure};
use crate::aws::sigv4::{SignableRequest, Signer, SigningParams, canonical_query_string};
use crate::mock::state::IssuedKey;
use crate::mock::verify::{Expect, Received, verify};

#[derive(Clone, Debug)]
struct Request {
    method: String,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    access_key_id: String,
    secret: String,
    token: Option<String>,
    region: String,
    service: String,
    time: SystemTime,
    tamper: Tamper,
}

#[derive(Clone, Debug)]
enum Tamper {
    Body(u8),
    Method,
    Path,
    Query,
    Header(prop::sample::Index),
    Signature(prop::sample::Index),
    Secret,
}

fn request() -> impl Strategy<Value = Request> {
    let tamper = prop_oneof![
        any::<u8>().prop_map(Tamper::Body),
        Just(Tamper::Method),
        Just(Tamper::Path),
        Just(Tamper::Query),
        any::<prop::sample::Index>().prop_map(Tamper::Header),
        any::<prop::sample::Index>().prop_map(Tamper::Signature),
        Just(Tamper::Secret),
    ];
    (
        (
            "GET|POST|PUT|DELETE",
            vec("[A-Za-z0-9._~-]{1,8}", 0..3),
            vec(("[ -~]{1,6}", "[ -~]{0,6}"), 0..3),
            btree_map("x-[a-z0-9-]{1,10}", "[!-~]([ -~]{0,10}[!-~])?", 0..3),
            vec(any::<u8>(), 0..64),
        ),
        (
            "AKIA[A-Z0-9]{4,12}",
            "[A-Za-z0-9/+]{8,40}",
            option::of("[A-Za-z0-9/+=]{8,40}"),
            "[a-z]{2}-[a-z]{4,9}-[1-9]",
            "[a-z]{2,8}",
            0u64..4_102_444_800,
            tamper,
        ),
    )
        .prop_map(
            |(
                (method, segments, query, headers, body),
                (id, secret, token, region, service, secs, tamper),
            )| Request {
                method,
                segments,
                query,
                headers,
                body,
                access_key_id: id,
                secret,
                token,
                region,
                service,
                time: UNIX_EPOCH + Duration::from_secs(secs),
                tamper,
            },
        )
}

/// The request as a server receives it, signed: method, target, headers, body.
fn sign(r: &Request) -> (String, String, Vec<(String, String)>, Vec<u8>) {
    let path = format!("/{}", r.segments.join("/"));
    let query: Vec<(&str, &str)> = r
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut headers: Vec<(&str, &str)> = vec![("host", "127.0.0.1:4566")];
    headers.extend(r.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let signed = Signer::new().sign(
        &SignableRequest {
            method: &r.method,
            path: &path,
            query: &query,
            headers: &headers,
            body: &r.body,
        },
        &SigningParams {
            access_key_id: &r.access_key_id,
            secret_access_key: &r.secret,
            session_token: r.token.as_deref(),
            region: &r.region,
            service: &r.service,
            time: r.time,
        },
    );
    let wire_query = canonical_query_string(&query);
    let target = if wire_query.is_empty() {
        path
    } else {
        format!("{path}?{wire_query}")
    };
    let received = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .chain(
            signed
                .headers()
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone())),
        )
        .collect();
    (r.method.clone(), target, received, r.body.clone())
}

fn verified(
    r: &Request,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    secret: &str,
) -> Result<String, String> {
    let signer = Signer::new();
    let key = IssuedKey {
        access_key_id: r.access_key_id.clone(),
        secret_access_key: secret.to_owned(),
        session_token: r.token.clone(),
        expiration: None,
    };
    verify(
        &Received {
            method,
            target,
            headers,
            body,
        },
        &Expect {
            signer: &signer,
            region: &r.region,
            service: &r.service,
            now: r.time,
        },
        |id| (id == key.access_key_id).then(|| key.clone()),
    )
    .map_err(|rejection| format!("{}: {}", rejection.code, rejection.message))
}

#[test]
fn the_fake_accepts_what_the_signer_signs_and_nothing_changed() {
    check("signer and verifier", request(), |r| {
        let (method, target, mut headers, mut body) = sign(&r);
        let accepted = verified(&r, &method, &target, &headers, &body, &r.secret);
        ensure(accepted.as_deref() == Ok(r.access_key_id.as_str()), || {
            format!("rejected: {accepted:?}")
        })?;
        let (mut method, mut target, mut secret) = (method, target, r.secret.clone());
        match &r.tamper {
            Tamper::Body(byte) => body.push(*byte),
            Tamper::Method => {
                method = if method == "GET" {
                    "POST".into()
                } else {
                    "GET".into()
                }
            }
            Tamper::Path => target = target.replacen('/', "/x/", 1),
            Tamper::Query => target.push_str(if target.contains('?') {
                "&extra=1"
            } else {
                "?extra=1"
            }),
            Tamper::Header(at) => {
                // A signed header other than the authorization itself.
                let signed: Vec<usize> = (0..headers.len())
                    .filter(|i| headers[*i].0 != "authorization")
                    .collect();
                let i = signed[at.index(signed.len())];
                headers[i].1.push('x');
            }
            Tamper::Signature(at) => {
                let auth = headers
                    .iter_mut()
                    .find(|(n, _)| n == "authorization")
                    .expect("signed");
                let sig_start = auth.1.rfind('=').expect("Signature=") + 1;
                let i = sig_start + at.index(auth.1.len() - sig_start);
                let flipped = if &auth.1[i..=i] == "0" { "1" } else { "0" };
                auth.1.replace_range(i..=i, flipped);
            }
            Tamper::Secret => secret.push('x'),
        }
        let tampered = verified(&r, &method, &target, &headers, &body, &secret);
        ensure(tampered.is_err(), || {
            format!("a request changed by {:?} was accepted", r.tamper)
        })
    });
}

#[test]
fn any_authorization_header_is_rejected_without_panicking() {
    let header = prop_oneof![
        any::<String>(),
        "AWS4-HMAC-SHA256 (Credential=[ -~]{0,30}|SignedHeaders=[a-z;-]{0,20}|Signature=[0-9a-f]{0,64}|,| ){0,6}",
    ];
    check(
        "any Authorization header",
        (header, "[0-9TZ]{0,17}", "[ -~]{0,20}"),
        |(auth, date, target)| {
            let r = Request {
                method: "POST".into(),
                segments: Vec::new(),
                query: Vec::new(),
                headers: BTreeMap::new(),
                body: Vec::new(),
                access_key_id: "AKIAEXAMPLE".into(),
                secret: "secret".into(),
                token: None,
                region: "eu-west-1".into(),
                service: "ecs".into(),
                time: UNIX_EPOCH + Duration::from_secs(1_764_019_800),
                tamper: Tamper::Method,
            };
            let headers = vec![
                ("authorization".to_owned(), auth),
                ("x-amz-date".to_owned(), date),
                ("host".to_owned(), "127.0.0.1".to_owned()),
            ];
            let _ = verified(&r, "POST", &format!("/{target}"), &headers, b"", "secret");
            Ok(())
        },
    );
}
