//! [`Protector`] and [`Guard`]: reference-counted task protection.

mod backoff;
mod emf;
mod notes;
mod state;
mod stats;
mod sync;
mod transitions;
mod worker;

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use emf::Emf;
#[cfg(test)]
use emf::Sink;
use state::{
    ACQUIRE, Action, Inner, MARKED, OPEN, Phase, RELEASE, Slow, WATCH, count, duplicate, ticket,
};
pub use stats::{State, Stats};
use sync::{MutexGuard, Ordering, now};
use transitions::Release;

use crate::config::Readable;
use crate::{Backend, Config, Env, Error, FailurePolicy};

/// Keeps the task protected while any [`Guard`] it handed out is alive.
///
/// Cheap to clone; clones share one state and one background thread, which ends (after
/// releasing protection) when the last clone and the last guard are gone.
///
/// ```
/// use ecs_protect::{Disabled, Protector};
///
/// let protector = Protector::with_backend(Disabled); // local mode: counts, calls nothing
/// let guard = protector.acquire()?;
/// assert_eq!(protector.in_flight(), 1);
/// drop(guard);
/// assert_eq!(protector.in_flight(), 0);
/// # Ok::<(), ecs_protect::Error>(())
/// ```
///
/// # How it works
///
/// One word holds the number of units in flight, an `OPEN` bit meaning "protection is
/// confirmed on, not near expiry, no breathing window, no shutdown" and a `MARKED` bit
/// meaning "a breathing window waits for the units in flight now". An acquire adds one to
/// the word and, if `OPEN` was set, is done: no lock, no call, no allocation. A release
/// subtracts one. Everything else (the first enable, waiting for a call in the air, the
/// failure policy) happens on the slow path, under a mutex that is never held during a
/// backend call, nor while a log or metric line is written (lines are queued under the
/// lock and written, in order, after it is released).
///
/// A background thread per protector drives the phases over time: it measures the linger,
/// renews protection half-way to its expiry while work is in flight, opens breathing
/// windows after `max_hold`, enforces the hard cap, enables again for work in flight after
/// a lapse or a failure, and releases protection that may be on after a lost answer. It
/// sleeps until the next deadline at which something can act, so it uses next to no CPU
/// in any state. Each change of phase is one method (enabled, renewed, enable failed,
/// lapsed, hold reached, overrun, overrun ended, window opened, window closed, hard cap,
/// disabled, disable failed, unseen expired, shutdown); the README's state diagram names
/// the same phases: `Off`, `MaybeOn`, `On`, `Draining`, `Overrun`, `Window`.
///
/// Only one backend call is ever in the air per protector: acquirers that find an enable in
/// the air wait for its answer (and share its failure) instead of sending their own. A
/// disable that races a new acquire finishes first; the acquire then enables again.
///
/// # Renewal
///
/// Protection is renewed half-way to the expiry the backend confirmed (or the requested
/// minutes, counted from the call's start, when it reported none; the sooner of the two
/// otherwise) while work is in flight. Idle protection due for renewal is released instead.
/// If renewals keep failing, new work stops being admitted under the old protection at
/// three quarters of its life and must confirm protection itself (through the policy). If
/// it lapses all the same ([`Stats::lapses`]), the work still in flight is protected again
/// as soon as the back-off allows (unless shutdown was requested).
///
/// # Breathing window, grace, overrun and hard cap
///
/// After `max_hold` of continuous protection new acquires wait while the units in flight
/// finish; protection is then released for `window`, and taken again for the waiting
/// work (unless shutdown was requested meanwhile: they then get the shutdown answer). If
/// those units are still running `hold_grace` after the window was due, new work is let in
/// again under the current protection (an *overrun*, logged with the count and counted in
/// [`Stats::overruns`]); once the units that were in flight when the window was due have
/// finished, the next window is due `max_hold` later. When continuous protection reaches
/// `hard_cap` it is released even with work in flight (logged as an error, counted in
/// [`Stats::hard_caps`]), for one window.
///
/// # Failures
///
/// A failed enable goes through the [`FailurePolicy`] and is remembered for a back-off:
/// meanwhile acquires get the same answer at once, without a call, and
/// [`retry_in`](Self::retry_in) says for how long. A network failure, throttling or a
/// server error backs off exponentially: 0.5 to 1 s after the first, doubling with each
/// failure in a row up to `retry_after` (default 30 s), reset only by a confirmed enable or
/// renewal (a disable that succeeds between lost enables does not shorten the next one).
/// `DEPLOYMENT_BLOCKED` waits `blocked_retry_after` and [permanent](Error::is_permanent)
/// refusals `refused_retry_after`. While work runs unprotected, the background thread asks
/// again by itself when the back-off has passed.
///
/// A call whose answer was lost (a timeout, a transport error or a 5xx, after which ECS
/// may have applied it) counts as "maybe on" ([`State::MaybeOn`]) until the call's start
/// plus the requested expiry: idle, the protector asks for a disable after the back-off; a
/// failed disable is handled the same way, until the protection's expiry.
///
/// # How long an acquire can wait
///
/// An acquire waits at most for one call in the air and then its own enable; during a
/// breathing window, for the window's wait, its disable, the window and the enable after
/// it:
///
/// ```text
/// wait ≤ HOLD_GRACE + WINDOW + 3 × CALL
/// CALL = A × (CONNECT + 2 × READ) + Σ_{i=1}^{A-1} min(2^(i-1) s, 20 s)
/// ```
///
/// with `A` = `AWS_MAX_ATTEMPTS` (default 3), `CONNECT` = `ECS_PROTECT_CONNECT_TIMEOUT`
/// (default 3 s for the ECS API, 2 s for the agent) and `READ` = `ECS_PROTECT_READ_TIMEOUT`
/// (default 10 s; it applies to the headers and again to the body). With the defaults
/// `CALL` ≤ 3 × 23 s + 3 s = 72 s. The first call of the ECS API backend also fetches the
/// task metadata (at most 12 s) and, for the task role, credentials (at most 12 s). Outside a
/// breathing window, and when protection is already on, the bound is `2 × CALL`, and usually
/// no wait at all.
///
/// # Local mode
///
/// With a [local](Backend::is_local) backend (outside ECS) the protector counts work and
/// calls nothing; it says so once in the log. Guards then report `is_protected() == false`
/// and acquires succeed under either policy until shutdown.
///
/// # At process exit
///
/// Protection lingers after the last unit ends. A protector that is dropped releases it;
/// the default protector is a `static` that is never dropped, so [`global`](crate::global)
/// releases it when the main thread's thread-locals are destroyed at exit (on Linux with
/// glibc, after `main` returns). Elsewhere, or after `std::process::exit` from another
/// thread, protection left on lasts until ECS's expiry (`ECS_PROTECT_EXPIRES_MINUTES`)
/// unless the task stops with the process. Call [`Protector::drain`] before leaving `main`
/// to release protection at once on every platform; it is what a SIGTERM handler should
/// do anyway.
#[derive(Clone)]
pub struct Protector {
    handle: Arc<Handle>,
}

/// Owned by protectors and guards; its drop tells the background thread to finish.
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut s = self.inner.lock();
        s.stopped = true;
        self.inner.unlock(s);
        self.inner.notify();
    }
}

impl Protector {
    /// A protector on `backend` with the default [`Config`].
    pub fn with_backend(backend: impl Backend) -> Self {
        Protector::with_config(Config::default(), backend)
    }

    /// A protector on `backend` with `config`.
    ///
    /// ```
    /// use ecs_protect::{Config, Disabled, Protector};
    /// use std::time::Duration;
    ///
    /// let config = Config::builder().linger(Duration::from_secs(1)).build()?;
    /// let protector = Protector::with_config(config, Disabled);
    /// assert_eq!(protector.config().linger(), Duration::from_secs(1));
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn with_config(config: Config, backend: impl Backend) -> Self {
        Protector::from_parts(config, Box::new(backend))
    }

    /// A protector configured from the process environment: the backend from
    /// `ECS_PROTECT_BACKEND` and the task metadata endpoint, the settings from
    /// `ECS_PROTECT_*` (see [`Config`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the first invalid variable, or what stopped the backend
    /// from being set up.
    pub fn from_env() -> Result<Self, Error> {
        Protector::from_env_with(&Env::process())
    }

    /// Like [`from_env`](Self::from_env), reading `env`.
    ///
    /// ```
    /// use ecs_protect::{Env, Protector};
    ///
    /// let env = Env::from_vars([("ECS_PROTECT_BACKEND", "off"), ("ECS_PROTECT_LINGER", "1s")]);
    /// let protector = Protector::from_env_with(&env)?;
    /// # drop(protector);
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_with(env: &Env) -> Result<Self, Error> {
        let config = Config::from_env_with(env)?;
        let backend = crate::backend::from_env(env, &config)?;
        Ok(Protector::from_parts(config, backend))
    }

    pub(crate) fn from_parts(config: Config, backend: Box<dyn Backend>) -> Self {
        let emf = config.emf().then(|| Emf::stdout(config.emf_namespace()));
        Protector::build(Inner::new(config, backend, None, emf))
    }

    /// A protector whose every acquire fails with `error` through `config`'s policy.
    pub(crate) fn misconfigured(config: Config, error: Error) -> Self {
        Protector::build(Inner::new(
            config,
            Box::new(crate::Disabled),
            Some(error),
            None,
        ))
    }

    #[cfg(test)]
    pub(crate) fn with_emf_sink(config: Config, backend: impl Backend, sink: Sink) -> Self {
        let emf = Emf::with_sink(config.emf_namespace(), sink);
        Protector::build(Inner::new(config, Box::new(backend), None, Some(emf)))
    }

    /// Makes this protector also obey the shutdown that
    /// [`Shutdown::install`](crate::Shutdown::install) registered (the default protector).
    pub(crate) fn follow_installed_shutdown(&self) {
        self.inner().follows_installed.store(true, Ordering::SeqCst);
    }

    fn build(inner: Inner) -> Self {
        let inner = Arc::new(inner);
        if inner.local {
            log::info!(
                "ecs-protect: local mode (backend `{}`): work is counted, no task protection is \
                 requested",
                inner.backend.name()
            );
        } else if inner.broken.is_none() {
            let for_worker = Arc::clone(&inner);
            let spawned = sync::spawn("ecs-protect", move || worker::run(for_worker));
            if let Err(err) = spawned {
                log::error!(
                    "could not start the ecs-protect background thread: {err}; protection will \
                     be neither renewed nor released before it expires"
                );
            }
        }
        Protector {
            handle: Arc::new(Handle { inner }),
        }
    }

    fn inner(&self) -> &Inner {
        &self.handle.inner
    }

    /// The settings this protector runs with.
    pub fn config(&self) -> &Config {
        &self.inner().config
    }

    /// Protects the task until the returned guard drops, applying the configured
    /// [`FailurePolicy`].
    ///
    /// Returns once protection is confirmed on, or the policy decided otherwise. When
    /// protection is already on and not near expiry this is an atomic counter update;
    /// otherwise the wait is bounded (see "How long an acquire can wait" in the
    /// [`Protector`] docs).
    ///
    /// # Errors
    ///
    /// Under [`FailurePolicy::Require`]: the backend's error when protection could not be
    /// had (or a remembered one, during its back-off), or [`Error::ShuttingDown`].
    pub fn acquire(&self) -> Result<Guard, Error> {
        self.acquire_with(self.inner().config.policy())
    }

    /// Like [`acquire`](Self::acquire), with `policy` instead of the configured one.
    /// With [`FailurePolicy::Proceed`] it never fails: the guard then reports
    /// [`is_protected`](Guard::is_protected) `false`.
    ///
    /// ```
    /// use ecs_protect::{Disabled, FailurePolicy, Protector};
    ///
    /// let protector = Protector::with_backend(Disabled);
    /// protector.request_shutdown();
    /// let refused = protector.acquire_with(FailurePolicy::Require);
    /// assert!(matches!(refused, Err(ecs_protect::Error::ShuttingDown)));
    /// let unprotected = protector.acquire_with(FailurePolicy::Proceed)?;
    /// assert!(!unprotected.is_protected());
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire), under [`FailurePolicy::Require`] only.
    #[inline]
    pub fn acquire_with(&self, policy: FailurePolicy) -> Result<Guard, Error> {
        let inner = self.inner();
        let before = inner.word.fetch_add(ACQUIRE, Ordering::AcqRel);
        if before & OPEN != 0 {
            return Ok(Guard {
                owner: self.owner(),
                protected: !inner.local,
                ticket: ticket(before),
            });
        }
        release(inner, ticket(before));
        self.acquire_slow(policy)
    }

    /// What a guard keeps: a borrow of the default protector (a `static`, never dropped),
    /// or a clone of this one.
    #[inline]
    fn owner(&self) -> Owner {
        match crate::global::get() {
            Some(global) if Arc::ptr_eq(&global.handle, &self.handle) => {
                Owner::Static(&global.handle.inner)
            }
            _ => Owner::Owned(self.clone()),
        }
    }

    /// Acquires under [`FailurePolicy::Proceed`]: always a guard, protected or not. What
    /// `#[protected]` without `required` uses.
    #[inline]
    pub(crate) fn enter(&self) -> Guard {
        match self.acquire_with(FailurePolicy::Proceed) {
            Ok(guard) => guard,
            // `refuse` never returns an error under Proceed. Should that change, the unit
            // is still counted so that the guard's release balances.
            Err(_) => {
                let before = self.inner().word.fetch_add(ACQUIRE, Ordering::AcqRel);
                Guard {
                    owner: self.owner(),
                    protected: false,
                    ticket: ticket(before),
                }
            }
        }
    }

    #[cold]
    fn acquire_slow(&self, policy: FailurePolicy) -> Result<Guard, Error> {
        let inner = self.inner();
        let mut s = inner.lock();
        let mut joined: Option<u64> = None;
        loop {
            if let Some(err) = &inner.broken {
                let err = duplicate(err);
                return self.refuse(s, policy, err);
            }
            if !s.shutdown
                && inner.follows_installed.load(Ordering::SeqCst)
                && crate::shutdown::installed_requested()
            {
                inner.unlock(s);
                inner.request_shutdown();
                s = inner.lock();
            }
            if s.shutdown {
                return self.refuse(s, policy, Error::ShuttingDown);
            }
            if inner.word.load(Ordering::SeqCst) & OPEN != 0 {
                // `OPEN` (and `MARKED`) change only under the lock we hold.
                let before = inner.word.fetch_add(ACQUIRE, Ordering::AcqRel);
                inner.unlock(s);
                return Ok(Guard {
                    owner: self.owner(),
                    protected: !inner.local,
                    ticket: ticket(before),
                });
            }
            if let Some(call) = s.call {
                if call != Action::Disable {
                    joined = Some(s.attempt);
                }
                s.waiting += 1;
                s = inner.wait(s, None);
                s.waiting -= 1;
                continue;
            }
            if let Some(id) = joined.take()
                && let Some((failed, err)) = &s.failed
                && *failed == id
            {
                let err = duplicate(err);
                return self.refuse(s, policy, err);
            }
            match s.phase {
                Phase::Draining { .. } | Phase::Window { .. } => {
                    s.waiting += 1;
                    s = inner.wait(s, None);
                    s.waiting -= 1;
                    continue;
                }
                Phase::Off | Phase::MaybeOn { .. } | Phase::On | Phase::Overrun => {}
            }
            if let Some(backoff) = s.backoff.as_ref().filter(|b| now() < b.until) {
                let err = duplicate(&backoff.error);
                return self.refuse(s, policy, err);
            }
            let (next, attempt) = inner.enable(s, Action::Enable);
            s = next;
            joined = Some(attempt);
        }
    }

    /// Applies `policy` to an acquire that cannot have protection.
    fn refuse(
        &self,
        mut s: MutexGuard<'_, Slow>,
        policy: FailurePolicy,
        err: Error,
    ) -> Result<Guard, Error> {
        let inner = self.inner();
        match policy {
            FailurePolicy::Require => {
                s.counters.refused += 1;
                s.log(log::Level::Debug, format!("work refused: {err}"));
                inner.unlock(s);
                Err(err)
            }
            FailurePolicy::Proceed => {
                let before = inner.word.fetch_add(ACQUIRE, Ordering::AcqRel);
                s.counters.unprotected += 1;
                // One warning, then at most one every ten seconds with a count, so that a
                // busy worker under a long outage does not flood its log.
                let now = now();
                if s.warned_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= WARN_EVERY)
                {
                    let others = std::mem::take(&mut s.unwarned);
                    s.warned_at = Some(now);
                    let message = if others == 0 {
                        format!("proceeding without task protection: {err}")
                    } else {
                        format!(
                            "proceeding without task protection: {err} ({others} more units ran \
                             unprotected since the last warning)"
                        )
                    };
                    s.log(log::Level::Warn, message);
                } else {
                    s.unwarned += 1;
                }
                inner.unlock(s);
                Ok(Guard {
                    owner: self.owner(),
                    protected: false,
                    ticket: ticket(before),
                })
            }
        }
    }

    /// How many guards are alive.
    pub fn in_flight(&self) -> usize {
        self.inner().in_flight()
    }

    /// What this protector has done so far, and where protection stands.
    pub fn stats(&self) -> Stats {
        let inner = self.inner();
        let s = inner.lock();
        let now = now();
        let c = s.counters;
        let state = if inner.broken.is_some() {
            State::Misconfigured
        } else if inner.local {
            State::Local
        } else {
            match (s.call, s.phase) {
                (Some(Action::Enable), _) => State::Enabling,
                (Some(Action::Renew), _) => State::Renewing,
                (Some(Action::Disable), _) => State::Disabling,
                (None, Phase::On) => State::On,
                (None, Phase::Draining { .. }) => State::Draining,
                (None, Phase::Overrun) => State::Overrun,
                (None, Phase::Window { .. }) => State::Window,
                (None, Phase::MaybeOn { .. }) => State::MaybeOn,
                (None, Phase::Off) if s.backing_off(now) => State::BackingOff,
                (None, Phase::Off) => State::Off,
            }
        };
        let current = s
            .since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        Stats {
            enables: c.enables,
            renewals: c.renewals,
            disables: c.disables,
            failures: c.failures,
            windows: c.windows,
            hard_caps: c.hard_caps,
            overruns: c.overruns,
            lapses: c.lapses,
            unprotected: c.unprotected,
            refused: c.refused,
            time_protected: c.time_protected + current,
            in_flight: inner.in_flight(),
            waiting: s.waiting,
            state,
            shutting_down: s.shutdown,
        }
    }

    /// How long until this protector asks the backend again after a failed or refused
    /// enable; `None` when it is not backing off.
    ///
    /// Meanwhile acquires get the remembered answer at once, through the policy. A queue
    /// consumer uses it to pause receiving and to hide a refused message for as long.
    ///
    /// ```
    /// use ecs_protect::{Disabled, Protector};
    ///
    /// let protector = Protector::with_backend(Disabled);
    /// assert_eq!(protector.retry_in(), None);
    /// ```
    pub fn retry_in(&self) -> Option<Duration> {
        let s = self.inner().lock();
        let now = now();
        s.backoff
            .as_ref()
            .map(|b| b.until.saturating_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Asks this protector to shut down: no new protection is requested from now on
    /// (acquires under [`FailurePolicy::Require`] get [`Error::ShuttingDown`], those under
    /// [`FailurePolicy::Proceed`] run unprotected and are counted), and protection is
    /// released as soon as the work in flight is done (the linger is zero). Idempotent.
    ///
    /// [`Shutdown`](crate::Shutdown) calls this on SIGTERM for the protectors linked to it.
    /// An acquire waiting for another process's breathing window (with
    /// [`SharedBackend`](crate::SharedBackend)) gets [`Error::ShuttingDown`] at once: the
    /// protector tells its backend ([`Backend::shutting_down`]).
    pub fn request_shutdown(&self) {
        self.inner().request_shutdown();
    }

    /// Whether shutdown has been requested.
    pub fn is_shutting_down(&self) -> bool {
        self.inner().lock().shutdown
    }

    /// Requests shutdown, waits up to `timeout` for the work in flight to finish, then
    /// releases protection at once (on this thread, whatever is still in flight) and says
    /// what happened.
    ///
    /// The shutdown ends an acquire's wait for another process's breathing window (with
    /// [`SharedBackend`](crate::SharedBackend)) at once, so that no call keeps `drain`
    /// beyond `timeout` but an ECS call already in the air, and the release itself.
    ///
    /// Call it before leaving `main` (see "At process exit" in the [`Protector`] docs).
    ///
    /// ```
    /// use ecs_protect::{Disabled, Drained, Protector};
    /// use std::time::Duration;
    ///
    /// let protector = Protector::with_backend(Disabled);
    /// let guard = protector.acquire()?;
    /// assert_eq!(protector.drain(Duration::ZERO), Drained::TimedOut { in_flight: 1 });
    /// drop(guard);
    /// assert_eq!(protector.drain(Duration::from_secs(1)), Drained::Complete);
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn drain(&self, timeout: Duration) -> Drained {
        let inner = self.inner();
        inner.request_shutdown();
        let deadline = now().checked_add(timeout);
        let mut s = inner.lock();
        s.draining += 1;
        inner.update_watch(&s);
        // The answer is the count the wait ended on: a unit admitted after it reached zero
        // came after the shutdown and is not one this drain waited for.
        let mut in_flight = inner.in_flight();
        while in_flight > 0 {
            let now = now();
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            s = inner.wait(s, deadline);
            in_flight = inner.in_flight();
        }
        s.draining -= 1;
        inner.update_watch(&s);
        if !inner.local {
            while s.call.is_some() {
                s = inner.wait(s, None);
            }
            if s.phase.maybe_protected() {
                inner.close();
                s = inner.disable(s, Release::Drain);
            }
        }
        inner.unlock(s);
        if in_flight == 0 {
            Drained::Complete
        } else {
            log::warn!(
                "drain timed out after {} with {in_flight} units in flight; protection is \
                 released anyway",
                Readable(timeout)
            );
            Drained::TimedOut { in_flight }
        }
    }
}

const WARN_EVERY: Duration = Duration::from_secs(10);

/// Counts one unit out (`ticket`: the generation it was admitted at); wakes the watchers if
/// it was the last and someone watches, or the last of the units a breathing window waits
/// for.
#[inline]
fn release(inner: &Inner, ticket: u32) {
    let before = inner.word.fetch_sub(RELEASE, Ordering::AcqRel);
    if before & (WATCH | MARKED) != 0 {
        release_watched(inner, before, ticket);
    }
}

#[cold]
fn release_watched(inner: &Inner, before: u64, ticket: u32) {
    if before & MARKED != 0 && inner.admitted_before_mark(ticket) {
        let released = inner.old_released.fetch_add(1, Ordering::SeqCst) + 1;
        if released >= inner.old_total.load(Ordering::SeqCst) {
            inner.wake();
            return;
        }
    }
    if count(before) == 1 && before & WATCH != 0 {
        inner.wake();
    }
}

/// A weak reference [`Shutdown`](crate::Shutdown) keeps to the protectors it tells.
pub(crate) struct Link(Weak<Inner>);

impl Link {
    /// Tells the protector; `false` when it is gone.
    pub(crate) fn request_shutdown(&self) -> bool {
        match self.0.upgrade() {
            Some(inner) => {
                inner.request_shutdown();
                true
            }
            None => false,
        }
    }
}

impl Protector {
    pub(crate) fn link(&self) -> Link {
        Link(Arc::downgrade(&self.handle.inner))
    }
}

impl fmt::Debug for Protector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner();
        f.debug_struct("Protector")
            .field("backend", &inner.backend.name())
            .field("in_flight", &inner.in_flight())
            .field("config", &inner.config)
            .finish_non_exhaustive()
    }
}

impl AsRef<Protector> for Protector {
    fn as_ref(&self) -> &Protector {
        self
    }
}

/// One unit of work counted by a [`Protector`]; dropping it ends the unit.
///
/// ```
/// use ecs_protect::{Disabled, Protector};
///
/// let protector = Protector::with_backend(Disabled);
/// {
///     let _guard = protector.acquire()?;
///     // ... the work ...
/// } // released here, on return, on `?` and on panic
/// # Ok::<(), ecs_protect::Error>(())
/// ```
#[must_use = "protection is released as soon as the guard is dropped"]
pub struct Guard {
    owner: Owner,
    protected: bool,
    /// The acquire generation it was admitted at (see `state::MARKED`).
    ticket: u32,
}

impl Guard {
    /// Whether protection was confirmed on when this guard was handed out. `false` when
    /// the failure policy let the work run unprotected, and in local mode (where there is
    /// nothing to protect).
    pub fn is_protected(&self) -> bool {
        self.protected
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        let inner = match &self.owner {
            Owner::Static(inner) => inner,
            Owner::Owned(protector) => protector.inner(),
        };
        release(inner, self.ticket);
    }
}

/// What keeps a guard's protector alive. The default protector is a `static` that is never
/// dropped: its guards borrow it, so that an acquire and a release are two atomic updates
/// of its word and nothing else. A guard of any other protector holds a clone.
enum Owner {
    Static(&'static Inner),
    Owned(Protector),
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("protected", &self.protected)
            .finish_non_exhaustive()
    }
}

/// What [`Protector::drain`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Drained {
    /// Every unit finished before the deadline; protection was released.
    Complete,
    /// The deadline passed with units still running; protection was released anyway.
    TimedOut {
        /// Units still in flight.
        in_flight: usize,
    },
}

impl Drained {
    /// Whether every unit finished in time.
    pub fn is_complete(&self) -> bool {
        *self == Drained::Complete
    }
}

impl fmt::Display for Drained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drained::Complete => f.write_str("drained"),
            Drained::TimedOut { in_flight } => {
                write!(f, "drain timed out with {in_flight} units in flight")
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(all(test, ecs_protect_loom))]
mod models;
