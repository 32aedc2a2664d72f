//! Model checks of the protector's concurrency core: loom runs each model below over every
//! interleaving of its threads (two or three units or callers, the background thread, a
//! backend double) within a bound on preemptions, with every atomic access allowed to see
//! any value the memory model permits.
//!
//! Run them with (the command `.ci/run` uses; a target directory of their own, since the
//! cfg changes every crate's build):
//!
//! ```text
//! RUSTFLAGS="--cfg ecs_protect_loom" CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!     cargo test --release --target-dir target/loom -p ecs-protect --lib protector::models
//! ```
//!
//! The code under test is the protector that ships: `sync.rs` swaps std's primitives for
//! loom's and gives the model a clock that moves only when a thread sleeps until a deadline
//! and nothing else can act (see there). Invariants, checked in every interleaving:
//! - no unit runs under [`FailurePolicy::Require`] (or with a protected guard) while ECS
//!   (the [`Ecs`] double, which applies each call and knows when protection is on) has
//!   protection off;
//! - one backend call at a time (the double asserts it);
//! - no enable is decided after shutdown (`Inner::call` asserts it when debug assertions
//!   are on, as the command above keeps them);
//! - no wake-up is lost: every acquire, drain and wait for ECS to be released returns (a
//!   wait without deadline that nobody ends is a deadlock loom reports), and protection is
//!   released no later than the linger plus one look (a quarter linger) after the last unit
//!   left (a wake-up lost on a wait with a deadline shows up as a late release);
//! - the count of units in flight never goes below zero nor above the units running, and
//!   ends at zero.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize as Counter;
use std::time::{Duration, Instant};

use loom::thread;

use super::state::{count, generation, poll_interval};
use super::sync::{self, Condvar, Mutex, Ordering};
use super::{Drained, Protector};
use crate::{Backend, Config, Error, FailurePolicy, Protection, ProtectionState, RefusalReason};

/// ECS as the models see it: the task's protection, applied when a call ends.
#[derive(Debug)]
struct Ecs {
    task: Mutex<Task>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Task {
    /// Protected until then (ECS clears it by itself at expiry).
    until: Option<Instant>,
    /// A call is in the air.
    in_call: bool,
    enables: usize,
    renewals: usize,
    disables: usize,
    /// When the last disable was applied.
    off_at: Option<Instant>,
    /// Refuse this many more enables (`DEPLOYMENT_BLOCKED`).
    refuse: usize,
    /// When the last refusal was sent.
    refused_at: Option<Instant>,
    /// Each call as it was applied, with its time (for failure messages).
    log: Vec<(Protection, bool, Instant)>,
}

impl Ecs {
    fn new(refuse: usize) -> Arc<Ecs> {
        Arc::new(Ecs {
            task: Mutex::new(Task {
                refuse,
                ..Task::default()
            }),
            changed: Condvar::new(),
        })
    }

    fn is_on(&self) -> bool {
        let now = sync::now();
        sync::lock(&self.task).until.is_some_and(|u| now < u)
    }

    /// Waits until ECS has protection off (no deadline: the protector must get there by
    /// itself); when the last disable was applied.
    fn wait_off(&self) -> Option<Instant> {
        let mut task = sync::lock(&self.task);
        while task.until.is_some_and(|u| sync::now() < u) {
            task = sync::wait(&self.changed, task, None, Duration::MAX);
        }
        task.off_at
    }

    /// (enables, renewals, disables)
    fn calls(&self) -> (usize, usize, usize) {
        let task = sync::lock(&self.task);
        (task.enables, task.renewals, task.disables)
    }
}

/// The protector's backend: forwards to the shared [`Ecs`].
#[derive(Debug)]
struct Double(Arc<Ecs>);

impl Backend for Double {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let ecs = &self.0;
        {
            let mut task = sync::lock(&ecs.task);
            assert!(!task.in_call, "two backend calls in the air at once");
            task.in_call = true;
        }
        // The call is in the air: the other threads run here.
        let mut task = sync::lock(&ecs.task);
        task.in_call = false;
        let now = sync::now();
        if let (Protection::On { .. }, Some(at)) = (change, task.refused_at) {
            assert!(
                now >= at + Duration::from_secs(3600),
                "an enable {:?} after a refusal, within its back-off",
                now - at
            );
        }
        let result = match change {
            Protection::On { .. } if task.refuse > 0 => {
                task.refuse -= 1;
                task.refused_at = Some(now);
                Err(Error::TaskRefused {
                    reason: RefusalReason::DeploymentBlocked,
                    detail: None,
                    arn: None,
                })
            }
            Protection::On { expires_in_minutes } => {
                if task.until.is_some_and(|u| now < u) {
                    task.renewals += 1;
                } else {
                    task.enables += 1;
                }
                task.until = Some(now + Duration::from_secs(u64::from(expires_in_minutes) * 60));
                Ok(ProtectionState {
                    enabled: true,
                    expires_at: None,
                })
            }
            Protection::Off => {
                task.disables += 1;
                task.until = None;
                task.off_at = Some(now);
                Ok(ProtectionState {
                    enabled: false,
                    expires_at: None,
                })
            }
        };
        task.log.push((change, result.is_ok(), now));
        drop(task);
        ecs.changed.notify_all();
        result
    }

    fn name(&self) -> &str {
        "model"
    }
}

/// Long enough that neither renewal, breathing window nor hard cap comes into a model that
/// does not ask for them.
fn config(linger: Duration) -> Config {
    Config::builder()
        .linger(linger)
        .expires_in_minutes(2880)
        .max_hold(Duration::from_secs(48 * 3600))
        .hard_cap(Duration::from_secs(168 * 3600))
        .blocked_retry_after(Duration::from_secs(3600))
        .policy(FailurePolicy::Require)
        .build()
        .unwrap()
}

/// One unit of work: acquires, checks protection while it runs, releases. When it left, if
/// it ran.
fn unit(protector: &Protector, ecs: &Ecs, policy: FailurePolicy, units: usize) -> Option<Instant> {
    let guard = match protector.acquire_with(policy) {
        Ok(guard) => guard,
        Err(err) => {
            assert_eq!(policy, FailurePolicy::Require, "Proceed never fails: {err}");
            return None;
        }
    };
    let in_flight = protector.in_flight();
    assert!(
        (1..=units).contains(&in_flight),
        "{in_flight} units in flight with this one running, of {units}"
    );
    let protected = policy == FailurePolicy::Require || guard.is_protected();
    if policy == FailurePolicy::Require {
        assert!(
            guard.is_protected(),
            "a Require unit got an unprotected guard"
        );
    }
    if protected {
        assert!(
            ecs.is_on(),
            "a protected unit starts while ECS has protection off"
        );
    }
    // The work: the other threads run here.
    if protected {
        assert!(
            ecs.is_on(),
            "protection went off under a running protected unit"
        );
    }
    drop(guard);
    assert!(protector.in_flight() < units, "the count did not go down");
    Some(sync::now())
}

/// The latest of the units' departures.
fn last(left: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    left.into_iter().flatten().max()
}

/// Protection was released no later than the linger plus one look after `left`: for a last
/// release that wakes the worker (linger zero, shutdown, drain), whose wake-up goes through
/// the lock and so makes the count visible to it. (A worker that polls the count can read it
/// late in the C11 memory model, which loom follows, with no bound; hardware shows it
/// within nanoseconds. The polling models check [`released_after_linger`] instead.)
fn released_in_time(protector: &Protector, ecs: &Ecs, left: Instant) {
    let off_at = ecs
        .wait_off()
        .expect("protection was on, so a disable released it");
    let config = protector.config();
    let bound = left + config.linger() + poll_interval(config);
    let calls: Vec<_> = sync::lock(&ecs.task)
        .log
        .iter()
        .map(|(change, ok, at)| (*change, *ok, at.saturating_duration_since(left)))
        .collect();
    assert!(
        off_at <= bound,
        "protection released {:?} after the last unit left (bound {:?}): a lost wake-up; \
         calls from the last unit's departure: {calls:?}",
        off_at - left,
        bound - left
    );
}

/// Protection stayed on for the linger after `left`, then was released (with no deadline:
/// the worker must get there by itself).
fn released_after_linger(protector: &Protector, ecs: &Ecs, left: Instant) {
    let off_at = ecs
        .wait_off()
        .expect("protection was on, so a disable released it");
    assert!(
        off_at >= left + protector.config().linger(),
        "protection released {:?} after the last unit left, within the linger",
        off_at - left
    );
}

/// Explores `model` within `preemptions` (or `LOOM_MAX_PREEMPTIONS`) and prints how many
/// interleavings it took and how long.
fn explore(name: &str, preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
    let runs = Arc::new(Counter::new(0));
    let counted = Arc::clone(&runs);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(preemptions));
    builder.max_branches = 100_000;
    let started = std::time::Instant::now();
    builder.check(move || {
        sync::reset_clock();
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    eprintln!(
        "model {name}: {} interleavings (preemption bound {}) in {:.1?}",
        runs.load(std::sync::atomic::Ordering::Relaxed),
        builder.preemption_bound.unwrap_or(preemptions),
        started.elapsed()
    );
}

/// **The state word** (local mode: the word alone, no worker, no call): two units acquire
/// and release at once. The count is exact at every step and ends at zero, each acquire
/// bumps the generation once, and the two units get different tickets.
#[test]
fn state_word_counts_units_and_generations() {
    explore("state_word", 3, || {
        let protector = Protector::with_backend(crate::Disabled);
        let other = protector.clone();
        let t = thread::spawn(move || {
            let guard = other.acquire().unwrap();
            let n = other.in_flight();
            assert!((1..=2).contains(&n), "{n} in flight");
            let ticket = guard.ticket;
            drop(guard);
            ticket
        });
        let guard = protector.acquire().unwrap();
        let n = protector.in_flight();
        assert!((1..=2).contains(&n), "{n} in flight");
        let mine = guard.ticket;
        drop(guard);
        let theirs = t.join().unwrap();
        assert_ne!(mine, theirs, "two units admitted at the same generation");
        let word = protector.inner().word.load(Ordering::SeqCst);
        assert_eq!(count(word), 0, "the count ends at zero");
        assert_eq!(generation(word), 2, "one generation per acquire");
    });
}

/// **Single flight; the release that reaches zero wakes the worker** (linger zero, so the
/// last release must wake it): two Require units start on an unprotected task. One enable
/// is in the air at a time and the other acquirer waits for it; both run under protection;
/// after the last one leaves, protection is released at once.
#[test]
fn single_flight_enable_and_the_last_release_wakes_the_worker() {
    explore("single_flight", 2, || {
        let ecs = Ecs::new(0);
        let protector = Protector::with_config(config(Duration::ZERO), Double(Arc::clone(&ecs)));
        let (p, e) = (protector.clone(), Arc::clone(&ecs));
        let t = thread::spawn(move || unit(&p, &e, FailurePolicy::Require, 2));
        let mine = unit(&protector, &ecs, FailurePolicy::Require, 2);
        let theirs = t.join().unwrap();
        let left = last([mine, theirs]).expect("both ran");
        released_in_time(&protector, &ecs, left);
        assert_eq!(protector.in_flight(), 0);
        drop(protector);
    });
}

/// **Single flight, failing**: ECS refuses every enable (`DEPLOYMENT_BLOCKED`, back-off one
/// hour). The two Require acquirers share a refusal (the second waits for the call in the
/// air, or gets the remembered answer during the back-off): no call comes within the
/// back-off of a refusal (the double asserts it), both are refused, nothing runs.
#[test]
fn single_flight_refusal_is_shared() {
    explore("single_flight_refused", 2, || {
        let ecs = Ecs::new(usize::MAX);
        let protector = Protector::with_config(config(Duration::ZERO), Double(Arc::clone(&ecs)));
        let (p, e) = (protector.clone(), Arc::clone(&ecs));
        let t = thread::spawn(move || unit(&p, &e, FailurePolicy::Require, 2));
        let mine = unit(&protector, &ecs, FailurePolicy::Require, 2);
        assert!(
            mine.is_none() && t.join().unwrap().is_none(),
            "a unit ran unprotected"
        );
        assert!(!ecs.is_on());
        drop(protector);
    });
}

/// **Drain and shutdown against acquire**: a unit starts while `drain` runs, under
/// `policy`. A Require unit runs protected or is refused; a Proceed unit runs (protected
/// only if it was); no enable is decided after shutdown (not even by the worker for a unit
/// running unprotected); drain returns once the unit has left or before it started, with
/// protection released.
fn drain_against(policy: FailurePolicy) {
    let ecs = Ecs::new(0);
    let protector =
        Protector::with_config(config(Duration::from_secs(5)), Double(Arc::clone(&ecs)));
    let (p, e) = (protector.clone(), Arc::clone(&ecs));
    let t = thread::spawn(move || unit(&p, &e, policy, 1));
    let drained = protector.drain(Duration::MAX);
    // Finding (left as it is, see `drain_without_deadline_reports_complete`): drain reads
    // the count again after its wait, so an acquire that starts meanwhile (a Proceed unit,
    // or the first count of one that is then refused) makes it report `TimedOut` with no
    // deadline.
    assert!(
        matches!(
            drained,
            Drained::Complete | Drained::TimedOut { in_flight: 1 }
        ),
        "{drained:?}"
    );
    assert!(!ecs.is_on(), "drain returned with protection on");
    assert!(protector.in_flight() <= 1);
    let ran = t.join().unwrap();
    if policy == FailurePolicy::Proceed {
        assert!(ran.is_some(), "Proceed always runs");
    }
    assert!(!ecs.is_on());
    assert_eq!(protector.in_flight(), 0);
    drop(protector);
}

#[test]
fn drain_against_a_required_acquire() {
    explore("drain_require", 2, || drain_against(FailurePolicy::Require));
}

#[test]
fn drain_against_a_proceeding_acquire() {
    explore("drain_proceed", 2, || drain_against(FailurePolicy::Proceed));
}

/// **Drain's answer**: `drain` with no deadline says `Complete` when it never timed out,
/// even when a unit starts after its wait ended (after the shutdown, a Proceed unit runs
/// unprotected; a Require one counts itself once before it is refused). This model found
/// drain reading the count again after the wait, which turned that unit into
/// `TimedOut { in_flight: 1 }` with a "drain timed out" warning.
#[test]
fn drain_without_deadline_reports_complete() {
    explore("drain_answer", 2, || {
        let ecs = Ecs::new(0);
        let protector =
            Protector::with_config(config(Duration::from_secs(5)), Double(Arc::clone(&ecs)));
        let (p, e) = (protector.clone(), Arc::clone(&ecs));
        let late = thread::spawn(move || unit(&p, &e, FailurePolicy::Require, 1));
        assert_eq!(protector.drain(Duration::MAX), Drained::Complete);
        late.join().unwrap();
        drop(protector);
    });
}

/// **Shutdown against acquire and the worker** (no drain): shutdown is requested while a
/// Require unit acquires; the unit runs protected or is refused; protection is released
/// at once (the linger is zero during shutdown) after it leaves, by the worker.
#[test]
fn shutdown_against_acquire() {
    explore("shutdown", 2, || {
        let ecs = Ecs::new(0);
        let protector =
            Protector::with_config(config(Duration::from_secs(5)), Double(Arc::clone(&ecs)));
        let (p, e) = (protector.clone(), Arc::clone(&ecs));
        let t = thread::spawn(move || unit(&p, &e, FailurePolicy::Require, 1));
        protector.request_shutdown();
        let shutdown_at = sync::now();
        let left = t.join().unwrap();
        // Released at once once the unit has left and the shutdown came, or the enable in
        // the air when it came has ended (the unit is then refused).
        let off_at = ecs.wait_off();
        let calls = sync::lock(&ecs.task).log.clone();
        let enabled_at = calls
            .iter()
            .filter(|c| c.0 != Protection::Off)
            .map(|c| c.2)
            .max();
        if let (Some(off_at), Some(enabled_at)) = (off_at, enabled_at) {
            let due = [left, Some(shutdown_at), Some(enabled_at)]
                .into_iter()
                .flatten()
                .max();
            assert!(
                Some(off_at) <= due,
                "the linger is zero during shutdown, yet protection was released {:?} late: \
                 {calls:?}",
                off_at - due.unwrap()
            );
        }
        assert!(!ecs.is_on());
        drop(protector);
    });
}

/// **The linger closing against a new acquire** (linger 200 ms, so the worker looks at the
/// count every 50 ms and the release wakes nobody): a unit runs and leaves; a second unit
/// acquires while the worker closes the word and disables. The second unit runs
/// protected (admitted before the close, or waiting for the disable and enabling again),
/// and protection stays on for the linger after the last one left, then is released.
#[test]
fn linger_close_against_new_acquire() {
    explore("linger_close", 2, || {
        let ecs = Ecs::new(0);
        let protector =
            Protector::with_config(config(Duration::from_millis(200)), Double(Arc::clone(&ecs)));
        let first = unit(&protector, &ecs, FailurePolicy::Require, 2);
        let (p, e) = (protector.clone(), Arc::clone(&ecs));
        let t = thread::spawn(move || unit(&p, &e, FailurePolicy::Require, 2));
        let second = t.join().unwrap();
        assert!(second.is_some(), "the second unit was refused");
        released_after_linger(&protector, &ecs, last([first, second]).unwrap());
        let (enables, _, disables) = ecs.calls();
        assert!(enables <= 2 && disables <= 2 && enables == disables);
        drop(protector);
    });
}

/// **Admission against the breathing window's mark, and its generations** (linger zero,
/// `max_hold` 10 ms, a one-hour grace, a 1 ms window): unit A holds protection until the
/// hold is reached; unit B acquires while the worker marks the word (clears `OPEN`, sets
/// `MARKED` at a generation). B is admitted before the mark (an old unit the window waits
/// for) or waits for the window and enables again, or is let in by an overrun; it never
/// runs while ECS has protection off, the window opens only with nothing in flight, the
/// old units' releases wake the worker, and protection is released at once after the last
/// unit leaves.
#[test]
fn admission_against_the_window_mark() {
    explore("window_mark", 2, || {
        let ecs = Ecs::new(0);
        let config = Config::builder()
            .linger(Duration::ZERO)
            .expires_in_minutes(2880)
            .max_hold(Duration::from_millis(10))
            .hold_grace(Duration::from_secs(3600))
            .window(Duration::from_millis(1))
            .hard_cap(Duration::from_secs(168 * 3600))
            .policy(FailurePolicy::Require)
            .build()
            .unwrap();
        let protector = Protector::with_config(config, Double(Arc::clone(&ecs)));
        let (p, e) = (protector.clone(), Arc::clone(&ecs));
        let a = thread::spawn(move || {
            let guard = p.acquire().unwrap();
            assert!(e.is_on());
            // Holds protection until the hold is reached (the worker marks the word).
            while !matches!(
                p.stats().state,
                super::State::Draining | super::State::Overrun
            ) {
                thread::yield_now();
            }
            assert!(e.is_on(), "protection went off under an old unit");
            drop(guard);
            sync::now()
        });
        let (p, e) = (protector.clone(), Arc::clone(&ecs));
        let b = thread::spawn(move || unit(&p, &e, FailurePolicy::Require, 2));
        let left_a = a.join().unwrap();
        let left_b = b.join().unwrap();
        assert!(left_b.is_some(), "B was refused");
        released_in_time(&protector, &ecs, last([Some(left_a), left_b]).unwrap());
        assert_eq!(protector.in_flight(), 0);
        drop(protector);
    });
}
