//! The SQS subset the consumer uses (`ReceiveMessage`, `DeleteMessageBatch`,
//! `ChangeMessageVisibilityBatch`, plus `SendMessage` and `SendMessageBatch` for tests and
//! producers), over the JSON 1.0 protocol, served by the fake AWS from [`MemoryQueue`]s.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::MemoryQueue;
use super::server::{Handled, Reply, Shared};
use super::state::{Operation, Outcome};
use super::verify::Received;
use crate::Error;
use crate::sqs::{BatchEntry, BatchOutcome, QueueApi};

/// An answer to send: status, JSON body, and the `x-amzn-query-error` header for errors.
#[derive(Debug)]
pub(crate) struct SqsAnswer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) query_error: Option<String>,
}

impl SqsAnswer {
    fn ok(body: Value) -> Self {
        SqsAnswer {
            status: 200,
            body,
            query_error: None,
        }
    }

    fn error(status: u16, code: &str, query_code: &str, sender: bool, message: &str) -> Self {
        SqsAnswer {
            status,
            body: json!({ "__type": format!("com.amazonaws.sqs#{code}"), "message": message }),
            query_error: Some(format!(
                "{query_code};{}",
                if sender { "Sender" } else { "Receiver" }
            )),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        let message = message.into();
        SqsAnswer::error(
            400,
            "InvalidParameterValue",
            "InvalidParameterValue",
            true,
            &message,
        )
    }
}

/// Serves one `AmazonSQS.*` call: checks its SigV4 signature (service `sqs`) as the ECS
/// API's are checked, then answers it from the fake's queues.
pub(crate) fn handle(shared: &Shared, request: &Received<'_>) -> Handled {
    let target = request.header("x-amz-target").unwrap_or("");
    let (now, queues) = {
        let state = shared.lock();
        (shared.now(&state), state.queues.clone())
    };
    let verified = shared.verify_signature(request, "sqs", now);
    let (sqs, access_key_id) = match verified {
        Ok(id) => (answer(&queues, target, request.body), Some(id)),
        Err(rejection) => (
            SqsAnswer::error(
                403,
                rejection.code,
                rejection.code,
                true,
                &rejection.message,
            ),
            None,
        ),
    };
    let request_id = shared.lock().next_request_id();
    let mut headers = vec![("x-amzn-RequestId", request_id)];
    if let Some(query_error) = &sqs.query_error {
        headers.push(("x-amzn-query-error", query_error.clone()));
    }
    let outcome = if sqs.status == 200 {
        Outcome::Accepted
    } else {
        let code = sqs.body["__type"].as_str().unwrap_or_default();
        Outcome::Error {
            status: sqs.status,
            code: code.rsplit('#').next().unwrap_or(code).to_owned(),
        }
    };
    Handled {
        reply: Reply {
            status: sqs.status,
            content_type: "application/x-amz-json-1.0",
            body: sqs.body.to_string(),
            headers,
        },
        operation: Operation::Sqs,
        outcome,
        change: None,
        access_key_id,
    }
}

/// Answers one SQS request. `target` is the `X-Amz-Target` value, `queues` the fake's queues
/// by URL.
pub(crate) fn answer(
    queues: &BTreeMap<String, MemoryQueue>,
    target: &str,
    body: &[u8],
) -> SqsAnswer {
    let Some(operation) = target.strip_prefix("AmazonSQS.") else {
        return SqsAnswer::error(
            400,
            "UnknownOperationException",
            "UnknownOperation",
            true,
            target,
        );
    };
    let request: Value = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => {
            return SqsAnswer::error(
                400,
                "SerializationException",
                "MalformedInput",
                true,
                "the body is not a JSON object",
            );
        }
    };
    let Some(url) = request.get("QueueUrl").and_then(Value::as_str) else {
        return SqsAnswer::invalid("QueueUrl is required");
    };
    let Some(queue) = queues.get(url) else {
        return SqsAnswer::error(
            400,
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            true,
            "The specified queue does not exist.",
        );
    };
    let result = match operation {
        "ReceiveMessage" => receive(queue, &request),
        "DeleteMessageBatch" => entries(&request, false).map(|entries| {
            queue
                .delete_batch(&entries)
                .map(|outcome| batch_answer(&outcome))
        }),
        "ChangeMessageVisibilityBatch" => entries(&request, true).map(|entries| {
            queue
                .change_visibility_batch(&entries)
                .map(|outcome| batch_answer(&outcome))
        }),
        "SendMessage" => send(queue, &request),
        "SendMessageBatch" => send_batch(queue, &request),
        // The queue's defaults, as SQS answers them: no redrive policy.
        "GetQueueAttributes" => Ok(Ok(json!({ "Attributes": { "VisibilityTimeout": "30" } }))),
        other => {
            return SqsAnswer::error(
                400,
                "UnknownOperationException",
                "UnknownOperation",
                true,
                other,
            );
        }
    };
    match result {
        Ok(Ok(body)) => SqsAnswer::ok(body),
        Ok(Err(err)) => from_error(&err),
        Err(invalid) => invalid,
    }
}

/// `SendMessage`: on a FIFO queue `MessageGroupId` is required and
/// `MessageDeduplicationId` optional (the body deduplicates without it, as with
/// content-based deduplication).
fn send(queue: &MemoryQueue, request: &Value) -> Result<Result<Value, Error>, SqsAnswer> {
    let Some(body) = request.get("MessageBody").and_then(Value::as_str) else {
        return Err(SqsAnswer::invalid("MessageBody is required"));
    };
    let text = |field: &str| request.get(field).and_then(Value::as_str);
    if !queue.is_fifo() {
        return Ok(Ok(json!({ "MessageId": queue.send(body) })));
    }
    let Some(group) = text("MessageGroupId") else {
        return Err(SqsAnswer::error(
            400,
            "MissingParameter",
            "MissingParameter",
            true,
            "The request must contain the parameter MessageGroupId.",
        ));
    };
    let id = queue.send_to_group(body, group, text("MessageDeduplicationId"));
    Ok(Ok(json!({ "MessageId": id })))
}

/// `SendMessageBatch`: 1..=10 entries with distinct `Id`s, each sent as `SendMessage`
/// would be; an entry that cannot be sent is a `Failed` entry, the others go on.
fn send_batch(queue: &MemoryQueue, request: &Value) -> Result<Result<Value, Error>, SqsAnswer> {
    let Some(list) = request.get("Entries").and_then(Value::as_array) else {
        return Err(SqsAnswer::invalid("Entries is required"));
    };
    if list.is_empty() {
        return Err(SqsAnswer::error(
            400,
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            true,
            "There should be at least one SendMessageBatchRequestEntry in the request.",
        ));
    }
    if list.len() > crate::sqs::MAX_BATCH {
        return Err(SqsAnswer::error(
            400,
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            true,
            "Maximum number of entries per request are 10.",
        ));
    }
    // The request is checked as a whole before any entry is sent.
    let mut ids = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let Some(id) = entry.get("Id").and_then(Value::as_str) else {
            return Err(SqsAnswer::invalid(format!("Entries[{i}].Id is required")));
        };
        if ids.contains(&id) {
            return Err(SqsAnswer::error(
                400,
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                true,
                &format!("Id {id} repeated."),
            ));
        }
        ids.push(id);
    }
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (entry, id) in list.iter().zip(ids) {
        let mut single = entry.clone();
        single["QueueUrl"] = request["QueueUrl"].clone();
        match send(queue, &single) {
            Ok(Ok(sent)) => successful.push(json!({ "Id": id, "MessageId": sent["MessageId"] })),
            Ok(Err(err)) => failed.push(
                json!({ "Id": id, "Code": "InternalError", "Message": err.to_string(), "SenderFault": false }),
            ),
            Err(refused) => failed.push(json!({
                "Id": id,
                "Code": refused.body["__type"].as_str().and_then(|t| t.rsplit('#').next()).unwrap_or("InvalidParameterValue"),
                "Message": refused.body["message"],
                "SenderFault": true,
            })),
        }
    }
    Ok(Ok(json!({ "Successful": successful, "Failed": failed })))
}

fn seconds(request: &Value, field: &str, default: u64, max: u64) -> Result<Duration, SqsAnswer> {
    match request.get(field) {
        None | Some(Value::Null) => Ok(Duration::from_secs(default)),
        Some(value) => value
            .as_u64()
            .filter(|&n| n <= max)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                SqsAnswer::invalid(format!("{field} must be a whole number in 0..={max}"))
            }),
    }
}

fn receive(queue: &MemoryQueue, request: &Value) -> Result<Result<Value, Error>, SqsAnswer> {
    let max = match request.get("MaxNumberOfMessages") {
        None | Some(Value::Null) => 1,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=10).contains(n))
            .ok_or_else(|| SqsAnswer::invalid("MaxNumberOfMessages must be in 1..=10"))?,
    };
    let wait = seconds(request, "WaitTimeSeconds", 0, 20)?;
    let visibility = seconds(request, "VisibilityTimeout", 30, 43_200)?;
    let max = usize::try_from(max).unwrap_or(1);
    Ok(queue.receive(max, wait, visibility).map(|messages| {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({
                    "MessageId": m.id(),
                    "ReceiptHandle": m.receipt_handle(),
                    "Body": m.body(),
                    "Attributes": m.attributes(),
                })
            })
            .collect();
        if messages.is_empty() {
            json!({})
        } else {
            json!({ "Messages": messages })
        }
    }))
}

fn entries(request: &Value, with_timeout: bool) -> Result<Vec<BatchEntry>, SqsAnswer> {
    let Some(list) = request.get("Entries").and_then(Value::as_array) else {
        return Err(SqsAnswer::invalid("Entries is required"));
    };
    if list.is_empty() || list.len() > crate::sqs::MAX_BATCH {
        return Err(SqsAnswer::error(
            400,
            if list.is_empty() {
                "EmptyBatchRequest"
            } else {
                "TooManyEntriesInBatchRequest"
            },
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            true,
            "a batch takes 1..=10 entries",
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            let text = |field: &str| {
                entry
                    .get(field)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| SqsAnswer::invalid(format!("Entries[{i}].{field} is required")))
            };
            let visibility_timeout = if with_timeout {
                seconds(entry, "VisibilityTimeout", 0, 43_200)?
            } else {
                Duration::ZERO
            };
            Ok(BatchEntry {
                id: text("Id")?,
                receipt_handle: text("ReceiptHandle")?,
                visibility_timeout,
            })
        })
        .collect()
}

fn batch_answer(outcome: &BatchOutcome) -> Value {
    let successful: Vec<Value> = outcome
        .successful
        .iter()
        .map(|id| json!({ "Id": id }))
        .collect();
    let failed: Vec<Value> = outcome
        .failed
        .iter()
        .map(|f| json!({ "Id": f.id, "Code": f.code, "Message": f.message, "SenderFault": f.sender_fault }))
        .collect();
    json!({ "Successful": successful, "Failed": failed })
}

/// A fault the memory queue was told to inject, as SQS would answer it.
fn from_error(err: &Error) -> SqsAnswer {
    match err.as_api() {
        Some(api) => SqsAnswer::error(
            api.status,
            &api.code,
            &api.code,
            api.status < 500,
            api.message.as_deref().unwrap_or_default(),
        ),
        None => SqsAnswer::error(
            500,
            "InternalError",
            "InternalError",
            false,
            &err.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_queue() -> (BTreeMap<String, MemoryQueue>, MemoryQueue) {
        let queue = MemoryQueue::new();
        let mut queues = BTreeMap::new();
        queues.insert("http://127.0.0.1/1/q".to_owned(), queue.clone());
        (queues, queue)
    }

    #[test]
    fn receive_then_delete_round_trips() {
        let (queues, queue) = one_queue();
        queue.send("hello");
        let got = answer(
            &queues,
            "AmazonSQS.ReceiveMessage",
            br#"{"QueueUrl":"http://127.0.0.1/1/q","MaxNumberOfMessages":10}"#,
        );
        assert_eq!(got.status, 200, "{:?}", got.body);
        let message = &got.body["Messages"][0];
        assert_eq!(message["Body"], "hello");
        let handle = message["ReceiptHandle"].as_str().expect("a receipt handle");
        let delete = json!({
            "QueueUrl": "http://127.0.0.1/1/q",
            "Entries": [{ "Id": "0", "ReceiptHandle": handle }],
        });
        let got = answer(
            &queues,
            "AmazonSQS.DeleteMessageBatch",
            delete.to_string().as_bytes(),
        );
        assert_eq!(got.body["Successful"][0]["Id"], "0", "{:?}", got.body);
        assert_eq!(queue.deleted(), 1);
    }

    #[test]
    fn fifo_send_needs_a_group_and_deduplicates() {
        let queue = MemoryQueue::with_url("http://127.0.0.1/1/q.fifo");
        let mut queues = BTreeMap::new();
        queues.insert("http://127.0.0.1/1/q.fifo".to_owned(), queue.clone());
        let send = |body: &str| {
            answer(
                &queues,
                "AmazonSQS.SendMessage",
                body.replace('\'', "\"").as_bytes(),
            )
        };
        let missing = send("{'QueueUrl':'http://127.0.0.1/1/q.fifo','MessageBody':'x'}");
        assert_eq!(
            (missing.status, missing.body["__type"].as_str()),
            (400, Some("com.amazonaws.sqs#MissingParameter"))
        );
        let first = send(
            "{'QueueUrl':'http://127.0.0.1/1/q.fifo','MessageBody':'x','MessageGroupId':'g','MessageDeduplicationId':'d'}",
        );
        let again = send(
            "{'QueueUrl':'http://127.0.0.1/1/q.fifo','MessageBody':'y','MessageGroupId':'g','MessageDeduplicationId':'d'}",
        );
        assert_eq!(first.status, 200, "{:?}", first.body);
        assert_eq!(first.body["MessageId"], again.body["MessageId"]);
        assert_eq!(queue.len(), 1, "the duplicate was not added");
        let got = answer(
            &queues,
            "AmazonSQS.ReceiveMessage",
            br#"{"QueueUrl":"http://127.0.0.1/1/q.fifo","MaxNumberOfMessages":10}"#,
        );
        assert_eq!(got.body["Messages"][0]["Attributes"]["MessageGroupId"], "g");
    }

    #[test]
    fn send_message_batch_sends_each_entry() {
        let (queues, queue) = one_queue();
        let got = answer(
            &queues,
            "AmazonSQS.SendMessageBatch",
            br#"{"QueueUrl":"http://127.0.0.1/1/q","Entries":[
                {"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"two"},{"Id":"c"}]}"#,
        );
        assert_eq!(got.status, 200, "{:?}", got.body);
        assert_eq!(got.body["Successful"][0]["Id"], "a");
        assert_eq!(got.body["Successful"][1]["Id"], "b");
        assert_eq!(got.body["Failed"][0]["Id"], "c");
        assert_eq!(got.body["Failed"][0]["SenderFault"], true);
        assert_eq!(queue.len(), 2);
        let repeated = answer(
            &queues,
            "AmazonSQS.SendMessageBatch",
            br#"{"QueueUrl":"http://127.0.0.1/1/q","Entries":[
                {"Id":"a","MessageBody":"x"},{"Id":"a","MessageBody":"y"}]}"#,
        );
        assert_eq!(
            repeated.body["__type"].as_str(),
            Some("com.amazonaws.sqs#BatchEntryIdsNotDistinct")
        );
        let empty = answer(
            &queues,
            "AmazonSQS.SendMessageBatch",
            br#"{"QueueUrl":"http://127.0.0.1/1/q","Entries":[]}"#,
        );
        assert_eq!(
            empty.body["__type"].as_str(),
            Some("com.amazonaws.sqs#EmptyBatchRequest")
        );
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn unknown_queue_and_bad_input_are_sqs_errors() {
        let (queues, _) = one_queue();
        let got = answer(
            &queues,
            "AmazonSQS.ReceiveMessage",
            br#"{"QueueUrl":"http://elsewhere/q"}"#,
        );
        assert_eq!(
            (got.status, got.body["__type"].as_str()),
            (400, Some("com.amazonaws.sqs#QueueDoesNotExist"))
        );
        assert_eq!(
            got.query_error.as_deref(),
            Some("AWS.SimpleQueueService.NonExistentQueue;Sender")
        );
        let got = answer(
            &queues,
            "AmazonSQS.ReceiveMessage",
            br#"{"QueueUrl":"http://127.0.0.1/1/q","MaxNumberOfMessages":11}"#,
        );
        assert_eq!(got.status, 400);
        assert!(
            got.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("MaxNumberOfMessages"))
        );
    }
}
