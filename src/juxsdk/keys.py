"""Signing key generation: a private key plus a self-signed X.509 signing certificate.

This is the one implementation behind ``jux keygen`` and
``juxsdk_backends.file_key.generate_key_pair``. It uses ``cryptography`` only.

The certificate is a self-signed X.509 v3 certificate (RFC 5280) with:

* ``KeyUsage`` = ``digitalSignature`` (critical, RFC 5280 §4.2.1.3);
* ``BasicConstraints`` ``CA:false`` (critical, RFC 5280 §4.2.1.9);
* ``SubjectKeyIdentifier`` (RFC 5280 §4.2.1.2);
* a random 159-bit serial number (RFC 5280 §4.1.2.2).

Private keys are written as PKCS #8 PEM (RFC 5958 / RFC 7468), encrypted with the best
available algorithm when a passphrase is given. Files are created with mode 0600, atomically:
the bytes go to a temporary file in the target directory (created ``O_CREAT|O_EXCL`` with mode
0600), are flushed and fsynced, then moved into place with ``os.link`` (refuses to clobber) or
``os.replace`` (when overwriting was asked for). A reader never sees a partial file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import attrs

from .errors import ConfigError, JuxError
from .files import write_atomic

if TYPE_CHECKING:  # pragma: no cover
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

__all__ = [
    "DEFAULT_BITS",
    "DEFAULT_CURVE",
    "DEFAULT_DAYS",
    "DEFAULT_SUBJECT",
    "GeneratedKeyPair",
    "KeyFileExistsError",
    "certificate_signing_request",
    "generate_key_pair",
    "generate_private_key",
    "self_signed_certificate",
    "write_private_file",
]

KeyType = Literal["rsa", "ec"]

#: Default RSA modulus size in bits.
DEFAULT_BITS = 3072
#: Default EC curve.
DEFAULT_CURVE = "P-256"
#: Default certificate lifetime in days.
DEFAULT_DAYS = 365
#: Default certificate subject common name.
DEFAULT_SUBJECT = "jux signing key"

RSA_BITS: tuple[int, ...] = (2048, 3072, 4096)
EC_CURVES: tuple[str, ...] = ("P-256", "P-384")


class KeyFileExistsError(JuxError):
    """The key or certificate file already exists and overwriting was not asked for."""

    exit_code = 2


@attrs.frozen
class GeneratedKeyPair:
    """What :func:`generate_key_pair` wrote.

    Attributes:
        key_path: Path of the private key PEM (mode 0600).
        cert_path: Path of the certificate PEM.
        algorithm: Signature algorithm a signer would use, e.g. ``"rsa-sha256"``.
        key_description: e.g. ``"RSA 3072"`` or ``"EC P-256"``.
        subject: RFC 4514 subject of the certificate.
        not_before: Start of validity (UTC).
        not_after: End of validity (UTC).
        certificate_fingerprint: ``sha256:<hex>`` of the certificate DER.
        key_fingerprint: ``sha256:<hex>`` of the public key's DER SubjectPublicKeyInfo.
        encrypted: True when the key file is passphrase-protected.
    """

    key_path: Path
    cert_path: Path
    algorithm: str
    key_description: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    certificate_fingerprint: str
    key_fingerprint: str
    encrypted: bool

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (paths and datetimes as strings)."""
        return {
            "key_path": str(self.key_path),
            "cert_path": str(self.cert_path),
            "algorithm": self.algorithm,
            "key": self.key_description,
            "subject": self.subject,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "certificate_fingerprint": self.certificate_fingerprint,
            "key_fingerprint": self.key_fingerprint,
            "encrypted": self.encrypted,
        }


def generate_private_key(
    key_type: str = "rsa", *, bits: int = DEFAULT_BITS, curve: str = DEFAULT_CURVE
) -> CertificateIssuerPrivateKeyTypes:
    """Generate a signing key.

    Args:
        key_type: ``"rsa"`` or ``"ec"``.
        bits: RSA modulus size in bits: 2048, 3072 or 4096 (RSA only). Public exponent 65537.
        curve: ``"P-256"`` or ``"P-384"`` (EC only; NIST curves, FIPS 186-4).

    Returns:
        A cryptography RSA or EC private key.

    Raises:
        ConfigError: unsupported type, size or curve.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if key_type == "rsa":
        if bits not in RSA_BITS:
            raise ConfigError(f"unsupported RSA key size {bits}", hint="use 2048, 3072 or 4096 bits")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "ec":
        curves: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
        if curve.upper() not in curves:
            raise ConfigError(f"unsupported EC curve {curve!r}", hint="use P-256 or P-384")
        return ec.generate_private_key(curves[curve.upper()])
    raise ConfigError(f"unsupported key type {key_type!r}", hint="use 'rsa' or 'ec'")


def _signing_key_usage() -> x509.KeyUsage:
    """KeyUsage ``digitalSignature`` only (RFC 5280 §4.2.1.3): the signing-key profile."""
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _name(subject: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if "=" in subject:
        try:
            return x509.Name.from_rfc4514_string(subject)
        except ValueError as exc:
            raise ConfigError(
                f"invalid certificate subject {subject!r}: {exc}",
                hint="give a common name ('build-bot') or an RFC 4514 name ('CN=build-bot,O=Example')",
            ) from exc
    if not subject.strip():
        raise ConfigError("empty certificate subject", hint="give a common name, e.g. --subject build-bot")
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])


def self_signed_certificate(
    private_key: CertificateIssuerPrivateKeyTypes,
    *,
    subject: str = DEFAULT_SUBJECT,
    days: int = DEFAULT_DAYS,
    not_before: dt.datetime | None = None,
    hash_name: str = "sha256",
) -> x509.Certificate:
    """Build a self-signed signing certificate for ``private_key``.

    Args:
        private_key: RSA or EC private key (from :func:`generate_private_key` or loaded).
        subject: A common name (``"build-bot"``) or an RFC 4514 name (``"CN=build-bot,O=Example"``);
            used as subject and issuer.
        days: Validity period in days from ``not_before`` (≥ 1).
        not_before: Start of validity (default: now, UTC). A past value lets tests build
            expired certificates.
        hash_name: ``"sha256"``, ``"sha384"`` or ``"sha512"``: the signature's hash (a KMS
            P-384 key signs with SHA-384 only).

    Returns:
        The certificate, signed with RSA PKCS #1 v1.5 or ECDSA and ``hash_name``.

    Raises:
        ConfigError: ``days`` < 1, an invalid subject or an unknown hash.
    """
    from cryptography import x509

    if days < 1:
        raise ConfigError(f"certificate validity must be at least 1 day, got {days}")
    name = _name(subject)
    start = (not_before or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(20), "big") >> 1)
        .not_valid_before(start - dt.timedelta(minutes=5))
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(_signing_key_usage(), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False)
    )
    return builder.sign(private_key, _hash(hash_name))


def _hash(hash_name: str) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512:
    from cryptography.hazmat.primitives import hashes

    classes: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
    }
    if hash_name not in classes:
        raise ConfigError(f"unsupported certificate hash {hash_name!r}", hint="use sha256, sha384 or sha512")
    return classes[hash_name]()


def certificate_signing_request(
    private_key: CertificateIssuerPrivateKeyTypes, *, subject: str = DEFAULT_SUBJECT, hash_name: str = "sha256"
) -> x509.CertificateSigningRequest:
    """Build a PKCS #10 certificate signing request (RFC 2986) for ``private_key``.

    The request asks for the profile of :func:`self_signed_certificate`: ``KeyUsage``
    ``digitalSignature`` (critical) and ``BasicConstraints`` ``CA:false`` (critical), as
    requested extensions (RFC 2985 §5.4.2 ``extensionRequest``). A CA issues the signing
    certificate from it; configure that certificate (and its chain) next to the key.

    Args:
        private_key: RSA or EC private key, or an adapter whose ``sign`` reaches a token or KMS.
        subject: A common name (``"build-bot"``) or an RFC 4514 name (``"CN=build-bot,O=Example"``).
        hash_name: ``"sha256"``, ``"sha384"`` or ``"sha512"``: the signature's hash.

    Returns:
        The CSR, signed with RSA PKCS #1 v1.5 or ECDSA and ``hash_name``.

    Raises:
        ConfigError: an invalid subject or an unknown hash.
    """
    from cryptography import x509

    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(subject))
        .add_extension(_signing_key_usage(), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    return builder.sign(private_key, _hash(hash_name))


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with permissions ``mode`` (default 0600).

    The bytes go to a temporary file created next to ``path`` with ``O_CREAT|O_EXCL`` and
    ``mode`` (never world-readable, even briefly), are fsynced, then linked into place
    (``os.link``: fails if ``path`` exists) or, with ``overwrite``, renamed over it
    (``os.replace``). Parent directories are created with mode 0700.

    Args:
        path: Destination file.
        data: File content.
        overwrite: Replace an existing file.
        mode: Permission bits of the new file.

    Raises:
        KeyFileExistsError: ``path`` exists and ``overwrite`` is False.
        JuxError: the file could not be written (permission, disk full…).
    """
    path = Path(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise JuxError(f"cannot create directory {path.parent}: {exc.strerror}") from exc
    if not overwrite and path.exists():
        raise KeyFileExistsError(f"{path} already exists", hint="use --force to overwrite it")
    try:
        write_atomic(path, data, mode=mode, replace=overwrite)
    except FileExistsError:
        raise KeyFileExistsError(f"{path} already exists", hint="use --force to overwrite it") from None
    except OSError as exc:
        raise JuxError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _fingerprint(der: bytes) -> str:
    return "sha256:" + hashlib.sha256(der).hexdigest()


def generate_key_pair(
    key_path: str | os.PathLike[str],
    cert_path: str | os.PathLike[str],
    *,
    key_type: str = "rsa",
    bits: int = DEFAULT_BITS,
    curve: str = DEFAULT_CURVE,
    subject: str = DEFAULT_SUBJECT,
    days: int = DEFAULT_DAYS,
    passphrase: bytes | str | None = None,
    overwrite: bool = False,
    not_before: dt.datetime | None = None,
) -> GeneratedKeyPair:
    """Generate a private key and a self-signed signing certificate and write both.

    Both paths are checked before anything is generated, so a refusal leaves no new file.

    Args:
        key_path: Where to write the PKCS #8 PEM private key (mode 0600).
        cert_path: Where to write the PEM certificate (mode 0644).
        key_type: ``"rsa"`` or ``"ec"``.
        bits: RSA size in bits (2048, 3072, 4096).
        curve: EC curve (``"P-256"``, ``"P-384"``).
        subject: Common name or RFC 4514 name of the certificate.
        days: Certificate validity in days.
        passphrase: Encrypt the key with this passphrase (None: unencrypted).
        overwrite: Replace existing files.
        not_before: Start of validity (default now).

    Returns:
        A :class:`GeneratedKeyPair` describing what was written.

    Raises:
        KeyFileExistsError: a file exists and ``overwrite`` is False (exit code 2).
        ConfigError: unsupported type/size/curve, bad subject or days, empty passphrase.
        JuxError: a file could not be written.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    kpath, cpath = Path(key_path).expanduser(), Path(cert_path).expanduser()
    if kpath.resolve() == cpath.resolve():
        raise ConfigError("the key and certificate paths are the same file", hint="give two different paths")
    if not overwrite:
        for p in (kpath, cpath):
            if p.exists():
                raise KeyFileExistsError(f"{p} already exists", hint="use --force to overwrite it")
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    if passphrase is not None and not passphrase:
        raise ConfigError("empty passphrase", hint="give a non-empty passphrase or none at all")

    key = generate_private_key(key_type, bits=bits, curve=curve)
    cert = self_signed_certificate(key, subject=subject, days=days, not_before=not_before)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)

    write_private_file(kpath, key_pem, overwrite=overwrite, mode=0o600)
    write_private_file(cpath, cert_pem, overwrite=overwrite, mode=0o644)

    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = "ecdsa-sha384" if key.curve.key_size >= 384 else "ecdsa-sha256"
        description = "EC " + ("P-384" if key.curve.key_size >= 384 else "P-256")
    else:
        algorithm = "rsa-sha256"
        description = f"RSA {key.key_size}"  # type: ignore[union-attr]
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return GeneratedKeyPair(
        key_path=kpath,
        cert_path=cpath,
        algorithm=algorithm,
        key_description=description,
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        certificate_fingerprint=_fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        key_fingerprint=_fingerprint(spki),
        encrypted=passphrase is not None,
    )


def describe_certificates(certs: Sequence[x509.Certificate]) -> list[dict[str, str]]:
    """Summarise certificates (subject, issuer, validity, fingerprint) for display.

    Args:
        certs: Certificates to describe.

    Returns:
        One dict per certificate with string values.
    """
    from cryptography.hazmat.primitives import serialization

    return [
        {
            "subject": c.subject.rfc4514_string(),
            "issuer": c.issuer.rfc4514_string(),
            "not_before": c.not_valid_before_utc.isoformat(),
            "not_after": c.not_valid_after_utc.isoformat(),
            "fingerprint": _fingerprint(c.public_bytes(serialization.Encoding.DER)),
        }
        for c in certs
    ]
