//! The command line: `run [--required] [--] CMD ARGS...`, `check [--json] [--queue URL]`,
//! `--help`, `--version`.

use std::ffi::OsString;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Help,
    Version,
    Run(Run),
    Check(Check),
}

/// `ecs-protect check`'s arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Check {
    /// Print JSON instead of text.
    pub(crate) json: bool,
    /// The queue to check (`--queue URL`); else `QUEUE_URL` is read.
    pub(crate) queue: Option<String>,
}

/// `ecs-protect run`'s arguments.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// Refuse to start the program when protection cannot be had.
    pub(crate) required: bool,
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
}

/// Reads the arguments after the command's own name.
///
/// # Errors
///
/// A message naming what is wrong.
pub(crate) fn parse(argv: Vec<OsString>) -> Result<Command, String> {
    let mut argv = argv.into_iter();
    let Some(first) = argv.next() else {
        return Err("missing a subcommand".into());
    };
    match first.to_str() {
        Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("-V" | "--version") => return Ok(Command::Version),
        Some("run") => {}
        Some("check") => return parse_check(argv),
        _ => {
            return Err(format!(
                "unknown subcommand {first:?} (expected run or check)"
            ));
        }
    }
    let mut required = false;
    let mut rest: Vec<OsString> = argv.collect();
    let mut taken = 0;
    for arg in &rest {
        match arg.to_str() {
            Some("--required") => required = true,
            Some("-h" | "--help") => return Ok(Command::Help),
            Some("--") => {
                taken += 1;
                break;
            }
            Some(option) if option.starts_with('-') => {
                return Err(format!(
                    "unknown option {option:?} for run (expected --required or --)"
                ));
            }
            _ => break,
        }
        taken += 1;
    }
    let mut command = rest.drain(taken..);
    let Some(program) = command.next() else {
        return Err("run needs a program to run: ecs-protect run -- CMD [ARGS...]".into());
    };
    Ok(Command::Run(Run {
        required,
        program,
        args: command.collect(),
    }))
}

/// `check [--json] [--queue URL]` (also `--queue=URL`).
fn parse_check(argv: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let mut check = Check::default();
    let mut argv = argv;
    while let Some(arg) = argv.next() {
        let Some(text) = arg.to_str() else {
            return Err(format!("unknown argument {arg:?} for check"));
        };
        match text {
            "--json" => check.json = true,
            "-h" | "--help" => return Ok(Command::Help),
            "--queue" => match argv.next().and_then(|url| url.into_string().ok()) {
                Some(url) if !url.trim().is_empty() => check.queue = Some(url),
                _ => return Err("--queue needs a queue URL: --queue URL".into()),
            },
            other => match other.strip_prefix("--queue=") {
                Some(url) if !url.trim().is_empty() => check.queue = Some(url.to_owned()),
                Some(_) => return Err("--queue needs a queue URL: --queue URL".into()),
                None => {
                    return Err(format!(
                        "unknown argument {other:?} for check (expected --json or --queue URL)"
                    ));
                }
            },
        }
    }
    Ok(Command::Check(check))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from).collect())
    }

    fn run(required: bool, program: &str, args: &[&str]) -> Command {
        Command::Run(Run {
            required,
            program: program.into(),
            args: args.iter().map(OsString::from).collect(),
        })
    }

    #[test]
    fn run_takes_its_options_then_the_program_and_its_arguments_untouched() {
        assert_eq!(
            parse_str(&["run", "--", "sh", "-c", "x"]),
            Ok(run(false, "sh", &["-c", "x"]))
        );
        assert_eq!(
            parse_str(&["run", "--required", "--", "job"]),
            Ok(run(true, "job", &[]))
        );
        assert_eq!(
            parse_str(&["run", "job", "--required"]),
            Ok(run(false, "job", &["--required"]))
        );
        assert_eq!(
            parse_str(&["run", "--", "--required"]),
            Ok(run(false, "--required", &[]))
        );
    }

    #[test]
    fn check_takes_json_and_a_queue() {
        assert_eq!(parse_str(&["check"]), Ok(Command::Check(Check::default())));
        assert_eq!(
            parse_str(&["check", "--queue", "http://q/1/a", "--json"]),
            Ok(Command::Check(Check {
                json: true,
                queue: Some("http://q/1/a".into())
            }))
        );
        assert_eq!(
            parse_str(&["check", "--queue=http://q/1/a"]),
            Ok(Command::Check(Check {
                json: false,
                queue: Some("http://q/1/a".into())
            }))
        );
        assert_eq!(
            parse_str(&["check", "--queue"]),
            Err("--queue needs a queue URL: --queue URL".into())
        );
        assert_eq!(
            parse_str(&["check", "--verbose"]),
            Err("unknown argument \"--verbose\" for check (expected --json or --queue URL)".into())
        );
    }

    #[test]
    fn help_version_and_every_mistake() {
        assert_eq!(parse_str(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_str(&["run", "--help"]), Ok(Command::Help));
        assert_eq!(parse_str(&["-V"]), Ok(Command::Version));
        assert_eq!(parse_str(&[]), Err("missing a subcommand".into()));
        assert_eq!(
            parse_str(&["start"]),
            Err("unknown subcommand \"start\" (expected run or check)".into())
        );
        assert_eq!(
            parse_str(&["run", "--require", "--", "x"]),
            Err("unknown option \"--require\" for run (expected --required or --)".into())
        );
        for missing in [&["run"][..], &["run", "--"], &["run", "--required", "--"]] {
            assert_eq!(
                parse_str(missing),
                Err("run needs a program to run: ecs-protect run -- CMD [ARGS...]".into())
            );
        }
    }
}
