//! One blocking HTTP exchange over ureq: timeouts, a body size limit, errors that name the
//! endpoint. Signing and retries live above this layer.

use std::io;
use std::time::{Duration, SystemTime};

use ureq::tls::{RootCerts, TlsConfig};

use super::ca_bundle;
use super::proxy::ProxySettings;
use super::time;
use super::url::{Scheme, Url};
use crate::{Env, Error};

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

/// A blocking HTTP client with fixed timeouts: one ureq agent (one connection pool) per
/// route, direct or through the proxy of a scheme.
///
/// Redirects are not followed, and an HTTP error status is a response, not an error, so
/// that error bodies can be decoded.
#[derive(Debug)]
pub(crate) struct HttpClient {
    direct: ureq::Agent,
    /// Agents through the https and http proxies, with the settings that choose them.
    proxied: Option<Box<Proxied>>,
}

#[derive(Debug)]
struct Proxied {
    settings: ProxySettings,
    https: Option<ureq::Agent>,
    http: Option<ureq::Agent>,
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

fn agent(timeouts: Timeouts, proxy: Option<ureq::Proxy>, roots: Option<&RootCerts>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_resolve(Some(timeouts.connect))
        .timeout_connect(Some(timeouts.connect))
        .timeout_recv_response(Some(timeouts.read))
        .timeout_recv_body(Some(timeouts.read))
        .user_agent(USER_AGENT)
        .proxy(proxy);
    if let Some(roots) = roots {
        config = config.tls_config(TlsConfig::builder().root_certs(roots.clone()).build());
    }
    config.build().into()
}

impl HttpClient {
    /// A client of the local endpoints (credentials, metadata, agent): never through a
    /// proxy, which could not reach them, whatever the process environment says.
    pub(crate) fn local(timeouts: Timeouts) -> Self {
        HttpClient {
            direct: agent(timeouts, None, None),
            proxied: None,
        }
    }

    /// A client of AWS services as `env` configures it: the proxy of each URL's scheme
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, except hosts in `NO_PROXY`) and the trusted roots
    /// (`AWS_CA_BUNDLE`, else the bundled webpki roots).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable: a malformed proxy URL, or a CA bundle that
    /// cannot be read or holds no certificate.
    pub(crate) fn for_aws(timeouts: Timeouts, env: &Env) -> Result<Self, Error> {
        let settings = ProxySettings::from_env(env)?;
        let roots = ca_bundle::from_env(env)?;
        let via = |proxy: &Option<(ureq::Proxy, &'static str)>| {
            proxy
                .as_ref()
                .map(|(proxy, _)| agent(timeouts, Some(proxy.clone()), roots.as_ref()))
        };
        Ok(HttpClient {
            direct: agent(timeouts, None, roots.as_ref()),
            proxied: Some(Box::new(Proxied {
                https: via(&settings.https),
                http: via(&settings.http),
                settings,
            })),
        })
    }

    /// The agent for `url`: through its scheme's proxy unless `NO_PROXY` matches.
    fn agent_for(&self, url: &Url) -> &ureq::Agent {
        let Some(proxied) = &self.proxied else {
            return &self.direct;
        };
        match (proxied.settings.for_url(url), url.scheme) {
            (Some(_), Scheme::Https) => proxied.https.as_ref().unwrap_or(&self.direct),
            (Some(_), Scheme::Http) => proxied.http.as_ref().unwrap_or(&self.direct),
            (None, _) => &self.direct,
        }
    }

    /// Sends `method url` with `headers` (the `Host` header is added: [`Url::host_header`],
    /// the value that is signed) and `body`, and reads the whole response.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the request cannot be built (a header value that cannot be
    /// sent, such as a token with a newline): retrying cannot help; [`Error::Transport`]
    /// when the endpoint cannot be reached, the connection fails, or a timeout expires;
    /// [`Error::Decode`] when the body exceeds [`BODY_LIMIT`].
    pub(crate) fn send(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, Error> {
        let endpoint = url.to_string();
        check_headers(&endpoint, headers)?;
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(url.wire().as_str())
            .header("host", url.host_header());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let agent = self.agent_for(url);
        let result = match body {
            Some(body) => builder.body(body).map(|r| agent.run(r)),
            None => builder.body(()).map(|r| agent.run(r)),
        };
        let mut response = result
            .map_err(|e| {
                Error::config(
                    format!("the request to {endpoint}"),
                    format!("cannot be built: {e}"),
                )
            })?
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

/// A header value must be visible ASCII or spaces/tabs: anything else (a newline at the
/// end of a token) is a local mistake, reported naming the header, never its value.
fn check_headers(endpoint: &str, headers: &[(&str, &str)]) -> Result<(), Error> {
    for (name, value) in headers {
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_graphic() || *c == ' ' || *c == '\t'))
        {
            let what = if bad.is_control() {
                "a control character (such as a newline)"
            } else {
                "a non-ASCII character"
            };
            return Err(Error::config(
                format!("the {name} header of the request to {endpoint}"),
                format!("contains {what}, which cannot be sent: check where its value comes from"),
            ));
        }
    }
    Ok(())
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
        HttpClient::local(Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(5),
        })
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
        let quick = HttpClient::local(Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(100),
        });
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

#[cfg(test)]
mod edge_tests {
    use super::test_server::{Reply, TestServer};
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        read: Duration::from_secs(5),
    };

    #[test]
    fn a_header_that_cannot_be_sent_is_a_configuration_error_and_nothing_is_sent() {
        let mut server = TestServer::start(vec![Reply::json(200, "{}")]);
        let url = Url::parse(&server.url).unwrap();
        let err = HttpClient::local(TIMEOUTS)
            .send("GET", &url, &[("x-amz-security-token", "token-1\n")], None)
            .unwrap_err();
        assert!(
            matches!(err, Error::Config { .. }) && err.is_permanent(),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "invalid the x-amz-security-token header of the request to {url}: contains a \
                 control character (such as a newline), which cannot be sent: check where its \
                 value comes from"
            )
        );
        assert!(!err.to_string().contains("token-1"));
        // A configuration error is not retried.
        let failure = crate::aws::retry::Failure::from_error(err);
        assert_eq!(failure.kind, crate::aws::retry::Kind::Permanent);
        assert!(server.requests().is_empty());
    }

    #[test]
    fn requests_go_through_the_proxy_of_their_scheme_unless_no_proxy_matches() {
        // The scripted proxies refuse to tunnel (502): one CONNECT each, nothing after it.
        let mut proxy = TestServer::start(vec![Reply::json(502, "{}")]);
        let proxy_url = proxy.url.clone();
        let env = |no_proxy: &str| {
            Env::from_vars([
                ("HTTP_PROXY", proxy_url.as_str()),
                ("HTTPS_PROXY", "http://127.0.0.1:9"),
                ("NO_PROXY", no_proxy),
            ])
        };
        // http: through HTTP_PROXY, asked to connect to the target.
        let client = HttpClient::for_aws(TIMEOUTS, &env("localhost")).unwrap();
        let target = Url::parse("http://sqs.eu-west-1.example.invalid:4566/queue").unwrap();
        let _ = client.send("GET", &target, &[], None);
        let seen = proxy.requests().to_vec();
        let through_proxy = seen.len();
        assert_eq!(through_proxy, 1);
        assert_eq!(seen[0].method, "CONNECT");
        assert_eq!(seen[0].path, "sqs.eu-west-1.example.invalid:4566");

        // NO_PROXY matches the domain: sent directly (and the host does not resolve).
        let direct = HttpClient::for_aws(TIMEOUTS, &env("example.invalid")).unwrap();
        let err = direct.send("GET", &target, &[], None).unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert_eq!(proxy.requests().len(), through_proxy);

        // https: through HTTPS_PROXY, not HTTP_PROXY.
        let mut secure_proxy = TestServer::start(vec![Reply::json(502, "{}")]);
        let secure_env = Env::from_vars([
            ("HTTP_PROXY", proxy_url.as_str()),
            ("HTTPS_PROXY", secure_proxy.url.as_str()),
        ]);
        let secure = HttpClient::for_aws(TIMEOUTS, &secure_env).unwrap();
        let https = Url::parse("https://ecs.eu-west-1.amazonaws.com/").unwrap();
        let _ = secure.send("POST", &https, &[], Some(b"{}"));
        let seen = secure_proxy.requests().to_vec();
        assert_eq!(seen[0].method, "CONNECT");
        assert_eq!(seen[0].path, "ecs.eu-west-1.amazonaws.com:443");
        assert_eq!(proxy.requests().len(), through_proxy);

        // The local endpoints never use a proxy.
        let mut local_server = TestServer::start(vec![Reply::json(200, "{}")]);
        let local = Url::parse(&local_server.url).unwrap();
        HttpClient::local(TIMEOUTS)
            .send("GET", &local, &[], None)
            .unwrap();
        assert_eq!(local_server.requests().len(), 1);
        assert_eq!(proxy.requests().len(), through_proxy);
    }
}
