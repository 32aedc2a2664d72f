//! The protector's shared state: the lock-free word the hot path touches, the slow state
//! behind a mutex that no backend call ever holds, and the calls and transitions.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::emf::{Emf, Event};
use super::stats::Counters;
use crate::config::Readable;
use crate::{Backend, Config, Error, Protection};

// The word: bit 0 `OPEN`, bit 1 `WATCH`, bits 2..32 the units in flight, bits 32..64 an
// acquire generation that wraps. One `fetch_add(ACQUIRE)` counts a unit, bumps the
// generation and returns whether protection was open, all at once.

/// Protection is confirmed on, not near expiry, no window, no shutdown: an acquire that
/// sees it is admitted as protected with no further ado. Changed only under the mutex.
pub(crate) const OPEN: u64 = 1;
/// A release that empties the count must wake the worker (linger zero, shutdown, window,
/// drain). Changed only under the mutex.
pub(crate) const WATCH: u64 = 1 << 1;
const ONE: u64 = 1 << 2;
const COUNT_MASK: u64 = 0xFFFF_FFFC;
const GENERATION: u64 = 1 << 32;
/// What one acquire adds to the word.
pub(crate) const ACQUIRE: u64 = ONE + GENERATION;
/// What one release subtracts.
pub(crate) const RELEASE: u64 = ONE;

pub(crate) fn count(word: u64) -> usize {
    ((word & COUNT_MASK) >> 2) as usize
}

pub(crate) fn generation(word: u64) -> u64 {
    word >> 32
}

/// Where protection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not protected (as far as we know: see `Slow::maybe_on`).
    Off,
    /// Protected.
    On,
    /// `max_hold` reached: new work waits while the work in flight finishes.
    Draining,
    /// Released for the breathing window; new work waits until `until`.
    Window { until: Instant },
}

/// A backend call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Enable,
    Renew,
    Disable,
}

/// A failure remembered so that acquires apply the policy at once instead of asking again.
#[derive(Debug)]
pub(crate) struct Backoff {
    pub(crate) until: Instant,
    pub(crate) error: Error,
}

/// Everything the slow path, the worker and `drain` share, behind the mutex.
#[derive(Debug)]
pub(crate) struct Slow {
    pub(crate) phase: Phase,
    /// The call in the air, if any: at most one at a time (single flight).
    pub(crate) call: Option<Action>,
    /// The id of the latest `On` call; acquirers that joined it read its failure here.
    pub(crate) attempt: u64,
    pub(crate) failed: Option<(u64, Error)>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) shutdown: bool,
    /// The last `Protector` handle was dropped: the worker releases protection and ends.
    pub(crate) stopped: bool,
    /// `drain` calls waiting for the count to reach zero.
    pub(crate) draining: usize,
    /// Start of the current continuous protection.
    pub(crate) since: Option<Instant>,
    pub(crate) expires: Option<Instant>,
    pub(crate) renew_at: Option<Instant>,
    pub(crate) stale_at: Option<Instant>,
    /// Renewal is overdue: `OPEN` is cleared so that acquirers confirm protection first.
    pub(crate) stale: bool,
    /// The window waited past its grace and let work in again; no window until the hard cap.
    pub(crate) overrun: bool,
    /// A disable failed: protection may still be on until `expires`; retried.
    pub(crate) maybe_on: bool,
    pub(crate) disable_retry_at: Option<Instant>,
    pub(crate) counters: Counters,
    pub(crate) warned_at: Option<Instant>,
    pub(crate) unwarned: u64,
}

impl Slow {
    pub(crate) fn new() -> Self {
        Slow {
            phase: Phase::Off,
            call: None,
            attempt: 0,
            failed: None,
            backoff: None,
            shutdown: false,
            stopped: false,
            draining: 0,
            since: None,
            expires: None,
            renew_at: None,
            stale_at: None,
            stale: false,
            overrun: false,
            maybe_on: false,
            disable_retry_at: None,
            counters: Counters::default(),
            warned_at: None,
            unwarned: 0,
        }
    }
}

/// The state every clone of a protector shares.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) word: AtomicU64,
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
}

/// How often the worker looks at the count while protection is on, so that the linger is
/// measured without the release path taking a lock.
pub(crate) fn poll_interval(config: &Config) -> Duration {
    (config.linger() / 4).max(Duration::from_millis(1))
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
            local,
            broken,
            follows_installed: AtomicBool::new(false),
            config,
            backend,
            slow: Mutex::new(Slow::new()),
            changed: Condvar::new(),
            emf,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Slow> {
        // Only this module's own bookkeeping runs under the lock (never a backend call or
        // user code), so a poisoned lock still holds consistent state.
        self.slow.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a change, at most until `until` (`None`: until notified).
    pub(crate) fn wait<'a>(
        &self,
        s: MutexGuard<'a, Slow>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Slow> {
        // Bounded even without a deadline: a safety net against a missed notification.
        let longest = Duration::from_secs(1);
        let timeout = until.map_or(longest, |t| {
            t.saturating_duration_since(Instant::now()).min(longest)
        });
        self.changed
            .wait_timeout(s, timeout)
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Wakes whoever waits for the count to reach zero. Called by a release that emptied it
    /// while `WATCH` was set; locking first means the wake-up cannot slip between a
    /// waiter's check and its wait.
    pub(crate) fn wake(&self) {
        drop(self.lock());
        self.notify();
    }

    pub(crate) fn in_flight(&self) -> usize {
        count(self.word.load(Ordering::SeqCst))
    }

    pub(crate) fn open(&self, s: &Slow) {
        if s.phase == Phase::On && !s.shutdown && !s.stopped && !s.stale {
            self.word.fetch_or(OPEN, Ordering::SeqCst);
        }
    }

    pub(crate) fn close(&self) {
        self.word.fetch_and(!OPEN, Ordering::SeqCst);
    }

    /// Sets `WATCH` exactly when someone needs to hear the count reach zero at once.
    pub(crate) fn update_watch(&self, s: &Slow) {
        let want = !self.local
            && (s.shutdown
                || s.draining > 0
                || s.phase == Phase::Draining
                || self.config.linger().is_zero());
        let word = self.word.load(Ordering::SeqCst);
        if want && word & WATCH == 0 {
            self.word.fetch_or(WATCH, Ordering::SeqCst);
        } else if !want && word & WATCH != 0 {
            self.word.fetch_and(!WATCH, Ordering::SeqCst);
        }
    }

    /// Makes one backend call with the lock released; `s.call` keeps everyone else out.
    fn call<'a>(
        &'a self,
        mut s: MutexGuard<'a, Slow>,
        action: Action,
    ) -> (
        MutexGuard<'a, Slow>,
        Result<crate::ProtectionState, Error>,
        Instant,
    ) {
        debug_assert!(s.call.is_none(), "two calls in the air");
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
        drop(s);
        let started = Instant::now();
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
        if result.is_err() {
            s.counters.failures += 1;
        }
        (s, result, started)
    }

    /// Asks for protection (`Enable` from off, or `Renew` while on) and records the answer.
    /// Returns the attempt id, whose failure (if any) is in `s.failed`.
    pub(crate) fn enable<'a>(
        &'a self,
        mut s: MutexGuard<'a, Slow>,
        action: Action,
    ) -> (MutexGuard<'a, Slow>, u64) {
        s.attempt += 1;
        let attempt = s.attempt;
        let (mut s, result, started) = self.call(s, action);
        let now = Instant::now();
        let latency = now - started;
        let result = result.and_then(|state| {
            if state.enabled {
                Ok(state)
            } else {
                Err(Error::Decode {
                    endpoint: self.backend.name().to_owned(),
                    message: "protection was asked for but the answer says it is off".into(),
                })
            }
        });
        match result {
            Ok(state) => {
                let requested =
                    Duration::from_secs(u64::from(self.config.expires_in_minutes()) * 60);
                // The sooner of what the backend said and what was asked, counted from the
                // call's start: a clock ahead of ECS's must not make us renew too late.
                let by_request = started + requested;
                let expires = state
                    .expires_at
                    .and_then(|at| at.duration_since(SystemTime::now()).ok())
                    .map_or(by_request, |left| (now + left).min(by_request));
                let life = expires.saturating_duration_since(now);
                if s.phase == Phase::Off {
                    s.phase = Phase::On;
                }
                if s.since.is_none() {
                    // A backend shared by several processes knows when their common stretch
                    // began: breathing windows then open at the same instants in all of them.
                    let shared = self.backend.protected_since().and_then(|at| {
                        let ago = SystemTime::now().duration_since(at).ok()?;
                        now.checked_sub(ago)
                    });
                    s.since = Some(shared.map_or(started, |at| at.min(started)));
                }
                s.expires = Some(expires);
                s.renew_at = Some(now + life / 2);
                s.stale_at = Some(now + life * 3 / 4);
                s.stale = false;
                s.maybe_on = false;
                s.disable_retry_at = None;
                s.backoff = None;
                s.failed = None;
                let name = self.backend.name();
                let event = if action == Action::Renew {
                    log::info!(
                        "task protection renewed: expires in {} ({} units in flight, {name} call \
                         took {latency:?})",
                        Readable(life),
                        self.in_flight(),
                    );
                    Event::Renewed
                } else {
                    log::info!(
                        "task protection enabled: expires in {} ({name} call took {latency:?})",
                        Readable(life)
                    );
                    Event::Enabled
                };
                self.emit(&s, event, Some(latency));
                self.open(&s);
            }
            Err(err) => {
                let backoff = if err.is_deployment_blocked() {
                    self.config.blocked_retry_after()
                } else if err.is_permanent() {
                    self.config.refused_retry_after()
                } else {
                    self.config.retry_after()
                };
                self.log_enable_failure(&err, action, backoff, latency);
                if action == Action::Renew {
                    let left = s
                        .expires
                        .map_or(Duration::ZERO, |e| e.saturating_duration_since(now));
                    s.renew_at = Some(now + backoff.min(left / 4).max(Duration::from_millis(1)));
                }
                s.backoff = Some(Backoff {
                    until: now + backoff,
                    error: duplicate(&err),
                });
                s.failed = Some((attempt, err));
                self.emit(&s, Event::Failed, Some(latency));
            }
        }
        self.update_watch(&s);
        self.notify();
        (s, attempt)
    }

    fn log_enable_failure(
        &self,
        err: &Error,
        action: Action,
        backoff: Duration,
        latency: Duration,
    ) {
        let what = if action == Action::Renew {
            "renew"
        } else {
            "enable"
        };
        let again = Readable(backoff);
        if err.is_deployment_blocked() {
            log::warn!(
                "could not {what} task protection: {err}. DEPLOYMENT_BLOCKED means the service \
                 already has more protected tasks than its desired count, so ECS refuses to \
                 protect more: this task is NOT protected and may be stopped while it works. \
                 Resolve it by raising the service's desired count, or by releasing protection \
                 sooner on the other tasks (a shorter ECS_PROTECT_MAX_HOLD or \
                 ECS_PROTECT_EXPIRES_MINUTES); asking again in {again}"
            );
        } else if err.is_permanent() {
            log::warn!(
                "could not {what} task protection: {err}; this will not succeed by retrying \
                 (check the task role's ecs:UpdateTaskProtection permission and that the task \
                 belongs to a service); asking again in {again}"
            );
        } else {
            log::warn!(
                "could not {what} task protection after {latency:?}: {err}; asking again in {again}"
            );
        }
    }

    /// Removes protection and records the answer; the caller sets the phase.
    pub(crate) fn disable<'a>(
        &'a self,
        s: MutexGuard<'a, Slow>,
        reason: &str,
    ) -> MutexGuard<'a, Slow> {
        let (mut s, result, started) = self.call(s, Action::Disable);
        let now = Instant::now();
        let latency = now - started;
        let held = s
            .since
            .take()
            .map(|since| started.saturating_duration_since(since));
        if let Some(held) = held {
            s.counters.time_protected += held;
        }
        s.renew_at = None;
        s.stale_at = None;
        s.stale = false;
        s.overrun = false;
        s.phase = Phase::Off;
        match result {
            Ok(_) => {
                s.maybe_on = false;
                s.disable_retry_at = None;
                s.expires = None;
                log::info!(
                    "task protection removed ({reason}) after {} ({} call took {latency:?})",
                    Readable(held.unwrap_or_default()),
                    self.backend.name()
                );
                self.emit(&s, Event::Disabled, Some(latency));
            }
            Err(err) => {
                let retry = self.config.retry_after().max(Duration::from_millis(1));
                s.maybe_on = s.expires.is_some_and(|e| e > now);
                s.disable_retry_at = s.maybe_on.then_some(now + retry);
                log::warn!(
                    "could not remove task protection ({reason}): {err}; retrying in {}, and ECS \
                     clears it by itself {}",
                    Readable(retry),
                    match s.expires {
                        Some(e) => format!("in {}", Readable(e.saturating_duration_since(now))),
                        None => "when it expires".to_owned(),
                    }
                );
                self.emit(&s, Event::Failed, Some(latency));
            }
        }
        self.notify();
        s
    }

    /// Protection lapsed before a renewal succeeded.
    pub(crate) fn lapse(&self, s: &mut Slow, now: Instant) {
        self.close();
        if let Some(since) = s.since.take() {
            s.counters.time_protected += now.saturating_duration_since(since);
        }
        s.expires = None;
        s.renew_at = None;
        s.stale_at = None;
        s.stale = false;
        s.phase = Phase::Off;
        log::warn!(
            "task protection expired before it could be renewed; {} units in flight run unprotected",
            self.in_flight()
        );
        self.emit(s, Event::Expired, None);
        self.notify();
    }

    pub(crate) fn emit(&self, s: &Slow, event: Event, latency: Option<Duration>) {
        if let Some(emf) = &self.emf {
            let protected = matches!(s.phase, Phase::On | Phase::Draining);
            emf.emit(
                event,
                self.backend.name(),
                protected,
                self.in_flight(),
                latency,
            );
        }
    }

    /// Asks for shutdown: no new enable, linger zero. Idempotent.
    pub(crate) fn request_shutdown(&self) {
        let mut s = self.lock();
        if s.shutdown {
            return;
        }
        s.shutdown = true;
        self.close();
        self.update_watch(&s);
        let in_flight = self.in_flight();
        if self.local {
            log::info!(
                "shutdown requested: new work is refused or runs unprotected ({in_flight} units in flight)"
            );
        } else {
            log::info!(
                "shutdown requested: no new protection is taken; protection is released as soon \
                 as the {in_flight} units in flight finish"
            );
        }
        self.emit(&s, Event::Shutdown, None);
        drop(s);
        self.notify();
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
