//! Every change of phase, one method each: it sets the phase, the counters, the `OPEN` and
//! `MARKED` bits, and notes the log line and the metric together. The names are those of
//! the README's state diagram: enabled, renewed, enable failed, lapsed, hold reached,
//! overrun, overrun ended, window opened, window closed, hard cap, disabled, disable
//! failed, unseen expired, stale, shutdown.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant, SystemTime};

use log::Level::{Error as LogError, Info, Warn};

use super::backoff::{self, outcome_unseen};
use super::emf::Event;
use super::state::{Action, Backoff, Inner, Phase, Slow, duplicate};
use super::sync::{MutexGuard, now};
use crate::config::Readable;
use crate::{Error, ProtectionState};

/// The worker's own retries (not an acquirer's) wait at least this long, whatever the
/// configured back-off, so that a zero `retry_after` cannot make it hammer a failing backend.
const WORKER_RETRY_FLOOR: Duration = Duration::from_millis(10);

/// Why protection is being removed, and what comes after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// The linger passed with nothing in flight.
    Idle,
    /// Renewal time came with nothing in flight.
    IdleAtRenewal,
    /// Shutdown and nothing in flight.
    Shutdown,
    /// `drain` ended.
    Drain,
    /// The last handle was dropped.
    Dropped,
    /// Protection may still be on after a lost answer or a failed disable.
    Retry,
    /// A breathing window: the units in flight finished.
    Window,
    /// The hard cap: released with units in flight.
    HardCap,
}

impl Release {
    fn reason(self) -> &'static str {
        match self {
            Release::Idle => "idle",
            Release::IdleAtRenewal => "idle at renewal time",
            Release::Shutdown => "shutdown",
            Release::Drain => "drain",
            Release::Dropped => "the protector was dropped",
            Release::Retry => "protection may still be on",
            Release::Window => "breathing window",
            Release::HardCap => "hard cap",
        }
    }

    fn opens_window(self) -> bool {
        matches!(self, Release::Window | Release::HardCap)
    }
}

impl Inner {
    fn requested(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.expires_in_minutes()) * 60)
    }

    /// Asks for protection (`Enable` from off, `Renew` while on) and records the answer.
    /// Returns the attempt id, whose failure (if any) is in `s.failed`.
    pub(crate) fn enable<'a>(
        &'a self,
        mut s: MutexGuard<'a, Slow>,
        action: Action,
    ) -> (MutexGuard<'a, Slow>, u64) {
        s.attempt += 1;
        let attempt = s.attempt;
        let (mut s, result, started) = self.call(s, action);
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
            Ok(state) if action == Action::Renew => self.renewed(&mut s, started, state),
            Ok(state) => self.enabled(&mut s, started, state),
            // The backend gave up a wait because of our own shutdown: nothing failed,
            // nothing to back off from; whoever joined this attempt gets the answer.
            Err(Error::ShuttingDown) if s.shutdown => {
                s.failed = Some((attempt, Error::ShuttingDown));
            }
            Err(err) => self.enable_failed(&mut s, action, attempt, err, started),
        }
        self.update_watch(&s);
        self.notify();
        (s, attempt)
    }

    /// Removes protection and records the answer: `disabled` or `window opened`, or
    /// `disable failed`.
    pub(crate) fn disable<'a>(
        &'a self,
        s: MutexGuard<'a, Slow>,
        release: Release,
    ) -> MutexGuard<'a, Slow> {
        let (mut s, result, started) = self.call(s, Action::Disable);
        match result {
            Ok(_) if release.opens_window() && !s.shutdown => {
                self.window_opened(&mut s, release, started);
            }
            Ok(_) => self.disabled(&mut s, release, started),
            Err(err) => self.disable_failed(&mut s, release, &err, started),
        }
        self.update_watch(&s);
        self.notify();
        s
    }

    /// When the stretch that an enable started at `started` began: earlier than `started`
    /// when the backend is shared by several processes and knows when their common
    /// stretch began (see [`Backend::protected_since`]), so that breathing windows open
    /// at the same instants in all of them.
    fn stretch_start(&self, started: Instant) -> Instant {
        self.backend
            .protected_since()
            .and_then(|at| {
                let ago = SystemTime::now().duration_since(at).ok()?;
                now().checked_sub(ago)
            })
            .map_or(started, |at| at.min(started))
    }

    /// **enabled**: the backend confirmed protection asked for from off (or to re-confirm
    /// stale protection).
    fn enabled(&self, s: &mut Slow, started: Instant, state: ProtectionState) {
        if matches!(s.phase, Phase::Off | Phase::MaybeOn { .. }) {
            s.phase = Phase::On;
        }
        s.begin_hold(self.stretch_start(started));
        let (life, latency) = self.confirmed(s, started, state);
        s.log(
            Info,
            format!(
                "task protection enabled: expires in {} ({} call took {latency:?})",
                Readable(life),
                self.backend.name()
            ),
        );
        self.metric(s, Event::Enabled, Some(latency));
        self.open(s);
    }

    /// **renewed**: the backend confirmed a renewal; the phase stays.
    fn renewed(&self, s: &mut Slow, started: Instant, state: ProtectionState) {
        let (life, latency) = self.confirmed(s, started, state);
        let in_flight = self.in_flight();
        s.log(
            Info,
            format!(
                "task protection renewed: expires in {} ({in_flight} units in flight, {} call \
                 took {latency:?})",
                Readable(life),
                self.backend.name()
            ),
        );
        self.metric(s, Event::Renewed, Some(latency));
        self.open(s);
    }

    /// The bookkeeping of a confirmed enable or renewal: expiry, renewal times, back-off
    /// reset. Returns the protection's life left and the call's latency.
    fn confirmed(
        &self,
        s: &mut Slow,
        started: Instant,
        state: ProtectionState,
    ) -> (Duration, Duration) {
        let now = now();
        // The sooner of what the backend said and what was asked, counted from the call's
        // start: a clock ahead of ECS's must not make us renew too late.
        let by_request = started + self.requested();
        let expires = state
            .expires_at
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .map_or(by_request, |left| (now + left).min(by_request));
        let life = expires.saturating_duration_since(now);
        s.expires = Some(expires);
        s.unseen_until = None;
        s.renew_at = Some(now + life / 2);
        s.stale_at = Some(now + life * 3 / 4);
        s.stale = false;
        s.streak = 0;
        s.backoff = None;
        s.failed = None;
        (life, now - started)
    }

    /// **enable failed**: remembered for a back-off; a lost answer makes protection
    /// "maybe on" until the call's start plus the requested expiry.
    fn enable_failed(
        &self,
        s: &mut Slow,
        action: Action,
        attempt: u64,
        err: Error,
        started: Instant,
    ) {
        let now = now();
        let latency = now - started;
        if !err.is_deployment_blocked() && !err.is_permanent() {
            s.streak = s.streak.saturating_add(1);
        }
        let wait = backoff::after(&self.config, &err, s.streak.max(1));
        let unseen = outcome_unseen(&err).then(|| started + self.requested());
        if let Some(until) = unseen {
            s.unseen_until = Some(s.unseen_until.map_or(until, |u| u.max(until)));
        }
        let retry_at = now + wait.max(WORKER_RETRY_FLOOR);
        match s.phase {
            Phase::Off | Phase::MaybeOn { .. } => {
                if let Some(until) = s.unseen_until.filter(|u| *u > now) {
                    s.phase = Phase::MaybeOn { until, retry_at };
                }
            }
            _ => {
                // A renewal (or a re-confirmation of stale protection) failed: retry before
                // the protection we have runs out.
                let left = s
                    .expires
                    .map_or(Duration::ZERO, |e| e.saturating_duration_since(now));
                s.renew_at = Some(now + wait.min(left / 4).max(Duration::from_millis(1)));
            }
        }
        s.log(
            Warn,
            failure_message(&err, action, wait, latency, unseen, now),
        );
        s.backoff = Some(Backoff {
            until: now + wait,
            retry_at,
            error: duplicate(&err),
        });
        s.failed = Some((attempt, err));
        self.metric(s, Event::Failed, Some(latency));
    }

    /// **lapsed**: protection expired before a renewal succeeded. Work in flight runs
    /// unprotected until the worker enables again (after the back-off).
    pub(crate) fn lapsed(&self, s: &mut Slow, now: Instant) {
        self.close();
        self.unmark();
        s.end_hold(now);
        s.expires = None;
        s.renew_at = None;
        s.stale_at = None;
        s.stale = false;
        s.counters.lapses += 1;
        s.phase = self.off_or_unseen(s, now);
        let in_flight = self.in_flight();
        s.log(
            Warn,
            format!(
                "task protection expired before it could be renewed; {in_flight} units in flight \
                 run unprotected until it is enabled again"
            ),
        );
        self.metric(s, Event::Expired, None);
        self.notify();
    }

    /// Off, or maybe on when a lost answer may still hold protection.
    fn off_or_unseen(&self, s: &Slow, now: Instant) -> Phase {
        match s.unseen_until.filter(|u| *u > now) {
            Some(until) => Phase::MaybeOn {
                until,
                retry_at: s.backoff.as_ref().map_or(now, |b| b.retry_at),
            },
            None => Phase::Off,
        }
    }

    /// **renewals stale**: renewals keep failing; new work must confirm protection first.
    pub(crate) fn went_stale(&self, s: &mut Slow) {
        s.stale = true;
        self.close();
        self.notify();
    }

    /// **hold reached**: `max_hold` of continuous protection; new work waits while the
    /// units in flight (marked old) finish.
    pub(crate) fn hold_reached(&self, s: &mut Slow, now: Instant) {
        let prev = self.mark();
        s.old_total = super::state::count(prev);
        let due = s.hold_from.unwrap_or(now) + self.config.max_hold() + self.config.hold_grace();
        s.phase = Phase::Draining { due };
        s.log(
            Info,
            format!(
                "task protection held for {} (max hold): new work waits while {} units finish, \
                 then protection is released for {} so that ECS may stop the task",
                Readable(self.config.max_hold()),
                s.old_total,
                Readable(self.config.window())
            ),
        );
        self.update_watch(s);
        self.notify();
    }

    /// **overrun**: the grace passed with old units still running; new work is let in
    /// again under the current protection until they finish.
    pub(crate) fn overrun(&self, s: &mut Slow) {
        s.phase = Phase::Overrun;
        s.counters.overruns += 1;
        let in_flight = self.in_flight();
        s.log(
            Warn,
            format!(
                "{in_flight} units are still running {} after the breathing window was due: new \
                 work is let in again, and the next window comes {} after they finish (or \
                 protection is released at the hard cap, {} of continuous protection)",
                Readable(self.config.hold_grace()),
                Readable(self.config.max_hold()),
                Readable(self.config.hard_cap())
            ),
        );
        self.metric(s, Event::Overrun, None);
        self.update_watch(s);
        self.open(s);
        self.notify();
    }

    /// **overrun ended**: the units from before the window have finished; the next window
    /// comes `max_hold` from now.
    pub(crate) fn overrun_ended(&self, s: &mut Slow, now: Instant) {
        self.unmark();
        s.phase = Phase::On;
        s.hold_from = Some(now);
        s.log(
            Info,
            format!(
                "the units that overran the breathing window have finished; the next window \
                 comes in {}",
                Readable(self.config.max_hold())
            ),
        );
        self.open(s);
        self.notify();
    }

    /// **hard cap**: continuous protection reached `hard_cap`; it is released (by the
    /// caller's disable) even with work in flight.
    pub(crate) fn hard_capped(&self, s: &mut Slow) {
        self.close();
        self.unmark();
        s.counters.hard_caps += 1;
        let in_flight = self.in_flight();
        s.log(
            LogError,
            format!(
                "task protection has been held for {} (the hard cap) and {in_flight} units are \
                 still in flight: releasing it now so that ECS can stop or replace the task; \
                 those units run unprotected (look for a stuck handler)",
                Readable(self.config.hard_cap())
            ),
        );
        self.metric(s, Event::HardCap, None);
    }

    /// **window opened**: protection was removed for the breathing window.
    fn window_opened(&self, s: &mut Slow, release: Release, started: Instant) {
        let now = now();
        self.unmark();
        let held = s.end_hold(started);
        self.forget_protection(s);
        let window = self.config.window();
        s.counters.windows += 1;
        s.phase = Phase::Window {
            until: now + window,
        };
        s.log(
            Info,
            format!(
                "task protection removed ({}) after {}: off for {} so that ECS may stop the \
                 task; new work waits ({} call took {:?})",
                release.reason(),
                Readable(held),
                Readable(window),
                self.backend.name(),
                now - started
            ),
        );
        self.metric(s, Event::Window, Some(now - started));
    }

    /// **window closed**: new work takes protection again (or, after shutdown, gets the
    /// shutdown answer).
    pub(crate) fn window_closed(&self, s: &mut Slow) {
        s.phase = Phase::Off;
        if !s.shutdown {
            s.log(
                Info,
                "breathing window over: protection is taken again for new work".to_owned(),
            );
        }
        self.notify();
    }

    /// **disabled**: the backend confirmed protection off.
    fn disabled(&self, s: &mut Slow, release: Release, started: Instant) {
        let now = now();
        self.unmark();
        let held = s.end_hold(started);
        self.forget_protection(s);
        s.phase = Phase::Off;
        s.log(
            Info,
            format!(
                "task protection removed ({}) after {} ({} call took {:?})",
                release.reason(),
                Readable(held),
                self.backend.name(),
                now - started
            ),
        );
        self.metric(s, Event::Disabled, Some(now - started));
    }

    fn forget_protection(&self, s: &mut Slow) {
        s.expires = None;
        s.unseen_until = None;
        s.renew_at = None;
        s.stale_at = None;
        s.stale = false;
        // The failure streak stays: only a confirmed enable or renewal ends it, so that a
        // disable that succeeds between lost enables does not keep the back-off short.
    }

    /// **disable failed**: protection may still be on until its expiry; the idle worker
    /// asks again after the back-off.
    fn disable_failed(&self, s: &mut Slow, release: Release, err: &Error, started: Instant) {
        let now = now();
        self.unmark();
        s.end_hold(started);
        s.streak = s.streak.saturating_add(1);
        let wait = backoff::after(&self.config, err, s.streak).max(WORKER_RETRY_FLOOR);
        let until = [s.expires, s.unseen_until]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(started + self.requested());
        s.renew_at = None;
        s.stale_at = None;
        s.stale = false;
        s.phase = if until > now {
            Phase::MaybeOn {
                until,
                retry_at: now + wait,
            }
        } else {
            Phase::Off
        };
        s.log(
            Warn,
            format!(
                "could not remove task protection ({}): {err}; retrying in {} when idle, and \
                 ECS clears it by itself in {}",
                release.reason(),
                Readable(wait),
                Readable(until.saturating_duration_since(now))
            ),
        );
        self.metric(s, Event::Failed, Some(now - started));
    }

    /// **unseen expired**: protection that may have been on has expired by now.
    pub(crate) fn unseen_expired(&self, s: &mut Slow) {
        s.phase = Phase::Off;
        s.unseen_until = None;
        s.expires = None;
        s.log(
            Info,
            "protection that may have stayed on after a lost answer has expired by now".to_owned(),
        );
        self.notify();
    }

    /// **shutdown**: no new enable, linger zero; a breathing window or its wait ends.
    pub(crate) fn shut_down(&self, s: &mut Slow) {
        s.shutdown = true;
        self.close();
        self.unmark();
        match s.phase {
            Phase::Draining { .. } | Phase::Overrun => s.phase = Phase::On,
            Phase::Window { .. } => s.phase = Phase::Off,
            Phase::Off | Phase::MaybeOn { .. } | Phase::On => {}
        }
        self.update_watch(s);
        let in_flight = self.in_flight();
        let message = if self.local {
            format!(
                "shutdown requested: new work is refused or runs unprotected ({in_flight} units \
                 in flight)"
            )
        } else {
            format!(
                "shutdown requested: no new protection is taken; protection is released as \
                 soon as the {in_flight} units in flight finish"
            )
        };
        s.log(Info, message);
        self.metric(s, Event::Shutdown, None);
        self.notify();
    }
}

fn failure_message(
    err: &Error,
    action: Action,
    backoff: Duration,
    latency: Duration,
    unseen: Option<Instant>,
    now: Instant,
) -> String {
    let what = if action == Action::Renew {
        "renew"
    } else {
        "enable"
    };
    let again = Readable(backoff);
    if err.is_deployment_blocked() {
        format!(
            "could not {what} task protection: {err}. DEPLOYMENT_BLOCKED means the service \
             already has more protected tasks than its desired count, so ECS refuses to \
             protect more: this task is NOT protected and may be stopped while it works. \
             Resolve it by raising the service's desired count, or by releasing protection \
             sooner on the other tasks (a shorter ECS_PROTECT_MAX_HOLD or \
             ECS_PROTECT_EXPIRES_MINUTES); asking again in {again}"
        )
    } else if err.is_permanent() {
        format!(
            "could not {what} task protection: {err}; this will not succeed by retrying \
             (check the task role's ecs:UpdateTaskProtection permission and that the task \
             belongs to a service); asking again in {again}"
        )
    } else if let Some(until) = unseen {
        format!(
            "could not {what} task protection after {latency:?}: {err}; the answer was lost, so \
             protection may be on for up to {}: it is released when idle; asking again in {again}",
            Readable(until.saturating_duration_since(now))
        )
    } else {
        format!(
            "could not {what} task protection after {latency:?}: {err}; asking again in {again}"
        )
    }
}

impl Inner {
    /// Asks for shutdown (the **shutdown** transition, once), then tells the backend, so
    /// that a call waiting in it (a shared directory's breathing window) ends now.
    /// Idempotent.
    pub(crate) fn request_shutdown(&self) {
        let mut s = self.lock();
        let first = !s.shutdown;
        if first {
            self.shut_down(&mut s);
        }
        self.unlock(s);
        if first {
            // The backend is user code: a panic in it must not stop the shutdown.
            let told = catch_unwind(AssertUnwindSafe(|| self.backend.shutting_down()));
            if told.is_err() {
                log::error!(
                    "the {} backend panicked when told of the shutdown",
                    self.backend.name()
                );
            }
        }
    }
}
