#!/usr/bin/env bash
# End-to-end login in a real browser: headless Chromium driven by Selenium.
#
# Starts `serve --dev` (provider, DingTalk simulator and demo app on free loopback ports, SQLite and
# the dev KEK in a temporary working directory), registers a confidential, NOT first-party client
# `browser-rp`, starts a tiny relying party (tests/browser/rp.py) and runs tests/browser/test_login.py,
# which clicks through the simulator's login page and the consent page, exchanges the code, checks
# the session cookie's attributes, logs out (with and without id_token_hint), looks at an error
# page, then uses the demo app at the URL the banner printed (sign in, refresh, revoke, log out) and
# the admin docs with the printed admin token. It also signs in with response_mode=form_post, with
# JavaScript and (a second Chromium) without.
# Screenshots go to target/browser-screenshots/ (git-ignored); the path is printed. The signed-in
# demo page is also copied to docs/demo.png, the account page to docs/account.png and two console pages
# to docs/console-keys.png and docs/console-user.png (the README shows them), so they stay current.
# Then the admin console: Alice (admin) registers a client, rotates a key and disables Bob; Carol
# (auditor) finds no write control and a write refused. Last, sign-in inside DingTalk: a Chromium with
# DingTalk's user agent arrives at the RP signed in with no click, and falls back to the hosted login
# without that user agent, on a JSAPI refusal, and where only the user agent claims DingTalk.
# Everything it starts is stopped on every exit; it exits non-zero if a check failed.
#
# Installs what is missing: Debian's chromium and chromium-driver (apt, as root) and selenium (pip).
#
# Usage: scripts/browser-test.sh
#   DINGTALK_OIDC_BIN    use this binary instead of `cargo build` + target/debug/dingtalk-oidc
#   BROWSER_TEST_KEEP    set to 1 to keep the working directory (provider log, profile) for inspection
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHOTS="${REPO}/target/browser-screenshots"
START_TIMEOUT="${BROWSER_TEST_START_TIMEOUT:-60}"
TEST_TIMEOUT="${BROWSER_TEST_TIMEOUT:-240}"

WORK="$(mktemp -d -t browser-test.XXXXXX)"
PROFILE="${WORK}/chromium-profile"
PIDS=() # each a process-group leader (started with setsid)

stop_group() { # PID: TERM its process group, KILL what is left after 5 s, wait until it is gone
  local pid=$1
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-${pid}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  kill -KILL -- "-${pid}" 2>/dev/null || true
  # Up to 3 s more, until nothing of the group is left, not even an unreaped Chromium helper.
  for _ in $(seq 1 30); do
    pgrep -g "$pid" >/dev/null 2>&1 || break
    sleep 0.1
  done
}

cleanup() {
  local status=$?
  set +e
  local pid
  for pid in "${PIDS[@]}"; do stop_group "$pid"; done
  # A Chromium that left our process groups would still carry our unique profile path.
  for pid in $(pgrep -f -- "--user-data-dir=${PROFILE}" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  if [[ "${BROWSER_TEST_KEEP:-0}" == "1" ]]; then
    echo "kept ${WORK}"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ------------------------------------------------------------------------------------
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  echo "installing chromium and chromium-driver (apt)…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! python3 -c 'import selenium' 2>/dev/null; then
  echo "installing selenium (pip)…"
  python3 -m pip install --quiet --disable-pip-version-check selenium
fi
echo "$(/usr/bin/chromium --version 2>/dev/null | head -n1); $(/usr/bin/chromedriver --version | cut -d' ' -f1-2);" \
  "selenium $(python3 -c 'import selenium; print(selenium.__version__)')"

if [[ -n "${DINGTALK_OIDC_BIN:-}" ]]; then
  BIN="$DINGTALK_OIDC_BIN"
else
  # A no-op when target/debug/dingtalk-oidc is newer than the sources.
  cargo build --quiet --manifest-path "${REPO}/Cargo.toml" --bin dingtalk-oidc
  BIN="${REPO}/target/debug/dingtalk-oidc"
fi
[[ -x "$BIN" ]] || { echo "no binary at ${BIN}" >&2; exit 2; }

# --- ports ------------------------------------------------------------------------------------
read -r PORT SIM_PORT RP_PORT DEMO_PORT QR_PORT QR_SIM_PORT < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
ISSUER="http://127.0.0.1:${PORT}"
RP="http://127.0.0.1:${RP_PORT}"

# Only what this script sets: no DINGTALK_OIDC_* from the caller's shell.
for var in $(compgen -e | grep '^DINGTALK_OIDC_' || true); do
  [[ "$var" == DINGTALK_OIDC_BIN ]] || unset "$var"
done

# --- the provider -----------------------------------------------------------------------------
LOG="${WORK}/provider.log"
echo "starting the provider at ${ISSUER} (simulator 127.0.0.1:${SIM_PORT}), working dir ${WORK}"
(
  cd "$WORK"
  export DINGTALK_OIDC_DEV__SIMULATOR_LISTEN="127.0.0.1:${SIM_PORT}"
  export RUST_LOG="${RUST_LOG:-warn}"
  exec setsid "$BIN" serve --dev --listen "127.0.0.1:${PORT}" --demo-listen "127.0.0.1:${DEMO_PORT}"
) >"$LOG" 2>&1 &
PIDS+=("$!")
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
  sleep 0.2
done
echo "provider up"

# What the banner told the user: the demo's URL (its first line) and this run's admin token.
DEMO_URL="$(sed -n 's/^open \(http[^ ]*\) and sign in as alice.*/\1/p' "$LOG" | head -n1)"
ADMIN_TOKEN="$(sed -n 's/^ *admin token[^:]*: *//p' "$LOG" | head -n1)"
[[ -n "$DEMO_URL" && -n "$ADMIN_TOKEN" ]] || { echo "no demo URL or admin token in the banner:" >&2; cat "$LOG" >&2; exit 2; }
echo "demo app at ${DEMO_URL} (from the banner)"

# --- the client -------------------------------------------------------------------------------
ADD_OUT="$(cd "$WORK" && "$BIN" clients add --id browser-rp --name "Browser Test RP" \
  --redirect-uri "${RP}/callback" --post-logout-redirect-uri "${RP}/bye")"
SECRET="$(sed -n 's/^ *client secret: *//p' <<<"$ADD_OUT")"
[[ -n "$SECRET" ]] || { echo "no client secret in: ${ADD_OUT}" >&2; exit 2; }
echo "registered client browser-rp (confidential, not first-party)"

# The console's roles, as an operator would set them up: DingTalk org admins (Alice) are admins,
# holders of DingTalk role 1201 (Carol) auditors.
(
  cd "$WORK"
  "$BIN" roles create admin --description "console admins" >/dev/null
  "$BIN" roles create auditor --description "console readers" >/dev/null
  "$BIN" roles mappings add --role admin --org-admin >/dev/null
  "$BIN" roles mappings add --role auditor --org-role 1201 >/dev/null
) || { echo "could not set up the console's roles" >&2; exit 2; }

# --- a second provider, with DingTalk's QR code on its own sign-in page -----------------------
# (`dingtalk.qr_login`; one setting changes every sign-in, so the steps above keep the first one.)
QR_ISSUER="http://127.0.0.1:${QR_PORT}"
QR_WORK="${WORK}/qr"
mkdir -p "$QR_WORK"
(
  cd "$QR_WORK"
  export DINGTALK_OIDC_DEV__SIMULATOR_LISTEN="127.0.0.1:${QR_SIM_PORT}"
  export DINGTALK_OIDC_DEV__DEMO_LISTEN=""
  export DINGTALK_OIDC_DINGTALK__QR_LOGIN=true
  export RUST_LOG="${RUST_LOG:-warn}"
  exec setsid "$BIN" serve --dev --listen "127.0.0.1:${QR_PORT}"
) >"${QR_WORK}/provider.log" 2>&1 &
PIDS+=("$!")
QR_PID=$!
deadline=$((SECONDS + START_TIMEOUT))
until curl -fsS -o /dev/null "${QR_ISSUER}/.well-known/openid-configuration" 2>/dev/null; do
  if ! kill -0 "$QR_PID" 2>/dev/null || ((SECONDS > deadline)); then
    echo "the QR provider did not come up; its log:" >&2
    tail -n 50 "${QR_WORK}/provider.log" >&2
    exit 2
  fi
  sleep 0.2
done
QR_SECRET="$(cd "$QR_WORK" && "$BIN" clients add --id browser-rp --name "Browser Test RP" \
  --redirect-uri "${RP}/callback" | sed -n 's/^ *client secret: *//p')"
[[ -n "$QR_SECRET" ]] || { echo "no client secret from the QR provider" >&2; exit 2; }
echo "QR provider up at ${QR_ISSUER}"

# --- the relying party ------------------------------------------------------------------------
setsid python3 "${REPO}/tests/browser/rp.py" --port "$RP_PORT" >"${WORK}/rp.log" 2>&1 &
PIDS+=("$!")
rp_deadline=$((SECONDS + 10))
until curl -sS -o /dev/null "${RP}/" 2>/dev/null; do
  ((SECONDS < rp_deadline)) || { echo "the relying party did not start" >&2; cat "${WORK}/rp.log" >&2; exit 2; }
  sleep 0.1
done

# --- the browser test -------------------------------------------------------------------------
mkdir -p "$SHOTS"
rm -f "${SHOTS}"/*.png
echo "screenshots: ${SHOTS}"
set +e
PROVIDER_URL="$ISSUER" RP_URL="$RP" CLIENT_ID=browser-rp CLIENT_SECRET="$SECRET" \
  QR_PROVIDER_URL="$QR_ISSUER" QR_CLIENT_SECRET="$QR_SECRET" \
  DEMO_URL="$DEMO_URL" ADMIN_TOKEN="$ADMIN_TOKEN" \
  SCREENSHOT_DIR="$SHOTS" CHROMIUM_PROFILE="$PROFILE" SE_OFFLINE=true PYTHONUNBUFFERED=1 \
  setsid timeout --kill-after=10 "$TEST_TIMEOUT" python3 "${REPO}/tests/browser/test_login.py" &
TEST_PID=$!
PIDS+=("$TEST_PID")
wait "$TEST_PID"
result=$?
set -e

if grep -Eq 'panicked|ERROR' "$LOG"; then
  echo "--- provider log: errors ---"
  grep -E 'panicked|ERROR' "$LOG" | tail -n 20
fi
echo "screenshots in ${SHOTS}:"
ls -1 "$SHOTS" | sed 's/^/  /'
case "$result" in
  0)
    cp "${SHOTS}/demo.png" "${REPO}/docs/demo.png"
    cp "${SHOTS}/account-withdrawn.png" "${REPO}/docs/account.png"
    cp "${SHOTS}/console-keys.png" "${REPO}/docs/console-keys.png"
    cp "${SHOTS}/console-user.png" "${REPO}/docs/console-user.png"
    cp "${SHOTS}/qr-login.png" "${REPO}/docs/qr-login.png"
    echo "docs/demo.png, docs/account.png, docs/console-keys.png, docs/console-user.png and docs/qr-login.png updated"
    echo "RESULT: browser test passed"
    ;;
  124 | 137) echo "RESULT: the browser test did not finish within ${TEST_TIMEOUT}s" >&2; exit 3 ;;
  *)
    echo "--- provider log (last 30 lines) ---" >&2
    tail -n 30 "$LOG" >&2
    echo "RESULT: browser test failed (exit ${result})" >&2
    exit 1
    ;;
esac
