//! Throughput of the SQS consumer with a trivial handler against the in-memory queue, and
//! the protection calls it makes per 1,000 messages (goal: under 1 with the real
//! protector's linger), the owner's final drain included.
//!
//! With a trivial handler and a slow queue, throughput is bounded by receiving only for
//! free capacity: at most `handlers` messages per receive round trip.
//!
//! Then what SQS bills: queue requests (receives, delete batches, visibility batches) per
//! message and dollars per million messages at $0.40 per million requests, for 1, 2 and 8
//! handlers, on a backlog (every message queued before the start) and on a stream (one
//! message every 50 ms), with a 20 ms handler and 5 ms per queue call; by default, and
//! with `prefetch` (the free handlers plus this many, up to a batch of 10). Goal: at most
//! 0.25 requests per message for 8 handlers on a backlog by default.
//!
//! `cargo bench -p ecs-protect-tests --bench sqs` prints one line per configuration.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// What SQS charges per million requests (standard queues, first 100 billion a month).
const DOLLARS_PER_MILLION_REQUESTS: f64 = 0.40;

/// Queue requests per message for `messages` messages through `handlers` handlers busy
/// 20 ms each, 5 ms per queue call; a backlog, or a stream of one message every 50 ms.
fn requests_per_message(messages: usize, handlers: usize, prefetch: usize, stream: bool) -> f64 {
    let queue = MemoryQueue::new();
    queue.set_latency(Duration::from_millis(5));
    let producer_done = Arc::new(AtomicBool::new(!stream));
    if stream {
        let (queue, done) = (queue.clone(), producer_done.clone());
        std::thread::spawn(move || {
            for i in 0..messages {
                queue.send(i.to_string());
                std::thread::sleep(Duration::from_millis(50));
            }
            done.store(true, Ordering::SeqCst);
        });
    } else {
        for i in 0..messages {
            queue.send(i.to_string());
        }
    }
    let (watch, done) = (queue.clone(), producer_done.clone());
    let consumer = ConsumerBuilder::with_queue(queue.clone(), |_| {
        std::thread::sleep(Duration::from_millis(20));
        Ok::<(), String>(())
    })
    .protector(Protector::with_backend(RecordingBackend::new()))
    .handlers(handlers)
    .prefetch(prefetch)
    .wait_time(Duration::from_secs(1))
    .stop_when(move || done.load(Ordering::SeqCst) && watch.is_empty())
    .build()
    .expect("valid settings");
    let summary = consumer.run().expect("the in-memory queue does not fail");
    assert_eq!(summary.deleted as usize, messages, "{summary}");
    let calls = [
        QueueOperation::Receive,
        QueueOperation::DeleteBatch,
        QueueOperation::ChangeVisibilityBatch,
    ]
    .map(|op| queue.calls(op));
    calls.iter().sum::<usize>() as f64 / messages as f64
}

fn print_bill() {
    println!(
        "queue requests (receives + delete batches + visibility batches) per message; 20 ms \
         handler, 5 ms per queue call, wait_time 1 s; $ per million messages at \
         ${DOLLARS_PER_MILLION_REQUESTS:.2} per million requests"
    );
    for handlers in [1, 2, 8] {
        // Prefetch up to a batch of 10 for small pools; 2 beyond 8 handlers.
        let prefetch = if handlers >= 8 { 2 } else { 10 - handlers };
        for (workload, stream, messages) in
            [("backlog", false, 100 * handlers), ("stream", true, 100)]
        {
            for prefetch in [0, prefetch] {
                let per_message = requests_per_message(messages, handlers, prefetch, stream);
                println!(
                    "{handlers} handlers, {workload:<7}, prefetch {prefetch:>2}: \
                     {per_message:.3} requests per message, ${:.3} per million messages",
                    per_message * DOLLARS_PER_MILLION_REQUESTS
                );
            }
        }
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
    if std::env::var("BILL_ONLY").is_ok() {
        print_bill();
        return;
    }
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
    print_bill();
}
