"""Signature algorithm names shared by the remote-key signers (PKCS#11, AWS KMS, securesystemslib).

The names are :data:`juxsdk.protocols.SIGNATURE_ALGORITHMS`: RSA PKCS #1 v1.5 (RFC 8017 §8.2)
or ECDSA (FIPS 186-4, DER ``Ecdsa-Sig-Value`` of RFC 3279 §2.2.3) over the data hashed with the
named SHA-2 (FIPS 180-4). This module maps them to their key family and hash, picks the default
for a public key, and verifies a signature on the host (``jux config check`` probes, self-checks).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = ["ALGORITHMS", "EC_DEFAULTS", "HASHES", "default_algorithm", "hash_of", "verify"]

#: algorithm name -> (key family ``"rsa"``/``"ec"``, hash name)
ALGORITHMS: dict[str, tuple[str, str]] = {
    "rsa-sha256": ("rsa", "sha256"),
    "rsa-sha384": ("rsa", "sha384"),
    "rsa-sha512": ("rsa", "sha512"),
    "ecdsa-sha256": ("ec", "sha256"),
    "ecdsa-sha384": ("ec", "sha384"),
    "ecdsa-sha512": ("ec", "sha512"),
}

#: hash name -> cryptography hash class
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

#: Default ECDSA algorithm per curve: hash strength matched to the curve (RFC 5656 §6.2.1).
EC_DEFAULTS: dict[str, str] = {
    "secp256r1": "ecdsa-sha256",
    "secp384r1": "ecdsa-sha384",
    "secp521r1": "ecdsa-sha512",
}


def hash_of(algorithm: str) -> hashes.HashAlgorithm:
    """The hash of ``algorithm`` (e.g. ``"ecdsa-sha384"`` -> ``SHA384()``).

    Raises:
        KeyError: ``algorithm`` is not in :data:`ALGORITHMS`.
    """
    return HASHES[ALGORITHMS[algorithm][1]]()


def default_algorithm(public_key: PublicKeyTypes) -> str | None:
    """The algorithm used for ``public_key`` unless one is configured.

    Args:
        public_key: A cryptography public key.

    Returns:
        ``"rsa-sha256"`` for RSA; for EC the entry of :data:`EC_DEFAULTS` (P-256 ->
        ``ecdsa-sha256``, P-384 -> ``ecdsa-sha384``, P-521 -> ``ecdsa-sha512``); None for any
        other key type or curve (the caller raises its own error with a hint).
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa-sha256"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return EC_DEFAULTS.get(public_key.curve.name)
    return None


def verify(public_key: PublicKeyTypes, algorithm: str, signature: bytes, data: bytes) -> None:
    """Verify a signature made with ``algorithm`` (as a :class:`juxsdk.protocols.Signer` returns it).

    Args:
        public_key: RSA or EC public key.
        algorithm: A name of :data:`ALGORITHMS`.
        signature: RSA PKCS #1 v1.5 signature, or DER ECDSA signature.
        data: The signed bytes (unhashed).

    Raises:
        cryptography.exceptions.InvalidSignature: the signature does not verify.
        TypeError: the key type does not fit the algorithm.
        KeyError: unknown algorithm.
    """
    family, _ = ALGORITHMS[algorithm]
    if family == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hash_of(algorithm))
    elif family == "ec" and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hash_of(algorithm)))
    else:
        raise TypeError(f"a {type(public_key).__name__} cannot verify {algorithm}")
