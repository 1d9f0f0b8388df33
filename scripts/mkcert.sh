#!/usr/bin/env bash
# Local HTTPS for Lockstep: a locally-trusted CA (mkcert) and one certificate for every
# demo host name. Idempotent: does nothing while the certificate is fresh and right.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/mkcert.sh [--force] [EXTRA_NAME...]

Issues certs/lockstep.pem and certs/lockstep-key.pem, signed by mkcert's local CA, for
  localhost 127.0.0.1 ::1 example.test *.example.test app1.example.test
  app2.example.test api.example.test
plus any EXTRA_NAME given here or in $LOCKSTEP_CERT_NAMES (space-separated).

Steps: installs mkcert and certutil (libnss3-tools) when missing (apt-get; prints hints
elsewhere), creates Chromium's NSS database ~/.pki/nssdb when missing, runs
`mkcert -install` (trusts the CA; idempotent), then issues the certificate unless the
existing one covers exactly the wanted names, is signed by the current CA and is valid
for more than 30 days.

Options:
  --force        reissue even when the existing certificate is fine
  -h, --help     this text

Environment:
  LOCKSTEP_CERT_DIR    where to write (default: certs/ at the repository root)
  LOCKSTEP_CERT_NAMES  extra names, space-separated
  CAROOT               mkcert's CA directory (default: `mkcert -CAROOT`)
  TRUST_STORES         mkcert's trust stores to install into (e.g. "nss")

Custom names such as app1.example.test must resolve to 127.0.0.1: add them to
/etc/hosts, or start Chromium with --host-resolver-rules="MAP *.example.test 127.0.0.1".
USAGE
}

say() { printf 'mkcert.sh: %s\n' "$*"; }
die() { printf 'mkcert.sh: error: %s\n' "$*" >&2; exit 1; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cert_dir=${LOCKSTEP_CERT_DIR:-$repo_root/certs}
cert_file=$cert_dir/lockstep.pem
key_file=$cert_dir/lockstep-key.pem
names_file=$cert_dir/.names
renew_days=30

force=0
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --force) force=1 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) extra+=("$1") ;;
  esac
  shift
done
# shellcheck disable=SC2206 # word splitting of the env list is intended
extra+=(${LOCKSTEP_CERT_NAMES:-})

names=(localhost 127.0.0.1 ::1 example.test '*.example.test' app1.example.test app2.example.test api.example.test)
for name in "${extra[@]+"${extra[@]}"}"; do
  case $name in
    *[!A-Za-z0-9.:*-]*|'') die "not a host name or IP address: '$name'" ;;
  esac
  names+=("$name")
done
# One name per line, sorted, no duplicates: the form stored in certs/.names.
wanted=$(printf '%s\n' "${names[@]}" | LC_ALL=C sort -u)

install_tools() {
  local missing=()
  command -v mkcert >/dev/null 2>&1 || missing+=(mkcert)
  command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
  [ ${#missing[@]} -eq 0 ] && return 0
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install ${missing[*]}"
      sudo=(sudo)
    fi
    say "installing ${missing[*]} with apt-get"
    "${sudo[@]+"${sudo[@]}"}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]+"${sudo[@]}"}" apt-get install -y -qq "${missing[@]}"
    return 0
  fi
  cat >&2 <<HINT
mkcert.sh: error: missing ${missing[*]}, and apt-get is not available. Install by hand:
  macOS:    brew install mkcert nss
  Windows:  choco install mkcert     (or: scoop install mkcert)
  Fedora:   sudo dnf install mkcert nss-tools
  Arch:     sudo pacman -S mkcert nss
  other:    https://github.com/FiloSottile/mkcert#installation
then run this script again.
HINT
  exit 1
}

ensure_nss_db() {
  # Chromium on Linux trusts the CAs in ~/.pki/nssdb; mkcert only fills a db that exists.
  [ "$(uname -s)" = Linux ] || return 0
  command -v certutil >/dev/null 2>&1 || return 0
  local db=$HOME/.pki/nssdb
  if [ ! -f "$db/cert9.db" ] && [ ! -f "$db/cert8.db" ]; then
    say "creating Chromium's NSS database $db"
    mkdir -p "$db"
    certutil -N --empty-password -d "sql:$db"
  fi
}

# Prints why the current certificate must be (re)issued; prints nothing when it is fine.
reissue_reason() {
  [ "$force" -eq 1 ] && { echo "--force"; return; }
  [ -f "$cert_file" ] && [ -f "$key_file" ] || { echo "no certificate yet"; return; }
  [ -f "$names_file" ] && [ "$(cat "$names_file")" = "$wanted" ] || { echo "the host names changed"; return; }
  command -v openssl >/dev/null 2>&1 || { echo "openssl is missing, so validity cannot be checked"; return; }
  openssl x509 -noout -checkend $((renew_days * 86400)) -in "$cert_file" >/dev/null 2>&1 \
    || { echo "it expires within $renew_days days"; return; }
  openssl verify -CAfile "$ca_root/rootCA.pem" "$cert_file" >/dev/null 2>&1 \
    || { echo "it is not signed by the current CA ($ca_root)"; return; }
}

install_tools
ensure_nss_db
say "trusting mkcert's local CA (mkcert -install)"
mkcert -install
ca_root=$(mkcert -CAROOT)

reason=$(reissue_reason)
if [ -z "$reason" ]; then
  say "$cert_file is up to date (valid > $renew_days days, same names): nothing to do"
  exit 0
fi

say "issuing $cert_file: $reason"
mkdir -p "$cert_dir"
# Write beside the target, then move: a running server never reads a half-written pair.
tmp_cert=$cert_dir/.lockstep.pem.tmp
tmp_key=$cert_dir/.lockstep-key.pem.tmp
trap 'rm -f "$tmp_cert" "$tmp_key"' EXIT
mapfile -t name_list <<<"$wanted"
mkcert -cert-file "$tmp_cert" -key-file "$tmp_key" "${name_list[@]}"
chmod 600 "$tmp_key"
mv -f "$tmp_key" "$key_file"
mv -f "$tmp_cert" "$cert_file"
printf '%s\n' "$wanted" >"$names_file"
say "wrote $cert_file and $key_file for: $(echo "$wanted" | tr '\n' ' ')"
say "custom names need to resolve to 127.0.0.1 (/etc/hosts or Chromium's --host-resolver-rules)"
