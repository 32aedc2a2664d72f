//! Log and metric lines decided under the protector's lock and written after it is
//! released, so that a blocked stdout or a slow logger never stalls acquirers or the worker.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::emf::{Emf, Event};

/// One line to write once the lock is released.
#[derive(Debug)]
pub(crate) enum Note {
    /// A `log` record.
    Log(log::Level, String),
    /// An EMF line: the event, whether protection is on, units in flight, call latency.
    Metric {
        event: Event,
        protected: bool,
        in_flight: usize,
        latency: Option<Duration>,
    },
}

/// Lines waiting to be written, in the order they were noted (under the protector's lock),
/// and the right to write them. Whoever releases the lock with lines pending writes the
/// queue unless another thread is writing it already (that one then writes them too), so
/// lines keep their order and only the writing thread waits for a slow log.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: Mutex<Vec<Note>>,
    writer: Mutex<()>,
}

impl Outbox {
    /// Queues `notes`; called with the protector's lock held, so the queue keeps its order.
    pub(crate) fn push(&self, notes: Vec<Note>) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(notes);
    }

    /// Writes the queue, unless another thread is doing so; called without the
    /// protector's lock.
    pub(crate) fn flush(&self, emf: Option<&Emf>, backend: &str) {
        loop {
            let Ok(writing) = self.writer.try_lock() else {
                return;
            };
            loop {
                let batch =
                    std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
                if batch.is_empty() {
                    break;
                }
                write(batch, emf, backend);
            }
            drop(writing);
            // A line queued while we wrote, by a thread that found us writing: ours to write.
            if self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return;
            }
        }
    }
}

/// Writes `notes` in order: logs through `log`, metrics through `emf` (when enabled).
fn write(notes: Vec<Note>, emf: Option<&Emf>, backend: &str) {
    for note in notes {
        match note {
            Note::Log(level, message) => log::log!(level, "{message}"),
            Note::Metric {
                event,
                protected,
                in_flight,
                latency,
            } => {
                if let Some(emf) = emf {
                    emf.emit(event, backend, protected, in_flight, latency);
                }
            }
        }
    }
}
