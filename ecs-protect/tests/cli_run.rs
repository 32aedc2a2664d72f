//! `ecs-protect run` as a batch job runs it: a real process of the command, with only the
//! fake AWS's environment, checked against the fake's protection timeline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ecs_protect::RefusalReason;
use ecs_protect::mock::{MockAws, Operation};

const CLI: &str = env!("CARGO_BIN_EXE_ecs-protect");

fn command(mock: &MockAws, extra: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(CLI);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(mock.env())
        .envs(extra.iter().copied())
        .stdin(Stdio::null());
    command
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "ecs-protect-cli-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// When the program wrote `date +%s%N` into `file`, as this process's `Instant`.
fn stamp(file: &Path, clock: (Instant, u128)) -> Instant {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let nanos: u128 = text.trim().parse().expect("nanoseconds");
    let (instant, at) = clock;
    if nanos >= at {
        instant + Duration::from_nanos((nanos - at) as u64)
    } else {
        instant - Duration::from_nanos((at - nanos) as u64)
    }
}

fn clock() -> (Instant, u128) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (Instant::now(), nanos)
}

fn wait_for_file(file: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while !file.exists() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn wait_unprotected(mock: &MockAws, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while mock.protected_now() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn wait(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("ecs-protect run did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn a_two_second_job_is_protected_throughout_and_released_after() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("sleep");
    let script = format!(
        "date +%s%N > {d}/started; sleep 2; date +%s%N > {d}/ended",
        d = dir.display()
    );
    let clock = clock();
    let output = command(&mock, &[], &["run", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let started = stamp(&dir.join("started"), clock);
    let ended = stamp(&dir.join("ended"), clock);
    assert!(ended - started >= Duration::from_secs(2));
    let spans = mock.timeline();
    assert!(
        spans.iter().any(|s| s.start <= started && s.end >= ended),
        "not protected from {started:?} to {ended:?}: {spans:?}"
    );
    assert!(
        wait_unprotected(&mock, Duration::from_secs(10)),
        "protection outlived the job: {spans:?}"
    );
    assert_eq!(
        mock.api_calls(Operation::UpdateTaskProtection),
        2,
        "{:?}",
        mock.calls()
    );
}

#[test]
fn the_programs_exit_code_and_the_signal_that_killed_it_pass_through() {
    let mock = MockAws::start().unwrap();
    let run = |script: &str| {
        command(&mock, &[], &["run", "--", "sh", "-c", script])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run("exit 0"), Some(0));
    assert_eq!(run("exit 7"), Some(7));
    assert_eq!(run("kill -9 $$"), Some(128 + 9));
    let missing = command(&mock, &[], &["run", "--", "/no/such/program"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot start /no/such/program"));
    assert!(wait_unprotected(&mock, Duration::from_secs(10)));
}

/// Starts a program that reports a signal it trapped, waits until it is ready, signals the
/// command, and returns the command's output.
fn signal_passes_on(signal_name: &str, trap: &str) -> Output {
    signal_passes_on_in(
        &MockAws::start().unwrap(),
        &temp_dir("signal"),
        signal_name,
        trap,
    )
}

fn signal_passes_on_in(mock: &MockAws, dir: &Path, signal_name: &str, trap: &str) -> Output {
    let ready = dir.join("ready");
    let script = format!(
        "{trap}; touch {ready}; while true; do sleep 0.05; done",
        ready = ready.display()
    );
    let mut child = command(mock, &[], &["run", "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for_file(&ready, Duration::from_secs(30)));
    assert!(mock.protected_now(), "the program runs protected");
    signal(&child, signal_name);
    wait(&mut child, Duration::from_secs(30));
    assert!(
        wait_unprotected(mock, Duration::from_secs(10)),
        "protection outlived the program: {:?}",
        mock.timeline()
    );
    child.wait_with_output().unwrap()
}

#[test]
fn after_sigterm_the_program_finishes_its_work_protected() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("drain");
    let clock = clock();
    let trap = format!(
        "trap 'sleep 0.5; date +%s%N > {d}/finished; exit 0' TERM",
        d = dir.display()
    );
    let output = signal_passes_on_in(&mock, &dir, "TERM", &trap);
    assert!(output.status.success(), "{output:?}");
    let finished = stamp(&dir.join("finished"), clock);
    assert!(
        mock.protected_at(finished),
        "the program's last work after SIGTERM ran unprotected: {:?}",
        mock.timeline()
    );
}

#[test]
fn sigterm_and_sigint_reach_the_program() {
    let term = signal_passes_on("TERM", "trap 'echo got TERM; exit 42' TERM");
    assert_eq!(term.status.code(), Some(42), "{term:?}");
    assert_eq!(String::from_utf8_lossy(&term.stdout), "got TERM\n");
    let int = signal_passes_on("INT", "trap 'echo got INT; exit 43' INT");
    assert_eq!(int.status.code(), Some(43), "{int:?}");
    assert_eq!(String::from_utf8_lossy(&int.stdout), "got INT\n");
    // Untrapped, the signal kills the program, and the command says so as a shell would.
    let killed = signal_passes_on("TERM", "true");
    assert_eq!(killed.status.code(), Some(128 + 15), "{killed:?}");
}

#[test]
fn required_refuses_to_start_the_program_when_protection_cannot_be_had() {
    let mock = MockAws::start().unwrap();
    mock.refuse_all(Some(RefusalReason::TaskNotValid));
    let dir = temp_dir("required");
    let ran = dir.join("ran");
    let script = format!("touch {}", ran.display());
    let refused = command(
        &mock,
        &[],
        &["run", "--required", "--", "sh", "-c", &script],
    )
    .output()
    .unwrap();
    assert_eq!(refused.status.code(), Some(75), "{refused:?}");
    assert!(!ran.exists(), "the program ran unprotected");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not starting sh: task protection could not be had")
            && stderr.contains("TASK_NOT_VALID"),
        "{stderr}"
    );
    // ECS_PROTECT_POLICY=require does the same; without either, the program runs anyway.
    let by_policy = command(
        &mock,
        &[("ECS_PROTECT_POLICY", "require")],
        &["run", "--", "sh", "-c", &script],
    )
    .output()
    .unwrap();
    assert_eq!(by_policy.status.code(), Some(75));
    assert!(!ran.exists());
    let proceeded = command(&mock, &[], &["run", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(proceeded.status.success(), "{proceeded:?}");
    assert!(ran.exists());
    assert!(
        String::from_utf8_lossy(&proceeded.stderr).contains("proceeding without task protection")
    );
}

#[test]
fn an_invalid_environment_stops_before_the_program_naming_the_variable() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("config");
    let ran = dir.join("ran");
    let script = format!("touch {}", ran.display());
    let missing = dir.join("no-such-dir");
    let output = command(
        &mock,
        &[("ECS_PROTECT_SHARED_DIR", missing.to_str().unwrap())],
        &["run", "--", "sh", "-c", &script],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(78));
    assert!(!ran.exists());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid ECS_PROTECT_SHARED_DIR: directory")
            && stderr.contains("does not exist"),
        "{stderr}"
    );
    let usage = command(&mock, &[], &["run"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert_eq!(mock.api_calls(Operation::UpdateTaskProtection), 0);
}

#[test]
fn two_commands_on_one_shared_directory_share_the_tasks_protection() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("shared");
    let shared = [
        ("ECS_PROTECT_SHARED_DIR", dir.to_str().unwrap()),
        ("ECS_PROTECT_LINGER", "0"),
    ];
    let long_ended = dir.join("long-ended");
    let clock = clock();
    let mut short = command(&mock, &shared, &["run", "--", "sleep", "0.3"])
        .spawn()
        .unwrap();
    let long_script = format!("sleep 1.5; date +%s%N > {}", long_ended.display());
    let mut long = command(&mock, &shared, &["run", "--", "sh", "-c", &long_script])
        .spawn()
        .unwrap();
    assert!(wait(&mut short, Duration::from_secs(30)).success());
    assert!(wait(&mut long, Duration::from_secs(30)).success());
    let ended = stamp(&long_ended, clock);
    assert!(
        mock.protected_at(ended),
        "the short job's exit unprotected the long one: {:?}",
        mock.timeline()
    );
    assert!(wait_unprotected(&mock, Duration::from_secs(10)));
    assert_eq!(mock.timeline().len(), 1, "{:?}", mock.timeline());
}

#[test]
fn help_lists_every_variable_the_library_reads() {
    let help = Command::new(CLI).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    // Every `"AWS_…"`/`"ECS_…"` string literal in the library's sources outside the fake
    // AWS, except the few that are not variables the library reads.
    const NOT_READ: [&str; 3] = ["AWS_CONTAINER", "ECS_PROTECT_LINGER_SECS", "AWS_PROFILE"];
    let mut missing = Vec::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("mock") {
                    stack.push(path);
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for literal in text.split('"').skip(1).step_by(2) {
                let is_var = (literal.starts_with("AWS_") || literal.starts_with("ECS_"))
                    && literal
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if is_var && !NOT_READ.contains(&literal) && !help.contains(literal) {
                    missing.push(format!("{literal} ({})", path.display()));
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "--help does not list: {missing:?}");
    for proxy in ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ECS_PROTECT_LOG"] {
        assert!(help.contains(proxy), "{proxy}");
    }
}

#[test]
fn ecs_protect_log_sets_the_level_of_what_goes_to_stderr() {
    let mock = MockAws::start().unwrap();
    let stderr = |level: &str| {
        let output = command(&mock, &[("ECS_PROTECT_LOG", level)], &["run", "--", "true"])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    assert!(stderr("info").contains("ecs-protect: info: task protection enabled"));
    assert_eq!(stderr("off"), "");
    assert_eq!(stderr("warn"), "");
    let bad = stderr("loud");
    assert!(
        bad.starts_with("ecs-protect: warn: invalid ECS_PROTECT_LOG: expected off, error, warn")
            && bad.contains("task protection enabled"),
        "{bad}"
    );
}

#[test]
fn sighup_quit_and_the_user_signals_reach_the_program_and_never_end_the_command_first() {
    for name in ["HUP", "QUIT", "USR1", "USR2"] {
        let trap = format!("trap 'echo got {name}; exit 44' {name}");
        let output = signal_passes_on(name, &trap);
        assert_eq!(
            output.status.code(),
            Some(44),
            "SIG{name}: the command did not wait for the program: {output:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("got {name}\n")
        );
    }
    // Untrapped, SIGHUP ends the program; the command still waits for it and says so.
    let killed = signal_passes_on("HUP", "true");
    assert_eq!(killed.status.code(), Some(128 + 1), "{killed:?}");
}

/// A protector of this test process on the shared directory `dir`, from the fake's
/// environment and `extra`: one more process of the task to the command.
fn in_process(mock: &MockAws, dir: &Path, extra: &[(&str, &str)]) -> ecs_protect::Protector {
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
    ecs_protect::Protector::from_env_with(&ecs_protect::Env::from_vars(vars)).unwrap()
}

#[test]
fn sigterm_ends_the_commands_wait_for_a_shared_window_and_the_program_never_starts() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("window-sigterm");
    let settings = [
        ("ECS_PROTECT_MAX_HOLD", "1s"),
        ("ECS_PROTECT_HOLD_GRACE", "25s"),
        ("ECS_PROTECT_WINDOW", "1s"),
    ];
    let holder = in_process(&mock, &dir, &settings);
    let work = holder.acquire().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while holder.stats().state != ecs_protect::State::Draining {
        assert!(
            Instant::now() < deadline,
            "the stretch never reached max_hold"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let ran = dir.join("ran");
    let mut vars = settings.to_vec();
    let dir_str = dir.to_str().unwrap().to_owned();
    vars.push(("ECS_PROTECT_SHARED_DIR", &dir_str));
    let script = format!("touch {}", ran.display());
    let mut child = command(&mock, &vars, &["run", "--", "sh", "-c", &script])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command says when it starts waiting for the window (7677f6a did not: there the
    // wait has begun after a few seconds).
    let (line_tx, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = line_tx.send(line);
        }
    });
    let waiting = Instant::now() + Duration::from_secs(3);
    while Instant::now() < waiting {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains("breathing window of the task's other processes") => break,
            _ => {}
        }
    }
    assert!(!ran.exists(), "the program did not wait for the window");
    let signalled = Instant::now();
    signal(&child, "TERM");
    let status = wait(&mut child, Duration::from_secs(30));
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the command waited {took:?} after SIGTERM, as if for the window"
    );
    assert_eq!(status.code(), Some(128 + 15));
    assert!(!ran.exists(), "the program started after SIGTERM");
    assert!(mock.protected_now(), "the holder's work is still protected");
    drop(work);
    assert!(holder.drain(Duration::from_secs(20)).is_complete());
}

#[test]
fn a_command_whose_settings_differ_from_the_tasks_other_processes_stops_naming_them() {
    let mock = MockAws::start().unwrap();
    let dir = temp_dir("settings");
    let dir_str = dir.to_str().unwrap().to_owned();
    let other = in_process(&mock, &dir, &[("ECS_PROTECT_MAX_HOLD", "10m")]);
    let ran = dir.join("ran");
    let script = format!("touch {}", ran.display());
    let output = command(
        &mock,
        &[("ECS_PROTECT_SHARED_DIR", &dir_str)],
        &["run", "--", "sh", "-c", &script],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(78), "{output:?}");
    assert!(
        !ran.exists(),
        "the program ran with settings the others do not share"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid ECS_PROTECT_MAX_HOLD")
            && stderr.contains("ECS_PROTECT_MAX_HOLD is 15m here but 10m there"),
        "{stderr}"
    );
    // The same settings join.
    let same = command(
        &mock,
        &[
            ("ECS_PROTECT_SHARED_DIR", &dir_str),
            ("ECS_PROTECT_MAX_HOLD", "10m"),
        ],
        &["run", "--", "sh", "-c", &script],
    )
    .output()
    .unwrap();
    assert!(same.status.success(), "{same:?}");
    assert!(ran.exists());
    drop(other);
}
