"""The S3 store's submission index: one small object per idempotency key.

:meth:`juxsdk.Jux.submit` gives each report it signs an idempotency key
(:func:`juxsdk.store_rules.idempotency_key`). The S3 store keeps::

    s3://<bucket>/<prefix>/submissions/<key hex>   "sha256:<canonical hex>\\n" (text/plain): the
                                                   report stored last under that key

A ``put`` of a report carrying a key first *claims* the key with a conditional write of this
marker (``PutObject If-None-Match: *``; taking over an existing marker is ``If-Match: <its
ETag>``), and only the writer whose claim succeeded stores its report. A writer that finds the
key claimed for another report that is stored gets that report's record back (the
``"duplicate"`` decision of :func:`juxsdk.store_rules.decide_put`) and writes nothing. A marker
naming a report that is not stored (yet) belongs to a writer still at work, or to one that
died: it is waited for while it is younger than :data:`SUBMISSION_LEASE` seconds (its age is
measured on the server's clock: the response's ``Date`` minus the object's ``Last-Modified``),
then taken over. Markers of deleted reports are left in place: they are ignored, and replaced by
the next report stored under the key.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import time
from typing import TYPE_CHECKING

from juxsdk.errors import CorruptSidecarError, ReportNotFoundError
from juxsdk.models import Report, SignedReport, StoredReport, canonical_hex
from juxsdk.plugin import decide_put

if TYPE_CHECKING:  # pragma: no cover
    from .s3 import S3Store

__all__ = ["SUBMISSION_LEASE", "find_submission", "object_age", "put_submission"]

#: Seconds a claimed key whose report is not stored yet is left to the writer that claimed it.
SUBMISSION_LEASE = 30.0
#: Seconds between two looks at a claimed key.
_POLL = 0.2
_MAX_MARKER = 128
#: Claims tried before ``put`` gives up on a marker other writers keep changing.
_ATTEMPTS = 10
_MARKER_RE = re.compile(rb"(sha256:[0-9a-f]{64})\n?")


def _marker_key(store: S3Store, key: str) -> str:
    prefix = store.options.prefix
    return f"{prefix}/submissions/{canonical_hex(key)}" if prefix else f"submissions/{canonical_hex(key)}"


def _read_marker(store: S3Store, marker: str) -> tuple[str | None, str, float] | None:
    """``(named hash or None when unreadable, ETag, age in seconds)``, or None when absent."""
    found = store._read_small(marker, "read the submission marker", limit=_MAX_MARKER)
    if found is None:
        return None
    raw, etag, age = found
    match = _MARKER_RE.fullmatch(raw)
    return (match.group(1).decode("ascii") if match else None), etag, age


def object_age(response: dict[str, object]) -> float:
    """Seconds since the object was written, on the server's clock (0 when unknown)."""
    modified = response.get("LastModified")
    meta = response.get("ResponseMetadata")
    headers = meta.get("HTTPHeaders") if isinstance(meta, dict) else None
    date = headers.get("date") if isinstance(headers, dict) else None
    if not isinstance(modified, dt.datetime) or not isinstance(date, str):
        return 0.0
    try:
        now = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, (now - modified).total_seconds())


def _stored(store: S3Store, canonical_hash: str | None) -> StoredReport | None:
    if canonical_hash is None:
        return None
    try:
        return store.metadata(canonical_hash)
    except (ReportNotFoundError, CorruptSidecarError):
        return None


def find_submission(store: S3Store, key: str) -> StoredReport | None:
    """The record of the report stored last under ``key``, or None (one GET, then the record).

    Raises:
        juxsdk.errors.StoreError: invalid key or an S3 error.
    """
    found = _read_marker(store, _marker_key(store, key))
    return _stored(store, found[0]) if found is not None else None


def put_submission(store: S3Store, report: Report | SignedReport, *, replace: bool) -> StoredReport:
    """``put`` of a report carrying an idempotency key: claim the key, then store (see the module).

    Raises:
        juxsdk.errors.StoreConflictError: the replace rule refused; nothing was written.
        juxsdk.errors.StoreError: an S3 error, or the marker kept changing.
    """
    assert report.idempotency_key is not None
    marker = _marker_key(store, report.idempotency_key)
    body = f"{report.canonical_hash}\n".encode("ascii")
    deadline = time.monotonic() + SUBMISSION_LEASE + 30.0
    attempts = 0
    while True:
        if store._put_if(marker, body, "text/plain", "record the submission at", if_match=None) is not None:
            return store._put(report, replace=replace)
        found = _read_marker(store, marker)
        if found is None:  # removed since the 412 (or a concurrent write was in flight): claim it again
            attempts += 1
            if attempts >= _ATTEMPTS:
                raise store._busy(marker)
            continue
        named, etag, age = found
        if named == report.canonical_hash:
            return store._put(report, replace=replace)
        submitted = _stored(store, named)
        if submitted is not None:
            decision = decide_put(None, report, replace=replace, where=store._where(marker), submitted=submitted)
            if decision.submitted is not None:
                return decision.submitted
        elif named is not None and age < SUBMISSION_LEASE and time.monotonic() < deadline:
            time.sleep(_POLL)  # another writer claimed the key and is storing its report
            continue
        # replace=True, or a claim whose report never arrived: take the key over
        if store._put_if(marker, body, "text/plain", "record the submission at", if_match=etag) is not None:
            return store._put(report, replace=replace)
        attempts += 1
        if attempts >= _ATTEMPTS:
            raise store._busy(marker)
