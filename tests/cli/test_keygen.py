"""`jux keygen`: key + self-signed signing certificate, 0600, no silent overwrite."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.cli.conftest import assert_clean_error


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_default_paths_permissions_and_extensions(jux, config_dir):
    result = jux("keygen", "--bits", "2048", "--subject", "ci-bot")
    assert result.exit_code == 0, result.stderr
    key_path, cert_path = config_dir / "signing-key.pem", config_dir / "signing-cert.pem"
    assert _mode(key_path) == 0o600
    assert not list(config_dir.glob(".*.tmp")), "temporary files left behind"

    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert _spki(cert.public_key()) == _spki(key.public_key())
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=ci-bot"

    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert not ku.value.key_cert_sign and not ku.value.crl_sign
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    assert str(cert_path) in result.stdout


def test_refuses_to_overwrite_without_force(jux, config_dir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    key_path = config_dir / "signing-key.pem"
    before = key_path.read_bytes()

    refused = jux("keygen", "--type", "ec")
    assert_clean_error(refused, 2, "already exists", "--force")
    assert key_path.read_bytes() == before

    forced = jux("keygen", "--type", "ec", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert key_path.read_bytes() != before
    assert _mode(key_path) == 0o600


def test_refuses_when_only_the_certificate_exists(jux, workdir):
    (workdir / "c.pem").write_text("keep me")
    result = jux("keygen", "--type", "ec", "--out", "k.pem", "--cert-out", "c.pem")
    assert_clean_error(result, 2, "c.pem already exists")
    assert not (workdir / "k.pem").exists(), "nothing may be written when refusing"
    assert (workdir / "c.pem").read_text() == "keep me"


@pytest.mark.parametrize(("curve", "size"), [("P-256", 256), ("P-384", 384)])
def test_ec_with_explicit_paths_and_json(jux, workdir, curve, size):
    result = jux("keygen", "--type", "ec", "--curve", curve, "--out", "ci-key.pem", "--days", "30", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["cert_path"].endswith("ci-cert.pem")
    assert info["algorithm"] == ("ecdsa-sha384" if size == 384 else "ecdsa-sha256")
    key = serialization.load_pem_private_key((workdir / "ci-key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == size
    cert = x509.load_pem_x509_certificate((workdir / "ci-cert.pem").read_bytes())
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 30 <= lifetime.days <= 31


def test_encrypted_key_with_passphrase_env(jux, workdir, monkeypatch):
    monkeypatch.setenv("KEY_PW", "correct horse battery staple")
    result = jux("keygen", "--type", "ec", "--out", "enc-key.pem", "--passphrase-env", "KEY_PW")
    assert result.exit_code == 0, result.stderr
    assert "correct horse" not in result.stdout + result.stderr
    data = (workdir / "enc-key.pem").read_bytes()
    assert b"ENCRYPTED" in data
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, None)
    assert serialization.load_pem_private_key(data, b"correct horse battery staple")


def test_missing_passphrase_env_is_a_usage_error(jux, workdir):
    result = jux("keygen", "--out", "k.pem", "--passphrase-env", "JUX_TEST_UNSET_VARIABLE")
    assert_clean_error(result, 2, "JUX_TEST_UNSET_VARIABLE")
    assert not (workdir / "k.pem").exists()


def test_bad_subject_and_bad_bits(jux):
    assert_clean_error(jux("keygen", "--subject", "CN=a,=broken"), 2, "subject")
    bad_bits = jux("keygen", "--bits", "1024")
    assert bad_bits.exit_code == 2
    assert "1024" in bad_bits.stderr


def test_keygen_then_sign_uses_the_default_key(jux, workdir, corpus_dir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    src = corpus_dir / "raw" / "pytest" / "xunit2-basic.xml"
    signed = jux("sign", src)
    assert signed.exit_code == 0, signed.stderr
    assert b"<ds:SignatureValue" in signed.stdout_bytes or b"SignatureValue" in signed.stdout_bytes
