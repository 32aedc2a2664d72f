//! The crate as users run it: a worker process that uses only `#[protected]` and the
//! standard AWS environment variables, against the fake AWS, which checks every signature
//! and records whether protection was on at each instant a handler ran.

use std::process::Command;

use ecs_protect::mock::{MockAws, Operation, Outcome};
use ecs_protect_tests::processes::Clock;
use ecs_protect_tests::{DEADLINE, output_within};

fn run_worker(mock: &MockAws, extra: &[(&str, &str)]) -> Vec<(u64, u128, u128)> {
    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_env_worker"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(mock.env())
            .envs(extra.iter().copied()),
        DEADLINE,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "worker failed: {output:?}");
    stdout
        .lines()
        .map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 4, "unexpected line {line:?}");
            (
                parts[1].parse().unwrap(),
                parts[2].parse().unwrap(),
                parts[3].parse().unwrap(),
            )
        })
        .collect()
}

fn assert_every_handler_protected(mock: &MockAws, handled: &[(u64, u128, u128)], clock: &Clock) {
    for &(id, started, ended) in handled {
        assert!(
            mock.protected_at(clock.instant(started)) && mock.protected_at(clock.instant(ended)),
            "message {id} ran without protection; timeline: {:?}",
            mock.timeline()
        );
    }
}

#[test]
fn every_handler_ran_protected_with_a_handful_of_signed_calls() {
    let mock = MockAws::start().expect("the fake AWS starts");
    let clock = Clock::now();
    let handled = run_worker(&mock, &[]);
    assert_eq!(handled.len(), 40);
    assert_every_handler_protected(&mock, &handled, &clock);
    // Signed calls only, every one accepted; a handful, not two per message.
    let rejected: Vec<_> = mock
        .calls()
        .into_iter()
        .filter(|c| c.outcome != Outcome::Accepted)
        .collect();
    assert!(rejected.is_empty(), "the fake rejected calls: {rejected:?}");
    let updates = mock.api_calls(Operation::UpdateTaskProtection);
    assert!(
        (1..=4).contains(&updates),
        "{updates} UpdateTaskProtection calls for 40 messages"
    );
}

#[test]
fn a_worker_whose_main_installs_shutdown_leaves_no_protection_behind() {
    let mock = MockAws::start().expect("the fake AWS starts");
    let clock = Clock::now();
    let handled = run_worker(&mock, &[("WORKER_SHUTDOWN", "1"), ("MESSAGES", "12")]);
    assert_eq!(handled.len(), 12);
    assert_every_handler_protected(&mock, &handled, &clock);
    assert!(
        !mock.protected_now(),
        "protection outlived the worker: {:?}",
        mock.timeline()
    );
}

#[test]
fn the_agent_backend_protects_the_same_way() {
    let mock = MockAws::start().expect("the fake AWS starts");
    let clock = Clock::now();
    let handled = run_worker(
        &mock,
        &[("ECS_PROTECT_BACKEND", "agent"), ("MESSAGES", "12")],
    );
    assert_eq!(handled.len(), 12);
    assert_every_handler_protected(&mock, &handled, &clock);
    assert!(mock.api_calls(Operation::AgentUpdateTaskProtection) >= 1);
    assert_eq!(mock.api_calls(Operation::UpdateTaskProtection), 0);
}

#[test]
fn static_credentials_from_the_environment_are_used_and_signed() {
    let mock = MockAws::builder()
        .static_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .start()
        .expect("the fake AWS starts");
    let clock = Clock::now();
    let handled = run_worker(
        &mock,
        &[
            ("MESSAGES", "8"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
        ],
    );
    assert_eq!(handled.len(), 8);
    assert_every_handler_protected(&mock, &handled, &clock);
    assert_eq!(
        mock.api_calls(Operation::Credentials),
        0,
        "the container endpoint was asked"
    );
}
