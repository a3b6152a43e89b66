"""A key that lives elsewhere (HSM token, cloud KMS), presented to cryptography as a private key.

cryptography's ``CertificateBuilder`` and ``CertificateSigningRequestBuilder`` sign with a
private key object. :func:`as_private_key` wraps a *sign-with-hash* callable — the backend's
way to have the remote key sign bytes with a given SHA-2 hash — in such an object, so the
certificate profile of ``jux keygen`` (:mod:`juxsdk.keys`) is built once and reused by every
key backend, whatever holds the key. Only signing works; export, decryption and key agreement
raise ``TypeError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NoReturn

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from juxsdk import keys
from juxsdk.errors import SigningError

from ._algorithms import HASHES

__all__ = ["SignWithHash", "as_private_key", "certificate_signing_request", "self_signed_certificate"]

#: ``sign(hash_name, data) -> signature``: ``hash_name`` is ``"sha256"``/``"sha384"``/``"sha512"``,
#: ``data`` unhashed; RSA returns PKCS #1 v1.5 bytes, ECDSA the DER ``Ecdsa-Sig-Value``.
SignWithHash = Callable[[str, bytes], bytes]


class _RemoteKeyMixin:
    _public: PublicKeyTypes
    _sign_with_hash: SignWithHash
    _what: str

    def _remote_sign(self, data: bytes, algorithm: Any) -> bytes:
        if isinstance(algorithm, Prehashed) or not isinstance(algorithm, hashes.HashAlgorithm):
            raise TypeError(f"the {self._what} signs unhashed data with a SHA-2 hash")
        if algorithm.name not in HASHES:
            raise TypeError(f"unsupported hash {algorithm.name}")
        return self._sign_with_hash(algorithm.name, bytes(data))

    def _unsupported(self, *_args: Any) -> NoReturn:
        raise TypeError(f"a {self._what} cannot be exported or used for decryption")


class _RemoteRSAKey(_RemoteKeyMixin, rsa.RSAPrivateKey):
    def __init__(self, public: rsa.RSAPublicKey, sign_with_hash: SignWithHash, what: str) -> None:
        self._public, self._sign_with_hash, self._what = public, sign_with_hash, what

    def sign(self, data: bytes, padding: padding.AsymmetricPadding, algorithm: Any) -> bytes:
        if not isinstance(padding, _PKCS1v15):
            raise TypeError(f"the {self._what} signs with PKCS #1 v1.5 padding only")
        return self._remote_sign(data, algorithm)

    @property
    def key_size(self) -> int:
        return self.public_key().key_size

    def public_key(self) -> rsa.RSAPublicKey:
        assert isinstance(self._public, rsa.RSAPublicKey)
        return self._public

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        self._unsupported()

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        self._unsupported()

    def private_bytes(self, *args: Any) -> bytes:
        self._unsupported()

    def __copy__(self) -> _RemoteRSAKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _RemoteRSAKey:
        return self


class _RemoteECKey(_RemoteKeyMixin, ec.EllipticCurvePrivateKey):
    def __init__(self, public: ec.EllipticCurvePublicKey, sign_with_hash: SignWithHash, what: str) -> None:
        self._public, self._sign_with_hash, self._what = public, sign_with_hash, what

    def sign(
        self, data: bytes | bytearray | memoryview, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError(f"the {self._what} signs with ECDSA only")
        return self._remote_sign(bytes(data), signature_algorithm.algorithm)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        assert isinstance(self._public, ec.EllipticCurvePublicKey)
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self.public_key().curve

    @property
    def key_size(self) -> int:
        return self.curve.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        self._unsupported()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        self._unsupported()

    def private_bytes(self, *args: Any) -> bytes:
        self._unsupported()

    def __copy__(self) -> _RemoteECKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _RemoteECKey:
        return self


_PKCS1v15 = padding.PKCS1v15


def as_private_key(
    public_key: PublicKeyTypes, sign_with_hash: SignWithHash, *, what: str = "remote key"
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """Wrap a remote key as a cryptography private key that can only sign.

    Args:
        public_key: The key's RSA or EC public key.
        sign_with_hash: Signs ``data`` with the named hash (see :data:`SignWithHash`).
        what: Names the key in ``TypeError`` messages (e.g. ``"PKCS#11 token key"``).

    Returns:
        An ``RSAPrivateKey`` (PKCS #1 v1.5 only) or ``EllipticCurvePrivateKey`` (ECDSA only).

    Raises:
        SigningError: ``public_key`` is neither RSA nor EC.
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        return _RemoteRSAKey(public_key, sign_with_hash, what)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return _RemoteECKey(public_key, sign_with_hash, what)
    raise SigningError(f"unsupported {what} type {type(public_key).__name__}", hint="use an RSA or EC key")


def self_signed_certificate(
    public_key: PublicKeyTypes,
    sign_with_hash: SignWithHash,
    *,
    subject: str,
    days: int,
    not_before: dt.datetime | None = None,
    hash_name: str = "sha256",
    what: str = "remote key",
) -> x509.Certificate:
    """The certificate profile of ``jux keygen`` (:func:`juxsdk.keys.self_signed_certificate`),
    signed by the remote key, and checked against its public key before it is returned.

    Args:
        public_key: The remote key's public key.
        sign_with_hash: See :data:`SignWithHash`.
        subject: Common name or RFC 4514 name (subject and issuer).
        days: Validity in days (≥ 1).
        not_before: Start of validity (default now, UTC).
        hash_name: Hash of the certificate signature (``"sha256"``…; a KMS P-384 key only
            signs with ``"sha384"``).
        what: Names the key in messages.

    Returns:
        The self-signed X.509 v3 certificate (SHA-256).

    Raises:
        ConfigError: bad subject or days.
        SigningError: the remote key failed, or produced a signature that does not verify.
    """
    adapter = as_private_key(public_key, sign_with_hash, what=what)
    certificate = keys.self_signed_certificate(
        adapter, subject=subject, days=days, not_before=not_before, hash_name=hash_name
    )
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise SigningError(f"the {what} produced a certificate signature that does not verify") from exc
    return certificate



def certificate_signing_request(
    public_key: PublicKeyTypes,
    sign_with_hash: SignWithHash,
    *,
    subject: str,
    hash_name: str = "sha256",
    what: str = "remote key",
) -> x509.CertificateSigningRequest:
    """A PKCS #10 request (:func:`juxsdk.keys.certificate_signing_request`) signed by the remote key.

    Args:
        public_key: The remote key's public key.
        sign_with_hash: See :data:`SignWithHash`.
        subject: Common name or RFC 4514 name.
        hash_name: Hash of the CSR signature (``"sha256"``…).
        what: Names the key in messages.

    Returns:
        The CSR; its signature is checked before it is returned.

    Raises:
        ConfigError: bad subject.
        SigningError: the remote key failed, or produced a signature that does not verify.
    """
    adapter = as_private_key(public_key, sign_with_hash, what=what)
    csr = keys.certificate_signing_request(adapter, subject=subject, hash_name=hash_name)
    if not csr.is_signature_valid:
        raise SigningError(f"the {what} produced a CSR signature that does not verify")
    return csr
