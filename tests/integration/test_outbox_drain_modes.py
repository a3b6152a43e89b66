"""Drain modes: a drain a person asks for tries what our backoff delayed, not what a server asked to wait for.

Every entry is queued by a real failure against the reference Jux API v1 server on 127.0.0.1
(a refused connection, a 503/429 with ``Retry-After``) and drained to it over real HTTP.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from juxsdk.config import OutboxConfig
from juxsdk.errors import ConfigError, JuxError, TransientPublishError
from juxsdk.junit import add_properties, parse_report
from juxsdk.outbox import DrainMode, Outbox, QueueEntry
from juxsdk.outbox.db import SCHEMA_VERSION
from juxsdk.storage_mode import publish_with_mode
from juxsdk.testing.server import JuxApiServer
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions

DATA = Path(__file__).parent / "data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pub(url: str) -> HttpApiPublisher:
    # one attempt, and no server wait honoured in-process: every failure goes to the outbox as is
    return HttpApiPublisher(HttpApiPublisherOptions(url=url, max_attempts=1, retry_after_cap=0,
                                                    timeout_connect=1.0, total_deadline=5.0))


@pytest.fixture
def reports(corpus_dir: Path):
    base = parse_report((corpus_dir / "raw/maven-surefire/basic.xml").read_bytes(), source="basic.xml")
    return [add_properties(base, {"project": f"drain-{i}"}) for i in range(3)]


@pytest.fixture
def box(tmp_path: Path) -> Outbox:
    # realistic backoff: ten minutes after the first failure
    return Outbox(OutboxConfig(path=tmp_path / "outbox", backoff_base=600, backoff_max=7200), durable=False)


def _hashes(result) -> set[str]:
    return {e.canonical_hash for e, _ in result.published}


def test_after_an_outage_a_manual_drain_sends_every_backed_off_entry(box, reports):
    port = _free_port()
    with _pub(f"http://127.0.0.1:{port}/api/v1") as pub:  # the outage: nothing listens
        for r in reports:
            [outcome] = publish_with_mode(r, {"http": pub}, "cache", box)
            assert outcome.queued
    now = dt.datetime.now(dt.UTC)
    for e in box.entries():
        assert e.next_attempt_at > now + dt.timedelta(minutes=7) and e.retry_after_until is None

    with JuxApiServer(port=port) as srv, _pub(srv.url) as pub:  # the server is back
        auto = box.drain({"http": pub})  # an automatic drain waits out our backoff
        assert not auto.published and not srv.submissions
        assert [(s.reason, s.until) for s in auto.skipped] == [("backoff", e.next_attempt_at) for e in box.entries()]
        assert all(s.message.startswith("backoff until ") for s in auto.skipped)

        manual = box.drain({"http": pub}, mode="manual")
        assert _hashes(manual) == {r.canonical_hash for r in reports} and not manual.skipped
        assert len(srv.runs) == len(reports)
    assert box.entries() == []


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured_by_a_manual_drain_and_overridden_by_now(box, reports, status):
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        srv.inject(status=status, retry_after=3600)
        before = dt.datetime.now(dt.UTC)
        [outcome] = publish_with_mode(reports[0], {"http": pub}, "cache", box)
        assert outcome.queued
        [entry] = box.entries()
        assert entry.retry_after_until is not None
        assert before + dt.timedelta(seconds=3599) < entry.retry_after_until <= entry.next_attempt_at
        assert entry.retry_after_until < dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3601)

        manual = box.drain({"http": pub}, mode=DrainMode.MANUAL)
        [skipped] = manual.skipped
        assert (skipped.reason, skipped.until) == ("retry-after", entry.retry_after_until)
        assert skipped.message == f"Retry-After until {entry.retry_after_until:%Y-%m-%d %H:%M:%S} UTC " \
                                  "(the server asked to wait)"
        assert skipped.to_dict()["until"] == entry.retry_after_until.isoformat()
        assert len(srv.submissions) == 1  # the failed one only: nothing sent
        # once the server's wait is over, a manual drain sends it (our backoff does not count)
        later = box.drain({"http": pub}, mode="manual", now=entry.retry_after_until + dt.timedelta(seconds=1))
        assert _hashes(later) == {reports[0].canonical_hash}

        srv.inject(status=status, retry_after=3600)
        publish_with_mode(reports[1], {"http": pub}, "cache", box)
        forced = box.drain({"http": pub}, mode="now")
        assert _hashes(forced) == {reports[1].canonical_hash} and not forced.skipped
        assert len(srv.runs) == 2


def test_a_short_retry_after_under_a_long_backoff(box, reports):
    """The server's wait ends before our backoff: automatic waits for the backoff, manual only for the server."""
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        srv.inject(status=503, retry_after=30)
        publish_with_mode(reports[0], {"http": pub}, "cache", box)
        [e] = box.entries()
        assert e.retry_after_until is not None and e.retry_after_until < e.next_attempt_at
        t = e.retry_after_until + dt.timedelta(seconds=1)
        assert e.held(e.retry_after_until - dt.timedelta(seconds=1), "manual").reason == "retry-after"
        assert e.held(t, "automatic").reason == "backoff"
        assert e.held(t, "manual") is None
        assert e.held(e.updated_at, "now") is None
        assert not box.drain({"http": pub}, now=t).published
        assert _hashes(box.drain({"http": pub}, mode="manual", now=t)) == {reports[0].canonical_hash}


def test_a_failed_manual_retry_keeps_the_servers_new_wait(box, reports):
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        srv.inject(status=503)  # no Retry-After: only our backoff
        publish_with_mode(reports[0], {"http": pub}, "cache", box)
        assert box.entries()[0].retry_after_until is None
        srv.inject(status=429, retry_after=7200)
        result = box.drain({"http": pub}, mode="manual")
        [e] = result.retrying
        assert e.attempts == 2 and e.retry_after_until is not None
        assert box.entries() == [e]
        assert box.drain({"http": pub}, mode="manual").skipped[0].reason == "retry-after"
        srv.inject(status=503)  # a failure without Retry-After forgets the old wait
        [e] = box.drain({"http": pub}, mode="now").retrying
        assert e.retry_after_until is None and box.entries()[0].retry_after_until is None
        assert not box.drain({"http": pub}, mode="manual").skipped  # sent (and published)
    assert box.entries() == []


def test_dead_letters_are_never_drained_in_any_mode(box, corpus_dir):
    no_project = parse_report((corpus_dir / "raw/generic/basic.xml").read_bytes())
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        [outcome] = publish_with_mode(no_project, {"http": pub}, "cache", box)
        assert outcome.dead
        for mode in DrainMode:
            result = box.drain({"http": pub}, mode=mode)
            assert result.attempted == 0 and not result.skipped
        assert len(srv.submissions) == 1
        assert box.dead_entries()[0].canonical_hash == no_project.canonical_hash


def test_queue_retry_forgets_the_servers_wait(box, reports):
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        srv.inject(status=503, retry_after=3600)
        publish_with_mode(reports[0], {"http": pub}, "cache", box)
        assert box.retry(reports[0].canonical_hash[7:19]) == 1
        [e] = box.entries()
        assert e.retry_after_until is None and e.held(dt.datetime.now(dt.UTC), "automatic") is None
        assert _hashes(box.drain({"http": pub})) == {reports[0].canonical_hash}


def test_other_skip_reasons(box, reports):
    for r in reports:
        box.enqueue(r, "http")  # due now, no failure yet
    box.enqueue(reports[0], "elsewhere")
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        result = box.drain({"http": pub}, mode="manual", limit=2)
    reasons = sorted((s.reason, s.entry.publisher, s.until) for s in result.skipped)
    assert reasons == [("limit", "http", None), ("no-publisher", "elsewhere", None)]
    assert {s.message for s in result.skipped} == {"over the drain's limit", "publisher 'elsewhere' is not configured"}
    with pytest.raises(ConfigError, match="unknown drain mode 'eager'"):
        box.drain({}, mode="eager")


def test_force_is_the_old_spelling_of_now(box, reports):
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        srv.inject(status=503, retry_after=3600)
        publish_with_mode(reports[0], {"http": pub}, "cache", box)
        assert _hashes(box.drain({"http": pub}, force=True)) == {reports[0].canonical_hash}


# --- upgrades: the server's wait survives them ----------------------------------------------------


def test_a_schema_1_outbox_is_upgraded_and_keeps_the_servers_wait(tmp_path):
    """outbox-v1.sqlite3 was written by the first SQLite outbox (data/make_outbox_v1.py)."""
    path = tmp_path / "outbox"
    path.mkdir()
    shutil.copyfile(DATA / "outbox-v1.sqlite3", path / "outbox.sqlite3")
    t0 = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    box = Outbox(path=path)
    by_project = {e.project: e for e in box.entries(include_dead=True)}
    assert set(by_project) == {"v1-server-wait", "v1-backoff", "v1-dead"}
    assert by_project["v1-server-wait"].retry_after_until == t0 + dt.timedelta(seconds=3600)
    assert by_project["v1-backoff"].retry_after_until is None
    assert by_project["v1-backoff"].attempts == 3 and by_project["v1-dead"].state == "dead"
    with sqlite3.connect(box.database) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2

    at = t0 + dt.timedelta(minutes=20)  # before both waits are over
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        manual = box.drain({"http": pub}, mode="manual", now=at)
        assert [e.project for e, _ in manual.published] == ["v1-backoff"]
        assert [(s.entry.project, s.reason) for s in manual.skipped] == [("v1-server-wait", "retry-after")]
        assert [e.project for e, _ in box.drain({"http": pub}, mode="now", now=at).published] == ["v1-server-wait"]
        assert [r["project"] for r in srv.runs] == ["v1-backoff", "v1-server-wait"]
    assert [e.project for e in box.entries(include_dead=True)] == ["v1-dead"]  # dead letters stay


def test_a_directory_outbox_import_keeps_the_servers_wait(tmp_path):
    path = tmp_path / "outbox"
    shutil.copytree(DATA / "directory-outbox", path)
    entries = {(e.project, e.publisher): e for e in Outbox(path=path).entries(include_dead=True)}
    queued = entries[("legacy-queued", "http")]  # two 503s with Retry-After 120 s, the last at updated_at
    assert queued.retry_after_until == queued.updated_at + dt.timedelta(seconds=120)
    assert entries[("legacy-queued", "other")].retry_after_until is None
    assert QueueEntry.from_dict(queued.to_dict()) == queued  # the JSON form round-trips


def test_a_schema_1_row_that_does_not_decode_is_upgraded_and_dead_lettered_by_the_next_drain(tmp_path):
    path = tmp_path / "outbox"
    path.mkdir()
    shutil.copyfile(DATA / "outbox-v1.sqlite3", path / "outbox.sqlite3")
    with sqlite3.connect(path / "outbox.sqlite3") as conn:  # someone edited the old database
        conn.execute("UPDATE entries SET details = '{not json' WHERE project = 'v1-server-wait'")
    box = Outbox(path=path)
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        result = box.drain({"http": pub}, mode="now")
    assert [e.project for e, _ in result.published] == ["v1-backoff"]
    [dead] = result.dead
    assert dead.project == "v1-server-wait" and dead.dead_reason == "corrupt outbox entry: details is not valid JSON"


def test_an_edited_retry_after_until_dead_letters_only_that_entry(box, reports):
    for r in reports[:2]:
        box.enqueue(r, "http", TransientPublishError("down"))
    with sqlite3.connect(box.database) as conn:
        conn.execute("UPDATE entries SET retry_after_until = 'later' WHERE canonical_hash = ?",
                     (reports[0].canonical_hash,))
    with JuxApiServer() as srv, _pub(srv.url) as pub:
        result = box.drain({"http": pub}, mode="manual")
    assert _hashes(result) == {reports[1].canonical_hash}
    [dead] = result.dead
    assert dead.dead_reason == "corrupt outbox entry: retry_after_until is not an integer"


def test_a_database_of_a_newer_schema_is_refused(box, reports):
    box.enqueue(reports[0], "http")
    box.close()
    with sqlite3.connect(box.database) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JuxError, match=r"written by a newer juxsdk \(schema 3\)"):
        Outbox(path=box.path).entries()
