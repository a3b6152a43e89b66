"""The API token never leaves except in the Authorization header — end to end.

`jux submit` (cache mode: sign, store, publish, queue) and `jux publish --queue` against the
reference server in its token-echoing hostile mode: the server sends the bearer token back in
error body keys and nested values (raw, percent-encoded, base64, JSON-escaped), in the reason
phrase, in a redirect's Location and in success bodies. Afterwards the whole data directory
(store, the outbox database with its queue, dead letters and receipts), every command's stdout and
stderr, and every log record are searched for the token.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3
import urllib.parse
from pathlib import Path

from juxsdk.testing.server import JuxApiServer

TOKEN = "tok-e2e-4c1f9d7a2b-never-shown"
LEAKS = [
    TOKEN.encode(),
    urllib.parse.quote(TOKEN, safe="").encode(),
    base64.b64encode(f"Bearer {TOKEN}".encode()),
    base64.b64encode(f"user:{TOKEN}".encode()),
    "".join(f"\\u{ord(c):04x}" for c in TOKEN).encode(),
]
FILES = ["raw/generic/basic.xml", "raw/generic/api-tests.xml", "raw/generic/complete.xml",
         "raw/generic/database-tests.xml", "raw/generic/e2e-tests.xml", "raw/generic/integration-tests.xml"]


def _grep(blob: bytes, where: str) -> None:
    for leak in LEAKS:
        assert leak not in blob, f"token form {leak[:20]!r}… found in {where}"


def _grep_tree(root: Path) -> int:
    """Search every file under ``root``; the number of files searched."""
    seen = 0
    for base, _dirs, names in os.walk(root):
        for name in names:
            path = Path(base) / name
            _grep(path.read_bytes(), str(path))
            seen += 1
    return seen


def test_echoed_token_reaches_no_file_terminal_or_log(jux, workdir, data_dir, corpus_dir, monkeypatch, caplog):
    files = [corpus_dir / f for f in FILES]
    monkeypatch.setenv("JUX_E2E_TOKEN", TOKEN)
    outputs: list[tuple[str, bytes]] = []
    with JuxApiServer(tokens={TOKEN}) as srv, caplog.at_level(logging.DEBUG):
        (workdir / "jux.toml").write_text("\n".join([
            'stores = ["filesystem"]', 'publishers = ["http"]', 'storage_mode = "cache"', "",
            "[backends.http]", f'url = "{srv.url}"', 'token = { env = "JUX_E2E_TOKEN" }',
            "backoff_base = 0.01", "max_attempts = 2", "total_deadline = 5.0", "",
            "[outbox]", "backoff_base = 0.01", "backoff_max = 0.05",
        ]) + "\n", encoding="utf-8")
        assert jux("keygen", "--type", "ec").exit_code == 0

        def run(*args: str | os.PathLike[str]) -> None:
            result = jux(*args)
            assert "Traceback" not in result.stdout + result.stderr
            outputs.append((" ".join(map(str, args)), result.stdout_bytes + result.stderr_bytes))

        answers = [
            {"status": 400, "echo_token": True},               # dead letter, details kept in the outbox
            {"status": 503, "echo_token": True, "count": 2},   # queued, details kept
            {"status": 302, "echo_token": True},               # Location carries the token
            {"status": 502, "body": b"<html>no</html>", "reason": f"Bad Gateway {TOKEN}", "count": 2},
            {"echo_token": True},                              # 201 whose body echoes the token
            {"status": 409, "echo_token": True},               # duplicate with an echo
        ]
        for path, answer in zip(files, answers, strict=True):
            srv.inject(**answer)
            run("submit", path)
            run("submit", path, "--json", "--force")
        run("queue", "list")
        # the outbox now holds dead letters and queued entries with the server's (scrubbed) answers
        with sqlite3.connect(data_dir / "outbox" / "outbox.sqlite3") as db:
            kept = db.execute("SELECT count(*) FROM entries WHERE details LIKE '%****%'").fetchone()[0]
        assert kept >= 1
        _grep_tree(data_dir)
        run("queue", "list", "--json")
        run("cache", "list")
        srv.inject(echo_token=True, count=20)  # the drain's successes echo too
        run("publish", "--queue", "--force")
        run("queue", "retry", "--all")
        run("publish", "--queue", "--force", "--json")
        run("queue", "list", "--json")
        assert any(s.bearer for s in srv.submissions)  # the token did go out, in the header

    files_seen = _grep_tree(data_dir)
    assert files_seen >= 10  # stored reports and sidecars, the outbox database
    with sqlite3.connect(data_dir / "outbox" / "outbox.sqlite3") as db:  # it was among the files searched
        assert db.execute("SELECT count(*) FROM published").fetchone()[0] >= 4  # receipts (run ids)
    for command, output in outputs:
        _grep(output, f"the output of `jux {command}`")
    _grep(caplog.text.encode(), "the log records")
    # the scrubbing is visible, not silent: the server's words are kept with the token masked
    dead = json.loads(next(o for c, o in outputs if c.endswith("--json") and c.startswith("queue list")))
    assert any("****" in json.dumps(e) for e in dead)
