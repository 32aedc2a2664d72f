//! The background thread: a loop of `match phase`, one function per phase. Each function
//! either acts (a transition or a call) and asks to look again, or returns the next
//! deadline at which something can act; the thread sleeps until then or until woken.

use std::sync::Arc;
use std::time::Instant;

use super::state::{Action, Inner, OPEN, Phase, Slow, WATCH, count, generation, poll_interval};
use super::sync::{MutexGuard, Ordering, now};
use super::transitions::Release;

/// What a phase function decided.
enum Next {
    /// Something changed: look again at once.
    Again,
    /// Nothing can act before this deadline (`None`: until woken).
    Sleep(Option<Instant>),
}

type Held<'a> = MutexGuard<'a, Slow>;

fn earliest(times: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    times.into_iter().flatten().min()
}

/// What every phase function sees.
struct Now {
    at: Instant,
    word: u64,
    in_flight: usize,
}

/// Runs until the last `Protector` handle is dropped, then releases protection and ends.
pub(crate) fn run(inner: Arc<Inner>) {
    let mut s = inner.lock();
    // (generation, when first seen) while the count is zero: the linger's clock.
    let mut idle: Option<(u64, Instant)> = None;
    loop {
        if s.call.is_some() {
            s = inner.wait(s, None);
            continue;
        }
        inner.update_watch(&s);
        let word = inner.word.load(Ordering::SeqCst);
        let now = Now {
            at: now(),
            word,
            in_flight: count(word),
        };
        if s.stopped && now.in_flight == 0 {
            if s.phase.maybe_protected() {
                inner.close();
                s = inner.disable(s, Release::Dropped);
            }
            inner.unlock(s);
            return;
        }
        if s.phase != Phase::On {
            idle = None;
        }
        let (held, next) = match s.phase {
            Phase::Off => off(&inner, s, &now),
            Phase::MaybeOn { until, retry_at } => maybe_on(&inner, s, &now, until, retry_at),
            Phase::On => on(&inner, s, &now, &mut idle),
            Phase::Draining { due } => draining(&inner, s, &now, due),
            Phase::Overrun => overrun(&inner, s, &now),
            Phase::Window { until } => window(&inner, s, &now, until),
        };
        s = held;
        if let Next::Sleep(deadline) = next {
            s = inner.wait(s, deadline);
        }
    }
}

/// Off: with work in flight (run unprotected, or left by a lapse) and no shutdown,
/// protection is asked for again once the back-off has passed.
fn off<'a>(inner: &'a Inner, s: Held<'a>, now: &Now) -> (Held<'a>, Next) {
    if now.in_flight == 0 || s.shutdown {
        return (s, Next::Sleep(None));
    }
    reenable(inner, s, now, None)
}

/// Asks for protection for the work in flight, or sleeps until the back-off (or `until`).
fn reenable<'a>(
    inner: &'a Inner,
    s: Held<'a>,
    now: &Now,
    until: Option<Instant>,
) -> (Held<'a>, Next) {
    match s.backoff.as_ref().map(|b| b.retry_at) {
        Some(at) if now.at < at => (s, Next::Sleep(earliest([Some(at), until]))),
        _ => (inner.enable(s, Action::Enable).0, Next::Again),
    }
}

/// Maybe on: until the possible protection expires, idle means a disable (after the
/// back-off), work in flight means an enable.
fn maybe_on<'a>(
    inner: &'a Inner,
    mut s: Held<'a>,
    now: &Now,
    until: Instant,
    retry_at: Instant,
) -> (Held<'a>, Next) {
    if now.at >= until {
        inner.unseen_expired(&mut s);
        return (s, Next::Again);
    }
    if now.in_flight > 0 {
        if s.shutdown {
            // The work in flight may be protected; `drain` or its end releases it.
            return (s, Next::Sleep(Some(until)));
        }
        return reenable(inner, s, now, Some(until));
    }
    if now.at >= retry_at {
        return (inner.disable(s, Release::Retry), Next::Again);
    }
    (s, Next::Sleep(Some(retry_at.min(until))))
}

/// The checks every protected phase starts with: expiry, then the hard cap.
fn expired_or_capped<'a>(inner: &'a Inner, mut s: Held<'a>, now: &Now) -> (Held<'a>, bool) {
    if s.expires.is_some_and(|e| now.at >= e) {
        inner.lapsed(&mut s, now.at);
        return (s, true);
    }
    if s.since
        .is_some_and(|since| now.at >= since + inner.config.hard_cap())
    {
        inner.hard_capped(&mut s);
        return (inner.disable(s, Release::HardCap), true);
    }
    (s, false)
}

fn hard_cap_at(inner: &Inner, s: &Slow) -> Option<Instant> {
    s.since.map(|since| since + inner.config.hard_cap())
}

/// When the next breathing window is due (none during shutdown).
fn hold_due(inner: &Inner, s: &Slow) -> Option<Instant> {
    s.hold_from
        .filter(|_| !s.shutdown)
        .map(|from| from + inner.config.max_hold())
}

/// Renews when due with work in flight, or goes stale when renewals keep failing; `None`
/// when neither applies.
fn renew_or_stale<'a>(inner: &'a Inner, mut s: Held<'a>, now: &Now) -> (Held<'a>, Option<Next>) {
    if now.in_flight > 0 && s.renew_at.is_some_and(|r| now.at >= r) {
        return (inner.enable(s, Action::Renew).0, Some(Next::Again));
    }
    if now.in_flight > 0 && !s.stale && s.stale_at.is_some_and(|t| now.at >= t) {
        inner.went_stale(&mut s);
        return (s, Some(Next::Again));
    }
    (s, None)
}

/// On: the linger, renewal, the hard cap and the next breathing window.
fn on<'a>(
    inner: &'a Inner,
    s: Held<'a>,
    now: &Now,
    idle: &mut Option<(u64, Instant)>,
) -> (Held<'a>, Next) {
    let (mut s, acted) = expired_or_capped(inner, s, now);
    if acted {
        return (s, Next::Again);
    }
    if hold_due(inner, &s).is_some_and(|due| now.at >= due) {
        inner.hold_reached(&mut s, now.at);
        return (s, Next::Again);
    }
    let config = &inner.config;
    if now.in_flight > 0 {
        *idle = None;
        let (s, acted) = renew_or_stale(inner, s, now);
        if let Some(next) = acted {
            return (s, next);
        }
        // A busy protector polls the count to see it reach zero (the release path takes no
        // lock); a watched one is woken by the last release.
        let look = (now.word & WATCH == 0).then(|| now.at + poll_interval(config));
        let wake = earliest([
            look,
            s.renew_at,
            s.stale_at.filter(|_| !s.stale),
            s.expires,
            hold_due(inner, &s),
            hard_cap_at(inner, &s),
        ]);
        return (s, Next::Sleep(wake));
    }
    let generation = generation(now.word);
    if idle.is_none_or(|(g, _)| g != generation) {
        *idle = Some((generation, now.at));
    }
    let lingered_until = idle.map(|(_, at)| at + config.linger());
    let linger_over = s.shutdown || lingered_until.is_some_and(|t| now.at >= t);
    let renew_due = s.renew_at.is_some_and(|r| now.at >= r);
    if linger_over || renew_due || s.stale {
        // Closing only if nobody acquired since `word` was read: an acquire that comes after
        // this sees `OPEN` clear and waits for the disable, then enables again.
        let closed = inner
            .word
            .compare_exchange(
                now.word,
                now.word & !OPEN,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok();
        if closed {
            let release = if s.shutdown {
                Release::Shutdown
            } else if linger_over {
                Release::Idle
            } else {
                Release::IdleAtRenewal
            };
            s = inner.disable(s, release);
            *idle = None;
        }
        return (s, Next::Again);
    }
    // Units may come and go while the linger runs (the fast path takes no lock): looking
    // every `poll_interval` sees the last of them end within that long, and the linger
    // starts again from there.
    let wake = earliest([
        lingered_until,
        Some(now.at + poll_interval(config)),
        s.renew_at,
        hold_due(inner, &s),
        hard_cap_at(inner, &s),
    ]);
    (s, Next::Sleep(wake))
}

/// Draining: new work waits; the window opens when the units in flight finish, or the
/// phase becomes an overrun at `due`.
fn draining<'a>(inner: &'a Inner, s: Held<'a>, now: &Now, due: Instant) -> (Held<'a>, Next) {
    let (mut s, acted) = expired_or_capped(inner, s, now);
    if acted {
        return (s, Next::Again);
    }
    if now.in_flight == 0 {
        return (inner.disable(s, Release::Window), Next::Again);
    }
    if now.at >= due {
        inner.overrun(&mut s);
        return (s, Next::Again);
    }
    if s.renew_at.is_some_and(|r| now.at >= r) {
        return (inner.enable(s, Action::Renew).0, Next::Again);
    }
    let wake = earliest([Some(due), s.renew_at, s.expires, hard_cap_at(inner, &s)]);
    (s, Next::Sleep(wake))
}

/// Overrun: new work runs under the current protection; when the units from before the
/// window have finished, the next window is `max_hold` away.
fn overrun<'a>(inner: &'a Inner, s: Held<'a>, now: &Now) -> (Held<'a>, Next) {
    let (mut s, acted) = expired_or_capped(inner, s, now);
    if acted {
        return (s, Next::Again);
    }
    if inner.old_done(&s) {
        inner.overrun_ended(&mut s, now.at);
        return (s, Next::Again);
    }
    let (s, acted) = renew_or_stale(inner, s, now);
    if let Some(next) = acted {
        return (s, next);
    }
    // The last old unit's release wakes this thread.
    let wake = earliest([
        s.renew_at,
        s.stale_at.filter(|_| !s.stale),
        s.expires,
        hard_cap_at(inner, &s),
    ]);
    (s, Next::Sleep(wake))
}

/// Window: protection is off until `until` (or shutdown).
fn window<'a>(inner: &'a Inner, mut s: Held<'a>, now: &Now, until: Instant) -> (Held<'a>, Next) {
    if s.shutdown || now.at >= until {
        inner.window_closed(&mut s);
        return (s, Next::Again);
    }
    (s, Next::Sleep(Some(until)))
}
