//! Which proxy a request goes through, read from the client's [`Env`] as the SDKs do:
//! `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones (each also in lowercase), and
//! none for a host `NO_PROXY` matches.

use std::net::IpAddr;

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
/// the domain and its subdomains), IP addresses, each optionally with `:port`, and CIDR
/// ranges (`10.0.0.0/8`, `fd00::/8`) that match IP hosts inside them, as Go, curl and
/// hyper-util do; `*` matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NoProxy {
    all: bool,
    entries: Vec<(String, Option<u16>)>,
    /// CIDR ranges: a network address and its prefix length.
    ranges: Vec<(IpAddr, u8)>,
}

/// A CIDR range (`10.0.0.0/8`, `[fd00::]/8`, `fd00::/8`); `None` for anything else.
fn parse_range(entry: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = entry.split_once('/')?;
    let address: IpAddr = address
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let bits = if address.is_ipv4() { 32 } else { 128 };
    (prefix <= bits).then_some((address, prefix))
}

/// Whether `ip` is inside the range `network/prefix` (same family only).
fn in_range(ip: IpAddr, (network, prefix): (IpAddr, u8)) -> bool {
    let (ip, network, bits) = match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            (u128::from(u32::from(ip)), u128::from(u32::from(net)), 32)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => (u128::from(ip), u128::from(net), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    shift >= bits || (ip >> shift) == (network >> shift)
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
            if entry.contains('/') {
                // A malformed range matches nothing, as in Go and curl.
                if let Some(range) = parse_range(&entry) {
                    no_proxy.ranges.push(range);
                }
                continue;
            }
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
        if let Some(ip) = url.ip()
            && self.ranges.iter().any(|range| in_range(ip, *range))
        {
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

    /// Issue 19: CIDR entries match IP hosts inside them, IPv4 and IPv6 (Go, curl and
    /// hyper-util do; before, `NO_PROXY=10.0.0.0/8` never matched).
    #[test]
    fn no_proxy_matches_ip_hosts_against_cidr_ranges() {
        let proxied = |no_proxy: &str, url: &str| {
            let s = settings(&[
                ("HTTPS_PROXY", "http://p:1"),
                ("HTTP_PROXY", "http://p:1"),
                ("NO_PROXY", no_proxy),
            ]);
            chosen(&s, url).is_some()
        };
        assert!(!proxied("127.0.0.0/8", "http://127.0.0.1:4566/"));
        assert!(!proxied("example.com, 10.0.0.0/8", "https://10.1.2.3/"));
        assert!(proxied("10.0.0.0/8", "https://11.1.2.3/"));
        assert!(!proxied("10.1.2.3/32", "https://10.1.2.3/"));
        assert!(proxied("10.1.2.3/32", "https://10.1.2.4/"));
        assert!(!proxied("0.0.0.0/0", "https://192.0.2.1/"));
        assert!(!proxied("172.16.0.0/12", "https://172.31.255.255/"));
        assert!(proxied("172.16.0.0/12", "https://172.32.0.0/"));
        assert!(!proxied("fd00::/8", "https://[fd00:ec2::23]/"));
        assert!(!proxied("[fd00::]/8", "https://[fdff::1]/"));
        assert!(proxied("fd00::/8", "https://[fe80::1]/"));
        assert!(!proxied("::1/128", "http://[::1]:4566/"));
        assert!(!proxied("::/0", "http://[2001:db8::1]/"));
        // Families never mix; host names never match a range; malformed ranges match nothing.
        assert!(proxied("::/0", "http://127.0.0.1/"));
        assert!(proxied("0.0.0.0/0", "http://[::1]/"));
        assert!(proxied(
            "10.0.0.0/8",
            "https://ecs.eu-west-1.amazonaws.com/"
        ));
        assert!(proxied(
            "10.0.0.0/33, 10.0.0.0/x, ten/8",
            "https://10.0.0.1/"
        ));
    }

    /// Range matching against a bit-by-bit reference, over random addresses and prefixes
    /// (the seed is printed; `NO_PROXY_SEED` replays one).
    #[test]
    fn cidr_matching_agrees_with_a_bit_by_bit_reference() {
        let seed: u64 = std::env::var("NO_PROXY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        println!("NO_PROXY_SEED={seed}");
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let bit = |bytes: &[u8], i: usize| (bytes[i / 8] >> (7 - i % 8)) & 1;
        for _ in 0..20_000 {
            let v6 = next() % 2 == 0;
            let (ip, net, bits): (IpAddr, IpAddr, u8) = if v6 {
                let a = (u128::from(next()) << 64) | u128::from(next());
                // Often share a prefix, so that both outcomes are exercised.
                let flip = 1u128 << (next() % 128);
                let b = if next() % 2 == 0 { a ^ flip } else { a };
                (IpAddr::V6(a.into()), IpAddr::V6(b.into()), 128)
            } else {
                let a = next() as u32;
                let flip = 1u32 << (next() % 32);
                let b = if next() % 2 == 0 { a ^ flip } else { a };
                (IpAddr::V4(a.into()), IpAddr::V4(b.into()), 32)
            };
            let prefix = (next() % (u64::from(bits) + 1)) as u8;
            let octets = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            let (a, b) = (octets(ip), octets(net));
            let expected = (0..usize::from(prefix)).all(|i| bit(&a, i) == bit(&b, i));
            assert_eq!(
                in_range(ip, (net, prefix)),
                expected,
                "seed {seed}: {ip} in {net}/{prefix}"
            );
            let text = if v6 {
                format!("[{net}]/{prefix}")
            } else {
                format!("{net}/{prefix}")
            };
            assert_eq!(
                parse_range(&text),
                Some((net, prefix)),
                "seed {seed}: {text}"
            );
        }
    }

    /// Issue 19, from the outside: a request to an IP inside a `NO_PROXY` range goes
    /// direct (before: 0 requests direct, 1 through the proxy).
    #[test]
    fn a_request_to_an_ip_in_a_no_proxy_range_goes_direct() {
        use crate::aws::http::test_server::{Reply, TestServer};
        use crate::aws::http::{HttpClient, Timeouts};
        use std::time::Duration;
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(5),
        };
        let mut proxy = TestServer::start(vec![Reply::json(502, "{}")]);
        let mut target = TestServer::start(vec![Reply::json(200, "{}")]);
        let env = Env::from_vars([
            ("HTTP_PROXY", proxy.url.as_str()),
            ("NO_PROXY", "10.0.0.0/8,127.0.0.0/8"),
        ]);
        let client = HttpClient::for_aws(timeouts, &env).unwrap();
        let url = Url::parse(&target.url).unwrap();
        client.send("GET", &url, &[], None).unwrap();
        assert_eq!(target.requests().len(), 1, "direct");
        assert_eq!(proxy.requests().len(), 0, "through the proxy");
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
