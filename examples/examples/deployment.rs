//! Plays an ECS rolling deployment against a running worker process.
//!
//! ```text
//! cargo run --example deployment                       # three deployments, under a minute
//! cargo run --example deployment -- --deployments 5 --stop-timeout 10
//! ```
//!
//! It starts the fake AWS, then runs the `worker` example's code as a separate process
//! pointed at it through the standard environment variables, with a continuous stream of
//! messages. Each deployment does what ECS does: wait while the task is protected, send
//! SIGTERM when it is not, SIGKILL after the stop timeout, then start the next version.
//! It prints a timeline and ends with `interrupted: N`, the number of messages whose
//! handler started but never finished.
//!
//! With `--queue` the workers consume an SQS queue that the fake serves (filled up front,
//! and fed continuously with `--arrival-ms`), and the run checks that no message was lost;
//! with `QUEUE_URL` set they consume that queue instead.
//!
//! A busy worker with linger would stay protected forever; the protector's breathing
//! window (after `ECS_PROTECT_MAX_HOLD` of continuous protection) is what lets each
//! deployment through. The demo sets a short `max_hold` so that takes seconds, not hours.

#[path = "worker.rs"]
#[allow(dead_code, unreachable_pub)]
mod worker;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::mock::{MemoryQueue, MockAws, Operation};

/// Set in the worker processes this example starts.
const ROLE_VAR: &str = "ECS_PROTECT_EXAMPLE_ROLE";

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
    let mut parsed = Args {
        deployments: 3,
        stop_timeout: Duration::from_secs(10),
        run_for: Duration::from_millis(1500),
        queue: false,
        messages: 300,
        arrival: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let raw = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            raw.parse()
                .map_err(|_| format!("{name} takes a whole number, got {raw:?}"))
        };
        match flag.as_str() {
            "--deployments" => {
                parsed.deployments = u32::try_from(value("--deployments")?)
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or("--deployments takes 1..=100")?;
            }
            "--stop-timeout" => parsed.stop_timeout = Duration::from_secs(value("--stop-timeout")?),
            "--run-secs" => parsed.run_for = Duration::from_secs(value("--run-secs")?),
            "--queue" => parsed.queue = true,
            "--messages" => parsed.messages = value("--messages")?,
            "--arrival-ms" => {
                parsed.arrival = Some(Duration::from_millis(value("--arrival-ms")?.max(1)));
            }
            "-h" | "--help" => {
                return Err(
                    "usage: deployment [--deployments N] [--stop-timeout SECS] [--run-secs SECS] \
                     [--queue [--messages N] [--arrival-ms MS]]"
                        .into(),
                );
            }
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
    }
    Ok(parsed)
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
            .args([
                "--messages",
                "0",
                "--threads",
                "4",
                "--work-ms",
                "40",
                "--events",
            ])
            .env(ROLE_VAR, "worker")
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
    waited: Duration,
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
    let deadline = Instant::now() + args.stop_timeout;
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
    let interrupted = task.in_flight.len();
    clock.say(&format!(
        "v{}: exited ({exit}) after handling {} messages; interrupted {interrupted}",
        task.version, task.done
    ));
    Ok(Stop {
        waited,
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

fn run(args: &Args) -> Result<ExitCode, String> {
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
    Ok(if interrupted == 0 && lost == 0 && late == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    if std::env::var_os(ROLE_VAR).is_some() {
        return worker::main();
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    run(&args).unwrap_or_else(|message| {
        eprintln!("deployment: {message}");
        ExitCode::FAILURE
    })
}
