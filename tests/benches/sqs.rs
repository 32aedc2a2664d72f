//! Throughput of the SQS consumer with a trivial handler against the in-memory queue, and
//! the protection calls it makes per 1,000 messages (goal: under 1 with the real
//! protector's linger), the owner's final drain included.
//!
//! With a trivial handler and a slow queue, throughput is bounded by receiving only for
//! free capacity: at most `handlers` messages per receive round trip.
//!
//! `cargo bench -p ecs-protect-tests --bench sqs` prints one line per configuration.

use std::time::{Duration, Instant};

use ecs_protect::Protector;
use ecs_protect::mock::{MemoryQueue, QueueOperation, RecordingBackend};
use ecs_protect::sqs::{ConsumerBuilder, Summary};

struct Figures {
    summary: Summary,
    elapsed: Duration,
    backend_calls: usize,
    queue_calls: usize,
}

fn run(messages: usize, handlers: usize, latency: Duration) -> Figures {
    let queue = MemoryQueue::new();
    for i in 0..messages {
        queue.send(i.to_string());
    }
    queue.set_latency(latency);
    let backend = RecordingBackend::new();
    let protector = Protector::with_backend(backend.clone());
    let watch = queue.clone();
    let consumer = ConsumerBuilder::with_queue(queue.clone(), |_| Ok::<(), String>(()))
        .protector(protector.clone())
        .handlers(handlers)
        .wait_time(Duration::from_millis(20))
        .stop_when(move || watch.is_empty())
        .build()
        .expect("valid settings");
    let started = Instant::now();
    let summary = consumer.run().expect("the in-memory queue does not fail");
    let elapsed = started.elapsed();
    // The consumer leaves its protector to its owner: drain it, so that the disable call
    // is counted as it would be at the end of a worker's `main`.
    assert!(protector.drain(Duration::from_secs(5)).is_complete());
    assert_eq!(summary.deleted as usize, messages, "{summary}");
    let queue_calls = [
        QueueOperation::Receive,
        QueueOperation::DeleteBatch,
        QueueOperation::ChangeVisibilityBatch,
    ]
    .into_iter()
    .map(|op| queue.calls(op))
    .sum();
    Figures {
        summary,
        elapsed,
        backend_calls: backend.calls().len(),
        queue_calls,
    }
}

fn main() {
    let config = Protector::with_backend(RecordingBackend::new())
        .config()
        .clone();
    println!(
        "sqs consumer: handler returns Ok at once; MemoryQueue (standard) with the latency \
         below per call; wait_time 20 ms, batch_size 10, visibility 30 s, heartbeat 15 s, \
         delete batches of 10 or every 200 ms; protector on a RecordingBackend (linger {:?}); \
         receives only for free capacity (idle handlers less waiting messages)",
        config.linger()
    );
    for (messages, handlers, latency_ms) in [
        (20_000, 1, 0),
        (20_000, 4, 0),
        (20_000, 8, 0),
        (2_000, 4, 1),
        (2_000, 8, 5),
    ] {
        let latency = Duration::from_millis(latency_ms);
        let f = run(messages, handlers, latency);
        let per_second = f.summary.handled as f64 / f.elapsed.as_secs_f64();
        let per_thousand = f.backend_calls as f64 * 1000.0 / messages as f64;
        println!(
            "{messages:>6} messages, {handlers} handlers, queue latency {latency_ms} ms: \
             {per_second:>9.0} messages/s, {per_thousand:>7.2} protection calls per 1,000 \
             messages, {:>5} queue calls ({:.1} messages per call)",
            f.queue_calls,
            messages as f64 / f.queue_calls as f64,
        );
    }
}
