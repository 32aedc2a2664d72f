//! The SQS consumer against moto's server, an SQS implementation this project did not
//! write. These tests are ignored unless asked for: `.ci/run` starts moto on 127.0.0.1 and
//! runs them with `MOTO_ENDPOINT=http://127.0.0.1:PORT cargo test -p ecs-protect-tests
//! --test sqs_moto -- --ignored` (the same scenarios run against the in-memory queue in
//! `sqs_consumer.rs` and `sqs_failure_modes.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecs_protect::mock::RecordingBackend;
use ecs_protect::sqs::Consumer;
use ecs_protect::{Env, Protector};

fn moto() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("MOTO_ENDPOINT is not set: start moto_server and point it there (see .ci/run)")
    })
}

/// One raw SQS JSON call to moto, for test setup only. moto does not check signatures but
/// routes by the credential scope's service, so the header names `sqs`.
fn sqs(endpoint: &str, operation: &str, body: serde_json::Value) -> serde_json::Value {
    let mut response = ureq::post(endpoint)
        .header("Content-Type", "application/x-amz-json-1.0")
        .header("X-Amz-Target", &format!("AmazonSQS.{operation}"))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("{operation} on moto: {e}"));
    let text = response.body_mut().read_to_string().expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{operation}: {e}: {text}"))
}

/// A fresh queue holding `messages` messages; its URL.
fn queue_with(endpoint: &str, name: &str, messages: usize) -> String {
    let name = format!("{name}-{}", std::process::id());
    let url = sqs(
        endpoint,
        "CreateQueue",
        serde_json::json!({ "QueueName": name }),
    )["QueueUrl"]
        .as_str()
        .expect("QueueUrl")
        .to_owned();
    for i in 0..messages {
        sqs(
            endpoint,
            "SendMessage",
            serde_json::json!({ "QueueUrl": url, "MessageBody": format!("m{i}") }),
        );
    }
    url
}

/// A fresh FIFO queue (content-based deduplication) holding, for each group, `per_group`
/// messages `<group><seq>` sent in order; its URL.
fn fifo_queue_with(endpoint: &str, name: &str, groups: &[&str], per_group: usize) -> String {
    let name = format!("{name}-{}.fifo", std::process::id());
    let url = sqs(
        endpoint,
        "CreateQueue",
        serde_json::json!({
            "QueueName": name,
            "Attributes": {"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        }),
    )["QueueUrl"]
        .as_str()
        .expect("QueueUrl")
        .to_owned();
    for seq in 0..per_group {
        for group in groups {
            sqs(
                endpoint,
                "SendMessage",
                serde_json::json!({
                    "QueueUrl": url,
                    "MessageBody": format!("{group}{seq}"),
                    "MessageGroupId": group,
                }),
            );
        }
    }
    url
}

/// Visible and in-flight message counts.
fn counts(endpoint: &str, url: &str) -> (u64, u64) {
    let attrs = sqs(
        endpoint,
        "GetQueueAttributes",
        serde_json::json!({ "QueueUrl": url, "AttributeNames": ["All"] }),
    );
    let n = |k: &str| {
        attrs["Attributes"][k]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    (
        n("ApproximateNumberOfMessages"),
        n("ApproximateNumberOfMessagesNotVisible"),
    )
}

fn env() -> Env {
    Env::from_vars([
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ])
}

#[test]
#[ignore = "needs a moto server: MOTO_ENDPOINT"]
fn failed_messages_come_back_and_succeed_later() {
    let endpoint = moto();
    let url = queue_with(&endpoint, "retry", 5);
    let attempts = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let (seen, done) = (Arc::clone(&attempts), Arc::new(AtomicU64::new(0)));
    let finished = Arc::clone(&done);
    let consumer = Consumer::builder(url.clone(), move |m| -> Result<(), String> {
        let mut seen = seen.lock().unwrap();
        let n = seen.entry(m.body().to_owned()).or_default();
        *n += 1;
        if *n == 1 {
            return Err("first attempt fails".into());
        }
        finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
    .env(env())
    .protector(Protector::with_backend(RecordingBackend::new()))
    .retry_after(Duration::ZERO)
    .wait_time(Duration::from_secs(1))
    .delete_interval(Duration::ZERO)
    .stop_when(move || done.load(Ordering::SeqCst) == 5)
    .build()
    .unwrap();
    let summary = consumer.run().unwrap();
    assert_eq!(
        (summary.failed, summary.handled, summary.deleted),
        (5, 5, 5),
        "{summary:?}"
    );
    assert!(attempts.lock().unwrap().values().all(|&n| n == 2));
    assert_eq!(counts(&endpoint, &url), (0, 0));
}

#[test]
#[ignore = "needs a moto server: MOTO_ENDPOINT"]
fn a_long_handler_keeps_its_message_hidden() {
    let endpoint = moto();
    let url = queue_with(&endpoint, "heartbeat", 1);
    let runs = Arc::new(AtomicU64::new(0));
    let (count, watch) = (Arc::clone(&runs), Arc::clone(&runs));
    let consumer = Consumer::builder(url.clone(), move |_| -> Result<(), String> {
        count.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(3500)); // longer than the 2 s visibility
        Ok(())
    })
    .env(env())
    .protector(Protector::with_backend(RecordingBackend::new()))
    .handlers(2)
    .visibility_timeout(Duration::from_secs(2))
    .heartbeat_after(Duration::from_secs(1))
    .wait_time(Duration::from_secs(1))
    .delete_interval(Duration::ZERO)
    .stop_when(move || watch.load(Ordering::SeqCst) >= 1)
    .build()
    .unwrap();
    let summary = consumer.run().unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the message was delivered again while running"
    );
    assert!(summary.extended >= 1, "{summary:?}");
    assert_eq!((summary.handled, summary.deleted), (1, 1));
    assert_eq!(counts(&endpoint, &url), (0, 0));
}

#[test]
#[ignore = "needs a moto server: MOTO_ENDPOINT"]
fn a_stop_mid_run_returns_unstarted_messages_and_loses_none() {
    let endpoint = moto();
    let url = queue_with(&endpoint, "stop", 10);
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, started) = (Arc::clone(&stop), Arc::new(AtomicU64::new(0)));
    let count = Arc::clone(&started);
    let consumer = Consumer::builder(url.clone(), move |_| -> Result<(), String> {
        // The first message stops the consumer while it is still running.
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
        }
        Ok(())
    })
    .env(env())
    .protector(Protector::with_backend(RecordingBackend::new()))
    .handlers(1)
    .wait_time(Duration::from_secs(1))
    .stop_when(move || stop.load(Ordering::SeqCst))
    .build()
    .unwrap();
    let summary = consumer.run().unwrap();
    let handled = started.load(Ordering::SeqCst);
    assert_eq!(summary.deleted, handled, "{summary:?}");
    let (visible, hidden) = counts(&endpoint, &url);
    assert_eq!(hidden, 0, "a received message was left invisible");
    assert_eq!(visible + handled, 10, "messages were lost: {summary:?}");
}

#[test]
#[ignore = "needs a moto server: MOTO_ENDPOINT"]
fn a_fifo_queue_keeps_each_groups_order_across_a_stop() {
    let endpoint = moto();
    let groups = ["a", "b", "c"];
    let url = fifo_queue_with(&endpoint, "fifo-stop", &groups, 6);
    let done: Arc<Mutex<Vec<String>>> = Arc::default();
    let runs = [5u64, u64::MAX]; // the first run stops after 5 messages, the second drains
    for (run, stop_after) in runs.into_iter().enumerate() {
        let handled = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (record, count, flag) = (Arc::clone(&done), Arc::clone(&handled), Arc::clone(&stop));
        let (watch, watch_count, queue_url, moto_endpoint) = (
            Arc::clone(&stop),
            Arc::clone(&done),
            url.clone(),
            endpoint.clone(),
        );
        let consumer = Consumer::builder(url.clone(), move |m| -> Result<(), String> {
            std::thread::sleep(Duration::from_millis(20));
            record.lock().unwrap().push(m.body().to_owned());
            if count.fetch_add(1, Ordering::SeqCst) + 1 >= stop_after {
                flag.store(true, Ordering::SeqCst);
            }
            Ok(())
        })
        .env(env())
        .protector(Protector::with_backend(RecordingBackend::new()))
        .handlers(3)
        .wait_time(Duration::from_secs(1))
        .delete_interval(Duration::ZERO)
        .stop_when(move || {
            watch.load(Ordering::SeqCst)
                || (watch_count.lock().unwrap().len() == 18
                    && counts(&moto_endpoint, &queue_url) == (0, 0))
        })
        .build()
        .unwrap();
        let summary = consumer.run().unwrap();
        assert_eq!(summary.failed, 0, "run {run}: {summary}");
        assert_eq!(summary.handled, summary.deleted, "run {run}: {summary}");
    }
    let done = done.lock().unwrap();
    for group in groups {
        let seen: Vec<&str> = done
            .iter()
            .filter(|b| b.starts_with(group))
            .map(String::as_str)
            .collect();
        let expected: Vec<String> = (0..6).map(|i| format!("{group}{i}")).collect();
        assert_eq!(seen, expected, "group {group} out of order across the stop");
    }
    assert_eq!(counts(&endpoint, &url), (0, 0));
}

#[test]
#[ignore = "needs a moto server: MOTO_ENDPOINT"]
fn stop_latency_stays_under_a_second_with_a_20_s_long_poll() {
    let endpoint = moto();
    let url = queue_with(&endpoint, "latency", 1);
    let processed = Arc::new(Mutex::new(None::<Instant>));
    let stop = Arc::new(AtomicBool::new(false));
    let (at, flag) = (Arc::clone(&processed), Arc::clone(&stop));
    let consumer = Consumer::builder(url.clone(), |_| Ok::<(), String>(()))
        .env(env())
        .protector(Protector::with_backend(RecordingBackend::new()))
        .handlers(2)
        .wait_time(Duration::from_secs(20))
        .delete_interval(Duration::ZERO)
        .on_message_processed(move |_| *at.lock().unwrap() = Some(Instant::now()))
        .stop_when(move || flag.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(consumer.run());
    });
    // Once the only message is handled, the consumer waits in a 20 s long poll.
    let deadline = Instant::now() + Duration::from_secs(20);
    while processed.lock().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the message was not handled");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500)); // well into the next long poll
    let stopped = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let summary = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("run returned")
        .unwrap();
    let latency = stopped.elapsed();
    println!("moto: stop to return {latency:?} with a 20 s long poll");
    assert!(latency < Duration::from_secs(1), "took {latency:?}");
    assert_eq!((summary.handled, summary.deleted), (1, 1));
    assert_eq!(counts(&endpoint, &url), (0, 0));
}
