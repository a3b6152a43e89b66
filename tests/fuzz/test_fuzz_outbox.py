"""Fuzz: a directory outbox (juxsdk before the SQLite outbox) with one ``state.json`` mutated,
imported and drained by the CLI.

The seed is ``tests/integration/data/directory-outbox``, written by juxsdk 0.1.0's own outbox
(queued entries, a dead letter, receipts, lock and trash files). Each example copies it, mutates
one entry's ``state.json`` (JSON values replaced, deleted, nested; odd numbers and timestamps;
bytes), points ``[outbox] path`` at it and runs ``jux queue list --json`` (the first open
imports the directory) and ``jux publish --queue --force`` against the reference server.

Properties: a documented exit code, no traceback, no "internal error"; nothing is lost — every
entry of the directory (the mutated one included) is listed by ``jux queue list`` after the
import, queued or dead, or was published; the drain goes past the bad entry.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from juxsdk.cli import cli
from juxsdk.testing.server import JuxApiServer
from tests.fuzz.check import assert_clean_cli
from tests.fuzz.mutate import mutated_json
from tests.fuzz.profile import fuzz

FIXTURE = Path(__file__).resolve().parents[1] / "integration" / "data" / "directory-outbox"
STATES = sorted(p.relative_to(FIXTURE) for p in FIXTURE.glob("*/*/state.json") if p.read_bytes().startswith(b"{\n"))
ENTRIES = sorted(p.parent.name for p in FIXTURE.glob("[qd]*/*/report.xml"))


def _run(cwd: Path, *args: str) -> Result:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), prog_name="jux")
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def server():
    with JuxApiServer() as srv:
        yield srv


@fuzz(30, shrink=False)
@given(data=st.data())
def test_import_and_drain_with_a_mutated_state(data, server, tmp_path_factory) -> None:
    assert STATES and ENTRIES, FIXTURE
    wd = tmp_path_factory.mktemp("outbox")
    outbox = wd / "outbox"
    shutil.copytree(FIXTURE, outbox)
    rel = data.draw(st.sampled_from(STATES), label="state.json")
    state = outbox / rel
    state.write_bytes(data.draw(mutated_json(json.loads(state.read_bytes())), label="mutated"))
    (wd / "jux.toml").write_text("\n".join([
        'stores = ["filesystem"]', 'publishers = ["http"]', 'storage_mode = "cache"', "sign = false", "",
        "[backends.http]", f'url = "{server.url}"', "backoff_base = 0.0", "max_attempts = 1",
        "total_deadline = 3.0", "",
        "[outbox]", f'path = "{outbox.as_posix()}"', "backoff_base = 0.001", "backoff_max = 0.001", "",
    ]) + "\n", encoding="utf-8")

    server.reset()
    listed = _run(wd, "queue", "list", "--json")
    drained = _run(wd, "publish", "--queue", "--force")
    for result in (listed, drained):
        assert_clean_cli(result)
    assert listed.exit_code in (0, 4), listed.stderr
    # nothing lost in the import: every entry of the directory is listed (queued or dead)
    for name in ENTRIES:
        assert name.partition(".")[0] in listed.stdout, (name, listed.stdout[-2000:])
