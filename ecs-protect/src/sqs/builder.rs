//! [`ConsumerBuilder`]: every setting of a [`Consumer`], its default and its range.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::consumer::{Consumer, Handler, Settings, StopCondition};
use super::events::{HandlerError, Hooks, Summary};
use super::retry::{MAX_VISIBILITY, RetryDelay};
use super::wire::MAX_WAIT;
use super::{Message, QueueApi, SqsClient};
use crate::{Env, Error, FailurePolicy, Protector};

enum QueueSource {
    Url(String),
    Api(Arc<dyn QueueApi>),
}

/// Builds a [`Consumer`]. Setters can be called in any order; [`build`](Self::build)
/// checks them all and names the first invalid one.
///
/// ```
/// use ecs_protect::Env;
/// use ecs_protect::sqs::Consumer;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
///
/// let stop = Arc::new(AtomicBool::new(false));
/// let flag = stop.clone();
/// let consumer = Consumer::builder(
///     "https://sqs.eu-west-1.amazonaws.com/111122223333/orders",
///     |message| -> Result<(), String> {
///         println!("order {}", message.body());
///         Ok(())
///     },
/// )
/// .handlers(8)
/// .visibility_timeout(Duration::from_secs(60))
/// .retry_after(Duration::from_secs(10))
/// .stop_when(move || flag.load(Ordering::Relaxed))
/// // Credentials as the AWS SDKs find them; here given explicitly.
/// .env(Env::from_vars([("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "example")]))
/// .build()?;
/// # let _ = consumer;
/// # Ok::<(), ecs_protect::Error>(())
/// ```
pub struct ConsumerBuilder {
    queue: QueueSource,
    handler: Handler,
    settings: Settings,
    heartbeat_after: Option<Duration>,
    prefetch_max_wait: Option<Duration>,
    retry: RetryDelay,
    protector: Option<Protector>,
    policy: Option<FailurePolicy>,
    stop: Option<StopCondition>,
    hooks: Hooks,
    env: Env,
}

impl ConsumerBuilder {
    /// A consumer of the SQS queue at `queue_url`, handling each message with `handler`.
    ///
    /// The endpoint is the queue URL's origin; the region is read from its host
    /// (`sqs.<region>.amazonaws.com`), else from `AWS_REGION` or `AWS_DEFAULT_REGION`.
    pub fn new<H, E>(queue_url: impl Into<String>, handler: H) -> Self
    where
        H: Fn(&Message) -> Result<(), E> + Send + Sync + 'static,
        E: Into<HandlerError>,
    {
        Self::from_source(QueueSource::Url(queue_url.into()), handler)
    }

    /// A consumer of `queue` (any [`QueueApi`]: an [`SqsClient`], or the in-memory queue
    /// of the `mock` feature), handling each message with `handler`.
    pub fn with_queue<Q, H, E>(queue: Q, handler: H) -> Self
    where
        Q: QueueApi,
        H: Fn(&Message) -> Result<(), E> + Send + Sync + 'static,
        E: Into<HandlerError>,
    {
        Self::from_source(QueueSource::Api(Arc::new(queue)), handler)
    }

    fn from_source<H, E>(queue: QueueSource, handler: H) -> Self
    where
        H: Fn(&Message) -> Result<(), E> + Send + Sync + 'static,
        E: Into<HandlerError>,
    {
        ConsumerBuilder {
            queue,
            handler: Arc::new(move |message: &Message| handler(message).map_err(Into::into)),
            settings: Settings::default(),
            heartbeat_after: None,
            prefetch_max_wait: None,
            retry: RetryDelay::default(),
            protector: None,
            policy: None,
            stop: None,
            hooks: Hooks::default(),
            env: Env::process(),
        }
    }

    /// How many threads run the handler, each one message at a time.
    ///
    /// Defaults to 4; 1..=256.
    pub fn handlers(mut self, threads: usize) -> Self {
        self.settings.handlers = threads;
        self
    }

    /// The most messages one receive asks for (`MaxNumberOfMessages`). A receive asks for
    /// no more than the free capacity: idle handlers (plus [`prefetch`](Self::prefetch))
    /// less the messages already waiting.
    ///
    /// Defaults to 10; 1..=10.
    pub fn batch_size(mut self, messages: usize) -> Self {
        self.settings.batch_size = messages;
        self
    }

    /// How long a receive waits for a message to arrive (`WaitTimeSeconds`, long polling).
    /// It does not delay a stop: [`run`](Consumer::run) leaves a receive in progress
    /// behind, and the messages it returns later are made visible again at once.
    ///
    /// Zero is a short poll, which SQS answers at once: after an empty one, receiving
    /// pauses for one second, so an idle consumer makes about one receive a second rather
    /// than hundreds (a long poll costs one receive per `wait_time`).
    ///
    /// Defaults to 20 seconds; 0..=20 seconds (SQS rounds a fraction up to whole seconds).
    pub fn wait_time(mut self, wait: Duration) -> Self {
        self.settings.wait_time = wait;
        self
    }

    /// How long a receive that could ask for only part of a batch (fewer free handlers than
    /// [`batch_size`](Self::batch_size)) waits for more handlers to free up, as Spring Cloud
    /// AWS's `maxDelayBetweenPolls`. On a backlog this fills the batches: with 8 handlers
    /// busy 20 ms each, about 0.23 queue requests per message instead of 0.71 (`cargo bench
    /// -p ecs-protect-tests --bench sqs`). It never holds a message: the receive only asks
    /// for handlers that are free when it starts.
    ///
    /// Defaults to 100 milliseconds; 0..=10 seconds (zero receives as soon as one handler
    /// is free).
    pub fn batch_wait(mut self, wait: Duration) -> Self {
        self.settings.batch_wait = wait;
        self
    }

    /// How many messages may be held beyond the free handlers, received ahead and waiting
    /// to start (opt-in, for small pools: one handler on a backlog otherwise pays a receive
    /// per message). A receive then asks for the free handlers plus this, and the next one
    /// starts once no message is waiting any more, while the last ones run.
    ///
    /// The trade-off: a prefetched message is hidden from every other consumer while it
    /// waits here, so a slow handler delays it though another task could run it now. Its
    /// visibility is extended like a running message's; it waits at most
    /// [`prefetch_max_wait`](Self::prefetch_max_wait) unstarted, then goes back (visible at
    /// once, and prefetching pauses as long); at stop, it goes back at once. On a FIFO
    /// queue a group's messages still start one at a time in order.
    ///
    /// Defaults to 0; 0..=100 messages.
    pub fn prefetch(mut self, messages: usize) -> Self {
        self.settings.prefetch = messages;
        self
    }

    /// How long a prefetched message may wait unstarted before it is given back (visible
    /// at once; each time costs one receive count). Only with [`prefetch`](Self::prefetch).
    ///
    /// Defaults to 30 seconds (or `max_processing_time` if shorter); above zero, at most
    /// `max_processing_time`.
    pub fn prefetch_max_wait(mut self, wait: Duration) -> Self {
        self.prefetch_max_wait = Some(wait);
        self
    }

    /// How long a received message stays hidden from other consumers (`VisibilityTimeout`
    /// of the receive, and the length of each heartbeat extension).
    ///
    /// Defaults to 30 seconds; above zero, up to 12 hours (SQS rounds a fraction up to whole
    /// seconds).
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.settings.visibility_timeout = timeout;
        self
    }

    /// How long after its last receive or extension a message that is still waiting or
    /// being handled gets its visibility timeout extended (`ChangeMessageVisibilityBatch`
    /// to a full [`visibility_timeout`](Self::visibility_timeout) from then). Repeats while
    /// the handler runs, so a long handler keeps its message hidden.
    ///
    /// Defaults to half the visibility timeout; above zero and below the visibility timeout.
    pub fn heartbeat_after(mut self, after: Duration) -> Self {
        self.heartbeat_after = Some(after);
        self
    }

    /// Makes a message whose handler failed visible again after `delay`
    /// (`ChangeMessageVisibility`), instead of leaving it hidden until its visibility
    /// timeout ends. Replaces [`retry_backoff`](Self::retry_backoff) and
    /// [`retry_delay`](Self::retry_delay); a handler's [`RetryAfter`](super::RetryAfter)
    /// error wins over it.
    ///
    /// Defaults to unset (the message comes back when its visibility timeout ends); 0..=12
    /// hours.
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry = RetryDelay::Fixed(delay);
        self
    }

    /// Exponential back-off for failed messages: the delay before a message comes back is
    /// `first * 2^(receive count - 1)`, at most `max` (its `ApproximateReceiveCount`: 1 s,
    /// 2 s, 4 s... for `first` 1 s). Replaces [`retry_after`](Self::retry_after) and
    /// [`retry_delay`](Self::retry_delay); a handler's [`RetryAfter`](super::RetryAfter)
    /// error wins over it.
    ///
    /// ```
    /// use ecs_protect::sqs::Consumer;
    /// use std::time::Duration;
    ///
    /// let builder = Consumer::builder("https://sqs.eu-west-1.amazonaws.com/1/q", |_| Ok::<(), String>(()))
    ///     .retry_backoff(Duration::from_secs(1), Duration::from_secs(300));
    /// # let _ = builder;
    /// ```
    ///
    /// Defaults to unset; `first` up to `max`, `max` up to 12 hours.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.retry = RetryDelay::Exponential { first, max };
        self
    }

    /// The delay before a failed message comes back, as a function of the message (its
    /// [`receive_count`](Message::receive_count), attributes, body); `None` leaves it
    /// hidden until its visibility timeout ends. Delays are capped at 12 hours. Replaces
    /// [`retry_after`](Self::retry_after) and [`retry_backoff`](Self::retry_backoff); a
    /// handler's [`RetryAfter`](super::RetryAfter) error wins over it.
    ///
    /// Defaults to unset.
    pub fn retry_delay(
        mut self,
        delay: impl Fn(&Message) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.retry = RetryDelay::Custom(Arc::new(delay));
        self
    }

    /// How long a message may be held (waiting and running) before the heartbeat stops
    /// extending it: an error is logged, and SQS delivers it again once its visibility
    /// timeout ends. A stuck handler thus does not hide its message for SQS's 12 hours.
    ///
    /// Defaults to 1 hour; above the visibility timeout, at most 12 hours.
    pub fn max_processing_time(mut self, limit: Duration) -> Self {
        self.settings.max_processing_time = limit;
        self
    }

    /// Whether an access-denied answer to a receive ends the consumer
    /// ([`run`](Consumer::run) returns the error). By default the consumer pauses
    /// receiving with back-off (see [`error_backoff`](Self::error_backoff)), logs each
    /// failure at `error`, and tries again: a policy attached late is common.
    ///
    /// Defaults to false.
    pub fn end_on_access_denied(mut self, end: bool) -> Self {
        self.settings.end_on_access_denied = end;
        self
    }

    /// How many successful messages are deleted in one `DeleteMessageBatch` call; a batch
    /// is sent as soon as it is full.
    ///
    /// Defaults to 10; 1..=10.
    pub fn delete_batch_size(mut self, messages: usize) -> Self {
        self.settings.delete_batch_size = messages;
        self
    }

    /// How long a successful message may wait for its batch to fill before it is deleted
    /// anyway. Deletions are also flushed when the consumer stops.
    ///
    /// Defaults to 200 milliseconds; 0..=60 seconds (zero deletes each message at once).
    pub fn delete_interval(mut self, interval: Duration) -> Self {
        self.settings.delete_interval = interval;
        self
    }

    /// How long the consumer waits after a failed receive before the next one; the wait
    /// doubles with each consecutive failure, up to 32 times this value. Also how long a
    /// message refused by a protector with no back-off of its own stays hidden.
    ///
    /// Defaults to 1 second; above zero, up to 60 seconds.
    pub fn error_backoff(mut self, backoff: Duration) -> Self {
        self.settings.error_backoff = backoff;
        self
    }

    /// How long, after the last handler finished, [`run`](Consumer::run) waits for the
    /// queue calls still owed (deletes, messages given back) while SQS fails them; they
    /// go on in the background afterwards. With a healthy queue they take a round trip.
    /// (Earlier versions waited this long for the protector's other work and drained it;
    /// `run` no longer drains the protector.)
    ///
    /// Defaults to 30 seconds; at most 1 hour.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.settings.drain_timeout = timeout;
        self
    }

    /// The protector each message is handled under.
    ///
    /// Defaults to `ecs_protect::global()`.
    pub fn protector(mut self, protector: Protector) -> Self {
        self.protector = Some(protector);
        self
    }

    /// The failure policy of each message's `acquire`. With [`FailurePolicy::Require`] a
    /// message that cannot be protected is not handled: it goes back hidden for the
    /// protector's remaining back-off ([`Protector::retry_in`]), and receiving pauses as
    /// long.
    ///
    /// Defaults to the protector's own policy.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// When `stop` returns true, the consumer stops: no new receive starts, messages not
    /// yet started are made visible again at once, handlers in flight finish, pending
    /// deletions are flushed, and [`run`](Consumer::run) returns. It is polled often (every
    /// 50 milliseconds, and before each message), so it must be cheap. The consumer also
    /// stops when its protector is shutting down.
    ///
    /// Defaults to the process's [`Shutdown`](crate::Shutdown): `run` installs it
    /// ([`Shutdown::install`](crate::Shutdown::install), once per process), so the
    /// consumer stops on SIGTERM or SIGINT.
    pub fn stop_when(mut self, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.stop = Some(Arc::new(stop));
        self
    }

    /// Called with each message as it is received, before any handler sees it.
    ///
    /// Defaults to none; each event is logged at `debug` anyway.
    pub fn on_message_received(mut self, hook: impl Fn(&Message) + Send + Sync + 'static) -> Self {
        self.hooks.message_received = Some(Box::new(hook));
        self
    }

    /// Called with each message whose handler succeeded (its deletion is batched and
    /// follows).
    ///
    /// Defaults to none; each event is logged at `debug` anyway.
    pub fn on_message_processed(mut self, hook: impl Fn(&Message) + Send + Sync + 'static) -> Self {
        self.hooks.message_processed = Some(Box::new(hook));
        self
    }

    /// Called with each message whose handler failed or panicked, and the error.
    ///
    /// Defaults to none; each event is logged at `warn` anyway.
    pub fn on_processing_error(
        mut self,
        hook: impl Fn(&Message, &HandlerError) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.processing_error = Some(Box::new(hook));
        self
    }

    /// Called with each failed queue call (receive, delete, change visibility): transport,
    /// API and decode errors, and batch entries that failed for good.
    ///
    /// Defaults to none; each event is logged at `error` anyway.
    pub fn on_error(mut self, hook: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.hooks.error = Some(Box::new(hook));
        self
    }

    /// Called once when [`run`](Consumer::run) stops, with its summary.
    ///
    /// Defaults to none; the summary is logged at `info` anyway.
    pub fn on_stopped(mut self, hook: impl Fn(&Summary) + Send + Sync + 'static) -> Self {
        self.hooks.stopped = Some(Box::new(hook));
        self
    }

    /// Where a queue URL's client reads the region and credentials from.
    ///
    /// Defaults to [`Env::process()`]. Unused with [`with_queue`](Self::with_queue).
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Checks every setting and builds the consumer.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the first invalid setter (e.g.
    /// `ConsumerBuilder::batch_size`) and the accepted range; for a queue URL, the errors
    /// of [`SqsClient::from_env`].
    pub fn build(self) -> Result<Consumer, Error> {
        let mut settings = self.settings;
        settings.heartbeat_after = self
            .heartbeat_after
            .unwrap_or(settings.visibility_timeout / 2);
        settings.prefetch_max_wait = self
            .prefetch_max_wait
            .unwrap_or(Duration::from_secs(30).min(settings.max_processing_time));
        check(&settings)?;
        check_retry(&self.retry)?;
        let queue: Arc<dyn QueueApi> = match self.queue {
            QueueSource::Api(queue) => queue,
            QueueSource::Url(url) => Arc::new(SqsClient::from_env(&url, &self.env)?),
        };
        Ok(Consumer {
            queue,
            handler: self.handler,
            settings,
            protector: self.protector.unwrap_or_else(|| crate::global().clone()),
            policy: self.policy,
            installs_shutdown: self.stop.is_none(),
            stop: self
                .stop
                .unwrap_or_else(|| Arc::new(crate::shutdown::installed_requested)),
            retry: self.retry,
            hooks: Arc::new(self.hooks),
        })
    }
}

fn check(s: &Settings) -> Result<(), Error> {
    fn origin(setter: &str) -> String {
        format!("ConsumerBuilder::{setter}")
    }
    if !(1..=256).contains(&s.handlers) {
        return Err(Error::config(
            origin("handlers"),
            format!("expected 1..=256 threads, got {}", s.handlers),
        ));
    }
    if !(1..=super::MAX_BATCH).contains(&s.batch_size) {
        return Err(Error::config(
            origin("batch_size"),
            format!("expected 1..=10 messages, got {}", s.batch_size),
        ));
    }
    if s.wait_time > MAX_WAIT {
        return Err(Error::config(
            origin("wait_time"),
            format!("expected at most 20 seconds, got {:?}", s.wait_time),
        ));
    }
    if s.visibility_timeout.is_zero() || s.visibility_timeout > MAX_VISIBILITY {
        return Err(Error::config(
            origin("visibility_timeout"),
            format!(
                "expected above zero and at most 12 hours, got {:?}",
                s.visibility_timeout
            ),
        ));
    }
    if s.heartbeat_after.is_zero() || s.heartbeat_after >= s.visibility_timeout {
        return Err(Error::config(
            origin("heartbeat_after"),
            format!(
                "expected above zero and below the visibility timeout ({:?}), got {:?}",
                s.visibility_timeout, s.heartbeat_after
            ),
        ));
    }
    if s.max_processing_time <= s.visibility_timeout || s.max_processing_time > MAX_VISIBILITY {
        return Err(Error::config(
            origin("max_processing_time"),
            format!(
                "expected above the visibility timeout ({:?}) and at most 12 hours, got {:?}",
                s.visibility_timeout, s.max_processing_time
            ),
        ));
    }
    if !(1..=super::MAX_BATCH).contains(&s.delete_batch_size) {
        return Err(Error::config(
            origin("delete_batch_size"),
            format!("expected 1..=10 messages, got {}", s.delete_batch_size),
        ));
    }
    if s.delete_interval > Duration::from_secs(60) {
        return Err(Error::config(
            origin("delete_interval"),
            format!("expected at most 60 seconds, got {:?}", s.delete_interval),
        ));
    }
    if s.error_backoff.is_zero() || s.error_backoff > Duration::from_secs(60) {
        return Err(Error::config(
            origin("error_backoff"),
            format!(
                "expected above zero and at most 60 seconds, got {:?}",
                s.error_backoff
            ),
        ));
    }
    if s.batch_wait > Duration::from_secs(10) {
        return Err(Error::config(
            origin("batch_wait"),
            format!("expected at most 10 seconds, got {:?}", s.batch_wait),
        ));
    }
    if s.prefetch > 100 {
        return Err(Error::config(
            origin("prefetch"),
            format!("expected 0..=100 messages, got {}", s.prefetch),
        ));
    }
    if s.prefetch_max_wait.is_zero() || s.prefetch_max_wait > s.max_processing_time {
        return Err(Error::config(
            origin("prefetch_max_wait"),
            format!(
                "expected above zero and at most max_processing_time ({:?}), got {:?}",
                s.max_processing_time, s.prefetch_max_wait
            ),
        ));
    }
    if s.drain_timeout > Duration::from_secs(3600) {
        return Err(Error::config(
            origin("drain_timeout"),
            format!("expected at most 1 hour, got {:?}", s.drain_timeout),
        ));
    }
    Ok(())
}

fn check_retry(retry: &RetryDelay) -> Result<(), Error> {
    match *retry {
        RetryDelay::Fixed(delay) if delay > MAX_VISIBILITY => Err(Error::config(
            "ConsumerBuilder::retry_after",
            format!("expected at most 12 hours, got {delay:?}"),
        )),
        RetryDelay::Exponential { first, max } if first > max || max > MAX_VISIBILITY => {
            Err(Error::config(
                "ConsumerBuilder::retry_backoff",
                format!(
                    "expected first up to max and max at most 12 hours, got first {first:?}, \
                     max {max:?}"
                ),
            ))
        }
        _ => Ok(()),
    }
}

impl fmt::Debug for ConsumerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue: &dyn fmt::Debug = match &self.queue {
            QueueSource::Url(url) => url,
            QueueSource::Api(api) => api,
        };
        f.debug_struct("ConsumerBuilder")
            .field("queue", queue)
            .field("settings", &self.settings)
            .field("heartbeat_after", &self.heartbeat_after)
            .field("prefetch_max_wait", &self.prefetch_max_wait)
            .field("retry", &self.retry)
            .field("protector", &self.protector)
            .field("policy", &self.policy)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}
