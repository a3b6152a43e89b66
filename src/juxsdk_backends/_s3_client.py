"""The S3 store's connection: the boto3 client, built on first use, and the one error mapping.

:class:`S3Connection` is the base of :class:`juxsdk_backends.s3.S3Store`. It builds the boto3
client lazily (boto3 is optional: ``pip install 'juxsdk[s3]'``), with the configured timeouts,
botocore retries and credentials, and maps every botocore exception to a
:class:`~juxsdk.errors.StoreError` naming the bucket and key, with a hint, never a credential
(:meth:`S3Connection._scrub`). What the objects mean lives in ``s3.py``.

References: botocore "Config Reference", "Retries" and "Error handling" (boto3 documentation).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from juxsdk.errors import ConfigError, StoreError

if TYPE_CHECKING:  # pragma: no cover
    from .s3 import S3Store

__all__ = ["INSTALL_HINT", "LIST_WORKERS", "NOT_FOUND_CODES", "S3Connection", "describe_code", "strip_etag"]

INSTALL_HINT = "pip install 'juxsdk[s3]'"
_CREDENTIAL_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AuthorizationHeaderMalformed",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "403",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "500", "502", "503", "504"}
)
#: Parallel GETs used by ``list`` to fetch sidecars (the client's pool is sized for them).
LIST_WORKERS = 8


def strip_etag(value: object) -> str:
    """An ETag without its surrounding quotes (services differ in quoting)."""
    return str(value or "").strip('"')


def describe_code(exc: Any) -> tuple[str, str, int | None]:
    """``(error code, message, HTTP status)`` of a botocore ``ClientError``."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "Unknown"), str(error.get("Message") or ""), status


class S3Connection:
    """A bucket and the lazily built boto3 client that reaches it."""

    options: S3Store.Options
    bucket: str
    _client_obj: Any
    _lock: threading.Lock
    _closed: bool

    # ------------------------------------------------------------------ client and errors

    def _client(self) -> Any:
        if self._client_obj is not None:
            return self._client_obj
        with self._lock:
            if self._closed:
                raise StoreError(f"s3 store for bucket {self.bucket!r} is closed", hint="create a new store")
            if self._client_obj is None:
                self._client_obj = self._make_client()
        return self._client_obj

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError as exc:
            raise ConfigError("the s3 store needs boto3, which is not installed", hint=INSTALL_HINT) from exc
        o = self.options
        key_id = o.access_key_id.get() if o.access_key_id is not None else None
        secret_key = o.secret_access_key.get() if o.secret_access_key is not None else None
        token = o.session_token.get() if o.session_token is not None else None
        retries: Any = {"total_max_attempts": o.max_attempts, "mode": o.retry_mode}
        s3_config: Any = {"addressing_style": o.addressing_style}
        config = Config(
            connect_timeout=o.connect_timeout,
            read_timeout=o.read_timeout,
            retries=retries,
            s3=s3_config,
            max_pool_connections=max(10, LIST_WORKERS * 2),
        )
        try:
            session = boto3.session.Session()
            return session.client(
                "s3",
                endpoint_url=o.endpoint_url,
                region_name=o.region,
                config=config,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret_key,
                aws_session_token=token,
            )
        except (BotoCoreError, ValueError) as exc:
            # Never format ``exc`` args that could echo credentials: only its class and message.
            raise ConfigError(
                f"s3 store: cannot create the S3 client for bucket {self.bucket!r}: "
                f"{type(exc).__name__}: {self._scrub(str(exc))}",
                hint="check endpoint_url, region and addressing_style in [tool.jux.backends.s3]",
            ) from exc

    def _secrets(self) -> list[str]:
        values: list[str] = []
        for secret in (
            self.options.access_key_id,
            self.options.secret_access_key,
            self.options.session_token,
        ):
            if secret is None:
                continue
            try:
                values.append(secret.get())
            except ConfigError:
                continue
        return [v for v in values if v]

    def _scrub(self, text: str) -> str:
        for value in self._secrets():
            text = text.replace(value, "****")
        return text

    def _where(self, key: str | None) -> str:
        return f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"

    def _map(self, exc: Exception, action: str, key: str | None) -> NoReturn:
        """Raise the juxsdk error for a boto3/botocore exception ``exc``."""
        from botocore import exceptions as bx

        where = self._where(key)
        endpoint = self.options.endpoint_url or "the AWS endpoint"
        if isinstance(exc, bx.ClientError):
            code, message, status = describe_code(exc)
            if code == "NoSuchBucket":
                raise StoreError(
                    f"s3 store: bucket {self.bucket!r} does not exist (at {endpoint}); cannot {action} {where}",
                    hint="create the bucket, or fix bucket / endpoint_url / region in [tool.jux.backends.s3]",
                ) from exc
            if code in _CREDENTIAL_CODES or status == 403:
                raise StoreError(
                    f"s3 store: access denied to {where} while trying to {action} ({code})",
                    hint="check credentials (access_key_id / secret_access_key, AWS_* variables or the "
                    "AWS profile) and that they may read and write the bucket",
                ) from exc
            if code in _TRANSIENT_CODES or (status is not None and status >= 500):
                raise StoreError(
                    f"s3 store: {endpoint} is temporarily unavailable ({code}) while trying to "
                    f"{action} {where}; nothing was changed by this call, try again later",
                    hint='raise max_attempts or use retry_mode = "adaptive" if this persists',
                ) from exc
            raise StoreError(
                f"s3 store: cannot {action} {where}: {code}: {self._scrub(message)}".rstrip(": "),
                hint="check the bucket configuration and the service's documentation for this error code",
            ) from exc
        if isinstance(
            exc,
            bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError | bx.ConnectionClosedError,
        ):
            raise StoreError(
                f"s3 store: cannot reach {endpoint} to {action} {where} ({type(exc).__name__}); "
                "this may be transient, try again later",
                hint="check endpoint_url and the network; timeouts are connect_timeout / read_timeout",
            ) from exc
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
            raise StoreError(
                f"s3 store: no usable AWS credentials to {action} {where} ({type(exc).__name__})",
                hint="check credentials: set access_key_id / secret_access_key, AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY, or an AWS profile",
            ) from exc
        raise StoreError(
            f"s3 store: cannot {action} {where}: {type(exc).__name__}: {self._scrub(str(exc))}",
            hint="check the [tool.jux.backends.s3] options",
        ) from exc

    def _call(self, action: str, key: str | None, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            self._map(exc, action, key)
