#!/usr/bin/env bash
# Build and run a CTest project with JUnit output (ctest --output-junit), then sign and verify it.
#
#   SIGNING_KEY=key.pem SIGNING_CERT=cert.pem examples/ctest_junit.sh [BUILD_DIR]
#
# Without SIGNING_KEY, `jux sign` uses the configured signer (by default the `jux keygen` key)
# and verification uses SIGNING_CERT (default: the `jux keygen` certificate).
# Needs cmake/ctest >= 3.21 and the `jux` command (override with JUX=/path/to/jux).
# Exit status: ctest's (8 when a test failed) unless signing or verifying failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-ctest-build}"
jux="${JUX:-jux}"

cmake -S "$here/ctest-project" -B "$build" >/dev/null

# 1. Run the tests. --output-junit is relative to the build directory.
status=0
ctest --test-dir "$build" --output-junit ctest-junit.xml || status=$?

# 2. Sign (a run with failures is signed too: it is evidence).
sign_args=()
if [[ -n "${SIGNING_KEY:-}" ]]; then
  sign_args=(--key "$SIGNING_KEY")
  [[ -n "${SIGNING_CERT:-}" ]] && sign_args+=(--signing-cert "$SIGNING_CERT")
fi
"$jux" sign "$build/ctest-junit.xml" -o "$build/ctest-junit.signed.xml" "${sign_args[@]}"

# 3. Verify against the pinned certificate.
#    (`jux keygen` writes its certificate to the user config dir: $JUX_CONFIG_DIR or ~/.config/jux)
cert="${SIGNING_CERT:-${JUX_CONFIG_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/jux}/signing-cert.pem}"
"$jux" verify --cert "$cert" "$build/ctest-junit.signed.xml"

exit "$status"
