//! The heartbeat thread: keeps every held message hidden while it waits or runs.
//!
//! It has this one job, so a slow delete never delays an extension. An extension counts
//! only once SQS confirmed it (from the moment it was sent); a failed one is tried again
//! after half the visibility left, at most a second later and never sooner than
//! `error_backoff` (default 1 s): an outage costs about one call a second, not a storm. A
//! message whose visibility ran out is marked lapsed and logged once. A receipt SQS calls
//! invalid means the message is lost to this consumer: it is not started, and not deleted
//! later.
//!
//! It also gives back prefetched messages that waited unstarted longer than
//! `prefetch_max_wait`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::retry::MAX_VISIBILITY;
use super::shared::{Owing, STOP_POLL, Shared, State};
use super::{BatchEntry, BatchOutcome, MAX_BATCH};
use crate::Error;

/// The longest wait before a failed extension is tried again.
const RETRY_WITHIN: Duration = Duration::from_secs(1);

/// Runs until `run` returned.
pub(crate) fn beat(shared: Arc<Shared>) {
    while let Some(due) = next(&shared) {
        let sent = Instant::now();
        let entries: Vec<BatchEntry> = due
            .iter()
            .enumerate()
            .map(|(i, (_, receipt, timeout))| BatchEntry {
                id: i.to_string(),
                receipt_handle: receipt.clone(),
                visibility_timeout: *timeout,
            })
            .collect();
        let result = shared.call("change_visibility_batch", |queue| {
            queue.change_visibility_batch(&entries)
        });
        if let Err(err) = &result {
            shared
                .hooks
                .error("extending visibility timeouts failed", err);
        }
        settle(&shared, &due, result, sent);
    }
}

/// The key, receipt handle and new timeout of each message to extend now.
type Due = Vec<(u64, String, Duration)>;

fn next(shared: &Shared) -> Option<Due> {
    let settings = &shared.settings;
    let mut state = shared.lock();
    loop {
        if state.finished {
            return None;
        }
        let now = Instant::now();
        if give_back_unstarted(shared, &mut state, now) {
            shared.upkeep.notify_all();
        }
        let mut wake = now + STOP_POLL;
        let mut due = Vec::new();
        for (key, held) in &mut state.held {
            // A copy with a redelivery held behind it has a stale receipt: the redelivery
            // is extended instead.
            if held.extending || held.lost || held.overran || held.redelivery.is_some() {
                continue;
            }
            if held.next_extend > now {
                wake = wake.min(held.next_extend);
                continue;
            }
            let age = now.saturating_duration_since(held.received);
            if age >= settings.max_processing_time {
                held.overran = true;
                log::error!(
                    "sqs: message {} has been held for {age:?}, past max_processing_time \
                     ({:?}); its visibility is no longer extended and SQS will deliver it again \
                     when it runs out",
                    held.message.id(),
                    settings.max_processing_time
                );
                continue;
            }
            if due.len() == MAX_BATCH {
                wake = now;
                continue;
            }
            let timeout = settings
                .visibility_timeout
                .min(MAX_VISIBILITY.saturating_sub(age));
            held.extending = true;
            due.push((*key, held.message.receipt_handle().to_owned(), timeout));
        }
        if !due.is_empty() {
            return Some(due);
        }
        state = shared.wait(&shared.beat, state, wake.saturating_duration_since(now));
    }
}

fn settle(shared: &Shared, due: &Due, result: Result<BatchOutcome, Error>, sent: Instant) {
    let settings = &shared.settings;
    let outcome = result.unwrap_or_default();
    let now = Instant::now();
    let mut state = shared.lock();
    // A message whose handler finished meanwhile was extended all the same.
    state.summary.extended += outcome.successful.len() as u64;
    for (i, (key, _, timeout)) in due.iter().enumerate() {
        let id = i.to_string();
        let Some(held) = state.held.get_mut(key) else {
            continue; // finished meanwhile
        };
        held.extending = false;
        if outcome.successful.contains(&id) {
            held.visible_until = sent + *timeout;
            held.next_extend = sent + settings.heartbeat_after;
            log::debug!(
                "sqs: extended the visibility of message {}",
                held.message.id()
            );
            continue;
        }
        let failure = outcome.failed.iter().find(|f| f.id == id);
        if let Some(failure) = failure {
            log::warn!(
                "sqs: extending the visibility of message {}: {failure}",
                held.message.id()
            );
            if failure.code == "ReceiptHandleIsInvalid" || failure.code == "MessageNotInflight" {
                lose(&mut state, *key, &failure.code, now);
                continue;
            }
        }
        // Try again after half the time left, at most a second later and never sooner
        // than `error_backoff`: an outage costs about a call a second, not a storm.
        let left = held.visible_until.saturating_duration_since(now);
        let floor = settings.error_backoff.min(RETRY_WITHIN);
        held.next_extend = now + (left / 2).clamp(floor, RETRY_WITHIN);
        if left.is_zero() && !held.lapsed {
            held.lapsed = true;
            let id = held.message.id().to_owned();
            state.summary.lapsed += 1;
            log::error!(
                "sqs: the visibility of message {id} ran out (its extensions failed): SQS may \
                 deliver it again while it is held; still trying to extend it"
            );
        }
    }
    drop(state);
    shared.work.notify_all();
}

/// A message whose receipt SQS no longer accepts: a waiting one is dropped (with its FIFO
/// group's later messages), a running one finishes but is not deleted.
fn lose(state: &mut State, key: u64, code: &str, now: Instant) {
    let Some(held) = state.held.get_mut(&key) else {
        return;
    };
    held.lost = true;
    let message = held.message.clone();
    let running = held.running;
    let behind = held.behind;
    state.lose(&message, &format!("SQS answered {code} to a heartbeat"));
    if let Some(running_key) = behind {
        // A redelivery held behind its running copy: dropped; the copy ends as it would.
        state.held.remove(&key);
        if let Some(running) = state.held.get_mut(&running_key) {
            running.redelivery = None;
        }
        return;
    }
    if !running {
        state.waiting.retain(|k| *k != key);
        if let Some(held) = state.held.remove(&key) {
            state.return_group(held.group.as_deref(), now);
        }
    }
}

/// With a prefetch: gives back at once (visible) the messages that waited unstarted longer
/// than `prefetch_max_wait` (with their FIFO group's later ones), and suspends prefetching
/// as long, so that they are not taken again at once. Returns whether any went back.
fn give_back_unstarted(shared: &Shared, state: &mut State, now: Instant) -> bool {
    let settings = &shared.settings;
    if settings.prefetch == 0 {
        return false;
    }
    let overdue: Vec<u64> = state
        .waiting
        .iter()
        .copied()
        .filter(|key| {
            state.held.get(key).is_some_and(|h| {
                now.saturating_duration_since(h.received) >= settings.prefetch_max_wait
            })
        })
        .collect();
    for key in &overdue {
        state.waiting.retain(|k| k != key);
        if let Some(held) = state.held.remove(key) {
            log::info!(
                "sqs: message {} waited unstarted for prefetch_max_wait ({:?}); giving it back",
                held.message.id(),
                settings.prefetch_max_wait
            );
            state.owe(&held, Owing::Return, Duration::ZERO, now);
            state.return_group(held.group.as_deref(), now);
        }
    }
    if overdue.is_empty() {
        return false;
    }
    state.prefetch_paused_until = Some(now + settings.prefetch_max_wait);
    true
}
