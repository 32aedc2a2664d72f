//! SQS consumers for the tests: short durations on an in-memory queue, run on a thread of
//! their own under a deadline; a queue that records its calls' times and can panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use ecs_protect::mock::{MemoryQueue, QueueOperation, RecordingBackend};
use ecs_protect::sqs::{
    BatchEntry, BatchOutcome, Consumer, ConsumerBuilder, Message, QueueApi, Summary,
};
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

/// A [`MemoryQueue`] behind a [`QueueApi`] of its own that records when each call was made
/// and can be made to panic: a custom queue, or a transport with a bug.
#[derive(Clone, Debug, Default)]
pub struct WatchedQueue {
    /// The queue that answers.
    pub inner: MemoryQueue,
    calls: Arc<Mutex<Vec<(QueueOperation, Instant)>>>,
    panics: Arc<Mutex<HashMap<QueueOperation, usize>>>,
}

impl WatchedQueue {
    /// Watches `inner`.
    pub fn new(inner: MemoryQueue) -> Self {
        WatchedQueue {
            inner,
            ..WatchedQueue::default()
        }
    }

    /// Makes the next `times` calls of `operation` panic before they reach the queue.
    pub fn panic_next(&self, operation: QueueOperation, times: usize) {
        *self.panics.lock().unwrap().entry(operation).or_default() += times;
    }

    /// When each call of `operation` was made.
    pub fn call_times(&self, operation: QueueOperation) -> Vec<Instant> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(op, _)| *op == operation)
            .map(|(_, at)| *at)
            .collect()
    }

    /// The most calls of `operation` made within any one second.
    pub fn most_calls_in_a_second(&self, operation: QueueOperation) -> usize {
        let times = self.call_times(operation);
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|at| at.duration_since(times[i]) < Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    fn begin(&self, operation: QueueOperation) {
        self.calls.lock().unwrap().push((operation, Instant::now()));
        let panic = {
            let mut panics = self.panics.lock().unwrap();
            let left = panics.entry(operation).or_default();
            let panic = *left > 0;
            *left = left.saturating_sub(1);
            panic
        };
        if panic {
            panic!("injected panic in {operation:?}");
        }
    }
}

impl QueueApi for WatchedQueue {
    fn queue_url(&self) -> &str {
        self.inner.queue_url()
    }

    fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<Message>, Error> {
        self.begin(QueueOperation::Receive);
        self.inner.receive(max, wait, visibility_timeout)
    }

    fn delete_batch(&self, entries: &[BatchEntry]) -> Result<BatchOutcome, Error> {
        self.begin(QueueOperation::DeleteBatch);
        self.inner.delete_batch(entries)
    }

    fn change_visibility_batch(&self, entries: &[BatchEntry]) -> Result<BatchOutcome, Error> {
        self.begin(QueueOperation::ChangeVisibilityBatch);
        self.inner.change_visibility_batch(entries)
    }
}
