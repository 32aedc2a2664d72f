//! The canonical request and the string to sign: the two texts SigV4 hashes and signs.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::signer::{SignableRequest, SigningSettings};

/// Shown in place of the session token by `Display` and `Debug`.
const REDACTED: &str = "** redacted **";

/// The canonical request: the request reduced to the text SigV4 hashes.
///
/// Six lines: method, canonical URI, canonical query string, the canonical headers (one
/// `name:value` line each, then a blank line), the signed header names joined by `;`, and the
/// hex SHA-256 of the body. [`as_str`](Self::as_str) gives it byte for byte. `Display` gives
/// the same text except that the value of a signed `x-amz-security-token` reads
/// `** redacted **`, so that it can be logged; `Debug` redacts it too.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ecs_protect::unversioned::sigv4::{SignableRequest, Signer, SigningParams};
///
/// let request = SignableRequest {
///     method: "GET",
///     path: "/",
///     query: &[],
///     headers: &[("Host", "example.amazonaws.com")],
///     body: b"",
/// };
/// let params = SigningParams {
///     access_key_id: "AKIDEXAMPLE",
///     secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
///     session_token: None,
///     region: "us-east-1",
///     service: "service",
///     time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160),
/// };
/// let signed = Signer::new().sign(&request, &params);
/// assert_eq!(
///     signed.canonical_request().to_string(),
///     "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
///      e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// assert_eq!(signed.canonical_request().signed_headers(), "host;x-amz-date");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    text: String,
    signed_headers: Range<usize>,
    /// Where the signed session token's value sits in `text`, to redact it.
    token: Option<Range<usize>>,
}

impl CanonicalRequest {
    /// The exact canonical request, session token included.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The signed header names, lowercase, sorted and joined by `;` (the fifth line).
    pub fn signed_headers(&self) -> &str {
        &self.text[self.signed_headers.clone()]
    }

    /// Builds the canonical request for `request`, adding `x-amz-date`, the session token
    /// when it is to be signed and `x-amz-content-sha256` when `settings` ask for it.
    pub(crate) fn build(
        request: &SignableRequest<'_>,
        settings: &SigningSettings,
        amz_date: &str,
        signed_token: Option<&str>,
        payload_hash: &str,
    ) -> Self {
        let mut text = String::with_capacity(
            256 + request.path.len()
                + request
                    .headers
                    .iter()
                    .map(|(name, value)| name.len() + value.len() + 2)
                    .sum::<usize>(),
        );
        text.push_str(request.method);
        text.push('\n');
        push_canonical_uri(&mut text, request.path, settings.normalizes_path());
        text.push('\n');
        push_canonical_query(&mut text, request.query);
        text.push('\n');

        let mut headers: Vec<(Cow<'_, str>, &str)> = Vec::with_capacity(request.headers.len() + 3);
        for &(name, value) in request.headers {
            if is_computed_header(name, settings) {
                continue;
            }
            headers.push((lowercase(name), value));
        }
        headers.push((Cow::Borrowed("x-amz-date"), amz_date));
        if let Some(token) = signed_token {
            headers.push((Cow::Borrowed("x-amz-security-token"), token));
        }
        if settings.adds_content_sha256() {
            headers.push((Cow::Borrowed("x-amz-content-sha256"), payload_hash));
        }
        // Stable: repeated names keep the order they were given in.
        headers.sort_by(|a, b| a.0.cmp(&b.0));

        let mut token = None;
        let mut index = 0;
        while index < headers.len() {
            let name = &headers[index].0;
            text.push_str(name);
            text.push(':');
            let value_start = text.len();
            let mut first = true;
            while index < headers.len() && headers[index].0 == *name {
                if !first {
                    text.push(',');
                }
                first = false;
                push_trimmed_value(&mut text, headers[index].1);
                index += 1;
            }
            if name == "x-amz-security-token" {
                token = Some(value_start..text.len());
            }
            text.push('\n');
        }
        text.push('\n');

        let signed_start = text.len();
        let mut previous: Option<&str> = None;
        for (name, _) in &headers {
            if previous == Some(name.as_ref()) {
                continue;
            }
            if previous.is_some() {
                text.push(';');
            }
            text.push_str(name);
            previous = Some(name.as_ref());
        }
        let signed_headers = signed_start..text.len();
        text.push('\n');
        text.push_str(payload_hash);

        Self {
            text,
            signed_headers,
            token,
        }
    }
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.token {
            Some(token) => {
                f.write_str(&self.text[..token.start])?;
                f.write_str(REDACTED)?;
                f.write_str(&self.text[token.end..])
            }
            None => f.write_str(&self.text),
        }
    }
}

impl fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CanonicalRequest")
            .field(&self.to_string())
            .finish()
    }
}

/// The string to sign: algorithm, request time, credential scope and the hex SHA-256 of the
/// canonical request, one per line.
///
/// `Display` and [`as_str`](Self::as_str) give the exact text (it holds no secret).
#[derive(Clone, PartialEq, Eq)]
pub struct StringToSign {
    text: String,
}

impl StringToSign {
    pub(crate) fn new(amz_date: &str, scope: &str, canonical_request_hash: &str) -> Self {
        let mut text = String::with_capacity(
            ALGORITHM.len() + amz_date.len() + scope.len() + canonical_request_hash.len() + 3,
        );
        text.push_str(ALGORITHM);
        text.push('\n');
        text.push_str(amz_date);
        text.push('\n');
        text.push_str(scope);
        text.push('\n');
        text.push_str(canonical_request_hash);
        Self { text }
    }

    /// The exact string to sign.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StringToSign").field(&self.text).finish()
    }
}

/// The signing algorithm's name, first in the string to sign and the `Authorization` header.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The canonical URI of a request path as sent on the wire.
///
/// Each byte outside the RFC 3986 unreserved set (`A-Z a-z 0-9 - . _ ~`) and `/` is
/// percent-encoded, in uppercase hex, including `%` (so an already-encoded wire path is
/// encoded twice, as every service but S3 expects). With `normalize`, `.` and `..` segments and
/// repeated slashes are removed first (a trailing slash is kept). An empty path is `/`.
///
/// # Example
///
/// ```
/// use ecs_protect::unversioned::sigv4::canonical_uri;
///
/// assert_eq!(canonical_uri("//example/./a/../space here/", true), "/example/space%20here/");
/// assert_eq!(canonical_uri("//example//", false), "//example//");
/// assert_eq!(canonical_uri("", true), "/");
/// assert_eq!(canonical_uri("/a%20b", true), "/a%2520b");
/// ```
pub fn canonical_uri(path: &str, normalize: bool) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    push_canonical_uri(&mut out, path, normalize);
    out
}

fn push_canonical_uri(out: &mut String, path: &str, normalize: bool) {
    if path == "/" || path.is_empty() {
        out.push('/');
        return;
    }
    if !normalize {
        if !path.starts_with('/') {
            out.push('/');
        }
        push_encoded(out, path, true);
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    for segment in &segments {
        out.push('/');
        push_encoded(out, segment, false);
    }
    let ends_in_directory = path.ends_with('/')
        || path.ends_with("/.")
        || path.ends_with("/..")
        || path == "."
        || path == "..";
    if segments.is_empty() || ends_in_directory {
        out.push('/');
    }
}

/// The canonical query string of raw (not yet percent-encoded) pairs.
///
/// Keys and values are percent-encoded with the RFC 3986 unreserved set, the pairs sorted by
/// encoded key, then encoded value, and joined as `key=value` with `&`.
///
/// # Example
///
/// ```
/// use ecs_protect::unversioned::sigv4::canonical_query_string;
///
/// assert_eq!(
///     canonical_query_string(&[("b", "2"), ("a b", "x/y"), ("a", "")]),
///     "a=&a%20b=x%2Fy&b=2"
/// );
/// ```
pub fn canonical_query_string(query: &[(&str, &str)]) -> String {
    let mut out = String::new();
    push_canonical_query(&mut out, query);
    out
}

fn push_canonical_query(out: &mut String, query: &[(&str, &str)]) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|&(key, value)| (encoded(key), encoded(value)))
        .collect();
    pairs.sort_unstable();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
}

fn encoded(raw: &str) -> String {
    utf8_percent_encode(raw, UNRESERVED_ONLY).to_string()
}

/// SigV4 encodes every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - . _ ~`); the
/// crate's sets are WHATWG's, none of which is exactly this one, so it is built here.
/// `%` is encoded too: the path, already percent-encoded on the wire, is encoded a second
/// time, as SigV4 requires of every service but S3.
const UNRESERVED_ONLY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// As [`UNRESERVED_ONLY`], keeping `/`: a path that is not normalized keeps its separators.
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED_ONLY.remove(b'/');

/// Appends `raw` percent-encoded in uppercase hex: unreserved bytes (and `/` with
/// `keep_slash`) as they are.
fn push_encoded(out: &mut String, raw: &str, keep_slash: bool) {
    let set = if keep_slash {
        UNRESERVED_AND_SLASH
    } else {
        UNRESERVED_ONLY
    };
    out.extend(utf8_percent_encode(raw, set));
}

/// Headers the signer computes itself: any given in the request are ignored.
fn is_computed_header(name: &str, settings: &SigningSettings) -> bool {
    name.eq_ignore_ascii_case("x-amz-date")
        || name.eq_ignore_ascii_case("x-amz-security-token")
        || name.eq_ignore_ascii_case("authorization")
        || (settings.adds_content_sha256() && name.eq_ignore_ascii_case("x-amz-content-sha256"))
}

fn lowercase(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Appends `value` trimmed, with each inner run of spaces and tabs collapsed to one space.
fn push_trimmed_value(out: &mut String, value: &str) {
    let mut first = true;
    for part in value.split([' ', '\t']).filter(|part| !part.is_empty()) {
        if !first {
            out.push(' ');
        }
        out.push_str(part);
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed(value: &str) -> String {
        let mut out = String::new();
        push_trimmed_value(&mut out, value);
        out
    }

    #[test]
    fn header_values_are_trimmed_and_inner_spaces_collapsed() {
        assert_eq!(trimmed("  a   b \t c  "), "a b c");
        assert_eq!(trimmed("\"a   b   c\""), "\"a b c\"");
        assert_eq!(trimmed(""), "");
        assert_eq!(trimmed("   "), "");
        assert_eq!(trimmed("value"), "value");
    }

    #[test]
    fn paths_are_encoded_once_and_normalised_on_request() {
        assert_eq!(canonical_uri("/", true), "/");
        assert_eq!(canonical_uri("/example/..", true), "/");
        assert_eq!(canonical_uri("/a/b/..", true), "/a/");
        assert_eq!(canonical_uri("/a/./b", true), "/a/b");
        assert_eq!(canonical_uri("/a/b/.", true), "/a/b/");
        assert_eq!(canonical_uri("/../..", true), "/");
        assert_eq!(canonical_uri("/ሴ", true), "/%E1%88%B4");
        assert_eq!(canonical_uri("/a%2Fb", true), "/a%252Fb");
        assert_eq!(canonical_uri("/example/..", false), "/example/..");
        assert_eq!(canonical_uri("relative", false), "/relative");
    }

    #[test]
    fn query_pairs_sort_by_encoded_key_then_value() {
        assert_eq!(
            canonical_query_string(&[("k", "b"), ("k", "a"), ("K", "c"), ("ሴ", "")]),
            "%E1%88%B4=&K=c&k=a&k=b"
        );
        assert_eq!(canonical_query_string(&[]), "");
    }
}
