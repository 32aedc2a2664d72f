//! The background thread: linger, renewal, the breathing window, the hard cap, disable
//! retries. It holds the lock only between calls and sleeps until the next deadline.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::emf::Event;
use super::state::{Action, Inner, OPEN, Phase, Slow, count, generation, poll_interval};
use crate::config::Readable;

fn earliest(times: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    times.into_iter().flatten().min()
}

/// Runs until the last `Protector` handle is dropped, then releases protection and ends.
pub(crate) fn run(inner: Arc<Inner>) {
    let config = inner.config.clone();
    let poll = poll_interval(&config);
    let mut s = inner.lock();
    // (generation, when first seen) while the count is zero: the linger's clock.
    let mut idle: Option<(u64, Instant)> = None;
    loop {
        if s.call.is_some() {
            s = inner.wait(s, None);
            continue;
        }
        inner.update_watch(&s);
        let now = Instant::now();
        let word = inner.word.load(Ordering::SeqCst);
        let in_flight = count(word);
        if s.stopped && in_flight == 0 {
            if s.phase != Phase::Off || s.maybe_on {
                inner.close();
                drop(inner.disable(s, "the protector was dropped"));
            }
            return;
        }
        let wake = match s.phase {
            Phase::Off => {
                idle = None;
                if s.maybe_on && s.expires.is_none_or(|e| now >= e) {
                    // ECS has cleared it by itself: the expiry is the last backstop.
                    s.maybe_on = false;
                    s.disable_retry_at = None;
                    s.expires = None;
                    continue;
                }
                if s.maybe_on && in_flight == 0 && s.disable_retry_at.is_some_and(|t| now >= t) {
                    s = inner.disable(s, "retrying a failed disable");
                    continue;
                }
                if s.maybe_on {
                    earliest([s.disable_retry_at, s.expires])
                } else {
                    None
                }
            }
            Phase::On | Phase::Draining => {
                let since = s.since.unwrap_or(now);
                if s.expires.is_some_and(|e| now >= e) {
                    let was = s.phase;
                    inner.lapse(&mut s, now);
                    s.phase = match was {
                        Phase::Draining if !s.shutdown => {
                            s.counters.windows += 1;
                            Phase::Window {
                                until: now + config.window(),
                            }
                        }
                        _ => Phase::Off,
                    };
                    inner.notify();
                    continue;
                }
                if now >= since + config.hard_cap() {
                    inner.close();
                    log::error!(
                        "task protection has been held for {} (the hard cap) and {in_flight} units \
                         are still in flight: releasing it now so that ECS can stop or replace the \
                         task; those units run unprotected (look for a stuck handler)",
                        Readable(config.hard_cap())
                    );
                    s.counters.hard_caps += 1;
                    inner.emit(&s, Event::HardCap, None);
                    s = open_window(&inner, s, "hard cap");
                    continue;
                }
                if s.phase == Phase::On
                    && !s.shutdown
                    && !s.overrun
                    && now >= since + config.max_hold()
                {
                    inner.close();
                    s.phase = Phase::Draining;
                    log::info!(
                        "task protection held for {} (max hold): new work waits while {in_flight} \
                         units finish, then protection is released for {} so that ECS may stop \
                         the task",
                        Readable(config.max_hold()),
                        Readable(config.window())
                    );
                    continue;
                }
                if s.phase == Phase::Draining {
                    if in_flight == 0 {
                        s = open_window(&inner, s, "breathing window");
                        continue;
                    }
                    if now >= since + config.max_hold() + config.hold_grace() {
                        log::warn!(
                            "{in_flight} units are still running {} after the breathing window \
                             was due: new work is let in again and the task stays protected \
                             until they finish or the hard cap ({} of continuous protection)",
                            Readable(config.hold_grace()),
                            Readable(config.hard_cap())
                        );
                        s.overrun = true;
                        s.phase = Phase::On;
                        inner.open(&s);
                        inner.notify();
                        continue;
                    }
                }
                let renew_due = s.renew_at.is_some_and(|r| now >= r);
                if in_flight == 0 && s.phase == Phase::On {
                    let generation = generation(word);
                    let linger_over = s.shutdown
                        || config.linger().is_zero()
                        || idle.is_some_and(|(g, at)| {
                            g == generation && now.saturating_duration_since(at) >= config.linger()
                        });
                    if linger_over || renew_due || s.stale {
                        // Closing only if nobody acquired since `word` was read: an acquire
                        // that comes after this sees `OPEN` clear and waits for the disable,
                        // then enables again.
                        if inner
                            .word
                            .compare_exchange(
                                word,
                                word & !OPEN,
                                Ordering::SeqCst,
                                Ordering::SeqCst,
                            )
                            .is_ok()
                        {
                            let reason = if s.shutdown {
                                "shutdown"
                            } else if linger_over {
                                "idle"
                            } else {
                                "idle at renewal time"
                            };
                            s = inner.disable(s, reason);
                            idle = None;
                        }
                        continue;
                    }
                    if idle.is_none_or(|(g, _)| g != generation) {
                        idle = Some((generation, now));
                    }
                    let lingered_until = idle.map(|(_, at)| at + config.linger());
                    earliest([
                        lingered_until,
                        Some(now + poll),
                        s.renew_at,
                        Some(since + config.max_hold()),
                        Some(since + config.hard_cap()),
                    ])
                } else {
                    idle = None;
                    if renew_due {
                        s = inner.enable(s, Action::Renew).0;
                        continue;
                    }
                    if !s.stale && s.stale_at.is_some_and(|t| now >= t) {
                        // Renewals keep failing: make new work confirm protection first.
                        s.stale = true;
                        inner.close();
                        inner.notify();
                        continue;
                    }
                    let window_due = if s.phase == Phase::Draining {
                        Some(since + config.max_hold() + config.hold_grace())
                    } else if s.overrun {
                        None
                    } else {
                        Some(since + config.max_hold())
                    };
                    // Watching the count: a busy protector polls, a watched one is woken.
                    let look = (word & super::state::WATCH == 0).then_some(now + poll);
                    earliest([
                        look,
                        s.renew_at,
                        s.stale_at.filter(|_| !s.stale),
                        s.expires,
                        window_due,
                        Some(since + config.hard_cap()),
                    ])
                }
            }
            Phase::Window { until } => {
                idle = None;
                if s.shutdown || now >= until {
                    s.phase = Phase::Off;
                    s.overrun = false;
                    if !s.shutdown {
                        log::info!("breathing window over: protection is taken again for new work");
                    }
                    inner.notify();
                    continue;
                }
                Some(until)
            }
        };
        s = inner.wait(s, wake);
    }
}

/// Releases protection for a breathing window (or just releases it during shutdown).
fn open_window<'a>(
    inner: &'a Inner,
    s: std::sync::MutexGuard<'a, Slow>,
    reason: &str,
) -> std::sync::MutexGuard<'a, Slow> {
    let mut s = inner.disable(s, reason);
    if !s.shutdown {
        let window = inner.config.window();
        s.counters.windows += 1;
        s.phase = Phase::Window {
            until: Instant::now() + window,
        };
        log::info!(
            "breathing window: protection is off for {} so that ECS may stop the task; new work waits",
            Readable(window)
        );
        inner.emit(&s, Event::Window, None);
    }
    inner.notify();
    s
}
