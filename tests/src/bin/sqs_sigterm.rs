//! A worker as users write it: an SQS consumer with no `stop_when`, on the in-memory queue.
//! `tests/sqs_sigterm.rs` sends it a real SIGTERM while one message is in flight and the
//! other handler thread is in a 20 s long poll, and checks that it finishes that message
//! and exits promptly.
//!
//! Prints `child: started <id>`, `child: finished <id>` and `child: summary <summary>`.

use std::time::Duration;

use ecs_protect::mock::MemoryQueue;
use ecs_protect::sqs::ConsumerBuilder;
use ecs_protect::{Disabled, Error, Protector};

fn main() -> Result<(), Error> {
    let queue = MemoryQueue::new();
    for body in ["quick", "quick", "long"] {
        queue.send(body);
    }
    let summary = ConsumerBuilder::with_queue(queue, |m| {
        println!("child: started {}", m.id());
        if m.body() == "long" {
            std::thread::sleep(Duration::from_millis(800)); // the work in flight at SIGTERM
        }
        println!("child: finished {}", m.id());
        Ok::<(), String>(())
    })
    .protector(Protector::with_backend(Disabled))
    .handlers(2)
    .wait_time(Duration::from_secs(20))
    .delete_interval(Duration::ZERO)
    .build()?
    .run()?;
    println!(
        "child: summary handled={} deleted={} failed={}",
        summary.handled, summary.deleted, summary.failed
    );
    Ok(())
}
