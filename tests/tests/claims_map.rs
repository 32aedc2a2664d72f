//! `tests/README.md` maps each documented claim to the tests that check it: every test it
//! names must exist, so a renamed or deleted test cannot leave a claim pointing at nothing.

use std::path::{Path, PathBuf};

const MAP: &str = include_str!("../README.md");

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// Where `file` (as the map writes it) lives: `protector` is `tests/tests/protector.rs`,
/// paths with a `/` are from the workspace root (`ecs-protect/src/...`).
fn source(file: &str) -> PathBuf {
    if file.contains('/') {
        root().join(file)
    } else {
        root().join("tests/tests").join(format!("{file}.rs"))
    }
}

#[test]
fn every_test_the_claims_map_names_exists() {
    let mut checked = 0;
    let mut missing = Vec::new();
    let mut last_file: Option<String> = None;
    for reference in MAP.split('`').skip(1).step_by(2) {
        let Some((file, name)) = reference.rsplit_once("::") else {
            continue;
        };
        // `…::name` is in the file named just before.
        let file = match file {
            "…" => match &last_file {
                Some(file) => file.clone(),
                None => panic!("`{reference}` with no file before it"),
            },
            file if file
                .chars()
                .all(|c| c.is_ascii_lowercase() || "_-./0123456789".contains(c)) =>
            {
                file.to_owned()
            }
            _ => continue, // a Rust path in prose, such as `ecs_protect::sqs::Consumer`
        };
        let path = source(&file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            missing.push(format!("`{reference}`: no file {}", path.display()));
            continue;
        };
        last_file = Some(file.clone());
        if name == "*" {
            checked += 1;
            continue;
        }
        if name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            if text.contains(&format!("fn {name}(")) {
                checked += 1;
            } else {
                missing.push(format!("`{reference}`: no fn {name} in {}", path.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tests/README.md names tests that do not exist (update the map):\n{}",
        missing.join("\n")
    );
    assert!(
        checked >= 80,
        "only {checked} references found: is the map's format changed?"
    );
}
