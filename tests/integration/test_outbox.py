"""The outbox against the reference Jux API v1 server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from juxsdk.client import PublishOutcome
from juxsdk.config import OutboxConfig
from juxsdk.errors import ConfigError, JuxError, PermanentPublishError, TransientPublishError
from juxsdk.junit import add_properties, parse_report
from juxsdk.models import PublishReceipt
from juxsdk.outbox import Outbox, default_outbox_dir
from juxsdk.outbox.db import new_owner, release_owner
from juxsdk.storage_mode import StorageMode, publish_with_mode
from juxsdk.testing.samples import generate_report
from juxsdk.testing.server import JuxApiServer
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pub(url: str, **kw) -> HttpApiPublisher:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("max_attempts", 2)
    kw.setdefault("total_deadline", 5.0)
    kw.setdefault("timeout_connect", 1.0)
    return HttpApiPublisher(HttpApiPublisherOptions(url=url, **kw))


@pytest.fixture
def base_report(corpus_dir: Path):
    return parse_report((corpus_dir / "raw/maven-surefire/basic.xml").read_bytes(), source="basic.xml")


@pytest.fixture
def reports(base_report):
    return [add_properties(base_report, {"project": f"proj-{i}"}) for i in range(6)]


def _box(path: Path, **config) -> Outbox:
    config.setdefault("backoff_base", 0.01)
    config.setdefault("backoff_max", 0.05)
    return Outbox(OutboxConfig(path=path, **config), busy_timeout=20)


@pytest.fixture
def outbox(tmp_path):
    return _box(tmp_path / "outbox", max_attempts=3)


def _sql(box: Outbox, statement: str, *args) -> list[tuple]:
    """Run one statement on the outbox database as another program would (tests only)."""
    with sqlite3.connect(box.database) as conn:
        return conn.execute(statement, args).fetchall()


def _down_url() -> str:
    return f"http://127.0.0.1:{_free_port()}/api/v1"


def test_default_dir_is_in_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("JUX_DATA_DIR", str(tmp_path / "data"))
    assert default_outbox_dir() == tmp_path / "data" / "outbox"
    assert Outbox().path == tmp_path / "data" / "outbox"


def test_one_set_of_defaults_the_outbox_config(tmp_path, monkeypatch, reports):
    monkeypatch.setenv("JUX_DATA_DIR", str(tmp_path / "data"))
    defaults = OutboxConfig()
    box = Outbox()
    assert (box.max_attempts, box.config.backoff_base, box.config.backoff_max) == (8, 2.0, 3600.0)
    assert box.config == defaults
    with pytest.raises(TypeError, match="path="):
        Outbox(tmp_path / "ob")  # type: ignore[arg-type]
    # the facade without an outbox, and from configuration: the configured one
    from juxsdk.client import Jux
    from juxsdk.config import load_config

    class Down:
        name = "http"

        def publish(self, report):
            raise TransientPublishError("down")

        def close(self):
            pass

    jux = Jux(publishers=[Down()], storage_mode="api")
    assert jux.outbox.config == defaults and jux.outbox.path == tmp_path / "data" / "outbox"
    (tmp_path / "jux.toml").write_text(
        'sign = false\nstorage_mode = "cache"\npublishers = ["http"]\n[backends.http]\nurl = "http://127.0.0.1:9/api/v1"\n'
        f'[outbox]\npath = "{(tmp_path / "configured").as_posix()}"\nmax_attempts = 3\nbackoff_base = 7\n',
        encoding="utf-8")
    config = load_config(config_file=tmp_path / "jux.toml")
    with Jux.from_config(config, metadata=False) as configured:
        assert configured.outbox.path == tmp_path / "configured"
        assert (configured.outbox.max_attempts, configured.outbox.config.backoff_base) == (3, 7.0)
        # the first failure waits backoff_base (80-100 % of it): the configured number, not a default
        entry = configured.outbox.enqueue(reports[0], "http", TransientPublishError("down"))
        assert 0.8 * 7 <= (entry.next_attempt_at - entry.updated_at).total_seconds() <= 7
    assert Outbox.from_config(config).config == config.outbox
    # in every mode that publishes (receipts for `jux cache list`), not only in cache mode
    for mode in ("both", "api"):
        stores = {"stores": ["filesystem"], "backends.filesystem.root": str(tmp_path / "store")}
        other = load_config(config_file=tmp_path / "jux.toml", overrides={"storage_mode": mode, **stores})
        with Jux.from_config(other, metadata=False) as jux:
            assert jux.outbox.path == tmp_path / "configured" and jux.outbox.max_attempts == 3


def test_a_drained_outbox_gives_its_space_back(tmp_path):
    box = _box(tmp_path / "ob")
    big = [parse_report(generate_report(2000, project=f"big-{i}")) for i in range(8)]  # ~1.3 MB in all
    for r in big:
        box.enqueue(r, "http")
    box.close()
    full = box.database.stat().st_size
    assert full > 1_000_000

    class Instant:
        name = "http"

        def publish(self, report):
            return PublishReceipt("http", report.canonical_hash, run_id="r")

    assert len(box.drain({"http": Instant()}).published) == len(big)
    box.close()
    assert box.database.stat().st_size < full // 10
    assert len(box.published_records()) == len(big)  # what was kept is still there


def test_close_releases_the_database_and_the_outbox_reopens(outbox, reports):
    outbox.enqueue(reports[0], "http")
    outbox.close()
    outbox.close()  # idempotent
    assert not outbox.database.with_name("outbox.sqlite3-wal").exists()  # last connection: checkpointed
    with outbox:
        assert len(outbox.entries()) == 1


def test_enqueue_keeps_exact_bytes_and_state(outbox, reports):
    r = reports[0]
    err = TransientPublishError("server error", status=503, details={"retry_after": 120})
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    e = outbox.enqueue(r, "http", err, now=now)
    assert e.attempts == 1 and e.last_status == 503 and e.last_error == "server error"
    assert e.next_attempt_at >= now + dt.timedelta(seconds=120)
    assert outbox.read_bytes(e) == r.data
    [(h, created)] = _sql(outbox, "SELECT canonical_hash, created_at FROM entries")
    assert h == r.canonical_hash and created == round(now.timestamp() * 1e6)  # microseconds since the epoch
    assert outbox.entries()[0].created_at == now
    # idempotent per (hash, publisher): a second enqueue updates the same entry
    e2 = outbox.enqueue(r, "http", err, now=now)
    assert e2.attempts == 2 and len(outbox.entries()) == 1
    outbox.enqueue(r, "other", None, now=now)
    assert len(outbox.entries()) == 2
    assert _sql(outbox, "SELECT count(*) FROM blobs") == [(1,)]  # the bytes once, for both publishers


def test_enqueue_is_all_or_nothing(outbox, reports, monkeypatch):
    from juxsdk.outbox import db

    outbox.enqueue(reports[0], "http")

    def broken_upsert(conn, entry):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(db, "upsert_entry", broken_upsert)
    with pytest.raises(JuxError, match="disk I/O error"):
        outbox.enqueue(reports[1], "http")
    monkeypatch.undo()
    assert [e.canonical_hash for e in outbox.entries()] == [reports[0].canonical_hash]
    assert _sql(outbox, "SELECT count(*) FROM blobs") == [(1,)]  # the second report's bytes rolled back


def test_refused_then_server_started_drain_gives_one_run_each(outbox, reports):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api/v1"
    with _pub(url) as pub:
        outcomes = [publish_with_mode(r, {"http": pub}, "cache", outbox)[0] for r in reports]
    assert all(o.queued and isinstance(o.error, TransientPublishError) for o in outcomes)
    assert len(outbox.entries()) == len(reports)
    assert {s.state for s in outbox.states().values()} == {"queued"}

    with JuxApiServer(port=port) as srv, _pub(url) as pub:
        seen = []
        result = outbox.drain({"http": pub}, force=True, progress=lambda e, o: seen.append(o))
        assert len(result.published) == len(reports) and result.ok
        assert seen == ["published"] * len(reports)
        assert len(srv.runs) == len(reports)
        assert Counter(r["canonical_hash"] for r in srv.runs) == Counter(r.canonical_hash for r in reports)
        for r in reports:
            assert srv.body_of(r.canonical_hash) == r.data
    assert outbox.entries() == []
    states = outbox.states()
    assert {s.state for s in states.values()} == {"published"}
    run_ids = {s.run_id for s in states.values()}
    assert run_ids == {r["id"] for r in srv.runs}
    assert str(states[reports[0].canonical_hash]).startswith("published(")
    assert outbox.state_of("sha256:" + "0" * 64).state == "local"


def test_backoff_then_retry_makes_entries_due(tmp_path, reports):
    ob = _box(tmp_path / "ob", backoff_base=3600, backoff_max=7200, max_attempts=5)
    with _pub(_down_url()) as down:
        ob.enqueue(reports[0], "http")  # attempts 0: due now
        res = ob.drain({"http": down})
    assert len(res.retrying) == 1
    e = ob.entries()[0]
    assert e.attempts == 1 and e.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=45)
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        assert ob.drain({"http": pub}).skipped  # not due: untouched
        assert not srv.submissions
        assert ob.retry(reports[0].canonical_hash[7:15]) == 1
        res = ob.drain({"http": pub})
        assert len(res.published) == 1 and len(srv.runs) == 1


def test_permanent_400_is_dead_lettered_with_server_reason(outbox, corpus_dir):
    no_project = parse_report((corpus_dir / "raw/generic/basic.xml").read_bytes())
    outbox.enqueue(no_project, "http")
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        res = outbox.drain({"http": pub})
        assert len(res.dead) == 1
        dead = outbox.dead_entries()[0]
        assert dead.last_status == 400
        assert "missing required property" in dead.dead_reason
        assert "missing_property=project" in dead.dead_reason
        assert outbox.entries() == []
        assert outbox.states()[no_project.canonical_hash].state == "dead"
        # retry brings a dead entry back, with attempts reset
        assert outbox.retry(None) == 1
        assert outbox.entries()[0].attempts == 0 and not outbox.dead_entries()


@pytest.mark.parametrize("status", [401, 403, 404])
def test_config_errors_keep_the_entry_queued(outbox, reports, status):
    outbox.enqueue(reports[0], "http")
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        srv.inject(status=status)
        res = outbox.drain({"http": pub})
    assert len(res.retrying) == 1 and not res.dead
    e = outbox.entries()[0]
    assert e.last_status == status and e.attempts == 1


def test_transient_failures_dead_letter_after_max_attempts(outbox, reports):
    outbox.enqueue(reports[0], "http")
    with JuxApiServer() as srv, _pub(srv.url, max_attempts=1) as pub:
        srv.inject(status=503, count=10)
        for _ in range(3):
            res = outbox.drain({"http": pub}, force=True)
        assert len(res.dead) == 1
        assert "gave up after 3 attempts" in outbox.dead_entries()[0].dead_reason
        assert len(srv.submissions) == 3


def test_retry_after_3600_is_queued_with_that_delay(tmp_path, reports):
    ob = _box(tmp_path / "ob", backoff_base=1, backoff_max=10)
    with JuxApiServer() as srv, _pub(srv.url, retry_after_cap=1.0) as pub:
        srv.inject(status=429, retry_after=3600)
        t0 = time.monotonic()
        [outcome] = publish_with_mode(reports[0], {"http": pub}, "cache", ob)
        assert time.monotonic() - t0 < 2
    assert outcome.queued and outcome.error.status == 429
    e = ob.entries()[0]
    assert e.next_attempt_at >= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3500)


def test_storage_modes(outbox, reports):
    r = reports[0]
    with _pub(_down_url()) as down:
        assert publish_with_mode(r, {"http": down}, "local", outbox) == []
        with pytest.raises(TransientPublishError):  # api: a failure is an error
            publish_with_mode(r, {"http": down}, StorageMode.API, outbox)
        [both] = publish_with_mode(r, {"http": down}, "both", outbox)
        assert not both.ok and not both.queued
        assert outbox.entries() == []
        [cache] = publish_with_mode(r, [down], "cache", outbox)
        assert cache.queued and len(outbox.entries()) == 1
        with pytest.raises(ConfigError, match="needs an outbox"):
            publish_with_mode(r, [down], "cache", None)
    with pytest.raises(ConfigError, match="use one of: local, api, both, cache"):
        publish_with_mode(r, {}, "sometimes", outbox)


def test_several_publishers_report_each_outcome(outbox, reports, corpus_dir):
    with JuxApiServer() as srv, _pub(srv.url) as up, _pub(_down_url()) as down:
        outcomes = publish_with_mode(reports[1], {"up": up, "down": down}, "cache", outbox)
    assert [o.publisher for o in outcomes] == ["up", "down"]
    assert outcomes[0].ok and outcomes[0].receipt.run_id == srv.runs[0]["id"]
    assert outcomes[1].queued and not outcomes[1].ok
    assert [e.publisher for e in outbox.entries()] == ["down"]
    st = outbox.states()[reports[1].canonical_hash]
    assert st.state == "queued" and st.publishers == {"up": "published", "down": "queued"}
    assert isinstance(outcomes[0], PublishOutcome)
    assert outcomes[0].to_dict()["receipt"]["status"] == "created"
    assert outcomes[1].to_dict()["error"]["type"] == "TransientPublishError"


def test_permanent_error_in_cache_mode_is_not_queued(outbox, corpus_dir):
    no_project = parse_report((corpus_dir / "raw/generic/basic.xml").read_bytes())
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        [o] = publish_with_mode(no_project, {"http": pub}, "cache", outbox)
    assert isinstance(o.error, PermanentPublishError) and not o.queued
    assert outbox.entries() == []


def test_two_concurrent_drains_never_publish_the_same_item(tmp_path, reports):
    path = tmp_path / "ob"
    seed = Outbox(path=path)
    for r in reports:
        seed.enqueue(r, "http")
    with JuxApiServer() as srv:
        srv.inject(delay=0.05, count=len(reports) * 2)
        results = []

        def run():
            with _pub(srv.url) as pub:
                results.append(Outbox(path=path, busy_timeout=30).drain({"http": pub}))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        posted = Counter(s.canonical_hash for s in srv.submissions)
        assert posted == Counter(r.canonical_hash for r in reports)  # each POSTed exactly once
        assert len(srv.runs) == len(reports)
    assert sum(len(r.published) for r in results) == len(reports)
    assert seed.entries() == []


def test_an_entry_claimed_by_a_live_drain_is_skipped_until_its_claim_lapses(outbox, reports):
    outbox.enqueue(reports[0], "http")
    outbox.enqueue(reports[1], "http")
    key = outbox.entries()[0].key
    owner = new_owner()  # another drain of this process, still running
    far = int((time.time() + 3600) * 1e6)
    _sql(outbox, "UPDATE entries SET claim = ?, claim_until = ? WHERE canonical_hash = ?", owner, far,
         "sha256:" + key.split(".")[0])
    try:
        with JuxApiServer() as srv, _pub(srv.url) as pub:
            res = outbox.drain({"http": pub})
            assert len(res.published) == 1 and len(res.skipped) == 1
            assert len(srv.runs) == 1
            assert [e.key for e in outbox.entries()] == [key]
            release_owner(owner)  # that drain ended without settling the entry: it is free at once
            res = outbox.drain({"http": pub})
            assert [e.key for e, _ in res.published] == [key] and len(srv.runs) == 2
    finally:
        release_owner(owner)
    # a claim whose lease ran out is taken over too, whoever holds it
    outbox.enqueue(reports[2], "http")
    _sql(outbox, "UPDATE entries SET claim = 'elsewhere/1/x', claim_until = 1")
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        assert len(outbox.drain({"http": pub}).published) == 1


DRAIN_SCRIPT = textwrap.dedent(
    """
    import sys
    from juxsdk.outbox import Outbox
    from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions
    pub = HttpApiPublisher(HttpApiPublisherOptions(url=sys.argv[2], backoff_base=0.01))
    print("draining", flush=True)
    Outbox(path=sys.argv[1]).drain({"http": pub}, force=True)
    """
)


def test_drain_killed_with_sigkill_then_rerun_loses_nothing_and_duplicates_nothing(tmp_path, base_report):
    path = tmp_path / "ob"
    ob = Outbox(path=path)
    reports = [add_properties(base_report, {"project": f"same-{i}"}) for i in range(10)]
    for r in reports:
        ob.enqueue(r, "http")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with JuxApiServer() as srv:
        srv.inject(delay=0.15, count=1000)
        proc = subprocess.Popen([sys.executable, "-c", DRAIN_SCRIPT, str(path), srv.url], env=env,
                                stdout=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()
            deadline = time.monotonic() + 30
            while len(srv.runs) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert 3 <= len(srv.runs) < len(reports)
        srv.inject(delay=0, count=0)
        with _pub(srv.url) as pub:
            res = Outbox(path=path, busy_timeout=10).drain({"http": pub}, force=True)
        assert res.ok
        assert Outbox(path=path).entries() == []
        hashes = Counter(r["canonical_hash"] for r in srv.runs)
        assert hashes == Counter(r.canonical_hash for r in reports)  # one run each, none lost
        assert all(n == 1 for n in hashes.values())


def test_two_drain_processes_send_each_entry_exactly_once(tmp_path, base_report):
    path = tmp_path / "ob"
    reports = [add_properties(base_report, {"project": f"procs-{i}"}) for i in range(8)]
    seed = Outbox(path=path)
    for r in reports:
        seed.enqueue(r, "http")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with JuxApiServer() as srv:
        srv.inject(delay=0.2, count=100)  # 1.6 s for one process alone: the two overlap
        procs = [subprocess.Popen([sys.executable, "-c", DRAIN_SCRIPT, str(path), srv.url], env=env,
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            for proc in procs:
                assert proc.wait(timeout=60) == 0
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        posted = Counter(s.canonical_hash for s in srv.submissions)
        assert posted == Counter(r.canonical_hash for r in reports)  # each POSTed exactly once
    assert seed.entries() == [] and len(seed.published_records()) == len(reports)


ENQUEUE_SCRIPT = textwrap.dedent(
    """
    import sys
    from juxsdk.errors import TransientPublishError
    from juxsdk.junit import parse_report
    from juxsdk.outbox import Outbox
    from juxsdk.testing.samples import generate_report
    path, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    shared = parse_report(generate_report(2, project="shared"))
    mine = [parse_report(generate_report(2, project=f"{tag}-{i}")) for i in range(n)]
    print("ready", flush=True)
    sys.stdin.readline()  # all processes start together, on a fresh outbox
    box = Outbox(path=path)
    for r in mine:
        box.enqueue(r, "http", TransientPublishError("down"))
        box.enqueue(shared, "http", TransientPublishError("down"))
    """
)


def test_concurrent_enqueues_from_several_processes_lose_nothing(tmp_path):
    path, procs, n = tmp_path / "ob", 4, 8
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    running = [subprocess.Popen([sys.executable, "-c", ENQUEUE_SCRIPT, str(path), str(n), f"p{i}"], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(procs)]
    try:
        for proc in running:
            assert proc.stdout.readline().strip() == "ready"
        for proc in running:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in running:
            assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
    box = Outbox(path=path)
    entries = {e.project: e for e in box.entries()}
    assert len(entries) == procs * n + 1
    assert entries["shared"].attempts == procs * n  # every increment kept: each enqueue is one transaction
    assert all(entries[f"p{i}-{j}"].attempts == 1 for i in range(procs) for j in range(n))
    assert all(box.read_bytes(e) for e in entries.values())


def test_drop_and_ambiguous_prefix(outbox, reports):
    for r in reports[:3]:
        outbox.enqueue(r, "http")
    with pytest.raises(ConfigError):
        outbox.drop("zz-not-hex")
    with pytest.raises(ConfigError) as ei:
        outbox.drop("")
    assert "prefix" in str(ei.value)
    h = reports[0].canonical_hash
    assert outbox.drop(h[:20]) == 1
    assert h not in {e.canonical_hash for e in outbox.entries()}
    assert outbox.drop(None) == 2 and outbox.entries() == []
    assert _sql(outbox, "SELECT count(*) FROM blobs") == [(0,)]


def test_corrupted_queued_bytes_are_dead_lettered(outbox, reports):
    outbox.enqueue(reports[0], "http")
    _sql(outbox, "UPDATE blobs SET data = ?", b"<testsuites/>")
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        res = outbox.drain({"http": pub})
        assert len(res.dead) == 1 and "SHA-256 mismatch" in res.dead[0].dead_reason
        assert not srv.submissions


def test_unknown_publisher_entries_are_skipped(outbox, reports):
    outbox.enqueue(reports[0], "elsewhere")
    res = outbox.drain({})
    assert len(res.skipped) == 1 and res.attempted == 0
    assert len(outbox.entries()) == 1


def test_drain_with_workers_posts_each_entry_once_and_deletes_the_bytes(outbox, reports):
    for r in reports:
        outbox.enqueue(r, "http")
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        srv.inject(delay=0.05, count=len(reports))
        seen = []
        res = outbox.drain({"http": pub}, workers=3, progress=lambda e, o: seen.append(o))
        assert len(res.published) == len(reports) and res.ok
        assert sorted(seen) == ["published"] * len(reports)
        assert Counter(s.canonical_hash for s in srv.submissions) == Counter(r.canonical_hash for r in reports)
    assert outbox.entries() == []
    assert _sql(outbox, "SELECT count(*) FROM blobs") == [(0,)]
    [(free,)], [(pages,)] = _sql(outbox, "PRAGMA freelist_count"), _sql(outbox, "PRAGMA page_count")
    assert free * 2 < pages  # their pages went back to the file system (or are a minority, for reuse)
    assert len(outbox.published_records()) == len(reports)
