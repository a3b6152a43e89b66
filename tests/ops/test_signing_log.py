"""The tamper-evident signing log: what the pipeline and the CLI record, the hash chain (edit, removal,
reorder, truncation), concurrent writers in several processes, rotation."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from juxsdk.signing_log import GENESIS, SigningLog, line_hash
from tests.cli.conftest import Jux


@pytest.fixture
def jux(tmp_path: Path) -> Jux:
    wd = tmp_path / "work"
    wd.mkdir()
    return Jux(wd)


def _fill(log: SigningLog, n: int) -> None:
    for i in range(n):
        assert log.record("sign", canonical_hash=f"sha256:{i:064x}", backend="file")


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_chain_and_fields(tmp_path):
    log = SigningLog(tmp_path / "signing-log.jsonl")
    _fill(log, 3)
    raw = _lines(log.path)
    first, second, third = (json.loads(x) for x in raw)
    assert first["prev"] == GENESIS and second["prev"] == line_hash(raw[0]) and third["prev"] == line_hash(raw[1])
    assert [x["seq"] for x in (first, second, third)] == [1, 2, 3]
    assert set(first) == {"v", "seq", "time", "operation", "outcome", "canonical_hash", "backend", "host", "prev"}
    assert "user" not in first  # personal data only when opted in
    result = log.verify()
    assert result.ok and result.lines == 3 and result.head == line_hash(raw[2])
    assert (log.path.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("tamper", ["edit", "remove", "reorder", "insert", "garbage", "drop-first"])
def test_tampering_is_found_and_located(tmp_path, tamper):
    log = SigningLog(tmp_path / "signing-log.jsonl")
    _fill(log, 6)
    raw = _lines(log.path)
    if tamper == "edit":
        raw[2] = raw[2].replace(b'"outcome":"ok"', b'"outcome":"no"')
        expect_line = 4  # line 3 was changed: line 4 no longer names its hash
    elif tamper == "remove":
        del raw[2]
        expect_line = 3
    elif tamper == "reorder":
        raw[2], raw[3] = raw[3], raw[2]
        expect_line = 3
    elif tamper == "insert":
        raw.insert(2, raw[1])
        expect_line = 3
    elif tamper == "garbage":
        raw[4] = b"{not json"
        expect_line = 5
    else:
        del raw[0]
        expect_line = 1
    log.path.write_bytes(b"\n".join(raw) + b"\n")
    result = SigningLog(log.path).verify()
    assert not result.ok
    assert result.problems[0].line == expect_line, [str(p) for p in result.problems]
    assert result.problems[0].file == log.path


def test_edit_of_the_last_line_needs_the_anchored_head(tmp_path):
    log = SigningLog(tmp_path / "signing-log.jsonl")
    _fill(log, 3)
    head = log.verify().head
    raw = _lines(log.path)
    log.path.write_bytes(b"\n".join(raw[:-1]) + b"\n")  # the end is cut
    assert SigningLog(log.path).verify().ok  # undetectable without an anchor ...
    result = SigningLog(log.path).verify(head=head)
    assert not result.ok and "anchored head" in result.problems[0].message  # ... caught with one


def _writer(path: str, worker: int, n: int) -> None:
    log = SigningLog(Path(path), max_bytes=64 * 1024)
    for i in range(n):
        assert log.record("store", canonical_hash=f"sha256:{worker:08x}{i:056x}", backend=f"w{worker}")


def test_concurrent_processes_never_interleave_or_lose_lines(tmp_path):
    """Four processes append 150 lines each to one log that rotates on the way (64 KiB files)."""
    path = tmp_path / "signing-log.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    log = SigningLog(path)
    result = log.verify()
    assert result.ok, [str(p) for p in result.problems]
    entries = [e for e in log.entries() if e.get("operation") == "store"]
    assert len(entries) == 600
    assert len({e.get("canonical_hash") for e in entries}) == 600
    assert len(result.files) > 1  # it rotated
    seqs = [e.seq for e in log.entries()]
    assert seqs == list(range(1, len(seqs) + 1))


def test_rotation_keeps_the_chain_and_catches_a_missing_file(tmp_path):
    log = SigningLog(tmp_path / "signing-log.jsonl", max_bytes=4096)
    _fill(log, 60)
    files = log.files()
    assert len(files) >= 3 and files[-1] == log.path
    result = log.verify()
    assert result.ok and result.lines == 60 + len(files) - 1  # one rotate line per new file
    first_of_current = json.loads(_lines(log.path)[0])
    assert first_of_current["operation"] == "rotate" and first_of_current["previous_file"] == files[-2].name
    files[1].unlink()  # a rotated file disappears
    broken = SigningLog(log.path).verify()
    assert not broken.ok and any("missing" in p.message or "names" in p.message for p in broken.problems)


def test_cli_records_sign_store_verify_delete_and_log_commands(jux, tmp_path, corpus_dir):
    wd = jux.cwd
    assert jux("keygen", "--type", "ec").exit_code == 0
    report = corpus_dir / "raw/generic/basic.xml"
    signed = wd / "signed.xml"
    assert jux("sign", report, "-o", signed).exit_code == 0
    assert jux("submit", report).exit_code == 0
    assert jux("verify", signed, "--unsafe-accept-any-key").exit_code == 0
    tampered = wd / "tampered.xml"
    tampered.write_bytes(signed.read_bytes().replace(b'name="', b'name="x', 1))
    assert jux("verify", tampered, "--unsafe-accept-any-key").exit_code == 1
    assert jux("cache", "clean", "--days", "0").exit_code == 0
    shown = jux("log", "show", "--json")
    assert shown.exit_code == 0, shown.stderr
    lines = json.loads(shown.stdout)
    ops = [x["operation"] for x in lines]
    assert {"sign", "store", "verify", "delete"} <= set(ops)
    verdicts = [x["outcome"] for x in lines if x["operation"] == "verify"]
    assert "ok" in verdicts and any(v != "ok" for v in verdicts)
    signs = json.loads(jux("log", "show", "--operation", "sign", "--json").stdout)
    assert signs and all(x["operation"] == "sign" and x["signer"] for x in signs)
    stores = json.loads(jux("log", "show", "--operation", "store", "--backend", "filesystem", "--json").stdout)
    assert stores and all(x["backend"] == "filesystem" for x in stores)
    some = stores[0]["canonical_hash"]
    assert json.loads(jux("log", "show", "--hash", some[7:19], "--json").stdout)
    text = jux("log", "show", "--last", "1")
    assert text.exit_code == 0 and len(text.stdout.splitlines()) == 1
    ok = jux("log", "verify")
    assert ok.exit_code == 0 and ok.stdout.startswith("OK ")
    head = ok.stdout.split("head ")[1].strip()
    path = Path(json.loads(jux("log", "verify", "--json").stdout)["files"][-1])
    raw = _lines(path)
    raw[0] = raw[0].replace(b'"outcome":"ok"', b'"outcome":"failed"')
    path.write_bytes(b"\n".join(raw) + b"\n")
    bad = jux("log", "verify")
    assert bad.exit_code == 1
    assert f"FAIL {path.name}:2:" in bad.stdout and "line 1 was edited" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
    assert jux("log", "verify", "--head", head).exit_code == 1
