"""The attachment contract (juxsdk.attachments) on every store that keeps attachments: filesystem,
S3 (moto's server on loopback) and the in-memory fake; plus filesystem-specific edges."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from juxsdk.attachments import ATTESTATION_KIND
from juxsdk.errors import StoreError
from juxsdk.testing import AttachmentStoreContract, MemoryStore, make_report
from juxsdk_backends.filesystem import FilesystemStore
from juxsdk_backends.s3 import S3Store
from tests.s3support import make_s3_store, s3_client, start_moto

BUCKET, ACCESS_KEY, SECRET_KEY = "jux-attachments", "attach-access", "attach-secret-value"


class TestFilesystemAttachments(AttachmentStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FilesystemStore]:
        store = FilesystemStore(FilesystemStore.Options(root=tmp_path / "reports"))
        yield store
        store.close()


class TestMemoryAttachments(AttachmentStoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server, url = start_moto(BUCKET, ACCESS_KEY, SECRET_KEY)
    yield url
    server.stop()


class TestS3Attachments(AttachmentStoreContract):
    @pytest.fixture
    def store(self, moto_endpoint: str) -> Iterator[S3Store]:
        store = make_s3_store(
            moto_endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, prefix_root="attach", bucket=BUCKET
        )
        yield store
        store.close()


def test_filesystem_layout_and_the_report_scan_ignores_attachments(tmp_path: Path) -> None:
    store = FilesystemStore(FilesystemStore.Options(root=tmp_path))
    report = make_report(tag="layout")
    store.put(report)
    made = store.put_attachment(report.canonical_hash, ATTESTATION_KIND, b"{}")
    hexd = report.canonical_hash.partition(":")[2]
    assert Path(made.location) == tmp_path / hexd[:2] / f"{hexd}.att.intoto.json"
    assert oct(Path(made.location).stat().st_mode & 0o777) == "0o600"
    stats = store.stats()
    assert (stats["count"], stats["incomplete"]) == (1, 0)
    assert store.resolve_prefix(hexd[:6]) == report.canonical_hash


def test_filesystem_refuses_a_planted_symlink(tmp_path: Path) -> None:
    store = FilesystemStore(FilesystemStore.Options(root=tmp_path))
    report = make_report(tag="symlink")
    store.put(report)
    hexd = report.canonical_hash.partition(":")[2]
    secret = tmp_path / "secret.txt"
    secret.write_text("not evidence")
    os.symlink(secret, tmp_path / hexd[:2] / f"{hexd}.att.intoto.json")
    with pytest.raises(StoreError):
        store.get_attachment(report.canonical_hash, ATTESTATION_KIND)
    assert store.attachments(report.canonical_hash) == []  # a link is not one of our files


def test_s3_layout(moto_endpoint: str) -> None:
    store = make_s3_store(moto_endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, prefix_root="lay", bucket=BUCKET)
    report = make_report(tag="s3-layout")
    store.put(report)
    store.put_attachment(report.canonical_hash, ATTESTATION_KIND, b"{}")
    hexd = report.canonical_hash.partition(":")[2]
    raw = s3_client(moto_endpoint, ACCESS_KEY, SECRET_KEY)
    keys = sorted(o["Key"] for o in raw.list_objects_v2(Bucket=BUCKET, Prefix=store.options.prefix)["Contents"])
    base = f"{store.options.prefix}/reports/{hexd}"
    assert keys == [f"{base}.att.intoto.json", f"{base}.json", f"{base}.xml"]
    assert [r.canonical_hash for r in store.list()] == [report.canonical_hash]
    store.delete(report.canonical_hash)
    assert "Contents" not in raw.list_objects_v2(Bucket=BUCKET, Prefix=store.options.prefix)
