"""The outbox database: one SQLite file (stdlib :mod:`sqlite3`), WAL mode, private.

Schema (version 2, in ``PRAGMA user_version``); times are integer microseconds since the Unix
epoch, UTC::

    entries    one row per (canonical hash, publisher): state queued|dead, attempts,
               next_attempt_at, retry_after_until (the server's Retry-After, NULL when only
               our backoff delays the entry), last error/status/details, dead_reason, report
               metadata, sha256 of the exact bytes, and a drain's claim (owner, claim_until)
    blobs      sha256 -> the exact report bytes (shared by the entries of every publisher)
    published  the latest receipt per (canonical hash, publisher), for ``jux cache list``
    migrations directory-outbox backups already imported (see :mod:`juxsdk.outbox.legacy`)

Every write is one transaction opened with ``BEGIN IMMEDIATE`` (the write lock is taken at
once, so two writers never deadlock on a lock upgrade; a busy database is waited for up to
the busy timeout). WAL (https://www.sqlite.org/wal.html) lets ``jux queue list`` read while a
drain writes; ``synchronous=FULL`` makes every commit durable (``OFF`` when ``durable=False``,
for tests and benchmarks: still safe against a killed process, not against power loss).

The database and its ``-wal``/``-shm`` files are ``0600`` in a ``0700`` directory whatever the
umask: the file is created ``0600`` before SQLite opens it, and SQLite gives its companion files
the main file's mode.

Upgrades: a database of an older schema is brought up to date when it is opened, in one
``BEGIN IMMEDIATE`` transaction, by the steps of :data:`UPGRADES` (a new database runs the same
steps from version 0, so there is one path). Version 1 → 2 adds ``retry_after_until`` and fills
it for every entry from its last failure (``updated_at + details["retry_after"]``, see
:func:`juxsdk.outbox.entries.server_wait_until`), so an entry a server asked to wait keeps
waiting after the upgrade. A database of a newer schema is refused (``written by a newer juxsdk``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from ..errors import JuxError
from ..models import PublishReceipt, ReportSummary, jsonable
from .entries import QueueEntry, server_wait_until

__all__ = ["DB_NAME", "Corrupt", "connect", "immediate"]

DB_NAME = "outbox.sqlite3"
SCHEMA_VERSION = 2
#: Modes of everything the outbox creates (set exactly, whatever the umask).
FILE_MODE = 0o600
DIR_MODE = 0o700

#: Version 1 of the schema (the first SQLite outbox); :data:`UPGRADES` take it to the current one.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS entries (
    id              INTEGER PRIMARY KEY,
    canonical_hash  TEXT NOT NULL CHECK (length(canonical_hash) = 71
                        AND substr(canonical_hash, 1, 7) = 'sha256:'
                        AND substr(canonical_hash, 8) NOT GLOB '*[^0-9a-f]*'),
    publisher       TEXT NOT NULL CHECK (publisher GLOB '[A-Za-z0-9]*'
                        AND publisher NOT GLOB '*[^A-Za-z0-9_-]*'),
    state           TEXT NOT NULL CHECK (state IN ('queued', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_status     INTEGER,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    source          TEXT,
    project         TEXT,
    signed          INTEGER NOT NULL DEFAULT 0,
    summary         TEXT NOT NULL DEFAULT '{}',
    properties      TEXT NOT NULL DEFAULT '[]',
    dead_reason     TEXT,
    details         TEXT NOT NULL DEFAULT '{}',
    claim           TEXT,
    claim_until     INTEGER,
    UNIQUE (canonical_hash, publisher)
);
CREATE INDEX IF NOT EXISTS entries_by_state ON entries (state, created_at);
CREATE INDEX IF NOT EXISTS entries_by_bytes ON entries (sha256);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    data   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS published (
    canonical_hash TEXT NOT NULL,
    publisher      TEXT NOT NULL,
    run_id         TEXT,
    published_at   INTEGER NOT NULL,
    record         TEXT NOT NULL,
    PRIMARY KEY (canonical_hash, publisher)
);
CREATE TABLE IF NOT EXISTS migrations (
    name        TEXT PRIMARY KEY,
    imported_at INTEGER NOT NULL,
    entries     INTEGER NOT NULL,
    published   INTEGER NOT NULL
);
"""

#: Columns of ``entries`` read into a :class:`QueueEntry` (in this order), after ``id``.
COLUMNS = ("canonical_hash", "publisher", "state", "attempts", "last_error", "last_status",
           "next_attempt_at", "created_at", "updated_at", "size", "sha256", "source", "project",
           "signed", "summary", "properties", "dead_reason", "details", "retry_after_until")
SELECT_ENTRY = f"SELECT id, {', '.join(COLUMNS)}, claim, claim_until FROM entries"  # noqa: S608

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def to_us(t: dt.datetime) -> int:
    """A datetime as integer microseconds since the Unix epoch (naive = UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return (t - _EPOCH) // _US


def from_us(value: int) -> dt.datetime:
    """Inverse of :func:`to_us` (UTC, timezone-aware)."""
    return _EPOCH + dt.timedelta(microseconds=value)


# --- files -----------------------------------------------------------------------------------


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) and make it ``0700``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        mode = 0
    if mode & 0o7777 != DIR_MODE:
        os.chmod(path, DIR_MODE)


def private_database(path: Path) -> None:
    """Create the database file ``0600`` (or tighten it and its WAL files) before SQLite opens it.

    Raises:
        OSError: the directory or file cannot be created (a symlink in its place included).
    """
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0),
                 FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o7777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            companion = path.with_name(path.name + suffix)
            if os.lstat(companion).st_mode & 0o7777 != FILE_MODE:
                os.chmod(companion, FILE_MODE)


# --- connections -----------------------------------------------------------------------------


def connect(path: Path, *, timeout: float, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open the outbox database (it must exist), in WAL mode, with the schema in place.

    Args:
        path: The database file.
        timeout: How long a statement waits for another process's write lock, seconds.
        synchronous: ``PRAGMA synchronous``: ``FULL`` (every commit fsynced), ``NORMAL`` (in
            WAL mode: safe against a killed process, a power loss may undo the last commits),
            or ``OFF``.

    Raises:
        sqlite3.Error: not a database, damaged, locked past ``timeout``.
        JuxError: written by a newer juxsdk (unknown schema version).
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        # Freed b-tree cells (a deleted entry's server answers) are still zeroed, but freed
        # overflow pages (published report bytes, 2 ms per 360 kB with ON) are not.
        conn.execute("PRAGMA secure_delete = FAST")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        _wal(conn, timeout)
        if synchronous not in ("FULL", "NORMAL", "OFF"):
            raise ValueError(f"synchronous = {synchronous!r}")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        if version > SCHEMA_VERSION:
            raise JuxError(f"the outbox {path} was written by a newer juxsdk (schema {version})",
                           hint="upgrade juxsdk, or use another outbox path")
        if version < SCHEMA_VERSION:
            with immediate(conn):  # re-read inside the lock: another process may have done it
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                for step in UPGRADES[version:]:
                    step(conn)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.close()
        raise
    return conn


def _create_v1(conn: sqlite3.Connection) -> None:
    """Version 0 → 1: the tables of the first SQLite outbox."""
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _add_retry_after_until(conn: sqlite3.Connection) -> None:
    """Version 1 → 2: ``entries.retry_after_until``, filled from each entry's last failure.

    A row whose ``details`` or ``updated_at`` do not decode is left NULL (a drain dead-letters
    a row that does not decode anyway).
    """
    conn.execute("ALTER TABLE entries ADD COLUMN retry_after_until INTEGER")
    for row_id, details, updated_at in conn.execute("SELECT id, details, updated_at FROM entries").fetchall():
        try:
            until = server_wait_until(_json(details, dict, "details"), _time("updated_at")(updated_at))
        except (Corrupt, OverflowError):
            continue
        if until is not None:
            conn.execute("UPDATE entries SET retry_after_until = ? WHERE id = ?", (to_us(until), row_id))


#: Upgrade steps: ``UPGRADES[n]`` takes a database of version ``n`` to ``n + 1`` (inside the
#: caller's transaction). ``len(UPGRADES) == SCHEMA_VERSION``.
UPGRADES: tuple[Callable[[sqlite3.Connection], None], ...] = (_create_v1, _add_retry_after_until)


def _wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL (persistent in the file); another process switching at once is waited for."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # also when COMMIT itself failed (disk full, I/O error)
            conn.rollback()
        raise


def database_error(exc: sqlite3.Error | OSError, where: Path) -> JuxError:
    """One line for a database or file error, with a hint (the texts carry no report content)."""
    if isinstance(exc, OSError):
        return JuxError(f"cannot write to the outbox {where.parent}: {exc.strerror or type(exc).__name__}",
                        hint="check the permissions of the jux data directory")
    text = str(exc) or type(exc).__name__
    code = getattr(exc, "sqlite_errorname", "")  # Python >= 3.11: SQLITE_BUSY, SQLITE_CORRUPT…
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return JuxError(f"the outbox {where} is busy ({text})",
                        hint="another jux process holds it; try again in a moment")
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return JuxError(f"the outbox database {where} is damaged ({text})",
                        hint="move it aside and run again: reports stay in your stores, and "
                        "`jux publish FILE` sends one again")
    return JuxError(f"the outbox database {where} failed: {text}",
                    hint="check the disk (space, permissions) of the jux data directory")


# --- claims ----------------------------------------------------------------------------------

_HOST = socket.gethostname()
_LIVE: set[str] = set()  # claim owners of the drains running in this process
_LIVE_LOCK = threading.Lock()


def new_owner() -> str:
    """A fresh claim owner, ``<host>/<pid>/<nonce>``, registered as live in this process."""
    owner = f"{_HOST}/{os.getpid()}/{secrets.token_hex(8)}"
    with _LIVE_LOCK:
        _LIVE.add(owner)
    return owner


def release_owner(owner: str) -> None:
    """Forget a drain's owner (its remaining claims are stale from now on)."""
    with _LIVE_LOCK:
        _LIVE.discard(owner)


def claim_is_stale(owner: object, until: object, now_us: int) -> bool:
    """True when a drain may take over an entry claimed by ``owner`` until ``until``.

    A claim lapses when its lease ran out, or at once when its drain is known to be gone: a
    drain of this process that finished, or a process of this host that no longer exists (a
    SIGKILLed ``jux publish --queue``). SQLite's WAL mode needs every process on one host, so
    the process check is sound; the lease covers reused process ids.
    """
    if not isinstance(owner, str) or not isinstance(until, int) or until <= now_us:
        return True
    host, _, rest = owner.partition("/")
    pid_text, _, _ = rest.partition("/")
    if host != _HOST:
        return False
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        with _LIVE_LOCK:
            return owner not in _LIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, as another user
        return False
    return False


# --- rows ------------------------------------------------------------------------------------


class Corrupt(Exception):
    """A row of ``entries`` whose values cannot be used (someone edited the database)."""


@attrs.frozen
class Row:
    """A row of ``entries``: its id, key, decoded entry (or what is wrong with it) and claim."""

    id: int
    canonical_hash: str
    publisher: str
    entry: QueueEntry | Corrupt
    claim: Any
    claim_until: Any

    @property
    def key(self) -> str:
        """``<hex>.<publisher>``."""
        return f"{self.canonical_hash[7:]}.{self.publisher}"

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> Row:
        """Decode a row of :data:`SELECT_ENTRY`."""
        try:
            entry: QueueEntry | Corrupt = row_to_entry(row)
        except Corrupt as exc:
            entry = exc
        return cls(row[0], str(row[1]), str(row[2]), entry, row[-2], row[-1])


def _json(text: object, kind: type, name: str) -> Any:
    if not isinstance(text, str):
        raise Corrupt(f"{name} is not JSON text")
    try:
        value = json.loads(text)
    except RecursionError:
        raise Corrupt(f"{name} is nested too deeply") from None
    except ValueError:
        raise Corrupt(f"{name} is not valid JSON") from None
    if not isinstance(value, kind):
        raise Corrupt(f"{name} is not a JSON {'object' if kind is dict else 'array'}")
    return value


def _int(name: str, *, optional: bool = False, minimum: int | None = None) -> Callable[[object], Any]:
    def decode(value: object) -> int | None:
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
            raise Corrupt(f"{name} is not {'a non-negative integer' if minimum == 0 else 'an integer'}")
        return value
    return decode


def _text(name: str, *, optional: bool = False) -> Callable[[object], Any]:
    def decode(value: object) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise Corrupt(f"{name} is not text")
        return value
    return decode


def _time(name: str, *, optional: bool = False) -> Callable[[object], Any]:
    def decode(value: object) -> dt.datetime | None:
        if value is None and optional:
            return None
        try:
            return from_us(_int(name)(value))
        except OverflowError:
            raise Corrupt(f"{name} is out of range") from None
    return decode


def _summary(value: object) -> ReportSummary:
    data = _json(value, dict, "summary")
    counts = [data.get(k, 0) for k in ("tests", "failures", "errors", "skipped", "suites")]
    duration = data.get("time", 0.0)
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts) or \
            isinstance(duration, bool) or not isinstance(duration, int | float) or not math.isfinite(duration):
        raise Corrupt("summary is not a test summary")
    return ReportSummary.from_dict(data)


def _properties(value: object) -> tuple[tuple[str, str], ...]:
    items = _json(value, list, "properties")
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in items):
        raise Corrupt("properties are not [name, value] pairs")
    return tuple((p[0], p[1]) for p in items)


def _state(value: object) -> str:
    if value not in ("queued", "dead"):
        raise Corrupt("state is neither queued nor dead")
    return str(value)


#: Decoder of each column of :data:`COLUMNS` but the key: the value, or :class:`Corrupt`.
DECODE: dict[str, Callable[[object], Any]] = {
    "state": _state, "attempts": _int("attempts", minimum=0),
    "last_error": _text("last_error", optional=True), "last_status": _int("last_status", optional=True),
    "next_attempt_at": _time("next_attempt_at"), "created_at": _time("created_at"),
    "updated_at": _time("updated_at"), "size": _int("size", minimum=0), "sha256": _text("sha256"),
    "source": _text("source", optional=True), "project": _text("project", optional=True),
    "signed": lambda v: bool(_int("signed")(v)), "summary": _summary, "properties": _properties,
    "dead_reason": _text("dead_reason", optional=True), "details": lambda v: _json(v, dict, "details"),
    "retry_after_until": _time("retry_after_until", optional=True),
}


def row_to_entry(row: tuple[Any, ...]) -> QueueEntry:
    """Decode a row of :data:`SELECT_ENTRY` (``id`` first).

    Raises:
        Corrupt: a value has the wrong type or does not decode.
    """
    v = dict(zip(COLUMNS, row[1:], strict=False))
    return QueueEntry(canonical_hash=str(v["canonical_hash"]), publisher=str(v["publisher"]),
                      **{name: decode(v[name]) for name, decode in DECODE.items()})


def repaired(row: tuple[Any, ...], now: dt.datetime) -> QueueEntry:
    """The values of a corrupt row that still decode, defaults for the others (to dead-letter it)."""
    v = dict(zip(COLUMNS, row[1:], strict=False))
    defaults = QueueEntry(canonical_hash=str(v["canonical_hash"]), publisher=str(v["publisher"]),
                          next_attempt_at=now, created_at=now, updated_at=now)
    good: dict[str, Any] = {}
    for name, decode in DECODE.items():
        with contextlib.suppress(Corrupt):
            good[name] = decode(v[name])
    return attrs.evolve(defaults, **good)


def entry_values(entry: QueueEntry) -> tuple[Any, ...]:
    """The :data:`COLUMNS` values of ``entry`` (inverse of :func:`row_to_entry`)."""
    d = entry.to_dict()
    return (
        entry.canonical_hash, entry.publisher, entry.state, entry.attempts, entry.last_error,
        entry.last_status, to_us(entry.next_attempt_at), to_us(entry.created_at), to_us(entry.updated_at),
        entry.size, entry.sha256, entry.source, entry.project, int(entry.signed),
        json.dumps(d["summary"]), json.dumps(d["properties"]), entry.dead_reason,
        json.dumps(d["details"]),
        to_us(entry.retry_after_until) if entry.retry_after_until is not None else None,
    )


def upsert_entry(conn: sqlite3.Connection, entry: QueueEntry) -> None:
    """Insert ``entry``, or replace every value of the row of its (hash, publisher) but its claim."""
    names = ", ".join(COLUMNS)
    marks = ", ".join("?" for _ in COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[2:])
    conn.execute(f"INSERT INTO entries ({names}) VALUES ({marks}) "  # noqa: S608 - column names are constants
                 f"ON CONFLICT (canonical_hash, publisher) DO UPDATE SET {updates}", entry_values(entry))


def put_blob(conn: sqlite3.Connection, sha256: str, data: bytes) -> None:
    """Keep ``data`` under its SHA-256 hex (no-op when it is already there)."""
    if conn.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (sha256,)).fetchone() is None:
        conn.execute("INSERT INTO blobs (sha256, data) VALUES (?, ?)", (sha256, data))


def reclaim(conn: sqlite3.Connection) -> bool:
    """Give the pages of deleted report bytes back to the file system once they are half the file.

    ``VACUUM`` rewrites the live pages only, so its cost is at most that of the pages it frees
    (an ``auto_vacuum`` would instead move every freed page, which costs more than the drain
    itself); below half, SQLite reuses the free pages for the next reports. Best effort.

    Returns:
        True when the database was vacuumed.
    """
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    total = conn.execute("PRAGMA page_count").fetchone()[0]
    if not free or free * 2 < total:
        return False
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the file shrinks when the checkpoint ends
    return True


def drop_blob_if_unused(conn: sqlite3.Connection, sha256: object) -> None:
    """Delete the bytes of ``sha256`` once no entry refers to them."""
    conn.execute("DELETE FROM blobs WHERE sha256 = ?1 AND NOT EXISTS "
                 "(SELECT 1 FROM entries WHERE sha256 = ?1)", (sha256,))


def select_rows(conn: sqlite3.Connection | None, where: str, args: tuple[Any, ...] = ()) -> list[Row]:
    """Rows of ``entries`` matching ``where`` (a constant SQL condition), oldest first."""
    if conn is None:
        return []
    return [Row.of(row) for row in conn.execute(
        f"{SELECT_ENTRY} WHERE {where} ORDER BY created_at, canonical_hash, publisher", args)]


def write_receipt(conn: sqlite3.Connection, receipt: PublishReceipt, canonical_hash: str, publisher: str,
                  now: dt.datetime, *, source: str | None, project: str | None) -> None:
    """Record ``receipt`` (inside the caller's transaction): the latest per hash and publisher.

    The record is what ``published/receipts.jsonl`` held: the receipt's fields plus
    ``canonical_hash``, ``publisher``, ``published_at`` (ISO 8601), ``source`` and ``project``.
    """
    record = {**receipt.to_dict(), "canonical_hash": canonical_hash, "publisher": publisher,
              "published_at": now.astimezone(dt.UTC).isoformat(), "source": source, "project": project}
    conn.execute("INSERT OR REPLACE INTO published (canonical_hash, publisher, run_id, published_at, record) "
                 "VALUES (?, ?, ?, ?, ?)", (canonical_hash, publisher, receipt.run_id, to_us(now),
                                           json.dumps(jsonable(record), separators=(",", ":"))))
