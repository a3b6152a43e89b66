"""SqliteStore through juxsdk's conformance kit, plus what is specific to SQLite."""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import sqlite3

import pytest
from jux_sqlite_store import SqliteStore

from juxsdk.errors import StoreError
from juxsdk.testing import StoreContract, make_report, sample_report


class TestSqliteStoreContract(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        store = SqliteStore(SqliteStore.Options(path=tmp_path / "db" / "reports.sqlite"))
        yield store
        store.close()

    @pytest.fixture
    def corrupt_metadata(self):
        def corrupt(store, canonical_hash, raw):
            with sqlite3.connect(store.path) as conn:
                conn.execute(
                    "UPDATE reports SET record = ? WHERE hex = ?", (raw, canonical_hash.removeprefix("sha256:"))
                )

        return corrupt


def test_reports_survive_reopening(tmp_path):
    path = tmp_path / "reports.sqlite"
    report = sample_report("crlf")
    first = SqliteStore(SqliteStore.Options(path=path))
    record = first.put(report)
    first.close()
    second = SqliteStore(SqliteStore.Options(path=str(path)))
    assert second.get(report.canonical_hash) == report.data
    assert second.metadata(report.canonical_hash).stored_at == record.stored_at
    second.close()


def _put_many(path: str, start: int) -> None:
    store = SqliteStore(SqliteStore.Options(path=path))
    for i in range(start, start + 20):
        store.put(make_report(tag=f"proc-{i}"))
    store.put(make_report(tag="shared"))
    store.close()


def test_two_processes_share_one_file(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_put_many, args=(path, n * 100)) for n in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    store = SqliteStore(SqliteStore.Options(path=path))
    assert len(list(store.list())) == 41  # 2 x 20 distinct + 1 shared report, stored once
    store.close()


def test_not_a_database_is_a_store_error(tmp_path):
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(b"this is not a sqlite database" * 100)
    store = SqliteStore(SqliteStore.Options(path=path))
    with pytest.raises(StoreError, match=r"garbage\.sqlite"):
        store.put(make_report(tag="x"))


def test_schema_is_queryable_with_plain_sqlite(tmp_path):
    path = tmp_path / "r.sqlite"
    store = SqliteStore(SqliteStore.Options(path=path))
    report = make_report(3, failures=1, project="sql", tag="plain")
    store.put(report)
    store.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT project, failed, length(data) FROM reports").fetchall()
    assert rows == [("sql", 1, len(report.data))]


def test_registered_through_the_juxsdk_entry_point_group():
    try:
        dist = importlib.metadata.distribution("jux-sqlite-store")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("jux-sqlite-store is not installed (pip install -e examples/jux-sqlite-store)")
    eps = [ep for ep in dist.entry_points if ep.group == "juxsdk"]
    assert [ep.value for ep in eps] == ["jux_sqlite_store.hooks"]

    from juxsdk import Registry

    info = Registry().get("store", "sqlite")
    assert info.cls is SqliteStore
    assert info.distribution == "jux-sqlite-store"


def test_a_database_made_before_idempotency_keys_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    report = make_report(2, tag="old-schema")
    with sqlite3.connect(path) as conn:  # the schema of the previous release: no idem column
        conn.execute(
            "CREATE TABLE reports (hex TEXT PRIMARY KEY, data BLOB NOT NULL, record TEXT NOT NULL, project TEXT, "
            "stored_at_us INTEGER NOT NULL, failed INTEGER NOT NULL)"
        )
    store = SqliteStore(SqliteStore.Options(path=path))
    store.put(report)
    assert store.get(report.canonical_hash) == report.data
    store.close()
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(reports)")}
    assert "idem" in columns


def test_doctor_runs_the_plugins_own_check(tmp_path, monkeypatch):
    """A third-party store brings its own `jux doctor` check through the juxsdk_doctor_checks hook."""
    from juxsdk.config import JuxConfig
    from juxsdk.doctor import diagnose
    from juxsdk.registry import Registry

    db = tmp_path / "reports.sqlite3"
    cfg = JuxConfig(stores=["sqlite"], storage_mode="local", signer=None,
                    backends={"sqlite": {"path": str(db)}})
    report = diagnose(cfg, Registry())
    [found] = [f for f in report.findings if f.check == "store.sqlite.integrity"]
    assert found.status == "skip"
    store = SqliteStore(SqliteStore.Options(path=db))
    store.put(sample_report("crlf"))
    store.close()
    [found] = [f for f in diagnose(cfg, Registry()).findings if f.check == "store.sqlite.integrity"]
    assert found.status == "ok" and "quick_check" in found.message
    db.write_bytes(b"this is not a database" * 100)  # a damaged file
    [found] = [f for f in diagnose(cfg, Registry()).findings if f.check == "store.sqlite.integrity"]
    assert found.status == "fail"
