#!/usr/bin/env bash
# Tests scripts/mkcert.sh in a sandbox: temporary CAROOT, HOME (own NSS db) and
# LOCKSTEP_CERT_DIR; only the sandbox NSS db is used as a trust store (TRUST_STORES=nss).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CAROOT=$tmp/ca HOME=$tmp/home LOCKSTEP_CERT_DIR=$tmp/certs TRUST_STORES=nss
unset LOCKSTEP_CERT_NAMES
mkdir -p "$CAROOT" "$HOME"
cert=$LOCKSTEP_CERT_DIR/lockstep.pem
key=$LOCKSTEP_CERT_DIR/lockstep-key.pem

passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; [ -f "$tmp/out" ] && sed 's/^/     | /' "$tmp/out"; return 0; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
run() { "$here/mkcert.sh" "$@" >"$tmp/out" 2>&1; }
mtime() { stat -c %Y "$1" 2>/dev/null || stat -f %m "$1"; }
sans() { openssl x509 -noout -ext subjectAltName -in "$cert" 2>/dev/null; }
has_san() { sans | grep -qF -- "$1"; }

check "--help exits 0 and prints usage" bash -c "'$here/mkcert.sh' --help | grep -q 'Usage:'"
check "unknown option fails" bash -c "! '$here/mkcert.sh' --bogus >/dev/null 2>&1"
check "bad name fails" bash -c "! '$here/mkcert.sh' 'bad name;' >/dev/null 2>&1"

check "first run succeeds" run
check "first run issues the certificate" grep -q 'issuing' "$tmp/out"
check "certificate and key exist" test -s "$cert" -a -s "$key"
check "key is private (0600)" test "$(stat -c %a "$key" 2>/dev/null || stat -f %Lp "$key")" = 600
check "NSS database was created" test -f "$HOME/.pki/nssdb/cert9.db"
check "CA was created in CAROOT" test -f "$CAROOT/rootCA.pem"
check "CA is in the sandbox NSS database" bash -c "certutil -L -d 'sql:$HOME/.pki/nssdb' | grep -qi mkcert"
check "certificate verifies against the CA" bash -c "openssl verify -CAfile '$CAROOT/rootCA.pem' '$cert' >/dev/null"
for san in DNS:localhost 'IP Address:127.0.0.1' 'IP Address:0:0:0:0:0:0:0:1' 'DNS:*.example.test' \
           DNS:example.test DNS:app1.example.test DNS:app2.example.test DNS:api.example.test; do
  check "SAN has $san" has_san "$san"
done

before=$(mtime "$cert")
sleep 1.1
check "second run succeeds" run
check "second run says nothing to do" grep -q 'nothing to do' "$tmp/out"
check "second run leaves the certificate alone" test "$(mtime "$cert")" = "$before"

check "run with an extra name succeeds" run extra.example.test
check "extra name reissues" test "$(mtime "$cert")" != "$before"
check "new certificate has the extra SAN" has_san DNS:extra.example.test
after_extra=$(mtime "$cert")
sleep 1.1
check "same extra name again: nothing to do" run extra.example.test
check "same extra name again: certificate unchanged" test "$(mtime "$cert")" = "$after_extra"
check "LOCKSTEP_CERT_NAMES counts as the same names" env LOCKSTEP_CERT_NAMES=extra.example.test bash -c "'$here/mkcert.sh' >'$tmp/out' 2>&1"
check "LOCKSTEP_CERT_NAMES: certificate unchanged" test "$(mtime "$cert")" = "$after_extra"

check "run without the extra name succeeds" run
check "dropped name is gone from the SANs" bash -c "! openssl x509 -noout -ext subjectAltName -in '$cert' | grep -q extra.example.test"

# A certificate about to expire (and not from our CA) is replaced.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$key" -out "$cert" >/dev/null 2>&1
check "near expiry: run succeeds" run
check "near expiry: reissued" grep -q 'expires within' "$tmp/out"
check "near expiry: new certificate is valid > 30 days" bash -c "openssl x509 -noout -checkend $((30 * 86400)) -in '$cert' >/dev/null"

check "--force reissues" bash -c "'$here/mkcert.sh' --force 2>&1 | grep -q 'issuing'"

printf '\n%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
