"""The certificate chain a signer puts in KeyInfo: loading it from PEM and matching it to the key.

Shared by the remote-key signers (``pkcs11``, ``awskms``, ``sslib``): the chain is a PEM file
holding the signing certificate first, then intermediates (RFC 7468 §5); the signing
certificate must carry the signer's public key (compared as DER SubjectPublicKeyInfo,
RFC 5280 §4.1.2.7).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from juxsdk.errors import ConfigError
from juxsdk.files import write_atomic

__all__ = ["load_chain", "spki", "write_pem"]


def spki(key: PublicKeyTypes) -> bytes:
    """DER SubjectPublicKeyInfo of ``key`` (RFC 5280 §4.1.2.7): equal bytes, equal key."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_chain(path: Path, *, backend: str) -> tuple[x509.Certificate, ...]:
    """Read a PEM certificate chain (signing certificate first).

    Args:
        path: PEM file; ``~`` is expanded.
        backend: Backend name for messages (``"pkcs11"``, ``"awskms"``…).

    Returns:
        The certificates in file order (at least one).

    Raises:
        ConfigError: the file cannot be read or holds no PEM certificate.
    """
    path = Path(path).expanduser()
    hint = "certificate must be a PEM file (signing certificate first)"
    try:
        return tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except OSError as exc:
        raise ConfigError(f"cannot read {backend} certificate {path}: {exc.strerror}", hint=hint) from exc
    except ValueError as exc:
        raise ConfigError(f"{backend} certificate {path} holds no PEM certificate", hint=hint) from exc


def write_pem(path: Path, pem: bytes, *, what: str = "certificate") -> Path:
    """Write a PEM certificate or CSR to ``path`` atomically (``~`` expanded, parent directories created).

    Returns:
        The expanded path.

    Raises:
        ConfigError: the file cannot be written.
    """
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, pem, mode=None)
    except OSError as exc:
        raise ConfigError(f"cannot write {what} {path}: {exc.strerror}") from exc
    return path
