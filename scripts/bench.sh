#!/usr/bin/env bash
# Benchmarks: installs what is missing (Chromium, the wasm toolchain, twiggy, npm packages,
# certificates), builds dist/ and the demo server, then runs bench/perf.mjs.
#   scripts/bench.sh                    every figure; writes bench/results/ (25–50 min)
#   scripts/bench.sh --only=fetch,cold  extra arguments go to bench/perf.mjs (see bench/README.md)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LOCKSTEP_ROOT" || exit 1

ensure_browser
ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_twiggy
ensure_npm
ensure_certs
bash scripts/build.sh

step "Building the demo server"
cargo build -p lockstep-demo

step "Running the benchmarks (node bench/perf.mjs $*)"
export NODE_EXTRA_CA_CERTS="${LOCKSTEP_CA:-$(mkcert -CAROOT)/rootCA.pem}"
exec node bench/perf.mjs "$@"
