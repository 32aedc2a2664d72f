//! The `ECS_PROTECT_*` settings: each checked on its own, with its effective value and
//! source.

use std::time::Duration;

use super::{BACKEND, Report, SHARED_DIR, Setting};
use crate::config::Readable;
use crate::{Config, Env};

/// Checks each `ECS_PROTECT_*` setting on its own (so every bad one is reported), records
/// their effective values, and returns the configuration of the valid ones.
pub(crate) fn settings(env: &Env, report: &mut Report) -> Config {
    let mut valid: Vec<(&str, String)> = Vec::new();
    for &name in crate::config::VARIABLES {
        let Some(value) = env.get(name) else { continue };
        // The hard cap's range depends on the hold and its grace.
        let mut alone: Vec<(&str, String)> = vec![(name, value.clone())];
        if name == "ECS_PROTECT_HARD_CAP" {
            alone.extend(
                valid
                    .iter()
                    .filter(|(n, _)| *n == "ECS_PROTECT_MAX_HOLD" || *n == "ECS_PROTECT_HOLD_GRACE")
                    .cloned(),
            );
        }
        match Config::from_env_with(&Env::from_vars(alone)) {
            Ok(_) => valid.push((name, value)),
            Err(err) => report.problems.push(err.to_string()),
        }
    }
    let set = |name: &str| valid.iter().any(|(n, _)| *n == name);
    let config = Config::from_env_with(&Env::from_vars(valid.clone())).unwrap_or_default();
    let duration = |d: Duration| Readable(d).to_string();
    let values: [(&'static str, String); 14] = [
        (
            "ECS_PROTECT_EXPIRES_MINUTES",
            config.expires_in_minutes().to_string(),
        ),
        ("ECS_PROTECT_LINGER", duration(config.linger())),
        ("ECS_PROTECT_MAX_HOLD", duration(config.max_hold())),
        ("ECS_PROTECT_WINDOW", duration(config.window())),
        ("ECS_PROTECT_HOLD_GRACE", duration(config.hold_grace())),
        ("ECS_PROTECT_HARD_CAP", duration(config.hard_cap())),
        ("ECS_PROTECT_POLICY", config.policy().to_string()),
        ("ECS_PROTECT_RETRY_AFTER", duration(config.retry_after())),
        (
            "ECS_PROTECT_BLOCKED_RETRY_AFTER",
            duration(config.blocked_retry_after()),
        ),
        (
            "ECS_PROTECT_REFUSED_RETRY_AFTER",
            duration(config.refused_retry_after()),
        ),
        (
            "ECS_PROTECT_CONNECT_TIMEOUT",
            config
                .connect_timeout()
                .map_or("3s (agent 2s)".to_owned(), duration),
        ),
        (
            "ECS_PROTECT_READ_TIMEOUT",
            config.read_timeout().map_or("10s".to_owned(), duration),
        ),
        ("ECS_PROTECT_EMF", config.emf().to_string()),
        (
            "ECS_PROTECT_EMF_NAMESPACE",
            config.emf_namespace().to_owned(),
        ),
    ];
    report.settings = values
        .into_iter()
        .map(|(name, value)| Setting {
            name,
            value,
            source: if set(name) { "set" } else { "default" },
        })
        .collect();
    let backend = env.get(BACKEND);
    report.settings.insert(
        0,
        Setting {
            name: BACKEND,
            value: backend
                .clone()
                .unwrap_or_else(|| "(chosen from the environment)".into()),
            source: if backend.is_some() { "set" } else { "default" },
        },
    );
    report.settings.push(Setting {
        name: SHARED_DIR,
        value: env.get(SHARED_DIR).unwrap_or_else(|| "(none)".into()),
        source: if env.get(SHARED_DIR).is_some() {
            "set"
        } else {
            "default"
        },
    });
    config
}
