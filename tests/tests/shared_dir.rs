//! Several worker processes of one task, coordinated through `ECS_PROTECT_SHARED_DIR`,
//! against the fake AWS, which records whether protection was on at each instant.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ecs_protect::mock::{MockAws, Operation};
use ecs_protect::{Env, FailurePolicy, Protector, State};
use ecs_protect_tests::processes::{
    Clock, Process, Unit, assert_units_protected, temp_dir, wait_unprotected,
};
use ecs_protect_tests::{DEADLINE, eventually, ms};

const WORKER: &str = env!("CARGO_BIN_EXE_shared_worker");

fn units_ms(n: usize, ms: u64) -> String {
    vec![ms.to_string(); n].join(",")
}

fn worker(name: &str, mock: &MockAws, dir: Option<&str>, extra: &[(&str, &str)]) -> Process {
    let mut vars = vec![("ECS_PROTECT_LINGER", "200ms")];
    if let Some(dir) = dir {
        vars.push(("ECS_PROTECT_SHARED_DIR", dir));
    }
    vars.extend_from_slice(extra);
    Process::spawn(name, WORKER, &[], mock, &vars)
}

/// Runs a short load in one process and a long one in another, started together: the
/// short one starts once the long one's first unit has begun, so that it goes idle (and,
/// uncoordinated, disables) while the long one's work is in flight, however slow the
/// machine is to start processes.
fn short_and_long(mock: &MockAws, dir: Option<&str>) -> Vec<Unit> {
    let clock = Clock::now();
    let short = units_ms(20, 20);
    let long = units_ms(2, 1500);
    let mut b = worker("b", mock, dir, &[("UNITS_MS", &long), ("THREADS", "1")]);
    assert!(
        b.wait_for_line(Duration::from_secs(30), |l| l.starts_with("begin"))
            .is_some(),
        "the long worker never began a unit"
    );
    let mut a = worker("a", mock, dir, &[("UNITS_MS", &short), ("THREADS", "1")]);
    assert!(a.wait(Duration::from_secs(60)).success());
    assert!(b.wait(Duration::from_secs(60)).success());
    let mut units = a.units(&clock);
    units.extend(b.units(&clock));
    assert_eq!(units.len(), 22);
    units
}

#[test]
fn a_short_and_a_long_load_are_protected_throughout_and_released_after_both() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("short-long");
    let units = short_and_long(&mock, Some(dir.to_str().unwrap()));
    assert_units_protected(&mock, &units);
    assert!(
        wait_unprotected(&mock, Duration::from_secs(10)).is_some(),
        "protection outlived both workers: {:?}",
        mock.timeline()
    );
    assert_eq!(
        mock.timeline().len(),
        1,
        "one stretch of protection for both: {:?}",
        mock.timeline()
    );
}

/// The same run without the variable: each process switches the task's protection on its
/// own, and the short one's release leaves the long one's work unprotected. This is what
/// the test above would catch.
#[test]
fn without_the_shared_directory_the_first_idle_process_unprotects_the_other() {
    let mock = MockAws::start().unwrap();
    let units = short_and_long(&mock, None);
    let unprotected = units
        .iter()
        .filter(|u| {
            !(mock.protected_at(u.started) && u.ended.is_some_and(|e| mock.protected_at(e)))
        })
        .count();
    assert!(
        unprotected > 0,
        "every unit was protected without coordination: {:?}",
        mock.timeline()
    );
}

fn kill_mid_work(survivor_extra: &[(&str, &str)], survivor_idle_first: bool) {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("kill");
    let dir = dir.to_str().unwrap();
    let clock = Clock::now();
    let mut doomed = worker(
        "doomed",
        &mock,
        Some(dir),
        &[("UNITS_MS", "60000"), ("THREADS", "1")],
    );
    let mut survivor = worker("survivor", &mock, Some(dir), survivor_extra);
    let long = Duration::from_secs(30);
    assert!(
        doomed
            .wait_for_line(long, |l| l.starts_with("begin"))
            .is_some()
    );
    if survivor_idle_first {
        assert!(
            survivor
                .wait_for_line(long, |l| l.starts_with("idle"))
                .is_some()
        );
    }
    assert!(
        mock.protected_now(),
        "the doomed worker's unit is protected"
    );
    doomed.kill();
    doomed.wait(long);
    let killed = Instant::now();
    if !survivor_idle_first {
        assert!(survivor.wait(Duration::from_secs(60)).success());
    }
    let off = wait_unprotected(&mock, Duration::from_secs(10));
    assert!(
        off.is_some(),
        "protection stayed on after the kill: {:?}",
        mock.timeline()
    );
    let mut units = doomed.units(&clock);
    units.extend(survivor.units(&clock));
    assert_units_protected(&mock, &units);
    eprintln!(
        "protection off {:?} after the kill",
        off.unwrap().saturating_duration_since(killed)
    );
    drop(survivor);
}

#[test]
fn a_process_killed_mid_work_leaves_no_protection_once_the_survivors_finish() {
    let work = units_ms(20, 50);
    kill_mid_work(&[("UNITS_MS", &work)], false);
}

#[test]
fn a_process_killed_mid_work_leaves_no_protection_when_the_survivors_are_already_idle() {
    kill_mid_work(&[("UNITS_MS", "20,20"), ("STAY_MS", "60000")], true);
}

#[test]
fn under_continuous_load_breathing_windows_agree_and_a_stop_comes_within_max_hold_and_window() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("windows");
    let dir = dir.to_str().unwrap();
    let clock = Clock::now();
    let max_hold = Duration::from_secs(2);
    let window = Duration::from_millis(500);
    let settings = [
        ("RUN_FOR_MS", "9000"),
        ("UNIT_MS", "30"),
        ("ECS_PROTECT_MAX_HOLD", "2s"),
        ("ECS_PROTECT_WINDOW", "500ms"),
        ("ECS_PROTECT_HOLD_GRACE", "3s"),
    ];
    let mut a = worker("a", &mock, Some(dir), &settings);
    // b joins 2 s into a's stretch: it must count max_hold from the stretch's start, not
    // from its own, or the stretch would run past 4 s.
    assert!(
        a.wait_for_line(Duration::from_secs(30), |l| l.starts_with("begin"))
            .is_some()
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut b = worker("b", &mock, Some(dir), &settings);
    assert!(a.wait(Duration::from_secs(60)).success());
    assert!(b.wait(Duration::from_secs(60)).success());
    let mut units = a.units(&clock);
    units.extend(b.units(&clock));
    assert_units_protected(&mock, &units);
    let spans = mock.timeline();
    assert!(spans.len() >= 3, "no breathing windows: {spans:?}");
    // Each stretch ends within max_hold plus the drain of a unit and a call or two (a
    // generous 1.5 s); each gap is a whole window, agreed by both processes.
    let slack = Duration::from_millis(1500);
    for span in &spans {
        assert!(
            span.duration() <= max_hold + slack,
            "a stretch lasted {:?}: {spans:?}",
            span.duration()
        );
    }
    for pair in spans.windows(2) {
        let gap = pair[1].start.saturating_duration_since(pair[0].end);
        assert!(gap >= window, "a window of only {gap:?}: {spans:?}");
        assert!(gap <= window + slack, "a window of {gap:?}: {spans:?}");
        // From any instant, protection goes off within max_hold plus the window (plus the
        // drain of a unit and a call or two).
        let between_stops = pair[1].end.saturating_duration_since(pair[0].end);
        assert!(
            between_stops <= max_hold + window + slack,
            "{between_stops:?} between two stops: {spans:?}"
        );
    }
    assert!(
        units.len() > 100,
        "the load kept going: {} units",
        units.len()
    );
}

/// UpdateTaskProtection calls for a load run by `processes` workers sharing it out, and
/// whether every unit was protected.
fn calls_for(mock: MockAws, processes: usize, settings: &[(&str, &str)]) -> usize {
    let dir = temp_dir("calls");
    let dir = dir.to_str().unwrap();
    let clock = Clock::now();
    let mut workers: Vec<Process> = (0..processes)
        .map(|i| worker(&format!("w{i}"), &mock, Some(dir), settings))
        .collect();
    let mut units = Vec::new();
    for w in &mut workers {
        assert!(w.wait(Duration::from_secs(60)).success());
        units.extend(w.units(&clock));
    }
    assert_units_protected(&mock, &units);
    assert!(wait_unprotected(&mock, Duration::from_secs(10)).is_some());
    mock.api_calls(Operation::UpdateTaskProtection)
}

#[test]
fn calls_for_several_processes_are_close_to_calls_for_one_with_the_same_load() {
    let start = || MockAws::start().unwrap();
    let one = calls_for(
        start(),
        1,
        &[("UNITS_MS", &units_ms(240, 10)), ("THREADS", "4")],
    );
    let four = calls_for(
        start(),
        4,
        &[("UNITS_MS", &units_ms(60, 10)), ("THREADS", "1")],
    );
    eprintln!(
        "UpdateTaskProtection calls for 240 units of 10 ms: 1 process {one}, 4 processes {four}"
    );
    assert!(one >= 2, "{one}");
    assert!(
        four <= one + 2,
        "4 processes made {four} calls, 1 process {one}"
    );
}

#[test]
fn renewals_do_not_multiply_with_the_number_of_processes() {
    // One fake minute lasts a second: protection is renewed about every half second.
    let start = || {
        MockAws::builder()
            .minute(Duration::from_secs(1))
            .start()
            .unwrap()
    };
    let load = |threads: &'static str| {
        [
            ("RUN_FOR_MS", "4000"),
            ("UNIT_MS", "20"),
            ("THREADS", threads),
            ("ECS_PROTECT_EXPIRES_MINUTES", "1"),
        ]
    };
    let one = calls_for(start(), 1, &load("4"));
    let four = calls_for(start(), 4, &load("1"));
    eprintln!(
        "UpdateTaskProtection calls for 4 s of load renewed every 0.5 s: 1 process {one}, 4 processes {four}"
    );
    assert!(one >= 6, "renewals happened: {one}");
    assert!(
        four * 2 <= one * 3,
        "4 processes made {four} calls, 1 process {one}"
    );
}

#[test]
fn a_process_killed_during_its_enable_call_leaves_no_protection() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("kill-enabling");
    let state_file = dir.join("ecs-protect.state");
    let dir = dir.to_str().unwrap();
    let settings = [("ECS_PROTECT_RETRY_AFTER", "1s"), ("STAY_MS", "60000")];
    let idle = worker("idle", &mock, Some(dir), &settings);
    assert!(
        idle.wait_for_line(Duration::from_secs(30), |l| l.starts_with("idle"))
            .is_some()
    );
    // ECS applies the enable 1.5 s after it was sent, whether or not its sender is alive.
    mock.set_latency(Duration::from_millis(1500));
    let mut doomed = worker(
        "doomed",
        &mock,
        Some(dir),
        // Every process of a task runs with the same settings: the dead one's record says
        // when the survivors may retry.
        &[
            ("UNITS_MS", "100"),
            ("THREADS", "1"),
            ("ECS_PROTECT_RETRY_AFTER", "1s"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&state_file).is_ok_and(|s| s.starts_with("maybe-on")) {
        assert!(Instant::now() < deadline, "the enable call never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Credentials are fetched just before the signed call is sent.
    assert!(mock.wait_until(Duration::from_secs(30), |calls| {
        calls.iter().any(|c| c.operation == Operation::Credentials)
    }));
    std::thread::sleep(Duration::from_millis(300));
    doomed.kill();
    doomed.wait(Duration::from_secs(10));
    assert!(
        doomed.lines().is_empty(),
        "the unit began: {:?}",
        doomed.lines()
    );
    // Whether or not the enable landed after its sender died, the idle worker removes
    // what may be on once the retry time has come.
    assert!(
        mock.wait_until(Duration::from_secs(15), |calls| calls
            .iter()
            .any(|c| c.change == Some(ecs_protect::Protection::Off))),
        "nobody removed the protection the dead process may have left: {:?}",
        mock.calls()
    );
    assert!(
        wait_unprotected(&mock, Duration::from_secs(15)).is_some(),
        "protection left on by a process killed mid-call: {:?}",
        mock.timeline()
    );
    eprintln!(
        "the enable {} before the idle worker removed it",
        if mock.timeline().is_empty() {
            "had not landed"
        } else {
            "landed"
        }
    );
    drop(idle);
}

#[test]
fn sigterm_ends_a_wait_for_a_breathing_window() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("window-wait");
    let dir = dir.to_str().unwrap();
    let settings = [
        ("ECS_PROTECT_MAX_HOLD", "300ms"),
        ("ECS_PROTECT_WINDOW", "200ms"),
        ("ECS_PROTECT_HOLD_GRACE", "20s"),
    ];
    // a's one long unit keeps the stretch going past max_hold: a window is due, and waits
    // for it.
    let mut a_settings = settings.to_vec();
    a_settings.extend([("UNITS_MS", "20000"), ("THREADS", "1")]);
    let mut a = worker("a", &mock, Some(dir), &a_settings);
    assert!(
        a.wait_for_line(Duration::from_secs(30), |l| l.starts_with("begin"))
            .is_some()
    );
    std::thread::sleep(Duration::from_millis(500)); // past max_hold
    // b may not join a stretch past max_hold: its unit waits for the window.
    let mut b_settings = settings.to_vec();
    b_settings.extend([("UNITS_MS", "10"), ("THREADS", "1")]);
    let mut b = worker("b", &mock, Some(dir), &b_settings);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        b.lines().is_empty(),
        "b's unit did not wait: {:?}",
        b.lines()
    );
    let signalled = Instant::now();
    b.signal("TERM");
    assert!(b.wait(Duration::from_secs(30)).success());
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "b waited {took:?} after SIGTERM, as if for the window"
    );
    assert!(mock.protected_now(), "a's unit is still protected");
    a.kill();
    a.wait(Duration::from_secs(10));
}

/// A protector of this process on the shared directory `dir`, from the fake's environment
/// and `extra`: to the other processes, this test process is one more of the task's.
fn in_process(mock: &MockAws, dir: &Path, extra: &[(&str, &str)]) -> Protector {
    let mut vars = mock.env();
    vars.push((
        "ECS_PROTECT_SHARED_DIR".into(),
        dir.to_str().unwrap().to_owned(),
    ));
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Protector::from_env_with(&Env::from_vars(vars)).unwrap()
}

/// A stretch past `max_hold` waits up to `hold_grace` for its window: far longer than any
/// shutdown may take to end a wait for it.
const LONG_GRACE: [(&str, &str); 3] = [
    ("ECS_PROTECT_MAX_HOLD", "1s"),
    ("ECS_PROTECT_HOLD_GRACE", "25s"),
    ("ECS_PROTECT_WINDOW", "1s"),
];

/// How long a shutdown may take to end such a wait here: the claim is about 100 ms; the
/// rest is room for a loaded machine, still far below the 25 s grace.
const PROMPT: Duration = Duration::from_secs(3);

#[test]
fn request_shutdown_and_drain_end_a_wait_for_another_processs_window() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("shutdown-ends-wait");
    let holder = in_process(&mock, &dir, &LONG_GRACE);
    let work = holder.acquire().unwrap();
    assert!(work.is_protected());
    // Past max_hold, the stretch drains towards a window, which nobody may jump.
    eventually("the stretch reaches max_hold", || {
        holder.stats().state == State::Draining
    });
    for how in ["request_shutdown", "drain"] {
        let waiter = in_process(&mock, &dir, &LONG_GRACE);
        let (answer_tx, answer) = mpsc::channel();
        {
            let waiter = waiter.clone();
            std::thread::spawn(move || {
                let got = waiter.acquire_with(FailurePolicy::Require);
                let _ = answer_tx.send(got.map(|guard| guard.is_protected()));
            });
        }
        eventually("the acquire asks for protection", || {
            waiter.stats().state == State::Enabling
        });
        assert!(
            answer.recv_timeout(ms(300)).is_err(),
            "{how}: the acquire did not wait for the window"
        );
        let asked = Instant::now();
        if how == "drain" {
            assert!(waiter.drain(ms(500)).is_complete());
            assert!(
                asked.elapsed() < ms(500) + PROMPT,
                "drain(500ms) took {:?}",
                asked.elapsed()
            );
        } else {
            waiter.request_shutdown();
        }
        let got = answer
            .recv_timeout(PROMPT)
            .unwrap_or_else(|_| panic!("{how} did not end the wait within {PROMPT:?}"));
        assert!(
            matches!(got, Err(ecs_protect::Error::ShuttingDown)),
            "{how}: {got:?}"
        );
        assert_eq!(
            waiter.stats().failures,
            0,
            "{how}: a shutdown is no failure"
        );
    }
    assert!(mock.protected_now(), "the holder's work is still protected");
    drop(work);
    assert!(holder.drain(DEADLINE).is_complete());
    assert!(wait_unprotected(&mock, DEADLINE).is_some());
}

#[test]
fn an_empty_record_left_by_a_crash_counts_as_maybe_on_and_an_idle_process_disables_it() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("empty-record");
    let state_file = dir.join("ecs-protect.state");
    let dir_str = dir.to_str().unwrap();
    let mut doomed = worker(
        "doomed",
        &mock,
        Some(dir_str),
        &[("UNITS_MS", "60000"), ("THREADS", "1")],
    );
    assert!(
        doomed
            .wait_for_line(Duration::from_secs(30), |l| l.starts_with("begin"))
            .is_some()
    );
    assert!(mock.protected_now());
    // Killed in the middle of a record update that cut the file before writing it (what
    // 7677f6a did): an empty record, with ECS's protection on and nobody needing it.
    doomed.kill();
    doomed.wait(Duration::from_secs(10));
    std::fs::write(&state_file, "").unwrap();
    let survivor = worker("survivor", &mock, Some(dir_str), &[("STAY_MS", "60000")]);
    assert!(
        wait_unprotected(&mock, Duration::from_secs(15)).is_some(),
        "an empty record read as off: nobody disabled the protection left on: {:?}",
        mock.calls()
    );
    drop(survivor);
}
