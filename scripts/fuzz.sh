#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer) of the parsers in fuzz/fuzz_targets/:
# token_request, authorize_request, jwt_verify, dingtalk_responses.
#
# Installs cargo-fuzz if it is missing, builds every target once, then runs each target for
# FUZZ_SECONDS, one after another, and prints one summary line per target. Exits non-zero if any
# target crashed (panic, ASan report, timeout or out-of-memory); the input that did it is kept in
# fuzz/artifacts/<target>/ and the run's log in fuzz/artifacts/logs/<target>.log (both git-ignored).
#
# Only stable Rust is needed: cargo-fuzz's AddressSanitizer flag (-Zsanitizer) is accepted by a
# stable rustc through RUSTC_BOOTSTRAP=1, which this script sets for its own commands only.
#
# Usage: scripts/fuzz.sh [TARGET...]          (default: all four targets)
#   FUZZ_SECONDS    seconds per target (default 300)
#   FUZZ_SANITIZER  address (default) or none (faster, finds panics only)
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (default 20)
#   FUZZ_JOBS       cargo build jobs (default 1)
#   Replay one input:  RUSTC_BOOTSTRAP=1 cargo fuzz run -a TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-300}"
SANITIZER="${FUZZ_SANITIZER:-address}"
TIMEOUT="${FUZZ_TIMEOUT:-20}"
export CARGO_BUILD_JOBS="${FUZZ_JOBS:-1}"
export RUSTC_BOOTSTRAP=1
# -a: debug assertions and overflow checks on, as in the crate's own test builds.
BUILD_FLAGS=(-a -s "$SANITIZER")

if [[ $# -gt 0 ]]; then
  TARGETS=("$@")
else
  TARGETS=(token_request authorize_request jwt_verify dingtalk_responses)
fi

cd "$REPO"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

echo "fuzz.sh: building ${TARGETS[*]} (sanitizer: $SANITIZER)" >&2
for target in "${TARGETS[@]}"; do
  cargo fuzz build "${BUILD_FLAGS[@]}" "$target"
done

mkdir -p fuzz/artifacts/logs
failed=0
summary=()
for target in "${TARGETS[@]}"; do
  log="fuzz/artifacts/logs/$target.log"
  mkdir -p "fuzz/artifacts/$target" "fuzz/corpus/$target"
  before="$(find "fuzz/artifacts/$target" -maxdepth 1 -type f | wc -l)"
  echo "fuzz.sh: $target for ${SECONDS_PER_TARGET}s (log: $log)" >&2
  status=0
  cargo fuzz run "${BUILD_FLAGS[@]}" "$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT" -print_final_stats=1 >"$log" 2>&1 || status=$?
  after="$(find "fuzz/artifacts/$target" -maxdepth 1 -type f | wc -l)"
  crashes=$((after - before))
  if [[ $status -ne 0 && $crashes -eq 0 ]]; then
    crashes=1 # libFuzzer failed without writing an input (e.g. the harness panicked at start-up)
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)"
  # The last libFuzzer status line: "#N  DONE  cov: C ft: F corp: K/S ..."
  status_line="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status_line")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status_line")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$status_line")"
  execs="$(sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p' <<<"$status_line")"
  line="$target: runs=${runs:-?} exec/s=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} crashes=$crashes exit=$status"
  if [[ $crashes -gt 0 ]]; then
    failed=1
    line+=" artifacts: $(find "fuzz/artifacts/$target" -maxdepth 1 -type f | sort | tr '\n' ' ')"
    grep -m 1 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)" "$log" >&2 || true
  fi
  echo "$line"
  summary+=("$line")
done

echo "fuzz.sh: summary"
printf '  %s\n' "${summary[@]}"
exit "$failed"
