//! What the protector logs (its own test binary: the logger is process-wide).

use std::sync::Mutex;
use std::time::Duration;

use ecs_protect::mock::RecordingBackend;
use ecs_protect::{Config, Error, Protector, RefusalReason};
use ecs_protect_tests::DEADLINE;

struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }

    fn flush(&self) {}
}

static LOGS: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn state_changes_and_deployment_blocked_are_explained() {
    log::set_logger(&LOGS).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let backend = RecordingBackend::new();
    backend.fail_next(|| Error::TaskRefused {
        reason: RefusalReason::DeploymentBlocked,
        detail: None,
        arn: None,
    });
    let config = Config::builder()
        .blocked_retry_after(Duration::ZERO)
        .build()
        .unwrap();
    let protector = Protector::with_config(config, backend);
    drop(protector.acquire().unwrap()); // blocked: proceeds unprotected
    drop(protector.acquire().unwrap()); // enabled
    assert!(protector.drain(DEADLINE).is_complete());

    let logs = LOGS.0.lock().unwrap().clone();
    let find = |level: log::Level, needle: &str| {
        logs.iter()
            .find(|(l, m)| *l == level && m.contains(needle))
            .unwrap_or_else(|| panic!("no {level} line with {needle:?} in {logs:#?}"))
            .1
            .clone()
    };
    let blocked = find(log::Level::Warn, "DEPLOYMENT_BLOCKED means");
    for says in [
        "more protected tasks than its desired count",
        "NOT protected",
        "desired count",
        "asking again in",
    ] {
        assert!(blocked.contains(says), "{blocked}");
    }
    find(log::Level::Warn, "proceeding without task protection");
    let enabled = find(log::Level::Info, "task protection enabled");
    assert!(
        enabled.contains("expires in 2h") && enabled.contains("call took"),
        "{enabled}"
    );
    let removed = find(log::Level::Info, "task protection removed (drain)");
    assert!(removed.contains("call took"), "{removed}");
}
