"""Metadata sidecars: how a store writes and reads the record that describes a stored report.

A store keeps, next to each report's exact bytes, a small JSON document (the *sidecar*: the
:class:`~juxsdk.models.StoredReport` fields, see :meth:`StoredReport.to_dict`). This module is
the one place that encodes and validates sidecars, filters listed records, and reports a record
a store had to skip (``jux cache`` prints it as a warning), so every store — built-in or
third-party — treats a tampered or planted sidecar the same way.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Iterable
from typing import Any

from .errors import CorruptSidecarError, StoreError
from .models import StoredReport

__all__ = [
    "MAX_SIDECAR_BYTES",
    "STORE_LOGGER",
    "encode_sidecar",
    "read_sidecar",
    "report_store_problem",
    "select_records",
]


def _utc(value: _dt.datetime | None) -> _dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=_dt.UTC)


#: Name of the logger every store reports skipped records and unsafe setups to. Front ends
#: (``jux cache``) attach a handler to it; a record carrying a ``jux_store_problem`` attribute
#: (a :class:`~juxsdk.errors.StoreError`) means a stored report was skipped.
STORE_LOGGER = "juxsdk.store"

#: Largest metadata sidecar a store writes or reads, in bytes (16 MiB). Sidecars hold the
#: counts and properties of one report, typically a few KiB; a larger one is refused on write
#: and reported as corrupt on read, so a planted huge file cannot exhaust memory.
MAX_SIDECAR_BYTES = 16 * 1024 * 1024

_SIDECAR_HINT = "put the same report again to rewrite its sidecar (`jux submit FILE`), or delete the report"


def report_store_problem(error: StoreError) -> None:
    """Report a stored record that was skipped (corrupt sidecar, foreign file…) and carry on.

    Logs ``error.message`` at WARNING on :data:`STORE_LOGGER` with the error attached as the
    ``jux_store_problem`` attribute of the log record, so ``jux cache`` prints a ``warning:``
    line and exits 4 (partial) while library users see an ordinary logging warning.

    Args:
        error: What was skipped and why (its ``hint`` says what to do).
    """
    logging.getLogger(STORE_LOGGER).warning("%s", error.message, extra={"jux_store_problem": error})


def encode_sidecar(record: StoredReport) -> bytes:
    """Serialise a sidecar: :meth:`StoredReport.to_dict` as indented JSON, sorted keys, UTF-8.

    Args:
        record: The record to write.

    Returns:
        The bytes to store (a trailing newline included).

    Raises:
        juxsdk.errors.StoreError: the sidecar would exceed :data:`MAX_SIDECAR_BYTES`.
    """
    doc = record.to_dict()
    try:
        data = (json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. a file name): fall back to \u escapes
        data = (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode("ascii")
    if len(data) > MAX_SIDECAR_BYTES:
        raise StoreError(
            f"the metadata of {record.canonical_hash} is {len(data)} bytes, over the "
            f"{MAX_SIDECAR_BYTES} byte limit of a sidecar; nothing was stored",
            hint="the report's properties are too large: keep big values out of <properties>",
        )
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_SIDECAR_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def read_sidecar(raw: bytes, *, canonical_hash: str, where: str, size: int | None = None) -> StoredReport:
    """Validate the bytes of a metadata sidecar read back from a store.

    A sidecar is corrupt when it is larger than :data:`MAX_SIDECAR_BYTES`, not UTF-8 JSON
    (``NaN``/``Infinity`` included), not a valid :meth:`StoredReport.from_dict` object, names
    another canonical hash than its key, or gives a ``size`` other than the stored bytes'.

    Args:
        raw: The sidecar bytes.
        canonical_hash: The key it was stored under (``sha256:<hex>``).
        where: Its location (path or URL), for the message.
        size: Size of the stored report bytes, when the store knows it: checked against the
            sidecar's ``size``.

    Returns:
        The validated record.

    Raises:
        juxsdk.errors.CorruptSidecarError: the sidecar is corrupt (the message says why).
    """
    def corrupt(reason: str) -> CorruptSidecarError:
        return CorruptSidecarError(f"corrupt metadata sidecar {where}: {reason}", where=where, hint=_SIDECAR_HINT)

    if len(raw) > MAX_SIDECAR_BYTES:
        raise corrupt(f"{len(raw)} bytes, over the {MAX_SIDECAR_BYTES} byte limit")
    try:
        doc = _SIDECAR_JSON.decode(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise corrupt("not UTF-8") from None
    except RecursionError:
        raise corrupt("JSON nested too deeply") from None
    except ValueError as exc:
        raise corrupt(f"not valid JSON ({exc})") from None
    try:
        record = StoredReport.from_dict(doc)
    except (ValueError, RecursionError) as exc:
        raise corrupt(str(exc)) from None
    if record.canonical_hash != canonical_hash:
        raise corrupt(f"it describes {record.canonical_hash}, not {canonical_hash}")
    if size is not None and record.size != size:
        raise corrupt(f"it gives a size of {record.size} bytes, the stored report has {size}")
    return record


def select_records(
    records: Iterable[StoredReport | StoreError | None],
    *,
    project: str | None = None,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    failed_only: bool = False,
) -> list[StoredReport]:
    """Apply the :meth:`juxsdk.protocols.Store.list` filters and order.

    Args:
        records: Candidate records. None entries (deleted meanwhile, half stored) are skipped
            silently; :class:`~juxsdk.errors.StoreError` entries (a corrupt sidecar…) are
            skipped and reported with :func:`report_store_problem`.
        project: Keep records whose ``project`` property equals this.
        since: Keep records stored at or after this time (naive = UTC).
        until: Keep records stored before this time (naive = UTC).
        failed_only: Keep records with failures or errors.

    Returns:
        The matching records sorted by ``(stored_at, canonical_hash)``.
    """
    lower, upper = _utc(since), _utc(until)
    found: list[StoredReport] = []
    for r in records:
        if isinstance(r, StoreError):
            report_store_problem(r)
        elif (
            r is not None
            and (project is None or r.project == project)
            and (lower is None or _utc(r.stored_at) >= lower)  # type: ignore[operator]
            and (upper is None or _utc(r.stored_at) < upper)  # type: ignore[operator]
            and (not failed_only or not r.summary.ok)
        ):
            found.append(r)
    found.sort(key=lambda r: (_utc(r.stored_at), r.canonical_hash))
    return found
