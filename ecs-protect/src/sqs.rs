//! A blocking SQS consumer wired to task protection and shutdown (feature `sqs`).
//!
//! [`Consumer`] receives messages with long polling, only for its free capacity (waiting a
//! moment on a backlog to ask for fuller batches; `prefetch` for small pools), handles
//! each one on a fixed pool of threads under a [`Protector`](crate::Protector) guard (so
//! the task is protected from scale-in while any message is in flight), keeps it hidden
//! with heartbeats, deletes the ones handled in batches, and stops promptly: after the stop
//! signal no new receive starts, messages not yet started go back to the queue at once,
//! handlers in flight finish, and a long poll in progress is left behind. FIFO queues keep
//! each message group's order. One consumer never runs a message twice at once, decodes
//! each message of a receive on its own, and counts a queue call that panics as a failed
//! call. See [`Consumer`] for each behaviour.
//!
//! No async runtime: every call blocks, as in the rest of the crate.
//!
//! ```no_run
//! use ecs_protect::sqs::Consumer;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//!
//! # fn charge(_: &str) -> Result<(), std::io::Error> { Ok(()) }
//! let stop = Arc::new(AtomicBool::new(false)); // set by your SIGTERM handler
//! let flag = stop.clone();
//! let summary = Consumer::builder(
//!     "https://sqs.eu-west-1.amazonaws.com/111122223333/orders",
//!     |message| charge(message.body()),
//! )
//! .handlers(8)
//! .stop_when(move || flag.load(Ordering::Relaxed))
//! .on_processing_error(|message, err| eprintln!("{}: {err}", message.id()))
//! .build()?
//! .run()?;
//! println!("{summary}");
//! # Ok::<(), ecs_protect::Error>(())
//! ```
//!
//! # Delivery
//!
//! At least once, as SQS itself: a message is deleted only after its handler returned
//! `Ok`, so a crash between the handler and the delete means the message is handled again.
//! Handlers should be idempotent.
//!
//! # Log lines
//!
//! Each event is logged (under targets starting `ecs_protect::sqs`): received and processed at
//! `debug`, a handler error, a refused message and a redelivery of a running message at
//! `warn`, a failed queue call, a queue call that panicked, a malformed message, a lost
//! message, a lapsed visibility (once per message), access denied and a message past
//! `max_processing_time` at `error`, start, pauses, prefetched messages given back and
//! stop (with the [`Summary`]) at `info`. A hook that panics is logged at `error` and the
//! consumer goes on.

mod builder;
mod client;
mod consumer;
mod events;
mod heartbeat;
mod housekeeper;
mod message;
mod queue;
mod retry;
mod shared;
pub(crate) mod wire;
mod worker;

pub use builder::ConsumerBuilder;
pub use client::SqsClient;
pub use consumer::Consumer;
pub use events::{HandlerError, Summary};
pub use message::{Message, MessageAttribute};
pub use queue::{BatchEntry, BatchFailure, BatchOutcome, MAX_BATCH, MalformedMessage, QueueApi};
pub use retry::RetryAfter;
