//! SigV4 verification of a received request, the way AWS checks it: the `Authorization`
//! header's parts, the credential scope, the signed headers, the time window, the access
//! key and session token, then the signature recomputed from the request as received and
//! compared in constant time.
//!
//! The signature is recomputed with this crate's own signer, the one the client signs with:
//! a bug in it would pass here. The official SigV4 vectors (`ecs-protect/tests/sigv4_suite.rs`)
//! and the `aws-sigv4` cross-checks (`tests/tests/sigv4_matches_aws_sigv4.rs`,
//! `tests/tests/mock_verifies_aws_sigv4.rs`) are what check the signer itself.

use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;

use crate::aws::sigv4::{
    SignableRequest, Signer, SigningParams, SigningSettings, format_amz_date, parse_amz_date,
};

use super::state::IssuedKey;

/// The algorithm this fake (and ECS) accepts.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far the request time may be from the fake's clock.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// A request as the server received it.
pub(crate) struct Received<'a> {
    pub(crate) method: &'a str,
    /// The request target as sent: path and optional `?query`.
    pub(crate) target: &'a str,
    /// Header names as sent (any case), values as sent.
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: &'a [u8],
}

impl Received<'_> {
    /// Every value of header `name` (case-insensitive), in the order received.
    pub(crate) fn header_values<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s str> + use<'s> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request was rejected: AWS's error code and message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

fn reject(code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
    }
}

const INCOMPLETE: &str = "IncompleteSignatureException";
const INVALID: &str = "InvalidSignatureException";
const UNRECOGNIZED: &str = "UnrecognizedClientException";
const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const BAD_TOKEN: &str = "The security token included in the request is invalid.";

/// What the verifier needs to know about the fake.
pub(crate) struct Expect<'a> {
    /// Re-signs the received request (its key cache saves derivations).
    pub(crate) signer: &'a Signer,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    /// The fake's clock.
    pub(crate) now: SystemTime,
}

/// Checks the request's signature; returns the access key id that signed it.
pub(crate) fn verify(
    request: &Received<'_>,
    expect: &Expect<'_>,
    lookup: impl FnOnce(&str) -> Option<IssuedKey>,
) -> Result<String, Rejection> {
    let Some(authorization) = request.header("authorization") else {
        return Err(reject(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let parts = parse_authorization(authorization)?;
    let scope: Vec<&str> = parts.credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(reject(
            INCOMPLETE,
            format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term, got '{}'",
                parts.credential
            ),
        ));
    };

    let Some(amz_date_value) = request.header("x-amz-date") else {
        return Err(reject(
            INCOMPLETE,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let amz_date = amz_date_value.trim();
    let Some(sent_at) = parse_amz_date(amz_date) else {
        return Err(reject(
            INCOMPLETE,
            format!("X-Amz-Date '{amz_date_value}' is not in the form YYYYMMDD'T'HHMMSS'Z'"),
        ));
    };
    let amz_day = &amz_date[..8];
    let signed: Vec<&str> = parts.signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(reject(
            INCOMPLETE,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    if !signed.contains(&"x-amz-date") {
        return Err(reject(
            INCOMPLETE,
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    if date != amz_day {
        return Err(reject(
            INVALID,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{date}' != '{amz_day}', from '{amz_date}'."
            ),
        ));
    }
    if region != expect.region {
        return Err(reject(
            INVALID,
            format!(
                "Credential should be scoped to a valid region, not '{region}'. This endpoint \
                 is in '{}'.",
                expect.region
            ),
        ));
    }
    if service != expect.service {
        return Err(reject(
            INVALID,
            format!(
                "Credential should be scoped to correct service: '{}'.",
                expect.service
            ),
        ));
    }
    if terminator != "aws4_request" {
        return Err(reject(
            INVALID,
            format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            ),
        ));
    }
    check_window(amz_date, sent_at, expect.now)?;

    let Some(key) = lookup(access_key_id) else {
        return Err(reject(UNRECOGNIZED, BAD_TOKEN));
    };
    if key.expiration.is_some_and(|e| e <= expect.now) {
        return Err(reject(
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ));
    }
    let sent_token = request.header("x-amz-security-token");
    match (&key.session_token, sent_token) {
        (Some(issued), Some(sent)) if issued == sent => {
            if !signed.contains(&"x-amz-security-token") {
                return Err(reject(
                    INVALID,
                    "The x-amz-security-token header must be a 'SignedHeader' in the AWS \
                     Authorization: sign it as the AWS SDKs do.",
                ));
            }
        }
        (None, None) => {}
        _ => return Err(reject(UNRECOGNIZED, BAD_TOKEN)),
    }

    // Re-sign the request as received, at the time it was signed, with the headers it
    // says it signed (the signer adds x-amz-date and the token itself), then compare.
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(signed.len());
    for name in &signed {
        let before = headers.len();
        headers.extend(request.header_values(name).map(|value| (*name, value)));
        if headers.len() == before {
            return Err(reject(
                INVALID,
                format!("{MISMATCH} (signed header '{name}' is not in the request)"),
            ));
        }
    }
    headers.retain(|(name, _)| !matches!(*name, "x-amz-date" | "x-amz-security-token"));
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target, ""));
    let query = decode_query(query).ok_or_else(|| reject(INVALID, MISMATCH))?;
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let settings =
        SigningSettings::default().sign_session_token(signed.contains(&"x-amz-security-token"));
    let resigned = expect.signer.sign_with(
        // The wire path goes in as is: the signer encodes it once more, which is what
        // services other than S3 compute from the path they receive.
        &SignableRequest {
            method: request.method,
            path,
            query: &query,
            headers: &headers,
            body: request.body,
        },
        &SigningParams {
            access_key_id,
            secret_access_key: &key.secret_access_key,
            session_token: sent_token,
            region,
            service,
            time: sent_at,
        },
        &settings,
    );
    if format_amz_date(sent_at) != amz_date
        || resigned.canonical_request().signed_headers() != parts.signed_headers
    {
        // A leap second, unsorted or upper-case signed headers: AWS would compute a
        // different canonical request.
        return Err(reject(INVALID, MISMATCH));
    }
    let same: bool = resigned
        .signature()
        .as_bytes()
        .ct_eq(parts.signature.as_bytes())
        .into();
    if !same {
        return Err(reject(INVALID, MISMATCH));
    }
    Ok(key.access_key_id)
}

struct AuthorizationParts<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<AuthorizationParts<'_>, Rejection> {
    let Some(rest) = value.strip_prefix(ALGORITHM).filter(|r| r.starts_with(' ')) else {
        let algorithm = value.split(' ').next().unwrap_or("");
        return Err(reject(
            INCOMPLETE,
            format!("Unsupported AWS 'algorithm': '{algorithm}'"),
        ));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let missing = |what: &str| {
        reject(
            INCOMPLETE,
            format!("Authorization header requires '{what}' parameter."),
        )
    };
    Ok(AuthorizationParts {
        credential: credential.ok_or_else(|| missing("Credential"))?,
        signed_headers: signed_headers.ok_or_else(|| missing("SignedHeaders"))?,
        signature: signature.ok_or_else(|| missing("Signature"))?,
    })
}

fn check_window(date: &str, sent: SystemTime, now: SystemTime) -> Result<(), Rejection> {
    let now_text = format_amz_date(now);
    if sent + MAX_SKEW < now {
        let limit = format_amz_date(now - MAX_SKEW);
        return Err(reject(
            INVALID,
            format!("Signature expired: {date} is now earlier than {limit} ({now_text} - 5 min.)"),
        ));
    }
    if sent > now + MAX_SKEW {
        let limit = format_amz_date(now + MAX_SKEW);
        return Err(reject(
            INVALID,
            format!(
                "Signature not yet current: {date} is still later than {limit} ({now_text} + 5 min.)"
            ),
        ));
    }
    Ok(())
}

/// Splits a raw query string into decoded pairs; `None` on a bad escape or non-UTF-8.
fn decode_query(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const SECRET: &str = "mock-secret";
    const TOKEN: &str = "mock-token";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_764_019_800)
    }

    fn key(token: Option<&str>) -> IssuedKey {
        IssuedKey {
            access_key_id: "ASIAMOCK".into(),
            secret_access_key: SECRET.into(),
            session_token: token.map(str::to_owned),
            expiration: Some(now() + Duration::from_secs(3600)),
        }
    }

    /// Signs a request and returns its headers as a server would receive them.
    fn signed_headers(
        secret: &str,
        token: Option<&str>,
        time: SystemTime,
    ) -> Vec<(String, String)> {
        let base = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Host", "127.0.0.1:4566"),
            (
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.GetTaskProtection",
            ),
        ];
        let signed = Signer::new().sign(
            &SignableRequest {
                method: "POST",
                path: "/",
                query: &[],
                headers: &base,
                body: b"{}",
            },
            &SigningParams {
                access_key_id: "ASIAMOCK",
                secret_access_key: secret,
                session_token: token,
                region: "eu-west-1",
                service: "ecs",
                time,
            },
        );
        base.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .chain(
                signed
                    .headers()
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.clone())),
            )
            .collect()
    }

    fn check(
        headers: &[(String, String)],
        body: &[u8],
        key: IssuedKey,
    ) -> Result<String, Rejection> {
        let request = Received {
            method: "POST",
            target: "/",
            headers,
            body,
        };
        let signer = Signer::new();
        let expect = Expect {
            signer: &signer,
            region: "eu-west-1",
            service: "ecs",
            now: now(),
        };
        verify(&request, &expect, |id| {
            (id == key.access_key_id).then(|| key.clone())
        })
    }

    #[test]
    fn accepts_a_request_signed_by_the_signer() {
        let headers = signed_headers(SECRET, Some(TOKEN), now());
        assert_eq!(
            check(&headers, b"{}", key(Some(TOKEN))),
            Ok("ASIAMOCK".into())
        );
    }

    #[test]
    fn rejects_a_changed_body_or_header() {
        let headers = signed_headers(SECRET, Some(TOKEN), now());
        assert_eq!(
            check(&headers, b"{ }", key(Some(TOKEN))).unwrap_err().code,
            INVALID
        );
        let mut changed = headers.clone();
        changed[2].1 = "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection".into();
        assert_eq!(
            check(&changed, b"{}", key(Some(TOKEN))).unwrap_err().code,
            INVALID
        );
    }

    #[test]
    fn rejects_wrong_secret_token_time_and_key() {
        let wrong_secret = signed_headers("other", Some(TOKEN), now());
        let e = check(&wrong_secret, b"{}", key(Some(TOKEN))).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (INVALID, MISMATCH));

        let other_token = signed_headers(SECRET, Some("other-token"), now());
        assert_eq!(
            check(&other_token, b"{}", key(Some(TOKEN)))
                .unwrap_err()
                .code,
            UNRECOGNIZED
        );
        let no_token = signed_headers(SECRET, None, now());
        assert_eq!(
            check(&no_token, b"{}", key(Some(TOKEN))).unwrap_err().code,
            UNRECOGNIZED
        );

        let stale = signed_headers(SECRET, Some(TOKEN), now() - Duration::from_secs(301));
        let e = check(&stale, b"{}", key(Some(TOKEN))).unwrap_err();
        assert_eq!(e.code, INVALID);
        assert!(e.message.starts_with("Signature expired: 20251124T212459Z is now earlier than 20251124T212500Z (20251124T213000Z - 5 min.)"), "{}", e.message);
        let future = signed_headers(SECRET, Some(TOKEN), now() + Duration::from_secs(301));
        assert!(
            check(&future, b"{}", key(Some(TOKEN)))
                .unwrap_err()
                .message
                .starts_with("Signature not yet current")
        );
        let edge = signed_headers(SECRET, Some(TOKEN), now() - Duration::from_secs(300));
        assert!(check(&edge, b"{}", key(Some(TOKEN))).is_ok());

        let mut expired = key(Some(TOKEN));
        expired.expiration = Some(now());
        let headers = signed_headers(SECRET, Some(TOKEN), now());
        assert_eq!(
            check(&headers, b"{}", expired).unwrap_err().code,
            "ExpiredTokenException"
        );
        let mut unknown = key(Some(TOKEN));
        unknown.access_key_id = "ASIAOTHER".into();
        assert_eq!(
            check(&headers, b"{}", unknown).unwrap_err().code,
            UNRECOGNIZED
        );
    }

    #[test]
    fn rejects_an_unsigned_session_token() {
        let base = [("Host", "127.0.0.1:4566")];
        let signed = Signer::new().sign_with(
            &SignableRequest {
                method: "POST",
                path: "/",
                query: &[],
                headers: &base,
                body: b"{}",
            },
            &SigningParams {
                access_key_id: "ASIAMOCK",
                secret_access_key: SECRET,
                session_token: Some(TOKEN),
                region: "eu-west-1",
                service: "ecs",
                time: now(),
            },
            &SigningSettings::default().sign_session_token(false),
        );
        let headers: Vec<(String, String)> = base
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .chain(
                signed
                    .headers()
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.clone())),
            )
            .collect();
        let e = check(&headers, b"{}", key(Some(TOKEN))).unwrap_err();
        assert_eq!(e.code, INVALID);
        assert!(e.message.contains("x-amz-security-token"), "{}", e.message);
    }

    #[test]
    fn malformed_authorization_headers() {
        let good = signed_headers(SECRET, Some(TOKEN), now());
        let with_auth = |value: &str| {
            let mut h: Vec<(String, String)> = good
                .iter()
                .filter(|(n, _)| n != "authorization")
                .cloned()
                .collect();
            h.push(("authorization".into(), value.into()));
            h
        };
        for (value, code) in [
            ("AWS4-HMAC-SHA1 Credential=x", INCOMPLETE),
            (
                "AWS4-HMAC-SHA256 Credential=ASIAMOCK/20251124/eu-west-1/ecs/aws4_request",
                INCOMPLETE,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=ASIAMOCK/20251124/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
                INCOMPLETE,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=ASIAMOCK/20251124/eu-west-1/ecs/aws4_request, SignedHeaders=x-amz-date, Signature=00",
                INCOMPLETE,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=ASIAMOCK/20251124/eu-west-1/ecs/aws4_request, SignedHeaders=host, Signature=00",
                INCOMPLETE,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=ASIAMOCK/20251123/eu-west-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
                INVALID,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=ASIAMOCK/20251124/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
                INVALID,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=ASIAMOCK/20251124/eu-west-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
                INVALID,
            ),
        ] {
            let e = check(&with_auth(value), b"{}", key(Some(TOKEN))).unwrap_err();
            assert_eq!(e.code, code, "{value}: {}", e.message);
        }
        let none: Vec<(String, String)> = good
            .iter()
            .filter(|(n, _)| n != "authorization")
            .cloned()
            .collect();
        assert_eq!(
            check(&none, b"{}", key(Some(TOKEN))).unwrap_err().code,
            "MissingAuthenticationTokenException"
        );
    }
}
