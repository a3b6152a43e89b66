"""File-key signer (``file``): a private key in a PEM, DER or PKCS #12 file.

Supported keys: RSA 2048–4096 bits (PKCS #1 or PKCS #8), EC P-256 / P-384 / P-521 (SEC 1 or
PKCS #8), encrypted or not; PKCS #12 bundles (key, certificate and chain). Certificates come
from the PKCS #12 bundle or a PEM file holding the signing certificate first, then the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from juxsdk.config.paths import user_config_dir
from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError, SecretRequiredError, SigningError

from . import _algorithms
from ._certificates import load_chain, spki

__all__ = ["FileKeySigner", "default_algorithm"]


def default_key_path() -> Path:
    """Default key file: ``<user config dir>/signing-key.pem`` (``jux keygen`` writes it)."""
    return user_config_dir() / "signing-key.pem"


def default_algorithm(key: PublicKeyTypes) -> str:
    """The signature algorithm used for ``key`` unless configured otherwise.

    Raises:
        ConfigError: unsupported key type or size.
    """
    if isinstance(key, rsa.RSAPublicKey) and not 2048 <= key.key_size <= 4096:
        raise ConfigError(f"RSA key of {key.key_size} bits is not supported", hint="use RSA 2048 to 4096 bits")
    algorithm = _algorithms.default_algorithm(key)
    if algorithm is not None:
        return algorithm
    if isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(f"EC curve {key.curve.name} is not supported", hint="use P-256 or P-384")
    raise ConfigError(f"{type(key).__name__} keys are not supported", hint="use an RSA or EC key")


def _sibling_cert(key: Path) -> Path | None:
    name = key.name
    for suffix in ("-key.pem", ".key.pem", ".key"):
        if name.endswith(suffix):
            cand = key.with_name(name[: -len(suffix)] + "-cert.pem")
            return cand if cand.is_file() else None
    return None


@attrs.frozen
class FileKeyOptions:
    """Options of the ``file`` signer (``[tool.jux.backends.file]``).

    Attributes:
        key: Private key file (PEM, DER or PKCS #12 ``.p12``/``.pfx``). Default:
            ``<user config dir>/signing-key.pem``.
        certificate: PEM file with the signing certificate first, then its chain. Default: the
            certificate inside a PKCS #12 bundle, else ``<name>-cert.pem`` beside a
            ``<name>-key.pem`` key, else none (KeyInfo then carries the public key value).
        passphrase: Passphrase of an encrypted key, as a secret reference.
        algorithm: ``rsa-sha256|384|512`` or ``ecdsa-sha256|384|512``; default by key type.
    """

    key: Path = attrs.field(factory=default_key_path)
    certificate: Path | None = None
    passphrase: Secret | None = None
    algorithm: str | None = None


class FileKeySigner:
    """Signs with a private key read from a file (RSA 2048–4096, EC P-256/P-384).

    Args:
        options: :class:`FileKeyOptions`.

    Raises:
        ConfigError: missing/unreadable key or certificate, unsupported key, wrong passphrase,
            certificate not matching the key.
        SecretRequiredError: the key is encrypted and no passphrase is configured.
    """

    name: ClassVar[str] = "file"
    Options: ClassVar[type[FileKeyOptions]] = FileKeyOptions

    def __init__(self, options: FileKeyOptions | None = None) -> None:
        self.options = options or FileKeyOptions()
        self._key, certs = self._load()
        cert_path = self.options.certificate or (None if certs else _sibling_cert(self.options.key))
        if cert_path is not None:
            certs = list(load_chain(cert_path, backend="file"))
        self._chain: tuple[x509.Certificate, ...] = tuple(certs)
        public = self._key.public_key()
        self._public: PublicKeyTypes = public
        if self._chain:
            if spki(self._chain[0].public_key()) != spki(public):
                raise ConfigError(
                    f"certificate {cert_path or self.options.key} does not match the key {self.options.key}",
                    hint="configure the certificate issued for this key (or regenerate both with `jux keygen`)",
                )
        self._algorithm = self.options.algorithm or default_algorithm(public)
        family = "ec" if isinstance(public, ec.EllipticCurvePublicKey) else "rsa"
        if _algorithms.ALGORITHMS.get(self._algorithm, ("", ""))[0] != family:
            kind = "ecdsa" if family == "ec" else "rsa"
            raise ConfigError(
                f"algorithm {self._algorithm!r} does not fit a {kind.upper()} key",
                hint=f"use one of {kind}-sha256, {kind}-sha384, {kind}-sha512",
            )
        self._hash = _algorithms.hash_of(self._algorithm)

    def __repr__(self) -> str:
        return f"FileKeySigner(key={str(self.options.key)!r}, algorithm={self._algorithm!r})"

    # -- loading --------------------------------------------------------------------------

    def _password(self) -> bytes | None:
        return self.options.passphrase.get().encode() if self.options.passphrase is not None else None

    def _load(self) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
        path = Path(self.options.key).expanduser()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"signing key {path} does not exist",
                hint="create one with `jux keygen`, or set backends.file.key",
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read signing key {path}: {exc.strerror}") from exc
        password = self._password()
        certs: list[x509.Certificate] = []
        try:
            if path.suffix.lower() in (".p12", ".pfx"):
                key, cert, extra = pkcs12.load_key_and_certificates(data, password)
                if cert is not None:
                    certs = [cert, *extra]
            elif b"-----BEGIN" in data:
                key = serialization.load_pem_private_key(data, password, unsafe_skip_rsa_key_validation=True)
            else:
                key = serialization.load_der_private_key(data, password, unsafe_skip_rsa_key_validation=True)
        except TypeError as exc:
            if password is None:
                raise SecretRequiredError(
                    f"signing key {path} is encrypted",
                    option_path="backends.file.passphrase",
                    prompt=f"Passphrase for {path.name}",
                    hint='set backends.file.passphrase = { env = "JUX_KEY_PASSPHRASE" }',
                ) from exc
            raise ConfigError(f"signing key {path} is not encrypted, but a passphrase is configured") from exc
        except ValueError as exc:
            if password is not None:
                raise ConfigError(
                    f"cannot decrypt signing key {path}: wrong passphrase or unsupported format",
                    hint="check the passphrase secret",
                ) from exc
            raise ConfigError(
                f"{path} is not a supported private key file (PEM, DER or PKCS #12)",
                hint="create one with `jux keygen`",
            ) from exc
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{path}: {type(key).__name__} keys are not supported", hint="use RSA or EC")
        return key, certs

    # -- Signer protocol ------------------------------------------------------------------

    @property
    def algorithm(self) -> str:
        """Signature algorithm name (see juxsdk.protocols.SIGNATURE_ALGORITHMS)."""
        return self._algorithm

    def public_key(self) -> PublicKeyTypes:
        """The public key of the signing key."""
        return self._public

    def certificate_chain(self) -> Sequence[x509.Certificate]:
        """Signing certificate first, then the chain; empty when none is configured."""
        return self._chain

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``: RSA PKCS #1 v1.5 (RFC 8017 §8.2) or DER ECDSA (RFC 3279 §2.2.3).

        Raises:
            SigningError: the crypto library refused.
        """
        try:
            if isinstance(self._key, rsa.RSAPrivateKey):
                return self._key.sign(data, padding.PKCS1v15(), self._hash)
            return self._key.sign(data, ec.ECDSA(self._hash))
        except Exception as exc:
            raise SigningError(f"signing with {self.options.key} failed: {exc}") from exc

    def close(self) -> None:
        """Nothing to release; idempotent."""
