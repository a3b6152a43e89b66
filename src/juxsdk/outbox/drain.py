"""One drain of the outbox: claim each due entry, publish it, settle it.

Per entry, three short transactions (each ``BEGIN IMMEDIATE``), none held during the network
call:

1. **claim**: re-read the row; if it is still queued, not held for the drain's mode (see
   :meth:`QueueEntry.held`: backoff and ``Retry-After`` for an automatic drain, ``Retry-After``
   for a manual one, nothing for ``now``), and not claimed by a live drain, write
   ``claim = <this drain>`` and ``claim_until = now + lease``;
2. publish the exact bytes (checked against their SHA-256 first);
3. **settle**: on success, record the receipt and delete the row in one transaction (only if
   this drain still holds the claim and the bytes are those it sent); on failure, update
   attempts, next attempt, last error — or dead-letter it — and drop the claim.

A drain killed between 2 and 3 leaves its claim behind; the next drain sees that the claiming
process is gone (or the lease ran out) and sends the entry again, which the server's dedupe
by canonical hash turns into "already there".
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import JuxError, PermanentPublishError, PublishError, TransientPublishError
from ..models import PublishReceipt, Report, jsonable
from ..storage_mode import failure_line, unexpected_publish_error
from . import db
from .entries import BrokenEntry, DrainResult, QueueEntry, SkippedEntry, utcnow
from .policy import DrainMode, is_dead_letter, retry_after, server_reason

if TYPE_CHECKING:  # pragma: no cover
    from ..protocols import Publisher
    from .core import Outbox

__all__ = ["Drain"]

log = logging.getLogger("juxsdk.outbox")

_MISSING = "queued bytes are missing or corrupted (SHA-256 mismatch)"


class Drain:
    """The state of one :meth:`juxsdk.outbox.Outbox.drain` (see there for the arguments)."""

    def __init__(self, outbox: Outbox, publishers: Mapping[str, Publisher], *, now: dt.datetime | None,
                 progress: Callable[[QueueEntry, str], None] | None, mode: DrainMode, limit: int | None) -> None:
        self.outbox = outbox
        self.publishers = publishers
        self.now = now
        self.progress = progress
        self.mode = mode
        self.limit = limit
        self.owner = ""
        self._mutex = threading.Lock()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self.published: list[tuple[QueueEntry, PublishReceipt]] = []
        self.retrying: list[QueueEntry] = []
        self.dead: list[QueueEntry] = []
        self.skipped: list[SkippedEntry] = []
        self.broken: list[BrokenEntry] = []

    @property
    def _synchronous(self) -> str:
        """A drain's bookkeeping is not fsynced per entry: in WAL mode a killed process loses
        nothing, and a power loss can at worst undo the last claims and results — the entry is
        then sent again (the server answers "already there") or retried one attempt early."""
        return "NORMAL" if self.outbox.durable else "OFF"

    def _time(self) -> dt.datetime:
        return self.now or utcnow()

    def run(self, workers: int) -> DrainResult:
        """Drain with ``workers`` threads; the result of every entry.

        Raises:
            JuxError: the database cannot be opened or read.
        """
        with self.outbox.errors():
            conn = self.outbox.open_connection(create=False, synchronous=self._synchronous)
            if conn is None:
                return DrainResult()
            self._conns.append(conn)
            self._local.conn = conn
            self.owner = db.new_owner()
            try:
                todo = self._plan(conn)
                if workers <= 1 or len(todo) <= 1:
                    for row, pub in todo:
                        self._one(row, pub)
                else:
                    with concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                               thread_name_prefix="jux-drain") as pool:
                        for fut in [pool.submit(self._one, r, p) for r, p in todo]:
                            fut.result()
                if self.published:
                    try:
                        db.reclaim(conn)
                    except sqlite3.Error as exc:  # a reader or writer elsewhere: next time
                        log.debug("outbox vacuum skipped: %s", exc)
            finally:
                db.release_owner(self.owner)
                for c in self._conns:
                    c.close()
        return DrainResult(tuple(self.published), tuple(self.retrying), tuple(self.dead), tuple(self.skipped),
                           tuple(self.broken))

    def _plan(self, conn: sqlite3.Connection) -> list[tuple[db.Row, Publisher]]:
        """The queued entries to try, in order; report the others (skipped, corrupt)."""
        todo: list[tuple[db.Row, Publisher]] = []
        now_us = db.to_us(utcnow())
        for row in db.select_rows(conn, "state = 'queued'"):
            if isinstance(row.entry, db.Corrupt):
                self._quarantine(conn, row)
                continue
            entry = row.entry
            pub = self.publishers.get(entry.publisher)
            skip = entry.held(self._time(), self.mode)
            if skip is None and pub is None:
                skip = SkippedEntry(entry, "no-publisher")
            if skip is None and not db.claim_is_stale(row.claim, row.claim_until, now_us):
                skip = SkippedEntry(entry, "claimed")
            if skip is None and self.limit is not None and len(todo) >= self.limit:
                skip = SkippedEntry(entry, "limit")
            if skip is not None or pub is None:
                self._report(entry, "skipped", skip)
                continue
            todo.append((row, pub))
        return todo

    def _report(self, entry: QueueEntry, outcome: str, result: Any) -> None:
        with self._mutex:
            if outcome in ("published", "duplicate"):
                self.published.append(result)
            elif outcome == "retrying":
                self.retrying.append(result)
            elif outcome == "dead":
                self.dead.append(result)
            elif outcome == "broken":
                self.broken.append(result)
            else:
                self.skipped.append(result)
            if self.progress:
                self.progress(entry, outcome)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (each worker thread opens its own)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.outbox.open_connection(create=False, synchronous=self._synchronous)
            if conn is None:
                raise JuxError(f"the outbox {self.outbox.database} disappeared during a drain")
            with self._mutex:
                self._conns.append(conn)
            self._local.conn = conn
        return conn

    def _broken(self, row: db.Row, entry: QueueEntry, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, sqlite3.Error) else failure_line(exc)
        log.warning("outbox entry %s could not be processed: %s", row.key, reason)
        try:  # let the next drain have it at once
            with db.immediate(self._conn()):
                self._conn().execute("UPDATE entries SET claim = NULL, claim_until = NULL WHERE id = ? AND claim = ?",
                                     (row.id, self.owner))
        except Exception:  # noqa: BLE001, S110 - the claim lapses with this drain anyway
            pass
        self._report(entry, "broken", BrokenEntry(row.key, self.outbox.database, reason))

    # -- one entry ----------------------------------------------------------------------------

    def _one(self, row: db.Row, pub: Publisher) -> None:
        entry = row.entry
        assert isinstance(entry, QueueEntry)
        try:
            conn = self._conn()
            fresh = self._claim(conn, row)
            if isinstance(fresh, SkippedEntry):
                self._report(fresh.entry, "skipped", fresh)
                return
            if isinstance(fresh.entry, db.Corrupt):  # edited since the scan
                self._quarantine(conn, fresh, claimed=True)
                return
            entry = fresh.entry
            outcome, result = self._publish(conn, row.id, entry, pub)
        except Exception as exc:  # noqa: BLE001 - one bad entry never stops a drain: report it
            self._broken(row, entry, exc)
            return
        self._report(entry, outcome, result)

    def _claim(self, conn: sqlite3.Connection, row: db.Row) -> db.Row | SkippedEntry:
        """Claim the entry for this drain: its current row, or why it is not ours to send (gone,
        dead-lettered or held meanwhile, claimed by another drain)."""
        now_us = db.to_us(utcnow())
        entry = row.entry
        assert isinstance(entry, QueueEntry)
        with db.immediate(conn):
            current = conn.execute(f"{db.SELECT_ENTRY} WHERE id = ?", (row.id,)).fetchone()
            if current is None:
                return SkippedEntry(entry, "claimed")  # another drain sent it meanwhile
            fresh = db.Row.of(current)
            if isinstance(fresh.entry, QueueEntry):
                if fresh.entry.state != "queued":
                    return SkippedEntry(fresh.entry, "claimed")  # another drain dead-lettered it
                held = fresh.entry.held(self._time(), self.mode)
                if held is not None:
                    return held
            if not db.claim_is_stale(fresh.claim, fresh.claim_until, now_us):
                return SkippedEntry(fresh.entry if isinstance(fresh.entry, QueueEntry) else entry, "claimed")
            conn.execute("UPDATE entries SET claim = ?, claim_until = ? WHERE id = ?",
                         (self.owner, now_us + int(self.outbox.lease * 1e6), row.id))
        return fresh

    def _publish(self, conn: sqlite3.Connection, row_id: int, entry: QueueEntry, pub: Publisher
                 ) -> tuple[str, Any]:
        found = conn.execute("SELECT data FROM blobs WHERE sha256 = ?", (entry.sha256,)).fetchone()
        data = found[0] if found is not None and isinstance(found[0], bytes) else None
        if data is None or hashlib.sha256(data).hexdigest() != entry.sha256:
            return "dead", self._settle(conn, row_id, entry, None, dead_reason=_MISSING)
        report = Report(data=data, summary=entry.summary, properties=entry.properties,
                        canonical_hash=entry.canonical_hash, signed=entry.signed, source=entry.source)
        try:
            receipt = pub.publish(report)
        except PermanentPublishError as exc:
            if is_dead_letter(exc):
                return "dead", self._settle(conn, row_id, entry, exc, dead_reason=server_reason(exc))
            return self._failed(conn, row_id, entry, exc)
        except TransientPublishError as exc:
            return self._failed(conn, row_id, entry, exc, give_up=True)
        except JuxError as exc:  # configuration (a missing token secret…): keep it queued
            return self._failed(conn, row_id, entry, exc)
        except Exception as exc:  # noqa: BLE001 - a publisher's bug must not stop the drain or lose the entry
            return self._failed(conn, row_id, entry, unexpected_publish_error(entry.publisher, exc))
        self._done(conn, row_id, entry, receipt)
        return ("duplicate" if receipt.status == "duplicate" else "published"), (entry, receipt)

    def _failed(self, conn: sqlite3.Connection, row_id: int, entry: QueueEntry, exc: JuxError, *,
                give_up: bool = False) -> tuple[str, QueueEntry]:
        settled = self._settle(conn, row_id, entry, exc, give_up=give_up)
        return ("dead" if settled.state == "dead" else "retrying"), settled

    def _settle(self, conn: sqlite3.Connection, row_id: int, entry: QueueEntry, exc: JuxError | None, *,
                dead_reason: str | None = None, give_up: bool = False) -> QueueEntry:
        """Record a failure (or dead-letter the entry) and drop the claim, in one transaction.

        Only the failure's columns are written, so bytes an ``enqueue`` put in meanwhile stay.
        When another drain took the claim over (this one outlived its lease), nothing is written.
        """
        t = self._time()
        with db.immediate(conn):
            row = conn.execute("SELECT attempts FROM entries WHERE id = ? AND claim = ?",
                               (row_id, self.owner)).fetchone()
            attempts = row[0] if row is not None and isinstance(row[0], int) else entry.attempts
            settled = attrs.evolve(entry, attempts=attempts)
            if dead_reason is None:
                assert exc is not None
                wait = retry_after(exc)
                settled = attrs.evolve(
                    settled, attempts=attempts + 1, last_error=exc.message,
                    last_status=exc.status if isinstance(exc, PublishError) else None,
                    next_attempt_at=t + dt.timedelta(seconds=self.outbox.backoff(attempts + 1, retry_after=wait)),
                    retry_after_until=t + dt.timedelta(seconds=wait) if wait is not None else None,
                    updated_at=t,
                    details=jsonable(dict(exc.details)) if isinstance(exc, PublishError) else {},
                )
                if give_up and settled.attempts >= self.outbox.max_attempts:
                    dead_reason = f"gave up after {settled.attempts} attempts: {exc.message}"
            if dead_reason is not None:
                settled = attrs.evolve(
                    settled, state="dead", dead_reason=dead_reason, updated_at=t,
                    last_error=exc.message if exc is not None else dead_reason,
                    last_status=exc.status if isinstance(exc, PublishError) else settled.last_status,
                    details=jsonable(dict(exc.details)) if isinstance(exc, PublishError) else settled.details,
                )
            if row is not None:
                values = db.entry_values(settled)
                conn.execute(
                    f"UPDATE entries SET {', '.join(f'{c} = ?' for c in _SETTLED)}, claim = NULL, "  # noqa: S608
                    "claim_until = NULL WHERE id = ? AND claim = ?",
                    (*[values[db.COLUMNS.index(c)] for c in _SETTLED], row_id, self.owner))
        return settled

    def _done(self, conn: sqlite3.Connection, row_id: int, entry: QueueEntry, receipt: PublishReceipt) -> None:
        """Record the receipt and take the entry out of the queue, in one transaction."""
        with db.immediate(conn):
            db.write_receipt(conn, receipt, entry.canonical_hash, entry.publisher, self._time(),
                          source=entry.source, project=entry.project)
            gone = conn.execute("DELETE FROM entries WHERE id = ? AND claim = ? AND sha256 = ? RETURNING sha256",
                                (row_id, self.owner, entry.sha256)).fetchone()
            if gone is not None:
                db.drop_blob_if_unused(conn, gone[0])
            else:  # new bytes were queued meanwhile (or the entry was dropped): leave them queued
                conn.execute("UPDATE entries SET claim = NULL, claim_until = NULL WHERE id = ? AND claim = ?",
                             (row_id, self.owner))

    def _quarantine(self, conn: sqlite3.Connection, row: db.Row, *, claimed: bool = False) -> None:
        """Dead-letter an entry whose row cannot be decoded, keeping its bytes (``jux queue retry`` works)."""
        assert isinstance(row.entry, db.Corrupt)
        problem = f"corrupt outbox entry: {row.entry}"
        try:
            with db.immediate(conn):
                current = conn.execute(f"{db.SELECT_ENTRY} WHERE id = ?", (row.id,)).fetchone()
                if current is None or not isinstance(db.Row.of(current).entry, db.Corrupt):
                    return  # gone, or repaired meanwhile (an enqueue): the next drain sends it
                if not claimed and not db.claim_is_stale(current[-2], current[-1], db.to_us(utcnow())):
                    return
                t = self._time()
                dead = attrs.evolve(db.repaired(current, t), state="dead", dead_reason=problem,
                                    last_error=problem, updated_at=t)
                values = db.entry_values(dead)
                conn.execute(f"UPDATE entries SET {', '.join(f'{c} = ?' for c in db.COLUMNS[2:])}, "  # noqa: S608
                             "claim = NULL, claim_until = NULL WHERE id = ?", (*values[2:], row.id))
        except Exception as exc:  # noqa: BLE001 - cannot even dead-letter it: report it in place
            stub = QueueEntry(canonical_hash=row.canonical_hash, publisher=row.publisher)
            self._broken(row, stub, exc)
            return
        log.warning("outbox entry %s dead-lettered: %s", row.key, problem)
        self._report(dead, "dead", dead)


#: The columns a failure changes (never the report's bytes or metadata).
_SETTLED = ("state", "attempts", "last_error", "last_status", "next_attempt_at", "updated_at",
            "dead_reason", "details", "retry_after_until")
