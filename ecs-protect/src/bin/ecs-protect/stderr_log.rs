//! A `log` logger writing one line per record to stderr, at the level `ECS_PROTECT_LOG`
//! names (default `info`): the command's own messages and the library's.

use log::{LevelFilter, Log, Metadata, Record};

/// The variable that sets the level.
pub(crate) const VAR: &str = "ECS_PROTECT_LOG";

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        // The HTTP client's own targets log the raw wire at trace (secrets included): only
        // this crate's records are written.
        if self.enabled(record.metadata()) && record.target().starts_with("ecs_protect") {
            let level = record.level().as_str().to_ascii_lowercase();
            let text = record.args().to_string();
            let text = text.strip_prefix("ecs-protect: ").unwrap_or(&text);
            eprintln!("ecs-protect: {level}: {text}");
        }
    }

    fn flush(&self) {}
}

/// Installs the logger; an unknown level is reported and `info` used.
pub(crate) fn install() {
    let raw = std::env::var(VAR).ok().filter(|v| !v.trim().is_empty());
    let level = match raw.as_deref().map(str::parse::<LevelFilter>) {
        None => LevelFilter::Info,
        Some(Ok(level)) => level,
        Some(Err(_)) => {
            eprintln!(
                "ecs-protect: warn: invalid {VAR}: expected off, error, warn, info, debug or \
                 trace, got {:?}; using info",
                raw.unwrap_or_default()
            );
            LevelFilter::Info
        }
    };
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}
