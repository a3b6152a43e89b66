"""S3Store when objects are tampered with behind its back, on moto's real S3 server (loopback).

The objects are changed directly with boto3: an unsigned report planted over a signed one, a
missing or corrupt metadata object, a concurrent writer slipping in between the store's read
and its write. Stored evidence must never be downgraded and a damaged record never breaks
``list`` or ``jux cache``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from juxsdk.cli import cli
from juxsdk.errors import CorruptSidecarError, StoreConflictError, StoreError
from juxsdk.junit import parse_report
from juxsdk.sidecars import STORE_LOGGER
from juxsdk.testing import MemorySigner, make_report
from juxsdk.xmldsig import sign_report
from juxsdk_backends.s3 import S3Store
from tests.s3support import make_s3_store, s3_client, start_moto

ACCESS_KEY = "AKIAJUXTAMPERING0001"
SECRET_KEY = "jux-tampering-secret-never-shown-555"
BUCKET = "jux-tampering"
SIGNER = MemorySigner(MemorySigner.Options(algorithm="ecdsa-sha256", certificate=True))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server, url = start_moto(BUCKET, ACCESS_KEY, SECRET_KEY)
    yield url
    server.stop()


@pytest.fixture
def raw(endpoint: str) -> Any:
    return s3_client(endpoint, ACCESS_KEY, SECRET_KEY)


@pytest.fixture
def store(endpoint: str) -> Iterator[S3Store]:
    s = make_s3_store(
        endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, prefix_root="tamper", bucket=BUCKET, max_attempts=1
    )
    yield s
    s.close()


def keys(store: S3Store, canonical_hash: str) -> tuple[str, str]:
    hexd = canonical_hash.removeprefix("sha256:")
    base = f"{store.options.prefix}/reports/{hexd}"
    return f"{base}.xml", f"{base}.json"


def body(raw: Any, key: str) -> bytes:
    return bytes(raw.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_unsigned_put_never_replaces_a_signed_object(store: S3Store, raw: Any) -> None:
    report = make_report(3, failures=1, tag="s3-downgrade")
    signed = sign_report(report, SIGNER)
    store.put(signed)
    xml_key, _ = keys(store, report.canonical_hash)
    for replace in (False, True):
        with pytest.raises(StoreError) as info:
            store.put(report, replace=replace)
        assert isinstance(info.value, StoreConflictError) and info.value.reason == "downgrade"
        assert f"s3://{BUCKET}/{xml_key}" in info.value.message
    assert body(raw, xml_key) == signed.data
    assert store.metadata(report.canonical_hash).signed


def test_missing_metadata_object_still_protects_the_signed_bytes(store: S3Store, raw: Any) -> None:
    report = make_report(2, tag="s3-no-sidecar")
    signed = sign_report(report, SIGNER)
    store.put(signed)
    xml_key, side_key = keys(store, report.canonical_hash)
    raw.delete_object(Bucket=BUCKET, Key=side_key)
    assert store.exists(report.canonical_hash) is False
    with pytest.raises(StoreConflictError):
        store.put(report)
    assert body(raw, xml_key) == signed.data
    record = store.put(signed)  # the same bytes again restore the metadata object
    assert record.signed and store.exists(report.canonical_hash)


def test_unsigned_object_planted_over_a_signed_one_is_detected_and_upgraded_back(
    store: S3Store, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    report = make_report(4, failures=2, tag="s3-planted")
    signed = sign_report(report, SIGNER)
    other = make_report(tag="s3-planted-other")
    store.put(other)
    store.put(signed)
    xml_key, _ = keys(store, report.canonical_hash)
    raw.put_object(Bucket=BUCKET, Key=xml_key, Body=report.data)  # behind the store's back
    with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
        assert [r.canonical_hash for r in store.list()] == [other.canonical_hash]
    warned = [r.getMessage() for r in caplog.records if hasattr(r, "jux_store_problem")]
    assert any("size" in m and report.canonical_hash.removeprefix("sha256:") in m for m in warned), warned
    with pytest.raises(CorruptSidecarError, match="size"):
        store.metadata(report.canonical_hash)
    record = store.put(signed)  # signed over the planted unsigned copy: an upgrade
    assert record.signed and body(raw, xml_key) == signed.data
    assert {r.canonical_hash for r in store.list()} == {other.canonical_hash, report.canonical_hash}


def test_a_writer_slipping_in_between_read_and_write_wins_the_rule(
    store: S3Store, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store read an unsigned object; before it writes, another writer upgrades it to a
    signed one. The store's write is ``If-Match`` on what it read, so it fails, the rule runs
    again on the signed bytes, and the unsigned write is refused instead of downgrading."""
    report = make_report(3, tag="s3-race")
    crlf = parse_report(report.data.replace(b"\n", b"\r\n"))
    signed = sign_report(report, SIGNER)
    store.put(report)
    xml_key, _ = keys(store, report.canonical_hash)
    real_read = S3Store._read
    planted: list[str] = []

    def read_then_let_the_other_writer_in(self: S3Store, key: str, action: str, **kwargs: Any) -> Any:
        got = real_read(self, key, action, **kwargs)
        if key == xml_key and not planted:
            planted.append(key)
            raw.put_object(Bucket=BUCKET, Key=xml_key, Body=signed.data)  # the concurrent upgrade
        return got

    monkeypatch.setattr(S3Store, "_read", read_then_let_the_other_writer_in)
    with pytest.raises(StoreConflictError) as info:
        store.put(crlf, replace=True)
    assert planted and info.value.reason == "downgrade"
    assert body(raw, xml_key) == signed.data, "an unsigned write raced past the rule"


def test_jux_cache_reports_a_corrupt_metadata_object_and_lists_the_rest(
    store: S3Store, raw: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = make_report(tag="s3-cli-good"), make_report(tag="s3-cli-bad")
    store.put(good)
    store.put(bad)
    _, side_key = keys(store, bad.canonical_hash)
    doc = json.loads(body(raw, side_key))
    doc["summary"]["tests"] = None  # wrong type: used to crash `jux cache list`
    raw.put_object(Bucket=BUCKET, Key=side_key, Body=json.dumps(doc).encode())
    config = tmp_path / "jux.toml"
    config.write_text(
        f"""stores = ["s3"]
publishers = []
signer = ""

[backends.s3]
bucket = "{BUCKET}"
prefix = "{store.options.prefix}"
endpoint_url = "{store.options.endpoint_url}"
region = "us-east-1"
addressing_style = "path"
access_key_id = {{ env = "JUX_TEST_S3_KEY" }}
secret_access_key = {{ env = "JUX_TEST_S3_SECRET" }}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("JUX_TEST_S3_KEY", ACCESS_KEY)
    monkeypatch.setenv("JUX_TEST_S3_SECRET", SECRET_KEY)
    runner = CliRunner()
    result = runner.invoke(cli, ["cache", "list", "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 4, result.stdout + result.stderr
    assert good.canonical_hash.removeprefix("sha256:")[:16] in result.stdout
    assert bad.canonical_hash.removeprefix("sha256:")[:16] not in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"s3://{BUCKET}/{side_key}" in warnings[0] and "summary.tests" in warnings[0]
    assert "Traceback" not in result.stderr and SECRET_KEY not in result.stdout + result.stderr
    stats = runner.invoke(cli, ["cache", "stats", "--config", str(config)], catch_exceptions=False)
    assert stats.exit_code == 4 and "count           1" in stats.stdout
    show = runner.invoke(cli, ["cache", "show", "--config", str(config), bad.canonical_hash[:20]])
    assert show.exit_code == 3 and "error: corrupt metadata sidecar" in show.stderr
    assert "--xml" in show.stderr
