//! Durations and every `ECS_PROTECT_*` value.

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use super::{check, ensure};
use crate::config::VARIABLES;
use crate::config::duration::{self, Readable};
use crate::{Config, Env, Error};

/// Text near the grammar: digits, units, spaces, signs and dots, plus anything.
fn duration_text() -> BoxedStrategy<String> {
    prop_oneof![
        "[0-9msh .+-]{0,12}",
        "[0-9]{1,25}(ms|s|m|h)",
        any::<String>(),
    ]
    .boxed()
}

#[test]
fn durations_never_panic_and_parts_add_up() {
    let unit = prop_oneof![
        Just(("ms", Duration::from_millis(1))),
        Just(("s", Duration::from_secs(1))),
        Just(("m", Duration::from_secs(60))),
        Just(("h", Duration::from_secs(3600))),
    ];
    let parts = vec((0u32..100_000, unit), 1..4);
    check("durations", (duration_text(), parts), |(noise, parts)| {
        let _ = duration::parse(&noise);
        let text: String = parts.iter().map(|(n, (u, _))| format!("{n}{u}")).collect();
        let sum: Duration = parts.iter().map(|(n, (_, d))| *d * *n).sum();
        ensure(duration::parse(&format!(" {text}\t")) == Some(sum), || {
            format!("{text} is not {sum:?}")
        })
    });
}

#[test]
fn durations_read_back_as_shown() {
    // Shown in whole seconds from one second up, in milliseconds below.
    let shown = prop_oneof![
        (0u64..1000).prop_map(Duration::from_millis),
        (1u64..10_000_000).prop_map(Duration::from_secs),
    ];
    check("durations shown and read back", shown, |d| {
        let text = Readable(d).to_string();
        ensure(duration::parse(&text) == Some(d), || {
            format!("{d:?} shown as {text}")
        })
    });
}

#[test]
fn every_variable_is_read_or_named_in_its_error() {
    let value = prop_oneof![
        duration_text(),
        "(proceed|require|true|false|0|1|PROCEED| require )",
        "[0-9]{1,6}",
        any::<String>(),
    ];
    let vars = vec((proptest::sample::select(VARIABLES), value), 1..4);
    check("ECS_PROTECT_* values", vars, |vars| {
        let env = Env::from_vars(vars.clone());
        match Config::from_env_with(&env) {
            Ok(config) => {
                ensure(
                    config.hard_cap() >= config.max_hold() + config.hold_grace(),
                    || format!("hard cap below max hold and grace: {config:?}"),
                )?;
                ensure((1..=2880).contains(&config.expires_in_minutes()), || {
                    "minutes".into()
                })
            }
            Err(Error::Config { origin, message }) => {
                // The first invalid variable, with the value it had (the last one set wins
                // in `Env::from_vars`).
                let raw = vars
                    .iter()
                    .rev()
                    .find(|(name, _)| *name == origin)
                    .map(|(_, raw)| raw.clone());
                let Some(raw) = raw else {
                    return Err(TestCaseError::fail(format!(
                        "{origin} was not set: {message}"
                    )));
                };
                ensure(message.contains(&format!("{raw:?}")), || {
                    format!("the error for {origin} does not show {raw:?}: {message}")
                })
            }
            Err(other) => Err(TestCaseError::fail(format!(
                "not a config error: {other:?}"
            ))),
        }
    });
}

#[test]
fn durations_in_range_are_taken_as_given() {
    let linger = (0u64..=900_000).prop_map(Duration::from_millis);
    check("ECS_PROTECT_LINGER round trip", linger, |d| {
        let shown = Readable(d).to_string();
        let config =
            Config::from_env_with(&Env::from_vars([("ECS_PROTECT_LINGER", shown.as_str())]))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = duration::parse(&shown).expect("shown durations parse");
        ensure(config.linger() == expected, || {
            format!("{shown} read as {:?}", config.linger())
        })
    });
}

#[test]
fn backend_and_shared_dir_errors_name_their_variable() {
    let backend = any::<String>().prop_filter("not a backend name", |v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "api" | "agent" | "off" | ""
        )
    });
    let dir = "[a-zA-Z0-9 ._-]{1,16}";
    check(
        "ECS_PROTECT_BACKEND and ECS_PROTECT_SHARED_DIR",
        (backend, dir),
        |(backend, dir)| {
            let config = Config::default();
            let err = crate::backend::from_env(
                &Env::from_vars([("ECS_PROTECT_BACKEND", backend.as_str())]),
                &config,
            )
            .err()
            .ok_or_else(|| TestCaseError::fail("accepted"))?;
            ensure(
                matches!(&err, Error::Config { origin, .. } if origin == "ECS_PROTECT_BACKEND"),
                || format!("{err:?}"),
            )?;
            // A directory that does not exist (never one of the machine's).
            let missing = format!("/nonexistent-ecs-protect-proptest/{dir}");
            let env = Env::from_vars([
                ("ECS_PROTECT_BACKEND", "off"),
                ("ECS_PROTECT_SHARED_DIR", missing.as_str()),
            ]);
            let err = crate::backend::from_env(&env, &config)
                .err()
                .ok_or_else(|| TestCaseError::fail("accepted"))?;
            ensure(
                matches!(&err, Error::Config { origin, .. } if origin == "ECS_PROTECT_SHARED_DIR"),
                || format!("{err:?}"),
            )
        },
    );
}
