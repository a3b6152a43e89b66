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
from .policy import DrainMode, retry_after_seconds

__all__ = ["BrokenEntry", "DrainResult", "PublishState", "QueueEntry", "SkippedEntry", "entry_key", "split_key"]

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
        next_attempt_at: Earliest time an automatic drain retries it (UTC): our backoff, or
            ``retry_after_until`` when that is later.
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
        retry_after_until: End of the wait the server asked for at the last failure
            (``Retry-After``, or ``X-RateLimit-Reset``: the publisher's ``details["retry_after"]``),
            UTC; None when the server asked for none, so that only our backoff delays the entry.
            A manual drain honours it; ``--now`` (:attr:`DrainMode.NOW`) does not.
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
    retry_after_until: dt.datetime | None = None

    @property
    def key(self) -> str:
        """``<hex>.<publisher>``: the entry's name."""
        return entry_key(self.canonical_hash, self.publisher)

    def is_due(self, now: dt.datetime) -> bool:
        """True when an automatic drain at ``now`` should try it (its ``next_attempt_at`` passed)."""
        return self.state == "queued" and self.next_attempt_at <= now

    def held(self, now: dt.datetime, mode: DrainMode | str = DrainMode.AUTOMATIC) -> SkippedEntry | None:
        """Why a drain of ``mode`` at ``now`` leaves this queued entry alone, or None when it tries it.

        * :attr:`DrainMode.AUTOMATIC`: held until ``next_attempt_at``; the reason is
          ``"retry-after"`` when the server's wait decides that time, else ``"backoff"``;
        * :attr:`DrainMode.MANUAL`: held only while the server's wait lasts (``"retry-after"``);
        * :attr:`DrainMode.NOW`: never held.

        Args:
            now: Current time (UTC).
            mode: The drain's mode.

        Raises:
            juxsdk.errors.ConfigError: ``mode`` is not a drain mode.
        """
        mode = DrainMode.parse(mode)
        server = self.retry_after_until
        if mode is DrainMode.NOW:
            return None
        if mode is DrainMode.MANUAL:
            return SkippedEntry(self, "retry-after", server) if server is not None and server > now else None
        if self.next_attempt_at <= now:
            return None
        if server is not None and server >= self.next_attempt_at:
            return SkippedEntry(self, "retry-after", server)
        return SkippedEntry(self, "backoff", self.next_attempt_at)

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
            "retry_after_until": _iso(self.retry_after_until) if self.retry_after_until is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueEntry:
        """Inverse of :meth:`to_dict` (also reads the ``state.json`` files of the directory outbox).

        A record without ``retry_after_until`` (the directory outbox did not keep it) gets it
        from its last failure, as :func:`server_wait_until` says.

        Raises:
            KeyError, ValueError, TypeError, AttributeError: not an outbox state record.
        """
        details = dict(data.get("details") or {})
        updated_at = _aware(dt.datetime.fromisoformat(data.get("updated_at", data["created_at"])))
        if "retry_after_until" in data:
            until = data["retry_after_until"]
            server = None if until is None else _aware(dt.datetime.fromisoformat(until))
        else:
            server = server_wait_until(details, updated_at)
        return cls(
            canonical_hash=str(data["canonical_hash"]),
            publisher=str(data["publisher"]),
            state=str(data.get("state", "queued")),
            attempts=int(data.get("attempts", 0)),
            last_error=_opt_str(data.get("last_error")),
            last_status=_opt_int(data.get("last_status")),
            next_attempt_at=_aware(dt.datetime.fromisoformat(data["next_attempt_at"])),
            created_at=_aware(dt.datetime.fromisoformat(data["created_at"])),
            updated_at=updated_at,
            size=int(data.get("size", 0)),
            sha256=str(data.get("sha256", "")),
            source=_opt_str(data.get("source")),
            project=_opt_str(data.get("project")),
            signed=bool(data.get("signed", False)),
            summary=ReportSummary.from_dict(data.get("summary", {})),
            properties=tuple((str(n), str(v)) for n, v in data.get("properties", [])),
            dead_reason=_opt_str(data.get("dead_reason")),
            details=details,
            retry_after_until=server,
        )


def server_wait_until(details: Mapping[str, Any], failed_at: dt.datetime) -> dt.datetime | None:
    """When the wait a server asked for at a failure ends: ``failed_at + details["retry_after"]``.

    How an entry recorded before the outbox kept ``retry_after_until`` (the directory outbox,
    schema 1 of the database) gets it: its ``details`` are those of its last failure and its
    ``updated_at`` the time of that failure.

    Args:
        details: The failure's details (a publisher's ``details["retry_after"]``, seconds).
        failed_at: When it failed (UTC).

    Returns:
        The end of the wait (UTC), or None when the details ask for none (or an invalid one:
        see :func:`.policy.retry_after_seconds`).
    """
    seconds = retry_after_seconds(details.get("retry_after"))
    return failed_at + dt.timedelta(seconds=seconds) if seconds is not None else None


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


#: Why a drain left a queued entry alone (:attr:`SkippedEntry.reason`).
SKIP_REASONS = ("retry-after", "backoff", "claimed", "no-publisher", "limit")


@attrs.frozen
class SkippedEntry:
    """A queued entry a drain did not try, and why.

    Attributes:
        entry: The entry, as the drain read it.
        reason: ``"retry-after"`` (the server asked to wait until ``until``), ``"backoff"`` (an
            automatic drain: not due before ``until``), ``"claimed"`` (another drain is sending
            it), ``"no-publisher"`` (no publisher of its name was given), or ``"limit"`` (the
            drain's ``limit`` was reached).
        until: End of the wait, UTC (``"retry-after"``, ``"backoff"``), else None.
    """

    entry: QueueEntry
    reason: str
    until: dt.datetime | None = None

    @property
    def message(self) -> str:
        """One line saying why, e.g. ``Retry-After until 2030-01-01 10:00:00 UTC (the server asked to wait)``."""
        until = f"{self.until.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC" if self.until is not None else "?"
        return {
            "retry-after": f"Retry-After until {until} (the server asked to wait)",
            "backoff": f"backoff until {until} (not due yet)",
            "claimed": "being sent by another drain",
            "no-publisher": f"publisher {self.entry.publisher!r} is not configured",
            "limit": "over the drain's limit",
        }.get(self.reason, self.reason)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``canonical_hash``, ``publisher``, ``reason``, ``until`` (ISO 8601 or null), ``message``."""
        return {"canonical_hash": self.entry.canonical_hash, "publisher": self.entry.publisher,
                "reason": self.reason, "until": _iso(self.until) if self.until is not None else None,
                "message": self.message}


@attrs.frozen
class DrainResult:
    """What one :meth:`juxsdk.outbox.Outbox.drain` did.

    Attributes:
        published: ``(entry, receipt)`` for every entry sent (created or already there).
        retrying: Entries that failed and stay queued (with their new ``next_attempt_at``).
        dead: Entries dead-lettered during this drain.
        skipped: Entries not tried, each with its reason (:class:`SkippedEntry`): a server's
            ``Retry-After`` not over yet, our backoff (automatic drains only), being published
            by another drain, no publisher of that name was given, over the ``limit``.
        broken: Entries that could not be processed (an unexpected error, the database
            refusing a write): left queued and reported; the drain went on with the others.
    """

    published: tuple[tuple[QueueEntry, PublishReceipt], ...] = ()
    retrying: tuple[QueueEntry, ...] = ()
    dead: tuple[QueueEntry, ...] = ()
    skipped: tuple[SkippedEntry, ...] = ()
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
            "skipped": [s.to_dict() for s in self.skipped],
            "broken": [b.to_dict() for b in self.broken],
        }
