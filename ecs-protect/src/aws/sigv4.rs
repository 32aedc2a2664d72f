//! AWS Signature Version 4 request signing, as pure functions of the request, the
//! credentials and the time.
//!
//! The [`Signer`] turns a [`SignableRequest`] (method, the path as sent on the wire, raw
//! query pairs, headers, body) and [`SigningParams`] (credentials, region, service, time) into the headers to add
//! to the request: `x-amz-date`, `x-amz-security-token` when there is a session token, and
//! `authorization`. Nothing is read from the environment or the clock: the time is an input,
//! so the same inputs always give the same signature.
//!
//! The path is the one on the request line, already percent-encoded where needed: the
//! signer encodes it once more, as every service but S3 expects (see
//! [`SignableRequest::path`]).
//!
//! The intermediate texts are kept for inspection: [`SignedRequest::canonical_request`] and
//! [`SignedRequest::string_to_sign`] display exactly the text the specification defines,
//! which is what AWS prints in a `SignatureDoesNotMatch` error.
//!
//! The signer passes every header-mode case of the official AWS signing test suite
//! (`awslabs/aws-c-auth`, `tests/aws-signing-test-suite/v4`); see `tests/sigv4_suite.rs`.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use ecs_protect::unversioned::sigv4::{SignableRequest, Signer, SigningParams};
//!
//! let signer = Signer::new();
//! let body = br#"{"cluster":"default","tasks":["arn:aws:ecs:us-east-1:1:task/default/abc"],"protectionEnabled":true}"#;
//! let request = SignableRequest {
//!     method: "POST",
//!     path: "/",
//!     query: &[],
//!     headers: &[
//!         ("host", "ecs.us-east-1.amazonaws.com"),
//!         ("content-type", "application/x-amz-json-1.1"),
//!         ("x-amz-target", "AmazonEC2ContainerServiceV20141113.UpdateTaskProtection"),
//!     ],
//!     body,
//! };
//! let params = SigningParams {
//!     access_key_id: "AKIDEXAMPLE",
//!     secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
//!     session_token: None,
//!     region: "us-east-1",
//!     service: "ecs",
//!     time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160),
//! };
//! let signed = signer.sign(&request, &params);
//! let names: Vec<&str> = signed.headers().iter().map(|(name, _)| *name).collect();
//! assert_eq!(names, ["x-amz-date", "authorization"]);
//! assert_eq!(signed.headers()[0].1, "20150830T123600Z");
//! assert!(signed.headers()[1].1.starts_with(
//!     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request, \
//!      SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
//! ));
//! ```

mod canonical;
mod date;
mod hex;
mod key;
mod signer;

pub use canonical::{CanonicalRequest, StringToSign, canonical_query_string, canonical_uri};
pub use date::{format_amz_date, parse_amz_date};
pub use signer::{SignableRequest, SignedRequest, Signer, SigningParams, SigningSettings};
