//! Waiting on a fake's recorded state: one loop for every `wait_until`.

use std::sync::{Condvar, MutexGuard};
use std::time::Instant;

/// Waits on `changed` until `condition` holds over the state `guard` protects, or
/// `deadline` passes; returns whether it held. `changed` must be notified after every
/// change to that state. A poisoned lock is taken over: a test that panicked while holding
/// it must not hide later assertions.
pub(crate) fn until<T>(
    changed: &Condvar,
    mut guard: MutexGuard<'_, T>,
    deadline: Instant,
    mut condition: impl FnMut(&T) -> bool,
) -> bool {
    loop {
        if condition(&guard) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        guard = changed
            .wait_timeout(guard, left)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0;
    }
}
