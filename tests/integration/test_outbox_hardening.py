"""The outbox and the cache storage mode under hostile conditions.

Pins behaviour that a later rewrite of the outbox (onto SQLite) must keep:

* everything the outbox writes is private (0600 files, 0700 directories) whatever the umask;
* a drain never stops at one bad entry, and reports every one it could not publish;
* in ``cache`` mode nothing that goes wrong after the report was stored loses it: it ends up
  queued or dead-lettered, and only a failure to write the outbox is an error of its own;
* a server-requested wait, however odd, never breaks an enqueue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import sqlite3
import stat
from pathlib import Path
from typing import ClassVar

import pytest

from juxsdk.client import Jux
from juxsdk.config import OutboxConfig, Secret
from juxsdk.errors import ConfigError, JuxError, PermanentPublishError, TransientPublishError
from juxsdk.junit import add_properties, parse_report
from juxsdk.models import PublishReceipt
from juxsdk.outbox import MAX_RETRY_AFTER, Outbox
from juxsdk.outbox import drain as drain_module
from juxsdk.testing.server import JuxApiServer
from juxsdk_backends.filesystem import FilesystemStore
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions


def _opts(url: str, **kw) -> HttpApiPublisherOptions:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("max_attempts", 1)
    kw.setdefault("timeout_connect", 1.0)
    kw.setdefault("total_deadline", 5.0)
    return HttpApiPublisherOptions(url=url, **kw)


@pytest.fixture
def reports(corpus_dir: Path):
    base = parse_report((corpus_dir / "raw/generic/basic.xml").read_bytes())
    return [add_properties(base, {"project": f"hard-{i}"}) for i in range(8)]


def _outbox(tmp_path: Path) -> Outbox:
    return Outbox(OutboxConfig(path=tmp_path / "outbox", backoff_base=0.01, backoff_max=0.05), durable=False)


def _sql(box: Outbox, statement: str, *args) -> list[tuple]:
    """Run one statement on the outbox database as another program would (tests only)."""
    with sqlite3.connect(box.database) as conn:
        return conn.execute(statement, args).fetchall()


def _modes(root: Path) -> dict[str, int]:
    """Permission bits of ``root`` and everything in it, by path."""
    found = {str(root): stat.S_IMODE(os.stat(root).st_mode)}
    for base, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            found[os.path.join(base, name)] = stat.S_IMODE(os.stat(os.path.join(base, name)).st_mode)
    return found


class Exploding:
    """A third-party publisher with a bug: raises something that is not a JuxError."""

    name: ClassVar[str] = "http"

    def publish(self, report):
        raise RuntimeError("boom with internal detail s3cr3t")

    def close(self) -> None:
        pass


# --- private files ---------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277], ids=["umask000", "umask022", "umask277"])
def test_everything_the_outbox_writes_is_private(tmp_path, reports, umask):
    (tmp_path / "outbox").mkdir(mode=0o777)
    os.chmod(tmp_path / "outbox", 0o777)  # an existing, too open directory is tightened
    old = os.umask(umask)
    during: list[dict[str, int]] = []
    try:
        box = _outbox(tmp_path)
        box.enqueue(reports[0], "http", TransientPublishError("down"))
        box.record_failure(reports[1], "http", PermanentPublishError("bad", status=400))
        box.record_published(PublishReceipt(publisher="http", canonical_hash=reports[2].canonical_hash))
        with JuxApiServer() as srv, HttpApiPublisher(_opts(srv.url)) as pub:
            box.enqueue(reports[3], "http")
            # while the drain's connection is open the WAL files exist: look at them then
            result = box.drain({"http": pub}, force=True, progress=lambda e, o: during.append(_modes(box.path)))
        assert len(result.published) == 2  # reports[0] and reports[3]; reports[1] is a dead letter
    finally:
        os.umask(old)
    seen = {}
    for modes in [*during, _modes(tmp_path / "outbox")]:
        seen.update(modes)
    names = {os.path.basename(p) for p in seen}
    assert {"outbox", "outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"} <= names
    for path, mode in seen.items():
        want = 0o700 if os.path.basename(path) == "outbox" else 0o600
        assert mode == want, f"{path} is {mode:o}"


# --- a drain never stops at one bad entry ------------------------------------------------------


def test_drain_goes_past_every_kind_of_bad_entry(tmp_path, reports, caplog, monkeypatch):
    box = _outbox(tmp_path)
    for r in reports[:8]:
        box.enqueue(r, "http", TransientPublishError("down"))
    by_key = {e.key: e for e in box.entries()}
    key = list(by_key)
    h = {k: by_key[k].canonical_hash for k in key}

    def edit(k: str, statement: str, *args) -> None:
        _sql(box, f"{statement} WHERE canonical_hash = ?", *args, h[k])

    edit(key[0], "UPDATE entries SET summary = ?", "{not json")                       # bad JSON
    edit(key[1], "UPDATE entries SET properties = ?", "[" * 100_000 + "]" * 100_000)  # nested too deeply
    _sql(box, "DELETE FROM blobs WHERE sha256 = ?", by_key[key[2]].sha256)             # bytes missing
    edit(key[3], "UPDATE entries SET next_attempt_at = 'tomorrow'")                    # not a time
    edit(key[4], "UPDATE entries SET summary = ?", '{"tests": "many"}')               # no longer parses
    garbage = b"<not-junit/>"                                                          # bytes the server refuses
    _sql(box, "INSERT INTO blobs (sha256, data) VALUES (?, ?)", hashlib.sha256(garbage).hexdigest(), garbage)
    edit(key[5], "UPDATE entries SET sha256 = ?", hashlib.sha256(garbage).hexdigest())
    # key[6] fails in a way nobody planned for (the database refuses to settle it); key[7] is intact
    real_done = drain_module.Drain._done

    def refusing_done(self, conn, row_id, entry, receipt):
        if entry.canonical_hash == h[key[6]]:
            raise sqlite3.OperationalError("disk I/O error")
        return real_done(self, conn, row_id, entry, receipt)

    monkeypatch.setattr(drain_module.Drain, "_done", refusing_done)
    with caplog.at_level(logging.WARNING), JuxApiServer() as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        result = box.drain({"http": pub}, force=True)
        assert sorted(r["canonical_hash"] for r in srv.runs) == sorted([h[key[6]], h[key[7]]])

    assert [e.key for e, _ in result.published] == [key[7]]
    dead = {e.key: e.dead_reason for e in result.dead}
    assert set(dead) == {key[0], key[1], key[2], key[3], key[4], key[5]}
    assert "corrupt outbox entry: summary is not valid JSON" in dead[key[0]]
    assert "properties is nested too deeply" in dead[key[1]]
    assert "next_attempt_at is not an integer" in dead[key[3]]
    assert "summary is not a test summary" in dead[key[4]]
    assert "SHA-256 mismatch" in dead[key[2]]
    assert "invalid JUnit XML" in dead[key[5]]
    [broken] = result.broken
    assert broken.key == key[6] and "disk I/O error" in broken.reason
    assert not result.ok and result.attempted == 8
    # the broken entry stays queued (and free) for a later drain; every dead one is listed
    assert [e.key for e in box.entries()] == [key[6]]
    assert _sql(box, "SELECT claim FROM entries WHERE canonical_hash = ?", h[key[6]]) == [(None,)]
    assert {e.key for e in box.dead_entries()} == set(dead)
    monkeypatch.undo()
    with JuxApiServer() as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        assert [e.key for e, _ in box.drain({"http": pub}, force=True).published] == [key[6]]


def test_corrupt_entry_keeps_its_bytes_and_can_be_retried(tmp_path, reports):
    box = _outbox(tmp_path)
    entry = box.enqueue(reports[0], "http", TransientPublishError("down"))
    _sql(box, "UPDATE entries SET details = ?", b"\xff\xfe garbage")
    assert box.entries() == []  # unreadable: not listed (a warning says so) until a drain dead-letters it
    with JuxApiServer() as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        first = box.drain({"http": pub}, force=True)
        assert [e.key for e in first.dead] == [entry.key]
        assert "details is not JSON text" in first.dead[0].dead_reason
        assert box.retry(entry.canonical_hash) == 1
        second = box.drain({"http": pub}, force=True)
        assert [e.key for e, _ in second.published] == [entry.key]
        assert srv.body_of(entry.canonical_hash) == reports[0].data


def test_a_damaged_database_is_a_clear_error(tmp_path, reports):
    with _outbox(tmp_path) as earlier:
        earlier.enqueue(reports[0], "http")
    earlier.database.write_bytes(b"this is not an SQLite database, just junk " * 200)
    box = _outbox(tmp_path)  # a later run
    for action in (box.entries, lambda: box.enqueue(reports[1], "http"), lambda: box.drain({})):
        with pytest.raises(JuxError, match=r"outbox database .* is damaged") as ei:
            action()
        assert "move it aside" in ei.value.hint


def test_publisher_bug_is_a_retry_not_a_crash(tmp_path, reports):
    box = _outbox(tmp_path)
    box.enqueue(reports[0], "http", TransientPublishError("down"))
    box.enqueue(reports[1], "http", TransientPublishError("down"))
    result = box.drain({"http": Exploding()}, force=True)
    assert len(result.retrying) == 2 and not result.broken
    for e in box.entries():
        assert e.attempts == 2 and "RuntimeError" in e.last_error and "s3cr3t" not in e.last_error


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e300, -5.0, "1e309", "inf", True, [1]])
def test_odd_retry_after_never_breaks_an_enqueue(tmp_path, reports, value):
    box = _outbox(tmp_path)
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    entry = box.enqueue(reports[0], "http", TransientPublishError("x", details={"retry_after": value}), now=now)
    assert now <= entry.next_attempt_at <= now + dt.timedelta(seconds=MAX_RETRY_AFTER)
    assert box.entries() == [entry]  # stored and read back (details kept as valid JSON)


# --- cache mode: nothing lost after the store ------------------------------------------------------


def _jux(tmp_path: Path, publisher, box: Outbox) -> Jux:
    store = FilesystemStore(FilesystemStore.Options(root=tmp_path / "store"))
    return Jux(stores=[store], publishers=[publisher], storage_mode="cache", outbox=box)


def test_cache_mode_keeps_the_report_whatever_goes_wrong(tmp_path, reports, monkeypatch):
    box = _outbox(tmp_path)
    monkeypatch.delenv("JUX_HARD_TOKEN", raising=False)
    with JuxApiServer(tokens={"t0k"}) as srv:
        cases = {
            "transient": (HttpApiPublisher(_opts(srv.url)), lambda: srv.inject(status=503), "queued"),
            "malformed-201": (HttpApiPublisher(_opts(srv.url)),
                              lambda: srv.inject(status=201, body=b"<html>stored?</html>"), "queued"),
            "rejected": (HttpApiPublisher(_opts(srv.url, token=Secret(value="t0k"))),
                         lambda: srv.inject(status=400, body={"error": "no project"}), "dead"),
            "unauthorized": (HttpApiPublisher(_opts(srv.url)), lambda: None, "queued"),
            "token-unset": (HttpApiPublisher(_opts(srv.url, token=Secret(env="JUX_HARD_TOKEN"))),
                            lambda: None, "queued"),
            "bug": (Exploding(), lambda: None, "queued"),
        }
        for i, (label, (pub, arrange, expected)) in enumerate(cases.items()):
            arrange()
            with _jux(tmp_path / label, pub, box) as jux:
                result = jux.submit(reports[i])
            [stored] = result.stored
            assert stored.ok, label
            [outcome] = result.published
            assert outcome.error is not None, label
            state = box.state_of(reports[i].canonical_hash)
            assert state.state == expected, (label, state)
            assert outcome.queued == (expected == "queued") and outcome.dead == (expected == "dead"), label
            assert result.ok == (expected == "queued"), label
    dead = {e.canonical_hash: e for e in box.dead_entries()}
    assert "no project" in dead[reports[list(cases).index("rejected")].canonical_hash].dead_reason


def test_cache_mode_failed_enqueue_is_a_loud_error(tmp_path, reports, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the outbox should be")
    box = Outbox(path=blocker / "outbox")
    with caplog.at_level(logging.ERROR, logger="juxsdk.outbox"), _jux(tmp_path, Exploding(), box) as jux:
        result = jux.submit(reports[0])
    [outcome] = result.published
    assert not outcome.queued and not result.ok
    assert "could NOT be queued" in outcome.error.message
    assert "NOT queued" in caplog.text
    assert result.stored[0].ok  # the store still has it


def test_api_mode_still_raises_and_tries_every_publisher(tmp_path, reports):
    class Counting(Exploding):
        calls = 0

        def publish(self, report):
            Counting.calls += 1
            raise TransientPublishError("down")

    jux = Jux(publishers=[Counting(), Counting()], storage_mode="api")
    with pytest.raises(TransientPublishError):
        jux.submit(reports[0])
    assert Counting.calls == 2
    with pytest.raises(ConfigError):
        Jux(publishers=[], storage_mode="api")
