//! Protector benchmarks.
//!
//! (a) acquire + release while protection is already on, single-threaded and on 8 threads,
//!     beside an `Arc` clone + drop baseline measured in the same run (goal: at most 2x the
//!     baseline single-threaded), on the default protector (what `#[protected]` uses: its
//!     guards borrow it) and on another protector (its guards hold a clone of it);
//! (b) a workload of 8 threads x 10,000 units of 100 us against a backend with 50 ms call
//!     latency: prints the total backend calls (goal: at most 4).
//!
//! `cargo bench -p ecs-protect-tests --bench protector`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::Criterion;
use ecs_protect::mock::RecordingBackend;
use ecs_protect::{Config, Protector};

const THREADS: usize = 8;

/// A protector that is on and stays on (the linger outlasts the benchmark).
fn protected() -> (Protector, RecordingBackend) {
    let backend = RecordingBackend::new();
    let config = Config::builder()
        .linger(Duration::from_secs(600))
        .build()
        .expect("valid config");
    let protector = Protector::with_config(config, backend.clone());
    drop(protector.acquire().expect("protection"));
    (protector, backend)
}

/// Runs `op` `iters` times on each of `THREADS` threads at once; the time per operation
/// per thread.
fn on_threads<T: Sync>(shared: &T, iters: u64, op: impl Fn(&T) + Sync) -> Duration {
    let barrier = Barrier::new(THREADS + 1);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (barrier, op) = (&barrier, &op);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        op(shared);
                    }
                    start.elapsed()
                })
            })
            .collect();
        barrier.wait();
        let total: Duration = handles.into_iter().map(|h| h.join().unwrap()).sum();
        total / THREADS as u32
    })
}

fn hot_path(c: &mut Criterion) {
    let (global, global_backend) = protected();
    ecs_protect::set_global(global).expect("the bench sets the default protector first");
    let global = ecs_protect::global();
    let (owned, backend) = protected();
    let arc = Arc::new(0u64);
    let mut single = c.benchmark_group("single-thread");
    single.bench_function("arc clone+drop (baseline)", |b| {
        b.iter(|| drop(black_box(Arc::clone(black_box(&arc)))));
    });
    single.bench_function("acquire+release (default protector)", |b| {
        b.iter(|| drop(black_box(black_box(global).acquire())));
    });
    single.bench_function("acquire+release (owned guard)", |b| {
        b.iter(|| drop(black_box(owned.acquire())));
    });
    single.finish();
    let mut many = c.benchmark_group("8-threads");
    many.bench_function("arc clone+drop (baseline)", |b| {
        b.iter_custom(|iters| on_threads(&arc, iters, |a| drop(black_box(Arc::clone(a)))));
    });
    many.bench_function("acquire+release (default protector)", |b| {
        b.iter_custom(|iters| on_threads(&(), iters, |()| drop(black_box(global.acquire()))));
    });
    many.bench_function("acquire+release (owned guard)", |b| {
        b.iter_custom(|iters| on_threads(&owned, iters, |p| drop(black_box(p.acquire()))));
    });
    many.finish();
    assert_eq!(backend.calls().len(), 1, "the hot path made a call");
    assert_eq!(global_backend.calls().len(), 1, "the hot path made a call");
}

fn workload() {
    let backend = RecordingBackend::new();
    backend.set_latency(Duration::from_millis(50));
    let protector = Protector::with_backend(backend.clone()); // default settings
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..10_000 {
                    let _guard = protector.acquire().expect("protection");
                    thread::sleep(Duration::from_micros(100));
                }
            });
        }
    });
    let drained = protector.drain(Duration::from_secs(5));
    let stats = protector.stats();
    println!(
        "workload: {THREADS} threads x 10000 units of 100us in {:.2?}: {} backend calls \
         (enable {}, renew {}, disable {}; recorded {}), {drained}",
        start.elapsed(),
        stats.calls(),
        stats.enables,
        stats.renewals,
        stats.disables,
        backend.calls().len()
    );
}

fn main() {
    // The workload takes seconds: run it only under `cargo bench`, not in test mode.
    if std::env::args().any(|a| a == "--bench") {
        workload();
    }
    let mut c = Criterion::default().configure_from_args();
    hot_path(&mut c);
    c.final_summary();
}
