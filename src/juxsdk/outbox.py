"""The outbox: a durable, crash-safe queue of reports waiting to be published.

When a publisher fails *transiently* (network, timeout, 5xx, 429 past its budget) in ``cache``
storage mode, the report's exact bytes are queued here, one entry per
``(canonical hash, publisher name)``. ``jux publish --queue`` (or :meth:`Outbox.drain`) sends them
later. Layout under the outbox directory (default ``<user data dir>/outbox``)::

    queue/<hex>.<publisher>/report.xml    exact bytes (never re-serialised)
    queue/<hex>.<publisher>/state.json    attempts, last_error, next_attempt_at, created_at …
    dead/<hex>.<publisher>/…              permanent failures, with the server's reason
    published/receipts.jsonl              receipts of successful publishes (run ids), one per line
    locks/<hex>.<publisher>.lock          per-entry file lock;  locks/drain.lock
    trash/                                entries being deleted (renamed here atomically)

Guarantees:

* **Private**: directories are created ``0700`` and files ``0600`` whatever the umask (a queued
  report and its server answers are as private as the store's copy).
* **Atomic writes**: every file is written to a temporary name, fsynced and renamed; an entry
  exists only once its ``state.json`` is in place, and leaves the queue in one ``rename``.
* **Crash safety**: an entry is removed only after its publisher returned a receipt. A drain
  killed at any point (even SIGKILL) loses nothing; at worst the next drain re-sends a report the
  server already has, which the idempotency key and the server's dedupe by canonical hash turn
  into "already there" (no duplicate run).
* **Concurrency**: a drain holds ``drain.lock`` (a second drain waits, then finds the work done),
  and every entry is processed under its own lock, re-reading its state after locking, so two
  drains never publish the same item and an ``enqueue``/``drop`` never races a publish.
* **No bad entry stops a drain**: an entry whose state cannot be read is dead-lettered with the
  reason (its bytes kept), one whose bytes cannot be read or whose publisher raises something
  unexpected is reported (:attr:`DrainResult.broken`) or retried; the drain goes on.
* **Backoff**: a failed entry waits ``min(backoff_base * 2**(attempts-1), backoff_max)`` seconds
  (80-100 % of it, jittered), or longer when the server asked (``Retry-After``); after
  ``max_attempts`` transient failures it is dead-lettered. Permanent rejections of the report
  (HTTP 400/413/422) are dead-lettered at once; permanent *configuration* problems (401, 403,
  404/405/415, TLS) keep the entry queued, since fixing the configuration fixes them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import queue
import random
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import filelock

from .client import PublishOutcome
from .errors import (
    ConfigError,
    JuxError,
    PermanentPublishError,
    PublishError,
    ReportNotFoundError,
    TransientPublishError,
)
from .models import (
    PublishReceipt,
    Report,
    ReportSummary,
    SignedReport,
    _count,
    _field,
    _json_type,
    _optional,
    _properties_from,
    _shown,
    _summary_from,
    _timestamp,
)
from .protocols import Publisher

__all__ = [
    "BrokenEntry",
    "DrainResult",
    "Outbox",
    "PublishOutcome",
    "PublishState",
    "QueueEntry",
    "default_outbox_dir",
    "outcome_to_dict",
    "publish_with_mode",
]

log = logging.getLogger("juxsdk.outbox")

#: HTTP statuses meaning "this report will never be accepted": dead-letter at once.
DEAD_LETTER_STATUSES = frozenset({400, 413, 422})
#: Permanent failures that a configuration change fixes: keep the entry queued.
KEEP_QUEUED_STATUSES = frozenset({401, 403, 404, 405, 407, 415})

STORAGE_MODES = ("local", "api", "both", "cache")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


def default_outbox_dir() -> Path:
    """Return the default outbox directory: ``<user data dir>/outbox``.

    Uses :func:`juxsdk.config.user_data_dir` when available, else ``$JUX_DATA_DIR``, else
    platformdirs' user data dir for ``jux``.
    """
    from . import config as _config

    fn = getattr(_config, "user_data_dir", None)
    if callable(fn):
        base = Path(fn())
    elif os.environ.get("JUX_DATA_DIR"):
        base = Path(os.environ["JUX_DATA_DIR"]).expanduser()
    else:
        import platformdirs

        base = platformdirs.user_data_path("jux", appauthor=False)
    return base / "outbox"


# --- values ----------------------------------------------------------------------------------


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
        sha256: SHA-256 hex of the exact bytes (integrity check before sending).
        source: Original file name, if known.
        project: The report's ``project`` property, if any.
        signed: Whether the report carries a signature.
        summary: Test counts.
        properties: Report properties (name, value).
        dead_reason: Why it was dead-lettered (the server's ``error``), for dead entries.
        details: Server-provided details of the last failure (``error``, ``details``, ``suggestions``).
        path: Directory holding the entry.
    """

    canonical_hash: str
    publisher: str
    state: str = "queued"
    attempts: int = 0
    last_error: str | None = None
    last_status: int | None = None
    next_attempt_at: dt.datetime = attrs.field(factory=_utcnow)
    created_at: dt.datetime = attrs.field(factory=_utcnow)
    updated_at: dt.datetime = attrs.field(factory=_utcnow)
    size: int = 0
    sha256: str = ""
    source: str | None = None
    project: str | None = None
    signed: bool = False
    summary: ReportSummary = attrs.field(factory=ReportSummary)
    properties: tuple[tuple[str, str], ...] = ()
    dead_reason: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    path: Path | None = attrs.field(default=None, eq=False)

    @property
    def key(self) -> str:
        """``<hex>.<publisher>``: the entry's directory name."""
        return _key(self.canonical_hash, self.publisher)

    def is_due(self, now: dt.datetime) -> bool:
        """True when a drain at ``now`` should try it."""
        return self.state == "queued" and self.next_attempt_at <= now

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``state.json`` content plus ``state``)."""
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
            "details": _jsonable(dict(self.details)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: Path | None = None) -> QueueEntry:
        """Inverse of :meth:`to_dict`, validating every field (a ``state.json`` read back is
        untrusted), with the sidecar checks of :meth:`juxsdk.models.StoredReport.from_dict`.

        Checked: ``canonical_hash`` is ``sha256:`` + 64 lowercase hex digits; ``publisher`` a
        publisher name; ``state`` ``"queued"`` or ``"dead"``; ``attempts`` and ``size``
        non-negative integers; ``last_status`` an integer or null; the times ISO 8601 (naive
        values are taken as UTC); ``summary``, ``properties`` as in a store sidecar; ``signed`` a
        boolean; ``details`` an object; the texts strings or null. Unknown keys are ignored.

        Raises:
            ValueError: not an outbox state record (the message names the field).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {_json_type(data)}")
        canonical_hash = _field(data, "canonical_hash", str)
        _hex(canonical_hash)
        publisher = _field(data, "publisher", str)
        state = data.get("state", "queued")
        if not _NAME_RE.match(publisher) or state not in ("queued", "dead"):
            raise ValueError(f"publisher {_shown(publisher)} / state {_shown(state)} is not an outbox entry's")
        last_status = data.get("last_status")
        if last_status is not None and (isinstance(last_status, bool) or not isinstance(last_status, int)):
            raise ValueError(f"last_status must be an integer or null, got {_json_type(last_status)}")
        signed = data.get("signed", False)
        details = data.get("details") or {}
        if not isinstance(signed, bool) or not isinstance(details, Mapping):
            raise ValueError("signed must be true or false and details an object")
        created_at = _timestamp(_field(data, "created_at", str), "created_at")
        updated = data.get("updated_at")
        return cls(
            canonical_hash=canonical_hash,
            publisher=publisher,
            state=state,
            attempts=_count(data, "attempts") if "attempts" in data else 0,
            last_error=_optional(data, "last_error"),
            last_status=last_status,
            next_attempt_at=_timestamp(_field(data, "next_attempt_at", str), "next_attempt_at"),
            created_at=created_at,
            updated_at=_timestamp(_field(data, "updated_at", str), "updated_at") if updated is not None else created_at,
            size=_count(data, "size") if "size" in data else 0,
            sha256=_optional(data, "sha256") or "",
            source=_optional(data, "source"),
            project=_optional(data, "project"),
            signed=signed,
            summary=_summary_from(data.get("summary", {})),
            properties=_properties_from(data.get("properties", [])),
            dead_reason=_optional(data, "dead_reason"),
            details=dict(details),
            path=path,
        )


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
class DrainResult:
    """What one :meth:`Outbox.drain` did.

    Attributes:
        published: ``(entry, receipt)`` for every entry sent (created or already there).
        retrying: Entries that failed and stay queued (with their new ``next_attempt_at``).
        dead: Entries moved to the dead-letter area during this drain.
        skipped: Entries not tried: not yet due, locked by another process, or no publisher
            of that name was given.
        busy: True when another drain held the drain lock past ``lock_timeout`` (nothing done).
        broken: Entries that could not be processed (unreadable files, an unexpected error):
            left where they are and reported; the drain went on with the others.
    """

    published: tuple[tuple[QueueEntry, PublishReceipt], ...] = ()
    retrying: tuple[QueueEntry, ...] = ()
    dead: tuple[QueueEntry, ...] = ()
    skipped: tuple[QueueEntry, ...] = ()
    busy: bool = False
    broken: tuple[BrokenEntry, ...] = ()

    @property
    def attempted(self) -> int:
        """Entries a publish was attempted for (broken ones included)."""
        return len(self.published) + len(self.retrying) + len(self.dead) + len(self.broken)

    @property
    def ok(self) -> bool:
        """True when nothing failed (skipped entries do not count)."""
        return not self.retrying and not self.dead and not self.busy and not self.broken

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
            "busy": self.busy,
        }


@attrs.frozen
class BrokenEntry:
    """An outbox entry a drain could not process (it stays where it is).

    Attributes:
        key: The entry's directory name, ``<hex>.<publisher>``.
        path: The entry's directory.
        reason: One line saying what is wrong (no file contents).
    """

    key: str
    path: Path
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"key": self.key, "path": str(self.path), "reason": self.reason}


# --- helpers ---------------------------------------------------------------------------------


def outcome_to_dict(outcome: PublishOutcome) -> dict[str, Any]:
    """JSON-ready view of a :class:`juxsdk.client.PublishOutcome` (errors as message/hint/status)."""
    err: dict[str, Any] | None = None
    if outcome.error is not None:
        err = {"type": type(outcome.error).__name__, "message": outcome.error.message,
               "hint": outcome.error.hint}
        if isinstance(outcome.error, PublishError):
            err["status"] = outcome.error.status
            err["details"] = _jsonable(outcome.error.details)
    return {
        "publisher": outcome.publisher,
        "ok": outcome.ok,
        "queued": outcome.queued,
        "dead": outcome.dead,
        "receipt": outcome.receipt.to_dict() if outcome.receipt else None,
        "error": err,
    }


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _hex(canonical_hash: str) -> str:
    algo, sep, hexpart = canonical_hash.partition(":")
    if not sep or algo != "sha256" or not _HEX_RE.match(hexpart):
        raise ValueError(f"not a canonical hash: {canonical_hash!r}")
    return hexpart


def _key(canonical_hash: str, publisher: str) -> str:
    if not _NAME_RE.match(publisher):
        raise ConfigError(f"invalid publisher name {publisher!r} for the outbox")
    return f"{_hex(canonical_hash)}.{publisher}"


def _split_key(name: str) -> tuple[str, str] | None:
    hexpart, sep, publisher = name.partition(".")
    if not sep or not _HEX_RE.match(hexpart) or not _NAME_RE.match(publisher):
        return None
    return f"sha256:{hexpart}", publisher


#: Modes of everything the outbox creates (set exactly, whatever the umask).
FILE_MODE = 0o600
DIR_MODE = 0o700


def _private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) and make it ``0700``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        mode = 0
    if mode & 0o7777 != DIR_MODE:
        os.chmod(path, DIR_MODE)


def _open_private(path: Path, flags: int) -> int:
    """``os.open`` a file that is ``0600`` from its creation on, whatever the umask."""
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(_open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, JuxError):
        return exc.message
    return f"{type(exc).__name__}"


def _server_reason(exc: PublishError) -> str:
    details = exc.details or {}
    error = details.get("error")
    parts = [str(error) if error else exc.message]
    inner = details.get("details")
    if isinstance(inner, Mapping) and inner:
        parts.append(", ".join(f"{k}={v}" for k, v in inner.items()))
    sugg = details.get("suggestions")
    if isinstance(sugg, list) and sugg:
        parts.append("suggestions: " + "; ".join(str(s) for s in sugg))
    return " — ".join(parts)


def _is_dead_letter(exc: PermanentPublishError) -> bool:
    if exc.status is None:
        return True  # a non-HTTP publisher said "never": believe it
    if exc.status in KEEP_QUEUED_STATUSES or 300 <= exc.status < 400:
        return False
    return exc.status in DEAD_LETTER_STATUSES or 400 <= exc.status < 500


# --- the outbox ------------------------------------------------------------------------------


class Outbox:
    """A durable publish queue in a directory (see the module docstring for the layout).

    Args:
        path: Outbox directory (created on first write); default :func:`default_outbox_dir`.
        backoff_base: First retry delay, seconds (doubles per attempt).
        backoff_max: Longest retry delay, seconds.
        max_attempts: Transient failures after which an entry is dead-lettered.
        lock_timeout: How long :meth:`drain` waits for another drain, and an entry operation
            for a busy entry, seconds.
        durable: fsync every state write (turn off only for benchmarks/tests).
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        backoff_base: float = 30.0,
        backoff_max: float = 6 * 3600.0,
        max_attempts: int = 20,
        lock_timeout: float = 60.0,
        durable: bool = True,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_outbox_dir()
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_attempts = int(max_attempts)
        self.lock_timeout = float(lock_timeout)
        self.durable = durable

    @classmethod
    def from_config(cls, config: Any = None) -> Outbox:
        """Build the outbox from a :class:`juxsdk.JuxConfig` (its ``outbox`` settings, if any).

        Recognised settings (all optional): ``outbox.path`` / ``outbox_dir``,
        ``outbox.backoff_base``, ``outbox.backoff_max``, ``outbox.max_attempts``.
        """
        if config is None:
            return cls()
        section = getattr(config, "outbox", None)

        def pick(name: str) -> Any:
            if section is not None:
                value = (section.get(name) if isinstance(section, Mapping)
                         else getattr(section, name, None))
                if value is not None:
                    return value
            return getattr(config, f"outbox_{name}", None)

        kwargs: dict[str, Any] = {}
        path = pick("path") or pick("dir")
        for name in ("backoff_base", "backoff_max", "max_attempts"):
            value = pick(name)
            if value is not None:
                kwargs[name] = value
        return cls(path, **kwargs)

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"

    # -- paths and locks ----------------------------------------------------------------------

    @property
    def queue_dir(self) -> Path:
        return self.path / "queue"

    @property
    def dead_dir(self) -> Path:
        return self.path / "dead"

    @property
    def published_dir(self) -> Path:
        return self.path / "published"

    @property
    def locks_dir(self) -> Path:
        return self.path / "locks"

    @property
    def trash_dir(self) -> Path:
        return self.path / "trash"

    def _ensure(self) -> None:
        for d in (self.path, self.queue_dir, self.dead_dir, self.published_dir, self.locks_dir):
            _private_dir(d)

    def _entry_lock(self, key: str) -> filelock.FileLock:
        return filelock.FileLock(str(self.locks_dir / f"{key}.lock"), mode=FILE_MODE)

    @contextlib.contextmanager
    def _locked(self, key: str, timeout: float | None = None) -> Iterator[None]:
        self._ensure()
        lock = self._entry_lock(key)
        try:
            lock.acquire(timeout=self.lock_timeout if timeout is None else timeout)
        except filelock.Timeout:
            raise JuxError(
                f"outbox entry {key} is busy (another jux process is publishing it)",
                hint="try again in a moment",
            ) from None
        try:
            yield
        finally:
            lock.release()

    def backoff(self, attempts: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempts + 1`` (jittered, at least ``retry_after``)."""
        if attempts <= 0:
            delay = 0.0
        else:
            delay = min(self.backoff_base * (2 ** min(attempts - 1, 60)), self.backoff_max)
            delay *= random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not crypto
        if retry_after is not None:
            delay = max(delay, float(retry_after))
        return delay

    # -- reading ------------------------------------------------------------------------------

    def _read_entry(self, directory: Path) -> QueueEntry | None:
        try:
            return self._load_entry(directory)
        except _Corrupt as exc:
            log.warning("ignoring unreadable outbox entry %s: %s", directory, exc)
            return None

    def _load_entry(self, directory: Path) -> QueueEntry | None:
        """Read an entry's state; None when it is gone.

        Raises:
            _Corrupt: ``state.json`` exists but cannot be read or is not an outbox state record.
        """
        try:
            data = json.loads((directory / "state.json").read_bytes())
            entry = QueueEntry.from_dict(data, path=directory)
        except FileNotFoundError:
            return None
        except RecursionError:
            raise _Corrupt("state.json is nested too deeply") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            what = "cannot be read" if isinstance(exc, OSError) and not isinstance(exc, UnicodeError) \
                else "is not a valid state record"
            raise _Corrupt(f"state.json {what} ({type(exc).__name__})") from None
        if entry.key != directory.name:
            raise _Corrupt(f"state.json describes {entry.key}, not the entry it is in")
        return entry

    def _scan(self, base: Path) -> Iterator[QueueEntry]:
        try:
            names = sorted(os.listdir(base))
        except FileNotFoundError:
            return
        for name in names:
            if _split_key(name) is None:
                continue
            entry = self._read_entry(base / name)
            if entry is not None:
                yield entry

    def entries(self, *, include_dead: bool = False) -> list[QueueEntry]:
        """Return queued entries (and dead ones when asked), oldest first."""
        items = list(self._scan(self.queue_dir))
        if include_dead:
            items += list(self._scan(self.dead_dir))
        return sorted(items, key=lambda e: (e.created_at, e.canonical_hash, e.publisher))

    def dead_entries(self) -> list[QueueEntry]:
        """Return dead-lettered entries, oldest first."""
        return sorted(self._scan(self.dead_dir), key=lambda e: (e.created_at, e.canonical_hash))

    def __len__(self) -> int:
        return len(self.entries())

    def read_bytes(self, entry: QueueEntry) -> bytes:
        """Return the exact queued bytes of ``entry``.

        Raises:
            ReportNotFoundError: the entry is gone.
        """
        base = self.dead_dir if entry.state == "dead" else self.queue_dir
        try:
            return (base / entry.key / "report.xml").read_bytes()
        except FileNotFoundError:
            raise ReportNotFoundError(f"outbox entry {entry.key} is gone") from None

    def published_records(self) -> list[dict[str, Any]]:
        """Return the receipts recorded for published entries (latest per hash and publisher).

        Receipts are lines of ``published/receipts.jsonl`` (one ``O_APPEND`` write each, so
        concurrent drains never interleave them; a line torn by a crash is skipped).
        """
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        try:
            raw = (self.published_dir / "receipts.jsonl").read_bytes()
        except FileNotFoundError:
            return []
        for line in raw.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                latest[(str(rec.get("canonical_hash")), str(rec.get("publisher")))] = rec
        return list(latest.values())

    def states(self) -> dict[str, PublishState]:
        """Return the publish state of every report the outbox knows, by canonical hash.

        A report absent from the result is ``"local"`` (stored only); see :meth:`state_of`.
        """
        per: dict[str, dict[str, str]] = {}
        runs: dict[str, dict[str, str]] = {}
        detail: dict[str, str] = {}
        for rec in self.published_records():
            h, pub = rec.get("canonical_hash"), rec.get("publisher")
            if not isinstance(h, str) or not isinstance(pub, str):
                continue
            per.setdefault(h, {})[pub] = "published"
            if rec.get("run_id"):
                runs.setdefault(h, {})[pub] = str(rec["run_id"])
        for e in self.dead_entries():
            per.setdefault(e.canonical_hash, {})[e.publisher] = "dead"
            detail[e.canonical_hash] = e.dead_reason or e.last_error or "dead"
        for e in self.entries():
            per.setdefault(e.canonical_hash, {})[e.publisher] = "queued"
            if e.last_error:
                detail[e.canonical_hash] = e.last_error
        result: dict[str, PublishState] = {}
        for h, pubs in per.items():
            values = set(pubs.values())
            state = "queued" if "queued" in values else "dead" if "dead" in values else "published"
            result[h] = PublishState(h, state, dict(pubs), runs.get(h, {}), detail.get(h))
        return result

    def state_of(self, canonical_hash: str) -> PublishState:
        """Return the publish state of one report (``"local"`` when the outbox never saw it)."""
        return self.states().get(canonical_hash, PublishState(canonical_hash, "local"))

    # -- writing ------------------------------------------------------------------------------

    def _write_entry(self, directory: Path, entry: QueueEntry, data: bytes | None) -> None:
        _private_dir(directory)
        if data is not None:
            _write_atomic(directory / "report.xml", data, durable=self.durable)
        _write_atomic(directory / "state.json",
                      json.dumps(entry.to_dict(), indent=1).encode(), durable=self.durable)

    def _retire(self, directory: Path) -> Path | None:
        """Atomically take an entry directory out of ``queue/``/``dead/`` (rename into ``trash/``).

        Returns the new location (to delete at leisure), or None when it was already gone.
        """
        _private_dir(self.trash_dir)
        target = self.trash_dir / f"{directory.name}.{secrets.token_hex(4)}"
        try:
            os.replace(directory, target)
        except FileNotFoundError:
            return None
        return target

    def _remove_dir(self, directory: Path) -> None:
        target = self._retire(directory)
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)

    def _trash_leftovers(self) -> list[Path]:
        try:
            return [self.trash_dir / n for n in os.listdir(self.trash_dir)]
        except FileNotFoundError:
            return []

    def enqueue(
        self,
        report: Report | SignedReport,
        publisher: str,
        error: BaseException | None = None,
        *,
        now: dt.datetime | None = None,
    ) -> QueueEntry:
        """Queue ``report`` for ``publisher`` (idempotent per canonical hash and publisher).

        Args:
            report: The report; its exact ``data`` bytes are kept.
            publisher: Publisher backend name.
            error: The failure that made it queue (counts as one attempt; a
                ``details["retry_after"]`` delays the next attempt accordingly).
            now: Current time (UTC), for tests.

        Returns:
            The queued entry (the existing one, updated, when it was already queued).

        Raises:
            JuxError: the entry is locked by another process past ``lock_timeout``, or the
                directory cannot be written.
        """
        now = now or _utcnow()
        key = _key(report.canonical_hash, publisher)
        try:
            with self._locked(key):
                directory = self.queue_dir / key
                existing = self._read_entry(directory)
                attempts = (existing.attempts if existing else 0) + (1 if error is not None else 0)
                retry_after = _retry_after(error)
                status = error.status if isinstance(error, PublishError) else None
                entry = QueueEntry(
                    canonical_hash=report.canonical_hash,
                    publisher=publisher,
                    attempts=attempts,
                    last_error=_error_line(error) if error is not None else (
                        existing.last_error if existing else None),
                    last_status=status,
                    next_attempt_at=now + dt.timedelta(
                        seconds=self.backoff(attempts, retry_after=retry_after)),
                    created_at=existing.created_at if existing else now,
                    updated_at=now,
                    size=len(report.data),
                    sha256=hashlib.sha256(report.data).hexdigest(),
                    source=report.source,
                    project=report.project,
                    signed=bool(report.signed),
                    summary=report.summary,
                    properties=tuple(report.properties),
                    details=_jsonable(dict(error.details)) if isinstance(error, PublishError) else {},
                    path=directory,
                )
                same_bytes = existing is not None and existing.sha256 == entry.sha256
                self._write_entry(directory, entry, None if same_bytes else report.data)
                # a fresh enqueue supersedes an old dead letter for the same pair
                dead = self.dead_dir / key
                if dead.exists():
                    self._remove_dir(dead)
                return entry
        except OSError as exc:
            raise JuxError(f"cannot write to the outbox {self.path}: {exc.strerror or exc}",
                           hint="check the permissions of the jux data directory") from exc

    def record_failure(
        self,
        report: Report | SignedReport,
        publisher: str,
        error: BaseException,
        *,
        now: dt.datetime | None = None,
    ) -> QueueEntry:
        """Keep a report whose publish failed, as a drain would: queued, or dead-lettered.

        A permanent rejection of the report itself (HTTP 400/413/422, or a non-HTTP permanent
        error) is dead-lettered with the server's reason; anything else (transient failures,
        configuration problems such as 401/403/404 or a missing token, unexpected exceptions) is
        queued for ``jux publish --queue``.

        Args:
            report: The report; its exact ``data`` bytes are kept.
            publisher: Publisher backend name.
            error: The failure.
            now: Current time (UTC), for tests.

        Returns:
            The entry, ``state`` ``"queued"`` or ``"dead"``.

        Raises:
            JuxError: the outbox cannot be written (the report is then NOT kept here).
        """
        now = now or _utcnow()
        entry = self.enqueue(report, publisher, error, now=now)
        if not (isinstance(error, PermanentPublishError) and _is_dead_letter(error)):
            return entry
        try:
            with self._locked(entry.key):
                directory = self.queue_dir / entry.key
                current = self._read_entry(directory) or entry
                return self._to_dead(current, directory, now, _server_reason(error), error)
        except OSError as exc:
            raise JuxError(f"cannot write to the outbox {self.path}: {exc.strerror or exc}",
                           hint="check the permissions of the jux data directory") from exc

    def _match(self, hash_prefix: str | None, *, include_dead: bool = True) -> list[QueueEntry]:
        items = self.entries(include_dead=include_dead)
        if hash_prefix is None:
            return items
        prefix = hash_prefix.strip().lower()
        if prefix.startswith("sha256:"):
            prefix = prefix[len("sha256:"):]
        if not prefix or not re.fullmatch(r"[0-9a-f]+", prefix):
            raise ConfigError(f"{hash_prefix!r} is not a canonical hash prefix",
                              hint="give the first hex digits of the hash, e.g. 3fa9c1")
        matched = [e for e in items if _hex(e.canonical_hash).startswith(prefix)]
        hashes = {e.canonical_hash for e in matched}
        if len(hashes) > 1:
            listed = ", ".join(sorted(_hex(h)[:12] for h in hashes))
            raise ConfigError(f"hash prefix {hash_prefix!r} is ambiguous: {listed}",
                              hint="give more hex digits")
        return matched

    def retry(self, hash_prefix: str | None = None, *, now: dt.datetime | None = None) -> int:
        """Make matching entries due now; dead ones go back to the queue with attempts reset.

        Args:
            hash_prefix: Canonical hash or a prefix of its hex digits; None = every entry.
            now: Current time (UTC), for tests.

        Returns:
            Number of entries reset.

        Raises:
            juxsdk.errors.ConfigError: the prefix is not hex or matches several reports.
        """
        now = now or _utcnow()
        count = 0
        for e in self._match(hash_prefix):
            with self._locked(e.key):
                src = (self.dead_dir if e.state == "dead" else self.queue_dir) / e.key
                current = self._read_entry(src)
                if current is None:
                    continue
                fresh = attrs.evolve(current, state="queued", next_attempt_at=now, updated_at=now,
                                     attempts=0 if current.state == "dead" else current.attempts,
                                     dead_reason=None)
                if current.state == "dead":
                    try:
                        data = (src / "report.xml").read_bytes()
                    except OSError as exc:
                        log.warning("outbox entry %s cannot be retried: %s", e.key, _failure_line(exc))
                        continue
                    dst = self.queue_dir / e.key
                    self._write_entry(dst, fresh, data)
                    self._remove_dir(src)
                else:
                    self._write_entry(src, fresh, None)
                count += 1
        return count

    def drop(self, hash_prefix: str | None, *, dead_only: bool = False) -> int:
        """Delete matching entries (queued and dead) without publishing them.

        Args:
            hash_prefix: Canonical hash or hex prefix; None = every entry.
            dead_only: Only delete dead-lettered entries.

        Returns:
            Number of entries deleted.

        Raises:
            juxsdk.errors.ConfigError: the prefix is not hex or matches several reports.
        """
        count = 0
        for e in self._match(hash_prefix):
            if dead_only and e.state != "dead":
                continue
            with self._locked(e.key):
                directory = (self.dead_dir if e.state == "dead" else self.queue_dir) / e.key
                if (directory / "state.json").exists():
                    self._remove_dir(directory)
                    count += 1
        return count

    # -- draining -----------------------------------------------------------------------------

    def _record_published(self, entry: QueueEntry, receipt: PublishReceipt, now: dt.datetime) -> None:
        record = {**receipt.to_dict(), "canonical_hash": entry.canonical_hash,
                  "publisher": entry.publisher, "published_at": _iso(now),
                  "source": entry.source, "project": entry.project}
        line = json.dumps(_jsonable(record), separators=(",", ":")).encode() + b"\n"
        fd = _open_private(self.published_dir / "receipts.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)  # one write per record: appends never interleave
        finally:
            os.close(fd)

    def record_published(self, receipt: PublishReceipt, *, publisher: str | None = None,
                         source: str | None = None, project: str | None = None) -> None:
        """Remember a receipt obtained outside a drain (so ``jux cache list`` shows the run id).

        Best effort: a write failure is logged, never raised.

        Args:
            receipt: The publisher's receipt.
            publisher: Configured publisher name (default: ``receipt.publisher``).
            source: Report file name, if known.
            project: Report project, if known.
        """
        entry = QueueEntry(canonical_hash=receipt.canonical_hash, publisher=publisher or receipt.publisher,
                           source=source, project=project)
        try:
            self._ensure()
            self._record_published(entry, receipt, _utcnow())
        except (OSError, ValueError) as exc:  # best effort: the publish itself succeeded
            log.warning("could not record the publish receipt in %s: %s", self.path, exc)

    def drain(
        self,
        publishers: Mapping[str, Publisher],
        *,
        now: dt.datetime | None = None,
        progress: Callable[[QueueEntry, str], None] | None = None,
        force: bool = False,
        limit: int | None = None,
        workers: int = 1,
    ) -> DrainResult:
        """Publish every due queued entry with the publisher of its name.

        Args:
            publishers: Publisher instances by name (entries of other names are skipped).
            now: Current time (UTC) for due-ness and backoff, for tests.
            progress: Called after each entry with ``(entry, outcome)``, outcome one of
                ``"published"``, ``"duplicate"``, ``"retrying"``, ``"dead"``, ``"skipped"``,
                ``"broken"`` (from worker threads when ``workers > 1``, one call at a time).
            force: Ignore ``next_attempt_at`` (try every queued entry now).
            limit: Try at most this many entries.
            workers: Entries published concurrently (threads sharing the publishers; the
                ``http`` publisher's pooled session is safe to share). Each entry is still
                processed under its own lock.

        One bad entry never stops a drain: an entry whose ``state.json`` cannot be read is
        dead-lettered with the reason (its bytes kept); one whose bytes cannot be read, or whose
        publisher fails in an unexpected way, is reported in :attr:`DrainResult.broken` or
        retried later; the drain goes on with the others.

        Returns:
            A :class:`DrainResult`.

        Raises:
            JuxError: the outbox directory cannot be written.
        """
        self._ensure()
        drain_lock = filelock.FileLock(str(self.locks_dir / "drain.lock"), mode=FILE_MODE)
        try:
            drain_lock.acquire(timeout=self.lock_timeout)
        except filelock.Timeout:
            return DrainResult(busy=True)
        published: list[tuple[QueueEntry, PublishReceipt]] = []
        retrying: list[QueueEntry] = []
        dead: list[QueueEntry] = []
        skipped: list[QueueEntry] = []
        broken: list[BrokenEntry] = []
        mutex = threading.Lock()
        # Published entries are renamed into trash/ at once (atomic removal) and deleted by a
        # background thread, overlapping slow unlinks with network waits.
        trash: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        for leftover in self._trash_leftovers():
            trash.put(leftover)

        def empty_trash() -> None:
            while (item := trash.get()) is not None:
                shutil.rmtree(item, ignore_errors=True)

        cleaner = threading.Thread(target=empty_trash, name="jux-outbox-trash", daemon=True)
        cleaner.start()

        def report(entry: QueueEntry, outcome: str, result: Any) -> None:
            with mutex:
                if outcome in ("published", "duplicate"):
                    published.append(result)
                elif outcome == "retrying":
                    retrying.append(result)
                elif outcome == "dead":
                    dead.append(result)
                elif outcome == "broken":
                    broken.append(result)
                else:
                    skipped.append(entry)
                if progress:
                    progress(entry, outcome)

        def one(entry: QueueEntry, pub: Publisher) -> None:
            t = now or _utcnow()
            lock = self._entry_lock(entry.key)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:  # another process works on it
                report(entry, "skipped", None)
                return
            result: Any
            try:
                outcome, result = self._drain_one(entry.key, pub, t, force=force, discard=trash.put)
            except Exception as exc:  # noqa: BLE001 - one bad entry never stops a drain: report it
                reason = _failure_line(exc)
                outcome, result = "broken", BrokenEntry(entry.key, self.queue_dir / entry.key, reason)
                log.warning("outbox entry %s could not be processed: %s", entry.key, reason)
            finally:
                lock.release()
            report(entry, outcome, result)

        def corrupt(key: str, problem: str) -> None:
            lock = self._entry_lock(key)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:  # another process works on it
                return
            try:
                try:
                    if self._load_entry(self.queue_dir / key) is not None:
                        return  # repaired meanwhile (a concurrent enqueue): the next drain sends it
                except _Corrupt:
                    pass
                entry = self._quarantine(key, problem, now or _utcnow())
                report(entry, "dead", entry)
            except Exception as exc:  # noqa: BLE001 - cannot even move it aside: report it in place
                why = f"{problem}; moving it aside failed: {_failure_line(exc)}"
                report(_entry_for_key(key), "broken", BrokenEntry(key, self.queue_dir / key, why))
            finally:
                lock.release()

        try:
            todo: list[tuple[QueueEntry, Publisher]] = []
            queued, corrupted = self._scan_queue()
            for key, problem in corrupted:
                corrupt(key, problem)
            for entry in queued:
                pub = publishers.get(entry.publisher)
                if pub is None or (not force and not entry.is_due(now or _utcnow())) or (
                        limit is not None and len(todo) >= limit):
                    report(entry, "skipped", None)
                    continue
                todo.append((entry, pub))
            if workers <= 1 or len(todo) <= 1:
                for entry, pub in todo:
                    one(entry, pub)
            else:
                with concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                           thread_name_prefix="jux-drain") as pool:
                    for fut in [pool.submit(one, e, p) for e, p in todo]:
                        fut.result()
        finally:
            trash.put(None)
            cleaner.join()
            drain_lock.release()
        return DrainResult(tuple(published), tuple(retrying), tuple(dead), tuple(skipped),
                           broken=tuple(broken))

    def _scan_queue(self) -> tuple[list[QueueEntry], list[tuple[str, str]]]:
        """Queued entries oldest first, and ``(key, problem)`` for each corrupt one."""
        good: list[QueueEntry] = []
        bad: list[tuple[str, str]] = []
        try:
            names = sorted(os.listdir(self.queue_dir))
        except FileNotFoundError:
            return [], []
        for name in names:
            if _split_key(name) is None:
                continue
            try:
                entry = self._load_entry(self.queue_dir / name)
            except _Corrupt as exc:
                bad.append((name, str(exc)))
                continue
            if entry is not None:
                good.append(entry)
        good.sort(key=lambda e: (e.created_at, e.canonical_hash, e.publisher))
        return good, bad

    def _quarantine(self, key: str, problem: str, now: dt.datetime) -> QueueEntry:
        """Dead-letter an entry whose state cannot be read, keeping its bytes (``jux queue retry`` works)."""
        directory = self.queue_dir / key
        base = _entry_for_key(key)
        try:
            data: bytes | None = (directory / "report.xml").read_bytes()
        except OSError:
            data = None
        entry = attrs.evolve(base, size=len(data or b""),
                             sha256=hashlib.sha256(data).hexdigest() if data is not None else "",
                             last_error=problem, path=directory)
        return self._to_dead(entry, directory, now, f"corrupt outbox entry: {problem}", None)

    def _drain_one(
        self, key: str, pub: Publisher, now: dt.datetime, *, force: bool,
        discard: Callable[[Path], None],
    ) -> tuple[str, tuple[QueueEntry, PublishReceipt] | QueueEntry | None]:
        directory = self.queue_dir / key
        entry = self._read_entry(directory)  # re-read under the lock: another drain may be done
        if entry is None or (not force and not entry.is_due(now)):
            return "skipped", None
        try:
            data = (directory / "report.xml").read_bytes()
        except FileNotFoundError:
            data = b""
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            return "dead", self._to_dead(entry, directory, now,
                                         "queued bytes are missing or corrupted (SHA-256 mismatch)", None)
        report = Report(
            data=data,
            summary=entry.summary,
            properties=entry.properties,
            canonical_hash=entry.canonical_hash,
            signed=entry.signed,
            source=entry.source,
        )
        try:
            receipt = pub.publish(report)
        except PermanentPublishError as exc:
            if _is_dead_letter(exc):
                return "dead", self._to_dead(entry, directory, now, _server_reason(exc), exc)
            return "retrying", self._failed(entry, directory, now, exc)
        except TransientPublishError as exc:
            failed = self._failed(entry, directory, now, exc)
            if failed.attempts >= self.max_attempts:
                reason = f"gave up after {failed.attempts} attempts: {exc.message}"
                return "dead", self._to_dead(failed, directory, now, reason, exc)
            return "retrying", failed
        except JuxError as exc:  # configuration (missing token secret…): keep it queued
            return "retrying", self._failed(entry, directory, now, exc)
        except Exception as exc:  # noqa: BLE001 - a publisher's bug must not stop the drain or lose the entry
            return "retrying", self._failed(entry, directory, now, unexpected_publish_error(entry.publisher, exc))
        self._record_published(entry, receipt, now)
        retired = self._retire(directory)  # the entry is gone from the queue from here on
        if retired is not None:
            discard(retired)
        return ("duplicate" if receipt.status == "duplicate" else "published"), (entry, receipt)

    def _failed(self, entry: QueueEntry, directory: Path, now: dt.datetime, exc: JuxError) -> QueueEntry:
        attempts = entry.attempts + 1
        updated = attrs.evolve(
            entry,
            attempts=attempts,
            last_error=exc.message,
            last_status=exc.status if isinstance(exc, PublishError) else None,
            next_attempt_at=now + dt.timedelta(seconds=self.backoff(attempts, retry_after=_retry_after(exc))),
            updated_at=now,
            details=_jsonable(dict(exc.details)) if isinstance(exc, PublishError) else {},
        )
        self._write_entry(directory, updated, None)
        return updated

    def _to_dead(self, entry: QueueEntry, directory: Path, now: dt.datetime, reason: str,
                 exc: JuxError | None) -> QueueEntry:
        target = self.dead_dir / entry.key
        dead = attrs.evolve(
            entry,
            state="dead",
            dead_reason=reason,
            last_error=exc.message if exc is not None else reason,
            last_status=exc.status if isinstance(exc, PublishError) else entry.last_status,
            updated_at=now,
            details=_jsonable(dict(exc.details)) if isinstance(exc, PublishError) else entry.details,
            path=target,
        )
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        _private_dir(target)
        with contextlib.suppress(FileNotFoundError):
            os.replace(directory / "report.xml", target / "report.xml")
        _write_atomic(target / "state.json", json.dumps(dead.to_dict(), indent=1).encode(),
                      durable=self.durable)
        self._remove_dir(directory)
        return dead


#: Longest wait a publisher's ``details["retry_after"]`` can impose on an entry, seconds (1 day).
MAX_RETRY_AFTER = 86400.0


def _retry_after(error: BaseException | None) -> float | None:
    """The server-requested wait of a failure, finite and within ``[0, MAX_RETRY_AFTER]``, or None."""
    if not isinstance(error, PublishError):
        return None
    value = error.details.get("retry_after")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


class _Corrupt(Exception):
    """An entry's ``state.json`` exists but cannot be used."""


def _entry_for_key(key: str) -> QueueEntry:
    split = _split_key(key)
    if split is None:
        raise ValueError(f"not an outbox entry name: {key!r}")
    return QueueEntry(canonical_hash=split[0], publisher=split[1])


def _failure_line(exc: BaseException) -> str:
    """One line for an unexpected failure: the message of a JuxError, else the type (and errno text)."""
    if isinstance(exc, JuxError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        name = Path(exc.filename).name if isinstance(exc.filename, str) else None
        return f"{type(exc).__name__}: {exc.strerror}" + (f" ({name})" if name else "")
    return type(exc).__name__


def unexpected_publish_error(publisher: str, exc: BaseException) -> TransientPublishError:
    """Map an exception a publisher should not have raised to a transient failure (kept, retried).

    Only the exception's type is kept: its text may carry anything, secrets included.
    """
    return TransientPublishError(
        f"publisher {publisher} failed unexpectedly ({type(exc).__name__})",
        hint="the report is kept in the outbox; report the bug to the publisher's authors",
        details={"exception": type(exc).__name__},
    )


# --- storage modes ---------------------------------------------------------------------------


def publish_with_mode(
    report: Report | SignedReport,
    publishers: Mapping[str, Publisher] | Sequence[Publisher],
    mode: str,
    outbox: Outbox | None = None,
) -> list[PublishOutcome]:
    """Publish ``report`` to every publisher as the storage mode says; one outcome each.

    * ``local``: nothing is published (returns ``[]``).
    * ``api`` / ``both``: publish; failures are reported in the outcomes (the caller decides
      that in ``api`` mode a failure is an error).
    * ``cache``: publish; whatever goes wrong is kept in ``outbox`` (:meth:`Outbox.record_failure`):
      queued (``queued=True``), or dead-lettered when the server rejected the report itself.
      Only a failure to write the outbox is an outcome error of its own, logged as an error.

    A publisher raising something other than a :class:`~juxsdk.errors.JuxError` is reported as a
    :class:`~juxsdk.errors.TransientPublishError` naming the exception type (never its text).

    Args:
        report: The (signed) report; its exact bytes are sent.
        publishers: Publisher instances, by name or as a sequence (their ``name`` is used).
        mode: ``"local"``, ``"api"``, ``"both"`` or ``"cache"``.
        outbox: Queue for ``cache`` mode (default: :class:`Outbox` in the user data dir); in
            the other modes, where receipts are recorded when given.

    Returns:
        One :class:`PublishOutcome` per publisher, in order.

    Raises:
        juxsdk.errors.ConfigError: unknown ``mode``.
    """
    if mode not in STORAGE_MODES:
        raise ConfigError(f"unknown storage_mode {mode!r}", hint="use one of: " + ", ".join(STORAGE_MODES))
    if mode == "local":
        return []
    items: list[tuple[str, Publisher]] = (
        list(publishers.items()) if isinstance(publishers, Mapping)
        else [(p.name, p) for p in publishers]
    )
    outcomes: list[PublishOutcome] = []
    for name, pub in items:
        try:
            receipt = pub.publish(report)
        except Exception as exc:  # noqa: BLE001 - after the store nothing may be lost: see below
            error = exc if isinstance(exc, JuxError) else unexpected_publish_error(name, exc)
            outcomes.append(_keep(report, name, error, outbox if mode == "cache" else None, mode))
            continue
        outcomes.append(PublishOutcome(name, receipt=receipt))
        if outbox is not None:
            outbox.record_published(receipt, publisher=name, source=report.source, project=report.project)
    return outcomes


def _keep(report: Report | SignedReport, name: str, error: JuxError, outbox: Outbox | None,
          mode: str) -> PublishOutcome:
    """The outcome of a failed publish; in ``cache`` mode the report is kept in the outbox first."""
    if mode != "cache":
        return PublishOutcome(name, error=error)
    box = outbox if outbox is not None else Outbox()
    try:
        entry = box.record_failure(report, name, error)
    except Exception as qexc:  # noqa: BLE001 - the one failure that loses the publish: say so loudly
        why = _failure_line(qexc)
        log.error("report %s was NOT queued for %s: %s (the publish failed: %s)",
                  report.canonical_hash, name, why, error.message)
        lost = PublishError(
            f"publishing to {name} failed ({error.message}) and the report could NOT be queued: {why}",
            hint=f"fix the outbox ({box.path}) and publish the stored copy again with `jux publish`",
        )
        return PublishOutcome(name, error=lost)
    return PublishOutcome(name, error=error, queued=entry.state == "queued", dead=entry.state == "dead")
