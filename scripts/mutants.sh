#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the code whose tests must catch any change: the
# protector's transitions and state, the shared record and lock logic, the SQS consumer's
# worker, heartbeat and housekeeper, and the retry and back-off code. Too slow for every
# push (hours on 2 cores): run by hand, not by CI. Installs cargo-mutants from crates.io
# when missing.
#
#   scripts/mutants.sh                  # every file below
#   scripts/mutants.sh FILE...          # only these (paths from the workspace root)
#   MUTANTS_JOBS=2 scripts/mutants.sh   # parallel builds (each in its own copy of the tree)
#   MUTANTS_ARGS="--shard 0/4" scripts/mutants.sh   # more cargo-mutants options
#
# Each mutant is built and tested with the workspace's tests (the integration tests in
# tests/ check most of these files) with all features; the soaks run short. Writes
# target/mutants/mutants.out/ (cargo-mutants' outcomes: caught.txt, missed.txt,
# unviable.txt, timeout.txt) and prints caught/missed/unviable/timeout per file, as the
# table in tests/README.md lists them. Settings shared with a plain `cargo mutants` are in
# .cargo/mutants.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

files=(
  ecs-protect/src/protector/transitions.rs
  ecs-protect/src/protector/state.rs
  ecs-protect/src/shared.rs
  ecs-protect/src/shared/record.rs
  ecs-protect/src/shared/dir.rs
  ecs-protect/src/sqs/worker.rs
  ecs-protect/src/sqs/heartbeat.rs
  ecs-protect/src/sqs/housekeeper.rs
  ecs-protect/src/aws/retry.rs
  ecs-protect/src/sqs/retry.rs
  ecs-protect/src/protector/backoff.rs
)
if [ "$#" -gt 0 ]; then
  files=("$@")
fi
for file in "${files[@]}"; do
  [ -f "$file" ] || { echo "no file $file" >&2; exit 1; }
done

if ! cargo mutants --version >/dev/null 2>&1; then
  echo "installing cargo-mutants from crates.io (a few minutes, once per machine)"
  cargo install --locked cargo-mutants
fi
cargo mutants --version

out=target/mutants
args=(--output "$out")
if [ -n "${MUTANTS_JOBS:-}" ]; then
  args+=(--jobs "$MUTANTS_JOBS")
fi
for file in "${files[@]}"; do
  args+=(--file "$file")
done
# shellcheck disable=SC2206 # MUTANTS_ARGS is a list of options, split on spaces.
args+=(${MUTANTS_ARGS:-})
# Short soaks: a mutant that breaks an invariant breaks it within seconds.
export ECS_PROTECT_SOAK_SECS="${ECS_PROTECT_SOAK_SECS:-2}"
status=0
cargo mutants "${args[@]}" || status=$?
# cargo-mutants exits 2 when some mutant was missed, 3 on a timeout: still report.
case "$status" in 0 | 2 | 3) ;; *) exit "$status" ;; esac

printf '\n%-45s %7s %7s %9s %8s\n' file caught missed unviable timeout
for file in "${files[@]}"; do
  count() {
    local list="$out/mutants.out/$1.txt"
    [ -f "$list" ] || { echo 0; return; }
    grep -c "^$file:" "$list" || true
  }
  printf '%-45s %7s %7s %9s %8s\n' "$file" "$(count caught)" "$(count missed)" \
    "$(count unviable)" "$(count timeout)"
done
if [ -s "$out/mutants.out/missed.txt" ]; then
  printf '\nmissed (add a test, or explain in tests/README.md why the mutant is equivalent):\n'
  cat "$out/mutants.out/missed.txt"
fi
exit "$status"
