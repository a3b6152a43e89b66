"""`jux submit` and `jux cache` when stored evidence is at stake: downgrades refused, damaged
records reported and skipped (exit 4), a root others can write warned about."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import juxsdk
from tests.cli.conftest import assert_clean_error

FILES = ["raw/generic/basic.xml", "raw/generic/with-failures.xml", "raw/pytest/xunit2-basic.xml"]
UNSIGNED = 'sign = false\nstores = ["filesystem"]\n'


def sidecar(data_dir: Path, canonical_hash: str) -> Path:
    hexd = canonical_hash.removeprefix("sha256:")
    return data_dir / "reports" / hexd[:2] / f"{hexd}.json"


@pytest.fixture
def three(jux, corpus_dir, workdir) -> list[dict]:
    (workdir / "jux.toml").write_text(UNSIGNED, encoding="utf-8")
    result = jux("submit", *(corpus_dir / f for f in FILES), "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_corrupt_sidecar_is_warned_about_and_skipped(three, jux, data_dir, corpus_dir) -> None:
    bad, *good = (e["canonical_hash"] for e in three)
    side = sidecar(data_dir, bad)
    doc = json.loads(side.read_text())
    doc["summary"]["tests"] = None  # wrong type: `jux cache list` used to crash on it
    side.write_text(json.dumps(doc))

    table = jux("cache", "list")
    assert table.exit_code == 4, table.stderr
    assert "Traceback" not in table.stderr and "internal error" not in table.stderr
    for h in good:
        assert h[7:23] in table.stdout
    assert bad[7:23] not in table.stdout
    warnings = [ln for ln in table.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and str(side) in warnings[0] and "summary.tests must be an integer" in warnings[0]
    assert any(ln.startswith("hint:") and "jux submit" in ln for ln in table.stderr.splitlines())

    listed = jux("cache", "list", "--json")
    assert listed.exit_code == 4
    assert {r["canonical_hash"] for r in json.loads(listed.stdout)} == set(good)

    stats = jux("cache", "stats", "--json")
    assert stats.exit_code == 4
    [entry] = json.loads(stats.stdout)
    assert (entry["count"], entry["problems"]) == (2, 1)

    shown = jux("cache", "show", bad[7:20])
    assert_clean_error(shown, 3, "corrupt metadata sidecar", str(side), "--xml")
    raw = jux("cache", "show", bad[7:20], "--xml")
    assert raw.exit_code == 0 and raw.stdout_bytes == (corpus_dir / FILES[0]).read_bytes()

    dry = jux("cache", "clean", "--days", "0", "--dry-run")
    assert dry.exit_code == 4 and dry.stdout.count("would delete") == 2

    assert jux("submit", corpus_dir / FILES[0]).exit_code == 0  # the same bytes rewrite the sidecar
    assert jux("cache", "list").exit_code == 0


def test_an_unsigned_submit_never_replaces_the_signed_report(jux, corpus_dir, workdir, data_dir) -> None:
    assert jux("keygen", "--type", "ec").exit_code == 0
    source = corpus_dir / "raw/generic/basic.xml"
    signed = workdir / "signed.xml"
    assert jux("sign", source, "-o", signed).exit_code == 0
    (workdir / "jux.toml").write_text(UNSIGNED, encoding="utf-8")
    assert jux("submit", signed).exit_code == 0

    result = jux("submit", source)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert "FAIL" in result.stdout and "store filesystem failed:" in result.stdout
    assert "signed copy" in result.stdout and "an unsigned copy never replaces it" in result.stdout
    assert "hint: the signed report is kept and nothing was written" in result.stdout
    [record] = json.loads(jux("cache", "list", "--json").stdout)
    assert record["signed"] is True
    assert jux("cache", "show", record["canonical_hash"], "--xml").stdout_bytes == signed.read_bytes()
    assert jux("submit", "--force", source).exit_code == 3  # not even with --force


def test_a_signed_submit_upgrades_the_unsigned_report(jux, corpus_dir, workdir) -> None:
    assert jux("keygen", "--type", "ec").exit_code == 0
    source = corpus_dir / "raw/generic/with-failures.xml"
    signed = workdir / "signed.xml"
    assert jux("sign", source, "-o", signed).exit_code == 0
    (workdir / "jux.toml").write_text(UNSIGNED, encoding="utf-8")
    assert jux("submit", source).exit_code == 0
    assert jux("submit", signed).exit_code == 0, "a signed report must replace its unsigned copy"
    table = jux("cache", "list")
    assert table.exit_code == 0 and " yes " in table.stdout


def test_a_different_signature_replaces_only_with_force(jux, corpus_dir, workdir, ec_keys) -> None:
    assert jux("keygen", "--type", "ec").exit_code == 0
    source = corpus_dir / "raw/generic/basic.xml"
    mine, theirs = workdir / "mine.xml", workdir / "theirs.xml"
    assert jux("sign", source, "-o", mine).exit_code == 0
    theirs.write_bytes(juxsdk.sign_report(source.read_bytes(), ec_keys.signer()).data)
    (workdir / "jux.toml").write_text(UNSIGNED, encoding="utf-8")
    assert jux("submit", mine).exit_code == 0

    refused = jux("submit", theirs)
    assert refused.exit_code == 3, refused.stdout + refused.stderr
    assert "already holds" in refused.stdout and "signed differently" in refused.stdout
    assert "hint:" in refused.stdout and "--force" in refused.stdout
    [record] = json.loads(jux("cache", "list", "--json").stdout)
    assert jux("cache", "show", record["canonical_hash"], "--xml").stdout_bytes == mine.read_bytes()

    assert jux("submit", "--force", theirs).exit_code == 0
    assert jux("cache", "show", record["canonical_hash"], "--xml").stdout_bytes == theirs.read_bytes()


def test_config_check_warns_about_a_root_others_can_write(jux, workdir, tmp_path) -> None:
    root = tmp_path / "open-root"
    root.mkdir()
    os.chmod(root, 0o777)
    (workdir / "jux.toml").write_text(UNSIGNED + f'\n[backends.filesystem]\nroot = "{root}"\n', encoding="utf-8")
    result = jux("config", "check")
    assert result.exit_code == 0, result.stdout + result.stderr
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("store"))
    assert f"root {root}" in line and "warning:" in line and "writable by group or others (mode 0777)" in line
    stats = jux("cache", "stats")
    assert stats.exit_code == 0
    assert "writable by group or others" in stats.stdout + stats.stderr
