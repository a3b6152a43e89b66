"""FileKeySigner ("file") through the conformance kit's SignerContract.

Four configurations: RSA and EC P-256 keys, each with its certificate (certificate path,
``TrustedCertificates``) and without (key-value path, ``TrustedPublicKeys``), plus an
encrypted key whose passphrase must never be shown.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from juxsdk.config import Secret
from juxsdk.testing import SignerContract
from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner

PASSPHRASE = "file-signer-passphrase-never-shown-42"


class TestFileKeySignerContract(SignerContract):
    @pytest.fixture(params=["rsa-cert", "rsa-bare", "ec-cert", "ec-bare"])
    def signer(self, request, rsa_keys, ec_keys):
        keys = rsa_keys if request.param.startswith("rsa") else ec_keys
        signer = keys.signer(with_cert=request.param.endswith("-cert"))
        assert bool(signer.certificate_chain()) == request.param.endswith("-cert")
        yield signer
        signer.close()


class TestEncryptedFileKeySignerContract(SignerContract):
    @pytest.fixture
    def signer(self, ec_keys, tmp_path):
        encrypted = tmp_path / "encrypted-key.pem"
        encrypted.write_bytes(
            ec_keys.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(PASSPHRASE.encode()),
            )
        )
        signer = FileKeySigner(
            FileKeyOptions(key=encrypted, certificate=ec_keys.cert_path, passphrase=Secret(value=PASSPHRASE))
        )
        yield signer
        signer.close()

    @pytest.fixture
    def secret_values(self):
        return [PASSPHRASE]
