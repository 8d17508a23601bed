#!/usr/bin/env sh
# Verify a signed .hfm artifact without Python: OpenSSL 3 (Ed25519), unzip, sha256sum, sed, base64.
# usage: verify_artifact.sh ARTIFACT.hfm PUBLIC_KEY.pub
# Exit 0 when a signature by that key verifies over manifest.json and every member matches its manifest hash.
# docs/trust.md explains each step; tests/unit/test_trust.py runs this script.
set -eu
artifact=$1
public_key=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. The signed message: a fixed prefix, then the sha256 (hex) of manifest.json's exact bytes.
unzip -p "$artifact" manifest.json > "$work/manifest.json"
digest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
printf 'hfm-artifact-signature-v1\n%s' "$digest" > "$work/message"

# 2. The signature made by this key: signature.json lists one entry per key, key id = sha256(raw key)[:16].
key_id=$(openssl pkey -pubin -in "$public_key" -outform DER | tail -c 32 | sha256sum | cut -c1-16)
unzip -p "$artifact" signature.json | tr -d ' \n' | sed 's/},{/}\n{/g' | grep "\"key_id\":\"$key_id\"" \
  | sed 's/.*"signature":"\([^"]*\)".*/\1/' | base64 -d > "$work/signature.bin"
[ -s "$work/signature.bin" ] || { echo "no signature by key $key_id" >&2; exit 1; }
openssl pkeyutl -verify -pubin -inkey "$public_key" -rawin -in "$work/message" -sigfile "$work/signature.bin" >/dev/null \
  || { echo "signature by key $key_id does not verify" >&2; exit 1; }

# 3. Every member but manifest.json and signature.json must have the sha256 the (now trusted) manifest lists.
unzip -Z1 "$artifact" | grep -v -x -e manifest.json -e signature.json | while read -r member; do
  hash=$(unzip -p "$artifact" "$member" | sha256sum | cut -d' ' -f1)
  grep -q "\"$member\": \"$hash\"" "$work/manifest.json" || { echo "member $member does not match the manifest" >&2; exit 1; }
done
echo "verified: signed by $key_id, manifest sha256 $digest"
