//! [`SharedBackend`]: one task protection shared by several processes through a directory
//! they all see (`ECS_PROTECT_SHARED_DIR`).

mod dir;
mod files;
#[cfg(test)]
mod model;
pub(crate) mod record;
mod settings;
mod watcher;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dir::Dir;
pub(crate) use dir::VAR;
use files::{Files, Locked, Sole};
use record::Record;

use crate::{Backend, Config, Env, Error, Protection, ProtectionState};

/// Coordinates the processes of one task that turn its one protection on and off: keeps
/// protection on while any of them needs it, and lets only the last one out disable it.
///
/// ECS protection belongs to the task, but a [`Protector`](crate::Protector) counts work in
/// its own process. When a task runs several processes (two worker containers, or one
/// container whose entry point starts several workers), set `ECS_PROTECT_SHARED_DIR` to a
/// directory all of them see (a task volume mounted into each container) and the default
/// protector wraps its backend in a `SharedBackend`. Without it, protection is per process:
/// the first process to go idle would disable protection under another one's work.
///
/// ```
/// use ecs_protect::{Config, Error, Protection, ProtectionState, Protector, SharedBackend};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// /// Counts the calls that reach "ECS".
/// #[derive(Clone, Debug, Default)]
/// struct Ecs(Arc<AtomicUsize>);
/// impl ecs_protect::Backend for Ecs {
///     fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
///         self.0.fetch_add(1, Ordering::SeqCst);
///         Ok(ProtectionState { enabled: matches!(change, Protection::On { .. }), expires_at: None })
///     }
/// }
///
/// let dir = std::env::temp_dir().join(format!("ecs-protect-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let ecs = Ecs::default();
/// let config = Config::default();
/// // Two protectors on one directory behave as two processes of the task.
/// let a = Protector::with_config(config.clone(), SharedBackend::new(&dir, &config, ecs.clone())?);
/// let b = Protector::with_config(config.clone(), SharedBackend::new(&dir, &config, ecs.clone())?);
/// let (work_a, work_b) = (a.acquire()?, b.acquire()?);
/// assert_eq!(ecs.0.load(Ordering::SeqCst), 1); // b found protection on: no second call
/// drop(work_a);
/// a.drain(Duration::ZERO); // a is done, but b still works: no call
/// assert_eq!(ecs.0.load(Ordering::SeqCst), 1);
/// drop(work_b);
/// b.drain(Duration::ZERO); // the last one out disables
/// assert_eq!(ecs.0.load(Ordering::SeqCst), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # How it works
///
/// Two files in the directory, and `flock` advisory locks, which the kernel drops when a
/// process dies, whatever killed it:
///
/// - `ecs-protect.need`: each process holds a *shared* lock on it from the moment it
///   enables (or joins) protection until its protector releases it. A process may disable
///   only if it gets the *exclusive* lock without waiting, that is when no other process
///   needs protection, and it holds that lock during the disable call: a process that
///   starts work meanwhile waits for the disable to finish, then enables again.
/// - `ecs-protect.state`: one line recording what ECS last confirmed (on until an expiry,
///   since when; off, with the end of a breathing window; or "maybe on"), read and written
///   under its own lock. A process that finds protection on and not yet half-way through
///   the life ECS granted joins it without a call; the enable (or renewal) itself is made
///   under that lock, so processes that start together cause one call (single flight
///   across processes) and renewals do not multiply with the number of processes.
/// - "Maybe on" is written before an enable from off (so that a process killed during the
///   call leaves a trace), kept when the call's answer was lost, and written after a failed
///   disable; an idle process disables it from `retry_after` on. It is also written during
///   a disable, so that a process killed after ECS removed protection, but before the
///   record says "off", leaves a record that no process joins without a call (an idle
///   process disables it again at once). A refusal from ECS puts
///   the record back as it was.
/// - The record is never torn by a crash: the state file is created holding "off" (written
///   under another name and linked into place), and each update writes the new line over
///   the old one, then cuts the file to its length. A process killed in between leaves the
///   new line followed by the old one's tail; that, an empty file, or anything else that
///   does not read as a record counts as "maybe on", which an idle process disables.
/// - `ecs-protect.settings`: the settings the processes must agree on (`max_hold`,
///   `hold_grace`, `window`, `hard_cap`), written by a process that finds no other there,
///   and checked by every process that joins: [`SharedBackend::new`] fails with
///   [`Error::Config`] naming the variables that differ (`ECS_PROTECT_MAX_HOLD`, ...), with
///   both values. Every process holds a shared lock on that file while its backend lives,
///   so settings recorded by processes that have all gone bind nobody.
///
/// Breathing windows agree: every process's protector counts `max_hold` from the start of
/// the shared stretch ([`Backend::protected_since`]); the last process to drain disables
/// and records the window's end, and no process enables before it, nor joins a stretch
/// that is past `max_hold` (until `max_hold + hold_grace`, when the protector would let
/// work in again anyway). Meanwhile its acquires wait, as they wait for a window in one
/// process; any shutdown of the protector that owns the backend (its `request_shutdown`,
/// `drain`, or SIGTERM through [`Shutdown`](crate::Shutdown)) ends the wait at once, with
/// [`Error::ShuttingDown`].
///
/// A process killed mid-work leaves protection on with nobody holding the lock: a small
/// thread in every process checks every `linger / 2` (between 50 ms and 1 s) and, when its
/// process is idle and the exclusive lock is free, disables it.
///
/// The protocol is model-checked: two or three processes running this code against an
/// in-memory directory and ECS, through every interleaving of their steps, a crash before
/// any step, and every way ECS may answer (see `shared/model.rs`).
///
/// The directory must be on a filesystem whose `flock` locks work across processes: a
/// local disk or a bind-mount task volume, not NFS or EFS. [`SharedBackend::new`] checks
/// this and fails otherwise; protection is never silently left uncoordinated.
#[derive(Debug)]
pub struct SharedBackend {
    core: Arc<Core>,
}

#[derive(Debug)]
struct Core {
    /// The shared directory (an in-memory one in the model checker).
    dir: Box<dyn Files>,
    inner: Box<dyn Backend>,
    timing: Timing,
    local: Mutex<Local>,
    /// The shared stretch's start in milliseconds since the epoch, 0 when not joined.
    since_ms: AtomicU64,
    /// What ends this process's waits: the backend dropped, the protector shutting down.
    ends: Mutex<Ends>,
    /// Notified when `ends` changes.
    ended: Condvar,
}

/// What ends the waits of [`Core`]: its idle-survivor thread's and its enables'.
#[derive(Debug, Default)]
struct Ends {
    /// The backend was dropped: the idle-survivor thread ends.
    stopped: bool,
    /// The protector that owns this backend is shutting down: an enable waiting for a
    /// breathing window gives up with [`Error::ShuttingDown`].
    shutdown: bool,
}

/// This process's side, behind a mutex held through each call.
#[derive(Debug, Default)]
struct Local {
    /// This process holds the shared lock: it needs protection.
    holding: bool,
    /// The expiry last handed to the protector; past it without a renewal, the protector
    /// has let protection lapse and no longer needs it.
    expires: Option<SystemTime>,
}

/// The protector settings the coordination follows.
#[derive(Clone, Copy, Debug)]
struct Timing {
    max_hold: Duration,
    hold_grace: Duration,
    window: Duration,
    retry_after: Duration,
    /// How often the idle-survivor check runs.
    poll: Duration,
}

impl Timing {
    fn new(config: &Config) -> Self {
        Timing {
            max_hold: config.max_hold(),
            hold_grace: config.hold_grace(),
            window: config.window(),
            retry_after: config.retry_after(),
            poll: (config.linger() / 2).clamp(Duration::from_millis(50), Duration::from_secs(1)),
        }
    }

    /// Until when a process that does not need protection yet must wait before enabling:
    /// a breathing window is open, or the current stretch is past `max_hold` and its
    /// processes are draining towards one.
    fn wait_before_enabling(&self, record: Record, now: SystemTime) -> Option<SystemTime> {
        match record {
            Record::Off {
                window_until: Some(until),
            } if now < until => Some(until),
            Record::On { since, .. } => {
                let due = since + self.max_hold;
                let grace_over = due + self.hold_grace;
                (now >= due && now < grace_over).then_some(grace_over)
            }
            _ => None,
        }
    }
}

/// How long a waiting enable sleeps between looks at the record.
const WAIT_STEP: Duration = Duration::from_millis(25);

fn off() -> ProtectionState {
    ProtectionState {
        enabled: false,
        expires_at: None,
    }
}

impl SharedBackend {
    /// Coordinates `backend` with the other processes using `dir`, following `config`'s
    /// `max_hold`, `hold_grace`, `window`, `retry_after` and `linger` (give it the config
    /// of the protector it goes into).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `dir` does not exist, is not a writable directory, or is on a
    /// filesystem whose file locks do not work across processes; or naming the settings
    /// (`ECS_PROTECT_MAX_HOLD`, `ECS_PROTECT_HOLD_GRACE`, `ECS_PROTECT_WINDOW`,
    /// `ECS_PROTECT_HARD_CAP`) whose values differ from those of the processes already
    /// coordinating through `dir`.
    pub fn new(
        dir: impl AsRef<Path>,
        config: &Config,
        backend: impl Backend,
    ) -> Result<SharedBackend, Error> {
        SharedBackend::open(
            dir.as_ref(),
            "SharedBackend::new",
            config,
            Box::new(backend),
        )
    }

    fn open(
        path: &Path,
        origin: &str,
        config: &Config,
        inner: Box<dyn Backend>,
    ) -> Result<SharedBackend, Error> {
        let dir = Dir::open(path, origin, &settings::Settings::of(config))?;
        let core = Arc::new(Core::new(Box::new(dir), inner, config));
        if !core.inner.is_local() {
            watcher::start(Arc::clone(&core));
        }
        log::debug!(
            "task protection is coordinated with the task's other processes through {}",
            core.dir.path().display()
        );
        Ok(SharedBackend { core })
    }

    /// The directory this backend coordinates through.
    pub fn dir(&self) -> &Path {
        self.core.dir.path()
    }
}

impl Drop for SharedBackend {
    fn drop(&mut self) {
        lock(&self.core.ends).stopped = true;
        self.core.ended.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Backend for SharedBackend {
    /// Enables (or joins, or renews) protection for this process, or declares that this
    /// process no longer needs it and disables it if no other process does.
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        self.core.set_protection(change)
    }

    fn name(&self) -> &str {
        self.core.inner.name()
    }

    fn is_local(&self) -> bool {
        self.core.inner.is_local()
    }

    fn protected_since(&self) -> Option<SystemTime> {
        match self.core.since_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => UNIX_EPOCH.checked_add(Duration::from_millis(ms)),
        }
    }

    /// Ends an enable's wait for a breathing window at once (it returns
    /// [`Error::ShuttingDown`]), and every later one.
    fn shutting_down(&self) {
        lock(&self.core.ends).shutdown = true;
        self.core.ended.notify_all();
    }
}

/// What an enable found and did under the state lock.
enum Enabled {
    /// Wait until then before trying again (a breathing window).
    Wait(SystemTime),
    /// Protection is on for the stretch `since`, until `expires`.
    On {
        since: SystemTime,
        expires: SystemTime,
        state: ProtectionState,
    },
    /// ECS did not confirm protection: the call's answer.
    NotOn(Result<ProtectionState, Error>),
}

impl Core {
    fn new(dir: Box<dyn Files>, inner: Box<dyn Backend>, config: &Config) -> Core {
        Core {
            dir,
            inner,
            timing: Timing::new(config),
            local: Mutex::new(Local::default()),
            since_ms: AtomicU64::new(0),
            ends: Mutex::new(Ends::default()),
            ended: Condvar::new(),
        }
    }

    /// What [`SharedBackend::set_protection`] does (the model checker calls it too).
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let mut local = lock(&self.local);
        match change {
            Protection::On { expires_in_minutes } => self.enable(&mut local, expires_in_minutes),
            Protection::Off => self.release(&mut local),
        }
    }

    /// Runs `work` with the state file locked.
    fn locked<T>(&self, work: impl FnOnce(&Locked<'_>) -> Result<T, Error>) -> Result<T, Error> {
        files::locked(&*self.dir, work)
    }

    /// The record as it stands.
    #[cfg(test)]
    fn read_record(&self) -> Result<Record, Error> {
        self.locked(|state| state.read())
    }

    /// Calls the wrapped backend. A panic in it becomes an error here, while this process
    /// holds the directory's locks, so that they are always let go.
    fn call(&self, change: Protection) -> Result<ProtectionState, Error> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.inner.set_protection(change)
        }))
        .unwrap_or_else(|_| {
            Err(Error::Transport {
                endpoint: self.inner.name().to_owned(),
                timed_out: false,
                source: "the backend panicked".into(),
            })
        })
    }

    fn enable(&self, local: &mut Local, minutes: u32) -> Result<ProtectionState, Error> {
        let requested = Duration::from_secs(u64::from(minutes) * 60);
        let mut said = false;
        loop {
            let renewing = local.holding;
            if !renewing {
                self.dir.hold_need()?;
            }
            let step = self.locked(|state| self.enable_locked(state, renewing, minutes, requested));
            let step = match step {
                Ok(step) => step,
                Err(err) => {
                    if !renewing {
                        self.dir.release_need();
                    }
                    return Err(err);
                }
            };
            match step {
                Enabled::Wait(until) => {
                    self.dir.release_need();
                    if lock(&self.ends).shutdown {
                        return Err(Error::ShuttingDown);
                    }
                    // The stretch may be held by nobody (its processes died): end it.
                    self.disable_if_sole(true)?;
                    let left = until
                        .duration_since(self.dir.now())
                        .unwrap_or(Duration::ZERO);
                    if !std::mem::replace(&mut said, true) {
                        log::info!(
                            "waiting up to {} for the breathing window of the task's other \
                             processes (coordinated through {}) before taking protection",
                            crate::config::Readable(left),
                            self.dir.path().display()
                        );
                    }
                    // Other processes change the record (looked at again every step); this
                    // process's shutdown wakes the wait at once.
                    let ends = lock(&self.ends);
                    let (ends, _) = self
                        .ended
                        .wait_timeout_while(ends, left.min(WAIT_STEP), |e| !e.shutdown)
                        .unwrap_or_else(|e| e.into_inner());
                    if ends.shutdown {
                        return Err(Error::ShuttingDown);
                    }
                }
                Enabled::On {
                    since,
                    expires,
                    state,
                } => {
                    local.holding = true;
                    local.expires = Some(expires);
                    let ms = since
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis());
                    self.since_ms.store(
                        u64::try_from(ms).unwrap_or(u64::MAX).max(1),
                        Ordering::SeqCst,
                    );
                    return Ok(state);
                }
                Enabled::NotOn(result) => {
                    // Not confirmed: this process does not hold protection up.
                    if !renewing {
                        self.dir.release_need();
                    }
                    return result;
                }
            }
        }
    }

    /// Under the state lock: waits for a window, joins protection that is on, or asks ECS
    /// (so that processes starting together make one call).
    fn enable_locked(
        &self,
        state: &Locked<'_>,
        renewing: bool,
        minutes: u32,
        requested: Duration,
    ) -> Result<Enabled, Error> {
        let record = state.read()?;
        let now = self.dir.now();
        if !renewing && let Some(until) = self.timing.wait_before_enabling(record, now) {
            return Ok(Enabled::Wait(until));
        }
        // Protection that is not yet due for renewal (half its life) is joined as it is.
        if let Record::On {
            since,
            renewed,
            expires,
        } = record
            && now < renewed + expires.duration_since(renewed).unwrap_or_default() / 2
        {
            let state = ProtectionState {
                enabled: true,
                expires_at: Some(expires),
            };
            return Ok(Enabled::On {
                since,
                expires,
                state,
            });
        }
        let started = self.dir.now();
        if !matches!(record, Record::On { .. }) {
            // Should this process die during the call, protection may come on with nobody
            // holding it: the record says so, and an idle process disables it later.
            state.write(Record::MaybeOn {
                expires: Some(started + requested),
                retry_at: started + self.timing.retry_after,
            })?;
        }
        let result = self.call(Protection::On {
            expires_in_minutes: minutes,
        });
        match result {
            Ok(confirmed) if confirmed.enabled => {
                // The sooner of what ECS said and what was asked, as the protector counts.
                let by_request = started + requested;
                let expires = confirmed
                    .expires_at
                    .map_or(by_request, |e| e.min(by_request));
                let since = match record {
                    Record::On { since, expires, .. } if expires > started => since,
                    _ => started,
                };
                state.write(Record::On {
                    since,
                    renewed: started,
                    expires,
                })?;
                Ok(Enabled::On {
                    since,
                    expires,
                    state: confirmed,
                })
            }
            result => {
                // An answer from ECS (a refusal, an error code) changed nothing; a call
                // whose answer was lost may have: the record stays "maybe on".
                let unknown = matches!(result, Err(Error::Transport { .. } | Error::Decode { .. }));
                if !unknown {
                    state.write(record)?;
                }
                Ok(Enabled::NotOn(result))
            }
        }
    }

    /// This process no longer needs protection: lets go of the shared lock, and disables
    /// protection if no other process needs it.
    fn release(&self, local: &mut Local) -> Result<ProtectionState, Error> {
        if local.holding {
            self.dir.release_need();
            local.holding = false;
            local.expires = None;
        }
        self.since_ms.store(0, Ordering::SeqCst);
        self.disable_if_sole(true)?.unwrap_or_else(|| {
            log::info!(
                "this process no longer needs task protection; it stays on for the task's other \
                 processes (coordinated through {})",
                self.dir.path().display()
            );
            Ok(off())
        })
    }

    /// Disables protection if no process needs it and the record says it may be on.
    /// `None`: another process needs it (or is disabling it). `eager`: retry a failed
    /// disable now rather than at its recorded retry time.
    fn disable_if_sole(
        &self,
        eager: bool,
    ) -> Result<Option<Result<ProtectionState, Error>>, Error> {
        if self.dir.try_sole()? == Sole::Taken {
            return Ok(None);
        }
        let outcome = self.locked(|state| self.disable_locked(state, eager));
        self.dir.release_sole();
        outcome.map(Some)
    }

    /// Under the exclusive lock and the state lock: disables unless the record says off.
    fn disable_locked(
        &self,
        state: &Locked<'_>,
        eager: bool,
    ) -> Result<Result<ProtectionState, Error>, Error> {
        let record = state.read()?;
        let now = self.dir.now();
        let (window_due, expires) = match record {
            Record::Off { .. } => return Ok(Ok(off())),
            Record::MaybeOn { expires, .. } if expires.is_some_and(|e| e <= now) => {
                // ECS has cleared it by itself.
                state.write(Record::Off { window_until: None })?;
                return Ok(Ok(off()));
            }
            Record::MaybeOn { retry_at, .. } if !eager && now < retry_at => return Ok(Ok(off())),
            Record::MaybeOn { expires, .. } => (false, expires),
            Record::On { since, expires, .. } => {
                (now >= since + self.timing.max_hold, Some(expires))
            }
        };
        // Should this process die after ECS removed protection but before the record says
        // so, a process that starts work must not join an "on" that is off: the record says
        // "maybe on" during the call (an idle process disables it again at once).
        state.write(Record::MaybeOn {
            expires,
            retry_at: now,
        })?;
        match self.call(Protection::Off) {
            Ok(confirmed) => {
                if !eager {
                    log::info!(
                        "task protection removed: no process of the task needs it any more \
                         (one that held it has ended)"
                    );
                }
                let ended = self.dir.now();
                let window_until = window_due.then(|| ended + self.timing.window);
                state.write(Record::Off { window_until })?;
                Ok(Ok(confirmed))
            }
            Err(err) => {
                state.write(Record::MaybeOn {
                    expires,
                    retry_at: self.dir.now() + self.timing.retry_after,
                })?;
                Ok(Err(err))
            }
        }
    }
}

/// Wraps `backend` for `ECS_PROTECT_SHARED_DIR` when that variable is set (after checking
/// the directory); returns it as it is otherwise.
///
/// # Errors
///
/// [`Error::Config`] naming `ECS_PROTECT_SHARED_DIR` for a bad directory, or the first
/// invalid `ECS_PROTECT_*` setting.
pub(crate) fn from_env(
    env: &Env,
    config: &Config,
    backend: Box<dyn Backend>,
) -> Result<Box<dyn Backend>, Error> {
    let Some(path) = env.get(VAR) else {
        return Ok(backend);
    };
    let path = Path::new(&path);
    if !path.is_absolute() {
        // Each process would resolve it from its own working directory.
        return Err(Error::config(
            VAR,
            format!(
                "must be an absolute path (the same directory for every process of the task), \
                 got {:?}",
                path.display().to_string()
            ),
        ));
    }
    let shared = SharedBackend::open(path, VAR, config, backend)?;
    Ok(Box::new(shared))
}

#[cfg(test)]
mod tests;
