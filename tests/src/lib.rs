//! Shared helpers for the integration tests: how long to wait for what should happen, waiting
//! on a condition with that deadline, and running a child process that cannot hang the suite.
//!
//! No test sleeps and hopes: it waits for a condition and fails with a message when the
//! deadline passes. The deadline is generous (a loaded 2-core machine must not break it);
//! durations a claim is about are asserted separately, as bounds.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen promptly.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How often [`wait_until`] looks at a condition that nothing signals.
const POLL: Duration = Duration::from_millis(2);

/// Waits until `done` returns true or `timeout` passes; returns whether it did.
///
/// ```
/// use ecs_protect_tests::wait_until;
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// assert!(wait_until(Duration::from_secs(5), || start.elapsed() >= Duration::from_millis(5)));
/// assert!(!wait_until(Duration::ZERO, || false));
/// ```
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// Waits up to [`DEADLINE`] until `done` returns true; panics naming `what` otherwise.
///
/// ```
/// use ecs_protect_tests::eventually;
///
/// let mut tries = 0;
/// eventually("the third try", || {
///     tries += 1;
///     tries == 3
/// });
/// ```
#[track_caller]
pub fn eventually(what: &str, done: impl FnMut() -> bool) {
    assert!(
        wait_until(DEADLINE, done),
        "{what}: not within {DEADLINE:?}"
    );
}

/// Runs `command` to its end with piped output, killing it and panicking if it takes longer
/// than `timeout`.
pub fn output_within(command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let status = wait_within(&mut child, timeout);
    Output {
        status,
        stdout: stdout.recv().unwrap_or_default(),
        stderr: stderr.recv().unwrap_or_default(),
    }
}

fn read_all(mut stream: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

/// Waits for `child` to exit; kills it and panics if it is still running after `timeout`.
pub fn wait_within(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child process did not exit within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A child process whose stdout lines starting with a prefix are read as events.
pub struct EventChild {
    /// The running child.
    pub child: Child,
    events: Receiver<String>,
}

impl EventChild {
    /// Starts `command` with its stdout piped; each stdout line that starts with `prefix` is
    /// an event (the rest of the line).
    pub fn spawn(command: &mut Command, prefix: &'static str) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, events) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(event) = line.strip_prefix(prefix) {
                    let _ = tx.send(event.to_owned());
                }
            }
        });
        EventChild { child, events }
    }

    /// Asserts that the next event, within [`DEADLINE`], is `event`.
    #[track_caller]
    pub fn expect(&self, event: &str) {
        match self.events.recv_timeout(DEADLINE) {
            Ok(got) => assert_eq!(got, event, "the child said {got:?}, expected {event:?}"),
            Err(err) => panic!("no {event:?} from the child within {DEADLINE:?}: {err}"),
        }
    }

    /// The events said so far and not yet expected.
    pub fn pending(&self) -> Vec<String> {
        self.events.try_iter().collect()
    }

    /// Sends `signal` (a name such as `TERM`) to the child with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the child to exit, within [`DEADLINE`].
    pub fn wait(&mut self) -> ExitStatus {
        wait_within(&mut self.child, DEADLINE)
    }
}

impl Drop for EventChild {
    fn drop(&mut self) {
        // A failed test must not leave its child running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// SQS consumers on an in-memory queue under a deadline.
pub mod consumer;
/// The errors tests inject, one constructor per kind.
pub mod errors;
/// The log lines of this test process.
pub mod logs;
/// Worker processes of one task for the multi-process tests.
pub mod processes;
/// A seeded generator and the soaks' replayable seeds.
pub mod rng;
