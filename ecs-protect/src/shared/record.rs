//! The state file's record: what ECS last confirmed for the task, as every process of the
//! task sees it. One line of text, written and read under the state file's lock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What ECS last confirmed, with the instants the processes agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// Protection is off. `window_until`: a breathing window is open until then, and no
    /// process enables before it ends.
    Off { window_until: Option<SystemTime> },
    /// Protection is on since `since` (the start of the current stretch, from which every
    /// process derives its breathing windows) until ECS clears it at `expires`; the call
    /// that set that expiry began at `renewed`.
    On {
        since: SystemTime,
        renewed: SystemTime,
        expires: SystemTime,
    },
    /// A disable failed (or the record could not be read): protection may be on until
    /// `expires` (`None`: unknown). An idle process tries to disable it again from
    /// `retry_at` on.
    MaybeOn {
        expires: Option<SystemTime>,
        retry_at: SystemTime,
    },
}

impl Record {
    /// Reads a record. Anything else, an empty file included (the state file is created
    /// holding "off", so an empty one was cut by something else), counts as "maybe on,
    /// retry now", so that an idle process disables it.
    pub(crate) fn parse(text: &str) -> Record {
        let mut words = text.split_whitespace();
        let parsed = match words.next() {
            None => None,
            Some("off") => optional(words.next()).map(|window_until| Record::Off { window_until }),
            Some("on") => match (time(words.next()), time(words.next()), time(words.next())) {
                (Some(since), Some(renewed), Some(expires)) => Some(Record::On {
                    since,
                    renewed,
                    expires,
                }),
                _ => None,
            },
            Some("maybe-on") => match (optional(words.next()), time(words.next())) {
                (Some(expires), Some(retry_at)) => Some(Record::MaybeOn { expires, retry_at }),
                _ => None,
            },
            Some(_) => None,
        };
        match (parsed, words.next()) {
            (Some(record), None) => record,
            _ => Record::MaybeOn {
                expires: None,
                retry_at: UNIX_EPOCH,
            },
        }
    }

    /// The record as one line: `on <since> <renewed> <expires>`, `off <window_until|->`,
    /// `maybe-on <expires|-> <retry_at>`, instants in milliseconds since the Unix epoch.
    pub(crate) fn format(&self) -> String {
        match *self {
            // The window's end rounds up, so that it is never cut short.
            Record::Off { window_until } => format!(
                "off {}\n",
                opt_millis(window_until.map(|at| at + Duration::from_nanos(999_999)))
            ),
            Record::On {
                since,
                renewed,
                expires,
            } => format!(
                "on {} {} {}\n",
                millis(since),
                millis(renewed),
                millis(expires)
            ),
            Record::MaybeOn { expires, retry_at } => {
                format!("maybe-on {} {}\n", opt_millis(expires), millis(retry_at))
            }
        }
    }
}

fn millis(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn opt_millis(at: Option<SystemTime>) -> String {
    at.map_or_else(|| "-".to_owned(), |at| millis(at).to_string())
}

fn time(word: Option<&str>) -> Option<SystemTime> {
    let ms: u64 = word?.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// `-` is `Some(None)`; a malformed word is `None`.
fn optional(word: Option<&str>) -> Option<Option<SystemTime>> {
    match word {
        Some("-") => Some(None),
        other => time(other).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn every_record_reads_back_as_written() {
        for record in [
            Record::Off { window_until: None },
            Record::Off {
                window_until: Some(at(1_700_000_000_123)),
            },
            Record::Off {
                window_until: Some(at(1)),
            },
            Record::On {
                since: at(1_700_000_000_000),
                renewed: at(1_700_000_060_000),
                expires: at(1_700_007_260_000),
            },
            Record::MaybeOn {
                expires: None,
                retry_at: at(5),
            },
            Record::MaybeOn {
                expires: Some(at(9)),
                retry_at: at(5),
            },
        ] {
            assert_eq!(
                Record::parse(&record.format()),
                record,
                "{}",
                record.format()
            );
        }
    }

    #[test]
    fn an_empty_file_and_garbage_are_maybe_on_to_retry_now() {
        let cut = Record::Off {
            window_until: Some(at(7) + Duration::from_micros(1)),
        };
        assert_eq!(
            Record::parse(&cut.format()),
            Record::Off {
                window_until: Some(at(8))
            },
            "a window's end is rounded up"
        );
        let retry_now = Record::MaybeOn {
            expires: None,
            retry_at: UNIX_EPOCH,
        };
        // A new line written over a longer old one, cut short of its length by a crash.
        let long = Record::On {
            since: at(1_700_000_000_000),
            renewed: at(1_700_000_060_000),
            expires: at(1_700_007_260_000),
        }
        .format();
        let short = Record::Off { window_until: None }.format();
        let over = format!("{short}{}", &long[short.len()..]);
        for torn in [
            "",
            " \n",
            over.as_str(),
            "on 12",
            "on",
            "off 1 2",
            "maybe-on -",
            "of",
            "on x 2 3",
            "\0\0",
        ] {
            assert_eq!(Record::parse(torn), retry_now, "{torn:?}");
        }
    }
}
