"""The built-in S3 store (backend name ``"s3"``): AWS S3 and S3-compatible services.

Works with AWS S3, MinIO, Ceph RGW and any service speaking the S3 REST API with conditional
writes (``If-None-Match: *`` and ``If-Match: <ETag>`` on PutObject; AWS S3 since 2024-08 and
2024-11; recent MinIO and Ceph RGW). boto3 is an optional dependency
(``pip install 'juxsdk[s3]'``), imported only when the store is first used.

Layout (content-addressed by canonical hash, like the filesystem store)::

    s3://<bucket>/<prefix>/reports/<hex>.xml    the exact report bytes (Content-Type application/xml)
    s3://<bucket>/<prefix>/reports/<hex>.json   the metadata sidecar: juxsdk.sidecars.encode_sidecar,
                                                sorted keys, UTF-8 (application/json)
    s3://<bucket>/<prefix>/reports/<hex>.att.<kind>  attachments (juxsdk.attachments), e.g. the
                                                in-toto attestation <hex>.att.intoto.json
    s3://<bucket>/<prefix>/submissions/<key hex>  the submission index: idempotency key ->
                                                canonical hash (juxsdk_backends._s3_submissions)

Semantics:

* a report *exists* when its sidecar exists; the XML is written first and the sidecar last,
  so a failure between the two never reports a half-stored report (the next ``put`` repairs it);
* stored evidence is never downgraded: ``put`` applies :func:`juxsdk.store_rules.decide_put`
  with conditional writes only — the XML is created with ``If-None-Match: *``; when one is there
  (412) it is read with its ETag, the rule decides, and a permitted write is
  ``If-Match: <that ETag>``, so a concurrent writer can never slip an unsigned report over a
  signed one between the read and the write. Metadata objects are written conditionally too;
* a submission is stored once: a report carrying an idempotency key first claims the key with a
  conditional write of its submission marker; a report whose key names another stored report
  is not written (``put`` returns that report's record);
* metadata objects are validated on read (:func:`juxsdk.sidecars.read_sidecar`, size checked
  against the XML object); ``list`` skips and reports a corrupt one;
* every botocore exception is mapped to :class:`juxsdk.errors.StoreError` (or
  :class:`~juxsdk.errors.ReportNotFoundError`) naming the bucket and key, never credentials.

References: Amazon S3 API Reference, PutObject (``If-None-Match``, ``If-Match``), GetObject, HeadObject,
DeleteObject, ListObjectsV2; "Conditional requests" in the Amazon S3 User Guide.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import importlib.util
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import attrs

from juxsdk.attachments import MAX_ATTACHMENT_BYTES, NAME_INFIX, Attachment, check_attachment, check_kind
from juxsdk.config.numbers import ATTEMPTS, POSITIVE_SECONDS
from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError, CorruptSidecarError, ReportNotFoundError, StoreError
from juxsdk.models import (
    Report,
    SignedReport,
    StoredReport,
    canonical_hex,
    hash_prefix_digits,
    report_name_parts,
    resolve_hash_prefix,
    stored_record,
)
from juxsdk.plugin import decide_put
from juxsdk.sidecars import MAX_SIDECAR_BYTES, encode_sidecar, read_sidecar, select_records

from . import _s3_submissions
from ._s3_client import INSTALL_HINT, LIST_WORKERS, NOT_FOUND_CODES, S3Connection, describe_code, strip_etag

__all__ = ["LIST_WORKERS", "S3Store"]

logger = logging.getLogger(__name__)

#: Conditional writes tried before ``put`` gives up on an object other writers keep changing.
RACE_ATTEMPTS = 10


def _strip_slashes(value: str) -> str:
    return value.strip("/")


def _opt_float(value: float | int | str | None) -> float | None:
    return None if value is None else float(value)


class S3Store(S3Connection):
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
            raise ConfigError("the s3 store needs boto3, which is not installed", hint=INSTALL_HINT)
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

    # ------------------------------------------------------------------ keys

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

    def _put_if(self, key: str, body: bytes, content_type: str, action: str, *, if_match: str | None) -> str | None:
        """PutObject conditionally: ``If-None-Match: *`` when ``if_match`` is None (create only),
        else ``If-Match: <if_match>`` (replace only that version).

        Returns:
            The new object's ETag, or None when the condition failed: 412, 409 (a concurrent
            conditional write is in flight) or, with ``if_match``, the object is gone.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {"IfNoneMatch": "*"} if if_match is None else {"IfMatch": if_match}
        client = self._client()
        try:
            response = client.put_object(
                Bucket=self.bucket, Key=key, Body=body, **condition, **self._extra(content_type)
            )
        except ClientError as exc:
            code, _, status = describe_code(exc)
            if code in ("PreconditionFailed", "412") or status == 412:
                return None
            if code == "ConditionalRequestConflict" or status == 409:
                return None
            if if_match is not None and (code in NOT_FOUND_CODES or status == 404):
                return None
            self._map(exc, action, key)
        except BotoCoreError as exc:
            self._map(exc, action, key)
        return strip_etag(response.get("ETag"))

    def _read(self, key: str, action: str, *, limit: int | None = None) -> tuple[bytes, str] | None:
        """Return the object's bytes and ETag, or None when there is no such key.

        Raises:
            OverflowError: the object is larger than ``limit`` bytes (not downloaded).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            response = client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            length = response.get("ContentLength")
            if limit is not None and length is not None and int(length) > limit:
                body.close()
                raise OverflowError(f"{length} bytes, over the {limit} byte limit")
            # never more than the limit (plus one byte, to notice a longer body)
            cap = None if limit is None else min(limit, int(length) if length is not None else limit)
            data: bytes = body.read() if cap is None else body.read(cap + 1)
            if cap is not None and len(data) > cap:
                body.close()
                raise OverflowError(f"over the {cap} byte limit")
            return data, strip_etag(response.get("ETag"))
        except ClientError as exc:
            code, _, _ = describe_code(exc)
            if code in NOT_FOUND_CODES:
                return None
            self._map(exc, action, key)
        except BotoCoreError as exc:
            self._map(exc, action, key)

    def _read_small(self, key: str, action: str, *, limit: int) -> tuple[bytes, str, float] | None:
        """GetObject of a small object: ``(at most limit + 1 bytes, ETag, age in seconds)``.

        The age is measured on the server's clock (``Date`` minus ``Last-Modified``; 0 when
        unknown). None when there is no such key.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            response = client.get_object(Bucket=self.bucket, Key=key)
            data: bytes = response["Body"].read(limit + 1)
        except ClientError as exc:
            if describe_code(exc)[0] in NOT_FOUND_CODES:
                return None
            self._map(exc, action, key)
        except BotoCoreError as exc:
            self._map(exc, action, key)
        return data, strip_etag(response.get("ETag")), _s3_submissions.object_age(response)

    def _head(self, key: str, action: str) -> tuple[int, str] | None:
        """Return ``(size, ETag)`` of the object, or None when there is no such key."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            response = client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code, _, _ = describe_code(exc)
            if code in NOT_FOUND_CODES:
                return None
            self._map(exc, action, key)
        except BotoCoreError as exc:
            self._map(exc, action, key)
        return int(response.get("ContentLength") or 0), strip_etag(response.get("ETag"))

    def _load_sidecar(self, hexd: str, xml_size: int) -> StoredReport | None:
        """Read and validate the sidecar of ``hexd`` (``xml_size``: its XML's size); None when absent.

        Raises:
            juxsdk.errors.CorruptSidecarError: the sidecar failed validation or is too large.
        """
        _, side_key = self._keys(hexd)
        where = self._where(side_key)
        try:
            got = self._read(side_key, "read the metadata of", limit=MAX_SIDECAR_BYTES)
        except OverflowError as exc:
            raise CorruptSidecarError(f"corrupt metadata sidecar {where}: {exc}", where=where) from None
        return self._validated(hexd, got[0], xml_size) if got is not None else None

    def _validated(self, hexd: str, raw: bytes, xml_size: int) -> StoredReport:
        """The record in ``raw``, validated against its key and its XML's size.

        Raises:
            juxsdk.errors.CorruptSidecarError: it is not a valid sidecar for ``hexd``.
        """
        xml_key, side_key = self._keys(hexd)
        record = read_sidecar(raw, canonical_hash=f"sha256:{hexd}", where=self._where(side_key), size=xml_size)
        return attrs.evolve(record, location=self._where(xml_key), store=self.name)

    # ------------------------------------------------------------------ Store protocol

    def put(self, report: Report | SignedReport, *, replace: bool = False) -> StoredReport:
        """Store ``report.data`` byte-for-byte with its JSON metadata object.

        A report carrying an idempotency key (:meth:`juxsdk.Jux.submit` sets it) claims the
        key first (:mod:`juxsdk_backends._s3_submissions`): when the key names another report
        that is stored, nothing is written and that report's record is returned (unless
        ``replace=True``).

        Every write is conditional, so concurrent writers cannot race past the replace rule
        (:func:`juxsdk.store_rules.decide_put`): the XML is created with
        ``PutObject(If-None-Match: *)``; when one is there (412) it is read with its ETag and
        the rule decides — same bytes → no-op returning the existing record (a missing or
        corrupt metadata object is rewritten); a signed report over its unsigned version, or
        a permitted replace → ``PutObject(If-Match: <that ETag>)``, and when that fails (the
        object changed meanwhile) the rule decides again on the new bytes. The metadata object
        is written last, conditionally as well, keeping the first ``stored_at``.

        Args:
            report: A parsed or signed report; ``report.canonical_hash`` is the key.
            replace: Replace different stored bytes (CLI ``--force``); never a downgrade.

        Returns:
            The metadata record (``location`` is ``s3://bucket/key``).

        Raises:
            juxsdk.errors.StoreConflictError: the replace rule refused; nothing was written.
            juxsdk.errors.StoreError: invalid hash, missing bucket, denied access, unreachable
                endpoint, the object kept changing under concurrent writers, or any other S3
                error; then the report is not (completely) stored.
            juxsdk.errors.ConfigError: a secret reference in the options cannot be resolved.
        """
        if report.idempotency_key is not None:
            return _s3_submissions.put_submission(self, report, replace=replace)
        return self._put(report, replace=replace)

    def find_submission(self, key: str) -> StoredReport | None:
        """The record of the report stored last under an idempotency key, or None.

        See :func:`juxsdk.store_rules.find_submission`: one GET of the key's marker, then the
        report's record (which must still be stored).

        Raises:
            juxsdk.errors.StoreError: invalid key or an S3 error.
        """
        return _s3_submissions.find_submission(self, key)

    def _put(self, report: Report | SignedReport, *, replace: bool) -> StoredReport:
        """``put`` without the submission index (see :meth:`put`)."""
        hexd = canonical_hex(report.canonical_hash)
        data = bytes(report.data)
        xml_key, side_key = self._keys(hexd)
        for _ in range(RACE_ATTEMPTS):
            etag = self._put_if(xml_key, data, "application/xml", "store the report at", if_match=None)
            if etag is not None:
                return self._write_sidecar(report, hexd, etag, old=None, observed=None)
            got = self._read(xml_key, "read back the existing report at")
            if got is None:
                continue  # deleted since the 412: create again
            stored, stored_etag = got
            old, side_etag = self._sidecar_state(hexd, len(stored))
            decision = decide_put(stored, report, replace=replace, where=self._where(xml_key), existing=old)
            if not decision.writes:
                if old is not None:
                    return old
                return self._write_sidecar(report, hexd, stored_etag, old=None, observed=side_etag)
            if side_etag is not None:  # hide the report while its bytes change
                self._call("replace the metadata of", side_key, self._client().delete_object,
                           Bucket=self.bucket, Key=side_key)
            etag = self._put_if(xml_key, data, "application/xml", "replace the report at", if_match=stored_etag)
            if etag is None:
                continue  # the object changed since it was read: decide again on its new bytes
            logger.info("s3 store: %s", decision.detail)
            return self._write_sidecar(report, hexd, etag, old=old, observed=None)
        raise self._busy(xml_key)

    def _sidecar_state(self, hexd: str, xml_size: int) -> tuple[StoredReport | None, str | None]:
        """``(the valid record or None, the metadata object's ETag or None when absent)``."""
        _, side_key = self._keys(hexd)
        try:
            got = self._read(side_key, "read the metadata of", limit=MAX_SIDECAR_BYTES)
        except OverflowError:
            head = self._head(side_key, "check the metadata of")
            return None, head[1] if head is not None else None
        if got is None:
            return None, None
        try:
            return self._validated(hexd, got[0], xml_size), got[1]
        except CorruptSidecarError:
            return None, got[1]

    def _busy(self, key: str) -> StoreError:
        return StoreError(
            f"s3 store: {self._where(key)} kept changing under concurrent writers ({RACE_ATTEMPTS} attempts)",
            hint="another process is writing this report; try again",
        )

    def _write_sidecar(
        self, report: Report | SignedReport, hexd: str, xml_etag: str, *, old: StoredReport | None, observed: str | None
    ) -> StoredReport:
        """Write the metadata object describing the XML version ``xml_etag`` we just wrote or kept.

        ``observed`` is the ETag of the metadata object last seen (None: absent), so the write
        is conditional too. When another writer's metadata object lands first: if it describes
        the same bytes it is returned; if our XML was replaced meanwhile, that newer writer
        owns the metadata; otherwise ours is written over it.
        """
        xml_key, side_key = self._keys(hexd)
        record = stored_record(
            report,
            store=self.name,
            location=self._where(xml_key),
            stored_at=old.stored_at if old is not None else None,
        )
        body = encode_sidecar(record)
        for _ in range(RACE_ATTEMPTS):
            if self._put_if(side_key, body, "application/json", "write the metadata of", if_match=observed):
                return record
            current = self._head(xml_key, "check")
            if current is None or current[1] != xml_etag:
                return record  # our bytes were replaced (or deleted) meanwhile: the newer writer owns the metadata
            try:
                got = self._read(side_key, "read the metadata of", limit=MAX_SIDECAR_BYTES)
            except OverflowError:
                got = None
            if got is None:
                observed = None
                continue
            raw, observed = got
            with contextlib.suppress(CorruptSidecarError):
                theirs = self._validated(hexd, raw, len(report.data))
                if theirs.signed == record.signed and theirs.signature == record.signature:
                    return theirs
        raise self._busy(side_key)

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
        hexd = canonical_hex(canonical_hash)
        xml_key, _ = self._keys(hexd)
        got = self._read(xml_key, "read")
        if got is None:
            raise self._not_found(canonical_hash)
        return got[0]

    def exists(self, canonical_hash: str) -> bool:
        """Return True when the report's metadata object exists (it is written last).

        Raises:
            juxsdk.errors.StoreError: invalid hash or an S3 error other than "not found".
        """
        hexd = canonical_hex(canonical_hash)
        _, side_key = self._keys(hexd)
        return self._head(side_key, "check") is not None

    def metadata(self, canonical_hash: str) -> StoredReport:
        """Return the validated metadata record of a stored report (a HEAD and a GET).

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing stored under that hash.
            juxsdk.errors.CorruptSidecarError: the metadata object failed validation (not
                JSON, wrong types, another hash, a size other than the XML object's, too large).
            juxsdk.errors.StoreError: invalid hash or an S3 error.
        """
        hexd = canonical_hex(canonical_hash)
        xml_key, _ = self._keys(hexd)
        head = self._head(xml_key, "check")
        record = self._load_sidecar(hexd, head[0]) if head is not None else None
        if record is None:
            raise self._not_found(canonical_hash)
        return record

    def _listing(self, digits: str = "") -> tuple[dict[str, int], dict[str, int]]:
        """Sizes of the XML objects and of the metadata objects whose hex starts with ``digits``."""
        client = self._client()
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self._base + digits)
        from botocore.exceptions import BotoCoreError, ClientError

        xml: dict[str, int] = {}
        sides: dict[str, int] = {}
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    parts = report_name_parts(item["Key"][len(self._base) :])
                    if parts is not None:
                        (xml if parts[1] == "xml" else sides)[parts[0]] = int(item.get("Size") or 0)
        except (ClientError, BotoCoreError) as exc:
            self._map(exc, "list", self._base)
        return xml, sides

    def _load_listed(self, item: tuple[str, int, int]) -> StoredReport | StoreError | None:
        hexd, xml_size, side_size = item
        where = self._where(self._keys(hexd)[1])
        if side_size > MAX_SIDECAR_BYTES:
            return CorruptSidecarError(
                f"corrupt metadata sidecar {where}: {side_size} bytes, over the {MAX_SIDECAR_BYTES} byte limit",
                where=where,
            )
        try:
            return self._load_sidecar(hexd, xml_size)  # None: deleted since it was listed
        except CorruptSidecarError as exc:
            return exc

    def list(
        self,
        *,
        project: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        failed_only: bool = False,
    ) -> Iterator[StoredReport]:
        """Yield the records matching every given filter, oldest ``stored_at`` first.

        Lists ``<prefix>/reports/`` with the ListObjectsV2 paginator (1000 keys a page) and
        fetches the metadata objects of complete reports (XML and metadata both listed) with up
        to :data:`LIST_WORKERS` parallel GETs, validating each against its XML's listed size.

        Args:
            project: Only reports whose first ``project`` property equals this.
            since: Only ``stored_at >= since`` (naive datetimes are taken as UTC).
            until: Only ``stored_at < until`` (naive datetimes are taken as UTC).
            failed_only: Only reports with at least one failure or error.

        Returns:
            An iterator over :class:`~juxsdk.models.StoredReport`. Corrupt metadata objects
            are skipped and reported (:func:`juxsdk.sidecars.report_store_problem`).

        Raises:
            juxsdk.errors.StoreError: the bucket cannot be listed or read.
        """
        xml, sides = self._listing()
        work = [(hexd, xml[hexd], size) for hexd, size in sorted(sides.items()) if hexd in xml]
        with ThreadPoolExecutor(max_workers=LIST_WORKERS, thread_name_prefix="jux-s3-list") as pool:
            loaded = builtins.list(pool.map(self._load_listed, work))
        return iter(select_records(loaded, project=project, since=since, until=until, failed_only=failed_only))

    def resolve_prefix(self, prefix: str) -> str:
        """Return the one stored hash starting with ``prefix`` (one listing narrowed to the
        prefix; no metadata object is read, so a corrupt one can still be found and shown).

        Args:
            prefix: Leading hex digits of a canonical hash, with or without ``sha256:``
                (case-insensitive).

        Returns:
            The full ``sha256:<hex>`` hash.

        Raises:
            juxsdk.errors.ReportNotFoundError: no stored report matches.
            juxsdk.errors.StoreError: the prefix is not hex, several reports match, or S3 failed.
        """
        xml, sides = self._listing(hash_prefix_digits(prefix))
        hashes = [f"sha256:{h}" for h in sides if h in xml]
        return resolve_hash_prefix(prefix, hashes, where=f"s3://{self.bucket}/{self._base}")

    def delete(self, canonical_hash: str) -> bool:
        """Delete a report: the metadata object first, then the XML.

        Returns:
            True when something was removed, False when nothing was stored under that hash.

        Raises:
            juxsdk.errors.StoreError: invalid hash or an S3 error.
        """
        hexd = canonical_hex(canonical_hash)
        xml_key, side_key = self._keys(hexd)
        had_side = self._head(side_key, "check") is not None
        had_xml = self._head(xml_key, "check") is not None
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
        hexd = canonical_hex(canonical_hash)
        key = self._attachment_key(hexd, kind)
        body = check_attachment(data)
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        content_type = "application/json" if kind.endswith("json") else "application/octet-stream"
        client = self._client()
        self._call(
            "store the attachment at", key, client.put_object,
            Bucket=self.bucket, Key=key, Body=body, **self._extra(content_type),
        )
        return Attachment(kind, len(body), self._where(key))

    def get_attachment(self, canonical_hash: str, kind: str) -> bytes:
        """Return the exact bytes of an attachment (one GetObject).

        Raises:
            juxsdk.errors.ReportNotFoundError: no such report, or no attachment of that kind.
            juxsdk.errors.StoreError: invalid hash or kind, or an S3 error.
        """
        hexd = canonical_hex(canonical_hash)
        key = self._attachment_key(hexd, kind)
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        try:
            found = self._read(key, "read the attachment at", limit=MAX_ATTACHMENT_BYTES)
        except OverflowError as exc:
            raise StoreError(f"s3 store: {self._where(key)}: {exc}") from None
        if found is None:
            raise ReportNotFoundError(
                f"report {canonical_hash} has no {kind!r} attachment in s3://{self.bucket}/{self._base}",
                hint="`jux cache show HASH` lists a report's attachments",
            )
        return found[0]

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
        hexd = canonical_hex(canonical_hash)
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
