//! Where requests go: the signing region and the ECS endpoint, resolved from the
//! environment as the AWS SDKs do (aws-spec.md §3, §6).

use super::url::Url;
use crate::{Env, Error};

/// A resolved endpoint and the setting it came from (for error messages and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) url: Url,
    /// `AWS_ENDPOINT_URL_ECS`, `AWS_ENDPOINT_URL`, or `region` for the regional endpoint.
    pub(crate) origin: &'static str,
}

/// Reads a boolean AWS setting: `true` or `false` (any case); unset is `false`.
pub(crate) fn env_flag(env: &Env, name: &str) -> Result<bool, Error> {
    match env.get(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(Error::config(
            name,
            format!("expected true or false, got {v:?}"),
        )),
    }
}

/// Checks that `region` looks like an AWS region name (`eu-west-1`): lowercase letters,
/// digits and dashes. `origin` names where it came from.
pub(crate) fn check_region(region: &str, origin: &str) -> Result<String, Error> {
    let valid = !region.is_empty()
        && region.len() <= 63
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if valid {
        Ok(region.to_owned())
    } else {
        Err(Error::config(
            origin,
            format!("expected a region name such as eu-west-1, got {region:?}"),
        ))
    }
}

/// The region named by environment variables alone: `AWS_REGION`, else `AWS_DEFAULT_REGION`.
pub(crate) fn region_from_env(env: &Env) -> Result<Option<String>, Error> {
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(region) = env.get(name) {
            return check_region(&region, name).map(Some);
        }
    }
    Ok(None)
}

/// The region field of an ARN (`arn:aws:ecs:<region>:<account>:task/...`).
pub(crate) fn region_from_arn(arn: &str) -> Result<String, Error> {
    let mut fields = arn.split(':');
    match (fields.next(), fields.nth(2)) {
        (Some("arn"), Some(region)) if !region.is_empty() => check_region(region, "task ARN"),
        _ => Err(Error::config(
            "task ARN",
            format!("expected arn:<partition>:ecs:<region>:<account>:task/..., got {arn:?}"),
        )),
    }
}

/// A partition's DNS suffixes.
struct Partition {
    dns_suffix: &'static str,
    /// The suffix of dual-stack (IPv4 and IPv6) hosts: every partition has one
    /// (`dualStackDnsSuffix` in the SDKs' partitions data).
    dual_stack_suffix: &'static str,
}

/// The partition of `region` by its prefix; an unknown prefix falls back to `aws` and is
/// logged (a newer region in the standard partition is the likely reason).
fn partition(region: &str) -> &'static Partition {
    const AWS: Partition = Partition {
        dns_suffix: "amazonaws.com",
        dual_stack_suffix: "api.aws",
    };
    static TABLE: &[(&str, Partition)] = &[
        (
            "cn-",
            Partition {
                dns_suffix: "amazonaws.com.cn",
                dual_stack_suffix: "api.amazonwebservices.com.cn",
            },
        ),
        (
            "us-gov-",
            Partition {
                dns_suffix: "amazonaws.com",
                dual_stack_suffix: "api.aws",
            },
        ),
        (
            "us-isob-",
            Partition {
                dns_suffix: "sc2s.sgov.gov",
                dual_stack_suffix: "api.aws.scloud",
            },
        ),
        (
            "us-isof-",
            Partition {
                dns_suffix: "csp.hci.ic.gov",
                dual_stack_suffix: "api.aws.hci.ic.gov",
            },
        ),
        (
            "us-iso-",
            Partition {
                dns_suffix: "c2s.ic.gov",
                dual_stack_suffix: "api.aws.ic.gov",
            },
        ),
        (
            "eu-isoe-",
            Partition {
                dns_suffix: "cloud.adc-e.uk",
                dual_stack_suffix: "api.cloud-aws.adc-e.uk",
            },
        ),
        (
            "eusc-",
            Partition {
                dns_suffix: "amazonaws.eu",
                dual_stack_suffix: "api.amazonwebservices.eu",
            },
        ),
    ];
    static STANDARD: Partition = AWS;
    const STANDARD_PREFIXES: &[&str] = &[
        "us-", "eu-", "ap-", "sa-", "ca-", "me-", "af-", "il-", "mx-",
    ];
    if let Some((_, p)) = TABLE.iter().find(|(prefix, _)| region.starts_with(prefix)) {
        return p;
    }
    if !STANDARD_PREFIXES.iter().any(|p| region.starts_with(p)) {
        log::warn!(
            target: "ecs_protect::aws",
            "region {region} matches no known partition; assuming the standard one (amazonaws.com)"
        );
    }
    &STANDARD
}

/// The endpoint settings read from the environment, checked before the region is known
/// (it may come from the task ARN, fetched later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndpointConfig {
    /// `AWS_ENDPOINT_URL_ECS` or `AWS_ENDPOINT_URL`, unless ignored.
    configured: Option<Endpoint>,
    fips: bool,
    dual_stack: bool,
}

impl EndpointConfig {
    /// Reads `AWS_ENDPOINT_URL_ECS`, else `AWS_ENDPOINT_URL` (both ignored when
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`), `AWS_USE_FIPS_ENDPOINT` and
    /// `AWS_USE_DUALSTACK_ENDPOINT`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable: a malformed URL or flag, or FIPS or dual-stack
    /// together with a custom endpoint.
    pub(crate) fn from_env(env: &Env) -> Result<EndpointConfig, Error> {
        let fips = env_flag(env, "AWS_USE_FIPS_ENDPOINT")?;
        let dual_stack = env_flag(env, "AWS_USE_DUALSTACK_ENDPOINT")?;
        let mut configured = None;
        if !env_flag(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")? {
            for origin in ["AWS_ENDPOINT_URL_ECS", "AWS_ENDPOINT_URL"] {
                if let Some(text) = env.get(origin) {
                    configured = Some(Endpoint {
                        url: parse_endpoint_url(&text, origin)?,
                        origin,
                    });
                    break;
                }
            }
        }
        let config = EndpointConfig {
            configured,
            fips,
            dual_stack,
        };
        config.check_flags()?;
        Ok(config)
    }

    /// An explicit endpoint URL (a builder setting); `origin` names the setting.
    pub(crate) fn fixed(text: &str, origin: &'static str) -> Result<EndpointConfig, Error> {
        Ok(EndpointConfig {
            configured: Some(Endpoint {
                url: parse_endpoint_url(text, origin)?,
                origin,
            }),
            fips: false,
            dual_stack: false,
        })
    }

    fn check_flags(&self) -> Result<(), Error> {
        let Some(endpoint) = &self.configured else {
            return Ok(());
        };
        for (set, flag) in [
            (self.fips, "AWS_USE_FIPS_ENDPOINT"),
            (self.dual_stack, "AWS_USE_DUALSTACK_ENDPOINT"),
        ] {
            if set {
                return Err(Error::config(
                    flag,
                    format!(
                        "cannot be combined with a custom endpoint ({} is set)",
                        endpoint.origin
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The endpoint for `region`: the configured URL, else the regional endpoint over HTTPS.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `AWS_REGION` when the region makes no valid host name.
    pub(crate) fn resolve(&self, region: &str) -> Result<Endpoint, Error> {
        if let Some(endpoint) = &self.configured {
            return Ok(endpoint.clone());
        }
        let partition = partition(region);
        let suffix = if self.dual_stack {
            partition.dual_stack_suffix
        } else {
            partition.dns_suffix
        };
        let service = if self.fips { "ecs-fips" } else { "ecs" };
        let text = format!("https://{service}.{region}.{suffix}/");
        let url = Url::parse(&text).map_err(|message| Error::config("AWS_REGION", message))?;
        Ok(Endpoint {
            url,
            origin: "region",
        })
    }
}

/// An endpoint override: an http(s) URL without a query (requests are signed for its path).
fn parse_endpoint_url(text: &str, origin: &'static str) -> Result<Url, Error> {
    let url = Url::parse(text).map_err(|message| Error::config(origin, message))?;
    if url.query.is_some() {
        return Err(Error::config(
            origin,
            format!("expected an endpoint URL without a query, got {text:?}"),
        ));
    }
    Ok(url)
}

/// The ECS endpoint `env` configures for `region` ([`EndpointConfig::from_env`], then
/// [`EndpointConfig::resolve`]).
#[cfg(test)]
fn ecs_endpoint(env: &Env, region: &str) -> Result<Endpoint, Error> {
    EndpointConfig::from_env(env)?.resolve(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(vars.iter().copied())
    }

    fn endpoint(vars: &[(&str, &str)], region: &str) -> Result<String, String> {
        ecs_endpoint(&env(vars), region)
            .map(|e| e.url.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn region_order() {
        let both = env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]);
        assert_eq!(
            region_from_env(&both).unwrap().as_deref(),
            Some("eu-west-1")
        );
        let default = env(&[("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(
            region_from_env(&default).unwrap().as_deref(),
            Some("us-east-1")
        );
        assert_eq!(region_from_env(&env(&[])).unwrap(), None);
        let err = region_from_env(&env(&[("AWS_REGION", "EU West")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid AWS_REGION: expected a region name such as eu-west-1, got \"EU West\""
        );
    }

    #[test]
    fn region_from_task_arn() {
        assert_eq!(
            region_from_arn("arn:aws:ecs:eu-west-1:111122223333:task/default/158d").unwrap(),
            "eu-west-1"
        );
        assert_eq!(
            region_from_arn("arn:aws-cn:ecs:cn-north-1:1:task/c/t").unwrap(),
            "cn-north-1"
        );
        for bad in ["", "158d1c8083dd", "arn:aws:ecs", "arn:aws:ecs::1:task/x"] {
            let err = region_from_arn(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid task ARN: "), "{err}");
        }
    }

    #[test]
    fn regional_endpoints_by_partition() {
        for (region, expected) in [
            ("eu-west-1", "https://ecs.eu-west-1.amazonaws.com/"),
            ("cn-north-1", "https://ecs.cn-north-1.amazonaws.com.cn/"),
            ("us-gov-west-1", "https://ecs.us-gov-west-1.amazonaws.com/"),
            ("us-iso-east-1", "https://ecs.us-iso-east-1.c2s.ic.gov/"),
            (
                "us-isob-east-1",
                "https://ecs.us-isob-east-1.sc2s.sgov.gov/",
            ),
            ("eusc-de-east-1", "https://ecs.eusc-de-east-1.amazonaws.eu/"),
            ("xx-new-1", "https://ecs.xx-new-1.amazonaws.com/"),
        ] {
            assert_eq!(endpoint(&[], region).unwrap(), expected);
        }
    }

    #[test]
    fn fips_and_dual_stack() {
        let fips = [("AWS_USE_FIPS_ENDPOINT", "true")];
        assert_eq!(
            endpoint(&fips, "us-east-1").unwrap(),
            "https://ecs-fips.us-east-1.amazonaws.com/"
        );
        let dual = [("AWS_USE_DUALSTACK_ENDPOINT", "TRUE")];
        assert_eq!(
            endpoint(&dual, "eu-west-1").unwrap(),
            "https://ecs.eu-west-1.api.aws/"
        );
        let both = [
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
        ];
        assert_eq!(
            endpoint(&both, "us-east-1").unwrap(),
            "https://ecs-fips.us-east-1.api.aws/"
        );
        for (region, expected) in [
            (
                "cn-north-1",
                "https://ecs.cn-north-1.api.amazonwebservices.com.cn/",
            ),
            ("us-gov-west-1", "https://ecs.us-gov-west-1.api.aws/"),
            ("us-iso-east-1", "https://ecs.us-iso-east-1.api.aws.ic.gov/"),
            (
                "us-isob-east-1",
                "https://ecs.us-isob-east-1.api.aws.scloud/",
            ),
            (
                "us-isof-south-1",
                "https://ecs.us-isof-south-1.api.aws.hci.ic.gov/",
            ),
            (
                "eu-isoe-west-1",
                "https://ecs.eu-isoe-west-1.api.cloud-aws.adc-e.uk/",
            ),
            (
                "eusc-de-east-1",
                "https://ecs.eusc-de-east-1.api.amazonwebservices.eu/",
            ),
        ] {
            assert_eq!(endpoint(&dual, region).unwrap(), expected, "{region}");
        }
        assert_eq!(
            endpoint(&[("AWS_USE_FIPS_ENDPOINT", "yes")], "us-east-1").unwrap_err(),
            "invalid AWS_USE_FIPS_ENDPOINT: expected true or false, got \"yes\""
        );
        assert_eq!(
            endpoint(&[("AWS_USE_FIPS_ENDPOINT", "false")], "us-east-1").unwrap(),
            "https://ecs.us-east-1.amazonaws.com/"
        );
    }

    #[test]
    fn configured_endpoint_urls() {
        let both = [
            ("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL", "http://localhost:9999"),
        ];
        let e = ecs_endpoint(&env(&both), "eu-west-1").unwrap();
        assert_eq!(e.url.to_string(), "http://127.0.0.1:4566/");
        assert_eq!(e.origin, "AWS_ENDPOINT_URL_ECS");
        let global = ecs_endpoint(&env(&both[1..]), "eu-west-1").unwrap();
        assert_eq!(global.url.to_string(), "http://localhost:9999/");
        assert_eq!(global.origin, "AWS_ENDPOINT_URL");

        let mut ignored = both.to_vec();
        ignored.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"));
        assert_eq!(
            endpoint(&ignored, "eu-west-1").unwrap(),
            "https://ecs.eu-west-1.amazonaws.com/"
        );

        assert_eq!(
            endpoint(&[("AWS_ENDPOINT_URL", "http://x/?a=b")], "eu-west-1").unwrap_err(),
            "invalid AWS_ENDPOINT_URL: expected an endpoint URL without a query, got \"http://x/?a=b\""
        );
        assert_eq!(
            endpoint(&[("AWS_ENDPOINT_URL_ECS", "localhost:4566")], "eu-west-1").unwrap_err(),
            "invalid AWS_ENDPOINT_URL_ECS: expected an http:// or https:// URL, got \"localhost:4566\""
        );
        let mut fips = both.to_vec();
        fips.push(("AWS_USE_FIPS_ENDPOINT", "true"));
        assert_eq!(
            endpoint(&fips, "eu-west-1").unwrap_err(),
            "invalid AWS_USE_FIPS_ENDPOINT: cannot be combined with a custom endpoint \
             (AWS_ENDPOINT_URL_ECS is set)"
        );
        let dual = [
            ("AWS_ENDPOINT_URL", "https://proxy.internal/"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
        ];
        assert_eq!(
            endpoint(&dual, "eu-west-1").unwrap_err(),
            "invalid AWS_USE_DUALSTACK_ENDPOINT: cannot be combined with a custom endpoint \
             (AWS_ENDPOINT_URL is set)"
        );
    }
}
