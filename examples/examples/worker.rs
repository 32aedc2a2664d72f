//! A pool of threads handling messages under ECS task scale-in protection.
//!
//! ```text
//! cargo run --example worker
//! ```
//!
//! On ECS it uses the task's environment; elsewhere it starts the embedded fake AWS and
//! points the default protector at it. On SIGTERM (or Ctrl+C) it stops taking messages,
//! lets the ones in flight finish, releases protection and prints a summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ecs_protect::{Shutdown, protected};

const THREADS: usize = 4;
const MESSAGES: u64 = 400;

/// Protection is on for the whole body. `required`: when protection cannot be had (or
/// SIGTERM has come), the body does not run and the message goes back to its queue.
#[protected(required)]
fn handle(order: u64) -> Result<(), ecs_protect::Error> {
    std::thread::sleep(Duration::from_millis(20)); // stands in for charging a card
    log::debug!("order {order} charged");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ecs_protect_examples::init_logging();
    let _fake_aws = ecs_protect_examples::fake_aws_unless_on_ecs()?;
    let shutdown = Shutdown::install()?;
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let handled = AtomicU64::new(0);

    std::thread::scope(|pool| {
        for _ in 0..THREADS {
            pool.spawn(|| {
                while !shutdown.requested() {
                    let order = next.fetch_add(1, Ordering::Relaxed);
                    if order >= MESSAGES {
                        break;
                    }
                    match handle(order) {
                        Ok(()) => _ = handled.fetch_add(1, Ordering::Relaxed),
                        Err(err) => log::warn!("order {order} goes back to the queue: {err}"),
                    }
                }
            });
        }
    });

    // Work in flight has finished: release protection now rather than after the linger.
    let drained = ecs_protect::global().drain(Duration::from_secs(30));
    let stats = ecs_protect::global().stats();
    println!(
        "{} orders in {:.1?} on {THREADS} threads; {drained}",
        handled.into_inner(),
        started.elapsed()
    );
    println!(
        "ECS calls: {} (enable {}, renew {}, disable {}); protected for {:.1?}",
        stats.calls(),
        stats.enables,
        stats.renewals,
        stats.disables,
        stats.time_protected
    );
    Ok(())
}
