"""The :class:`Outbox`: reading and writing the queue (the drain is in :mod:`.drain`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..config.model import JuxConfig, OutboxConfig
from ..errors import ConfigError, JuxError, PublishError, ReportNotFoundError, StoreError
from ..hashes import hash_prefix_digits
from ..models import PublishReceipt, Report, SignedReport, jsonable
from ..storage_mode import failure_line
from . import db
from .drain import Drain
from .entries import PublishState, QueueEntry, entry_key, utcnow
from .legacy import migrate, needs_migration
from .policy import DrainMode, backoff_delay, is_dead_letter, retry_after, server_reason

if TYPE_CHECKING:  # pragma: no cover
    from ..protocols import Publisher
    from .entries import DrainResult

__all__ = ["Outbox", "default_outbox_dir"]

log = logging.getLogger("juxsdk.outbox")


def default_outbox_dir() -> Path:
    """Return the default outbox directory: ``<user data dir>/outbox`` (``$JUX_DATA_DIR`` moves it)."""
    return OutboxConfig().resolved_path()


class Outbox:
    """A durable publish queue: one SQLite database in a private directory.

    See :mod:`juxsdk.outbox` for what it guarantees.

    Args:
        config: Where the outbox lives and its retry policy (``path``, ``max_attempts``,
            ``backoff_base``, ``backoff_max``); default :class:`~juxsdk.config.OutboxConfig`
            (its defaults are the outbox's only defaults).
        path: Outbox directory, replacing ``config.path``.
        durable: Make every commit durable (``fsync``); turn off only for tests and benchmarks.
        busy_timeout: How long an operation waits for another process's write, seconds.
        lease: How long a drain's claim on an entry holds, seconds, unless its drain is known to
            be gone sooner (a killed process); raise it for publishers slower than that.

    Raises:
        TypeError: ``config`` is a path (use ``path=``).
    """

    def __init__(
        self,
        config: OutboxConfig | None = None,
        *,
        path: Path | str | None = None,
        durable: bool = True,
        busy_timeout: float = 60.0,
        lease: float = 900.0,
    ) -> None:
        if config is None:
            config = OutboxConfig()
        elif isinstance(config, str | os.PathLike):
            raise TypeError("Outbox() takes an OutboxConfig; pass a directory as Outbox(path=...)")
        if path is not None:
            config = attrs.evolve(config, path=Path(path))
        self.config = config
        self.path = config.resolved_path().expanduser()
        self.durable = durable
        self.busy_timeout = float(busy_timeout)
        self.lease = float(lease)
        self._ready = False
        self._lock = threading.RLock()  # guards the shared connection and the first-open work
        self._conn: sqlite3.Connection | None = None
        self._conn_pid = 0
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @classmethod
    def from_config(cls, config: JuxConfig | OutboxConfig | None = None, **kwargs: Any) -> Outbox:
        """Build the outbox of a configuration (its ``[outbox]`` table).

        Args:
            config: A :class:`~juxsdk.config.JuxConfig` or its ``outbox`` section; None = defaults.
            **kwargs: Keyword arguments of :class:`Outbox` (``durable``, ``busy_timeout``, ``lease``).
        """
        # duck-typed: a JuxConfig has an ``outbox`` section, an OutboxConfig is one
        section: OutboxConfig | None = getattr(config, "outbox", config)  # type: ignore[arg-type]
        return cls(section, **kwargs)

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"

    @property
    def database(self) -> Path:
        """The database file, ``<path>/outbox.sqlite3``."""
        return self.path / db.DB_NAME

    @property
    def max_attempts(self) -> int:
        """Transient failures after which an entry is dead-lettered."""
        return self.config.max_attempts

    def backoff(self, attempts: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempts + 1`` (see :func:`.policy.backoff_delay`)."""
        return backoff_delay(attempts, base=self.config.backoff_base, maximum=self.config.backoff_max,
                             wait=retry_after)

    # -- connections --------------------------------------------------------------------------

    def open_connection(self, *, create: bool, synchronous: str | None = None) -> sqlite3.Connection | None:
        """Open a new connection to the database, creating it when ``create`` (and importing a
        directory outbox on first use). The caller closes it.

        Args:
            create: Create the directory and database when they do not exist.
            synchronous: ``PRAGMA synchronous`` for this connection (default ``FULL``, or ``OFF``
                when ``durable`` is false).

        Returns:
            The connection, or None when ``create`` is false and there is no outbox yet.

        Raises:
            sqlite3.Error, OSError: the directory or database cannot be created, opened or migrated.
            JuxError: the database was written by a newer juxsdk.
        """
        with self._lock:
            if not create and not self.database.exists() and not needs_migration(self.path):
                return None
            db.private_database(self.database)  # never let SQLite create it with the umask's mode
            conn = db.connect(self.database, timeout=self.busy_timeout,
                              synchronous=synchronous or ("FULL" if self.durable else "OFF"))
            try:
                if not self._ready:
                    imported = {r[0] for r in conn.execute("SELECT name FROM migrations")}
                    if needs_migration(self.path, imported):
                        migrate(conn, self.path)
                    self._ready = True
            except BaseException:
                conn.close()
                raise
            return conn

    @contextlib.contextmanager
    def _session(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        """The shared connection for one operation (None when there is no outbox and ``create``
        is false); database and file errors become one-line JuxErrors.

        One connection per :class:`Outbox`, kept open (closing the last connection of a WAL
        database checkpoints it: doing that per operation would double the cost of an enqueue)
        and used by one thread at a time. A forked child opens its own.
        """
        with self._lock, self.errors():
            if self._conn is not None and self._conn_pid != os.getpid():
                self._forget()  # inherited over fork(): the parent's to close, never ours to use
            if self._conn is None:
                conn = self.open_connection(create=create)
                if conn is None:
                    yield None
                    return
                self._conn, self._conn_pid = conn, os.getpid()
                self._finalizer = weakref.finalize(self, conn.close)
            yield self._conn

    def _forget(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
        self._conn = self._finalizer = None

    def close(self) -> None:
        """Close the shared connection (the outbox opens a new one when used again). Idempotent."""
        with self._lock:
            conn = self._conn if self._conn_pid == os.getpid() else None
            self._forget()
            if conn is not None:
                conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turn :mod:`sqlite3` and file errors into one-line :class:`~juxsdk.errors.JuxError` s."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise db.database_error(exc, self.database) from exc

    # -- reading ------------------------------------------------------------------------------

    def _entries(self, where: str, args: tuple[Any, ...] = ()) -> list[QueueEntry]:
        with self._session(create=False) as conn:
            rows = db.select_rows(conn, where, args)
        out = []
        for row in rows:
            if isinstance(row.entry, db.Corrupt):
                log.warning("ignoring the unreadable outbox entry %s: %s (a drain dead-letters it)",
                            row.key, row.entry)
            else:
                out.append(row.entry)
        return out

    def entries(self, *, include_dead: bool = False) -> list[QueueEntry]:
        """Return queued entries (and dead ones when asked), oldest first.

        Raises:
            JuxError: the database cannot be read.
        """
        return self._entries("1" if include_dead else "state = 'queued'")

    def dead_entries(self) -> list[QueueEntry]:
        """Return dead-lettered entries, oldest first."""
        return self._entries("state = 'dead'")

    def __len__(self) -> int:
        return len(self.entries())

    def read_bytes(self, entry: QueueEntry) -> bytes:
        """Return the exact queued bytes of ``entry``.

        Raises:
            ReportNotFoundError: the entry (or its bytes) is gone.
        """
        with self._session(create=False) as conn:
            row = conn.execute(
                "SELECT b.data FROM entries e JOIN blobs b ON b.sha256 = e.sha256 "
                "WHERE e.canonical_hash = ? AND e.publisher = ?", (entry.canonical_hash, entry.publisher),
            ).fetchone() if conn is not None else None
        if row is None or not isinstance(row[0], bytes):
            raise ReportNotFoundError(f"outbox entry {entry.key} is gone")
        return row[0]

    def published_records(self) -> list[dict[str, Any]]:
        """Return the receipts recorded for published reports (the latest per hash and publisher)."""
        with self._session(create=False) as conn:
            rows = conn.execute("SELECT record FROM published ORDER BY published_at").fetchall() \
                if conn is not None else []
        out = []
        for (text,) in rows:
            with contextlib.suppress(ValueError, TypeError, RecursionError):
                rec = json.loads(text)
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def states(self) -> dict[str, PublishState]:
        """Return the publish state of every report the outbox knows, by canonical hash.

        A report absent from the result is ``"local"`` (stored only); see :meth:`state_of`.
        """
        with self._session(create=False) as conn:
            if conn is None:
                return {}
            published = conn.execute("SELECT canonical_hash, publisher, run_id FROM published").fetchall()
            kept = conn.execute("SELECT canonical_hash, publisher, state, last_error, dead_reason FROM entries "
                                "ORDER BY state = 'queued', created_at").fetchall()
        per: dict[str, dict[str, str]] = {}
        runs: dict[str, dict[str, str]] = {}
        detail: dict[str, str] = {}
        for h, pub, run_id in published:
            per.setdefault(h, {})[pub] = "published"
            if run_id:
                runs.setdefault(h, {})[pub] = str(run_id)
        for h, pub, state, last_error, dead_reason in kept:  # dead first, then queued: queued wins
            per.setdefault(h, {})[pub] = state
            why = (dead_reason or last_error or "dead") if state == "dead" else last_error
            if why:
                detail[h] = str(why)
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
            The queued entry (the existing one, updated, when it was already queued; a fresh
            one when it was a dead letter).

        Raises:
            JuxError: the outbox cannot be written (or stays busy past ``busy_timeout``);
                ConfigError for an invalid publisher name.
        """
        return self._keep(report, publisher, error, now or utcnow(), dead=False)

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
        return self._keep(report, publisher, error, now or utcnow(), dead=is_dead_letter(error))

    def _keep(self, report: Report | SignedReport, publisher: str, error: BaseException | None,
              now: dt.datetime, *, dead: bool) -> QueueEntry:
        entry_key(report.canonical_hash, publisher)  # a valid name, before anything is written
        sha = hashlib.sha256(report.data).hexdigest()
        with self._session(create=True) as conn:
            assert conn is not None
            with db.immediate(conn):
                row = conn.execute("SELECT state, attempts, created_at, last_error, sha256, retry_after_until "
                                   "FROM entries WHERE canonical_hash = ? AND publisher = ?",
                                   (report.canonical_hash, publisher)).fetchone()
                queued = row is not None and row[0] == "queued" and isinstance(row[1], int) \
                    and isinstance(row[2], int)
                attempts = (row[1] if queued else 0) + (1 if error is not None else 0)
                wait = retry_after(error)
                # the server's wait: this failure's; without a failure, the one still pending
                server_until = now + dt.timedelta(seconds=wait) if wait is not None else (
                    db.from_us(row[5]) if queued and error is None and isinstance(row[5], int) else None)
                next_at = now + dt.timedelta(seconds=self.backoff(attempts, retry_after=wait))
                if server_until is not None and server_until > next_at:
                    next_at = server_until
                entry = QueueEntry(
                    canonical_hash=report.canonical_hash,
                    publisher=publisher,
                    state="dead" if dead else "queued",
                    attempts=attempts,
                    last_error=failure_line(error) if error is not None else (
                        row[3] if queued and isinstance(row[3], str) else None),
                    last_status=error.status if isinstance(error, PublishError) else None,
                    next_attempt_at=next_at,
                    created_at=db.from_us(row[2]) if queued else now,
                    updated_at=now,
                    size=len(report.data),
                    sha256=sha,
                    source=report.source,
                    project=report.project,
                    signed=bool(report.signed),
                    summary=report.summary,
                    properties=tuple(report.properties),
                    dead_reason=server_reason(error) if dead and isinstance(error, PublishError) else None,
                    details=jsonable(dict(error.details)) if isinstance(error, PublishError) else {},
                    retry_after_until=server_until,
                )
                db.put_blob(conn, sha, report.data)
                db.upsert_entry(conn, entry)
                if row is not None and row[4] != sha:
                    db.drop_blob_if_unused(conn, row[4])
        return entry

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
        try:
            with self._session(create=True) as conn:
                assert conn is not None
                with db.immediate(conn):
                    db.write_receipt(conn, receipt, receipt.canonical_hash, publisher or receipt.publisher,
                                  utcnow(), source=source, project=project)
        except JuxError as exc:  # best effort: the publish itself succeeded
            log.warning("could not record the publish receipt: %s", exc.message)

    def _match(self, hash_prefix: str | None) -> list[int]:
        """Row ids of the entries of the one report ``hash_prefix`` names (every entry for None)."""
        where: str = "1"
        args: tuple[Any, ...] = ()
        if hash_prefix is not None:
            try:
                digits = hash_prefix_digits(hash_prefix)
            except StoreError as exc:
                raise ConfigError(f"{hash_prefix!r} is not a canonical hash prefix",
                                  hint="give the first hex digits of the hash, e.g. 3fa9c1") from exc
            where, args = "substr(canonical_hash, 8, ?) = ?", (len(digits), digits)
        with self._session(create=False) as conn:
            rows = db.select_rows(conn, where, args)
        hashes = {r.canonical_hash for r in rows}
        if hash_prefix is not None and len(hashes) > 1:
            listed = ", ".join(sorted(h[7:19] for h in hashes))
            raise ConfigError(f"hash prefix {hash_prefix!r} is ambiguous: {listed}", hint="give more hex digits")
        return [r.id for r in rows]

    def retry(self, hash_prefix: str | None = None, *, now: dt.datetime | None = None) -> int:
        """Make matching entries due now; dead ones go back to the queue with attempts reset.

        A person asked for it: a server's pending ``Retry-After`` is forgotten too, so the next
        drain of any mode sends them.

        Args:
            hash_prefix: Canonical hash or a prefix of its hex digits; None = every entry.
            now: Current time (UTC), for tests.

        Returns:
            Number of entries reset.

        Raises:
            juxsdk.errors.ConfigError: the prefix is not hex or matches several reports.
            JuxError: the outbox cannot be written.
        """
        t = db.to_us(now or utcnow())
        ids = self._match(hash_prefix)
        if not ids:
            return 0
        with self._session(create=False) as conn:
            assert conn is not None
            with db.immediate(conn):
                count = 0
                for i in ids:
                    count += conn.execute(
                        "UPDATE entries SET attempts = CASE state WHEN 'dead' THEN 0 ELSE attempts END, "
                        "state = 'queued', next_attempt_at = ?1, updated_at = ?1, dead_reason = NULL, "
                        "retry_after_until = NULL "
                        "WHERE id = ?2", (t, i)).rowcount
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
            JuxError: the outbox cannot be written.
        """
        ids = self._match(hash_prefix)
        if not ids:
            return 0
        with self._session(create=False) as conn:
            assert conn is not None
            with db.immediate(conn):
                count = 0
                for i in ids:
                    row = conn.execute("DELETE FROM entries WHERE id = ? AND (? = 0 OR state = 'dead') "
                                       "RETURNING sha256", (i, int(dead_only))).fetchone()
                    if row is not None:
                        db.drop_blob_if_unused(conn, row[0])
                        count += 1
            if count:
                with contextlib.suppress(sqlite3.Error):  # best effort (a reader elsewhere: next time)
                    db.reclaim(conn)
        return count

    # -- draining -----------------------------------------------------------------------------

    def drain(
        self,
        publishers: Mapping[str, Publisher],
        *,
        now: dt.datetime | None = None,
        progress: Callable[[QueueEntry, str], None] | None = None,
        mode: DrainMode | str = DrainMode.AUTOMATIC,
        force: bool = False,
        limit: int | None = None,
        workers: int = 1,
    ) -> DrainResult:
        """Publish the queued entries that a drain of ``mode`` tries, with the publisher of its name.

        Which entries (:class:`~juxsdk.outbox.DrainMode`, :meth:`QueueEntry.held`):
        ``"automatic"`` (the default, for drains nobody asked for) only due ones — our backoff
        and a server's ``Retry-After`` are both waited out; ``"manual"`` (a person asked:
        ``jux publish --queue``) every queued entry but those whose server's ``Retry-After`` is
        not over; ``"now"`` every queued entry. Dead letters are never tried (:meth:`retry`
        puts them back). Every entry left alone is in :attr:`DrainResult.skipped` with its reason.

        Each entry is claimed in a ``BEGIN IMMEDIATE`` transaction before it is sent, and leaves
        the queue (with its receipt recorded) in one transaction after its publisher returned a
        receipt; so concurrent drains — threads or processes — never send the same entry, and a
        drain killed at any point loses nothing (its claims lapse; see :mod:`juxsdk.outbox`).

        Args:
            publishers: Publisher instances by name (entries of other names are skipped).
            now: Current time (UTC) for due-ness and backoff, for tests.
            progress: Called after each entry with ``(entry, outcome)``, outcome one of
                ``"published"``, ``"duplicate"``, ``"retrying"``, ``"dead"``, ``"skipped"``,
                ``"broken"`` (from worker threads when ``workers > 1``, one call at a time).
            mode: :class:`~juxsdk.outbox.DrainMode` or its name.
            force: Same as ``mode="now"`` (the spelling of juxsdk 0.1.0).
            limit: Try at most this many entries.
            workers: Entries published concurrently (threads sharing the publishers; the
                ``http`` publisher's pooled session is safe to share).

        One bad entry never stops a drain: an entry whose row cannot be decoded is dead-lettered
        with the reason (its bytes kept); one whose bytes are missing or changed is
        dead-lettered ("SHA-256 mismatch"); one that fails in an unexpected way is reported in
        :attr:`DrainResult.broken` and stays queued; the drain goes on with the others.

        Returns:
            A :class:`~juxsdk.outbox.DrainResult`.

        Raises:
            juxsdk.errors.ConfigError: ``mode`` is not a drain mode.
            JuxError: the database cannot be opened.
        """
        drain_mode = DrainMode.NOW if force else DrainMode.parse(mode)
        return Drain(self, publishers, now=now, progress=progress, mode=drain_mode, limit=limit).run(workers)
