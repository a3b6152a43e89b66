"""`jux attest`, `jux verify-attestation`, `jux submit --attest/--attestation`, `jux cache show` attachments."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from juxsdk.keys import generate_key_pair
from tests.cli.conftest import Jux, assert_clean_error
from tests.conftest import CORPUS

REPORT = CORPUS / "enriched" / "pytest" / "xunit2-basic.xml"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def keys(directory: Path, name: str = "ci", key_type: str = "rsa") -> tuple[Path, Path]:
    key, cert = directory / f"{name}-key.pem", directory / f"{name}-cert.pem"
    generate_key_pair(key, cert, key_type=key_type, bits=2048, subject=f"{name} signer")
    return key, cert


def git_repo(path: Path) -> str:
    run = lambda *a: subprocess.run(["git", "-C", str(path), *a], check=True, capture_output=True, text=True)  # noqa: E731
    run("init", "-q")
    run("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "init")
    return run("rev-parse", "HEAD").stdout.strip()


def payload(path: Path) -> dict:
    return json.loads(base64.b64decode(json.loads(path.read_bytes())["payload"]))


def test_attest_an_unsigned_report_through_the_pipeline_and_verify_it(jux: Jux, workdir: Path, data_dir: Path) -> None:
    head = git_repo(workdir)
    key, cert = keys(workdir)
    (workdir / "junit.xml").write_bytes(REPORT.read_bytes())
    result = jux("attest", "junit.xml", "--key", key, "--signing-cert", cert, "--signed-output", "signed.xml")
    assert result.exit_code == 0, result.output + result.stderr
    assert "attested junit.xml -> junit.intoto.json: FAILED (3 passed, 1 warned, 1 failed)" in result.stdout
    statement = payload(workdir / "junit.intoto.json")
    assert statement["subject"] == [{"digest": {"gitCommit": head}}]  # from the signed git:commit
    # the stored report got the attestation next to it, and `jux cache show` lists it
    stored = list((data_dir / "reports").rglob("*.att.intoto.json"))
    assert len(stored) == 1 and stored[0].read_bytes() == (workdir / "junit.intoto.json").read_bytes()
    shown = jux("cache", "show", stored[0].name[:8])
    assert json.loads(shown.stdout)["attachments"][0]["kind"] == "intoto.json"
    raw = jux("cache", "show", stored[0].name[:8], "--attachment", "intoto.json")
    assert raw.stdout_bytes == stored[0].read_bytes()

    ok = jux("verify-attestation", "--cert", cert, "--report", "signed.xml", "junit.intoto.json")
    assert ok.exit_code == 0, ok.output
    assert "report: sha256:" in ok.stdout and " verified" in ok.stdout
    as_json = json.loads(jux("verify-attestation", "--pubkey", cert, "--json", "junit.intoto.json").stdout)
    assert as_json["verified"] and as_json["result"] == "FAILED" and as_json["failedTests"] == ["tests.test_api::test_update_user"]


def test_attest_signed_report_with_trust_subject_and_cosign(jux: Jux, workdir: Path) -> None:
    ci_key, ci_cert = keys(workdir, "ci")
    rm_key, rm_cert = keys(workdir, "rm", key_type="ec")
    (workdir / "app.whl").write_bytes(b"artifact")
    assert jux("sign", str(REPORT), "-o", "signed.xml", "--key", ci_key, "--signing-cert", ci_cert).exit_code == 0
    # a report signed by CI, attested by the release manager: the report's signer must be trusted
    refused = jux("attest", "signed.xml", "--commit", COMMIT, "--key", rm_key, "--signing-cert", rm_cert)
    assert_clean_error(refused, 1, "not a pinned public key")
    made = jux(
        "attest", "signed.xml", "--commit", COMMIT, "--subject", "app.whl", "-o", "att.json",
        "--key", ci_key, "--signing-cert", ci_cert,
    )
    assert made.exit_code == 0, made.stderr
    assert payload(workdir / "att.json")["subject"][1]["name"] == "app.whl"
    co = jux("attest", "--cosign", "att.json", "--key", rm_key, "--signing-cert", rm_cert, "--trust-cert", ci_cert)
    assert co.exit_code == 0 and "(2 signatures)" in co.stdout
    both = ["verify-attestation", "--pubkey", ci_cert, "--pubkey", rm_cert, "--threshold", "2"]
    assert jux(*both, "--subject", "app.whl", "att.json").exit_code == 0
    one = jux("verify-attestation", "--pubkey", ci_cert, "--threshold", "2", "att.json")
    assert one.exit_code == 1 and "1 of the required 2" in one.stdout
    (workdir / "app.whl").write_bytes(b"tampered artifact")
    moved = jux("verify-attestation", "--cert", ci_cert, "--subject", "app.whl", "att.json")
    assert moved.exit_code == 1 and "is not a subject" in moved.stdout


def test_hostile_envelopes_get_one_line_refusals(jux: Jux, workdir: Path) -> None:
    _, cert = keys(workdir)
    cases = {
        "type.json": b'{"payload":"e30=","payloadType":"text/plain","signatures":[{"sig":"AA=="}]}',
        "b64.json": b'{"payload":"e30=*","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}',
        "dup.json": b'{"payload":"e30=","payload":"e30=","payloadType":"x","signatures":[]}',
        "many.json": json.dumps(
            {"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": [{"sig": "AA=="}] * 40}
        ).encode(),
        "deep.json": b"[" * 50_000 + b"]" * 50_000,
        "huge.json": b'{"payload":"' + b"A" * (17 * 1024 * 1024) + b'"}',
    }
    for name, data in cases.items():
        (workdir / name).write_bytes(data)
        result = jux("verify-attestation", "--cert", cert, name)
        assert result.exit_code == 1, (name, result.output)
        assert "Traceback" not in result.output and result.stdout.startswith(f"FAIL {name}: ")
        assert len(result.stdout.strip().splitlines()) <= 2, result.stdout
    assert jux("verify-attestation", "--cert", cert, "missing.json").exit_code == 3
    assert jux("verify-attestation", "type.json").exit_code == 2  # no trust policy


def test_submit_attest_and_attach_an_existing_attestation(jux: Jux, workdir: Path, data_dir: Path) -> None:
    git_repo(workdir)
    key, cert = keys(workdir)
    (workdir / "config.toml").write_text(
        f'signer = "file"\n[backends.file]\nkey = "{key}"\ncertificate = "{cert}"\n', encoding="utf-8"
    )
    (workdir / "a.xml").write_bytes(REPORT.read_bytes())
    result = jux("--config", "config.toml", "submit", "a.xml", "--attest")
    assert result.exit_code == 0, result.output + result.stderr
    assert "attestation written to a.intoto.json" in result.stdout
    assert len(list((data_dir / "reports").rglob("*.att.intoto.json"))) == 1
    assert jux("verify-attestation", "--cert", cert, "a.intoto.json").exit_code == 0

    # the pytest plugin's flow: a signed report and its attestation, submitted later
    assert jux("sign", str(REPORT), "-o", "b.xml", "--key", key, "--signing-cert", cert).exit_code == 0
    assert jux("attest", "b.xml", "--commit", COMMIT, "-o", "b.intoto.json", "--key", key, "--signing-cert", cert).exit_code == 0
    kept = jux("--config", "config.toml", "submit", "b.xml", "--attestation", "b.intoto.json")
    assert kept.exit_code == 0 and "attestation kept in filesystem" in kept.stdout
    wrong = jux("--config", "config.toml", "submit", "a.xml", "--attestation", "b.intoto.json", "--force")
    assert wrong.exit_code == 4 and "is about report" in wrong.stdout
    both = jux("submit", "a.xml", "--attest", "--attestation", "b.intoto.json")
    assert both.exit_code == 2
