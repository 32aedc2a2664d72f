//! [`MemoryQueue`]: an in-memory SQS queue with real visibility-timeout semantics.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::sqs::{BatchEntry, BatchFailure, BatchOutcome, MAX_BATCH, Message, QueueApi};
use crate::{ApiError, Error};

/// An in-memory queue for tests and benchmarks, with SQS's visibility semantics: a
/// received message is in flight, invisible until its visibility deadline, then delivered
/// again with a new receipt handle; receives long-poll; batch limits are enforced.
///
/// It records what happened (deliveries and deletions per message, visibility changes,
/// calls per operation) and can be made slow or made to fail.
///
/// As SQS, a delete with an outdated receipt handle (of an earlier delivery) succeeds and
/// deletes nothing; a receipt handle that names no delivery is `ReceiptHandleIsInvalid`.
///
/// A FIFO queue ([`MemoryQueue::fifo`], or a URL ending `.fifo`) behaves as SQS's: each
/// message belongs to a group ([`send_to_group`](Self::send_to_group)); a group with a
/// message in flight delivers nothing else until that message is deleted or visible again,
/// and a group's messages are delivered in the order sent; a deduplication id seen in the
/// last five minutes is accepted without adding a message.
///
/// ```
/// use ecs_protect::mock::MemoryQueue;
/// use ecs_protect::sqs::{BatchEntry, QueueApi};
/// use std::time::Duration;
///
/// let queue = MemoryQueue::new();
/// let id = queue.send("hello");
/// let first = queue.receive(10, Duration::ZERO, Duration::from_millis(1))?;
/// assert_eq!(first.len(), 1);
/// // After the visibility timeout it is delivered again.
/// let again = queue.receive(10, Duration::from_secs(5), Duration::from_secs(30))?;
/// assert_eq!(queue.deliveries(&id), 2);
/// queue.delete_batch(&[BatchEntry {
///     id: "0".into(),
///     receipt_handle: again[0].receipt_handle().into(),
///     visibility_timeout: Duration::ZERO,
/// }])?;
/// assert_eq!((queue.deleted(), queue.len()), (1, 0));
/// # Ok::<(), ecs_protect::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MemoryQueue {
    shared: Arc<Shared>,
}

/// A queue operation, to count calls or inject failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueOperation {
    /// `ReceiveMessage`.
    Receive,
    /// `DeleteMessageBatch`.
    DeleteBatch,
    /// `ChangeMessageVisibilityBatch`.
    ChangeVisibilityBatch,
}

impl QueueOperation {
    fn name(self) -> &'static str {
        match self {
            QueueOperation::Receive => "ReceiveMessage",
            QueueOperation::DeleteBatch => "DeleteMessageBatch",
            QueueOperation::ChangeVisibilityBatch => "ChangeMessageVisibilityBatch",
        }
    }
}

/// A successful visibility change the queue applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisibilityChange {
    /// The message's id.
    pub message_id: String,
    /// The new timeout, counted from `at`.
    pub timeout: Duration,
    /// When it was applied.
    pub at: Instant,
}

#[derive(Debug)]
struct Shared {
    url: String,
    fifo: bool,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<Stored>,
    /// Visible messages, in delivery order.
    ready: VecDeque<usize>,
    /// In-flight messages by visibility deadline.
    hidden: BTreeMap<(Instant, usize), ()>,
    failures: HashMap<QueueOperation, VecDeque<Failure>>,
    entry_failures: HashMap<QueueOperation, VecDeque<(String, bool)>>,
    calls: HashMap<QueueOperation, usize>,
    changes: Vec<VisibilityChange>,
    deleted: usize,
    latency: Duration,
    /// Extra latency of the next call of an operation, one entry per call.
    delays: HashMap<QueueOperation, VecDeque<Duration>>,
    generation: u64,
    /// Threads waiting on `changed` (long polls, `wait_until`): no wake-up call without one.
    waiters: usize,
}

#[derive(Debug)]
struct Stored {
    id: String,
    body: String,
    sent: SystemTime,
    receive_count: u32,
    /// `Some(deadline)` while in flight.
    in_flight_until: Option<Instant>,
    deleted: bool,
    deletes: u32,
    /// FIFO queues: the message group and deduplication id.
    group: Option<String>,
    dedup: Option<String>,
}

/// How long a FIFO queue remembers a deduplication id.
const DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);

/// A queued failure: makes the error the next call returns.
struct Failure(Box<dyn Fn() -> Error + Send>);

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Failure")
    }
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    /// An empty queue named `memory://queue`.
    pub fn new() -> Self {
        Self::with_url("memory://queue")
    }

    /// An empty FIFO queue named `memory://queue.fifo`.
    ///
    /// ```
    /// use ecs_protect::mock::MemoryQueue;
    /// use ecs_protect::sqs::QueueApi;
    /// use std::time::Duration;
    ///
    /// let queue = MemoryQueue::fifo();
    /// queue.send_to_group("a1", "a", None);
    /// queue.send_to_group("a2", "a", None);
    /// queue.send_to_group("b1", "b", None);
    /// let first = queue.receive(1, Duration::ZERO, Duration::from_secs(30))?;
    /// assert_eq!(first[0].body(), "a1");
    /// assert_eq!(first[0].attribute("MessageGroupId"), Some("a"));
    /// // Group a is locked while a1 is in flight: b1 comes next.
    /// let next = queue.receive(10, Duration::ZERO, Duration::from_secs(30))?;
    /// assert_eq!(next.iter().map(|m| m.body()).collect::<Vec<_>>(), ["b1"]);
    /// # Ok::<(), ecs_protect::Error>(())
    /// ```
    pub fn fifo() -> Self {
        Self::with_url("memory://queue.fifo")
    }

    /// An empty queue known by `url`; FIFO when it ends `.fifo`.
    pub(crate) fn with_url(url: &str) -> Self {
        MemoryQueue {
            shared: Arc::new(Shared {
                url: url.to_owned(),
                fifo: url.ends_with(".fifo"),
                state: Mutex::default(),
                changed: Condvar::new(),
            }),
        }
    }

    /// Whether this is a FIFO queue.
    pub fn is_fifo(&self) -> bool {
        self.shared.fifo
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide later assertions.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn touched(&self, mut state: MutexGuard<'_, State>) {
        state.generation += 1;
        let waiters = state.waiters > 0;
        drop(state);
        if waiters {
            self.shared.changed.notify_all();
        }
    }

    /// Sends a message; returns its id (`m-0`, `m-1`, ...). On a FIFO queue it goes to
    /// the group `default`, deduplicated by its body.
    pub fn send(&self, body: impl Into<String>) -> String {
        if self.shared.fifo {
            return self.send_to_group(body, "default", None);
        }
        self.push(body.into(), None, None)
    }

    /// Sends a message to the FIFO group `group` with the deduplication id `dedup` (by
    /// default the body: as a queue with content-based deduplication); returns its id, or
    /// the id of the message sent with the same deduplication id in the last five minutes
    /// (then nothing is added).
    ///
    /// # Panics
    ///
    /// On a standard queue (SQS refuses a group id there).
    pub fn send_to_group(
        &self,
        body: impl Into<String>,
        group: &str,
        dedup: Option<&str>,
    ) -> String {
        assert!(self.shared.fifo, "send_to_group on a standard queue");
        let body = body.into();
        let dedup = dedup.map_or_else(|| body.clone(), str::to_owned);
        {
            let state = self.lock();
            let now = SystemTime::now();
            let seen = state.messages.iter().rev().find(|m| {
                m.dedup.as_deref() == Some(dedup.as_str())
                    && now.duration_since(m.sent).unwrap_or_default() < DEDUP_WINDOW
            });
            if let Some(seen) = seen {
                return seen.id.clone();
            }
        }
        self.push(body, Some(group.to_owned()), Some(dedup))
    }

    fn push(&self, body: String, group: Option<String>, dedup: Option<String>) -> String {
        let mut state = self.lock();
        let index = state.messages.len();
        let id = format!("m-{index}");
        state.messages.push(Stored {
            id: id.clone(),
            body,
            sent: SystemTime::now(),
            receive_count: 0,
            in_flight_until: None,
            deleted: false,
            deletes: 0,
            group,
            dedup,
        });
        state.ready.push_back(index);
        self.touched(state);
        id
    }

    /// Makes every call take this long before it acts (the lock is not held meanwhile).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Makes the next call of `operation` take `delay` longer (on top of
    /// [`set_latency`](Self::set_latency)); queue several for several calls.
    pub fn delay_next(&self, operation: QueueOperation, delay: Duration) {
        self.lock()
            .delays
            .entry(operation)
            .or_default()
            .push_back(delay);
    }

    /// Makes the next call of `operation` fail with the error `make` returns, without
    /// acting; queue several for several.
    pub fn fail_next(&self, operation: QueueOperation, make: impl Fn() -> Error + Send + 'static) {
        self.lock()
            .failures
            .entry(operation)
            .or_default()
            .push_back(Failure(Box::new(make)));
    }

    /// Makes the first entry of the next batch call of `operation` fail with `code`
    /// without acting on it; queue several for several calls.
    pub fn fail_next_entry(&self, operation: QueueOperation, code: &str, sender_fault: bool) {
        self.lock()
            .entry_failures
            .entry(operation)
            .or_default()
            .push_back((code.to_owned(), sender_fault));
    }

    /// Messages not deleted (visible or in flight).
    pub fn len(&self) -> usize {
        let state = self.lock();
        state.messages.len() - state.deleted
    }

    /// Whether every message sent has been deleted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages visible now.
    pub fn visible(&self) -> usize {
        let now = Instant::now();
        let state = self.lock();
        state
            .messages
            .iter()
            .filter(|m| !m.deleted && m.in_flight_until.is_none_or(|until| until <= now))
            .count()
    }

    /// The ids of the messages in flight now.
    pub fn in_flight_ids(&self) -> Vec<String> {
        let now = Instant::now();
        let state = self.lock();
        state
            .messages
            .iter()
            .filter(|m| !m.deleted && m.in_flight_until.is_some_and(|until| until > now))
            .map(|m| m.id.clone())
            .collect()
    }

    /// Messages in flight now (received, not deleted, visibility deadline not passed).
    pub fn in_flight(&self) -> usize {
        self.in_flight_ids().len()
    }

    /// Messages deleted.
    pub fn deleted(&self) -> usize {
        self.lock().deleted
    }

    /// How many times the message `id` was delivered.
    pub fn deliveries(&self, id: &str) -> u32 {
        self.with_message(id, |m| m.receive_count)
    }

    /// How many successful delete entries named the message `id` (more than one means a
    /// double delete).
    pub fn deletes(&self, id: &str) -> u32 {
        self.with_message(id, |m| m.deletes)
    }

    fn with_message(&self, id: &str, read: impl Fn(&Stored) -> u32) -> u32 {
        self.lock()
            .messages
            .iter()
            .find(|m| m.id == id)
            .map_or(0, read)
    }

    /// How many calls of `operation` were made (failed ones included).
    pub fn calls(&self, operation: QueueOperation) -> usize {
        self.lock().calls.get(&operation).copied().unwrap_or(0)
    }

    /// Every visibility change applied, in order.
    pub fn visibility_changes(&self) -> Vec<VisibilityChange> {
        self.lock().changes.clone()
    }

    /// Waits until `cond` holds, re-checking after every call the queue answers, or until
    /// `timeout` passes; returns whether it held.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(&MemoryQueue) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.lock().generation;
            if cond(self) {
                return true;
            }
            let mut state = self.lock();
            while state.generation == seen {
                let now = Instant::now();
                if now >= deadline {
                    drop(state);
                    return cond(self);
                }
                state.waiters += 1;
                state = self
                    .shared
                    .changed
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                state.waiters -= 1;
            }
        }
    }

    /// Counts the call, applies latency and a queued failure.
    fn begin(&self, operation: QueueOperation) -> Result<(), Error> {
        let (latency, failure) = {
            let mut state = self.lock();
            *state.calls.entry(operation).or_default() += 1;
            let failure = state
                .failures
                .get_mut(&operation)
                .and_then(VecDeque::pop_front);
            let delay = state
                .delays
                .get_mut(&operation)
                .and_then(VecDeque::pop_front)
                .unwrap_or_default();
            // A waiter on `calls` sees the call as it starts (a long poll may last).
            state.generation += 1;
            if state.waiters > 0 {
                self.shared.changed.notify_all();
            }
            (state.latency + delay, failure)
        };
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        match failure {
            Some(Failure(make)) => {
                let err = make();
                self.touched(self.lock());
                Err(err)
            }
            None => Ok(()),
        }
    }

    fn invalid(&self, operation: QueueOperation, code: &str, message: String) -> Error {
        Error::from(ApiError {
            operation: operation.name().to_owned(),
            endpoint: self.shared.url.clone(),
            status: 400,
            code: code.to_owned(),
            message: Some(message),
            request_id: None,
        })
    }

    fn check_batch(&self, operation: QueueOperation, entries: &[BatchEntry]) -> Result<(), Error> {
        if entries.is_empty() {
            return Err(self.invalid(operation, "EmptyBatchRequest", "no entries".into()));
        }
        if entries.len() > MAX_BATCH {
            return Err(self.invalid(
                operation,
                "TooManyEntriesInBatchRequest",
                format!("{} entries, at most 10", entries.len()),
            ));
        }
        let mut ids = HashSet::new();
        if !entries.iter().all(|e| ids.insert(e.id.as_str())) {
            return Err(self.invalid(operation, "BatchEntryIdsNotDistinct", "ids repeat".into()));
        }
        Ok(())
    }

    /// Runs `apply` on each entry's message, found by its receipt handle; `current` says
    /// whether the handle is the message's newest. A handle that names no message is
    /// `ReceiptHandleIsInvalid`.
    fn batch(
        &self,
        operation: QueueOperation,
        entries: &[BatchEntry],
        apply: impl Fn(
            &mut State,
            usize,
            bool,
            &BatchEntry,
            Instant,
        ) -> Result<(), (&'static str, bool)>,
    ) -> Result<BatchOutcome, Error> {
        self.begin(operation)?;
        self.check_batch(operation, entries)?;
        let now = Instant::now();
        let mut state = self.lock();
        let mut injected = state
            .entry_failures
            .get_mut(&operation)
            .and_then(VecDeque::pop_front);
        let mut outcome = BatchOutcome::default();
        for entry in entries {
            if let Some((code, sender_fault)) = injected.take() {
                outcome.failed.push(BatchFailure {
                    id: entry.id.clone(),
                    code,
                    message: Some("injected failure".into()),
                    sender_fault,
                });
                continue;
            }
            let result = match parse_receipt(&entry.receipt_handle) {
                Some((index, count))
                    if state
                        .messages
                        .get(index)
                        .is_some_and(|m| (1..=m.receive_count).contains(&count)) =>
                {
                    let current = state.messages[index].receive_count == count;
                    apply(&mut state, index, current, entry, now)
                }
                _ => Err(("ReceiptHandleIsInvalid", true)),
            };
            match result {
                Ok(()) => outcome.successful.push(entry.id.clone()),
                Err((code, sender_fault)) => outcome.failed.push(BatchFailure {
                    id: entry.id.clone(),
                    code: code.to_owned(),
                    message: Some(format!("receipt handle {}", entry.receipt_handle)),
                    sender_fault,
                }),
            }
        }
        self.touched(state);
        Ok(outcome)
    }
}

fn receipt(index: usize, count: u32) -> String {
    format!("rh-{index}-{count}")
}

fn parse_receipt(handle: &str) -> Option<(usize, u32)> {
    let (index, count) = handle.strip_prefix("rh-")?.split_once('-')?;
    Some((index.parse().ok()?, count.parse().ok()?))
}

impl State {
    /// The messages a FIFO receive of up to `max` delivers, as SQS picks them: groups with
    /// no message in flight, oldest group first, as many of one group as possible, each
    /// group's messages in the order sent. Taken out of `ready`.
    fn fifo_pick(&mut self, max: usize, now: Instant) -> Vec<usize> {
        let in_flight = |m: &Stored| !m.deleted && m.in_flight_until.is_some_and(|u| u > now);
        let locked: HashSet<&str> = self
            .messages
            .iter()
            .filter(|m| in_flight(m))
            .filter_map(|m| m.group.as_deref())
            .collect();
        let available: Vec<usize> = (0..self.messages.len())
            .filter(|&i| {
                let m = &self.messages[i];
                !m.deleted
                    && m.in_flight_until.is_none()
                    && !m.group.as_deref().is_some_and(|g| locked.contains(g))
            })
            .collect();
        let mut picked = Vec::new();
        let mut groups_done: HashSet<&str> = HashSet::new();
        for &first in &available {
            if picked.len() >= max {
                break;
            }
            let group = self.messages[first].group.as_deref().unwrap_or("");
            if !groups_done.insert(group) {
                continue;
            }
            for &i in &available {
                if picked.len() >= max {
                    break;
                }
                if self.messages[i].group.as_deref().unwrap_or("") == group {
                    picked.push(i);
                }
            }
        }
        self.ready.retain(|i| !picked.contains(i));
        picked
    }

    /// Moves messages whose visibility deadline passed back to `ready`.
    fn expire(&mut self, now: Instant) {
        while let Some((&(until, index), ())) = self.hidden.first_key_value() {
            if until > now {
                break;
            }
            self.hidden.remove(&(until, index));
            self.messages[index].in_flight_until = None;
            self.ready.push_back(index);
        }
    }
}

impl QueueApi for MemoryQueue {
    fn queue_url(&self) -> &str {
        &self.shared.url
    }

    fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<Message>, Error> {
        let op = QueueOperation::Receive;
        self.begin(op)?;
        if !(1..=MAX_BATCH).contains(&max) {
            return Err(self.invalid(
                op,
                "InvalidParameterValue",
                format!("MaxNumberOfMessages {max}"),
            ));
        }
        if wait > Duration::from_secs(20) {
            return Err(self.invalid(
                op,
                "InvalidParameterValue",
                format!("WaitTimeSeconds {wait:?}"),
            ));
        }
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            state.expire(now);
            let picked = if self.shared.fifo {
                state.fifo_pick(max, now)
            } else {
                Vec::new()
            };
            let available = if self.shared.fifo {
                !picked.is_empty()
            } else {
                !state.ready.is_empty()
            };
            if available || now >= deadline {
                let mut picked = picked.into_iter();
                let mut out = Vec::new();
                while out.len() < max {
                    let next = if self.shared.fifo {
                        picked.next()
                    } else {
                        state.ready.pop_front()
                    };
                    let Some(index) = next else {
                        break;
                    };
                    let until = now + visibility_timeout;
                    let stored = &mut state.messages[index];
                    if stored.deleted {
                        continue;
                    }
                    stored.receive_count += 1;
                    stored.in_flight_until = Some(until);
                    let sent_ms = stored
                        .sent
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis();
                    let mut message = Message::new(
                        stored.id.clone(),
                        receipt(index, stored.receive_count),
                        stored.body.clone(),
                    )
                    .with_attribute("ApproximateReceiveCount", stored.receive_count.to_string())
                    .with_attribute("SentTimestamp", sent_ms.to_string());
                    if let (Some(group), Some(dedup)) = (&stored.group, &stored.dedup) {
                        message = message
                            .with_attribute("MessageGroupId", group.clone())
                            .with_attribute("MessageDeduplicationId", dedup.clone())
                            .with_attribute("SequenceNumber", format!("{:020}", index + 1));
                    }
                    out.push(message);
                    state.hidden.insert((until, index), ());
                }
                self.touched(state);
                return Ok(out);
            }
            let mut wake = deadline;
            if let Some((&(until, _), ())) = state.hidden.first_key_value() {
                wake = wake.min(until);
            }
            state.waiters += 1;
            state = self
                .shared
                .changed
                .wait_timeout(state, wake.saturating_duration_since(now))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.waiters -= 1;
        }
    }

    fn delete_batch(&self, entries: &[BatchEntry]) -> Result<BatchOutcome, Error> {
        self.batch(
            QueueOperation::DeleteBatch,
            entries,
            |state, index, current, _, _| {
                if !current {
                    // As SQS: a delete with an outdated receipt succeeds and deletes nothing.
                    return Ok(());
                }
                let stored = &mut state.messages[index];
                stored.deletes += 1;
                if !stored.deleted {
                    stored.deleted = true;
                    if let Some(until) = stored.in_flight_until.take() {
                        state.hidden.remove(&(until, index));
                    }
                    state.deleted += 1;
                }
                Ok(())
            },
        )
    }

    fn change_visibility_batch(&self, entries: &[BatchEntry]) -> Result<BatchOutcome, Error> {
        self.batch(
            QueueOperation::ChangeVisibilityBatch,
            entries,
            |state, index, current, entry, now| {
                let stored = &mut state.messages[index];
                if stored.deleted || !current {
                    return Err(("ReceiptHandleIsInvalid", true));
                }
                let until = match stored.in_flight_until {
                    Some(until) if until > now => until,
                    _ => return Err(("MessageNotInflight", true)),
                };
                let id = stored.id.clone();
                state.hidden.remove(&(until, index));
                if entry.visibility_timeout.is_zero() {
                    state.messages[index].in_flight_until = None;
                    state.ready.push_back(index);
                } else {
                    let until = now + entry.visibility_timeout;
                    state.messages[index].in_flight_until = Some(until);
                    state.hidden.insert((until, index), ());
                }
                state.changes.push(VisibilityChange {
                    message_id: id,
                    timeout: entry.visibility_timeout,
                    at: now,
                });
                Ok(())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(receipt: &str) -> BatchEntry {
        BatchEntry {
            id: "0".into(),
            receipt_handle: receipt.into(),
            visibility_timeout: Duration::ZERO,
        }
    }

    #[test]
    fn a_delete_with_an_outdated_receipt_succeeds_and_deletes_nothing() {
        let queue = MemoryQueue::new();
        let id = queue.send("x");
        let first = queue
            .receive(1, Duration::ZERO, Duration::from_millis(1))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let second = queue
            .receive(1, Duration::ZERO, Duration::from_secs(30))
            .unwrap();
        let outdated = queue
            .delete_batch(&[entry(first[0].receipt_handle())])
            .unwrap();
        assert_eq!(outdated.successful, ["0"], "{outdated:?}");
        assert_eq!((queue.deleted(), queue.deletes(&id)), (0, 0));
        for malformed in ["rh-9-1", "rh-0-7", "nonsense"] {
            let outcome = queue.delete_batch(&[entry(malformed)]).unwrap();
            assert_eq!(
                outcome.failed[0].code, "ReceiptHandleIsInvalid",
                "{malformed}"
            );
        }
        queue
            .delete_batch(&[entry(second[0].receipt_handle())])
            .unwrap();
        assert_eq!((queue.deleted(), queue.deletes(&id)), (1, 1));
    }
}
