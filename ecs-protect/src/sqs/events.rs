//! The consumer's events: hooks the application sets, and the [`Summary`] `run` returns.

use std::error::Error as StdError;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::Message;
use crate::Error;

/// A handler's error, boxed (anything `Into<Box<dyn Error + Send + Sync>>`: a `String`, a
/// `&str`, any error type, `anyhow::Error`).
pub type HandlerError = Box<dyn StdError + Send + Sync + 'static>;

type MessageHook = Box<dyn Fn(&Message) + Send + Sync>;
type ProcessingErrorHook = Box<dyn Fn(&Message, &HandlerError) + Send + Sync>;
type ErrorHook = Box<dyn Fn(&Error) + Send + Sync>;
type StoppedHook = Box<dyn Fn(&Summary) + Send + Sync>;

/// The hooks set on a [`ConsumerBuilder`](super::ConsumerBuilder); each event is also logged.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) message_received: Option<MessageHook>,
    pub(crate) message_processed: Option<MessageHook>,
    pub(crate) processing_error: Option<ProcessingErrorHook>,
    pub(crate) error: Option<ErrorHook>,
    pub(crate) stopped: Option<StoppedHook>,
}

/// Runs a hook; a panic in it is caught and logged, so it never stops a consumer thread.
fn guarded(name: &str, hook: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(hook)).is_err() {
        log::error!("sqs: the {name} hook panicked; the consumer goes on");
    }
}

impl Hooks {
    pub(crate) fn message_received(&self, message: &Message) {
        log::debug!("sqs: received message {}", message.id());
        if let Some(hook) = &self.message_received {
            guarded("on_message_received", || hook(message));
        }
    }

    pub(crate) fn message_processed(&self, message: &Message) {
        log::debug!("sqs: processed message {}", message.id());
        if let Some(hook) = &self.message_processed {
            guarded("on_message_processed", || hook(message));
        }
    }

    pub(crate) fn processing_error(&self, message: &Message, err: &HandlerError) {
        log::warn!(
            "sqs: handler failed for message {}: {err}; it will be delivered again",
            message.id()
        );
        if let Some(hook) = &self.processing_error {
            guarded("on_processing_error", || hook(message, err));
        }
    }

    pub(crate) fn error(&self, what: &str, err: &Error) {
        log::error!("sqs: {what}: {err}");
        if let Some(hook) = &self.error {
            guarded("on_error", || hook(err));
        }
    }

    pub(crate) fn stopped(&self, summary: &Summary) {
        log::info!("sqs: consumer stopped: {summary}");
        if let Some(hook) = &self.stopped {
            guarded("on_stopped", || hook(summary));
        }
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("message_received", &self.message_received.is_some())
            .field("message_processed", &self.message_processed.is_some())
            .field("processing_error", &self.processing_error.is_some())
            .field("error", &self.error.is_some())
            .field("stopped", &self.stopped.is_some())
            .finish()
    }
}

/// What a [`Consumer::run`](super::Consumer::run) did, returned when it stops.
///
/// Every received message ends in one of: handled (then deleted, or logged if the delete
/// failed until its visibility ran out), failed (left for redelivery), returned (made
/// visible again unhandled: at shutdown, when protection was refused, or behind a failed
/// message of its FIFO group), lost (its receipt became invalid, or its visibility ran out
/// before it started: SQS delivers it again). A redelivery of a message still running is
/// received but ends with the running copy (deleted with it, or given back).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Messages received.
    pub received: u64,
    /// Messages whose handler succeeded.
    pub handled: u64,
    /// Messages whose handler failed or panicked (left for redelivery).
    pub failed: u64,
    /// Messages deleted from the queue (only ever after their handler succeeded).
    pub deleted: u64,
    /// Messages made visible again without being handled: unstarted at shutdown, or refused
    /// protection.
    pub returned: u64,
    /// Messages not handled because the protector refused to protect them (also counted in
    /// `returned` once they were made visible again).
    pub refused: u64,
    /// Visibility-timeout extensions made by the heartbeat (one per message per extension).
    pub extended: u64,
    /// Messages lost to this consumer: SQS called their receipt invalid (to a heartbeat or a
    /// delete), or their visibility ran out before they started. Never deleted by this
    /// consumer; SQS delivers them again. Each is logged at `error`.
    pub lost: u64,
    /// Messages whose visibility ran out while this consumer held them (their extensions
    /// failed until then): SQS may have delivered them again meanwhile. Each is logged
    /// once, at `error`.
    pub lapsed: u64,
    /// Messages of a receive answer that could not be decoded: each is reported to
    /// [`on_error`](super::ConsumerBuilder::on_error) naming the field, and given back
    /// (visible again after [`error_backoff`](super::ConsumerBuilder::error_backoff)) when
    /// its receipt handle decoded. The other messages of the receive are handled.
    pub malformed: u64,
    /// The most messages held at once (received and not finished; a redelivery held behind
    /// its running copy is not counted again); at most
    /// [`handlers`](super::ConsumerBuilder::handlers) plus
    /// [`prefetch`](super::ConsumerBuilder::prefetch).
    pub max_held: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, handled {}, failed {}, deleted {}, returned {}, refused {}, extended {}, \
             lost {}, lapsed {}, malformed {}, at most {} held at once",
            self.received,
            self.handled,
            self.failed,
            self.deleted,
            self.returned,
            self.refused,
            self.extended,
            self.lost,
            self.lapsed,
            self.malformed,
            self.max_held
        )
    }
}
