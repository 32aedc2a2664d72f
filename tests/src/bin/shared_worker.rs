//! A worker process for the shared-directory tests (`tests/shared_dir.rs`,
//! `tests/shared_soak.rs`): runs units of work under `#[protected]` on the default
//! protector, configured from the environment only, like any user's worker.
//!
//! It prints `begin ID NS` when a unit starts and `end ID START END` when it ends
//! (nanoseconds since the Unix epoch), each line flushed at once so that a SIGKILL loses
//! none, then `idle NS` once its work is done.
//!
//! - `UNITS_MS`: the units' lengths in milliseconds, comma-separated, taken in order by
//!   `THREADS` threads (default 2);
//! - or `RUN_FOR_MS` with `UNIT_MS`: units of `UNIT_MS` until `RUN_FOR_MS` has passed;
//! - `STAY_MS`: after the work, stay idle that long (or until SIGTERM) before draining.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

static OUT: Mutex<()> = Mutex::new(());

fn say(line: std::fmt::Arguments<'_>) {
    let _one_at_a_time = OUT.lock();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[ecs_protect::protected]
fn unit(id: usize, length: Duration) {
    let started = now_nanos();
    say(format_args!("begin {id} {started}"));
    std::thread::sleep(length);
    say(format_args!("end {id} {started} {}", now_nanos()));
}

fn var(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

fn main() {
    let shutdown = ecs_protect::Shutdown::install().expect("signal handlers install");
    // Built now, as a worker does at start: an idle worker then takes part in the
    // coordination (its idle-survivor check runs) before its first unit.
    let protector = ecs_protect::global();
    let threads = var("THREADS").unwrap_or(2) as usize;
    let lengths: Vec<Duration> = std::env::var("UNITS_MS")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.split(',')
                .map(|ms| Duration::from_millis(ms.trim().parse().expect("UNITS_MS: numbers")))
                .collect()
        })
        .unwrap_or_default();
    let run_for = var("RUN_FOR_MS").map(Duration::from_millis);
    let unit_length = Duration::from_millis(var("UNIT_MS").unwrap_or(10));
    let began = Instant::now();
    let next = AtomicUsize::new(0);
    std::thread::scope(|pool| {
        for _ in 0..threads {
            pool.spawn(|| {
                loop {
                    if shutdown.requested() {
                        break;
                    }
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    let length = match run_for {
                        Some(run_for) if began.elapsed() < run_for => unit_length,
                        Some(_) => break,
                        None => match lengths.get(id) {
                            Some(length) => *length,
                            None => break,
                        },
                    };
                    unit(id, length);
                }
            });
        }
    });
    say(format_args!("idle {}", now_nanos()));
    if let Some(stay) = var("STAY_MS").map(Duration::from_millis) {
        let until = Instant::now() + stay;
        while Instant::now() < until && !shutdown.requested() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let drained = protector.drain(Duration::from_secs(30));
    assert!(drained.is_complete(), "{drained}");
}
