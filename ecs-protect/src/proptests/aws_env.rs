//! The AWS variables every client reads: any values build a client or fail with an error
//! naming a variable, never a panic. Built only: no request is sent, no host name is
//! resolved (URLs are IP literals or malformed), instance metadata is disabled.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::{check, ensure};
use crate::agent::AgentBackend;
use crate::aws::EcsClient;
use crate::{Env, Error};

fn value(name: &'static str) -> BoxedStrategy<String> {
    let loopback = "(http|https|ftp)://(127\\.0\\.0\\.1|\\[::1\\]|10\\.1\\.2\\.3|\\[fd00:ec2::23\\])(:[0-9]{1,6})?(/[!-~]{0,8})?";
    let junk = "[ -~]{0,12}";
    match name {
        "AWS_REGION" | "AWS_DEFAULT_REGION" => prop_oneof!["[a-z]{2}-[a-z]{4,9}-[0-9]", junk].boxed(),
        "AWS_ENDPOINT_URL_ECS" | "AWS_ENDPOINT_URL" | "ECS_CONTAINER_METADATA_URI_V4" | "ECS_AGENT_URI"
        | "AWS_CONTAINER_CREDENTIALS_FULL_URI" | "HTTPS_PROXY" | "HTTP_PROXY" => {
            prop_oneof![3 => loopback, 1 => "[a-z:/ ]{0,10}"].boxed()
        }
        "AWS_USE_FIPS_ENDPOINT" | "AWS_USE_DUALSTACK_ENDPOINT" | "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" => {
            "(true|false|TRUE|yes|1| )".boxed()
        }
        "AWS_MAX_ATTEMPTS" => "(-?[0-9]{0,4}|x| 3 )".boxed(),
        "AWS_RETRY_MODE" => "(standard|legacy|adaptive|STANDARD| adaptive |x)".boxed(),
        "AWS_CA_BUNDLE" | "AWS_CONFIG_FILE" | "AWS_SHARED_CREDENTIALS_FILE"
        | "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" => "/nonexistent-ecs-protect-proptest/[a-z]{1,5}".boxed(),
        _ => prop_oneof![3 => "[A-Za-z0-9/+=]{1,12}", 1 => any::<String>(), 1 => "[a-z]{0,3}[\r\n][a-z]{0,3}"].boxed(),
    }
}

const VARIABLES: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_ECS",
    "AWS_ENDPOINT_URL",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "AWS_CA_BUNDLE",
    "ECS_CONTAINER_METADATA_URI_V4",
    "ECS_AGENT_URI",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

fn env() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    vec(
        select(VARIABLES).prop_flat_map(|name| (Just(name), value(name))),
        0..8,
    )
}

/// The error names a variable (or a file one of them names), in its origin or, for "no
/// credentials found", in the message listing what was looked for.
fn assert_names_a_variable(err: &Error) -> Result<(), TestCaseError> {
    let (origin, message) = match err {
        Error::Config { origin, message }
        | Error::Credentials {
            origin, message, ..
        } => (origin, message),
        other => return Err(TestCaseError::fail(format!("unexpected error: {other:?}"))),
    };
    ensure(
        VARIABLES
            .iter()
            .any(|v| origin.contains(v) || message.contains(v))
            || origin.contains("/nonexistent-ecs-protect-proptest/"),
        || format!("the error names no variable: {err:?}"),
    )
}

#[test]
fn any_aws_environment_builds_a_client_or_names_the_variable() {
    check("AWS environment", env(), |vars| {
        let env = Env::from_vars(vars.into_iter().chain([
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("HOME", "/nonexistent-ecs-protect-proptest/home".to_owned()),
        ]));
        if let Err(err) = EcsClient::builder().env(&env).build() {
            assert_names_a_variable(&err)?;
        }
        if let Err(err) = AgentBackend::from_env_with(&env) {
            assert_names_a_variable(&err)?;
        }
        Ok(())
    });
}
