"""``SqliteStore``: juxsdk reports in one SQLite database file.

Written only against juxsdk's public plugin module (:mod:`juxsdk.plugin`), as any third-party
backend should be. One table holds the exact report bytes and the metadata record::

    reports(hex TEXT PRIMARY KEY,     -- canonical hash without "sha256:"
            data BLOB,                -- the exact bytes (never re-serialised)
            record TEXT,              -- StoredReport.to_dict() as JSON
            project TEXT,             -- first "project" property, for the list filter
            stored_at_us INTEGER,     -- stored_at in microseconds since the epoch (UTC)
            failed INTEGER,           -- 1 when the report has failures or errors
            idem TEXT)                -- the report's idempotency key (juxsdk.Jux.submit), if any

Writers take SQLite's write lock (``BEGIN IMMEDIATE``) for the compare-and-write of ``put``,
so concurrent threads and processes sharing the file stay consistent, and the replace rule
every store follows (:func:`juxsdk.plugin.decide_put`: an unsigned report never replaces a
signed one) cannot be raced past. The same transaction looks up the report's idempotency key
(``idem``): a report whose input was already submitted with the same configuration is not stored
again (``decide_put`` says ``"duplicate"`` and ``put`` returns the stored record), which is what
makes a retried ``jux submit`` idempotent with this store. Records are validated when read
(:func:`juxsdk.plugin.read_sidecar`); ``list`` skips and reports a corrupt one. The file uses
WAL mode.
"""

from __future__ import annotations

import builtins
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs

from juxsdk.config.numbers import SECONDS
from juxsdk.plugin import (
    CorruptSidecarError,
    Report,
    ReportNotFoundError,
    SignedReport,
    StoredReport,
    StoreError,
    canonical_hex,
    decide_put,
    encode_sidecar,
    read_sidecar,
    select_records,
    stored_record,
)

__all__ = ["SqliteStore"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    hex TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    record TEXT NOT NULL,
    project TEXT,
    stored_at_us INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    idem TEXT
);
CREATE INDEX IF NOT EXISTS reports_stored_at ON reports (stored_at_us);
CREATE INDEX IF NOT EXISTS reports_project ON reports (project);
"""
#: Databases made before the ``idem`` column existed get it (and its index) when opened.
_MIGRATE = """
ALTER TABLE reports ADD COLUMN idem TEXT;
"""
_IDEM_INDEX = "CREATE INDEX IF NOT EXISTS reports_idem ON reports (idem)"


def _to_path(value: str | Path) -> Path:
    return Path(value).expanduser()


def _micros(value: dt.datetime) -> int:
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return (aware - _EPOCH) // dt.timedelta(microseconds=1)


class SqliteStore:
    """Stores reports in one SQLite file, keyed by canonical hash.

    Args:
        options: :class:`SqliteStore.Options`. The constructor does no I/O; the database is
            created on first use.
    """

    name: ClassVar[str] = "sqlite"

    @attrs.frozen
    class Options:
        """Options of the ``sqlite`` store (``[tool.jux.backends.sqlite]``).

        Attributes:
            path: The database file (created with its parent directories; ``~`` expanded).
            timeout: Seconds to wait for another writer's lock before failing (0 … one week).
        """

        path: Path = attrs.field(converter=_to_path)
        timeout: float = attrs.field(default=30.0, validator=SECONDS)

    def __init__(self, options: SqliteStore.Options) -> None:
        self.options = options
        self.path = options.path
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SqliteStore(path={str(self.path)!r})"

    # -- plumbing -------------------------------------------------------------------------

    def _error(self, exc: Exception, action: str) -> StoreError:
        return StoreError(
            f"sqlite store: cannot {action} in {self.path}: {exc}",
            hint="check that the file is a writable SQLite database and not locked for too long",
        )

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self.options.timeout, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(reports)")}
                if "idem" not in columns:
                    conn.executescript(_MIGRATE)
                conn.execute(_IDEM_INDEX)
            except (OSError, sqlite3.Error) as exc:
                raise self._error(exc, "open the database") from exc
            self._conn = conn
        return self._conn

    def _hex(self, canonical_hash: str) -> str:
        return canonical_hex(canonical_hash)

    def _query(self, action: str, sql: str, params: tuple[Any, ...] = ()) -> builtins.list[Any]:
        with self._lock:
            try:
                return self._db().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, action) from exc

    def _record(self, hexd: str, raw: str | bytes, size: int) -> StoredReport:
        """Validate a stored record (``size``: length of the stored bytes).

        Raises:
            juxsdk.errors.CorruptSidecarError: the record is not a valid sidecar for ``hexd``.
        """
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        return read_sidecar(data, canonical_hash=f"sha256:{hexd}", where=self._location(hexd), size=size)

    def _location(self, hexd: str) -> str:
        return f"sqlite://{self.path}#{hexd}"

    # -- Store protocol -------------------------------------------------------------------

    def put(self, report: Report | SignedReport, *, replace: bool = False) -> StoredReport:
        """Store ``report`` (idempotent); different bytes under its hash follow
        :func:`juxsdk.plugin.decide_put` inside one write transaction.

        Raises:
            juxsdk.errors.StoreConflictError: the replace rule refused; nothing was written.
            juxsdk.errors.StoreError: invalid hash or a database error.
        """
        hexd = self._hex(report.canonical_hash)
        data = bytes(report.data)
        with self._lock:
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    row = db.execute("SELECT data, record FROM reports WHERE hex = ?", (hexd,)).fetchone()
                    stored = bytes(row[0]) if row is not None else None
                    old: StoredReport | None = None
                    if row is not None:
                        try:
                            old = self._record(hexd, row[1], len(row[0]))
                        except CorruptSidecarError:
                            old = None  # rewritten below
                    submitted = self._submitted(db, report.idempotency_key, hexd)
                    decision = decide_put(
                        stored, report, replace=replace, where=self._location(hexd), existing=old, submitted=submitted
                    )
                    if decision.submitted is not None:
                        db.execute("COMMIT")
                        return decision.submitted
                    if not decision.writes and old is not None:
                        db.execute("COMMIT")
                        return old
                    record = stored_record(
                        report,
                        store=self.name,
                        location=self._location(hexd),
                        stored_at=old.stored_at if old is not None else None,
                    )
                    db.execute(
                        "INSERT OR REPLACE INTO reports (hex, data, record, project, stored_at_us, failed, idem) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            hexd,
                            data,
                            encode_sidecar(record).decode("utf-8", "surrogateescape"),
                            record.project,
                            _micros(record.stored_at),
                            0 if record.summary.ok else 1,
                            record.idempotency_key,
                        ),
                    )
                    db.execute("COMMIT")
                    return record
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._error(exc, "store a report") from exc

    def _submitted(self, db: sqlite3.Connection, key: str | None, hexd: str) -> StoredReport | None:
        """The newest other report stored under the idempotency key ``key`` (inside the caller's
        transaction), or None."""
        if key is None:
            return None
        row = db.execute(
            "SELECT hex, record, length(data) FROM reports WHERE idem = ? AND hex != ? "
            "ORDER BY stored_at_us DESC LIMIT 1",
            (key, hexd),
        ).fetchone()
        if row is None:
            return None
        try:
            return self._record(row[0], row[1], row[2])
        except CorruptSidecarError:
            return None

    def find_submission(self, key: str) -> StoredReport | None:
        """The record of the report stored last under an idempotency key, or None (an indexed query).

        Raises:
            juxsdk.errors.StoreError: a database error.
        """
        rows = self._query(
            "read",
            "SELECT hex, record, length(data) FROM reports WHERE idem = ? ORDER BY stored_at_us DESC LIMIT 1",
            (key,),
        )
        if not rows:
            return None
        try:
            return self._record(rows[0][0], rows[0][1], rows[0][2])
        except CorruptSidecarError:
            return None

    def get(self, canonical_hash: str) -> bytes:
        """Return the exact stored bytes.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing stored under that hash.
            juxsdk.errors.StoreError: invalid hash or a database error.
        """
        rows = self._query("read", "SELECT data FROM reports WHERE hex = ?", (self._hex(canonical_hash),))
        if not rows:
            raise ReportNotFoundError(f"no report {canonical_hash} in {self.path}")
        return bytes(rows[0][0])

    def exists(self, canonical_hash: str) -> bool:
        """Return True when a report is stored under that hash."""
        return bool(self._query("read", "SELECT 1 FROM reports WHERE hex = ?", (self._hex(canonical_hash),)))

    def metadata(self, canonical_hash: str) -> StoredReport:
        """Return the validated metadata record.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing stored under that hash.
            juxsdk.errors.CorruptSidecarError: the stored record is not a valid sidecar.
        """
        hexd = self._hex(canonical_hash)
        rows = self._query("read", "SELECT record, length(data) FROM reports WHERE hex = ?", (hexd,))
        if not rows:
            raise ReportNotFoundError(f"no report {canonical_hash} in {self.path}")
        return self._record(hexd, rows[0][0], rows[0][1])

    def list(
        self,
        *,
        project: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        failed_only: bool = False,
    ) -> Iterator[StoredReport]:
        """Yield matching records, oldest ``stored_at`` first (filters run in SQL).

        A record that fails validation is skipped and reported
        (:func:`juxsdk.plugin.report_store_problem`, through ``select_records``).
        """
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if since is not None:
            where.append("stored_at_us >= ?")
            params.append(_micros(since))
        if until is not None:
            where.append("stored_at_us < ?")
            params.append(_micros(until))
        if failed_only:
            where.append("failed = 1")
        sql = "SELECT hex, record, length(data) FROM reports"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query("list", sql + " ORDER BY stored_at_us, hex", tuple(params))
        return iter(select_records(self._checked(rows)))

    def _checked(self, rows: builtins.list[Any]) -> Iterator[StoredReport | StoreError]:
        """Validate each row's record; a corrupt one is yielded as its error (reported, skipped)."""
        for hexd, raw, size in rows:
            try:
                yield self._record(hexd, raw, size)
            except CorruptSidecarError as exc:
                yield exc

    def delete(self, canonical_hash: str) -> bool:
        """Delete a report; return False when it was not there."""
        hexd = self._hex(canonical_hash)
        with self._lock:
            try:
                return self._db().execute("DELETE FROM reports WHERE hex = ?", (hexd,)).rowcount > 0
            except sqlite3.Error as exc:
                raise self._error(exc, "delete a report") from exc

    def close(self) -> None:
        """Close the database connection (idempotent; the next call reopens it)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
