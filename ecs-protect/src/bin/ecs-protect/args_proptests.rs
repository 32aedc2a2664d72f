//! Property tests of the command line: any arguments are read or refused with a message
//! naming the wrong one, never a panic; a command line written from a `Run` reads back as it.
//!
//! Cases and seeds as the library's property tests (`src/proptests.rs`): 64 cases (or
//! `PROPTEST_CASES`) from two fixed seeds and a fresh one, or `PROPTEST_RNG_SEED` alone; a
//! failure prints its seed.

use std::ffi::OsString;
use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};

use crate::args::{Command, Run, parse};

fn check<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let mut defaults = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        defaults.cases = 64;
    }
    let seeds: Vec<u64> = match defaults.rng_seed {
        RngSeed::Fixed(seed) => vec![seed],
        RngSeed::Random => {
            let fresh = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            vec![0x0ec5_0001, 0x0ec5_0002, fresh]
        }
    };
    for seed in seeds {
        let config = Config {
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: None,
            ..defaults.clone()
        };
        match TestRunner::new(config).run(&strategy, &test) {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => panic!(
                "property {name} failed with seed {seed} (rerun it alone: \
                 PROPTEST_RNG_SEED={seed} cargo test -p ecs-protect --features cli --bin \
                 ecs-protect): {reason}\nminimal input: {input:#?}"
            ),
            Err(TestError::Abort(reason)) => {
                panic!("property {name} aborted with seed {seed}: {reason}")
            }
        }
    }
}

/// An argument: options and words of the grammar, any text, or bytes that are not UTF-8.
fn arg() -> impl Strategy<Value = OsString> {
    prop_oneof![
        2 => prop::sample::select(vec!["run", "--", "--required", "-h", "--help", "-V", "--version", "help", "-", "---"])
            .prop_map(OsString::from),
        2 => any::<String>().prop_map(OsString::from),
        1 => vec(any::<u8>(), 0..8).prop_map(os_from_bytes),
    ]
}

#[cfg(unix)]
fn os_from_bytes(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

#[cfg(not(unix))]
fn os_from_bytes(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[test]
fn any_arguments_are_read_or_refused_naming_the_wrong_one() {
    check("any command line", vec(arg(), 0..6), |argv| {
        match parse(argv.clone()) {
            Ok(Command::Run(run)) => {
                // The program and its arguments are the tail of the command line, untouched.
                let tail: Vec<OsString> = std::iter::once(run.program.clone())
                    .chain(run.args.clone())
                    .collect();
                prop_assert!(argv.ends_with(&tail), "{run:?} is not the tail of {argv:?}");
                prop_assert_eq!(
                    run.required,
                    argv.iter()
                        .take(argv.len() - tail.len())
                        .any(|a| a == "--required")
                );
            }
            Ok(Command::Check(check)) => {
                prop_assert_eq!(argv.first().map(|a| a == "check"), Some(true));
                prop_assert_eq!(check.json, argv.iter().any(|a| a == "--json"));
            }
            Ok(Command::Help | Command::Version) => {}
            Err(message) => {
                let named = argv.iter().any(|a| message.contains(&format!("{a:?}")));
                prop_assert!(
                    named
                        || message.starts_with("missing a subcommand")
                        || message.starts_with("run needs a program")
                        || message.starts_with("--queue needs a queue URL"),
                    "{message:?} names no argument of {argv:?}"
                );
            }
        }
        Ok(())
    });
}

#[test]
fn a_run_command_line_reads_back() {
    let strategy = (any::<bool>(), any::<bool>(), arg(), vec(arg(), 0..5));
    check(
        "run round trip",
        strategy,
        |(required, separator, program, args)| {
            let starts_with_dash = program.to_str().is_none_or(|p| p.starts_with('-'));
            let mut argv = vec![OsString::from("run")];
            if required {
                argv.push("--required".into());
            }
            // Without `--` the program must not look like an option (nor be `help`-like).
            if separator || starts_with_dash || program.is_empty() {
                argv.push("--".into());
            }
            argv.push(program.clone());
            argv.extend(args.iter().cloned());
            let expected = Command::Run(Run {
                required,
                program,
                args,
            });
            prop_assert_eq!(parse(argv.clone()), Ok(expected), "{:?}", argv);
            Ok(())
        },
    );
}
