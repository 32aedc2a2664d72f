//! The SQS consumer over the wire: the fake AWS serves the SQS subset (checking every
//! SigV4 signature with service `sqs`) and the ECS API; every message is handled under
//! protection and deleted exactly once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecs_protect::mock::{MockAws, Operation, Outcome};
use ecs_protect::sqs::Consumer;
use ecs_protect::{Env, Protector};

#[test]
fn every_message_is_handled_protected_and_deleted_once_over_http() {
    let mock = Arc::new(MockAws::start().expect("the fake AWS starts"));
    let (url, queue) = mock.create_queue("orders");
    let ids: Vec<String> = (0..30).map(|i| queue.send(format!("order {i}"))).collect();
    let env = Env::from_vars(mock.env());
    let protector = Protector::from_env_with(&env).expect("a protector on the fake");

    let protected = Arc::new(Mutex::new(Vec::new()));
    let (seen, fake) = (Arc::clone(&protected), Arc::clone(&mock));
    let watch = queue.clone();
    let consumer = Consumer::builder(url, move |message| -> Result<(), String> {
        seen.lock()
            .unwrap()
            .push((message.body().to_owned(), fake.protected_at(Instant::now())));
        Ok(())
    })
    .env(env)
    .protector(protector.clone())
    .handlers(4)
    .wait_time(Duration::from_millis(200))
    .delete_interval(Duration::from_millis(10))
    .stop_when(move || watch.deleted() == 30)
    .build()
    .expect("a consumer");

    let summary = consumer.run().expect("the consumer runs");

    assert_eq!(
        (summary.handled, summary.deleted, summary.failed),
        (30, 30, 0)
    );
    let seen = protected.lock().unwrap();
    assert_eq!(seen.len(), 30);
    assert!(
        seen.iter().all(|(_, on)| *on),
        "a message ran unprotected: {seen:?}"
    );
    for id in &ids {
        assert_eq!(
            queue.deletes(id),
            1,
            "message {id} deleted {} times",
            queue.deletes(id)
        );
    }
    let rejected: Vec<_> = mock
        .calls()
        .into_iter()
        .filter(|c| c.outcome != Outcome::Accepted)
        .collect();
    assert!(rejected.is_empty(), "the fake rejected calls: {rejected:?}");
    assert!(
        mock.api_calls(Operation::Sqs) >= 4,
        "receives and deletes went over HTTP"
    );
    // The consumer leaves its protector running (it may be shared); the owner drains it.
    assert!(
        !protector.is_shutting_down(),
        "the consumer shut its protector down"
    );
    assert!(protector.drain(Duration::from_secs(5)).is_complete());
    assert!(
        !mock.protected_now(),
        "protection left on after the owner drained"
    );
}

#[test]
fn a_fifo_queue_over_http_keeps_each_groups_order() {
    let mock = Arc::new(MockAws::start().expect("the fake AWS starts"));
    let (url, queue) = mock.create_queue("orders.fifo");
    assert!(queue.is_fifo());
    let env = Env::from_vars(mock.env());
    for seq in 0..6 {
        for group in ["a", "b"] {
            queue.send_to_group(format!("{group}{seq}"), group, None);
        }
    }
    // A duplicate (same deduplication id) is accepted and not delivered again.
    queue.send_to_group("a0", "a", None);
    assert_eq!(queue.len(), 12);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (seen, watch) = (Arc::clone(&order), queue.clone());
    let consumer = Consumer::builder(url, move |message| -> Result<(), String> {
        let group = message
            .attribute("MessageGroupId")
            .unwrap_or("?")
            .to_owned();
        seen.lock()
            .unwrap()
            .push((group, message.body().to_owned()));
        Ok(())
    })
    .env(env)
    .protector(Protector::with_backend(ecs_protect::Disabled))
    .handlers(4)
    .wait_time(Duration::from_millis(200))
    .delete_interval(Duration::from_millis(10))
    .stop_when(move || watch.deleted() == 12)
    .build()
    .expect("a consumer");

    let summary = consumer.run().expect("the consumer runs");

    assert_eq!((summary.handled, summary.deleted), (12, 12));
    let order = order.lock().unwrap();
    for group in ["a", "b"] {
        let bodies: Vec<&str> = order
            .iter()
            .filter(|(g, _)| g == group)
            .map(|(_, b)| b.as_str())
            .collect();
        let expected: Vec<String> = (0..6).map(|i| format!("{group}{i}")).collect();
        assert_eq!(bodies, expected, "group {group} out of order");
    }
}
