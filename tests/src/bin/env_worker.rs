//! A worker as users write it: only `#[ecs_protect::protected]` and the standard AWS
//! environment variables. `tests/env_worker.rs` runs it against the fake AWS.
//!
//! Four threads handle `MESSAGES` (default 40) messages. Each handler prints when it started
//! and ended, as nanoseconds since the Unix epoch, so the parent can ask the fake whether
//! protection was on at those instants.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[ecs_protect::protected]
fn handle(id: u64) {
    let started = now_nanos();
    std::thread::sleep(Duration::from_millis(2 + id % 5));
    println!("handled {id} {started} {}", now_nanos());
}

fn main() {
    // With WORKER_SHUTDOWN set, main installs the SIGTERM flag as real workers do, which
    // also makes returning from main release the lingering protection.
    let _shutdown = std::env::var_os("WORKER_SHUTDOWN").map(|_| ecs_protect::Shutdown::install());
    let messages: u64 = std::env::var("MESSAGES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(40);
    let next = AtomicU64::new(0);
    std::thread::scope(|pool| {
        for _ in 0..4 {
            pool.spawn(|| {
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= messages {
                        break;
                    }
                    handle(id);
                }
            });
        }
    });
}
