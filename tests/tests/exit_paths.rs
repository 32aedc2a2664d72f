//! `#[protected]` at run time: protection is on while the body runs, on every way in and
//! out of it, and released after.
//!
//! Each test has its own protector and recording backend (the `fixture!` statics), so the
//! tests run in parallel without seeing each other's calls. Linger is zero: the release
//! after the last guard is prompt, and the tests wait for it with a deadline.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ecs_protect::mock::RecordingBackend;
use ecs_protect::{Config, Error, Protection, Protector, RefusalReason, protected};
use ecs_protect_tests::DEADLINE;

/// A protector on a recording backend, released at once after the last guard.
struct Fixture {
    backend: RecordingBackend,
    protector: Protector,
}

impl Fixture {
    fn new() -> Self {
        let backend = RecordingBackend::new();
        let config = Config::builder()
            .linger(Duration::ZERO)
            .retry_after(Duration::ZERO)
            .build()
            .expect("valid config");
        let protector = Protector::with_config(config, backend.clone());
        Fixture { backend, protector }
    }

    /// Whether protection is on right now (called from inside a body).
    fn protected_now(&self) -> bool {
        self.backend.protected_at(Instant::now())
    }

    /// Asserts that no unit is in flight and that protection was then removed.
    fn assert_released(&self) {
        assert_eq!(self.protector.in_flight(), 0, "the guard outlived the call");
        assert!(
            self.backend.wait_until(DEADLINE, |calls| {
                calls
                    .last()
                    .is_some_and(|c| c.ok && c.change == Protection::Off)
            }),
            "protection was not removed after the call: {:?}",
            self.backend.calls()
        );
    }
}

/// A `fn() -> &'static Fixture` named `$name`, one per test.
macro_rules! fixture {
    ($name:ident) => {
        fn $name() -> &'static Fixture {
            static FIXTURE: OnceLock<Fixture> = OnceLock::new();
            FIXTURE.get_or_init(Fixture::new)
        }
    };
}

fixture!(returning);
#[protected(protector = returning().protector)]
fn returns_value(value: u32) -> (bool, u32) {
    (returning().protected_now(), value * 2)
}

#[test]
fn protected_while_the_body_runs_and_released_on_return() {
    assert_eq!(returns_value(21), (true, 42));
    returning().assert_released();
}

fixture!(early);
#[protected(protector = early().protector)]
fn returns_early(stop: bool) -> bool {
    let during = early().protected_now();
    if stop {
        return during;
    }
    unreachable!("the test always stops early")
}

#[test]
fn released_on_early_return() {
    assert!(returns_early(true));
    early().assert_released();
}

fixture!(question);
#[protected(protector = question().protector)]
fn parses(text: &str, seen: &mut Vec<bool>) -> Result<u32, std::num::ParseIntError> {
    seen.push(question().protected_now());
    let value: u32 = text.parse()?;
    Ok(value)
}

#[test]
fn released_on_question_mark() {
    let mut seen = Vec::new();
    assert!(parses("not a number", &mut seen).is_err());
    assert_eq!(seen, [true]);
    question().assert_released();
    assert_eq!(parses("7", &mut seen), Ok(7));
    assert_eq!(seen, [true, true]);
    question().assert_released();
}

fixture!(panicking);
#[protected(protector = panicking().protector)]
fn panics(seen: &mut Vec<bool>) {
    seen.push(panicking().protected_now());
    panic!("the handler failed");
}

#[test]
fn released_when_a_panic_unwinds() {
    let mut seen = Vec::new();
    let result = catch_unwind(AssertUnwindSafe(|| panics(&mut seen)));
    assert!(result.is_err());
    assert_eq!(seen, [true]);
    panicking().assert_released();
}

fixture!(looping);
#[protected(protector = looping().protector)]
fn breaks_with_value(limit: u32) -> (bool, u32) {
    let mut n = 0;
    let found = loop {
        n += 1;
        if n == limit {
            break n;
        }
    };
    (looping().protected_now(), found)
}

#[test]
fn released_after_a_loop_breaks_with_a_value() {
    assert_eq!(breaks_with_value(3), (true, 3));
    looping().assert_released();
}

fixture!(refusing);
#[protected(required, protector = refusing().protector)]
fn must_be_protected(ran: &mut bool) -> Result<(), Error> {
    *ran = true;
    Ok(())
}

#[test]
fn required_returns_the_refusal_and_skips_the_body() {
    refusing().backend.fail_next(|| Error::TaskRefused {
        reason: RefusalReason::TaskNotValid,
        detail: Some("standalone task".into()),
        arn: None,
    });
    let mut ran = false;
    let err = must_be_protected(&mut ran).expect_err("the backend refused");
    assert!(!ran, "the body ran although protection was refused");
    assert!(
        matches!(
            &err,
            Error::TaskRefused {
                reason: RefusalReason::TaskNotValid,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(refusing().protector.in_flight(), 0);
}

fixture!(proceeding);
#[protected(protector = proceeding().protector)]
fn runs_anyway(ran: &mut bool) {
    *ran = true;
}

#[test]
fn without_required_the_body_runs_unprotected_when_refused() {
    proceeding().backend.fail_next(|| Error::TaskRefused {
        reason: RefusalReason::DeploymentBlocked,
        detail: None,
        arn: None,
    });
    let mut ran = false;
    runs_anyway(&mut ran);
    assert!(ran);
    assert_eq!(proceeding().protector.in_flight(), 0);
    assert_eq!(proceeding().protector.stats().unprotected, 1);
}

fixture!(nesting);
#[protected(protector = nesting().protector)]
fn outer() -> (usize, usize) {
    let before = nesting().protector.in_flight();
    (before, inner())
}

#[protected(protector = nesting().protector)]
fn inner() -> usize {
    nesting().protector.in_flight()
}

#[test]
fn nested_calls_count_each_unit() {
    assert_eq!(outer(), (1, 2));
    nesting().assert_released();
    assert_eq!(
        nesting().backend.enable_calls(),
        1,
        "the inner call took no protection of its own"
    );
}

fixture!(generic);
#[protected(protector = generic().protector)]
fn largest<T: PartialOrd + Copy>(items: &[T]) -> Option<(bool, T)> {
    let mut best = *items.first()?;
    for &item in items {
        if item > best {
            best = item;
        }
    }
    Some((generic().protected_now(), best))
}

#[test]
fn generic_functions_are_protected() {
    assert_eq!(largest(&[3, 9, 4]), Some((true, 9)));
    generic().assert_released();
    assert_eq!(largest::<u8>(&[]), None);
    generic().assert_released();
}

fixture!(methods);
struct Handler {
    prefix: &'static str,
}

impl Handler {
    #[protected(protector = methods().protector)]
    fn handle(&self, message: &str) -> (bool, String) {
        (
            methods().protected_now(),
            format!("{}{message}", self.prefix),
        )
    }
}

#[test]
fn methods_are_protected() {
    let handler = Handler { prefix: "order-" };
    assert_eq!(handler.handle("1"), (true, "order-1".to_owned()));
    methods().assert_released();
}

fixture!(requiring);
#[protected(required, protector = requiring().protector)]
fn required_and_granted(seen: &mut Vec<bool>) -> Result<u32, Error> {
    seen.push(requiring().protected_now());
    Ok(5)
}

#[test]
fn required_runs_the_body_protected_when_granted() {
    let mut seen = Vec::new();
    assert_eq!(required_and_granted(&mut seen).expect("granted"), 5);
    assert_eq!(seen, [true]);
    requiring().assert_released();
}

/// An application's own error, built from the protection error as `?` would.
#[derive(Debug)]
struct AppError(Error);

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        AppError(error)
    }
}

fixture!(converting);
#[protected(required, protector = converting().protector)]
fn required_own_error(ran: &mut bool) -> Result<(), AppError> {
    *ran = true;
    Ok(())
}

#[test]
fn required_converts_the_refusal_into_the_functions_error_type() {
    converting().backend.fail_next(|| Error::TaskRefused {
        reason: RefusalReason::TaskNotValid,
        detail: None,
        arn: None,
    });
    let mut ran = false;
    let err = required_own_error(&mut ran).expect_err("the backend refused");
    assert!(!ran);
    assert!(
        matches!(
            &err,
            AppError(Error::TaskRefused {
                reason: RefusalReason::TaskNotValid,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(converting().protector.in_flight(), 0);
}

fixture!(stopping);
#[protected(required, protector = stopping().protector)]
fn required_after_shutdown(ran: &mut bool) -> Result<(), Error> {
    *ran = true;
    Ok(())
}

#[protected(protector = stopping().protector)]
fn optional_after_shutdown(seen: &mut Vec<bool>) {
    seen.push(stopping().protected_now());
}

#[test]
fn after_shutdown_required_refuses_and_plain_runs_unprotected() {
    stopping().protector.request_shutdown();
    let mut ran = false;
    let err = required_after_shutdown(&mut ran).expect_err("shutdown has begun");
    assert!(matches!(err, Error::ShuttingDown), "{err}");
    assert!(!ran, "a required body started after shutdown");
    let mut seen = Vec::new();
    optional_after_shutdown(&mut seen);
    assert_eq!(
        seen,
        [false],
        "a plain #[protected] body still runs, unprotected"
    );
    assert_eq!(stopping().protector.in_flight(), 0);
}

/// Records how many units were in flight when it was dropped.
struct DropProbe<'a> {
    fixture: &'static Fixture,
    at_drop: &'a mut Option<usize>,
}

impl Drop for DropProbe<'_> {
    fn drop(&mut self) {
        *self.at_drop = Some(self.fixture.protector.in_flight());
    }
}

fixture!(dropping);
#[protected(protector = dropping().protector)]
fn drops_in_order(argument: DropProbe<'_>, local_at_drop: &mut Option<usize>) {
    let _local = DropProbe {
        fixture: dropping(),
        at_drop: local_at_drop,
    };
    let _ = &argument;
}

#[test]
fn body_locals_drop_under_protection_and_arguments_after_it() {
    let (mut argument_at_drop, mut local_at_drop) = (None, None);
    drops_in_order(
        DropProbe {
            fixture: dropping(),
            at_drop: &mut argument_at_drop,
        },
        &mut local_at_drop,
    );
    assert_eq!(local_at_drop, Some(1), "a body local outlived the guard");
    assert_eq!(
        argument_at_drop,
        Some(0),
        "parameters are dropped after the body, so after the guard"
    );
    dropping().assert_released();
}

fixture!(opaque);
#[protected(protector = opaque().protector)]
fn adder(items: impl IntoIterator<Item = u32>) -> impl Fn(u32) -> (bool, u32) {
    let sum: u32 = items.into_iter().sum();
    let during = opaque().protected_now();
    move |extra| (during, sum + extra)
}

#[test]
fn impl_trait_arguments_and_returns_and_the_returned_value_holds_no_guard() {
    let add = adder([1, 2]);
    assert_eq!(
        opaque().protector.in_flight(),
        0,
        "the returned closure must not hold the unit"
    );
    assert_eq!(add(3), (true, 6));
    opaque().assert_released();
}
