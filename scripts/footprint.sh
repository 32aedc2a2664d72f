#!/usr/bin/env bash
# Measures what one UpdateTaskProtection call costs to build and ship, three ways:
#   ours  - a program calling ecs_protect::EcsClient once
#   floor - a program that only links the same dependencies (ureq+rustls, serde_json,
#           signal-hook, log, sha2, hmac), doing a trivial call into each
#   sdk   - the official aws-sdk-ecs + aws-config + tokio doing the same call (--with-sdk;
#           several minutes of CPU)
# For each: crates in the build graph, CPU seconds (user+sys) of a clean
# `cargo build --release`, and the stripped binary's size.
#
#   scripts/footprint.sh [--with-sdk]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
with_sdk=${1:-}

profile='[profile.release]
strip = "symbols"'

mkdir -p "$work/ours/src" "$work/floor/src" "$work/sdk/src"
cat > "$work/ours/Cargo.toml" <<TOML
[package]
name = "ours"
version = "0.1.0"
edition = "2024"
[dependencies]
ecs-protect = { path = "$repo/ecs-protect" }
$profile
TOML
cat > "$work/ours/src/main.rs" <<'RS'
fn main() -> Result<(), ecs_protect::Error> {
    let client = ecs_protect::EcsClient::from_env()?;
    let state = client.update_task_protection(true, Some(60))?;
    println!("{}", state.enabled);
    Ok(())
}
RS
cat > "$work/floor/Cargo.toml" <<TOML
[package]
name = "floor"
version = "0.1.0"
edition = "2024"
[dependencies]
ureq = { version = "3.5", default-features = false, features = ["rustls"] }
serde_json = "1"
signal-hook = { version = "0.4", default-features = false }
log = "0.4"
sha2 = { version = "0.11", default-features = false }
hmac = "0.13"
$profile
TOML
cat > "$work/floor/src/main.rs" <<'RS'
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::sync::{Arc, atomic::AtomicBool};

fn main() {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, flag).ok();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"key").expect("any key length");
    mac.update(&Sha256::digest(b"body"));
    let body = serde_json::json!({ "sig": format!("{:x?}", mac.finalize().into_bytes()) });
    log::info!("{body}");
    let url = std::env::args().nth(1).unwrap_or_else(|| "https://ecs.eu-west-1.amazonaws.com/".into());
    println!("{}", ureq::post(&url).send(body.to_string()).is_ok());
}
RS
cat > "$work/sdk/Cargo.toml" <<TOML
[package]
name = "sdk"
version = "0.1.0"
edition = "2024"
[dependencies]
aws-config = { version = "1", features = ["behavior-version-latest"] }
aws-sdk-ecs = "1"
tokio = { version = "1", features = ["macros", "rt"] }
$profile
TOML
cat > "$work/sdk/src/main.rs" <<'RS'
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let config = aws_config::load_from_env().await;
    let out = aws_sdk_ecs::Client::new(&config)
        .update_task_protection()
        .cluster("default")
        .tasks("arn:aws:ecs:eu-west-1:111122223333:task/default/0123")
        .protection_enabled(true)
        .expires_in_minutes(60)
        .send()
        .await;
    println!("{}", out.is_ok());
}
RS

measure() {
  local name=$1 dir=$work/$1
  (cd "$dir" && cargo generate-lockfile -q && cargo fetch -q)
  local crates
  crates=$(cd "$dir" && cargo tree -e normal --prefix none | sed 's/ (\*)//' | sort -u | wc -l)
  /usr/bin/time -f "%U %S" -o "$dir/time" cargo build -q --release --manifest-path "$dir/Cargo.toml"
  local cpu size
  cpu=$(awk '{printf "%.1f", $1 + $2}' "$dir/time")
  size=$(stat -c %s "$dir/target/release/$name")
  printf '%-6s crates %4d   build CPU %7.1f s   binary %9d bytes\n' "$name" "$crates" "$cpu" "$size"
}

measure floor
measure ours
if [ "$with_sdk" = "--with-sdk" ]; then measure sdk; fi
