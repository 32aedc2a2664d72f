//! The small part of URL parsing the clients need: scheme, host, port, path.
//!
//! Endpoints come from environment variables (`AWS_ENDPOINT_URL_ECS`, `ECS_AGENT_URI`,
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI`, ...), so a parse error is turned by the caller into
//! a configuration error naming the variable.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

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
        let (scheme, rest) = if let Some(rest) = strip_prefix_ignore_case(text, "https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(text, "http://") {
            (Scheme::Http, rest)
        } else {
            return Err(format!("expected an http:// or https:// URL, got {text:?}"));
        };
        if !text.is_ascii() {
            return Err(format!(
                "expected an ASCII URL (write a non-ASCII host in its xn-- form), got {text:?}"
            ));
        }
        if rest.contains('#') {
            return Err(format!("expected a URL without a fragment, got {text:?}"));
        }
        if rest
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_control())
        {
            return Err(format!(
                "expected a URL without spaces or control characters, got {text:?}"
            ));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err("expected a URL without user information".to_owned());
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| format!("expected host[:port] after the scheme, got {text:?}"))?;
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (tail, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_owned(),
            query,
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

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let valid_host = !host.is_empty()
        && (host.contains(':')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
    if !valid_host {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
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
