"""AWS errors mapped to :mod:`juxsdk.errors` at the boundary, with hints and no credentials.

Codes from the AWS KMS API Reference ("Errors" of DescribeKey, GetPublicKey, Sign) and the
AWS common errors; botocore exceptions for the transport and the credential chain.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

from juxsdk.errors import ConfigError, SigningError

from .options import AwsKmsOptions

__all__ = ["ACCESS_CODES", "cause_code", "check_key_metadata", "error_code", "map_error", "scrub", "wrong_usage"]

ACCESS_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
_EXPIRED_CODES = frozenset(
    {"ExpiredTokenException", "ExpiredToken", "RequestExpired", "TokenRefreshRequired"}
)
_BAD_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
    }
)
_THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "LimitExceededException", "TooManyRequestsException"}
)
_TRANSIENT_CODES = frozenset(
    {"KMSInternalException", "DependencyTimeoutException", "ServiceUnavailable", "InternalFailure"}
)


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ``ClientError`` (``"AccessDeniedException"``…), else its HTTP status or "".

    Args:
        exc: Any exception; only botocore's ``response`` attribute is read.
    """
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "")


def cause_code(exc: BaseException) -> str:
    """The AWS error code of the botocore error behind a mapped juxsdk error ("" if none)."""
    cause = exc.__cause__
    return error_code(cause) if isinstance(cause, Exception) else ""


def _secrets(options: AwsKmsOptions) -> list[str]:
    values = [os.environ.get(v, "") for v in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")]
    for secret in (options.access_key_id, options.secret_access_key, options.session_token):
        if secret is not None:
            try:
                values.append(secret.get())
            except ConfigError:
                continue
    return [v for v in values if len(v) >= 4]


def scrub(text: str, options: AwsKmsOptions) -> str:
    """Replace every credential value (secrets, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) by ``****``.

    Args:
        text: A message that may echo what a server or botocore was given.
        options: The signer's options (their secrets are scrubbed too).
    """
    for value in _secrets(options):
        text = text.replace(value, "****")
    return text


def wrong_usage(arn: str, usage: object) -> ConfigError:
    """The error for a key whose ``KeyUsage`` is not ``SIGN_VERIFY`` (e.g. ``ENCRYPT_DECRYPT``)."""
    return ConfigError(
        f"KMS key {arn} has key usage {usage}, not SIGN_VERIFY: it cannot sign",
        hint="create an asymmetric SIGN_VERIFY key (RSA_2048..RSA_4096 or ECC_NIST_P256/P384) and set key_id to it",
    )


def check_key_metadata(meta: dict[str, Any], key_id: str) -> None:
    """Refuse a key ``DescribeKey`` shows unusable: disabled, pending deletion, another state, wrong usage.

    Args:
        meta: ``KeyMetadata`` of ``DescribeKey`` (AWS KMS API Reference).
        key_id: The configured key id (named when the metadata has no ARN).

    Raises:
        SigningError: the key state is not ``Enabled``.
        ConfigError: the key usage is not ``SIGN_VERIFY``.
    """
    arn = meta.get("Arn") or key_id
    state = meta.get("KeyState")
    if state == "Disabled":
        raise SigningError(
            f"KMS key {arn} is disabled", hint=f"enable it (`aws kms enable-key --key-id {arn}`) or use another key"
        )
    if state in ("PendingDeletion", "PendingReplicaDeletion"):
        raise SigningError(
            f"KMS key {arn} is scheduled for deletion and cannot sign",
            hint=f"cancel the deletion (`aws kms cancel-key-deletion --key-id {arn}`, then enable it) "
            "or use another key",
        )
    if state not in (None, "Enabled"):
        raise SigningError(f"KMS key {arn} is in state {state} and cannot sign", hint="use an enabled key")
    usage = meta.get("KeyUsage")
    if usage is not None and usage != "SIGN_VERIFY":
        raise wrong_usage(arn, usage)


def map_error(exc: Exception, action: str, options: AwsKmsOptions, client: Any) -> NoReturn:
    """Raise the juxsdk error for a boto3/botocore exception from ``kms:<action>`` (the one boundary).

    Args:
        exc: The botocore ``ClientError`` or ``BotoCoreError``.
        action: The KMS action, e.g. ``"Sign"``.
        options: The signer's options (key id for messages, secrets to scrub, ``max_attempts``).
        client: The boto3 client (its endpoint is named in messages).

    Raises:
        SigningError: access denied, disabled key, invalid key state, key not found, throttled
            or unavailable after ``max_attempts``, unreachable endpoint, timeout, credentials
            missing, expired or rejected, anything else (code and scrubbed message).
        ConfigError: wrong key usage, unsupported operation, no region.
    """
    from botocore import exceptions as bx

    key = options.key_id
    what = f"kms:{action} on key {key}"
    endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None) or "the KMS endpoint"
    if isinstance(exc, bx.ClientError):
        code = error_code(exc)
        message = scrub(str((exc.response.get("Error") or {}).get("Message") or ""), options)
        if code in ACCESS_CODES:
            raise SigningError(
                f"access denied: {what} ({code})",
                hint=f"allow kms:{action} (and kms:GetPublicKey, kms:Sign) on this key for the identity "
                "in use, in its IAM policy and the key policy",
            ) from exc
        if code == "DisabledException":
            raise SigningError(
                f"KMS key {key} is disabled ({what})",
                hint=f"enable it (`aws kms enable-key --key-id {key}`) or use another key",
            ) from exc
        if code == "KMSInvalidStateException":
            raise SigningError(
                f"KMS key {key} cannot be used in its current state, e.g. pending deletion ({what}): {message}",
                hint="cancel the deletion (`aws kms cancel-key-deletion`) and enable the key, or use another key",
            ) from exc
        if code == "NotFoundException":
            raise SigningError(
                f"KMS key {key} does not exist at {endpoint}: {message}",
                hint="check key_id and region (a key id or alias belongs to one account and region)",
            ) from exc
        if code == "InvalidKeyUsageException" or (code == "ValidationException" and "usage" in message.lower()):
            raise ConfigError(
                f"KMS key {key} cannot sign: its key usage is not SIGN_VERIFY ({code})",
                hint="create an asymmetric SIGN_VERIFY key and set key_id to it",
            ) from exc
        if code == "UnsupportedOperationException":
            raise ConfigError(
                f"KMS key {key} does not support {action}: {message}",
                hint="use an asymmetric SIGN_VERIFY key (RSA or ECC_NIST)",
            ) from exc
        if code in _THROTTLE_CODES:
            raise SigningError(
                f"KMS throttled {what} ({code}) after {options.max_attempts} attempts with backoff",
                hint="raise max_attempts in [backends.awskms], sign fewer reports in parallel, or ask AWS "
                "for a higher KMS request quota",
            ) from exc
        if code in _EXPIRED_CODES:
            raise SigningError(
                f"the AWS credentials have expired ({code}) for {what}",
                hint="refresh them (`aws sso login`, re-assume the CI role) and run again",
            ) from exc
        if code in _BAD_CREDENTIAL_CODES:
            raise SigningError(
                f"AWS rejected the credentials for {what} ({code})",
                hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the profile, or access_key_id / "
                "secret_access_key in [backends.awskms]",
            ) from exc
        if code in _TRANSIENT_CODES or code.startswith("5"):
            raise SigningError(
                f"KMS is temporarily unavailable ({code}) for {what}, after {options.max_attempts} attempts",
                hint="try again later; raise max_attempts if this persists",
            ) from exc
        raise SigningError(
            f"{what} failed: {code}: {message}".rstrip(": "),
            hint="see the AWS KMS API reference for this error code",
        ) from exc
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError):
        raise SigningError(
            f"cannot reach KMS at {endpoint} for {what} ({type(exc).__name__})",
            hint="check the network, endpoint_url / AWS_ENDPOINT_URL_KMS and region; "
            "the timeout is connect_timeout",
        ) from exc
    if isinstance(exc, bx.ReadTimeoutError):
        raise SigningError(
            f"KMS at {endpoint} did not answer {what} within {options.read_timeout:g} s",
            hint="try again later; raise read_timeout if this persists",
        ) from exc
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        raise SigningError(
            f"no usable AWS credentials for {what} ({type(exc).__name__})",
            hint="run in a CI role, set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
            "or set access_key_id / secret_access_key in [backends.awskms]",
        ) from exc
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        raise SigningError(
            f"the AWS SSO credentials have expired for {what} ({type(exc).__name__})",
            hint="run `aws sso login` and try again",
        ) from exc
    if isinstance(exc, bx.CredentialRetrievalError):
        raise SigningError(
            f"cannot obtain AWS credentials for {what} ({type(exc).__name__})",
            hint="check the credential process, role or profile in the AWS config",
        ) from exc
    if isinstance(exc, bx.NoRegionError):
        raise ConfigError(
            "awskms: no AWS region is configured",
            hint="set region in [backends.awskms], or AWS_REGION / AWS_DEFAULT_REGION",
        ) from exc
    raise SigningError(
        f"{what} failed: {type(exc).__name__}: {scrub(str(exc), options)}",
        hint="check the [backends.awskms] options and the AWS configuration",
    ) from exc
