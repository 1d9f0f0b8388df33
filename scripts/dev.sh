#!/usr/bin/env bash
# Local development: installs what is missing, makes trusted HTTPS certificates, builds dist/,
# and runs the demo server at https://localhost:8443 until Ctrl-C.
#   scripts/dev.sh                 app :8443, API :8444, other :8445
#   LOCKSTEP_APP_PORT=9443 ...     other ports (also LOCKSTEP_API_PORT, LOCKSTEP_OTHER_PORT)
#   scripts/dev.sh --test-hooks    extra arguments go to the demo server
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LOCKSTEP_ROOT" || exit 1

APP_PORT="${LOCKSTEP_APP_PORT:-8443}"
API_PORT="${LOCKSTEP_API_PORT:-8444}"
OTHER_PORT="${LOCKSTEP_OTHER_PORT:-8445}"

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_npm
ensure_certs
bash scripts/build.sh

step "Building the demo server"
cargo build -p lockstep-demo
demo_bin="target/debug/lockstep-demo"

step "Starting the demo server"
"$demo_bin" --app-port "$APP_PORT" --api-port "$API_PORT" --other-port "$OTHER_PORT" \
  --dist dist --cert certs/lockstep.pem --key certs/lockstep-key.pem "$@" &
demo_pid=$!

stop_demo() {
  trap - INT TERM EXIT
  if kill -0 "$demo_pid" 2>/dev/null; then
    printf '\nStopping the demo server (pid %s)\n' "$demo_pid" >&2
    kill -TERM "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
}
trap 'stop_demo; exit 130' INT
trap 'stop_demo; exit 143' TERM
trap stop_demo EXIT

# Wait until the app port accepts connections (bash's /dev/tcp: no curl needed).
for _ in $(seq 1 300); do
  kill -0 "$demo_pid" 2>/dev/null || die "the demo server exited during startup"
  if (exec 3<>"/dev/tcp/127.0.0.1/$APP_PORT") 2>/dev/null; then break; fi
  sleep 0.1
done

cat >&2 <<EOF

Lockstep demo is running (Ctrl-C stops it):
  app 1          https://localhost:$APP_PORT/app1/
  app 2          https://localhost:$APP_PORT/app2/
  login page     https://localhost:$APP_PORT/login
  worker state   https://localhost:$APP_PORT/__lockstep/state   (answered by the worker in a controlled tab)
  API            https://localhost:$API_PORT/v1/me
  other origin   https://localhost:$OTHER_PORT/
Micro-apps on their own hosts (app1.example.test, ...) need those names to resolve to 127.0.0.1:
add them to /etc/hosts, or start Chromium with
  --host-resolver-rules="MAP *.example.test 127.0.0.1"

EOF

wait "$demo_pid"
