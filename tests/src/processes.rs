//! Worker processes against the fake AWS: spawning them, reading what they print as they
//! go, and mapping their Unix-epoch timestamps onto this process's `Instant`s.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ecs_protect::mock::MockAws;

/// Maps a Unix-epoch timestamp from a child onto this process's `Instant`s.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    instant: Instant,
    nanos: u128,
}

impl Clock {
    /// The two clocks now.
    pub fn now() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        Clock {
            instant: Instant::now(),
            nanos,
        }
    }

    /// The `Instant` of `nanos` since the Unix epoch.
    pub fn instant(&self, nanos: u128) -> Instant {
        let offset = |d: u128| Duration::from_nanos(u64::try_from(d).expect("within 584 years"));
        if nanos >= self.nanos {
            self.instant + offset(nanos - self.nanos)
        } else {
            self.instant - offset(self.nanos - nanos)
        }
    }
}

/// A child process whose stdout lines are collected as they come.
pub struct Process {
    /// A name for messages.
    pub name: String,
    child: Child,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    /// Starts `program` with only `PATH`, the fake's variables and `extra`.
    pub fn spawn(
        name: &str,
        program: &str,
        args: &[&str],
        mock: &MockAws,
        extra: &[(&str, &str)],
    ) -> Process {
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(mock.env())
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("{program} starts: {err}"));
        let stdout = child.stdout.take().expect("piped");
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    lines.0.lock().unwrap().push(line);
                    lines.1.notify_all();
                }
            })
        };
        Process {
            name: name.to_owned(),
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a line satisfies `found`, up to `timeout`; returns it.
    pub fn wait_for_line(&self, timeout: Duration, found: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.lines.0.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|l| found(l)) {
                return Some(line.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            lines = self.lines.1.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Kills it with SIGKILL.
    pub fn kill(&mut self) {
        self.child.kill().expect("the child can be killed");
    }

    /// Sends it `signal` (as the `kill` command does).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {} failed", self.id());
    }

    /// Its exit status, if it has exited (without waiting).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().expect("try_wait")?;
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the reader ends with the pipe");
        }
        Some(status)
    }

    /// Waits up to `timeout` for it to exit; kills it and panics if it does not.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(reader) = self.reader.take() {
                    reader.join().expect("the reader ends with the pipe");
                }
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("{} did not exit within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().clone()
    }

    /// The units it reported: `(id, started, ended)`, `ended` `None` for a unit that began
    /// and never ended (the process was killed).
    pub fn units(&self, clock: &Clock) -> Vec<Unit> {
        let lines = self.lines();
        let mut units = Vec::new();
        for line in &lines {
            let words: Vec<&str> = line.split(' ').collect();
            if words[0] == "begin" {
                let id: u64 = words[1].parse().unwrap();
                let started = clock.instant(words[2].parse().unwrap());
                let ended = lines.iter().find_map(|l| {
                    let w: Vec<&str> = l.split(' ').collect();
                    (w[0] == "end" && w[1] == words[1])
                        .then(|| clock.instant(w[3].parse().unwrap()))
                });
                units.push(Unit {
                    process: self.name.clone(),
                    id,
                    started,
                    ended,
                });
            }
        }
        units
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One unit of work a worker reported.
#[derive(Clone, Debug)]
pub struct Unit {
    /// The worker's name.
    pub process: String,
    /// Its id within the worker.
    pub id: u64,
    /// When it began.
    pub started: Instant,
    /// When it ended, if it did.
    pub ended: Option<Instant>,
}

/// Panics naming the first unit whose start or end the fake did not see protected.
pub fn assert_units_protected(mock: &MockAws, units: &[Unit]) {
    for unit in units {
        let ends_protected = unit.ended.is_none_or(|end| mock.protected_at(end));
        assert!(
            mock.protected_at(unit.started) && ends_protected,
            "{} unit {} ran without protection ({:?}); timeline: {:?}",
            unit.process,
            unit.id,
            unit,
            mock.timeline()
        );
    }
}

/// Waits up to `timeout` for the fake to see the task unprotected; returns when it did.
pub fn wait_unprotected(mock: &MockAws, timeout: Duration) -> Option<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        if !mock.protected_now() {
            return Some(Instant::now());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A fresh, empty directory for a test.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ecs-protect-{name}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
