"""The ``awskms`` signer: one boto3 KMS client, the key's metadata cached per process, ``kms:Sign``."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, ClassVar

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from juxsdk.errors import ConfigError, SigningError

from .._algorithms import ALGORITHMS, verify
from .._certificates import load_chain, spki
from . import keygen
from .errors import ACCESS_CODES, cause_code, check_key_metadata, map_error, scrub, wrong_usage
from .options import INSTALL_HINT, KEY_SPECS, KMS_ALGORITHMS, MAX_RAW_MESSAGE, AwsKmsOptions

__all__ = ["AwsKmsSigner", "KeyInfo"]


@attrs.frozen
class KeyInfo:
    """What KMS says about the key (cached per process)."""

    arn: str
    key_spec: str
    public_key: PublicKeyTypes
    signing_algorithms: tuple[str, ...]
    state: str | None


_CACHE: dict[tuple[str | None, ...], KeyInfo] = {}
_CACHE_LOCK = threading.Lock()


def _boto() -> tuple[Any, Any, Any]:
    """Import boto3 and botocore (``boto3``, ``botocore.config.Config``, ``botocore.exceptions``).

    Raises:
        ConfigError: boto3 is not installed.
    """
    try:
        import boto3
        from botocore import exceptions
        from botocore.config import Config
    except ImportError as exc:
        raise ConfigError("the awskms signer needs boto3, which is not installed", hint=INSTALL_HINT) from exc
    return boto3, Config, exceptions


class AwsKmsSigner:
    """Signs with an asymmetric AWS KMS key (RSA 2048–4096, ECC NIST P-256/P-384/P-521).

    Construction is cheap (no network); KMS is contacted on first use. Thread-safe: boto3
    clients may be shared between threads. Usable as a context manager.

    Args:
        options: :class:`AwsKmsOptions`.

    Raises:
        ConfigError: boto3 is not installed (hint ``pip install 'juxsdk[aws]'``), or
            ``options`` is not an :class:`AwsKmsOptions`.
    """

    name: ClassVar[str] = "awskms"
    Options: ClassVar[type[AwsKmsOptions]] = AwsKmsOptions

    def __init__(self, options: AwsKmsOptions) -> None:
        if not isinstance(options, AwsKmsOptions):
            raise ConfigError("AwsKmsSigner needs an AwsKmsOptions instance")
        if importlib.util.find_spec("boto3") is None:
            raise ConfigError("the awskms signer needs boto3, which is not installed", hint=INSTALL_HINT)
        self.options = options
        self._client_obj: Any = None
        self._client_pid = 0
        self._lock = threading.Lock()
        self._chain: tuple[x509.Certificate, ...] | None = None

    def __repr__(self) -> str:
        o = self.options
        return f"AwsKmsSigner(key_id={o.key_id!r}, region={o.region!r}, endpoint_url={o.endpoint_url!r})"

    def __enter__(self) -> AwsKmsSigner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- Signer protocol ---------------------------------------------------------------

    @property
    def algorithm(self) -> str:
        """``options.algorithm``, or the default for the key spec (one KMS call per process).

        Raises:
            ConfigError, SigningError: as for :meth:`sign`.
        """
        info = self.key_info()
        configured = self.options.algorithm.lower() if self.options.algorithm else None
        algorithm = configured or KEY_SPECS[info.key_spec][1]
        if ALGORITHMS[algorithm][0] != KEY_SPECS[info.key_spec][0]:
            raise ConfigError(
                f"awskms algorithm {algorithm!r} does not fit the {info.key_spec} key {info.arn}",
                hint="remove algorithm to use the key's default, or pick a matching one",
            )
        if KMS_ALGORITHMS[algorithm] not in info.signing_algorithms:
            raise ConfigError(
                f"KMS key {info.arn} does not offer {KMS_ALGORITHMS[algorithm]} "
                f"(it offers {', '.join(info.signing_algorithms) or 'none'})",
                hint="remove algorithm to use the key's default, or pick one the key offers",
            )
        return algorithm

    def public_key(self) -> PublicKeyTypes:
        """The KMS key's public key (``GetPublicKey``, cached per process).

        Raises:
            ConfigError, SigningError: as for :meth:`sign`.
        """
        return self.key_info().public_key

    def certificate_chain(self) -> Sequence[x509.Certificate]:
        """The configured certificate chain (signing certificate first), or empty.

        Raises:
            ConfigError: the PEM file is unreadable, or its first certificate is not for the key.
            SigningError: as for :meth:`sign` (the key is read to compare).
        """
        if self._chain is None:
            chain: tuple[x509.Certificate, ...] = ()
            if self.options.certificate is not None:
                chain = load_chain(self.options.certificate, backend="awskms")
                if spki(chain[0].public_key()) != spki(self.public_key()):
                    raise ConfigError(
                        f"the certificate in {self.options.certificate} ({chain[0].subject.rfc4514_string()}) "
                        f"is not for the KMS key {self.key_info().arn}",
                        hint="configure the certificate issued for this key (or make one with "
                        "`jux keygen --signer awskms`)",
                    )
            self._chain = chain
        return self._chain

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with the KMS key (one ``Sign`` call).

        Args:
            data: The bytes to sign (the canonical SignedInfo). Up to 4096 bytes are sent as
                they are (``MessageType=RAW``); longer data is hashed here (``DIGEST``).

        Returns:
            RSA: the PKCS #1 v1.5 signature (RFC 8017 §8.2); ECDSA: the DER ``Ecdsa-Sig-Value``
            (RFC 3279 §2.2.3), as KMS returns them.

        Raises:
            ConfigError: boto3 missing, no region, wrong key usage (not ``SIGN_VERIFY``),
                unsupported key spec, or an algorithm the key does not offer.
            SigningError: access denied, key disabled or pending deletion, key not found,
                throttled past ``max_attempts``, endpoint unreachable, credentials missing,
                expired or rejected. Messages name the key and the KMS action, never a credential.
        """
        return self._sign(self.algorithm, data)

    def close(self) -> None:
        """Drop the boto3 client (its connection pool). Idempotent; the signer reconnects if used again."""
        with self._lock:
            client, self._client_obj = self._client_obj, None
        if client is not None:
            close = getattr(client, "close", None)
            if callable(close):
                close()

    # -- jux config check / keygen -------------------------------------------------------

    def check(self) -> list[str]:
        """Check that the key can sign (``jux config check``): metadata, certificate, one test signature.

        Returns:
            One line per step that succeeded (no credentials).

        Raises:
            ConfigError, SigningError: the first step that failed, as :meth:`sign`.
        """
        info = self.key_info()
        client = self._client()
        lines = [
            f"endpoint: {client.meta.endpoint_url} (region {client.meta.region_name})",
            f"key: {info.arn} ({info.key_spec}, SIGN_VERIFY, {info.state or 'state not readable'}) "
            f"-> {self.algorithm}",
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
            verify(info.public_key, self.algorithm, self.sign(probe), probe)
        except InvalidSignature as exc:
            raise SigningError(
                f"the test signature of KMS key {info.arn} does not verify with its public key",
                hint="the endpoint is not the KMS that holds this key; check endpoint_url",
            ) from exc
        lines.append(f"test signature: ok ({self.algorithm}, kms:Sign MessageType=RAW)")
        return lines

    @staticmethod
    def generate_token_key_pair(options: AwsKmsOptions, **kwargs: Any) -> keygen.GeneratedKmsKey:
        """``jux keygen --signer awskms``: :func:`.keygen.generate_kms_key` with a signer for ``options``.

        Args:
            options: The signer's options.
            **kwargs: As :func:`.keygen.generate_kms_key` (``key_type``, ``bits``, ``curve``,
                ``subject``, ``days``, ``certificate_out``, ``csr_out``, ``not_before``).

        Raises:
            ConfigError, SigningError: as :func:`.keygen.generate_kms_key`.
        """
        with AwsKmsSigner(options) as signer:
            return keygen.generate_kms_key(signer, **kwargs)

    # -- KMS access ---------------------------------------------------------------------

    def _client(self) -> Any:
        client = self._client_obj
        if client is not None and self._client_pid == os.getpid():
            return client
        with self._lock:
            if self._client_obj is None or self._client_pid != os.getpid():
                # After fork() the parent's connection pool is not ours: make a new client.
                self._client_obj = self._make_client()
                self._client_pid = os.getpid()
            return self._client_obj

    def _make_client(self) -> Any:
        boto3, config_cls, bx = _boto()
        o = self.options
        config = config_cls(
            connect_timeout=o.connect_timeout,
            read_timeout=o.read_timeout,
            retries={"total_max_attempts": o.max_attempts, "mode": "standard"},
        )
        try:
            session = boto3.session.Session(profile_name=o.profile)
            return session.client(
                "kms",
                endpoint_url=o.endpoint_url,
                region_name=o.region,
                config=config,
                aws_access_key_id=o.access_key_id.get() if o.access_key_id else None,
                aws_secret_access_key=o.secret_access_key.get() if o.secret_access_key else None,
                aws_session_token=o.session_token.get() if o.session_token else None,
            )
        except bx.NoRegionError as exc:
            raise ConfigError(
                "awskms: no AWS region is configured",
                hint="set region in [backends.awskms], or AWS_REGION / AWS_DEFAULT_REGION, or a profile region",
            ) from exc
        except bx.ProfileNotFound as exc:
            raise ConfigError(
                f"awskms: AWS profile {o.profile!r} is not in the AWS config files",
                hint="check profile in [backends.awskms] (`aws configure list-profiles`)",
            ) from exc
        except (bx.BotoCoreError, ValueError) as exc:
            raise ConfigError(
                f"awskms: cannot create the KMS client: {type(exc).__name__}: {scrub(str(exc), o)}",
                hint="check endpoint_url, region and profile in [backends.awskms]",
            ) from exc

    def call(self, action: str, **kwargs: Any) -> Any:
        """Call one KMS API action with this signer's client.

        Args:
            action: The KMS action name, e.g. ``"GetPublicKey"`` (AWS KMS API Reference).
            **kwargs: Its request parameters.

        Returns:
            The response dict.

        Raises:
            ConfigError, SigningError: every boto3/botocore error, mapped by :func:`.errors.map_error`.
        """
        _, _, bx = _boto()
        from botocore import xform_name

        client = self._client()
        method = getattr(client, xform_name(action))
        try:
            return method(**kwargs)
        except (bx.ClientError, bx.BotoCoreError) as exc:
            map_error(exc, action, self.options, client)

    def key_info(self) -> KeyInfo:
        """What KMS says about the key: ``DescribeKey`` and ``GetPublicKey``, once per process.

        Cached by (endpoint, region, profile, key id): every signer of the process for the same
        key shares one lookup.

        Raises:
            ConfigError: wrong key usage or unsupported key spec.
            SigningError: key disabled, pending deletion or missing, and the errors of :meth:`call`.
        """
        o = self.options
        endpoint = o.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_KMS") or os.environ.get("AWS_ENDPOINT_URL")
        cache_key = (endpoint, o.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                     o.profile, o.key_id)
        info = _CACHE.get(cache_key)
        if info is not None:
            return info
        info = self._load_info()
        with _CACHE_LOCK:
            _CACHE[cache_key] = info
        return info

    def _load_info(self) -> KeyInfo:
        key_id = self.options.key_id
        state: str | None = None
        try:
            meta = self.call("DescribeKey", KeyId=key_id)["KeyMetadata"]
        except SigningError as exc:
            if cause_code(exc) not in ACCESS_CODES:
                raise
            meta = None  # kms:DescribeKey is optional: the key state then shows up at Sign
        if meta is not None:
            state = str(meta.get("KeyState") or "") or None
            check_key_metadata(meta, key_id)
        response = self.call("GetPublicKey", KeyId=key_id)
        # GetPublicKey answers the key ARN on AWS (moto: the bare key id); DescribeKey has the ARN.
        arn = str((meta or {}).get("Arn") or response.get("KeyId") or key_id)
        usage = response.get("KeyUsage")
        if usage != "SIGN_VERIFY":
            raise wrong_usage(arn, usage)
        spec = str(response.get("KeySpec") or response.get("CustomerMasterKeySpec") or "")
        if spec not in KEY_SPECS:
            raise ConfigError(
                f"KMS key {arn} has key spec {spec or 'unknown'}, which XMLDSig signing does not support",
                hint="use an RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256 or ECC_NIST_P384 key",
            )
        try:
            public_key = serialization.load_der_public_key(bytes(response["PublicKey"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise SigningError(f"KMS returned an unreadable public key for {arn}") from exc
        family = "rsa" if isinstance(public_key, rsa.RSAPublicKey) else "ec"
        if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) or family != KEY_SPECS[spec][0]:
            raise SigningError(f"KMS returned a {type(public_key).__name__} for the {spec} key {arn}")
        return KeyInfo(
            arn=arn,
            key_spec=spec,
            public_key=public_key,
            signing_algorithms=tuple(response.get("SigningAlgorithms") or ()),
            state=state,
        )

    def _sign(self, algorithm: str, data: bytes) -> bytes:
        info = self.key_info()
        if len(data) <= MAX_RAW_MESSAGE:
            message, message_type = bytes(data), "RAW"
        else:
            hash_name = ALGORITHMS[algorithm][1]
            message, message_type = hashlib.new(hash_name, data).digest(), "DIGEST"
        response = self.call(
            "Sign",
            KeyId=info.arn,
            Message=message,
            MessageType=message_type,
            SigningAlgorithm=KMS_ALGORITHMS[algorithm],
        )
        signature = response.get("Signature")
        if not isinstance(signature, bytes | bytearray) or not signature:
            raise SigningError(f"KMS returned no signature for {info.arn}")
        return bytes(signature)

    def describe(self) -> tuple[str, str]:
        """``(key ARN, key spec)`` of the key (one lookup per process).

        Raises:
            ConfigError, SigningError: as :meth:`key_info`.
        """
        info = self.key_info()
        return info.arn, info.key_spec

    def sign_with_hash(self, hash_name: str, data: bytes) -> bytes:
        """Sign ``data`` with an explicit SHA-2 (``"sha256"``…): certificates and CSRs.

        Raises:
            ConfigError, SigningError: as :meth:`sign`.
        """
        family = KEY_SPECS[self.key_info().key_spec][0]
        return self._sign(f"{'rsa' if family == 'rsa' else 'ecdsa'}-{hash_name}", data)
