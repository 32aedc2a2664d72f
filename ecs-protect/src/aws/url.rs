//! The small part of URL parsing the clients need: scheme, host, port, path.
//!
//! Endpoints come from environment variables (`AWS_ENDPOINT_URL_ECS`, `ECS_AGENT_URI`,
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI`, ...), so a parse error is turned by the caller into
//! a configuration error naming the variable.
//!
//! The syntax is `http::Uri`'s (the parser ureq sends with, re-exported as `ureq::http`, so
//! no crate is added and every URL accepted here is one ureq can send). On top of it this
//! module keeps the few rules an endpoint needs and `Uri` does not enforce: `http`/`https`
//! only, ASCII only, no fragment (`Uri` drops one silently), no user information, a host
//! of letters, digits, `-`, `.` and `_` or a valid IPv6 literal (the container-credentials
//! host check compares and resolves it), and a port of digits only (`Uri` reads a bad port
//! as none at all).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ureq::http::Uri;
use ureq::http::uri::{Authority, Scheme as UriScheme};

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// What a redacted URL shows instead of its path and query.
const REDACTED_PATH: &str = "/** credential id redacted **";

/// An absolute `http(s)://host[:port][/path][?query]` URL.
///
/// `Display` and `Debug` show it as sent, except for a [`redacted`](Url::redacted) URL
/// (one whose path is a secret), which shows its scheme and host only; [`Url::wire`] is
/// what is sent.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) scheme: Scheme,
    /// The host as written, lowercased, IPv6 literals without brackets.
    pub(crate) host: String,
    /// The port when written, even if it is the scheme's default.
    pub(crate) port: Option<u16>,
    /// The path, starting with `/` (`/` when the URL has none), without the query.
    pub(crate) path: String,
    /// The raw query after `?`, if any.
    pub(crate) query: Option<String>,
    /// Whether the path and query are a secret (the ECS credential id), not shown.
    secret_path: bool,
}

impl Url {
    /// Parses `text`; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Url, String> {
        if !text.is_ascii() {
            return Err(format!(
                "expected an ASCII URL (write a non-ASCII host in its xn-- form), got {text:?}"
            ));
        }
        if text.contains('#') {
            return Err(format!("expected a URL without a fragment, got {text:?}"));
        }
        if text
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!(
                "expected a URL without spaces or control characters, got {text:?}"
            ));
        }
        let uri: Uri = text
            .parse()
            .map_err(|err| format!("expected an http:// or https:// URL, got {text:?}: {err}"))?;
        let scheme = match uri.scheme() {
            Some(scheme) if *scheme == UriScheme::HTTPS => Scheme::Https,
            Some(scheme) if *scheme == UriScheme::HTTP => Scheme::Http,
            _ => return Err(format!("expected an http:// or https:// URL, got {text:?}")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("expected host[:port] after the scheme, got {text:?}"))?;
        if authority.as_str().contains('@') {
            return Err("expected a URL without user information".to_owned());
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| format!("expected host[:port] after the scheme, got {text:?}"))?;
        Ok(Url {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            secret_path: false,
        })
    }

    /// The port connected to.
    pub(crate) fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// The `Host` header value: the host, plus `:port` when it is not the scheme's
    /// default; IPv6 literals in brackets. This is what is sent and what is signed.
    pub(crate) fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) if port != self.scheme.default_port() => format!("{host}:{port}"),
            _ => host,
        }
    }

    /// The host as an IP address, when it is a literal.
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// Whether this is an `https` URL.
    pub(crate) fn is_https(&self) -> bool {
        self.scheme == Scheme::Https
    }

    /// This URL, shown without its path and query (which hold a secret).
    pub(crate) fn redacted(mut self) -> Url {
        self.secret_path = true;
        self
    }

    /// The URL as sent, path and query included even when redacted.
    pub(crate) fn wire(&self) -> String {
        let mut text = format!(
            "{}://{}{}",
            self.scheme.as_str(),
            self.host_header(),
            self.path
        );
        if let Some(query) = &self.query {
            text.push('?');
            text.push_str(query);
        }
        text
    }

    /// This URL with `suffix` appended to its path (`/v4/abc` + `/task`).
    pub(crate) fn join_path(&self, suffix: &str) -> Url {
        let mut url = self.clone();
        let base = url.path.trim_end_matches('/');
        url.path = format!("{base}{suffix}");
        url
    }
}

impl fmt::Display for Url {
    /// The URL as sent, or its scheme and host only when redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret_path {
            write!(
                f,
                "{}://{}{REDACTED_PATH}",
                self.scheme.as_str(),
                self.host_header()
            )
        } else {
            f.write_str(&self.wire())
        }
    }
}

impl fmt::Debug for Url {
    /// As `Display`: a redacted URL hides its path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({self})")
    }
}

/// The host (IPv6 literals without brackets) and port of `authority`, if both are valid.
///
/// `Uri` has split them and checked their characters; this adds the stricter host rule and
/// a port of digits only, since `Uri::port` is `None` for `host:`, `host:x` or `host:99999`.
fn split_host_port(authority: &Authority) -> Option<(&str, Option<u16>)> {
    let written = authority.host();
    let host = match written.strip_prefix('[') {
        Some(v6) => {
            let v6 = v6.strip_suffix(']')?;
            v6.parse::<Ipv6Addr>().ok()?;
            v6
        }
        None if !written.is_empty()
            && written
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) =>
        {
            written
        }
        None => return None,
    };
    let port = match &authority.as_str()[written.len()..] {
        "" => None,
        after => {
            let digits = after.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(authority.port_u16()?)
        }
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_endpoints_look_like() {
        let url = Url::parse("http://169.254.170.2/v4/abc-123").unwrap();
        assert_eq!(url.scheme, Scheme::Http);
        assert_eq!(url.host, "169.254.170.2");
        assert_eq!(url.port, None);
        assert_eq!(url.path, "/v4/abc-123");
        assert_eq!(url.host_header(), "169.254.170.2");
        assert_eq!(
            url.join_path("/task").to_string(),
            "http://169.254.170.2/v4/abc-123/task"
        );

        let local = Url::parse("http://127.0.0.1:4566").unwrap();
        assert_eq!(local.host_header(), "127.0.0.1:4566");
        assert_eq!(local.path, "/");
        assert_eq!(local.to_string(), "http://127.0.0.1:4566/");

        let default_port = Url::parse("HTTPS://ECS.eu-west-1.amazonaws.com:443/").unwrap();
        assert_eq!(default_port.host_header(), "ecs.eu-west-1.amazonaws.com");
        assert_eq!(default_port.effective_port(), 443);

        let v6 = Url::parse("http://[fd00:ec2::23]:8080/creds?x=1").unwrap();
        assert_eq!(v6.host, "fd00:ec2::23");
        assert_eq!(v6.host_header(), "[fd00:ec2::23]:8080");
        assert_eq!(v6.query.as_deref(), Some("x=1"));
        assert!(v6.ip().is_some());

        let query_only = Url::parse("http://127.0.0.1:8080?a=b/c").unwrap();
        assert_eq!(
            (query_only.path.as_str(), query_only.query.as_deref()),
            ("/", Some("a=b/c"))
        );
        assert_eq!(query_only.wire(), "http://127.0.0.1:8080/?a=b/c");
    }

    #[test]
    fn rejects_what_is_not_an_endpoint() {
        for bad in [
            "",
            "169.254.170.2/v4",
            "ftp://host/",
            "http://",
            "http:///path",
            "http://host:port/",
            "http://host:99999/",
            "http://host:+80/",
            "http://host:80:81/",
            "http://[::1]x/",
            "http://host:/",
            "http://user:pw@host/",
            "http://[not-v6]/",
            "http://ho st/",
            "http://host/#frag",
            "http://host/\npath",
            "https://ecs.eu-west-1.amazonaws.com\u{a0}/",
            "https://bücher.example/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Every URL accepted here is one ureq can send: a character `http::Uri` refuses is
    /// refused when the variable is read, with its name, not later by the first request.
    #[test]
    fn accepts_exactly_what_ureq_can_send() {
        for byte in 0x21..=0x7e_u8 {
            let c = char::from(byte);
            for text in [
                format!("http://127.0.0.1/a{c}b"),
                format!("http://127.0.0.1/?a{c}b"),
            ] {
                if let Ok(url) = Url::parse(&text) {
                    let sent = ureq::http::Request::get(url.wire().as_str()).body(());
                    assert!(
                        sent.is_ok(),
                        "{text:?} was accepted but ureq cannot send it"
                    );
                }
            }
        }
        let err = Url::parse("http://127.0.0.1/a<b>").unwrap_err();
        assert!(
            err.starts_with("expected an http:// or https:// URL"),
            "{err}"
        );
    }

    #[test]
    fn a_redacted_url_hides_its_path_everywhere_but_on_the_wire() {
        let url = Url::parse("http://169.254.170.2/v2/credentials/7a1e-secret-id?x=1")
            .unwrap()
            .redacted();
        assert_eq!(
            url.wire(),
            "http://169.254.170.2/v2/credentials/7a1e-secret-id?x=1"
        );
        let shown = format!("{url} {url:?} {url:#?}");
        assert!(!shown.contains("7a1e-secret-id"), "{shown}");
        assert_eq!(
            url.to_string(),
            "http://169.254.170.2/** credential id redacted **"
        );
        let err = Url::parse("https://bücher.example/").unwrap_err();
        assert!(err.starts_with("expected an ASCII URL"), "{err}");
    }
}
