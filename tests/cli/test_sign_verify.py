"""`jux sign` → `jux verify` round trips on corpus files, failures, and time travel (--at)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from tests.cli.conftest import assert_clean_error
from tests.conftest import KeyMaterial

CORPUS_SAMPLES = [
    "raw/pytest/xunit2-basic.xml",
    "raw/maven-surefire/multiple-classes.xml",
    "raw/cucumber/nested-features.xml",
    "enriched/generic/complete.xml",
    "edge-cases/unicode-content.xml",
]


@pytest.fixture(params=["rsa", "ec"])
def keypair(request, jux, workdir):
    kind = request.param
    args = ["--type", "rsa", "--bits", "2048"] if kind == "rsa" else ["--type", "ec"]
    result = jux("keygen", *args, "--out", f"{kind}-key.pem", "--cert-out", f"{kind}-cert.pem", "--subject", kind)
    assert result.exit_code == 0, result.stderr
    return workdir / f"{kind}-key.pem", workdir / f"{kind}-cert.pem", kind


@pytest.mark.parametrize("rel", CORPUS_SAMPLES)
def test_round_trip_on_corpus(jux, workdir, corpus_dir, keypair, rel):
    key, cert, kind = keypair
    src = corpus_dir / rel
    out = workdir / "signed.xml"
    signed = jux("sign", src, "-o", out, "--key", key, "--signing-cert", cert)
    assert signed.exit_code == 0, signed.stderr
    data = out.read_bytes()
    assert data.count(b"SignatureValue>") == 2  # one element: open + close tag
    alg = "rsa-sha256" if kind == "rsa" else "ecdsa-sha256"
    assert alg.encode() in data

    verified = jux("verify", "--cert", cert, out, "--json")
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    [entry] = json.loads(verified.stdout)
    assert entry["verified"] is True
    assert entry["signature"]["algorithm"] == alg
    assert entry["signature"]["certificate_subject"] == f"CN={kind}"

    inspected = json.loads(jux("inspect", src, "--json").stdout)
    assert entry["canonical_hash"] == inspected["canonical_hash"], "hash must not change with signing"
    assert entry["summary"]["tests"] == inspected["summary"]["tests"]


def test_stdin_stdout_binary_round_trip(jux, corpus_dir, keypair):
    key, cert, _ = keypair
    original = (corpus_dir / "edge-cases" / "unicode-content.xml").read_bytes()
    signed = jux("sign", "-", "--key", key, "--signing-cert", cert, input=original)
    assert signed.exit_code == 0, signed.stderr
    out = signed.stdout_bytes
    # the output is the input plus the signature: everything before the signature is unchanged
    sig_at = out.index(b"<ds:Signature")
    assert original.startswith(out[:sig_at])
    assert out.endswith(original[sig_at:]) or out.rstrip().endswith(original.rstrip()[-20:])

    verified = jux("verify", "--cert", cert, "-", input=out)
    assert verified.exit_code == 0, verified.stdout
    assert verified.stdout.startswith("OK")


def test_signed_output_verifies_from_pubkey_and_unsafe(jux, workdir, corpus_dir, keypair):
    key, cert, _ = keypair
    out = workdir / "s.xml"
    assert jux("sign", corpus_dir / "raw/generic/basic.xml", "-o", out, "--key", key, "--signing-cert", cert).exit_code == 0
    assert jux("verify", "--pubkey", cert, out).exit_code == 0
    unsafe = jux("verify", "--unsafe-accept-any-key", out)
    assert unsafe.exit_code == 0
    assert "UNSAFE" in unsafe.stdout


def test_tampered_and_wrong_cert_fail_with_reason(jux, workdir, corpus_dir):
    assert jux("keygen", "--type", "ec", "--out", "a-key.pem", "--cert-out", "a-cert.pem").exit_code == 0
    assert jux("keygen", "--type", "ec", "--out", "b-key.pem", "--cert-out", "b-cert.pem").exit_code == 0
    out = workdir / "s.xml"
    src = corpus_dir / "raw" / "pytest" / "xunit2-basic.xml"
    assert jux("sign", src, "-o", out, "--key", "a-key.pem", "--signing-cert", "a-cert.pem").exit_code == 0

    data = out.read_bytes()
    m = re.search(rb'<testcase [^>]*name="([^"]+)"', data)
    assert m
    name = m.group(1)
    tampered = data.replace(b'name="' + name + b'"', b'name="' + name[:-1] + b'X"', 1)
    assert tampered != data
    (workdir / "tampered.xml").write_bytes(tampered)

    result = jux("verify", "--cert", "a-cert.pem", "s.xml", "tampered.xml")
    assert result.exit_code == 1
    assert re.search(r"^OK\s+s\.xml", result.stdout, re.M)
    assert re.search(r"^FAIL tampered\.xml: .*digest", result.stdout, re.M | re.I)
    assert "Traceback" not in result.stdout + result.stderr

    wrong = jux("verify", "--cert", "b-cert.pem", "s.xml", "--json")
    assert wrong.exit_code == 1
    [entry] = json.loads(wrong.stdout)
    assert entry["verified"] is False
    assert entry["error"]["type"] == "UntrustedKeyError"
    assert "pinned" in entry["error"]["message"]


def test_unsigned_report_fails_verification(jux, corpus_dir, keypair):
    _, cert, _ = keypair
    result = jux("verify", "--cert", cert, corpus_dir / "raw/generic/basic.xml")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "signature" in result.stdout.lower()


def test_expired_certificate_and_at(jux, workdir, corpus_dir):
    now = dt.datetime.now(dt.UTC)
    old = KeyMaterial(
        workdir / "old",
        "p256",
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=35),
    )
    src = corpus_dir / "raw" / "maven-surefire" / "basic.xml"
    out = workdir / "old-signed.xml"
    # signing happened "back then": use the API-level signer, the CLI would sign now
    import juxsdk

    signed = juxsdk.sign_report(juxsdk.parse_report(src.read_bytes()), old.signer())
    out.write_bytes(signed.data)

    expired = jux("verify", "--cert", old.cert_path, out)
    assert expired.exit_code == 1
    assert re.search(r"expired|not valid", expired.stdout, re.I), expired.stdout

    back_then = (now - dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ok = jux("verify", "--cert", old.cert_path, "--at", back_then, out, "--json")
    assert ok.exit_code == 0, ok.stdout
    [entry] = json.loads(ok.stdout)
    assert entry["verified_at"].startswith(back_then[:10])

    assert jux("verify", "--cert", old.cert_path, "--at", "last tuesday", out).exit_code == 2


def test_sign_refuses_signed_report_unless_force(jux, workdir, corpus_dir, keypair):
    key, cert, _ = keypair
    once = workdir / "once.xml"
    assert jux("sign", corpus_dir / "raw/generic/basic.xml", "-o", once, "--key", key, "--signing-cert", cert).exit_code == 0
    again = jux("sign", once, "--key", key, "--signing-cert", cert)
    assert_clean_error(again, 3, "already")
    forced = jux("sign", once, "-o", workdir / "twice.xml", "--force", "--key", key, "--signing-cert", cert)
    assert forced.exit_code == 0, forced.stderr
    assert (workdir / "twice.xml").read_bytes().count(b"SignatureValue>") == 2
    assert jux("verify", "--cert", cert, workdir / "twice.xml").exit_code == 0


def test_verify_needs_exactly_one_trust_policy(jux, workdir, keypair):
    _, cert, _ = keypair
    (workdir / "r.xml").write_text("<testsuite/>")
    none = jux("verify", "r.xml")
    assert none.exit_code == 2 and "trust policy" in none.stderr
    both = jux("verify", "--cert", cert, "--unsafe-accept-any-key", "r.xml")
    assert both.exit_code == 2


def test_missing_file_is_a_clear_error(jux, keypair):
    key, cert, _ = keypair
    result = jux("sign", "does-not-exist.xml", "--key", key, "--signing-cert", cert)
    assert_clean_error(result, 3, "does-not-exist.xml", "no such file")
    verify = jux("verify", "--cert", cert, "does-not-exist.xml")
    assert verify.exit_code == 3
    assert "does-not-exist.xml: no such file" in verify.stdout


def test_malformed_xml_names_line_and_column(jux, corpus_dir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    bad = sorted((corpus_dir / "edge-cases" / "malformed").iterdir())
    bad.append(corpus_dir / "raw" / "jenkins" / "nightly-build.xml")
    assert len(bad) >= 6
    for path in bad:
        for command in ("sign", "inspect", "submit"):
            result = jux(command, path)
            assert_clean_error(result, 3, path.name)
            assert len([ln for ln in result.stderr.splitlines() if ln.startswith("error:")]) == 1
            if path.stat().st_size:  # an empty file has no line/column to name
                assert re.search(rf"{re.escape(path.name)}:\d+:\d+", result.stderr + result.stdout), result.stderr


def test_missing_key_is_a_config_error(jux, corpus_dir):
    result = jux("sign", corpus_dir / "raw/generic/basic.xml", "--key", "nope-key.pem")
    assert_clean_error(result, 2, "nope-key.pem", "jux keygen")


def test_encrypted_key_passphrase_from_config_secret(jux, workdir, corpus_dir, monkeypatch):
    monkeypatch.setenv("SIGNING_PW", "s3cret-passphrase-value")
    assert jux("keygen", "--type", "ec", "--out", "e-key.pem", "--passphrase-env", "SIGNING_PW").exit_code == 0
    src = corpus_dir / "raw/generic/basic.xml"
    # no passphrase configured, stdin not a terminal: a clean error naming the missing secret
    missing = jux("sign", src, "--key", "e-key.pem")
    assert_clean_error(missing, 2, "encrypted")
    (workdir / "jux.toml").write_text(
        '[backends.file]\nkey = "e-key.pem"\npassphrase = { env = "SIGNING_PW" }\n', encoding="utf-8"
    )
    ok = jux("sign", src, "-o", "s.xml")
    assert ok.exit_code == 0, ok.stderr
    assert "s3cret-passphrase-value" not in ok.stdout + ok.stderr
    assert jux("verify", "--cert", "e-cert.pem", "s.xml").exit_code == 0


def test_passphrase_prompt_on_a_terminal(jux, workdir, corpus_dir, monkeypatch):
    monkeypatch.setenv("SIGNING_PW", "typed-at-the-prompt")
    assert jux("keygen", "--type", "ec", "--out", "p-key.pem", "--passphrase-env", "SIGNING_PW").exit_code == 0
    from juxsdk.cli import sign_cmd as sign_module

    monkeypatch.setattr(sign_module, "_can_prompt", lambda reading_stdin: not reading_stdin)
    result = jux(
        "sign",
        corpus_dir / "raw/generic/basic.xml",
        "-o",
        "p.xml",
        "--key",
        "p-key.pem",
        input="typed-at-the-prompt\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "typed-at-the-prompt" not in result.stdout + result.stderr
    assert jux("verify", "--cert", "p-cert.pem", "p.xml").exit_code == 0
