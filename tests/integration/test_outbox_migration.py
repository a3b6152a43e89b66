"""Upgrading from the directory outbox: everything it held is in the database after the first open.

The fixture ``data/directory-outbox`` was written by juxsdk 0.1.0's own outbox
(``data/make_directory_outbox.py`` says how and what it holds).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from juxsdk.junit import parse_report
from juxsdk.outbox import Outbox, QueueEntry
from juxsdk.testing.server import JuxApiServer
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions

FIXTURE = Path(__file__).parent / "data" / "directory-outbox"
OLD_DIRS = ("queue", "dead", "published", "locks", "trash")


def _old(kind: str, project: str) -> tuple[Path, bytes]:
    """The fixture's entry directory of the report of ``project``, and its bytes."""
    for d in sorted((FIXTURE / kind).iterdir()):
        data = (d / "report.xml").read_bytes()
        if f'value="{project}"'.encode() in data:
            return d, data
    raise AssertionError(project)


@pytest.fixture
def old_outbox(tmp_path: Path) -> Path:
    path = tmp_path / "outbox"
    shutil.copytree(FIXTURE, path)
    return path


def _by_project(box: Outbox) -> dict[tuple[str | None, str], QueueEntry]:
    return {(e.project, e.publisher): e for e in box.entries(include_dead=True)}


def test_first_open_imports_every_entry_receipt_and_byte(old_outbox: Path) -> None:
    box = Outbox(path=old_outbox)
    entries = _by_project(box)
    assert set(entries) == {("legacy-queued", "http"), ("legacy-queued", "other"), ("legacy-dead", "http"),
                            ("legacy-corrupt", "http"), ("legacy-stateless", "http")}

    # a queued entry keeps its attempts, errors and times exactly
    directory, data = _old("queue", "legacy-queued")
    state = json.loads((directory / "state.json").read_text())
    queued = entries[("legacy-queued", "http")]
    assert QueueEntry.from_dict(state) == queued
    assert (queued.attempts, queued.last_status, queued.last_error) == (2, 503, "server error")
    assert queued.details == {"retry_after": 120}
    assert box.read_bytes(queued) == data
    assert entries[("legacy-queued", "other")].attempts == 0

    # the dead letter keeps the server's reason
    dead = entries[("legacy-dead", "http")]
    assert dead.state == "dead" and "missing required property" in (dead.dead_reason or "")
    assert "missing_property=project" in (dead.dead_reason or "")
    assert box.read_bytes(dead) == _old("dead", "legacy-dead")[1]

    # a state.json that is not JSON: a dead letter with its bytes, which `retry` can still send
    corrupt = entries[("legacy-corrupt", "http")]
    assert corrupt.state == "dead" and "corrupt outbox entry" in (corrupt.dead_reason or "")
    assert corrupt.summary == parse_report(_old("queue", "legacy-corrupt")[1]).summary  # rebuilt from its bytes
    assert box.read_bytes(corrupt) == _old("queue", "legacy-corrupt")[1]

    # an entry whose state was never written is queued again from its bytes
    stateless = entries[("legacy-stateless", "http")]
    raw = _old("queue", "legacy-stateless")[1]
    report = parse_report(raw)
    assert stateless.state == "queued" and stateless.canonical_hash == report.canonical_hash
    assert stateless.summary == report.summary and stateless.project == "legacy-stateless"
    assert box.read_bytes(stateless) == raw

    # receipts: the latest per report and publisher (run ids for `jux cache list`)
    lines = (FIXTURE / "published" / "receipts.jsonl").read_text().splitlines()
    published = json.loads(lines[0])["canonical_hash"]
    st = box.state_of(published)
    assert st.state == "published" and st.run_ids == {"http": "run-2"} and str(st) == "published(run-2)"
    assert box.published_records()[0]["source"] == "published.xml"

    # the old directories are kept aside, private, and never imported twice
    assert not any((old_outbox / d).exists() for d in OLD_DIRS)
    [backup] = [p for p in old_outbox.iterdir() if p.name.startswith("legacy-")]
    assert sorted(p.name for p in backup.iterdir()) == sorted(OLD_DIRS)
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o700
    again = Outbox(path=old_outbox)
    assert _by_project(again) == entries
    with sqlite3.connect(box.database) as db:
        assert db.execute("SELECT name, entries, published FROM migrations").fetchall() == [(backup.name, 5, 2)]


def test_imported_entries_drain_like_any_other(old_outbox: Path) -> None:
    box = Outbox(path=old_outbox)
    with JuxApiServer() as srv:
        options = HttpApiPublisherOptions(url=srv.url, backoff_base=0.01, max_attempts=1)
        with HttpApiPublisher(options) as http, HttpApiPublisher(options) as other:
            result = box.drain({"http": http, "other": other}, force=True)
            assert result.ok and len(result.published) == 3  # queued (twice) and stateless
            assert box.retry(_by_project(box)[("legacy-corrupt", "http")].canonical_hash) == 1
            assert len(box.drain({"http": http}, force=True).published) == 1
        sent = {r["canonical_hash"] for r in srv.runs}
    assert {e.source for e in box.dead_entries()} == {"dead.xml"}
    assert box.entries() == []
    for project in ("legacy-queued", "legacy-stateless", "legacy-corrupt"):
        assert parse_report(_old("queue", project)[1]).canonical_hash in sent


def test_a_backup_moved_aside_by_a_killed_process_is_imported_on_the_next_open(old_outbox: Path) -> None:
    backup = old_outbox / "legacy-20300102T030405Z-abcdef"  # renamed, then the process died before its commit
    backup.mkdir()
    for name in OLD_DIRS:
        os.replace(old_outbox / name, backup / name)
    box = Outbox(path=old_outbox)
    assert len(box.entries(include_dead=True)) == 5
    assert [p.name for p in old_outbox.iterdir() if p.name.startswith("legacy-")] == [backup.name]


def test_concurrent_first_opens_import_once(old_outbox: Path) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def open_and_count() -> None:
        try:
            results.append(len(Outbox(path=old_outbox, busy_timeout=30).entries(include_dead=True)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_count) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and results == [5, 5, 5, 5]
    assert len([p for p in old_outbox.iterdir() if p.name.startswith("legacy-")]) == 1
    with sqlite3.connect(old_outbox / "outbox.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM migrations").fetchone() == (1,)


def test_an_old_version_writing_again_after_the_upgrade_loses_nothing(old_outbox: Path) -> None:
    box = Outbox(path=old_outbox)
    assert len(box.entries(include_dead=True)) == 5
    box.drop(None)
    # an old juxsdk still running on the machine queues one more entry the old way
    directory, _ = _old("queue", "legacy-queued")
    shutil.copytree(directory, old_outbox / "queue" / directory.name)
    later = Outbox(path=old_outbox)
    assert [(e.project, e.publisher) for e in later.entries()] == [("legacy-queued", "http")]
    assert len([p for p in old_outbox.iterdir() if p.name.startswith("legacy-")]) == 2
