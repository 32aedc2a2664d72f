//! The long-job pattern: one job in many chunks, protected throughout, with a chance to
//! stop cleanly between chunks.
//!
//! ```text
//! cargo run --example long_job                   # 40 chunks on the fake AWS
//! cargo run --example long_job -- --chunks 200   # press Ctrl+C to stop between chunks
//! ```
//!
//! A job can outlast ECS's protection expiry (`expiresInMinutes`); the protector renews
//! protection while the guard lives. The fake AWS here runs a minute in 300 ms and the
//! protector asks for one-minute protection, so renewals happen every few chunks and the
//! summary counts them. Between chunks the job checks the shutdown flag: on SIGTERM it
//! saves a checkpoint, releases protection and exits, so the next task resumes where this
//! one stopped.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use ecs_protect::mock::MockAws;
use ecs_protect::{Env, Error, Protector, Shutdown};

/// A job's progress, as it would be saved to a database or S3.
#[derive(Debug, Default)]
struct Checkpoint {
    next_chunk: u32,
}

fn process_chunk(chunk: u32) {
    // Stands in for real work: transcoding a segment, importing a batch of rows, ...
    let _ = chunk;
    thread::sleep(Duration::from_millis(50));
}

/// Runs chunks from `checkpoint` until done or shutdown; protection is held throughout.
fn run_job(
    protector: &Protector,
    shutdown: &Shutdown,
    chunks: u32,
    checkpoint: &mut Checkpoint,
) -> Result<bool, Error> {
    let _guard = protector.acquire()?;
    while checkpoint.next_chunk < chunks {
        if shutdown.requested() {
            println!(
                "shutdown requested: checkpoint saved at chunk {}",
                checkpoint.next_chunk
            );
            return Ok(false);
        }
        process_chunk(checkpoint.next_chunk);
        checkpoint.next_chunk += 1;
    }
    Ok(true)
}

fn parse_chunks() -> Result<u32, String> {
    let mut args = std::env::args().skip(1);
    let mut chunks = 40;
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--chunks" => {
                let raw = args.next().ok_or("--chunks needs a value")?;
                chunks = raw
                    .parse()
                    .map_err(|_| format!("--chunks takes a whole number, got {raw:?}"))?;
            }
            "-h" | "--help" => return Err("usage: long_job [--chunks N]".into()),
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
    }
    Ok(chunks)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let chunks = match parse_chunks() {
        Ok(chunks) => chunks,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(chunks) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("long_job: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(chunks: u32) -> Result<(), Error> {
    let mock = MockAws::builder()
        .minute(Duration::from_millis(300))
        .start()?;
    // The same variables ECS sets, pointing at the fake, plus one-minute protection.
    let mut vars = mock.env();
    vars.push(("ECS_PROTECT_EXPIRES_MINUTES".into(), "1".into()));
    let protector = Protector::from_env_with(&Env::from_vars(vars))?;
    let shutdown = Shutdown::install()?;
    shutdown.link(&protector);

    let mut checkpoint = Checkpoint::default();
    let finished = run_job(&protector, &shutdown, chunks, &mut checkpoint)?;
    let drained = protector.drain(Duration::from_secs(10));
    let stats = protector.stats();
    println!(
        "summary: {} of {chunks} chunks{}; {drained}; ECS calls: {} (enable {}, renew {}, disable {}); \
         protected for {:.1?}; protected now: {}",
        checkpoint.next_chunk,
        if finished {
            ""
        } else {
            " (stopped early, resumable)"
        },
        stats.calls(),
        stats.enables,
        stats.renewals,
        stats.disables,
        stats.time_protected,
        mock.protected_now(),
    );
    Ok(())
}
