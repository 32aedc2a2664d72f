//! The command line: `run [--required] [--] CMD ARGS...`, `--help`, `--version`.

use std::ffi::OsString;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Help,
    Version,
    Run(Run),
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
        _ => return Err(format!("unknown subcommand {first:?} (expected run)")),
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
    fn help_version_and_every_mistake() {
        assert_eq!(parse_str(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_str(&["run", "--help"]), Ok(Command::Help));
        assert_eq!(parse_str(&["-V"]), Ok(Command::Version));
        assert_eq!(parse_str(&[]), Err("missing a subcommand".into()));
        assert_eq!(
            parse_str(&["start"]),
            Err("unknown subcommand \"start\" (expected run)".into())
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
