//! The protector under random load and random faults (a seeded soak with invariants), and
//! the background thread's CPU time in the states where it used to spin.
//!
//! CPU time is read from `/proc/self/task/<tid>/stat` (Linux only; elsewhere these checks
//! are skipped and say so). The tests of this file run one at a time (`SERIAL`), so that
//! each finds its own protector's thread.
//!
//! The soak prints its seed; replay a failure with `ECS_PROTECT_SOAK_SEED=<seed>`, and run it
//! longer with `ECS_PROTECT_SOAK_SECS=<seconds>` or the ignored `soak_long`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::mock::RecordingBackend;
use ecs_protect::{Config, FailurePolicy, Protection, Protector, State};
use ecs_protect_tests::errors::{blocked, server_error, throttled, transport_error};
use ecs_protect_tests::rng::{Rng, clock_seed, seed_from_env};
use ecs_protect_tests::{DEADLINE, eventually, ms};

/// The variable that replays a soak.
const SEED_VAR: &str = "ECS_PROTECT_SOAK_SEED";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The CPU time of this process's threads, read from /proc.
#[cfg(target_os = "linux")]
mod cpu {
    use std::time::Duration;

    /// Clock ticks per second of /proc's `utime` and `stime` (`USER_HZ`, 100 on Linux).
    const TICKS: u64 = 100;

    /// The ids of this process's threads named `ecs-protect`.
    pub(super) fn protector_threads() -> Vec<u32> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
            let entry = entry.unwrap();
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if comm.trim() == "ecs-protect" {
                ids.push(entry.file_name().to_string_lossy().parse().unwrap());
            }
        }
        ids
    }

    /// User plus system CPU time of thread `tid` (`None` once it has ended).
    pub(super) fn time(tid: u32) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `utime` and `stime` are fields 14 and 15 of the line, 12 and 13 after `comm`.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 1000 / TICKS))
    }
}

/// The background thread of the protector `make` builds (the one `ecs-protect` thread that
/// was not there before).
fn worker_of(make: impl FnOnce() -> Protector) -> (Protector, Option<u32>) {
    #[cfg(target_os = "linux")]
    {
        let before = cpu::protector_threads();
        let protector = make();
        let mut found = None;
        eventually("the background thread", || {
            found = cpu::protector_threads()
                .into_iter()
                .find(|t| !before.contains(t));
            found.is_some()
        });
        (protector, found)
    }
    #[cfg(not(target_os = "linux"))]
    {
        (make(), None)
    }
}

/// The CPU time `tid` used while `during` ran, and how long that took.
fn cpu_during(tid: Option<u32>, during: impl FnOnce()) -> Option<(Duration, Duration)> {
    #[cfg(target_os = "linux")]
    {
        let tid = tid?;
        let (cpu0, wall0) = (cpu::time(tid)?, Instant::now());
        during();
        Some((cpu::time(tid)? - cpu0, wall0.elapsed()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = tid;
        during();
        eprintln!("CPU time is read from /proc: not measured on this platform");
        None
    }
}

/// Asserts the background thread used at most 5 % of one core (one /proc tick of slack)
/// for a second in the state `setup` leaves the protector in.
fn assert_quiet(what: &str, tid: Option<u32>, protector: &Protector, state: State) {
    assert_eq!(
        protector.stats().state,
        state,
        "{what}: not in the state to measure"
    );
    let measured = cpu_during(tid, || thread::sleep(Duration::from_secs(1)));
    assert_eq!(
        protector.stats().state,
        state,
        "{what}: left the state while measured"
    );
    match measured {
        Some((cpu, wall)) => {
            eprintln!("{what}: {cpu:?} of CPU in {wall:?}");
            assert!(
                cpu <= wall / 20 + ms(10),
                "{what}: the background thread used {cpu:?} of CPU in {wall:?}"
            );
        }
        None => eprintln!("{what}: CPU time not measured (Linux only)"),
    }
}

#[test]
fn the_cpu_meter_sees_a_busy_thread() {
    let _serial = serial();
    #[cfg(target_os = "linux")]
    {
        let (tid, cpu) = thread::spawn(|| {
            let tid: u32 = std::fs::read_link("/proc/thread-self")
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .parse()
                .unwrap();
            let start = Instant::now();
            let mut spins = 0u64;
            while start.elapsed() < ms(300) {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
            (tid, cpu::time(tid))
        })
        .join()
        .unwrap();
        let cpu = cpu.expect("readable while running");
        eprintln!("a thread spinning 300 ms: {cpu:?} of CPU (thread {tid})");
        assert!(cpu >= ms(30), "{cpu:?}");
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("CPU time is read from /proc: not measured on this platform");
}

fn fast() -> ecs_protect::ConfigBuilder {
    Config::builder()
        .linger(ms(5))
        .retry_after(ms(200))
        .blocked_retry_after(Duration::from_secs(60))
}

// Defect 3, first state: a failed disable followed by work in flight.
#[test]
fn no_spin_after_a_failed_disable_with_work_in_flight() {
    let _serial = serial();
    let backend = RecordingBackend::new();
    let config = fast().linger(Duration::ZERO).build().unwrap();
    let (protector, tid) = worker_of(|| Protector::with_config(config, backend.clone()));
    let guard = protector.acquire().unwrap();
    backend.fail_next(transport_error); // the disable
    drop(guard);
    eventually("the failed disable", || {
        protector.stats().state == State::MaybeOn
    });
    backend.fail_next(blocked); // the next enable: backs off for a minute
    let working = protector.acquire().unwrap();
    assert!(!working.is_protected());
    assert_quiet(
        "failed disable, work in flight",
        tid,
        &protector,
        State::MaybeOn,
    );
    drop(working);
}

// Defect 3, second state: shutdown with work in flight past `max_hold`.
#[test]
fn no_spin_after_shutdown_with_work_in_flight_past_max_hold() {
    let _serial = serial();
    let backend = RecordingBackend::new();
    let config = fast()
        .max_hold(ms(50))
        .hold_grace(Duration::from_secs(60))
        .build()
        .unwrap();
    let (protector, tid) = worker_of(|| Protector::with_config(config, backend.clone()));
    let working = protector.acquire().unwrap();
    protector.request_shutdown();
    thread::sleep(ms(100)); // past max_hold
    assert_quiet(
        "shutdown, work in flight, past max hold",
        tid,
        &protector,
        State::On,
    );
    drop(working);
    assert!(backend.wait_until(DEADLINE, |calls| {
        calls.last().is_some_and(|c| c.change == Protection::Off)
    }));
}

// Defect 3, third state: an overrun followed by idle time during the linger.
#[test]
fn no_spin_when_idle_after_an_overrun() {
    let _serial = serial();
    let backend = RecordingBackend::new();
    let config = fast()
        .linger(Duration::from_secs(60))
        .max_hold(ms(30))
        .hold_grace(ms(30))
        .hard_cap(Duration::from_secs(60))
        .build()
        .unwrap();
    let (protector, tid) = worker_of(|| Protector::with_config(config, backend.clone()));
    let working = protector.acquire().unwrap();
    eventually("the overrun", || protector.stats().state == State::Overrun);
    drop(working);
    eventually("the overrun to end", || {
        protector.stats().state != State::Overrun
    });
    // Idle and lingering: max_hold after the overrun the (empty) window is due, so the
    // protector may release early; measure while it still lingers or is off.
    let state = protector.stats().state;
    assert!(
        matches!(state, State::On | State::Window | State::Off),
        "{state}"
    );
    let measured = cpu_during(tid, || thread::sleep(Duration::from_secs(1)));
    if let Some((cpu, wall)) = measured {
        eprintln!("idle after an overrun: {cpu:?} of CPU in {wall:?}");
        assert!(cpu <= wall / 20 + ms(10), "{cpu:?} of CPU in {wall:?}");
    }
}

#[test]
fn no_spin_in_the_other_states() {
    let _serial = serial();
    // Lingering with nothing in flight.
    let backend = RecordingBackend::new();
    let config = fast().linger(Duration::from_secs(60)).build().unwrap();
    let (protector, tid) = worker_of(|| Protector::with_config(config, backend.clone()));
    drop(protector.acquire().unwrap());
    assert_quiet("lingering", tid, &protector, State::On);
    // Busy.
    let working = protector.acquire().unwrap();
    assert_quiet("working", tid, &protector, State::On);
    drop(working);
    // Backing off with work running unprotected.
    let backend = RecordingBackend::new();
    backend.fail_next(blocked);
    let config = fast().build().unwrap();
    let (protector, tid) = worker_of(|| Protector::with_config(config, backend.clone()));
    let unprotected = protector.acquire().unwrap();
    assert_quiet("backing off", tid, &protector, State::BackingOff);
    drop(unprotected);
    // Waiting for work before a window, then in the window.
    let backend = RecordingBackend::new();
    let config = fast()
        .max_hold(ms(20))
        .hold_grace(Duration::from_secs(60))
        .window(Duration::from_secs(60))
        .build()
        .unwrap();
    let (protector, tid) = worker_of(|| Protector::with_config(config, backend.clone()));
    let working = protector.acquire().unwrap();
    eventually("draining", || protector.stats().state == State::Draining);
    assert_quiet("draining", tid, &protector, State::Draining);
    drop(working);
    eventually("the window", || protector.stats().state == State::Window);
    assert_quiet("window", tid, &protector, State::Window);
}

/// One unit of the soak.
struct Unit {
    asked: Instant,
    admitted: Instant,
    ended: Instant,
    protected: bool,
}

struct Soak {
    max_hold: Duration,
    hold_grace: Duration,
    window: Duration,
    hard_cap: Duration,
    linger: Duration,
    retry_cap: Duration,
    /// The longest backend call latency the chaos sets.
    longest_call: Duration,
}

/// Slack for a loaded 2-core machine in every timing bound.
const SLACK: Duration = Duration::from_secs(1);

impl Soak {
    /// The documented bound of one acquire with calls of at most `longest_call`: a call in
    /// the air, the breathing window's wait (`hold_grace`), its disable, the window, and
    /// the enable after it.
    fn acquire_bound(&self) -> Duration {
        self.hold_grace + self.window + self.longest_call * 3
    }
}

fn soak_for(default: Duration) -> Duration {
    std::env::var("ECS_PROTECT_SOAK_SECS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map_or(default, Duration::from_secs)
}

fn run_soak(seed: u64, length: Duration) {
    println!("protector soak: for {length:?}");
    let mut rng = Rng::new(seed);
    let soak = Soak {
        max_hold: ms(300 + rng.below(200)),
        hold_grace: ms(100),
        window: ms(30 + rng.below(40)),
        hard_cap: Duration::from_secs(6),
        linger: ms(20 + rng.below(30)),
        retry_cap: ms(200),
        longest_call: ms(40),
    };
    let backend = RecordingBackend::new();
    let config = Config::builder()
        .max_hold(soak.max_hold)
        .hold_grace(soak.hold_grace)
        .window(soak.window)
        .hard_cap(soak.hard_cap)
        .linger(soak.linger)
        .retry_after(soak.retry_cap)
        .blocked_retry_after(ms(150))
        .refused_retry_after(ms(150))
        .build()
        .unwrap();
    let (protector, tid) = worker_of(|| Protector::with_config(config, backend.clone()));
    #[cfg(target_os = "linux")]
    let cpu_start = tid.and_then(cpu::time);
    let wall_start = Instant::now();
    let units = Mutex::new(Vec::<Unit>::new());
    let stop = AtomicBool::new(false);
    let quiet = AtomicBool::new(false);
    let longest_wait = Mutex::new(Duration::ZERO);
    let overheld = Mutex::new(Vec::<Duration>::new());
    thread::scope(|scope| {
        // The backend's chaos: latency, errors, throttles, DEPLOYMENT_BLOCKED, lost answers
        // and expiries shorter than asked.
        let mut chaos_rng = rng.split();
        let (backend_ref, stop_ref, quiet_ref) = (&backend, &stop, &quiet);
        scope.spawn(move || {
            while !stop_ref.load(Ordering::SeqCst) {
                thread::sleep(ms(20 + chaos_rng.below(80)));
                if quiet_ref.load(Ordering::SeqCst) {
                    backend_ref.clear_failures();
                    backend_ref.set_latency(Duration::ZERO);
                    continue;
                }
                let latency = if chaos_rng.chance(5) {
                    40
                } else {
                    chaos_rng.below(5)
                };
                backend_ref.set_latency(ms(latency));
                if chaos_rng.chance(10) {
                    backend_ref.set_expiry(ms(600 + chaos_rng.below(2_000)));
                }
                // At most one fault queued at a time, so that faults stay occasional.
                backend_ref.clear_failures();
                match chaos_rng.below(100) {
                    0..=9 => backend_ref.fail_next(transport_error),
                    10..=19 => backend_ref.fail_next(throttled),
                    20..=24 => backend_ref.fail_next(blocked),
                    25..=32 => backend_ref.lose_next_answer(transport_error),
                    33..=36 => backend_ref.lose_next_answer(server_error),
                    _ => {}
                }
            }
        });
        // The load: threads of short random units with random gaps, Require and Proceed.
        for t in 0..6u64 {
            let mut load_rng = rng.split();
            let (protector, units, stop, longest_wait) = (&protector, &units, &stop, &longest_wait);
            let slow_thread = t == 0;
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if load_rng.chance(3) {
                        thread::sleep(ms(load_rng.below(60)));
                    }
                    let policy = if load_rng.chance(50) {
                        FailurePolicy::Require
                    } else {
                        FailurePolicy::Proceed
                    };
                    let asked = Instant::now();
                    let result = protector.acquire_with(policy);
                    let admitted = Instant::now();
                    let waited = admitted - asked;
                    {
                        let mut longest = longest_wait.lock().unwrap();
                        *longest = (*longest).max(waited);
                    }
                    let Ok(guard) = result else { continue };
                    let length = if slow_thread && load_rng.chance(2) {
                        ms(150 + load_rng.below(100)) // longer than hold_grace
                    } else {
                        Duration::from_micros(200 + load_rng.below(3_000))
                    };
                    thread::sleep(length);
                    let protected = guard.is_protected();
                    let ended = Instant::now();
                    drop(guard);
                    units.lock().unwrap().push(Unit {
                        asked,
                        admitted,
                        ended,
                        protected,
                    });
                }
            });
        }
        // (c), at every step: under load, protection is never held longer than max_hold
        // (give or take a call and the slack) without a breathing window's wait beginning.
        let (protector_ref, soak_ref, overheld_ref) = (&protector, &soak, &overheld);
        scope.spawn(move || {
            let mut hold_from: Option<Instant> = None;
            let mut previous = State::Off;
            while !stop_ref.load(Ordering::SeqCst) {
                let state = protector_ref.stats().state;
                let now = Instant::now();
                match state {
                    State::On | State::Renewing => {
                        if hold_from.is_none() || previous == State::Overrun {
                            hold_from = Some(now);
                        }
                        let bound = soak_ref.max_hold + soak_ref.longest_call * 2 + SLACK;
                        if let Some(from) = hold_from.filter(|f| now - *f > bound) {
                            overheld_ref.lock().unwrap().push(now - from);
                            hold_from = None;
                        }
                    }
                    State::Overrun => {}
                    _ => hold_from = None,
                }
                previous = state;
                thread::sleep(ms(2));
            }
        });
        thread::sleep(length);
        quiet.store(true, Ordering::SeqCst);
        backend.clear_failures();
        stop.store(true, Ordering::SeqCst);
    });
    let last_end = Instant::now();
    backend.clear_failures();
    backend.set_latency(Duration::ZERO);
    let units = units.into_inner().unwrap();
    let calls = backend.calls();
    let stats = protector.stats();
    println!(
        "protector soak: {} units ({} protected), {} calls, {stats:?}",
        units.len(),
        units.iter().filter(|u| u.protected).count(),
        calls.len()
    );
    assert!(units.len() > 100, "the load did not run");

    // (a) A unit given a protected guard ran while the backend's state was on: when it was
    // handed out, and throughout unless protection lapsed or hit the hard cap meanwhile.
    let calm = stats.lapses == 0 && stats.hard_caps == 0;
    for unit in units.iter().filter(|u| u.protected) {
        assert!(
            backend.protected_at(unit.admitted),
            "seed {seed}: a protected guard was handed out at {:?} with protection off",
            unit.admitted - wall_start
        );
        if calm {
            assert!(
                backend.protected_throughout(unit.admitted, unit.ended),
                "seed {seed}: a protected unit ran unprotected from {:?} to {:?}",
                unit.admitted - wall_start,
                unit.ended - wall_start
            );
        }
    }
    assert_eq!(
        backend.max_concurrent_calls(),
        1,
        "seed {seed}: two calls at once"
    );

    // (b) Once the last unit has ended and the back-offs have passed, protection is off
    // within the linger plus one call.
    let backoffs_over = last_end + soak.retry_cap.max(ms(150));
    let bound = soak.linger + soak.retry_cap + soak.longest_call + SLACK;
    assert!(
        backend.wait_until(bound + (backoffs_over - last_end), |calls| {
            calls
                .iter()
                .rev()
                .find(|c| c.ok)
                .is_some_and(|c| c.change == Protection::Off)
        }),
        "seed {seed}: protection still on {bound:?} after the last unit: {:?}",
        protector.stats()
    );
    assert!(!backend.protected_at(Instant::now()));

    // (c) Under continuous load a window opens every max_hold (checked at every step
    // above), and no continuous protection lasts to the hard cap.
    let overheld = overheld.into_inner().unwrap();
    assert!(
        overheld.is_empty(),
        "seed {seed}: protection held past max_hold without a window: {overheld:?}"
    );
    assert_eq!(stats.hard_caps, 0, "seed {seed}: the hard cap was reached");
    let mut on_since: Option<Instant> = None;
    for call in calls.iter().filter(|c| c.ok) {
        match call.change {
            Protection::On { .. } => {
                if on_since.is_none() {
                    on_since = Some(call.started);
                }
            }
            Protection::Off => {
                if let Some(since) = on_since.take() {
                    let held = call.started - since;
                    assert!(
                        held <= soak.hard_cap + soak.longest_call,
                        "seed {seed}: protection held {held:?}"
                    );
                }
            }
        }
    }
    assert!(
        stats.windows >= 1 || length < soak.max_hold * 4,
        "seed {seed}: no breathing window in {length:?}"
    );

    // (d) The background thread's CPU stays near zero.
    #[cfg(target_os = "linux")]
    if let (Some(start), Some(now)) = (cpu_start, tid.and_then(cpu::time)) {
        let used = now - start;
        let wall = wall_start.elapsed();
        println!("protector soak: the background thread used {used:?} of CPU in {wall:?}");
        assert!(
            used <= wall / 10,
            "seed {seed}: the background thread used {used:?} of CPU in {wall:?}"
        );
    }
    let _ = tid;

    // (e) No acquire waited longer than its documented bound.
    let longest = longest_wait.into_inner().unwrap();
    let bound = soak.acquire_bound() + SLACK;
    assert!(
        longest <= bound,
        "seed {seed}: an acquire waited {longest:?}, over its bound {bound:?}"
    );
    assert!(units.iter().all(|u| u.admitted - u.asked <= longest));
}

#[test]
fn soak() {
    let _serial = serial();
    let seed = seed_from_env("protector soak", SEED_VAR, || 0x5EED_0010);
    run_soak(seed, soak_for(Duration::from_secs(12)));
}

#[test]
#[ignore = "long: run with --ignored"]
fn soak_long() {
    let _serial = serial();
    let seed = seed_from_env("protector soak", SEED_VAR, clock_seed);
    run_soak(seed, soak_for(Duration::from_secs(180)));
}
