"""The KMS swap through the `jux` CLI: only the configuration changes, moto is the KMS endpoint.

`signer = "file"` signs corpus reports; then `signer = "awskms"` plus a key id — nothing else —
signs them again; both verify with `jux verify`, the KMS ones with the public key KMS hands out
(GetPublicKey) and with xmlsec1. Errors are provoked on the server and must come back as one
clean line, a hint and the documented exit code, with no credential anywhere.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from juxsdk_backends.awskms import signer as kms_signer_module
from tests.cli.conftest import assert_clean_error
from tests.kmssupport import SECRETS, kms_server

XMLSEC1 = shutil.which("xmlsec1")
REPORTS = ["raw/pytest/xunit2-basic.xml", "raw/maven-surefire", "edge-cases/unicode-content.xml"]


@pytest.fixture(scope="module")
def kms():
    return kms_server()


@pytest.fixture(autouse=True)
def aws_env(kms, monkeypatch):
    for name, value in kms.env().items():
        monkeypatch.setenv(name, value)
    kms_signer_module._CACHE.clear()
    yield
    kms_signer_module._CACHE.clear()


def _no_secrets(*results) -> None:
    for result in results:
        for secret in SECRETS:
            assert secret not in result.stdout + result.stderr


def _kms_pubkey(kms, key_id, path):
    der = kms.client.get_public_key(KeyId=key_id)["PublicKey"]
    path.write_bytes(
        serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _inputs(corpus_dir, workdir):
    inputs = workdir / "in"
    for rel in REPORTS:
        src = corpus_dir / rel
        for f in [src] if src.is_file() else sorted(src.glob("*.xml"))[:3]:
            dest = inputs / f.relative_to(corpus_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.read_bytes())
    return inputs


def test_swap_file_signer_for_awskms_by_configuration_only(jux, workdir, corpus_dir, kms, rsa_keys):
    inputs = _inputs(corpus_dir, workdir)
    files = sorted(inputs.rglob("*.xml"))
    assert len(files) >= 4
    common = f'\n[backends.file]\nkey = "{rsa_keys.key_path}"\ncertificate = "{rsa_keys.cert_path}"\n'

    (workdir / "jux.toml").write_text('signer = "file"\n' + common, encoding="utf-8")
    signed_file = jux("sign", *files, "-o", "out-file", "--json")
    assert signed_file.exit_code == 0, signed_file.stderr

    # the swap: the selection key and the key id, nothing else
    (workdir / "jux.toml").write_text(
        'signer = "awskms"\n' + common + '\n[backends.awskms]\nkey_id = "alias/jux-p384"\n', encoding="utf-8"
    )
    signed_kms = jux("sign", *files, "-o", "out-kms", "--json")
    assert signed_kms.exit_code == 0, signed_kms.stderr
    _no_secrets(signed_file, signed_kms)

    out_file = sorted((workdir / "out-file").rglob("*.xml"))
    out_kms = sorted((workdir / "out-kms").rglob("*.xml"))
    assert len(out_file) == len(out_kms) == len(files)
    ok = jux("verify", "--cert", rsa_keys.cert_path, *out_file)
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    pub = _kms_pubkey(kms, kms.keys["p384"].key_id, workdir / "kms-pub.pem")
    verified = jux("verify", "--pubkey", pub, *out_kms, "--json")
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    results = json.loads(verified.stdout)
    assert len(results) == len(files)
    assert {r["signature"]["algorithm"] for r in results} == {"ecdsa-sha384"}
    # the file key does not verify the KMS reports: the trust check can fail
    assert jux("verify", "--cert", rsa_keys.cert_path, out_kms[0]).exit_code == 1
    if XMLSEC1:
        for doc in out_kms:
            proc = subprocess.run([XMLSEC1, "--verify", "--pubkey-pem", str(pub), str(doc)],
                                  capture_output=True, text=True, timeout=30, check=False)
            assert proc.returncode == 0, proc.stderr


def test_keygen_csr_certificate_then_sign_and_check(jux, workdir, corpus_dir, kms):
    (workdir / "jux.toml").write_text(
        'signer = "awskms"\n[backends.awskms]\nkey_id = "alias/jux-rsa2048"\ncertificate = "kms-cert.pem"\n',
        encoding="utf-8",
    )
    made = jux("keygen", "--signer", "awskms", "--csr", "kms.csr", "--subject", "CN=kms-bot,O=Example", "--json")
    assert made.exit_code == 0, made.stdout + made.stderr
    info = json.loads(made.stdout)
    assert info["key_arn"] == kms.keys["rsa2048"].arn and info["created"] is False
    cert = x509.load_pem_x509_certificate((workdir / "kms-cert.pem").read_bytes())
    csr = x509.load_pem_x509_csr((workdir / "kms.csr").read_bytes())
    assert csr.is_signature_valid and cert.subject == csr.subject
    cert.verify_directly_issued_by(cert)

    signed = jux("sign", corpus_dir / "raw/pytest/xunit2-basic.xml", "-o", "s.xml")
    assert signed.exit_code == 0, signed.stderr
    verified = jux("verify", "--cert", "kms-cert.pem", "s.xml", "--json")
    assert verified.exit_code == 0, verified.stdout
    assert json.loads(verified.stdout)[0]["signature"]["certificate_subject"] == "CN=kms-bot,O=Example"

    check = jux("config", "check")
    assert check.exit_code == 0, check.stdout + check.stderr
    assert "signer    awskms       ok" in check.stdout and "matches the key" in check.stdout
    assert "test signature: ok (rsa-sha256" in check.stdout
    _no_secrets(made, signed, verified, check)

    again = jux("keygen", "--signer", "awskms", "--csr", "kms.csr")
    assert_clean_error(again, 2, "kms.csr already exists")


def test_file_keygen_refuses_csr(jux, workdir):
    result = jux("keygen", "--csr", "x.csr", "--out", "k.pem")
    assert result.exit_code == 2 and "--csr is for token and KMS signers" in result.stderr
    assert not (workdir / "k.pem").exists()


@pytest.mark.parametrize(
    ("provoke", "code", "needle", "hint"),
    [
        ("disable", 3, "is disabled", "enable-key"),
        ("delete", 3, "scheduled for deletion", "cancel-key-deletion"),
        ("encrypt", 2, "not SIGN_VERIFY", "SIGN_VERIFY key"),
        ("unsupported", 2, "does not support", "RSA_2048"),
        ("missing", 3, "does not exist", "region"),
    ],
)
def test_errors_on_the_server_sign_and_check(jux, workdir, corpus_dir, kms, provoke, code, needle, hint):
    if provoke == "encrypt":
        key_id = kms.create_key("SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT").key_id
    elif provoke == "unsupported":
        key_id = kms.create_key("ECC_SECG_P256K1").key_id
    elif provoke == "missing":
        key_id = "alias/jux-never-created"
    else:
        key_id = kms.create_key("ECC_NIST_P256").key_id
        if provoke == "disable":
            kms.client.disable_key(KeyId=key_id)
        else:
            kms.client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    (workdir / "jux.toml").write_text(f'signer = "awskms"\n[backends.awskms]\nkey_id = "{key_id}"\n', encoding="utf-8")
    signed = jux("sign", corpus_dir / "raw/pytest/xunit2-basic.xml", "-o", "s.xml")
    assert_clean_error(signed, code, needle, hint)
    assert not (workdir / "s.xml").exists()
    check = jux("config", "check")
    assert check.exit_code == code and needle in check.stdout and hint in check.stdout
    _no_secrets(signed, check)


def test_server_stopped(jux, workdir, corpus_dir, monkeypatch):
    from tests.kmssupport import ACCESS_KEY, SECRET_KEY
    from tests.s3support import kms_client, start_moto_server

    server, url = start_moto_server()
    key_id = kms_client(url, ACCESS_KEY, SECRET_KEY).create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")[
        "KeyMetadata"]["KeyId"]
    server.stop()
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", url)
    (workdir / "jux.toml").write_text(
        f'signer = "awskms"\n[backends.awskms]\nkey_id = "{key_id}"\nmax_attempts = 1\n', encoding="utf-8"
    )
    signed = jux("sign", corpus_dir / "raw/pytest/xunit2-basic.xml", "-o", "s.xml")
    assert_clean_error(signed, 3, f"cannot reach KMS at {url}", "endpoint_url")
    _no_secrets(signed)


def test_backends_lists_the_kms_signers(jux):
    result = jux("backends", "--json")
    names = {(b["kind"], b["name"]) for b in json.loads(result.stdout)}
    assert {("signer", "awskms"), ("signer", "sslib")} <= names


def test_sslib_signer_by_configuration(jux, workdir, corpus_dir, ec_keys):
    (workdir / "jux.toml").write_text(
        'signer = "sslib"\n[backends.sslib]\n'
        f'private_key_uri = "file2:{ec_keys.key_path}"\npublic_key = "{ec_keys.pubkey_path}"\n',
        encoding="utf-8",
    )
    signed = jux("sign", corpus_dir / "raw/pytest/xunit2-basic.xml", "-o", "s.xml")
    assert signed.exit_code == 0, signed.stderr
    verified = jux("verify", "--pubkey", ec_keys.pubkey_path, "s.xml")
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    check = jux("config", "check")
    assert check.exit_code == 0 and "test signature: ok (ecdsa-sha256)" in check.stdout


@pytest.mark.parametrize(("module", "table", "hint"), [
    ("securesystemslib", "sslib", "pip install 'juxsdk[sslib]'"),
    ("boto3", "awskms", "pip install 'juxsdk[aws]'"),
])
def test_missing_extra_hint_in_config_check_and_sign(jux, workdir, corpus_dir, ec_keys, monkeypatch, module, table, hint):
    import sys

    monkeypatch.setitem(sys.modules, module, None)
    options = (
        f'private_key_uri = "file2:{ec_keys.key_path}"\npublic_key = "{ec_keys.pubkey_path}"\n'
        if table == "sslib" else 'key_id = "alias/jux-p256"\n'
    )
    (workdir / "jux.toml").write_text(f'signer = "{table}"\n[backends.{table}]\n{options}', encoding="utf-8")
    check = jux("config", "check")
    assert check.exit_code == 2
    assert hint in check.stdout
    assert_clean_error(jux("sign", corpus_dir / "raw/pytest/xunit2-basic.xml", "-o", "s.xml"), 2, hint)
