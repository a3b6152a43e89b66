"""The outbox's values: a queued entry, a report's publish state, what a drain did."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigError
from ..hashes import canonical_hex
from ..models import PublishReceipt, ReportSummary, jsonable

__all__ = ["BrokenEntry", "DrainResult", "PublishState", "QueueEntry", "entry_key", "split_key"]

#: A publisher name as the outbox accepts it (also checked by the database schema).
PUBLISHER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


def utcnow() -> dt.datetime:
    """The current time, UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


def entry_key(canonical_hash: str, publisher: str) -> str:
    """``<hex>.<publisher>``: how an entry is named in messages and ``--json`` output.

    Raises:
        juxsdk.errors.ConfigError: ``publisher`` is not a valid backend name.
        juxsdk.errors.StoreError: ``canonical_hash`` is not a canonical hash.
    """
    if not PUBLISHER_RE.match(publisher):
        raise ConfigError(f"invalid publisher name {publisher!r} for the outbox")
    return f"{canonical_hex(canonical_hash)}.{publisher}"


def split_key(name: str) -> tuple[str, str] | None:
    """Inverse of :func:`entry_key`: ``(canonical_hash, publisher)``, or None for another name."""
    hexpart, sep, publisher = name.partition(".")
    if not sep or not _HEX_RE.match(hexpart) or not PUBLISHER_RE.match(publisher):
        return None
    return f"sha256:{hexpart}", publisher


@attrs.frozen
class QueueEntry:
    """One queued (or dead-lettered) report for one publisher.

    Attributes:
        canonical_hash: ``sha256:<hex>`` of the report.
        publisher: Publisher backend name.
        state: ``"queued"`` or ``"dead"``.
        attempts: Publish attempts made so far (the failure that queued it counts).
        last_error: One-line message of the last failure, if any.
        last_status: HTTP status (or backend code) of the last failure, if any.
        next_attempt_at: Earliest time a drain retries it (UTC).
        created_at: When it was first queued (UTC).
        updated_at: Last state change (UTC).
        size: Size of the report bytes.
        sha256: SHA-256 hex of the exact bytes (checked before sending).
        source: Original file name, if known.
        project: The report's ``project`` property, if any.
        signed: Whether the report carries a signature.
        summary: Test counts.
        properties: Report properties (name, value).
        dead_reason: Why it was dead-lettered (the server's ``error``), for dead entries.
        details: Server-provided details of the last failure (``error``, ``details``, ``suggestions``).
    """

    canonical_hash: str
    publisher: str
    state: str = "queued"
    attempts: int = 0
    last_error: str | None = None
    last_status: int | None = None
    next_attempt_at: dt.datetime = attrs.field(factory=utcnow)
    created_at: dt.datetime = attrs.field(factory=utcnow)
    updated_at: dt.datetime = attrs.field(factory=utcnow)
    size: int = 0
    sha256: str = ""
    source: str | None = None
    project: str | None = None
    signed: bool = False
    summary: ReportSummary = attrs.field(factory=ReportSummary)
    properties: tuple[tuple[str, str], ...] = ()
    dead_reason: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def key(self) -> str:
        """``<hex>.<publisher>``: the entry's name."""
        return entry_key(self.canonical_hash, self.publisher)

    def is_due(self, now: dt.datetime) -> bool:
        """True when a drain at ``now`` should try it."""
        return self.state == "queued" and self.next_attempt_at <= now

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``jux queue list --json`` prints)."""
        return {
            "canonical_hash": self.canonical_hash,
            "publisher": self.publisher,
            "state": self.state,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_status": self.last_status,
            "next_attempt_at": _iso(self.next_attempt_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "size": self.size,
            "sha256": self.sha256,
            "source": self.source,
            "project": self.project,
            "signed": self.signed,
            "summary": self.summary.to_dict(),
            "properties": [list(p) for p in self.properties],
            "dead_reason": self.dead_reason,
            "details": jsonable(dict(self.details)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueEntry:
        """Inverse of :meth:`to_dict` (also reads the ``state.json`` files of the directory outbox).

        Raises:
            KeyError, ValueError, TypeError, AttributeError: not an outbox state record.
        """
        return cls(
            canonical_hash=str(data["canonical_hash"]),
            publisher=str(data["publisher"]),
            state=str(data.get("state", "queued")),
            attempts=int(data.get("attempts", 0)),
            last_error=_opt_str(data.get("last_error")),
            last_status=_opt_int(data.get("last_status")),
            next_attempt_at=_aware(dt.datetime.fromisoformat(data["next_attempt_at"])),
            created_at=_aware(dt.datetime.fromisoformat(data["created_at"])),
            updated_at=_aware(dt.datetime.fromisoformat(data.get("updated_at", data["created_at"]))),
            size=int(data.get("size", 0)),
            sha256=str(data.get("sha256", "")),
            source=_opt_str(data.get("source")),
            project=_opt_str(data.get("project")),
            signed=bool(data.get("signed", False)),
            summary=ReportSummary.from_dict(data.get("summary", {})),
            properties=tuple((str(n), str(v)) for n, v in data.get("properties", [])),
            dead_reason=_opt_str(data.get("dead_reason")),
            details=dict(data.get("details") or {}),
        )


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def _opt_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt_int(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


@attrs.frozen
class PublishState:
    """What the outbox knows about one report, for ``jux cache list``.

    Attributes:
        canonical_hash: ``sha256:<hex>``.
        state: ``"queued"`` (any publisher still pending), else ``"dead"`` (any dead-lettered),
            else ``"published"``; a hash the outbox does not know is ``"local"``.
        publishers: Per publisher name: ``"queued"``, ``"dead"`` or ``"published"``.
        run_ids: Per publisher name: the server's run id, for published ones.
        detail: Last error or dead-letter reason, if any.
    """

    canonical_hash: str
    state: str
    publishers: Mapping[str, str] = attrs.field(factory=dict)
    run_ids: Mapping[str, str] = attrs.field(factory=dict)
    detail: str | None = None

    @property
    def run_id(self) -> str | None:
        """The first known run id, if any."""
        return next(iter(self.run_ids.values()), None)

    def __str__(self) -> str:
        """``local``, ``queued``, ``dead`` or ``published(<run id>)``."""
        if self.state == "published" and self.run_id:
            return f"published({self.run_id})"
        return self.state

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "canonical_hash": self.canonical_hash,
            "state": self.state,
            "publishers": dict(self.publishers),
            "run_ids": dict(self.run_ids),
            "detail": self.detail,
        }


@attrs.frozen
class BrokenEntry:
    """An outbox entry a drain could not process (it stays queued for the next drain).

    Attributes:
        key: The entry's name, ``<hex>.<publisher>``.
        path: The outbox database holding it.
        reason: One line saying what went wrong (no report contents, no secrets).
    """

    key: str
    path: Path
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"key": self.key, "path": str(self.path), "reason": self.reason}


@attrs.frozen
class DrainResult:
    """What one :meth:`juxsdk.outbox.Outbox.drain` did.

    Attributes:
        published: ``(entry, receipt)`` for every entry sent (created or already there).
        retrying: Entries that failed and stay queued (with their new ``next_attempt_at``).
        dead: Entries dead-lettered during this drain.
        skipped: Entries not tried: not yet due, being published by another drain, or no
            publisher of that name was given.
        broken: Entries that could not be processed (an unexpected error, the database
            refusing a write): left queued and reported; the drain went on with the others.
    """

    published: tuple[tuple[QueueEntry, PublishReceipt], ...] = ()
    retrying: tuple[QueueEntry, ...] = ()
    dead: tuple[QueueEntry, ...] = ()
    skipped: tuple[QueueEntry, ...] = ()
    broken: tuple[BrokenEntry, ...] = ()

    @property
    def attempted(self) -> int:
        """Entries a publish was attempted for (broken ones included)."""
        return len(self.published) + len(self.retrying) + len(self.dead) + len(self.broken)

    @property
    def ok(self) -> bool:
        """True when nothing failed (skipped entries do not count)."""
        return not self.retrying and not self.dead and not self.broken

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "published": [
                {"canonical_hash": e.canonical_hash, "publisher": e.publisher, **r.to_dict()}
                for e, r in self.published
            ],
            "retrying": [e.to_dict() for e in self.retrying],
            "dead": [e.to_dict() for e in self.dead],
            "skipped": [{"canonical_hash": e.canonical_hash, "publisher": e.publisher}
                        for e in self.skipped],
            "broken": [b.to_dict() for b in self.broken],
        }
