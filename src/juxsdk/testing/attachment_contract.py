"""Conformance tests for stores that keep attachments (:class:`juxsdk.attachments.AttachmentStore`).

A store backend that implements the optional attachment methods adds this contract next to
:class:`juxsdk.testing.StoreContract`, with the same ``store`` fixture (an **empty** store)::

    from juxsdk.testing import AttachmentStoreContract, StoreContract

    class TestMyStore(StoreContract, AttachmentStoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            ...
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from juxsdk.attachments import ATTESTATION_KIND, MAX_ATTACHMENT_BYTES, Attachment, AttachmentStore
from juxsdk.errors import ReportNotFoundError, StoreError

from . import samples

__all__ = ["AttachmentStoreContract"]

_MISSING_HASH = "sha256:" + "0" * 64


def _stored(store: Any) -> str:
    report = samples.make_report(tag=uuid.uuid4().hex)
    store.put(report)
    return report.canonical_hash


class AttachmentStoreContract:
    """The rules of :mod:`juxsdk.attachments`, checked against a real store."""

    def test_implements_attachment_store(self, store: Any) -> None:
        assert isinstance(store, AttachmentStore), f"{type(store).__name__} does not implement AttachmentStore"

    def test_round_trip_is_byte_exact_and_listed(self, store: Any) -> None:
        key = _stored(store)
        data = b'{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}\n\x00\xff'
        made = store.put_attachment(key, ATTESTATION_KIND, data)
        assert isinstance(made, Attachment) and (made.kind, made.size) == (ATTESTATION_KIND, len(data))
        assert store.get_attachment(key, ATTESTATION_KIND) == data
        assert [(a.kind, a.size) for a in store.attachments(key)] == [(ATTESTATION_KIND, len(data))]
        # the report itself and the store's listing are unchanged by an attachment
        assert [r.canonical_hash for r in store.list()] == [key]

    def test_put_replaces_the_same_kind_and_keeps_others(self, store: Any) -> None:
        key = _stored(store)
        store.put_attachment(key, ATTESTATION_KIND, b"first")
        store.put_attachment(key, "coverage-xml", b"<coverage/>")
        store.put_attachment(key, ATTESTATION_KIND, b"second, longer")
        assert store.get_attachment(key, ATTESTATION_KIND) == b"second, longer"
        assert [a.kind for a in store.attachments(key)] == ["coverage-xml", ATTESTATION_KIND]

    def test_attachments_belong_to_one_report(self, store: Any) -> None:
        one, two = _stored(store), _stored(store)
        store.put_attachment(one, ATTESTATION_KIND, b"of one")
        assert store.attachments(two) == []
        with pytest.raises(ReportNotFoundError):
            store.get_attachment(two, ATTESTATION_KIND)

    def test_no_attachment_without_its_report(self, store: Any) -> None:
        with pytest.raises(ReportNotFoundError):
            store.put_attachment(_MISSING_HASH, ATTESTATION_KIND, b"orphan")
        with pytest.raises(ReportNotFoundError):
            store.attachments(_MISSING_HASH)
        with pytest.raises(ReportNotFoundError):
            store.get_attachment(_MISSING_HASH, ATTESTATION_KIND)

    def test_deleting_the_report_deletes_its_attachments(self, store: Any) -> None:
        key = _stored(store)
        store.put_attachment(key, ATTESTATION_KIND, b"evidence")
        assert store.delete(key) is True
        assert not store.exists(key)
        with pytest.raises(ReportNotFoundError):
            store.get_attachment(key, ATTESTATION_KIND)

    def test_deleted_then_stored_again_has_no_old_attachment(self, store: Any) -> None:
        report = samples.make_report(tag=uuid.uuid4().hex)
        store.put(report)
        store.put_attachment(report.canonical_hash, ATTESTATION_KIND, b"old")
        store.delete(report.canonical_hash)
        store.put(report)
        assert store.attachments(report.canonical_hash) == []

    @pytest.mark.parametrize("kind", ["", "../x", "a/b", "Intoto.json", ".hidden", "x" * 65, "a..b", "json "])
    def test_bad_kinds_are_refused(self, store: Any, kind: str) -> None:
        key = _stored(store)
        with pytest.raises(StoreError):
            store.put_attachment(key, kind, b"x")
        with pytest.raises(StoreError):
            store.get_attachment(key, kind)

    def test_oversized_and_non_bytes_are_refused(self, store: Any) -> None:
        key = _stored(store)
        with pytest.raises(StoreError):
            store.put_attachment(key, ATTESTATION_KIND, b"x" * (MAX_ATTACHMENT_BYTES + 1))
        with pytest.raises(StoreError):
            store.put_attachment(key, ATTESTATION_KIND, "text, not bytes")
        assert store.attachments(key) == []

    def test_malformed_hash_is_a_store_error(self, store: Any) -> None:
        with pytest.raises(StoreError):
            store.put_attachment("sha256:../../etc/passwd", ATTESTATION_KIND, b"x")
