//! The canonical request: path normalisation, URI encoding, the canonical query string and
//! canonical headers, exactly as SigV4 defines them.

use std::fmt::{self, Write as _};

use super::SignableRequest;

/// The header that carries a session token; its value is redacted in `Display`/`Debug`.
pub(crate) const SECURITY_TOKEN: &str = "x-amz-security-token";

/// Choices that differ between AWS services or between the official test cases.
///
/// The default is what ECS (and every service other than S3) expects: paths normalised and
/// URI-encoded, no `x-amz-content-sha256` header, the session token signed.
///
/// ```
/// use ecs_protect::sigv4::SigningSettings;
///
/// let settings = SigningSettings::default();
/// assert!(settings.normalize_path && settings.encode_path);
/// assert!(!settings.payload_hash_header && settings.sign_session_token);
///
/// // What the S3 style would use:
/// let s3 = SigningSettings::default()
///     .with_normalize_path(false)
///     .with_encode_path(false)
///     .with_payload_hash_header(true);
/// assert!(s3.payload_hash_header);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SigningSettings {
    /// Remove `.` and `..` segments and repeated slashes before encoding the path.
    /// Default: `true` (S3 is the one service that signs the path as written).
    pub normalize_path: bool,
    /// URI-encode the path (every byte but `A-Z a-z 0-9 - _ . ~ /`) into the canonical
    /// URI. The path handed to the signer is the path as sent on the wire, so a path that
    /// is already percent-encoded is encoded a second time, which is what services other
    /// than S3 compute on their side. Default: `true` (S3: `false`).
    pub encode_path: bool,
    /// Add and sign an `x-amz-content-sha256` header carrying the payload hash (the S3
    /// style). Default: `false` (ECS does not need it).
    pub payload_hash_header: bool,
    /// Sign the `x-amz-security-token` header. When `false` the token is still sent but is
    /// left out of the signature (some older STS flows). Default: `true`, as the SDKs do for
    /// ECS.
    pub sign_session_token: bool,
}

impl Default for SigningSettings {
    fn default() -> Self {
        SigningSettings {
            normalize_path: true,
            encode_path: true,
            payload_hash_header: false,
            sign_session_token: true,
        }
    }
}

impl SigningSettings {
    /// Sets [`normalize_path`](Self::normalize_path) (default `true`).
    #[must_use]
    pub const fn with_normalize_path(mut self, on: bool) -> Self {
        self.normalize_path = on;
        self
    }

    /// Sets [`encode_path`](Self::encode_path) (default `true`).
    #[must_use]
    pub const fn with_encode_path(mut self, on: bool) -> Self {
        self.encode_path = on;
        self
    }

    /// Sets [`payload_hash_header`](Self::payload_hash_header) (default `false`).
    #[must_use]
    pub const fn with_payload_hash_header(mut self, on: bool) -> Self {
        self.payload_hash_header = on;
        self
    }

    /// Sets [`sign_session_token`](Self::sign_session_token) (default `true`).
    #[must_use]
    pub const fn with_sign_session_token(mut self, on: bool) -> Self {
        self.sign_session_token = on;
        self
    }
}

/// A SigV4 canonical request: `METHOD\nURI\nQUERY\nHEADERS\n\nSIGNED_HEADERS\nPAYLOAD_HASH`.
///
/// [`as_str`](Self::as_str) is the exact text that is hashed into the string to sign.
/// `Display` and `Debug` print the same text with the value of an `x-amz-security-token`
/// header replaced by `<redacted>`, so it is safe to log.
///
/// ```
/// use ecs_protect::sigv4::{CanonicalRequest, SignableRequest, SigningSettings};
///
/// let request = SignableRequest {
///     method: "GET",
///     path: "/",
///     query: &[("Param2", "value2"), ("Param1", "value1")],
///     headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")],
///     body: b"",
/// };
/// let hash = ecs_protect::sigv4::payload_hash(request.body);
/// let creq = CanonicalRequest::new(&request, &hash, &SigningSettings::default());
/// assert_eq!(
///     creq.as_str(),
///     "GET\n/\nParam1=value1&Param2=value2\n\
///      host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
///      host;x-amz-date\n\
///      e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// assert_eq!(creq.signed_headers(), "host;x-amz-date");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    text: String,
    /// Byte range of the signed-headers line within `text`.
    signed: (usize, usize),
    /// Byte range of the session token's value within `text`, when it was signed.
    token: Option<(usize, usize)>,
}

impl CanonicalRequest {
    /// Builds the canonical request of `request`, signing every header in
    /// `request.headers` (names compared case-insensitively; repeated names are joined with
    /// `,` in the order given), with `payload_hash` as the last line.
    pub fn new(
        request: &SignableRequest<'_>,
        payload_hash: &str,
        settings: &SigningSettings,
    ) -> Self {
        let mut text = String::with_capacity(
            256 + request
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 2)
                .sum::<usize>(),
        );
        text.push_str(request.method);
        text.push('\n');
        write_canonical_uri(&mut text, request.path, settings);
        text.push('\n');
        write_canonical_query(&mut text, request.query);
        text.push('\n');

        let mut headers: Vec<(String, &str)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), *value))
            .collect();
        // Stable: values of a repeated header keep the order they were given in.
        headers.sort_by(|a, b| a.0.cmp(&b.0));

        let mut token = None;
        let mut names = String::with_capacity(headers.len() * 16);
        let mut i = 0;
        while i < headers.len() {
            let name = &headers[i].0;
            text.push_str(name);
            text.push(':');
            let value_start = text.len();
            let mut first = true;
            while i < headers.len() && headers[i].0 == *name {
                if !first {
                    text.push(',');
                }
                first = false;
                push_trimmed_value(&mut text, headers[i].1);
                i += 1;
            }
            if name == SECURITY_TOKEN {
                token = Some((value_start, text.len()));
            }
            text.push('\n');
            if !names.is_empty() {
                names.push(';');
            }
            names.push_str(name);
        }
        text.push('\n');
        let signed_start = text.len();
        text.push_str(&names);
        let signed = (signed_start, text.len());
        text.push('\n');
        text.push_str(payload_hash);
        CanonicalRequest {
            text,
            signed,
            token,
        }
    }

    /// The exact text that is hashed (contains the session token when one is signed: do
    /// not log it; log the `Display` form).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The signed-headers list, e.g. `content-type;host;x-amz-date;x-amz-target`.
    pub fn signed_headers(&self) -> &str {
        &self.text[self.signed.0..self.signed.1]
    }
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.token {
            Some((start, end)) => {
                f.write_str(&self.text[..start])?;
                f.write_str("<redacted>")?;
                f.write_str(&self.text[end..])
            }
            None => f.write_str(&self.text),
        }
    }
}

impl fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CanonicalRequest")
            .field(&format_args!("{self}"))
            .finish()
    }
}

/// Whether `byte` is left as is by SigV4's URI encoding.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `input` URI-encoded the SigV4 way (`%XX` upper-case); `/` is kept when
/// `keep_slash`.
fn push_uri_encoded(out: &mut String, input: &str, keep_slash: bool) {
    let bytes = input.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            continue;
        }
        if start < i {
            // Only unreserved ASCII lies between `start` and `i`: both are char boundaries.
            out.push_str(&input[start..i]);
        }
        out.push('%');
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        start = i + 1;
    }
    if start < bytes.len() {
        out.push_str(&input[start..]);
    }
}

/// Appends the canonical URI of `path`.
fn write_canonical_uri(out: &mut String, path: &str, settings: &SigningSettings) {
    let path = if path.is_empty() { "/" } else { path };
    let push = |out: &mut String, s: &str| {
        if settings.encode_path {
            push_uri_encoded(out, s, true);
        } else {
            out.push_str(s);
        }
    };
    if !settings.normalize_path || path == "/" {
        push(out, path);
        return;
    }
    let normalized = normalize_path(path);
    push(out, &normalized);
}

/// Removes empty, `.` and `..` segments (RFC 3986 section 5.2.4, plus merged slashes); the
/// result starts with `/` and ends with `/` when the input did or when its last segment was
/// `.` or `..` and something remains.
pub(crate) fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/') {
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            other => {
                segments.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    out.push('/');
    out.push_str(&segments.join("/"));
    if trailing_slash && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Appends the canonical query string: each name and value URI-encoded (including `/`),
/// sorted by encoded name then encoded value, joined with `&`.
fn write_canonical_query(out: &mut String, query: &[(&str, &str)]) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| {
            let mut ek = String::with_capacity(k.len());
            push_uri_encoded(&mut ek, k, false);
            let mut ev = String::with_capacity(v.len());
            push_uri_encoded(&mut ev, v, false);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        let _ = write!(out, "{k}={v}");
    }
}

/// Appends `value` with leading and trailing whitespace removed and inner runs of ASCII
/// whitespace collapsed to one space.
fn push_trimmed_value(out: &mut String, value: &str) {
    for (i, part) in value.split_ascii_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str, settings: SigningSettings) -> String {
        let mut s = String::new();
        write_canonical_uri(&mut s, path, &settings);
        s
    }

    #[test]
    fn normalizes_dot_segments_and_slashes() {
        let n = SigningSettings::default();
        for (input, want) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/a/b/..", "/a/"),
            ("/a/./b", "/a/b"),
            ("/../a", "/a"),
        ] {
            assert_eq!(uri(input, n), want, "{input:?}");
        }
        let raw = n.with_normalize_path(false);
        assert_eq!(uri("//example//", raw), "//example//");
    }

    #[test]
    fn encodes_the_path_once_per_call() {
        let n = SigningSettings::default();
        assert_eq!(uri("/example space/", n), "/example%20space/");
        assert_eq!(uri("/ሴ", n), "/%E1%88%B4");
        // An already encoded path is encoded again, as non-S3 services do.
        assert_eq!(uri("/a%20b", n), "/a%2520b");
        assert_eq!(uri("/a%20b", n.with_encode_path(false)), "/a%20b");
    }

    #[test]
    fn query_is_encoded_and_sorted() {
        let mut s = String::new();
        write_canonical_query(
            &mut s,
            &[
                ("b", "2"),
                ("a/b", "x y"),
                ("a", "2"),
                ("a", "1"),
                ("ሴ", ""),
            ],
        );
        assert_eq!(s, "%E1%88%B4=&a=1&a=2&a%2Fb=x%20y&b=2");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        for (input, want) in [
            ("  value1 ", "value1"),
            ("\"a   b   c\"", "\"a b c\""),
            ("a\t\tb", "a b"),
            ("", ""),
            ("   ", ""),
        ] {
            let mut s = String::new();
            push_trimmed_value(&mut s, input);
            assert_eq!(s, want, "{input:?}");
        }
    }

    #[test]
    fn display_redacts_the_session_token() {
        let request = SignableRequest {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[("host", "h"), ("X-Amz-Security-Token", "SECRETTOKEN")],
            body: b"",
        };
        let creq = CanonicalRequest::new(&request, "hash", &SigningSettings::default());
        assert!(creq.as_str().contains("x-amz-security-token:SECRETTOKEN\n"));
        let shown = format!("{creq} {creq:?}");
        assert!(!shown.contains("SECRETTOKEN"), "{shown}");
        assert!(shown.contains("x-amz-security-token:<redacted>\n"));
        assert_eq!(creq.signed_headers(), "host;x-amz-security-token");
    }
}
