//! What the logs hold, over the fake AWS's container credentials, with a capturing logger
//! at `TRACE` (its own test binary: the logger is process-wide). The README's "Logs"
//! section states exactly this; the last check holds it to it.
//!
//! - No log record's text holds a secret, at any level: not the secret key, not the session
//!   token, not the container authorization token.
//! - ureq's `TRACE` wire dump (target `ureq_proto::util`) is hex rows: decoded, they hold the
//!   container endpoint's answer (the secret key and the session token), the session token
//!   sent with each call and the container authorization token. A search of the log text
//!   for a secret finds nothing, yet it is there.
//! - The documented filter (`ureq=warn,ureq_proto=warn`) removes every dump row.

use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;

use ecs_protect::Env;
use ecs_protect::mock::MockAws;
use ecs_protect::unversioned::EcsClient;

#[derive(Clone, Debug)]
struct Record {
    level: log::Level,
    target: String,
    message: String,
    thread: ThreadId,
}

struct Capture(Mutex<Vec<Record>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Record {
                level: record.level(),
                target: record.target().to_owned(),
                message: record.args().to_string(),
                thread: std::thread::current().id(),
            });
    }

    fn flush(&self) {}
}

static LOGS: Capture = Capture(Mutex::new(Vec::new()));

/// The bytes of ureq's wire dump (rows of `4745 5420 2f63 ...  GET./c...`, `--` past the
/// end), per thread.
fn wire_dump(records: &[&Record]) -> Vec<Vec<u8>> {
    let mut threads: Vec<(ThreadId, Vec<u8>)> = Vec::new();
    for record in records.iter().filter(|r| r.target == "ureq_proto::util") {
        let hex: String = record
            .message
            .split("  ")
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes: Vec<u8> = hex
            .as_bytes()
            .chunks(2)
            .filter(|pair| *pair != b"--")
            .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
            .collect();
        match threads.iter_mut().find(|(id, _)| *id == record.thread) {
            Some((_, dump)) => dump.extend(bytes),
            None => threads.push((record.thread, bytes)),
        }
    }
    threads.into_iter().map(|(_, dump)| dump).collect()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn no_log_text_holds_a_secret_and_only_the_hex_wire_dump_does() {
    log::set_logger(&LOGS).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let mock = MockAws::start().unwrap();
    let client = EcsClient::from_env_with(&Env::from_vars(mock.env())).unwrap();
    client.update_task_protection(true, Some(30)).unwrap();
    client.get_task_protection().unwrap();
    client.update_task_protection(false, None).unwrap();

    let issued = mock.credentials();
    let secret_key = issued.secret_access_key.clone();
    let token = issued
        .session_token
        .clone()
        .expect("the fake issues a token");
    let authorization = mock.authorization_token().to_owned();
    let records = LOGS
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let all: Vec<&Record> = records.iter().collect();

    assert!(
        records.iter().any(|r| r.level == log::Level::Trace),
        "the capture sees TRACE"
    );
    for secret in [&secret_key, &token, &authorization] {
        for record in &records {
            assert!(
                !record.message.contains(secret.as_str()),
                "a secret in the text of {} {}: {}",
                record.level,
                record.target,
                record.message
            );
        }
    }
    let dump = wire_dump(&all);
    assert!(
        !dump.is_empty(),
        "ureq no longer dumps the wire at TRACE: update the README's Logs section, the crate \
         docs and this test"
    );
    assert!(
        dump.iter().any(|bytes| holds(bytes, &token)),
        "the session token is no longer in ureq's hex wire dump: update the README's Logs \
         section, the crate docs and this test"
    );
    assert!(
        dump.iter().any(|bytes| holds(bytes, &authorization)),
        "the container authorization token is no longer in ureq's hex wire dump"
    );
    assert!(
        dump.iter().any(|bytes| holds(bytes, &secret_key)),
        "the secret key (in the container endpoint's answer) is no longer in the dump"
    );

    // The documented filter: ureq's targets at WARN and above only.
    let filtered: Vec<&Record> = records
        .iter()
        .filter(|r| !r.target.starts_with("ureq") || r.level <= log::Level::Warn)
        .collect();
    assert!(wire_dump(&filtered).is_empty());

    // The README says what this test shows.
    let readme = include_str!("../../README.md");
    let logs = readme
        .split("\n## Logs\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a Logs section");
    for claim in [
        "hex rows",
        "the secret key",
        "the session token",
        "container authorization token",
        "`ureq=warn,ureq_proto=warn`",
    ] {
        assert!(logs.contains(claim), "the README's Logs section: {claim:?}");
    }
}
