#!/usr/bin/env bash
# Run node's built-in test runner with the JUnit reporter, then sign and verify the report.
#
#   SIGNING_KEY=key.pem SIGNING_CERT=cert.pem examples/node_test_runner.sh [OUT_DIR]
#
# Without SIGNING_KEY, `jux sign` uses the configured signer (by default the `jux keygen` key)
# and verification uses SIGNING_CERT (default: the `jux keygen` certificate).
# Needs node >= 20 and the `jux` command (override with JUX=/path/to/jux).
# Exit status: node's (non-zero when a test failed) unless signing or verifying failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-node-results}"
jux="${JUX:-jux}"
mkdir -p "$out"

# 1. Run the tests. The spec reporter goes to the terminal, the JUnit reporter to a file.
status=0
node --test \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination="$out/node-junit.xml" \
  "$here"/node-tests/*.test.mjs || status=$?

# 2. Sign: the exact signed bytes go to a new file (a failing run is signed too: it is evidence).
sign_args=()
if [[ -n "${SIGNING_KEY:-}" ]]; then
  sign_args=(--key "$SIGNING_KEY")
  [[ -n "${SIGNING_CERT:-}" ]] && sign_args+=(--signing-cert "$SIGNING_CERT")
fi
"$jux" sign "$out/node-junit.xml" -o "$out/node-junit.signed.xml" "${sign_args[@]}"

# 3. Verify against the pinned certificate, as a consumer of the report would.
#    (`jux keygen` writes its certificate to the user config dir: $JUX_CONFIG_DIR or ~/.config/jux)
cert="${SIGNING_CERT:-${JUX_CONFIG_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/jux}/signing-cert.pem}"
"$jux" verify --cert "$cert" "$out/node-junit.signed.xml"

exit "$status"
