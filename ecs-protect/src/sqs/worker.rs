//! A handler thread: takes the next message that may start, or receives for the free
//! capacity when none waits, and handles each message under a protector guard.
//!
//! Receiving on a handler thread (one receive at a time) keeps a message's way from the
//! queue to its handler free of hand-offs. The thread is detached: one left in a long poll
//! when `run` returns gives its messages back when the poll ends.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Message;
use super::retry::MAX_VISIBILITY;
use super::shared::{Held, Owing, STOP_POLL, Shared, State};
use crate::{Error, FailurePolicy};

/// Runs until stop (or until `run` returned).
pub(crate) fn work(shared: Arc<Shared>) {
    while let Some((key, message)) = next(&shared) {
        handle(&shared, key, &message);
    }
}

/// The next message to handle, receiving when nothing waits; `None` once stopping.
fn next(shared: &Shared) -> Option<(u64, Arc<Message>)> {
    let mut state = shared.lock();
    loop {
        if state.finished || shared.stopping(&mut state) {
            return None;
        }
        let now = Instant::now();
        if let Some(taken) = take(shared, &mut state, now) {
            state.busy += 1;
            return Some(taken);
        }
        if let Some(max) = may_receive(shared, &mut state, now) {
            drop(state);
            receive(shared, max);
            state = shared.lock();
            continue;
        }
        let fill = state
            .short_since
            .map(|since| since + shared.settings.batch_wait);
        let wake = state
            .paused_until
            .into_iter()
            .chain(fill)
            .map(|until| until.saturating_duration_since(now))
            .fold(STOP_POLL, Duration::min);
        state.idle += 1;
        state = shared.wait(&shared.work, state, wake);
        state.idle -= 1;
    }
}

/// Takes the first waiting message that may start: on a FIFO queue, the first of a group
/// with none running. A waiting message whose visibility ran out is dropped (SQS may have
/// given it to someone else).
fn take(shared: &Shared, state: &mut State, now: Instant) -> Option<(u64, Arc<Message>)> {
    let mut index = 0;
    while index < state.waiting.len() {
        let key = state.waiting[index];
        let Some(held) = state.held.get(&key) else {
            state.waiting.remove(index);
            continue;
        };
        if held.visible_until <= now {
            state.waiting.remove(index);
            if let Some(held) = state.held.remove(&key) {
                state.lose(
                    &held.message,
                    "its visibility timeout ran out before it started",
                );
                state.return_group(held.group.as_deref(), now);
            }
            continue;
        }
        if shared.fifo
            && let Some(group) = &held.group
        {
            if state.running_groups.contains(group) {
                index += 1;
                continue;
            }
            let group = group.clone();
            state.running_groups.insert(group);
        }
        state.waiting.remove(index);
        let held = state.held.get_mut(&key)?;
        held.running = true;
        return Some((key, held.message.clone()));
    }
    None
}

/// How many messages to receive now, if any: the free capacity (idle handlers, plus the
/// prefetch, less the messages waiting), while no other receive is in progress and
/// receiving is not paused. A receive that could not ask for a full batch waits up to
/// `batch_wait` for more handlers to free up (with a prefetch as large as the pool, not
/// once nothing waits and it can ask for half a batch).
fn may_receive(shared: &Shared, state: &mut State, now: Instant) -> Option<usize> {
    if state.receiving > 0 || state.paused_until.is_some_and(|until| until > now) {
        return None;
    }
    let settings = &shared.settings;
    let prefetch = if state.prefetch_paused_until.is_some_and(|until| until > now) {
        0
    } else {
        settings.prefetch
    };
    let capacity = settings.handlers + prefetch;
    let free = capacity.saturating_sub(state.busy + state.waiting.len());
    if free == 0 {
        state.short_since = None;
        return None;
    }
    let full = settings.batch_size.min(capacity);
    // With a prefetch as large as the pool, the next receive overlaps the last messages
    // running once none is left waiting, if it can ask for at least half a batch.
    let starving = prefetch >= settings.handlers && state.waiting.is_empty() && free * 2 >= full;
    if free < full && !starving {
        let since = *state.short_since.get_or_insert(now);
        if now < since + settings.batch_wait {
            return None;
        }
    }
    state.short_since = None;
    if shared.policy == FailurePolicy::Require
        && let Some(backoff) = shared.protector.retry_in()
    {
        log::info!(
            "sqs: pausing receives for {backoff:?}: the protector refuses protection meanwhile"
        );
        state.paused_until = Some(now + backoff);
        return None;
    }
    let max = free.min(settings.batch_size);
    state.receiving = max;
    Some(max)
}

/// How long receiving pauses after a short poll (`wait_time` zero) came back empty, so an
/// idle consumer does not poll in a loop.
pub(crate) const EMPTY_SHORT_POLL_PAUSE: Duration = Duration::from_secs(1);

fn receive(shared: &Shared, max: usize) {
    let settings = &shared.settings;
    let sent = Instant::now();
    let result = shared.call("receive_each", |queue| {
        queue.receive_each(max, settings.wait_time, settings.visibility_timeout)
    });
    match result {
        Ok(received) => {
            shared.lock().accepting = true;
            let mut messages = Vec::with_capacity(received.len());
            let mut malformed = Vec::new();
            for message in received {
                match message {
                    Ok(message) => messages.push(message),
                    Err(bad) => malformed.push(bad),
                }
            }
            for message in &messages {
                shared.hooks.message_received(message);
            }
            reject(shared, malformed, sent);
            accept(shared, messages, sent);
        }
        Err(err) => {
            shared.hooks.error("receive failed", &err);
            let mut state = shared.lock();
            state.receiving = 0;
            let now = Instant::now();
            if is_fatal(&err) || (settings.end_on_access_denied && is_access_denied(&err)) {
                log::error!("sqs: stopping the consumer: this receive error is permanent");
                state.fatal = Some(err);
                shared.begin_stop(&mut state, "a permanent receive error");
                return;
            }
            state.receive_failures = state.receive_failures.saturating_add(1);
            let factor = 1u32 << (state.receive_failures - 1).min(5);
            let backoff = settings.error_backoff * factor;
            if is_access_denied(&err) {
                log::error!(
                    "sqs: access to the queue is denied; receiving again in {backoff:?} (a \
                     policy may not be attached yet)"
                );
            }
            state.paused_until = Some(now + backoff);
            drop(state);
            shared.work.notify_all();
        }
    }
}

/// Reports each message that could not be decoded, and gives back (visible again after
/// `error_backoff`) those whose receipt handle decoded; the rest of the receive goes on.
fn reject(shared: &Shared, malformed: Vec<super::MalformedMessage>, sent: Instant) {
    if malformed.is_empty() {
        return;
    }
    let settings = &shared.settings;
    let count = malformed.len() as u64;
    let mut give_back = Vec::new();
    for bad in malformed {
        shared
            .hooks
            .error("a received message could not be decoded", &bad.error);
        if let Some(receipt) = bad.receipt_handle {
            let id = bad.message_id.unwrap_or_else(|| "(no id)".to_owned());
            give_back.push(Held::new(
                Arc::new(Message::new(id, receipt, "")),
                None,
                sent,
                settings,
            ));
        }
    }
    let mut state = shared.lock();
    state.summary.malformed += count;
    let now = Instant::now();
    for held in &give_back {
        state.owe(held, Owing::Return, settings.error_backoff, now);
    }
    drop(state);
    shared.upkeep.notify_all();
}

/// Takes received messages in, or gives them back when the consumer is stopping (or
/// `run` already returned: then this thread makes them visible again itself).
fn accept(shared: &Shared, messages: Vec<Message>, sent: Instant) {
    let settings = &shared.settings;
    let mut state = shared.lock();
    state.receiving = 0;
    state.accepting = false;
    state.receive_failures = 0;
    if messages.is_empty() {
        if settings.wait_time.is_zero() {
            // A short poll answers at once: pause, or an idle consumer polls in a loop.
            state.paused_until = Some(Instant::now() + EMPTY_SHORT_POLL_PAUSE);
        }
        return; // this thread receives again
    }
    state.summary.received += messages.len() as u64;
    let held: Vec<Held> = messages
        .into_iter()
        .map(|message| {
            let group = shared
                .fifo
                .then(|| message.attribute("MessageGroupId").unwrap_or("").to_owned());
            Held::new(Arc::new(message), group, sent, settings)
        })
        .collect();
    if state.finished {
        drop(state);
        give_back_now(shared, &held);
        return;
    }
    let now = Instant::now();
    if shared.stop_seen() {
        for message in &held {
            state.owe(message, Owing::Return, Duration::ZERO, now);
        }
        drop(state);
        shared.upkeep.notify_all();
        return;
    }
    // This thread takes one message; an idle thread for each other one, and one more to
    // receive meanwhile.
    let wake = held.len().min(state.idle);
    for message in held {
        state.take_in(message);
    }
    state.note_held();
    drop(state);
    for _ in 0..wake {
        shared.work.notify_one();
    }
}

/// Makes messages a receive returned after `run` ended visible again at once.
fn give_back_now(shared: &Shared, held: &[Held]) {
    let entries: Vec<_> = held
        .iter()
        .enumerate()
        .map(|(i, h)| super::BatchEntry {
            id: i.to_string(),
            receipt_handle: h.message.receipt_handle().to_owned(),
            visibility_timeout: Duration::ZERO,
        })
        .collect();
    match shared.call("change_visibility_batch", |queue| {
        queue.change_visibility_batch(&entries)
    }) {
        Ok(outcome) if outcome.failed.is_empty() => log::info!(
            "sqs: a receive that ended after the consumer stopped returned {} messages; made \
             visible again",
            entries.len()
        ),
        Ok(_) | Err(_) => log::warn!(
            "sqs: a receive that ended after the consumer stopped returned {} messages; they \
             come back when their visibility timeout ends",
            entries.len()
        ),
    }
}

fn handle(shared: &Shared, key: u64, message: &Arc<Message>) {
    let guard = shared
        .protector
        .acquire_with(shared.policy)
        .and_then(|guard| {
            // After SIGTERM ECS has decided to stop the task: a message not yet started goes
            // back to the queue, whatever the policy, rather than run unprotected.
            if !guard.is_protected() && shared.protector.is_shutting_down() {
                Err(Error::ShuttingDown)
            } else {
                Ok(guard)
            }
        });
    let guard = match guard {
        Ok(guard) => guard,
        Err(err) => return refused(shared, key, message, &err),
    };
    let outcome = match catch_unwind(AssertUnwindSafe(|| (shared.handler)(message))) {
        Ok(outcome) => outcome,
        Err(panic) => Err(panic_message(panic.as_ref()).into()),
    };
    drop(guard);
    let retry = match &outcome {
        Ok(()) => None,
        Err(err) => shared.retry.delay(message, err),
    };
    let now = Instant::now();
    let mut state = shared.lock();
    if let Some((held, redelivery)) = state.finish(key) {
        match (&outcome, redelivery) {
            // A redelivery held meanwhile has the newest receipt: it deletes the message,
            // or goes back in its place.
            (Ok(()), Some(newest)) => {
                state.summary.handled += 1;
                let due = now + shared.settings.delete_interval;
                state.owe(&newest, Owing::Delete, Duration::ZERO, due);
            }
            (Ok(()), None) => {
                state.summary.handled += 1;
                if !held.lost {
                    let due = now + shared.settings.delete_interval;
                    state.owe(&held, Owing::Delete, Duration::ZERO, due);
                }
            }
            (Err(_), Some(newest)) => {
                state.summary.failed += 1;
                state.owe(&newest, Owing::Return, retry.unwrap_or_default(), now);
                state.return_group(held.group.as_deref(), now);
            }
            (Err(_), None) => {
                state.summary.failed += 1;
                if let (Some(delay), false) = (retry, held.lost) {
                    state.owe(&held, Owing::Retry, delay, now);
                }
                state.return_group(held.group.as_deref(), now);
            }
        }
        let flush = state.deletes.len() >= shared.settings.delete_batch_size
            || state.deletes.len() == 1
            || !state.changes.is_empty();
        // This thread looks for work itself; others only for a FIFO group it unlocked.
        let unlocked = held.group.is_some() && !state.waiting.is_empty();
        drop(state);
        if flush {
            shared.upkeep.notify_all();
        }
        if unlocked {
            shared.work.notify_all();
        }
    } else {
        drop(state);
    }
    if shared.stop_seen() {
        shared.done.notify_all();
    }
    match outcome {
        Ok(()) => shared.hooks.message_processed(message),
        Err(err) => shared.hooks.processing_error(message, &err),
    }
}

/// The protector refused: the message goes back, hidden for the protector's remaining
/// back-off (so it is not received again before protection can be asked again), and
/// receiving pauses as long.
fn refused(shared: &Shared, key: u64, message: &Message, err: &Error) {
    // A refusal with no back-off to wait out (a protector that cannot work at all) still
    // waits `error_backoff`, so a message is never refused in a loop.
    let backoff = match err {
        Error::ShuttingDown => None,
        _ => Some(
            shared
                .protector
                .retry_in()
                .unwrap_or(shared.settings.error_backoff),
        ),
    };
    let timeout = backoff.unwrap_or(Duration::ZERO).min(MAX_VISIBILITY);
    let level = match err {
        Error::ShuttingDown => log::Level::Debug,
        _ => log::Level::Warn,
    };
    log::log!(
        level,
        "sqs: message {} not handled: task protection refused ({err}); returning it to the \
         queue, visible again in {timeout:?}",
        message.id()
    );
    let now = Instant::now();
    let mut state = shared.lock();
    if let Some(until) = backoff.map(|b| now + b) {
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }
    state.summary.refused += 1;
    if let Some((held, redelivery)) = state.finish(key) {
        match redelivery {
            Some(newest) => state.owe(&newest, Owing::Return, timeout, now),
            None if !held.lost => state.owe(&held, Owing::Return, timeout, now),
            None => {}
        }
        state.return_group(held.group.as_deref(), now);
    }
    if matches!(err, Error::ShuttingDown) {
        // ECS is stopping the task: receiving again would only hide messages from the
        // tasks that replace this one.
        shared.begin_stop(&mut state, "the protector is shutting down");
    }
    drop(state);
    shared.notify_all();
}

/// Whether a receive error means the consumer cannot work at all until someone fixes it
/// (access denied aside: that pauses, unless the consumer was told to end).
fn is_fatal(err: &Error) -> bool {
    matches!(err, Error::Config { .. })
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

/// Whether a receive error is a refusal of the caller: access denied, or credentials SQS
/// does not accept. Often temporary (a policy attached late, credentials rotated).
pub(crate) fn is_access_denied(err: &Error) -> bool {
    err.as_api().is_some_and(|api| {
        api.is_permanent()
            || matches!(
                api.code.as_str(),
                "AccessDenied" | "AccessDeniedException" | "KMS.AccessDeniedException"
            )
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    format!("handler panicked: {}", super::shared::panic_text(panic))
}
