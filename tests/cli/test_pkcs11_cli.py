"""`jux keygen --signer pkcs11`, `jux sign --signer pkcs11` and `jux config check` on SoftHSM2."""

from __future__ import annotations

import json
import secrets

import pytest
from cryptography import x509

from tests.softhsm import SoftHSM, softhsm_environment

pytestmark = pytest.mark.softhsm


@pytest.fixture(scope="session")
def softhsm() -> SoftHSM:
    return softhsm_environment()


def test_token_keygen_sign_verify_and_check(jux, workdir, corpus_dir, softhsm, monkeypatch):
    monkeypatch.setenv("JUX_PKCS11_PIN", softhsm.pin)
    label = f"cli-{secrets.token_hex(4)}"
    (workdir / "jux.toml").write_text(
        'signer = "pkcs11"\n'
        "[backends.pkcs11]\n"
        f'module = "{softhsm.module}"\n'
        f'token_label = "{softhsm.token}"\n'
        f'key_label = "{label}"\n'
        'pin = { env = "JUX_PKCS11_PIN" }\n'
        'certificate = "token-cert.pem"\n',
        encoding="utf-8",
    )
    made = jux(
        "keygen",
        "--signer",
        "pkcs11",
        "--type",
        "ec",
        "--cert-out",
        "token-cert.pem",
        "--csr",
        "token.csr",
        "--subject",
        "hsm-bot",
        "--json",
    )
    assert made.exit_code == 0, made.stdout + made.stderr
    info = json.loads(made.stdout)
    assert info["key_label"] == label
    assert softhsm.pin not in made.stdout + made.stderr
    cert = x509.load_pem_x509_certificate((workdir / "token-cert.pem").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=hsm-bot"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    csr = x509.load_pem_x509_csr((workdir / "token.csr").read_bytes())
    assert csr.is_signature_valid and csr.subject == cert.subject and csr.public_key() == cert.public_key()
    assert info["csr_path"].endswith("token.csr")

    signed = jux("sign", corpus_dir / "raw/pytest/xunit2-basic.xml", "-o", "s.xml")
    assert signed.exit_code == 0, signed.stderr
    verified = jux("verify", "--cert", "token-cert.pem", "s.xml", "--json")
    assert verified.exit_code == 0, verified.stdout
    assert json.loads(verified.stdout)[0]["signature"]["algorithm"].startswith("ecdsa-")

    check = jux("config", "check", "--json")
    assert check.exit_code == 0, check.stdout + check.stderr
    [signer] = [b for b in json.loads(check.stdout)["backends"] if b["kind"] == "signer"]
    assert signer["name"] == "pkcs11" and signer["status"] == "ok"
    assert softhsm.pin not in check.stdout

    # the same label again: the token refuses, cleanly
    again = jux("keygen", "--signer", "pkcs11", "--type", "ec", "--cert-out", "other.pem")
    assert again.exit_code in (2, 3) and "Traceback" not in again.stderr
    assert again.stderr.startswith("error: ")


def test_wrong_pin_fails_check_cleanly(jux, workdir, softhsm, monkeypatch):
    monkeypatch.setenv("JUX_PKCS11_PIN", "not-the-pin")
    (workdir / "jux.toml").write_text('signer = "pkcs11"\n' + softhsm.toml_table("rsa2048"), encoding="utf-8")
    result = jux("config", "check")
    assert result.exit_code in (2, 3)
    assert "failed" in result.stdout and "not-the-pin" not in result.stdout + result.stderr
