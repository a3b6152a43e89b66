"""Import a directory outbox (juxsdk before the SQLite outbox) into the database, once.

The old layout under the outbox directory::

    queue/<hex>.<publisher>/report.xml   exact bytes       queue/<hex>.<publisher>/state.json
    dead/<hex>.<publisher>/…             dead letters      published/receipts.jsonl  receipts
    locks/…  trash/…                     lock files, entries being deleted

On the first open of such an outbox, inside one ``BEGIN IMMEDIATE`` transaction (so a second
process waits, then finds the work done): those directories are renamed into
``legacy-<UTC time>-<nonce>/``, every entry found there is imported with its state, attempts,
times, errors and exact bytes, every receipt too, and the backup is recorded in the
``migrations`` table. The backup directory is **kept** (``0700``, as private as the outbox) so
nothing is lost even if an entry could not be read; delete it once ``jux queue list`` shows your
entries. A backup renamed by a process that died before its commit is imported on the next open.

Entries are imported as the old code would have treated them: an entry whose ``state.json`` is
unreadable becomes a dead letter "corrupt outbox entry: …" with its bytes (``jux queue retry``
sends it); one without ``state.json`` (a crash in the middle of its first enqueue) is queued
again from its bytes; missing bytes are left missing, so a drain dead-letters the entry with
"SHA-256 mismatch" instead of sending something else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import attrs

from ..errors import JuxError, ReportError
from ..models import jsonable
from .db import drop_blob_if_unused, immediate, private_dir, put_blob, to_us, upsert_entry
from .entries import QueueEntry, split_key, utcnow

__all__ = ["LEGACY_DIRS", "migrate", "needs_migration"]

log = logging.getLogger("juxsdk.outbox")

#: Directories of the directory outbox (moved into the backup).
LEGACY_DIRS = ("queue", "dead", "published", "locks", "trash")
BACKUP_PREFIX = "legacy-"


def _backups(root: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [root / n for n in names if n.startswith(BACKUP_PREFIX) and (root / n).is_dir()]


def needs_migration(root: Path, imported: set[str] | None = None) -> bool:
    """True when ``root`` holds a directory outbox (or a backup not yet imported).

    Args:
        root: The outbox directory.
        imported: Names of the backups already imported; None means "unknown" (any backup counts).
    """
    if any((root / d).is_dir() for d in ("queue", "dead", "published")):
        return True
    return any(imported is None or b.name not in imported for b in _backups(root))


def migrate(conn: sqlite3.Connection, root: Path) -> int:
    """Move a directory outbox aside and import it (see the module docstring).

    Args:
        conn: An open outbox database.
        root: The outbox directory.

    Returns:
        Number of entries imported (0 when there was nothing to do).

    Raises:
        OSError, sqlite3.Error: the directories cannot be moved, or the database written.
    """
    total = 0
    with immediate(conn):  # the write lock: a second process waits, then finds nothing to do
        imported = {r[0] for r in conn.execute("SELECT name FROM migrations")}
        present = [d for d in LEGACY_DIRS if (root / d).exists()]
        if present:
            backup = root / f"{BACKUP_PREFIX}{utcnow():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
            private_dir(backup)
            for name in present:
                os.replace(root / name, backup / name)
        for backup in _backups(root):
            if backup.name in imported:
                continue
            entries, receipts = _import(conn, backup)
            conn.execute("INSERT INTO migrations (name, imported_at, entries, published) VALUES (?, ?, ?, ?)",
                         (backup.name, to_us(utcnow()), entries, receipts))
            log.info("imported the directory outbox %s: %d entries, %d receipts (kept as a backup)",
                     backup, entries, receipts)
            total += entries
    return total


def _import(conn: sqlite3.Connection, backup: Path) -> tuple[int, int]:
    count = 0
    for kind in ("dead", "queue"):  # a queued entry wins over a dead letter of the same pair
        try:
            names = sorted(os.listdir(backup / kind))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # the backup keeps them: say so, and let the outbox work
            log.warning("could not import %s: %s (it stays in the backup)", backup / kind,
                        exc.strerror or type(exc).__name__)
            continue
        for name in names:
            key = split_key(name)
            if key is None:
                continue
            entry, data = _read_entry(backup / kind / name, key, kind)
            if entry is None:
                continue
            old = conn.execute("SELECT sha256 FROM entries WHERE canonical_hash = ? AND publisher = ?",
                               key).fetchone()
            if data is not None:
                put_blob(conn, hashlib.sha256(data).hexdigest(), data)
            upsert_entry(conn, entry)
            if old is not None:
                drop_blob_if_unused(conn, old[0])
            count += 1
    # bytes no entry names (their state gave another SHA-256): the backup keeps them
    conn.execute("DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM entries)")
    return count, _import_receipts(conn, backup / "published" / "receipts.jsonl")


def _read_entry(directory: Path, key: tuple[str, str], kind: str) -> tuple[QueueEntry | None, bytes | None]:
    try:
        data: bytes | None = (directory / "report.xml").read_bytes()
    except OSError:
        data = None
    now = utcnow()
    try:
        raw = json.loads((directory / "state.json").read_bytes())
        entry = QueueEntry.from_dict(raw)
        if (entry.canonical_hash, entry.publisher) != key:
            raise ValueError("it names another entry")
        return attrs.evolve(entry, state="dead" if kind == "dead" else "queued"), data
    except FileNotFoundError:
        if data is None:
            return None, None
        return _from_bytes(key, data, now), data
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError, JuxError) as exc:
        reason = f"corrupt outbox entry: state.json could not be imported ({type(exc).__name__})"
        base = _from_bytes(key, data, now) if data is not None else QueueEntry(
            canonical_hash=key[0], publisher=key[1], created_at=now, updated_at=now, next_attempt_at=now)
        return attrs.evolve(base, state="dead", dead_reason=base.dead_reason or reason,
                            last_error=base.last_error or reason), data


def _from_bytes(key: tuple[str, str], data: bytes, now: dt.datetime) -> QueueEntry:
    """An entry rebuilt from its bytes (its state was never written, or is unreadable): queued."""
    from ..junit import parse_report  # lxml: only for this rare case

    base = QueueEntry(canonical_hash=key[0], publisher=key[1], created_at=now, updated_at=now,
                      next_attempt_at=now, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    try:
        report = parse_report(data)
    except ReportError as exc:
        return attrs.evolve(base, state="dead", dead_reason=f"queued bytes are not a report: {exc.message}",
                            last_error=exc.message)
    if report.canonical_hash != key[0]:
        reason = "queued bytes are not the report the entry names (canonical hash mismatch)"
        return attrs.evolve(base, state="dead", dead_reason=reason, last_error=reason)
    return attrs.evolve(base, source=report.source, project=report.project, signed=bool(report.signed),
                        summary=report.summary, properties=tuple(report.properties))


def _import_receipts(conn: sqlite3.Connection, path: Path) -> int:
    try:
        raw = path.read_bytes()
    except OSError:
        return 0
    count = 0
    for line in raw.splitlines():
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line torn by a crash
        if not isinstance(rec, dict):
            continue
        h, pub = rec.get("canonical_hash"), rec.get("publisher")
        if not isinstance(h, str) or not isinstance(pub, str):
            continue
        run_id = rec.get("run_id")
        conn.execute("INSERT OR REPLACE INTO published (canonical_hash, publisher, run_id, published_at, record) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (h, pub, str(run_id) if run_id else None, _published_at(rec), json.dumps(jsonable(rec))))
        count += 1
    return count


def _published_at(record: dict[str, Any]) -> int:
    try:
        return to_us(dt.datetime.fromisoformat(str(record.get("published_at"))))
    except (ValueError, OverflowError):
        return to_us(utcnow())
