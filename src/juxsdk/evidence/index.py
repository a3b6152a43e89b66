"""The evidence index: an embedded SQLite database of verified reports and their test outcomes.

It holds, for every report an audit (or ``jux submit``) verified: the verified summary,
properties and signer, when and how it was verified, the last evidence policy's verdict, and
each testcase's outcome (classname, name, status, duration, failure message). Reports that
failed verification are recorded too — as *not evidence*, with the reason and nothing read from
their content — so a later report can mark them. Nothing in it comes from unverified bytes.

Storage: one SQLite 3 file (https://sqlite.org/fileformat.html) in WAL journal mode
(https://sqlite.org/wal.html): readers never block the writer. Default path
``<user data dir>/index.sqlite3``; configurable (``[index] path`` in the configuration). The
schema is versioned (table ``schema_version``) and upgraded by the migrations in
:data:`MIGRATIONS` when an index is opened; an index made by a newer juxsdk is refused.

Tables: ``reports`` (one row per canonical hash), ``properties`` (verified properties),
``test_names`` (each distinct ``classname``/``name`` of a project once: a test's identity is
per project, so a name query with a project filter only ever touches that project's outcomes) and
``outcomes`` (one row per
testcase of a report, clustered by report, indexed by test for name queries).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import EvidenceIndexError, ReportNotFoundError, StoreError
from ..models import hash_prefix_digits
from .results import ReportAudit
from .rows import IndexedReport, TestRow, _parse_ts, ts
from .testcases import STATUSES, Row, TestOutcome, test_id

__all__ = ["INDEX_FILE_NAME", "MIGRATIONS", "SCHEMA_VERSION", "Index", "IndexedReport", "TestRow", "default_path"]


#: File name of the index inside the user data directory.
INDEX_FILE_NAME = "index.sqlite3"

_SCHEMA_1 = """
CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    canonical_hash TEXT NOT NULL UNIQUE,
    verified INTEGER NOT NULL,
    project TEXT,
    claimed_project TEXT,
    branch TEXT,
    commit_sha TEXT,
    run_time TEXT,
    sort_time TEXT NOT NULL,
    tests INTEGER, failures INTEGER, errors INTEGER, skipped INTEGER, duration REAL, suites INTEGER,
    signer TEXT, algorithm TEXT, key_fingerprint TEXT, certificate_fingerprint TEXT,
    certificate_subject TEXT, trust TEXT,
    verified_at TEXT NOT NULL,
    error TEXT, error_type TEXT,
    policy TEXT, policy_ok INTEGER, violations TEXT,
    store TEXT, location TEXT, source TEXT, stored_at TEXT,
    has_tests INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reports_project ON reports (project, branch, sort_time);
CREATE INDEX reports_commit ON reports (commit_sha);
CREATE INDEX reports_time ON reports (sort_time);
CREATE TABLE properties (
    report_id INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (report_id, seq)
) WITHOUT ROWID;
CREATE TABLE test_names (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, classname TEXT NOT NULL, name TEXT NOT NULL,
    test_id TEXT NOT NULL, UNIQUE (project, classname, name)
);
CREATE TABLE outcomes (
    report_id INTEGER NOT NULL, seq INTEGER NOT NULL, test INTEGER NOT NULL,
    status INTEGER NOT NULL, duration REAL NOT NULL, message TEXT,
    PRIMARY KEY (report_id, seq)
) WITHOUT ROWID;
CREATE INDEX outcomes_test ON outcomes (test, report_id);
"""

#: ``(version, SQL script)``: applied in order to bring an index to :data:`SCHEMA_VERSION`.
MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _SCHEMA_1),)
#: The schema version this juxsdk writes.
SCHEMA_VERSION = MIGRATIONS[-1][0]

_STATUS_CODE = {name: i for i, name in enumerate(STATUSES)}
_REPORT_COLUMNS = (
    "canonical_hash, verified, project, claimed_project, branch, commit_sha, run_time, sort_time, tests, "
    "failures, errors, skipped, duration, suites, signer, algorithm, key_fingerprint, certificate_fingerprint, "
    "certificate_subject, trust, verified_at, error, error_type, policy, policy_ok, violations, store, location, "
    "source, stored_at, has_tests"
)


def default_path() -> Path:
    """``<user data dir>/index.sqlite3`` (see :func:`juxsdk.config.user_data_dir`)."""
    from ..config import user_data_dir

    return user_data_dir() / INDEX_FILE_NAME


def _glob(value: str) -> bool:
    return any(c in value for c in "*?[")


class Index:
    """The evidence index (see the module documentation).

    Args:
        path: The SQLite file; default :func:`default_path`. Its directory is created.

    Raises:
        EvidenceIndexError: the file cannot be opened, is not an index, or was made by a newer
            juxsdk.

    Use as a context manager, or call :meth:`close`. Writes are grouped in one transaction
    until :meth:`commit` (which :meth:`close` calls).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self._lock = threading.RLock()
        self._names: dict[tuple[str, str, str], int] = {}
        self._in_tx = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc, "open") from exc
        try:
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA cache_size = -65536")  # 64 MiB
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise self._error(exc, "open") from exc
        except EvidenceIndexError:
            self._db.close()
            raise

    @classmethod
    def from_config(cls, config: Any = None) -> Index:
        """Open the index the configuration names (``[index] path``), else the default one.

        Args:
            config: A :class:`juxsdk.JuxConfig`; default :func:`juxsdk.load_config()`.

        Raises:
            juxsdk.errors.ConfigError: invalid configuration.
            EvidenceIndexError: see :class:`Index`.
        """
        if config is None:
            from ..config import load_config

            config = load_config()
        section = getattr(config, "index", None)
        return cls(getattr(section, "path", None))

    # -- plumbing -------------------------------------------------------------------------

    def _error(self, exc: BaseException, action: str) -> EvidenceIndexError:
        text = str(exc) or type(exc).__name__
        hint = "check the path and its permissions ([index] path in the configuration)"
        if "not a database" in text or "malformed" in text:
            hint = f"move {self.path} away and run `jux index rebuild`"
        return EvidenceIndexError(f"evidence index {self.path}: cannot {action}: {text}", hint=hint)

    def _migrate(self) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = self._version()
        if current > SCHEMA_VERSION:
            raise EvidenceIndexError(
                f"evidence index {self.path} has schema version {current}; this juxsdk knows up to {SCHEMA_VERSION}",
                hint="upgrade juxsdk, or point [index] path at another file",
            )
        for version, script in MIGRATIONS:
            if version <= current:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                if self._version() < version:  # another process may have migrated meanwhile
                    for statement in script.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("DELETE FROM schema_version")
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            current = version

    def _version(self) -> int:
        row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    @property
    def schema_version(self) -> int:
        """The schema version of the open index."""
        with self._lock:
            return self._version()

    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def commit(self) -> None:
        """Make the writes so far durable and visible to other readers.

        Raises:
            EvidenceIndexError: the database refused the commit.
        """
        with self._lock:
            if not self._in_tx:
                return
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._error(exc, "commit") from exc
            finally:
                self._in_tx = False

    def rollback(self) -> None:
        """Discard the writes since the last :meth:`commit`."""
        with self._lock:
            if self._in_tx:
                self._in_tx = False
                self._names.clear()
                self._db.execute("ROLLBACK")

    def close(self) -> None:
        """Commit and close (idempotent)."""
        with self._lock:
            if getattr(self, "_db", None) is None:
                return
            try:
                self.commit()
            finally:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> Index:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self.rollback()
        self.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            if getattr(self, "_db", None) is None:
                raise EvidenceIndexError(f"evidence index {self.path} is closed")
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, "read") from exc

    # -- writing --------------------------------------------------------------------------

    def _name_ids(self, project: str, outcomes: Sequence[Row]) -> list[int]:
        """The ``test_names`` id of each outcome's test, adding new names (inside the write transaction)."""
        names = self._names
        missing = list(dict.fromkeys(k for o in outcomes if (k := (project, o[0], o[1])) not in names))
        if missing:
            db = self._db
            # names another writer added since this cache was filled
            for chunk in range(0, len(missing), 500):
                part = [[c, n] for _, c, n in missing[chunk : chunk + 500]]
                for nid, classname, name in db.execute(
                    "SELECT t.id, t.classname, t.name FROM json_each(?) j JOIN test_names t "
                    "ON t.project = ? AND t.classname = j.value ->> 0 AND t.name = j.value ->> 1",
                    (json.dumps(part), project),
                ):
                    names[(project, classname, name)] = int(nid)
            new = [k for k in missing if k not in names]
            if new:  # ids are allocated here: this connection holds the write lock (BEGIN IMMEDIATE)
                (top,) = db.execute("SELECT coalesce(max(id), 0) FROM test_names").fetchone()
                rows = [(top + 1 + i, p, c, n, test_id(c, n)) for i, (p, c, n) in enumerate(new)]
                db.executemany(
                    "INSERT INTO test_names (id, project, classname, name, test_id) VALUES (?, ?, ?, ?, ?)", rows
                )
                names.update(((p, c, n), nid) for nid, p, c, n, _ in rows)
        return [names[(project, o[0], o[1])] for o in outcomes]

    def record(self, audit: ReportAudit, *, policy: str | None = None) -> bool:
        """Record one audit result (in the current transaction).

        A verified report gets its summary, properties, signer and, when ``audit.testcases``
        is set, its test outcomes (otherwise outcomes indexed earlier for the same hash are
        kept: they are a function of the signed content). A report that failed verification is
        recorded as not evidence: its reason, and nothing from its content. ``error`` results
        (unreadable) and results without a canonical hash change nothing.

        Args:
            audit: The result.
            policy: Label of the policy that judged it; its verdict is stored only when the
                policy selected the report (``audit.selected``).

        Returns:
            True when something was written.

        Raises:
            EvidenceIndexError: the database refused the write.
        """
        if audit.canonical_hash is None or audit.status == "error":
            return False
        with self._lock:
            try:
                self._begin()
                self._write(audit, policy)
            except sqlite3.Error as exc:
                self.rollback()
                raise self._error(exc, "write") from exc
        return True

    def _write(self, a: ReportAudit, policy: str | None) -> None:
        db = self._db
        verified = a.signature is not None and a.summary is not None
        judged = policy is not None and a.selected and a.status in ("ok", "violation")
        run = None
        time = a.verified_at or dt.datetime.now(dt.UTC)
        if verified:
            from .policy import run_time

            run = run_time(a.properties)
        sort_time = run or a.stored_at or time
        s, sig = a.summary, a.signature
        values: dict[str, Any] = {
            "canonical_hash": a.canonical_hash,
            "verified": int(verified),
            "project": a.project if verified else None,
            "claimed_project": None if verified else a.claimed_project,
            "branch": a.property_value("git:branch") if verified else None,
            "commit_sha": a.property_value("git:commit") if verified else None,
            "run_time": ts(run),
            "sort_time": ts(sort_time),
            "tests": s.tests if s and verified else None,
            "failures": s.failures if s and verified else None,
            "errors": s.errors if s and verified else None,
            "skipped": s.skipped if s and verified else None,
            "duration": s.time if s and verified else None,
            "suites": s.suites if s and verified else None,
            "signer": sig.signer if sig and verified else None,
            "algorithm": sig.algorithm if sig and verified else None,
            "key_fingerprint": sig.key_fingerprint if sig and verified else None,
            "certificate_fingerprint": sig.certificate_fingerprint if sig and verified else None,
            "certificate_subject": sig.certificate_subject if sig and verified else None,
            "trust": a.trust if verified else None,
            "verified_at": ts(time),
            "error": None if verified else "; ".join(a.reasons),
            "error_type": None if verified else a.error_type,
            "store": a.store,
            "location": a.location,
            "source": a.source,
            "stored_at": ts(a.stored_at),
        }
        if judged:
            values.update(policy=policy, policy_ok=int(a.status == "ok"), violations=json.dumps(list(a.reasons)))
        elif not verified:
            values.update(policy=None, policy_ok=None, violations=None)
        cols = list(values)
        update = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "canonical_hash")
        row = db.execute(
            f"INSERT INTO reports ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "  # noqa: S608
            f"ON CONFLICT (canonical_hash) DO UPDATE SET {update} RETURNING id, has_tests",
            list(values.values()),
        ).fetchone()
        report_id, had_tests = int(row[0]), bool(row[1])
        db.execute("DELETE FROM properties WHERE report_id = ?", (report_id,))
        if not verified:
            if had_tests:
                db.execute("DELETE FROM outcomes WHERE report_id = ?", (report_id,))
                db.execute("UPDATE reports SET has_tests = 0 WHERE id = ?", (report_id,))
            return
        db.executemany(
            "INSERT INTO properties (report_id, seq, name, value) VALUES (?, ?, ?, ?)",
            [(report_id, i, n, v) for i, (n, v) in enumerate(a.properties)],
        )
        if a.testcases is not None:
            self._write_outcomes(report_id, a.project or "", a.testcases, replace=had_tests)

    def _write_outcomes(self, report_id: int, project: str, outcomes: Sequence[Row], *,
                        replace: bool) -> None:
        db = self._db
        if replace:
            db.execute("DELETE FROM outcomes WHERE report_id = ?", (report_id,))
        ids = self._name_ids(project, outcomes)
        codes = _STATUS_CODE
        db.executemany(
            "INSERT INTO outcomes (report_id, seq, test, status, duration, message) VALUES (?, ?, ?, ?, ?, ?)",
            [(report_id, i, nid, codes[o[2]], o[3], o[4])
             for i, (nid, o) in enumerate(zip(ids, outcomes, strict=True))],
        )
        db.execute("UPDATE reports SET has_tests = 1 WHERE id = ?", (report_id,))

    def delete(self, canonical_hash: str) -> bool:
        """Forget a report (e.g. after it was deleted from its store).

        Returns:
            True when it was indexed.
        """
        with self._lock:
            try:
                self._begin()
                row = self._db.execute("SELECT id FROM reports WHERE canonical_hash = ?", (canonical_hash,)).fetchone()
                if row is None:
                    return False
                for table in ("outcomes", "properties"):
                    self._db.execute(f"DELETE FROM {table} WHERE report_id = ?", (row[0],))  # noqa: S608
                self._db.execute("DELETE FROM reports WHERE id = ?", (row[0],))
                return True
            except sqlite3.Error as exc:
                self.rollback()
                raise self._error(exc, "write") from exc

    def clear(self) -> None:
        """Remove every report (the schema stays)."""
        with self._lock:
            try:
                self._begin()
                for table in ("outcomes", "properties", "test_names", "reports"):
                    self._db.execute(f"DELETE FROM {table}")  # noqa: S608
                self._names.clear()
            except sqlite3.Error as exc:
                self.rollback()
                raise self._error(exc, "write") from exc

    # -- reading --------------------------------------------------------------------------

    def has_testcases(self, canonical_hash: str) -> bool:
        """True when a verified report with that hash and its test outcomes are indexed."""
        rows = self._query(
            "SELECT 1 FROM reports WHERE canonical_hash = ? AND verified = 1 AND has_tests = 1", (canonical_hash,)
        )
        return bool(rows)

    def resolve(self, prefix: str) -> str:
        """The full canonical hash of the one indexed report whose hash starts with ``prefix``.

        Args:
            prefix: Leading hex digits, with or without ``sha256:``.

        Raises:
            juxsdk.errors.ReportNotFoundError: no indexed report matches, or several do.
        """
        try:
            text = hash_prefix_digits(prefix)
        except StoreError as exc:
            raise ReportNotFoundError(exc.message, hint=exc.hint) from None
        rows = self._query(
            "SELECT canonical_hash FROM reports WHERE canonical_hash >= ? AND canonical_hash < ? LIMIT 2",
            (f"sha256:{text}", f"sha256:{text}g"),
        )
        if not rows:
            raise ReportNotFoundError(f"no indexed report matches {prefix!r}", hint="see `jux query`")
        if len(rows) > 1:
            raise ReportNotFoundError(f"hash prefix {prefix!r} is ambiguous", hint="give more hex digits")
        return str(rows[0][0])

    def get(self, canonical_hash: str) -> IndexedReport:
        """The indexed report with exactly that hash.

        Raises:
            juxsdk.errors.ReportNotFoundError: not indexed.
        """
        rows = self._query(f"SELECT {_REPORT_COLUMNS} FROM reports WHERE canonical_hash = ?",  # noqa: S608
                           (canonical_hash,))
        if not rows:
            raise ReportNotFoundError(f"{canonical_hash} is not in the evidence index", hint="run `jux audit`")
        return IndexedReport._from_row(rows[0])

    def properties(self, canonical_hash: str) -> tuple[tuple[str, str], ...]:
        """The verified properties of an indexed report, in document order."""
        rows = self._query(
            "SELECT p.name, p.value FROM reports r JOIN properties p ON p.report_id = r.id "
            "WHERE r.canonical_hash = ? ORDER BY p.seq",
            (canonical_hash,),
        )
        return tuple((str(n), str(v)) for n, v in rows)

    def testcases(self, canonical_hash: str) -> tuple[TestOutcome, ...]:
        """The verified test outcomes of an indexed report, in document order (empty if not indexed)."""
        rows = self._query(
            "SELECT t.classname, t.name, o.status, o.duration, o.message FROM reports r "
            "JOIN outcomes o ON o.report_id = r.id JOIN test_names t ON t.id = o.test "
            "WHERE r.canonical_hash = ? AND r.verified = 1 ORDER BY o.seq",
            (canonical_hash,),
        )
        return tuple(TestOutcome(c, n, STATUSES[s], d, m) for c, n, s, d, m in rows)

    def _report_filters(
        self,
        *,
        project: str | None,
        branch: str | None,
        commit: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        status: str | None,
        signer: str | None,
        verified: bool | None,
        hashes: Iterable[str] | None = None,
        alias: str = "r",
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []

        def eq_or_glob(column: str, value: str) -> None:
            where.append(f"{alias}.{column} {'GLOB' if _glob(value) else '='} ?")
            params.append(value)

        if project is not None:
            eq_or_glob("project", project)
        if branch is not None:
            eq_or_glob("branch", branch)
        if commit is not None:
            where.append(f"{alias}.commit_sha >= ? AND {alias}.commit_sha < ?")
            params += [commit, commit + "\uffff"]
        if since is not None:
            where.append(f"{alias}.sort_time >= ?")
            params.append(ts(since))
        if until is not None:
            where.append(f"{alias}.sort_time < ?")
            params.append(ts(until))
        if status == "passed":
            where.append(f"{alias}.failures = 0 AND {alias}.errors = 0")
        elif status == "failed":
            where.append(f"({alias}.failures > 0 OR {alias}.errors > 0)")
        elif status is not None:
            raise ValueError(f"report status must be 'passed' or 'failed', not {status!r}")
        if signer is not None:
            text = signer.strip()
            if text.lower().startswith("sha256:"):
                where.append(f"({alias}.certificate_fingerprint >= ? AND {alias}.certificate_fingerprint < ? "
                             f"OR {alias}.key_fingerprint >= ? AND {alias}.key_fingerprint < ?)")
                params += [text.lower(), text.lower() + "g"] * 2
            else:
                where.append(f"{alias}.signer GLOB ?")
                params.append(text if _glob(text) else f"*{text}*")
        if verified is not None:
            where.append(f"{alias}.verified = ?")
            params.append(int(verified))
        if hashes is not None:
            chosen = sorted(set(hashes))
            where.append(f"{alias}.canonical_hash IN (SELECT value FROM json_each(?))")  # noqa: S608
            params.append(json.dumps(chosen))
        return where, params

    def reports(
        self,
        *,
        project: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        status: str | None = None,
        signer: str | None = None,
        verified: bool | None = True,
        hashes: Iterable[str] | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[IndexedReport]:
        """Indexed reports matching every given filter.

        Args:
            project: Verified ``project`` (a glob when it has ``*``, ``?`` or ``[``).
            branch: Verified ``git:branch`` (glob likewise).
            commit: Leading characters of the verified ``git:commit``.
            since: Time (:attr:`IndexedReport.time`) at or after this.
            until: Time before this.
            status: ``"passed"`` (no failures, no errors) or ``"failed"``.
            signer: ``sha256:`` fingerprint prefix (certificate or key), or text (a glob when it
                has wildcards, else a substring) of the signer's subject.
            verified: True (default): evidence candidates only; False: only reports that failed
                verification; None: both.
            hashes: Only these canonical hashes.
            limit: At most this many rows.
            newest_first: Order by time, newest first (else oldest first).

        Returns:
            The reports.

        Raises:
            ValueError: ``status`` is not ``passed``/``failed``.
            EvidenceIndexError: the database cannot be read.
        """
        where, params = self._report_filters(
            project=project, branch=branch, commit=commit, since=since, until=until, status=status,
            signer=signer, verified=verified, hashes=hashes,
        )
        sql = f"SELECT {_REPORT_COLUMNS} FROM reports r"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY r.sort_time {'DESC' if newest_first else 'ASC'}, r.canonical_hash"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [IndexedReport._from_row(row) for row in self._query(sql, params)]

    def tests(
        self,
        *,
        test: str | None = None,
        project: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        status: str | None = None,
        signer: str | None = None,
        hashes: Iterable[str] | None = None,
        limit: int | None = 1000,
    ) -> list[TestRow]:
        """Test outcomes of verified reports, newest report first.

        Args:
            test: Glob pattern on ``classname.name`` or on ``name`` alone.
            project, branch, commit, since, until, signer, hashes: As in :meth:`reports`.
            status: ``passed``, ``failed``, ``error`` or ``skipped``.
            limit: At most this many rows (None: all).

        Returns:
            The outcomes.

        Raises:
            ValueError: unknown ``status``.
            EvidenceIndexError: the database cannot be read.
        """
        where, params = self._report_filters(
            project=project, branch=branch, commit=commit, since=since, until=until, status=None,
            signer=signer, verified=True, hashes=hashes,
        )
        if status is not None:
            if status not in _STATUS_CODE:
                raise ValueError(f"test status must be one of {', '.join(STATUSES)}, not {status!r}")
            where.append("o.status = ?")
            params.append(_STATUS_CODE[status])
        columns = ("r.canonical_hash, r.project, r.branch, r.commit_sha, r.sort_time, t.test_id, t.classname, "
                   "t.name, o.status, o.duration, o.message")
        if test is not None:
            # names first: the pattern narrows the test ids, the index on outcomes(test) does the rest
            sql = (f"SELECT {columns} FROM test_names t CROSS JOIN outcomes o ON o.test = t.id "  # noqa: S608
                   "CROSS JOIN reports r ON r.id = o.report_id WHERE (t.test_id GLOB ? OR t.name GLOB ?)")
            params = [test, test, *params]
            if project is not None:  # a test's identity is per project: narrow the names first
                sql += f" AND t.project {'GLOB' if _glob(project) else '='} ?"
                params.insert(2, project)
        else:
            sql = (f"SELECT {columns} FROM reports r CROSS JOIN outcomes o ON o.report_id = r.id "  # noqa: S608
                   "CROSS JOIN test_names t ON t.id = o.test WHERE 1")
        if where:
            sql += " AND " + " AND ".join(where)
        sql += " ORDER BY r.sort_time DESC, r.canonical_hash, o.seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        times: dict[str, Any] = {}  # rows of one report share its time: parse it once
        return [
            TestRow(h, p, b, c, times[t] if t in times else times.setdefault(t, _parse_ts(t)),  # type: ignore[arg-type]
                    tid, cn, n, STATUSES[s], d, m)
            for h, p, b, c, t, tid, cn, n, s, d, m in self._query(sql, params)
        ]

    def outcome_matrix(
        self, hashes: Sequence[str], *, tests: Iterable[int] | None = None
    ) -> Iterator[tuple[str, int, str, int]]:
        """``(canonical_hash, test name id, test_id, status code)`` for the given reports (internal use)."""
        sql = ("SELECT r.canonical_hash, o.test, t.test_id, o.status FROM reports r "
               "CROSS JOIN outcomes o ON o.report_id = r.id CROSS JOIN test_names t ON t.id = o.test "
               "WHERE r.canonical_hash IN (SELECT value FROM json_each(?))")
        params: list[Any] = [json.dumps(list(hashes))]
        if tests is not None:
            sql += " AND o.test IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(tests))))
        yield from self._query(sql, params)

    def failing_tests(self, hashes: Sequence[str]) -> set[int]:
        """Test name ids that failed or errored in any of the given reports (internal use)."""
        rows = self._query(
            "SELECT DISTINCT o.test FROM reports r CROSS JOIN outcomes o ON o.report_id = r.id "
            "WHERE r.canonical_hash IN (SELECT value FROM json_each(?)) AND o.status IN (1, 2)",
            (json.dumps(list(hashes)),),
        )
        return {int(r[0]) for r in rows}

    def stats(self) -> Mapping[str, Any]:
        """Counts: reports (verified, failed), projects, test names, outcomes; path and schema version."""
        (total, verified, projects), = self._query(
            "SELECT count(*), coalesce(sum(verified), 0), count(DISTINCT project) FROM reports")
        (names,), = self._query("SELECT count(*) FROM test_names")
        (outcomes,), = self._query("SELECT count(*) FROM outcomes")
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "reports": int(total),
            "verified": int(verified),
            "not_verified": int(total) - int(verified),
            "projects": int(projects),
            "test_names": int(names),
            "outcomes": int(outcomes),
        }
