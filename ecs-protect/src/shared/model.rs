//! The shared-directory protocol, model-checked: two or three processes run the real
//! [`Core`](super::Core) (enable, release, the watcher's check) against an in-memory
//! directory and ECS, and the explorer visits every interleaving of their steps, a crash
//! of any process before any step (its locks dropped, its half-written record left), and
//! every way ECS may answer (done, refused, answer lost after or before). Checked in
//! every state: a process that holds work and was told protection is on finds it on; no
//! process disables while another holds work believing it on; nobody waits forever; when
//! all are done and nothing failed, protection is off (the last one out disabled); and
//! otherwise it is off after two watcher checks of each survivor, each after the clock
//! passed `retry_after`.
//!
//! Not modelled: breathing windows (`max_hold` is out of the clock's reach: a wait for a
//! window sleeps in real time), the watcher's release of a need whose expiry lapsed,
//! settings, and the settings file.

mod explore;
mod world;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use explore::{Model, Sched};
use world::{Ans, Op, Outcome};

use super::files::{Files, Sole};
use super::record::Record;
use super::{Core, watcher};
use crate::{Backend, Config, Error, Protection, ProtectionState};

/// The model's epoch: its clock starts here.
fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn dead() -> Error {
    Error::config("model", "this process is dead")
}

/// Process `pid`'s view of the in-memory directory.
struct ModelFiles {
    pid: usize,
    sched: Arc<Sched>,
}

impl std::fmt::Debug for ModelFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelFiles(P{})", self.pid)
    }
}

impl ModelFiles {
    fn done(&self, op: Op) -> Result<(), Error> {
        match self.sched.step(self.pid, op) {
            Ans::Dead => Err(dead()),
            _ => Ok(()),
        }
    }
}

impl Files for ModelFiles {
    fn path(&self) -> &Path {
        Path::new("/model")
    }
    fn hold_need(&self) -> Result<(), Error> {
        self.done(Op::HoldNeed)
    }
    fn release_need(&self) {
        let _ = self.done(Op::ReleaseNeed);
    }
    fn try_sole(&self) -> Result<Sole, Error> {
        match self.sched.step(self.pid, Op::TrySole) {
            Ans::Sole(true) => Ok(Sole::Had),
            Ans::Sole(false) => Ok(Sole::Taken),
            _ => Err(dead()),
        }
    }
    fn release_sole(&self) {
        let _ = self.done(Op::ReleaseSole);
    }
    fn lock_state(&self) -> Result<(), Error> {
        self.done(Op::LockState)
    }
    fn unlock_state(&self) {
        let _ = self.done(Op::UnlockState);
    }
    fn read_state(&self) -> Result<Vec<u8>, Error> {
        match self.sched.step(self.pid, Op::Read) {
            Ans::Bytes(bytes) => Ok(bytes),
            _ => Err(dead()),
        }
    }
    fn write_state(&self, bytes: &[u8]) -> Result<(), Error> {
        self.done(Op::Write(bytes.to_vec()))
    }
    fn cut_state(&self, len: u64) -> Result<(), Error> {
        self.done(Op::Cut(len))
    }
    fn now(&self) -> SystemTime {
        let ms = self.sched.with(self.pid, |w| w.clock_ms).unwrap_or(0);
        start() + Duration::from_millis(ms)
    }
}

/// Process `pid`'s ECS client.
struct ModelEcs {
    pid: usize,
    sched: Arc<Sched>,
}

impl std::fmt::Debug for ModelEcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelEcs(P{})", self.pid)
    }
}

impl Backend for ModelEcs {
    fn set_protection(&self, change: Protection) -> Result<ProtectionState, Error> {
        let on = matches!(change, Protection::On { .. });
        let lost = || Error::Transport {
            endpoint: "model ECS".into(),
            timed_out: true,
            source: "the answer was lost".into(),
        };
        match self.sched.step(self.pid, Op::Ecs(on)) {
            Ans::Ecs(Outcome::Ok) => {
                let now = self.sched.with(self.pid, |w| w.clock_ms).unwrap_or(0);
                Ok(ProtectionState {
                    enabled: on,
                    expires_at: on.then(|| {
                        start() + Duration::from_millis(now) + Duration::from_secs(MINUTES * 60)
                    }),
                })
            }
            Ans::Ecs(Outcome::Refused) => Err(Error::config("model ECS", "refused")),
            _ => Err(lost()),
        }
    }
}

/// The expiry every enable asks for.
const MINUTES: u64 = 60;

/// What a process's protector does, in order.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// Enables protection for its work (the protector's acquire from idle).
    Acquire,
    /// Its work is done and the linger has passed: releases protection.
    Release,
    /// Its watcher thread's check (when the process is idle).
    Watch,
    /// While it works, the clock passes half the life ECS granted: it renews (if it
    /// holds protection).
    Renew,
}

/// The default settings, but breathing windows out of reach (the model's clock moves at
/// most 31 minutes; a wait for a window would sleep): `max_hold` of 10 hours.
fn config() -> Config {
    Config::builder()
        .max_hold(Duration::from_secs(10 * 3600))
        .build()
        .expect("valid settings")
}

/// Runs `script` as process `pid`: acquire, then release only if protection was
/// confirmed (as the protector does), the watcher's checks, then rests for the
/// survivors' watcher rounds.
fn process(script: &'static [Action], pid: usize, sched: Arc<Sched>) {
    let core = Core::new(
        Box::new(ModelFiles {
            pid,
            sched: Arc::clone(&sched),
        }),
        Box::new(ModelEcs {
            pid,
            sched: Arc::clone(&sched),
        }),
        &config(),
    );
    let mut holding = false;
    for action in script {
        if sched.dead(pid) {
            return;
        }
        match action {
            Action::Acquire => {
                sched.note(pid, "acquire (enable protection)");
                let got = core.set_protection(Protection::On {
                    expires_in_minutes: MINUTES as u32,
                });
                holding = matches!(got, Ok(ProtectionState { enabled: true, .. }));
                sched.note(pid, &format!("acquire returned {}", shown(&got)));
                sched.with(pid, |w| w.believes_on[pid] = holding);
            }
            Action::Release if holding => {
                // The work runs: other processes may act (or this one die) meanwhile.
                sched.step(pid, Op::Work);
                sched.with(pid, |w| w.believes_on[pid] = false);
                sched.note(pid, "release (work done, linger over)");
                let got = core.set_protection(Protection::Off);
                sched.note(pid, &format!("release returned {}", shown(&got)));
                holding = false;
            }
            Action::Release => {}
            Action::Renew if holding => {
                sched.step(pid, Op::Elapse(31 * 60_000));
                sched.note(pid, "renew (half the expiry passed)");
                let got = core.set_protection(Protection::On {
                    expires_in_minutes: MINUTES as u32,
                });
                sched.note(pid, &format!("renew returned {}", shown(&got)));
            }
            Action::Renew => {}
            Action::Watch => {
                sched.note(pid, "watcher check");
                watcher::tick(&core);
            }
        }
    }
    loop {
        match sched.step(pid, Op::Rest) {
            Ans::Wake(true) => watcher::tick(&core),
            _ => return,
        }
    }
}

fn shown(got: &Result<ProtectionState, Error>) -> String {
    match got {
        Ok(state) if state.enabled => "Ok(on)".into(),
        Ok(_) => "Ok(off)".into(),
        Err(err) => format!("Err({err})"),
    }
}

fn model(scripts: &'static [&'static [Action]], crashes: u8, faults: u8) -> Model {
    Model {
        processes: scripts.len(),
        crashes,
        faults,
        record: Record::Off { window_until: None }.format().into_bytes(),
        round_ms: u64::try_from(config().retry_after().as_millis()).unwrap() + 1,
        rounds: 2,
        process: Arc::new(move |pid, sched| process(scripts[pid], pid, sched)),
    }
}

fn check(name: &str, model: &Model) {
    let began = Instant::now();
    match model.check() {
        Ok(explored) => eprintln!(
            "model {name}: {} states, {} runs, {:.1?}",
            explored.states,
            explored.runs,
            began.elapsed()
        ),
        Err(trace) => panic!("model {name}:\n{trace}"),
    }
}

use Action::{Acquire, Release, Renew, Watch};

/// Two processes, nothing fails: the smallest model, whose counterexamples are the
/// shortest.
#[test]
fn two_processes() {
    check(
        "2 processes",
        &model(&[&[Acquire, Release], &[Acquire, Release]], 0, 0),
    );
}

/// Two processes, one crash anywhere, one ECS fault anywhere. Found that a process dying
/// between its disable call and the record saying "off" let the next process join an "on"
/// that ECS had removed (the record now says "maybe on" during a disable).
#[test]
fn two_processes_with_a_crash_and_an_ecs_fault() {
    check(
        "2 processes, 1 crash, 1 fault",
        &model(
            &[&[Acquire, Release, Watch], &[Acquire, Release, Watch]],
            1,
            1,
        ),
    );
}

/// Three processes, one crash anywhere.
#[test]
fn three_processes_with_a_crash() {
    check(
        "3 processes, 1 crash",
        &model(
            &[
                &[Acquire, Release],
                &[Acquire, Release],
                &[Acquire, Release],
            ],
            1,
            0,
        ),
    );
}

/// Two processes, one renews half-way through the expiry (ECS clears protection at its
/// expiry in the model) while the other comes and goes; one crash, one ECS fault.
#[test]
fn a_renewal_with_a_crash_and_an_ecs_fault() {
    check(
        "renewal, 1 crash, 1 fault",
        &model(
            &[&[Acquire, Renew, Release], &[Acquire, Release, Watch]],
            1,
            1,
        ),
    );
}
