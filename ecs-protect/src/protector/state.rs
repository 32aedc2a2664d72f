//! The protector's shared state: the lock-free word the hot path touches, the slow state
//! behind a mutex that no backend call ever holds, and the one backend call at a time.
//!
//! Every change of phase is one method in `transitions.rs`; the background thread that
//! drives the phases over time is `worker.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::emf::{Emf, Event};
use super::notes::{Note, Outbox};
use super::stats::Counters;
use super::sync::{
    self, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering,
};
use crate::{Backend, Config, Error, Protection};

// The word: bit 0 `OPEN`, bit 1 `WATCH`, bit 2 `MARKED`, bits 3..32 the units in flight,
// bits 32..64 an acquire generation that wraps. One `fetch_add(ACQUIRE)` counts a unit,
// bumps the generation and returns whether protection was open (and marked), all at once.

/// Protection is confirmed on, not near expiry, no window, no shutdown: an acquire that
/// sees it is admitted as protected with no further ado. Changed only under the mutex.
pub(crate) const OPEN: u64 = 1;
/// A release that empties the count must wake the worker (linger zero, shutdown, window,
/// drain). Changed only under the mutex.
pub(crate) const WATCH: u64 = 1 << 1;
/// A breathing window is due: the units in flight when it was set are "old", and the
/// window (or the overrun) waits for them. A unit remembers its ticket, the generation it
/// was admitted at; one admitted before the mark's generation and released under the mark
/// counts in `Inner::old_released`.
pub(crate) const MARKED: u64 = 1 << 2;
const ONE: u64 = 1 << 3;
const COUNT_MASK: u64 = 0xFFFF_FFF8;
const GENERATION: u64 = 1 << 32;
/// What one acquire adds to the word.
pub(crate) const ACQUIRE: u64 = ONE + GENERATION;
/// What one release subtracts.
pub(crate) const RELEASE: u64 = ONE;

pub(crate) fn count(word: u64) -> usize {
    ((word & COUNT_MASK) >> 3) as usize
}

pub(crate) fn generation(word: u64) -> u64 {
    word >> 32
}

/// The ticket of a unit admitted by the `fetch_add` that returned `before`.
pub(crate) fn ticket(before: u64) -> u32 {
    (before >> 32) as u32
}

/// Whether `ticket` comes before generation `mark` (both wrap: within 2^31 of each other).
pub(crate) fn before_mark(ticket: u32, mark: u32) -> bool {
    (mark.wrapping_sub(ticket) as i32) > 0
}

/// Where protection stands; the README's state diagram names the same phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not protected.
    Off,
    /// A call's outcome was not seen (an enable whose answer was lost, a failed disable):
    /// protection may be on until `until`. Idle, the worker asks for a disable at
    /// `retry_at`; with work in flight, it asks for protection.
    MaybeOn { until: Instant, retry_at: Instant },
    /// Protected.
    On,
    /// `max_hold` reached: new work waits while the units in flight finish, until `due`
    /// (`max_hold + hold_grace`).
    Draining { due: Instant },
    /// The grace passed with units from before the window still running: new work is let
    /// in under the current protection until those units have finished.
    Overrun,
    /// Released for the breathing window; new work waits until `until`.
    Window { until: Instant },
}

impl Phase {
    /// Whether protection is (or may be) on, so that letting go needs a disable call.
    pub(crate) fn maybe_protected(self) -> bool {
        matches!(
            self,
            Phase::On | Phase::Draining { .. } | Phase::Overrun | Phase::MaybeOn { .. }
        )
    }

    /// Whether protection is confirmed on.
    pub(crate) fn protected(self) -> bool {
        matches!(self, Phase::On | Phase::Draining { .. } | Phase::Overrun)
    }
}

/// A backend call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Enable,
    Renew,
    Disable,
}

/// A failed enable remembered so that acquires apply the policy at once instead of asking
/// again, until `until`; the worker's own retry comes at `retry_at` (never sooner).
#[derive(Debug)]
pub(crate) struct Backoff {
    pub(crate) until: Instant,
    pub(crate) retry_at: Instant,
    pub(crate) error: Error,
}

/// Everything the slow path, the worker and `drain` share, behind the mutex.
#[derive(Debug)]
pub(crate) struct Slow {
    pub(crate) phase: Phase,
    /// The call in the air, if any: at most one at a time (single flight).
    pub(crate) call: Option<Action>,
    /// The id of the latest enable or renewal; acquirers that joined it read its failure here.
    pub(crate) attempt: u64,
    pub(crate) failed: Option<(u64, Error)>,
    pub(crate) backoff: Option<Backoff>,
    /// Transient failures in a row (any call); the back-off doubles with each.
    pub(crate) streak: u32,
    pub(crate) shutdown: bool,
    /// The last `Protector` handle was dropped: the worker releases protection and ends.
    pub(crate) stopped: bool,
    /// `drain` calls waiting for the count to reach zero.
    pub(crate) draining: usize,
    /// Acquires waiting for a call or a window.
    pub(crate) waiting: usize,
    /// Start of the current continuous protection: see [`Slow::begin_hold`].
    pub(crate) since: Option<Instant>,
    /// Where `max_hold` is measured from: `since`, or the end of the last overrun.
    pub(crate) hold_from: Option<Instant>,
    pub(crate) expires: Option<Instant>,
    /// Until when a lost answer may have kept protection on (beyond `expires`).
    pub(crate) unseen_until: Option<Instant>,
    pub(crate) renew_at: Option<Instant>,
    pub(crate) stale_at: Option<Instant>,
    /// Renewal is overdue: `OPEN` is cleared so that acquirers confirm protection first.
    pub(crate) stale: bool,
    /// Units in flight when the current mark was set (see [`MARKED`]).
    pub(crate) old_total: usize,
    pub(crate) counters: Counters,
    pub(crate) warned_at: Option<Instant>,
    pub(crate) unwarned: u64,
    /// Lines to write once the lock is released.
    pub(crate) notes: Vec<Note>,
}

impl Slow {
    pub(crate) fn new() -> Self {
        Slow {
            phase: Phase::Off,
            call: None,
            attempt: 0,
            failed: None,
            backoff: None,
            streak: 0,
            shutdown: false,
            stopped: false,
            draining: 0,
            waiting: 0,
            since: None,
            hold_from: None,
            expires: None,
            unseen_until: None,
            renew_at: None,
            stale_at: None,
            stale: false,
            old_total: 0,
            counters: Counters::default(),
            warned_at: None,
            unwarned: 0,
            notes: Vec::new(),
        }
    }

    /// Starts a stretch of continuous protection at `at`, unless one is running. The one
    /// place that sets `since`, with [`end_hold`](Self::end_hold) the one that clears it.
    pub(crate) fn begin_hold(&mut self, at: Instant) {
        if self.since.is_none() {
            self.since = Some(at);
            self.hold_from = Some(at);
        }
    }

    /// Ends the stretch at `at`, adding it to the time protected; how long it lasted.
    pub(crate) fn end_hold(&mut self, at: Instant) -> Duration {
        self.hold_from = None;
        let held = self
            .since
            .take()
            .map_or(Duration::ZERO, |since| at.saturating_duration_since(since));
        self.counters.time_protected += held;
        held
    }

    /// Whether a failed enable is still remembered at `now`.
    pub(crate) fn backing_off(&self, now: Instant) -> bool {
        self.backoff.as_ref().is_some_and(|b| now < b.until)
    }

    pub(crate) fn log(&mut self, level: log::Level, message: String) {
        self.notes.push(Note::Log(level, message));
    }
}

/// The state every clone of a protector shares.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) word: AtomicU64,
    /// Units admitted before the mark and released while [`MARKED`] was set.
    pub(crate) old_released: AtomicUsize,
    /// The generation at which [`MARKED`] was last set; written before the bit.
    mark_generation: AtomicU32,
    /// `Slow::old_total`, for releasers: the last old release wakes the worker.
    pub(crate) old_total: AtomicUsize,
    /// Local mode: count only, call nothing.
    pub(crate) local: bool,
    /// The configuration could not be read: every acquire fails with this, through the
    /// policy (the default protector's answer to a bad environment).
    pub(crate) broken: Option<Error>,
    /// Also obey the shutdown [`Shutdown::install`](crate::Shutdown::install) registered
    /// (the default protector).
    pub(crate) follows_installed: AtomicBool,
    pub(crate) config: Config,
    pub(crate) backend: Box<dyn Backend>,
    slow: Mutex<Slow>,
    changed: Condvar,
    pub(crate) emf: Option<Emf>,
    outbox: Outbox,
}

/// The longest the worker goes without looking at the count while protection is on, so
/// that it sees the last release within this long (the linger counts from then) without
/// the release path taking a lock or reading a clock.
pub(crate) const LOOK_EVERY: Duration = Duration::from_millis(50);

/// How often the worker looks at the count while protection is on: see [`LOOK_EVERY`].
pub(crate) fn poll_interval(config: &Config) -> Duration {
    (config.linger() / 4).clamp(Duration::from_millis(1), LOOK_EVERY)
}

impl Inner {
    pub(crate) fn new(
        config: Config,
        backend: Box<dyn Backend>,
        broken: Option<Error>,
        emf: Option<Emf>,
    ) -> Self {
        let local = backend.is_local() && broken.is_none();
        let word = if local { OPEN } else { 0 };
        Inner {
            word: AtomicU64::new(word),
            old_released: AtomicUsize::new(0),
            mark_generation: AtomicU32::new(0),
            old_total: AtomicUsize::new(usize::MAX),
            local,
            broken,
            follows_installed: AtomicBool::new(false),
            config,
            backend,
            slow: Mutex::new(Slow::new()),
            changed: Condvar::new(),
            emf,
            outbox: Outbox::default(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Slow> {
        // Only this module's own bookkeeping runs under the lock (never a backend call, a
        // log line or user code), so a poisoned lock still holds consistent state.
        sync::lock(&self.slow)
    }

    /// Releases the lock, then writes the lines noted under it.
    pub(crate) fn unlock(&self, mut s: MutexGuard<'_, Slow>) {
        let notes = std::mem::take(&mut s.notes);
        if notes.is_empty() {
            return;
        }
        self.outbox.push(notes);
        drop(s);
        self.outbox.flush(self.emf.as_ref(), self.backend.name());
    }

    /// Waits for a change, at most until `until` (`None`: until notified). Returns at once
    /// (after writing them) when lines are waiting to be written: callers re-check their
    /// condition in a loop anyway.
    pub(crate) fn wait<'a>(
        &'a self,
        s: MutexGuard<'a, Slow>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Slow> {
        if !s.notes.is_empty() {
            self.unlock(s);
            return self.lock();
        }
        // Bounded even without a deadline: a safety net against a missed notification.
        let longest = Duration::from_secs(1);
        sync::wait(&self.changed, s, until, longest)
    }

    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Wakes whoever waits for the count to reach zero (or the old units to finish).
    /// Locking first means the wake-up cannot slip between a waiter's check and its wait.
    pub(crate) fn wake(&self) {
        drop(self.lock());
        self.notify();
    }

    pub(crate) fn in_flight(&self) -> usize {
        count(self.word.load(Ordering::SeqCst))
    }

    /// Notes an EMF line for `event` (when EMF is on).
    pub(crate) fn metric(&self, s: &mut Slow, event: Event, latency: Option<Duration>) {
        if self.emf.is_some() {
            s.notes.push(Note::Metric {
                event,
                protected: s.phase.protected(),
                in_flight: self.in_flight(),
                latency,
            });
        }
    }

    /// Sets `OPEN` when the phase admits work without further ado.
    pub(crate) fn open(&self, s: &Slow) {
        if matches!(s.phase, Phase::On | Phase::Overrun) && !s.shutdown && !s.stopped && !s.stale {
            self.word.fetch_or(OPEN, Ordering::SeqCst);
        }
    }

    pub(crate) fn close(&self) {
        self.word.fetch_and(!OPEN, Ordering::SeqCst);
    }

    /// Clears `OPEN` and sets `MARKED` in one step, the mark's generation published first;
    /// the word as it was.
    pub(crate) fn mark(&self) -> u64 {
        self.old_released.store(0, Ordering::SeqCst);
        self.old_total.store(usize::MAX, Ordering::SeqCst);
        let mut current = self.word.load(Ordering::SeqCst);
        loop {
            self.mark_generation
                .store(ticket(current), Ordering::SeqCst);
            match self.word.compare_exchange(
                current,
                (current & !OPEN) | MARKED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(prev) => {
                    self.old_total.store(count(prev), Ordering::SeqCst);
                    return prev;
                }
                Err(now) => current = now,
            }
        }
    }

    /// Whether a unit with `ticket` was admitted before the current mark.
    pub(crate) fn admitted_before_mark(&self, ticket: u32) -> bool {
        before_mark(ticket, self.mark_generation.load(Ordering::SeqCst))
    }

    pub(crate) fn unmark(&self) {
        self.word.fetch_and(!MARKED, Ordering::SeqCst);
    }

    /// Whether every unit in flight when the mark was set has finished.
    pub(crate) fn old_done(&self, s: &Slow) -> bool {
        self.in_flight() == 0 || self.old_released.load(Ordering::SeqCst) >= s.old_total
    }

    /// Sets `WATCH` exactly when someone needs to hear the count reach zero at once.
    pub(crate) fn update_watch(&self, s: &Slow) {
        let want = !self.local
            && (s.shutdown
                || s.draining > 0
                || matches!(s.phase, Phase::Draining { .. })
                || self.config.linger().is_zero());
        let word = self.word.load(Ordering::SeqCst);
        if want && word & WATCH == 0 {
            self.word.fetch_or(WATCH, Ordering::SeqCst);
        } else if !want && word & WATCH != 0 {
            self.word.fetch_and(!WATCH, Ordering::SeqCst);
        }
    }

    /// Makes one backend call with the lock released (writing the pending lines meanwhile);
    /// `s.call` keeps everyone else out.
    pub(crate) fn call<'a>(
        &'a self,
        mut s: MutexGuard<'a, Slow>,
        action: Action,
    ) -> (
        MutexGuard<'a, Slow>,
        Result<crate::ProtectionState, Error>,
        Instant,
    ) {
        debug_assert!(s.call.is_none(), "two calls in the air");
        debug_assert!(
            !(s.shutdown && action == Action::Enable),
            "an enable decided after shutdown"
        );
        s.call = Some(action);
        let change = match action {
            Action::Enable | Action::Renew => Protection::On {
                expires_in_minutes: self.config.expires_in_minutes(),
            },
            Action::Disable => Protection::Off,
        };
        match action {
            Action::Enable => s.counters.enables += 1,
            Action::Renew => s.counters.renewals += 1,
            Action::Disable => s.counters.disables += 1,
        }
        self.unlock(s);
        let started = sync::now();
        let result = catch_unwind(AssertUnwindSafe(|| self.backend.set_protection(change)))
            .unwrap_or_else(|_| {
                Err(Error::Transport {
                    endpoint: self.backend.name().to_owned(),
                    timed_out: false,
                    source: "the backend panicked".into(),
                })
            });
        let mut s = self.lock();
        s.call = None;
        // A wait the backend gave up because of our own shutdown is no failure.
        let shut_out = s.shutdown && matches!(result, Err(Error::ShuttingDown));
        if result.is_err() && !shut_out {
            s.counters.failures += 1;
        }
        (s, result, started)
    }
}

/// A copy of `err` for another waiter: errors are not `Clone` (their sources are boxed), so
/// a source becomes its message.
pub(crate) fn duplicate(err: &Error) -> Error {
    match err {
        Error::Config { origin, message } => Error::Config {
            origin: origin.clone(),
            message: message.clone(),
        },
        Error::Credentials {
            origin,
            message,
            source,
        } => Error::Credentials {
            origin: origin.clone(),
            message: message.clone(),
            source: source.as_ref().map(|s| s.to_string().into()),
        },
        Error::Transport {
            endpoint,
            timed_out,
            source,
        } => Error::Transport {
            endpoint: endpoint.clone(),
            timed_out: *timed_out,
            source: source.to_string().into(),
        },
        Error::Decode { endpoint, message } => Error::Decode {
            endpoint: endpoint.clone(),
            message: message.clone(),
        },
        Error::Api(api) => Error::Api(api.clone()),
        Error::TaskRefused {
            reason,
            detail,
            arn,
        } => Error::TaskRefused {
            reason: reason.clone(),
            detail: detail.clone(),
            arn: arn.clone(),
        },
        Error::ShuttingDown => Error::ShuttingDown,
    }
}
