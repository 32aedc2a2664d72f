//! `ecs-protect check [--json] [--queue URL]`: prints what this environment would do and
//! the result of one read-only call; exits 0 when everything holds, else 1 with one line
//! per problem.

use ecs_protect::Env;
use ecs_protect::unversioned::check::{self, Report, Sourced};

use crate::args::Check;
use crate::status;

/// Runs the check on the process environment and prints it; the exit status.
pub(crate) fn check(args: &Check) -> u8 {
    let report = check::run(&Env::process(), args.queue.as_deref());
    if args.json {
        println!("{:#}", report.to_json());
    } else {
        print!("{}", text(&report));
    }
    if report.ok() { 0 } else { status::CHECK_FAILED }
}

/// `value (source)`, or `-` when unknown.
fn sourced(value: &Option<Sourced>) -> String {
    match value {
        Some(s) => format!("{} ({})", s.value, s.source),
        None => "-".to_owned(),
    }
}

/// The report as text: one `name: value` line per fact, then the problems.
fn text(report: &Report) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: &str| out.push_str(&format!("{name:<13} {value}\n"));
    line("backend:", &sourced(&report.backend));
    line("task:", report.task_arn.as_deref().unwrap_or("-"));
    line("cluster:", report.cluster.as_deref().unwrap_or("-"));
    line("region:", &sourced(&report.region));
    line("ecs endpoint:", &sourced(&report.ecs_endpoint));
    line(
        "proxy:",
        &report
            .proxy
            .as_ref()
            .map_or("none (direct)".to_owned(), |p| {
                format!("{} (from {})", p.value, p.source)
            }),
    );
    let credentials = match &report.credentials {
        Some(c) => format!(
            "{}, access key {}, {}",
            c.provider,
            c.access_key_id,
            c.expires_at
                .as_ref()
                .map_or("no expiry".to_owned(), |at| format!("expires {at}"))
        ),
        None if report.backend.as_ref().is_some_and(|b| b.value == "agent") => {
            "not needed (the ECS agent calls ECS with the task role)".to_owned()
        }
        None => "-".to_owned(),
    };
    line("credentials:", &credentials);
    line(
        "shared dir:",
        &format!("{} ({})", report.shared_dir.value, report.shared_dir.source),
    );
    let protection = match &report.protection {
        Some(p) if p.enabled => format!(
            "on until {} ({})",
            p.expires_at.as_deref().unwrap_or("?"),
            p.call
        ),
        Some(p) => format!("off ({})", p.call),
        None => "not checked".to_owned(),
    };
    line("protection:", &protection);
    if let Some(queue) = &report.queue {
        let timeout = queue
            .visibility_timeout_secs
            .map_or("?".to_owned(), |t| format!("{t} s"));
        line(
            "queue:",
            &format!(
                "{} (from {}): visibility timeout {timeout}, redrive policy {}",
                queue.url.value,
                queue.url.source,
                queue.redrive_policy.as_deref().unwrap_or("none")
            ),
        );
    }
    out.push_str("settings:\n");
    for setting in &report.settings {
        out.push_str(&format!(
            "  {:<32} {} ({})\n",
            setting.name, setting.value, setting.source
        ));
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    for problem in &report.problems {
        out.push_str(&format!("problem: {problem}\n"));
    }
    out.push_str(&match report.problems.len() {
        0 => "ok: everything holds\n".to_owned(),
        1 => "1 problem\n".to_owned(),
        n => format!("{n} problems\n"),
    });
    out
}
