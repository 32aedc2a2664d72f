//! The child side of `tests/shutdown.rs`: installs `Shutdown` for real signals, with the
//! default protector and a linked one both lingering, and says each step on stdout
//! (`child: ready`, `child: requested`, `child: released`); the parent sends it signals.
//! A broken promise panics, so the parent sees a failed exit.
//!
//! The argument is the mode: `term` (one SIGTERM) or `double-int` (a second SIGINT must end
//! the process at once, in the middle of a wait).

use std::time::{Duration, Instant};

use ecs_protect::mock::RecordingBackend;
use ecs_protect::{Config, Error, FailurePolicy, Protection, Protector, Shutdown};

/// Longer than the parent waits for anything: reaching it means the signal was missed.
const WAIT: Duration = Duration::from_secs(60);

fn last_ok_is_off(backend: &RecordingBackend) -> bool {
    backend.wait_until(Duration::from_secs(20), |calls| {
        calls
            .iter()
            .rev()
            .find(|c| c.ok)
            .is_some_and(|c| c.change == Protection::Off)
    })
}

fn main() {
    let mode = std::env::args().nth(1).expect("a mode: term or double-int");
    let config = || {
        Config::builder()
            .linger(Duration::from_secs(600))
            .build()
            .expect("valid config")
    };
    // The default protector obeys the installed shutdown by itself; another one is linked.
    let global_backend = RecordingBackend::new();
    ecs_protect::set_global(Protector::with_config(config(), global_backend.clone()))
        .expect("no default protector yet");
    let linked_backend = RecordingBackend::new();
    let linked = Protector::with_config(config(), linked_backend.clone());

    let shutdown = Shutdown::install().expect("signal handlers install");
    shutdown.link(&linked);
    // Installing again hands out the same flag: a signal must set both.
    let again = Shutdown::install().expect("a second install succeeds");
    assert!(!shutdown.requested() && !again.requested());
    // Protection lingers on both: shutdown must release it.
    drop(ecs_protect::global().acquire().expect("protection"));
    drop(linked.acquire().expect("protection"));
    assert!(global_backend.protected_at(Instant::now()));
    assert!(linked_backend.protected_at(Instant::now()));
    println!("child: ready");

    assert!(shutdown.wait_timeout(WAIT), "no signal within {WAIT:?}");
    assert!(
        again.requested(),
        "the second install's handle missed the signal"
    );
    println!("child: requested");
    for protector in [ecs_protect::global(), &linked] {
        assert!(protector.is_shutting_down());
        assert!(matches!(
            protector.acquire_with(FailurePolicy::Require),
            Err(Error::ShuttingDown)
        ));
    }
    assert!(
        last_ok_is_off(&global_backend),
        "the default protector kept protection"
    );
    assert!(
        last_ok_is_off(&linked_backend),
        "the linked protector kept protection"
    );
    println!("child: released");
    if mode == "double-int" {
        // A second SIGINT must end the process at once, in the middle of this wait.
        Shutdown::new().wait_timeout(WAIT);
        println!("child: still alive");
        std::process::exit(3);
    }
}
