//! Fakes for testing workers without AWS (feature `mock`).
//!
//! - [`MockAws`]: an in-process fake AWS (task metadata, container credentials, the signed
//!   ECS API, the agent endpoint and, with feature `sqs`, SQS queues) that verifies
//!   signatures (with this crate's own signer), records calls and the protection timeline,
//!   and injects faults.
//! - [`RecordingBackend`]: a [`Backend`](crate::Backend) that records calls without any
//!   HTTP, for protector-level tests.

mod api;
mod clock;
mod endpoints;
#[cfg(feature = "sqs")]
mod memory_queue;
mod mock_aws;
mod recording;
mod server;
#[cfg(feature = "sqs")]
mod sqs_api;
pub(crate) mod state;
pub(crate) mod verify;
mod wait;

#[cfg(feature = "sqs")]
pub use memory_queue::{MemoryQueue, QueueOperation, VisibilityChange};
pub use mock_aws::{MockAws, MockAwsBuilder, MockCredentials};
pub use recording::{Call, RecordingBackend};
pub use state::{AwsCall, Operation, Outcome, ProtectedSpan, SpanEnd};
