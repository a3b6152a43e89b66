#!/usr/bin/env bash
# The README's second command: install everything the test suite needs on a fresh machine
# (system packages: xmlsec1, SoftHSM2, a JDK; a venv with every Python dependency), then run
# linters, the type checker and the whole test suite (core, plugin, third-party example), then
# the plugin's tests again under pytest 7.4 and 8.x.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v xmlsec1 >/dev/null || need+=(xmlsec1)
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v javac >/dev/null || need+=(default-jdk-headless)
command -v git >/dev/null || need+=(git)
command -v chromium >/dev/null || need+=(chromium)          # the HTML evidence report, in a real browser
command -v chromedriver >/dev/null || need+=(chromium-driver)
if ((${#need[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "+ apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "WARNING: Location" || true
.venv/bin/python -m pip install -q -e ".[dev]" -e plugins/pytest-jux -e examples/jux-sqlite-store -e tools/mutation 2>&1 \
  | grep -v "WARNING: Location" || true

echo "+ ruff"
.venv/bin/ruff check src tests plugins examples benchmarks tools
echo "+ mypy --strict src and the plugin"
.venv/bin/mypy
MYPYPATH=src .venv/bin/mypy --strict plugins/pytest-jux/src/pytest_jux

run_pytest_in() {
  # run_pytest_in VENV ARGS...: pytest exit code 5 (no tests collected) is a failure here too.
  local venv=$1
  shift
  set +e
  "$venv/bin/pytest" "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then echo "error: no tests were collected for: $*" >&2; return 1; fi
  return "$rc"
}
run_pytest() { run_pytest_in .venv "$@"; }

export JUX_REQUIRE_SOFTHSM=1  # SoftHSM2 is installed above: its tests must run, not skip
export JUX_REQUIRE_CHROMIUM=1  # so is Chromium: the HTML report test must run, not skip
# The fuzz suite (tests/fuzz) in its bounded, derandomised CI profile (about a minute); the long
# release run is JUX_FUZZ_PROFILE=release (docs/how-to/run-the-fuzz-suite.md).
export JUX_FUZZ_PROFILE=ci
echo "+ pytest (core)"
run_pytest -q tests
echo "+ pytest (pytest-jux plugin, pytest $(.venv/bin/python -c 'import pytest; print(pytest.__version__)'))"
run_pytest -q -p pytester plugins/pytest-jux/tests
echo "+ pytest (third-party backend example)"
run_pytest -q examples/jux-sqlite-store/tests

# The pytest plugin uses only public pytest API: its tests also run against the oldest pytest it
# supports (7.4) and the previous major (8.x), each in a small venv next to .venv (the main venv
# has the newest pytest). The sslib extra serves the attestation test that checks with
# securesystemslib. Re-running reuses the venvs; pip only checks what is installed.
for series in 7.4 8; do
  venv=".venv-pytest$series"
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  "$venv/bin/python" -m pip install -q "pytest==$series.*" pytest-xdist pytest-metadata \
    -e ".[sslib]" -e plugins/pytest-jux 2>&1 | grep -v "WARNING: Location" || true
  echo "+ pytest (pytest-jux plugin, pytest $("$venv/bin/python" -c 'import pytest; print(pytest.__version__)'))"
  run_pytest_in "$venv" -q -p pytester plugins/pytest-jux/tests
done

# Mutation testing of the verification path (tools/mutation/README.md): a deterministic sample of
# the mutants (size and seed in tools/mutation/cosmic-ray.toml, a few minutes, two at a time).
# Last, so that every test above has run when it fails. Exit 1: the score is below the 95 %
# target; exit 2: a tooling error (or the tests fail unmutated). Either fails the run.
echo "+ mutation testing (CI sample of the verification path)"
.venv/bin/jux-mutation --ci --workers 2
