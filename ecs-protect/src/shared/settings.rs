//! The settings every process of the task must share: recorded in the shared directory by
//! the first process, checked by every process that joins while one is still there.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use crate::Config;
use crate::config::Readable;

/// Recorded in the shared directory; every live process holds a shared lock on it.
pub(crate) const SETTINGS_FILE: &str = "ecs-protect.settings";

/// The settings the shared coordination follows, each with its variable: processes that
/// judge breathing windows and the hard cap differently would disagree on when protection
/// may come off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    values: [(&'static str, Duration); 4],
}

impl Settings {
    pub(crate) fn of(config: &Config) -> Self {
        Settings {
            values: [
                ("ECS_PROTECT_MAX_HOLD", config.max_hold()),
                ("ECS_PROTECT_HOLD_GRACE", config.hold_grace()),
                ("ECS_PROTECT_WINDOW", config.window()),
                ("ECS_PROTECT_HARD_CAP", config.hard_cap()),
            ],
        }
    }

    /// One line: `NAME=milliseconds` for each setting.
    fn format(&self) -> String {
        let mut line = self
            .values
            .iter()
            .map(|(name, value)| format!("{name}={}", value.as_millis()))
            .collect::<Vec<_>>()
            .join(" ");
        line.push('\n');
        line
    }

    /// What differs between these settings and the `recorded` line, one phrase per setting
    /// (empty when they agree). A setting the line lacks or cannot be read counts as
    /// differing.
    fn differences(&self, recorded: &str) -> Vec<(&'static str, String)> {
        let theirs = |name: &str| {
            recorded.split_whitespace().find_map(|pair| {
                let (key, ms) = pair.split_once('=')?;
                (key == name).then(|| ms.parse::<u64>().ok().map(Duration::from_millis))?
            })
        };
        self.values
            .iter()
            .filter_map(|&(name, ours)| match theirs(name) {
                Some(other) if other == ours => None,
                Some(other) => Some((
                    name,
                    format!(
                        "{name} is {} here but {} there",
                        Readable(ours),
                        Readable(other)
                    ),
                )),
                None => Some((
                    name,
                    format!("{name} is {} here, unknown there", Readable(ours)),
                )),
            })
            .collect()
    }
}

/// Under the state file's lock: records `ours` when no other process is there (the
/// exclusive lock on `file` is free), else checks it against what was recorded; then takes
/// the shared lock that says "a process is here" for as long as `file` stays open.
///
/// # Errors
///
/// The variables that differ, with both values, as `Err((names, message))`; or an I/O
/// problem as `Err(("", message))`.
pub(crate) fn join(file: &File, ours: &Settings) -> Result<(), (String, String)> {
    let io = |what: &str, err: std::io::Error| (String::new(), format!("{what}: {err}"));
    match file.try_lock() {
        Ok(()) => {
            let line = ours.format();
            let mut f = file;
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.write_all(line.as_bytes()))
                .and_then(|()| f.set_len(line.len() as u64))
                .map_err(|err| io("cannot write the settings file", err))?;
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut recorded = String::new();
            let mut f = file;
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.read_to_string(&mut recorded))
                .map_err(|err| io("cannot read the settings file", err))?;
            let differences = ours.differences(&recorded);
            if !differences.is_empty() {
                let names: Vec<&str> = differences.iter().map(|(name, _)| *name).collect();
                let phrases: Vec<String> = differences.into_iter().map(|(_, p)| p).collect();
                return Err((
                    names.join(", "),
                    format!(
                        "this process's settings differ from those of the task's other processes \
                         sharing the directory ({}): give every process of the task the same \
                         values",
                        phrases.join("; ")
                    ),
                ));
            }
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(io("cannot lock the settings file", err));
        }
    }
    // Converts an exclusive lock, or joins the others' shared locks. The caller holds the
    // state file's lock, so no other process checks in between.
    file.lock_shared()
        .map_err(|err| io("cannot lock the settings file", err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_variable_with_both_values() {
        let ours = Settings::of(&Config::default());
        assert!(ours.differences(&ours.format()).is_empty());
        let other = Config::builder()
            .max_hold(Duration::from_secs(60))
            .window(Duration::from_secs(3))
            .build()
            .unwrap();
        let found = ours.differences(&Settings::of(&other).format());
        let names: Vec<&str> = found.iter().map(|(n, _)| *n).collect();
        // The hard cap follows the max hold unless set.
        assert_eq!(
            names,
            [
                "ECS_PROTECT_MAX_HOLD",
                "ECS_PROTECT_WINDOW",
                "ECS_PROTECT_HARD_CAP"
            ]
        );
        assert!(found[0].1.contains("15m here but 1m there"), "{found:?}");
        let unknown = ours.differences("garbage");
        assert_eq!(unknown.len(), 4, "{unknown:?}");
    }
}
