use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, UNIX_EPOCH};

use super::cache::{EXPIRY_MARGIN, refresh_windows, retry_spacing};
use crate::aws::time::Skew;

use super::container::tests::credentials_json;
use super::*;
use crate::aws::http::test_server::{Reply, TestServer, closed_port_url};

fn env(vars: &[(&str, &str)]) -> Env {
    Env::from_vars(vars.iter().copied())
}

#[test]
fn debug_and_display_redact_secret_and_token() {
    let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI", Some("FwoGZXIvYXdzE".into()));
    let debug = format!("{creds:?}");
    let display = creds.to_string();
    assert_eq!(
        debug,
        "Credentials { access_key_id: \"AKIDEXAMPLE\", secret_access_key: \"** redacted **\", \
         session_token: Some(\"** redacted **\"), expires_at: None }"
    );
    assert_eq!(
        display,
        "access key AKIDEXAMPLE, secret ** redacted **, session token ** redacted **"
    );
    let alternate = format!("{creds:#?}");
    for shown in [debug, display, alternate] {
        assert!(!shown.contains("wJalrXUtnFEMI") && !shown.contains("FwoGZXIvYXdzE"));
    }
}

#[test]
fn environment_needs_both_halves() {
    let full = env(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("AWS_SESSION_TOKEN", "TOKEN"),
    ]);
    let creds = from_environment(&full).unwrap().unwrap();
    assert_eq!(creds.access_key_id(), "AKID");
    assert_eq!(creds.secret_access_key(), "SECRET");
    assert_eq!(creds.session_token(), Some("TOKEN"));
    assert_eq!(creds.expires_at(), None);
    assert_eq!(from_environment(&env(&[])).unwrap(), None);
    // Trimmed, and a blank value counts as unset (as the Rust SDK).
    let padded = env(&[
        ("AWS_ACCESS_KEY_ID", " AKID\n"),
        ("AWS_SECRET_ACCESS_KEY", "\tSECRET "),
        ("AWS_SESSION_TOKEN", "TOKEN\r\n"),
    ]);
    let creds = from_environment(&padded).unwrap().unwrap();
    assert_eq!(
        (
            creds.access_key_id(),
            creds.secret_access_key(),
            creds.session_token()
        ),
        ("AKID", "SECRET", Some("TOKEN"))
    );
    let blank = env(&[
        ("AWS_ACCESS_KEY_ID", "  "),
        ("AWS_SECRET_ACCESS_KEY", "\n"),
        ("AWS_SESSION_TOKEN", " "),
    ]);
    assert_eq!(from_environment(&blank).unwrap(), None);
    let no_token = env(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("AWS_SESSION_TOKEN", "  "),
    ]);
    assert_eq!(
        from_environment(&no_token)
            .unwrap()
            .unwrap()
            .session_token(),
        None
    );

    let err = from_environment(&env(&[("AWS_ACCESS_KEY_ID", "AKID")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid AWS_SECRET_ACCESS_KEY: is not set but AWS_ACCESS_KEY_ID is: set both or neither"
    );
    let err = from_environment(&env(&[("AWS_SECRET_ACCESS_KEY", "SECRET")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid AWS_ACCESS_KEY_ID: is not set but AWS_SECRET_ACCESS_KEY is: set both or neither"
    );
    assert!(!err.to_string().contains("SECRET\""));
}

#[test]
fn default_chain_order() {
    // Environment first, even with a container endpoint configured.
    let both = env(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/x",
        ),
    ]);
    let chain = default_chain(&both).unwrap();
    assert_eq!(chain.credentials().unwrap().access_key_id(), "AKID");
    assert!(format!("{chain:?}").contains("StaticProvider"));

    let container = env(&[(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "/v2/credentials/x",
    )]);
    assert!(format!("{:?}", default_chain(&container).unwrap()).contains("ContainerProvider"));

    let err = default_chain(&env(&[("AWS_EC2_METADATA_DISABLED", "true")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not load AWS credentials from the environment: no credentials found: set \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile with static \
         keys or credential_process), or run in an ECS task with a task role \
         (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) or on EC2 with an instance role; EC2 \
         instance metadata is disabled (AWS_EC2_METADATA_DISABLED)"
    );
    // A bad setting is reported, not skipped.
    let bad = env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/")]);
    assert!(matches!(default_chain(&bad), Err(Error::Config { .. })));
}

#[test]
fn default_chain_profile_then_container_then_instance_metadata() {
    let dir = std::env::temp_dir().join(format!("ecs-protect-chain-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".aws")).unwrap();
    std::fs::write(
        dir.join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = s\n",
    )
    .unwrap();
    let home = dir.to_str().unwrap();
    let relative = (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "/v2/credentials/x",
    );
    // The environment wins over the profile, the profile over the container endpoint.
    let with_env = env(&[
        ("HOME", home),
        ("AWS_ACCESS_KEY_ID", "AKIAENV"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        relative,
    ]);
    assert_eq!(
        default_chain(&with_env)
            .unwrap()
            .credentials()
            .unwrap()
            .access_key_id(),
        "AKIAENV"
    );
    let profile = default_chain(&env(&[("HOME", home), relative])).unwrap();
    assert_eq!(
        profile.credentials().unwrap().access_key_id(),
        "AKIAPROFILE"
    );
    let container = default_chain(&env(&[relative])).unwrap();
    assert!(format!("{container:?}").contains("ContainerProvider"));

    // Instance metadata last, when its token endpoint answers.
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let json = credentials_json("ASIAEC2", expires);
    let server = TestServer::start(vec![
        Reply::json(200, "token"),
        Reply::json(200, "role"),
        Reply::json(200, &json),
    ]);
    let imds = default_chain(&env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &server.url)])).unwrap();
    assert!(format!("{imds:?}").contains("ImdsProvider"));
    assert_eq!(imds.credentials().unwrap().access_key_id(), "ASIAEC2");
    // Not answering: the error says so, after about a second at most.
    let closed = closed_port_url();
    let started = std::time::Instant::now();
    let err = default_chain(&env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed)])).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.to_string()
            .contains("EC2 instance metadata did not answer"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Signals "a fetch has started", then waits for "go on".
type Gate = (Mutex<mpsc::Sender<()>>, Mutex<mpsc::Receiver<()>>);

/// A provider answering from a script, counting fetches, optionally holding each fetch
/// until released.
#[derive(Debug)]
struct Scripted {
    answers: Mutex<VecDeque<Result<Credentials, Error>>>,
    fetches: AtomicUsize,
    gate: Option<Gate>,
}

impl Scripted {
    fn new(answers: Vec<Result<Credentials, Error>>) -> Arc<Self> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            fetches: AtomicUsize::new(0),
            gate: None,
        })
    }
}

impl ProvideCredentials for Scripted {
    fn fetch(&self) -> Result<Credentials, Error> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if let Some((entered, release)) = &self.gate {
            entered.lock().unwrap().send(()).unwrap();
            release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10))
                .unwrap();
        }
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(failure()))
    }
}

fn failure() -> Error {
    Error::Credentials {
        origin: "test".into(),
        message: "endpoint down".into(),
        source: None,
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn creds(id: &str, expires: u64) -> Credentials {
    Credentials::new(id, "s", Some("t".into())).expiring(at(expires))
}

/// A clock the test moves by hand.
fn manual_clock(start: u64) -> (Arc<AtomicU64>, Clock) {
    let now = Arc::new(AtomicU64::new(start));
    let read = now.clone();
    (now, Arc::new(move || at(read.load(Ordering::SeqCst))))
}

#[test]
fn cache_refreshes_in_the_advisory_and_mandatory_windows() {
    let inner = Scripted::new(vec![
        Ok(creds("first", 10_000)),
        Ok(creds("second", 20_000)),
        Err(failure()),
        Err(failure()),
    ]);
    let (now, clock) = manual_clock(1_000);
    let cache = CachingProvider::with_clock(inner.clone(), clock);

    assert_eq!(cache.credentials().unwrap().access_key_id(), "first");
    // Fresh: more than 15 minutes left, nothing fetched.
    now.store(10_000 - 16 * 60, Ordering::SeqCst);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "first");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 1);
    // Advisory: 14 minutes left, refreshed.
    now.store(10_000 - 14 * 60, Ordering::SeqCst);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "second");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
    // Advisory refresh fails: the current credentials are kept.
    now.store(20_000 - 14 * 60, Ordering::SeqCst);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "second");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 3);
    // Mandatory refresh fails too: the still-valid credentials are kept.
    now.store(20_000 - 9 * 60, Ordering::SeqCst);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "second");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 4);
}

#[test]
fn an_outage_keeps_valid_credentials_and_spaces_out_attempts() {
    let inner = Scripted::new(vec![Ok(creds("first", 10_000))]);
    let (now, clock) = manual_clock(1_000);
    let cache = CachingProvider::with_clock(inner.clone(), clock);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "first");

    // 9 minutes left: the refresh fails (the script is empty), the valid ones are used.
    now.store(10_000 - 9 * 60, Ordering::SeqCst);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "first");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
    // Within the spacing (a tenth of 9 minutes: 54 s) nobody fetches again.
    let spacing = retry_spacing(Duration::from_secs(9 * 60));
    assert_eq!(spacing, Duration::from_secs(54));
    for _ in 0..5 {
        assert_eq!(cache.credentials().unwrap().access_key_id(), "first");
    }
    now.fetch_add(spacing.as_secs() - 1, Ordering::SeqCst);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "first");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
    // After it, one attempt.
    now.fetch_add(1, Ordering::SeqCst);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "first");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 3);

    // Expired (within the margin): the error, then attempts spaced by 5 s.
    now.store(10_000 - EXPIRY_MARGIN.as_secs(), Ordering::SeqCst);
    let err = cache.credentials().unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not load AWS credentials from test: endpoint down"
    );
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 4);
    let repeated = cache.credentials().unwrap_err().to_string();
    assert_eq!(
        repeated,
        "could not load AWS credentials from the credentials cache: no valid credentials; \
         the last refresh failed, retrying shortly: could not load AWS credentials from \
         test: endpoint down"
    );
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 4);
    now.fetch_add(5, Ordering::SeqCst);
    assert!(cache.credentials().is_err());
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 5);
}

#[test]
fn refresh_windows_scale_with_the_lifetime() {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    assert_eq!(refresh_windows(minutes(60)), (minutes(15), minutes(10)));
    assert_eq!(refresh_windows(minutes(360)), (minutes(15), minutes(10)));
    assert_eq!(
        refresh_windows(minutes(15)),
        (Duration::from_secs(450), minutes(5))
    );
    // 15-minute credentials are fetched once, not at every call.
    let inner = Scripted::new(vec![Ok(creds("short", 1_000 + 15 * 60))]);
    let (now, clock) = manual_clock(1_000);
    let cache = CachingProvider::with_clock(inner.clone(), clock);
    for step in 0..7 {
        now.store(1_000 + step * 60, Ordering::SeqCst);
        assert_eq!(cache.credentials().unwrap().access_key_id(), "short");
    }
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 1);
    // Past half of the lifetime: refreshed.
    now.store(1_000 + 8 * 60, Ordering::SeqCst);
    let _ = cache.credentials();
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
}

#[test]
fn expiry_is_judged_on_the_servers_clock() {
    let inner = Scripted::new(vec![
        Ok(creds("first", 10_000)),
        Ok(creds("second", 20_000)),
    ]);
    let (_now, clock) = manual_clock(10_000 - 20 * 60);
    let cache = CachingProvider::with_clock(inner.clone(), clock);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "first");
    // Our clock says 20 minutes left; the server's is 10 minutes ahead: refresh.
    let ahead = Skew {
        millis: 10 * 60 * 1000,
    };
    assert_eq!(cache.credentials().unwrap().access_key_id(), "first");
    assert_eq!(
        cache.credentials_with_skew(ahead).unwrap().access_key_id(),
        "second"
    );
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
}

#[test]
fn invalidate_drops_only_the_credentials_used() {
    let inner = Scripted::new(vec![
        Ok(creds("first", 10_000)),
        Ok(creds("second", 10_000)),
    ]);
    let (_now, clock) = manual_clock(1_000);
    let cache = CachingProvider::with_clock(inner.clone(), clock);
    let first = cache.credentials().unwrap();
    // Credentials other than the cached ones: nothing happens.
    cache.invalidate(&creds("other", 10_000));
    assert_eq!(cache.credentials().unwrap(), first);
    cache.invalidate(&first);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "second");
    // A second caller that also used the old ones does not drop the new ones.
    cache.invalidate(&first);
    assert_eq!(cache.credentials().unwrap().access_key_id(), "second");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
}

#[test]
fn callers_waiting_on_a_failed_fetch_do_not_fetch_again() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let inner = Arc::new(Scripted {
        answers: Mutex::new(vec![Err(failure())].into()),
        fetches: AtomicUsize::new(0),
        gate: Some((Mutex::new(entered_tx), Mutex::new(release_rx))),
    });
    let (_now, clock) = manual_clock(1_000);
    let cache = Arc::new(CachingProvider::with_clock(inner.clone(), clock));
    let first = {
        let cache = cache.clone();
        std::thread::spawn(move || cache.credentials().map(|_| ()))
    };
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || cache.credentials().map(|_| ()))
        })
        .collect();
    // Let the waiters reach the lock (if one is late it sees the spacing: same outcome).
    std::thread::sleep(Duration::from_millis(50));
    release_tx.send(()).unwrap();
    assert!(first.join().unwrap().is_err());
    for waiter in waiters {
        assert!(waiter.join().unwrap().is_err());
    }
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn credentials_without_expiry_are_fetched_once() {
    let inner = Scripted::new(vec![Ok(Credentials::new("static", "s", None))]);
    let cache = CachingProvider::new(inner.clone());
    for _ in 0..3 {
        assert_eq!(cache.credentials().unwrap().access_key_id(), "static");
    }
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn one_caller_refreshes_while_the_others_use_valid_credentials() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let inner = Arc::new(Scripted {
        answers: Mutex::new(vec![Ok(creds("old", 10_000)), Ok(creds("new", 20_000))].into()),
        fetches: AtomicUsize::new(0),
        gate: Some((Mutex::new(entered_tx), Mutex::new(release_rx))),
    });
    let (now, clock) = manual_clock(1_000);
    let cache = Arc::new(CachingProvider::with_clock(inner.clone(), clock));

    // Fill the cache (the first fetch passes the gate too).
    release_tx.send(()).unwrap();
    assert_eq!(cache.credentials().unwrap().access_key_id(), "old");
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();

    now.store(10_000 - 12 * 60, Ordering::SeqCst);
    let refresher = {
        let cache = cache.clone();
        std::thread::spawn(move || cache.credentials().unwrap().access_key_id().to_owned())
    };
    // The refresher is inside fetch; other callers neither wait nor fetch.
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for _ in 0..3 {
        assert_eq!(cache.credentials().unwrap().access_key_id(), "old");
    }
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
    release_tx.send(()).unwrap();
    assert_eq!(refresher.join().unwrap(), "new");
    assert_eq!(cache.credentials().unwrap().access_key_id(), "new");
    assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
}

fn container(vars: &[(&str, &str)]) -> ContainerProvider {
    ContainerProvider::from_env(&env(vars))
        .unwrap()
        .unwrap()
        .retrying(2, Duration::from_millis(1))
}

#[test]
fn container_token_file_is_reread_at_every_fetch() {
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let mut server = TestServer::start(vec![
        Reply::json(200, &credentials_json("ASIAONE", expires)),
        Reply::json(200, &credentials_json("ASIATWO", expires)),
    ]);
    let dir = std::env::temp_dir().join(format!("ecs-protect-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "token-one").unwrap();
    let full_uri = format!("{}/creds", server.url);
    let provider = container(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.to_str().unwrap(),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "ignored-when-file-is-set",
        ),
    ]);

    let first = provider.fetch().unwrap();
    std::fs::write(&token_file, "token-two").unwrap();
    let second = provider.fetch().unwrap();
    assert_eq!(first.access_key_id(), "ASIAONE");
    assert_eq!(second.access_key_id(), "ASIATWO");
    assert_eq!(second.session_token(), Some("token-ASIATWO"));
    let seen = server.requests();
    assert_eq!(seen[0].path, "/creds");
    assert_eq!(seen[0].header("authorization"), Some("token-one"));
    assert_eq!(seen[1].header("authorization"), Some("token-two"));

    // A token file that cannot be read, or holds a newline, is a clear error.
    std::fs::write(&token_file, "token\nX-Injected: yes").unwrap();
    let err = provider.fetch().unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not load AWS credentials from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: \
         the authorization token contains a CR or LF character"
    );
    std::fs::remove_file(&token_file).unwrap();
    let err = provider.fetch().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "could not load AWS credentials from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: \
             cannot read the token file {}",
            token_file.display()
        )
    );
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(server.requests().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn container_token_from_the_environment() {
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let mut server = TestServer::start(vec![Reply::json(200, &credentials_json("ASIA", expires))]);
    let provider = container(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &server.url),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic abc"),
    ]);
    assert_eq!(provider.fetch().unwrap().access_key_id(), "ASIA");
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Basic abc")
    );
}

#[test]
fn container_errors_name_the_source() {
    // Unreachable: retried, then a credentials error naming the variable and endpoint.
    let closed = closed_port_url();
    let err = container(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &closed)])
        .fetch()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("could not load AWS credentials from AWS_CONTAINER_CREDENTIALS_FULL_URI: request to http://127.0.0.1:")
            && text.ends_with("failed (2 attempts)"),
        "{text}"
    );

    // Malformed JSON and a missing field.
    let mut server = TestServer::start(vec![
        Reply::json(200, "{not json"),
        Reply::json(200, r#"{"AccessKeyId":"A","SecretAccessKey":"s3cr3t"}"#),
    ]);
    let provider = container(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &server.url)]);
    let malformed = provider.fetch().unwrap_err().to_string();
    assert!(
        malformed.starts_with(&format!(
            "could not load AWS credentials from AWS_CONTAINER_CREDENTIALS_FULL_URI: \
             unexpected response from {}/: malformed JSON",
            server.url
        )),
        "{malformed}"
    );
    let missing = provider.fetch().unwrap_err().to_string();
    assert!(missing.ends_with(": missing field Token"), "{missing}");
    assert!(!missing.contains("s3cr3t"));

    // Every error status is retried (as botocore), then says what the endpoint answered.
    server.script(vec![Reply::json(
        403,
        r#"{"code":"AccessDenied","message":"bad token"}"#,
    )]);
    let denied = provider.fetch().unwrap_err().to_string();
    assert_eq!(
        denied,
        format!(
            "could not load AWS credentials from AWS_CONTAINER_CREDENTIALS_FULL_URI: \
             {}/ answered HTTP 403 AccessDenied: bad token",
            server.url
        )
    );
    assert_eq!(server.requests().len(), 4);

    // 500 then success: retried.
    let expires = SystemTime::now() + Duration::from_secs(3600);
    server.script(vec![
        Reply::json(500, "{}"),
        Reply::json(200, &credentials_json("ASIAOK", expires)),
    ]);
    assert_eq!(provider.fetch().unwrap().access_key_id(), "ASIAOK");
    assert_eq!(server.requests().len(), 6);
    // A 404 while the agent sets the task up, then the credentials: retried.
    server.script(vec![
        Reply::json(404, "{}"),
        Reply::json(200, &credentials_json("ASIALATE", expires)),
    ]);
    assert_eq!(provider.fetch().unwrap().access_key_id(), "ASIALATE");
    assert_eq!(server.requests().len(), 8);
}

/// A provider for the soak test: answers from the shared clock, failing while `down`;
/// checks that failed fetches are spaced out.
#[derive(Debug)]
struct Flaky {
    now: Arc<AtomicU64>,
    down: std::sync::atomic::AtomicBool,
    rng: Mutex<u64>,
    /// Clock seconds when the last failed fetch ended, while failures go on.
    last_failure: Mutex<Option<u64>>,
    /// Clock seconds when the last failed fetch ended (u64::MAX: never).
    failed_at: AtomicU64,
    fetches: AtomicUsize,
}

fn next_random(state: &mut u64) -> u64 {
    // xorshift64*: reproducible from the printed seed.
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

impl ProvideCredentials for Flaky {
    fn fetch(&self) -> Result<Credentials, Error> {
        let started = self.now.load(Ordering::SeqCst);
        if let Some(failed_at) = *self.last_failure.lock().unwrap() {
            assert!(
                started >= failed_at + 5,
                "a fetch at {started} s, {} s after a failed one: not spaced out",
                started - failed_at
            );
        }
        let n = self.fetches.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            let at = self.now.load(Ordering::SeqCst);
            *self.last_failure.lock().unwrap() = Some(at);
            self.failed_at.store(at, Ordering::SeqCst);
            return Err(failure());
        }
        *self.last_failure.lock().unwrap() = None;
        let lifetime = 60 + next_random(&mut self.rng.lock().unwrap()) % 7200;
        Ok(creds(&format!("key-{n}"), started + lifetime))
    }
}

/// Randomized soak: workers ask for credentials while the clock jumps and the source goes
/// down and up. Invariants at every step: no expired credentials are handed out; an error
/// only during or just after an outage (within the 60 s spacing); failed fetches at least
/// 5 s apart. Replay with `ECS_PROTECT_SOAK_SEED=<seed>`.
#[test]
fn soak_credentials_cache_through_outages() {
    let seed = std::env::var("ECS_PROTECT_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("soak seed: {seed} (replay with ECS_PROTECT_SOAK_SEED={seed})");
    let (now, clock) = manual_clock(1_000_000);
    let flaky = Arc::new(Flaky {
        now: now.clone(),
        down: std::sync::atomic::AtomicBool::new(false),
        rng: Mutex::new(seed),
        last_failure: Mutex::new(None),
        failed_at: AtomicU64::new(u64::MAX),
        fetches: AtomicUsize::new(0),
    });
    let cache = Arc::new(CachingProvider::with_clock(flaky.clone(), clock));
    const MAX_STEP: u64 = 90;
    let total_calls = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (cache, now, last_down, stop, total_calls) = (
                cache.clone(),
                now.clone(),
                flaky.clone(),
                stop.clone(),
                total_calls.clone(),
            );
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let at = now.load(Ordering::SeqCst);
                    match cache.credentials() {
                        Ok(c) => {
                            let expires = c.expires_at().unwrap();
                            assert!(
                                expires > at_secs(at),
                                "expired credentials handed out at {at}"
                            );
                        }
                        Err(err) => {
                            // Repeated for at most 60 s after a failed fetch; the clock may
                            // jump one step between the fetch and the cache reading it.
                            let failed = last_down.failed_at.load(Ordering::SeqCst);
                            assert!(
                                failed != u64::MAX && at < failed + 60 + MAX_STEP,
                                "an error at {at} s, the last failed fetch at {failed} s: {err}"
                            );
                        }
                    }
                    calls += 1;
                    total_calls.fetch_add(1, Ordering::SeqCst);
                }
                calls
            })
        })
        .collect();
    let mut rng = seed;
    for _ in 0..2_000 {
        let r = next_random(&mut rng);
        if r.is_multiple_of(10) {
            let down = !flaky.down.load(Ordering::SeqCst);
            flaky.down.store(down, Ordering::SeqCst);
        }
        now.fetch_add((r >> 8) % MAX_STEP, Ordering::SeqCst);
        // Let the workers run at this clock reading before the next step.
        let seen = total_calls.load(Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while total_calls.load(Ordering::SeqCst) < seen + 4 && std::time::Instant::now() < deadline
        {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::SeqCst);
    let calls: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let fetches = flaky.fetches.load(Ordering::SeqCst) as u64;
    println!("soak: {calls} calls, {fetches} fetches");
    assert!(
        fetches <= calls.max(1),
        "{fetches} fetches for {calls} calls"
    );
}

fn at_secs(secs: u64) -> SystemTime {
    at(secs)
}

/// Issue 19: web identity in the environment is never skipped: with an instance metadata
/// service answering (and a container endpoint configured), the chain stops with an error
/// naming the variable, in web identity's place (before the profiles, the container
/// endpoint and IMDS), instead of signing as the node's role.
#[test]
fn web_identity_is_an_error_in_its_place_never_skipped() {
    let json = credentials_json("ASIANODE", SystemTime::now() + Duration::from_secs(3600));
    let mut server = TestServer::start(vec![
        Reply::json(200, "token"),
        Reply::json(200, "node-role"),
        Reply::json(200, &json),
    ]);
    let imds = ("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url.clone());
    let mut vars = vec![
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "/var/run/secrets/token".to_owned(),
        ),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/pod".to_owned()),
        imds.clone(),
    ];
    let err = default_chain(&Env::from_vars(vars.clone()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "invalid AWS_WEB_IDENTITY_TOKEN_FILE: is set with AWS_ROLE_ARN: web identity"
        ),
        "{err}"
    );
    vars.push((
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "/v2/credentials/x".to_owned(),
    ));
    assert!(default_chain(&Env::from_vars(vars)).is_err());
    // A profile's web_identity_token_file: the profile's error, not IMDS either.
    let dir = std::env::temp_dir().join(format!("ecs-protect-webid-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".aws")).unwrap();
    std::fs::write(
        dir.join(".aws/config"),
        "[default]\nweb_identity_token_file = /t\nrole_arn = arn:aws:iam::1:role/pod\n",
    )
    .unwrap();
    let err = default_chain(&Env::from_vars([
        ("HOME", dir.display().to_string()),
        imds.clone(),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("unsupported: assume-role profile"), "{err}");
    // The environment's own keys still come first, as in the SDKs.
    let keys = default_chain(&Env::from_vars([
        ("AWS_ACCESS_KEY_ID", "AKIAENV".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "s".to_owned()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t".to_owned()),
        imds,
    ]))
    .unwrap();
    assert_eq!(keys.credentials().unwrap().access_key_id(), "AKIAENV");
    // IMDS was never asked.
    assert!(server.requests().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
