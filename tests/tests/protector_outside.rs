//! The protector from the outside, against the fake AWS (signed ECS API, metadata and
//! credentials over HTTP): lost answers, the call timeouts from the environment, throttle
//! bursts, credential outages and expired tokens.

use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::mock::{MockAws, Operation};
use ecs_protect::{Env, Protector, State};
use ecs_protect_tests::{DEADLINE, eventually, ms};

/// A protector on `ecs` with these extra variables.
fn protector(ecs: &MockAws, vars: &[(&str, &str)]) -> Protector {
    let mut env = ecs.env();
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Protector::from_env_with(&Env::from_vars(env)).expect("valid environment")
}

/// Enables and releases once, so that the task metadata and credentials are cached.
fn warm_up(ecs: &MockAws, protector: &Protector) {
    let guard = protector.acquire().unwrap();
    assert!(guard.is_protected());
    drop(guard);
    eventually("the warm-up release", || !ecs.protected_now());
}

// Defects 1 and 7 from the outside: a read timeout from `ECS_PROTECT_READ_TIMEOUT` bounds
// the acquire, and the enable ECS applied after the client gave up is released when idle.
#[test]
fn a_timed_out_enable_that_ecs_applied_is_released_when_idle() {
    let ecs = MockAws::start().unwrap();
    let read_timeout = ms(300);
    let protector = protector(
        &ecs,
        &[
            ("ECS_PROTECT_READ_TIMEOUT", "300ms"),
            ("ECS_PROTECT_CONNECT_TIMEOUT", "1s"),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("ECS_PROTECT_LINGER", "0"),
            ("ECS_PROTECT_RETRY_AFTER", "400ms"),
        ],
    );
    warm_up(&ecs, &protector);
    ecs.set_latency(ms(900));
    let asked = Instant::now();
    let guard = protector.acquire().unwrap();
    let took = asked.elapsed();
    assert!(!guard.is_protected());
    // One attempt: connect (1 s) + headers (300 ms) + body (300 ms) at most.
    assert!(
        took >= read_timeout && took < ms(1_600) + Duration::from_secs(2),
        "the acquire took {took:?}"
    );
    assert_eq!(protector.stats().state, State::MaybeOn);
    eventually("the fake to apply the enable", || ecs.protected_now());
    ecs.set_latency(Duration::ZERO);
    drop(guard);
    eventually("the idle protector to release it", || !ecs.protected_now());
    assert!(ecs.api_calls(Operation::UpdateTaskProtection) >= 4);
    eventually("the protector to know it is off", || {
        protector.stats().state == State::Off
    });
}

// Defect 5 from the outside: a throttled enable costs about a second of unprotected work,
// not the whole `ECS_PROTECT_RETRY_AFTER`.
#[test]
fn a_throttle_burst_costs_about_a_second_of_unprotected_work() {
    let ecs = MockAws::start().unwrap();
    let protector = protector(
        &ecs,
        &[("AWS_MAX_ATTEMPTS", "1"), ("ECS_PROTECT_LINGER", "0")],
    );
    warm_up(&ecs, &protector);
    ecs.throttle_next(1);
    let first = protector.acquire().unwrap();
    let failed = Instant::now();
    assert!(!first.is_protected());
    // Work keeps arriving; the protector asks again about a second later.
    let protected_at = loop {
        let guard = protector.acquire().unwrap();
        if guard.is_protected() {
            break Instant::now();
        }
        assert!(failed.elapsed() < DEADLINE, "never protected again");
        thread::sleep(ms(5));
    };
    let unprotected_for = protected_at - failed;
    assert!(
        unprotected_for < Duration::from_secs(3),
        "work ran unprotected for {unprotected_for:?}"
    );
    assert!(ecs.protected_now());
    drop(first);
}

// Credential outages and expired keys: work in flight is protected once they are over.
// (Short-lived credentials are fetched again before every call, so the expired key is
// never used; an `ExpiredTokenException` for a key the client still trusts is issue 11's.)
#[test]
fn work_in_flight_is_protected_after_a_credential_outage_and_expired_keys() {
    let ecs = MockAws::builder()
        .credential_lifetime(Duration::from_secs(300))
        .start()
        .unwrap();
    let protector = protector(
        &ecs,
        &[
            ("AWS_MAX_ATTEMPTS", "1"),
            ("ECS_PROTECT_LINGER", "0"),
            ("ECS_PROTECT_RETRY_AFTER", "500ms"),
        ],
    );
    warm_up(&ecs, &protector);
    ecs.expire_credentials();
    ecs.fail_credentials_next(3);
    let working = protector.acquire().unwrap();
    assert!(!working.is_protected(), "the credentials endpoint is down");
    let deadline = Instant::now() + DEADLINE;
    while !ecs.protected_now() {
        assert!(
            Instant::now() < deadline,
            "never protected again: {:?}",
            protector.stats()
        );
        thread::sleep(ms(2));
    }
    assert_eq!(protector.in_flight(), 1);
    eventually("the protector to know it", || {
        protector.stats().state == State::On
    });
    assert!(protector.stats().failures >= 1);
    drop(working);
    eventually("the release", || !ecs.protected_now());
}

// Defect 7 for the agent backend: its read timeout also comes from the environment.
#[test]
fn the_agent_backend_takes_its_read_timeout_from_the_environment() {
    let ecs = MockAws::start().unwrap();
    let protector = protector(
        &ecs,
        &[
            ("ECS_PROTECT_BACKEND", "agent"),
            ("ECS_PROTECT_READ_TIMEOUT", "300ms"),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("ECS_PROTECT_LINGER", "0"),
        ],
    );
    ecs.set_latency(ms(2_000));
    let asked = Instant::now();
    let guard = protector.acquire().unwrap();
    let took = asked.elapsed();
    assert!(!guard.is_protected());
    assert!(
        took >= ms(300) && took < ms(1_900),
        "the acquire took {took:?}: not the 300ms read timeout"
    );
    drop(guard);
    eventually("the agent to apply the enable", || ecs.protected_now());
    ecs.set_latency(Duration::ZERO);
    eventually("the release of what the agent applied", || {
        !ecs.protected_now()
    });
    assert!(ecs.api_calls(Operation::AgentUpdateTaskProtection) >= 2);
}

// The credentials, metadata and agent endpoints never use a proxy: with `HTTP_PROXY` (and
// `http_proxy`) naming a closed port, the agent backend still protects, and the API
// backend still fetches the task metadata and credentials (only its ECS call, an http
// endpoint here, goes to the proxy and fails).
#[test]
fn the_credentials_metadata_and_agent_endpoints_never_use_a_proxy() {
    let ecs = MockAws::start().unwrap();
    let closed = "http://127.0.0.1:9";
    let proxied = [("HTTP_PROXY", closed), ("http_proxy", closed)];
    let agent = protector(
        &ecs,
        &[proxied[0], proxied[1], ("ECS_PROTECT_BACKEND", "agent")],
    );
    let guard = agent.acquire().unwrap();
    assert!(
        guard.is_protected(),
        "the agent endpoint was reached directly"
    );
    drop(guard);
    assert!(agent.drain(DEADLINE).is_complete());
    assert!(!ecs.protected_now());

    let api = protector(&ecs, &[proxied[0], proxied[1], ("AWS_MAX_ATTEMPTS", "1")]);
    let guard = api.acquire().unwrap();
    assert!(
        !guard.is_protected(),
        "the ECS call went to the closed proxy"
    );
    assert!(ecs.api_calls(Operation::TaskMetadata) >= 1);
    assert!(ecs.api_calls(Operation::Credentials) >= 1);
    assert_eq!(ecs.api_calls(Operation::UpdateTaskProtection), 0);
}

/// The update calls the fake answered so far that asked for `change`, in order.
fn updates(ecs: &MockAws, on: bool) -> Vec<ecs_protect::mock::AwsCall> {
    ecs.calls()
        .into_iter()
        .filter(|c| match c.change {
            Some(ecs_protect::Protection::On { .. }) => on,
            Some(ecs_protect::Protection::Off) => !on,
            None => false,
        })
        .collect()
}

// The linger counts from the last release, not from when the background thread happened to
// look: a unit that comes and goes while protection lingers starts the linger again from
// its end, and the disable follows within about the linger. 7677f6a counted from the
// thread's next look (every linger/4, at most a second apart): between 0 and 1 s late, so
// the test takes several stretches and checks each and their mean.
#[test]
fn the_linger_counts_from_the_last_release() {
    let ecs = MockAws::start().unwrap();
    let linger = ms(4000);
    let protector = protector(&ecs, &[("ECS_PROTECT_LINGER", "4s")]);
    let mut late = Vec::new();
    for stretch in 1..=4 {
        let first = protector.acquire().unwrap();
        assert!(first.is_protected());
        drop(first);
        // While it lingers, another unit (admitted at once: protection is on).
        thread::sleep(ms(1300));
        let second = protector.acquire().unwrap();
        assert!(second.is_protected());
        drop(second);
        let last_release = Instant::now();
        eventually("the disable after the linger", || {
            updates(&ecs, false).len() == stretch
        });
        let disabled = updates(&ecs, false)[stretch - 1].at;
        assert!(
            disabled >= last_release + linger,
            "disabled {:?} after the last release, before the {linger:?} linger",
            disabled.saturating_duration_since(last_release)
        );
        late.push(disabled.saturating_duration_since(last_release) - linger);
    }
    eprintln!("disabled this long after the last release plus the linger: {late:?}");
    // The claim is 100 ms (50 ms and a call's start); the rest is room for a loaded machine.
    let mean = late.iter().sum::<Duration>() / 4;
    assert!(
        mean <= ms(200) && late.iter().all(|l| *l <= ms(400)),
        "disabled {late:?} after the last release plus the {linger:?} linger"
    );
}

// Only a confirmed enable or renewal ends a failure streak: the disable that removes what a
// lost enable may have left on succeeds, and the back-off still doubles with each lost
// enable in a row.
#[test]
fn back_offs_double_across_lost_enables_despite_the_disables_between_them() {
    let ecs = MockAws::start().unwrap();
    let protector = protector(
        &ecs,
        &[
            ("AWS_MAX_ATTEMPTS", "1"),
            ("ECS_PROTECT_LINGER", "0"),
            ("ECS_PROTECT_RETRY_AFTER", "30s"),
        ],
    );
    warm_up(&ecs, &protector);
    let mut back_offs = Vec::new();
    for lost in 1..=3 {
        // The enable's answer is lost (a 500): protection may be on.
        ecs.fail_next(1);
        let guard = protector.acquire().unwrap();
        assert!(!guard.is_protected());
        back_offs.push(protector.retry_in().expect("backing off"));
        drop(guard);
        // Idle, the protector removes what may be on, and the removal succeeds.
        eventually("the maybe-on disable", || {
            updates(&ecs, false).len() == lost + 1
        });
        eventually("the back-off ends", || protector.retry_in().is_none());
    }
    let lost: Vec<_> = ecs
        .calls()
        .into_iter()
        .filter(|c| {
            c.operation == Operation::UpdateTaskProtection
                && matches!(
                    c.outcome,
                    ecs_protect::mock::Outcome::Error { status: 500, .. }
                )
        })
        .collect();
    let disables = updates(&ecs, false);
    assert_eq!((lost.len(), disables.len()), (3, 4), "{:?}", ecs.calls());
    // The worker's disable waits for the back-off: from the lost enable to it is the back-off.
    let gaps: Vec<Duration> = (0..3)
        .map(|i| disables[i + 1].at.saturating_duration_since(lost[i].at))
        .collect();
    eprintln!("back-offs {back_offs:?}, lost enable to disable {gaps:?}");
    // 0.5-1 s, 1-2 s, 2-4 s (7677f6a: 0.5-1 s each time).
    assert!(back_offs[1] > ms(1000) - ms(100), "{back_offs:?}");
    assert!(back_offs[2] > ms(2000) - ms(100), "{back_offs:?}");
    assert!(gaps[2] >= ms(1900), "{gaps:?}");
}
