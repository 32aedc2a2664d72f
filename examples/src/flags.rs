//! [`Flags`]: the examples' command-line flags (`--name VALUE` and `--name`).

use std::str::FromStr;

/// The command line's flags, taken one by one; [`finish`](Self::finish) rejects the rest.
///
/// ```
/// use ecs_protect_examples::Flags;
///
/// let mut flags = Flags::new(["--threads", "8", "--queue"].map(String::from));
/// assert_eq!(flags.value("--threads", 4usize), Ok(8));
/// assert_eq!(flags.value("--messages", 300u64), Ok(300)); // not given: the default
/// assert!(flags.switch("--queue"));
/// assert_eq!(flags.finish("usage: demo"), Ok(()));
///
/// let mut flags = Flags::new(["--threads", "many"].map(String::from));
/// assert_eq!(
///     flags.value("--threads", 4usize),
///     Err("--threads takes a whole number, got \"many\"".to_string())
/// );
/// ```
#[derive(Debug)]
pub struct Flags {
    args: Vec<String>,
}

impl Flags {
    /// The flags given to this program.
    pub fn from_env() -> Flags {
        Flags::new(std::env::args().skip(1))
    }

    /// The flags in `args`.
    pub fn new(args: impl IntoIterator<Item = String>) -> Flags {
        Flags {
            args: args.into_iter().collect(),
        }
    }

    /// The value after `name` (the last one if given twice), or `default` when `name` is
    /// not given.
    ///
    /// # Errors
    ///
    /// `name` without a value, or a value that does not parse as a `T`.
    pub fn value<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        let mut found = None;
        while let Some(at) = self.args.iter().position(|arg| arg == name) {
            self.args.remove(at);
            if at >= self.args.len() {
                return Err(format!("{name} needs a value"));
            }
            found = Some(self.args.remove(at));
        }
        match found {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| format!("{name} takes a whole number, got {raw:?}")),
        }
    }

    /// Whether `name` was given.
    pub fn switch(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|arg| arg != name);
        self.args.len() != before
    }

    /// Ends parsing: `Err(usage)` for `--help`, an error naming the first flag not taken.
    ///
    /// # Errors
    ///
    /// `--help` or `-h` (the error is `usage`), or a flag nothing asked for.
    pub fn finish(self, usage: &str) -> Result<(), String> {
        match self.args.first() {
            None => Ok(()),
            Some(help) if help == "--help" || help == "-h" => Err(usage.to_owned()),
            Some(other) => Err(format!("unknown flag {other:?}\n{usage}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;

    fn flags(args: &[&str]) -> Flags {
        Flags::new(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn a_flag_without_its_value_is_named() {
        assert_eq!(
            flags(&["--messages"]).value("--messages", 1u64),
            Err("--messages needs a value".to_string())
        );
    }

    #[test]
    fn the_last_value_given_wins() {
        let mut given = flags(&["--threads", "2", "--threads", "3"]);
        assert_eq!(given.value("--threads", 1usize), Ok(3));
        assert_eq!(given.finish("usage"), Ok(()));
    }

    #[test]
    fn a_flag_nothing_asked_for_is_an_error_with_the_usage() {
        let mut given = flags(&["--queue", "--fast"]);
        assert!(given.switch("--queue"));
        assert_eq!(
            given.finish("usage: demo"),
            Err("unknown flag \"--fast\"\nusage: demo".to_string())
        );
    }

    #[test]
    fn help_answers_the_usage() {
        assert_eq!(
            flags(&["--help"]).finish("usage: demo"),
            Err("usage: demo".to_string())
        );
        assert_eq!(
            flags(&["-h"]).finish("usage: demo"),
            Err("usage: demo".to_string())
        );
    }

    #[test]
    fn a_switch_not_given_is_off() {
        let mut given = flags(&[]);
        assert!(!given.switch("--queue"));
        assert_eq!(given.value("--messages", 300u64), Ok(300));
    }
}
