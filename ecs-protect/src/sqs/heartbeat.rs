//! The heartbeat thread: keeps every held message hidden while it waits or runs.
//!
//! It has this one job, so a slow delete never delays an extension. An extension counts
//! only once SQS confirmed it (from the moment it was sent); a failed one is tried again
//! within about a second while the visibility lasts. A receipt SQS calls invalid means
//! the message is lost to this consumer: it is not started, and not deleted later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::retry::MAX_VISIBILITY;
use super::shared::{STOP_POLL, Shared, State};
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
        let result = shared.queue.change_visibility_batch(&entries);
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
        let mut wake = now + STOP_POLL;
        let mut due = Vec::new();
        for (key, held) in &mut state.held {
            if held.extending || held.lost || held.overran {
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
        // Try again soon, while the visibility lasts.
        let left = held.visible_until.saturating_duration_since(now);
        if left.is_zero() {
            log::error!(
                "sqs: the visibility of message {} ran out: SQS may deliver it again while it \
                 is held",
                held.message.id()
            );
        }
        held.next_extend = now + (left / 4).clamp(Duration::from_millis(10), RETRY_WITHIN);
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
    state.lose(&message, &format!("SQS answered {code} to a heartbeat"));
    if !running {
        state.waiting.retain(|k| *k != key);
        if let Some(held) = state.held.remove(&key) {
            state.return_group(held.group.as_deref(), now);
        }
    }
}
