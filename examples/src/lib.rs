//! What the runnable examples (`examples/examples/*.rs`) share: their flags, the fake AWS
//! they use when not running on ECS, and the worker process the `deployment` example
//! deploys.
//!
//! Also home of the README's and the deployment guide's doctests: this crate builds with
//! every feature of `ecs-protect`, which the README's snippets use, and every doctest here
//! is compiled with warnings denied, so a snippet pasted from the README compiles cleanly.

#![doc(test(attr(deny(warnings))))]

mod deployed_worker;
mod fake;
mod flags;

pub use deployed_worker::{WORKER_ROLE_VAR, deployed_worker};
pub use fake::{fake_aws_unless_on_ecs, on_ecs};
pub use flags::Flags;

/// Logs through `env_logger` at `info` unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
}

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The deployment guide's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/deploying.md")]
pub struct DeployingDoctests;
