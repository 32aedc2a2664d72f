//! [`Consumer`]: the receive loop, the handler pool and the housekeeping thread.
//!
//! Three kinds of threads share one [`State`] under one mutex:
//! - the receiver (the thread that called `run`) long-polls while fewer messages than
//!   handlers wait to start, and stops receiving once stop is requested;
//! - the handler threads take waiting messages one at a time, each under a protector guard;
//! - the housekeeper sends every other queue call: deletions in batches, visibility changes
//!   (failed messages, returns at shutdown) and heartbeat extensions. Being the only thread
//!   that changes visibility, it sends those changes in the order they were decided.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::events::{HandlerError, Hooks, Summary};
use super::{BatchEntry, BatchOutcome, ConsumerBuilder, Message, QueueApi};
use crate::{ApiError, Error, FailurePolicy, Protector};

pub(crate) type Handler = Box<dyn Fn(&Message) -> Result<(), HandlerError> + Send + Sync>;
pub(crate) type StopCondition = Arc<dyn Fn() -> bool + Send + Sync>;

/// How often idle threads poll the stop condition.
const STOP_POLL: Duration = Duration::from_millis(50);
/// How many times a delete or visibility change of one message is sent before giving up.
const MAX_ATTEMPTS: u32 = 3;

/// The validated settings; see the setters of [`ConsumerBuilder`] for each one's meaning.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) handlers: usize,
    pub(crate) batch_size: usize,
    pub(crate) wait_time: Duration,
    pub(crate) visibility_timeout: Duration,
    pub(crate) heartbeat_after: Duration,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) delete_batch_size: usize,
    pub(crate) delete_interval: Duration,
    pub(crate) error_backoff: Duration,
    pub(crate) drain_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            handlers: 4,
            batch_size: 10,
            wait_time: Duration::from_secs(20),
            visibility_timeout: Duration::from_secs(30),
            heartbeat_after: Duration::from_secs(15),
            retry_after: None,
            delete_batch_size: 10,
            delete_interval: Duration::from_millis(200),
            error_backoff: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// A blocking SQS consumer: receives messages, handles each under task protection on a
/// fixed pool of threads, deletes the ones handled, and stops cleanly.
///
/// A message is deleted only after its handler returned `Ok`. A handler that fails (or
/// panics) leaves its message for redelivery, after its visibility timeout or after
/// [`retry_after`](ConsumerBuilder::retry_after). While a message waits or its handler
/// runs, a heartbeat keeps extending its visibility timeout.
///
/// Each message is handled under a guard of the consumer's [`Protector`], so the task is
/// protected from scale-in while any message is in flight. If the protector refuses (the
/// [`FailurePolicy::Require`] policy, or shutdown has begun), the message is not handled
/// and is made visible again at once.
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
    pub(crate) hooks: Hooks,
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

    /// Receives and handles messages until stop is requested, then shuts down cleanly and
    /// returns what it did.
    ///
    /// Shutdown: once the stop condition holds, no new receive starts (a receive in
    /// progress finishes, up to the wait time); messages received but not started are made
    /// visible again at once; handlers in flight finish; their deletions are flushed.
    ///
    /// # Errors
    ///
    /// A permanent receive error (the queue does not exist, access denied, bad
    /// credentials) stops the consumer the same way, and `run` returns it. Other errors are
    /// reported to [`on_error`](ConsumerBuilder::on_error) and retried.
    ///
    /// # Panics
    ///
    /// If a hook or the stop condition panics, or a thread cannot be started. A panicking
    /// handler is caught and counts as a failed message.
    pub fn run(&self) -> Result<Summary, Error> {
        let run = Run {
            consumer: self,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop_seen: AtomicBool::new(false),
        };
        log::info!(
            "sqs: consumer started on {} with {} handler threads",
            self.queue.queue_url(),
            self.settings.handlers
        );
        std::thread::scope(|scope| {
            for index in 0..self.settings.handlers {
                std::thread::Builder::new()
                    .name(format!("sqs-handler-{index}"))
                    .spawn_scoped(scope, || run.handler_loop())
                    .expect("the OS refused to start a handler thread");
            }
            std::thread::Builder::new()
                .name("sqs-housekeeper".into())
                .spawn_scoped(scope, || run.housekeeping_loop())
                .expect("the OS refused to start the housekeeping thread");
            run.receive_loop();
        });
        drain_protector(&self.protector, self.settings.drain_timeout);
        let mut state = run.lock();
        let summary = state.summary;
        let fatal = state.fatal.take();
        drop(state);
        self.hooks.stopped(&summary);
        match fatal {
            Some(err) => Err(err),
            None => Ok(summary),
        }
    }
}

/// Releases protection now that every handler has finished: waits up to `timeout` for
/// other work on the same protector, then drains it.
fn drain_protector(protector: &Protector, timeout: Duration) {
    let drained = protector.drain(timeout);
    log::info!("sqs consumer stopped; protector {drained}");
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("queue", &self.queue)
            .field("settings", &self.settings)
            .field("protector", &self.protector)
            .field("policy", &self.policy)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

/// One received message until it is finished.
struct Tracked {
    message: Arc<Message>,
    /// When its visibility timeout was last set (received or extended).
    last_set: Instant,
}

/// Why a visibility change is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// Unhandled (shutdown, protection refused): visible again at once.
    Return,
    /// Its handler failed: visible again after `retry_after`.
    Retry,
}

/// A queue call still to be made for one message.
struct Pending {
    message: Arc<Message>,
    change: Option<(Change, Duration)>,
    attempts: u32,
    due: Instant,
}

#[derive(Default)]
struct State {
    next_key: u64,
    /// Received, not started, in arrival order.
    unstarted: VecDeque<u64>,
    /// Received and not finished (waiting or being handled).
    outstanding: HashMap<u64, Tracked>,
    deletes: VecDeque<Pending>,
    changes: VecDeque<Pending>,
    receiver_done: bool,
    summary: Summary,
    fatal: Option<Error>,
}

/// The work the housekeeper takes out of the state in one pass.
#[derive(Default)]
struct Work {
    changes: Vec<Pending>,
    deletes: Vec<Pending>,
    extend: Vec<Arc<Message>>,
}

impl Work {
    fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.deletes.is_empty() && self.extend.is_empty()
    }
}

struct Run<'c> {
    consumer: &'c Consumer,
    state: Mutex<State>,
    changed: Condvar,
    stop_seen: AtomicBool,
}

impl Run<'_> {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic in a hook (the panic ends `run`).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'s>(&self, state: MutexGuard<'s, State>, timeout: Duration) -> MutexGuard<'s, State> {
        self.changed
            .wait_timeout(state, timeout)
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    /// Whether stop was requested; the first thread to see it wakes the others.
    fn stopping(&self) -> bool {
        if self.stop_seen.load(Ordering::Relaxed) {
            return true;
        }
        if (self.consumer.stop)() {
            if !self.stop_seen.swap(true, Ordering::SeqCst) {
                log::info!("sqs: stop requested: no new receive, returning unstarted messages");
            }
            self.changed.notify_all();
            return true;
        }
        false
    }

    fn receive_loop(&self) {
        let settings = &self.consumer.settings;
        let mut failures: u32 = 0;
        'receive: loop {
            let mut state = self.lock();
            while state.unstarted.len() >= settings.handlers {
                if self.stopping() {
                    break 'receive;
                }
                state = self.wait(state, STOP_POLL);
            }
            drop(state);
            if self.stopping() {
                break;
            }
            match self.consumer.queue.receive(
                settings.batch_size,
                settings.wait_time,
                settings.visibility_timeout,
            ) {
                Ok(messages) => {
                    failures = 0;
                    self.accept(messages);
                }
                Err(err) => {
                    self.consumer.hooks.error("receive failed", &err);
                    if is_fatal(&err) {
                        log::error!("sqs: stopping the consumer: this receive error is permanent");
                        self.lock().fatal = Some(err);
                        self.stop_seen.store(true, Ordering::SeqCst);
                        self.changed.notify_all();
                        break;
                    }
                    failures = failures.saturating_add(1);
                    let factor = 1u32 << (failures - 1).min(5);
                    self.pause(settings.error_backoff * factor);
                }
            }
        }
        self.lock().receiver_done = true;
        self.changed.notify_all();
    }

    /// Sleeps for `delay`, or until stop is requested.
    fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            if now >= until || self.stopping() {
                return;
            }
            state = self.wait(state, (until - now).min(STOP_POLL));
        }
    }

    fn accept(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        for message in &messages {
            self.consumer.hooks.message_received(message);
        }
        let now = Instant::now();
        let mut state = self.lock();
        state.summary.received += messages.len() as u64;
        for message in messages {
            let key = state.next_key;
            state.next_key += 1;
            state.unstarted.push_back(key);
            state.outstanding.insert(
                key,
                Tracked {
                    message: Arc::new(message),
                    last_set: now,
                },
            );
        }
        drop(state);
        self.changed.notify_all();
    }

    fn handler_loop(&self) {
        loop {
            let mut state = self.lock();
            let (key, message) = loop {
                if self.stopping() {
                    return;
                }
                if let Some(key) = state.unstarted.pop_front() {
                    match state.outstanding.get(&key) {
                        Some(tracked) => break (key, tracked.message.clone()),
                        None => continue,
                    }
                }
                if state.receiver_done {
                    return;
                }
                state = self.wait(state, STOP_POLL);
            };
            drop(state);
            self.handle(key, &message);
        }
    }

    fn handle(&self, key: u64, message: &Arc<Message>) {
        let consumer = self.consumer;
        let guard = match consumer.policy {
            Some(policy) => consumer.protector.acquire_with(policy),
            None => consumer.protector.acquire(),
        }
        .and_then(|guard| {
            // After SIGTERM ECS has decided to stop the task: a message not yet started goes
            // back to the queue, whatever the policy, rather than run unprotected.
            if !guard.is_protected() && consumer.protector.is_shutting_down() {
                Err(Error::ShuttingDown)
            } else {
                Ok(guard)
            }
        });
        let guard = match guard {
            Ok(guard) => guard,
            Err(err) => {
                // Stopping is the expected reason; anything else is worth a warning.
                let level = match err {
                    Error::ShuttingDown => log::Level::Debug,
                    _ => log::Level::Warn,
                };
                log::log!(
                    level,
                    "sqs: message {} not handled: task protection refused ({err}); \
                     returning it to the queue",
                    message.id()
                );
                let mut state = self.lock();
                state.outstanding.remove(&key);
                state.summary.refused += 1;
                state.changes.push_back(Pending {
                    message: message.clone(),
                    change: Some((Change::Return, Duration::ZERO)),
                    attempts: 0,
                    due: Instant::now(),
                });
                drop(state);
                self.changed.notify_all();
                return;
            }
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| (consumer.handler)(message))) {
            Ok(outcome) => outcome,
            Err(panic) => Err(panic_message(panic.as_ref()).into()),
        };
        drop(guard);
        let now = Instant::now();
        let mut state = self.lock();
        state.outstanding.remove(&key);
        match &outcome {
            Ok(()) => {
                state.summary.handled += 1;
                state.deletes.push_back(Pending {
                    message: message.clone(),
                    change: None,
                    attempts: 0,
                    due: now + consumer.settings.delete_interval,
                });
            }
            Err(_) => {
                state.summary.failed += 1;
                if let Some(delay) = consumer.settings.retry_after {
                    state.changes.push_back(Pending {
                        message: message.clone(),
                        change: Some((Change::Retry, delay)),
                        attempts: 0,
                        due: now,
                    });
                }
            }
        }
        drop(state);
        self.changed.notify_all();
        match outcome {
            Ok(()) => consumer.hooks.message_processed(message),
            Err(err) => consumer.hooks.processing_error(message, &err),
        }
    }

    fn housekeeping_loop(&self) {
        while let Some(work) = self.next_work() {
            if !work.changes.is_empty() {
                self.send_changes(work.changes);
            }
            if !work.extend.is_empty() {
                self.extend(work.extend);
            }
            if !work.deletes.is_empty() {
                self.send_deletes(work.deletes);
            }
        }
    }

    /// Waits until some queue call is due and takes it; `None` once everything is done.
    fn next_work(&self) -> Option<Work> {
        let settings = &self.consumer.settings;
        let mut state = self.lock();
        loop {
            let stopping = self.stopping();
            let now = Instant::now();
            if stopping {
                while let Some(key) = state.unstarted.pop_front() {
                    if let Some(tracked) = state.outstanding.remove(&key) {
                        state.changes.push_back(Pending {
                            message: tracked.message,
                            change: Some((Change::Return, Duration::ZERO)),
                            attempts: 0,
                            due: now,
                        });
                    }
                }
            }
            let finishing = stopping && state.receiver_done && state.outstanding.is_empty();
            let mut work = Work::default();
            while work.changes.len() < super::MAX_BATCH
                && state.changes.front().is_some_and(|p| p.due <= now)
            {
                work.changes.extend(state.changes.pop_front());
            }
            let deletes_due = state.deletes.len() >= settings.delete_batch_size
                || state
                    .deletes
                    .front()
                    .is_some_and(|p| finishing || p.due <= now);
            if deletes_due {
                let n = state.deletes.len().min(settings.delete_batch_size);
                work.deletes.extend(state.deletes.drain(..n));
            }
            for tracked in state.outstanding.values_mut() {
                if tracked.last_set + settings.heartbeat_after <= now {
                    tracked.last_set = now;
                    work.extend.push(tracked.message.clone());
                }
            }
            if !work.is_empty() {
                return Some(work);
            }
            if finishing && state.deletes.is_empty() && state.changes.is_empty() {
                return None;
            }
            let mut wake = now + STOP_POLL;
            if let Some(p) = state.deletes.front() {
                wake = wake.min(p.due);
            }
            if let Some(p) = state.changes.front() {
                wake = wake.min(p.due);
            }
            for tracked in state.outstanding.values() {
                wake = wake.min(tracked.last_set + settings.heartbeat_after);
            }
            state = self.wait(state, wake.saturating_duration_since(now));
        }
    }

    fn send_deletes(&self, batch: Vec<Pending>) {
        let result = self.consumer.queue.delete_batch(&batch_entries(&batch));
        self.settle("DeleteMessageBatch", batch, result);
    }

    fn send_changes(&self, batch: Vec<Pending>) {
        let result = self
            .consumer
            .queue
            .change_visibility_batch(&batch_entries(&batch));
        self.settle("ChangeMessageVisibilityBatch", batch, result);
    }

    /// Counts what a delete or change batch did and queues its failed entries again.
    fn settle(&self, operation: &str, batch: Vec<Pending>, result: Result<BatchOutcome, Error>) {
        let hooks = &self.consumer.hooks;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(err) => {
                hooks.error(&format!("{operation} failed"), &err);
                BatchOutcome::default()
            }
        };
        let mut retry = Vec::new();
        let mut done = Summary::default();
        for (i, mut pending) in batch.into_iter().enumerate() {
            let id = i.to_string();
            if outcome.successful.contains(&id) {
                match pending.change {
                    None => done.deleted += 1,
                    Some((Change::Return, _)) => done.returned += 1,
                    Some((Change::Retry, _)) => {}
                }
                continue;
            }
            let failure = outcome.failed.iter().find(|f| f.id == id);
            pending.attempts += 1;
            let give_up =
                pending.attempts >= MAX_ATTEMPTS || failure.is_some_and(|f| f.sender_fault);
            if let Some(failure) = failure {
                log::warn!(
                    "sqs: {operation} of message {}: {failure}",
                    pending.message.id()
                );
            }
            if give_up {
                let consequence = match pending.change {
                    None => "it will be delivered again and handled a second time",
                    Some(_) => "it becomes visible when its visibility timeout ends",
                };
                log::error!(
                    "sqs: giving up on {operation} of message {} after {} attempts: {consequence}",
                    pending.message.id(),
                    pending.attempts
                );
                if let Some(failure) = failure {
                    let err = Error::from(ApiError {
                        operation: operation.to_owned(),
                        endpoint: self.consumer.queue.queue_url().to_owned(),
                        status: 200,
                        code: failure.code.clone(),
                        message: failure.message.clone(),
                        request_id: None,
                    });
                    hooks.error(&format!("{operation} entry failed"), &err);
                }
            } else {
                retry.push(pending);
            }
        }
        let now = Instant::now();
        let delay = self.consumer.settings.delete_interval.max(STOP_POLL);
        let mut state = self.lock();
        state.summary.deleted += done.deleted;
        state.summary.returned += done.returned;
        for mut pending in retry {
            pending.due = now + delay;
            match pending.change {
                None => state.deletes.push_back(pending),
                Some(_) => state.changes.push_back(pending),
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    fn extend(&self, messages: Vec<Arc<Message>>) {
        let timeout = self.consumer.settings.visibility_timeout;
        for chunk in messages.chunks(super::MAX_BATCH) {
            let entries: Vec<BatchEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| BatchEntry {
                    id: i.to_string(),
                    receipt_handle: m.receipt_handle().to_owned(),
                    visibility_timeout: timeout,
                })
                .collect();
            match self.consumer.queue.change_visibility_batch(&entries) {
                Ok(outcome) => {
                    for failure in &outcome.failed {
                        let id = failure.id.parse::<usize>().ok();
                        let message = id.and_then(|i| chunk.get(i)).map_or("?", |m| m.id());
                        log::warn!("sqs: extending the visibility of message {message}: {failure}");
                    }
                    for id in &outcome.successful {
                        if let Some(m) = id.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                            log::debug!("sqs: extended the visibility of message {}", m.id());
                        }
                    }
                    self.lock().summary.extended += outcome.successful.len() as u64;
                }
                Err(err) => self
                    .consumer
                    .hooks
                    .error("extending visibility timeouts failed", &err),
            }
        }
    }
}

/// Whether a receive error means the consumer cannot work at all until someone fixes it.
fn is_fatal(err: &Error) -> bool {
    err.is_permanent()
        || err.as_api().is_some_and(|api| {
            matches!(
                api.code.as_str(),
                "QueueDoesNotExist"
                    | "AWS.SimpleQueueService.NonExistentQueue"
                    | "InvalidAddress"
                    | "InvalidSecurity"
                    | "MissingAuthenticationToken"
            )
        })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string payload");
    format!("handler panicked: {text}")
}

/// The entries of a delete or change-visibility request, with ids unique within it (a
/// delete ignores the timeout).
fn batch_entries(batch: &[Pending]) -> Vec<BatchEntry> {
    batch
        .iter()
        .enumerate()
        .map(|(i, p)| BatchEntry {
            id: i.to_string(),
            receipt_handle: p.message.receipt_handle().to_owned(),
            visibility_timeout: p.change.map_or(Duration::ZERO, |(_, d)| d),
        })
        .collect()
}
