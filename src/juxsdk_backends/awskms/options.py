"""Options of the ``awskms`` signer (table ``[backends.awskms]``) and the KMS names it maps to."""

from __future__ import annotations

from pathlib import Path

import attrs

from juxsdk.config.numbers import ATTEMPTS, POSITIVE_SECONDS
from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError

from .._algorithms import ALGORITHMS

__all__ = ["INSTALL_HINT", "KEY_SPECS", "KMS_ALGORITHMS", "MAX_RAW_MESSAGE", "AwsKmsOptions"]

INSTALL_HINT = "pip install 'juxsdk[aws]'"

#: KMS key spec -> (key family, default algorithm)
KEY_SPECS: dict[str, tuple[str, str]] = {
    "RSA_2048": ("rsa", "rsa-sha256"),
    "RSA_3072": ("rsa", "rsa-sha256"),
    "RSA_4096": ("rsa", "rsa-sha256"),
    "ECC_NIST_P256": ("ec", "ecdsa-sha256"),
    "ECC_NIST_P384": ("ec", "ecdsa-sha384"),
    "ECC_NIST_P521": ("ec", "ecdsa-sha512"),
}

#: juxsdk algorithm -> KMS SigningAlgorithm
KMS_ALGORITHMS: dict[str, str] = {
    "rsa-sha256": "RSASSA_PKCS1_V1_5_SHA_256",
    "rsa-sha384": "RSASSA_PKCS1_V1_5_SHA_384",
    "rsa-sha512": "RSASSA_PKCS1_V1_5_SHA_512",
    "ecdsa-sha256": "ECDSA_SHA_256",
    "ecdsa-sha384": "ECDSA_SHA_384",
    "ecdsa-sha512": "ECDSA_SHA_512",
}

#: Largest message KMS signs as ``MessageType=RAW`` (bytes; AWS KMS API Reference, Sign).
MAX_RAW_MESSAGE = 4096


def _validate_algorithm(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and value.lower() not in ALGORITHMS:
        raise ConfigError(f"unsupported awskms algorithm {value!r}", hint="use one of: " + ", ".join(ALGORITHMS))


def _non_empty(_inst: object, _attr: object, value: str) -> None:
    if not value.strip():
        raise ConfigError(
            "awskms key_id is empty", hint='set key_id = "alias/jux-signing" (a key id, key ARN or alias)'
        )


@attrs.frozen
class AwsKmsOptions:
    """Options of the ``awskms`` signer (table ``[backends.awskms]``).

    Attributes:
        key_id: The KMS key: key id (``1234abcd-…``), key ARN, alias name (``alias/jux-signing``)
            or alias ARN.
        region: AWS region (``eu-west-1``…); default: the AWS configuration chain
            (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile).
        endpoint_url: KMS endpoint (a VPC endpoint, or a local KMS-protocol server); default:
            ``AWS_ENDPOINT_URL_KMS`` / ``AWS_ENDPOINT_URL`` / the regional AWS endpoint.
        profile: Named profile of the shared AWS config files.
        access_key_id: Access key id (a secret reference), with ``secret_access_key``. When
            unset, the standard AWS credential chain is used (recommended: a CI role).
        secret_access_key: Secret access key (a secret reference).
        session_token: Session token of temporary credentials (a secret reference).
        certificate: PEM file with a certificate issued for the KMS key first, then its chain;
            KeyInfo then carries it. Without it, KeyInfo carries the public key value.
        algorithm: ``rsa-sha256|384|512`` or ``ecdsa-sha256|384|512``; default from the key spec.
        connect_timeout: Seconds to wait for a TCP connection to KMS.
        read_timeout: Seconds to wait for an answer.
        max_attempts: Attempts per request, the first included; throttling, 5xx and connection
            errors are retried by botocore's ``standard`` mode (exponential backoff with jitter,
            capped at 20 s per wait).

    Raises:
        ConfigError: empty ``key_id``, unknown ``algorithm``, half a key pair.
    """

    key_id: str = attrs.field(validator=_non_empty)
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    certificate: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    algorithm: str | None = attrs.field(default=None, validator=_validate_algorithm)
    connect_timeout: float = attrs.field(default=5.0, converter=float, validator=POSITIVE_SECONDS)
    read_timeout: float = attrs.field(default=15.0, converter=float, validator=POSITIVE_SECONDS)
    max_attempts: int = attrs.field(default=5, validator=ATTEMPTS)

    def __attrs_post_init__(self) -> None:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ConfigError(
                "awskms: access_key_id and secret_access_key must be given together",
                hint="set both in [backends.awskms], or neither to use the standard AWS credential chain",
            )
        if self.session_token is not None and self.access_key_id is None:
            raise ConfigError(
                "awskms: session_token needs access_key_id and secret_access_key",
                hint="set all three, or none to use the standard AWS credential chain",
            )
