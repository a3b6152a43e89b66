"""Reachability check of a PKCS#11 signer, for ``jux config check``.

Module -> token -> login -> key -> certificate -> one test signature verified on the host; each
step that succeeds is one line of output (no secrets), the first that fails raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from juxsdk.errors import SigningError

from .._algorithms import verify
from .options import Pkcs11Options
from .session import acquire, locked, release

__all__ = ["reachability"]


class CheckedSigner(Protocol):
    """What the check needs from the signer (:class:`~.signer.Pkcs11Signer`)."""

    options: Pkcs11Options

    @property
    def algorithm(self) -> str: ...

    def public_key(self) -> PublicKeyTypes: ...

    def certificate_chain(self) -> Sequence[x509.Certificate]: ...

    def sign(self, data: bytes) -> bytes: ...

    def key_identity(self) -> tuple[str, str]: ...


def _session_lines(options: Pkcs11Options) -> list[str]:
    with locked():
        shared = acquire(options)
        try:
            lib, token = shared.lib, shared.token
            serial = token.serial.decode("ascii", "replace").strip()
            if options.pin is None:
                login = "login: none configured"
            else:
                login = "login: ok" if shared.logged_in else "login: ok (already logged in)"
            return [
                f"module: {options.module_path} ({lib.manufacturer_id} {lib.library_description}, "
                f"library {'.'.join(map(str, lib.library_version))}, "
                f"Cryptoki {'.'.join(map(str, lib.cryptoki_version))})",
                f"token: {token.label!r} (serial {serial}, slot {shared.key[1]})",
                login,
            ]
        finally:
            release(shared)


def reachability(signer: CheckedSigner) -> list[str]:
    """Check that the signer's token and key can sign.

    Opens the module, finds the token, logs in, finds the key, loads the public key and the
    certificate (checking they match) and makes one test signature, verified on the host.

    Args:
        signer: The PKCS#11 signer to check.

    Returns:
        Human-readable lines, one per successful step (no secrets), e.g.
        ``"token: 'ci' (serial 1a2b…, slot 7)"``.

    Raises:
        ConfigError, SigningError: the first step that failed, as the signer's ``sign``.
    """
    lines = _session_lines(signer.options)
    algorithm = signer.algorithm
    public_key = signer.public_key()
    label, key_id = signer.key_identity()
    if isinstance(public_key, rsa.RSAPublicKey):
        detail = f"RSA {public_key.key_size}"
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        detail = f"EC {public_key.curve.name}"
    else:  # pragma: no cover - only RSA and EC keys are accepted
        detail = type(public_key).__name__
    lines.append(f"key: {label!r} (id {key_id}, {detail}) -> {algorithm}")
    chain = signer.certificate_chain()
    if chain:
        cert = chain[0]
        lines.append(
            f"certificate: {cert.subject.rfc4514_string()} matches the key "
            f"(valid until {cert.not_valid_after_utc:%Y-%m-%d})"
        )
    else:
        lines.append("certificate: none (KeyInfo will carry the public key)")
    probe = b"jux config check"
    signature = signer.sign(probe)
    try:
        verify(public_key, algorithm, signature, probe)
    except InvalidSignature as exc:
        raise SigningError(
            "the token's test signature does not verify with the key's public key",
            hint="the public key object does not belong to the private key; check the token",
        ) from exc
    lines.append(f"test signature: ok ({algorithm})")
    return lines
