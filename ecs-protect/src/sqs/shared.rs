//! What the threads of one [`Consumer::run`](super::Consumer::run) share: the messages held,
//! the queue calls owed, and the stop flag, under one mutex.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::consumer::{Consumer, Handler, Settings, StopCondition};
use super::events::{Hooks, Summary};
use super::retry::RetryDelay;
use super::{Message, QueueApi};
use crate::{Error, FailurePolicy, Protector};

/// How often idle threads look at the stop condition.
pub(crate) const STOP_POLL: Duration = Duration::from_millis(50);

/// One run's shared parts. Every thread holds an `Arc` of it, so a thread left behind in a
/// long poll after `run` returned still has what it needs to give its messages back.
pub(crate) struct Shared {
    pub(crate) queue: Arc<dyn QueueApi>,
    pub(crate) handler: Handler,
    pub(crate) hooks: Arc<Hooks>,
    pub(crate) protector: Protector,
    /// The policy each acquire uses (the consumer's, else the protector's).
    pub(crate) policy: FailurePolicy,
    stop: StopCondition,
    pub(crate) settings: Settings,
    pub(crate) retry: RetryDelay,
    /// The queue's URL, read once (for logs and errors).
    pub(crate) queue_url: String,
    /// Whether the queue is FIFO (its URL ends `.fifo`): one message per group at a time.
    pub(crate) fifo: bool,
    state: Mutex<State>,
    /// Wakes handler threads: a message arrived, capacity freed, a group unlocked.
    pub(crate) work: Condvar,
    /// Wakes the housekeeper: a queue call is owed.
    pub(crate) upkeep: Condvar,
    /// Wakes the heartbeat (which otherwise keeps its own time): the run ended.
    pub(crate) beat: Condvar,
    /// Wakes `run`: a handler finished, a call was settled.
    pub(crate) done: Condvar,
    stop_seen: AtomicBool,
}

/// The mutable part of a run.
#[derive(Default)]
pub(crate) struct State {
    next_key: u64,
    /// Received and not finished (waiting or running).
    pub(crate) held: HashMap<u64, Held>,
    /// Received, not started, in arrival order.
    pub(crate) waiting: VecDeque<u64>,
    /// FIFO groups with a message running.
    pub(crate) running_groups: HashSet<String>,
    /// Handler threads that took a message (waiting for protection or running it).
    pub(crate) busy: usize,
    /// Handler threads waiting for something to do.
    pub(crate) idle: usize,
    /// How many messages the receive in progress asked for (0: none in progress).
    pub(crate) receiving: usize,
    /// A receive answered and its messages are being taken in (hooks first): `run` waits
    /// for them, unlike for a receive still in the air.
    pub(crate) accepting: bool,
    /// No receive starts before this (receive errors, protection refused, an empty short
    /// poll).
    pub(crate) paused_until: Option<Instant>,
    /// Since when a receive could ask for some messages but fewer than a full batch: it
    /// waits up to `batch_wait` from then for more handlers to free up.
    pub(crate) short_since: Option<Instant>,
    /// Prefetching is suspended until then: prefetched messages waited too long unstarted.
    pub(crate) prefetch_paused_until: Option<Instant>,
    pub(crate) receive_failures: u32,
    pub(crate) deletes: VecDeque<Owed>,
    pub(crate) changes: VecDeque<Owed>,
    /// Delete or change calls taken out of the queues and not yet settled.
    pub(crate) calls_in_progress: usize,
    /// `run` has returned: nothing new is owed to the housekeeper.
    pub(crate) finished: bool,
    pub(crate) summary: Summary,
    pub(crate) fatal: Option<Error>,
}

/// One message held by the consumer.
pub(crate) struct Held {
    pub(crate) message: Arc<Message>,
    /// Its `MessageGroupId` on a FIFO queue.
    pub(crate) group: Option<String>,
    pub(crate) received: Instant,
    /// Until when SQS keeps it hidden, counted from before the call that set it.
    pub(crate) visible_until: Instant,
    /// When the heartbeat extends it next.
    pub(crate) next_extend: Instant,
    /// An extension of it is in the air.
    pub(crate) extending: bool,
    /// Past `max_processing_time`: no longer extended.
    pub(crate) overran: bool,
    /// Its receipt became invalid: lost to this consumer, never deleted by it.
    pub(crate) lost: bool,
    /// Its visibility ran out while held (logged once).
    pub(crate) lapsed: bool,
    pub(crate) running: bool,
    /// A running message: the key of its redelivery, held until this copy finishes.
    pub(crate) redelivery: Option<u64>,
    /// A redelivery of a running message (the key of the running copy): not started,
    /// extended, deleted or given back when the running copy finishes.
    pub(crate) behind: Option<u64>,
}

impl Held {
    /// A message just received (the receive was sent at `sent`), not started.
    pub(crate) fn new(
        message: Arc<Message>,
        group: Option<String>,
        sent: Instant,
        settings: &Settings,
    ) -> Held {
        Held {
            message,
            group,
            received: sent,
            visible_until: sent + settings.visibility_timeout,
            next_extend: sent + settings.heartbeat_after,
            extending: false,
            overran: false,
            lost: false,
            lapsed: false,
            running: false,
            redelivery: None,
            behind: None,
        }
    }
}

/// Why a queue call is owed for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owing {
    /// Handled: delete it.
    Delete,
    /// Not handled (stop, protection refused, its FIFO group failed): make it visible
    /// again after `timeout`.
    Return,
    /// Its handler failed: make it visible again after the retry delay.
    Retry,
}

/// A delete or visibility change still to be made.
pub(crate) struct Owed {
    pub(crate) message: Arc<Message>,
    pub(crate) owing: Owing,
    pub(crate) timeout: Duration,
    pub(crate) due: Instant,
    /// Past this the receipt may be in someone else's hands: retrying is pointless.
    pub(crate) visible_until: Instant,
    pub(crate) attempts: u32,
}

impl Shared {
    pub(crate) fn new(consumer: &Consumer) -> Shared {
        Shared {
            queue: consumer.queue.clone(),
            handler: consumer.handler.clone(),
            hooks: consumer.hooks.clone(),
            protector: consumer.protector.clone(),
            policy: consumer
                .policy
                .unwrap_or_else(|| consumer.protector.config().policy()),
            stop: consumer.stop.clone(),
            settings: consumer.settings,
            retry: consumer.retry.clone(),
            queue_url: consumer.queue.queue_url().to_owned(),
            fifo: consumer.queue.queue_url().ends_with(".fifo"),
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            upkeep: Condvar::new(),
            beat: Condvar::new(),
            done: Condvar::new(),
            stop_seen: AtomicBool::new(false),
        }
    }

    /// Makes one queue call; a panic inside it counts as a failed call (logged at `error`),
    /// so no consumer thread dies in a queue call and leaves its marks set.
    pub(crate) fn call<T>(
        &self,
        what: &str,
        call: impl FnOnce(&dyn QueueApi) -> Result<T, Error>,
    ) -> Result<T, Error> {
        catch_unwind(AssertUnwindSafe(|| call(&*self.queue))).unwrap_or_else(|panic| {
            let text = panic_text(panic.as_ref());
            log::error!(
                "sqs: QueueApi::{what} panicked on {}: {text}; counted as a failed call",
                self.queue_url
            );
            Err(Error::Transport {
                endpoint: self.queue_url.clone(),
                timed_out: false,
                source: format!("QueueApi::{what} panicked: {text}").into(),
            })
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Every hook and handler runs outside the lock, under `catch_unwind`.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn wait<'s>(
        &self,
        condvar: &Condvar,
        state: MutexGuard<'s, State>,
        timeout: Duration,
    ) -> MutexGuard<'s, State> {
        condvar
            .wait_timeout(state, timeout.max(Duration::from_millis(1)))
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    pub(crate) fn notify_all(&self) {
        self.work.notify_all();
        self.upkeep.notify_all();
        self.beat.notify_all();
        self.done.notify_all();
    }

    /// Whether stop was requested; the first thread to see it returns the waiting
    /// messages and wakes the others. A stop condition that panics counts as a stop.
    pub(crate) fn stopping(&self, state: &mut State) -> bool {
        if self.stop_seen.load(Ordering::Relaxed) {
            return true;
        }
        let stop = catch_unwind(AssertUnwindSafe(|| (self.stop)())).unwrap_or_else(|_| {
            log::error!("sqs: the stop condition panicked; stopping the consumer");
            true
        });
        if stop {
            self.begin_stop(state, "stop requested");
        }
        stop
    }

    pub(crate) fn stop_seen(&self) -> bool {
        self.stop_seen.load(Ordering::Relaxed)
    }

    /// Stops receiving and starting messages; the waiting ones go back to the queue.
    pub(crate) fn begin_stop(&self, state: &mut State, why: &str) {
        if self.stop_seen.swap(true, Ordering::SeqCst) {
            return;
        }
        log::info!("sqs: {why}: no new receive, returning the messages not yet started");
        let now = Instant::now();
        while let Some(key) = state.waiting.pop_front() {
            if let Some(held) = state.held.remove(&key) {
                state.owe(&held, Owing::Return, Duration::ZERO, now);
            }
        }
        self.notify_all();
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned())
}

impl State {
    pub(crate) fn next_key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    /// Adds an owed call for `held`'s message.
    pub(crate) fn owe(&mut self, held: &Held, owing: Owing, timeout: Duration, due: Instant) {
        let owed = Owed {
            message: held.message.clone(),
            owing,
            timeout,
            due,
            visible_until: held.visible_until,
            attempts: 0,
        };
        match owing {
            Owing::Delete => self.deletes.push_back(owed),
            Owing::Return | Owing::Retry => self.changes.push_back(owed),
        }
    }

    /// Ends a message a handler took: unlocks its group, frees the handler. Returns it, and
    /// its redelivery held meanwhile (which has the newest receipt).
    pub(crate) fn finish(&mut self, key: u64) -> Option<(Held, Option<Held>)> {
        self.busy -= 1;
        let held = self.held.remove(&key)?;
        if let Some(group) = &held.group {
            self.running_groups.remove(group);
        }
        let redelivery = held.redelivery.and_then(|k| self.held.remove(&k));
        Some((held, redelivery))
    }

    /// Takes a received message in: a redelivery of a message still running is held
    /// behind it (never started: it ends with the running copy), one of a message still
    /// waiting replaces it (its receipt is the newest); any other waits its turn.
    pub(crate) fn take_in(&mut self, mut held: Held) {
        let id = held.message.id();
        let same = self
            .held
            .iter()
            .find(|(_, h)| h.behind.is_none() && h.message.id() == id)
            .map(|(k, h)| (*k, h.running));
        let key = self.next_key();
        match same {
            Some((running_key, true)) => {
                log::warn!(
                    "sqs: message {id} came back while it is still running (past \
                     max_processing_time, or its visibility ran out); holding the redelivery \
                     until the running copy ends"
                );
                held.behind = Some(running_key);
                let previous = self
                    .held
                    .get_mut(&running_key)
                    .and_then(|r| r.redelivery.replace(key));
                if let Some(previous) = previous {
                    self.held.remove(&previous); // an older redelivery: its receipt is stale
                }
                self.held.insert(key, held);
            }
            Some((waiting_key, false)) => {
                log::debug!("sqs: message {id} came back while waiting; keeping the newest");
                self.held.insert(waiting_key, held);
            }
            None => {
                self.waiting.push_back(key);
                self.held.insert(key, held);
            }
        }
    }

    /// After a message of `group` failed, was refused or was lost, the group's messages
    /// received after it go back unrun, so that none overtakes it.
    pub(crate) fn return_group(&mut self, group: Option<&str>, now: Instant) {
        let Some(group) = group else { return };
        let keys: Vec<u64> = self
            .waiting
            .iter()
            .copied()
            .filter(|key| {
                self.held
                    .get(key)
                    .is_some_and(|h| h.group.as_deref() == Some(group))
            })
            .collect();
        for key in keys {
            self.waiting.retain(|k| *k != key);
            if let Some(held) = self.held.remove(&key) {
                log::debug!(
                    "sqs: message {} of FIFO group {group} goes back unrun: an earlier one did not succeed",
                    held.message.id()
                );
                self.owe(&held, Owing::Return, Duration::ZERO, now);
            }
        }
    }

    /// Counts a message lost to this consumer (its receipt became invalid, or its
    /// visibility ran out before it started) and logs why.
    pub(crate) fn lose(&mut self, message: &Message, why: &str) {
        self.summary.lost += 1;
        log::error!(
            "sqs: message {} is lost to this consumer ({why}); it will not be deleted by it \
             and SQS will deliver it again",
            message.id()
        );
    }

    /// Records the most messages held at once (received and not finished; a redelivery
    /// held behind its running copy is the same message).
    pub(crate) fn note_held(&mut self) {
        let held = self.held.values().filter(|h| h.behind.is_none()).count() as u64;
        if held > self.summary.max_held {
            self.summary.max_held = held;
        }
    }
}
