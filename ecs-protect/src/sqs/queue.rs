//! [`QueueApi`]: the three queue operations the consumer uses.

use std::fmt;
use std::time::Duration;

use super::Message;
use crate::Error;

/// Most entries SQS accepts in one batch request.
pub const MAX_BATCH: usize = 10;

/// The queue operations a [`Consumer`](super::Consumer) needs: receive, delete in batches,
/// change visibility in batches.
///
/// [`SqsClient`](super::SqsClient) implements it over the SQS API; the in-memory
/// `MemoryQueue` (feature `mock`) implements it for tests. Implement it to run a consumer
/// against anything else with the same visibility-timeout semantics.
///
/// Durations are passed as the consumer holds them; an implementation over SQS rounds them
/// up to whole seconds, as SQS counts.
pub trait QueueApi: Send + Sync + fmt::Debug + 'static {
    /// The queue's URL (or another name for it), for logs and errors.
    fn queue_url(&self) -> &str;

    /// Receives up to `max` messages (1..=10), waiting up to `wait` for the first one
    /// (long polling), and hides each one for `visibility_timeout`.
    ///
    /// # Errors
    ///
    /// Transport, API and decode errors.
    fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<Message>, Error>;

    /// Receives as [`receive`](Self::receive) does, decoding each message on its own: a
    /// message that cannot be decoded is an `Err` entry naming the field, beside the good
    /// ones. The consumer calls this one.
    ///
    /// By default it wraps `receive` (every message decoded); [`SqsClient`](super::SqsClient)
    /// decodes each message of the answer on its own.
    ///
    /// # Errors
    ///
    /// Transport and API errors, and an answer that cannot be decoded as a whole.
    fn receive_each(
        &self,
        max: usize,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<Result<Message, MalformedMessage>>, Error> {
        Ok(self
            .receive(max, wait, visibility_timeout)?
            .into_iter()
            .map(Ok)
            .collect())
    }

    /// Deletes the messages `entries` name (1..=10 entries, ids distinct within the call).
    /// `visibility_timeout` of each entry is ignored.
    ///
    /// # Errors
    ///
    /// When the whole call failed; per-entry failures are in the outcome.
    fn delete_batch(&self, entries: &[BatchEntry]) -> Result<BatchOutcome, Error>;

    /// Sets the visibility timeout of each entry's message, counted from now (1..=10
    /// entries). A timeout of zero makes the message visible at once.
    ///
    /// # Errors
    ///
    /// When the whole call failed; per-entry failures are in the outcome.
    fn change_visibility_batch(&self, entries: &[BatchEntry]) -> Result<BatchOutcome, Error>;
}

/// A message of a receive answer that could not be decoded: what was wrong, and what of it
/// could be read (with its receipt handle, the consumer makes it visible again).
#[derive(Debug)]
pub struct MalformedMessage {
    /// The decode error, naming the field (`Messages[1].MessageAttributes.k.DataType is
    /// missing`).
    pub error: Error,
    /// Its `MessageId`, if that field decoded.
    pub message_id: Option<String>,
    /// Its `ReceiptHandle`, if that field decoded.
    pub receipt_handle: Option<String>,
}

/// One entry of a batch request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchEntry {
    /// The entry's id within the request (`Id`): letters, digits, `-` and `_`, up to 80.
    pub id: String,
    /// The receipt handle of the delivery to act on.
    pub receipt_handle: String,
    /// The new visibility timeout (change-visibility requests only).
    pub visibility_timeout: Duration,
}

/// What a batch request did, entry by entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The ids of the entries that succeeded.
    pub successful: Vec<String>,
    /// The entries that failed.
    pub failed: Vec<BatchFailure>,
}

/// A failed entry of a batch request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchFailure {
    /// The entry's id within the request.
    pub id: String,
    /// The error code, e.g. `ReceiptHandleIsInvalid`.
    pub code: String,
    /// The error message, if any.
    pub message: Option<String>,
    /// Whether the request was at fault (retrying the same entry will fail again).
    pub sender_fault: bool,
}

impl fmt::Display for BatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {} failed: {}", self.id, self.code)?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}
