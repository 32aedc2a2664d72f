//! The SQS consumer against the in-memory queue and the recording backend.
//!
//! Every wait is a condition with a deadline: the consumer runs on its own thread and
//! its result is awaited with `recv_timeout`; queue states are awaited with
//! `MemoryQueue::wait_until`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecs_protect::mock::{MemoryQueue, QueueOperation, RecordingBackend};
use ecs_protect::sqs::{Consumer, ConsumerBuilder};
use ecs_protect::{ApiError, Config, Error, FailurePolicy, Protector};
use ecs_protect_tests::consumer::{builder, run_within, spawn};
use ecs_protect_tests::errors::{queue_transport_error, transport_error};
use ecs_protect_tests::{DEADLINE, ms};

#[test]
fn every_message_is_handled_under_protection_and_deleted_once() {
    let queue = MemoryQueue::new();
    let ids: Vec<String> = (0..50).map(|i| queue.send(format!("body {i}"))).collect();
    let backend = RecordingBackend::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (record, probe, watch, inside) =
        (seen.clone(), backend.clone(), queue.clone(), queue.clone());
    let consumer = builder(&queue, &backend, move |m| {
        let protected = probe.protected_at(Instant::now());
        assert_eq!(inside.deletes(m.id()), 0, "deleted before its handler ran");
        record
            .lock()
            .unwrap()
            .push((m.id().to_owned(), m.body().to_owned(), protected));
        Ok(())
    })
    .handlers(4)
    .stop_when(move || watch.deleted() == 50)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(
        (summary.received, summary.handled, summary.deleted),
        (50, 50, 50)
    );
    assert_eq!(
        (summary.failed, summary.returned, summary.refused),
        (0, 0, 0)
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 50, "each message handled exactly once");
    assert!(
        seen.iter().all(|(_, _, protected)| *protected),
        "a handler ran unprotected"
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(queue.deliveries(id), 1, "{id}");
        assert_eq!(queue.deletes(id), 1, "{id}");
        assert!(
            seen.iter()
                .any(|(s, body, _)| s == id && *body == format!("body {i}"))
        );
    }
    assert!(queue.is_empty());
}

#[test]
fn failed_messages_are_made_visible_again_and_retried() {
    let queue = MemoryQueue::new();
    let ids: Vec<String> = (0..10).map(|i| queue.send(i.to_string())).collect();
    let backend = RecordingBackend::new();
    let errors = Arc::new(AtomicUsize::new(0));
    let (count, watch) = (errors.clone(), queue.clone());
    let consumer = builder(&queue, &backend, |m| {
        let even = m.body().parse::<u32>().unwrap() % 2 == 0;
        if even && m.receive_count() == Some(1) {
            return Err(format!("first try of {} fails", m.body()));
        }
        Ok(())
    })
    .handlers(3)
    .retry_after(Duration::ZERO)
    .on_processing_error(move |_, err| {
        assert!(err.to_string().starts_with("first try of"), "{err}");
        count.fetch_add(1, Ordering::SeqCst);
    })
    .stop_when(move || watch.deleted() == 10)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(
        (summary.received, summary.handled, summary.failed),
        (15, 10, 5)
    );
    assert_eq!(summary.deleted, 10);
    assert_eq!(errors.load(Ordering::SeqCst), 5);
    let changes = queue.visibility_changes();
    for (i, id) in ids.iter().enumerate() {
        let expected = if i % 2 == 0 { 2 } else { 1 };
        assert_eq!(queue.deliveries(id), expected, "{id}");
        assert_eq!(queue.deletes(id), 1, "{id}");
        let made_visible = changes
            .iter()
            .any(|c| c.message_id == *id && c.timeout.is_zero());
        assert_eq!(made_visible, i % 2 == 0, "{id}");
    }
}

#[test]
fn without_retry_after_a_failed_message_returns_when_its_visibility_ends() {
    let queue = MemoryQueue::new();
    let id = queue.send("x");
    let backend = RecordingBackend::new();
    let watch = queue.clone();
    let consumer = builder(&queue, &backend, |m| match m.receive_count() {
        Some(1) => Err("fails once".to_owned()),
        _ => Ok(()),
    })
    .handlers(1)
    .visibility_timeout(ms(200))
    .heartbeat_after(ms(150))
    .stop_when(move || watch.deleted() == 1)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(
        (summary.failed, summary.handled, summary.deleted),
        (1, 1, 1)
    );
    assert_eq!(queue.deliveries(&id), 2);
    assert!(
        queue
            .visibility_changes()
            .iter()
            .all(|c| !c.timeout.is_zero()),
        "the failed message was left for its visibility timeout"
    );
}

#[test]
fn a_long_handler_keeps_its_message_hidden_by_heartbeat() {
    // The handler runs for 2.5 visibility timeouts while a second handler thread stands
    // ready to take the message should it become visible. Heartbeats come every 200 ms of
    // a 1 s timeout: each may be up to 800 ms late without consequence.
    let queue = MemoryQueue::new();
    let id = queue.send("slow");
    let backend = RecordingBackend::new();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now_running, peak, watch) = (running.clone(), most.clone(), queue.clone());
    let consumer = builder(&queue, &backend, move |_| {
        let at_once = now_running.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(at_once, Ordering::SeqCst);
        std::thread::sleep(ms(2500)); // the work: longer than the visibility timeout
        now_running.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    })
    .handlers(2)
    .visibility_timeout(ms(1000))
    .heartbeat_after(ms(200))
    .stop_when(move || watch.deleted() == 1)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(
        (summary.handled, summary.deleted, summary.failed),
        (1, 1, 0)
    );
    assert!(summary.extended >= 2, "{summary}");
    assert_eq!(most.load(Ordering::SeqCst), 1, "handled twice at once");
    assert_eq!(
        queue.deliveries(&id),
        1,
        "redelivered while its handler ran"
    );
    assert!(
        queue
            .visibility_changes()
            .iter()
            .all(|c| c.message_id == id && c.timeout == ms(1000))
    );
}

#[test]
fn stop_returns_unstarted_messages_at_once_and_lets_handlers_finish() {
    // Three messages of one FIFO group: one runs, two wait behind it.
    let queue = MemoryQueue::fifo();
    for i in 0..3 {
        queue.send_to_group(i.to_string(), "g", None);
    }
    let backend = RecordingBackend::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel::<(String, bool)>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let release_rx = Mutex::new(release_rx);
    let (flag, probe) = (stop.clone(), backend.clone());
    let consumer = builder(&queue, &backend, move |m| {
        let protected = probe.protected_at(Instant::now());
        let _ = started_tx
            .lock()
            .unwrap()
            .send((m.id().to_owned(), protected));
        release_rx
            .lock()
            .unwrap()
            .recv_timeout(DEADLINE)
            .map_err(|_| "never released".to_owned())
    })
    .handlers(3)
    .stop_when(move || flag.load(Ordering::SeqCst))
    .build()
    .unwrap();
    let result = spawn(consumer);

    let first = started_rx.recv_timeout(DEADLINE).unwrap();
    assert!(first.1, "a handler ran unprotected");
    assert_eq!(queue.in_flight(), 3);
    let receives_before_stop = queue.calls(QueueOperation::Receive);
    stop.store(true, Ordering::SeqCst);

    // The two unstarted messages come back while the handler is still running.
    assert!(queue.wait_until(DEADLINE, |q| q.visible() == 2));
    assert!(
        result.try_recv().is_err(),
        "run returned before its handler finished"
    );
    assert_eq!(queue.deleted(), 0);

    release_tx.send(()).unwrap();
    let summary = result.recv_timeout(DEADLINE).unwrap().unwrap();

    assert_eq!(
        (summary.received, summary.handled, summary.deleted),
        (3, 1, 1)
    );
    assert_eq!((summary.returned, summary.failed), (2, 0));
    assert_eq!(queue.calls(QueueOperation::Receive), receives_before_stop);
    assert_eq!(
        (queue.deleted(), queue.visible(), queue.in_flight()),
        (1, 2, 0)
    );
    assert_eq!(queue.deletes(&first.0), 1);
    assert!(
        started_rx.try_recv().is_err(),
        "a message started after stop"
    );
    let returns: Vec<_> = queue.visibility_changes();
    assert_eq!(returns.len(), 2);
    assert!(
        returns
            .iter()
            .all(|c| c.timeout.is_zero() && c.message_id != first.0)
    );
}

#[test]
fn a_message_refused_protection_is_returned_unhandled() {
    let queue = MemoryQueue::new();
    let id = queue.send("x");
    let backend = RecordingBackend::new();
    backend.fail_next(transport_error);
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (record, watch) = (handled.clone(), queue.clone());
    let consumer = builder(&queue, &backend, move |m| {
        record.lock().unwrap().push(m.receive_count());
        Ok(())
    })
    // Ask ECS again at once on redelivery instead of remembering the failure for 5 s.
    .protector(Protector::with_config(
        Config::builder()
            .retry_after(Duration::ZERO)
            .build()
            .unwrap(),
        backend.clone(),
    ))
    .handlers(1)
    .failure_policy(FailurePolicy::Require)
    .stop_when(move || watch.deleted() == 1)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(
        *handled.lock().unwrap(),
        [Some(2)],
        "handled only once protected"
    );
    assert_eq!(
        (summary.refused, summary.returned, summary.handled),
        (1, 1, 1)
    );
    assert_eq!(queue.deliveries(&id), 2);
    // The protector remembers nothing (retry_after 0): the message is hidden for the
    // consumer's error_backoff (10 ms here), never returned in a loop.
    assert_eq!(queue.visibility_changes()[0].timeout, ms(10));
}

#[test]
fn hooks_see_every_event_and_receive_errors_are_retried() {
    let queue = MemoryQueue::new();
    for i in 0..5 {
        queue.send(i.to_string());
    }
    queue.fail_next(QueueOperation::Receive, queue_transport_error);
    let backend = RecordingBackend::new();
    let events = Arc::new(Mutex::new(HashMap::<&'static str, usize>::new()));
    let count = |events: &Arc<Mutex<HashMap<&'static str, usize>>>, name: &'static str| {
        *events.lock().unwrap().entry(name).or_default() += 1;
    };
    let stopped = Arc::new(Mutex::new(None));
    let (e1, e2, e3, e4, last, watch) = (
        events.clone(),
        events.clone(),
        events.clone(),
        events.clone(),
        stopped.clone(),
        queue.clone(),
    );
    let consumer = builder(&queue, &backend, |m| {
        if m.body() == "3" && m.receive_count() == Some(1) {
            Err("three".to_owned())
        } else {
            Ok(())
        }
    })
    .retry_after(Duration::ZERO)
    .on_message_received(move |_| count(&e1, "received"))
    .on_message_processed(move |_| count(&e2, "processed"))
    .on_processing_error(move |_, _| count(&e3, "processing error"))
    .on_error(move |err| {
        assert!(err.to_string().contains("timed out"), "{err}");
        count(&e4, "error");
    })
    .on_stopped(move |summary| *last.lock().unwrap() = Some(*summary))
    .stop_when(move || watch.deleted() == 5)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    let events = events.lock().unwrap();
    assert_eq!(events.get("received"), Some(&6));
    assert_eq!(events.get("processed"), Some(&5));
    assert_eq!(events.get("processing error"), Some(&1));
    assert_eq!(events.get("error"), Some(&1));
    assert_eq!(*stopped.lock().unwrap(), Some(summary));
}

#[test]
fn a_permanent_receive_error_stops_the_consumer() {
    let queue = MemoryQueue::new();
    queue.fail_next(QueueOperation::Receive, || {
        Error::from(ApiError {
            operation: "ReceiveMessage".into(),
            endpoint: "memory://queue".into(),
            status: 400,
            code: "QueueDoesNotExist".into(),
            message: Some("The specified queue does not exist.".into()),
            request_id: None,
        })
    });
    let backend = RecordingBackend::new();
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .on_stopped(move |_| flag.store(true, Ordering::SeqCst))
        .build()
        .unwrap();

    let err = run_within(consumer).unwrap_err();

    assert_eq!(err.as_api().unwrap().code, "QueueDoesNotExist");
    assert!(stopped.load(Ordering::SeqCst));
    assert_eq!(queue.calls(QueueOperation::Receive), 1);
}

#[test]
fn a_panicking_handler_counts_as_a_failure() {
    let queue = MemoryQueue::new();
    let id = queue.send("boom");
    let backend = RecordingBackend::new();
    let message = Arc::new(Mutex::new(String::new()));
    let (seen, watch) = (message.clone(), queue.clone());
    let consumer = builder(&queue, &backend, |m| {
        if m.receive_count() == Some(1) {
            panic!("boom");
        }
        Ok(())
    })
    .handlers(1)
    .retry_after(Duration::ZERO)
    .on_processing_error(move |_, err| *seen.lock().unwrap() = err.to_string())
    .stop_when(move || watch.deleted() == 1)
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!(
        (summary.failed, summary.handled, summary.deleted),
        (1, 1, 1)
    );
    assert_eq!(*message.lock().unwrap(), "handler panicked: boom");
    assert_eq!(queue.deliveries(&id), 2);
}

#[test]
fn failed_deletions_are_retried() {
    let queue = MemoryQueue::new();
    let ids: Vec<String> = (0..3).map(|i| queue.send(i.to_string())).collect();
    queue.fail_next(QueueOperation::DeleteBatch, queue_transport_error);
    queue.fail_next_entry(QueueOperation::DeleteBatch, "InternalError", false);
    let backend = RecordingBackend::new();
    let errors = Arc::new(AtomicUsize::new(0));
    let (count, watch) = (errors.clone(), queue.clone());
    let consumer = builder(&queue, &backend, |_| Ok(()))
        .handlers(1)
        .on_error(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .stop_when(move || watch.deleted() == 3)
        .build()
        .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!((summary.handled, summary.deleted), (3, 3));
    assert!(queue.calls(QueueOperation::DeleteBatch) >= 3);
    assert_eq!(
        errors.load(Ordering::SeqCst),
        1,
        "the failed call is reported"
    );
    for id in &ids {
        assert_eq!((queue.deliveries(id), queue.deletes(id)), (1, 1), "{id}");
    }
}

#[test]
fn deletions_are_batched_and_flushed_on_stop() {
    let queue = MemoryQueue::new();
    for i in 0..25 {
        queue.send(i.to_string());
    }
    let backend = RecordingBackend::new();
    // Counted once the consumer owes the delete (the hook runs after it is recorded), so
    // that the stop sees all 25 owed: 10 + 10 go when a batch is full, the rest on stop.
    let processed = Arc::new(AtomicUsize::new(0));
    let (count, watch) = (processed.clone(), processed.clone());
    let consumer = builder(&queue, &backend, |_| Ok::<(), String>(()))
        .handlers(4)
        .delete_interval(Duration::from_secs(60))
        .on_message_processed(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .stop_when(move || watch.load(Ordering::SeqCst) == 25)
        .build()
        .unwrap();

    let summary = run_within(consumer).unwrap();

    assert_eq!((summary.handled, summary.deleted), (25, 25));
    assert_eq!(
        queue.calls(QueueOperation::DeleteBatch),
        3,
        "10 + 10 on size, 5 on stop"
    );
    assert!(queue.is_empty());
}

#[test]
fn invalid_settings_name_their_setter() {
    let queue = MemoryQueue::new();
    type Set = fn(ConsumerBuilder) -> ConsumerBuilder;
    let cases: Vec<(&str, Set)> = vec![
        ("handlers", |b| b.handlers(0)),
        ("batch_size", |b| b.batch_size(11)),
        ("wait_time", |b| b.wait_time(Duration::from_secs(21))),
        ("visibility_timeout", |b| {
            b.visibility_timeout(Duration::ZERO)
        }),
        ("heartbeat_after", |b| {
            b.visibility_timeout(ms(100)).heartbeat_after(ms(100))
        }),
        ("retry_after", |b| {
            b.retry_after(Duration::from_secs(13 * 3600))
        }),
        ("delete_batch_size", |b| b.delete_batch_size(0)),
        ("delete_interval", |b| {
            b.delete_interval(Duration::from_secs(61))
        }),
        ("error_backoff", |b| b.error_backoff(Duration::ZERO)),
        ("max_processing_time", |b| {
            b.visibility_timeout(Duration::from_secs(60))
                .max_processing_time(Duration::from_secs(60))
        }),
        ("max_processing_time", |b| {
            b.max_processing_time(Duration::from_secs(13 * 3600))
        }),
        ("retry_backoff", |b| {
            b.retry_backoff(Duration::from_secs(10), Duration::from_secs(1))
        }),
        ("retry_backoff", |b| {
            b.retry_backoff(Duration::from_secs(1), Duration::from_secs(13 * 3600))
        }),
    ];
    for (setter, set) in cases {
        let builder = ConsumerBuilder::with_queue(queue.clone(), |_| Ok::<(), String>(()));
        let err = set(builder).build().unwrap_err();
        let expected = format!("ConsumerBuilder::{setter}");
        assert!(
            matches!(&err, Error::Config { origin, .. } if *origin == expected),
            "{setter}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("invalid {expected}: expected")),
            "{err}"
        );
    }
}

#[test]
fn a_queue_url_without_a_region_is_a_config_error() {
    let err = Consumer::builder("http://127.0.0.1:9324/000000000000/jobs", |_| {
        Ok::<(), String>(())
    })
    .env(ecs_protect::Env::from_vars([("HOME", "/root")]))
    .build()
    .unwrap_err();
    assert!(
        matches!(&err, Error::Config { origin, .. } if origin == "AWS_REGION"),
        "{err}"
    );
}

#[test]
fn after_shutdown_a_message_goes_back_instead_of_running_unprotected() {
    let queue = MemoryQueue::new();
    queue.send("x");
    let backend = RecordingBackend::new();
    let protector = Protector::with_backend(backend.clone());
    let stop_protector = protector.clone();
    let ran = Arc::new(AtomicBool::new(false));
    let record = Arc::clone(&ran);
    // The protector sees SIGTERM as the message is received; the consumer's own stop
    // condition never holds.
    let consumer = builder(&queue, &backend, move |_| {
        record.store(true, Ordering::SeqCst);
        Ok(())
    })
    .protector(protector)
    .failure_policy(FailurePolicy::Proceed)
    .handlers(1)
    .on_message_received(move |_| stop_protector.request_shutdown())
    .build()
    .unwrap();

    let summary = run_within(consumer).unwrap();

    assert!(
        !ran.load(Ordering::SeqCst),
        "the handler ran unprotected after shutdown"
    );
    assert_eq!((summary.received, summary.returned), (1, 1), "{summary:?}");
    assert_eq!(
        (queue.deleted(), queue.visible()),
        (0, 1),
        "the message is back in the queue"
    );
    assert_eq!(
        backend.enable_calls(),
        0,
        "no protection is asked for after shutdown"
    );
}
