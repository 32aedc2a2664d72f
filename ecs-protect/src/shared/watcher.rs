//! The idle-survivor check: a process killed mid-work leaves protection on with nobody
//! needing it; any idle process that finds the exclusive lock free disables it.

use super::{Core, lock};
use std::sync::Arc;

/// Starts the check on its own thread; it ends when the [`SharedBackend`](super::SharedBackend)
/// is dropped.
pub(super) fn start(core: Arc<Core>) {
    let spawned = std::thread::Builder::new()
        .name("ecs-protect-shared".into())
        .spawn(move || run(&core));
    if let Err(err) = spawned {
        log::error!(
            "could not start the ecs-protect shared-directory thread: {err}; protection left \
             on by a process that died is released only by the next process that finishes \
             work, or by its expiry"
        );
    }
}

fn run(core: &Core) {
    loop {
        {
            let ends = lock(&core.ends);
            let (ends, _) = core
                .ended
                .wait_timeout_while(ends, core.timing.poll, |e| !e.stopped)
                .unwrap_or_else(|e| e.into_inner());
            if ends.stopped {
                return;
            }
        }
        tick(core);
    }
}

/// One check: releases this process's need when its protector let protection lapse, or,
/// when this process is idle, disables protection that no process needs.
pub(super) fn tick(core: &Core) {
    // A call in progress in this process takes care of itself.
    let Ok(mut local) = core.local.try_lock() else {
        return;
    };
    if local.holding {
        if local.expires.is_some_and(|e| core.dir.now() >= e) {
            // The protector let protection lapse (its renewals failed) and will not
            // release it: stop holding it up for the other processes.
            core.dir.release_need();
            local.holding = false;
            local.expires = None;
        }
        return;
    }
    // `local` stays locked: this process does not start a call meanwhile.
    if let Err(err) = core.disable_if_sole(false).and_then(Option::transpose) {
        log::warn!("could not remove task protection that no process of the task needs: {err}");
    }
}
