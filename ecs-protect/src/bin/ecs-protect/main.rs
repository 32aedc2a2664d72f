//! `ecs-protect run [--required] -- CMD ARGS...`: keeps the ECS task protected from
//! scale-in while any program runs (a shell script, a Python job), with the same
//! environment, backends and shared-directory coordination as the library.
//! `ecs-protect check [--json] [--queue URL]`: what this environment would do, proven by
//! one read-only call.

#![forbid(unsafe_code)]

mod args;
#[cfg(test)]
mod args_proptests;
mod check;
mod run;
mod stderr_log;

use std::process::ExitCode;

use args::Command;

/// Exit statuses of the command itself (the program's own status passes through).
mod status {
    /// The command line is wrong.
    pub(crate) const USAGE: u8 = 2;
    /// `--required` and protection could not be had: try again later (`EX_TEMPFAIL`).
    pub(crate) const NOT_PROTECTED: u8 = 75;
    /// The environment is invalid (`EX_CONFIG`).
    pub(crate) const CONFIG: u8 = 78;
    /// The program exists but could not be started.
    pub(crate) const CANNOT_RUN: u8 = 126;
    /// The program was not found.
    pub(crate) const NOT_FOUND: u8 = 127;
    /// `check` found at least one problem.
    pub(crate) const CHECK_FAILED: u8 = 1;
}

const HELP: &str = include_str!("help.txt");

fn main() -> ExitCode {
    stderr_log::install();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args::parse(argv) {
        Ok(Command::Help) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("ecs-protect {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Run(run)) => ExitCode::from(run::run(&run)),
        Ok(Command::Check(check)) => ExitCode::from(check::check(&check)),
        Err(message) => {
            eprintln!(
                "ecs-protect: {message}\nUsage: ecs-protect run [--required] -- CMD [ARGS...] | check [--json] [--queue URL]  (see --help)"
            );
            ExitCode::from(status::USAGE)
        }
    }
}
