"""securesystemslib signer (``sslib``): GCP KMS, Azure Key Vault, HashiCorp Vault, … through one adapter.

securesystemslib (https://github.com/secure-systems-lab/securesystemslib) keeps a family of
signers behind one interface: ``Signer.from_priv_key_uri(uri, public_key, secrets_handler)``
returns a signer whose ``sign(payload)`` gives a ``Signature`` with the hex ``sig``. This backend
adapts that interface to juxsdk's :class:`~juxsdk.protocols.Signer`::

    signer = "sslib"

    [backends.sslib]
    private_key_uri = "gcpkms:projects/p/locations/global/keyRings/ci/cryptoKeys/jux/cryptoKeyVersions/1"
    public_key = "jux-signing-pub.pem"          # PEM SubjectPublicKeyInfo, or a securesystemslib key JSON

URI schemes of securesystemslib 1.x (its ``SIGNER_FOR_URI_SCHEME``): ``file2:`` (a PEM PKCS #8
key file, ``CryptoSigner``), ``gcpkms:``, ``azurekms:``, ``hv:`` (HashiCorp Vault transit),
``awskms:``, ``hsm:``, ``gnupg:``, ``tkey:``. Each provider needs its own extra of
securesystemslib (``securesystemslib[gcpkms]``…) and its own credentials, read by the provider's
library. Only ``file2:`` is proven end to end in juxsdk's tests; the others rely on
securesystemslib's own tests (see docs/reference/sslib-signer.md). For AWS KMS prefer the
``awskms`` signer: securesystemslib's ``AWSSigner`` sends digests (``MessageType=DIGEST``).

Schemes (securesystemslib key schemes -> juxsdk algorithms): ``rsa-pkcs1v15-sha256|384|512`` ->
``rsa-sha256|384|512``; ``ecdsa-sha2-nistp256|384|521`` -> ``ecdsa-sha256|384|512``. RSA-PSS and
Ed25519 have no XMLDSig algorithm in juxsdk's signature profile and are refused. securesystemslib
returns ECDSA signatures DER-encoded (RFC 3279 §2.2.3; its own ``SSlibKey.verify_signature``
expects DER), which is what the core expects; anything else is refused.

securesystemslib is an optional dependency (``pip install 'juxsdk[sslib]'``), imported on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError, SigningError

from ._algorithms import verify
from ._certificates import load_chain, spki

__all__ = ["INSTALL_HINT", "SCHEMES", "SslibOptions", "SslibSigner"]

INSTALL_HINT = "pip install 'juxsdk[sslib]'"

#: securesystemslib key scheme -> juxsdk algorithm
SCHEMES: dict[str, str] = {
    "rsa-pkcs1v15-sha256": "rsa-sha256",
    "rsa-pkcs1v15-sha384": "rsa-sha384",
    "rsa-pkcs1v15-sha512": "rsa-sha512",
    "ecdsa-sha2-nistp256": "ecdsa-sha256",
    "ecdsa-sha2-nistp384": "ecdsa-sha384",
    "ecdsa-sha2-nistp521": "ecdsa-sha512",
}
_EC_SCHEMES = {
    "secp256r1": "ecdsa-sha2-nistp256",
    "secp384r1": "ecdsa-sha2-nistp384",
    "secp521r1": "ecdsa-sha2-nistp521",
}

#: URI scheme -> the securesystemslib extra its provider library comes with
_PROVIDER_EXTRAS: dict[str, str] = {
    "file2": "crypto",
    "gcpkms": "gcpkms",
    "azurekms": "azurekms",
    "hv": "hashicorp",
    "awskms": "awskms",
    "hsm": "hsm",
    "tkey": "tkey",
}


def _validate_scheme(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and value not in SCHEMES:
        raise ConfigError(
            f"sslib scheme {value!r} cannot sign XMLDSig reports",
            hint="use one of: " + ", ".join(SCHEMES),
        )


def _validate_uri(_inst: object, _attr: object, value: str) -> None:
    scheme, sep, rest = value.partition(":")
    if not sep or not scheme or not rest:
        raise ConfigError(
            f"sslib private_key_uri {value!r} is not a securesystemslib key URI",
            hint='write SCHEME:LOCATION, e.g. "file2:/path/key.pem" or "gcpkms:projects/…/cryptoKeyVersions/1"',
        )


@attrs.frozen
class SslibOptions:
    """Options of the ``sslib`` signer (table ``[backends.sslib]``).

    Attributes:
        private_key_uri: securesystemslib private key URI, ``SCHEME:LOCATION`` (``file2:``,
            ``gcpkms:``, ``azurekms:``, ``hv:``, ``awskms:``, ``hsm:``…).
        public_key: File with the public key: PEM SubjectPublicKeyInfo, or a securesystemslib
            key as JSON (``{"keytype": …, "scheme": …, "keyval": {"public": …}}``, as the
            providers' ``import_()`` return it). ``~`` is expanded.
        scheme: securesystemslib key scheme; default: the JSON key's scheme, else
            ``rsa-pkcs1v15-sha256`` for RSA and the curve's ``ecdsa-sha2-nistp*`` for EC.
        keyid: securesystemslib key id; default: the one securesystemslib computes.
        certificate: PEM file with a certificate issued for the key first, then its chain.
        secret: Given to the provider when it asks for a secret (an HSM PIN…), as a secret
            reference (``{env = "…"}``).

    Raises:
        ConfigError: a malformed URI or an unsupported scheme.
    """

    private_key_uri: str = attrs.field(validator=_validate_uri)
    public_key: Path = attrs.field(converter=Path)
    scheme: str | None = attrs.field(default=None, validator=_validate_scheme)
    keyid: str | None = None
    certificate: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    secret: Secret | None = None

    @property
    def uri_scheme(self) -> str:
        """The URI scheme, e.g. ``"gcpkms"``."""
        return self.private_key_uri.partition(":")[0]


def _sslib() -> Any:
    """Import ``securesystemslib.signer``.

    Raises:
        ConfigError: securesystemslib is not installed.
    """
    try:
        return importlib.import_module("securesystemslib.signer")
    except ImportError as exc:
        raise ConfigError(
            "the sslib signer needs securesystemslib, which is not installed", hint=INSTALL_HINT
        ) from exc


class SslibSigner:
    """Signs through a securesystemslib signer (GCP KMS, Azure Key Vault, HashiCorp Vault, key file…).

    Construction reads the public key file (no provider call); the provider's signer is made
    on first use. Usable as a context manager.

    Args:
        options: :class:`SslibOptions`.

    Raises:
        ConfigError: securesystemslib is not installed (hint ``pip install 'juxsdk[sslib]'``),
            the public key file is unreadable or not RSA/EC, or the scheme does not fit it.
    """

    name: ClassVar[str] = "sslib"
    Options: ClassVar[type[SslibOptions]] = SslibOptions

    def __init__(self, options: SslibOptions) -> None:
        if not isinstance(options, SslibOptions):
            raise ConfigError("SslibSigner needs an SslibOptions instance")
        if importlib.util.find_spec("securesystemslib") is None:
            raise ConfigError("the sslib signer needs securesystemslib, which is not installed", hint=INSTALL_HINT)
        self.options = options
        self._public, self._scheme = self._read_public_key()
        self._algorithm = SCHEMES[self._scheme]
        self._signer: Any = None
        self._lock = threading.Lock()
        self._chain: tuple[x509.Certificate, ...] | None = None

    def __repr__(self) -> str:
        return f"SslibSigner(private_key_uri={self.options.private_key_uri!r}, scheme={self._scheme!r})"

    def __enter__(self) -> SslibSigner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- Signer protocol ---------------------------------------------------------------

    @property
    def algorithm(self) -> str:
        """The juxsdk algorithm of the key scheme, e.g. ``"ecdsa-sha256"``."""
        return self._algorithm

    def public_key(self) -> PublicKeyTypes:
        """The configured public key."""
        return self._public

    def certificate_chain(self) -> Sequence[x509.Certificate]:
        """The configured certificate chain (signing certificate first), or empty.

        Raises:
            ConfigError: unreadable PEM, or a certificate that is not for the public key.
        """
        if self._chain is None:
            chain: tuple[x509.Certificate, ...] = ()
            if self.options.certificate is not None:
                chain = load_chain(self.options.certificate, backend="sslib")
                if spki(chain[0].public_key()) != spki(self._public):
                    raise ConfigError(
                        f"the certificate in {self.options.certificate} ({chain[0].subject.rfc4514_string()}) "
                        f"is not for the public key in {self.options.public_key}",
                        hint="configure the certificate issued for this key",
                    )
            self._chain = chain
        return self._chain

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with the provider's ``Signer.sign``.

        Args:
            data: The bytes to sign (the canonical SignedInfo).

        Returns:
            RSA: the PKCS #1 v1.5 signature; ECDSA: the DER ``Ecdsa-Sig-Value`` (RFC 3279 §2.2.3).

        Raises:
            ConfigError: securesystemslib or the provider's library is missing (the hint names
                the extra), the URI scheme is unknown, or the provider refuses the public key.
            SigningError: the provider failed (message: its exception type and text), or
                returned something that is not a signature of this key's kind.
        """
        signer = self._provider()
        try:
            signature = signer.sign(bytes(data))
        except Exception as exc:  # the boundary: providers raise their own types
            raise self._provider_error(exc, "sign") from exc
        try:
            value = bytes.fromhex(str(signature.signature))
        except (AttributeError, ValueError) as exc:
            raise SigningError(f"sslib signer {self.options.uri_scheme!r} returned no hex signature") from exc
        if isinstance(self._public, ec.EllipticCurvePublicKey):
            try:
                decode_dss_signature(value)
            except ValueError as exc:
                raise SigningError(
                    f"sslib signer {self.options.uri_scheme!r} returned an ECDSA signature that is not DER",
                    hint="securesystemslib signers return DER; check the provider's securesystemslib version",
                ) from exc
        return value

    def close(self) -> None:
        """Drop the provider's signer. Idempotent; it is made again if the signer is used again."""
        with self._lock:
            self._signer = None

    def check(self) -> list[str]:
        """Check that the provider can sign (``jux config check``): one test signature, verified here.

        Returns:
            One line per step that succeeded (no secrets).

        Raises:
            ConfigError, SigningError: the first step that failed, as :meth:`sign`.
        """
        o = self.options
        lines = [
            f"provider: {o.uri_scheme} ({o.private_key_uri})",
            f"public key: {o.public_key} ({self._describe_key()}, scheme {self._scheme}) -> {self._algorithm}",
        ]
        chain = self.certificate_chain()
        if chain:
            lines.append(
                f"certificate: {chain[0].subject.rfc4514_string()} matches the key "
                f"(valid until {chain[0].not_valid_after_utc:%Y-%m-%d})"
            )
        else:
            lines.append("certificate: none (KeyInfo will carry the public key)")
        probe = b"jux config check"
        try:
            verify(self._public, self._algorithm, self.sign(probe), probe)
        except InvalidSignature as exc:
            raise SigningError(
                f"the test signature of {o.private_key_uri} does not verify with {o.public_key}",
                hint="public_key is not the public half of the private key the URI names",
            ) from exc
        lines.append(f"test signature: ok ({self._algorithm})")
        return lines

    # -- internals ---------------------------------------------------------------------

    def _describe_key(self) -> str:
        if isinstance(self._public, rsa.RSAPublicKey):
            return f"RSA {self._public.key_size}"
        assert isinstance(self._public, ec.EllipticCurvePublicKey)
        return f"EC {self._public.curve.name}"

    def _read_public_key(self) -> tuple[PublicKeyTypes, str]:
        path = self.options.public_key.expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read sslib public_key {path}: {exc.strerror}") from exc
        json_key: dict[str, Any] | None = None
        pem = data
        if data.lstrip().startswith(b"{"):
            try:
                json_key = json.loads(data)
                pem = str(json_key["keyval"]["public"]).encode("ascii")
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"sslib public_key {path} is not a securesystemslib key (JSON with keytype, scheme, keyval.public)",
                    hint="write the key as PEM, or as the JSON of securesystemslib's Key.to_dict()",
                ) from exc
        try:
            public = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise ConfigError(
                f"sslib public_key {path} holds no PEM public key",
                hint="export the public key as PEM SubjectPublicKeyInfo (-----BEGIN PUBLIC KEY-----)",
            ) from exc
        if isinstance(public, rsa.RSAPublicKey):
            default = "rsa-pkcs1v15-sha256"
        elif isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in _EC_SCHEMES:
            default = _EC_SCHEMES[public.curve.name]
        else:
            raise ConfigError(
                f"sslib public_key {path} is a {type(public).__name__}, which XMLDSig signing does not support",
                hint="use an RSA or ECDSA (P-256/P-384/P-521) key",
            )
        scheme = self.options.scheme or (json_key or {}).get("scheme") or default
        if scheme not in SCHEMES:
            raise ConfigError(
                f"sslib key scheme {scheme!r} (from {path}) cannot sign XMLDSig reports",
                hint="set scheme to one of: " + ", ".join(SCHEMES),
            )
        family = "rsa" if isinstance(public, rsa.RSAPublicKey) else "ecdsa"
        if not scheme.startswith(family) or (family == "ecdsa" and scheme != default):
            raise ConfigError(
                f"sslib scheme {scheme!r} does not fit the {self._kind(public)} in {path}",
                hint=f"remove scheme to use {default}",
            )
        return public, scheme

    @staticmethod
    def _kind(public: PublicKeyTypes) -> str:
        if isinstance(public, ec.EllipticCurvePublicKey):
            return f"EC {public.curve.name} key"
        return f"{type(public).__name__.replace('PublicKey', '')} key"

    def _provider(self) -> Any:
        with self._lock:
            if self._signer is not None:
                return self._signer
            sslib = _sslib()
            o = self.options
            keytype = "rsa" if isinstance(self._public, rsa.RSAPublicKey) else "ecdsa"
            pem = self._public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode("ascii")
            try:
                if o.keyid is not None:
                    key = sslib.SSlibKey(o.keyid, keytype, self._scheme, {"public": pem})
                else:
                    key = sslib.SSlibKey.from_crypto(self._public, scheme=self._scheme)
                self._signer = sslib.Signer.from_priv_key_uri(o.private_key_uri, key, self._secret_handler)
            except Exception as exc:  # the boundary: providers raise their own types
                raise self._provider_error(exc, "load") from exc
            return self._signer

    def _secret_handler(self, name: str) -> str:
        if self.options.secret is None:
            raise ConfigError(
                f"the sslib provider {self.options.uri_scheme!r} asks for a secret ({name})",
                hint='set secret = { env = "JUX_SSLIB_SECRET" } in [backends.sslib]',
            )
        return self.options.secret.get()

    def _provider_error(self, exc: Exception, step: str) -> Exception:
        if isinstance(exc, ConfigError | SigningError):
            return exc
        o = self.options
        errors = importlib.import_module("securesystemslib.exceptions")
        name = type(exc).__name__
        detail = self._scrub(str(exc).strip())
        if isinstance(exc, errors.UnsupportedLibraryError):
            extra = _PROVIDER_EXTRAS.get(o.uri_scheme, o.uri_scheme)
            return ConfigError(
                f"the sslib provider {o.uri_scheme!r} needs a library that is not installed: {detail}",
                hint=f"pip install 'securesystemslib[{extra}]'",
            )
        if isinstance(exc, errors.KeyMismatchError):
            return ConfigError(
                f"sslib: the private key of {o.private_key_uri} does not match {o.public_key}",
                hint="public_key must be the public half of the key the URI names",
            )
        if step == "load" and isinstance(exc, ValueError):
            return ConfigError(
                f"sslib cannot use {o.private_key_uri} with {o.public_key}: {detail}",
                hint="check the URI scheme (file2:, gcpkms:, azurekms:, hv:, awskms:, hsm:…), and that "
                "public_key is the public half of the key the URI names",
            )
        if isinstance(exc, OSError) and step == "load":
            return ConfigError(f"sslib cannot open the key {o.private_key_uri}: {name}: {detail}")
        return SigningError(
            f"sslib signer {o.uri_scheme!r} failed to {step} {o.private_key_uri}: {name}"
            + (f": {detail}" if detail else ""),
            hint="see the provider's documentation and its credentials (securesystemslib signer "
            f"{o.uri_scheme!r})",
        )

    def _scrub(self, text: str) -> str:
        if self.options.secret is not None:
            try:
                value = self.options.secret.get()
            except ConfigError:
                return text
            if value:
                text = text.replace(value, "****")
        return text
