//! The housekeeper thread: deletes handled messages in batches and sends the visibility
//! changes owed (failed messages' retry delays, messages given back).
//!
//! A call that fails is tried again with back-off for as long as the message's visibility
//! lasts: until then its receipt is still good. A receipt SQS calls invalid is given up at
//! once (a delete's message is then lost to this consumer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shared::{Owed, Owing, STOP_POLL, Shared};
use super::{BatchEntry, BatchOutcome, MAX_BATCH};
use crate::{ApiError, Error};

/// The first wait before a failed delete or change is sent again; it doubles each time.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Runs until `run` returned and nothing is owed.
pub(crate) fn keep(shared: Arc<Shared>) {
    while let Some((changes, deletes)) = next(&shared) {
        if !changes.is_empty() {
            let entries = entries(&changes);
            let result = shared.call("change_visibility_batch", |queue| {
                queue.change_visibility_batch(&entries)
            });
            settle(&shared, "ChangeMessageVisibilityBatch", changes, result);
        }
        if !deletes.is_empty() {
            let entries = entries(&deletes);
            let result = shared.call("delete_batch", |queue| queue.delete_batch(&entries));
            settle(&shared, "DeleteMessageBatch", deletes, result);
        }
        shared.lock().calls_in_progress -= 1;
        shared.notify_all();
    }
}

/// Waits until a call is due and takes its entries out: changes as soon as they are due,
/// deletes when a batch is full, the oldest waited its interval (then with every other
/// fresh one, up to a batch), or the consumer stops.
fn next(shared: &Shared) -> Option<(Vec<Owed>, Vec<Owed>)> {
    let settings = &shared.settings;
    let mut state = shared.lock();
    loop {
        let now = Instant::now();
        let stopping = shared.stop_seen();
        let mut changes = Vec::new();
        take_due(&mut state.changes, &mut changes, MAX_BATCH, |o| {
            o.due <= now
        });
        let fresh = state.deletes.iter().filter(|o| o.attempts == 0).count();
        // Once the oldest waited its interval, the others ride along in its batch: a
        // stream costs one delete call per interval, not one per message.
        let oldest_due = state
            .deletes
            .iter()
            .any(|o| o.attempts == 0 && o.due <= now);
        let mut deletes = Vec::new();
        let batch = settings.delete_batch_size;
        take_due(&mut state.deletes, &mut deletes, batch, |o| {
            o.due <= now || (o.attempts == 0 && (stopping || fresh >= batch || oldest_due))
        });
        if !changes.is_empty() || !deletes.is_empty() {
            state.calls_in_progress += 1;
            return Some((changes, deletes));
        }
        if state.finished && state.deletes.is_empty() && state.changes.is_empty() {
            return None;
        }
        let wake = state
            .deletes
            .iter()
            .chain(&state.changes)
            .map(|o| o.due)
            .fold(now + STOP_POLL, Instant::min);
        state = shared.wait(&shared.upkeep, state, wake.saturating_duration_since(now));
    }
}

fn take_due(
    from: &mut std::collections::VecDeque<Owed>,
    into: &mut Vec<Owed>,
    max: usize,
    due: impl Fn(&Owed) -> bool,
) {
    let mut index = 0;
    while index < from.len() && into.len() < max {
        if due(&from[index]) {
            into.extend(from.remove(index));
        } else {
            index += 1;
        }
    }
}

/// The entries of a batch request, with ids unique within it (a delete ignores the
/// timeout).
fn entries(batch: &[Owed]) -> Vec<BatchEntry> {
    batch
        .iter()
        .enumerate()
        .map(|(i, o)| BatchEntry {
            id: i.to_string(),
            receipt_handle: o.message.receipt_handle().to_owned(),
            visibility_timeout: o.timeout,
        })
        .collect()
}

/// Counts what a call did; queues its failed entries again, or gives them up once the
/// visibility would have run out or the receipt is invalid.
fn settle(shared: &Shared, operation: &str, batch: Vec<Owed>, result: Result<BatchOutcome, Error>) {
    let hooks = &shared.hooks;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => {
            hooks.error(&format!("{operation} failed"), &err);
            BatchOutcome::default()
        }
    };
    let now = Instant::now();
    let mut state = shared.lock();
    let mut gave_up = Vec::new();
    for (i, mut owed) in batch.into_iter().enumerate() {
        let id = i.to_string();
        if outcome.successful.contains(&id) {
            match owed.owing {
                Owing::Delete => state.summary.deleted += 1,
                Owing::Return => state.summary.returned += 1,
                Owing::Retry => {}
            }
            continue;
        }
        let failure = outcome.failed.iter().find(|f| f.id == id);
        if let Some(failure) = failure {
            log::warn!(
                "sqs: {operation} of message {}: {failure}",
                owed.message.id()
            );
        }
        owed.attempts += 1;
        let backoff = FIRST_RETRY
            .saturating_mul(1 << (owed.attempts - 1).min(10))
            .min(MAX_RETRY);
        let retry_at = now + backoff;
        let invalid = failure.is_some_and(|f| f.sender_fault);
        if !invalid && retry_at < owed.visible_until {
            owed.due = retry_at;
            match owed.owing {
                Owing::Delete => state.deletes.push_back(owed),
                Owing::Return | Owing::Retry => state.changes.push_back(owed),
            }
            continue;
        }
        match (owed.owing, invalid) {
            (Owing::Delete, true) => state.lose(&owed.message, "its receipt is no longer valid"),
            (Owing::Delete, false) => log::error!(
                "sqs: giving up deleting message {} after {} attempts: its visibility runs out; \
                 it will be delivered again and handled a second time",
                owed.message.id(),
                owed.attempts
            ),
            (_, _) => log::warn!(
                "sqs: giving up changing the visibility of message {} after {} attempts: it \
                 comes back when its visibility timeout ends",
                owed.message.id(),
                owed.attempts
            ),
        }
        if let Some(failure) = failure {
            gave_up.push(Error::from(ApiError {
                operation: operation.to_owned(),
                endpoint: shared.queue_url.clone(),
                status: 200,
                code: failure.code.clone(),
                message: failure.message.clone(),
                request_id: None,
            }));
        }
    }
    drop(state);
    for err in gave_up {
        hooks.error(&format!("{operation} entry failed"), &err);
    }
}
