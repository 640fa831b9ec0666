#!/usr/bin/env bash
# Schema-driven fuzzing of the admin API (/admin/v1) with schemathesis.
#
# Starts `serve --dev` (provider + DingTalk simulator on free loopback ports, SQLite and the dev KEK
# in a temporary working directory, a random bootstrap admin token), seeds a little data through
# the API and one simulator login, then lets schemathesis generate requests from the served spec
# (/admin/v1/openapi.json) and checks that none gets a 5xx. Exits non-zero if one did (or if the
# provider does not start). The provider is stopped on every exit.
#
# Usage: scripts/fuzz-admin-api.sh
#   FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 50)
#   FUZZ_TIMEOUT       seconds before schemathesis is stopped (default 600)
#   FUZZ_WORKERS       concurrent schemathesis workers (default 2)
#   FUZZ_SEED          schemathesis seed, to replay a run
#   FUZZ_KEEP          set to 1 to keep the working directory (logs, reports) for inspection
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-50}"
TIMEOUT="${FUZZ_TIMEOUT:-600}"
WORKERS="${FUZZ_WORKERS:-2}"
START_TIMEOUT="${FUZZ_START_TIMEOUT:-900}" # the first `cargo run` may have to build

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PORT="$(free_port)"
SIM_PORT="$(free_port)"
while [[ "$SIM_PORT" == "$PORT" ]]; do SIM_PORT="$(free_port)"; done
ISSUER="http://127.0.0.1:${PORT}"
API="${ISSUER}/admin/v1"
TOKEN="fuzz-$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
WORK="$(mktemp -d -t fuzz-admin-api.XXXXXX)"
LOG="${WORK}/provider.log"
PROVIDER_PID=""

cleanup() {
  local status=$?
  if [[ -n "$PROVIDER_PID" ]] && kill -0 "$PROVIDER_PID" 2>/dev/null; then
    # The provider runs in a process group of its own (setsid): stop exactly that group.
    kill -TERM -- "-${PROVIDER_PID}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$PROVIDER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-${PROVIDER_PID}" 2>/dev/null || true
  fi
  if [[ "${FUZZ_KEEP:-0}" == "1" ]]; then
    echo "kept ${WORK}"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- schemathesis -----------------------------------------------------------------------------
if ! command -v schemathesis >/dev/null 2>&1; then
  echo "installing schemathesis (pip)…"
  python3 -m pip install --quiet schemathesis
fi
echo "schemathesis $(schemathesis --version 2>/dev/null | awk '{print $NF}')"

# --- the provider -----------------------------------------------------------------------------
echo "starting the provider at ${ISSUER} (simulator 127.0.0.1:${SIM_PORT}), working dir ${WORK}"
(
  cd "$WORK"
  export DINGTALK_OIDC_ADMIN_TOKEN="$TOKEN"
  export DINGTALK_OIDC_DEV__SIMULATOR_LISTEN="127.0.0.1:${SIM_PORT}"
  export DINGTALK_OIDC_DEV__DEMO_LISTEN="" # no demo app on the fixed port 8082
  export RUST_LOG="${RUST_LOG:-warn}"
  exec setsid cargo run --quiet --manifest-path "${REPO}/Cargo.toml" -- serve --dev --listen "127.0.0.1:${PORT}"
) >"$LOG" 2>&1 &
PROVIDER_PID=$!

deadline=$((SECONDS + START_TIMEOUT))
until curl -fsS -o /dev/null "${ISSUER}/.well-known/openid-configuration" 2>/dev/null; do
  if ! kill -0 "$PROVIDER_PID" 2>/dev/null; then
    echo "the provider exited before it served; its log:" >&2
    tail -n 50 "$LOG" >&2
    exit 2
  fi
  if ((SECONDS > deadline)); then
    echo "the provider did not come up within ${START_TIMEOUT}s; its log:" >&2
    tail -n 50 "$LOG" >&2
    exit 2
  fi
  sleep 1
done
echo "provider up"

admin() { # METHOD PATH [JSON]
  local args=(-sS -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer ${TOKEN}")
  if [[ $# -ge 3 ]]; then args+=(-H 'Content-Type: application/json' --data "$3"); fi
  curl "${args[@]}" "${API}$2"
}

# --- seed data, so list, search and filters run over real rows -----------------------------------
REDIRECT="http://127.0.0.1:9/fuzz/callback"
seed_status="$(admin POST /clients "{\"id\":\"fuzz-console\",\"redirect_uris\":[\"${REDIRECT}\"],\"first_party\":true,\"public\":true,\"allowed_scopes\":[\"openid\",\"admin\",\"roles\"]}")"
echo "seed: POST /clients -> ${seed_status}"
echo "seed: POST /roles -> $(admin POST /roles '{"name":"engineering","description":"Engineers"}')"
echo "seed: POST /mappings -> $(admin POST /mappings '{"role":"engineering","rule":{"kind":"department","dept_id":2,"include_sub_departments":true}}')"

# One login of alice through the simulator (login_as skips its page), so users and sessions exist.
login() { # LOGIN
  local jar="${WORK}/cookies-$1" next location
  next="${ISSUER}/authorize?client_id=fuzz-console&redirect_uri=${REDIRECT//:/%3A}&response_type=code&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
  for _ in $(seq 1 10); do
    [[ "$next" == "${REDIRECT}"* ]] && { echo "seed: $1 logged in"; return 0; }
    if [[ "$next" == *"/oauth2/auth"* && "$next" != *"login_as="* ]]; then next="${next}&login_as=$1"; fi
    location="$(curl -sS -o /dev/null -b "$jar" -c "$jar" -w '%{redirect_url}' "$next" || true)"
    [[ -z "$location" ]] && break
    next="$location"
  done
  echo "seed: login of $1 did not reach the client (last: ${next})"
}
login alice
login bob

# --- fuzz -------------------------------------------------------------------------------------
CMD=(schemathesis run "${API}/openapi.json"
  --header "Authorization: Bearer ${TOKEN}"
  --checks not_a_server_error
  --max-examples "$MAX_EXAMPLES"
  --workers "$WORKERS"
  --request-timeout 10
  --suppress-health-check all
  --report junit --report-dir "${WORK}/report")
if [[ -n "${FUZZ_SEED:-}" ]]; then CMD+=(--seed "$FUZZ_SEED"); fi
echo "+ ${CMD[*]//${TOKEN}/<token>}"
set +e
timeout --signal=INT "$TIMEOUT" "${CMD[@]}"
result=$?
set -e

# Server-side panics or errors the provider logged while being fuzzed.
if grep -Eq 'panicked|ERROR' "$LOG"; then
  echo "--- provider log: errors while fuzzing ---"
  grep -E 'panicked|ERROR' "$LOG" | sort | uniq -c | sort -rn | head -n 20
fi

case "$result" in
  0) echo "RESULT: no server errors" ;;
  124 | 130) echo "RESULT: schemathesis did not finish within ${TIMEOUT}s" >&2; exit 3 ;;
  *) echo "RESULT: schemathesis reported failures (exit ${result})" >&2; exit 1 ;;
esac
