//! Which proxy a request goes through, read from the client's [`Env`] as the SDKs do:
//! `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones (each also in lowercase), and
//! none for a host `NO_PROXY` matches.

use super::url::{Scheme, Url};
use crate::{Env, Error};

/// The proxy settings of one client.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxySettings {
    /// The proxy for https URLs and the variable it came from.
    pub(crate) https: Option<(ureq::Proxy, &'static str)>,
    /// The proxy for http URLs and the variable it came from.
    pub(crate) http: Option<(ureq::Proxy, &'static str)>,
    no_proxy: NoProxy,
}

impl ProxySettings {
    /// Reads `HTTPS_PROXY`/`https_proxy`, `HTTP_PROXY`/`http_proxy` and
    /// `NO_PROXY`/`no_proxy` from `env` (uppercase first). `ALL_PROXY` is not read (nor by
    /// the SDKs).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable when a proxy URL cannot be parsed.
    pub(crate) fn from_env(env: &Env) -> Result<ProxySettings, Error> {
        let proxy = |names: [&'static str; 2]| -> Result<_, Error> {
            for name in names {
                if let Some(text) = env.get(name).map(|v| v.trim().to_owned()) {
                    if text.is_empty() {
                        continue;
                    }
                    let proxy = ureq::Proxy::new(&text).map_err(|e| {
                        Error::config(
                            name,
                            format!("expected a proxy URL such as http://proxy:3128 ({e})"),
                        )
                    })?;
                    return Ok(Some((proxy, name)));
                }
            }
            Ok(None)
        };
        let no_proxy = ["NO_PROXY", "no_proxy"]
            .into_iter()
            .find_map(|name| env.get(name))
            .map(|list| NoProxy::parse(&list))
            .unwrap_or_default();
        Ok(ProxySettings {
            https: proxy(["HTTPS_PROXY", "https_proxy"])?,
            http: proxy(["HTTP_PROXY", "http_proxy"])?,
            no_proxy,
        })
    }

    /// The proxy for `url`, if any: the one for its scheme, unless `NO_PROXY` matches.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&(ureq::Proxy, &'static str)> {
        let proxy = match url.scheme {
            Scheme::Https => self.https.as_ref(),
            Scheme::Http => self.http.as_ref(),
        }?;
        (!self.no_proxy.matches(url)).then_some(proxy)
    }
}

/// `NO_PROXY`: comma-separated hosts, domains (`example.com` and `.example.com` both match
/// the domain and its subdomains), IP addresses, each optionally with `:port`; `*` matches
/// everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NoProxy {
    all: bool,
    entries: Vec<(String, Option<u16>)>,
}

impl NoProxy {
    fn parse(list: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for entry in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if entry == "*" {
                no_proxy.all = true;
                continue;
            }
            let entry = entry.to_ascii_lowercase();
            let (host, port) = match entry.rsplit_once(':') {
                // An IPv6 literal without a port has several colons and no brackets.
                Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                    (host.to_owned(), port.parse().ok())
                }
                _ => (entry.clone(), None),
            };
            let host = host
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            no_proxy.entries.push((host, port));
        }
        no_proxy
    }

    fn matches(&self, url: &Url) -> bool {
        if self.all {
            return true;
        }
        let host = url.host.as_str();
        self.entries.iter().any(|(pattern, port)| {
            let host_matches = host == pattern
                || (url.ip().is_none()
                    && host.len() > pattern.len()
                    && host.ends_with(pattern.as_str())
                    && host.as_bytes()[host.len() - pattern.len() - 1] == b'.');
            host_matches && port.is_none_or(|p| p == url.effective_port())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> ProxySettings {
        ProxySettings::from_env(&Env::from_vars(vars.iter().copied())).unwrap()
    }

    fn chosen(settings: &ProxySettings, url: &str) -> Option<&'static str> {
        settings
            .for_url(&Url::parse(url).unwrap())
            .map(|(_, origin)| *origin)
    }

    #[test]
    fn each_scheme_uses_its_own_variable() {
        let both = settings(&[
            ("HTTPS_PROXY", "http://secure-proxy:3128"),
            ("http_proxy", "plain-proxy:8080"),
        ]);
        assert_eq!(
            chosen(&both, "https://ecs.eu-west-1.amazonaws.com/"),
            Some("HTTPS_PROXY")
        );
        assert_eq!(chosen(&both, "http://127.0.0.1:4566/"), Some("http_proxy"));
        let https = &both.https.as_ref().unwrap().0;
        assert_eq!((https.host(), https.port()), ("secure-proxy", 3128));

        let only_https = settings(&[("HTTPS_PROXY", "http://p:1")]);
        assert_eq!(chosen(&only_https, "http://localhost:4566/"), None);
        // ALL_PROXY is not read, as by the SDKs.
        let all = settings(&[("ALL_PROXY", "http://p:1")]);
        assert_eq!(chosen(&all, "https://ecs.eu-west-1.amazonaws.com/"), None);
        // Uppercase wins over lowercase.
        let cased = settings(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
        ]);
        assert_eq!(chosen(&cased, "https://x.example/"), Some("HTTPS_PROXY"));
    }

    #[test]
    fn no_proxy_matches_hosts_domains_ports_and_star() {
        let proxied = |no_proxy: &str, url: &str| {
            let s = settings(&[
                ("HTTPS_PROXY", "http://p:1"),
                ("HTTP_PROXY", "http://p:1"),
                ("NO_PROXY", no_proxy),
            ]);
            chosen(&s, url).is_some()
        };
        let ecs = "https://ecs.eu-west-1.amazonaws.com/";
        assert!(!proxied("amazonaws.com", ecs));
        assert!(!proxied(".amazonaws.com", ecs));
        assert!(!proxied("*.amazonaws.com", ecs));
        assert!(!proxied("localhost, ECS.EU-WEST-1.AMAZONAWS.COM", ecs));
        assert!(!proxied("*", ecs));
        assert!(!proxied("amazonaws.com:443", ecs));
        assert!(proxied("amazonaws.com:8443", ecs));
        assert!(proxied("zonaws.com", ecs));
        assert!(proxied("example.com", ecs));
        assert!(!proxied("127.0.0.1", "http://127.0.0.1:4566/"));
        assert!(!proxied("::1", "http://[::1]:4566/"));
        assert!(!proxied("[::1]:4566", "http://[::1]:4566/"));
        assert!(proxied("0.0.1", "http://127.0.0.1:4566/"));
        let lower = settings(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "example.com")]);
        assert_eq!(chosen(&lower, "https://api.example.com/"), None);
    }

    #[test]
    fn a_bad_proxy_url_names_its_variable() {
        let err = ProxySettings::from_env(&Env::from_vars([("HTTPS_PROXY", "ftp://p:1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid HTTPS_PROXY: expected a proxy URL"),
            "{err}"
        );
    }
}
