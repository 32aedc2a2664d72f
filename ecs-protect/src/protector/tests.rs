//! In-crate tests: what needs internals (the EMF sink, the misconfigured protector).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::{Protection, ProtectionState};

/// Confirms every change at once, reporting no expiry.
#[derive(Debug)]
struct Instantly;

impl Backend for Instantly {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        Ok(ProtectionState {
            enabled: matches!(change, Protection::On { .. }),
            expires_at: None,
        })
    }

    fn name(&self) -> &str {
        "instantly"
    }
}

fn emf_lines(config: Config) -> (Protector, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let lines = Arc::clone(&lines);
        Arc::new(move |line: &str| lines.lock().unwrap().push(line.to_owned())) as Sink
    };
    (Protector::with_emf_sink(config, Instantly, sink), lines)
}

#[test]
fn each_state_change_writes_one_emf_line() {
    let config = Config::builder()
        .emf(true)
        .emf_namespace("Test/Workers")
        .linger(Duration::from_secs(600))
        .build()
        .unwrap();
    let (protector, lines) = emf_lines(config);
    let guard = protector.acquire().unwrap();
    drop(guard);
    assert_eq!(protector.drain(Duration::from_secs(5)), Drained::Complete);
    // Lines are written after the lock is released, possibly by another thread: wait.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lines.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let lines = lines.lock().unwrap().clone();
    let events: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["Event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["enabled", "shutdown", "disabled"], "{lines:?}");
    for event in &events {
        let directive = &event["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Test/Workers");
        assert!(event["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        assert_eq!(event["Backend"], "instantly");
    }
    assert_eq!(events[0]["Protected"], 1);
    assert!(events[0]["CallLatency"].is_number());
    assert_eq!(events[2]["Protected"], 0);
}

#[test]
fn emf_is_off_by_default() {
    let protector = Protector::with_backend(Instantly);
    assert!(protector.inner().emf.is_none());
}

#[test]
fn a_misconfigured_protector_fails_every_acquire_through_the_policy() {
    let err = Error::config("ECS_PROTECT_LINGER", "expected a duration, got \"soon\"");
    let config = Config::builder()
        .policy(FailurePolicy::Require)
        .build()
        .unwrap();
    let protector = Protector::misconfigured(config, err);
    for _ in 0..3 {
        match protector.acquire() {
            Err(Error::Config { origin, .. }) => assert_eq!(origin, "ECS_PROTECT_LINGER"),
            other => panic!("expected the configuration error, got {other:?}"),
        }
    }
    let guard = protector.acquire_with(FailurePolicy::Proceed).unwrap();
    assert!(!guard.is_protected());
    let stats = protector.stats();
    assert_eq!(stats.state, State::Misconfigured);
    assert_eq!((stats.refused, stats.unprotected, stats.calls()), (3, 1, 0));
}

#[test]
fn duplicate_keeps_what_the_error_says() {
    let errors = [
        Error::config("A", "b"),
        Error::Transport {
            endpoint: "http://x".into(),
            timed_out: true,
            source: "reset".into(),
        },
        Error::ShuttingDown,
    ];
    for err in errors {
        let copy = state::duplicate(&err);
        assert_eq!(copy.to_string(), err.to_string());
        assert_eq!(copy.is_permanent(), err.is_permanent());
    }
}

#[test]
fn the_word_packs_count_and_generation() {
    use state::{ACQUIRE, RELEASE, count, generation};
    let mut word = OPEN | WATCH | MARKED;
    for _ in 0..3 {
        word = word.wrapping_add(ACQUIRE);
    }
    word -= RELEASE;
    assert_eq!((count(word), generation(word)), (2, 3));
    assert_eq!(word & (OPEN | WATCH | MARKED), OPEN | WATCH | MARKED);
    // The generation wraps without touching the count or the flags.
    let wrapped = (!0xFFFF_FFFF_u64 | OPEN).wrapping_add(ACQUIRE);
    assert_eq!(
        (count(wrapped), generation(wrapped), wrapped & OPEN),
        (1, 0, OPEN)
    );
}

#[test]
fn tickets_order_across_the_generation_wrap() {
    use state::{ACQUIRE, before_mark, ticket};
    assert!(before_mark(3, 4) && !before_mark(4, 4) && !before_mark(5, 4));
    assert!(before_mark(u32::MAX, 2), "admitted just before the wrap");
    assert!(!before_mark(2, u32::MAX));
    let word = (u64::from(u32::MAX) << 32).wrapping_add(ACQUIRE);
    assert_eq!(ticket(word), 0);
}

#[test]
fn protector_and_guard_are_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Protector>();
    check::<Guard>();
}

#[test]
fn the_background_thread_ends_with_the_last_handle() {
    let protector = Protector::with_config(
        Config::builder()
            .linger(Duration::from_secs(600))
            .build()
            .unwrap(),
        Instantly,
    );
    drop(protector.acquire().unwrap());
    let link = protector.link();
    let clone = protector.clone();
    drop(protector);
    assert!(link.0.upgrade().is_some(), "a clone is still alive");
    drop(clone);
    // The thread holds the state until it has released protection and returned.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while link.0.upgrade().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the thread did not end"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_guard_of_the_default_protector_borrows_it_and_one_of_another_holds_a_clone() {
    // The default protector is a `static`: its guards need no reference count, so that an
    // acquire and a release touch one word and nothing else (the hot path's cost).
    let global = crate::global();
    let before = Arc::strong_count(&global.handle);
    let guard = global.acquire_with(FailurePolicy::Proceed).unwrap();
    assert_eq!(Arc::strong_count(&global.handle), before);
    assert!(matches!(guard.owner, Owner::Static(_)));
    drop(guard);
    // Any other protector's guard keeps it alive: the protector may be dropped first.
    let protector = Protector::with_backend(Instantly);
    let guard = protector.acquire().unwrap();
    assert_eq!(Arc::strong_count(&protector.handle), 2);
    drop(protector);
    assert!(guard.is_protected());
    drop(guard);
}
