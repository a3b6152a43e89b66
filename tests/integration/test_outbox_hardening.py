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
import json
import logging
import os
import stat
from pathlib import Path
from typing import ClassVar

import pytest

from juxsdk.client import Jux
from juxsdk.config import Secret
from juxsdk.errors import ConfigError, PermanentPublishError, TransientPublishError
from juxsdk.junit import add_properties, parse_report
from juxsdk.models import PublishReceipt
from juxsdk.outbox import MAX_RETRY_AFTER, Outbox
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
    return Outbox(tmp_path / "outbox", backoff_base=0.01, backoff_max=0.05, durable=False)


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
    try:
        box = _outbox(tmp_path)
        box.enqueue(reports[0], "http", TransientPublishError("down"))
        box.record_failure(reports[1], "http", PermanentPublishError("bad", status=400))
        box.record_published(PublishReceipt(publisher="http", canonical_hash=reports[2].canonical_hash))
        with JuxApiServer() as srv, HttpApiPublisher(_opts(srv.url)) as pub:
            box.enqueue(reports[3], "http")
            result = box.drain({"http": pub}, force=True)
        assert len(result.published) == 2  # reports[0] and reports[3]; reports[1] is a dead letter
    finally:
        os.umask(old)
    seen = {"dir": 0, "file": 0}
    for root, dirs, files in os.walk(tmp_path / "outbox"):
        for name in [*dirs, ""]:
            mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            assert mode == 0o700, f"{os.path.join(root, name)} is {mode:o}"
            seen["dir"] += 1
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            assert mode == 0o600, f"{os.path.join(root, name)} is {mode:o}"
            seen["file"] += 1
    assert seen["dir"] >= 6 and seen["file"] >= 6  # queue, dead, published, locks, trash; states, locks…


# --- a drain never stops at one bad entry ------------------------------------------------------


def test_drain_goes_past_every_kind_of_bad_entry(tmp_path, reports, caplog):
    box = _outbox(tmp_path)
    for r in reports[:7]:
        box.enqueue(r, "http", TransientPublishError("down"))
    q = box.queue_dir
    key = [box.entries()[i].key for i in range(7)]
    by_key = {e.key: e for e in box.entries()}
    (q / key[0] / "state.json").write_text("{not json")                       # bad JSON state
    (q / key[1] / "state.json").write_text("[" * 100_000 + "]" * 100_000)      # nested too deeply
    (q / key[2] / "report.xml").unlink()                                        # data file missing
    (q / key[3] / "report.xml").unlink()
    (q / key[3] / "report.xml").mkdir()                                         # unreadable data file
    state = json.loads((q / key[4] / "state.json").read_text())
    state["summary"] = "not a summary"                                          # state no longer parses
    (q / key[4] / "state.json").write_text(json.dumps(state))
    garbage = b"<not-junit/>"                                                   # bytes the server refuses
    (q / key[5] / "report.xml").write_bytes(garbage)
    state = json.loads((q / key[5] / "state.json").read_text())
    state["sha256"] = hashlib.sha256(garbage).hexdigest()
    (q / key[5] / "state.json").write_text(json.dumps(state))
    # key[6] is intact

    with caplog.at_level(logging.WARNING), JuxApiServer() as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        result = box.drain({"http": pub}, force=True)
        assert [h for h in (r["canonical_hash"] for r in srv.runs)] == [by_key[key[6]].canonical_hash]

    assert [e.key for e, _ in result.published] == [key[6]]
    dead = {e.key: e.dead_reason for e in result.dead}
    assert set(dead) == {key[0], key[1], key[2], key[4], key[5]}
    assert "corrupt outbox entry" in dead[key[0]] and "corrupt outbox entry" in dead[key[1]]
    assert "corrupt outbox entry" in dead[key[4]]
    assert "SHA-256 mismatch" in dead[key[2]]
    assert "invalid JUnit XML" in dead[key[5]]
    [broken] = result.broken
    assert broken.key == key[3] and "IsADirectoryError" in broken.reason
    assert not result.ok and result.attempted == 7
    # the broken entry stays queued for a later drain; every dead one is listed
    assert (q / key[3]).is_dir()
    assert {e.key for e in box.dead_entries()} == set(dead)


@pytest.mark.parametrize(("field", "value"), [
    ("canonical_hash", {"v": "sha256:" + "0" * 64}),   # not a string: str() of it broke every reader
    ("canonical_hash", "sha256:" + "0" * 64),           # another report's hash than the entry's
    ("publisher", "s3/../x"),                          # not a publisher name (was a ConfigError, exit 2)
    ("state", "published"),
    ("attempts", "3"), ("attempts", -1), ("last_status", [503]), ("last_error", {"e": 1}),
    ("next_attempt_at", 5), ("created_at", None), ("signed", "yes"), ("details", [1]),
    ("properties", [["project"]]), ("size", 1.5),
])
def test_state_record_is_validated_when_read(tmp_path, reports, field, value):
    """Found by the fuzz suite: a state.json whose fields had other types was accepted with str()
    and int() conversions, and `jux queue list` / `jux publish --queue` then failed with an
    internal error (`ValueError: not a canonical hash: "{'v': ...}"`)."""
    box = _outbox(tmp_path)
    entry = box.enqueue(reports[0], "http", TransientPublishError("down"))
    intact = box.enqueue(reports[1], "http", TransientPublishError("down"))
    path = box.queue_dir / entry.key / "state.json"
    state = json.loads(path.read_text())
    state[field] = value
    path.write_text(json.dumps(state))
    assert [e.key for e in box.entries()] == [intact.key]  # skipped, with a warning; the other listed
    with JuxApiServer() as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        result = box.drain({"http": pub}, force=True)
    assert [e.key for e, _ in result.published] == [intact.key]
    assert [e.key for e in result.dead] == [entry.key]  # dead-lettered as corrupt, its bytes kept
    assert (box.dead_dir / entry.key / "report.xml").read_bytes() == reports[0].data


def test_corrupt_entry_keeps_its_bytes_and_can_be_retried(tmp_path, reports):
    box = _outbox(tmp_path)
    entry = box.enqueue(reports[0], "http", TransientPublishError("down"))
    (box.queue_dir / entry.key / "state.json").write_bytes(b"\xff\xfe garbage")
    with JuxApiServer() as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        first = box.drain({"http": pub}, force=True)
        assert [e.key for e in first.dead] == [entry.key]
        assert box.retry(entry.canonical_hash) == 1
        second = box.drain({"http": pub}, force=True)
        assert [e.key for e, _ in second.published] == [entry.key]
        assert srv.body_of(entry.canonical_hash) == reports[0].data


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
    json.loads((box.queue_dir / entry.key / "state.json").read_text())  # still valid JSON


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
    box = Outbox(blocker / "outbox")
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
