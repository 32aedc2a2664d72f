//! A seeded random generator for the randomized tests, and the seed each soak prints so
//! that a failure can be replayed.

use std::time::{SystemTime, UNIX_EPOCH};

/// A small deterministic generator (xorshift64*): the same seed gives the same run.
///
/// ```
/// use ecs_protect_tests::rng::Rng;
///
/// let (mut a, mut b) = (Rng::new(7), Rng::new(7));
/// assert_eq!(a.next(), b.next());
/// assert!(a.below(10) < 10 && (3..=5).contains(&a.range(3, 5)));
/// ```
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed` (0, which xorshift cannot leave, counts as 1).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True `percent` times in 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A generator of its own for another thread, seeded from this one.
    pub fn split(&mut self) -> Rng {
        Rng::new(self.next() | 1)
    }
}

/// The seed of the soak named `soak`: the number in the environment variable `var`, else
/// `default()`. Printed with the command line that replays it; a `var` that is not a number
/// panics naming it.
pub fn seed_from_env(soak: &str, var: &str, default: impl FnOnce() -> u64) -> u64 {
    let seed = match std::env::var(var) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var} is a whole number, got {text:?}")),
        Err(_) => default(),
    };
    println!("{soak} seed: {seed} (replay: {var}={seed})");
    seed
}

/// A seed that differs from run to run: the clock's nanoseconds.
pub fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}
