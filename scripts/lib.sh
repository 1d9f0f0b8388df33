# shellcheck shell=bash
# Helpers shared by build.sh, dev.sh and test.sh. Source it; do not run it.
#
# Every ensure_* / need_* helper is idempotent: it checks first, installs only what is
# missing, and says what it is doing on stderr. A fresh Debian machine with rustup, cargo,
# node and npm gets everything else from here (run as root, or with sudo available).

set -euo pipefail

LOCKSTEP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LOCKSTEP_ROOT
# cargo install puts binaries here; make sure a fresh shell finds them.
case ":$PATH:" in
  *":${CARGO_HOME:-$HOME/.cargo}/bin:"*) ;;
  *) PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" ;;
esac
export PATH

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# need_apt PKG... — installs the Debian packages that are not installed yet.
# `apt-get update` runs at most once per shell. Without apt, prints what to install and exits 1.
_LOCKSTEP_APT_UPDATED=${_LOCKSTEP_APT_UPDATED:-0}
need_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    printf 'error: this machine has no apt-get; install these packages (Debian names) by hand: %s\n' \
      "${missing[*]}" >&2
    exit 1
  fi
  step "Installing Debian packages: ${missing[*]}"
  if [ "$_LOCKSTEP_APT_UPDATED" != 1 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _LOCKSTEP_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# need_cmd CMD HINT — fails with HINT when CMD is not on PATH (for tools we do not install).
need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2"
}

# ensure_browser — headless Chromium and the matching chromedriver from Debian.
ensure_browser() {
  need_apt chromium chromium-driver ca-certificates
  CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
  CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
  [ -x "$CHROMIUM_BIN" ] || die "Chromium not found at $CHROMIUM_BIN (set CHROMIUM_BIN)"
  [ -x "$CHROMEDRIVER" ] || die "chromedriver not found at $CHROMEDRIVER (set CHROMEDRIVER)"
  export CHROMIUM_BIN CHROMEDRIVER
}

# ensure_wasm_target — the wasm32-unknown-unknown standard library for rustc.
ensure_wasm_target() {
  need_cmd cargo "install Rust with rustup (https://rustup.rs)"
  if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
      step "Adding the Rust target wasm32-unknown-unknown"
      rustup target add wasm32-unknown-unknown
    fi
  elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ]; then
    die "no rustup, and rustc lacks the wasm32-unknown-unknown target: install it for your toolchain"
  fi
}

# rust_src_library — the standard library's sources in the active toolchain, where cargo's
# -Zbuild-std looks for them (the rustup component rust-src).
rust_src_library() {
  printf '%s/lib/rustlib/src/rust/library\n' "$(rustc --print sysroot)"
}

# ensure_rust_src — rust-src for the active toolchain, so scripts/build.sh can rebuild the
# standard library for size. Never fatal: when it is missing and cannot be installed, says so
# and returns 1 (call it as `if ensure_rust_src; then`).
ensure_rust_src() {
  local lib
  lib="$(rust_src_library)"
  [ -f "$lib/Cargo.lock" ] && return 0
  if ! command -v rustup >/dev/null 2>&1; then
    note "no rustup to add rust-src (the standard library's sources are not at $lib)"
    return 1
  fi
  step "Adding the Rust component rust-src (the standard library's sources)"
  if rustup component add rust-src >&2 && [ -f "$lib/Cargo.lock" ]; then
    return 0
  fi
  note "could not add rust-src to $(rustc --version)"
  return 1
}

# wasm_bindgen_version — prints the exact wasm-bindgen version that Cargo.lock resolves.
wasm_bindgen_version() {
  local lock="$LOCKSTEP_ROOT/Cargo.lock" v
  if [ ! -f "$lock" ]; then
    step "Resolving dependencies (cargo generate-lockfile)"
    (cd "$LOCKSTEP_ROOT" && cargo generate-lockfile) >&2
  fi
  v="$(awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = /         { name = $3 }
    /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3; exit }
  ' "$lock")"
  if [ -z "$v" ]; then
    # The lockfile may predate the wasm-bindgen dependency: let cargo bring it up to date.
    (cd "$LOCKSTEP_ROOT" && cargo metadata --format-version 1 >/dev/null)
    v="$(awk '
      /^\[\[package\]\]/ { name = "" }
      /^name = /         { name = $3 }
      /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3; exit }
    ' "$lock")"
  fi
  [ -n "$v" ] || die "Cargo.lock has no wasm-bindgen package"
  printf '%s\n' "$v"
}

# ensure_wasm_bindgen_cli — wasm-bindgen and wasm-bindgen-test-runner of exactly the version
# in Cargo.lock (the CLI refuses to process a module built with another version).
ensure_wasm_bindgen_cli() {
  local want have_cli have_runner
  want="$(wasm_bindgen_version)"
  have_cli="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  have_runner="$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}' || true)"
  if [ "$have_cli" = "$want" ] && [ "$have_runner" = "$want" ]; then
    return 0
  fi
  step "Installing wasm-bindgen-cli $want (found: ${have_cli:-none}); this compiles for a few minutes"
  # --locked reproduces upstream's lockfile, but a registry mirror may lack one of its
  # exact versions: then resolve afresh.
  if ! cargo install wasm-bindgen-cli --version "=$want" --locked --force; then
    note "install with --locked failed; retrying without --locked"
    cargo install wasm-bindgen-cli --version "=$want" --force
  fi
  have_cli="$(wasm-bindgen --version | awk '{print $2}')"
  [ "$have_cli" = "$want" ] || die "wasm-bindgen on PATH is $have_cli, expected $want (check PATH order)"
}

# ensure_npm — node ≥ 20, and node_modules installed from package-lock.json (npm ci) when it
# is missing or older than the lockfile.
ensure_npm() {
  need_cmd node "install Node.js 20 or newer"
  need_cmd npm "install npm (comes with Node.js)"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Node.js $major is too old: need 20 or newer"
  local marker="$LOCKSTEP_ROOT/node_modules/.package-lock.json"
  if [ ! -d "$LOCKSTEP_ROOT/node_modules" ] || [ ! -f "$marker" ] \
    || [ "$LOCKSTEP_ROOT/package-lock.json" -nt "$marker" ]; then
    step "Installing npm dev dependencies (npm ci)"
    (cd "$LOCKSTEP_ROOT" && npm ci --no-audit --no-fund)
  fi
}

# ensure_twiggy — twiggy (the benchmark's wasm size breakdown) in ~/.cargo/bin, where
# bench/perf.mjs looks for it.
TWIGGY_VERSION=0.8.0
ensure_twiggy() {
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin/twiggy"
  if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null | awk '{print $2}')" = "$TWIGGY_VERSION" ]; then
    return 0
  fi
  step "Installing twiggy $TWIGGY_VERSION (the wasm size breakdown); this compiles for a few minutes"
  cargo install twiggy --version "=$TWIGGY_VERSION" --locked --force
}

# ensure_certs — a locally trusted CA (mkcert) and certs/lockstep.pem + certs/lockstep-key.pem.
ensure_certs() {
  local script="$LOCKSTEP_ROOT/scripts/mkcert.sh"
  [ -f "$script" ] || die "scripts/mkcert.sh is missing"
  step "Making local HTTPS certificates (scripts/mkcert.sh)"
  bash "$script"
  if [ ! -f "$LOCKSTEP_ROOT/certs/lockstep.pem" ] || [ ! -f "$LOCKSTEP_ROOT/certs/lockstep-key.pem" ]; then
    die "scripts/mkcert.sh did not produce certs/lockstep.pem and certs/lockstep-key.pem"
  fi
  # Node's fetch (e2e harness, bench) must trust the same CA as the browser.
  local caroot
  if caroot="$(mkcert -CAROOT 2>/dev/null)" && [ -f "$caroot/rootCA.pem" ]; then
    export LOCKSTEP_CA="$caroot/rootCA.pem"
  fi
}

# human_size BYTES — "12.1 KiB"
human_size() {
  awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'
}

# now_s — seconds since the epoch, for tier timings.
now_s() { date +%s; }
