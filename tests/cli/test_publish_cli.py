"""``jux publish`` and ``jux queue`` against the reference Jux API v1 server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from juxsdk.cli import cli
from juxsdk.junit import add_properties, parse_report
from juxsdk.testing.server import JuxApiServer

TOKEN = "cli-secret-token-9b2d4f0e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path: Path, url: str, *, mode: str = "both", token_env: str | None = None) -> Path:
    lines = [
        'publishers = ["http"]',
        'stores = ["filesystem"]',
        f'storage_mode = "{mode}"',
        "",
        "[backends.http]",
        f'url = "{url}"',
        "backoff_base = 0.01",
        "max_attempts = 2",
        "timeout_connect = 1.0",
        "total_deadline = 5.0",
    ]
    if token_env:
        lines.append(f'token = {{ env = "{token_env}" }}')
    lines += ["", "[backends.filesystem]", f'root = "{(tmp_path / "store").as_posix()}"',
              "", "[outbox]", f'path = "{(tmp_path / "outbox").as_posix()}"', "backoff_base = 0.01",
              "backoff_max = 0.05"]
    path = tmp_path / "jux.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def signed_files(tmp_path, corpus_dir, rsa_signer):
    from juxsdk.xmldsig import sign_report

    base = parse_report((corpus_dir / "raw/maven-surefire/basic.xml").read_bytes())
    paths = []
    for i in range(3):
        signed = sign_report(add_properties(base, {"project": f"cli-{i}"}), rsa_signer)
        p = tmp_path / f"signed-{i}.xml"
        p.write_bytes(signed.data)
        paths.append(p)
    return paths


@pytest.fixture
def unsigned_file(tmp_path, corpus_dir):
    base = parse_report((corpus_dir / "raw/maven-surefire/basic.xml").read_bytes())
    p = tmp_path / "unsigned.xml"
    p.write_bytes(add_properties(base, {"project": "cli-unsigned"}).data)
    return p


def test_publish_signed_files_then_again_already_there(runner, tmp_path, signed_files):
    with JuxApiServer() as srv:
        cfg = _config(tmp_path, srv.url)
        args = ["publish", "--config", str(cfg), *map(str, signed_files)]
        res = runner.invoke(cli, args)
        assert res.exit_code == 0, res.output
        assert len(srv.runs) == 3
        for run in srv.runs:
            assert run["id"] in res.output
        for p in signed_files:  # exact bytes on the server
            assert parse_report(p.read_bytes()).canonical_hash in {r["canonical_hash"] for r in srv.runs}
            assert srv.body_of(parse_report(p.read_bytes()).canonical_hash) == p.read_bytes()
        again = runner.invoke(cli, args)
        assert again.exit_code == 0 and again.output.count("already there") == 3
        assert len(srv.runs) == 3


def test_unsigned_is_refused_without_allow_unsigned(runner, tmp_path, unsigned_file):
    with JuxApiServer() as srv:
        cfg = _config(tmp_path, srv.url)
        res = runner.invoke(cli, ["publish", "--config", str(cfg), str(unsigned_file)])
        assert res.exit_code == 3
        assert "not signed" in res.output and "--allow-unsigned" in res.output
        assert not srv.submissions
        ok = runner.invoke(cli, ["publish", "--config", str(cfg), "--allow-unsigned", str(unsigned_file)])
        assert ok.exit_code == 0, ok.output
        assert len(srv.runs) == 1


def test_some_published_exits_4_with_server_reason(runner, tmp_path, signed_files, corpus_dir, rsa_signer):
    from juxsdk.xmldsig import sign_report

    no_project = tmp_path / "no-project.xml"
    no_project.write_bytes(sign_report(parse_report((corpus_dir / "raw/generic/basic.xml").read_bytes()),
                                       rsa_signer).data)
    with JuxApiServer() as srv:
        cfg = _config(tmp_path, srv.url)
        res = runner.invoke(cli, ["publish", "--config", str(cfg), str(signed_files[0]), str(no_project)])
    assert res.exit_code == 4, res.output
    assert "missing required property" in res.output and "project" in res.output


def test_none_published_exits_3_and_json(runner, tmp_path, signed_files):
    cfg = _config(tmp_path, f"http://127.0.0.1:{_free_port()}/api/v1")
    res = runner.invoke(cli, ["publish", "--config", str(cfg), "--json", *map(str, signed_files)])
    assert res.exit_code == 3
    data = json.loads(res.stdout)
    assert [d["ok"] for d in data] == [False] * 3
    assert all("connection refused" in d["published"][0]["error"]["message"] for d in data)
    assert all(not d["published"][0]["queued"] for d in data)  # mode "both": not queued


def test_dry_run_needs_no_server(runner, tmp_path, signed_files):
    cfg = _config(tmp_path, f"http://127.0.0.1:{_free_port()}/api/v1")
    res = runner.invoke(cli, ["publish", "--config", str(cfg), "--dry-run", "--json", str(signed_files[0])])
    assert res.exit_code == 0, res.output
    [entry] = json.loads(res.stdout)
    [would] = entry["would_send"]
    assert would["endpoint"].endswith("/api/v1/junit/submit")
    assert would["headers"]["Idempotency-Key"] == entry["canonical_hash"]


def test_usage_and_config_errors_exit_2(runner, tmp_path, signed_files):
    assert runner.invoke(cli, ["publish"]).exit_code == 2
    cfg = _config(tmp_path, "http://127.0.0.1:9/api/v1")
    assert runner.invoke(cli, ["publish", "--config", str(cfg), "--queue", str(signed_files[0])]).exit_code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('publishers = ["http"]\n[backends.http]\nurl = "ftp://nope/api/v1"\n')
    res = runner.invoke(cli, ["publish", "--config", str(bad), str(signed_files[0])])
    assert res.exit_code == 2 and "http(s)" in res.output
    none = tmp_path / "none.toml"
    none.write_text('publishers = []\n')
    res = runner.invoke(cli, ["publish", "--config", str(none), str(signed_files[0])])
    assert res.exit_code == 2 and "no publisher" in res.output


def test_cache_mode_refused_then_queue_drain_gives_one_run_each(runner, tmp_path, signed_files):
    port = _free_port()
    cfg = _config(tmp_path, f"http://127.0.0.1:{port}/api/v1", mode="cache")
    files = list(map(str, signed_files))
    res = runner.invoke(cli, ["publish", "--config", str(cfg), *files])
    assert res.exit_code == 3 and res.output.count("queued") >= 3

    listed = runner.invoke(cli, ["queue", "list", "--config", str(cfg), "--json"])
    assert listed.exit_code == 0
    entries = json.loads(listed.stdout)
    assert len(entries) == 3 and {e["state"] for e in entries} == {"queued"}
    assert all(e["attempts"] == 1 and "connection refused" in e["last_error"] for e in entries)

    with JuxApiServer(port=port) as srv:
        drained = runner.invoke(cli, ["publish", "--config", str(cfg), "--queue", "--force", "-j", "2"])
        assert drained.exit_code == 0, drained.output
        hashes = Counter(r["canonical_hash"] for r in srv.runs)
        assert hashes == Counter(parse_report(Path(f).read_bytes()).canonical_hash for f in files)
        again = runner.invoke(cli, ["publish", "--config", str(cfg), "--queue"])
        assert again.exit_code == 0 and len(srv.runs) == 3
    assert json.loads(runner.invoke(cli, ["queue", "list", "--config", str(cfg), "--json"]).stdout) == []


def test_queue_retry_and_drop(runner, tmp_path, signed_files):
    cfg = _config(tmp_path, f"http://127.0.0.1:{_free_port()}/api/v1", mode="cache")
    runner.invoke(cli, ["publish", "--config", str(cfg), *map(str, signed_files[:2])])
    entries = json.loads(runner.invoke(cli, ["queue", "list", "--config", str(cfg), "--json"]).stdout)
    assert len(entries) == 2
    prefix = entries[0]["canonical_hash"].split(":")[1][:12]
    assert runner.invoke(cli, ["queue", "retry", "--config", str(cfg)]).exit_code == 2
    res = runner.invoke(cli, ["queue", "retry", "--config", str(cfg), "--all"])
    assert res.exit_code == 0 and "2 entries" in res.output
    res = runner.invoke(cli, ["queue", "drop", "--config", str(cfg), prefix])
    assert res.exit_code == 0 and "dropped 1" in res.output
    left = json.loads(runner.invoke(cli, ["queue", "list", "--config", str(cfg), "--json"]).stdout)
    assert [e["canonical_hash"] for e in left] == [entries[1]["canonical_hash"]]
    assert runner.invoke(cli, ["queue", "drop", "--config", str(cfg), "zz"]).exit_code == 2
    text = runner.invoke(cli, ["queue", "list", "--config", str(cfg)])
    assert entries[1]["canonical_hash"].split(":")[1][:16] in text.output


def test_token_never_printed(runner, tmp_path, signed_files, monkeypatch):
    monkeypatch.setenv("JUX_TEST_TOKEN", TOKEN)
    with JuxApiServer(tokens={"another-token"}) as srv:
        cfg = _config(tmp_path, srv.url, token_env="JUX_TEST_TOKEN")
        for extra in ([], ["--json"], ["-v"], ["--dry-run", "--json"]):
            res = runner.invoke(cli, ["publish", "--config", str(cfg), *extra, str(signed_files[0])])
            assert TOKEN not in res.output
            if "--dry-run" not in extra:
                assert res.exit_code == 3 and ("403" in res.output or "revoked" in res.output)
    cfgshow = runner.invoke(cli, ["config", "show", "--config", str(cfg)])
    assert TOKEN not in cfgshow.output


def test_publish_alias(tmp_path, signed_files, capsys):
    from juxsdk.cli import publish_main

    with JuxApiServer() as srv:
        with pytest.raises(SystemExit) as ei:
            publish_main(["--url", srv.url, str(signed_files[0])])
        assert ei.value.code == 0
        assert len(srv.runs) == 1
    assert srv.runs[0]["id"] in capsys.readouterr().out


def test_queue_drain_goes_past_corrupt_entries_and_reports_them(runner, tmp_path, signed_files, monkeypatch):
    import sqlite3

    from juxsdk.outbox import drain as drain_module

    port = _free_port()
    cfg = _config(tmp_path, f"http://127.0.0.1:{port}/api/v1", mode="cache")
    runner.invoke(cli, ["publish", "--config", str(cfg), *map(str, signed_files)])
    entries = json.loads(runner.invoke(cli, ["queue", "list", "--config", str(cfg), "--json"]).stdout)
    keys = [f"{e['canonical_hash'].split(':')[1]}.{e['publisher']}" for e in entries]
    with sqlite3.connect(tmp_path / "outbox" / "outbox.sqlite3") as db:  # someone edits the database
        db.execute("UPDATE entries SET summary = '{ not json' WHERE canonical_hash = ?",
                   (entries[0]["canonical_hash"],))
    real_claim = drain_module.Drain._claim

    def locked_claim(self, conn, row):  # the database refuses this one entry
        if row.key == keys[1]:
            raise sqlite3.OperationalError("database is locked")
        return real_claim(self, conn, row)

    monkeypatch.setattr(drain_module.Drain, "_claim", locked_claim)
    with JuxApiServer(port=port) as srv:
        res = runner.invoke(cli, ["publish", "--config", str(cfg), "--queue", "--force"])
        assert res.exit_code == 4, res.output  # some published, some not
        assert len(srv.runs) == 1
        assert f"DEAD sha256:{keys[0][:16]}" in res.output and "corrupt outbox entry" in res.output
        assert f"FAIL {keys[1]}: OperationalError: database is locked" in res.output
        assert "1 could not be processed" in res.output and "Traceback" not in res.output
        again = runner.invoke(cli, ["publish", "--config", str(cfg), "--queue", "--force", "--json"])
    assert again.exit_code == 3
    data = json.loads(again.stdout)
    assert [b["key"] for b in data["broken"]] == [keys[1]]
    listed = json.loads(runner.invoke(cli, ["queue", "list", "--config", str(cfg), "--json"]).stdout)
    states = {f"{e['canonical_hash'].split(':')[1]}.{e['publisher']}": e["state"] for e in listed}
    assert states == {keys[0]: "dead", keys[1]: "queued"}  # both stay visible to `jux queue`
