//! The process-wide default protector that `#[protected]` uses.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

use crate::{Config, Env, FailurePolicy, Protector};

static GLOBAL: OnceLock<Protector> = OnceLock::new();

/// The process-wide default protector, built from the environment on first use
/// ([`Protector::from_env`]).
///
/// If that configuration is invalid there is no silent fallback: the error is logged once
/// at error level, and every acquire on the default protector fails with it through the
/// failure policy (`ECS_PROTECT_POLICY` if that variable itself is valid, else `proceed`):
/// `#[protected(required)]` handlers return it, others run unprotected with a warning.
///
/// It obeys the shutdown [`Shutdown::install`](crate::Shutdown::install) registers.
///
/// When the main thread has called `global()` or
/// [`Shutdown::install`](crate::Shutdown::install), returning from `main` releases
/// protection at once, however long the linger (best effort: on Linux with glibc the main
/// thread's thread-local destructors run inside `exit`; elsewhere they may not). A program
/// whose main thread never touches either, with handlers only on other threads, leaves a
/// lingering protection on until ECS's expiry or the task's end. Calling
/// [`Protector::drain`] before leaving `main` is the portable way.
///
/// ```
/// let guard = ecs_protect::global().acquire()?;
/// # drop(guard);
/// # Ok::<(), ecs_protect::Error>(())
/// ```
pub fn global() -> &'static Protector {
    arm_exit_release();
    GLOBAL.get_or_init(|| {
        let env = Env::process();
        let protector = Protector::from_env_with(&env).unwrap_or_else(|err| {
            let policy = env
                .get("ECS_PROTECT_POLICY")
                .and_then(|raw| raw.parse::<FailurePolicy>().ok())
                .unwrap_or_default();
            log::error!(
                "ecs-protect: the default protector cannot be configured: {err}; every acquire \
                 fails with this error (policy {policy}) until the environment is fixed"
            );
            let config = Config::builder().policy(policy).build().unwrap_or_default();
            Protector::misconfigured(config, err)
        });
        protector.follow_installed_shutdown();
        protector
    })
}

/// The default protector, if it has been built.
pub(crate) fn get() -> Option<&'static Protector> {
    GLOBAL.get()
}

/// Installs `protector` as the default, if none has been built yet. It then obeys the
/// shutdown [`Shutdown::install`](crate::Shutdown::install) registers.
///
/// ```
/// use ecs_protect::{Config, Disabled, Protector};
///
/// let protector = Protector::with_config(Config::default(), Disabled);
/// ecs_protect::set_global(protector).expect("set before first use");
/// # Ok::<(), ecs_protect::Error>(())
/// ```
///
/// # Errors
///
/// Gives `protector` back when the default already exists.
pub fn set_global(protector: Protector) -> Result<(), Protector> {
    GLOBAL.set(protector)?;
    if let Some(installed) = get() {
        installed.follow_installed_shutdown();
    }
    Ok(())
}

/// Releases the default protector's protection when the main thread's thread-locals are
/// destroyed, which glibc does inside `exit()` after `main` returns.
struct ExitRelease {
    armed: Cell<bool>,
}

impl Drop for ExitRelease {
    fn drop(&mut self) {
        if let (true, Some(protector)) = (self.armed.get(), get()) {
            // Whatever is still in flight on other threads is about to be killed with the
            // process: release now rather than wait for it.
            let _ = protector.drain(Duration::ZERO);
        }
    }
}

thread_local! {
    /// Whether this thread has been checked for being the main thread.
    static CHECKED: Cell<bool> = const { Cell::new(false) };
    static EXIT_RELEASE: ExitRelease = const { ExitRelease { armed: Cell::new(false) } };
}

/// Arms [`ExitRelease`] on the main thread; a thread-local read on every later call.
pub(crate) fn arm_exit_release() {
    let _ = CHECKED.try_with(|checked| {
        if !checked.replace(true) && std::thread::current().name() == Some("main") {
            let _ = EXIT_RELEASE.try_with(|release| release.armed.set(true));
        }
    });
}
