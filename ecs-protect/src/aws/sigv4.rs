//! AWS Signature Version 4 request signing, as pure functions with the time passed in.
//!
//! [`Signer::sign`] turns the parts of a request ([`SignableRequest`]) and the signing
//! inputs ([`SigningParams`]) into the headers to add ([`SignedRequest::headers`]). Every
//! intermediate value is inspectable: [`CanonicalRequest`] and [`StringToSign`] are the
//! texts the specification defines, [`SigningKey`] the derived key. The signer caches
//! derived keys per (secret, day, region, service), so most signatures cost two SHA-256
//! hashes and one HMAC.
//!
//! The module is checked against the official SigV4 test suite (see
//! `ecs-protect/tests/sigv4_suite.rs`) and is what the fake ECS
//! (`ecs_protect::mock::MockEcs`) uses to verify signatures.
//!
//! Nothing here logs, and no `Debug` or `Display` output contains the secret access key or
//! the session token.
//!
//! ```
//! use ecs_protect::sigv4::{SignableRequest, Signer, SigningParams};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let signer = Signer::new();
//! let body = br#"{"cluster":"default","tasks":["arn:aws:ecs:eu-west-1:111122223333:task/default/abc"],"protectionEnabled":true,"expiresInMinutes":60}"#;
//! let signed = signer.sign(
//!     &SignableRequest {
//!         method: "POST",
//!         path: "/",
//!         query: &[],
//!         headers: &[
//!             ("content-type", "application/x-amz-json-1.1"),
//!             ("host", "ecs.eu-west-1.amazonaws.com"),
//!             ("x-amz-target", "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection"),
//!         ],
//!         body,
//!     },
//!     &SigningParams {
//!         access_key_id: "AKIDEXAMPLE",
//!         secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
//!         session_token: Some("session-token"),
//!         region: "eu-west-1",
//!         service: "ecs",
//!         time: UNIX_EPOCH + Duration::from_secs(1_764_019_800),
//!     },
//! );
//! let names: Vec<&str> = signed.headers().iter().map(|(name, _)| *name).collect();
//! assert_eq!(names, ["x-amz-date", "x-amz-security-token", "authorization"]);
//! assert_eq!(signed.headers()[0].1, "20251124T213000Z");
//! assert!(signed.authorization().starts_with(
//!     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251124/eu-west-1/ecs/aws4_request, \
//!      SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
//! ));
//! ```

mod canonical;
mod date;
mod key;

use std::fmt;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

pub use canonical::{CanonicalRequest, SigningSettings};
pub use date::AmzDate;
#[cfg(feature = "mock")]
pub(crate) use date::Civil;
pub use key::SigningKey;

use key::KeyCache;

/// The algorithm name in the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credentials, scope and time to sign with.
///
/// `Debug` shows the access key id, region, service and time, never the secret or the
/// session token.
///
/// ```
/// use ecs_protect::sigv4::SigningParams;
/// use std::time::SystemTime;
///
/// let params = SigningParams {
///     access_key_id: "AKIDEXAMPLE",
///     secret_access_key: "the-secret",
///     session_token: Some("the-token"),
///     region: "eu-west-1",
///     service: "ecs",
///     time: SystemTime::now(),
/// };
/// let shown = format!("{params:?}");
/// assert!(shown.contains("AKIDEXAMPLE"));
/// assert!(!shown.contains("the-secret") && !shown.contains("the-token"));
/// ```
#[derive(Clone, Copy)]
pub struct SigningParams<'a> {
    /// The access key id (`AKIA...` or, for temporary credentials, `ASIA...`).
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials; sent as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
    /// The signing region, e.g. `eu-west-1`.
    pub region: &'a str,
    /// The signing name of the service, e.g. `ecs`.
    pub service: &'a str,
    /// The signing time (the caller's clock, corrected for skew if need be).
    pub time: SystemTime,
}

impl fmt::Debug for SigningParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningParams")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .field("region", &self.region)
            .field("service", &self.service)
            .field("time", &AmzDate::from_system_time(self.time))
            .finish()
    }
}

/// The parts of an HTTP request that are signed.
///
/// ```
/// use ecs_protect::sigv4::SignableRequest;
///
/// let request = SignableRequest {
///     method: "POST",
///     path: "/",
///     query: &[],
///     headers: &[("host", "127.0.0.1:4566"), ("content-type", "application/x-amz-json-1.1")],
///     body: b"{}",
/// };
/// assert_eq!(request.method, "POST");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SignableRequest<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The path as sent on the wire (`/` for ECS and the other JSON 1.1 services). With the
    /// default [`SigningSettings`] it is normalised and URI-encoded into the canonical URI,
    /// so a path with characters outside `A-Z a-z 0-9 - _ . ~ /` is given raw only when it
    /// is also sent raw; services other than S3 encode the wire path once more on their
    /// side, and so does the signer.
    pub path: &'a str,
    /// The query parameters, not percent-encoded (the signer encodes them).
    pub query: &'a [(&'a str, &'a str)],
    /// Every header to sign, including `host` (with the port when it is not the scheme's
    /// default). Not `x-amz-date`, `x-amz-security-token` or `authorization`: the signer
    /// adds the first two and produces the last.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body (hashed into the canonical request).
    pub body: &'a [u8],
}

/// The credential scope, `<date>/<region>/<service>/aws4_request`.
///
/// ```
/// use ecs_protect::sigv4::CredentialScope;
///
/// let scope = CredentialScope { date: "20150830", region: "us-east-1", service: "ecs" };
/// assert_eq!(scope.to_string(), "20150830/us-east-1/ecs/aws4_request");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialScope<'a> {
    /// The day, `YYYYMMDD` (the date part of `X-Amz-Date`).
    pub date: &'a str,
    /// The signing region.
    pub region: &'a str,
    /// The signing name of the service.
    pub service: &'a str,
}

impl fmt::Display for CredentialScope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The SigV4 string to sign:
/// `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex(sha256(canonical request))>`.
///
/// It holds no secret; `Display` prints it as is.
///
/// ```
/// use ecs_protect::sigv4::{AmzDate, CanonicalRequest, CredentialScope, SignableRequest,
///     SigningSettings, StringToSign};
///
/// let date = AmzDate::parse("20150830T123600Z").unwrap();
/// let request = SignableRequest {
///     method: "GET",
///     path: "/",
///     query: &[],
///     headers: &[("host", "example.amazonaws.com"), ("x-amz-date", date.as_str())],
///     body: b"",
/// };
/// let creq = CanonicalRequest::new(
///     &request,
///     &ecs_protect::sigv4::payload_hash(b""),
///     &SigningSettings::default(),
/// );
/// let scope = CredentialScope { date: date.date(), region: "us-east-1", service: "service" };
/// let sts = StringToSign::new(&date, &scope, &creq);
/// assert_eq!(
///     sts.to_string(),
///     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
///      bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StringToSign(String);

impl StringToSign {
    /// The string to sign for `canonical_request` at `date` in `scope`.
    pub fn new(
        date: &AmzDate,
        scope: &CredentialScope<'_>,
        canonical_request: &CanonicalRequest,
    ) -> Self {
        let hash = hex(&Sha256::digest(canonical_request.as_str().as_bytes()));
        let mut text = String::with_capacity(ALGORITHM.len() + 16 + 64 + 64 + 8);
        text.push_str(ALGORITHM);
        text.push('\n');
        text.push_str(date.as_str());
        text.push('\n');
        use std::fmt::Write as _;
        let _ = write!(text, "{scope}");
        text.push('\n');
        text.push_str(&hash);
        StringToSign(text)
    }

    /// Wraps a string to sign computed elsewhere (for tests and verification).
    pub fn from_text(text: String) -> Self {
        StringToSign(text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StringToSign").field(&self.0).finish()
    }
}

/// `hex(sha256(body))`, the last line of the canonical request.
///
/// ```
/// assert_eq!(
///     ecs_protect::sigv4::payload_hash(b""),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// ```
pub fn payload_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Signs requests; keeps a small cache of derived signing keys.
///
/// A `Signer` is `Send + Sync`: share one per process (the cache saves four HMACs per
/// request). `Debug` shows only how many keys are cached.
///
/// ```
/// use ecs_protect::sigv4::{SignableRequest, Signer, SigningParams};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// // The `get-vanilla` case of the official test suite.
/// let signed = Signer::new().sign(
///     &SignableRequest {
///         method: "GET",
///         path: "/",
///         query: &[],
///         headers: &[("host", "example.amazonaws.com")],
///         body: b"",
///     },
///     &SigningParams {
///         access_key_id: "AKIDEXAMPLE",
///         secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
///         session_token: None,
///         region: "us-east-1",
///         service: "service",
///         time: UNIX_EPOCH + Duration::from_secs(1_440_938_160),
///     },
/// );
/// assert_eq!(
///     signed.signature(),
///     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
/// );
/// ```
#[derive(Debug, Default)]
pub struct Signer {
    keys: KeyCache,
}

impl Signer {
    /// A signer with an empty key cache.
    pub fn new() -> Self {
        Signer::default()
    }

    /// Signs `request` with the default [`SigningSettings`] (what ECS expects).
    pub fn sign(&self, request: &SignableRequest<'_>, params: &SigningParams<'_>) -> SignedRequest {
        self.sign_with(request, params, &SigningSettings::default())
    }

    /// Signs `request` with explicit `settings` (path handling, payload-hash header,
    /// whether the session token is signed).
    ///
    /// ```
    /// use ecs_protect::sigv4::{SignableRequest, Signer, SigningParams, SigningSettings};
    /// use std::time::SystemTime;
    ///
    /// let request = SignableRequest {
    ///     method: "PUT",
    ///     path: "/bucket/key",
    ///     query: &[],
    ///     headers: &[("host", "s3.amazonaws.com")],
    ///     body: b"data",
    /// };
    /// let params = SigningParams {
    ///     access_key_id: "AKID",
    ///     secret_access_key: "secret",
    ///     session_token: None,
    ///     region: "us-east-1",
    ///     service: "s3",
    ///     time: SystemTime::now(),
    /// };
    /// let settings = SigningSettings::default().with_payload_hash_header(true);
    /// let signed = Signer::new().sign_with(&request, &params, &settings);
    /// assert_eq!(signed.headers()[1].0, "x-amz-content-sha256");
    /// ```
    pub fn sign_with(
        &self,
        request: &SignableRequest<'_>,
        params: &SigningParams<'_>,
        settings: &SigningSettings,
    ) -> SignedRequest {
        let date = AmzDate::from_system_time(params.time);
        let body_hash = payload_hash(request.body);

        let mut added: Vec<(&'static str, String)> = Vec::with_capacity(4);
        added.push(("x-amz-date", date.as_str().to_owned()));
        if settings.payload_hash_header {
            added.push(("x-amz-content-sha256", body_hash.clone()));
        }
        let token_index = params.session_token.map(|token| {
            added.push((canonical::SECURITY_TOKEN, token.to_owned()));
            added.len() - 1
        });

        let mut signed_headers: Vec<(&str, &str)> =
            Vec::with_capacity(request.headers.len() + added.len());
        signed_headers.extend_from_slice(request.headers);
        for (i, (name, value)) in added.iter().enumerate() {
            if Some(i) == token_index && !settings.sign_session_token {
                continue;
            }
            signed_headers.push((name, value));
        }
        let canonical_request = CanonicalRequest::new(
            &SignableRequest {
                headers: &signed_headers,
                ..*request
            },
            &body_hash,
            settings,
        );

        let scope = CredentialScope {
            date: date.date(),
            region: params.region,
            service: params.service,
        };
        let string_to_sign = StringToSign::new(&date, &scope, &canonical_request);
        let key = self.keys.get(
            params.secret_access_key,
            date.date(),
            params.region,
            params.service,
        );
        let signature = key.sign(&string_to_sign);
        let authorization = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            params.access_key_id,
            canonical_request.signed_headers(),
        );
        added.push(("authorization", authorization));
        SignedRequest {
            headers: added,
            token_index,
            canonical_request,
            string_to_sign,
            signature,
        }
    }
}

/// The result of signing: the headers to add and the intermediate texts.
///
/// `Debug` redacts the session token.
#[derive(Clone)]
pub struct SignedRequest {
    headers: Vec<(&'static str, String)>,
    token_index: Option<usize>,
    canonical_request: CanonicalRequest,
    string_to_sign: StringToSign,
    signature: String,
}

impl SignedRequest {
    /// The headers to add to the request, in this order: `x-amz-date`,
    /// `x-amz-content-sha256` (only with
    /// [`payload_hash_header`](SigningSettings::payload_hash_header)),
    /// `x-amz-security-token` (when a session token was given; signed unless
    /// [`sign_session_token`](SigningSettings::sign_session_token) is off),
    /// `authorization`. Names are lower-case.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> &str {
        self.headers.last().map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// The `X-Amz-Date` header value.
    pub fn amz_date(&self) -> &str {
        &self.headers[0].1
    }

    /// The canonical request that was signed.
    pub fn canonical_request(&self) -> &CanonicalRequest {
        &self.canonical_request
    }

    /// The string to sign.
    pub fn string_to_sign(&self) -> &StringToSign {
        &self.string_to_sign
    }

    /// The signature, lower-case hex.
    pub fn signature(&self) -> &str {
        &self.signature
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, (name, value))| {
                if Some(i) == self.token_index {
                    (*name, "<redacted>")
                } else {
                    (*name, value.as_str())
                }
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("headers", &headers)
            .field("canonical_request", &self.canonical_request)
            .field("string_to_sign", &self.string_to_sign)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";

    fn ecs_request(body: &[u8]) -> SignableRequest<'_> {
        SignableRequest {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[
                ("content-type", "application/x-amz-json-1.1"),
                ("host", "127.0.0.1:4566"),
                (
                    "x-amz-target",
                    "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection",
                ),
            ],
            body,
        }
    }

    fn params(token: Option<&str>) -> SigningParams<'_> {
        SigningParams {
            access_key_id: "ASIAEXAMPLE",
            secret_access_key: SECRET,
            session_token: token,
            region: "eu-west-1",
            service: "ecs",
            time: UNIX_EPOCH + Duration::from_secs(1_764_019_800),
        }
    }

    #[test]
    fn ecs_call_signs_the_documented_headers() {
        let signed = Signer::new().sign(&ecs_request(b"{}"), &params(Some(TOKEN)));
        assert_eq!(
            signed.canonical_request().signed_headers(),
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        );
        let creq = signed.canonical_request().as_str();
        assert!(creq.starts_with(
            "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:127.0.0.1:4566\n"
        ));
        assert!(creq.ends_with(&payload_hash(b"{}")));
        assert_eq!(signed.amz_date(), "20251124T213000Z");
        assert_eq!(
            signed.headers()[1],
            ("x-amz-security-token", TOKEN.to_owned())
        );
        assert!(signed.authorization().ends_with(signed.signature()));
        assert!(
            signed
                .authorization()
                .contains("Credential=ASIAEXAMPLE/20251124/eu-west-1/ecs/aws4_request, ")
        );
    }

    #[test]
    fn same_inputs_same_signature_cached_or_not() {
        let signer = Signer::new();
        let a = signer.sign(&ecs_request(b"{}"), &params(Some(TOKEN)));
        let b = signer.sign(&ecs_request(b"{}"), &params(Some(TOKEN)));
        let c = Signer::new().sign(&ecs_request(b"{}"), &params(Some(TOKEN)));
        assert_eq!(a.signature(), b.signature());
        assert_eq!(a.signature(), c.signature());
        // Every input changes the signature.
        let other_body = signer.sign(&ecs_request(b"{ }"), &params(Some(TOKEN)));
        let no_token = signer.sign(&ecs_request(b"{}"), &params(None));
        let mut later = params(Some(TOKEN));
        later.time += Duration::from_secs(1);
        let later = signer.sign(&ecs_request(b"{}"), &later);
        for other in [other_body, no_token, later] {
            assert_ne!(a.signature(), other.signature());
        }
    }

    #[test]
    fn unsigned_session_token_is_sent_but_not_signed() {
        let settings = SigningSettings::default().with_sign_session_token(false);
        let signed = Signer::new().sign_with(&ecs_request(b"{}"), &params(Some(TOKEN)), &settings);
        assert_eq!(
            signed.canonical_request().signed_headers(),
            "content-type;host;x-amz-date;x-amz-target"
        );
        assert!(
            signed
                .headers()
                .iter()
                .any(|(n, v)| *n == "x-amz-security-token" && v == TOKEN)
        );
    }

    #[test]
    fn no_secret_in_debug_or_display() {
        let signer = Signer::new();
        let p = params(Some(TOKEN));
        let signed = signer.sign(&ecs_request(b"{}"), &p);
        let shown = format!(
            "{p:?} {signed:?} {signer:?} {} {} {:?}",
            signed.canonical_request(),
            signed.string_to_sign(),
            signed.canonical_request()
        );
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn signer_is_send_and_sync() {
        fn check<T: Send + Sync + Default>() {}
        check::<Signer>();
    }
}
