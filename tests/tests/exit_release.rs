//! Returning from `main` while protection lingers releases it (Linux/glibc, where the main
//! thread's thread-local destructors run at exit).

use std::process::Command;

use ecs_protect_tests::{DEADLINE, output_within};

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn returning_from_main_releases_lingering_protection() {
    let output = output_within(
        &mut Command::new(env!("CARGO_BIN_EXE_exit_release")),
        DEADLINE,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "exit_release failed: {output:?}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "protection on",
            "working",
            "returning from main",
            "protection off"
        ],
        "protection must be released after main returns, despite a 10-minute linger",
    );
}
