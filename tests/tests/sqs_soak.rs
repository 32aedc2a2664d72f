//! A randomized soak of the SQS consumer against the in-memory queue with queue faults:
//! slow and failing receives, failing and slow deletes and visibility changes, receipts
//! SQS calls invalid, handlers that fail or panic, and stops and restarts mid-run.
//!
//! The seed is printed; replay a run with `SQS_SOAK_SEED=<seed>`; soak longer with
//! `SQS_SOAK_ROUNDS=<n>` (default 4). Rounds draw a prefetch (often none), a batch wait,
//! and sometimes a `max_processing_time` that a slow handler overruns, so that SQS delivers
//! a message again while it runs. Invariants, checked as each handler starts and at the end
//! of each run and round:
//! - no message is handled by two threads at once (a redelivery of a running message is
//!   held, not run);
//! - none is lost: every message is handled successfully and deleted in the end;
//! - at most `handlers + prefetch` messages are held at once (the summary's `max_held`);
//! - on a FIFO queue, a message starts only after every earlier message of its group
//!   succeeded;
//! - at stop, the messages received and never started are given back at once: none is
//!   still in flight when `run` returns (checked in runs during which no visibility change
//!   was made to fail).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecs_protect::Protector;
use ecs_protect::mock::{MemoryQueue, QueueOperation, RecordingBackend};
use ecs_protect::sqs::ConsumerBuilder;
use ecs_protect_tests::errors::queue_transport_error;
use ecs_protect_tests::rng::{Rng, clock_seed, seed_from_env};

/// What the handlers saw, shared with the checks.
#[derive(Default)]
struct Seen {
    running: HashSet<String>,
    /// Message ids handled successfully.
    succeeded: HashSet<String>,
    violations: Vec<String>,
}

#[test]
fn the_consumer_keeps_its_invariants_under_random_queue_faults() {
    let mut rng = Rng::new(seed_from_env("sqs soak", "SQS_SOAK_SEED", clock_seed));
    let rounds: u32 = std::env::var("SQS_SOAK_ROUNDS").map_or(4, |n| n.parse().expect("a number"));
    for round in 0..rounds {
        let fifo = round % 2 == 1;
        soak_round(&mut rng, round, fifo);
    }
}

fn soak_round(rng: &mut Rng, round: u32, fifo: bool) {
    let queue = if fifo {
        MemoryQueue::fifo()
    } else {
        MemoryQueue::new()
    };
    let messages = 15 + rng.below(20) as usize;
    let groups = 1 + rng.below(5);
    // Sequence numbers by message id: (group, position in its group).
    let mut order: HashMap<String, (String, usize)> = HashMap::new();
    let mut per_group: HashMap<String, Vec<String>> = HashMap::new();
    for i in 0..messages {
        if fifo {
            let group = format!("g{}", rng.below(groups));
            let id = queue.send_to_group(format!("{round}-{i}"), &group, None);
            let list = per_group.entry(group.clone()).or_default();
            order.insert(id.clone(), (group, list.len()));
            list.push(id);
        } else {
            queue.send(format!("{round}-{i}"));
        }
    }
    let handlers = 1 + rng.below(6) as usize;
    let batch = 1 + rng.below(10) as usize;
    let visibility = Duration::from_millis(1500 + rng.below(1000));
    let prefetch = if rng.chance(50) {
        0
    } else {
        1 + rng.below(4) as usize
    };
    let batch_wait = Duration::from_millis(rng.below(150));
    // Sometimes a handler overruns max_processing_time: SQS delivers its message again.
    let overrun = rng.chance(50);
    let max_processing = if overrun {
        visibility + Duration::from_millis(300)
    } else {
        Duration::from_secs(3600)
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let backend = RecordingBackend::new();
    let protector = Protector::with_backend(backend.clone());
    println!(
        "round {round}: {} queue, {messages} messages, {groups} groups, {handlers} handlers, \
         batch {batch}, visibility {visibility:?}, prefetch {prefetch}, batch wait \
         {batch_wait:?}, overruns {overrun}",
        if fifo { "FIFO" } else { "standard" }
    );

    // Faults, injected from another thread every 50 ms, each kind only once the previous
    // one of its operation was consumed by a call (faults never pile up).
    let chaos_done = Arc::new(AtomicBool::new(false));
    // Visibility-change faults: how many were injected, and the call count each waits for.
    let change_faults = Arc::new(Mutex::new((0u64, None::<usize>)));
    // Set for some runs: no visibility change is made to fail meanwhile.
    let quiet = Arc::new(AtomicBool::new(false));
    let chaos = {
        let (queue, done, mut rng) = (queue.clone(), chaos_done.clone(), rng.clone());
        let (change_faults, quiet) = (change_faults.clone(), quiet.clone());
        std::thread::spawn(move || {
            let mut armed_at: HashMap<QueueOperation, usize> = HashMap::new();
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                let op = match rng.below(3) {
                    0 => QueueOperation::Receive,
                    1 => QueueOperation::DeleteBatch,
                    _ => QueueOperation::ChangeVisibilityBatch,
                };
                if op == QueueOperation::ChangeVisibilityBatch && quiet.load(Ordering::SeqCst) {
                    continue;
                }
                let calls = queue.calls(op);
                if armed_at.get(&op).is_some_and(|&at| calls <= at) {
                    continue; // the last fault of this operation is still pending
                }
                armed_at.insert(op, calls);
                let kind = rng.below(4);
                if op == QueueOperation::ChangeVisibilityBatch && kind <= 2 {
                    let mut faults = change_faults.lock().unwrap();
                    *faults = (faults.0 + 1, Some(calls));
                }
                match kind {
                    0 => queue.delay_next(op, Duration::from_millis(rng.below(300))),
                    1 => queue.fail_next(op, queue_transport_error),
                    2 if op == QueueOperation::DeleteBatch => {
                        queue.fail_next_entry(op, "ReceiptHandleIsInvalid", true);
                    }
                    2 if op == QueueOperation::ChangeVisibilityBatch => {
                        queue.fail_next_entry(op, "InternalError", false);
                    }
                    _ => {
                        armed_at.remove(&op);
                    }
                }
            }
        })
    };
    rng.next(); // the chaos thread has its own copy; move on from it

    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut runs, mut calm_runs) = (0, 0);
    while !queue.is_empty() {
        if Instant::now() >= deadline {
            for id in queue.in_flight_ids() {
                let changes: Vec<_> = queue
                    .visibility_changes()
                    .into_iter()
                    .filter(|c| c.message_id == id)
                    .map(|c| (c.timeout, c.at.elapsed()))
                    .collect();
                println!(
                    "{id}: {} deliveries, {} deletes, changes (timeout, ago): {changes:?}",
                    queue.deliveries(&id),
                    queue.deletes(&id)
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "round {round}: {} messages left after 120 s ({} visible, in flight: {:?})",
            queue.len(),
            queue.visible(),
            queue.in_flight_ids()
        );
        runs += 1;
        // Each run stops at a random point, or once everything is deleted.
        let stop_after = Duration::from_millis(300 + rng.below(3000));
        let started = Instant::now();
        let (watch, inside, order) = (queue.clone(), seen.clone(), order.clone());
        let per_group = per_group.clone();
        let handler_rng = Arc::new(Mutex::new(rng.split()));
        let received = Arc::new(Mutex::new(HashSet::<String>::new()));
        let started_ids = Arc::new(Mutex::new(HashSet::<String>::new()));
        let (on_received, on_started) = (received.clone(), started_ids.clone());
        // Whether a visibility-change fault may act during this run: one pending now, or
        // one injected before it ends.
        quiet.store(rng.chance(40), Ordering::SeqCst);
        let faults_before = *change_faults.lock().unwrap();
        let pending_before = faults_before
            .1
            .is_some_and(|at| queue.calls(QueueOperation::ChangeVisibilityBatch) <= at);
        let consumer = ConsumerBuilder::with_queue(queue.clone(), move |m| {
            let id = m.id().to_owned();
            on_started.lock().unwrap().insert(id.clone());
            {
                let mut seen = inside.lock().unwrap();
                if !seen.running.insert(id.clone()) {
                    seen.violations.push(format!("{id} handled twice at once"));
                }
                if let Some((group, position)) = order.get(&id) {
                    for earlier in &per_group[group][..*position] {
                        if !seen.succeeded.contains(earlier) {
                            seen.violations
                                .push(format!("{id} of {group} started before {earlier}"));
                        }
                    }
                }
            }
            let (work, outcome) = {
                let mut rng = handler_rng.lock().unwrap();
                let slow = overrun && rng.chance(5);
                // With a prefetch, longer work keeps messages waiting (given back at stop).
                let work = if slow {
                    2000 + rng.below(1500)
                } else if prefetch > 0 {
                    rng.below(120)
                } else {
                    rng.below(30)
                };
                (work, rng.below(100))
            };
            std::thread::sleep(Duration::from_millis(work));
            let mut seen = inside.lock().unwrap();
            seen.running.remove(&id);
            match outcome {
                0..=7 => Err(format!("{id} fails")),
                8 => {
                    drop(seen);
                    panic!("{id} panics")
                }
                _ => {
                    seen.succeeded.insert(id);
                    Ok(())
                }
            }
        })
        .protector(protector.clone())
        .handlers(handlers)
        .prefetch(prefetch)
        .batch_wait(batch_wait)
        .max_processing_time(max_processing)
        .on_message_received(move |m| {
            on_received.lock().unwrap().insert(m.id().to_owned());
        })
        .batch_size(batch)
        .wait_time(Duration::from_millis(50))
        .visibility_timeout(visibility)
        .heartbeat_after(visibility / 4)
        .retry_after(Duration::from_millis(rng.below(200)))
        .delete_interval(Duration::from_millis(rng.below(50)))
        .error_backoff(Duration::from_millis(20))
        .stop_when(move || watch.is_empty() || started.elapsed() >= stop_after)
        .build()
        .expect("valid settings");
        let summary = consumer.run().expect("no permanent error");
        assert!(
            summary.max_held <= (handlers + prefetch) as u64,
            "round {round}: {} held with {handlers} handlers and prefetch {prefetch}: {summary}",
            summary.max_held
        );
        let calm = !pending_before && change_faults.lock().unwrap().0 == faults_before.0;
        if calm {
            calm_runs += 1;
            // A receive of this run still in the air at stop gives back what it gets as it
            // ends (within its 50 ms poll): allow for it, well within the visibility.
            let started = started_ids.lock().unwrap().clone();
            let received = received.lock().unwrap().clone();
            let kept = |q: &MemoryQueue| -> Vec<String> {
                q.in_flight_ids()
                    .into_iter()
                    .filter(|id| received.contains(id) && !started.contains(id))
                    .collect()
            };
            let given_back = queue.wait_until(Duration::from_millis(500), |q| kept(q).is_empty());
            assert!(
                given_back,
                "round {round}: received, never started, still hidden after stop: {:?} ({summary})",
                kept(&queue)
            );
        }
        let violations = &seen.lock().unwrap().violations;
        assert!(violations.is_empty(), "round {round}: {violations:?}");
    }
    chaos_done.store(true, Ordering::SeqCst);
    chaos.join().unwrap();

    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(
        seen.succeeded.len(),
        messages,
        "round {round}: not every message succeeded"
    );
    assert!(queue.is_empty(), "round {round}: messages left");
    assert!(!protector.is_shutting_down());
    println!("round {round}: done in {runs} runs ({calm_runs} without visibility faults)");
}
