//! A randomized soak of several worker processes sharing one task's protection through
//! `ECS_PROTECT_SHARED_DIR`: random unit lengths, thread counts, start times, SIGKILLs and
//! SIGTERMs (at any moment: mid-work, waiting for a breathing window, during an enable),
//! checked against the fake AWS's protection timeline.
//!
//! The seed is printed; replay a failure with `SHARED_SOAK_SEED=<seed>`.

use std::time::{Duration, Instant};

use ecs_protect::mock::{MockAws, Outcome};
use ecs_protect_tests::processes::{Clock, Process, Unit, temp_dir, wait_unprotected};
use ecs_protect_tests::rng::{Rng, clock_seed, seed_from_env};

const WORKER: &str = env!("CARGO_BIN_EXE_shared_worker");

struct Planned {
    name: String,
    start_after: Duration,
    kill_after: Option<Duration>,
    /// Sent SIGTERM then (when not killed): it stops taking units, finishes those in flight,
    /// and exits promptly, even if it was waiting for a breathing window.
    term_after: Option<Duration>,
    units_ms: String,
    threads: u64,
    /// How long it stays idle after its units (protection lingers meanwhile).
    stay_ms: u64,
}

fn plan(rng: &mut Rng, workers: usize) -> Vec<Planned> {
    (0..workers)
        .map(|i| {
            let units: Vec<String> = (0..rng.range(2, 12))
                .map(|_| rng.range(5, 400).to_string())
                .collect();
            Planned {
                name: format!("w{i}"),
                start_after: Duration::from_millis(rng.below(1500)),
                kill_after: (rng.below(3) == 0).then(|| Duration::from_millis(rng.range(30, 1500))),
                term_after: (rng.below(3) == 0).then(|| Duration::from_millis(rng.range(30, 1500))),
                units_ms: units.join(","),
                threads: rng.range(1, 3),
                stay_ms: [0, 0, rng.range(100, 1500)][rng.below(3) as usize],
            }
        })
        .collect()
}

/// One round: the planned workers plus an idle one that stays to the end.
fn round(seed: u64, round: usize, rng: &mut Rng) {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("soak");
    let dir = dir.to_str().unwrap();
    let linger_ms = [0, 100, 300][rng.below(3) as usize];
    let linger = format!("{linger_ms}ms");
    // Some rounds hold protection at most 300 or 700 ms, so that breathing windows open
    // (and processes wait for them, or die waiting).
    let max_hold = ["15m", "300ms", "700ms"][rng.below(3) as usize];
    let env = [
        ("ECS_PROTECT_SHARED_DIR", dir),
        ("ECS_PROTECT_LINGER", linger.as_str()),
        ("ECS_PROTECT_MAX_HOLD", max_hold),
        ("ECS_PROTECT_WINDOW", "150ms"),
        ("ECS_PROTECT_HOLD_GRACE", "1s"),
    ];
    let context = format!("seed {seed} round {round} (linger {linger}, max hold {max_hold})");
    let clock = Clock::now();
    let mut sentinel = Process::spawn(
        "idle",
        WORKER,
        &[],
        &mock,
        &[&env[..], &[("STAY_MS", "120000")]].concat(),
    );
    assert!(
        sentinel
            .wait_for_line(Duration::from_secs(30), |l| l.starts_with("idle"))
            .is_some()
    );
    let workers = rng.range(2, 4) as usize;
    let planned = plan(rng, workers);
    let began = Instant::now();
    let mut running: Vec<(Process, Option<Instant>, Option<Instant>)> = Vec::new();
    let mut killed_at: Vec<(String, Instant)> = Vec::new();
    let mut termed_at: Vec<(String, Instant)> = Vec::new();
    let mut pending: Vec<&Planned> = planned.iter().collect();
    pending.sort_by_key(|p| p.start_after);
    let mut finished: Vec<Process> = Vec::new();
    let deadline = began + Duration::from_secs(60);
    while !(pending.is_empty() && running.is_empty()) {
        let now = Instant::now();
        assert!(now < deadline, "{context}: the round did not end");
        while pending
            .first()
            .is_some_and(|p| began + p.start_after <= now)
        {
            let p = pending.remove(0);
            let threads = p.threads.to_string();
            let stay = p.stay_ms.to_string();
            let process = Process::spawn(
                &p.name,
                WORKER,
                &[],
                &mock,
                &[
                    &env[..],
                    &[
                        ("UNITS_MS", p.units_ms.as_str()),
                        ("THREADS", &threads),
                        ("STAY_MS", &stay),
                    ],
                ]
                .concat(),
            );
            let at = Instant::now();
            running.push((
                process,
                p.kill_after.map(|k| at + k),
                p.term_after.map(|t| at + t),
            ));
        }
        let mut still = Vec::new();
        for (mut process, kill_at, mut term_at) in running.drain(..) {
            if term_at.is_some_and(|t| now >= t) && kill_at.is_none_or(|k| now < k) {
                term_at = None;
                // Noted before it is sent: a unit that begins after this may be unprotected.
                termed_at.push((process.name.clone(), Instant::now()));
                process.signal("TERM");
            }
            if kill_at.is_some_and(|k| now >= k) {
                // The process is alive, and its unit must be protected, until the kill.
                let at = Instant::now();
                process.kill();
                process.wait(Duration::from_secs(10));
                killed_at.push((process.name.clone(), at));
                finished.push(process);
            } else if let Some(status) = process.try_exit() {
                assert!(
                    status.success(),
                    "{context}: {} failed: {status}",
                    process.name
                );
                // After SIGTERM: the units in flight (400 ms at most) and the release, never
                // the rest of a breathing window's wait (hold grace 1 s) or its units.
                if let Some((_, at)) = termed_at.iter().find(|(n, _)| *n == process.name) {
                    let took = Instant::now().saturating_duration_since(*at);
                    assert!(
                        took <= Duration::from_secs(4),
                        "{context}: {} exited {took:?} after SIGTERM",
                        process.name
                    );
                }
                finished.push(process);
            } else {
                still.push((process, kill_at, term_at));
            }
        }
        running = still;
        std::thread::sleep(Duration::from_millis(5));
    }
    // Every unit protected throughout: one span of the fake's timeline covers it.
    let spans = mock.timeline();
    let mut units: Vec<Unit> = Vec::new();
    for process in &finished {
        units.extend(process.units(&clock));
    }
    for unit in &units {
        // After SIGTERM new units run unprotected by design (ECS is stopping the task).
        if termed_at
            .iter()
            .any(|(name, at)| *name == unit.process && unit.started >= *at)
        {
            continue;
        }
        // A unit cut short by its process's SIGKILL is checked up to the kill.
        let killed = killed_at.iter().find(|(name, _)| *name == unit.process);
        let end = unit
            .ended
            .or(killed.map(|(_, at)| *at))
            .unwrap_or(unit.started);
        assert!(
            spans
                .iter()
                .any(|s| s.start <= unit.started && s.end >= end),
            "{context}: {} unit {} not protected throughout: {unit:?}; timeline {spans:?}",
            unit.process,
            unit.id
        );
    }
    // All are idle (done or dead): off within the linger, the idle check and a call.
    let all_idle = units
        .iter()
        .filter_map(|u| u.ended)
        .chain(killed_at.iter().map(|(_, at)| *at))
        .max()
        .unwrap_or(began);
    let looked = wait_unprotected(&mock, Duration::from_secs(15)).unwrap_or_else(|| {
        panic!("{context}: protection stayed on with every process idle: {spans:?}")
    });
    // When it went off, as the fake recorded it (the workers may have exited later).
    let spans = mock.timeline();
    let off = spans.last().map_or(looked, |s| s.end);
    let took = off.saturating_duration_since(all_idle);
    // With a short max_hold, no stretch outlasts it by more than the longest unit (400 ms,
    // under the 1 s grace) and a second of calls: the processes' windows agree.
    if let Some(hold) = max_hold
        .strip_suffix("ms")
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        let longest = Duration::from_millis(hold + 400) + Duration::from_secs(1);
        for span in &spans {
            assert!(
                span.duration() <= longest,
                "{context}: a stretch of {:?}: {spans:?}",
                span.duration()
            );
        }
    }
    let bound = Duration::from_millis(linger_ms) + Duration::from_secs(1) + Duration::from_secs(3);
    assert!(
        took <= bound,
        "{context}: protection off {took:?} after all were idle"
    );
    let rejected = mock
        .calls()
        .into_iter()
        .filter(|c| c.outcome != Outcome::Accepted)
        .count();
    assert_eq!(rejected, 0, "{context}");
    if std::env::var_os("SHARED_SOAK_DEBUG").is_some() {
        for span in &spans {
            eprintln!(
                "span {:?}..{:?}",
                span.start - began,
                span.end.saturating_duration_since(began)
            );
        }
        for p in &finished {
            for l in p.lines() {
                eprintln!("{} {l}", p.name);
            }
        }
        eprintln!("all idle {:?}, off {:?}", all_idle - began, off - began);
        for c in mock.calls() {
            eprintln!("{c:?}");
        }
    }
    sentinel.signal("TERM");
    assert!(
        sentinel.wait(Duration::from_secs(30)).success(),
        "{context}"
    );
    assert!(!mock.protected_now(), "{context}");
    eprintln!(
        "{context}: {} workers, {} killed, {} sent SIGTERM, {} units, {} spans, off {took:?} \
         after all idle",
        planned.len(),
        killed_at.len(),
        termed_at.len(),
        units.len(),
        spans.len()
    );
}

#[test]
fn random_workers_and_kills_keep_every_unit_protected_and_leave_nothing_on() {
    let seed = seed_from_env("shared soak", "SHARED_SOAK_SEED", clock_seed);
    let mut rng = Rng::new(seed);
    let rounds = std::env::var("SHARED_SOAK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4);
    for r in 0..rounds {
        round(seed, r, &mut rng);
    }
}
