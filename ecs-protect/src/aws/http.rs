//! One blocking HTTP exchange over ureq: timeouts, a body size limit, errors that name the
//! endpoint. Signing and retries live above this layer.

use std::io;
use std::time::{Duration, SystemTime};

use super::time;
use super::url::Url;
use crate::Error;

/// The largest response body read (1 MiB): ECS, agent, metadata and credential answers are
/// a few hundred bytes.
pub(crate) const BODY_LIMIT: u64 = 1024 * 1024;

/// The `User-Agent` sent with every request.
const USER_AGENT: &str = concat!("ecs-protect/", env!("CARGO_PKG_VERSION"));

/// Connect and read timeouts of one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Resolving the host name plus connecting (and the TLS handshake).
    pub(crate) connect: Duration,
    /// Waiting for the response headers, then again for the whole body.
    pub(crate) read: Duration,
}

/// A blocking HTTP client: one ureq agent (one connection pool) with fixed timeouts.
///
/// Redirects are not followed, and an HTTP error status is a response, not an error, so
/// that error bodies can be decoded.
#[derive(Debug)]
pub(crate) struct HttpClient {
    agent: ureq::Agent,
}

/// A response: status, headers with lowercase names, and the body (at most [`BODY_LIMIT`]).
#[derive(Clone, Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The server's clock, from the `Date` header.
    pub(crate) fn date(&self) -> Option<SystemTime> {
        self.header("date").and_then(time::parse_http_date)
    }

    /// AWS's request id: `x-amzn-RequestId`, else `x-amz-request-id`.
    pub(crate) fn request_id(&self) -> Option<String> {
        self.header("x-amzn-requestid")
            .or_else(|| self.header("x-amz-request-id"))
            .map(str::to_owned)
    }

    /// Whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl HttpClient {
    /// A client with `timeouts`. `use_env_proxy`: whether `HTTPS_PROXY`/`HTTP_PROXY`/
    /// `NO_PROXY` apply (ureq reads them); off for the link-local ECS endpoints, which a
    /// proxy cannot reach.
    pub(crate) fn new(timeouts: Timeouts, use_env_proxy: bool) -> Self {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(Some(timeouts.connect))
            .timeout_connect(Some(timeouts.connect))
            .timeout_recv_response(Some(timeouts.read))
            .timeout_recv_body(Some(timeouts.read))
            .user_agent(USER_AGENT);
        if !use_env_proxy {
            config = config.proxy(None);
        }
        HttpClient {
            agent: config.build().into(),
        }
    }

    /// Sends `method url` with `headers` (the `Host` header is added: [`Url::host_header`],
    /// the value that is signed) and `body`, and reads the whole response.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] when the endpoint cannot be reached, the connection fails, or a
    /// timeout expires; [`Error::Decode`] when the body exceeds [`BODY_LIMIT`].
    pub(crate) fn send(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, Error> {
        let endpoint = url.to_string();
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(endpoint.as_str())
            .header("host", url.host_header());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let result = match body {
            Some(body) => builder.body(body).map(|r| self.agent.run(r)),
            None => builder.body(()).map(|r| self.agent.run(r)),
        };
        let mut response = result
            .map_err(|e| transport(&endpoint, Box::new(e)))?
            .map_err(|e| from_ureq(&endpoint, e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::Decode {
                    endpoint: endpoint.clone(),
                    message: format!("response body larger than {BODY_LIMIT} bytes"),
                },
                e => from_ureq(&endpoint, e),
            })?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn transport(endpoint: &str, source: crate::error::BoxError) -> Error {
    Error::Transport {
        endpoint: endpoint.to_owned(),
        timed_out: false,
        source,
    }
}

fn from_ureq(endpoint: &str, err: ureq::Error) -> Error {
    let timed_out = match &err {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => matches!(io.kind(), io::ErrorKind::TimedOut),
        _ => false,
    };
    Error::Transport {
        endpoint: endpoint.to_owned(),
        timed_out,
        source: Box::new(err),
    }
}

#[cfg(test)]
pub(crate) mod test_server {
    //! A scripted HTTP server on 127.0.0.1 for the clients' tests: each request is recorded
    //! and answered with the next scripted response.

    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::thread;
    use std::time::Duration;

    /// A request the server saw.
    #[derive(Clone, Debug)]
    pub(crate) struct Seen {
        pub(crate) method: String,
        pub(crate) path: String,
        pub(crate) headers: Vec<(String, String)>,
        pub(crate) body: String,
    }

    impl Seen {
        pub(crate) fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// A scripted answer.
    #[derive(Clone, Debug)]
    pub(crate) struct Reply {
        pub(crate) status: u16,
        pub(crate) headers: Vec<(String, String)>,
        pub(crate) body: String,
        /// Hold the answer this long (to exercise read timeouts).
        pub(crate) delay: Duration,
    }

    impl Reply {
        pub(crate) fn json(status: u16, body: &str) -> Reply {
            Reply {
                status,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: body.to_owned(),
                delay: Duration::ZERO,
            }
        }

        pub(crate) fn header(mut self, name: &str, value: &str) -> Reply {
            self.headers.push((name.to_owned(), value.to_owned()));
            self
        }
    }

    /// The server: answers in script order; past the end of the script it repeats the last
    /// reply (or answers 599 when there is none).
    pub(crate) struct TestServer {
        pub(crate) url: String,
        script: Arc<Mutex<Vec<Reply>>>,
        seen: mpsc::Receiver<Seen>,
        log: Vec<Seen>,
    }

    impl TestServer {
        pub(crate) fn start(replies: Vec<Reply>) -> TestServer {
            let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1");
            let port = server.server_addr().to_ip().expect("an IP address").port();
            let script = Arc::new(Mutex::new(replies));
            let (tx, rx) = mpsc::channel();
            let shared = script.clone();
            thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let seen = Seen {
                        method: request.method().as_str().to_owned(),
                        path: request.url().to_owned(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|h| {
                                (
                                    h.field.as_str().as_str().to_owned(),
                                    h.value.as_str().to_owned(),
                                )
                            })
                            .collect(),
                        body,
                    };
                    if tx.send(seen).is_err() {
                        return;
                    }
                    let reply = {
                        let mut script = shared.lock().unwrap();
                        if script.len() > 1 {
                            Some(script.remove(0))
                        } else {
                            script.first().cloned()
                        }
                    };
                    let reply = reply.unwrap_or_else(|| Reply::json(599, "no scripted reply"));
                    if !reply.delay.is_zero() {
                        thread::sleep(reply.delay);
                    }
                    let mut response =
                        tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
                    for (name, value) in &reply.headers {
                        if let Ok(h) =
                            tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                        {
                            response.add_header(h);
                        }
                    }
                    let _ = request.respond(response);
                }
            });
            TestServer {
                url: format!("http://127.0.0.1:{port}"),
                script,
                seen: rx,
                log: Vec::new(),
            }
        }

        /// Replaces the replies still to come.
        pub(crate) fn script(&self, replies: Vec<Reply>) {
            *self.script.lock().unwrap() = replies;
        }

        /// Every request seen so far (the calls under test are blocking, so all requests
        /// they made have been recorded by the time they return).
        pub(crate) fn requests(&mut self) -> &[Seen] {
            while let Ok(seen) = self.seen.try_recv() {
                self.log.push(seen);
            }
            &self.log
        }
    }

    /// A URL on 127.0.0.1 where nothing listens (a port bound, then released).
    pub(crate) fn closed_port_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::test_server::{Reply, TestServer, closed_port_url};
    use super::*;

    fn client() -> HttpClient {
        HttpClient::new(
            Timeouts {
                connect: Duration::from_secs(2),
                read: Duration::from_secs(5),
            },
            false,
        )
    }

    #[test]
    fn sends_host_with_port_and_reads_error_bodies() {
        let mut server = TestServer::start(vec![
            Reply::json(400, r#"{"__type":"ThrottlingException"}"#)
                .header("x-amzn-RequestId", "req-1")
                .header("Date", "Tue, 24 Nov 2026 21:57:44 GMT"),
        ]);
        let url = Url::parse(&format!("{}/path", server.url)).unwrap();
        let response = client()
            .send(
                "POST",
                &url,
                &[("content-type", "application/json")],
                Some(b"{}"),
            )
            .unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(response.body, br#"{"__type":"ThrottlingException"}"#);
        assert_eq!(response.request_id().as_deref(), Some("req-1"));
        assert_eq!(
            response.date(),
            time::parse_http_date("Tue, 24 Nov 2026 21:57:44 GMT")
        );
        let seen = &server.requests()[0];
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/path");
        assert_eq!(seen.header("host"), Some(url.host_header().as_str()));
        assert!(url.host_header().starts_with("127.0.0.1:"));
        assert_eq!(seen.body, "{}");
        assert_eq!(seen.header("user-agent"), Some(USER_AGENT));
    }

    #[test]
    fn unreachable_endpoint_is_a_transport_error_naming_it() {
        let url = Url::parse(&closed_port_url()).unwrap();
        let err = client().send("GET", &url, &[], None).unwrap_err();
        match &err {
            Error::Transport {
                endpoint,
                timed_out,
                ..
            } => {
                assert_eq!(endpoint, &url.to_string());
                assert!(!timed_out);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.to_string(), format!("request to {url} failed"));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn read_timeout_is_reported_as_timed_out() {
        let mut reply = Reply::json(200, "{}");
        // Far past the read timeout: a loaded machine cannot make the answer look prompt.
        reply.delay = Duration::from_secs(5);
        let server = TestServer::start(vec![reply]);
        let quick = HttpClient::new(
            Timeouts {
                connect: Duration::from_secs(2),
                read: Duration::from_millis(100),
            },
            false,
        );
        let url = Url::parse(&server.url).unwrap();
        let err = quick.send("GET", &url, &[], None).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Transport {
                    timed_out: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), format!("request to {url} timed out"));
    }

    #[test]
    fn oversized_body_is_a_decode_error() {
        let big = "x".repeat(BODY_LIMIT as usize + 1);
        let server = TestServer::start(vec![Reply::json(200, &big)]);
        let url = Url::parse(&server.url).unwrap();
        let err = client().send("GET", &url, &[], None).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("response body larger than 1048576 bytes"),
            "{err}"
        );
    }
}
