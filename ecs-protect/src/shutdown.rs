//! [`Shutdown`]: SIGTERM and SIGINT as a flag that worker loops check and protectors obey.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::protector::Link;
use crate::{Error, Protector};

/// A graceful-shutdown request: set by SIGTERM/SIGINT once [installed](Self::install), or
/// by [`request`](Self::request).
///
/// Cheap to clone; clones share one flag.
///
/// ```no_run
/// use ecs_protect::Shutdown;
/// use std::time::Duration;
///
/// let shutdown = Shutdown::install()?; // the default protector obeys it
/// while !shutdown.requested() {
///     // take one message and handle it with a #[protected] fn
/// #   break;
/// }
/// let drained = ecs_protect::global().drain(Duration::from_secs(25));
/// println!("{drained}");
/// # Ok::<(), ecs_protect::Error>(())
/// ```
///
/// [`Shutdown::install`] registers, through `signal_hook::flag`:
///
/// 1. an exit with status 130 on SIGINT, armed only once the flag is set (registered first,
///    as signal-hook teaches, so that the first SIGINT does not exit but a second one does);
/// 2. SIGINT and SIGTERM setting the flag.
///
/// So SIGTERM (what ECS sends when it stops a task) or a first Ctrl+C asks for a graceful
/// shutdown, and a SIGINT after that exits at once.
///
/// # Ordering promise
///
/// The signal handler stores the flag with `SeqCst`. [`Shutdown::requested`] returns `true`
/// only after every protector linked to this `Shutdown` (and, for the installed one, the
/// default protector) has been told: so once `requested()` has returned `true` on a thread,
/// every acquire that thread (or any thread that synchronizes with it afterwards) makes on
/// any of those protectors is treated as after shutdown (no new
/// enable call; [`FailurePolicy::Require`](crate::FailurePolicy::Require) refuses it). A
/// background thread (on Unix, woken through a self-pipe, never polling) tells them within
/// moments of the signal even if nobody calls `requested()`.
///
/// # When to use
///
/// In worker loops: check [`requested`](Shutdown::requested) before taking the next message,
/// or sleep with [`wait_timeout`](Shutdown::wait_timeout) between polls; after the loop,
/// call [`Protector::drain`](crate::Protector::drain).
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Shared>,
}

struct Shared {
    /// Set by the signal handlers (`SeqCst`) or by `request`.
    flag: Arc<AtomicBool>,
    /// Set once every linked protector has been told.
    propagated: AtomicBool,
    linked: Mutex<Vec<Link>>,
    changed: Condvar,
    /// The process-wide instance `install` made: also tells the default protector.
    installed: bool,
    /// Whether a thread wakes `wait_timeout` when a signal arrives (else it polls).
    watched: AtomicBool,
}

/// How often `wait_timeout` looks at the flag when no watcher thread could be started (or
/// on platforms without one).
const POLL: Duration = Duration::from_millis(50);

static INSTALLED: OnceLock<Shutdown> = OnceLock::new();
static INSTALLING: Mutex<()> = Mutex::new(());

/// Whether the installed shutdown's signal has arrived (read by the default protector's
/// slow path, so it never enables after the signal even before the watcher has run).
pub(crate) fn installed_requested() -> bool {
    INSTALLED
        .get()
        .is_some_and(|s| s.inner.flag.load(Ordering::SeqCst))
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A shutdown flag not tied to any signal: set it with [`request`](Self::request)
    /// (for tests, or applications that handle signals themselves).
    pub fn new() -> Self {
        Shutdown::with(false)
    }

    fn with(installed: bool) -> Self {
        Shutdown {
            inner: Arc::new(Shared {
                flag: Arc::new(AtomicBool::new(false)),
                propagated: AtomicBool::new(false),
                linked: Mutex::new(Vec::new()),
                changed: Condvar::new(),
                installed,
                watched: AtomicBool::new(false),
            }),
        }
    }

    /// Registers the SIGTERM/SIGINT handlers (see the [`Shutdown`] docs) and returns the
    /// process-wide shutdown; later calls return the same one. The default protector
    /// ([`global`](crate::global)) obeys it; [`link`](Self::link) others.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with origin `Shutdown::install` when the handlers cannot be
    /// registered.
    pub fn install() -> Result<Shutdown, Error> {
        // Called from `main`, as it usually is, this also makes returning from `main`
        // release the default protector's lingering protection (see `global`).
        crate::global::arm_exit_release();
        let _installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = INSTALLED.get() {
            return Ok(existing.clone());
        }
        let shutdown = Shutdown::with(true);
        register(&shutdown).map_err(|err| {
            Error::config(
                "Shutdown::install",
                format!("could not register the SIGTERM/SIGINT handlers: {err}"),
            )
        })?;
        let _ = INSTALLED.set(shutdown.clone());
        if shutdown.inner.flag.load(Ordering::SeqCst) {
            shutdown.propagate();
        }
        Ok(shutdown)
    }

    /// Asks for shutdown, as SIGTERM would.
    pub fn request(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        self.propagate();
    }

    /// Whether shutdown has been requested. Cheap: one atomic load once told.
    pub fn requested(&self) -> bool {
        if self.inner.propagated.load(Ordering::Acquire) {
            return true;
        }
        if !self.inner.flag.load(Ordering::SeqCst) {
            return false;
        }
        self.propagate();
        true
    }

    /// Waits until shutdown is requested or `timeout` passes; returns whether it was
    /// requested. A worker loop's sleep between polls of an empty queue.
    ///
    /// ```
    /// use ecs_protect::Shutdown;
    /// use std::time::Duration;
    ///
    /// let shutdown = Shutdown::new();
    /// assert!(!shutdown.wait_timeout(Duration::from_millis(1)));
    /// shutdown.request();
    /// assert!(shutdown.wait_timeout(Duration::from_secs(60)));
    /// ```
    ///
    /// On Unix, after [`install`](Self::install), a signal wakes the wait at once; a
    /// [`Shutdown::new`] is woken by [`request`](Self::request). Elsewhere the flag is
    /// looked at every 50 ms.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut linked = self.lock();
        loop {
            if self.inner.flag.load(Ordering::SeqCst) {
                self.propagate_locked(&mut linked);
                return true;
            }
            let now = Instant::now();
            let mut wait = match deadline {
                Some(d) if now >= d => return false,
                Some(d) => d - now,
                None => Duration::from_secs(3600),
            };
            if self.inner.installed && !self.inner.watched.load(Ordering::SeqCst) {
                wait = wait.min(POLL);
            }
            linked = self
                .inner
                .changed
                .wait_timeout(linked, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Makes `protector` obey this shutdown: when it is requested, the protector stops
    /// taking new protection and releases it as soon as its work is done (see
    /// [`Protector::request_shutdown`]). A protector linked after the request is told at once.
    pub fn link(&self, protector: &Protector) {
        let mut linked = self.lock();
        let link = protector.link();
        if self.inner.propagated.load(Ordering::SeqCst) {
            link.request_shutdown();
        }
        linked.push(link);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Link>> {
        self.inner.linked.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn propagate(&self) {
        let mut linked = self.lock();
        self.propagate_locked(&mut linked);
    }

    fn propagate_locked(&self, linked: &mut Vec<Link>) {
        if self.inner.propagated.load(Ordering::SeqCst) {
            return;
        }
        linked.retain(Link::request_shutdown);
        if self.inner.installed
            && let Some(global) = crate::global::get()
        {
            global.request_shutdown();
        }
        self.inner.propagated.store(true, Ordering::Release);
        self.inner.changed.notify_all();
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("requested", &self.inner.flag.load(Ordering::Relaxed))
            .field("installed", &self.inner.installed)
            .finish()
    }
}

/// Registers the handlers; on failure, unregisters what was registered.
fn register(shutdown: &Shutdown) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;

    let f = &shutdown.inner.flag;
    let mut ids = Vec::new();
    let result = (|| {
        // The exit must go first: on the first SIGINT it finds the flag still false.
        ids.push(flag::register_conditional_shutdown(
            SIGINT,
            130,
            Arc::clone(f),
        )?);
        ids.push(flag::register(SIGINT, Arc::clone(f))?);
        ids.push(flag::register(SIGTERM, Arc::clone(f))?);
        #[cfg(unix)]
        watch(shutdown, &mut ids)?;
        Ok(())
    })();
    if result.is_err() {
        for id in ids {
            signal_hook::low_level::unregister(id);
        }
    }
    result
}

/// A thread blocked on a self-pipe the handlers write to: it tells the linked protectors
/// and wakes `wait_timeout` as soon as a signal arrives.
#[cfg(unix)]
fn watch(shutdown: &Shutdown, ids: &mut Vec<signal_hook::SigId>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::low_level::pipe;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    let (mut read, write) = UnixStream::pair()?;
    ids.push(pipe::register(SIGTERM, write.try_clone()?)?);
    ids.push(pipe::register(SIGINT, write)?);
    let watcher = shutdown.clone();
    std::thread::Builder::new()
        .name("ecs-protect-signals".into())
        .spawn(move || {
            let mut buf = [0u8; 16];
            loop {
                match read.read(&mut buf) {
                    Ok(0) => return,
                    // The flag's handler may run after the pipe's: set it here too.
                    Ok(_) => watcher.request(),
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(err) => {
                        log::warn!("the shutdown signal watcher stopped: {err}");
                        watcher.inner.watched.store(false, Ordering::SeqCst);
                        return;
                    }
                }
            }
        })?;
    shutdown.inner.watched.store(true, Ordering::SeqCst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Disabled, FailurePolicy};

    #[test]
    fn request_tells_linked_protectors_before_requested_returns() {
        let shutdown = Shutdown::new();
        let protector = Protector::with_backend(Disabled);
        shutdown.link(&protector);
        assert!(!shutdown.requested());
        assert!(!protector.is_shutting_down());
        shutdown.request();
        assert!(shutdown.requested());
        assert!(protector.is_shutting_down());
        assert!(matches!(
            protector.acquire_with(FailurePolicy::Require),
            Err(Error::ShuttingDown)
        ));
    }

    #[test]
    fn a_protector_linked_late_is_told_at_once() {
        let shutdown = Shutdown::new();
        shutdown.request();
        let protector = Protector::with_backend(Disabled);
        shutdown.link(&protector);
        assert!(protector.is_shutting_down());
    }

    #[test]
    fn wait_timeout_wakes_on_request_from_another_thread() {
        // A timeout far beyond the bound below: only the request can end the wait in time.
        const TIMEOUT: Duration = Duration::from_secs(600);
        const BOUND: Duration = Duration::from_secs(30);
        let shutdown = Shutdown::new();
        let (started_tx, started) = std::sync::mpsc::channel();
        let (woken_tx, woken) = std::sync::mpsc::channel();
        {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || {
                started_tx.send(()).unwrap();
                let _ = woken_tx.send(shutdown.wait_timeout(TIMEOUT));
            });
        }
        started.recv().unwrap();
        // Give the waiter time to block; if it had not, the request still ends its wait.
        std::thread::sleep(Duration::from_millis(50));
        assert!(!shutdown.requested());
        let requested = Instant::now();
        shutdown.request();
        match woken.recv_timeout(BOUND) {
            Ok(result) => assert!(result, "the wait returned false after the request"),
            Err(_) => panic!("the request did not wake the wait within {BOUND:?}"),
        }
        assert!(requested.elapsed() < BOUND);
    }

    #[test]
    fn wait_timeout_without_a_request_returns_false_after_the_timeout() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.wait_timeout(Duration::ZERO));
        let start = Instant::now();
        assert!(!shutdown.wait_timeout(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn dropped_protectors_are_forgotten() {
        let shutdown = Shutdown::new();
        shutdown.link(&Protector::with_backend(Disabled));
        shutdown.request();
        assert!(shutdown.lock().is_empty());
    }
}
