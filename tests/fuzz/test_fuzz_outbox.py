"""Fuzz: the outbox queue with one entry's ``state.json`` mutated, drained by the CLI.

Three reports are queued for real once (``jux submit`` in ``cache`` mode while the reference
server answers 503); each example copies that outbox, mutates one entry's ``state.json`` (JSON
values replaced, deleted, nested; odd numbers and timestamps; bytes) and runs
``jux queue list --json`` and ``jux publish --queue --force`` against the now healthy server.

Properties: a documented exit code, no traceback, no "internal error", no token in the output;
the drain goes past the bad entry (the two others are published); and nothing is lost — the
mutated entry's report was published, or its exact bytes are still in the queue or the dead
letters.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

import juxsdk
from juxsdk.cli import cli
from juxsdk.testing.server import JuxApiServer
from tests.fuzz.check import assert_clean_cli
from tests.fuzz.conftest import corpus_bytes, corpus_path
from tests.fuzz.mutate import mutated_json
from tests.fuzz.profile import fuzz

TOKEN = "tok-fuzz-outbox-5b2e81-never-shown"
FILES = ("raw/pytest/xunit2-with-project.xml", "raw/polarion/smoke-tests.xml", "raw/pytest/xunit1-legacy-tests.xml")


def _config(url: str, outbox: Path) -> str:
    return "\n".join([
        'stores = ["filesystem"]', 'publishers = ["http"]', 'storage_mode = "cache"', "sign = false",
        'project = "fuzz"', "",
        "[backends.filesystem]", 'root = "store"', "",
        "[backends.http]", f'url = "{url}"', 'token = { env = "JUX_FUZZ_TOKEN" }',
        "backoff_base = 0.0", "max_attempts = 1", "total_deadline = 3.0", "",
        "[outbox]", f'path = "{outbox.as_posix()}"', "backoff_base = 0.001", "backoff_max = 0.001", "",
    ]) + "\n"


def _run(cwd: Path, *args: str) -> Result:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), prog_name="jux")
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def server():
    with JuxApiServer(tokens={TOKEN}) as srv:
        yield srv


@pytest.fixture(scope="module")
def queued(server, tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """An outbox holding three queued reports: ``(outbox template, {canonical hash: bytes})``."""
    wd = tmp_path_factory.mktemp("outbox-seed")
    outbox = wd / "outbox"
    (wd / "jux.toml").write_text(_config(server.url, outbox), encoding="utf-8")
    reports = {}
    mp = pytest.MonkeyPatch()
    mp.setenv("JUX_FUZZ_TOKEN", TOKEN)
    try:
        for i, rel in enumerate(FILES):
            path = wd / f"r{i}.xml"
            path.write_bytes(corpus_bytes(corpus_path(rel)))
            server.reset()
            server.inject(status=503, count=5)
            result = _run(wd, "submit", str(path))
            assert result.exit_code in (0, 4), (result.exit_code, result.stderr)  # stored, and queued
            report = juxsdk.parse_report(path.read_bytes())
            reports[report.canonical_hash] = report.data
    finally:
        mp.undo()
    server.reset()
    states = sorted(outbox.glob("queue/*/state.json"))
    assert len(states) == len(FILES), states
    return outbox, reports


def _entries(outbox: Path) -> list[Path]:
    return sorted(p.parent for p in outbox.glob("queue/*/state.json"))


@fuzz(30, shrink=False)
@given(data=st.data())
def test_drain_with_a_mutated_entry(data, server, queued, tmp_path_factory, monkeypatch) -> None:
    template, reports = queued
    wd = tmp_path_factory.mktemp("outbox")
    outbox = wd / "outbox"
    shutil.copytree(template, outbox)
    (wd / "jux.toml").write_text(_config(server.url, outbox), encoding="utf-8")
    monkeypatch.setenv("JUX_FUZZ_TOKEN", TOKEN)
    entry = data.draw(st.sampled_from(_entries(outbox)), label="entry")
    state = entry / "state.json"
    original: Any = json.loads(state.read_bytes())
    state.write_bytes(data.draw(mutated_json(original), label="state.json"))
    mutated_hash = next(h for h, body in reports.items() if (entry / "report.xml").read_bytes() == body)

    server.reset()
    listed = _run(wd, "queue", "list", "--json")
    drained = _run(wd, "publish", "--queue", "--force")
    after = _run(wd, "queue", "list", "--json")
    for result in (listed, drained, after):
        assert_clean_cli(result)
        assert TOKEN not in result.stdout + result.stderr
    published = {run["canonical_hash"] for run in server.runs}
    assert set(reports) - {mutated_hash} <= published, (drained.stderr, published)
    if mutated_hash not in published:  # nothing lost: its exact bytes wait in the queue or the dead letters
        kept = [p for p in outbox.glob("*/*/report.xml") if p.read_bytes() == reports[mutated_hash]]
        assert kept, (drained.stderr, sorted(str(p) for p in outbox.rglob("*")))
