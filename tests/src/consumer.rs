//! SQS consumers for the tests: short durations on an in-memory queue, run on a thread of
//! their own under a deadline.

use std::sync::mpsc;

use ecs_protect::mock::{MemoryQueue, RecordingBackend};
use ecs_protect::sqs::{Consumer, ConsumerBuilder, Message, Summary};
use ecs_protect::{Error, Protector};

use crate::{DEADLINE, ms};

/// A builder with short durations, on `queue`, under a protector on `backend`.
pub fn builder<H>(queue: &MemoryQueue, backend: &RecordingBackend, handler: H) -> ConsumerBuilder
where
    H: Fn(&Message) -> Result<(), String> + Send + Sync + 'static,
{
    ConsumerBuilder::with_queue(queue.clone(), handler)
        .protector(Protector::with_backend(backend.clone()))
        .wait_time(ms(20))
        .delete_interval(ms(10))
        .error_backoff(ms(10))
}

/// Runs `consumer` on its own thread; the receiver yields its result.
pub fn spawn(consumer: Consumer) -> mpsc::Receiver<Result<Summary, Error>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(consumer.run());
    });
    rx
}

/// Runs `consumer` to its end, within [`DEADLINE`].
pub fn run_within(consumer: Consumer) -> Result<Summary, Error> {
    spawn(consumer)
        .recv_timeout(DEADLINE)
        .expect("the consumer did not stop before the deadline")
}
