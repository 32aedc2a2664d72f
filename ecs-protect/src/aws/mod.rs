//! The AWS side: SigV4 signing, credentials, task metadata, the ECS client and retries.

pub mod sigv4;

mod api_error;
pub(crate) mod credentials;
mod ecs;
mod endpoint;
mod http;
mod metadata;
mod retry;
mod signed;
mod time;
mod url;

pub use credentials::Credentials;
pub use ecs::{EcsClient, EcsClientBuilder, TaskProtection};
