//! The protector's behaviour against the recording backend: reference counting, single
//! flight, linger, renewal, breathing windows, the hard cap, failure policies, back-offs,
//! shutdown and drain. Durations are milliseconds; every wait has a deadline.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::mock::{Call, RecordingBackend};
use ecs_protect::{
    Backend, Config, ConfigBuilder, Drained, Error, FailurePolicy, Protection, ProtectionState,
    Protector, RefusalReason, State,
};
use ecs_protect_tests::errors::{access_denied, blocked, server_error, throttled, transport_error};
use ecs_protect_tests::rng::Rng;
use ecs_protect_tests::{DEADLINE, eventually, ms};

/// Short durations; a max hold far away unless a test wants windows.
fn fast() -> ConfigBuilder {
    Config::builder()
        .linger(ms(5))
        .retry_after(Duration::ZERO)
        .blocked_retry_after(Duration::ZERO)
        .refused_retry_after(Duration::ZERO)
}

fn protector(config: ConfigBuilder, backend: &RecordingBackend) -> Protector {
    Protector::with_config(config.build().expect("valid test config"), backend.clone())
}

fn last_ok_is_off(calls: &[Call]) -> bool {
    calls
        .iter()
        .rev()
        .find(|c| c.ok)
        .is_some_and(|c| c.change == Protection::Off)
}

#[test]
fn stress_sixteen_threads_every_unit_protected_throughout() {
    for iteration in 0..12u64 {
        let backend = RecordingBackend::new();
        // Linger zero and short lingers make the count's trips to zero race with new
        // acquires: disables in the air while units arrive.
        let linger = [Duration::ZERO, Duration::from_micros(300), ms(2)][iteration as usize % 3];
        let protector = protector(fast().linger(linger), &backend);
        let spans = Mutex::new(Vec::new());
        let done = AtomicBool::new(false);
        thread::scope(|scope| {
            // Random call latencies, changing while the work runs.
            scope.spawn(|| {
                let mut rng = Rng::new(iteration * 7919 + 1);
                while !done.load(Ordering::Relaxed) {
                    backend.set_latency(Duration::from_micros(rng.below(3_000)));
                    thread::sleep(Duration::from_micros(500));
                }
            });
            let workers: Vec<_> = (0..16u64)
                .map(|t| {
                    let (protector, spans) = (&protector, &spans);
                    scope.spawn(move || {
                        let mut rng = Rng::new(iteration * 1_000_003 + t * 31 + 7);
                        for _ in 0..12 {
                            // Random gaps let the count reach zero, so that disables race
                            // with new acquires.
                            thread::sleep(Duration::from_micros(rng.below(8_000)));
                            let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
                            assert!(guard.is_protected());
                            let start = Instant::now();
                            thread::sleep(Duration::from_micros(rng.below(1_000)));
                            let end = Instant::now();
                            drop(guard);
                            spans.lock().unwrap().push((start, end));
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        assert_eq!(protector.in_flight(), 0);
        assert!(
            backend.wait_until(DEADLINE, last_ok_is_off),
            "protection still on after the last guard and the linger: {:?}",
            backend.calls()
        );
        for (start, end) in spans.into_inner().unwrap() {
            assert!(
                backend.protected_throughout(start, end),
                "iteration {iteration}: a unit ran unprotected between {start:?} and {end:?}"
            );
        }
        assert_eq!(backend.max_concurrent_calls(), 1, "two calls overlapped");
        let stats = protector.stats();
        assert_eq!(stats.failures, 0);
        assert_eq!(stats.calls() as usize, backend.calls().len());
    }
}

#[test]
fn concurrent_acquirers_share_one_enable_call() {
    let backend = RecordingBackend::new();
    backend.set_latency(ms(40));
    let protector = protector(fast(), &backend);
    let guards: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| protector.acquire_with(FailurePolicy::Require).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(guards.iter().all(|g| g.is_protected()));
    assert_eq!(backend.enable_calls(), 1);
    assert_eq!(backend.max_concurrent_calls(), 1);
    assert_eq!(protector.in_flight(), 8);
}

#[test]
fn steady_work_within_the_linger_costs_one_enable() {
    let backend = RecordingBackend::new();
    let protector = protector(fast().linger(Duration::from_secs(60)), &backend);
    for _ in 0..1_000 {
        let _guard = protector.acquire().unwrap();
    }
    assert_eq!(backend.calls().len(), 1);
    assert_eq!(protector.stats().state, State::On);
}

#[test]
fn protection_is_renewed_before_it_expires_during_a_long_unit() {
    let backend = RecordingBackend::new();
    backend.set_expiry(ms(60));
    let protector = protector(fast(), &backend);
    let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
    let start = Instant::now();
    // The unit outlives the granted expiry several times over.
    assert!(backend.wait_until(DEADLINE, |calls| {
        calls
            .iter()
            .filter(|c| c.ok && matches!(c.change, Protection::On { .. }))
            .count()
            >= 5
    }));
    let end = Instant::now();
    drop(guard);
    assert!(
        end - start > ms(60 * 2),
        "the unit did not outlive the expiry"
    );
    assert!(
        backend.protected_throughout(start, end),
        "{:?}",
        backend.calls()
    );
    assert!(protector.stats().renewals >= 4);
    assert!(backend.wait_until(DEADLINE, last_ok_is_off));
}

#[test]
fn idle_protection_is_released_after_the_linger() {
    let backend = RecordingBackend::new();
    let linger = ms(200);
    let protector = protector(fast().linger(linger), &backend);
    drop(protector.acquire().unwrap());
    let released = Instant::now();
    assert!(backend.wait_until(DEADLINE, last_ok_is_off));
    let disable = backend.calls()[1].clone();
    assert_eq!(disable.change, Protection::Off);
    assert!(
        disable.started >= released + linger,
        "released {:?} after the last unit, before the linger of {linger:?}",
        disable.started - released
    );
    assert_eq!(protector.stats().renewals, 0);
}

#[test]
fn idle_protection_due_for_renewal_is_released_not_renewed() {
    let backend = RecordingBackend::new();
    backend.set_expiry(ms(40));
    let protector = protector(fast().linger(Duration::from_secs(60)), &backend);
    drop(protector.acquire().unwrap());
    let released = Instant::now();
    // Renewal time comes while idle, long before the linger ends: the protector disables
    // rather than renews.
    assert!(backend.wait_until(DEADLINE, last_ok_is_off));
    assert!(backend.calls()[1].started < released + Duration::from_secs(60));
    assert_eq!(protector.stats().renewals, 0);
}

#[test]
fn continuous_work_gets_breathing_windows() {
    let backend = RecordingBackend::new();
    let window = ms(25);
    let protector = protector(
        fast()
            .max_hold(ms(40))
            .window(window)
            .hold_grace(Duration::from_secs(5)),
        &backend,
    );
    let spans = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        for t in 0..4u64 {
            let (protector, spans, stop) = (&protector, &spans, &stop);
            scope.spawn(move || {
                let mut rng = Rng::new(t + 11);
                while !stop.load(Ordering::Relaxed) {
                    let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
                    let start = Instant::now();
                    thread::sleep(Duration::from_micros(500 + rng.below(2_000)));
                    let end = Instant::now();
                    drop(guard);
                    spans.lock().unwrap().push((start, end));
                }
            });
        }
        eventually("three breathing windows", || protector.stats().windows >= 3);
        stop.store(true, Ordering::Relaxed);
    });
    let calls = backend.calls();
    let spans = spans.into_inner().unwrap();
    // No unit ran unprotected, windows included.
    for &(start, end) in &spans {
        assert!(backend.protected_throughout(start, end));
    }
    // Protection was off for at least the window each time, and taken again afterwards.
    let mut windows = 0;
    for pair in calls.windows(2) {
        if pair[0].change == Protection::Off
            && pair[0].ok
            && let Protection::On { .. } = pair[1].change
        {
            windows += 1;
            assert!(pair[1].started - pair[0].ended >= window, "{pair:?}");
            // Work waited through the window and resumed after it.
            assert!(spans.iter().any(|&(start, _)| start > pair[1].ended));
            assert!(
                !spans
                    .iter()
                    .any(|&(start, end)| start < pair[1].ended && end > pair[0].started)
            );
        }
    }
    assert!(windows >= 2, "{calls:?}");
    assert_eq!(backend.max_concurrent_calls(), 1);
}

#[test]
fn a_stuck_unit_lets_work_in_after_the_grace_and_loses_protection_at_the_hard_cap() {
    let backend = RecordingBackend::new();
    let (max_hold, grace) = (ms(30), ms(60));
    let protector = protector(
        fast()
            .max_hold(max_hold)
            .hold_grace(grace)
            .hard_cap(ms(300))
            .window(ms(20)),
        &backend,
    );
    let stuck = protector.acquire_with(FailurePolicy::Require).unwrap();
    eventually("the breathing window to wait for work", || {
        protector.stats().state == State::Draining
    });
    // New work waits out the grace, then is let in under the same protection.
    let late = protector.acquire_with(FailurePolicy::Require).unwrap();
    let admitted = Instant::now();
    let enabled = backend.calls()[0].clone();
    assert!(
        admitted >= enabled.started + max_hold + grace,
        "the late unit was let in {:?} after protection began, before max_hold + grace",
        admitted - enabled.started
    );
    assert!(late.is_protected());
    assert!(backend.protected_at(admitted));
    assert_eq!(
        backend.enable_calls(),
        1,
        "the late unit needed no new enable"
    );
    assert_eq!(protector.stats().state, State::Overrun);
    drop(late);
    eventually("the hard cap", || protector.stats().hard_caps == 1);
    // The stuck unit is still running, yet protection was released at the cap.
    assert_eq!(protector.in_flight(), 1);
    let off = backend
        .calls()
        .into_iter()
        .find(|c| c.change == Protection::Off)
        .expect("a disable at the hard cap");
    assert!(off.ok && off.started >= enabled.started + ms(300));
    assert!(!backend.protected_at(off.ended));
    // After the window new work takes protection again.
    let next = protector.acquire_with(FailurePolicy::Require).unwrap();
    assert!(next.is_protected() && backend.last_confirmed_on());
    assert_eq!(protector.stats().overruns, 1);
    drop((stuck, next));
}

#[test]
fn proceed_runs_unprotected_and_remembers_the_failure() {
    let backend = RecordingBackend::new();
    backend.fail_next(transport_error);
    let protector = protector(fast().retry_after(Duration::from_secs(60)), &backend);
    let guard = protector.acquire().unwrap();
    assert!(!guard.is_protected());
    // Within the back-off no new call is made.
    let again = protector.acquire().unwrap();
    assert!(!again.is_protected());
    assert_eq!(backend.calls().len(), 1);
    let stats = protector.stats();
    assert_eq!((stats.unprotected, stats.failures), (2, 1));
    // A timed-out call may have been applied: protection is "maybe on" meanwhile.
    assert_eq!(stats.state, State::MaybeOn);
    assert!(protector.retry_in().is_some());
    assert_eq!(protector.in_flight(), 2);
}

#[test]
fn require_returns_the_error_to_every_acquirer_of_the_failed_call() {
    let backend = RecordingBackend::new();
    backend.set_latency(ms(30));
    backend.fail_next(transport_error);
    let protector = protector(fast().retry_after(Duration::from_secs(60)), &backend);
    let results: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| protector.acquire_with(FailurePolicy::Require)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in results {
        match result {
            Err(Error::Transport {
                timed_out: true, ..
            }) => {}
            other => panic!("expected the transport error, got {other:?}"),
        }
    }
    assert_eq!(backend.calls().len(), 1);
    assert_eq!(protector.stats().refused, 6);
    assert_eq!(protector.in_flight(), 0);
}

#[test]
fn after_the_back_off_protection_is_asked_again() {
    let backend = RecordingBackend::new();
    backend.fail_next(transport_error);
    let protector = protector(fast(), &backend); // zero back-off
    assert!(protector.acquire_with(FailurePolicy::Require).is_err());
    let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
    assert!(guard.is_protected());
    assert_eq!(backend.enable_calls(), 2);
}

#[test]
fn deployment_blocked_goes_through_the_policy_and_backs_off() {
    // Remembered for its own back-off: the same answer without asking ECS again.
    let backend = RecordingBackend::new();
    backend.fail_next(blocked);
    let remembering = protector(
        fast().blocked_retry_after(Duration::from_secs(600)),
        &backend,
    );
    let err = remembering
        .acquire_with(FailurePolicy::Require)
        .unwrap_err();
    assert!(err.is_deployment_blocked());
    for _ in 0..10 {
        let again = remembering
            .acquire_with(FailurePolicy::Require)
            .unwrap_err();
        assert!(again.is_deployment_blocked());
        let unprotected = remembering.acquire().unwrap();
        assert!(!unprotected.is_protected());
    }
    assert_eq!(backend.calls().len(), 1);
    let left = remembering.retry_in().expect("backing off");
    assert!(left > Duration::from_secs(500), "{left:?}");

    // Once the back-off has passed (counted from the moment the failing call returned, or
    // later), ECS is asked again.
    let backend = RecordingBackend::new();
    backend.fail_next(blocked);
    let backoff = ms(100);
    let protector = protector(fast().blocked_retry_after(backoff), &backend);
    assert!(protector.acquire_with(FailurePolicy::Require).is_err());
    let failed = Instant::now();
    let again = protector.acquire_with(FailurePolicy::Require);
    if failed.elapsed() < backoff {
        // Still inside the back-off when it returned: it cannot have asked.
        assert!(again.unwrap_err().is_deployment_blocked());
        assert_eq!(backend.calls().len(), 1);
    }
    let wait = (failed + backoff + ms(5)).saturating_duration_since(Instant::now());
    thread::sleep(wait);
    let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
    assert!(guard.is_protected());
    assert_eq!(backend.enable_calls(), 2);
}

#[test]
fn permanent_refusals_are_remembered() {
    for make in [access_denied as fn() -> Error, || Error::TaskRefused {
        reason: RefusalReason::TaskNotValid,
        detail: Some("standalone task".into()),
        arn: None,
    }] {
        let backend = RecordingBackend::new();
        backend.fail_next(make);
        let protector = protector(
            fast()
                .retry_after(Duration::ZERO)
                .refused_retry_after(Duration::from_secs(3600)),
            &backend,
        );
        for _ in 0..100 {
            let err = protector.acquire_with(FailurePolicy::Require).unwrap_err();
            assert!(err.is_permanent(), "{err}");
            drop(protector.acquire().unwrap());
        }
        assert_eq!(
            backend.calls().len(),
            1,
            "a permanent refusal was asked again"
        );
    }
}

#[test]
fn after_shutdown_no_enable_is_made_and_protection_goes_at_once() {
    let backend = RecordingBackend::new();
    // A long linger: shutdown must make it zero.
    let protector = protector(fast().linger(Duration::from_secs(600)), &backend);
    let working = protector.acquire_with(FailurePolicy::Require).unwrap();
    protector.request_shutdown();
    let calls_at_flag = backend.calls().len();
    assert!(matches!(
        protector.acquire_with(FailurePolicy::Require),
        Err(Error::ShuttingDown)
    ));
    let late = protector.acquire_with(FailurePolicy::Proceed).unwrap();
    assert!(!late.is_protected());
    assert!(working.is_protected());
    assert!(
        backend.last_confirmed_on(),
        "work in flight keeps its protection"
    );
    drop(late);
    drop(working);
    assert!(backend.wait_until(DEADLINE, last_ok_is_off));
    assert!(matches!(
        protector.acquire_with(FailurePolicy::Require),
        Err(Error::ShuttingDown)
    ));
    let calls = backend.calls();
    assert!(
        calls[calls_at_flag..]
            .iter()
            .all(|c| c.change == Protection::Off),
        "an enable after the flag: {calls:?}"
    );
    let stats = protector.stats();
    assert!(stats.shutting_down);
    assert_eq!((stats.refused, stats.unprotected), (2, 1));
}

#[test]
fn drain_releases_lingering_protection_before_returning() {
    let backend = RecordingBackend::new();
    let protector = protector(fast().linger(Duration::from_secs(600)), &backend);
    drop(protector.acquire().unwrap());
    assert!(backend.last_confirmed_on());
    assert_eq!(protector.drain(Duration::from_secs(5)), Drained::Complete);
    assert!(
        last_ok_is_off(&backend.calls()),
        "drain returned with protection on"
    );
}

#[test]
fn drain_waits_for_work_then_times_out_and_releases_anyway() {
    let backend = RecordingBackend::new();
    let protector = protector(fast().linger(Duration::from_secs(600)), &backend);
    let finishing = protector.acquire().unwrap();
    let stuck = protector.acquire().unwrap();
    let timeout = ms(300);
    let watcher = protector.clone();
    // Ends one unit once the drain has begun (it requests shutdown first).
    let dropper = thread::spawn(move || {
        eventually("the drain to begin", || watcher.is_shutting_down());
        drop(finishing);
    });
    let started = Instant::now();
    let drained = protector.drain(timeout);
    let took = started.elapsed();
    dropper.join().unwrap();
    assert_eq!(drained, Drained::TimedOut { in_flight: 1 });
    assert_eq!(
        drained.to_string(),
        "drain timed out with 1 units in flight"
    );
    assert!(
        took >= timeout,
        "returned after {took:?}, before its timeout"
    );
    assert!(
        took < timeout + Duration::from_secs(10),
        "returned after {took:?}"
    );
    assert!(last_ok_is_off(&backend.calls()));
    assert_eq!(protector.in_flight(), 1);
    drop(stuck);
}

#[test]
fn drain_returns_as_soon_as_the_work_is_done() {
    let backend = RecordingBackend::new();
    let protector = protector(fast().linger(Duration::from_secs(600)), &backend);
    let working = protector.acquire().unwrap();
    let watcher = protector.clone();
    let dropper = thread::spawn(move || {
        eventually("the drain to begin", || watcher.is_shutting_down());
        drop(working);
    });
    let started = Instant::now();
    assert_eq!(protector.drain(Duration::from_secs(600)), Drained::Complete);
    assert!(started.elapsed() < Duration::from_secs(10));
    dropper.join().unwrap();
    assert!(last_ok_is_off(&backend.calls()));
}

#[test]
fn a_disable_racing_an_acquire_ends_with_protection_on() {
    let backend = RecordingBackend::new();
    backend.set_latency(ms(3));
    // Linger zero: every last release starts a disable right away.
    let protector = protector(fast().linger(Duration::ZERO), &backend);
    let mut rng = Rng::new(42);
    for _ in 0..40 {
        drop(protector.acquire_with(FailurePolicy::Require).unwrap());
        thread::sleep(Duration::from_micros(rng.below(5_000)));
        let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
        let start = Instant::now();
        assert!(guard.is_protected());
        thread::sleep(Duration::from_micros(rng.below(2_000)));
        assert!(
            backend.last_confirmed_on(),
            "a disable landed while a guard lives"
        );
        let end = Instant::now();
        drop(guard);
        assert!(backend.protected_throughout(start, end));
    }
    assert_eq!(backend.max_concurrent_calls(), 1);
    assert!(backend.wait_until(DEADLINE, last_ok_is_off));
}

#[test]
fn a_failed_disable_is_retried() {
    let backend = RecordingBackend::new();
    let protector = protector(fast().linger(Duration::ZERO).retry_after(ms(5)), &backend);
    let guard = protector.acquire().unwrap();
    backend.fail_next(transport_error);
    drop(guard);
    assert!(backend.wait_until(DEADLINE, |calls| {
        let offs: Vec<_> = calls
            .iter()
            .filter(|c| c.change == Protection::Off)
            .collect();
        offs.len() >= 2 && !offs[0].ok && offs[1].ok
    }));
    assert_eq!(protector.stats().failures, 1);
}

#[test]
fn dropping_the_last_handle_releases_protection_and_stops_the_thread() {
    let backend = RecordingBackend::new();
    let protector = protector(fast().linger(Duration::from_secs(600)), &backend);
    let clone = protector.clone();
    drop(protector.acquire().unwrap());
    drop(protector);
    assert!(backend.last_confirmed_on(), "a clone is still alive");
    drop(clone);
    assert!(backend.wait_until(DEADLINE, last_ok_is_off));
}

/// A local backend that must never be called.
#[derive(Debug, Default)]
struct Local {
    calls: Arc<AtomicUsize>,
}

impl Backend for Local {
    fn set_protection(&self, _: Protection) -> Result<ProtectionState, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(transport_error())
    }

    fn name(&self) -> &str {
        "local-test"
    }

    fn is_local(&self) -> bool {
        true
    }
}

#[test]
fn local_mode_counts_and_calls_nothing() {
    let calls = Arc::new(AtomicUsize::new(0));
    let protector = Protector::with_config(
        fast().policy(FailurePolicy::Require).build().unwrap(),
        Local {
            calls: Arc::clone(&calls),
        },
    );
    let guards: Vec<_> = (0..3).map(|_| protector.acquire().unwrap()).collect();
    assert!(guards.iter().all(|g| !g.is_protected()));
    assert_eq!(protector.in_flight(), 3);
    drop(guards);
    assert_eq!(protector.drain(Duration::ZERO), Drained::Complete);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let stats = protector.stats();
    assert_eq!((stats.state, stats.calls()), (State::Local, 0));
}

#[test]
fn failing_renewals_stop_handing_out_protected_guards_before_expiry() {
    let backend = RecordingBackend::new();
    backend.set_expiry(ms(80));
    let protector = protector(fast().retry_after(ms(5)), &backend);
    let long = protector.acquire_with(FailurePolicy::Require).unwrap();
    for _ in 0..1_000 {
        backend.fail_next(transport_error);
    }
    // Until the renewal is overdue new work is admitted under the existing protection;
    // after that it must confirm protection itself, which fails under `Require`.
    let deadline = Instant::now() + DEADLINE;
    loop {
        match protector.acquire_with(FailurePolicy::Require) {
            Ok(guard) => {
                assert!(
                    backend.protected_at(Instant::now()),
                    "a guard without protection"
                );
                drop(guard);
            }
            Err(err) => {
                assert!(matches!(err, Error::Transport { .. }), "{err}");
                break;
            }
        }
        assert!(Instant::now() < deadline, "renewal failures went unnoticed");
        thread::sleep(ms(1));
    }
    eventually("the protection to lapse", || {
        protector.stats().state != State::On
    });
    assert!(protector.stats().renewals >= 1);
    drop(long);
}

#[test]
fn shutdown_during_a_breathing_window_answers_the_waiting_work() {
    let backend = RecordingBackend::new();
    let protector = protector(
        fast()
            .max_hold(ms(20))
            .window(Duration::from_secs(600))
            .hold_grace(Duration::from_secs(60)),
        &backend,
    );
    let working = protector.acquire_with(FailurePolicy::Require).unwrap();
    eventually("the window to wait for work", || {
        protector.stats().state == State::Draining
    });
    thread::scope(|scope| {
        let required = scope.spawn(|| protector.acquire_with(FailurePolicy::Require));
        let proceeding = scope.spawn(|| protector.acquire_with(FailurePolicy::Proceed));
        eventually("both acquires to wait", || protector.stats().waiting == 2);
        drop(working);
        eventually("the window to open", || {
            protector.stats().state == State::Window
        });
        assert!(!backend.last_confirmed_on());
        // Still waiting in the window (600 s long).
        assert_eq!(protector.stats().waiting, 2);
        protector.request_shutdown();
        assert!(matches!(required.join().unwrap(), Err(Error::ShuttingDown)));
        assert!(!proceeding.join().unwrap().unwrap().is_protected());
    });
    assert_eq!(
        backend.enable_calls(),
        1,
        "protection was taken again after shutdown"
    );
}

#[test]
fn retry_in_tells_the_remaining_back_off_after_a_refusal() {
    let backend = RecordingBackend::new();
    backend.fail_next(blocked);
    let backoff = Duration::from_secs(60);
    let protector = protector(fast().blocked_retry_after(backoff), &backend);
    assert_eq!(protector.retry_in(), None, "no back-off before any failure");
    let err = protector.acquire_with(FailurePolicy::Require).unwrap_err();
    assert!(err.is_deployment_blocked());
    let left = protector
        .retry_in()
        .expect("backing off after DEPLOYMENT_BLOCKED");
    assert!(
        left <= backoff && left >= backoff - Duration::from_secs(30),
        "remaining back-off {left:?} out of (30 s, 60 s]"
    );
}

// Defect 1: an enable whose answer was lost (applied, then errored) left protection on.
#[test]
fn a_lost_enable_answer_counts_as_maybe_on_and_is_released_when_idle() {
    let backend = RecordingBackend::new();
    backend.lose_next_answer(transport_error);
    let backoff = ms(100);
    let protector = protector(fast().retry_after(backoff), &backend);
    let guard = protector.acquire().unwrap();
    assert!(!guard.is_protected(), "the enable failed as far as we know");
    assert!(
        backend.protected_at(Instant::now()),
        "the fake applied it all the same"
    );
    assert_eq!(protector.stats().state, State::MaybeOn);
    drop(guard);
    // Idle, the worker removes the protection that may be on, after the back-off.
    assert!(
        backend.wait_until(DEADLINE, last_ok_is_off),
        "{:?}",
        backend.calls()
    );
    let calls = backend.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].lost);
    let gap = calls[1].started - calls[0].ended;
    assert!(gap >= backoff / 2, "disabled {gap:?} after the failure");
    eventually("the protector to know it is off", || {
        protector.stats().state == State::Off
    });
}

// A 5xx answer says nothing of whether ECS applied the change: the same as a lost answer.
#[test]
fn a_5xx_enable_answer_counts_as_maybe_on_and_is_released_when_idle() {
    let backend = RecordingBackend::new();
    backend.lose_next_answer(server_error);
    let protector = protector(fast().retry_after(ms(100)), &backend);
    let guard = protector.acquire().unwrap();
    assert!(!guard.is_protected(), "the enable answered 500");
    assert!(
        backend.protected_at(Instant::now()),
        "the fake applied it all the same"
    );
    assert_eq!(protector.stats().state, State::MaybeOn);
    drop(guard);
    // Idle, the worker removes the protection that may be on.
    assert!(
        backend.wait_until(DEADLINE, last_ok_is_off),
        "{:?}",
        backend.calls()
    );
    assert!(!backend.protected_at(Instant::now()));
    eventually("the protector to know it is off", || {
        protector.stats().state == State::Off
    });
}

#[test]
fn a_refused_enable_is_not_maybe_on() {
    let backend = RecordingBackend::new();
    backend.fail_next(throttled);
    let protector = protector(fast().retry_after(ms(50)), &backend);
    assert!(protector.acquire_with(FailurePolicy::Require).is_err());
    assert_eq!(protector.stats().state, State::BackingOff);
    // Nothing to release: no call follows while idle.
    assert!(!backend.wait_until(ms(300), |calls| calls.len() > 1));
}

// Defect 2: one overrun disabled every later window until the hard cap.
#[test]
fn after_an_overrun_the_next_window_comes_max_hold_after_the_old_units_finish() {
    let backend = RecordingBackend::new();
    let max_hold = ms(80);
    let protector = protector(
        fast()
            .max_hold(max_hold)
            .hold_grace(ms(40))
            .window(ms(20))
            .hard_cap(Duration::from_secs(60)),
        &backend,
    );
    let slow = protector.acquire_with(FailurePolicy::Require).unwrap();
    let spans = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let slow_done = thread::scope(|scope| {
        for t in 0..3u64 {
            let (protector, spans, stop) = (&protector, &spans, &stop);
            scope.spawn(move || {
                let mut rng = Rng::new(t + 101);
                while !stop.load(Ordering::Relaxed) {
                    let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
                    let start = Instant::now();
                    thread::sleep(Duration::from_micros(300 + rng.below(1_500)));
                    let end = Instant::now();
                    drop(guard);
                    spans.lock().unwrap().push((start, end));
                }
            });
        }
        eventually("the overrun", || protector.stats().state == State::Overrun);
        let slow_done = Instant::now();
        drop(slow);
        eventually("a window after the overrun", || {
            protector.stats().windows >= 1
        });
        stop.store(true, Ordering::Relaxed);
        slow_done
    });
    let stats = protector.stats();
    assert_eq!((stats.overruns, stats.hard_caps), (1, 0), "{stats:?}");
    let window = backend
        .calls()
        .into_iter()
        .find(|c| c.change == Protection::Off)
        .expect("a window's disable");
    assert!(
        window.started >= slow_done + max_hold,
        "the window came {:?} after the slow unit ended, before max_hold",
        window.started.saturating_duration_since(slow_done)
    );
    for (start, end) in spans.into_inner().unwrap() {
        assert!(backend.protected_throughout(start, end));
    }
}

// Defect 4: after a lapse, work still in flight was never protected again.
#[test]
fn lapsed_protection_is_enabled_again_while_work_runs() {
    let backend = RecordingBackend::new();
    backend.set_expiry(ms(150));
    let protector = protector(fast().retry_after(ms(20)), &backend);
    let long = protector.acquire_with(FailurePolicy::Require).unwrap();
    for _ in 0..10_000 {
        backend.fail_next(transport_error);
    }
    eventually("the protection to lapse", || protector.stats().lapses == 1);
    let lapsed = Instant::now();
    backend.clear_failures();
    eventually("protection to be taken again", || {
        protector.stats().state == State::On
    });
    assert!(backend.protected_at(Instant::now()));
    let again = backend
        .calls()
        .into_iter()
        .rfind(|c| c.ok && !c.lost && c.change != Protection::Off)
        .unwrap();
    assert!(again.started >= lapsed - ms(5), "{again:?}");
    assert_eq!(protector.in_flight(), 1);
    drop(long);
    assert!(backend.wait_until(DEADLINE, last_ok_is_off));
}

#[test]
fn no_enable_after_a_lapse_during_shutdown() {
    let backend = RecordingBackend::new();
    backend.set_expiry(ms(100));
    let protector = protector(fast().retry_after(ms(10)), &backend);
    let long = protector.acquire_with(FailurePolicy::Require).unwrap();
    for _ in 0..10_000 {
        backend.fail_next(transport_error);
    }
    protector.request_shutdown();
    eventually("the protection to lapse", || protector.stats().lapses == 1);
    let calls = backend.calls().len();
    backend.clear_failures();
    assert!(
        !backend.wait_until(ms(300), |c| c.len() > calls),
        "a call after the lapse during shutdown: {:?}",
        backend.calls()
    );
    drop(long);
}

// Defect 5: a flat back-off after a throttled enable left work unprotected for seconds.
#[test]
fn a_throttled_enable_is_asked_again_after_about_a_second() {
    let backend = RecordingBackend::new();
    backend.fail_next(throttled);
    // The default cap (30 s): the first back-off is still about a second.
    let protector = protector(fast().retry_after(Duration::from_secs(30)), &backend);
    let unprotected = protector.acquire().unwrap();
    assert!(!unprotected.is_protected());
    let left = protector.retry_in().expect("backing off");
    assert!(left <= Duration::from_secs(1), "{left:?}");
    // With work in flight, the worker asks again by itself once the back-off has passed.
    assert!(backend.wait_until(DEADLINE, |calls| calls.len() >= 2));
    let calls = backend.calls();
    let gap = calls[1].started - calls[0].ended;
    assert!(
        gap >= ms(490) && gap < Duration::from_secs(3),
        "asked again after {gap:?}"
    );
    assert!(calls[1].ok, "{calls:?}");
    // The backend records the call as it returns; the protector takes the answer in after.
    eventually("protection on after the second ask", || {
        protector.stats().state == State::On
    });
    assert_eq!(protector.retry_in(), None);
    drop(unprotected);
}

#[test]
fn failures_in_a_row_back_off_longer_and_a_success_resets_it() {
    let backend = RecordingBackend::new();
    backend.fail_next(throttled);
    backend.fail_next(throttled);
    let protector = protector(fast().retry_after(Duration::from_secs(30)), &backend);
    let unprotected = protector.acquire().unwrap();
    assert!(backend.wait_until(DEADLINE, |calls| calls.len() >= 3));
    let calls = backend.calls();
    let first = calls[1].started - calls[0].ended;
    let second = calls[2].started - calls[1].ended;
    assert!(
        first >= ms(490) && first < Duration::from_secs(3),
        "{first:?}"
    );
    assert!(
        second >= ms(990),
        "the second back-off {second:?} did not double"
    );
    assert!(calls[2].ok);
    drop(unprotected);
    // After the success (and the idle release), the next failure starts from about a
    // second again.
    assert!(backend.wait_until(DEADLINE, last_ok_is_off));
    backend.fail_next(throttled);
    assert!(protector.acquire_with(FailurePolicy::Require).is_err());
    let left = protector.retry_in().expect("backing off");
    assert!(left <= Duration::from_secs(1), "{left:?}");
}

#[test]
fn a_unit_admitted_during_an_overrun_ends_the_next_overrun_when_it_finishes() {
    let backend = RecordingBackend::new();
    let protector = protector(
        fast()
            .max_hold(ms(60))
            .hold_grace(ms(30))
            .window(ms(20))
            .hard_cap(Duration::from_secs(60)),
        &backend,
    );
    let first = protector.acquire_with(FailurePolicy::Require).unwrap();
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        // Short units keep the count above zero throughout.
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
                thread::sleep(Duration::from_micros(500));
                drop(guard);
            }
        });
        eventually("the first overrun", || protector.stats().overruns == 1);
        let second = protector.acquire_with(FailurePolicy::Require).unwrap();
        drop(first);
        eventually("the second overrun", || protector.stats().overruns == 2);
        assert_eq!(protector.stats().windows, 0);
        drop(second);
        eventually("a window once the second slow unit is done", || {
            protector.stats().windows >= 1
        });
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(protector.stats().hard_caps, 0);
}
