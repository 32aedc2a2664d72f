//! What the protector logs (its own test binary: the logger is process-wide).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use ecs_protect::mock::RecordingBackend;
use ecs_protect::{
    Backend, Config, Error, Protection, ProtectionState, Protector, RefusalReason, State,
};
use ecs_protect_tests::DEADLINE;

struct Capture(Mutex<Vec<(log::Level, String)>>);

/// Lines naming this backend block in the logger while `HOLD` is set, as a blocked stdout
/// would.
const BLOCKING: &str = "blocking-log-test";
static HOLD: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());
static BLOCKED: AtomicBool = AtomicBool::new(false);

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&LOGS).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = record.args().to_string();
        if line.contains(BLOCKING) {
            let (hold, released) = &HOLD;
            let mut held = hold.lock().unwrap();
            while *held {
                BLOCKED.store(true, Ordering::SeqCst);
                held = released.wait(held).unwrap();
            }
        }
        self.0.lock().unwrap().push((record.level(), line));
    }

    fn flush(&self) {}
}

static LOGS: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn state_changes_and_deployment_blocked_are_explained() {
    install();
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

/// A recording backend under another name.
#[derive(Debug)]
struct Named(RecordingBackend);

impl Backend for Named {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        self.0.set_protection(change)
    }

    fn name(&self) -> &str {
        BLOCKING
    }
}

// Defect 6: lines were written under the protector's lock, so a blocked stdout stalled
// acquirers and the background thread.
#[test]
fn a_blocked_log_stalls_neither_acquirers_nor_the_protector() {
    install();
    *HOLD.0.lock().unwrap() = true;
    let backend = RecordingBackend::new();
    let config = Config::builder()
        .linger(Duration::from_secs(600))
        .build()
        .unwrap();
    let protector = Protector::with_config(config, Named(backend.clone()));
    let first = {
        let protector = protector.clone();
        std::thread::spawn(move || protector.acquire().unwrap().is_protected())
    };
    // The first acquire's "enabled" line is stuck in the logger...
    let deadline = Instant::now() + Duration::from_secs(10);
    while !BLOCKED.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the enabled line never reached the logger"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // ...yet the protector's lock is free: stats, more acquires and a shutdown go through.
    let started = Instant::now();
    assert_eq!(protector.stats().state, State::On);
    let second = protector.acquire().unwrap();
    assert!(second.is_protected());
    drop(second);
    protector.request_shutdown();
    assert!(protector.is_shutting_down());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stalled behind the logger for {:?}",
        started.elapsed()
    );
    *HOLD.0.lock().unwrap() = false;
    HOLD.1.notify_all();
    assert!(first.join().unwrap());
    // The lines come out afterwards, in order.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = LOGS.0.lock().unwrap().clone();
        let enabled = logs
            .iter()
            .position(|(_, m)| m.contains("task protection enabled") && m.contains(BLOCKING));
        let shutdown = logs
            .iter()
            .rposition(|(_, m)| m.starts_with("shutdown requested"));
        if let (Some(enabled), Some(shutdown)) = (enabled, shutdown) {
            assert!(enabled < shutdown, "{logs:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "lines lost: {logs:#?}");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(protector);
}
