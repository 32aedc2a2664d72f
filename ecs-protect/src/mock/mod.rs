//! Fakes for testing workers without AWS (feature `mock`).

#[cfg(feature = "sqs")]
mod memory_queue;
mod recording;

#[cfg(feature = "sqs")]
pub use memory_queue::{MemoryQueue, QueueOperation, VisibilityChange};
pub use recording::{Call, RecordingBackend};
