#!/usr/bin/env bash
# The README's first command: install juxsdk and the pytest plugin into .venv, then run the main
# job on real input with the embedded defaults (file key, filesystem store):
#   generate a signing key -> sign a Maven Surefire report -> verify it -> submit (sign + store)
#   every well-formed report of the shared corpus -> run the example pytest suite with the plugin
#   -> list the store -> verify every stored report from disk.
# State is kept in ./.jux-demo (JUX_CONFIG_DIR / JUX_DATA_DIR) so your real ~/.config is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -e . -e plugins/pytest-jux 2>&1 | grep -v "WARNING: Location" || true

export JUX_CONFIG_DIR="$PWD/.jux-demo/config" JUX_DATA_DIR="$PWD/.jux-demo/data"
CORPUS=../shared/corpus/jux-test-fixtures
JUX=.venv/bin/jux
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. signing key (RSA + self-signed certificate) in $JUX_CONFIG_DIR"
[ -f "$JUX_CONFIG_DIR/signing-key.pem" ] || $JUX keygen --subject "juxsdk quickstart"
CERT="$JUX_CONFIG_DIR/signing-cert.pem"

step "2. sign one Maven Surefire report and verify it"
$JUX sign "$CORPUS/raw/maven-surefire/spring-boot-tests.xml" -o .jux-demo/spring-boot-tests.signed.xml
$JUX verify --cert "$CERT" .jux-demo/spring-boot-tests.signed.xml
$JUX inspect .jux-demo/spring-boot-tests.signed.xml

step "3. submit (sign + store) every well-formed corpus report"
mapfile -t files < <(find "$CORPUS/raw" "$CORPUS/enriched" "$CORPUS/edge-cases" -name '*.xml' \
  -not -path '*/malformed/*' -not -name nightly-build.xml | sort)
# every result goes to a log; the first two records are shown whole, then the tally
# ("N of M reports submitted")
$JUX submit "${files[@]}" > .jux-demo/submit.log 2> .jux-demo/submit.err
awk '/^[^ ]/ { n++ } n > 2 { exit } { print }' .jux-demo/submit.log
echo "… every result in .jux-demo/submit.log"
cat .jux-demo/submit.err

step "4. run the example pytest suite with the pytest-jux plugin (signs and stores its report)"
.venv/bin/pytest -q -p no:cacheprovider examples/pytest-demo --jux --junitxml .jux-demo/pytest-demo.xml || true
$JUX verify --cert "$CERT" .jux-demo/pytest-demo.xml

step "5. the store"
$JUX cache stats
$JUX cache list > .jux-demo/cache-list.txt
head -n 6 .jux-demo/cache-list.txt               # the header and the newest five reports

step "6. verify every stored report from disk"
# a directory, like sign/submit/merge: one line per report (logged), then "N verified, M failed"
rc=0
$JUX verify --cert "$CERT" "$JUX_DATA_DIR/reports" > .jux-demo/verify.log 2> .jux-demo/verify.err || rc=$?
head -n 2 .jux-demo/verify.log
echo "… every result in .jux-demo/verify.log"
cat .jux-demo/verify.err                       # the trust line and the tally
[ "$rc" -eq 0 ]
echo
echo "done: state in .jux-demo/ (delete it to start over)"
