//! The worker process the `deployment` example deploys: four threads handling messages
//! under protection until SIGTERM, printing `start ID` and `done ID` for each message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use ecs_protect::sqs::{Consumer, Message};
use ecs_protect::{Error, Shutdown, protected};

/// Set (to anything) in the processes the `deployment` example starts as its workers.
pub const WORKER_ROLE_VAR: &str = "ECS_PROTECT_EXAMPLE_ROLE";

/// Handler threads per worker process.
const THREADS: usize = 4;

/// Runs the deployed worker until SIGTERM, then drains. With `QUEUE_URL` set it consumes
/// that queue through [`Consumer`]; otherwise it makes up its messages. Each handler
/// sleeps `work`, standing in for the real work.
///
/// # Errors
///
/// When the signal handlers cannot be installed, or the consumer cannot start or stops on
/// a permanent error.
pub fn deployed_worker(work: Duration) -> Result<(), Error> {
    let shutdown = Shutdown::install()?;
    match std::env::var("QUEUE_URL") {
        Ok(url) => {
            let summary = Consumer::builder(url, move |message: &Message| -> Result<(), Error> {
                handle(message.id(), work);
                Ok(())
            })
            .handlers(THREADS)
            .build()?
            .run()?;
            println!("queue: {summary}");
        }
        Err(_) => made_up_messages(&shutdown, work),
    }
    let drained = ecs_protect::global().drain(Duration::from_secs(30));
    println!("{drained}");
    Ok(())
}

/// Handles made-up messages on [`THREADS`] threads under `#[protected(required)]` until
/// SIGTERM.
fn made_up_messages(shutdown: &Shutdown, work: Duration) {
    #[protected(required)]
    fn handle_made_up(id: u64, work: Duration) -> Result<(), Error> {
        handle(&id.to_string(), work);
        Ok(())
    }

    let next = AtomicU64::new(0);
    thread::scope(|pool| {
        for _ in 0..THREADS {
            pool.spawn(|| {
                while !shutdown.requested() {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    // Refused (SIGTERM came after the check): not started, back to the queue.
                    if let Err(err) = handle_made_up(id, work) {
                        log::info!("message {id} not started: {err}");
                    }
                }
            });
        }
    });
}

/// The work itself, announced so that the `deployment` example can see which messages
/// started and which finished.
fn handle(id: &str, work: Duration) {
    println!("start {id}");
    thread::sleep(work);
    println!("done {id}");
}
