//! Plays an ECS rolling deployment against a running worker process.
//!
//! ```text
//! cargo run --example deployment                       # three deployments, under a minute
//! cargo run --example deployment -- --deployments 5 --stop-timeout 10
//! ```
//!
//! It starts the fake AWS, then runs a worker (this program again, in the role of
//! `ecs_protect_examples::deployed_worker`) as a separate process pointed at it through
//! the standard environment variables, with a continuous stream of messages. Each
//! deployment does what ECS does: wait while the task is protected, send SIGTERM when it is
//! not, SIGKILL after the stop timeout, then start the next version.
//! It prints a timeline and ends with `interrupted: N`, the number of messages whose
//! handler started but never finished. It fails unless every stop came within one
//! `max_hold` and one window of ECS asking.
//!
//! With `--queue` the workers consume an SQS queue that the fake serves (filled up front,
//! and fed continuously with `--arrival-ms`), and the run checks that no message was lost
//! (`lost: 0`) and that each worker exited within 1 s plus the longest handler of its
//! SIGTERM; with `QUEUE_URL` set they consume that queue instead.
//!
//! A busy worker with linger would stay protected forever; the protector's breathing
//! window (after `ECS_PROTECT_MAX_HOLD` of continuous protection) is what lets each
//! deployment through. The demo sets a short `max_hold` so that takes seconds, not hours.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::mock::{MemoryQueue, MockAws, Operation};
use ecs_protect_examples::{Flags, WORKER_ROLE_VAR, deployed_worker};

/// How long each of the workers' handlers works on a message.
const HANDLER_WORK: Duration = Duration::from_millis(40);
/// The longest a queue worker may take from SIGTERM to exit: the consumer stops within
/// about a second, plus the longest handler in flight.
const QUEUE_EXIT_BOUND: Duration = Duration::from_secs(1).saturating_add(HANDLER_WORK);

/// The longest continuous protection the demo's workers hold before a breathing window.
const MAX_HOLD: Duration = Duration::from_secs(2);
/// How long each breathing window lasts.
const WINDOW: Duration = Duration::from_secs(1);

/// The protector settings the demo gives its workers: hold protection at most
/// [`MAX_HOLD`] in a row, then breathe for [`WINDOW`].
const WORKER_SETTINGS: &[(&str, &str)] = &[
    ("ECS_PROTECT_LINGER", "500ms"),
    ("ECS_PROTECT_MAX_HOLD", "2s"),
    ("ECS_PROTECT_WINDOW", "1s"),
    ("ECS_PROTECT_HOLD_GRACE", "5s"),
    ("RUST_LOG", "warn"),
];

struct Args {
    deployments: u32,
    stop_timeout: Duration,
    run_for: Duration,
    /// Workers consume an SQS queue on the fake instead of generating their messages.
    queue: bool,
    /// Messages in the queue before the first version starts.
    messages: u64,
    /// One more message arrives this often while the deployments run.
    arrival: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut flags = Flags::from_env();
    let args = Args {
        deployments: flags.value("--deployments", 3)?,
        stop_timeout: Duration::from_secs(flags.value("--stop-timeout", 10)?),
        run_for: Duration::from_millis(flags.value("--run-ms", 1500)?),
        queue: flags.switch("--queue"),
        messages: flags.value("--messages", 300)?,
        arrival: match flags.value("--arrival-ms", 0)? {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    };
    flags.finish(
        "usage: deployment [--deployments N] [--stop-timeout SECS] [--run-ms MS] \
         [--queue [--messages N] [--arrival-ms MS]]",
    )?;
    if !(1..=100).contains(&args.deployments) {
        return Err("--deployments takes 1..=100".into());
    }
    Ok(args)
}

/// A line a worker process printed.
enum Event {
    Start(String),
    Done(String),
    Other(String),
    Closed,
}

/// One running version of the service's task.
struct Task {
    version: u32,
    child: Child,
    events: Receiver<Event>,
    in_flight: BTreeSet<String>,
    done: u64,
    /// The ids of the messages this version finished.
    finished: BTreeSet<String>,
}

impl Task {
    fn start(version: u32, mock: &MockAws, queue_url: Option<&str>) -> Result<Task, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let mut child = Command::new(exe)
            .env(WORKER_ROLE_VAR, "worker")
            .envs(mock.env())
            .envs(WORKER_SETTINGS.iter().copied())
            .envs(queue_url.map(|url| ("QUEUE_URL", url)))
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start worker v{version}: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("worker stdout was not captured")?;
        let (tx, events) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event = match line.split_once(' ') {
                    Some(("start", id)) => Event::Start(id.to_owned()),
                    Some(("done", id)) => Event::Done(id.to_owned()),
                    _ => Event::Other(line),
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
            let _ = tx.send(Event::Closed);
        });
        Ok(Task {
            version,
            child,
            events,
            in_flight: BTreeSet::new(),
            done: 0,
            finished: BTreeSet::new(),
        })
    }

    /// Takes in the worker's events until `deadline`; returns false when its output closed.
    fn pump_until(&mut self, deadline: Instant, clock: &Clock) -> bool {
        loop {
            let now = Instant::now();
            let wait = deadline.saturating_duration_since(now);
            match self.events.recv_timeout(wait) {
                Ok(Event::Start(id)) => {
                    self.in_flight.insert(id);
                }
                Ok(Event::Done(id)) => {
                    self.in_flight.remove(&id);
                    self.done += 1;
                    self.finished.insert(id);
                }
                Ok(Event::Other(line)) => clock.say(&format!("v{}: {line}", self.version)),
                Ok(Event::Closed) | Err(RecvTimeoutError::Disconnected) => return false,
                Err(RecvTimeoutError::Timeout) => return true,
            }
        }
    }
}

/// Prints timeline lines stamped with the time since the demo began.
struct Clock(Instant);

impl Clock {
    fn say(&self, what: &str) {
        println!("[{:>7.3}s] {what}", self.0.elapsed().as_secs_f64());
    }
}

/// What one stop looked like.
struct Stop {
    /// From ECS asking to stop the task until the task was unprotected.
    waited: Duration,
    /// From SIGTERM until the worker process exited.
    exit_after: Duration,
    interrupted: usize,
}

/// Stops `task` the way ECS does: wait while protected, SIGTERM, SIGKILL after the timeout.
fn stop(task: &mut Task, mock: &MockAws, args: &Args, clock: &Clock) -> Result<Stop, String> {
    let asked = Instant::now();
    if mock.protected_now() {
        clock.say(&format!(
            "v{}: task is protected ({} in flight): ECS waits",
            task.version,
            task.in_flight.len()
        ));
    }
    // ECS re-checks protection periodically; 10 ms keeps the demo snappy.
    while mock.protected_now() {
        task.pump_until(Instant::now() + Duration::from_millis(10), clock);
    }
    let waited = asked.elapsed();
    clock.say(&format!(
        "v{}: unprotected after {waited:.2?} ({} in flight): SIGTERM",
        task.version,
        task.in_flight.len()
    ));
    let status = Command::new("kill")
        .args(["-TERM", &task.child.id().to_string()])
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if !status.success() {
        return Err(format!("kill -TERM {} failed: {status}", task.child.id()));
    }
    let term_sent = Instant::now();
    let deadline = term_sent + args.stop_timeout;
    let mut open = true;
    while open && Instant::now() < deadline {
        open = task.pump_until(
            deadline.min(Instant::now() + Duration::from_millis(50)),
            clock,
        );
    }
    let exit = if open {
        clock.say(&format!(
            "v{}: still running after {:?}: SIGKILL",
            task.version, args.stop_timeout
        ));
        task.child
            .kill()
            .map_err(|e| format!("cannot kill worker: {e}"))?;
        task.child.wait()
    } else {
        task.child.wait()
    }
    .map_err(|e| format!("cannot wait for worker: {e}"))?;
    let exit_after = term_sent.elapsed();
    let interrupted = task.in_flight.len();
    clock.say(&format!(
        "v{}: exited ({exit}) {:.2}s after SIGTERM, having handled {} messages; interrupted {interrupted}",
        task.version,
        exit_after.as_secs_f64(),
        task.done
    ));
    Ok(Stop {
        waited,
        exit_after,
        interrupted,
    })
}

/// The queue mode's queue: what was sent, and a feeder that keeps messages arriving.
struct Queue {
    url: String,
    queue: MemoryQueue,
    sent: Arc<Mutex<BTreeSet<String>>>,
    feeding: Arc<AtomicBool>,
    feeder: Option<thread::JoinHandle<()>>,
}

impl Queue {
    fn start(mock: &MockAws, args: &Args) -> Queue {
        let (url, queue) = mock.create_queue("orders");
        let sent: BTreeSet<String> = (0..args.messages)
            .map(|i| queue.send(format!("order {i}")))
            .collect();
        let sent = Arc::new(Mutex::new(sent));
        let feeding = Arc::new(AtomicBool::new(true));
        let feeder = args.arrival.map(|every| {
            let (queue, sent, feeding) = (queue.clone(), Arc::clone(&sent), Arc::clone(&feeding));
            thread::spawn(move || {
                let mut n = 0u64;
                while feeding.load(Ordering::Relaxed) {
                    let id = queue.send(format!("late order {n}"));
                    sent.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                    n += 1;
                    thread::sleep(every);
                }
            })
        });
        Queue {
            url,
            queue,
            sent,
            feeding,
            feeder,
        }
    }

    /// Stops the arrivals, then lets `task` work until the queue is empty.
    fn finish(&mut self, task: &mut Task, clock: &Clock) -> Result<(), String> {
        self.feeding.store(false, Ordering::Relaxed);
        if let Some(feeder) = self.feeder.take() {
            feeder.join().map_err(|_| "the feeder thread panicked")?;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.queue.visible() + self.queue.in_flight() > 0 {
            if Instant::now() >= deadline {
                return Err(format!(
                    "the queue still holds {} messages after 60 s",
                    self.queue.len()
                ));
            }
            task.pump_until(Instant::now() + Duration::from_millis(20), clock);
        }
        clock.say("queue empty: every message was deleted");
        Ok(())
    }
}

/// Plays the deployments; returns whether every check passed.
fn run(args: &Args) -> Result<bool, String> {
    let clock = Clock(Instant::now());
    let mock = MockAws::start().map_err(|e| format!("cannot start the fake AWS: {e}"))?;
    clock.say(&format!("fake AWS on {}", mock.url()));
    let mut queue = args.queue.then(|| Queue::start(&mock, args));
    // `--queue`: a queue on the fake, so nothing lost can be checked; else `QUEUE_URL`, a
    // real (or moto) queue the workers consume with the standard AWS variables.
    let url = queue
        .as_ref()
        .map(|q| q.url.clone())
        .or_else(|| std::env::var("QUEUE_URL").ok());
    if let Some(url) = &url {
        clock.say(&format!("workers consume {url}"));
    }

    let mut finished = BTreeSet::new();
    let mut task = Task::start(1, &mock, url.as_deref())?;
    clock.say("v1: started");
    let mut stops = Vec::new();
    for deployment in 1..=args.deployments {
        task.pump_until(Instant::now() + args.run_for, &clock);
        clock.say(&format!(
            "deployment {deployment}: replacing v{} ({} handled so far)",
            task.version, task.done
        ));
        stops.push(stop(&mut task, &mock, args, &clock)?);
        finished.append(&mut task.finished);
        task = Task::start(task.version + 1, &mock, url.as_deref())?;
        clock.say(&format!("v{}: started", task.version));
    }
    task.pump_until(Instant::now() + args.run_for, &clock);
    if let Some(queue) = &mut queue {
        queue.finish(&mut task, &clock)?;
    }
    clock.say("end of demo: stopping the last version");
    stops.push(stop(&mut task, &mock, args, &clock)?);
    finished.append(&mut task.finished);

    let interrupted: usize = stops.iter().map(|s| s.interrupted).sum();
    let waits: Vec<String> = stops.iter().map(|s| format!("{:.2?}", s.waited)).collect();
    let calls = mock.api_calls(Operation::UpdateTaskProtection);
    println!("stops waited: {}", waits.join(", "));
    // However busy the worker, a stop comes within one hold and one window.
    let bound = MAX_HOLD + WINDOW;
    let late = stops.iter().filter(|s| s.waited > bound).count();
    println!("stops later than max_hold + window ({bound:?}): {late}");
    let exits: Vec<String> = stops
        .iter()
        .map(|s| format!("{:.2}s", s.exit_after.as_secs_f64()))
        .collect();
    println!("SIGTERM to exit: {}", exits.join(", "));
    // A queue worker stops within a second plus its longest handler, whatever its long
    // poll; the made-up pool stops once its handlers in flight end.
    let slow = if url.is_some() {
        let slow = stops
            .iter()
            .filter(|s| s.exit_after > QUEUE_EXIT_BOUND)
            .count();
        println!("exits slower than 1 s + the longest handler ({QUEUE_EXIT_BOUND:?}): {slow}");
        slow
    } else {
        0
    };
    println!("ECS calls: {calls} UpdateTaskProtection");
    let mut lost = 0;
    if let Some(queue) = &queue {
        let sent = queue.sent.lock().unwrap_or_else(|e| e.into_inner());
        lost = sent.difference(&finished).count();
        println!(
            "messages: sent {}, handled {} (some twice after a stop is fine), deleted {}",
            sent.len(),
            finished.len(),
            queue.queue.deleted()
        );
        println!("lost: {lost}");
    }
    println!("interrupted: {interrupted}");
    Ok(interrupted == 0 && lost == 0 && late == 0 && slow == 0)
}

fn main() -> ExitCode {
    let outcome = if std::env::var_os(WORKER_ROLE_VAR).is_some() {
        ecs_protect_examples::init_logging();
        deployed_worker(HANDLER_WORK)
            .map(|()| true)
            .map_err(|err| format!("worker: {err}"))
    } else {
        parse_args().and_then(|args| run(&args))
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("deployment: {message}");
            ExitCode::FAILURE
        }
    }
}
