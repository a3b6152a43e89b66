"""S3Store ("s3") against moto's standalone S3 server over HTTP on 127.0.0.1.

The StoreContract from the conformance kit plus S3 specifics: object layout, conditional
create, SSE / storage class headers, options validation, the install hint when boto3 is missing.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator

import pytest

from juxsdk.config import Secret
from juxsdk.errors import ConfigError, StoreError
from juxsdk.junit import parse_report
from juxsdk.testing import StoreContract, make_report, sample_report
from juxsdk_backends.s3 import S3Store
from tests.s3support import make_s3_store, s3_client, start_moto

ACCESS_KEY = "AKIAJUXTESTACCESSKEY"
SECRET_KEY = "jux-s3-secret-key-must-never-be-shown-0123"
BUCKET = "jux-contract"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server, url = start_moto(BUCKET, ACCESS_KEY, SECRET_KEY)
    yield url
    server.stop()


@pytest.fixture
def raw(moto_endpoint: str):
    """A plain boto3 client on the same server, to look behind the store's back."""
    return s3_client(moto_endpoint, ACCESS_KEY, SECRET_KEY)


def make_store(endpoint: str, **overrides) -> S3Store:
    overrides = {"bucket": BUCKET, "connect_timeout": 2, "read_timeout": 10, **overrides}
    return make_s3_store(
        endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, prefix_root="runs", **overrides
    )


class TestS3StoreContract(StoreContract):
    @pytest.fixture
    def store(self, moto_endpoint: str) -> Iterator[S3Store]:
        store = make_store(moto_endpoint)
        yield store
        store.close()

    @pytest.fixture
    def secret_values(self) -> list[str]:
        return [SECRET_KEY]

    @pytest.fixture
    def corrupt_metadata(self, raw):
        def corrupt(store: S3Store, canonical_hash: str, data: bytes) -> None:
            hexd = canonical_hash.removeprefix("sha256:")
            raw.put_object(Bucket=BUCKET, Key=f"{store.options.prefix}/reports/{hexd}.json", Body=data)

        return corrupt


def keys_under(raw, prefix: str) -> list[str]:
    pages = raw.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


def test_object_layout_and_sidecar(moto_endpoint: str, raw) -> None:
    store = make_store(moto_endpoint, prefix="/layout/team-a/")
    report = sample_report("crlf")
    record = store.put(report)
    hexd = report.canonical_hash.removeprefix("sha256:")
    assert keys_under(raw, "layout/") == [
        f"layout/team-a/reports/{hexd}.json",
        f"layout/team-a/reports/{hexd}.xml",
    ]
    obj = raw.get_object(Bucket=BUCKET, Key=f"layout/team-a/reports/{hexd}.xml")
    assert obj["Body"].read() == report.data
    assert obj["ContentType"] == "application/xml"
    side = json.loads(raw.get_object(Bucket=BUCKET, Key=f"layout/team-a/reports/{hexd}.json")["Body"].read())
    assert side["canonical_hash"] == report.canonical_hash
    assert side["size"] == len(report.data)
    assert side["store"] == "s3"
    assert side["location"] == f"s3://{BUCKET}/layout/team-a/reports/{hexd}.xml" == record.location
    assert side["project"] == "sample-crlf"


def test_no_prefix_puts_reports_at_bucket_root(moto_endpoint: str, raw) -> None:
    bucket = f"jux-noprefix-{uuid.uuid4().hex[:8]}"
    raw.create_bucket(Bucket=bucket)
    store = make_store(moto_endpoint, bucket=bucket, prefix="")
    report = make_report(tag=uuid.uuid4().hex)
    store.put(report)
    keys = [o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(k.split("/")[0] for k in keys) == ["reports", "reports"]
    assert [r.canonical_hash for r in store.list()] == [report.canonical_hash]


def test_existing_identical_object_is_not_rewritten(moto_endpoint: str, raw) -> None:
    store = make_store(moto_endpoint)
    report = make_report(tag=uuid.uuid4().hex)
    store.put(report)
    hexd = report.canonical_hash.removeprefix("sha256:")
    key = f"{store.options.prefix}/reports/{hexd}.xml"
    etag_before = raw.head_object(Bucket=BUCKET, Key=key)["LastModified"]
    side_before = raw.get_object(Bucket=BUCKET, Key=key.replace(".xml", ".json"))["Body"].read()
    store.put(report)
    assert raw.head_object(Bucket=BUCKET, Key=key)["LastModified"] == etag_before
    assert raw.get_object(Bucket=BUCKET, Key=key.replace(".xml", ".json"))["Body"].read() == side_before


def test_half_stored_report_is_invisible_then_repaired(moto_endpoint: str, raw) -> None:
    """An XML without sidecar (a put that died in between) does not count as stored."""
    store = make_store(moto_endpoint)
    report = make_report(tag=uuid.uuid4().hex)
    hexd = report.canonical_hash.removeprefix("sha256:")
    raw.put_object(Bucket=BUCKET, Key=f"{store.options.prefix}/reports/{hexd}.xml", Body=report.data)
    assert store.exists(report.canonical_hash) is False
    assert list(store.list()) == []
    record = store.put(report)
    assert store.exists(report.canonical_hash)
    assert store.metadata(report.canonical_hash).stored_at == record.stored_at


def test_corrupt_sidecar_is_skipped_in_list_and_an_error_in_metadata(moto_endpoint: str, raw) -> None:
    store = make_store(moto_endpoint)
    good = make_report(tag=uuid.uuid4().hex)
    bad = make_report(tag=uuid.uuid4().hex)
    store.put(good)
    store.put(bad)
    hexd = bad.canonical_hash.removeprefix("sha256:")
    raw.put_object(Bucket=BUCKET, Key=f"{store.options.prefix}/reports/{hexd}.json", Body=b"{not json")
    assert [r.canonical_hash for r in store.list()] == [good.canonical_hash]
    with pytest.raises(StoreError, match="corrupt metadata"):
        store.metadata(bad.canonical_hash)
    store.put(bad)  # a put repairs it
    assert store.metadata(bad.canonical_hash).canonical_hash == bad.canonical_hash


def test_sse_and_storage_class_are_sent(moto_endpoint: str, raw) -> None:
    store = make_store(moto_endpoint, sse="AES256", storage_class="STANDARD_IA")
    report = make_report(tag=uuid.uuid4().hex)
    store.put(report)
    hexd = report.canonical_hash.removeprefix("sha256:")
    for ext in ("xml", "json"):
        head = raw.head_object(Bucket=BUCKET, Key=f"{store.options.prefix}/reports/{hexd}.{ext}")
        assert head["ServerSideEncryption"] == "AES256"
        assert head["StorageClass"] == "STANDARD_IA"


def test_sse_kms_key_id_is_sent(moto_endpoint: str, raw) -> None:
    store = make_store(moto_endpoint, sse="aws:kms", sse_kms_key_id="alias/jux-reports")
    report = make_report(tag=uuid.uuid4().hex)
    store.put(report)
    hexd = report.canonical_hash.removeprefix("sha256:")
    head = raw.head_object(Bucket=BUCKET, Key=f"{store.options.prefix}/reports/{hexd}.xml")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == "alias/jux-reports"
    assert store.get(report.canonical_hash) == report.data


def test_virtual_addressing_style_option_reaches_botocore(moto_endpoint: str) -> None:
    store = make_store(moto_endpoint, addressing_style="virtual", retry_mode="adaptive", max_attempts=3)
    client = store._client()
    assert client.meta.config.s3["addressing_style"] == "virtual"
    assert client.meta.config.retries == {"total_max_attempts": 3, "mode": "adaptive"}
    assert client.meta.config.connect_timeout == 2.0


def test_standard_credential_chain_from_environment(moto_endpoint: str, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    store = make_store(moto_endpoint, access_key_id=None, secret_access_key=None)
    report = make_report(tag=uuid.uuid4().hex)
    store.put(report)
    assert store.get(report.canonical_hash) == report.data
    creds = store._client()._request_signer._credentials
    assert creds.access_key == ACCESS_KEY


def test_secret_references_from_env(moto_endpoint: str, monkeypatch) -> None:
    monkeypatch.setenv("JUX_TEST_S3_KEY", ACCESS_KEY)
    monkeypatch.setenv("JUX_TEST_S3_SECRET", SECRET_KEY)
    store = make_store(
        moto_endpoint,
        access_key_id=Secret(env="JUX_TEST_S3_KEY"),
        secret_access_key=Secret(env="JUX_TEST_S3_SECRET"),
        session_token=Secret(value="session-token-value-xyz"),
    )
    assert SECRET_KEY not in repr(store.options) and "session-token-value-xyz" not in repr(store.options)
    report = make_report(tag=uuid.uuid4().hex)
    store.put(report)
    assert store.exists(report.canonical_hash)


def test_unset_secret_env_is_a_config_error(moto_endpoint: str, monkeypatch) -> None:
    monkeypatch.delenv("JUX_TEST_S3_UNSET", raising=False)
    store = make_store(moto_endpoint, secret_access_key=Secret(env="JUX_TEST_S3_UNSET"))
    with pytest.raises(ConfigError, match="JUX_TEST_S3_UNSET"):
        store.get("sha256:" + "1" * 64)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"secret_access_key": None}, "must be given together"),
        (
            {"access_key_id": None, "secret_access_key": None, "session_token": Secret(value="t")},
            "session_token",
        ),
        ({"sse_kms_key_id": "alias/x"}, "sse_kms_key_id"),
    ],
)
def test_inconsistent_options_are_config_errors(overrides, match) -> None:
    with pytest.raises(ConfigError, match=match):
        make_store("http://127.0.0.1:9", **overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"addressing_style": "sideways"},
        {"sse": "rot13"},
        {"retry_mode": "legacy-ish"},
        {"max_attempts": 0},
        {"bucket": "x"},
    ],
)
def test_invalid_option_values_are_rejected(overrides) -> None:
    with pytest.raises((ValueError, TypeError)):
        make_store("http://127.0.0.1:9", **overrides)


def test_missing_boto3_gives_install_hint(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError) as info:
        make_store("http://127.0.0.1:9")
    assert info.value.hint == "pip install 'juxsdk[s3]'"
    assert "boto3" in info.value.message


def test_constructor_does_no_network() -> None:
    store = make_store("http://127.0.0.1:9")  # nothing listens on port 9
    assert store._client_obj is None
    assert "AKIA" not in repr(store) and SECRET_KEY not in repr(store)
    assert repr(store).startswith("S3Store(bucket='jux-contract'")


def test_closed_store_refuses_work(moto_endpoint: str) -> None:
    store = make_store(moto_endpoint)
    store.put(make_report(tag=uuid.uuid4().hex))
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("sha256:" + "2" * 64)


def test_corpus_reports_round_trip(moto_endpoint: str, corpus_dir) -> None:
    store = make_store(moto_endpoint)
    picked = [
        "raw/maven-surefire/with-output.xml",
        "raw/cucumber/nested-features.xml",
        "edge-cases/unicode-content.xml",
        "edge-cases/special-characters.xml",
        "enriched/pytest/xunit2-django-tests.xml",
    ]
    for rel in picked:
        data = (corpus_dir / rel).read_bytes()
        report = parse_report(data, source=rel)
        store.put(report)
        assert store.get(report.canonical_hash) == data, rel
    assert len(list(store.list())) == len(picked)
