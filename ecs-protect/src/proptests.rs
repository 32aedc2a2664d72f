//! Property tests of every parser of outside input: random inputs must not panic, what is
//! written reads back the same, and an error names the field and where it came from.
//!
//! Each property runs `PROPTEST_CASES` cases (64 by default) from each of two fixed seeds
//! and one fresh seed per run. A failure is shrunk to a minimal input and reported with its
//! seed; `PROPTEST_RNG_SEED=<seed> cargo test -p ecs-protect --all-features --lib proptests`
//! runs that seed alone. No failure file is written: the regressions found so far are
//! example-based tests beside their parsers.

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

mod answers;
mod aws_env;
mod config;
mod credentials;
mod no_proxy;
mod profile;
mod record;
#[cfg(feature = "mock")]
mod signing;
#[cfg(feature = "sqs")]
mod sqs;
mod strategies;

/// Cases per seed unless `PROPTEST_CASES` says otherwise: the plain `cargo test` run stays
/// within a few seconds; CI runs more.
const DEFAULT_CASES: u32 = 64;

/// The seeds every run tries; a fresh one is added unless `PROPTEST_RNG_SEED` names one.
const FIXED_SEEDS: [u64; 2] = [0x0ec5_0001, 0x0ec5_0002];

/// Runs `test` on values of `strategy`; panics with the seed and the minimal failing input
/// (a panic inside `test` counts as a failure).
pub(crate) fn check<S>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let mut defaults = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        defaults.cases = DEFAULT_CASES;
    }
    let seeds: Vec<u64> = match defaults.rng_seed {
        RngSeed::Fixed(seed) => vec![seed],
        RngSeed::Random => {
            let fresh = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id()).rotate_left(32);
            FIXED_SEEDS.into_iter().chain([fresh]).collect()
        }
    };
    for seed in seeds {
        let config = Config {
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: None,
            ..defaults.clone()
        };
        let mut runner = TestRunner::new(config);
        match runner.run(&strategy, &test) {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => panic!(
                "property {name} failed with seed {seed} (rerun it alone: \
                 PROPTEST_RNG_SEED={seed} cargo test -p ecs-protect --all-features --lib \
                 proptests): {reason}\nminimal input: {input:#?}"
            ),
            Err(TestError::Abort(reason)) => {
                panic!("property {name} aborted with seed {seed}: {reason}")
            }
        }
    }
}

/// `Err` with `message` unless `condition` holds (`prop_assert!` for closures).
pub(crate) fn ensure(
    condition: bool,
    message: impl FnOnce() -> String,
) -> Result<(), TestCaseError> {
    if condition {
        Ok(())
    } else {
        Err(TestCaseError::fail(message()))
    }
}
