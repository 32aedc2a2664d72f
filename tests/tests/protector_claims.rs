//! Documented protector behaviour, each claim one test named after it, through the public
//! API only (`Config::builder()`, `RecordingBackend`, `stats()`, the log).
//!
//! Durations are asserted where the claim is about time: a lower bound that load cannot
//! break (the protector may be late, never early) and a generous upper bound.
//!
//! The logger is process-wide: this binary installs one capture, and only
//! `local_mode_says_so_once_in_the_log` builds a local protector, only
//! `the_hard_cap_releases_with_work_in_flight_and_logs_an_error` reaches the hard cap.

use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::mock::{Call, RecordingBackend};
use ecs_protect::{
    Config, Drained, Env, Error, FailurePolicy, Guard, Protection, Protector, RefusalReason, State,
};
use ecs_protect_tests::{DEADLINE, eventually, wait_until};

/// How late the protector may act under load before a test calls it a failure.
const SLACK: Duration = Duration::from_secs(10);

struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        // Only this crate's lines: the HTTP client's are not what these tests are about.
        if record.target().starts_with("ecs_protect") {
            let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
            lines.push((record.level(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

/// The log lines so far (installs the capture on first use).
fn logs() -> Vec<(log::Level, String)> {
    static LOGS: OnceLock<&'static Capture> = OnceLock::new();
    let capture = LOGS.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Trace);
        capture
    });
    capture.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn protector(config: Config) -> (Protector, RecordingBackend) {
    let backend = RecordingBackend::new();
    (Protector::with_config(config, backend.clone()), backend)
}

/// A protector whose linger (10 minutes) never ends within a test, with one unit in flight:
/// only `drain` can release it.
fn one_unit_under_a_long_linger() -> (Protector, RecordingBackend, Guard) {
    let (protector, backend) = protector(
        Config::builder()
            .linger(Duration::from_secs(600))
            .build()
            .unwrap(),
    );
    let guard = protector.acquire().unwrap();
    (protector, backend, guard)
}

fn disables(calls: &[Call]) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| c.ok && c.change == Protection::Off)
        .cloned()
        .collect()
}

fn first_disable(backend: &RecordingBackend) -> Call {
    assert!(
        backend.wait_until(DEADLINE, |calls| !disables(calls).is_empty()),
        "protection was never released: {:?}",
        backend.calls()
    );
    disables(&backend.calls())[0].clone()
}

#[test]
fn release_comes_after_the_linger_not_before_and_within_a_bound() {
    let linger = Duration::from_millis(400);
    let (protector, backend) = protector(Config::builder().linger(linger).build().unwrap());
    let guard = protector.acquire().unwrap();
    assert!(guard.is_protected());
    let before_drop = Instant::now();
    drop(guard);
    let after_drop = Instant::now();

    let release = first_disable(&backend);
    assert!(
        release.started >= before_drop + linger,
        "released {:?} after the last unit, before the {linger:?} linger",
        release.started.saturating_duration_since(before_drop)
    );
    assert!(
        release.started <= after_drop + linger + SLACK,
        "released {:?} after the last unit",
        release.started.saturating_duration_since(after_drop)
    );
    // On throughout the linger: ECS could not stop the task meanwhile.
    let just_before = release.started - Duration::from_nanos(1);
    assert!(backend.protected_throughout(after_drop, just_before));
    assert_eq!(backend.enable_calls(), 1);
    assert_eq!(protector.stats().disables, 1);
}

#[test]
fn drain_returns_complete_when_the_work_finishes_in_time() {
    let (protector, backend, guard) = one_unit_under_a_long_linger();
    assert!(guard.is_protected());
    let worker = {
        let protector = protector.clone();
        thread::spawn(move || {
            // The work ends only once drain has begun (drain asks for shutdown first).
            eventually("drain to begin", || protector.is_shutting_down());
            let finished = Instant::now();
            drop(guard);
            finished
        })
    };
    assert_eq!(protector.in_flight(), 1);
    let drained = protector.drain(DEADLINE);
    let returned = Instant::now();
    let finished = worker.join().unwrap();

    assert_eq!(drained, Drained::Complete);
    assert!(drained.is_complete());
    assert!(
        returned >= finished,
        "drain returned before the work finished"
    );
    assert!(returned < finished + SLACK);
    assert_eq!(protector.in_flight(), 0);
    // Released by drain, without waiting out the 10-minute linger.
    let release = first_disable(&backend);
    assert!(
        release.ended <= returned,
        "drain returned before the release"
    );
    assert!(!backend.last_confirmed_on());
}

#[test]
fn drain_times_out_while_work_is_still_running_and_releases_anyway() {
    let (protector, backend, guard) = one_unit_under_a_long_linger();
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let drained = protector.drain(timeout);
    let took = start.elapsed();
    assert_eq!(drained, Drained::TimedOut { in_flight: 1 });
    assert!(took >= timeout, "drain gave up after {took:?}");
    assert!(took < timeout + SLACK, "drain took {took:?}");
    assert!(!backend.last_confirmed_on(), "protection stayed on");
    drop(guard);
}

#[test]
fn local_mode_says_so_once_in_the_log() {
    let before = local_mode_lines();
    // No ECS_CONTAINER_METADATA_URI_V4: local mode.
    let protector = Protector::from_env_with(&Env::from_vars([("AWS_REGION", "eu-west-1")]))
        .expect("local mode needs nothing");
    let stats = protector.stats();
    assert_eq!(stats.state, State::Local);
    for _ in 0..50 {
        let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
        assert!(!guard.is_protected());
    }
    let clone = protector.clone();
    drop(clone.acquire().unwrap());
    assert!(protector.drain(DEADLINE).is_complete());
    assert_eq!(protector.stats().calls(), 0, "local mode called a backend");

    let said = local_mode_lines() - before;
    assert_eq!(said, 1, "local mode was said {said} times: {:#?}", logs());
    let line = logs()
        .into_iter()
        .find(|(_, m)| m.contains("local mode"))
        .unwrap();
    assert_eq!(line.0, log::Level::Info, "{line:?}");
}

fn local_mode_lines() -> usize {
    logs()
        .iter()
        .filter(|(_, m)| m.contains("local mode"))
        .count()
}

#[test]
fn stats_time_protected_counts_the_time_protection_was_on() {
    let (protector, backend) = protector(Config::builder().linger(Duration::ZERO).build().unwrap());
    assert_eq!(protector.stats().time_protected, Duration::ZERO);
    let start = Instant::now();
    let guard = protector.acquire().unwrap();
    let acquired = Instant::now();
    // The current stretch counts while it lasts.
    let hold = Duration::from_millis(200);
    assert!(wait_until(DEADLINE, || acquired.elapsed() >= hold));
    let during = protector.stats().time_protected;
    assert!(during >= hold, "{during:?} while on for {hold:?}");
    drop(guard);
    let release = first_disable(&backend);
    assert!(wait_until(DEADLINE, || protector.stats().state == State::Off));
    let end = Instant::now();

    let total = protector.stats().time_protected;
    // At least while the guard was held; at most from before the enable to after the release.
    assert!(total >= during, "{total:?} < {during:?}");
    assert!(total <= end - start, "{total:?} > {:?}", end - start);
    assert!(release.ended <= end);
    // Off: it no longer grows.
    let later = Instant::now() + Duration::from_millis(50);
    assert!(wait_until(DEADLINE, || Instant::now() >= later));
    assert_eq!(protector.stats().time_protected, total);
}

#[test]
fn the_hard_cap_releases_with_work_in_flight_and_logs_an_error() {
    let hard_cap = Duration::from_millis(600);
    let config = Config::builder()
        .linger(Duration::ZERO)
        .max_hold(Duration::from_millis(200))
        .hold_grace(Duration::from_millis(100))
        // Long enough that protection is not taken again (and capped again) meanwhile.
        .window(Duration::from_secs(60))
        .hard_cap(hard_cap)
        .build()
        .unwrap();
    let (protector, backend) = protector(config);
    let stuck = protector.acquire().unwrap();
    let acquired = Instant::now();
    assert!(stuck.is_protected());

    let release = first_disable(&backend);
    assert_eq!(protector.in_flight(), 1, "the stuck unit is still running");
    let enabled = backend.calls()[0].clone();
    assert!(matches!(enabled.change, Protection::On { .. }));
    assert!(
        release.started >= enabled.started + hard_cap,
        "released {:?} after the enable, before the {hard_cap:?} hard cap",
        release.started - enabled.started
    );
    assert!(release.started <= acquired + hard_cap + SLACK);
    eventually("the hard cap counted", || protector.stats().hard_caps == 1);
    let errors: Vec<String> = logs()
        .into_iter()
        .filter(|(level, m)| *level == log::Level::Error && m.contains("hard cap"))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    drop(stuck);
    assert!(protector.drain(DEADLINE).is_complete());
}

#[test]
fn a_refused_back_off_ends_after_refused_retry_after_then_ecs_is_asked_again() {
    // Long enough that the checks "during the back-off" cannot run after it on a loaded
    // machine.
    let back_off = Duration::from_secs(2);
    let config = Config::builder()
        .refused_retry_after(back_off)
        .linger(Duration::ZERO)
        .build()
        .unwrap();
    let (protector, backend) = protector(config);
    backend.fail_next(|| Error::TaskRefused {
        reason: RefusalReason::TaskNotValid,
        detail: None,
        arn: None,
    });
    let refused = protector.acquire_with(FailurePolicy::Require);
    assert!(
        matches!(
            refused,
            Err(Error::TaskRefused {
                reason: RefusalReason::TaskNotValid,
                ..
            })
        ),
        "{refused:?}"
    );
    let call = backend.calls()[0].clone();
    assert!(!call.ok);

    // During the back-off: the remembered answer, no call.
    let again = protector.acquire_with(FailurePolicy::Require);
    assert!(matches!(again, Err(Error::TaskRefused { .. })), "{again:?}");
    assert_eq!(
        backend.calls().len(),
        1,
        "asked ECS again during the back-off"
    );
    let left = protector.retry_in().expect("backing off");
    assert!(left <= back_off, "{left:?}");
    assert_eq!(protector.stats().state, State::BackingOff);

    // It ends: not before `refused_retry_after` from the refusal, and not long after.
    assert!(
        wait_until(back_off + SLACK, || protector.retry_in().is_none()),
        "the back-off did not end"
    );
    let ended = Instant::now();
    assert!(
        ended >= call.started + back_off,
        "the back-off ended {:?} after the call",
        ended - call.started
    );
    assert!(ended <= call.ended + back_off + SLACK);
    let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
    assert!(guard.is_protected());
    assert_eq!(backend.calls().len(), 2);
    assert!(backend.calls()[1].ok);
    drop(guard);
    assert!(protector.drain(DEADLINE).is_complete());
}
