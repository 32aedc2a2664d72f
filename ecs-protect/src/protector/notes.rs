//! Log and metric lines decided under the protector's lock and written after it is
//! released, so that a blocked stdout or a slow logger never stalls acquirers or the worker.

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

/// Writes `notes` in order: logs through `log`, metrics through `emf` (when enabled).
pub(crate) fn write(notes: Vec<Note>, emf: Option<&Emf>, backend: &str) {
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
