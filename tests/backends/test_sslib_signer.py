"""SslibSigner through securesystemslib's own CryptoSigner (``file2:`` private key URIs).

The adapter path is the one every provider takes (``Signer.from_priv_key_uri`` -> ``sign`` ->
hex ``Signature``); CryptoSigner is the provider securesystemslib itself ships, so this proves
the adapter against the real library. Cloud providers (gcpkms, azurekms, hv) rely on
securesystemslib's own tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from juxsdk.config import Secret
from juxsdk.errors import ConfigError, SigningError
from juxsdk.junit import parse_report
from juxsdk.testing import SignerContract
from juxsdk.trust import TrustedCertificates, TrustedPublicKeys
from juxsdk.xmldsig import sign_report, verify_report
from juxsdk_backends.sslib import SslibOptions, SslibSigner
from tests import pki
from tests.conftest import CORPUS

pytest.importorskip("securesystemslib.signer")


class KeyFiles:
    """A PKCS #8 private key, its PEM public key, a securesystemslib JSON key and a certificate."""

    def __init__(self, directory, kind: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.key = pki.new_key(kind)
        self.private = directory / f"{kind}-key.pem"
        self.private.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.public = pki.write_pubkey(directory / f"{kind}-pub.pem", self.key)
        self.cert = pki.write_certs(directory / f"{kind}-cert.pem", pki.make_cert(self.key, f"sslib {kind}"))
        self.uri = f"file2:{self.private}"

    def json_key(self, path, scheme: str) -> object:
        from securesystemslib.signer import SSlibKey

        key = SSlibKey.from_crypto(self.key.public_key(), scheme=scheme)
        path.write_text(json.dumps(key.to_dict()))
        return path


@pytest.fixture(scope="module")
def keyfiles(tmp_path_factory):
    base = tmp_path_factory.mktemp("sslib")
    return {kind: KeyFiles(base / kind, kind) for kind in ("rsa", "p256", "p384")}


def _signer(files: KeyFiles, **options) -> SslibSigner:
    values = {"private_key_uri": files.uri, "public_key": files.public, **options}
    return SslibSigner(SslibOptions(**values))


class TestSslibSignerContract(SignerContract):
    @pytest.fixture(scope="class", params=["rsa", "p256", "p384-cert"])
    @classmethod
    def signer(cls, request, keyfiles):
        kind, _, variant = request.param.partition("-")
        files = keyfiles[kind]
        signer = _signer(files, certificate=files.cert) if variant == "cert" else _signer(files)
        yield signer
        signer.close()


@pytest.mark.parametrize(
    ("kind", "scheme", "algorithm"),
    [
        ("rsa", None, "rsa-sha256"),
        ("rsa", "rsa-pkcs1v15-sha384", "rsa-sha384"),
        ("rsa", "rsa-pkcs1v15-sha512", "rsa-sha512"),
        ("p256", None, "ecdsa-sha256"),
        ("p384", None, "ecdsa-sha384"),
    ],
)
def test_schemes_map_to_algorithms_and_verify(keyfiles, kind, scheme, algorithm):
    signer = _signer(keyfiles[kind], scheme=scheme)
    assert signer.algorithm == algorithm
    signed = sign_report(parse_report(sorted((CORPUS / "raw" / "pytest").glob("*.xml"))[0].read_bytes()), signer)
    assert verify_report(signed.data, TrustedPublicKeys([signer.public_key()])).signature.algorithm == algorithm


def test_ecdsa_signature_from_securesystemslib_is_der(keyfiles):
    signer = _signer(keyfiles["p384"])
    sig = signer.sign(b"payload")
    assert sig[0] == 0x30
    signer.public_key().verify(sig, b"payload", ec.ECDSA(hashes.SHA384()))


def test_json_public_key_as_securesystemslib_writes_it(keyfiles, tmp_path):
    files = keyfiles["rsa"]
    signer = _signer(files, public_key=files.json_key(tmp_path / "key.json", "rsa-pkcs1v15-sha512"))
    assert signer.algorithm == "rsa-sha512"
    signer.public_key().verify(signer.sign(b"x"), b"x", padding.PKCS1v15(), hashes.SHA512())


def test_signature_verifies_with_securesystemslib_itself(keyfiles):
    """The other direction: securesystemslib's SSlibKey accepts what the adapter returns."""
    from securesystemslib.signer import Signature, SSlibKey

    for kind, scheme in (("rsa", "rsa-pkcs1v15-sha256"), ("p256", "ecdsa-sha2-nistp256")):
        signer = _signer(keyfiles[kind])
        key = SSlibKey.from_crypto(signer.public_key(), keyid="k", scheme=scheme)
        key.verify_signature(Signature("k", signer.sign(b"data").hex()), b"data")


def test_certificate_chain_and_check(keyfiles):
    files = keyfiles["p256"]
    signer = _signer(files, certificate=files.cert)
    signed = sign_report(parse_report(sorted((CORPUS / "raw" / "pytest").glob("*.xml"))[0].read_bytes()), signer)
    verify_report(signed.data, TrustedCertificates.from_pem_file(files.cert))
    lines = signer.check()
    assert lines[0] == f"provider: file2 ({files.uri})"
    assert "scheme ecdsa-sha2-nistp256) -> ecdsa-sha256" in lines[1]
    assert lines[-1] == "test signature: ok (ecdsa-sha256)"


# --- errors ------------------------------------------------------------------------------------


def test_public_key_of_another_key(keyfiles, tmp_path):
    other = KeyFiles(tmp_path, "rsa")
    with pytest.raises(ConfigError, match="does not match") as info:
        _signer(keyfiles["rsa"], public_key=other.public).sign(b"x")
    assert "public half" in info.value.hint
    with pytest.raises(ConfigError, match=r"cannot use .* invalid ecdsa key") as info:
        _signer(keyfiles["rsa"], public_key=keyfiles["p256"].public).sign(b"x")
    assert "public half" in info.value.hint


def test_certificate_of_another_key(keyfiles):
    with pytest.raises(ConfigError, match="is not for the public key"):
        _signer(keyfiles["rsa"], certificate=keyfiles["p256"].cert).certificate_chain()


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"private_key_uri": "no-scheme"}, ConfigError, "not a securesystemslib key URI"),
        ({"scheme": "rsassa-pss-sha256"}, ConfigError, "cannot sign XMLDSig reports"),
        ({"scheme": "ed25519"}, ConfigError, "cannot sign XMLDSig reports"),
    ],
)
def test_bad_options(keyfiles, overrides, error, match):
    with pytest.raises(error, match=match):
        _signer(keyfiles["rsa"], **overrides)


def test_scheme_must_fit_the_key(keyfiles):
    with pytest.raises(ConfigError, match="does not fit the EC secp256r1 key"):
        _signer(keyfiles["p256"], scheme="ecdsa-sha2-nistp384")
    with pytest.raises(ConfigError, match="does not fit"):
        _signer(keyfiles["p256"], scheme="rsa-pkcs1v15-sha256")


def test_unknown_uri_scheme(keyfiles):
    with pytest.raises(ConfigError, match=r"cannot use nope:x .*Unsupported private key scheme") as info:
        _signer(keyfiles["rsa"], private_key_uri="nope:x").sign(b"x")
    assert "gcpkms" in info.value.hint


def test_missing_private_key_file(keyfiles, tmp_path):
    with pytest.raises(ConfigError, match="cannot open the key"):
        _signer(keyfiles["rsa"], private_key_uri=f"file2:{tmp_path / 'gone.pem'}").sign(b"x")


def test_provider_library_missing_names_the_extra(keyfiles, monkeypatch):
    """gcpkms needs google-cloud-kms (not installed here): securesystemslib says so, we add the extra."""
    pytest.importorskip("securesystemslib.signer._gcp_signer")
    if "google.cloud.kms" in sys.modules:
        pytest.skip("google-cloud-kms is installed")
    uri = "gcpkms:projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
    with pytest.raises(ConfigError, match="needs a library that is not installed") as info:
        _signer(keyfiles["p256"], private_key_uri=uri).sign(b"x")
    assert info.value.hint == "pip install 'securesystemslib[gcpkms]'"


def test_provider_failure_is_a_signing_error(keyfiles, monkeypatch):
    """Whatever a provider raises while signing arrives as one SigningError naming it."""
    signer = _signer(keyfiles["rsa"])
    provider = signer._provider()

    def boom(payload):
        raise RuntimeError("quota exceeded for project p")

    monkeypatch.setattr(provider, "sign", boom)
    with pytest.raises(SigningError, match=r"sslib signer 'file2' failed to sign .*RuntimeError: quota exceeded"):
        signer.sign(b"x")


def test_secret_handler_gives_the_configured_secret_and_refuses_without(keyfiles, monkeypatch):
    monkeypatch.setenv("JUX_TEST_SSLIB_PIN", "1234-not-printed")
    with_secret = _signer(keyfiles["rsa"], secret=Secret(env="JUX_TEST_SSLIB_PIN"))
    assert with_secret._secret_handler("PIN") == "1234-not-printed"
    with pytest.raises(ConfigError, match=r"asks for a secret \(PIN\)"):
        _signer(keyfiles["rsa"])._secret_handler("PIN")
    assert "1234-not-printed" not in repr(with_secret)


def test_missing_securesystemslib_gives_install_hint(keyfiles, monkeypatch):
    monkeypatch.setitem(sys.modules, "securesystemslib", None)
    with pytest.raises(ConfigError, match="needs securesystemslib") as info:
        _signer(keyfiles["rsa"])
    assert info.value.hint == "pip install 'juxsdk[sslib]'"


def test_registered_as_builtin_signer():
    from juxsdk.registry import Registry

    assert Registry().get("signer", "sslib").cls is SslibSigner


def test_import_does_not_load_securesystemslib():
    code = "import sys, juxsdk_backends.sslib; print('securesystemslib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
