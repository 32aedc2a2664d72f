//! `credential_process` output and the container and IMDS credential answers (IMDS answers
//! are decoded by the container parser after their `Code` check).

use proptest::prelude::*;
use serde_json::Value;

use super::strategies::{body, field, json_text, object, whole_second};
use super::{check, ensure};
use crate::aws::credentials::{Credentials, container, process};
use crate::aws::time;

/// A secret no random string produces, to check that no error shows it.
fn secret() -> BoxedStrategy<Value> {
    "SECRET-[a-z0-9]{8}".prop_map(Value::String).boxed()
}

fn rfc3339() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => whole_second().prop_map(|t| Value::String(time::format_rfc3339(t))),
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
            .prop_map(Value::String),
    ]
    .boxed()
}

fn str_at<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// What a successful parse must have read from `value`.
fn assert_read(creds: &Credentials, value: &Value, token: &str) -> Result<(), TestCaseError> {
    ensure(
        Some(creds.access_key_id()) == str_at(value, "AccessKeyId"),
        || "AccessKeyId not read back".into(),
    )?;
    ensure(
        Some(creds.secret_access_key()) == str_at(value, "SecretAccessKey"),
        || "SecretAccessKey not read back".into(),
    )?;
    ensure(creds.session_token() == str_at(value, token), || {
        format!("{token} not read back")
    })?;
    let expected = str_at(value, "Expiration").and_then(time::parse_rfc3339);
    ensure(creds.expires_at() == expected, || {
        format!(
            "Expiration read as {:?}, expected {expected:?}",
            creds.expires_at()
        )
    })
}

/// An error names one of `fields` (or says the body is not a JSON object) and never shows
/// the secret.
fn assert_names_a_field(
    message: &str,
    fields: &[&str],
    value: Option<&Value>,
) -> Result<(), TestCaseError> {
    let names_field = fields.iter().any(|f| {
        message.starts_with(&format!("field {f} "))
            || message.starts_with(&format!("field {f}:"))
            || message == format!("missing field {f}")
            || message.starts_with(&format!("missing field {f} "))
    });
    ensure(
        names_field
            || message.starts_with("expected a JSON object")
            || message.starts_with("malformed JSON"),
        || format!("the error names no field: {message:?}"),
    )?;
    if let Some(secret) = value.and_then(|v| str_at(v, "SecretAccessKey")) {
        ensure(
            !secret.starts_with("SECRET-") || !message.contains(secret),
            || format!("the error shows the secret: {message:?}"),
        )?;
    }
    Ok(())
}

#[test]
fn credential_process_output() {
    let value = object(vec![
        ("Version", field(Just(Value::from(1)).boxed())),
        ("AccessKeyId", field(json_text())),
        ("SecretAccessKey", field(secret())),
        ("SessionToken", field(json_text())),
        ("Expiration", field(rfc3339())),
    ]);
    check("credential_process output", body(value), |body| {
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        match process::parse(&body) {
            Ok(creds) => {
                let value = value.expect("parsed from JSON");
                ensure(value.get("Version") == Some(&Value::from(1)), || {
                    "Version 1 not checked".into()
                })?;
                assert_read(&creds, &value, "SessionToken")
            }
            Err(message) => assert_names_a_field(
                &message,
                &[
                    "Version",
                    "AccessKeyId",
                    "SecretAccessKey",
                    "SessionToken",
                    "Expiration",
                ],
                value.as_ref(),
            ),
        }
    });
}

#[test]
fn container_and_imds_answers() {
    let value = object(vec![
        ("AccessKeyId", field(json_text())),
        ("SecretAccessKey", field(secret())),
        ("Token", field(json_text())),
        ("Expiration", field(rfc3339())),
        ("Code", field(Just(Value::from("Success")).boxed())),
    ]);
    check(
        "container and IMDS credential answers",
        body(value),
        |body| {
            let value: Option<Value> = serde_json::from_slice(&body).ok();
            match container::parse(&body) {
                Ok(creds) => {
                    let value = value.expect("parsed from JSON");
                    ensure(creds.expires_at().is_some(), || "no expiry".into())?;
                    assert_read(&creds, &value, "Token")
                }
                Err(message) => assert_names_a_field(
                    &message,
                    &["AccessKeyId", "SecretAccessKey", "Token", "Expiration"],
                    value.as_ref(),
                ),
            }
        },
    );
}

#[test]
fn rfc3339_times_never_panic_and_read_back() {
    check(
        "RFC 3339 times",
        (whole_second(), any::<String>(), 0u32..1_000_000_000),
        |(at, noise, nanos)| {
            let _ = time::parse_rfc3339(&noise);
            let text = time::format_rfc3339(at);
            ensure(time::parse_rfc3339(&text) == Some(at), || {
                format!("{text} does not read back")
            })?;
            let with_fraction = format!("{}.{nanos:09}Z", &text[..text.len() - 1]);
            let expected = at + std::time::Duration::from_nanos(u64::from(nanos));
            ensure(
                time::parse_rfc3339(&with_fraction) == Some(expected),
                || format!("{with_fraction} does not read back"),
            )
        },
    );
}
