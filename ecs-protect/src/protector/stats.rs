//! [`Stats`]: what a protector has done so far.

use std::fmt;
use std::time::Duration;

/// Counters a protector keeps under its lock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) enables: u64,
    pub(crate) renewals: u64,
    pub(crate) disables: u64,
    pub(crate) failures: u64,
    pub(crate) windows: u64,
    pub(crate) hard_caps: u64,
    pub(crate) overruns: u64,
    pub(crate) lapses: u64,
    pub(crate) unprotected: u64,
    pub(crate) refused: u64,
    pub(crate) time_protected: Duration,
}

/// A snapshot of what a [`Protector`](crate::Protector) has done: calls per action,
/// failures, time protected, work in flight and the current state.
///
/// ```
/// use ecs_protect::{Disabled, Protector, State};
///
/// let protector = Protector::with_backend(Disabled);
/// let guard = protector.acquire()?;
/// let stats = protector.stats();
/// assert_eq!((stats.in_flight, stats.calls(), stats.state), (1, 0, State::Local));
/// # drop(guard);
/// # Ok::<(), ecs_protect::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls that asked for protection from off.
    pub enables: u64,
    /// Calls that renewed protection before it expired.
    pub renewals: u64,
    /// Calls that removed protection.
    pub disables: u64,
    /// Calls that failed (of all three kinds).
    pub failures: u64,
    /// Breathing windows opened (including those forced by the hard cap).
    pub windows: u64,
    /// Times the hard cap released protection with work still in flight.
    pub hard_caps: u64,
    /// Breathing windows whose units overran `hold_grace`: new work was let in again until
    /// they finished.
    pub overruns: u64,
    /// Times protection expired before a renewal succeeded.
    pub lapses: u64,
    /// Units of work that ran unprotected under [`FailurePolicy::Proceed`](crate::FailurePolicy::Proceed).
    pub unprotected: u64,
    /// Acquires refused under [`FailurePolicy::Require`](crate::FailurePolicy::Require).
    pub refused: u64,
    /// How long protection has been on in total, including the current stretch.
    pub time_protected: Duration,
    /// Guards alive now.
    pub in_flight: usize,
    /// Acquires waiting now for a call in the air or a breathing window.
    pub waiting: usize,
    /// Where protection stands now.
    pub state: State,
    /// Whether shutdown has been requested.
    pub shutting_down: bool,
}

impl Stats {
    /// Backend calls of every kind.
    pub fn calls(&self) -> u64 {
        self.enables + self.renewals + self.disables
    }
}

/// Where a protector's protection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Local mode: work is counted, nothing is called.
    Local,
    /// Not protected.
    Off,
    /// A call's answer was lost (or a disable failed): protection may be on until its
    /// expiry. Idle, the protector asks for a disable after the back-off.
    MaybeOn,
    /// Not protected, and a failure is remembered: acquires apply the policy until the
    /// back-off passes.
    BackingOff,
    /// An enable call is in the air.
    Enabling,
    /// Protected.
    On,
    /// Protected, and a renewal call is in the air.
    Renewing,
    /// `max_hold` reached: new work waits while the work in flight finishes.
    Draining,
    /// Units from before a breathing window ran past `hold_grace`: new work runs under the
    /// current protection until they finish; the next window comes `max_hold` after that.
    Overrun,
    /// Released for a breathing window; new work waits.
    Window,
    /// A disable call is in the air.
    Disabling,
    /// The configuration is invalid: every acquire fails with that error.
    Misconfigured,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Local => "local",
            State::Off => "off",
            State::BackingOff => "backing off",
            State::MaybeOn => "maybe on",
            State::Overrun => "overrun",
            State::Enabling => "enabling",
            State::On => "on",
            State::Renewing => "renewing",
            State::Draining => "draining",
            State::Window => "window",
            State::Disabling => "disabling",
            State::Misconfigured => "misconfigured",
        })
    }
}
