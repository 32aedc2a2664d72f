//! The model's world: the need and exclusive locks, the state file's bytes, ECS, the
//! clock, and which process is dead; and how one step of a process changes it.

use std::fmt;

/// What a process asks of the world: one step, at which another process may run or
/// this one may die.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) enum Op {
    HoldNeed,
    ReleaseNeed,
    TrySole,
    ReleaseSole,
    LockState,
    UnlockState,
    Read,
    Write(Vec<u8>),
    Cut(u64),
    /// A call to ECS: `true` enables.
    Ecs(bool),
    /// The process works (its handler runs), holding protection if it was given.
    Work,
    /// Time passes (milliseconds) while the process works.
    Elapse(u64),
    /// The process has run its script and waits for the survivors' watcher rounds.
    Rest,
}

/// How a call to ECS went.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Done and confirmed.
    Ok,
    /// ECS answered with an error: nothing changed.
    Refused,
    /// Done, but the answer was lost (a transport error).
    LostAfter,
    /// Not done, and the caller sees a transport error.
    LostBefore,
}

/// The world's answer to a step.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) enum Ans {
    Done,
    Sole(bool),
    Bytes(Vec<u8>),
    Ecs(Outcome),
    /// The rest is over: run one watcher check (`true`) or exit (`false`).
    Wake(bool),
    /// This process is dead (or the run was abandoned): nothing it does counts.
    Dead,
}

/// Everything the processes share, and what the checks look at.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct World {
    /// Who holds a shared lock on the need file.
    pub(super) need: Vec<bool>,
    /// Who holds the exclusive lock on it.
    pub(super) sole: Option<usize>,
    /// Who holds the state file's lock.
    pub(super) state_lock: Option<usize>,
    pub(super) record: Vec<u8>,
    /// Milliseconds since the model's start.
    pub(super) clock_ms: u64,
    /// ECS protection, as last set; see [`World::on`].
    pub(super) ecs_on: bool,
    /// When ECS clears it by itself (model milliseconds).
    pub(super) ecs_until_ms: u64,
    /// The process holds work and was told protection is on.
    pub(super) believes_on: Vec<bool>,
    pub(super) dead: Vec<bool>,
    pub(super) crashes_left: u8,
    pub(super) faults_left: u8,
    /// A crash or an ECS fault happened.
    pub(super) disturbed: bool,
}

impl World {
    pub(super) fn new(processes: usize, record: Vec<u8>, crashes: u8, faults: u8) -> World {
        World {
            need: vec![false; processes],
            sole: None,
            state_lock: None,
            record,
            clock_ms: 0,
            ecs_on: false,
            ecs_until_ms: 0,
            believes_on: vec![false; processes],
            dead: vec![false; processes],
            crashes_left: crashes,
            faults_left: faults,
            disturbed: false,
        }
    }

    /// Whether `op` can run now (the blocking locks wait).
    pub(super) fn enabled(&self, op: &Op) -> bool {
        match op {
            Op::HoldNeed => self.sole.is_none(),
            Op::LockState => self.state_lock.is_none(),
            Op::Rest => false,
            _ => true,
        }
    }

    /// The outcomes the model explores for `op`.
    pub(super) fn outcomes(&self, op: &Op) -> Vec<Outcome> {
        match op {
            Op::Ecs(_) if self.faults_left > 0 => vec![
                Outcome::Ok,
                Outcome::Refused,
                Outcome::LostAfter,
                Outcome::LostBefore,
            ],
            _ => vec![Outcome::Ok],
        }
    }

    /// Runs `op` for `pid`; `Err` names a violated check.
    pub(super) fn apply(&mut self, pid: usize, op: &Op, outcome: Outcome) -> Result<Ans, String> {
        Ok(match op {
            Op::Work => Ans::Done,
            Op::Elapse(ms) => {
                self.clock_ms += ms;
                Ans::Done
            }
            Op::HoldNeed => {
                self.need[pid] = true;
                Ans::Done
            }
            Op::ReleaseNeed => {
                self.need[pid] = false;
                Ans::Done
            }
            Op::TrySole => {
                let free = self.sole.is_none() && !self.need.iter().any(|&n| n);
                if free {
                    self.sole = Some(pid);
                }
                Ans::Sole(free)
            }
            Op::ReleaseSole => {
                if self.sole == Some(pid) {
                    self.sole = None;
                }
                Ans::Done
            }
            Op::LockState => {
                self.state_lock = Some(pid);
                Ans::Done
            }
            Op::UnlockState => {
                if self.state_lock == Some(pid) {
                    self.state_lock = None;
                }
                Ans::Done
            }
            Op::Read | Op::Write(_) | Op::Cut(_) if self.state_lock != Some(pid) => {
                return Err(format!(
                    "P{pid} used the state file without its lock ({op:?})"
                ));
            }
            Op::Read => Ans::Bytes(self.record.clone()),
            Op::Write(bytes) => {
                let n = bytes.len().min(self.record.len());
                self.record.splice(..n, bytes.iter().copied());
                Ans::Done
            }
            Op::Cut(len) => {
                self.record
                    .truncate(usize::try_from(*len).unwrap_or(usize::MAX));
                Ans::Done
            }
            Op::Ecs(on) => {
                if outcome != Outcome::Ok {
                    self.faults_left -= 1;
                    self.disturbed = true;
                }
                if !*on
                    && matches!(outcome, Outcome::Ok | Outcome::LostAfter)
                    && let Some(other) = (0..self.dead.len())
                        .find(|&p| p != pid && !self.dead[p] && self.believes_on[p])
                {
                    return Err(format!(
                        "P{pid} disabled protection while P{other} holds work and was told \
                         protection is on"
                    ));
                }
                if matches!(outcome, Outcome::Ok | Outcome::LostAfter) {
                    self.ecs_on = *on;
                    self.ecs_until_ms = self.clock_ms + super::MINUTES * 60_000;
                }
                Ans::Ecs(outcome)
            }
            Op::Rest => unreachable!("a rest is answered by the explorer"),
        })
    }

    /// `pid` dies: the kernel drops its locks; what it wrote and asked ECS stays.
    pub(super) fn crash(&mut self, pid: usize) {
        self.dead[pid] = true;
        self.need[pid] = false;
        self.believes_on[pid] = false;
        if self.sole == Some(pid) {
            self.sole = None;
        }
        if self.state_lock == Some(pid) {
            self.state_lock = None;
        }
        self.crashes_left -= 1;
        self.disturbed = true;
    }

    /// Whether the task is protected now (ECS clears protection at its expiry).
    pub(super) fn on(&self) -> bool {
        self.ecs_on && self.clock_ms < self.ecs_until_ms
    }

    /// The check made in every state.
    pub(super) fn check(&self) -> Result<(), String> {
        for (pid, &believes) in self.believes_on.iter().enumerate() {
            if believes && !self.on() {
                return Err(format!(
                    "P{pid} holds work and was told protection is on, but it is off"
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = |p: Option<usize>| p.map_or_else(|| "-".to_owned(), |p| format!("P{p}"));
        let needing: Vec<String> = (0..self.need.len())
            .filter(|&p| self.need[p])
            .map(|p| format!("P{p}"))
            .collect();
        write!(
            f,
            "clock +{} ms, ECS {}, record {:?}, need [{}], exclusive {}, state lock {}",
            self.clock_ms,
            if self.on() { "on" } else { "off" },
            String::from_utf8_lossy(&self.record),
            needing.join(" "),
            who(self.sole),
            who(self.state_lock)
        )
    }
}
