"""``jux keygen --signer awskms``: a certificate and a CSR signed by the KMS key (made if needed)."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Protocol

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from juxsdk import keys
from juxsdk.errors import ConfigError, SigningError

from .. import _remote_key
from .._algorithms import ALGORITHMS
from .._certificates import write_pem
from .errors import cause_code
from .options import AwsKmsOptions

__all__ = ["GeneratedKmsKey", "generate_kms_key"]


class KmsKey(Protocol):
    """What key generation needs from the signer (:class:`~.signer.AwsKmsSigner`)."""

    options: AwsKmsOptions

    @property
    def algorithm(self) -> str: ...

    def public_key(self) -> PublicKeyTypes: ...

    def call(self, action: str, **kwargs: Any) -> Any: ...

    def sign_with_hash(self, hash_name: str, data: bytes) -> bytes: ...

    def describe(self) -> tuple[str, str]: ...


@attrs.frozen
class GeneratedKmsKey:
    """What :func:`generate_kms_key` made.

    Attributes:
        key_arn: ARN of the KMS key.
        key_spec: KMS key spec, e.g. ``"ECC_NIST_P256"``.
        created: True when the key (and its alias) was created by this call.
        algorithm: Default signature algorithm of the key, e.g. ``"ecdsa-sha256"``.
        certificate: The self-signed certificate, signed by the KMS key.
        certificate_path: Where the certificate PEM was written, or None.
        csr_path: Where the PKCS #10 request PEM was written, or None.
    """

    key_arn: str
    key_spec: str
    created: bool
    algorithm: str
    certificate: x509.Certificate
    certificate_path: Path | None
    csr_path: Path | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for ``jux keygen --signer awskms --json``)."""
        cert = self.certificate
        return {
            "key_arn": self.key_arn,
            "key_spec": self.key_spec,
            "created": self.created,
            "algorithm": self.algorithm,
            "certificate_path": str(self.certificate_path) if self.certificate_path else None,
            "csr_path": str(self.csr_path) if self.csr_path else None,
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "fingerprint": "sha256:" + cert.fingerprint(hashes.SHA256()).hex(),
        }


def _spec_for(key_type: str, bits: int, curve: str) -> str:
    if key_type == "rsa":
        if bits not in (2048, 3072, 4096):
            raise ConfigError(f"unsupported RSA size {bits}", hint="use 2048, 3072 or 4096 bits")
        return f"RSA_{bits}"
    if key_type == "ec":
        spec = {"P-256": "ECC_NIST_P256", "P-384": "ECC_NIST_P384", "P-521": "ECC_NIST_P521"}.get(curve.upper())
        if spec is None:
            raise ConfigError(f"unsupported EC curve {curve!r}", hint="use P-256, P-384 or P-521")
        return spec
    raise ConfigError(f"unsupported key type {key_type!r}", hint="use rsa or ec")


def generate_kms_key(
    signer: KmsKey,
    *,
    key_type: str = "rsa",
    bits: int = 3072,
    curve: str = "P-256",
    subject: str = keys.DEFAULT_SUBJECT,
    days: int = keys.DEFAULT_DAYS,
    certificate_out: str | os.PathLike[str] | None = None,
    csr_out: str | os.PathLike[str] | None = None,
    not_before: _dt.datetime | None = None,
) -> GeneratedKmsKey:
    """A self-signed certificate and a CSR whose signatures come from the KMS key; the key is made if needed.

    When ``key_id`` names an existing key, that key is used as it is (``key_type``, ``bits``
    and ``curve`` are ignored). When it is an alias (``alias/…``) that does not exist yet, an
    asymmetric ``SIGN_VERIFY`` key of the requested spec is created (``kms:CreateKey``) and the
    alias pointed at it (``kms:CreateAlias``). The certificate has the profile of ``jux keygen``
    (:func:`juxsdk.keys.self_signed_certificate`) and the CSR is PKCS #10 (RFC 2986,
    :func:`juxsdk.keys.certificate_signing_request`); both are signed with ``kms:Sign`` and
    checked against the key's public key. They are signed with the hash of the key's
    algorithm (SHA-384 for a P-384 key, which KMS signs with ``ECDSA_SHA_384`` only).

    Args:
        signer: An ``awskms`` signer for the key (``options.certificate`` is used as
            ``certificate_out`` when that is not given).
        key_type: ``"rsa"`` or ``"ec"`` (for a new key).
        bits: RSA size for a new key (2048, 3072, 4096).
        curve: EC curve for a new key (``"P-256"``, ``"P-384"``, ``"P-521"``).
        subject: Common name or RFC 4514 name of the certificate and CSR.
        days: Certificate validity in days (≥ 1).
        certificate_out: Write the certificate PEM here.
        csr_out: Write the CSR PEM here.
        not_before: Start of the certificate validity (default now, UTC).

    Returns:
        :class:`GeneratedKmsKey`.

    Raises:
        ConfigError: bad arguments, or a key id that does not exist and is not an alias.
        SigningError: KMS refused (as :meth:`~.signer.AwsKmsSigner.sign`).
    """
    if days < 1:
        raise ConfigError(f"certificate validity must be at least 1 day, got {days}")
    spec = _spec_for(key_type, bits, curve)
    options = signer.options
    created = False
    try:
        public_key = signer.public_key()
    except SigningError as exc:
        if cause_code(exc) != "NotFoundException":
            raise
        if not options.key_id.startswith("alias/"):
            raise ConfigError(
                f"KMS key {options.key_id} does not exist",
                hint='set key_id to an existing key, or to a new alias (key_id = "alias/jux-signing") to create one',
            ) from exc
        made = signer.call(
            "CreateKey",
            KeyUsage="SIGN_VERIFY",
            KeySpec=spec,
            Description="juxsdk report signing key (jux keygen --signer awskms)",
        )["KeyMetadata"]
        signer.call("CreateAlias", AliasName=options.key_id, TargetKeyId=made["KeyId"])
        created = True
        public_key = signer.public_key()
    algorithm = signer.algorithm
    arn, key_spec = signer.describe()
    what = f"KMS key {arn}"
    hash_name = ALGORITHMS[algorithm][1]  # KMS ECC keys sign with their curve's hash only
    certificate = _remote_key.self_signed_certificate(
        public_key, signer.sign_with_hash, subject=subject, days=days, not_before=not_before,
        hash_name=hash_name, what=what,
    )
    csr = _remote_key.certificate_signing_request(
        public_key, signer.sign_with_hash, subject=subject, hash_name=hash_name, what=what
    )
    out = Path(certificate_out) if certificate_out is not None else options.certificate
    if out is not None:
        out = write_pem(out, certificate.public_bytes(serialization.Encoding.PEM))
    csr_path = None
    if csr_out is not None:
        csr_path = write_pem(Path(csr_out), csr.public_bytes(serialization.Encoding.PEM), what="CSR")
    return GeneratedKmsKey(
        key_arn=arn,
        key_spec=key_spec,
        created=created,
        algorithm=algorithm,
        certificate=certificate,
        certificate_path=out,
        csr_path=csr_path,
    )
