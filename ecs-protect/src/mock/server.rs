//! The fake AWS's HTTP side: worker threads taking requests from `tiny_http`, routing them
//! to the endpoint handlers and writing the answers (every answer carries a `Date` header
//! from the fake's clock, as AWS's do).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use super::clock;
use super::state::{AwsCall, Operation, Outcome, State};
use super::verify::Received;
use super::{api, endpoints};

/// The largest body the fake reads (ECS requests are a few hundred bytes).
const MAX_BODY: u64 = 1 << 20;

/// The fixed settings of one fake, chosen by the builder.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) cluster: String,
    pub(crate) task_id: String,
    pub(crate) service_name: Option<String>,
    pub(crate) family: String,
    pub(crate) endpoint_id: String,
    pub(crate) authorization_token: String,
    pub(crate) minute: Duration,
    pub(crate) rotation: Duration,
    pub(crate) lifetime: Duration,
}

impl Settings {
    pub(crate) fn cluster_arn(&self) -> String {
        format!(
            "arn:aws:ecs:{}:{}:cluster/{}",
            self.region, self.account, self.cluster
        )
    }

    pub(crate) fn task_arn(&self) -> String {
        format!(
            "arn:aws:ecs:{}:{}:task/{}/{}",
            self.region, self.account, self.cluster, self.task_id
        )
    }
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// Re-signs received requests to check them.
    pub(crate) signer: crate::aws::sigv4::Signer,
    pub(crate) state: Mutex<State>,
    /// Notified after every recorded call.
    pub(crate) changed: Condvar,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked cannot leave the state half-changed in a way that matters
        // to a test more than losing the fake would: keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fake's clock.
    pub(crate) fn now(&self, state: &State) -> SystemTime {
        clock::skewed(SystemTime::now(), state.skew_secs)
    }

    /// Records a call and wakes the waiters.
    /// Checks a signed request for `service` the way AWS does, against the keys the fake
    /// issued; the access key id when it passes.
    pub(crate) fn verify_signature(
        &self,
        request: &super::verify::Received<'_>,
        service: &str,
        now: SystemTime,
    ) -> Result<String, super::verify::Rejection> {
        let expect = super::verify::Expect {
            signer: &self.signer,
            region: &self.settings.region,
            service,
            now,
        };
        super::verify::verify(request, &expect, |id| {
            self.lock()
                .keys
                .iter()
                .find(|k| k.access_key_id == id)
                .cloned()
        })
    }

    pub(crate) fn record(&self, state: &mut State, call: AwsCall) {
        state.calls.push(call);
        self.changed.notify_all();
    }
}

/// An answer to write.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string(),
            headers: Vec::new(),
        }
    }
}

/// What a handler returns: the answer, and the call to record.
pub(crate) struct Handled {
    pub(crate) reply: Reply,
    pub(crate) operation: Operation,
    pub(crate) outcome: Outcome,
    pub(crate) change: Option<crate::Protection>,
    pub(crate) access_key_id: Option<String>,
}

/// The running server: worker threads over one `tiny_http` listener.
pub(crate) struct Running {
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts `workers` threads serving `server`.
    pub(crate) fn start(
        server: tiny_http::Server,
        shared: Arc<Shared>,
        workers: usize,
    ) -> std::io::Result<Self> {
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut running = Running {
            server: Arc::clone(&server),
            stop: Arc::clone(&stop),
            workers: Vec::with_capacity(workers),
        };
        for i in 0..workers {
            let (server, stop, shared) =
                (Arc::clone(&server), Arc::clone(&stop), Arc::clone(&shared));
            let handle = thread::Builder::new()
                .name(format!("mock-ecs-{i}"))
                .spawn(move || serve(&server, &stop, &shared))?;
            running.workers.push(handle);
        }
        Ok(running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Each unblock is queued and wakes exactly one `recv`.
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        // The last `Arc<Server>` drops here: tiny_http then closes its listener.
    }
}

fn serve(server: &tiny_http::Server, stop: &AtomicBool, shared: &Shared) {
    loop {
        match server.recv() {
            Ok(request) => handle(shared, request),
            Err(_) if stop.load(Ordering::SeqCst) => return,
            Err(e) => {
                log::debug!("mock ECS: receive failed: {e}");
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
        }
    }
}

fn handle(shared: &Shared, mut request: tiny_http::Request) {
    let started = Instant::now();
    let mut body = Vec::new();
    let read = request.as_reader().take(MAX_BODY).read_to_end(&mut body);
    let method = request.method().as_str().to_owned();
    let target = request.url().to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_owned(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let received = Received {
        method: &method,
        target: &target,
        headers: &headers,
        body: &body,
    };
    let handled = match read {
        Ok(_) => route(shared, &received),
        Err(e) => Handled {
            reply: Reply::json(
                400,
                &serde_json::json!({"message": format!("cannot read the request body: {e}")}),
            ),
            operation: Operation::Other,
            outcome: Outcome::Error {
                status: 400,
                code: "BadRequest".into(),
            },
            change: None,
            access_key_id: None,
        },
    };
    let date = {
        let mut state = shared.lock();
        let time = shared.now(&state);
        let call = AwsCall {
            at: started,
            time,
            operation: handled.operation,
            request_line: format!("{method} {}", target.split('?').next().unwrap_or("")),
            change: handled.change,
            access_key_id: handled.access_key_id,
            outcome: handled.outcome,
        };
        shared.record(&mut state, call);
        clock::http_date(time)
    };
    let reply = handled.reply;
    let mut response = tiny_http::Response::from_string(reply.body)
        .with_status_code(reply.status)
        .with_header(header("Content-Type", reply.content_type))
        .with_header(header("Date", &date));
    for (name, value) in &reply.headers {
        response = response.with_header(header(name, value));
    }
    if let Err(e) = request.respond(response) {
        log::debug!("mock ECS: answering {method} {target} failed: {e}");
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    // Names are ours and values ASCII; a value that is not becomes an empty header rather
    // than a panic.
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .or_else(|()| tiny_http::Header::from_bytes(name.as_bytes(), &b""[..]))
        .unwrap_or_else(|()| {
            tiny_http::Header::from_bytes(&b"X-Mock-Ecs"[..], &b"invalid-header"[..])
                .unwrap_or_else(|()| unreachable!("a constant ASCII header is valid"))
        })
}

fn route(shared: &Shared, request: &Received<'_>) -> Handled {
    let path = request.target.split('?').next().unwrap_or("");
    let settings = &shared.settings;
    let metadata = format!("/v4/{}/task", settings.endpoint_id);
    let agent = format!("/api/{}/task-protection/v1/state", settings.endpoint_id);
    match (request.method, path) {
        #[cfg(feature = "sqs")]
        ("POST", "/")
            if request
                .header("x-amz-target")
                .is_some_and(|t| t.starts_with("AmazonSQS.")) =>
        {
            super::sqs_api::handle(shared, request)
        }
        ("POST", "/") => api::handle(shared, request),
        ("GET", p) if p == metadata => endpoints::task_metadata(shared),
        ("GET", "/creds") => endpoints::credentials(shared, request),
        ("PUT", p) if p == agent => api::agent_update(shared, request),
        ("GET", p) if p == agent => api::agent_get(shared),
        (_, p) if p == agent || p == metadata || p == "/creds" || p == "/" => {
            endpoints::not_found(405, "method not allowed")
        }
        _ => endpoints::not_found(404, "no such endpoint on the mock ECS"),
    }
}
