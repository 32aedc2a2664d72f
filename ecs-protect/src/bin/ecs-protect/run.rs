//! `ecs-protect run`: protection first, then the program; signals forwarded; protection
//! released when the program ends; the program's status passed on.

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecs_protect::{Env, FailurePolicy, Protector};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::signal::{
    SIGALRM, SIGCONT, SIGHUP, SIGINT, SIGIO, SIGPROF, SIGQUIT, SIGTERM, SIGURG, SIGUSR1, SIGUSR2,
    SIGVTALRM, SIGWINCH, SIGXCPU, SIGXFSZ,
};
use signal_hook::iterator::Signals;

use crate::args::Run;
use crate::status;

/// Every signal passed on to the program, as tini and dumb-init pass them: whatever a
/// supervisor, `docker stop` or ECS (an image's `STOPSIGNAL`) may send. This command
/// handles them all, so none of them ends it while the program runs. Left out: SIGKILL
/// and SIGSTOP (they cannot be caught), the signals the kernel raises for a fault of this
/// process (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT), SIGCHLD (about the
/// program itself), SIGPIPE (about this process's own writes), and the terminal's job
/// control (SIGTSTP, SIGTTIN, SIGTTOU), which keeps its default.
const FORWARDED: [i32; 15] = [
    SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU,
    SIGXFSZ, SIGIO, SIGWINCH, SIGURG, SIGCONT,
];

/// The signals that mean "stop": no new protection is taken from then on (ECS sends
/// SIGTERM, or the image's `STOPSIGNAL`, commonly SIGQUIT or SIGINT).
const STOPPING: [i32; 3] = [SIGTERM, SIGINT, SIGQUIT];

/// Whether `signal`'s default action ends a process: such a signal that comes before the
/// program starts means it is not started.
fn terminates(signal: i32) -> bool {
    ![SIGWINCH, SIGURG, SIGCONT].contains(&signal)
}

/// What the signal thread and the main thread share.
#[derive(Debug, Default)]
struct Forward {
    /// The running program, until its exit has been seen (it is reaped only after this is
    /// cleared, so its pid cannot have been reused while it is here).
    child: Option<Pid>,
    /// The program was started (and may have exited since): later signals are not early.
    started: bool,
    /// A terminating signal that came before the program started: it is not started.
    early: Option<i32>,
}

/// Runs the command; returns the status to exit with.
pub(crate) fn run(run: &Run) -> u8 {
    let program = run.program.to_string_lossy().into_owned();
    let protector = match Protector::from_env_with(&Env::process()) {
        Ok(protector) => protector,
        Err(err) => {
            log::error!("not starting {program}: {err}");
            return status::CONFIG;
        }
    };
    let forward = Arc::new(Mutex::new(Forward::default()));
    let mut signals = match Signals::new(FORWARDED) {
        Ok(signals) => signals,
        Err(err) => {
            log::error!("not starting {program}: cannot handle the signals it passes on: {err}");
            return status::CANNOT_RUN;
        }
    };
    let signal_handle = signals.handle();
    let forwarder = {
        let forward = Arc::clone(&forward);
        let protector = protector.clone();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                if pass_on(&forward, signal) || STOPPING.contains(&signal) {
                    // The task is stopping (or the program will not start): no new
                    // protection, and a wait for it (a shared directory's breathing
                    // window) ends now; released as soon as the program is done.
                    protector.request_shutdown();
                }
            }
        })
    };

    let policy = if run.required {
        FailurePolicy::Require
    } else {
        protector.config().policy()
    };
    let code = match protector.acquire_with(policy) {
        Err(err) => {
            log::error!("not starting {program}: task protection could not be had: {err}");
            status::NOT_PROTECTED
        }
        Ok(guard) => {
            let code = start_and_wait(run, &program, &forward);
            drop(guard);
            code
        }
    };
    // Signals stay handled until protection is released: one that came now would
    // otherwise end this command before its release.
    let drained = protector.drain(Duration::from_secs(30));
    log::debug!("{drained}");
    signal_handle.close();
    let _ = forwarder.join();
    code
}

/// Sends `signal` to the program, or remembers a terminating one if the program has not
/// started; `true` when it was remembered (the program will not start).
fn pass_on(forward: &Mutex<Forward>, signal: i32) -> bool {
    let mut forward = forward.lock().unwrap_or_else(|e| e.into_inner());
    match (forward.child, forward.started) {
        (Some(pid), _) => {
            let Some(sent) = Signal::from_named_raw(signal) else {
                log::warn!("could not pass signal {signal} on to the program: unknown signal");
                return false;
            };
            if let Err(err) = rustix::process::kill_process(pid, sent) {
                log::warn!("could not pass signal {signal} on to the program: {err}");
            }
            false
        }
        // The program has exited: nothing to pass it on to.
        (None, true) => false,
        (None, false) if terminates(signal) => {
            forward.early = forward.early.or(Some(signal));
            true
        }
        (None, false) => false,
    }
}

fn start_and_wait(run: &Run, program: &str, forward: &Mutex<Forward>) -> u8 {
    let mut child = {
        let mut forward = forward.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(signal) = forward.early {
            log::warn!(
                "not starting {program}: signal {signal} came while protection was being taken"
            );
            return exit_code_for_signal(signal);
        }
        let spawned = std::process::Command::new(&run.program)
            .args(&run.args)
            .spawn();
        match spawned {
            Ok(child) => {
                forward.child = Some(Pid::from_child(&child));
                forward.started = true;
                child
            }
            Err(err) => {
                forward.started = true;
                log::error!("cannot start {program}: {err}");
                return if err.kind() == std::io::ErrorKind::NotFound {
                    status::NOT_FOUND
                } else {
                    status::CANNOT_RUN
                };
            }
        }
    };
    wait_for_exit(&child);
    forward.lock().unwrap_or_else(|e| e.into_inner()).child = None;
    match child.wait() {
        Ok(exit) => exit_code(exit),
        Err(err) => {
            log::error!("cannot read {program}'s exit status: {err}");
            status::CANNOT_RUN
        }
    }
}

/// Blocks until the program has exited, leaving it unreaped.
fn wait_for_exit(child: &Child) {
    let pid = Pid::from_child(child);
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            // Exited, or not waitable (then `Child::wait` reports it).
            Ok(_) | Err(_) => return,
        }
    }
}

/// The program's status as a shell reports it: its code, or 128 + the signal that killed it.
fn exit_code(exit: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (exit.code(), exit.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => exit_code_for_signal(signal),
        (None, None) => 1,
    }
}

fn exit_code_for_signal(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(255)
}
