#!/usr/bin/env bash
# Builds dist/: the Rust crate to wasm, wasm-bindgen glue, wasm-opt -Oz, plus the JS in sw/.
# Prints raw and gzip -9 sizes and checks the shipped total against the 40 KiB target.
#   scripts/build.sh            build (installs missing tools first)
#   LOCKSTEP_NO_OPT=1 ...       skip wasm-opt (faster local iterations)
#   LOCKSTEP_STD=prebuilt ...   link the toolchain's prebuilt standard library instead of
#                               rebuilding it for size (see "The standard library" below)
# Then the names the module and glue share are shortened (scripts/short-names.mjs), and the
# glue and bootstrap are minified with terser (an npm dev dependency; skipped when missing).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LOCKSTEP_ROOT" || exit 1

SIZE_TARGET=$((40 * 1024)) # shipped size (wasm + glue + bootstrap, gzip -9)
SW_FILES=(lockstep-sw.js lockstep-client.js lockstep-client.d.ts)

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_npm

for f in "${SW_FILES[@]}"; do
  [ -f "sw/$f" ] || die "sw/$f is missing"
done

# The standard library. By default cargo rebuilds it with the crate (-Zbuild-std; needs the
# rust-src component; ~30 s more on a cold build), with settings the prebuilt one cannot have:
#   -Cpanic=immediate-abort  a panic is a bare wasm `unreachable` trap: no panic handler,
#                            message formatting or payload strings in the module (-3.5 KB gzip).
#   -Zlocation-detail=none   no file/line/column strings for the panic sites (-0.3 KB).
#   -Csymbol-mangling-version=legacy  RUSTC_BOOTSTRAP makes rustc mangle as nightly does (v0),
#                            and wasm-bindgen names its closure exports after those symbols;
#                            legacy keeps the `wasm_bindgen__…` names short-names.mjs shortens
#                            (without it the module and glue are 0.3 KB larger).
# Measured and left out: -Zfmt-debug=none and -Zbuild-std-features=optimize_for_size (no
# change); the panic_immediate_abort std feature, which 1.95 refuses (it became the -Cpanic
# strategy above).
# A panic ended in that same trap before (panic = "abort" in Cargo.toml), so the worker
# behaves as it did; only the size changes. A trap leaves the wasm instance unusable (cells
# left borrowed, its stack pointer not restored), which is why the engine and shell have no
# panic paths on outside data: a panic kills the service worker, with or without this.
# RUSTC_BOOTSTRAP=1 lets the stable toolchain take these unstable flags. They go to this one
# cargo call, which has its own target directory (target/build-std): the test tiers' builds
# (host, wasm-bindgen-test, demo server) never see them, and neither cache is rebuilt when
# switching. Without rust-src, or with a toolchain that lacks a flag, the build says so and
# falls back to the prebuilt standard library.
STD_RUSTFLAGS=(-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Csymbol-mangling-version=legacy)
std="${LOCKSTEP_STD:-rebuilt}"
case "$std" in
  rebuilt | prebuilt) ;;
  *) die "LOCKSTEP_STD=$std: expected 'rebuilt' (default) or 'prebuilt'" ;;
esac
if [ "$std" = rebuilt ]; then
  if ! ensure_rust_src; then
    note "falling back to the prebuilt standard library (the module is ~3.8 KB gzip larger)"
    std=prebuilt
  elif ! RUSTC_BOOTSTRAP=1 rustc "${STD_RUSTFLAGS[@]}" --print cfg --target wasm32-unknown-unknown \
    >/dev/null 2>&1; then
    note "$(rustc --version) does not take ${STD_RUSTFLAGS[*]}:"
    note "falling back to the prebuilt standard library (the module is ~3.8 KB gzip larger)"
    std=prebuilt
  fi
fi
target_dir="${CARGO_TARGET_DIR:-target}"
if [ "$std" = rebuilt ]; then
  step "Compiling the lockstep crate and a size-optimised standard library for wasm32-unknown-unknown (release)"
  target_dir="$target_dir/build-std"
  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target_dir" RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }${STD_RUSTFLAGS[*]}" \
    cargo build -p lockstep --lib --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
else
  step "Compiling the lockstep crate for wasm32-unknown-unknown (release, prebuilt standard library)"
  cargo build -p lockstep --lib --release --target wasm32-unknown-unknown
fi
raw_wasm="$target_dir/wasm32-unknown-unknown/release/lockstep.wasm"
[ -f "$raw_wasm" ] || die "$raw_wasm was not produced"

out="$(mktemp -d "${TMPDIR:-/tmp}/lockstep-build.XXXXXX")"
trap 'rm -rf "$out"' EXIT

step "Generating the JS glue (wasm-bindgen --target no-modules)"
wasm-bindgen --target no-modules --no-typescript --remove-producers-section --out-dir "$out" --out-name lockstep "$raw_wasm"

wasm_opt="$LOCKSTEP_ROOT/node_modules/.bin/wasm-opt"
if [ "${LOCKSTEP_NO_OPT:-0}" = 1 ]; then
  note "LOCKSTEP_NO_OPT=1: skipping wasm-opt"
elif [ -x "$wasm_opt" ]; then
  step "Shrinking the module (wasm-opt, binaryen $("$wasm_opt" --version | awk '{print $3}'))"
  # The features rustc's wasm32 target emits by default; wasm-opt must be told it may keep them.
  # --strip-target-features: the section only tells tools what the module uses.
  # --flatten --rereloop, then -Oz twice: the Relooper rebuilds the control flow of the big
  # async state machines smaller (~0.5 KB gzip; adds ~15 s to the build).
  "$wasm_opt" -Oz --flatten --rereloop -Oz -Oz --strip-producers --strip-target-features \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$out/lockstep_bg.opt.wasm" "$out/lockstep_bg.wasm"
  mv "$out/lockstep_bg.opt.wasm" "$out/lockstep_bg.wasm"
else
  note "wasm-opt not found at $wasm_opt (run npm ci): shipping the unoptimised module"
fi

step "Shortening the names shared by the module and its glue"
node scripts/short-names.mjs "$out/lockstep_bg.wasm" "$out/lockstep.js"

step "Assembling dist/"
for f in "${SW_FILES[@]}"; do cp "sw/$f" "$out/$f"; done
# The bootstrap keys the cached module by its content: a new build is a new worker version,
# and it never runs the previous module with its own glue.
# The full SHA-256: the bootstrap also checks the module bytes it stored against it.
wasm_hash="$(sha256sum "$out/lockstep_bg.wasm" | cut -c1-64)"
sed -i "s/__LOCKSTEP_WASM_HASH__/$wasm_hash/" "$out/lockstep-sw.js"
note "module hash $wasm_hash"
# The page client (an ES module with its .d.ts, not in the shipped-size figure) is copied as
# written; the glue and the bootstrap are minified (comments, whitespace, local names).
terser="$LOCKSTEP_ROOT/node_modules/.bin/terser"
if [ -x "$terser" ]; then
  for f in lockstep.js lockstep-sw.js; do
    "$terser" "$out/$f" --compress --mangle -o "$out/$f.min"
    mv "$out/$f.min" "$out/$f"
  done
else
  note "terser not found at $terser (run npm ci): shipping the glue and bootstrap unminified"
fi
mkdir -p dist
# Replace file by file so a running dev server never sees an empty dist/.
for f in lockstep-sw.js lockstep.js lockstep_bg.wasm lockstep-client.js lockstep-client.d.ts; do
  cp "$out/$f" "dist/$f.tmp" && mv "dist/$f.tmp" "dist/$f"
done

gz() { gzip -9 -c "$1" | wc -c; }
printf '\n%-22s %9s %9s\n' "dist/" "raw B" "gzip-9 B"
for f in lockstep-sw.js lockstep.js lockstep_bg.wasm lockstep-client.js lockstep-client.d.ts; do
  printf '%-22s %9d %9d\n' "$f" "$(wc -c <"dist/$f")" "$(gz "dist/$f")"
done
shipped=$(($(gz dist/lockstep_bg.wasm) + $(gz dist/lockstep.js) + $(gz dist/lockstep-sw.js)))
printf '\nshipped size (wasm + glue + bootstrap, gzip -9): %d B = %s of %s target' \
  "$shipped" "$(human_size "$shipped")" "$(human_size "$SIZE_TARGET")"
if [ "$shipped" -le "$SIZE_TARGET" ]; then
  printf ' — OK\n'
else
  printf ' — OVER by %s\n' "$(human_size $((shipped - SIZE_TARGET)))"
  # Reported, not fatal: the size is a benchmark figure; set LOCKSTEP_SIZE_STRICT=1 to enforce.
  [ "${LOCKSTEP_SIZE_STRICT:-0}" = 1 ] && die "shipped size over target"
fi
exit 0
