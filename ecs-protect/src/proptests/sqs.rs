//! SQS answers: received messages, batch results and error bodies.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::strategies::{any_json, body, field, json_text, object};
use super::{check, ensure};
use crate::Error;
use crate::sqs::wire::{self, Operation};

const ENDPOINT: &str = "http://127.0.0.1:9/";

fn assert_decode_error(err: &Error) -> Result<(), TestCaseError> {
    let Error::Decode { endpoint, message } = err else {
        return Err(TestCaseError::fail(format!("not a decode error: {err:?}")));
    };
    ensure(endpoint == ENDPOINT, || {
        format!("the error names {endpoint}")
    })?;
    let names = [
        "Messages",
        "Successful",
        "Failed",
        "expected a JSON object",
        "invalid JSON",
    ];
    ensure(names.iter().any(|n| message.contains(n)), || {
        format!("the error names no field: {message}")
    })
}

/// A message as SQS sends it, valid.
fn message() -> BoxedStrategy<Value> {
    let attribute = (
        "String|Number|Binary|String\\.[a-z]{1,5}",
        option::of(any::<String>()),
        option::of("[A-Za-z0-9+/]{0,12}={0,2}"),
    )
        .prop_map(|(t, s, b)| {
            let mut a = json!({ "DataType": t });
            if let Some(s) = s {
                a["StringValue"] = json!(s);
            }
            if let Some(b) = b {
                a["BinaryValue"] = json!(b);
            }
            a
        });
    (
        "[a-f0-9-]{1,36}",
        "[A-Za-z0-9+/=]{1,40}",
        any::<String>(),
        option::of("[a-f0-9]{32}"),
        btree_map("[A-Za-z]{1,20}", any::<String>(), 0..3),
        btree_map("[A-Za-z.]{1,20}", attribute, 0..3),
    )
        .prop_map(|(id, receipt, body, md5, attributes, message_attributes)| {
            let mut m = json!({
                "MessageId": id,
                "ReceiptHandle": receipt,
                "Body": body,
                "Attributes": attributes,
                "MessageAttributes": message_attributes,
            });
            if let Some(md5) = md5 {
                m["MD5OfBody"] = json!(md5);
            }
            m
        })
        .boxed()
}

#[test]
fn received_messages_read_back() {
    check(
        "ReceiveMessage answers round trip",
        vec(message(), 0..4),
        |messages| {
            let body = json!({ "Messages": messages }).to_string();
            let decoded = wire::decode_receive(ENDPOINT, body.as_bytes())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            ensure(decoded.len() == messages.len(), || "count".into())?;
            for (m, v) in decoded.iter().zip(&messages) {
                ensure(
                    v["MessageId"] == m.id.as_str()
                        && v["ReceiptHandle"] == m.receipt_handle.as_str(),
                    || "ids".into(),
                )?;
                ensure(v["Body"] == m.body.as_str(), || "body".into())?;
                ensure(
                    v.get("MD5OfBody").and_then(Value::as_str) == m.md5_of_body.as_deref(),
                    || "md5".into(),
                )?;
                ensure(json!(m.attributes) == v["Attributes"], || {
                    "attributes".into()
                })?;
                for (name, a) in &m.message_attributes {
                    let sent = &v["MessageAttributes"][name];
                    ensure(
                        sent["DataType"] == a.data_type.as_str()
                            && sent.get("StringValue").and_then(Value::as_str)
                                == a.string_value.as_deref()
                            && sent.get("BinaryValue").and_then(Value::as_str)
                                == a.binary_value_base64.as_deref(),
                        || format!("message attribute {name}"),
                    )?;
                }
                ensure(
                    m.message_attributes.len()
                        == v["MessageAttributes"].as_object().map_or(0, |o| o.len()),
                    || "message attribute count".into(),
                )?;
            }
            Ok(())
        },
    );
}

#[test]
fn any_receive_or_batch_answer_decodes_or_names_the_field() {
    let mangled = message().prop_flat_map(|m| {
        let keys: Vec<String> = m
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        (Just(m), proptest::sample::select(keys), any_json()).prop_map(|(mut m, key, value)| {
            m[&key] = value;
            m
        })
    });
    let receive = object(vec![(
        "Messages",
        field(
            vec(prop_oneof![message(), mangled.boxed()], 0..3)
                .prop_map(Value::Array)
                .boxed(),
        ),
    )]);
    let entry = object(vec![
        ("Id", field(json_text())),
        ("Code", field(json_text())),
        ("Message", field(json_text())),
        (
            "SenderFault",
            field(any::<bool>().prop_map(Value::Bool).boxed()),
        ),
    ]);
    let batch = object(vec![
        (
            "Successful",
            field(vec(entry.clone(), 0..3).prop_map(Value::Array).boxed()),
        ),
        (
            "Failed",
            field(vec(entry, 0..3).prop_map(Value::Array).boxed()),
        ),
    ]);
    check(
        "SQS answers",
        (body(receive), body(batch)),
        |(receive, batch)| {
            if let Err(err) = wire::decode_receive(ENDPOINT, &receive) {
                assert_decode_error(&err)?;
            }
            match wire::decode_batch(ENDPOINT, &batch) {
                Ok(outcome) => {
                    let value: Value = serde_json::from_slice(&batch).expect("decoded from JSON");
                    let count = |name: &str| {
                        value
                            .get(name)
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len)
                    };
                    ensure(
                        outcome.successful.len() == count("Successful")
                            && outcome.failed.len() == count("Failed"),
                        || "an entry was dropped".into(),
                    )
                }
                Err(err) => assert_decode_error(&err),
            }
        },
    );
}

#[test]
fn error_answers_keep_a_code() {
    let error = object(vec![
        ("__type", field(json_text())),
        ("code", field(json_text())),
        ("message", field(json_text())),
    ]);
    check(
        "SQS error answers",
        (300u16..600, body(error), option::of(any::<String>())),
        |(status, body, query_error)| {
            let header = |name: &str| {
                (name == "x-amzn-query-error")
                    .then(|| query_error.clone())
                    .flatten()
            };
            let err =
                wire::decode_api_error(Operation::ReceiveMessage, ENDPOINT, status, &header, &body);
            let Error::Api(api) = &err else {
                return Err(TestCaseError::fail(format!("not an API error: {err:?}")));
            };
            ensure(
                !api.code.is_empty() && api.endpoint == ENDPOINT && api.status == status,
                || format!("{api:?}"),
            )
        },
    );
}
