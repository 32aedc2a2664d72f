//! The AWS side: SigV4 signing, credentials, task metadata, the ECS client and retries.
//!
//! Layers, bottom up: `url`, `civil` (calendar arithmetic) and `time` (parsing), `proxy` and `ca_bundle` (what `http`
//! connects through and trusts), `http` (one exchange over ureq),
//! `sigv4` (signing), `credentials`, `retry` (standard mode), `signed` (a signed, retried
//! call), `metadata` (which task this is), `endpoint` (region and ECS endpoint), `ecs` (the
//! client). `api_error` decodes error answers for every layer.

pub mod sigv4;

pub(crate) mod api_error;
mod ca_bundle;
pub(crate) mod civil;
pub(crate) mod credentials;
pub(crate) mod ecs;
mod endpoint;
pub(crate) mod http;
pub(crate) mod metadata;
pub(crate) mod proxy;
pub(crate) mod retry;
pub(crate) mod signed;
pub(crate) mod time;
pub(crate) mod url;

pub use credentials::Credentials;
pub use ecs::{EcsClient, EcsClientBuilder, TaskProtection};
