//! Amazon ECS task scale-in protection for thread-based workers.
//!
//! (Crate docs: PLACEHOLDER.)

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod agent;
mod aws;
mod backend;
mod config;
mod env;
mod error;
mod global;
mod protector;
mod shutdown;

#[cfg(feature = "mock")]
pub mod mock;

#[cfg(feature = "sqs")]
pub mod sqs;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use agent::AgentBackend;
pub use aws::sigv4;
pub use aws::{Credentials, EcsClient, EcsClientBuilder, TaskProtection};
pub use backend::{Backend, Disabled, Protection, ProtectionState};
pub use config::{Config, ConfigBuilder, FailurePolicy};
pub use env::Env;
pub use error::{ApiError, Error, RefusalReason};
pub use global::{global, set_global};
pub use protector::{Drained, Guard, Protector, State, Stats};
pub use shutdown::Shutdown;
