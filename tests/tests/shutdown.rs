//! `Shutdown::install` with real signals, in a child process (`src/bin/shutdown_child.rs`):
//! the parent sends it signals with `kill` and follows what it says, under a deadline.

use std::process::Command;

use ecs_protect_tests::EventChild;

fn spawn(mode: &str) -> EventChild {
    EventChild::spawn(
        Command::new(env!("CARGO_BIN_EXE_shutdown_child")).arg(mode),
        "child: ",
    )
}

#[test]
fn sigterm_requests_shutdown_and_protectors_release() {
    let mut child = spawn("term");
    child.expect("ready");
    child.signal("TERM");
    child.expect("requested");
    child.expect("released");
    let status = child.wait();
    assert!(status.success(), "{status:?}");
}

#[test]
fn first_sigint_is_graceful_second_exits_at_once() {
    let mut child = spawn("double-int");
    child.expect("ready");
    child.signal("INT");
    child.expect("requested");
    child.expect("released");
    child.signal("INT");
    let status = child.wait();
    assert_eq!(status.code(), Some(130), "{status:?}");
    let after = child.pending();
    assert!(
        after.is_empty(),
        "the child kept running after the second SIGINT: {after:?}"
    );
}
