//! The shared config and credentials files.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

use super::{check, ensure};
use crate::aws::credentials::profile;

type Keys = Vec<(String, String)>;

fn profiles() -> impl Strategy<Value = BTreeMap<String, Keys>> {
    let keys = vec(
        ("[a-zA-Z_][a-zA-Z0-9_]{0,11}", "([!-~]([ -~]{0,18}[!-~])?)?"),
        0..4,
    );
    btree_map("default|[a-z0-9_.-]{1,10}", keys, 0..4)
}

/// Writes the profiles as a person might: comments, blank lines, spaces around `=`.
fn render(profiles: &BTreeMap<String, Keys>, is_config: bool, noise: &[bool]) -> String {
    let mut text = String::new();
    let mut noise = noise.iter().cycle();
    for (name, keys) in profiles {
        if *noise.next().unwrap_or(&false) {
            text.push_str("# a comment = [not a section]\n\n; another\n");
        }
        match (is_config, name.as_str()) {
            (true, "default") => text.push_str("[default]\n"),
            (true, _) => text.push_str(&format!("[profile  {name} ]\n")),
            (false, _) => text.push_str(&format!("[{name}]\n")),
        }
        for (key, value) in keys {
            if *noise.next().unwrap_or(&false) {
                text.push_str(&format!("{key} =\t{value}  \n"));
            } else {
                text.push_str(&format!("{key}={value}\n"));
            }
        }
    }
    text
}

#[test]
fn profiles_read_back_as_written() {
    check(
        "profile files round trip",
        (profiles(), any::<bool>(), vec(any::<bool>(), 1..8)),
        |(profiles, is_config, noise)| {
            let text = render(&profiles, is_config, &noise);
            let parsed = profile::parse(&text, is_config);
            let expected: BTreeMap<String, BTreeMap<String, String>> = profiles
                .iter()
                .map(|(name, keys)| {
                    let keys = keys
                        .iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                        .collect();
                    (name.clone(), keys)
                })
                .collect();
            ensure(parsed == Ok(expected), || {
                format!("{text}\nread as {parsed:?}")
            })
        },
    );
}

#[test]
fn any_file_parses_to_trimmed_lowercase_keys() {
    let text = prop_oneof![
        any::<String>(),
        vec(
            "(\\[|\\]|profile|default| |\t|=|#|;|\n|[a-zA-Z]{1,4}|\r\n)",
            0..30
        )
        .prop_map(|p| p.concat()),
    ];
    check(
        "any profile file",
        (text, any::<bool>()),
        |(text, is_config)| {
            let parsed = match profile::parse(&text, is_config) {
                Ok(parsed) => parsed,
                // A refusal names a line of the file.
                Err((line, why)) => {
                    return ensure(line >= 1 && line <= text.lines().count(), || {
                        format!("line {line} ({why}) is not a line of {text:?}")
                    });
                }
            };
            for (name, keys) in parsed {
                ensure(name == name.trim(), || {
                    format!("profile {name:?} is not trimmed")
                })?;
                for (key, value) in keys {
                    ensure(key == key.trim() && key == key.to_ascii_lowercase(), || {
                        format!("key {key:?}")
                    })?;
                    ensure(value == value.trim(), || format!("value {value:?}"))?;
                }
            }
            Ok(())
        },
    );
}
