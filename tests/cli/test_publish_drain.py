"""``jux publish --queue``: a drain a person asks for drains (Postfix's ``postqueue -f``: flush means try).

Reports are queued by real failures against the reference Jux API v1 server on 127.0.0.1 (the
server down, a 503/429 with ``Retry-After``), with the outbox's real backoff (minutes), and
drained to it over real HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections import Counter
from pathlib import Path

import pytest

from juxsdk.junit import add_properties, parse_report
from juxsdk.testing.server import JuxApiServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "jux.toml"
    path.write_text(
        'publishers = ["http"]\nstores = ["filesystem"]\nstorage_mode = "cache"\n\n'
        f'[backends.http]\nurl = "{url}"\nmax_attempts = 1\ntimeout_connect = 1.0\ntotal_deadline = 5.0\n\n'
        f'[backends.filesystem]\nroot = "{(tmp_path / "store").as_posix()}"\n\n'
        # the outbox's real policy: the first retry ten minutes after a failure, then longer
        f'[outbox]\npath = "{(tmp_path / "outbox").as_posix()}"\nbackoff_base = 600\n',
        encoding="utf-8")
    return path


@pytest.fixture
def signed_files(tmp_path, corpus_dir, rsa_signer):
    from juxsdk.xmldsig import sign_report

    base = parse_report((corpus_dir / "raw/maven-surefire/basic.xml").read_bytes())
    paths = []
    for i in range(3):
        p = tmp_path / f"signed-{i}.xml"
        p.write_bytes(sign_report(add_properties(base, {"project": f"drain-cli-{i}"}), rsa_signer).data)
        paths.append(p)
    return paths


def _hash(path: Path) -> str:
    return parse_report(path.read_bytes()).canonical_hash


def _queued(jux, cfg: Path) -> list[dict]:
    res = jux("queue", "list", "--config", cfg, "--json")
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def test_after_an_outage_publish_queue_publishes_every_queued_report_at_once(jux, tmp_path, signed_files):
    port = _free_port()
    cfg = _config(tmp_path, f"http://127.0.0.1:{port}/api/v1")
    res = jux("publish", "--config", cfg, *signed_files)  # the server is down
    assert res.exit_code == 3 and res.stdout.count("queued") == 3, res.stdout
    entries = _queued(jux, cfg)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert len(entries) == 3
    assert all(dt.datetime.fromisoformat(e["next_attempt_at"]) > soon for e in entries)  # our backoff
    assert all(e.get("retry_after_until") is None for e in entries)  # no server asked to wait

    with JuxApiServer(port=port) as srv:  # the server is back
        res = jux("publish", "--config", cfg, "--queue")
        assert res.exit_code == 0, (res.stdout, res.stderr)
        assert Counter(r["canonical_hash"] for r in srv.runs) == Counter(map(_hash, signed_files))
        assert res.stdout.count("OK   sha256:") == 3 and "SKIP" not in res.stdout
        assert "3 published, 0 still queued, 0 dead [" in res.stderr
    assert _queued(jux, cfg) == []


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_skipped_with_the_reason_and_now_publishes_it(jux, tmp_path, signed_files, status):
    with JuxApiServer() as srv:
        cfg = _config(tmp_path, srv.url)
        srv.inject(status=status, retry_after=3600)
        res = jux("publish", "--config", cfg, signed_files[0])
        assert res.exit_code == 3 and "queued" in res.stdout
        [entry] = _queued(jux, cfg)
        until = dt.datetime.fromisoformat(entry["retry_after_until"])
        assert dt.timedelta(minutes=59) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
        # another report, queued by the server being down: our backoff only
        srv.inject(drop=True)
        assert jux("publish", "--config", cfg, signed_files[1]).exit_code == 3

        res = jux("publish", "--config", cfg, "--queue")
        assert res.exit_code == 0, (res.stdout, res.stderr)
        short = _hash(signed_files[0])[7:23]
        assert f"SKIP sha256:{short} http: Retry-After until {until:%Y-%m-%d %H:%M:%S} UTC " \
               "(the server asked to wait)" in res.stdout
        assert f"OK   sha256:{_hash(signed_files[1])[7:23]} published on http" in res.stdout
        assert "1 published, 0 still queued, 0 dead, 1 skipped (1 waiting for the server's Retry-After)" \
            in res.stderr
        assert "hint: `jux publish --queue --now`" in res.stderr
        assert [r["canonical_hash"] for r in srv.runs] == [_hash(signed_files[1])]

        res = jux("publish", "--config", cfg, "--queue", "--json")
        assert res.exit_code == 0
        data = json.loads(res.stdout)
        assert data["mode"] == "manual" and data["published"] == []
        [skipped] = data["skipped"]
        assert skipped == {"canonical_hash": _hash(signed_files[0]), "publisher": "http", "reason": "retry-after",
                           "until": entry["retry_after_until"],
                           "message": f"Retry-After until {until:%Y-%m-%d %H:%M:%S} UTC (the server asked to wait)"}

        dry = json.loads(jux("publish", "--config", cfg, "--queue", "--dry-run", "--json").stdout)
        assert dry["due"] == [] and [s["reason"] for s in dry["skipped"]] == ["retry-after"]

        res = jux("publish", "--config", cfg, "--queue", "--now", "--json")
        assert res.exit_code == 0, res.stderr
        data = json.loads(res.stdout)
        assert data["mode"] == "now" and [p["canonical_hash"] for p in data["published"]] == [_hash(signed_files[0])]
        assert data["skipped"] == []
        assert len(srv.runs) == 2
    assert _queued(jux, cfg) == []


def test_force_is_a_deprecated_spelling_of_now(jux, tmp_path, signed_files):
    with JuxApiServer() as srv:
        cfg = _config(tmp_path, srv.url)
        srv.inject(status=503, retry_after=3600)
        jux("publish", "--config", cfg, signed_files[0])
        res = jux("publish", "--config", cfg, "--queue", "--force")
        assert res.exit_code == 0 and len(srv.runs) == 1
        assert "warning: --force is deprecated for `jux publish --queue`: use --now" in res.stderr
    help_text = jux("publish", "--help").stdout
    assert "--now" in help_text and "--force" not in help_text


def test_now_without_queue_is_a_usage_error(jux, tmp_path, signed_files):
    cfg = _config(tmp_path, f"http://127.0.0.1:{_free_port()}/api/v1")
    res = jux("publish", "--config", cfg, "--now", signed_files[0])
    assert res.exit_code == 2 and "--now only applies to --queue" in res.stderr
