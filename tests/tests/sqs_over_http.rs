//! The SQS consumer over the wire: the fake AWS serves the SQS subset (checking every
//! SigV4 signature with service `sqs`) and the ECS API; every message is handled under
//! protection and deleted exactly once. A small server of the test's own answers with
//! malformed or failed answers.

use std::sync::atomic::{AtomicUsize, Ordering};
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

/// A small HTTP server on 127.0.0.1 speaking SQS's JSON protocol as `answer` says: called
/// with the operation (`X-Amz-Target` without `AmazonSQS.`) and the request body, it
/// returns the status and body to send. It answers until the process ends.
fn sqs_server(
    answer: impl Fn(&str, &serde_json::Value) -> (u16, String) + Send + Sync + 'static,
) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
                let (mut target, mut length) = (String::new(), 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        let value = value.trim();
                        match name.to_ascii_lowercase().as_str() {
                            "x-amz-target" => target = value.to_owned(),
                            "content-length" => length = value.parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let request = serde_json::from_slice(&body).unwrap_or_default();
                let operation = target.strip_prefix("AmazonSQS.").unwrap_or(&target);
                let (status, text) = answer(operation, &request);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.0\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// Credentials and a region for a consumer of [`sqs_server`]; one attempt per call, so the
/// consumer's own retries are what is seen.
fn server_env() -> Env {
    Env::from_vars([
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ])
}

/// The receipt handles of a batch request's entries.
fn receipts(request: &serde_json::Value) -> Vec<String> {
    request["Entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["ReceiptHandle"].as_str().map(str::to_owned))
        .collect()
}

/// Deliverable 4: one malformed message does not hide its batch: the good ones are
/// handled and deleted, the bad one is reported naming the field and given back.
#[test]
fn a_malformed_message_is_reported_and_given_back_while_the_rest_of_its_batch_runs() {
    let receives = Arc::new(AtomicUsize::new(0));
    let deleted = Arc::new(Mutex::new(Vec::<String>::new()));
    let changed = Arc::new(Mutex::new(Vec::<String>::new()));
    let (count, deletes, changes) = (receives.clone(), deleted.clone(), changed.clone());
    let endpoint = sqs_server(move |operation, request| match operation {
        "ReceiveMessage" if count.fetch_add(1, Ordering::SeqCst) == 0 => (
            200,
            r#"{"Messages": [
                {"MessageId": "m-a", "ReceiptHandle": "rh-a", "Body": "a"},
                {"MessageId": "m-bad", "ReceiptHandle": "rh-bad", "Body": "b",
                 "MessageAttributes": {"k": {"StringValue": "no DataType"}}},
                {"MessageId": "m-c", "ReceiptHandle": "rh-c", "Body": "c"}
            ]}"#
            .to_owned(),
        ),
        "ReceiveMessage" => {
            std::thread::sleep(Duration::from_millis(50));
            (200, "{}".to_owned())
        }
        "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
            let list = if operation == "DeleteMessageBatch" {
                &deletes
            } else {
                &changes
            };
            list.lock().unwrap().extend(receipts(request));
            let ids: Vec<_> = request["Entries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| serde_json::json!({ "Id": e["Id"] }))
                .collect();
            (
                200,
                serde_json::json!({ "Successful": ids, "Failed": [] }).to_string(),
            )
        }
        _ => (400, r#"{"__type": "UnknownOperation"}"#.to_owned()),
    });
    let handled = Arc::new(Mutex::new(Vec::<String>::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let (seen, reported) = (handled.clone(), errors.clone());
    let (watch_deletes, watch_changes) = (deleted.clone(), changed.clone());
    let started = Instant::now();
    let consumer = Consumer::builder(format!("{endpoint}/1/q"), move |m| -> Result<(), String> {
        seen.lock().unwrap().push(m.body().to_owned());
        Ok(())
    })
    .env(server_env())
    .protector(Protector::with_backend(ecs_protect::Disabled))
    .handlers(4)
    .wait_time(Duration::from_millis(200))
    .delete_interval(Duration::from_millis(10))
    .error_backoff(Duration::from_millis(10))
    .on_error(move |err| reported.lock().unwrap().push(err.to_string()))
    .stop_when(move || {
        (watch_deletes.lock().unwrap().len() == 2 && !watch_changes.lock().unwrap().is_empty())
            || started.elapsed() > Duration::from_secs(10)
    })
    .build()
    .expect("a consumer");

    let summary = consumer.run().expect("the consumer runs");

    let mut handled = handled.lock().unwrap().clone();
    handled.sort();
    assert_eq!(handled, ["a", "c"], "the good messages ran");
    let mut deleted = deleted.lock().unwrap().clone();
    deleted.sort();
    assert_eq!(deleted, ["rh-a", "rh-c"]);
    assert_eq!(
        *changed.lock().unwrap(),
        ["rh-bad"],
        "the bad one is given back"
    );
    let errors = errors.lock().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Messages[1].MessageAttributes.k.DataType is missing")),
        "the error names the field: {errors:?}"
    );
    assert_eq!((summary.handled, summary.malformed), (2, 1), "{summary}");
}

/// Deliverable 7: a FIFO receive carries a `ReceiveRequestAttemptId`, sent again when the
/// receive is retried after its answer was lost (here an HTTP 500), new otherwise.
#[test]
fn a_fifo_receive_retried_after_a_lost_answer_reuses_its_attempt_id() {
    let attempts = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let seen = attempts.clone();
    let endpoint = sqs_server(move |operation, request| {
        if operation != "ReceiveMessage" {
            return (
                200,
                r#"{"Successful": [{"Id": "0"}], "Failed": []}"#.to_owned(),
            );
        }
        let mut seen = seen.lock().unwrap();
        seen.push(
            request["ReceiveRequestAttemptId"]
                .as_str()
                .map(str::to_owned),
        );
        match seen.len() {
            1 => (
                500,
                r#"{"__type": "InternalError", "message": "lost"}"#.to_owned(),
            ),
            2 => (
                200,
                r#"{"Messages": [{"MessageId": "m-1", "ReceiptHandle": "rh-1", "Body": "x",
                    "Attributes": {"MessageGroupId": "g"}}]}"#
                    .to_owned(),
            ),
            _ => {
                std::thread::sleep(Duration::from_millis(50));
                (200, "{}".to_owned())
            }
        }
    });
    let watch = attempts.clone();
    let consumer = Consumer::builder(format!("{endpoint}/1/q.fifo"), |_| Ok::<(), String>(()))
        .env(server_env())
        .protector(Protector::with_backend(ecs_protect::Disabled))
        .handlers(1)
        .wait_time(Duration::from_millis(200))
        .error_backoff(Duration::from_millis(10))
        .stop_when(move || watch.lock().unwrap().len() >= 3)
        .build()
        .expect("a consumer");

    let summary = consumer.run().expect("the consumer runs");

    let attempts = attempts.lock().unwrap();
    assert!(
        attempts[0].is_some(),
        "a FIFO receive carries an attempt id"
    );
    assert_eq!(
        attempts[0], attempts[1],
        "the retry after a lost answer reuses it"
    );
    assert_ne!(
        attempts[1], attempts[2],
        "an answered receive's id is not reused"
    );
    assert_eq!(summary.handled, 1);
}
