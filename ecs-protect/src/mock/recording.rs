//! [`RecordingBackend`]: an in-memory backend that records every call and its timing.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::wait;
use crate::{Backend, Error, Protection, ProtectionState};

/// An in-memory [`Backend`] for tests: records every call, can be slowed down or made to
/// fail, and answers whether protection was on at a given instant.
///
/// The timeline is conservative, as a test of "was the work protected" needs: an enable
/// counts from the moment its call returned, a disable from the moment its call began, and
/// an enable lapses `expires_in` after its call began.
///
/// ```
/// use ecs_protect::mock::RecordingBackend;
/// use ecs_protect::{Backend, Protection};
/// use std::time::Instant;
///
/// let backend = RecordingBackend::new();
/// backend.set_protection(Protection::On { expires_in_minutes: 60 })?;
/// let during = Instant::now();
/// backend.set_protection(Protection::Off)?;
/// assert!(backend.protected_at(during));
/// assert!(!backend.protected_at(Instant::now()));
/// assert_eq!(backend.calls().len(), 2);
/// # Ok::<(), ecs_protect::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RecordingBackend {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<Call>,
    in_air: usize,
    max_in_air: usize,
    latency: Duration,
    failures: VecDeque<Failure>,
    expiry_override: Option<Duration>,
}

/// A queued failure: makes the error the next call returns; `applied`: the change is made
/// all the same (the answer was lost).
struct Failure {
    make: Box<dyn Fn() -> Error + Send>,
    applied: bool,
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Failure")
    }
}

/// One call the backend received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// What was asked.
    pub change: Protection,
    /// When the call began.
    pub started: Instant,
    /// When it returned.
    pub ended: Instant,
    /// Whether the change was made (also when its answer was lost).
    pub ok: bool,
    /// The change was made but the caller got an error (see
    /// [`RecordingBackend::lose_next_answer`]).
    pub lost: bool,
    /// How long the granted protection lasts, measured from `started` (enables only).
    pub expires_in: Option<Duration>,
}

impl RecordingBackend {
    /// A backend that confirms every change at once.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide later assertions.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every call take this long (the lock is not held meanwhile).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Makes the next call fail with the error `make` returns; queue several for several.
    pub fn fail_next(&self, make: impl Fn() -> Error + Send + 'static) {
        self.lock().failures.push_back(Failure {
            make: Box::new(make),
            applied: false,
        });
    }

    /// Makes the next call take effect and then fail with the error `make` returns, as a
    /// timeout or a 5xx after ECS applied the change does; queued with
    /// [`fail_next`](Self::fail_next)'s failures, in order.
    pub fn lose_next_answer(&self, make: impl Fn() -> Error + Send + 'static) {
        self.lock().failures.push_back(Failure {
            make: Box::new(make),
            applied: true,
        });
    }

    /// Drops the failures queued and not yet used: the backend recovers.
    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    /// Grants protection for this long instead of the minutes asked (to test renewal).
    pub fn set_expiry(&self, expiry: Duration) {
        self.lock().expiry_override = Some(expiry);
    }

    /// Every call so far, in the order they began.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many calls asked for `On` (enables and renewals).
    pub fn enable_calls(&self) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| matches!(c.change, Protection::On { .. }))
            .count()
    }

    /// How many calls asked for `Off`.
    pub fn disable_calls(&self) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.change == Protection::Off)
            .count()
    }

    /// The largest number of calls that were in the air at once.
    pub fn max_concurrent_calls(&self) -> usize {
        self.lock().max_in_air
    }

    /// Whether protection was on at `at`, by the conservative timeline.
    pub fn protected_at(&self, at: Instant) -> bool {
        let state = self.lock();
        let mut on_until: Option<Instant> = None;
        for call in state.calls.iter().filter(|c| c.ok) {
            match call.change {
                Protection::On { .. } if call.ended <= at => {
                    on_until = Some(call.started + call.expires_in.unwrap_or_default());
                }
                Protection::Off if call.started <= at => on_until = None,
                _ => {}
            }
        }
        on_until.is_some_and(|until| at < until)
    }

    /// Whether protection was on for the whole of `from..=to`.
    pub fn protected_throughout(&self, from: Instant, to: Instant) -> bool {
        // Between calls the state only changes by lapsing, and a lapse lasts until the next
        // enable returns; so checking both ends and the instant before each enable returned
        // inside the span finds every gap.
        let (disabled_inside, checkpoints): (bool, Vec<Instant>) = {
            let state = self.lock();
            let disabled = state.calls.iter().any(|c| {
                c.ok && c.change == Protection::Off && from <= c.started && c.started <= to
            });
            let points = state
                .calls
                .iter()
                .filter(|c| c.ok && c.expires_in.is_some() && from < c.ended && c.ended <= to)
                .filter_map(|c| c.ended.checked_sub(Duration::from_nanos(1)))
                .collect();
            (disabled, points)
        };
        !disabled_inside
            && [from, to]
                .into_iter()
                .chain(checkpoints)
                .all(|at| self.protected_at(at))
    }

    /// Whether the last successful call left protection on (ignoring expiry).
    pub fn last_confirmed_on(&self) -> bool {
        self.lock()
            .calls
            .iter()
            .rev()
            .find(|c| c.ok)
            .is_some_and(|c| matches!(c.change, Protection::On { .. }))
    }

    /// Waits until `cond` holds for the recorded calls, or `timeout` passes; returns
    /// whether it held.
    pub fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&[Call]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        wait::until(&self.shared.changed, self.lock(), deadline, |state| {
            cond(&state.calls)
        })
    }
}

impl Backend for RecordingBackend {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let started = Instant::now();
        let (latency, failure, expiry_override) = {
            let mut state = self.lock();
            state.in_air += 1;
            state.max_in_air = state.max_in_air.max(state.in_air);
            (
                state.latency,
                state.failures.pop_front(),
                state.expiry_override,
            )
        };
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let expires_in = match change {
            Protection::On { expires_in_minutes } => Some(
                expiry_override.unwrap_or(Duration::from_secs(u64::from(expires_in_minutes) * 60)),
            ),
            Protection::Off => None,
        };
        let applied = failure.as_ref().is_none_or(|f| f.applied);
        let result = match failure {
            Some(failure) => Err((failure.make)()),
            None => Ok(ProtectionState {
                enabled: expires_in.is_some(),
                expires_at: expires_in.map(|d| SystemTime::now() + d),
            }),
        };
        let mut state = self.lock();
        state.in_air -= 1;
        state.calls.push(Call {
            change,
            started,
            ended: Instant::now(),
            ok: applied,
            lost: applied && result.is_err(),
            expires_in,
        });
        state.calls.sort_by_key(|c| c.started);
        drop(state);
        self.shared.changed.notify_all();
        result
    }

    fn name(&self) -> &str {
        "recording"
    }
}
