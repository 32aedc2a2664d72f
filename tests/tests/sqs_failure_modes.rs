//! The SQS consumer under the failure modes users met (issue 9), one test per behaviour,
//! against the in-memory queue and the recording backend. Each asserts the figure that
//! shows the behaviour: deliveries per back-off, messages held, seconds to stop.
//!
//! Waits are conditions with deadlines; durations are asserted only as generous bounds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecs_protect::mock::{MemoryQueue, QueueOperation, RecordingBackend};
use ecs_protect::sqs::{ConsumerBuilder, Message, RetryAfter};
use ecs_protect::{Config, FailurePolicy, Protector};
use ecs_protect_tests::consumer::{builder, run_within, spawn};
use ecs_protect_tests::errors::{blocked, queue_error, queue_transport_error};
use ecs_protect_tests::logs::{capture_warnings, lines_with};
use ecs_protect_tests::{DEADLINE, ms};

/// Counts handlers running at once and keeps the peak.
#[derive(Clone, Default)]
struct Concurrency {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Concurrency {
    fn enter(&self) {
        let at_once = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(at_once, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Behaviour 1: A refused message is received at most once per back-off, and receiving pauses.
#[test]
fn a_refused_message_is_delivered_at_most_once_per_back_off() {
    let queue = MemoryQueue::new();
    let id = queue.send("x");
    let backend = RecordingBackend::new();
    for _ in 0..1000 {
        backend.fail_next(blocked);
    }
    let backoff = ms(500);
    let protector = Protector::with_config(
        Config::builder()
            .blocked_retry_after(backoff)
            .build()
            .unwrap(),
        backend.clone(),
    );
    let ran = Arc::new(AtomicBool::new(false));
    let record = ran.clone();
    let started = Instant::now();
    let run_for = Duration::from_secs(2);
    let consumer = builder(&queue, &backend, move |_| {
        record.store(true, Ordering::SeqCst);
        Ok(())
    })
    .protector(protector)
    .failure_policy(FailurePolicy::Require)
    .handlers(2)
    .stop_when(move || started.elapsed() >= run_for)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();
    let elapsed = started.elapsed();

    assert!(!ran.load(Ordering::SeqCst), "ran without protection");
    let bound = 1 + (elapsed.as_millis() / backoff.as_millis()) as u32;
    let deliveries = queue.deliveries(&id);
    assert!(
        deliveries <= bound,
        "{deliveries} deliveries in {elapsed:?} with a {backoff:?} back-off (at most {bound})"
    );
    assert!(deliveries >= 2, "the message came back after the back-off");
    assert_eq!(summary.refused, u64::from(deliveries), "{summary}");
    let receives = queue.calls(QueueOperation::Receive) as u32;
    assert!(
        receives <= 2 * bound + 2,
        "{receives} receives while refused"
    );
    for change in queue.visibility_changes() {
        assert!(
            change.timeout > Duration::ZERO && change.timeout <= backoff,
            "hidden for the remaining back-off: {change:?}"
        );
    }
}

/// Behaviour 2: One consumer's stop, a permanent receive error or a second run leave a shared
/// protector serving its other users.
#[test]
fn a_shared_protector_keeps_serving_other_users_after_one_consumer_stops() {
    let backend = RecordingBackend::new();
    let protector = Protector::with_backend(backend.clone());
    let first = MemoryQueue::new();
    first.send("a");
    let watch = first.clone();
    let consumer = builder(&first, &backend, |_| Ok(()))
        .protector(protector.clone())
        .failure_policy(FailurePolicy::Require)
        .stop_when(move || watch.deleted() == 1)
        .build()
        .unwrap();
    run_within(consumer).unwrap();
    // A second consumer on the same protector ends on a permanent receive error.
    let broken = MemoryQueue::new();
    broken.fail_next(QueueOperation::Receive, || {
        queue_error("ReceiveMessage", "QueueDoesNotExist")
    });
    let consumer = builder(&broken, &backend, |_| Ok(()))
        .protector(protector.clone())
        .build()
        .unwrap();
    assert!(run_within(consumer).is_err());

    assert!(
        !protector.is_shutting_down(),
        "a consumer shut the protector down"
    );
    let guard = protector.acquire_with(FailurePolicy::Require).unwrap();
    assert!(guard.is_protected());
    drop(guard);
    // Another consumer on it still handles its messages under protection.
    let other = MemoryQueue::new();
    for i in 0..5 {
        other.send(i.to_string());
    }
    let (probe, watch) = (backend.clone(), other.clone());
    let unprotected = Arc::new(AtomicUsize::new(0));
    let count = unprotected.clone();
    let consumer = builder(&other, &backend, move |_| {
        if !probe.protected_at(Instant::now()) {
            count.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    })
    .protector(protector.clone())
    .failure_policy(FailurePolicy::Require)
    .stop_when(move || watch.deleted() == 5)
    .build()
    .unwrap();
    let summary = run_within(consumer).unwrap();
    assert_eq!((summary.handled, summary.refused), (5, 0), "{summary}");
    assert_eq!(unprotected.load(Ordering::SeqCst), 0);
    for i in 0..5 {
        assert_eq!(other.deliveries(&format!("m-{i}")), 1);
    }
}

/// Behaviour 3: A failed heartbeat is retried before the visibility runs out: never two handlers
/// on one message at once.
#[test]
fn a_failed_heartbeat_is_retried_and_never_lets_a_message_run_twice_at_once() {
    let queue = MemoryQueue::new();
    let id = queue.send("long");
    // The first two extensions fail: the third must come before the 3 s run out.
    queue.fail_next(QueueOperation::ChangeVisibilityBatch, queue_transport_error);
    queue.fail_next(QueueOperation::ChangeVisibilityBatch, queue_transport_error);
    let backend = RecordingBackend::new();
    let concurrency = Concurrency::default();
    let (inside, watch) = (concurrency.clone(), queue.clone());
    let errors = Arc::new(AtomicUsize::new(0));
    let count = errors.clone();
    let consumer = builder(&queue, &backend, move |_| {
        inside.enter();
        std::thread::sleep(ms(4500)); // the work: longer than the visibility timeout
        inside.leave();
        Ok(())
    })
    .handlers(2)
    .visibility_timeout(ms(3000))
    .heartbeat_after(ms(1000))
    .on_error(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
    })
    .stop_when(move || watch.deleted() == 1)
    .build()
    .unwrap();
    let received = Instant::now();

    let summary = run_within(consumer).unwrap();

    assert_eq!(concurrency.peak(), 1, "handled twice at once");
    assert_eq!(queue.deliveries(&id), 1);
    assert_eq!(errors.load(Ordering::SeqCst), 2, "both failures reported");
    let first_success = queue.visibility_changes()[0].at;
    assert!(
        first_success < received + ms(3000),
        "the retried extension came {:?} after the receive",
        first_success - received
    );
    assert!(summary.extended >= 1, "{summary}");
    assert_eq!((summary.handled, summary.deleted), (1, 1));
}

/// Behaviour 3: A receipt SQS calls invalid is lost to this consumer: not deleted, counted, logged.
#[test]
fn an_invalid_receipt_is_counted_lost_and_never_deleted() {
    capture_warnings();
    let queue = MemoryQueue::new();
    let id = queue.send("x");
    queue.fail_next_entry(
        QueueOperation::ChangeVisibilityBatch,
        "ReceiptHandleIsInvalid",
        true,
    );
    let backend = RecordingBackend::new();
    let (inside, done) = (queue.clone(), Arc::new(AtomicBool::new(false)));
    let finished = done.clone();
    let lost_line = format!("message {id} is lost to this consumer");
    let consumer = builder(&queue, &backend, move |_| {
        // Runs until the heartbeat's answer has been taken in: the fake counts the call as
        // it starts, and the consumer says the message is lost once it has read the answer.
        let answered = inside.wait_until(DEADLINE, |q| {
            q.calls(QueueOperation::ChangeVisibilityBatch) >= 1
        }) && ecs_protect_tests::wait_until(DEADLINE, || lines_with(&lost_line) > 0);
        finished.store(true, Ordering::SeqCst);
        if answered {
            Ok(())
        } else {
            Err("no heartbeat answer taken in".into())
        }
    })
    .handlers(1)
    .visibility_timeout(ms(3000))
    .heartbeat_after(ms(100))
    .stop_when(move || done.load(Ordering::SeqCst))
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!((summary.handled, summary.lost), (1, 1), "{summary}");
    assert_eq!(summary.deleted, 0);
    assert_eq!(queue.deletes(&id), 0, "deleted with an invalid receipt");
    assert_eq!(queue.calls(QueueOperation::DeleteBatch), 0);
}

/// Behaviour 3: A slow delete does not hold back heartbeats (they have their own thread).
#[test]
fn a_slow_delete_does_not_delay_heartbeats() {
    let queue = MemoryQueue::new();
    let quick = queue.send("quick");
    let slow = queue.send("slow");
    // Slower than a heartbeat period, but within the visibility: nothing is delivered
    // again (a delete with an outdated receipt would succeed and delete nothing).
    queue.delay_next(QueueOperation::DeleteBatch, ms(3000));
    let backend = RecordingBackend::new();
    let (inside, watch) = (queue.clone(), queue.clone());
    let consumer = builder(&queue, &backend, move |m| {
        if m.body() == "slow" {
            // Runs while the first delete hangs, until the heartbeat extended it twice.
            let id = m.id().to_owned();
            inside.wait_until(DEADLINE, |q| {
                q.visibility_changes()
                    .iter()
                    .filter(|c| c.message_id == id)
                    .count()
                    >= 2
            });
        }
        Ok(())
    })
    .handlers(2)
    .delete_interval(Duration::ZERO)
    .delete_batch_size(1)
    .visibility_timeout(ms(4000))
    .heartbeat_after(ms(200))
    .stop_when(move || watch.deleted() == 2)
    .build()
    .unwrap();
    let started = Instant::now();

    let summary = run_within(consumer).unwrap();

    let extensions: Vec<_> = queue
        .visibility_changes()
        .into_iter()
        .filter(|c| c.message_id == slow)
        .collect();
    assert!(extensions.len() >= 2);
    assert!(
        extensions[1].at < started + ms(2500),
        "heartbeats waited for the slow delete"
    );
    assert_eq!((queue.deletes(&quick), queue.deletes(&slow)), (1, 1));
    assert_eq!((queue.deliveries(&quick), queue.deliveries(&slow)), (1, 1));
    assert_eq!(summary.deleted, 2, "{summary}");
}

/// Behaviour 4: While every handler is busy, nothing more is received: at most `handlers` held.
#[test]
fn at_most_handlers_messages_are_held_while_all_are_busy() {
    let queue = MemoryQueue::new();
    for i in 0..20 {
        queue.send(i.to_string());
    }
    let backend = RecordingBackend::new();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let release_rx = Mutex::new(release_rx);
    let release_all = Arc::new(AtomicBool::new(false));
    let (released, watch) = (release_all.clone(), queue.clone());
    let consumer = builder(&queue, &backend, move |_| {
        let _ = started_tx.lock().unwrap().send(());
        if !released.load(Ordering::SeqCst) {
            let _ = release_rx.lock().unwrap().recv_timeout(DEADLINE);
        }
        Ok(())
    })
    .handlers(2)
    .batch_size(10)
    .visibility_timeout(ms(1000))
    .heartbeat_after(ms(100))
    .stop_when(move || watch.deleted() == 20)
    .build()
    .unwrap();
    let result = spawn(consumer);

    started_rx.recv_timeout(DEADLINE).unwrap();
    started_rx.recv_timeout(DEADLINE).unwrap();
    let receives = queue.calls(QueueOperation::Receive);
    // Let time pass (each held message extended three times) with both handlers busy.
    assert!(queue.wait_until(DEADLINE, |q| q.visibility_changes().len() >= 6));
    assert_eq!(queue.in_flight(), 2, "held more than the handlers");
    assert_eq!(
        queue.calls(QueueOperation::Receive),
        receives,
        "received while every handler was busy"
    );

    release_all.store(true, Ordering::SeqCst);
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
    let summary = result.recv_timeout(DEADLINE).unwrap().unwrap();
    assert_eq!((summary.handled, summary.deleted), (20, 20));
    assert_eq!(summary.max_held, 2, "{summary}");
    assert_eq!(summary.returned, 0);
}

/// Behaviour 5: From the stop signal to `run` returning: under a second with a 20 s long poll; the
/// receive left behind gives back what it gets at once.
#[test]
fn run_returns_within_a_second_of_stop_with_a_20_s_long_poll() {
    let queue = MemoryQueue::new();
    let backend = RecordingBackend::new();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .wait_time(Duration::from_secs(20))
        .stop_when(move || flag.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let result = spawn(consumer);
    assert!(queue.wait_until(DEADLINE, |q| q.calls(QueueOperation::Receive) >= 1));

    let stopped = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let summary = result.recv_timeout(DEADLINE).unwrap().unwrap();
    let latency = stopped.elapsed();

    println!("stop to return: {latency:?} with a 20 s long poll");
    assert!(latency < Duration::from_secs(1), "took {latency:?}");
    assert_eq!(summary.received, 0);
    // The long poll still waits; what it receives goes back at once.
    let id = queue.send("late");
    assert!(
        queue.wait_until(DEADLINE, |q| q.deliveries(&id) == 1 && q.visible() == 1),
        "the message a left-behind receive got stayed hidden"
    );
    assert!(
        queue
            .visibility_changes()
            .iter()
            .any(|c| c.message_id == id && c.timeout.is_zero())
    );
}

/// Behaviour 6: Deletes are retried with back-off while the visibility lasts (here 2.5 s of failures
/// against a 10 s visibility).
#[test]
fn deletes_are_retried_until_the_visibility_would_run_out() {
    let queue = MemoryQueue::new();
    let id = queue.send("x");
    for _ in 0..5 {
        queue.fail_next(QueueOperation::DeleteBatch, queue_transport_error);
    }
    let backend = RecordingBackend::new();
    let watch = queue.clone();
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .handlers(1)
        .visibility_timeout(Duration::from_secs(10))
        .stop_when(move || watch.deleted() == 1)
        .build()
        .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(queue.calls(QueueOperation::DeleteBatch), 6);
    assert_eq!((queue.deliveries(&id), queue.deletes(&id)), (1, 1));
    assert_eq!((summary.deleted, summary.lost), (1, 0));
}

/// Behaviour 6: Once the visibility would run out, the delete is given up (the message will be
/// handled again) and `run` does not wait for it.
#[test]
fn a_delete_is_given_up_when_the_visibility_runs_out() {
    let queue = MemoryQueue::new();
    let id = queue.send("x");
    for _ in 0..100 {
        queue.fail_next(QueueOperation::DeleteBatch, queue_transport_error);
    }
    let backend = RecordingBackend::new();
    let handled = Arc::new(AtomicBool::new(false));
    let (record, done) = (handled.clone(), handled.clone());
    let consumer = builder(&queue, &backend, move |_| {
        record.store(true, Ordering::SeqCst);
        Ok(())
    })
    .handlers(1)
    .visibility_timeout(ms(1500))
    .stop_when(move || done.load(Ordering::SeqCst))
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    let calls = queue.calls(QueueOperation::DeleteBatch);
    // Tries at 0, 0.1, 0.3 and 0.7 s; the next (1.5 s) would come after the visibility.
    assert!((2..=6).contains(&calls), "{calls} delete calls in 1.5 s");
    assert_eq!((summary.handled, summary.deleted), (1, 0));
    assert_eq!(queue.deletes(&id), 0);
}

/// Behaviour 7: Hooks that panic are caught and logged; `run` returns.
#[test]
fn a_panicking_hook_never_hangs_run() {
    let queue = MemoryQueue::new();
    for i in 0..3 {
        queue.send(i.to_string());
    }
    let backend = RecordingBackend::new();
    let watch = queue.clone();
    let consumer = builder(&queue, &backend, |m| {
        if m.body() == "1" && m.receive_count() == Some(1) {
            Err("fails once".into())
        } else {
            Ok(())
        }
    })
    .retry_after(Duration::ZERO)
    .on_message_received(|_| panic!("on_message_received"))
    .on_message_processed(|_| panic!("on_message_processed"))
    .on_processing_error(|_, _| panic!("on_processing_error"))
    .on_stopped(|_| panic!("on_stopped"))
    .stop_when(move || watch.deleted() == 3)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(
        (summary.handled, summary.deleted, summary.failed),
        (3, 3, 1)
    );
}

/// Behaviour 7: A stop condition that panics stops the consumer.
#[test]
fn a_panicking_stop_condition_stops_the_consumer() {
    let queue = MemoryQueue::new();
    let backend = RecordingBackend::new();
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .stop_when(|| panic!("stop condition"))
        .build()
        .unwrap();
    let summary = run_within(consumer).unwrap();
    assert_eq!(summary.received, 0);
}

/// Behaviour 8: After `max_processing_time` a message is no longer extended: SQS delivers it again.
#[test]
fn past_max_processing_time_a_message_is_no_longer_extended() {
    let queue = MemoryQueue::new();
    let id = queue.send("stuck");
    let backend = RecordingBackend::new();
    let (inside, watch) = (queue.clone(), queue.clone());
    let consumer = builder(&queue, &backend, move |m| {
        if m.receive_count() == Some(1) {
            // Stuck until SQS delivered it again.
            let id = m.id().to_owned();
            inside.wait_until(DEADLINE, |q| q.deliveries(&id) >= 2);
        }
        Ok(())
    })
    .handlers(2)
    .visibility_timeout(ms(1000))
    .heartbeat_after(ms(200))
    .max_processing_time(ms(1500))
    .stop_when(move || watch.deleted() == 1)
    .build()
    .unwrap();
    let started = Instant::now();

    let summary = run_within(consumer).unwrap();

    assert_eq!(queue.deliveries(&id), 2);
    let last_extension = queue
        .visibility_changes()
        .iter()
        .filter(|c| c.message_id == id)
        .map(|c| c.at)
        .max()
        .unwrap();
    // The last extension was decided before 1.5 s (sent by then, give or take a loaded
    // machine); none came after: SQS delivered the message again.
    assert!(
        last_extension < started + ms(2500),
        "extended {:?} after the receive",
        last_extension - started
    );
    assert!(summary.handled >= 1, "{summary}");
}

/// Behaviour 9: FIFO: one group's messages run one at a time in order; groups run in parallel; a
/// failure sends the rest of its group back unrun, so nothing overtakes it.
#[test]
fn a_fifo_group_keeps_its_order_while_groups_run_in_parallel() {
    let queue = MemoryQueue::fifo();
    for group in ["a", "b", "c"] {
        for seq in 0..5 {
            queue.send_to_group(format!("{group}{seq}"), group, None);
        }
    }
    let backend = RecordingBackend::new();
    let done_in_order = Arc::new(Mutex::new(HashMap::<String, Vec<u32>>::new()));
    let started = Arc::new(Mutex::new(Vec::<String>::new()));
    let running: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let first_two = Arc::new(AtomicUsize::new(0));
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let (done, starts, now_running, firsts, bad, watch) = (
        done_in_order.clone(),
        started.clone(),
        running.clone(),
        first_two.clone(),
        violations.clone(),
        queue.clone(),
    );
    let consumer = builder(&queue, &backend, move |m| {
        let group = m.attribute("MessageGroupId").unwrap().to_owned();
        let seq: u32 = m.body()[1..].parse().unwrap();
        starts.lock().unwrap().push(m.body().to_owned());
        {
            let mut running = now_running.lock().unwrap();
            let n = running.entry(group.clone()).or_default();
            *n += 1;
            if *n > 1 {
                bad.lock()
                    .unwrap()
                    .push(format!("{group} ran twice at once"));
            }
        }
        let expected = done.lock().unwrap().get(&group).map_or(0, Vec::len) as u32;
        if seq != expected {
            bad.lock()
                .unwrap()
                .push(format!("{} started before {group}{expected}", m.body()));
        }
        if m.body() == "a1" {
            // a1 runs until another group's message starts: groups run in parallel (the
            // first receive brought a0..a2 only: SQS fills a receive from one group).
            let deadline = Instant::now() + DEADLINE;
            while Instant::now() < deadline {
                if starts.lock().unwrap().iter().any(|b| !b.starts_with('a')) {
                    firsts.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(ms(5));
            }
        }
        *now_running.lock().unwrap().get_mut(&group).unwrap() -= 1;
        if m.body() == "a2" && m.receive_count() == Some(1) {
            return Err("a2 fails once".into());
        }
        done.lock().unwrap().entry(group).or_default().push(seq);
        Ok(())
    })
    .handlers(3)
    .retry_after(ms(100))
    .stop_when(move || watch.deleted() == 15)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(*violations.lock().unwrap(), Vec::<String>::new());
    assert_eq!(
        first_two.load(Ordering::SeqCst),
        1,
        "no other group ran beside a1"
    );
    for group in ["a", "b", "c"] {
        assert_eq!(
            done_in_order.lock().unwrap()[group],
            [0, 1, 2, 3, 4],
            "{group}"
        );
    }
    let started = started.lock().unwrap();
    let a2 = started.iter().position(|b| b == "a2").unwrap();
    let a2_again = started.iter().rposition(|b| b == "a2").unwrap();
    assert!(a2_again > a2, "a2 ran again");
    assert!(
        !started[a2..a2_again].iter().any(|b| b == "a3" || b == "a4"),
        "a later message of group a ran before a2 succeeded: {started:?}"
    );
    assert_eq!(
        (summary.handled, summary.failed, summary.deleted),
        (15, 1, 15)
    );
}

/// Behaviour 10: Access denied on receive pauses with back-off and the consumer goes on.
#[test]
fn access_denied_on_receive_pauses_and_retries() {
    let queue = MemoryQueue::new();
    let id = queue.send("x");
    for _ in 0..3 {
        queue.fail_next(QueueOperation::Receive, || {
            queue_error("ReceiveMessage", "AccessDenied")
        });
    }
    let backend = RecordingBackend::new();
    let watch = queue.clone();
    let received_at = Arc::new(Mutex::new(None));
    let (at, errors) = (received_at.clone(), Arc::new(AtomicUsize::new(0)));
    let count = errors.clone();
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .error_backoff(ms(100))
        .on_message_received(move |_| *at.lock().unwrap() = Some(Instant::now()))
        .on_error(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .stop_when(move || watch.deleted() == 1)
        .build()
        .unwrap();
    let started = Instant::now();

    let summary = run_within(consumer).unwrap();

    // Back-off 100 + 200 + 400 ms before the fourth receive.
    let waited = received_at.lock().unwrap().unwrap() - started;
    assert!(waited >= ms(700), "received after {waited:?}");
    assert_eq!(errors.load(Ordering::SeqCst), 3);
    assert_eq!((summary.handled, queue.deletes(&id)), (1, 1));
}

/// Behaviour 10: Ending on access denied is an option.
#[test]
fn access_denied_can_end_the_consumer() {
    let queue = MemoryQueue::new();
    queue.fail_next(QueueOperation::Receive, || {
        queue_error("ReceiveMessage", "AccessDenied")
    });
    let backend = RecordingBackend::new();
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .end_on_access_denied(true)
        .build()
        .unwrap();
    let err = run_within(consumer).unwrap_err();
    assert_eq!(err.as_api().unwrap().code, "AccessDenied");
}

/// Behaviour 11: The retry delay grows with the receive count; a handler's `RetryAfter` wins.
#[test]
fn retry_delays_grow_with_the_receive_count_and_the_handler_may_choose() {
    let queue = MemoryQueue::new();
    let backed_off = queue.send("backoff");
    let chosen = queue.send("chosen");
    let backend = RecordingBackend::new();
    let watch = queue.clone();
    let consumer = ConsumerBuilder::with_queue(queue.clone(), |m: &Message| {
        match (m.body(), m.receive_count()) {
            ("backoff", Some(n)) if n <= 3 => Err(format!("try {n} fails").into()),
            ("chosen", Some(1)) => Err(RetryAfter::new(ms(70), "try later").into()),
            _ => Ok::<(), ecs_protect::sqs::HandlerError>(()),
        }
    })
    .protector(Protector::with_backend(backend.clone()))
    .wait_time(ms(20))
    .delete_interval(ms(10))
    .retry_backoff(ms(20), ms(60))
    .stop_when(move || watch.deleted() == 2)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    let delays = |id: &str| -> Vec<Duration> {
        queue
            .visibility_changes()
            .iter()
            .filter(|c| c.message_id == id)
            .map(|c| c.timeout)
            .collect()
    };
    assert_eq!(delays(&backed_off), [ms(20), ms(40), ms(60)]);
    assert_eq!(delays(&chosen), [ms(70)]);
    assert_eq!((summary.failed, summary.handled), (4, 2));
}

/// Behaviour 4: handlers waiting out a breathing window count as busy: nothing more is
/// received meanwhile.
#[test]
fn handlers_waiting_out_a_breathing_window_count_as_busy() {
    let queue = MemoryQueue::new();
    for i in 0..60 {
        queue.send(i.to_string());
    }
    let backend = RecordingBackend::new();
    let protector = Protector::with_config(
        Config::builder()
            .max_hold(ms(200))
            .window(ms(400))
            .build()
            .unwrap(),
        backend.clone(),
    );
    let watch = queue.clone();
    let consumer = builder(&queue, &backend, |_| {
        std::thread::sleep(ms(20)); // the work
        Ok(())
    })
    .protector(protector.clone())
    .handlers(3)
    .stop_when(move || watch.deleted() == 60)
    .build()
    .unwrap();
    let started = Instant::now();

    let summary = run_within(consumer).unwrap();

    // 60 × 20 ms on 3 threads is 400 ms of work: a window opened after 200 ms and the
    // handlers waited it out (400 ms) holding their messages.
    assert!(protector.stats().windows >= 1, "no breathing window opened");
    assert!(started.elapsed() >= ms(800), "{:?}", started.elapsed());
    assert_eq!(summary.max_held, 3, "{summary}");
    assert_eq!((summary.handled, summary.deleted), (60, 60));
}

/// Behaviour 2: a consumer runs again after it stopped, on the same protector.
#[test]
fn a_consumer_runs_again_after_it_stopped() {
    let queue = MemoryQueue::new();
    let backend = RecordingBackend::new();
    let protector = Protector::with_backend(backend.clone());
    let target = Arc::new(AtomicUsize::new(1));
    let (watch, goal) = (queue.clone(), target.clone());
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .protector(protector.clone())
        .failure_policy(FailurePolicy::Require)
        .stop_when(move || watch.deleted() >= goal.load(Ordering::SeqCst))
        .build()
        .unwrap();
    queue.send("first");
    assert_eq!(consumer.run().unwrap().handled, 1);
    target.store(2, Ordering::SeqCst);
    queue.send("second");
    let again = consumer.run().unwrap();
    assert_eq!((again.handled, again.refused), (1, 0), "{again}");
    assert!(!protector.is_shutting_down());
}
