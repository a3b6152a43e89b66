"""--jux-attest: the plugin writes an in-toto test-result attestation beside the signed report,
and securesystemslib (an independent DSSE implementation) verifies it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import juxsdk.attachments
import juxsdk.attestation
import juxsdk.dsse
import juxsdk.intoto
from juxsdk.attestation import verify_attestation
from juxsdk.trust import TrustedCertificates

from .conftest import stored_reports

SUITE = """
import pytest

def test_one(): pass
def test_two(): assert 1 + 1 == 2

@pytest.mark.skip(reason="demo")
def test_skipped(): pass
"""


def git_commit(path: Path) -> str:
    def run(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True).stdout

    run("init", "-q")
    run("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "init")
    return run("rev-parse", "HEAD").strip()


def test_attestation_beside_the_report_verifies_with_securesystemslib(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    from cryptography import x509
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    key, cert = keypair
    head = git_commit(pytester.path)
    pytester.makeini("[pytest]\njux_attest = attestations/junit.intoto.json\n")
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--junitxml=out.xml", "--jux", f"--jux-key={key}", f"--jux-cert={cert}")
    assert result.ret == 0
    path = pytester.path / "attestations" / "junit.intoto.json"
    result.stdout.fnmatch_lines([f"attestation: {path} (in-toto test-result PASSED: 2 passed, 1 warned, 0 failed)"])
    report = (pytester.path / "out.xml").read_bytes()

    verified = verify_attestation(path.read_bytes(), TrustedCertificates.from_pem_file(cert), report=report)
    assert verified.result == "PASSED" and verified.report is not None
    statement = verified.statement
    assert statement.subjects[0] == {"digest": {"gitCommit": head}}
    assert statement.passed_tests == ("test_attestation_beside_the_report_verifies_with_securesystemslib::test_one",
                                      "test_attestation_beside_the_report_verifies_with_securesystemslib::test_two")
    assert [c["name"] for c in statement.configuration] == ["out.xml", "tox.ini"]

    # securesystemslib verifies it, and it names the report's canonical hash
    public = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    sslib_key = SSlibKey.from_crypto(public, scheme="rsa-pkcs1v15-sha256")
    envelope = Envelope.from_dict(json.loads(path.read_bytes()))
    assert list(envelope.verify([sslib_key], 1)) == [sslib_key.keyid]
    named = json.loads(envelope.payload)["predicate"]["configuration"][0]["digest"]["juxCanonicalSha256"]
    assert "sha256:" + named == juxsdk.canonical_hash(report)

    # the store keeps it next to the report
    (stored,) = stored_reports(jux_env["data"])
    assert stored.with_name(stored.stem + ".att.intoto.json").read_bytes() == path.read_bytes()


def test_attestation_failure_is_reported_and_strict_mode_fails_the_session(
    pytester: pytest.Pytester, keypair: tuple[Path, Path]
) -> None:
    key, cert = keypair
    pytester.makepyfile(SUITE)  # no git repository: the report names no commit, so no subject
    args = ["--junitxml=out.xml", "--jux", f"--jux-key={key}", f"--jux-cert={cert}", "--jux-attest=a.json"]
    result = pytester.runpytest(*args)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["jux failed: an attestation needs a subject, and none is known"])
    assert not (pytester.path / "a.json").exists()
    assert pytester.runpytest(*args, "--jux-strict").ret == 1
