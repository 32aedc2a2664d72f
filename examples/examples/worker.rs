//! A thread-pool worker whose handler runs under ECS task scale-in protection.
//!
//! ```text
//! cargo run --example worker                                  # a few hundred messages on the fake AWS
//! cargo run --example worker -- --threads 8 --messages 0      # until SIGTERM (Ctrl+C)
//! ```
//!
//! Outside ECS it starts the embedded fake AWS (`ecs_protect::mock::MockAws`) and points the
//! default protector at it. When `ECS_CONTAINER_METADATA_URI_V4` is set (on ECS, or when the
//! `deployment` example runs this worker), it uses the real environment, unchanged.
//!
//! With `QUEUE_URL` set it takes its messages from that SQS queue through
//! `ecs_protect::sqs::Consumer` (credentials and region from the standard AWS variables).
//!
//! On SIGTERM it stops taking messages, finishes those in flight, drains (releasing
//! protection at once) and exits 0 with a summary.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ecs_protect::sqs::{Consumer, Message as QueueMessage};
use ecs_protect::{Shutdown, protected};

/// The example's settings, from its flags.
#[derive(Clone, Copy, Debug)]
pub struct Args {
    /// Handler threads.
    pub threads: usize,
    /// Messages to handle; 0 means until SIGTERM.
    pub messages: u64,
    /// Work per message.
    pub work: Duration,
    /// Print `start N` / `done N` lines (the `deployment` example reads them).
    pub events: bool,
}

impl Args {
    /// Parses `--threads N`, `--messages N` and `--work-ms N`.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            threads: 4,
            messages: 400,
            work: Duration::from_millis(20),
            events: false,
        };
        while let Some(flag) = args.next() {
            let mut value = |name: &str| -> Result<u64, String> {
                let raw = args.next().ok_or_else(|| format!("{name} needs a value"))?;
                raw.parse()
                    .map_err(|_| format!("{name} takes a whole number, got {raw:?}"))
            };
            match flag.as_str() {
                "--threads" => {
                    parsed.threads = usize::try_from(value("--threads")?)
                        .ok()
                        .filter(|&n| (1..=256).contains(&n))
                        .ok_or("--threads takes 1..=256")?;
                }
                "--messages" => parsed.messages = value("--messages")?,
                "--work-ms" => parsed.work = Duration::from_millis(value("--work-ms")?),
                "--events" => parsed.events = true,
                "-h" | "--help" => {
                    return Err("usage: worker [--threads N] [--messages N (0 = until SIGTERM)] [--work-ms N] [--events]".into());
                }
                other => return Err(format!("unknown flag {other:?} (try --help)")),
            }
        }
        Ok(parsed)
    }
}

/// One message from the queue.
#[derive(Debug)]
struct Message {
    id: u64,
    work: Duration,
    events: bool,
}

/// The handler: protection is on for the whole body and released on every exit path.
/// `required`: when protection cannot be had (or SIGTERM has come), the message is not
/// handled and goes back to the queue.
#[protected(required)]
fn handle(message: Message) -> Result<(), ecs_protect::Error> {
    if message.events {
        println!("start {}", message.id);
    }
    thread::sleep(message.work); // stands in for charging a card, writing a row, ...
    if message.events {
        println!("done {}", message.id);
    }
    Ok(())
}

/// Runs the pool until `args.messages` are handled or shutdown is requested; returns how
/// many were handled.
pub fn run(args: Args, shutdown: &Shutdown) -> u64 {
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    thread::scope(|scope| {
        for _ in 0..args.threads {
            scope.spawn(|| {
                while !shutdown.requested() {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if args.messages != 0 && id >= args.messages {
                        break;
                    }
                    match handle(Message {
                        id,
                        work: args.work,
                        events: args.events,
                    }) {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        // SIGTERM came between the loop's check and the handler: the
                        // message was not started and goes back to the queue.
                        Err(ecs_protect::Error::ShuttingDown) => break,
                        Err(err) => eprintln!("message {id} goes back to the queue: {err}"),
                    }
                }
            });
        }
    });
    done.into_inner()
}

/// With `QUEUE_URL` set: the same work, from an SQS queue, through the crate's consumer
/// (each message under a protector guard, deleted only after it was handled). Stops after
/// `args.messages` messages (0: on SIGTERM only).
pub fn run_queue(url: &str, args: Args, shutdown: &Shutdown) -> Result<u64, ecs_protect::Error> {
    let handled = Arc::new(AtomicU64::new(0));
    let (counter, watch, stop) = (Arc::clone(&handled), Arc::clone(&handled), shutdown.clone());
    let consumer = Consumer::builder(url, move |message: &QueueMessage| -> Result<(), String> {
        if args.events {
            println!("start {}", message.id());
        }
        thread::sleep(args.work);
        if args.events {
            println!("done {}", message.id());
        }
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
    .handlers(args.threads)
    .wait_time(Duration::from_secs(1))
    .stop_when(move || {
        stop.requested() || (args.messages != 0 && watch.load(Ordering::Relaxed) >= args.messages)
    })
    .build()?;
    let summary = consumer.run()?;
    println!(
        "queue: received {}, handled {}, deleted {}, failed {}, returned {}",
        summary.received, summary.handled, summary.deleted, summary.failed, summary.returned
    );
    Ok(summary.handled)
}

/// The example's entry point, shared with the `deployment` example, which runs it as its
/// worker process.
pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };

    // On ECS (or under the deployment example) the real environment is used, unchanged.
    // Otherwise start the fake AWS and make it the default protector's backend.
    let _mock = if std::env::var_os("ECS_CONTAINER_METADATA_URI_V4").is_some() {
        None
    } else {
        let mock = match ecs_protect::mock::MockAws::start() {
            Ok(mock) => mock,
            Err(err) => {
                eprintln!("could not start the fake AWS: {err}");
                return ExitCode::FAILURE;
            }
        };
        match mock.protector() {
            Ok(protector) => {
                if ecs_protect::set_global(protector).is_err() {
                    eprintln!("the default protector was already built");
                    return ExitCode::FAILURE;
                }
            }
            Err(err) => {
                eprintln!("could not configure a protector for the fake AWS: {err}");
                return ExitCode::FAILURE;
            }
        }
        Some(mock)
    };

    let shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(err) => {
            eprintln!("could not install signal handlers: {err}");
            return ExitCode::FAILURE;
        }
    };

    let started = Instant::now();
    let handled = match std::env::var("QUEUE_URL") {
        Ok(url) => match run_queue(&url, args, &shutdown) {
            Ok(handled) => handled,
            Err(err) => {
                eprintln!("the SQS consumer stopped: {err}");
                return ExitCode::FAILURE;
            }
        },
        Err(_) => run(args, &shutdown),
    };
    let drained = ecs_protect::global().drain(Duration::from_secs(30));
    let stats = ecs_protect::global().stats();
    println!(
        "summary: {handled} messages in {:.1?} on {} threads; {drained}; ECS calls: {} \
         (enable {}, renew {}, disable {}), failures: {}, protected for {:.1?}",
        started.elapsed(),
        args.threads,
        stats.calls(),
        stats.enables,
        stats.renewals,
        stats.disables,
        stats.failures,
        stats.time_protected,
    );
    ExitCode::SUCCESS
}
