//! The explorer: runs the processes' real code on threads, one step at a time, and
//! visits every interleaving of their steps, every crash point and every ECS fault, by
//! depth-first search with a set of visited states (each run replays a path of choices
//! from the start, as the code cannot be forked).

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::world::{Ans, Op, Outcome, World};

/// One process's slot, as the explorer sees it.
#[derive(Clone, Debug, Hash)]
enum Slot {
    /// Running its own code (between steps).
    Running,
    /// Waiting for the explorer to run this step.
    Asking(Op),
    /// The explorer ran the step; the process has not yet taken the answer.
    Answered(Ans),
    /// Its script is over.
    Done,
}

/// One run's shared state.
pub(super) struct Run {
    pub(super) world: World,
    slots: Vec<Slot>,
    /// What each process has seen so far, hashed: with the world, this is the state
    /// (the processes' code is deterministic in the answers it gets).
    seen: Vec<u64>,
    /// The steps so far, readable.
    pub(super) trace: Vec<String>,
    /// The run was cut short (its state was visited before): every step is `Dead`.
    abandoned: bool,
}

/// The handle the processes' code calls through.
pub(super) struct Sched {
    run: Mutex<Run>,
    changed: Condvar,
}

impl Sched {
    fn lock(&self) -> MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `pid` is dead (or the run abandoned).
    pub(super) fn dead(&self, pid: usize) -> bool {
        let run = self.lock();
        run.abandoned || run.world.dead[pid]
    }

    /// Reads the world without a step (the clock, a process's own belief).
    pub(super) fn with<T>(&self, pid: usize, look: impl FnOnce(&mut World) -> T) -> Option<T> {
        let mut run = self.lock();
        if run.abandoned || run.world.dead[pid] {
            return None;
        }
        Some(look(&mut run.world))
    }

    /// Notes what `pid` is about to do, in the trace.
    pub(super) fn note(&self, pid: usize, what: &str) {
        let mut run = self.lock();
        if !(run.abandoned || run.world.dead[pid]) {
            run.trace.push(format!("P{pid}: {what}"));
            mix(&mut run.seen[pid], what);
        }
    }

    /// Asks for one step and waits for the explorer to run it.
    pub(super) fn step(&self, pid: usize, op: Op) -> Ans {
        let mut run = self.lock();
        if run.abandoned || run.world.dead[pid] {
            return Ans::Dead;
        }
        run.slots[pid] = Slot::Asking(op);
        self.changed.notify_all();
        loop {
            if run.abandoned || run.world.dead[pid] {
                run.slots[pid] = Slot::Running;
                self.changed.notify_all();
                return Ans::Dead;
            }
            if let Slot::Answered(ans) = &run.slots[pid] {
                let ans = ans.clone();
                run.slots[pid] = Slot::Running;
                return ans;
            }
            run = self.changed.wait(run).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done(&self, pid: usize) {
        let mut run = self.lock();
        run.slots[pid] = Slot::Done;
        self.changed.notify_all();
    }

    /// Waits until every process is asking for a step, done, or dead.
    fn quiet(&self) -> MutexGuard<'_, Run> {
        let mut run = self.lock();
        while run
            .slots
            .iter()
            .enumerate()
            .any(|(p, s)| !run.world.dead[p] && matches!(s, Slot::Running | Slot::Answered(_)))
        {
            run = self.changed.wait(run).unwrap_or_else(|e| e.into_inner());
        }
        run
    }
}

fn mix(seen: &mut u64, what: impl Hash) {
    let mut h = DefaultHasher::new();
    seen.hash(&mut h);
    what.hash(&mut h);
    *seen = h.finish();
}

/// A choice the explorer makes in a state.
#[derive(Clone, Copy, Debug)]
enum Choice {
    Step(usize, Outcome),
    Crash(usize),
}

/// What a model explores.
pub(super) struct Model {
    pub(super) processes: usize,
    pub(super) crashes: u8,
    pub(super) faults: u8,
    /// The state file as created.
    pub(super) record: Vec<u8>,
    /// How far the clock moves before each watcher round.
    pub(super) round_ms: u64,
    /// Watcher rounds of the survivors after their scripts, by which protection must be
    /// off.
    pub(super) rounds: usize,
    /// One process: runs its script through `sched` (as process `pid`).
    pub(super) process: Arc<dyn Fn(usize, Arc<Sched>) + Send + Sync>,
}

/// What an exploration found.
#[derive(Debug)]
pub(super) struct Explored {
    pub(super) states: usize,
    pub(super) runs: usize,
}

impl Model {
    /// Explores every interleaving; `Err` is the first violated check with its trace.
    pub(super) fn check(&self) -> Result<Explored, String> {
        let mut visited = HashSet::new();
        let mut path: Vec<(usize, usize)> = Vec::new();
        let mut runs = 0;
        loop {
            runs += 1;
            self.run_once(&mut path, &mut visited)?;
            // Backtrack to the deepest choice with an untried alternative.
            while let Some(last) = path.last_mut() {
                if last.0 + 1 < last.1 {
                    last.0 += 1;
                    break;
                }
                path.pop();
            }
            if path.is_empty() {
                return Ok(Explored {
                    states: visited.len(),
                    runs,
                });
            }
        }
    }

    fn run_once(
        &self,
        path: &mut Vec<(usize, usize)>,
        visited: &mut HashSet<u64>,
    ) -> Result<(), String> {
        let sched = Arc::new(Sched {
            run: Mutex::new(Run {
                world: World::new(
                    self.processes,
                    self.record.clone(),
                    self.crashes,
                    self.faults,
                ),
                slots: vec![Slot::Running; self.processes],
                seen: vec![0; self.processes],
                trace: Vec::new(),
                abandoned: false,
            }),
            changed: Condvar::new(),
        });
        let threads: Vec<_> = (0..self.processes)
            .map(|pid| {
                let sched = Arc::clone(&sched);
                let process = Arc::clone(&self.process);
                std::thread::spawn(move || {
                    process(pid, Arc::clone(&sched));
                    sched.done(pid);
                })
            })
            .collect();
        let outcome = self.drive(&sched, path, visited);
        {
            let mut run = sched.lock();
            run.abandoned = true;
            sched.changed.notify_all();
        }
        for thread in threads {
            thread.join().map_err(|_| "a process panicked".to_owned())?;
        }
        outcome
    }

    fn drive(
        &self,
        sched: &Sched,
        path: &mut Vec<(usize, usize)>,
        visited: &mut HashSet<u64>,
    ) -> Result<(), String> {
        let mut depth = 0;
        loop {
            let mut run = sched.quiet();
            if let Err(what) = run.world.check() {
                return Err(fail(&run, what));
            }
            let choices = choices(&run);
            if choices.is_empty() {
                return self.finish(sched, run);
            }
            let pick = if depth < path.len() {
                path[depth].0
            } else {
                let mut h = DefaultHasher::new();
                run.world.hash(&mut h);
                run.seen.hash(&mut h);
                // A dead process's thread runs on to its end at its own pace: only the
                // living processes' slots are part of the state.
                for (p, slot) in run.slots.iter().enumerate() {
                    (!run.world.dead[p]).then_some(slot).hash(&mut h);
                }
                if !visited.insert(h.finish()) {
                    return Ok(());
                }
                path.push((0, choices.len()));
                0
            };
            depth += 1;
            match choices[pick] {
                Choice::Crash(pid) => {
                    run.world.crash(pid);
                    run.trace
                        .push(format!("P{pid} dies (the kernel drops its locks)"));
                }
                Choice::Step(pid, outcome) => {
                    let Slot::Asking(op) = run.slots[pid].clone() else {
                        unreachable!()
                    };
                    let ans = match run.world.apply(pid, &op, outcome) {
                        Ok(ans) => ans,
                        Err(what) => {
                            run.trace
                                .push(format!("P{pid}: {} -> {outcome:?}", said(&op)));
                            return Err(fail(&run, what));
                        }
                    };
                    run.trace.push(said_and_answered(pid, &op, &ans));
                    mix(&mut run.seen[pid], (&op, &ans));
                    run.slots[pid] = Slot::Answered(ans);
                }
            }
            sched.changed.notify_all();
        }
    }

    /// Every process has run its script (or died): checks that the last one out
    /// disabled, then runs the survivors' watcher rounds and checks that protection left
    /// by a crash or a fault is released by then.
    fn finish<'a>(&self, sched: &'a Sched, mut run: MutexGuard<'a, Run>) -> Result<(), String> {
        let resting = |s: &Slot| matches!(s, Slot::Asking(Op::Rest));
        let live: Vec<usize> = (0..self.processes)
            .filter(|&p| !run.world.dead[p])
            .collect();
        if live.iter().any(|&p| !resting(&run.slots[p])) {
            return Err(fail(&run, "deadlock: processes wait for each other".into()));
        }
        if !run.world.disturbed && run.world.on() {
            return Err(fail(
                &run,
                "every process is done, none crashed, ECS never failed, yet protection is on \
                 (the last one out did not disable)"
                    .into(),
            ));
        }
        for round in 0..=self.rounds {
            for &pid in &live {
                let last = round == self.rounds;
                if !last && pid == live[0] {
                    run.world.clock_ms += self.round_ms;
                    run.trace
                        .push(format!("(the clock moves on {} ms)", self.round_ms));
                }
                if !last {
                    run.trace.push(format!("P{pid}: watcher check"));
                }
                run.slots[pid] = Slot::Answered(Ans::Wake(!last));
                sched.changed.notify_all();
                drop(run);
                // Runs the process alone to its next rest, every step as it asks.
                loop {
                    run = sched.quiet();
                    if resting(&run.slots[pid]) || matches!(run.slots[pid], Slot::Done) {
                        break;
                    }
                    let Slot::Asking(op) = run.slots[pid].clone() else {
                        unreachable!()
                    };
                    if !run.world.enabled(&op) {
                        return Err(fail(&run, format!("P{pid} blocks on {op:?} alone")));
                    }
                    match run.world.apply(pid, &op, Outcome::Ok) {
                        Ok(ans) => {
                            run.trace.push(said_and_answered(pid, &op, &ans));
                            run.slots[pid] = Slot::Answered(ans);
                        }
                        Err(what) => return Err(fail(&run, what)),
                    }
                    sched.changed.notify_all();
                    drop(run);
                }
            }
        }
        if !live.is_empty() && run.world.on() {
            return Err(fail(
                &run,
                format!(
                    "protection is still on after {} watcher rounds of the survivors, with \
                     nobody needing it",
                    self.rounds
                ),
            ));
        }
        Ok(())
    }
}

/// A step, readable.
fn said(op: &Op) -> String {
    match op {
        Op::Write(_) => "Write".to_owned(),
        Op::Ecs(true) => "ECS enable".to_owned(),
        Op::Ecs(false) => "ECS disable".to_owned(),
        other => format!("{other:?}"),
    }
}

/// A step and its answer, readable.
fn said_and_answered(pid: usize, op: &Op, ans: &Ans) -> String {
    let answer = match (op, ans) {
        (Op::Ecs(_), Ans::Ecs(o)) => format!("{o:?}"),
        (_, Ans::Bytes(b)) => format!("{:?}", String::from_utf8_lossy(b)),
        (Op::Write(b), _) => format!("wrote {:?}", String::from_utf8_lossy(b)),
        (_, a) => format!("{a:?}"),
    };
    format!("P{pid}: {} -> {answer}", said(op))
}

/// The violated check, with the steps that led to it.
fn fail(run: &Run, what: String) -> String {
    let mut text = format!("violated: {what}\ncounterexample, step by step:\n");
    for (i, line) in run.trace.iter().enumerate() {
        text.push_str(&format!("{i:4}. {line}\n"));
    }
    text.push_str(&format!(
        "      the world before the last step: {}\n",
        run.world
    ));
    text
}

/// The choices in a state: every process's next step that can run (each way ECS may
/// answer it), and every live process's death.
///
/// A reduction: a step on the record by the process holding its lock commutes with every
/// other process's step and death (nobody else can touch the record; the checks do not
/// read it), so in a state where one is pending only it and that process's death are
/// explored: the other orders reach the same states.
fn choices(run: &Run) -> Vec<Choice> {
    let live = |p: usize| !run.world.dead[p];
    if let Some(pid) = (0..run.slots.len()).find(|&p| {
        live(p)
            && matches!(
                run.slots[p],
                Slot::Asking(Op::Read | Op::Write(_) | Op::Cut(_))
            )
    }) {
        let mut out = vec![Choice::Step(pid, Outcome::Ok)];
        if run.world.crashes_left > 0 {
            out.push(Choice::Crash(pid));
        }
        return out;
    }
    let mut out = Vec::new();
    for (pid, slot) in run.slots.iter().enumerate() {
        if run.world.dead[pid] {
            continue;
        }
        if let Slot::Asking(op) = slot
            && run.world.enabled(op)
        {
            for outcome in run.world.outcomes(op) {
                out.push(Choice::Step(pid, outcome));
            }
        }
        if run.world.crashes_left > 0 && !matches!(slot, Slot::Done | Slot::Asking(Op::Rest)) {
            out.push(Choice::Crash(pid));
        }
    }
    out
}
