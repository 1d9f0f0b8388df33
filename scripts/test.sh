#!/usr/bin/env bash
# Runs every test tier, stops at the first failing one, and prints a summary:
#   host   cargo test --workspace (engine, demo server, property tests)
#   wasm   the wasm-bindgen-test suites in tests/, inside a real service worker (headless Chromium)
#   mkcert scripts/test-mkcert.sh, when present
#   e2e    dist/ + demo server + mkcert certs, then node --test e2e/ (multi-tab Chromium)
# Installs whatever is missing first (see scripts/lib.sh).
#   scripts/test.sh              all tiers
#   scripts/test.sh host wasm    only these tiers (in the order above)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LOCKSTEP_ROOT" || exit 1

ALL_TIERS=(host wasm mkcert e2e)
if [ $# -gt 0 ]; then
  for t in "$@"; do
    case " ${ALL_TIERS[*]} " in *" $t "*) ;; *) die "unknown tier '$t' (tiers: ${ALL_TIERS[*]})" ;; esac
  done
  TIERS=()
  for t in "${ALL_TIERS[@]}"; do
    case " $* " in *" $t "*) TIERS+=("$t") ;; esac
  done
else
  TIERS=("${ALL_TIERS[@]}")
fi
wants() { case " ${TIERS[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/lockstep-test.XXXXXX")"
trap 'rm -rf "$LOG_DIR"' EXIT
SUMMARY=()
TOTAL_PASSED=0
TOTAL_FAILED=0
STARTED=$(now_s)

# Counts tests in a tier's log: cargo / wasm-bindgen-test "test result:" lines and node's
# test runner ("# pass N" in TAP, "ℹ pass N" in spec).
count_tests() {
  awk '
    /^test result: / {
      for (i = 1; i <= NF; i++) {
        if ($(i + 1) ~ /^passed/) p += $i
        if ($(i + 1) ~ /^failed/) f += $i
      }
    }
    /^(# |ℹ )pass [0-9]+$/ { p += $3 }
    /^(# |ℹ )fail [0-9]+$/ { f += $3 }
    END { printf "%d %d\n", p, f }
  ' "$1"
}

print_summary() {
  printf '\n==================== summary ====================\n'
  local line
  for line in "${SUMMARY[@]}"; do printf '%s\n' "$line"; done
  printf 'total time: %ss\n' "$(($(now_s) - STARTED))"
  printf 'tests: %d passed, %d failed\n' "$TOTAL_PASSED" "$TOTAL_FAILED"
}

# run_tier NAME FUNCTION — runs FUNCTION in a subshell with errexit, logs it, records the result,
# and stops the whole run when it fails.
run_tier() {
  local name="$1" fn="$2" t0 rc passed failed
  step "Tier $name"
  t0=$(now_s)
  set +e
  (set -e; "$fn") 2>&1 | tee "$LOG_DIR/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  read -r passed failed < <(count_tests "$LOG_DIR/$name.log")
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("$(printf '%-7s ok     %4ss  %d passed' "$name" "$(($(now_s) - t0))" "$passed")")
  else
    SUMMARY+=("$(printf '%-7s FAILED %4ss  %d passed, %d failed (exit %d)' \
      "$name" "$(($(now_s) - t0))" "$passed" "$failed" "$rc")")
    # A tier that failed without a failing test (build error, crash) still counts as a failure.
    [ "$failed" -gt 0 ] || TOTAL_FAILED=$((TOTAL_FAILED + 1))
    print_summary
    exit 1
  fi
}

tier_host() {
  cargo test --workspace
}

tier_wasm() {
  # The runner drives Chromium through chromedriver; webdriver.json (crate root) has its flags.
  # --test '*': the suites in tests/ (each wasm one says run_in_service_worker). The crate's
  # unit tests and doctests are host tests (they may use proptest, which is host-only).
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    CHROMEDRIVER="$CHROMEDRIVER" \
    WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}" \
    WASM_BINDGEN_TEST_DRIVER_TIMEOUT="${WASM_BINDGEN_TEST_DRIVER_TIMEOUT:-30}" \
    cargo test -p lockstep --target wasm32-unknown-unknown --test '*'
}

tier_mkcert() {
  bash scripts/test-mkcert.sh
}

tier_e2e() {
  bash scripts/build.sh
  step "Building the demo server"
  cargo build -p lockstep-demo
  ensure_certs
  # The harness trusts the mkcert CA itself; this lets plain fetch() in tests trust it too.
  if [ -n "${LOCKSTEP_CA:-}" ]; then export NODE_EXTRA_CA_CERTS="$LOCKSTEP_CA"; fi
  step "End-to-end suites (node --test e2e/)"
  # A hung test must not hang CI. With one process per file the bound applies to each file too.
  node --test --test-concurrency=1 --test-timeout="${LOCKSTEP_E2E_TEST_TIMEOUT_MS:-600000}" e2e/
}

# ---- setup: install what is missing ------------------------------------------------------------
t0=$(now_s)
step "Checking tools"
need_cmd cargo "install Rust with rustup (https://rustup.rs)"
if wants wasm || wants e2e; then
  ensure_browser
  ensure_wasm_target
  ensure_wasm_bindgen_cli
fi
wants e2e && ensure_npm
SUMMARY+=("$(printf '%-7s ok     %4ss' setup "$(($(now_s) - t0))")")

wants host && run_tier host tier_host
wants wasm && run_tier wasm tier_wasm
if wants mkcert; then
  if [ -f scripts/test-mkcert.sh ]; then
    run_tier mkcert tier_mkcert
  else
    SUMMARY+=("$(printf '%-7s skipped (no scripts/test-mkcert.sh)' mkcert)")
  fi
fi
wants e2e && run_tier e2e tier_e2e

print_summary
