//! The SQS JSON protocol as pure functions: queue URLs, request bodies, response and error
//! decoding. No I/O here.
//!
//! SQS speaks `awsJson1_0` with query compatibility: `POST /` on the queue's endpoint,
//! `Content-Type: application/x-amz-json-1.0`, `X-Amz-Target: AmazonSQS.<Operation>`,
//! SigV4 with the signing name `sqs`. Errors carry `__type` and `message` in the body and
//! the legacy query error code in the `x-amzn-query-error` header (`Code;Sender`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{BatchEntry, BatchFailure, BatchOutcome, MalformedMessage, Message, MessageAttribute};
use crate::{ApiError, Env, Error};

/// The `Content-Type` of every SQS JSON request.
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The SigV4 signing name of SQS.
pub(crate) const SIGNING_NAME: &str = "sqs";

/// The longest long poll SQS allows (`WaitTimeSeconds`).
pub(crate) const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// The SQS operations the consumer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    ReceiveMessage,
    DeleteMessageBatch,
    ChangeMessageVisibilityBatch,
}

impl Operation {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::ReceiveMessage => "ReceiveMessage",
            Operation::DeleteMessageBatch => "DeleteMessageBatch",
            Operation::ChangeMessageVisibilityBatch => "ChangeMessageVisibilityBatch",
        }
    }

    /// The `X-Amz-Target` header value.
    pub(crate) fn target(self) -> String {
        format!("AmazonSQS.{}", self.name())
    }
}

/// A queue URL split into what a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueUrl {
    /// The URL as given, sent as `QueueUrl` in every body.
    pub(crate) url: String,
    /// Scheme and authority with a `/` path: where requests are posted.
    pub(crate) endpoint: String,
    /// The signing region.
    pub(crate) region: String,
}

impl QueueUrl {
    /// Splits `url` (`https://sqs.eu-west-1.amazonaws.com/111122223333/orders`); the region
    /// comes from the host when it names one, else from `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`.
    pub(crate) fn parse(url: &str, env: &Env) -> Result<QueueUrl, Error> {
        let bad = |why: &str| Error::config("queue URL", format!("{why}, got {url:?}"));
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| bad("expected an http:// or https:// URL"))?;
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected a path naming the account and queue"))?;
        if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) {
            return Err(bad("expected a host name"));
        }
        let path = path.trim_end_matches('/');
        if path.is_empty() || path.contains(['?', '#']) {
            return Err(bad("expected a path naming the account and queue"));
        }
        let scheme_len = url.len() - rest.len();
        let endpoint = format!("{}{authority}/", &url[..scheme_len]);
        let host = authority
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(authority, |(host, _)| host);
        let region = match region_from_host(host) {
            Some(region) => region,
            None => env
                .get("AWS_REGION")
                .or_else(|| env.get("AWS_DEFAULT_REGION"))
                .ok_or_else(|| {
                    Error::config(
                        "AWS_REGION",
                        format!(
                            "the queue URL host {host} names no region and neither AWS_REGION \
                             nor AWS_DEFAULT_REGION is set"
                        ),
                    )
                })?,
        };
        Ok(QueueUrl {
            url: url.to_owned(),
            endpoint,
            region,
        })
    }
}

/// The region an SQS host names: `sqs.<region>.amazonaws.com` (and `.cn`, `api.aws`,
/// `sqs-fips.`), the legacy `<region>.queue.amazonaws.com`, and `queue.amazonaws.com`
/// (us-east-1).
pub(crate) fn region_from_host(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    if host == "queue.amazonaws.com" {
        return Some("us-east-1".to_owned());
    }
    let labels: Vec<&str> = host.split('.').collect();
    let looks_like_region = |r: &str| {
        r.split('-').count() >= 3 && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    match labels.as_slice() {
        ["sqs" | "sqs-fips", region, rest @ ..] if rest.len() >= 2 && looks_like_region(region) => {
            Some((*region).to_owned())
        }
        [region, "queue", "amazonaws", ..] if looks_like_region(region) => {
            Some((*region).to_owned())
        }
        _ => None,
    }
}

/// SQS counts whole seconds: a fraction is rounded up, so a timeout is never shortened.
pub(crate) fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The `ReceiveMessage` body: every system and message attribute is asked for; on a FIFO
/// queue, `attempt` is the `ReceiveRequestAttemptId`.
pub(crate) fn receive_body(
    queue_url: &str,
    max: usize,
    wait: Duration,
    visibility_timeout: Duration,
    attempt: Option<&str>,
) -> Value {
    let mut body = json!({
        "QueueUrl": queue_url,
        "MaxNumberOfMessages": max,
        "WaitTimeSeconds": whole_seconds(wait),
        "VisibilityTimeout": whole_seconds(visibility_timeout),
        "AttributeNames": ["All"],
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    });
    if let Some(attempt) = attempt {
        body["ReceiveRequestAttemptId"] = Value::from(attempt);
    }
    body
}

/// The body of `DeleteMessageBatch` (without timeouts) or `ChangeMessageVisibilityBatch`.
pub(crate) fn batch_body(queue_url: &str, entries: &[BatchEntry], operation: Operation) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let mut object = Map::new();
            object.insert("Id".into(), Value::from(entry.id.as_str()));
            object.insert(
                "ReceiptHandle".into(),
                Value::from(entry.receipt_handle.as_str()),
            );
            if operation == Operation::ChangeMessageVisibilityBatch {
                object.insert(
                    "VisibilityTimeout".into(),
                    Value::from(whole_seconds(entry.visibility_timeout)),
                );
            }
            Value::Object(object)
        })
        .collect();
    json!({ "QueueUrl": queue_url, "Entries": entries })
}

fn decode_error(endpoint: &str, message: String) -> Error {
    Error::Decode {
        endpoint: endpoint.to_owned(),
        message,
    }
}

fn parse_object(endpoint: &str, body: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(decode_error(
            endpoint,
            format!("expected a JSON object, got {}", kind(&other)),
        )),
        Err(err) => Err(decode_error(endpoint, format!("invalid JSON: {err}"))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Field access that names the field's full path in its errors.
struct Fields<'a> {
    endpoint: &'a str,
    path: String,
    object: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn field(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn wrong(&self, name: &str, expected: &str, got: &Value) -> Error {
        decode_error(
            self.endpoint,
            format!("{} is {}, expected {expected}", self.field(name), kind(got)),
        )
    }

    fn string(&self, name: &str) -> Result<Option<&'a str>, Error> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    fn required_string(&self, name: &str) -> Result<&'a str, Error> {
        self.string(name)?
            .ok_or_else(|| decode_error(self.endpoint, format!("{} is missing", self.field(name))))
    }

    fn array(&self, name: &str) -> Result<&'a [Value], Error> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(name, "an array", other)),
        }
    }

    fn object(&self, name: &str) -> Result<Option<&'a Map<String, Value>>, Error> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(object)) => Ok(Some(object)),
            Some(other) => Err(self.wrong(name, "an object", other)),
        }
    }

    /// The fields of the object at `path`.
    fn nested(&self, path: String, value: &'a Value) -> Result<Fields<'a>, Error> {
        match value {
            Value::Object(object) => Ok(Fields {
                endpoint: self.endpoint,
                path,
                object,
            }),
            other => Err(decode_error(
                self.endpoint,
                format!("{path} is {}, expected an object", kind(other)),
            )),
        }
    }
}

/// Decodes a `ReceiveMessage` answer (`{}` when no message arrived), all or nothing: the
/// first malformed message is the error.
#[cfg(test)]
pub(crate) fn decode_receive(endpoint: &str, body: &[u8]) -> Result<Vec<Message>, Error> {
    decode_receive_each(endpoint, body)?
        .into_iter()
        .map(|message| message.map_err(|bad| bad.error))
        .collect()
}

/// Decodes a `ReceiveMessage` answer message by message: a malformed one is an `Err`
/// naming the field, with its id and receipt handle when those decoded. The answer as a
/// whole (not JSON, `Messages` not an array) is the only error.
pub(crate) fn decode_receive_each(
    endpoint: &str,
    body: &[u8],
) -> Result<Vec<Result<Message, MalformedMessage>>, Error> {
    let object = parse_object(endpoint, body)?;
    let top = Fields {
        endpoint,
        path: String::new(),
        object: &object,
    };
    let mut messages = Vec::new();
    for (i, item) in top.array("Messages")?.iter().enumerate() {
        let decoded = top
            .nested(format!("Messages[{i}]"), item)
            .and_then(|m| decode_message(&m));
        messages.push(decoded.map_err(|error| {
            let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
            MalformedMessage {
                error,
                message_id: text("MessageId"),
                receipt_handle: text("ReceiptHandle"),
            }
        }));
    }
    Ok(messages)
}

fn decode_message(m: &Fields<'_>) -> Result<Message, Error> {
    let mut attributes = BTreeMap::new();
    if let Some(attrs) = m.object("Attributes")? {
        for (name, value) in attrs {
            let Value::String(value) = value else {
                return Err(m.wrong(&format!("Attributes.{name}"), "a string", value));
            };
            attributes.insert(name.clone(), value.clone());
        }
    }
    let mut message_attributes = BTreeMap::new();
    if let Some(attrs) = m.object("MessageAttributes")? {
        for (name, value) in attrs {
            let a = m.nested(format!("{}.MessageAttributes.{name}", m.path), value)?;
            message_attributes.insert(
                name.clone(),
                MessageAttribute {
                    data_type: a.required_string("DataType")?.to_owned(),
                    string_value: a.string("StringValue")?.map(str::to_owned),
                    binary_value_base64: a.string("BinaryValue")?.map(str::to_owned),
                },
            );
        }
    }
    Ok(Message {
        id: m.required_string("MessageId")?.to_owned(),
        receipt_handle: m.required_string("ReceiptHandle")?.to_owned(),
        body: m.string("Body")?.unwrap_or_default().to_owned(),
        md5_of_body: m.string("MD5OfBody")?.map(str::to_owned),
        attributes,
        message_attributes,
    })
}

/// Decodes a `DeleteMessageBatch` or `ChangeMessageVisibilityBatch` answer.
pub(crate) fn decode_batch(endpoint: &str, body: &[u8]) -> Result<BatchOutcome, Error> {
    let object = parse_object(endpoint, body)?;
    let top = Fields {
        endpoint,
        path: String::new(),
        object: &object,
    };
    let mut outcome = BatchOutcome::default();
    for (i, item) in top.array("Successful")?.iter().enumerate() {
        let entry = top.nested(format!("Successful[{i}]"), item)?;
        outcome
            .successful
            .push(entry.required_string("Id")?.to_owned());
    }
    for (i, item) in top.array("Failed")?.iter().enumerate() {
        let entry = top.nested(format!("Failed[{i}]"), item)?;
        let sender_fault = match entry.object.get("SenderFault") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(fault)) => *fault,
            Some(other) => return Err(entry.wrong("SenderFault", "a boolean", other)),
        };
        outcome.failed.push(BatchFailure {
            id: entry.required_string("Id")?.to_owned(),
            code: entry.required_string("Code")?.to_owned(),
            message: entry.string("Message")?.map(str::to_owned),
            sender_fault,
        });
    }
    Ok(outcome)
}

/// Decodes an error answer (HTTP status >= 300).
///
/// The code is the body's `__type` (or `code`) shortened as the SDKs do
/// (`com.amazonaws.sqs#QueueDoesNotExist` → `QueueDoesNotExist`); when the body has none,
/// the code of the `x-amzn-query-error` header (`AWS.SimpleQueueService.NonExistentQueue`),
/// else `HTTP <status>`. `header` looks a response header up by name, ignoring case.
pub(crate) fn decode_api_error(
    operation: Operation,
    endpoint: &str,
    status: u16,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Error {
    let object = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| match v {
            Value::Object(o) => Some(o),
            _ => None,
        })
        .unwrap_or_default();
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let body_code = text("__type").or_else(|| text("code")).map(|raw| {
        let raw = raw.split(':').next().unwrap_or_default();
        raw.rsplit('#').next().unwrap_or_default().to_owned()
    });
    let query_code = header("x-amzn-query-error")
        .and_then(|value| value.split(';').next().map(str::to_owned))
        .filter(|code| !code.is_empty());
    let code = body_code
        .filter(|code| !code.is_empty())
        .or(query_code)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = text("message")
        .or_else(|| text("Message"))
        .or_else(|| text("errorMessage"))
        .or_else(|| {
            // Not JSON (a proxy's page, say): keep a short, printable excerpt.
            let raw = String::from_utf8_lossy(body);
            let raw = raw.trim();
            (!raw.is_empty() && object.is_empty()).then(|| raw.chars().take(200).collect())
        });
    Error::from(ApiError {
        operation: operation.name().to_owned(),
        endpoint: endpoint.to_owned(),
        status,
        code,
        message,
        request_id: header("x-amzn-requestid"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_vars([("AWS_REGION", "ap-south-1")])
    }

    #[test]
    fn queue_url_gives_endpoint_and_region() {
        let q = QueueUrl::parse(
            "https://sqs.eu-west-1.amazonaws.com/111122223333/orders",
            &env(),
        )
        .unwrap();
        assert_eq!(q.endpoint, "https://sqs.eu-west-1.amazonaws.com/");
        assert_eq!(q.region, "eu-west-1");
        let local = QueueUrl::parse("http://127.0.0.1:5000/123456789012/jobs", &env()).unwrap();
        assert_eq!(local.endpoint, "http://127.0.0.1:5000/");
        assert_eq!(local.region, "ap-south-1");
        let legacy =
            QueueUrl::parse("https://us-west-2.queue.amazonaws.com/1/q", &Env::default()).unwrap();
        assert_eq!(legacy.region, "us-west-2");
        let oldest = QueueUrl::parse("https://queue.amazonaws.com/1/q", &Env::default()).unwrap();
        assert_eq!(oldest.region, "us-east-1");
        let china = QueueUrl::parse(
            "https://sqs.cn-north-1.amazonaws.com.cn/1/q",
            &Env::default(),
        )
        .unwrap();
        assert_eq!(china.region, "cn-north-1");
    }

    #[test]
    fn default_region_is_the_fallback() {
        let env = Env::from_vars([("AWS_DEFAULT_REGION", "eu-north-1")]);
        let q = QueueUrl::parse("http://localhost:4566/000000000000/q", &env).unwrap();
        assert_eq!(q.region, "eu-north-1");
    }

    #[test]
    fn bad_queue_urls_are_named() {
        for (url, why) in [
            (
                "sqs.eu-west-1.amazonaws.com/1/q",
                "expected an http:// or https:// URL",
            ),
            ("https://sqs.eu-west-1.amazonaws.com", "expected a path"),
            ("https://sqs.eu-west-1.amazonaws.com/", "expected a path"),
            ("https:///1/q", "expected a host name"),
        ] {
            let err = QueueUrl::parse(url, &env()).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with("invalid queue URL: ") && text.contains(why) && text.contains(url),
                "{text}"
            );
        }
        let err = QueueUrl::parse("http://127.0.0.1:5000/1/q", &Env::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Config { origin, .. } if origin == "AWS_REGION"),
            "{err}"
        );
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(20)), 20);
        assert_eq!(whole_seconds(Duration::from_millis(20_001)), 21);
    }

    #[test]
    fn receive_body_has_the_wire_names() {
        let body = receive_body(
            "https://q/1/a",
            10,
            Duration::from_secs(20),
            Duration::from_millis(1500),
            None,
        );
        assert_eq!(
            body,
            json!({
                "QueueUrl": "https://q/1/a",
                "MaxNumberOfMessages": 10,
                "WaitTimeSeconds": 20,
                "VisibilityTimeout": 2,
                "AttributeNames": ["All"],
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
            })
        );
        assert_eq!(
            Operation::ReceiveMessage.target(),
            "AmazonSQS.ReceiveMessage"
        );
    }

    #[test]
    fn batch_bodies_have_the_wire_names() {
        let entries = [BatchEntry {
            id: "0".into(),
            receipt_handle: "rh".into(),
            visibility_timeout: Duration::from_secs(30),
        }];
        assert_eq!(
            batch_body("u", &entries, Operation::DeleteMessageBatch),
            json!({"QueueUrl": "u", "Entries": [{"Id": "0", "ReceiptHandle": "rh"}]})
        );
        assert_eq!(
            batch_body("u", &entries, Operation::ChangeMessageVisibilityBatch),
            json!({"QueueUrl": "u", "Entries": [{"Id": "0", "ReceiptHandle": "rh", "VisibilityTimeout": 30}]})
        );
    }

    #[test]
    fn receive_answers_decode() {
        let body = br#"{"Messages": [{
            "MessageId": "m-1", "ReceiptHandle": "rh-1", "MD5OfBody": "abc", "Body": "hello",
            "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000"},
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "order"}}
        }]}"#;
        let messages = decode_receive("e", body).unwrap();
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(
            (m.id(), m.receipt_handle(), m.body()),
            ("m-1", "rh-1", "hello")
        );
        assert_eq!(m.md5_of_body(), Some("abc"));
        assert_eq!(m.receive_count(), Some(3));
        assert_eq!(
            m.message_attribute("kind")
                .and_then(|a| a.string_value.as_deref()),
            Some("order")
        );
        assert!(decode_receive("e", b"{}").unwrap().is_empty());
    }

    #[test]
    fn receive_decode_errors_name_the_field() {
        for (body, expected) in [
            (&br#"{"Messages": [{"ReceiptHandle": "r"}]}"#[..], "Messages[0].MessageId is missing"),
            (br#"{"Messages": [{"MessageId": 7, "ReceiptHandle": "r"}]}"#, "Messages[0].MessageId is a number, expected a string"),
            (br#"{"Messages": {}}"#, "Messages is an object, expected an array"),
            (br#"{"Messages": [{"MessageId": "m", "ReceiptHandle": "r", "Attributes": {"SentTimestamp": 1}}]}"#,
             "Messages[0].Attributes.SentTimestamp is a number, expected a string"),
            (br#"{"Messages": [{"MessageId": "m", "ReceiptHandle": "r", "MessageAttributes": {"k": {}}}]}"#,
             "Messages[0].MessageAttributes.k.DataType is missing"),
            (br#"[]"#, "expected a JSON object, got an array"),
            (b"<html>", "invalid JSON"),
        ] {
            let err = decode_receive("https://sqs.x/", body).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with("unexpected response from https://sqs.x/: ") && text.contains(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn each_message_of_a_receive_decodes_on_its_own() {
        let body = br#"{"Messages": [
            {"MessageId": "m-1", "ReceiptHandle": "rh-1", "Body": "good"},
            {"MessageId": "m-2", "ReceiptHandle": "rh-2", "MessageAttributes": {"k": {}}},
            {"ReceiptHandle": 7},
            {"MessageId": "m-4", "ReceiptHandle": "rh-4", "Body": "good too"}
        ]}"#;
        let each = decode_receive_each("https://sqs.x/", body).unwrap();
        assert_eq!(each.len(), 4);
        assert_eq!(each[0].as_ref().unwrap().body(), "good");
        assert_eq!(each[3].as_ref().unwrap().body(), "good too");
        let bad = each[1].as_ref().unwrap_err();
        assert_eq!(
            (bad.message_id.as_deref(), bad.receipt_handle.as_deref()),
            (Some("m-2"), Some("rh-2"))
        );
        assert!(
            bad.error
                .to_string()
                .contains("Messages[1].MessageAttributes.k.DataType is missing"),
            "{}",
            bad.error
        );
        let worse = each[2].as_ref().unwrap_err();
        assert_eq!(
            (worse.message_id.as_deref(), worse.receipt_handle.as_deref()),
            (None, None)
        );
        assert!(
            worse
                .error
                .to_string()
                .contains("Messages[2].MessageId is missing")
        );
        let attempt = receive_body("u", 1, Duration::ZERO, Duration::ZERO, Some("a-1"));
        assert_eq!(attempt["ReceiveRequestAttemptId"], "a-1");
    }

    #[test]
    fn batch_answers_decode() {
        let body = br#"{"Successful": [{"Id": "0"}], "Failed": [
            {"Id": "1", "SenderFault": true, "Code": "ReceiptHandleIsInvalid", "Message": "bad"}]}"#;
        let outcome = decode_batch("e", body).unwrap();
        assert_eq!(outcome.successful, ["0"]);
        assert_eq!(
            outcome.failed,
            [BatchFailure {
                id: "1".into(),
                code: "ReceiptHandleIsInvalid".into(),
                message: Some("bad".into()),
                sender_fault: true,
            }]
        );
        let err = decode_batch(
            "e",
            br#"{"Failed": [{"Id": "1", "SenderFault": "yes", "Code": "X"}]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("Failed[0].SenderFault is a string, expected a boolean"),
            "{err}"
        );
    }

    #[test]
    fn errors_decode_type_message_and_headers() {
        let headers = |name: &str| match name {
            "x-amzn-query-error" => Some("AWS.SimpleQueueService.NonExistentQueue;Sender".into()),
            "x-amzn-requestid" => Some("req-9".into()),
            _ => None,
        };
        let body = br#"{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."}"#;
        let err = decode_api_error(
            Operation::ReceiveMessage,
            "https://sqs.x/",
            400,
            &headers,
            body,
        );
        let api = err.as_api().unwrap();
        assert_eq!(api.code, "QueueDoesNotExist");
        assert_eq!(api.request_id.as_deref(), Some("req-9"));
        assert_eq!(
            err.to_string(),
            "ReceiveMessage at https://sqs.x/ failed: QueueDoesNotExist (HTTP 400, request id req-9): \
             The specified queue does not exist."
        );
        let only_header = decode_api_error(Operation::ReceiveMessage, "e", 400, &headers, b"");
        assert_eq!(
            only_header.as_api().unwrap().code,
            "AWS.SimpleQueueService.NonExistentQueue"
        );
        let nothing = decode_api_error(
            Operation::DeleteMessageBatch,
            "e",
            502,
            &|_| None,
            b"Bad Gateway",
        );
        let api = nothing.as_api().unwrap();
        assert_eq!(
            (api.code.as_str(), api.message.as_deref()),
            ("HTTP 502", Some("Bad Gateway"))
        );
    }
}
