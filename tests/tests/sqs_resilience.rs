//! The SQS consumer when things go wrong around it (issue 18), one test per behaviour,
//! against the in-memory queue and custom `QueueApi`s: no heartbeat storm in an outage, no
//! silent stall when a queue call panics, never the same message twice at once, no receive
//! storm on short polls, fuller batches on a backlog, and the opt-in prefetch.
//!
//! Waits are conditions with deadlines; counts are asserted as generous bounds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecs_protect::Protector;
use ecs_protect::mock::{MemoryQueue, QueueOperation, RecordingBackend};
use ecs_protect::sqs::ConsumerBuilder;
use ecs_protect_tests::consumer::{WatchedQueue, builder, run_within, spawn};
use ecs_protect_tests::errors::queue_transport_error;
use ecs_protect_tests::logs::{capture_warnings, lines_with};
use ecs_protect_tests::{DEADLINE, ms};

/// A consumer builder on a watched queue, with the short durations of `builder`.
fn watched_builder<H>(queue: &WatchedQueue, handler: H) -> ConsumerBuilder
where
    H: Fn(&ecs_protect::sqs::Message) -> Result<(), String> + Send + Sync + 'static,
{
    ConsumerBuilder::with_queue(queue.clone(), handler)
        .protector(Protector::with_backend(RecordingBackend::new()))
        .wait_time(ms(20))
        .delete_interval(ms(10))
        .error_backoff(ms(10))
}

/// Deliverable 1: while `ChangeMessageVisibilityBatch` fails as a whole (SQS unreachable),
/// the heartbeat retries about once a second, not ever faster as the visibility runs out;
/// once it ran out the message is marked lapsed and logged once.
#[test]
fn a_heartbeat_outage_costs_about_one_call_a_second_and_one_lapse_line() {
    capture_warnings();
    let queue = WatchedQueue::new(MemoryQueue::new());
    let id = queue.inner.send("long");
    for _ in 0..10_000 {
        queue
            .inner
            .fail_next(QueueOperation::ChangeVisibilityBatch, queue_transport_error);
    }
    let errors = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (count, finished) = (errors.clone(), done.clone());
    let consumer = watched_builder(&queue, move |_| {
        std::thread::sleep(ms(4000)); // the work: past the visibility, through the outage
        finished.store(true, Ordering::SeqCst);
        Ok(())
    })
    .handlers(1)
    .visibility_timeout(ms(1500))
    .heartbeat_after(ms(200))
    .error_backoff(Duration::from_secs(1))
    .on_error(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
    })
    .stop_when(move || done.load(Ordering::SeqCst))
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    let calls = queue
        .call_times(QueueOperation::ChangeVisibilityBatch)
        .len();
    let per_second = queue.most_calls_in_a_second(QueueOperation::ChangeVisibilityBatch);
    println!("{calls} heartbeat calls in 4 s of outage, at most {per_second} in one second");
    assert!(
        per_second <= 2,
        "{per_second} heartbeat calls in one second"
    );
    assert!(calls <= 7, "{calls} heartbeat calls in a 4 s outage");
    assert_eq!(
        errors.load(Ordering::SeqCst),
        calls,
        "one error per failed call"
    );
    assert_eq!(summary.lapsed, 1, "{summary}");
    assert_eq!(
        lines_with(&format!("the visibility of message {id} ran out")),
        1,
        "the lapse is logged once"
    );
    assert_eq!(summary.handled, 1, "{summary}");
}

/// Deliverable 2: a panic inside a queue call (receive, heartbeat, delete) counts as a
/// failed call with back-off: every message is still handled and `run` returns.
#[test]
fn a_panicking_queue_call_never_stalls_the_consumer() {
    let queue = WatchedQueue::new(MemoryQueue::new());
    let ids: Vec<String> = (0..5).map(|i| queue.inner.send(i.to_string())).collect();
    queue.panic_next(QueueOperation::Receive, 2);
    queue.panic_next(QueueOperation::ChangeVisibilityBatch, 1);
    queue.panic_next(QueueOperation::DeleteBatch, 1);
    let errors = Arc::new(AtomicUsize::new(0));
    let (count, watch) = (errors.clone(), queue.inner.clone());
    let consumer = watched_builder(&queue, |m| {
        if m.body() == "0" {
            std::thread::sleep(ms(400)); // long enough for a heartbeat
        }
        Ok(())
    })
    .handlers(1)
    .batch_size(1)
    .visibility_timeout(ms(3000))
    .heartbeat_after(ms(100))
    .on_error(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
    })
    .stop_when(move || watch.deleted() == 5)
    .build()
    .unwrap();

    let summary = run_within(consumer).expect("run returns Ok");

    assert_eq!((summary.handled, summary.deleted), (5, 5), "{summary}");
    for id in &ids {
        assert_eq!(queue.inner.deletes(id), 1, "{id}");
    }
    assert!(
        errors.load(Ordering::SeqCst) >= 4,
        "each panic is reported as a failed call"
    );
    assert!(queue.call_times(QueueOperation::Receive).len() >= 7);
}

/// Deliverable 3: a redelivery of a message still running (past `max_processing_time`) is
/// not started: it is held, extended, and deleted with its newest receipt when the running
/// copy succeeds.
#[test]
fn a_redelivery_of_a_running_message_is_held_and_deleted_with_the_newest_receipt() {
    let queue = MemoryQueue::new();
    let id = queue.send("stuck");
    let backend = RecordingBackend::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let at_once = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (count, now, top, inside, watch) = (
        runs.clone(),
        at_once.clone(),
        peak.clone(),
        queue.clone(),
        queue.clone(),
    );
    let consumer = builder(&queue, &backend, move |m| {
        count.fetch_add(1, Ordering::SeqCst);
        top.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        if m.receive_count() == Some(1) {
            // Stuck until SQS delivered it again, and the redelivery was extended once.
            let id = m.id().to_owned();
            inside.wait_until(DEADLINE, |q| q.deliveries(&id) >= 2);
            inside.wait_until(DEADLINE, |q| {
                q.visibility_changes()
                    .iter()
                    .any(|c| c.message_id == id && c.at.elapsed() < ms(1000))
            });
        }
        now.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    })
    .handlers(2)
    .visibility_timeout(ms(1000))
    .heartbeat_after(ms(200))
    .max_processing_time(ms(1500))
    .stop_when(move || watch.deleted() == 1)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(peak.load(Ordering::SeqCst), 1, "ran twice at once");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the redelivery was started");
    assert_eq!(queue.deliveries(&id), 2);
    assert_eq!(queue.deletes(&id), 1);
    assert_eq!(
        (
            summary.received,
            summary.handled,
            summary.deleted,
            summary.lost
        ),
        (2, 1, 1, 0),
        "{summary}"
    );
    assert!(queue.is_empty());
}

/// Deliverable 3: when the running copy fails, the held redelivery goes back (after the
/// retry delay) and runs later, once.
#[test]
fn a_held_redelivery_goes_back_when_the_running_copy_fails() {
    let queue = MemoryQueue::new();
    let id = queue.send("stuck");
    let backend = RecordingBackend::new();
    let peak = Arc::new(AtomicUsize::new(0));
    let at_once = Arc::new(AtomicUsize::new(0));
    let (top, now, inside, watch) = (peak.clone(), at_once.clone(), queue.clone(), queue.clone());
    let consumer = builder(&queue, &backend, move |m| {
        top.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        let first = m.receive_count() == Some(1);
        if first {
            // Stuck until SQS delivered it again and the consumer holds the redelivery:
            // the heartbeat extends the held copy (this one, past max_processing_time, is
            // no longer extended). Failing before it is taken in would let it run as a
            // message of its own, which is right but not this test's case.
            let id = m.id().to_owned();
            inside.wait_until(DEADLINE, |q| q.deliveries(&id) >= 2);
            let before = inside.visibility_changes().len();
            inside.wait_until(DEADLINE, |q| q.visibility_changes().len() > before);
        }
        now.fetch_sub(1, Ordering::SeqCst);
        if first { Err("fails".into()) } else { Ok(()) }
    })
    .handlers(2)
    .visibility_timeout(ms(1000))
    .heartbeat_after(ms(200))
    .max_processing_time(ms(1500))
    .retry_after(ms(50))
    .stop_when(move || watch.deleted() == 1)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(peak.load(Ordering::SeqCst), 1, "ran twice at once");
    assert_eq!(queue.deliveries(&id), 3, "given back, delivered again");
    assert!(
        queue
            .visibility_changes()
            .iter()
            .any(|c| c.message_id == id && c.timeout == ms(50)),
        "the redelivery went back after the retry delay"
    );
    assert_eq!((summary.failed, summary.handled), (1, 1), "{summary}");
}

/// Deliverable 5: with `wait_time(0)` (short polls), an idle consumer pauses after an
/// empty answer instead of receiving in a loop.
#[test]
fn an_idle_consumer_with_short_polls_does_not_receive_in_a_loop() {
    let queue = MemoryQueue::new();
    queue.send("first");
    let backend = RecordingBackend::new();
    let started = Instant::now();
    let run_for = ms(2500);
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .wait_time(Duration::ZERO)
        .stop_when(move || started.elapsed() >= run_for)
        .build()
        .unwrap();

    let summary = run_within(consumer).unwrap();

    let receives = queue.calls(QueueOperation::Receive);
    let elapsed = started.elapsed();
    println!("{receives} short-poll receives in {elapsed:?}");
    // One receive a second at most once idle, plus the first ones.
    let bound = 3 + elapsed.as_secs() as usize;
    assert!(receives <= bound, "{receives} receives in {elapsed:?}");
    assert_eq!(summary.handled, 1);
}

/// Deliverable 6: on a backlog, a receive waits briefly for enough free handlers: with 8
/// handlers busy 20 ms each, batches are nearly full, not one or two messages.
#[test]
fn a_backlog_is_received_in_fuller_batches() {
    let queue = MemoryQueue::new();
    for i in 0..160 {
        queue.send(i.to_string());
    }
    let backend = RecordingBackend::new();
    let watch = queue.clone();
    let consumer = builder(&queue, &backend, |_| {
        std::thread::sleep(ms(20));
        Ok(())
    })
    .handlers(8)
    .delete_interval(ms(200))
    .stop_when(move || watch.is_empty())
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    let receives = queue.calls(QueueOperation::Receive);
    let deletes = queue.calls(QueueOperation::DeleteBatch);
    println!("160 messages: {receives} receives, {deletes} delete batches");
    assert!(receives <= 40, "{receives} receives for 160 messages");
    assert_eq!(
        summary.max_held, 8,
        "never more than the handlers: {summary}"
    );
}

/// Deliverable 6: with `prefetch`, one handler on a backlog receives in batches; the
/// prefetched messages are extended while they wait, go back once they waited
/// `prefetch_max_wait`, and go back at once on stop.
#[test]
fn prefetch_receives_batches_for_one_handler_and_gives_back_what_waits() {
    let queue = MemoryQueue::new();
    for i in 0..40 {
        queue.send(i.to_string());
    }
    let backend = RecordingBackend::new();
    let watch = queue.clone();
    let consumer = builder(&queue, &backend, |_| {
        std::thread::sleep(ms(5));
        Ok(())
    })
    .handlers(1)
    .prefetch(9)
    .stop_when(move || watch.is_empty())
    .build()
    .unwrap();
    let summary = run_within(consumer).unwrap();
    let receives = queue.calls(QueueOperation::Receive);
    println!("40 messages, 1 handler, prefetch 9: {receives} receives");
    assert!(receives <= 10, "{receives} receives for 40 messages");
    assert_eq!(summary.handled, 40);
    assert!(summary.max_held <= 10, "{summary}");

    // A slow handler: the prefetched messages wait, are extended, then go back.
    let queue = MemoryQueue::new();
    for i in 0..4 {
        queue.send(i.to_string());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, started) = (stop.clone(), Arc::new(Mutex::new(HashMap::new())));
    let seen = started.clone();
    let consumer = builder(&queue, &backend, move |m| {
        seen.lock()
            .unwrap()
            .entry(m.id().to_owned())
            .or_insert_with(Instant::now);
        std::thread::sleep(ms(1500));
        Ok(())
    })
    .handlers(1)
    .prefetch(3)
    .visibility_timeout(ms(600))
    .heartbeat_after(ms(150))
    .prefetch_max_wait(ms(1000))
    .stop_when(move || flag.load(Ordering::SeqCst))
    .build()
    .unwrap();
    let result = spawn(consumer);
    assert!(queue.wait_until(DEADLINE, |q| q.calls(QueueOperation::Receive) >= 1));
    // Waiting ones are extended like the running one.
    assert!(queue.wait_until(DEADLINE, |q| {
        let changes = q.visibility_changes();
        (0..4).all(|i| {
            changes
                .iter()
                .any(|c| c.message_id == format!("m-{i}") && !c.timeout.is_zero())
        })
    }));
    // After prefetch_max_wait, the unstarted ones go back (visible at once).
    assert!(queue.wait_until(DEADLINE, |q| {
        q.visibility_changes().iter().any(|c| c.timeout.is_zero())
    }));
    let given_back: Vec<_> = queue
        .visibility_changes()
        .into_iter()
        .filter(|c| c.timeout.is_zero())
        .collect();
    let first_starts = started.lock().unwrap().clone();
    assert!(
        given_back
            .iter()
            .all(|c| first_starts.get(&c.message_id).is_none_or(|at| *at > c.at)),
        "a message given back had started: {given_back:?}"
    );
    stop.store(true, Ordering::SeqCst);
    let summary = result.recv_timeout(DEADLINE).unwrap().unwrap();
    // On stop, nothing prefetched is still held: every message is done or visible (well
    // within the 600 ms visibility).
    assert!(
        queue.wait_until(ms(200), |q| q.in_flight() == 0),
        "still in flight after stop: {:?} ({summary})",
        queue.in_flight_ids()
    );
    assert!(summary.returned >= 1, "{summary}");
}

/// Deliverable 6: on stop, prefetched messages not started go back at once (visible), while
/// the running one finishes.
#[test]
fn prefetched_messages_go_back_at_once_on_stop() {
    let queue = MemoryQueue::new();
    for i in 0..4 {
        queue.send(i.to_string());
    }
    let backend = RecordingBackend::new();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let consumer = builder(&queue, &backend, move |_| {
        flag.store(true, Ordering::SeqCst); // stop as the first message starts
        std::thread::sleep(ms(300));
        Ok(())
    })
    .handlers(1)
    .prefetch(3)
    .visibility_timeout(Duration::from_secs(10))
    .stop_when(move || stop.load(Ordering::SeqCst))
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(
        (summary.received, summary.handled, summary.returned),
        (4, 1, 3),
        "{summary}"
    );
    assert!(
        queue.wait_until(ms(200), |q| q.in_flight() == 0 && q.visible() == 3),
        "prefetched messages still hidden after stop: {:?}",
        queue.in_flight_ids()
    );
}
