//! AWS Signature Version 4 request signing, as pure functions.
//!
//! TEMPORARY STUB (client branch): the real signer is written on the `signer` branch and
//! replaces this file at merge. It has the agreed signatures and fills `x-amz-date` and
//! `x-amz-security-token` so the client can be built and tested; its `authorization`
//! header is not a signature.

use std::time::SystemTime;

/// What to sign with. (Temporary stub.)
#[derive(Debug)]
pub struct SigningParams<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// The session token, if any.
    pub session_token: Option<&'a str>,
    /// The signing region.
    pub region: &'a str,
    /// The signing name of the service.
    pub service: &'a str,
    /// The signing time.
    pub time: SystemTime,
}

/// The parts of a request that are signed. (Temporary stub.)
#[derive(Debug)]
pub struct SignableRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path.
    pub path: &'a str,
    /// The query parameters.
    pub query: &'a [(&'a str, &'a str)],
    /// The headers to sign, including `host`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// Signs requests. (Temporary stub.)
#[derive(Debug, Default)]
pub struct Signer;

/// The headers to add to a signed request. (Temporary stub.)
#[derive(Debug)]
pub struct SignedRequest {
    headers: Vec<(&'static str, String)>,
}

impl Signer {
    /// A signer. (Temporary stub.)
    pub fn new() -> Self {
        Signer
    }

    /// Signs `request`. (Temporary stub: the authorization is not a signature.)
    pub fn sign(&self, request: &SignableRequest<'_>, params: &SigningParams<'_>) -> SignedRequest {
        let (y, mo, d, h, mi, s) = super::time::to_civil(params.time);
        let mut headers = vec![(
            "x-amz-date",
            format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z"),
        )];
        if let Some(token) = params.session_token {
            headers.push(("x-amz-security-token", token.to_owned()));
        }
        let _ = request;
        headers.push((
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{y:04}{mo:02}{d:02}/{}/{}/aws4_request, SignedHeaders=stub, Signature=stub",
                params.access_key_id, params.region, params.service
            ),
        ));
        SignedRequest { headers }
    }
}

impl SignedRequest {
    /// `x-amz-date`, `x-amz-security-token` (when a token was given), `authorization`.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }
}
