//! Credentials at the edges, from the outside, against the fake AWS (which verifies every
//! signature): an outage of the credentials endpoint while the cached credentials are
//! valid, and an `ExpiredTokenException` answer. Protection is kept or regained.

use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::mock::{AwsCall, MockAws, Operation, Outcome};
use ecs_protect::unversioned::EcsClient;
use ecs_protect::{Env, Protector};

fn credential_fetches(ecs: &MockAws) -> (usize, usize) {
    let calls = ecs.calls();
    let fetches = calls
        .iter()
        .filter(|c| c.operation == Operation::Credentials);
    let failed = fetches
        .clone()
        .filter(|c| c.outcome.error_code().is_some())
        .count();
    (fetches.count(), failed)
}

fn updates(ecs: &MockAws) -> Vec<AwsCall> {
    ecs.calls()
        .into_iter()
        .filter(|c| c.operation == Operation::UpdateTaskProtection)
        .collect()
}

fn sleep_until(at: Instant) {
    thread::sleep(at.saturating_duration_since(Instant::now()));
}

#[test]
fn an_outage_of_the_credentials_endpoint_keeps_protection_with_valid_credentials() {
    // Keys live 20 s: refreshed from 10 s before expiry (advisory), every caller waiting
    // from 6.7 s (mandatory), unusable in the last 2.5 s.
    let ecs = MockAws::builder()
        .credential_lifetime(Duration::from_secs(20))
        .credential_rotation(Duration::from_secs(1))
        .start()
        .unwrap();
    let client = EcsClient::from_env_with(&Env::from_vars(ecs.env())).unwrap();
    let start = Instant::now();
    assert!(
        client
            .update_task_protection(true, Some(60))
            .unwrap()
            .enabled
    );
    assert_eq!(credential_fetches(&ecs), (1, 0));

    // The endpoint goes down; at 14 s the keys are in the mandatory window.
    ecs.fail_credentials_next(u32::MAX);
    sleep_until(start + Duration::from_secs(14));
    let state = client.update_task_protection(true, Some(60)).unwrap();
    assert!(state.enabled && ecs.protected_now());
    let (fetches, failed) = credential_fetches(&ecs);
    assert_eq!(
        (fetches, failed),
        (4, 3),
        "one refresh of 3 attempts, all failed"
    );
    // The next calls use the valid keys without trying the endpoint again (spaced out).
    for _ in 0..3 {
        assert!(
            client
                .update_task_protection(true, Some(60))
                .unwrap()
                .enabled
        );
    }
    assert_eq!(credential_fetches(&ecs), (4, 3));
    let signed: Vec<_> = updates(&ecs)
        .iter()
        .map(|c| c.access_key_id.clone())
        .collect();
    assert!(signed.iter().all(|k| k == &signed[0]), "{signed:?}");
    assert!(updates(&ecs).iter().all(|c| c.outcome == Outcome::Accepted));

    // The endpoint is back; once the old keys are spent, new ones are fetched and used.
    ecs.fail_credentials_next(0);
    sleep_until(start + Duration::from_secs(22));
    assert!(
        client
            .update_task_protection(true, Some(60))
            .unwrap()
            .enabled
    );
    assert!(ecs.protected_now());
    let last = updates(&ecs).pop().unwrap();
    assert_eq!(last.outcome, Outcome::Accepted);
    assert_ne!(last.access_key_id, signed[0]);
    assert!(
        ecs.timeline().len() == 1,
        "protection was never lost: {:?}",
        ecs.timeline()
    );
}

#[test]
fn an_expired_token_answer_fetches_fresh_credentials_and_protection_is_regained() {
    let ecs = MockAws::start().unwrap();
    let mut vars = ecs.env();
    vars.push(("ECS_PROTECT_LINGER_SECS".into(), "0".into()));
    let protector = Protector::from_env_with(&Env::from_vars(vars)).unwrap();
    let guard = protector.acquire().unwrap();
    assert!(guard.is_protected() && ecs.protected_now());
    drop(guard);
    let accepted = |calls: &[AwsCall]| {
        calls
            .iter()
            .filter(|c| {
                c.operation == Operation::UpdateTaskProtection && c.outcome == Outcome::Accepted
            })
            .count()
    };
    assert!(ecs.wait_until(Duration::from_secs(20), |calls| accepted(calls) == 2));
    assert!(!ecs.protected_now());

    // Every key issued so far expires: the next call is answered ExpiredTokenException.
    ecs.expire_credentials();
    let guard = protector.acquire().unwrap();
    assert!(guard.is_protected() && ecs.protected_now());
    let calls = updates(&ecs);
    let n = calls.len();
    assert!(n >= 4, "{calls:?}");
    assert_eq!(
        calls[n - 2].outcome.error_code(),
        Some("ExpiredTokenException")
    );
    assert_eq!(calls[n - 1].outcome, Outcome::Accepted);
    assert_ne!(calls[n - 1].access_key_id, calls[n - 2].access_key_id);
    drop(guard);
}
