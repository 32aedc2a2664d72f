//! `NO_PROXY`, through the proxy settings every client reads (and the URLs they apply to).

use proptest::collection::vec;
use proptest::prelude::*;

use super::{check, ensure};
use crate::Env;
use crate::aws::proxy::ProxySettings;
use crate::aws::url::Url;

fn proxied(no_proxy: &str, url: &str) -> Result<bool, TestCaseError> {
    let env = Env::from_vars([
        ("HTTPS_PROXY", "http://127.0.0.1:3128"),
        ("NO_PROXY", no_proxy),
    ]);
    let settings = ProxySettings::from_env(&env).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let url = Url::parse(url).map_err(TestCaseError::fail)?;
    Ok(settings.for_url(&url).is_some())
}

/// Hosts from one alphabet, the other entries of the list from another: they never match.
fn host() -> impl Strategy<Value = String> {
    "[a-p]{1,8}(\\.[a-p]{1,8}){0,2}"
}

fn others() -> impl Strategy<Value = Vec<String>> {
    vec("[q-z]{1,5}\\.test(:[0-9]{1,4})?", 0..3)
}

/// Joins entries as people write them: commas, spaces, or both.
fn list(entries: &[String], separator: &str) -> String {
    entries.join(separator)
}

#[test]
fn any_list_and_any_url_never_panic() {
    check(
        "NO_PROXY and URLs",
        (
            any::<String>(),
            any::<String>(),
            "[a-z0-9.:\\[\\]*, -]{0,30}",
        ),
        |(a, b, c)| {
            let _ = Url::parse(&b);
            for list in [&a, &c] {
                let env = Env::from_vars([
                    ("HTTPS_PROXY", "http://127.0.0.1:3128"),
                    ("NO_PROXY", list.as_str()),
                ]);
                if let Ok(settings) = ProxySettings::from_env(&env) {
                    for url in [
                        "https://example.com/",
                        "https://[::1]:8443/",
                        "https://10.0.0.1/",
                    ] {
                        let _ = settings.for_url(&Url::parse(url).expect("a valid URL"));
                    }
                }
            }
            Ok(())
        },
    );
}

#[test]
fn a_listed_host_or_domain_is_not_proxied_and_others_are() {
    let strategy = (
        host(),
        "[a-p]{1,6}",
        others(),
        any::<prop::sample::Index>(),
        prop_oneof![Just(","), Just(" "), Just(", ")],
        any::<bool>(),
        1u16..65535,
    );
    check(
        "NO_PROXY matching",
        strategy,
        |(host, sub, mut others, at, sep, dot, port)| {
            ensure(
                proxied(&list(&others, sep), &format!("https://{host}/"))?,
                || "an unlisted host is not proxied".into(),
            )?;
            let entry = if dot {
                format!(".{}", host.to_ascii_uppercase())
            } else {
                host.clone()
            };
            others.insert(at.index(others.len() + 1), entry);
            let listed = list(&others, sep);
            ensure(!proxied(&listed, &format!("https://{host}/"))?, || {
                format!("{host} proxied despite {listed:?}")
            })?;
            ensure(
                !proxied(&listed, &format!("https://{sub}.{host}:{port}/"))?,
                || format!("{sub}.{host} proxied despite {listed:?}"),
            )?;
            ensure(proxied(&listed, &format!("https://{sub}{host}/"))?, || {
                format!("{sub}{host} (not a subdomain) not proxied with {listed:?}")
            })
        },
    );
}

#[test]
fn a_port_limits_the_entry_to_that_port() {
    check(
        "NO_PROXY ports",
        (host(), 1u16..65535, 1u16..65535),
        |(host, listed_port, port)| {
            let listed = format!("{host}:{listed_port}");
            let url = format!("https://{host}:{port}/");
            ensure(proxied(&listed, &url)? == (port != listed_port), || {
                format!("{url} with {listed:?}")
            })
        },
    );
}
