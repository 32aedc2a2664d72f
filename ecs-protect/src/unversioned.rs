//! Internals that this repository's tests, benchmarks and command use. **Outside semver:** anything
//! here may change or go away in any release, patch releases included.
//!
//! A worker needs none of it: [`Protector`](crate::Protector) (or `#[protected]`) picks the
//! ECS API or the agent from the environment, signs and retries. If you call AWS yourself,
//! use an AWS SDK; if you depend on something here, pin this crate's exact version.
//!
//! The same fence as ureq's `unversioned` module.

pub use crate::agent::AgentBackend;
pub use crate::aws::sigv4;
pub use crate::aws::{Credentials, EcsClient, EcsClientBuilder, TaskProtection};

/// What `ecs-protect check` finds and reports, for the command (feature `cli`).
#[cfg(feature = "cli")]
pub mod check;
