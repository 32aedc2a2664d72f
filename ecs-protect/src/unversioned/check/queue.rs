//! `GetQueueAttributes`: proves the queue exists and the task role may read it.

use std::sync::Arc;

use serde_json::{Value, json};

use super::call_problem;
use crate::aws::Credentials;
use crate::aws::credentials::{CachingProvider, StaticProvider};
use crate::aws::endpoint;
use crate::aws::http::HttpClient;
use crate::aws::retry::RetryPolicy;
use crate::aws::signed::{AwsRequest, SignedClient};
use crate::aws::url::Url;

/// `GetQueueAttributes` for `VisibilityTimeout` and `RedrivePolicy`.
pub(crate) fn queue_attributes(
    url: &str,
    source: &str,
    fallback_region: Option<&str>,
    creds: Credentials,
    http: HttpClient,
    retry: RetryPolicy,
) -> Result<(Option<u64>, Option<String>), String> {
    let parsed = Url::parse(url).map_err(|m| format!("invalid {source}: {m}"))?;
    // sqs.<region>.amazonaws.com names its region; a custom endpoint takes the ECS one.
    let region = parsed
        .host
        .strip_prefix("sqs.")
        .and_then(|rest| rest.split('.').next())
        .filter(|r| endpoint::check_region(r, source).is_ok() && r.contains('-'))
        .map(str::to_owned)
        .or_else(|| fallback_region.map(str::to_owned))
        .ok_or_else(|| {
            format!("AWS_REGION: not set, and {source} names no region: set AWS_REGION")
        })?;
    let mut endpoint = parsed.clone();
    endpoint.path = "/".to_owned();
    endpoint.query = None;
    let provider = CachingProvider::new(Arc::new(StaticProvider(creds)));
    let client = SignedClient::new(http, Arc::new(provider), "sqs", retry);
    let body = json!({
        "QueueUrl": url,
        "AttributeNames": ["VisibilityTimeout", "RedrivePolicy"],
    })
    .to_string();
    let answer = client
        .send(&AwsRequest {
            operation: "GetQueueAttributes",
            region: &region,
            url: &endpoint,
            headers: &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", "AmazonSQS.GetQueueAttributes"),
            ],
            body: body.as_bytes(),
        })
        .map_err(|err| {
            let missing = err.as_api().is_some_and(|api| {
                api.code.contains("NonExistentQueue") || api.code.contains("QueueDoesNotExist")
            });
            if missing {
                format!("{source}: the queue {url} does not exist ({err})")
            } else {
                call_problem(
                    &err,
                    "sqs:GetQueueAttributes",
                    &format!("{} (from {source})", endpoint),
                )
            }
        })?;
    let value: Value = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("sqs:GetQueueAttributes: malformed JSON answer: {e}"))?;
    let attributes = &value["Attributes"];
    let timeout = attributes["VisibilityTimeout"]
        .as_str()
        .and_then(|t| t.parse().ok());
    let redrive = attributes["RedrivePolicy"].as_str().map(str::to_owned);
    Ok((timeout, redrive))
}
