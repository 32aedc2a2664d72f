//! The signer: inputs, settings, the signed result.

use std::fmt;
use std::time::SystemTime;

use super::canonical::{ALGORITHM, CanonicalRequest, StringToSign};
use super::date::format_amz_date;
use super::hex::to_hex;
use super::key::{KeyCache, hmac_sha256, sha256};

/// Who signs, for which region and service, and when.
///
/// `Debug` shows the access key id, region, service and time, never the secret access key
/// or the session token.
#[derive(Clone, Copy)]
pub struct SigningParams<'a> {
    /// The access key id (`AKIA...` or `ASIA...`); it appears in the `Authorization` header.
    pub access_key_id: &'a str,
    /// The secret access key; it only feeds the signing key.
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials: sent as `x-amz-security-token` and signed.
    pub session_token: Option<&'a str>,
    /// The region, e.g. `us-east-1`.
    pub region: &'a str,
    /// The signing name of the service, e.g. `ecs`.
    pub service: &'a str,
    /// The signing time; it becomes `x-amz-date` (whole seconds, UTC).
    pub time: SystemTime,
}

impl fmt::Debug for SigningParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningParams")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.map(|_| "** redacted **"),
            )
            .field("region", &self.region)
            .field("service", &self.service)
            .field("time", &format_amz_date(self.time))
            .finish()
    }
}

/// The parts of an HTTP request that SigV4 signs.
///
/// `Debug` shows the body's length, not its bytes.
#[derive(Clone, Copy)]
pub struct SignableRequest<'a> {
    /// The HTTP method, e.g. `POST`, as sent.
    pub method: &'a str,
    /// The path exactly as sent on the request line (`/` for ECS). The signer
    /// percent-encodes it once more for the canonical request (every byte outside
    /// `A-Z a-z 0-9 - . _ ~ /`, so `%` becomes `%25`): the double encoding every service
    /// but S3 expects. For S3, which expects the path encoded once, give the decoded path.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use ecs_protect::unversioned::sigv4::{SignableRequest, Signer, SigningParams};
    ///
    /// let request = SignableRequest {
    ///     method: "GET",
    ///     path: "/queue%20name", // as on the wire
    ///     query: &[],
    ///     headers: &[("host", "example.amazonaws.com")],
    ///     body: b"",
    /// };
    /// let params = SigningParams {
    ///     access_key_id: "AKIDEXAMPLE",
    ///     secret_access_key: "secret",
    ///     session_token: None,
    ///     region: "us-east-1",
    ///     service: "service",
    ///     time: SystemTime::UNIX_EPOCH,
    /// };
    /// let signed = Signer::new().sign(&request, &params);
    /// assert!(signed.canonical_request().to_string().starts_with("GET\n/queue%2520name\n"));
    /// ```
    pub path: &'a str,
    /// The raw (not yet percent-encoded) query pairs, in any order.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header to sign, including `host` (with the port when it is not the scheme's
    /// default). Names are matched case-insensitively; a repeated name is signed as its
    /// values joined by `,` in the order given. `x-amz-date`, `x-amz-security-token` and
    /// `authorization` given here are ignored: the signer computes them.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body exactly as sent.
    pub body: &'a [u8],
}

impl fmt::Debug for SignableRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignableRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Choices the SigV4 specification leaves to the service; the defaults are the ECS ones.
///
/// # Example
///
/// ```
/// use ecs_protect::unversioned::sigv4::SigningSettings;
///
/// // The S3 style: no path normalisation (give the decoded path: S3 expects it encoded
/// // once) and an `x-amz-content-sha256` header.
/// let s3 = SigningSettings::default()
///     .normalize_path(false)
///     .content_sha256_header(true);
/// # let _ = s3;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningSettings {
    normalize_path: bool,
    content_sha256_header: bool,
    sign_session_token: bool,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            normalize_path: true,
            content_sha256_header: false,
            sign_session_token: true,
        }
    }
}

impl SigningSettings {
    /// Whether `.`/`..` segments and repeated slashes are removed from the path before it is
    /// signed. Default: `true` (every service but S3).
    #[must_use]
    pub fn normalize_path(mut self, normalize: bool) -> Self {
        self.normalize_path = normalize;
        self
    }

    /// Whether the signer adds and signs an `x-amz-content-sha256` header holding the
    /// body's hash. Default: `false` (S3 needs it, ECS does not).
    #[must_use]
    pub fn content_sha256_header(mut self, add: bool) -> Self {
        self.content_sha256_header = add;
        self
    }

    /// Whether the session token is signed (in the canonical request and `SignedHeaders`)
    /// or only sent. Default: `true`, as the SDKs do for ECS.
    #[must_use]
    pub fn sign_session_token(mut self, sign: bool) -> Self {
        self.sign_session_token = sign;
        self
    }

    pub(crate) fn normalizes_path(&self) -> bool {
        self.normalize_path
    }

    pub(crate) fn adds_content_sha256(&self) -> bool {
        self.content_sha256_header
    }
}

/// Signs requests with AWS Signature Version 4, caching derived signing keys.
///
/// A signing key depends only on the secret, the day, the region and the service, so it is
/// derived once (four HMACs) and reused for every request that day. The cache holds a few
/// keys and is shared safely between threads (`Signer` is `Send + Sync`). `Debug` shows only
/// how many keys are cached.
///
/// See the [module documentation](crate::unversioned::sigv4) for an example.
#[derive(Debug, Default)]
pub struct Signer {
    keys: KeyCache,
}

impl Signer {
    /// A signer with an empty key cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Signs `request` with the ECS defaults ([`SigningSettings::default`]): the path is
    /// normalised, no `x-amz-content-sha256` header, the session token is signed.
    pub fn sign(&self, request: &SignableRequest<'_>, params: &SigningParams<'_>) -> SignedRequest {
        self.sign_with(request, params, &SigningSettings::default())
    }

    /// Signs `request` with explicit [`SigningSettings`].
    pub fn sign_with(
        &self,
        request: &SignableRequest<'_>,
        params: &SigningParams<'_>,
        settings: &SigningSettings,
    ) -> SignedRequest {
        let amz_date = format_amz_date(params.time);
        let date = amz_date.get(..8).unwrap_or(&amz_date);
        let payload_hash = to_hex(&sha256(request.body));
        let signed_token = params.session_token.filter(|_| settings.sign_session_token);
        let canonical_request =
            CanonicalRequest::build(request, settings, &amz_date, signed_token, &payload_hash);

        let mut scope =
            String::with_capacity(date.len() + params.region.len() + params.service.len() + 15);
        scope.push_str(date);
        scope.push('/');
        scope.push_str(params.region);
        scope.push('/');
        scope.push_str(params.service);
        scope.push_str("/aws4_request");
        let canonical_hash = to_hex(&sha256(canonical_request.as_str().as_bytes()));
        let string_to_sign = StringToSign::new(&amz_date, &scope, &canonical_hash);

        let key = self.keys.get(
            params.secret_access_key,
            date,
            params.region,
            params.service,
        );
        let signature = to_hex(&hmac_sha256(&key, string_to_sign.as_str().as_bytes()));

        let signed_headers = canonical_request.signed_headers();
        let mut authorization = String::with_capacity(
            ALGORITHM.len()
                + params.access_key_id.len()
                + scope.len()
                + signed_headers.len()
                + signature.len()
                + 40,
        );
        authorization.push_str(ALGORITHM);
        authorization.push_str(" Credential=");
        authorization.push_str(params.access_key_id);
        authorization.push('/');
        authorization.push_str(&scope);
        authorization.push_str(", SignedHeaders=");
        authorization.push_str(signed_headers);
        authorization.push_str(", Signature=");
        authorization.push_str(&signature);

        let mut headers = Vec::with_capacity(4);
        headers.push(("x-amz-date", amz_date));
        if let Some(token) = params.session_token {
            headers.push(("x-amz-security-token", token.to_owned()));
        }
        if settings.content_sha256_header {
            headers.push(("x-amz-content-sha256", payload_hash));
        }
        headers.push(("authorization", authorization));

        SignedRequest {
            headers,
            canonical_request,
            string_to_sign,
            signature,
        }
    }

    #[cfg(test)]
    pub(crate) fn key_derivations(&self) -> u64 {
        self.keys.derivations()
    }
}

/// The outcome of signing: the headers to add, and the texts that were signed.
///
/// `Debug` redacts the session token.
#[derive(Clone)]
pub struct SignedRequest {
    headers: Vec<(&'static str, String)>,
    canonical_request: CanonicalRequest,
    string_to_sign: StringToSign,
    signature: String,
}

impl SignedRequest {
    /// The headers to add to the request, lowercase names, in this order: `x-amz-date`,
    /// `x-amz-security-token` (when a session token was given), `x-amz-content-sha256` (only
    /// when [`SigningSettings::content_sha256_header`] is on) and `authorization`.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The canonical request that was hashed.
    pub fn canonical_request(&self) -> &CanonicalRequest {
        &self.canonical_request
    }

    /// The string that was signed.
    pub fn string_to_sign(&self) -> &StringToSign {
        &self.string_to_sign
    }

    /// The signature, 64 lowercase hex digits (also the end of the `authorization` header).
    pub fn signature(&self) -> &str {
        &self.signature
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a [(&'static str, String)]);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|(name, value)| {
                        let shown = if *name == "x-amz-security-token" {
                            "** redacted **"
                        } else {
                            value.as_str()
                        };
                        (*name, shown)
                    }))
                    .finish()
            }
        }
        f.debug_struct("SignedRequest")
            .field("headers", &Headers(&self.headers))
            .field("canonical_request", &self.canonical_request)
            .field("string_to_sign", &self.string_to_sign)
            .field("signature", &self.signature)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";
    const BODY: &[u8] = br#"{"cluster":"c","tasks":["t"],"protectionEnabled":true}"#;

    fn request() -> SignableRequest<'static> {
        SignableRequest {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[
                ("host", "ecs.us-east-1.amazonaws.com"),
                ("content-type", "application/x-amz-json-1.1"),
                (
                    "x-amz-target",
                    "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection",
                ),
            ],
            body: BODY,
        }
    }

    fn params(token: Option<&str>, seconds: u64) -> SigningParams<'_> {
        SigningParams {
            access_key_id: "ASIAEXAMPLE",
            secret_access_key: SECRET,
            session_token: token,
            region: "us-east-1",
            service: "ecs",
            time: UNIX_EPOCH + Duration::from_secs(seconds),
        }
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let signed = Signer::new().sign(&request(), &params(Some(TOKEN), 1_700_000_000));
        let names: Vec<_> = signed.headers().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["x-amz-date", "x-amz-security-token", "authorization"]
        );
        assert_eq!(signed.headers()[1].1, TOKEN);
        assert!(
            signed
                .canonical_request()
                .as_str()
                .contains(&format!("\nx-amz-security-token:{TOKEN}\n"))
        );
        assert_eq!(
            signed.canonical_request().signed_headers(),
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        );
        assert!(signed.headers()[2].1.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        ));

        let other_token = Signer::new().sign(&request(), &params(Some("other"), 1_700_000_000));
        assert_ne!(signed.signature(), other_token.signature());
    }

    #[test]
    fn an_unsigned_token_is_sent_but_left_out_of_the_signature() {
        let settings = SigningSettings::default().sign_session_token(false);
        let signer = Signer::new();
        let signed = signer.sign_with(&request(), &params(Some(TOKEN), 1_700_000_000), &settings);
        assert_eq!(
            signed.headers()[1],
            ("x-amz-security-token", TOKEN.to_owned())
        );
        assert!(!signed.canonical_request().as_str().contains(TOKEN));
        let without = signer.sign(&request(), &params(None, 1_700_000_000));
        assert_eq!(signed.signature(), without.signature());
    }

    #[test]
    fn given_date_token_and_authorization_headers_are_ignored() {
        let headers = [
            ("host", "ecs.us-east-1.amazonaws.com"),
            ("X-Amz-Date", "19990101T000000Z"),
            ("x-amz-security-token", "stale"),
            ("Authorization", "AWS4-HMAC-SHA256 stale"),
        ];
        let with_extras = SignableRequest {
            headers: &headers,
            ..request()
        };
        let plain = SignableRequest {
            headers: &headers[..1],
            ..request()
        };
        let signer = Signer::new();
        let p = params(Some(TOKEN), 1_700_000_000);
        assert_eq!(
            signer.sign(&with_extras, &p).canonical_request(),
            signer.sign(&plain, &p).canonical_request()
        );
    }

    #[test]
    fn the_signing_key_is_derived_once_per_day() {
        let signer = Signer::new();
        let first = signer.sign(&request(), &params(None, 1_700_000_000));
        let same_day = signer.sign(&request(), &params(None, 1_700_000_060));
        assert_eq!(signer.key_derivations(), 1);
        assert_ne!(
            first.signature(),
            same_day.signature(),
            "the time is signed"
        );

        let next_day = signer.sign(&request(), &params(None, 1_700_000_000 + 86_400));
        assert_eq!(signer.key_derivations(), 2);

        // A cached key signs exactly as a freshly derived one.
        let fresh = Signer::new().sign(&request(), &params(None, 1_700_000_060));
        assert_eq!(same_day.signature(), fresh.signature());
        let fresh = Signer::new().sign(&request(), &params(None, 1_700_000_000 + 86_400));
        assert_eq!(next_day.signature(), fresh.signature());
    }

    #[test]
    fn rotated_credentials_get_their_own_key() {
        let signer = Signer::new();
        let before = signer.sign(&request(), &params(None, 1_700_000_000));
        let rotated = SigningParams {
            secret_access_key: "rotated-secret",
            ..params(None, 1_700_000_000)
        };
        let after = signer.sign(&request(), &rotated);
        assert_eq!(signer.key_derivations(), 2);
        assert_ne!(before.signature(), after.signature());
    }

    #[test]
    fn debug_and_display_never_show_the_secret_or_the_token() {
        let signer = Signer::new();
        let p = params(Some(TOKEN), 1_700_000_000);
        let signed = signer.sign(&request(), &p);
        let texts = [
            format!("{p:?}"),
            format!("{:?}", request()),
            format!("{signer:?}"),
            format!("{signed:?}"),
            format!("{:?}", signed.canonical_request()),
            signed.canonical_request().to_string(),
            signed.string_to_sign().to_string(),
        ];
        for text in &texts {
            assert!(!text.contains(SECRET), "secret in {text}");
            assert!(!text.contains(TOKEN), "token in {text}");
        }
        assert!(texts[0].contains("ASIAEXAMPLE") && texts[0].contains("20231114T221320Z"));
        assert!(
            signed
                .canonical_request()
                .to_string()
                .contains("\nx-amz-security-token:** redacted **\n")
        );
        assert!(texts[3].contains("(\"x-amz-security-token\", \"** redacted **\")"));
    }

    #[test]
    fn signer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Signer>();
        assert_send_sync::<SignedRequest>();
    }
}
