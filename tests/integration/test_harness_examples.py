"""Every example in examples/ runs for real: the stdlib unittest harness, a 50-file Surefire
directory merged and signed, node's test runner (`node --test --test-reporter=junit`), CTest's
`--output-junit`, and a custom harness that never writes its report to disk."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import juxsdk
from tests.unit.test_merge import make_surefire_dir, xmlsec1_verify

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
VENV_BIN = Path(sys.executable).parent
JUX = str(VENV_BIN / "jux")
NODE = shutil.which("node")
CMAKE, CTEST = shutil.which("cmake"), shutil.which("ctest")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)  # JUX_CONFIG_DIR / JUX_DATA_DIR are isolated by the autouse fixture
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["JUX"] = JUX
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=_env(**extra), capture_output=True, text=True, timeout=120)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


@pytest.fixture
def keygen(work: Path) -> Path:
    """`jux keygen` for real: the default key and certificate in the isolated user config dir."""
    result = run([JUX, "keygen", "--type", "ec"], work)
    assert result.returncode == 0, result.stderr
    cert = Path(os.environ["JUX_CONFIG_DIR"]) / "signing-cert.pem"
    assert cert.is_file()
    return cert


def verify(path: Path, cert: Path) -> juxsdk.VerifiedReport:
    return juxsdk.verify_report(path.read_bytes(), juxsdk.TrustedCertificates.from_pem_file(cert), source=path.name)


def stored_reports() -> list[Path]:
    return sorted((Path(os.environ["JUX_DATA_DIR"]) / "reports").rglob("*.xml"))


def test_unittest_harness_with_the_configured_signer(work: Path, keygen: Path) -> None:
    result = run([sys.executable, str(EXAMPLES / "unittest_harness.py"), "--out", "u.xml"], work)
    assert result.returncode == 0, result.stderr
    verified = verify(work / "u.xml", keygen)
    s = verified.summary
    assert (s.tests, s.failures, s.errors, s.skipped) == (5, 0, 0, 1)
    props = dict(verified.properties)
    assert props["jux:harness"] == "unittest" and "jux:timestamp" in props
    names = verified.signed_content.decode()
    assert 'name="test_negative_rpm_rejected"' in names and 'classname="__main__.PumpTests"' in names
    # the configured pipeline also stored it (default store: filesystem in the user data dir)
    assert [p.read_bytes() for p in stored_reports()] == [(work / "u.xml").read_bytes()]


def test_unittest_harness_with_an_explicit_key(work: Path, rsa_keys) -> None:
    result = run(
        [sys.executable, str(EXAMPLES / "unittest_harness.py"), "--out", "u.xml", "--key", str(rsa_keys.key_path),
         "--cert", str(rsa_keys.cert_path)],
        work,
    )
    assert result.returncode == 0, result.stderr
    assert verify(work / "u.xml", rsa_keys.cert_path).summary.tests == 5
    check = xmlsec1_verify(work / "u.xml", rsa_keys.cert_path)
    assert check.returncode == 0, check.stderr
    assert stored_reports() == []  # the explicit-key path signs only


def test_surefire_merge_example(work: Path, keygen: Path, corpus_dir: Path) -> None:
    reports = work / "target" / "surefire-reports"
    make_surefire_dir(corpus_dir, reports, 50)
    (reports / "failsafe-summary.xml").write_text('<failsafe-summary result="0"/>', encoding="utf-8")
    result = run(
        [sys.executable, str(EXAMPLES / "surefire_merge.py"), "target/surefire-reports", "--out", "merged.xml",
         "--project", "pump-controller"],
        work,
    )
    assert result.returncode == 0, result.stderr
    assert "merged 50 reports" in result.stdout
    verified = verify(work / "merged.xml", keygen)
    expected = [juxsdk.parse_report(p.read_bytes()).summary for p in sorted(reports.glob("TEST-*.xml"))]
    s = verified.summary
    assert s.tests == sum(e.tests for e in expected)
    assert s.failures == sum(e.failures for e in expected)
    assert s.errors == sum(e.errors for e in expected)
    assert s.skipped == sum(e.skipped for e in expected)
    props = dict(verified.properties)
    assert verified.project == "pump-controller"
    assert props["jux:merged_reports"] == "50" and "jux:source:50" in props
    check = subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-cert-pem", str(keygen), "--enabled-key-data", "x509,ec", "merged.xml"],
        cwd=work, capture_output=True, text=True, timeout=60,
    )
    assert check.returncode == 0, check.stderr


def test_node_test_runner_example(work: Path, rsa_keys) -> None:
    if NODE is None:
        pytest.skip("node is not installed (the example needs node >= 20)")
    result = run(
        ["bash", str(EXAMPLES / "node_test_runner.sh"), "node-results"],
        work,
        SIGNING_KEY=str(rsa_keys.key_path),
        SIGNING_CERT=str(rsa_keys.cert_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    raw = (work / "node-results" / "node-junit.xml").read_bytes()
    assert b"<testsuites>" in raw and b'<testcase name="flow at rest is zero"' in raw  # node wrote it
    signed = work / "node-results" / "node-junit.signed.xml"
    # the signed file is node's bytes plus the signature element, nothing re-serialised
    assert re.sub(rb"<ds:Signature .*</ds:Signature>", b"", signed.read_bytes(), flags=re.S) == raw
    verified = verify(signed, rsa_keys.cert_path)
    s = verified.summary
    assert (s.tests, s.failures, s.errors, s.skipped) == (6, 0, 0, 2)  # a skip and a todo
    assert "OK   node-results/node-junit.signed.xml" in result.stdout
    assert xmlsec1_verify(signed, rsa_keys.cert_path).returncode == 0


def test_node_example_with_the_keygen_key(work: Path, keygen: Path) -> None:
    if NODE is None:
        pytest.skip("node is not installed (the example needs node >= 20)")
    result = run(["bash", str(EXAMPLES / "node_test_runner.sh"), "out"], work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verify(work / "out" / "node-junit.signed.xml", keygen).summary.tests == 6


def test_ctest_example(work: Path, rsa_keys) -> None:
    if CMAKE is None or CTEST is None:
        pytest.skip("cmake/ctest are not installed (the example needs CMake >= 3.21)")
    result = run(
        ["bash", str(EXAMPLES / "ctest_junit.sh"), "build"],
        work,
        SIGNING_KEY=str(rsa_keys.key_path),
        SIGNING_CERT=str(rsa_keys.cert_path),
    )
    assert result.returncode == 8, result.stdout + result.stderr  # ctest: a test failed
    signed = work / "build" / "ctest-junit.signed.xml"
    verified = verify(signed, rsa_keys.cert_path)
    s = verified.summary
    assert (s.tests, s.failures, s.errors, s.skipped) == (3, 1, 0, 1)
    content = verified.signed_content.decode()
    assert 'name="valve_leak_check"' in content and "SKIP_RETURN_CODE=77" in content
    assert xmlsec1_verify(signed, rsa_keys.cert_path).returncode == 0


def test_custom_harness_writes_no_report_file(work: Path, rsa_keys) -> None:
    store = work / "store"
    result = run(
        [sys.executable, str(EXAMPLES / "custom_harness.py"), "--key", str(rsa_keys.key_path), "--cert",
         str(rsa_keys.cert_path), "--store", str(store)],
        work,
    )
    assert result.returncode == 0, result.stderr
    assert "verified: 2 tests, 1 failures, project=gateway" in result.stdout
    digest = result.stdout.strip().splitlines()[-1]
    assert digest.startswith("sha256:")
    # the only report on disk is the one the store wrote, keyed by its canonical hash
    files = sorted(p for p in work.rglob("*.xml"))
    assert files == [store / digest[7:9] / f"{digest[7:]}.xml"]
    verified = verify(files[0], rsa_keys.cert_path)
    assert verified.canonical_hash == digest
    assert dict(verified.properties)["jux:harness"] == "custom"
    assert (store / digest[7:9] / f"{digest[7:]}.json").is_file()


def test_readme_lists_every_example() -> None:
    text = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    tested = (REPO / "tests" / "integration" / "test_harness_examples.py").read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.iterdir()):
        if path.name == "README.md" or path.name.startswith("."):
            continue
        assert f"({path.name})" in text, f"examples/README.md does not link {path.name}"
        if path.suffix in (".py", ".sh"):
            assert f'"{path.name}"' in tested, f"{path.name} is not run by this test module"
