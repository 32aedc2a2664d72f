//! The consumer stops on SIGTERM by default (no `stop_when`): a child process
//! (`src/bin/sqs_sigterm.rs`) gets a real SIGTERM while one message is in flight and
//! another handler thread waits in a 20 s long poll. It finishes the message in flight,
//! deletes it, and exits within about a second plus that handler.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

const HARD_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn the_consumer_stops_on_sigterm_by_default() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqs_sigterm"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("the sqs_sigterm program runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(event) = line.strip_prefix("child: ") {
                let _ = tx.send(event.to_owned());
            }
        }
    });
    let mut events = Vec::new();
    let long = loop {
        let event = rx.recv_timeout(HARD_TIMEOUT).expect("the child started");
        events.push(event.clone());
        if event == "started m-2" {
            break "m-2";
        }
    };
    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM failed");
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > HARD_TIMEOUT {
            let _ = child.kill();
            panic!("the child did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let latency = signalled.elapsed();
    events.extend(rx.try_iter());
    println!("SIGTERM to exit: {latency:?} (handler in flight: 800 ms; long poll: 20 s)");

    assert!(exit.success(), "{exit:?}: {events:?}");
    assert!(
        events.contains(&format!("finished {long}")),
        "the message in flight did not finish: {events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("summary handled=3 deleted=3 failed=0"),
        "{events:?}"
    );
    // About a second plus the 800 ms handler; far below the 20 s long poll.
    assert!(latency < Duration::from_secs(5), "took {latency:?}");
}
