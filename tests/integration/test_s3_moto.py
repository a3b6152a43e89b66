"""S3Store against a real S3-protocol server (moto's standalone server) over HTTP on 127.0.0.1.

Concurrency (16 writers), pagination past 1000 keys, a server that dies mid-put, wrong
credentials and a missing bucket, and the configured pipeline fanning out to
``stores = ["filesystem", "s3"]`` through ``Jux.from_config`` and ``jux submit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from juxsdk.config import Secret
from juxsdk.errors import StoreError
from juxsdk.junit import parse_report
from juxsdk.models import ReportSummary, StoredReport
from juxsdk.testing import make_report, sample_report
from juxsdk_backends.s3 import S3Store
from tests.s3support import make_s3_store, s3_client, start_moto

ACCESS_KEY = "AKIAJUXINTEGRATION01"
SECRET_KEY = "jux-integration-secret-never-shown-987"
BUCKET = "jux-integration"
REPO = Path(__file__).resolve().parents[2]


def _raw(endpoint: str, **creds):
    return s3_client(endpoint, creds.get("key", ACCESS_KEY), creds.get("secret", SECRET_KEY))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server, url = start_moto(BUCKET, ACCESS_KEY, SECRET_KEY)
    yield url
    server.stop()


@pytest.fixture
def raw(endpoint: str):
    return _raw(endpoint)


def store_for(endpoint: str, **overrides) -> S3Store:
    overrides = {"bucket": BUCKET, "connect_timeout": 1, "read_timeout": 5, **overrides}
    return make_s3_store(
        endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, prefix_root="it", **overrides
    )


def keys_under(raw, prefix: str, bucket: str = BUCKET) -> list[str]:
    pages = raw.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


# -- concurrency ------------------------------------------------------------------------------


def test_16_concurrent_puts_of_the_same_report(endpoint: str, raw) -> None:
    store = store_for(endpoint)
    report = sample_report("utf8-bom")
    barrier = threading.Barrier(16, timeout=30)

    def put(_: int) -> StoredReport:
        barrier.wait()
        return store.put(report)

    with ThreadPoolExecutor(16) as pool:
        records = list(pool.map(put, range(16)))  # any exception is re-raised here
    hexd = report.canonical_hash.removeprefix("sha256:")
    prefix = store.options.prefix
    assert keys_under(raw, prefix) == [f"{prefix}/reports/{hexd}.json", f"{prefix}/reports/{hexd}.xml"]
    assert len({r.stored_at for r in records}) == 1, "every writer must return the one stored record"
    assert store.get(report.canonical_hash) == report.data
    assert [r.canonical_hash for r in store.list()] == [report.canonical_hash]


def test_16_concurrent_puts_of_different_reports(endpoint: str, raw) -> None:
    store = store_for(endpoint)
    reports = [make_report(3, failures=i % 2, project="conc", tag=f"conc-{i}-{uuid.uuid4().hex}") for i in range(16)]
    barrier = threading.Barrier(16, timeout=30)

    def put(i: int) -> StoredReport:
        barrier.wait()
        return store.put(reports[i])

    with ThreadPoolExecutor(16) as pool:
        records = list(pool.map(put, range(16)))
    assert {r.canonical_hash for r in records} == {r.canonical_hash for r in reports}
    assert len(keys_under(raw, store.options.prefix)) == 32
    for r in reports:
        assert store.get(r.canonical_hash) == r.data
    assert len(list(store.list(project="conc"))) == 16
    assert len(list(store.list(failed_only=True))) == 8


# -- pagination --------------------------------------------------------------------------------


def test_list_paginates_past_1000_objects(endpoint: str, raw) -> None:
    """525 reports = 1050 objects (XML and metadata: two ListObjectsV2 pages of at most 1000 keys),
    written directly with boto3 for speed (moto answers ~200 requests/s here); ``list`` must
    return them all."""
    store = store_for(endpoint)
    base = f"{store.options.prefix}/reports/"
    total = 525
    body = b"<x>......"

    def put(i: int) -> str:
        hexd = f"{i:064x}"
        record = StoredReport(
            canonical_hash=f"sha256:{hexd}",
            size=len(body),
            summary=ReportSummary(tests=1, failures=1 if i % 10 == 0 else 0),
            properties=(("project", "even" if i % 2 == 0 else "odd"),),
            store="s3",
        )
        raw.put_object(Bucket=BUCKET, Key=f"{base}{hexd}.xml", Body=body)
        raw.put_object(Bucket=BUCKET, Key=f"{base}{hexd}.json", Body=json.dumps(record.to_dict()).encode())
        return hexd

    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(put, range(total)))
    raw.put_object(Bucket=BUCKET, Key=f"{base}README.txt", Body=b"not a report")  # ignored
    pages = list(raw.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=base))
    assert len(pages) == 2, "the listing must span more than one page"
    listed = list(store.list())
    assert len(listed) == total
    assert {r.canonical_hash for r in listed} == {f"sha256:{h}" for h in written}
    assert sum(1 for r in listed if r.project == "even") == len(range(0, total, 2))
    assert sum(1 for r in listed if not r.summary.ok) == len(range(0, total, 10))


# -- failures ----------------------------------------------------------------------------------


def test_server_stopped_mid_put_reports_nothing_stored(endpoint: str) -> None:
    """The server dies after the XML was written and before the metadata object: clear error,
    and the report is not reported as stored (after the server is back, it does not exist)."""
    server, url = start_moto("jux-dying", ACCESS_KEY, SECRET_KEY)
    port = int(url.rsplit(":", 1)[1])
    store = store_for(url, bucket="jux-dying", max_attempts=1)
    before = make_report(tag=uuid.uuid4().hex)
    store.put(before)
    victim = make_report(tag=uuid.uuid4().hex)

    calls = []

    def stop_after_first_put(**_: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            server.stop()
            server._server.server_close()  # release the port: new connections are refused

    store._client().meta.events.register("after-call.s3.PutObject", stop_after_first_put)
    try:
        with pytest.raises(StoreError) as info:
            store.put(victim)
        message = str(info.value)
        assert "cannot reach" in message and "transient" in message
        assert "jux-dying" in message and victim.canonical_hash.removeprefix("sha256:") in message
        assert SECRET_KEY not in message and ACCESS_KEY not in message
        with pytest.raises(StoreError, match="cannot reach"):
            store.exists(before.canonical_hash)
    finally:
        store._client().meta.events.unregister("after-call.s3.PutObject", stop_after_first_put)

    # Same process, same moto state: a new server on the same port sees what was really stored.
    from moto.server import ThreadedMotoServer

    again = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    again.start()
    try:
        fresh = store_for(url, bucket="jux-dying", prefix=store.options.prefix)
        assert fresh.exists(before.canonical_hash) is True
        assert fresh.exists(victim.canonical_hash) is False, "a failed put must not count as stored"
        assert [r.canonical_hash for r in fresh.list()] == [before.canonical_hash]
        fresh.put(victim)  # and a retry completes it
        assert fresh.get(victim.canonical_hash) == victim.data
    finally:
        again.stop()


def test_unreachable_endpoint_message() -> None:
    store = store_for("http://127.0.0.1:9", max_attempts=1)  # nothing listens on port 9
    with pytest.raises(StoreError) as info:
        store.put(make_report(tag="unreachable"))
    assert "cannot reach http://127.0.0.1:9" in info.value.message
    assert "try again later" in info.value.message
    assert "endpoint_url" in (info.value.hint or "")


def test_missing_bucket_message(endpoint: str) -> None:
    store = store_for(endpoint, bucket="jux-no-such-bucket")
    report = make_report(tag="nobucket")
    with pytest.raises(StoreError) as info:
        store.put(report)
    assert "bucket 'jux-no-such-bucket' does not exist" in info.value.message
    assert "create the bucket" in (info.value.hint or "")
    with pytest.raises(StoreError, match="does not exist"):
        list(store.list())
    with pytest.raises(StoreError, match="does not exist"):
        store.get(report.canonical_hash)


@pytest.fixture
def auth_enforced(endpoint: str) -> Iterator[dict[str, str]]:
    """Turn on moto's IAM authentication for this test (process-wide), with one valid user."""
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    user = f"jux-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))

    def reset(value: bytes) -> None:
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=value,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    reset(b"0")
    try:
        yield {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        reset(b"inf")


def test_wrong_credentials_messages(endpoint: str, auth_enforced: dict[str, str]) -> None:
    good = store_for(
        endpoint,
        access_key_id=Secret(value=auth_enforced["key"]),
        secret_access_key=Secret(value=auth_enforced["secret"]),
    )
    report = make_report(tag=uuid.uuid4().hex)
    good.put(report)  # the valid user works with authentication on
    wrong_secret = "wrong-secret-value-that-must-not-leak-1234"
    cases = {
        "SignatureDoesNotMatch": (auth_enforced["key"], wrong_secret),
        "InvalidAccessKeyId": ("AKIAJUXUNKNOWNKEY999", wrong_secret),
    }
    for code, (key_id, secret) in cases.items():
        bad = store_for(
            endpoint,
            prefix=good.options.prefix,
            access_key_id=Secret(value=key_id),
            secret_access_key=Secret(value=secret),
        )
        with pytest.raises(StoreError) as info:
            bad.get(report.canonical_hash)
        text = f"{info.value.message} {info.value.hint}"
        assert f"access denied to s3://{BUCKET}/" in info.value.message and code in info.value.message
        assert "check credentials" in (info.value.hint or "")
        assert secret not in text and auth_enforced["secret"] not in text
        with pytest.raises(StoreError, match="access denied"):
            bad.put(make_report(tag=uuid.uuid4().hex))
        assert good.exists(report.canonical_hash)


# -- the configured pipeline -------------------------------------------------------------------


def _write_config(tmp_path: Path, endpoint: str, rsa_keys, prefix: str) -> Path:
    root = tmp_path / "fs-store"
    config = tmp_path / "jux.toml"
    config.write_text(
        f"""
signer = "file"
stores = ["filesystem", "s3"]
storage_mode = "local"

[backends.file]
key = "{rsa_keys.key_path}"
certificate = "{rsa_keys.cert_path}"

[backends.filesystem]
root = "{root}"

[backends.s3]
bucket = "{BUCKET}"
prefix = "{prefix}"
endpoint_url = "{endpoint}"
region = "us-east-1"
addressing_style = "path"
access_key_id = {{ env = "JUX_TEST_S3_KEY" }}
secret_access_key = {{ env = "JUX_TEST_S3_SECRET" }}
max_attempts = 2
""",
        encoding="utf-8",
    )
    return config


def test_jux_from_config_fans_out_to_filesystem_and_s3(
    endpoint: str, tmp_path: Path, monkeypatch, rsa_keys, corpus_dir
) -> None:
    from juxsdk.client import Jux
    from juxsdk.config import load_config
    from juxsdk.trust import TrustedCertificates
    from juxsdk.xmldsig import verify_report
    from juxsdk_backends.filesystem import FilesystemStore

    monkeypatch.setenv("JUX_TEST_S3_KEY", ACCESS_KEY)
    monkeypatch.setenv("JUX_TEST_S3_SECRET", SECRET_KEY)
    prefix = f"pipeline/{uuid.uuid4().hex}"
    config = load_config(config_file=_write_config(tmp_path, endpoint, rsa_keys, prefix))
    assert SECRET_KEY not in repr(config)
    source = corpus_dir / "raw" / "maven-surefire" / "with-output.xml"
    with Jux.from_config(config, metadata=False) as jux:
        assert [type(s).name for s in jux.stores] == ["filesystem", "s3"]
        result = jux.submit(source.read_bytes(), source=str(source))
    assert result.ok, result
    assert [o.store if isinstance(o.store, str) else type(o.store).name for o in result.stored] == [
        "filesystem",
        "s3",
    ]
    signed = result.report
    s3_store = store_for(endpoint, prefix=prefix)
    fs_store = FilesystemStore(FilesystemStore.Options(root=tmp_path / "fs-store"))
    for store in (fs_store, s3_store):
        assert store.get(signed.canonical_hash) == signed.data
        assert store.metadata(signed.canonical_hash).signed
    verified = verify_report(s3_store.get(signed.canonical_hash), TrustedCertificates.from_pem_file(rsa_keys.cert_path))
    assert verified.summary.tests == parse_report(source.read_bytes()).summary.tests


def test_jux_submit_cli_stores_in_filesystem_and_s3(endpoint: str, tmp_path: Path, rsa_keys, corpus_dir) -> None:
    jux = Path(sys.executable).with_name("jux")
    if not jux.exists():
        pytest.skip(f"the jux console script is not installed next to {sys.executable}")
    prefix = f"cli/{uuid.uuid4().hex}"
    config = _write_config(tmp_path, endpoint, rsa_keys, prefix)
    source = corpus_dir / "raw" / "pytest" / "xunit2-django-tests.xml"
    env = {
        **os.environ,
        "JUX_TEST_S3_KEY": ACCESS_KEY,
        "JUX_TEST_S3_SECRET": SECRET_KEY,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    proc = subprocess.run(
        [str(jux), "submit", "--config", str(config), "--json", str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SECRET_KEY not in proc.stdout + proc.stderr
    entries = json.loads(proc.stdout)
    entry = entries[0] if isinstance(entries, list) else entries
    assert [s["store"] for s in entry["stored"]] == ["filesystem", "s3"]
    assert all(s["ok"] for s in entry["stored"])
    hexd = entry["canonical_hash"].removeprefix("sha256:")
    assert entry["stored"][1]["location"] == f"s3://{BUCKET}/{prefix}/reports/{hexd}.xml"
    s3_bytes = store_for(endpoint, prefix=prefix).get(entry["canonical_hash"])
    fs_bytes = (tmp_path / "fs-store" / hexd[:2] / f"{hexd}.xml").read_bytes()
    assert s3_bytes == fs_bytes
    assert b"SignatureValue" in s3_bytes
