//! Every synchronization primitive the protector's concurrency core uses, and its clock, in
//! one place: std's types in every normal build (re-exports and `#[inline]` one-liners, so
//! they cost nothing), loom's under `--cfg ecs_protect_loom`, where the models in
//! `models.rs` explore every interleaving of the code that ships (as tokio swaps
//! `tokio/src/loom/`).
//!
//! Outside this module the protector names no atomic, lock, condition variable, thread or
//! clock of its own. (The log outbox in `notes.rs` keeps std's mutexes in both builds: it
//! only orders log lines, and nothing under it waits or touches the state the models check.)

#[cfg(not(ecs_protect_loom))]
pub(crate) use std_impl::*;

#[cfg(ecs_protect_loom)]
pub(crate) use loom_impl::*;

pub(crate) use std::sync::atomic::Ordering;

#[cfg(not(ecs_protect_loom))]
mod std_impl {
    use std::time::{Duration, Instant};

    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

    /// The current time.
    #[inline]
    pub(crate) fn now() -> Instant {
        Instant::now()
    }

    /// Locks `mutex`; a poisoned lock still holds consistent state (see `Inner::lock`).
    #[inline]
    pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on `changed` until notified, at most until `until` and never longer than
    /// `longest` (a safety net against a missed notification).
    #[inline]
    pub(crate) fn wait<'a, T>(
        changed: &Condvar,
        guard: MutexGuard<'a, T>,
        until: Option<Instant>,
        longest: Duration,
    ) -> MutexGuard<'a, T> {
        let timeout = until.map_or(longest, |t| {
            t.saturating_duration_since(Instant::now()).min(longest)
        });
        changed
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    /// Starts the background thread `name` running `f`.
    pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map(drop)
    }
}

/// loom's primitives and a model clock. loom has no clock and its `wait_timeout` never
/// times out, so time is modelled here: the clock stands still until a thread waits with a
/// deadline; that wait releases the lock and yields (loom then runs every other runnable
/// thread first, so time passes only when nothing else can act, or after a preemption it
/// explores); if nobody notified meanwhile it moves the clock to the deadline; then it
/// locks again. A wait without a deadline
/// is loom's own, with no safety net: a notification that never comes is a deadlock that
/// loom reports.
#[cfg(ecs_protect_loom)]
mod loom_impl {
    use std::cell::Cell;
    use std::ops::{Deref, DerefMut};
    use std::time::{Duration, Instant};

    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};

    // loom runs a model's threads as coroutines on the test's own OS thread: a
    // thread-local is one clock per model, shared by its threads.
    std::thread_local! {
        static CLOCK: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
    }

    /// The model's current time.
    pub(crate) fn now() -> Instant {
        CLOCK.with(|c| {
            let (base, offset) = c.get().unwrap_or_else(|| (Instant::now(), Duration::ZERO));
            c.set(Some((base, offset)));
            base + offset
        })
    }

    /// Starts the model clock again (each loom iteration calls it first).
    pub(crate) fn reset_clock() {
        CLOCK.with(|c| c.set(Some((Instant::now(), Duration::ZERO))));
    }

    /// Moves the model clock forward to `at` (never back).
    pub(crate) fn advance_to(at: Instant) {
        let current = now();
        if at > current {
            CLOCK.with(|c| {
                let (base, offset) = c.get().expect("the clock was read above");
                c.set(Some((base, offset + (at - current))));
            });
        }
    }

    /// loom's condition variable, counting its notifications so that a timed wait knows
    /// whether it was woken before its deadline (the count is outside the model: it adds no
    /// interleavings).
    #[derive(Debug)]
    pub(crate) struct Condvar {
        inner: loom::sync::Condvar,
        notified: std::sync::atomic::AtomicUsize,
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar {
                inner: loom::sync::Condvar::new(),
                notified: std::sync::atomic::AtomicUsize::new(0),
            }
        }

        pub(crate) fn notify_all(&self) {
            self.notified
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.notify_all();
        }

        fn notified(&self) -> usize {
            self.notified.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// A loom mutex whose guard remembers its mutex, so that a timed wait can let go of it.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
    }

    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a Mutex<T>,
        guard: loom::sync::MutexGuard<'a, T>,
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.guard
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.guard
        }
    }

    pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex,
            guard: mutex.0.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// See the module docs: with a deadline, the wait ends when notified while the others
    /// ran, else at the deadline; without one, a notification must come.
    pub(crate) fn wait<'a, T>(
        changed: &Condvar,
        guard: MutexGuard<'a, T>,
        until: Option<Instant>,
        _longest: Duration,
    ) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        match until {
            None => MutexGuard {
                mutex,
                guard: changed
                    .inner
                    .wait(guard.guard)
                    .unwrap_or_else(|e| e.into_inner()),
            },
            Some(deadline) => {
                let before = changed.notified();
                drop(guard);
                loom::thread::yield_now();
                if changed.notified() == before {
                    advance_to(deadline);
                }
                lock(mutex)
            }
        }
    }

    pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        loom::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map(drop)
    }
}
