//! [`Consumer`]: its settings and [`run`](Consumer::run), which starts the threads and
//! waits for the stop.
//!
//! One run has detached threads sharing one [`Shared`] state:
//! - the handler threads (`worker`) take waiting messages, FIFO groups one at a time, each
//!   under a protector guard, and receive for the free capacity when nothing waits;
//! - the heartbeat (`heartbeat`) keeps held messages hidden, on its own;
//! - the housekeeper (`housekeeper`) deletes handled messages and sends visibility changes.
//!
//! `run` itself only watches for the stop and returns once the handlers in flight finished
//! and the calls they owe were made: a receive still in its long poll is left behind.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::events::{HandlerError, Hooks, Summary};
use super::retry::RetryDelay;
use super::shared::{STOP_POLL, Shared};
use super::{ConsumerBuilder, Message, QueueApi, heartbeat, housekeeper, worker};
use crate::{Error, FailurePolicy, Protector};

pub(crate) type Handler = Arc<dyn Fn(&Message) -> Result<(), HandlerError> + Send + Sync>;
pub(crate) type StopCondition = Arc<dyn Fn() -> bool + Send + Sync>;

/// The validated settings; see the setters of [`ConsumerBuilder`] for each one's meaning.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) handlers: usize,
    pub(crate) batch_size: usize,
    pub(crate) wait_time: Duration,
    pub(crate) visibility_timeout: Duration,
    pub(crate) heartbeat_after: Duration,
    pub(crate) max_processing_time: Duration,
    pub(crate) delete_batch_size: usize,
    pub(crate) delete_interval: Duration,
    pub(crate) error_backoff: Duration,
    pub(crate) end_on_access_denied: bool,
    pub(crate) drain_timeout: Duration,
    pub(crate) batch_wait: Duration,
    pub(crate) prefetch: usize,
    pub(crate) prefetch_max_wait: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            handlers: 4,
            batch_size: 10,
            wait_time: Duration::from_secs(20),
            visibility_timeout: Duration::from_secs(30),
            heartbeat_after: Duration::from_secs(15),
            max_processing_time: Duration::from_secs(60 * 60),
            delete_batch_size: 10,
            delete_interval: Duration::from_millis(200),
            error_backoff: Duration::from_secs(1),
            end_on_access_denied: false,
            drain_timeout: Duration::from_secs(30),
            batch_wait: Duration::from_millis(100),
            prefetch: 0,
            prefetch_max_wait: Duration::from_secs(30),
        }
    }
}

/// A blocking SQS consumer: receives messages, handles each under task protection on a
/// fixed pool of threads, deletes the ones handled, and stops cleanly.
///
/// A message is deleted only after its handler returned `Ok`. A handler that fails (or
/// panics) leaves its message for redelivery: after its visibility timeout, or after the
/// delay of [`retry_after`](ConsumerBuilder::retry_after),
/// [`retry_backoff`](ConsumerBuilder::retry_backoff) or the handler's own
/// [`RetryAfter`](super::RetryAfter). While a message waits or its handler runs, a
/// heartbeat keeps extending its visibility timeout, up to
/// [`max_processing_time`](ConsumerBuilder::max_processing_time).
///
/// It receives only for free capacity: at most as many messages as handlers are idle,
/// less the messages already waiting (a handler waiting for protection counts as busy),
/// so no more than [`handlers`](ConsumerBuilder::handlers) messages are ever held, hidden
/// from other tasks (plus [`prefetch`](ConsumerBuilder::prefetch) when set). To pay for fuller batches on a backlog, a receive that could ask for
/// only part of a batch waits up to [`batch_wait`](ConsumerBuilder::batch_wait) (100 ms)
/// for more handlers to free up. Small pools can opt in to
/// [`prefetch`](ConsumerBuilder::prefetch): messages held beyond the free handlers. After
/// an empty short poll ([`wait_time`](ConsumerBuilder::wait_time) zero) receiving pauses
/// for a second.
///
/// While SQS is unreachable, the heartbeat retries about once a second (never sooner than
/// [`error_backoff`](ConsumerBuilder::error_backoff)); a message whose visibility ran out
/// meanwhile is counted [`lapsed`](Summary::lapsed) and logged once.
///
/// A message runs at most once at a time in one consumer: when SQS delivers again a message
/// still running here (past [`max_processing_time`](ConsumerBuilder::max_processing_time),
/// or after its extensions failed until its visibility ran out), the redelivery is not
/// started. It is held, its visibility extended, and it ends with the running copy:
/// deleted with its (newest) receipt if the handler succeeds, else made visible again
/// after the retry delay (at once without one).
///
/// Each message of a receive is decoded on its own: a malformed one is reported to
/// [`on_error`](ConsumerBuilder::on_error) naming the field, and given back (visible again
/// after [`error_backoff`](ConsumerBuilder::error_backoff)) when its receipt handle
/// decoded; the others are handled. A [`QueueApi`] call that panics counts as a failed call
/// (logged at `error`, retried with back-off): it never stops a consumer thread.
///
/// Each message is handled under a guard of the consumer's [`Protector`], so the task is
/// protected from scale-in while any message is in flight. If the protector refuses
/// ([`FailurePolicy::Require`] while it backs off after a failed or refused enable), the
/// message is not handled: it goes back hidden for the protector's remaining back-off, and
/// receiving pauses as long, so its receive count does not climb. After shutdown began, a
/// message not yet started goes back at once (visible) whatever the policy.
///
/// A consumer never shuts its protector down: when it stops, the protector just loses this
/// consumer's work, and keeps serving its other users (by default the protector is the
/// process-wide one). Only the process's [`Shutdown`](crate::Shutdown) or the owner's own
/// [`drain`](Protector::drain) does.
///
/// # FIFO queues
///
/// On a queue whose URL ends `.fifo`, the messages of one `MessageGroupId` run one at a
/// time, in order, and groups run in parallel. When a message fails (or is refused or
/// lost), the later messages of its group from the same receive go back unrun, so SQS
/// delivers the failed one first again. Deduplication is left to SQS. Each receive carries
/// a `ReceiveRequestAttemptId` ([`SqsClient`](super::SqsClient)), sent again with the next
/// receive when an answer was lost, so SQS answers with the same messages instead of
/// keeping their groups locked for the visibility timeout.
///
/// ```no_run
/// use ecs_protect::sqs::Consumer;
///
/// let consumer = Consumer::builder(
///     "https://sqs.eu-west-1.amazonaws.com/111122223333/orders",
///     |message| -> Result<(), std::io::Error> {
///         println!("handling {}", message.body());
///         Ok(())
///     },
/// )
/// .build()?;
/// let summary = consumer.run()?;
/// println!("{summary}");
/// # Ok::<(), ecs_protect::Error>(())
/// ```
pub struct Consumer {
    pub(crate) queue: Arc<dyn QueueApi>,
    pub(crate) handler: Handler,
    pub(crate) settings: Settings,
    pub(crate) protector: Protector,
    pub(crate) policy: Option<FailurePolicy>,
    pub(crate) stop: StopCondition,
    /// No stop condition was given: `run` installs the process's [`Shutdown`](crate::Shutdown).
    pub(crate) installs_shutdown: bool,
    pub(crate) retry: RetryDelay,
    pub(crate) hooks: Arc<Hooks>,
}

impl Consumer {
    /// A builder for a consumer of the SQS queue at `queue_url`; see
    /// [`ConsumerBuilder::new`].
    pub fn builder<H, E>(queue_url: impl Into<String>, handler: H) -> ConsumerBuilder
    where
        H: Fn(&Message) -> Result<(), E> + Send + Sync + 'static,
        E: Into<HandlerError>,
    {
        ConsumerBuilder::new(queue_url, handler)
    }

    /// Receives and handles messages until stop is requested, then stops cleanly and
    /// returns what it did.
    ///
    /// Stop: once the stop condition holds (by default SIGTERM or SIGINT: see
    /// [`stop_when`](ConsumerBuilder::stop_when)), no message starts and no receive
    /// begins; messages received but not started are made visible again at once; handlers
    /// in flight finish; their deletions are sent. From the stop signal to `run` returning
    /// takes about a second plus the longest handler in flight, whatever
    /// [`wait_time`](ConsumerBuilder::wait_time) is: a receive still in its long poll is
    /// left behind, and the messages it returns later are made visible again at once if
    /// the process still runs. Nothing is lost either way: SQS delivers a message again
    /// once its visibility timeout ends.
    ///
    /// `run` does not shut the protector down or drain it (earlier versions did): call
    /// [`Protector::drain`] before leaving `main` if you own the protector, as for any
    /// other work on it.
    ///
    /// `run` may be called again after it returned.
    ///
    /// # Errors
    ///
    /// A permanent receive error (the queue does not exist, an invalid setup) stops the
    /// consumer the same way, and `run` returns it. Access denied pauses receiving with
    /// back-off instead (logged at `error`), unless
    /// [`end_on_access_denied`](ConsumerBuilder::end_on_access_denied) is set. Other
    /// errors are reported to [`on_error`](ConsumerBuilder::on_error) and retried.
    ///
    /// # Panics
    ///
    /// If a thread cannot be started. A panicking handler is caught and counts as a failed
    /// message; a panicking hook is caught and logged; a panicking stop condition counts as
    /// a stop.
    pub fn run(&self) -> Result<Summary, Error> {
        if self.installs_shutdown
            && let Err(err) = crate::Shutdown::install()
        {
            log::error!("sqs: the consumer will not stop on SIGTERM: {err}");
        }
        let shared = Arc::new(Shared::new(self));
        log::info!(
            "sqs: consumer started on {} with {} handler threads",
            self.queue.queue_url(),
            self.settings.handlers
        );
        for index in 0..self.settings.handlers {
            spawn(format!("sqs-handler-{index}"), &shared, worker::work);
        }
        spawn("sqs-heartbeat".into(), &shared, heartbeat::beat);
        spawn("sqs-housekeeper".into(), &shared, housekeeper::keep);
        let (summary, fatal) = wait_for_stop(&shared);
        shared.notify_all();
        self.hooks.stopped(&summary);
        match fatal {
            Some(err) => Err(err),
            None => Ok(summary),
        }
    }
}

fn spawn(name: String, shared: &Arc<Shared>, body: fn(Arc<Shared>)) {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || body(shared))
        .expect("the OS refused to start a consumer thread");
}

/// Watches the stop condition, then waits for the handlers in flight and the calls they
/// owe (at most `drain_timeout` for the calls); returns the summary and a fatal error.
fn wait_for_stop(shared: &Shared) -> (Summary, Option<Error>) {
    let mut state = shared.lock();
    let mut calls_deadline = None;
    loop {
        if !shared.stopping(&mut state) && shared.protector.is_shutting_down() {
            shared.begin_stop(&mut state, "the protector is shutting down");
        }
        let now = Instant::now();
        if shared.stop_seen() && state.busy == 0 && state.waiting.is_empty() && !state.accepting {
            let deadline = *calls_deadline.get_or_insert(now + shared.settings.drain_timeout);
            let owed = state.deletes.len() + state.changes.len() + state.calls_in_progress;
            if owed == 0 || now >= deadline {
                if owed > 0 {
                    log::warn!(
                        "sqs: {owed} queue calls still owed after drain_timeout; they go on in \
                         the background while the process runs"
                    );
                }
                state.finished = true;
                return (state.summary, state.fatal.take());
            }
        }
        state = shared.wait(&shared.done, state, STOP_POLL);
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("queue", &self.queue)
            .field("settings", &self.settings)
            .field("protector", &self.protector)
            .field("policy", &self.policy)
            .field("retry", &self.retry)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}
