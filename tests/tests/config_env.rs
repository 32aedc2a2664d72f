//! The README's table of `ECS_PROTECT_*` variables is the source: every documented default is
//! what an empty environment gives, every documented range is accepted to its ends and
//! rejected past them, and every invalid value is an error naming the variable.
//!
//! The table is read from `README.md` at test time, so a changed default or range needs no
//! change here, only in the README (and the code).

use std::time::Duration;

use ecs_protect::mock::{MockAws, Operation};
use ecs_protect::{Config, Env, Error, FailurePolicy, Protector, State};

const README: &str = include_str!("../../README.md");

/// One row of the README's table of this crate's variables.
#[derive(Debug)]
struct Row {
    name: String,
    default: String,
    accepted: String,
}

/// The rows of the table whose header is `| variable | meaning | default | accepted |`.
fn documented() -> Vec<Row> {
    let mut lines = README
        .lines()
        .skip_while(|line| !line.starts_with("| variable | meaning | default | accepted |"));
    assert!(
        lines.next().is_some(),
        "README.md has no table of variables"
    );
    let rows: Vec<Row> = lines
        .skip(1) // |---|---|
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 4, "README row {line:?}");
            Row {
                name: cells[0].trim_matches('`').to_owned(),
                default: cells[2].to_owned(),
                accepted: cells[3].to_owned(),
            }
        })
        .collect();
    assert!(rows.len() >= 13, "README table rows: {rows:#?}");
    rows
}

/// A cell that is one backticked value, such as `` `5s` ``.
fn single_value(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

fn config(vars: &[(&str, &str)]) -> Result<Config, Error> {
    Config::from_env_with(&Env::from_vars(vars.iter().copied()))
}

#[track_caller]
fn assert_rejected_naming(name: &str, value: &str) {
    match config(&[(name, value)]) {
        Err(Error::Config { origin, message }) => {
            assert_eq!(origin, name, "{value:?}: {message}");
            let shown = Error::config(origin, message).to_string();
            assert!(shown.contains(name), "{shown}");
            assert!(shown.contains(&format!("{value:?}")), "{shown}");
        }
        other => panic!("{name}={value:?} was not rejected: {other:?}"),
    }
}

#[track_caller]
fn assert_accepted(name: &str, value: &str) {
    if let Err(err) = config(&[(name, value)]) {
        panic!("{name}={value:?} was rejected: {err}");
    }
}

#[test]
fn every_documented_default_is_what_an_empty_environment_gives() {
    let defaults = config(&[]).expect("an empty environment is valid");
    assert_eq!(defaults, Config::default());
    assert_eq!(Config::builder().build().unwrap(), defaults);
    let mut checked = Vec::new();
    for row in documented() {
        match row.name.as_str() {
            // Checked by the two tests below: it is not a `Config` setting.
            "ECS_PROTECT_BACKEND" => continue,
            // Not a `Config` setting either: checked by `shared_dir`'s tests.
            "ECS_PROTECT_SHARED_DIR" => {
                assert_eq!(row.default, "unset", "update this test");
                continue;
            }
            // Unset, each backend keeps its own timeouts (the README names them).
            "ECS_PROTECT_CONNECT_TIMEOUT" => {
                assert_eq!(row.default, "`3s` (API), `2s` (agent)", "update this test");
                assert_eq!(defaults.connect_timeout(), None);
            }
            "ECS_PROTECT_READ_TIMEOUT" => {
                assert_eq!(row.default, "`10s`", "update this test");
                assert_eq!(defaults.read_timeout(), None);
                let set = config(&[(row.name.as_str(), "10s")]).unwrap();
                assert_eq!(set.read_timeout(), Some(Duration::from_secs(10)));
            }
            "ECS_PROTECT_HARD_CAP" => {
                assert_eq!(row.default, "`4 × MAX_HOLD`", "update this test");
                assert_eq!(defaults.hard_cap(), 4 * defaults.max_hold());
                let longer = config(&[("ECS_PROTECT_MAX_HOLD", "20m")]).unwrap();
                assert_eq!(longer.hard_cap(), Duration::from_secs(80 * 60));
            }
            name => {
                let value = single_value(&row.default).unwrap_or_else(|| {
                    panic!(
                        "{name}: the README's default {:?} is not one value",
                        row.default
                    )
                });
                // Setting a variable to its documented default changes nothing.
                let set = config(&[(name, value)])
                    .unwrap_or_else(|err| panic!("{name}={value:?} (its default): {err}"));
                assert_eq!(set, defaults, "{name}: the documented default is {value}");
            }
        }
        checked.push(row.name);
    }
    for name in [
        "ECS_PROTECT_HOLD_GRACE",
        "ECS_PROTECT_RETRY_AFTER",
        "ECS_PROTECT_BLOCKED_RETRY_AFTER",
        "ECS_PROTECT_REFUSED_RETRY_AFTER",
        "ECS_PROTECT_EMF_NAMESPACE",
    ] {
        assert!(
            checked.iter().any(|c| c == name),
            "{name} is not in the README's table"
        );
    }
    assert_eq!(defaults.policy(), FailurePolicy::Proceed);
}

#[test]
fn the_backend_defaults_to_off_outside_ecs() {
    let backend = documented()
        .into_iter()
        .find(|row| row.name == "ECS_PROTECT_BACKEND")
        .expect("ECS_PROTECT_BACKEND is documented");
    assert_eq!(
        backend.default, "`api` on ECS, `off` elsewhere",
        "update this test"
    );
    let protector = Protector::from_env_with(&Env::from_vars([("AWS_REGION", "us-east-1")]))
        .expect("no ECS metadata: local mode");
    assert_eq!(protector.stats().state, State::Local);
    let guard = protector.acquire().expect("local mode always proceeds");
    assert!(!guard.is_protected());
}

#[test]
fn the_backend_defaults_to_the_signed_api_on_ecs() {
    let mock = MockAws::start().expect("the fake AWS starts");
    let protector = Protector::from_env_with(&Env::from_vars(mock.env())).expect("on ECS");
    assert_ne!(protector.stats().state, State::Local);
    let guard = protector.acquire().expect("protection");
    assert!(guard.is_protected());
    drop(guard);
    assert!(protector.drain(Duration::from_secs(20)).is_complete());
    assert!(mock.api_calls(Operation::UpdateTaskProtection) >= 1);
    assert_eq!(mock.api_calls(Operation::AgentUpdateTaskProtection), 0);
}

#[test]
fn every_documented_range_is_accepted_to_its_ends_and_rejected_past_them() {
    for row in documented() {
        let name = row.name.as_str();
        if name == "ECS_PROTECT_SHARED_DIR" {
            continue; // a directory, checked when the backend is built: see `shared_dir`
        }
        if let Some((low, high)) = row.accepted.split_once("..=") {
            let (low, high) = (low.trim_matches('`').trim(), high.trim_matches('`').trim());
            if let (Ok(low), Ok(high)) = (low.parse::<u64>(), high.parse::<u64>()) {
                assert_accepted(name, &low.to_string());
                assert_accepted(name, &high.to_string());
                assert_rejected_naming(name, &(high + 1).to_string());
                if low > 0 {
                    assert_rejected_naming(name, &(low - 1).to_string());
                }
            } else if high.ends_with(['s', 'm', 'h']) {
                // A duration range; the low end may name other variables (HARD_CAP).
                assert_accepted(name, high);
                assert_rejected_naming(name, &format!("{high}1ms"));
                if !low.contains(char::is_uppercase) {
                    assert_accepted(name, low);
                }
                // A bare number cannot be misread as seconds.
                assert_rejected_naming(name, "5");
            } else {
                panic!(
                    "{name}: range {:?} not understood; update this test",
                    row.accepted
                );
            }
        } else if row.accepted == "1 to 255 characters" {
            assert_accepted(name, &"N".repeat(255));
            assert_rejected_naming(name, &"N".repeat(256));
        } else {
            // A list of words such as `proceed`, `require`.
            let words: Vec<&str> = row
                .accepted
                .split(", ")
                .map(|word| word.trim_matches('`'))
                .collect();
            assert!(words.len() >= 2, "{name}: accepted {:?}", row.accepted);
            if name == "ECS_PROTECT_BACKEND" {
                continue; // read by the backend: see invalid_backend_names_the_variable
            }
            for word in words {
                assert_accepted(name, word);
            }
            assert_rejected_naming(name, "maybe");
        }
    }
}

#[test]
fn invalid_backend_names_the_variable() {
    let err = Protector::from_env_with(&Env::from_vars([("ECS_PROTECT_BACKEND", "maybe")]))
        .expect_err("an unknown backend is an error");
    assert!(
        matches!(&err, Error::Config { origin, .. } if origin == "ECS_PROTECT_BACKEND"),
        "{err:?}"
    );
}

#[test]
fn invalid_hold_grace_names_the_variable() {
    assert_rejected_naming("ECS_PROTECT_HOLD_GRACE", "24h1ms");
    assert_rejected_naming("ECS_PROTECT_HOLD_GRACE", "2");
    assert_rejected_naming("ECS_PROTECT_HOLD_GRACE", "two minutes");
    let err = config(&[("ECS_PROTECT_HOLD_GRACE", "25h")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid ECS_PROTECT_HOLD_GRACE: expected a duration such as 250ms, 5s, 30m or 1h30m in 0s..=24h, got \"25h\""
    );
}

#[test]
fn invalid_retry_after_names_the_variable() {
    assert_rejected_naming("ECS_PROTECT_RETRY_AFTER", "1h1ms");
    assert_rejected_naming("ECS_PROTECT_RETRY_AFTER", "30");
    assert_rejected_naming("ECS_PROTECT_RETRY_AFTER", "-5s");
}

#[test]
fn invalid_blocked_retry_after_names_the_variable() {
    assert_rejected_naming("ECS_PROTECT_BLOCKED_RETRY_AFTER", "61m");
    assert_rejected_naming("ECS_PROTECT_BLOCKED_RETRY_AFTER", "60");
    assert_rejected_naming("ECS_PROTECT_BLOCKED_RETRY_AFTER", "1 m");
}

#[test]
fn invalid_emf_namespace_names_the_variable() {
    assert_rejected_naming("ECS_PROTECT_EMF_NAMESPACE", &"N".repeat(256));
    assert_rejected_naming("ECS_PROTECT_EMF_NAMESPACE", "   ");
    assert_accepted("ECS_PROTECT_EMF_NAMESPACE", "Billing/Workers");
}
