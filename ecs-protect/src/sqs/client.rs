//! [`SqsClient`]: the SQS JSON API over a signed HTTP transport.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use std::sync::Arc;

use super::wire::{self, Operation, QueueUrl};
use super::{BatchEntry, BatchOutcome, MalformedMessage, Message, QueueApi};
use crate::aws::credentials;
use crate::aws::http::{HttpClient, Timeouts};
use crate::aws::retry::RetryPolicy;
use crate::aws::signed::{AwsRequest, SignedClient};
use crate::aws::url::Url;
use crate::{Env, Error};

/// A blocking client for the three SQS operations the consumer uses, on one queue.
///
/// The endpoint is the queue URL's origin; the signing region comes from its host
/// (`sqs.<region>.amazonaws.com`), else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
///
/// ```
/// use ecs_protect::Env;
/// use ecs_protect::sqs::SqsClient;
///
/// let client = SqsClient::from_env(
///     "https://sqs.eu-west-1.amazonaws.com/111122223333/orders",
///     &Env::from_vars([
///         ("AWS_REGION", "us-east-1"),
///         ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
///         ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
///     ]),
/// )?;
/// assert_eq!(client.region(), "eu-west-1");
/// assert_eq!(client.endpoint(), "https://sqs.eu-west-1.amazonaws.com/");
/// # Ok::<(), ecs_protect::Error>(())
/// ```
pub struct SqsClient {
    queue: QueueUrl,
    transport: Box<dyn Transport>,
    /// FIFO queues: the `ReceiveRequestAttemptId` of a receive whose answer was lost, sent
    /// again with the next receive (and when it was made: SQS keeps one five minutes).
    attempt: Mutex<Option<(String, Instant)>>,
}

/// How long a lost receive's attempt id is reused: SQS remembers one for five minutes.
const ATTEMPT_REUSE: Duration = Duration::from_secs(4 * 60);

/// One HTTP request, unsigned: the transport signs it.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    pub(crate) operation: Operation,
    /// Where to `POST`.
    pub(crate) url: String,
    /// The signing region.
    pub(crate) region: String,
    /// `Content-Type` and `X-Amz-Target`; the transport adds `Host`, `X-Amz-Date`, the
    /// session token and `Authorization`.
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

/// One HTTP response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    /// Header names in lowercase.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// Sends a request: signs it (SigV4, service `sqs`) with the environment's credentials,
/// posts it, retries per the standard retry mode. Errors are transport or credential
/// errors; an HTTP error status is a response, decoded by the client.
pub(crate) trait Transport: Send + Sync + fmt::Debug {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error>;
}

/// The crate's signed AWS client as the SQS transport: SigV4 with the environment's
/// credentials and the clock-skew correction.
///
/// Receives go through a client whose read timeout outlasts the longest long poll (20 s)
/// by [`READ_MARGIN`], with the standard retry mode. Deletes and visibility changes
/// (heartbeats among them) go through one with short timeouts and a single attempt: the
/// consumer retries them itself, on its own schedule, while the visibility lasts.
#[derive(Debug)]
struct Signed {
    poll: SignedClient,
    call: SignedClient,
}

/// How much longer than a long poll the transport waits for an answer.
const READ_MARGIN: Duration = Duration::from_secs(10);
/// Timeouts of deletes and visibility changes: SQS answers them in milliseconds.
const CALL_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(3),
};

impl Signed {
    fn from_env(env: &Env) -> Result<Self, Error> {
        let poll_timeouts = Timeouts {
            connect: Duration::from_secs(3),
            read: wire::MAX_WAIT + READ_MARGIN,
        };
        let credentials = Arc::new(credentials::default_chain(env)?);
        let mut once = RetryPolicy::from_env(env)?;
        once.max_attempts = 1;
        Ok(Signed {
            poll: SignedClient::new(
                HttpClient::for_aws(poll_timeouts, env)?,
                credentials.clone(),
                wire::SIGNING_NAME,
                RetryPolicy::from_env(env)?,
            ),
            call: SignedClient::new(
                HttpClient::for_aws(CALL_TIMEOUTS, env)?,
                credentials,
                wire::SIGNING_NAME,
                once,
            ),
        })
    }
}

impl Transport for Signed {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let url =
            Url::parse(&request.url).map_err(|message| Error::config("queue URL", message))?;
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let client = match request.operation {
            Operation::ReceiveMessage => &self.poll,
            Operation::DeleteMessageBatch | Operation::ChangeMessageVisibilityBatch => &self.call,
        };
        let response = client.send(&AwsRequest {
            operation: request.operation.name(),
            region: &request.region,
            url: &url,
            headers: &headers,
            body: &request.body,
        })?;
        Ok(HttpResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

impl SqsClient {
    /// A client of the queue at `queue_url`, reading the region (when the URL's host does
    /// not name one) and credentials from `env`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the URL is not an `http(s)://host/path` URL (origin
    /// `queue URL`), or no region can be found (origin `AWS_REGION`).
    pub fn from_env(queue_url: &str, env: &Env) -> Result<Self, Error> {
        Ok(SqsClient {
            queue: QueueUrl::parse(queue_url, env)?,
            transport: Box::new(Signed::from_env(env)?),
            attempt: Mutex::new(None),
        })
    }

    #[cfg(test)]
    pub(crate) fn with_transport(
        queue_url: &str,
        env: &Env,
        transport: impl Transport + 'static,
    ) -> Result<Self, Error> {
        Ok(SqsClient {
            queue: QueueUrl::parse(queue_url, env)?,
            transport: Box::new(transport),
            attempt: Mutex::new(None),
        })
    }

    /// The endpoint requests are posted to: the queue URL's scheme and authority.
    pub fn endpoint(&self) -> &str {
        &self.queue.endpoint
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        &self.queue.region
    }

    fn call(&self, operation: Operation, body: &Value) -> Result<HttpResponse, Error> {
        let request = HttpRequest {
            operation,
            url: self.queue.endpoint.clone(),
            region: self.queue.region.clone(),
            headers: vec![
                ("content-type", wire::CONTENT_TYPE.to_owned()),
                ("x-amz-target", operation.target()),
            ],
            body: body.to_string().into_bytes(),
        };
        let response = self.transport.send(request)?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(wire::decode_api_error(
                operation,
                &self.queue.endpoint,
                response.status,
                &|name| response.header(name),
                &response.body,
            ))
        }
    }

    /// The attempt id of the next FIFO receive: the pending one of a receive whose answer
    /// was lost, else a new one.
    fn attempt_id(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut pending = self.attempt.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, made)) = pending.as_ref()
            && made.elapsed() < ATTEMPT_REUSE
        {
            return id.clone();
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let id = format!(
            "ecs-protect-{:x}-{nanos:x}-{:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        *pending = Some((id.clone(), Instant::now()));
        id
    }

    fn batch(&self, operation: Operation, entries: &[BatchEntry]) -> Result<BatchOutcome, Error> {
        let body = wire::batch_body(&self.queue.url, entries, operation);
        let response = self.call(operation, &body)?;
        wire::decode_batch(&self.queue.endpoint, &response.body)
    }
}

impl QueueApi for SqsClient {
    fn queue_url(&self) -> &str {
        &self.queue.url
    }

    /// Receives; on a FIFO queue with a `ReceiveRequestAttemptId`, the one of the last
    /// receive when its answer was lost (so SQS answers with the same messages instead of
    /// keeping their groups locked for the visibility timeout). A malformed message is the
    /// error; [`receive_each`](QueueApi::receive_each) keeps the good ones.
    fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<Message>, Error> {
        self.receive_each(max, wait, visibility_timeout)?
            .into_iter()
            .map(|message| message.map_err(|bad| bad.error))
            .collect()
    }

    fn receive_each(
        &self,
        max: usize,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<Result<Message, MalformedMessage>>, Error> {
        let attempt = self.queue.url.ends_with(".fifo").then(|| self.attempt_id());
        let body = wire::receive_body(
            &self.queue.url,
            max,
            wait,
            visibility_timeout,
            attempt.as_deref(),
        );
        let result = self
            .call(Operation::ReceiveMessage, &body)
            .and_then(|response| wire::decode_receive_each(&self.queue.endpoint, &response.body));
        if attempt.is_some() && !result.as_ref().is_err_and(answer_lost) {
            *self.attempt.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        result
    }

    fn delete_batch(&self, entries: &[BatchEntry]) -> Result<BatchOutcome, Error> {
        self.batch(Operation::DeleteMessageBatch, entries)
    }

    fn change_visibility_batch(&self, entries: &[BatchEntry]) -> Result<BatchOutcome, Error> {
        self.batch(Operation::ChangeMessageVisibilityBatch, entries)
    }
}

/// Whether a receive's answer may have been lost after SQS acted on it: the connection
/// failed, SQS failed (5xx), or the answer could not be read.
fn answer_lost(err: &Error) -> bool {
    match err {
        Error::Transport { .. } | Error::Decode { .. } => true,
        Error::Api(api) => api.status >= 500,
        _ => false,
    }
}

impl fmt::Debug for SqsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqsClient")
            .field("queue_url", &self.queue.url)
            .field("region", &self.queue.region)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers each request with the next canned response and keeps the requests.
    #[derive(Debug, Default)]
    struct Canned {
        responses: Mutex<Vec<HttpResponse>>,
        requests: Mutex<Vec<HttpRequest>>,
    }

    impl Transport for std::sync::Arc<Canned> {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
            self.requests.lock().unwrap().push(request);
            Ok(self.responses.lock().unwrap().remove(0))
        }
    }

    fn ok(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    const URL: &str = "https://sqs.eu-west-1.amazonaws.com/111122223333/orders";

    fn client(responses: Vec<HttpResponse>) -> (SqsClient, std::sync::Arc<Canned>) {
        let canned = std::sync::Arc::new(Canned {
            responses: Mutex::new(responses),
            requests: Mutex::default(),
        });
        let client = SqsClient::with_transport(URL, &Env::default(), canned.clone()).unwrap();
        (client, canned)
    }

    #[test]
    fn receive_posts_json_with_target_and_decodes() {
        let (client, canned) = client(vec![ok(
            r#"{"Messages": [{"MessageId": "m", "ReceiptHandle": "r", "Body": "b"}]}"#,
        )]);
        let messages = client
            .receive(5, Duration::from_secs(20), Duration::from_secs(30))
            .unwrap();
        assert_eq!(messages[0].body(), "b");
        let requests = canned.requests.lock().unwrap();
        let request = &requests[0];
        assert_eq!(request.url, "https://sqs.eu-west-1.amazonaws.com/");
        assert_eq!(request.region, "eu-west-1");
        assert!(
            request
                .headers
                .contains(&("content-type", "application/x-amz-json-1.0".into()))
        );
        assert!(
            request
                .headers
                .contains(&("x-amz-target", "AmazonSQS.ReceiveMessage".into()))
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["QueueUrl"], URL);
        assert_eq!(body["MaxNumberOfMessages"], 5);
    }

    #[test]
    fn batches_and_errors_go_through_the_wire() {
        let (client, canned) = client(vec![
            ok(r#"{"Successful": [{"Id": "0"}], "Failed": []}"#),
            HttpResponse {
                status: 400,
                headers: vec![("x-amzn-requestid".into(), "id-1".into())],
                body: br#"{"__type": "com.amazonaws.sqs#TooManyEntriesInBatchRequest", "message": "too many"}"#.to_vec(),
            },
        ]);
        let entry = BatchEntry {
            id: "0".into(),
            receipt_handle: "r".into(),
            visibility_timeout: Duration::ZERO,
        };
        let outcome = client.delete_batch(std::slice::from_ref(&entry)).unwrap();
        assert_eq!(outcome.successful, ["0"]);
        let err = client.change_visibility_batch(&[entry]).unwrap_err();
        let api = err.as_api().unwrap();
        assert_eq!(api.operation, "ChangeMessageVisibilityBatch");
        assert_eq!(api.code, "TooManyEntriesInBatchRequest");
        assert_eq!(api.request_id.as_deref(), Some("id-1"));
        let requests = canned.requests.lock().unwrap();
        assert!(
            requests[0]
                .headers
                .contains(&("x-amz-target", "AmazonSQS.DeleteMessageBatch".into()))
        );
        assert!(requests[1].headers.contains(&(
            "x-amz-target",
            "AmazonSQS.ChangeMessageVisibilityBatch".into()
        )));
    }

    #[test]
    fn a_fifo_receive_whose_answer_was_lost_is_retried_with_the_same_attempt_id() {
        let canned = std::sync::Arc::new(Canned {
            responses: Mutex::new(vec![
                HttpResponse {
                    status: 500,
                    headers: vec![],
                    body: br#"{"__type": "InternalError"}"#.to_vec(),
                },
                ok("{}"),
                ok("{}"),
                HttpResponse {
                    status: 400,
                    headers: vec![],
                    body: br#"{"__type": "InvalidParameterValue"}"#.to_vec(),
                },
                ok("{}"),
            ]),
            requests: Mutex::default(),
        });
        let fifo = "https://sqs.eu-west-1.amazonaws.com/111122223333/orders.fifo";
        let fifo_client = SqsClient::with_transport(fifo, &Env::default(), canned.clone()).unwrap();
        let wait = Duration::from_secs(20);
        let visibility = Duration::from_secs(30);
        assert!(fifo_client.receive(10, wait, visibility).is_err());
        for _ in 0..2 {
            fifo_client.receive(10, wait, visibility).unwrap();
        }
        assert!(fifo_client.receive(10, wait, visibility).is_err());
        fifo_client.receive(10, wait, visibility).unwrap();
        let ids: Vec<String> = canned
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                body["ReceiveRequestAttemptId"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            ids[0], ids[1],
            "the retry after a lost answer reuses the id"
        );
        assert_ne!(ids[1], ids[2], "an answered receive's id is not reused");
        assert_ne!(ids[3], ids[4], "a refused receive's id is not reused");
        // A standard queue's receive carries none.
        let (standard, canned) = client(vec![ok("{}")]);
        standard.receive(1, wait, visibility).unwrap();
        let body: Value = serde_json::from_slice(&canned.requests.lock().unwrap()[0].body).unwrap();
        assert!(body.get("ReceiveRequestAttemptId").is_none());
    }

    #[test]
    fn missing_credentials_are_a_clear_error_at_construction() {
        // No instance metadata either: a unit test never reaches 169.254.169.254.
        let env = Env::from_vars([
            ("AWS_REGION", "eu-west-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let err = SqsClient::from_env(URL, &env).map(|_| ()).unwrap_err();
        assert!(
            matches!(err, Error::Credentials { .. })
                && err.to_string().contains("AWS_ACCESS_KEY_ID"),
            "{err}"
        );
    }
}
