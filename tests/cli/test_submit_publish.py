"""`jux submit` with a publisher (reference Jux API server on loopback) and `cache list` publish state."""

from __future__ import annotations

import json

import pytest

from juxsdk.testing.server import JuxApiServer

TOKEN = "cli-test-token-5b7e0c"


@pytest.fixture
def server():
    with JuxApiServer(tokens={TOKEN}) as srv:
        yield srv


def _config(workdir, url: str, mode: str) -> None:
    (workdir / "jux.toml").write_text(
        'project = "pump"\n'
        'publishers = ["http"]\n'
        f'storage_mode = "{mode}"\n'
        "[backends.http]\n"
        f'url = "{url}"\n'
        'token = { env = "JUX_API_TOKEN" }\n'
        "max_attempts = 1\n"
        "total_deadline = 5.0\n"
        "timeout_connect = 2.0\n"
        "timeout_read = 5.0\n",
        encoding="utf-8",
    )


def test_submit_both_publishes_and_stores(jux, workdir, corpus_dir, server, monkeypatch):
    monkeypatch.setenv("JUX_API_TOKEN", TOKEN)
    assert jux("keygen", "--type", "ec").exit_code == 0
    _config(workdir, server.url, "both")
    result = jux("submit", corpus_dir / "raw/generic/basic.xml", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
    [entry] = json.loads(result.stdout)
    assert entry["stored"][0]["ok"]
    [pub] = entry["published"]
    assert pub["ok"] and pub["receipt"]["status"] in ("created", "duplicate")
    assert len(server.runs) == 1
    assert server.body_of(entry["canonical_hash"]) is not None


def test_cache_mode_queues_on_transient_failure(jux, workdir, corpus_dir, server, monkeypatch):
    monkeypatch.setenv("JUX_API_TOKEN", TOKEN)
    assert jux("keygen", "--type", "ec").exit_code == 0
    _config(workdir, server.url, "cache")
    server.inject(status=503, count=5)
    result = jux("submit", corpus_dir / "raw/generic/with-failures.xml")
    assert result.exit_code == 0, result.stdout + result.stderr  # queued counts as done in cache mode
    assert "queued" in result.stdout
    listed = json.loads(jux("cache", "list", "--json").stdout)
    assert [r.get("publish_state") for r in listed] == ["queued"]
    table = jux("cache", "list").stdout
    assert "PUBLISH" in table and "queued" in table


def test_both_mode_publish_failure_is_partial(jux, workdir, corpus_dir, monkeypatch):
    monkeypatch.setenv("JUX_API_TOKEN", "wrong")
    assert jux("keygen", "--type", "ec").exit_code == 0
    with JuxApiServer(tokens={TOKEN}) as srv:
        _config(workdir, srv.url, "both")
        result = jux("submit", corpus_dir / "raw/generic/basic.xml")
    assert result.exit_code == 4, result.stdout + result.stderr
    assert "publish to http failed" in result.stdout and result.stdout.startswith("PART")
    assert "stored in filesystem" in result.stdout
