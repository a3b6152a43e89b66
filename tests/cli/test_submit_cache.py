"""`jux submit` into the filesystem store, then `jux cache list|show|stats|clean`."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import assert_clean_error

FILES = ["raw/generic/basic.xml", "raw/generic/with-failures.xml", "raw/pytest/xunit2-basic.xml"]


@pytest.fixture
def submitted(jux, corpus_dir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    paths = [corpus_dir / f for f in FILES]
    result = jux("submit", *paths, "--project", "pump-controller", "--property", "build=42", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    entries = json.loads(result.stdout)
    assert [e["file"] for e in entries] == [str(p) for p in paths]
    return entries


def test_submit_signs_and_stores(submitted, jux, data_dir, config_dir):
    for entry in submitted:
        assert entry["ok"] and entry["signed"]
        assert entry["signature"]["algorithm"] == "ecdsa-sha256"
        [stored] = entry["stored"]
        assert stored["store"] == "filesystem" and stored["ok"]
        assert stored["location"].startswith(str(data_dir))
    # what was stored is signed and verifies with the keygen certificate
    first = submitted[0]["canonical_hash"].split(":")[1][:10]
    xml = jux("cache", "show", first, "--xml")
    assert xml.exit_code == 0
    (config_dir / "x.xml").write_bytes(xml.stdout_bytes)
    verified = jux("verify", "--cert", config_dir / "signing-cert.pem", config_dir / "x.xml", "--json")
    assert verified.exit_code == 0, verified.stdout
    [v] = json.loads(verified.stdout)
    props = dict(map(tuple, v["properties"]))
    assert props["project"] == "pump-controller"
    assert props["build"] == "42"


def test_cache_list_filters(submitted, jux):
    listed = json.loads(jux("cache", "list", "--json").stdout)
    assert {r["canonical_hash"] for r in listed} == {e["canonical_hash"] for e in submitted}
    failed = json.loads(jux("cache", "list", "--failed", "--json").stdout)
    expected = {e["canonical_hash"] for e in submitted if e["summary"]["failures"] + e["summary"]["errors"]}
    assert 0 < len(expected) < len(submitted)
    assert {r["canonical_hash"] for r in failed} == expected
    assert json.loads(jux("cache", "list", "--project", "other", "--json").stdout) == []
    assert len(json.loads(jux("cache", "list", "--project", "pump-controller", "--json").stdout)) == 3
    assert json.loads(jux("cache", "list", "--since", "2999-01-01", "--json").stdout) == []
    assert json.loads(jux("cache", "list", "--until", "2000-01-01", "--json").stdout) == []
    table = jux("cache", "list")
    assert table.exit_code == 0
    for e in submitted:
        assert e["canonical_hash"].split(":")[1][:16] in table.stdout
    assert jux("cache", "list", "--since", "yesterday").exit_code == 2


def test_cache_show_by_prefix(submitted, jux):
    full = submitted[1]["canonical_hash"]
    shown = jux("cache", "show", full.split(":")[1][:8])
    assert shown.exit_code == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["canonical_hash"] == full
    assert record["summary"]["failures"] == 2
    assert record["signature"]["algorithm"] == "ecdsa-sha256"
    assert jux("cache", "show", full).exit_code == 0
    assert_clean_error(jux("cache", "show", "ffffffffffff0000"), 3, "ffffffffffff0000")
    assert jux("cache", "show", "not-hex").exit_code == 2  # a usage error (issue 12)


def test_cache_stats_and_clean(submitted, jux, data_dir):
    stats = json.loads(jux("cache", "stats", "--json").stdout)
    assert stats[0]["store"] == "filesystem" and stats[0]["count"] == 3 and stats[0]["bytes"] > 0

    old = jux("cache", "clean", "--days", "30")
    assert old.exit_code == 0 and "deleted 0 report" in old.stderr
    dry = jux("cache", "clean", "--days", "0", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.count("would delete") == 3
    assert json.loads(jux("cache", "stats", "--json").stdout)[0]["count"] == 3, "dry run deleted something"
    real = jux("cache", "clean", "--days", "0")
    assert real.exit_code == 0 and real.stdout.count("deleted") == 3
    assert json.loads(jux("cache", "stats", "--json").stdout)[0]["count"] == 0
    assert jux("cache", "clean").exit_code == 2  # --days is required


def test_submit_is_idempotent_and_partial_failures(jux, corpus_dir, workdir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    good = corpus_dir / "raw/generic/basic.xml"
    bad = (
        corpus_dir / "edge-cases/malformed" / sorted(p.name for p in (corpus_dir / "edge-cases/malformed").iterdir())[0]
    )
    result = jux("submit", good, bad, "missing.xml")
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert "OK" in result.stdout
    assert "missing.xml: no such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert jux("submit", "missing.xml").exit_code == 3


def test_submit_without_a_key_explains(jux, corpus_dir):
    result = jux("submit", corpus_dir / "raw/generic/basic.xml")
    assert_clean_error(result, 2, "jux keygen")


def test_submit_unsigned_when_signing_disabled(jux, corpus_dir, workdir):
    (workdir / "jux.toml").write_text('sign = false\nstores = ["filesystem"]\n', encoding="utf-8")
    result = jux("submit", corpus_dir / "raw/generic/basic.xml", "--json")
    assert result.exit_code == 0, result.stderr
    [entry] = json.loads(result.stdout)
    assert entry["signed"] is False and entry["stored"][0]["ok"]
