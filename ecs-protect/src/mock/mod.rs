//! Fakes for testing workers without AWS (feature `mock`).

mod recording;

pub use recording::{Call, RecordingBackend};
