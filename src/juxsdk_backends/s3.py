"""The built-in S3 store (backend name ``"s3"``): AWS S3 and S3-compatible services.

Works with AWS S3, MinIO, Ceph RGW and any service speaking the S3 REST API with conditional
writes (``If-None-Match: *`` on PutObject; AWS S3 since 2024-08; recent MinIO and Ceph RGW).
boto3 is an optional dependency (``pip install 'juxsdk[s3]'``), imported only when the store is first used.

Layout (content-addressed by canonical hash, like the filesystem store)::

    s3://<bucket>/<prefix>/reports/<hex>.xml    the exact report bytes (Content-Type application/xml)
    s3://<bucket>/<prefix>/reports/<hex>.json   the metadata sidecar: StoredReport.to_dict(),
                                                sorted keys, UTF-8 (application/json)
    s3://<bucket>/<prefix>/reports/<hex>.att.<kind>  attachments (juxsdk.attachments), e.g. the
                                                in-toto attestation <hex>.att.intoto.json

Semantics:

* a report *exists* when its sidecar exists; the XML is written first and the sidecar last,
  so a failure between the two never reports a half-stored report (the next ``put`` repairs it);
* ``put`` creates the XML with ``PutObject(IfNoneMatch="*")``. ``412 PreconditionFailed`` means
  an object is already there: it is read back and compared byte-for-byte; same bytes → no-op
  (the existing record is returned), different bytes (a re-signed report) → overwritten. The
  sidecar is created the same way, so concurrent writers of one report all return the record
  of whoever created it first;
* every botocore exception is mapped to :class:`juxsdk.errors.StoreError` (or
  :class:`~juxsdk.errors.ReportNotFoundError`) naming the bucket and key, never credentials.

References: Amazon S3 API Reference, PutObject (``If-None-Match``), GetObject, HeadObject,
DeleteObject, ListObjectsV2; "Conditional requests" in the Amazon S3 User Guide.
"""

from __future__ import annotations

import builtins
import datetime as dt
import importlib.util
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, NoReturn

import attrs

from juxsdk.attachments import NAME_INFIX, Attachment, check_attachment, check_kind
from juxsdk.config.numbers import ATTEMPTS, POSITIVE_SECONDS
from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError, ReportNotFoundError, StoreError
from juxsdk.models import Report, SignedReport, StoredReport, canonical_hex, select_records, stored_record

__all__ = ["S3Store"]

logger = logging.getLogger(__name__)

_KEY_RE = re.compile(r"([0-9a-f]{64})\.json")
_INSTALL_HINT = "pip install 'juxsdk[s3]'"
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
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "500", "502", "503", "504"}
)
#: Parallel GETs used by ``list`` to fetch sidecars.
LIST_WORKERS = 8


def _strip_slashes(value: str) -> str:
    return value.strip("/")


def _opt_float(value: float | int | str | None) -> float | None:
    return None if value is None else float(value)


def _describe_code(exc: Any) -> tuple[str, str, int | None]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "Unknown"), str(error.get("Message") or ""), status


class S3Store:
    """Stores reports in an S3 bucket (AWS S3, MinIO, Ceph RGW…), keyed by canonical hash.

    Args:
        options: :class:`S3Store.Options`.

    Raises:
        ConfigError: boto3 is not installed, or the options are inconsistent (half a key
            pair, a KMS key without ``sse = "aws:kms"``). No network access happens here.
    """

    name: ClassVar[str] = "s3"

    @attrs.frozen
    class Options:
        """Options of the ``s3`` store (``[tool.jux.backends.s3]``).

        Attributes:
            bucket: Bucket name (required). The bucket must exist.
            prefix: Key prefix inside the bucket (leading/trailing ``/`` ignored); reports go to
                ``<prefix>/reports/``.
            endpoint_url: Endpoint of an S3-compatible service (``http://127.0.0.1:9000`` for
                MinIO); default: AWS, from ``region``.
            region: AWS region (``eu-west-1``…); default: the AWS configuration chain.
            addressing_style: ``"path"`` (``endpoint/bucket/key``, usual for MinIO/Ceph),
                ``"virtual"`` (``bucket.endpoint/key``) or ``"auto"`` (botocore decides).
            access_key_id: Access key id (a secret reference); with ``secret_access_key``.
                When both are unset the standard AWS chain is used (environment, shared
                credentials/config files, SSO, container or instance role).
            secret_access_key: Secret access key (a secret reference).
            session_token: Session token for temporary credentials (a secret reference).
            sse: Server-side encryption: ``"AES256"`` (SSE-S3), ``"aws:kms"`` (SSE-KMS) or none.
            sse_kms_key_id: KMS key id/ARN/alias for ``sse = "aws:kms"`` (default: the AWS
                managed key).
            storage_class: Storage class of new objects (``STANDARD``, ``STANDARD_IA``…);
                default: the bucket's.
            connect_timeout: Seconds to wait for a TCP connection.
            read_timeout: Seconds to wait for data on an open connection.
            max_attempts: Total attempts per request, the first included (botocore retries).
            retry_mode: botocore retry mode, ``"standard"`` or ``"adaptive"`` (client-side rate
                limiting as well).
        """

        bucket: str = attrs.field(validator=attrs.validators.min_len(3))
        prefix: str = attrs.field(default="", converter=_strip_slashes)
        endpoint_url: str | None = None
        region: str | None = None
        addressing_style: str = attrs.field(default="auto", validator=attrs.validators.in_(("path", "virtual", "auto")))
        access_key_id: Secret | None = None
        secret_access_key: Secret | None = None
        session_token: Secret | None = None
        sse: str | None = attrs.field(default=None, validator=attrs.validators.in_((None, "AES256", "aws:kms")))
        sse_kms_key_id: str | None = None
        storage_class: str | None = None
        connect_timeout: float = attrs.field(default=10.0, converter=float, validator=POSITIVE_SECONDS)
        read_timeout: float = attrs.field(default=60.0, converter=float, validator=POSITIVE_SECONDS)
        max_attempts: int = attrs.field(default=5, validator=ATTEMPTS)
        retry_mode: str = attrs.field(default="standard", validator=attrs.validators.in_(("standard", "adaptive")))

    def __init__(self, options: S3Store.Options) -> None:
        if importlib.util.find_spec("boto3") is None:
            raise ConfigError("the s3 store needs boto3, which is not installed", hint=_INSTALL_HINT)
        o = options
        if (o.access_key_id is None) != (o.secret_access_key is None):
            raise ConfigError(
                "s3 store: access_key_id and secret_access_key must be given together",
                hint="set both in [tool.jux.backends.s3], or neither to use the standard AWS credential chain",
            )
        if o.session_token is not None and o.access_key_id is None:
            raise ConfigError(
                "s3 store: session_token needs access_key_id and secret_access_key",
                hint="set all three, or none to use the standard AWS credential chain",
            )
        if o.sse_kms_key_id is not None and o.sse != "aws:kms":
            raise ConfigError(
                's3 store: sse_kms_key_id is only used with sse = "aws:kms"',
                hint='set sse = "aws:kms" or remove sse_kms_key_id',
            )
        self.options = o
        self.bucket = o.bucket
        self._base = f"{o.prefix}/reports/" if o.prefix else "reports/"
        self._client_obj: Any = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        endpoint = f", endpoint_url={self.options.endpoint_url!r}" if self.options.endpoint_url else ""
        return f"S3Store(bucket={self.bucket!r}, prefix={self.options.prefix!r}{endpoint})"

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
            raise ConfigError("the s3 store needs boto3, which is not installed", hint=_INSTALL_HINT) from exc
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
            code, message, status = _describe_code(exc)
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

    # ------------------------------------------------------------------ keys

    def _hex(self, canonical_hash: str) -> str:
        return canonical_hex(canonical_hash)

    def _keys(self, hexd: str) -> tuple[str, str]:
        return f"{self._base}{hexd}.xml", f"{self._base}{hexd}.json"

    def _not_found(self, canonical_hash: str) -> ReportNotFoundError:
        return ReportNotFoundError(
            f"no report {canonical_hash} in s3://{self.bucket}/{self._base}",
            hint="`jux cache list` shows the stored reports",
        )

    # ------------------------------------------------------------------ object helpers

    def _extra(self, content_type: str) -> dict[str, Any]:
        o = self.options
        extra: dict[str, Any] = {"ContentType": content_type}
        if o.sse is not None:
            extra["ServerSideEncryption"] = o.sse
            if o.sse_kms_key_id is not None:
                extra["SSEKMSKeyId"] = o.sse_kms_key_id
        if o.storage_class is not None:
            extra["StorageClass"] = o.storage_class
        return extra

    def _create(self, key: str, body: bytes, content_type: str, action: str) -> bool:
        """Conditionally create ``key``; return False when an object was already there (412)."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", **self._extra(content_type))
        except ClientError as exc:
            code, _, status = _describe_code(exc)
            if code in ("PreconditionFailed", "412") or status == 412:
                return False
            if code == "ConditionalRequestConflict" or status == 409:
                return False  # a concurrent conditional write of the same key is in flight
            self._map(exc, action, key)
        except BotoCoreError as exc:
            self._map(exc, action, key)
        return True

    def _overwrite(self, key: str, body: bytes, content_type: str, action: str) -> None:
        client = self._client()
        self._call(
            action,
            key,
            client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=body,
            **self._extra(content_type),
        )

    def _read(self, key: str, action: str) -> bytes | None:
        """Return the object's bytes, or None when there is no such key."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            response = client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = response["Body"].read()
            return body
        except ClientError as exc:
            code, _, _ = _describe_code(exc)
            if code in _NOT_FOUND_CODES:
                return None
            self._map(exc, action, key)
        except BotoCoreError as exc:
            self._map(exc, action, key)

    def _head(self, key: str, action: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code, _, _ = _describe_code(exc)
            if code in _NOT_FOUND_CODES:
                return False
            self._map(exc, action, key)
        except BotoCoreError as exc:
            self._map(exc, action, key)
        return True

    def _decode(self, raw: bytes, key: str) -> StoredReport:
        try:
            return StoredReport.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(
                f"s3 store: corrupt metadata object {self._where(key)}: {type(exc).__name__}",
                hint="put the report again to rewrite it, or delete it",
            ) from exc

    @staticmethod
    def _encode(record: StoredReport) -> bytes:
        return json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")

    # ------------------------------------------------------------------ Store protocol

    def put(self, report: Report | SignedReport) -> StoredReport:
        """Store ``report.data`` byte-for-byte with its JSON metadata object.

        The XML is created with ``PutObject(IfNoneMatch="*")``. When one is already there
        (412), it is read and compared: same bytes and a sidecar present → no-op returning the
        existing record; different bytes (re-signed report) → overwritten, keeping the first
        ``stored_at``. The sidecar is written last, conditionally as well.

        Args:
            report: A parsed or signed report; ``report.canonical_hash`` is the key.

        Returns:
            The metadata record (``location`` is ``s3://bucket/key``).

        Raises:
            juxsdk.errors.StoreError: invalid hash, missing bucket, denied access, unreachable
                endpoint or any other S3 error; then the report is not (completely) stored.
            juxsdk.errors.ConfigError: a secret reference in the options cannot be resolved.
        """
        hexd = self._hex(report.canonical_hash)
        data = bytes(report.data)
        xml_key, side_key = self._keys(hexd)
        old: StoredReport | None = None
        side_present = False
        if not self._create(xml_key, data, "application/xml", "store the report at"):
            existing = self._read(xml_key, "read back the existing report at")
            raw_side = self._read(side_key, "read the metadata of")
            side_present = raw_side is not None
            if raw_side is not None:
                try:
                    old = self._decode(raw_side, side_key)
                except StoreError:  # corrupt sidecar: rewritten below
                    old = None
            if existing == data and old is not None and old.size == len(data):
                return old
            if existing != data:
                if side_present:  # hide the report while its bytes change
                    self._call(
                        "replace the metadata of",
                        side_key,
                        self._client().delete_object,
                        Bucket=self.bucket,
                        Key=side_key,
                    )
                    side_present = False
                self._overwrite(xml_key, data, "application/xml", "replace the report at")
        record = stored_record(
            report,
            store=self.name,
            location=self._where(xml_key),
            stored_at=old.stored_at if old is not None else None,
        )
        side = self._encode(record)
        if side_present:  # stale or corrupt sidecar: repair it
            self._overwrite(side_key, side, "application/json", "write the metadata of")
            return record
        if self._create(side_key, side, "application/json", "write the metadata of"):
            return record
        raw = self._read(side_key, "read the metadata of")  # a concurrent put wrote it first
        if raw is not None:
            try:
                theirs = self._decode(raw, side_key)
            except StoreError:
                theirs = None
            if theirs is not None and theirs.size == len(data):
                return theirs
        self._overwrite(side_key, side, "application/json", "write the metadata of")
        return record

    def get(self, canonical_hash: str) -> bytes:
        """Return the exact stored bytes (one GetObject).

        S3 writes objects atomically, so an XML object is always complete; its metadata object
        is not consulted (``exists``/``list`` are what say a report is stored).

        Args:
            canonical_hash: ``sha256:<64 lowercase hex>``.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing stored under that hash.
            juxsdk.errors.StoreError: invalid hash or an S3 error.
        """
        hexd = self._hex(canonical_hash)
        xml_key, _ = self._keys(hexd)
        data = self._read(xml_key, "read")
        if data is None:
            raise self._not_found(canonical_hash)
        return data

    def exists(self, canonical_hash: str) -> bool:
        """Return True when the report's metadata object exists (it is written last).

        Raises:
            juxsdk.errors.StoreError: invalid hash or an S3 error other than "not found".
        """
        hexd = self._hex(canonical_hash)
        _, side_key = self._keys(hexd)
        return self._head(side_key, "check")

    def metadata(self, canonical_hash: str) -> StoredReport:
        """Return the metadata record of a stored report.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing stored under that hash.
            juxsdk.errors.StoreError: invalid hash, corrupt metadata object or an S3 error.
        """
        hexd = self._hex(canonical_hash)
        _, side_key = self._keys(hexd)
        raw = self._read(side_key, "read the metadata of")
        if raw is None:
            raise self._not_found(canonical_hash)
        return self._decode(raw, side_key)

    def _sidecar_keys(self) -> Iterator[str]:
        client = self._client()
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self._base)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"]
                    if _KEY_RE.fullmatch(key[len(self._base) :]):
                        yield key
        except (ClientError, BotoCoreError) as exc:
            self._map(exc, "list", self._base)

    def _load_listed(self, key: str) -> StoredReport | None:
        raw = self._read(key, "read the metadata of")
        if raw is None:  # deleted since it was listed
            return None
        try:
            return self._decode(raw, key)
        except StoreError as exc:
            logger.warning("%s", exc.message)
            return None

    def list(
        self,
        *,
        project: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        failed_only: bool = False,
    ) -> Iterator[StoredReport]:
        """Yield the records matching every given filter, oldest ``stored_at`` first.

        Lists ``<prefix>/reports/*.json`` with the ListObjectsV2 paginator (1000 keys a page)
        and fetches the metadata objects with up to :data:`LIST_WORKERS` parallel GETs.

        Args:
            project: Only reports whose first ``project`` property equals this.
            since: Only ``stored_at >= since`` (naive datetimes are taken as UTC).
            until: Only ``stored_at < until`` (naive datetimes are taken as UTC).
            failed_only: Only reports with at least one failure or error.

        Returns:
            An iterator over :class:`~juxsdk.models.StoredReport`. Corrupt metadata objects
            are skipped with a logged warning.

        Raises:
            juxsdk.errors.StoreError: the bucket cannot be listed or read.
        """
        keys = builtins.list(self._sidecar_keys())
        with ThreadPoolExecutor(max_workers=LIST_WORKERS, thread_name_prefix="jux-s3-list") as pool:
            found = select_records(
                pool.map(self._load_listed, keys),
                project=project,
                since=since,
                until=until,
                failed_only=failed_only,
            )
        return iter(found)

    def delete(self, canonical_hash: str) -> bool:
        """Delete a report: the metadata object first, then the XML.

        Returns:
            True when something was removed, False when nothing was stored under that hash.

        Raises:
            juxsdk.errors.StoreError: invalid hash or an S3 error.
        """
        hexd = self._hex(canonical_hash)
        xml_key, side_key = self._keys(hexd)
        had_side = self._head(side_key, "check")
        had_xml = self._head(xml_key, "check")
        had_attachments = self._delete_attachments(hexd)
        if not (had_side or had_xml):
            return had_attachments
        client = self._client()
        if had_side:
            self._call("delete", side_key, client.delete_object, Bucket=self.bucket, Key=side_key)
        if had_xml:
            self._call("delete", xml_key, client.delete_object, Bucket=self.bucket, Key=xml_key)
        return True

    # ------------------------------------------------------------------ attachments (juxsdk.attachments)

    def _attachment_key(self, hexd: str, kind: str) -> str:
        return f"{self._base}{hexd}{NAME_INFIX}{check_kind(kind)}"

    def put_attachment(self, canonical_hash: str, kind: str, data: bytes) -> Attachment:
        """Keep ``data`` as the ``kind`` attachment of a stored report (``<hex>.att.<kind>``).

        One PutObject (S3 writes objects atomically), replacing a previous attachment of that
        kind; the report must be stored (its metadata object exists).

        Raises:
            juxsdk.errors.ReportNotFoundError: no report is stored under that hash.
            juxsdk.errors.StoreError: invalid hash, kind or data, or an S3 error.
        """
        hexd = self._hex(canonical_hash)
        key = self._attachment_key(hexd, kind)
        body = check_attachment(data)
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        content_type = "application/json" if kind.endswith("json") else "application/octet-stream"
        self._overwrite(key, body, content_type, "store the attachment at")
        return Attachment(kind, len(body), self._where(key))

    def get_attachment(self, canonical_hash: str, kind: str) -> bytes:
        """Return the exact bytes of an attachment (one GetObject).

        Raises:
            juxsdk.errors.ReportNotFoundError: no such report, or no attachment of that kind.
            juxsdk.errors.StoreError: invalid hash or kind, or an S3 error.
        """
        hexd = self._hex(canonical_hash)
        key = self._attachment_key(hexd, kind)
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        data = self._read(key, "read the attachment at")
        if data is None:
            raise ReportNotFoundError(
                f"report {canonical_hash} has no {kind!r} attachment in s3://{self.bucket}/{self._base}",
                hint="`jux cache show HASH` lists a report's attachments",
            )
        return data

    def _attachment_objects(self, hexd: str) -> builtins.list[tuple[str, int]]:
        """(key, size) of every attachment object of a report (ListObjectsV2 on its prefix)."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = f"{self._base}{hexd}{NAME_INFIX}"
        found: builtins.list[tuple[str, int]] = []
        try:
            for page in self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend((item["Key"], int(item.get("Size", 0))) for item in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as exc:
            self._map(exc, "list the attachments at", prefix)
        return found

    def attachments(self, canonical_hash: str) -> builtins.list[Attachment]:
        """List a stored report's attachments, by kind.

        Raises:
            juxsdk.errors.ReportNotFoundError: no report is stored under that hash.
            juxsdk.errors.StoreError: invalid hash or an S3 error.
        """
        hexd = self._hex(canonical_hash)
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        prefix = f"{self._base}{hexd}{NAME_INFIX}"
        out: builtins.list[Attachment] = []
        for key, size in sorted(self._attachment_objects(hexd)):
            kind = key[len(prefix) :]
            try:
                check_kind(kind)
            except StoreError:
                continue
            out.append(Attachment(kind, size, self._where(key)))
        return out

    def _delete_attachments(self, hexd: str) -> bool:
        client = self._client()
        objects = self._attachment_objects(hexd)
        for key, _ in objects:
            self._call("delete", key, client.delete_object, Bucket=self.bucket, Key=key)
        return bool(objects)

    def close(self) -> None:
        """Close the HTTP connection pool (idempotent); later calls raise StoreError."""
        with self._lock:
            client, self._client_obj = self._client_obj, None
            self._closed = True
        if client is not None:
            client.close()
