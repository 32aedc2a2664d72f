//! The public API is the list in `tests/public-api.txt`, no more and no less.
//!
//! Runs `cargo +nightly rustdoc` with JSON output (all features, hidden items included),
//! walks the crate from its root the way a user's paths do (re-exports followed), and
//! compares one line per item (`kind path`: modules, types, traits, functions, constants,
//! enum variants, public fields, inherent methods and trait items; trait impls are left
//! out) with the checked-in list. A new public item fails the test until it is added to
//! the list on purpose: anything that is not the product belongs in `pub(crate)` or in
//! `ecs_protect::unversioned`.
//!
//! rustdoc's JSON needs a nightly toolchain. Without one (`rustup run nightly` fails) the
//! test is reported as ignored, with the reason; `PUBLIC_API_REQUIRED=1` (set by `.ci/run`)
//! turns that into a failure. `PUBLIC_API_UPDATE=1` rewrites the list instead of comparing.
//! The documentation build has its own target directory under `target/tmp`, so after the
//! first run it rebuilds this crate's docs only.
//!
//! The harness is `libtest-mimic` (`harness = false`), as for `sigv4_suite`: it can report a
//! test as ignored at run time, which `#[test]` cannot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde_json::Value;

const SNAPSHOT: &str = "tests/public-api.txt";
const UPDATE: &str = "PUBLIC_API_UPDATE=1 cargo test -p ecs-protect --test public_api";
const HEADER: &str = "\
# The public API of ecs-protect (all features), one item per line: `kind path`.
# Checked by tests/public_api.rs against rustdoc's JSON (nightly). After a deliberate change:
#   PUBLIC_API_UPDATE=1 cargo test -p ecs-protect --test public_api
# Only the product belongs here (DESIGN.md, \"The public surface is the product\"); the AWS
# client and the signer live in `unversioned`, outside semver.
";

fn main() {
    let args = Arguments::from_args();
    let trial =
        Trial::ignorable_test(
            "public_api_matches_the_checked_in_list",
            || match nightly_missing() {
                Some(why) if std::env::var_os("PUBLIC_API_REQUIRED").is_some_and(|v| v == "1") => {
                    Err(Failed::from(format!(
                        "PUBLIC_API_REQUIRED=1 but the public API cannot be checked: {why}"
                    )))
                }
                Some(why) => Ok(Completion::ignored_with(format!("NOT RUN: {why}"))),
                None => check().map(|()| Completion::Completed),
            },
        );
    libtest_mimic::run(&args, vec![trial]).exit();
}

/// Why rustdoc's JSON cannot be had here, if it cannot.
fn nightly_missing() -> Option<String> {
    let probe = Command::new("rustup")
        .args(["run", "nightly", "rustdoc", "--version"])
        .output();
    match probe {
        Ok(out) if out.status.success() => None,
        Ok(_) => Some(
            "no nightly toolchain, which rustdoc's JSON output needs \
             (rustup toolchain install nightly)"
                .to_owned(),
        ),
        Err(err) => Some(format!(
            "rustup not found ({err}); a nightly toolchain is needed"
        )),
    }
}

fn check() -> Result<(), Failed> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json = rustdoc_json(manifest_dir)?;
    let actual = public_items(&json)?;
    let path = manifest_dir.join(SNAPSHOT);
    if std::env::var_os("PUBLIC_API_UPDATE").is_some_and(|v| v == "1") {
        // Grouped by path (a type, then its members), not by kind.
        let mut lines: Vec<&String> = actual.iter().collect();
        lines.sort_by_key(|line| line.split_once(' ').map(|(kind, path)| (path, kind)));
        let mut text = HEADER.to_owned();
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("wrote {} public items to {}", actual.len(), path.display());
        return Ok(());
    }
    let listed = std::fs::read_to_string(&path)
        .map_err(|e| format!("reading {}: {e}; create it with `{UPDATE}`", path.display()))?;
    let expected: BTreeSet<String> = listed
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if actual == expected {
        return Ok(());
    }
    let mut message =
        String::from("the public API differs from ecs-protect/tests/public-api.txt\n");
    for added in actual.difference(&expected) {
        message.push_str(&format!("  + {added}  (public, not on the list)\n"));
    }
    for removed in expected.difference(&actual) {
        message.push_str(&format!("  - {removed}  (on the list, no longer public)\n"));
    }
    message.push_str(&format!(
        "An item users should not rely on belongs in `pub(crate)` or in \
         `ecs_protect::unversioned` (outside semver). If the change is deliberate, update the \
         list with `{UPDATE}` and commit it."
    ));
    Err(message.into())
}

/// Builds the crate's rustdoc JSON (all features, hidden items too) and reads it.
fn rustdoc_json(manifest_dir: &Path) -> Result<Value, Failed> {
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("public-api");
    let mut command = Command::new("rustup");
    command
        .args([
            "run",
            "nightly",
            "cargo",
            "rustdoc",
            "--locked",
            "--lib",
            "--all-features",
        ])
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .arg("--document-hidden-items");
    // The outer `cargo test`'s toolchain and flags must not leak into the nightly build.
    for var in [
        "CARGO",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTUP_TOOLCHAIN",
    ] {
        command.env_remove(var);
    }
    let out = command
        .output()
        .map_err(|e| format!("running rustup run nightly cargo rustdoc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo +nightly rustdoc --output-format json failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let file = target_dir.join("doc").join("ecs_protect.json");
    let text =
        std::fs::read_to_string(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", file.display()).into())
}

/// One `kind path` line per public item reachable from the crate root.
fn public_items(json: &Value) -> Result<BTreeSet<String>, Failed> {
    let walker = Walker {
        index: json
            .get("index")
            .and_then(Value::as_object)
            .ok_or("rustdoc JSON without an `index`: has its format changed?")?,
    };
    let root = json
        .get("root")
        .ok_or("rustdoc JSON without a `root`: has its format changed?")?;
    let mut items = BTreeSet::new();
    walker.walk(root, "ecs_protect", 0, &mut items)?;
    Ok(items)
}

struct Walker<'a> {
    index: &'a serde_json::Map<String, Value>,
}

impl Walker<'_> {
    /// The item `id` refers to, if it is one of this crate's (external ones are not indexed).
    fn item(&self, id: &Value) -> Option<&Value> {
        let key = match id {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => return None,
        };
        self.index.get(&key)
    }

    fn walk(
        &self,
        id: &Value,
        path: &str,
        depth: usize,
        out: &mut BTreeSet<String>,
    ) -> Result<(), Failed> {
        if depth > 16 {
            return Err(format!("re-exports nest deeper than 16 levels at {path}").into());
        }
        let Some(item) = self.item(id) else {
            return Ok(());
        };
        let (kind, inner) = kind_of(item).ok_or_else(|| format!("no kind for {path}"))?;
        if kind == "module" {
            out.insert(format!("mod {path}"));
            for child_id in array(inner, "items") {
                let Some(child) = self.item(child_id) else {
                    continue;
                };
                let Some((child_kind, child_inner)) = kind_of(child) else {
                    continue;
                };
                match child_kind {
                    "impl" => {}
                    "use" => {
                        let name = child_inner["name"].as_str().unwrap_or("*");
                        let target = &child_inner["id"];
                        let child_path = format!("{path}::{name}");
                        if self.item(target).is_some() {
                            self.walk(target, &child_path, depth + 1, out)?;
                        } else {
                            out.insert(format!("use {child_path}"));
                        }
                    }
                    _ => {
                        let name = child["name"].as_str().unwrap_or("_");
                        self.walk(child_id, &format!("{path}::{name}"), depth + 1, out)?;
                    }
                }
            }
            return Ok(());
        }
        out.insert(format!("{kind} {path}"));
        let impls = match kind {
            "struct" | "union" => {
                for field in array(&inner["kind"]["plain"], "fields") {
                    self.member(field, path, out);
                }
                // A tuple struct's public fields (the others are `null`), by position.
                let tuple = inner["kind"]["tuple"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice);
                for (position, field) in tuple.iter().enumerate() {
                    if !field.is_null() {
                        out.insert(format!("struct_field {path}::{position}"));
                    }
                }
                array(inner, "impls")
            }
            "enum" => {
                for variant in array(inner, "variants") {
                    self.member(variant, path, out);
                }
                array(inner, "impls")
            }
            "trait" => {
                for trait_item in array(inner, "items") {
                    self.member(trait_item, path, out);
                }
                &[]
            }
            _ => &[],
        };
        for impl_id in impls {
            let Some(block) = self.item(impl_id).and_then(|i| i["inner"].get("impl")) else {
                continue;
            };
            let inherent = block["trait"].is_null()
                && block["blanket_impl"].is_null()
                && !block["is_synthetic"].as_bool().unwrap_or(false);
            if inherent {
                for method in array(block, "items") {
                    if self
                        .item(method)
                        .is_some_and(|m| m["visibility"] == "public")
                    {
                        self.member(method, path, out);
                    }
                }
            }
        }
        Ok(())
    }

    /// A field, variant, method or trait item of the item at `parent`.
    fn member(&self, id: &Value, parent: &str, out: &mut BTreeSet<String>) {
        if let Some(item) = self.item(id)
            && let (Some((kind, _)), Some(name)) = (kind_of(item), item["name"].as_str())
        {
            out.insert(format!("{kind} {parent}::{name}"));
        }
    }
}

/// The item's kind (`module`, `struct`, `function`, ...) and its details.
fn kind_of(item: &Value) -> Option<(&str, &Value)> {
    let inner = item.get("inner")?;
    match inner {
        Value::Object(map) => map.iter().next().map(|(k, v)| (k.as_str(), v)),
        Value::String(kind) => Some((kind.as_str(), inner)),
        _ => None,
    }
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}
