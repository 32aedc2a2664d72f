//! Two `SharedBackend`s on one directory behave as two processes: their locks are taken
//! on separate opens of the files, which exclude each other as other processes' would.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::*;

/// A fake ECS shared by the "processes": counts calls, knows whether protection is on.
#[derive(Clone, Debug, Default)]
struct Ecs(Arc<Mutex<EcsState>>);

#[derive(Debug, Default)]
struct EcsState {
    /// The next call fails with this, without changing anything.
    fail_next: Option<fn() -> Error>,
    /// How long granted protection lasts (default 60 s).
    life: Option<Duration>,
    on: bool,
    enables: usize,
    disables: usize,
    /// When each call began, with what it asked.
    log: Vec<(Instant, bool)>,
}

impl Backend for Ecs {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let mut s = self.0.lock().unwrap();
        let on = matches!(change, Protection::On { .. });
        s.log.push((Instant::now(), on));
        if let Some(make) = s.fail_next.take() {
            return Err(make());
        }
        if on {
            s.enables += 1;
        } else {
            s.disables += 1;
        }
        s.on = on;
        Ok(ProtectionState {
            enabled: on,
            expires_at: on.then(|| SystemTime::now() + s.life.unwrap_or(Duration::from_secs(60))),
        })
    }
}

impl Ecs {
    fn counts(&self) -> (usize, usize, bool) {
        let s = self.0.lock().unwrap();
        (s.enables, s.disables, s.on)
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ecs-protect-shared-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const ON: Protection = Protection::On {
    expires_in_minutes: 1,
};

fn config(max_hold_ms: u64, window_ms: u64) -> Config {
    Config::builder()
        .max_hold(Duration::from_millis(max_hold_ms))
        .window(Duration::from_millis(window_ms))
        .hold_grace(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[test]
fn protection_stays_on_until_the_last_process_lets_go_with_one_call_each_way() {
    let dir = temp_dir("last");
    let ecs = Ecs::default();
    let config = Config::default();
    let a = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    let b = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    assert!(a.set_protection(ON).unwrap().enabled);
    let joined = b.set_protection(ON).unwrap();
    assert!(joined.enabled && joined.expires_at.is_some());
    assert_eq!(ecs.counts(), (1, 0, true), "b joined without a call");
    // A renewal far from expiry is not sent either.
    assert!(a.set_protection(ON).unwrap().enabled);
    assert_eq!(ecs.counts(), (1, 0, true));
    assert!(!a.set_protection(Protection::Off).unwrap().enabled);
    assert_eq!(
        ecs.counts(),
        (1, 0, true),
        "a let go while b needs protection"
    );
    assert!(!b.set_protection(Protection::Off).unwrap().enabled);
    assert_eq!(ecs.counts(), (1, 1, false), "the last one out disabled");
    // Off again: nothing to do, no call.
    assert!(!a.set_protection(Protection::Off).unwrap().enabled);
    assert_eq!(ecs.counts(), (1, 1, false));
    assert_eq!(
        a.core.read_record().unwrap(),
        Record::Off { window_until: None }
    );
}

#[test]
fn every_process_reports_the_same_stretch_start() {
    let dir = temp_dir("since");
    let ecs = Ecs::default();
    let config = Config::default();
    let a = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    let b = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    assert_eq!(a.protected_since(), None);
    a.set_protection(ON).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    b.set_protection(ON).unwrap();
    assert!(a.protected_since().is_some());
    assert_eq!(a.protected_since(), b.protected_since());
    b.set_protection(Protection::Off).unwrap();
    assert_eq!(b.protected_since(), None);
}

#[test]
fn an_idle_process_disables_protection_nobody_holds() {
    let dir = temp_dir("abandoned");
    let ecs = Ecs::default();
    let config = Config::builder().linger(Duration::ZERO).build().unwrap();
    let survivor = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    {
        let dead = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
        dead.set_protection(ON).unwrap();
        // Dropped without letting go, as a killed process would: its files close.
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while ecs.counts().2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        ecs.counts(),
        (1, 1, false),
        "the survivor's check disabled it"
    );
    drop(survivor);
}

#[test]
fn after_a_breathing_window_nobody_enables_before_it_ends() {
    let dir = temp_dir("window");
    let ecs = Ecs::default();
    let config = config(50, 300);
    let a = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    let b = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    a.set_protection(ON).unwrap();
    b.set_protection(ON).unwrap();
    std::thread::sleep(Duration::from_millis(60)); // past max_hold
    a.set_protection(Protection::Off).unwrap(); // a drained first: b still holds
    assert_eq!(ecs.counts(), (1, 0, true));
    // a's window (its own) is over at once; it must not join the stretch past max_hold.
    let a_enable = std::thread::spawn(move || {
        a.set_protection(ON).unwrap();
        a
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        ecs.counts(),
        (1, 0, true),
        "a joined a stretch past max_hold"
    );
    b.set_protection(Protection::Off).unwrap(); // the last one drained: the window opens
    let a = a_enable.join().unwrap();
    let log = ecs.0.lock().unwrap().log.clone();
    assert_eq!(log.len(), 3, "{log:?}");
    let (disabled, enabled) = (log[1].0, log[2].0);
    assert!(!log[1].1 && log[2].1);
    assert!(
        enabled - disabled >= Duration::from_millis(300),
        "protection came back {:?} after the window opened",
        enabled - disabled
    );
    assert!(a.protected_since().unwrap() > SystemTime::now() - Duration::from_millis(200));
}

#[test]
fn a_bad_directory_is_a_clear_error_naming_where_it_came_from() {
    let message = |dir: &Path| {
        SharedBackend::new(dir, &Config::default(), Ecs::default())
            .unwrap_err()
            .to_string()
    };
    let missing = temp_dir("missing").join("nope");
    let text = message(&missing);
    assert!(
        text.starts_with("invalid SharedBackend::new: directory")
            && text.contains("does not exist"),
        "{text}"
    );
    let file = temp_dir("file").join("plain");
    std::fs::write(&file, "x").unwrap();
    assert!(
        message(&file).ends_with("is not a directory"),
        "{}",
        message(&file)
    );
    let env = Env::from_vars([(VAR, missing.to_str().unwrap())]);
    let err = from_env(&env, &Config::default(), Box::new(Ecs::default()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid ECS_PROTECT_SHARED_DIR: directory"),
        "{err}"
    );
    let relative = Env::from_vars([(VAR, "shared")]);
    assert_eq!(
        from_env(&relative, &Config::default(), Box::new(Ecs::default()))
            .unwrap_err()
            .to_string(),
        "invalid ECS_PROTECT_SHARED_DIR: must be an absolute path (the same directory for every \
         process of the task), got \"shared\""
    );
    // /proc accepts no new file, even from root.
    let err = message(Path::new("/proc"));
    assert!(
        err.contains("cannot create or open ecs-protect.need in /proc"),
        "{err}"
    );
}

#[test]
fn without_the_variable_the_backend_is_used_as_it_is() {
    let backend = from_env(
        &Env::from_vars([("X", "1")]),
        &Config::default(),
        Box::new(crate::Disabled),
    )
    .unwrap();
    assert_eq!(backend.name(), "off");
    assert!(format!("{backend:?}").starts_with("Disabled"));
}

#[test]
fn a_refused_enable_leaves_the_record_as_it_was_and_a_lost_answer_leaves_it_maybe_on() {
    let dir = temp_dir("failed-enable");
    let ecs = Ecs::default();
    let config = Config::builder()
        .linger(Duration::ZERO)
        .retry_after(Duration::from_millis(100))
        .build()
        .unwrap();
    let a = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    ecs.0.lock().unwrap().fail_next = Some(|| Error::TaskRefused {
        reason: crate::RefusalReason::DeploymentBlocked,
        detail: None,
        arn: None,
    });
    assert!(a.set_protection(ON).is_err());
    assert_eq!(
        a.core.read_record().unwrap(),
        Record::Off { window_until: None }
    );
    assert!(
        !a.core.local.lock().unwrap().holding,
        "a refused process holds nothing up"
    );
    // An answer that never came: ECS may have applied it. An idle process disables it once
    // the retry time has come.
    ecs.0.lock().unwrap().fail_next = Some(|| Error::Transport {
        endpoint: "ecs".into(),
        timed_out: true,
        source: "read timed out".into(),
    });
    assert!(a.set_protection(ON).is_err());
    assert!(matches!(
        a.core.read_record().unwrap(),
        Record::MaybeOn { .. }
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while ecs.counts().1 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        ecs.counts().1,
        1,
        "the idle check disabled the maybe-on protection"
    );
    assert_eq!(
        a.core.read_record().unwrap(),
        Record::Off { window_until: None }
    );
}

#[test]
fn a_failed_disable_is_recorded_maybe_on_and_retried() {
    let dir = temp_dir("failed-disable");
    let ecs = Ecs::default();
    let config = Config::builder()
        .retry_after(Duration::from_millis(100))
        .build()
        .unwrap();
    let a = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    a.set_protection(ON).unwrap();
    ecs.0.lock().unwrap().fail_next = Some(|| Error::Transport {
        endpoint: "ecs".into(),
        timed_out: false,
        source: "connection reset".into(),
    });
    assert!(a.set_protection(Protection::Off).is_err());
    assert!(matches!(
        a.core.read_record().unwrap(),
        Record::MaybeOn {
            expires: Some(_),
            ..
        }
    ));
    // The protector retries; the next process to enable calls ECS rather than join.
    assert!(!a.set_protection(Protection::Off).unwrap().enabled);
    assert_eq!(ecs.counts(), (1, 1, false), "the retry went through");
    assert_eq!(
        ecs.0.lock().unwrap().log.len(),
        3,
        "enable, failed disable, disable"
    );
    assert_eq!(
        a.core.read_record().unwrap(),
        Record::Off { window_until: None }
    );
}

#[test]
fn a_renewal_is_sent_once_half_way_through_the_life_ecs_granted_whoever_asks() {
    let dir = temp_dir("renewal");
    let ecs = Ecs::default();
    ecs.0.lock().unwrap().life = Some(Duration::from_millis(400));
    let config = Config::default();
    let a = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    let b = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    a.set_protection(ON).unwrap();
    b.set_protection(ON).unwrap();
    a.set_protection(ON).unwrap();
    assert_eq!(ecs.counts(), (1, 0, true), "nothing due yet");
    std::thread::sleep(Duration::from_millis(250)); // past half of the 400 ms granted
    let renewed = b.set_protection(ON).unwrap();
    assert_eq!(ecs.counts(), (2, 0, true), "b renewed for both");
    let joined = a.set_protection(ON).unwrap();
    assert_eq!(ecs.counts(), (2, 0, true), "a found it renewed");
    // The same expiry, to the millisecond the state file keeps.
    let (joined, renewed) = (joined.expires_at.unwrap(), renewed.expires_at.unwrap());
    assert!(renewed.duration_since(joined).unwrap() < Duration::from_millis(1));
    assert_eq!(a.protected_since(), b.protected_since(), "one stretch");
}

/// Panics on its first call, then counts calls.
#[derive(Debug, Default)]
struct PanicsOnce(Mutex<usize>);

impl Backend for PanicsOnce {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *calls += 1;
        assert!(*calls > 1, "the first call panics");
        Ok(ProtectionState {
            enabled: matches!(change, Protection::On { .. }),
            expires_at: None,
        })
    }
}

#[test]
fn a_backend_that_panics_leaves_no_lock_behind() {
    let dir = temp_dir("panic");
    let config = Config::default();
    let a = SharedBackend::new(&dir, &config, PanicsOnce::default()).unwrap();
    let err = a.set_protection(ON).unwrap_err();
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("the backend panicked"), "{err:?}");
    // Another process can still enable and, being alone, disable.
    let ecs = Ecs::default();
    let b = SharedBackend::new(&dir, &config, ecs.clone()).unwrap();
    assert!(b.set_protection(ON).unwrap().enabled);
    assert!(!b.set_protection(Protection::Off).unwrap().enabled);
    assert_eq!(ecs.counts(), (1, 1, false));
}

#[test]
fn a_process_whose_settings_differ_from_those_of_the_processes_there_gets_an_error_naming_them() {
    let dir = temp_dir("settings");
    let ecs = Ecs::default();
    let first = SharedBackend::new(&dir, &config(60_000, 1_000), ecs.clone()).unwrap();
    let err = SharedBackend::new(&dir, &config(30_000, 2_000), ecs.clone()).unwrap_err();
    let Error::Config { origin, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        origin,
        "ECS_PROTECT_MAX_HOLD, ECS_PROTECT_WINDOW, ECS_PROTECT_HARD_CAP"
    );
    assert!(
        message.contains("ECS_PROTECT_MAX_HOLD is 30s here but 1m there")
            && message.contains("ECS_PROTECT_WINDOW is 2s here but 1s there")
            && message.contains(&dir.display().to_string()),
        "{message}"
    );
    // The same settings join; once every process has gone, new settings are recorded.
    let second = SharedBackend::new(&dir, &config(60_000, 1_000), ecs.clone()).unwrap();
    drop((first, second));
    let deadline = Instant::now() + Duration::from_secs(20);
    while SharedBackend::new(&dir, &config(30_000, 2_000), ecs.clone()).is_err() {
        assert!(
            Instant::now() < deadline,
            "the settings of gone processes still bind"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_record_update_never_leaves_the_file_empty_nor_reads_as_off() {
    // A reader that ignores the lock sees the file at every step of an update, as a process
    // that finds it after a crash mid-update would: never empty, never "off".
    let dir = temp_dir("torn");
    let writer = Dir::open(&dir, "test", &settings::Settings::of(&Config::default())).unwrap();
    let path = dir.join("ecs-protect.state");
    let long = Record::On {
        since: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000),
        renewed: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_060_000),
        expires: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_007_260_000),
    };
    let short = Record::MaybeOn {
        expires: None,
        retry_at: SystemTime::UNIX_EPOCH + Duration::from_millis(5),
    };
    writer.locked(|state| state.write(long)).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = 0usize;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let bytes = std::fs::read(&path).unwrap();
                assert!(!bytes.is_empty(), "the record was empty mid-update");
                let record = Record::parse(&String::from_utf8_lossy(&bytes));
                assert!(
                    !matches!(record, Record::Off { .. }),
                    "mid-update read as off: {bytes:?}"
                );
                seen += 1;
            }
            seen
        });
        for i in 0..20_000 {
            let record = if i % 2 == 0 { short } else { long };
            writer.locked(|state| state.write(record)).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        reader.join().unwrap()
    });
    assert!(seen > 0);
}
