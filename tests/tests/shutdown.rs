//! `Shutdown::install` with real signals, in a child process: this test binary re-runs
//! itself with `ECS_PROTECT_SHUTDOWN_CHILD` set, and the parent sends it signals with
//! `kill`, under a hard timeout.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::mock::RecordingBackend;
use ecs_protect::{Config, Env, Error, FailurePolicy, Protection, Protector, Shutdown};

const CHILD: &str = "ECS_PROTECT_SHUTDOWN_CHILD";
const HARD_TIMEOUT: Duration = Duration::from_secs(20);

fn last_ok_is_off(backend: &RecordingBackend) -> bool {
    backend.wait_until(Duration::from_secs(5), |calls| {
        calls
            .iter()
            .rev()
            .find(|c| c.ok)
            .is_some_and(|c| c.change == Protection::Off)
    })
}

/// What the child does; a no-op in a normal test run.
#[test]
fn child_process_entry_point() {
    let Some(mode) = Env::process().get(CHILD) else {
        return;
    };
    let config = || {
        Config::builder()
            .linger(Duration::from_secs(600))
            .build()
            .unwrap()
    };
    // The default protector obeys the installed shutdown by itself; another one is linked.
    let global_backend = RecordingBackend::new();
    ecs_protect::set_global(Protector::with_config(config(), global_backend.clone())).unwrap();
    let linked_backend = RecordingBackend::new();
    let linked = Protector::with_config(config(), linked_backend.clone());

    let shutdown = Shutdown::install().unwrap();
    shutdown.link(&linked);
    assert!(Shutdown::install().unwrap().wait_timeout(Duration::ZERO) == shutdown.requested());
    // Protection lingers on both: shutdown must release it.
    drop(ecs_protect::global().acquire().unwrap());
    drop(linked.acquire().unwrap());
    println!("child: ready");

    if !shutdown.wait_timeout(Duration::from_secs(15)) {
        println!("child: no signal");
        return;
    }
    println!("child: requested");
    for protector in [ecs_protect::global(), &linked] {
        assert!(protector.is_shutting_down());
        assert!(matches!(
            protector.acquire_with(FailurePolicy::Require),
            Err(Error::ShuttingDown)
        ));
    }
    assert!(last_ok_is_off(&global_backend) && last_ok_is_off(&linked_backend));
    println!("child: released");
    if mode == "double-int" {
        // A second SIGINT must end the process at once, in the middle of this wait.
        Shutdown::new().wait_timeout(Duration::from_secs(15));
        println!("child: still alive");
    }
}

fn spawn(mode: &str) -> (Child, Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_entry_point", "--nocapture"])
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(event) = line.strip_prefix("child: ") {
                let _ = tx.send(event.to_owned());
            }
        }
    });
    (child, rx)
}

fn expect(rx: &Receiver<String>, event: &str) {
    match rx.recv_timeout(HARD_TIMEOUT) {
        Ok(got) => assert_eq!(got, event),
        Err(err) => panic!("no {event:?} from the child: {err}"),
    }
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} failed");
}

fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + HARD_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit in time");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_requests_shutdown_and_protectors_release() {
    let (mut child, rx) = spawn("term");
    expect(&rx, "ready");
    kill(&child, "TERM");
    expect(&rx, "requested");
    expect(&rx, "released");
    assert!(wait(&mut child).success());
}

#[test]
fn first_sigint_is_graceful_second_exits_at_once() {
    let (mut child, rx) = spawn("double-int");
    expect(&rx, "ready");
    kill(&child, "INT");
    expect(&rx, "requested");
    expect(&rx, "released");
    kill(&child, "INT");
    let status = wait(&mut child);
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(
        rx.try_recv().is_err(),
        "the child kept running after the second SIGINT"
    );
}
