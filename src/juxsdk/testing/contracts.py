"""The backend conformance kit: test classes a backend's own tests subclass.

Each contract is a plain class (no ``Test`` prefix, so pytest does not collect it by itself)
whose ``test_*`` methods check one protocol of :mod:`juxsdk.protocols`. A backend's test module
subclasses it with a ``Test…`` name and provides the backend through fixtures::

    import pytest
    from juxsdk.testing import StoreContract
    from my_package import MyStore

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(MyStore.Options(path=tmp_path / "db"))
            yield store          # must be empty at the start of each test
            store.close()

        @pytest.fixture
        def secret_values(self):
            return ["the-password-in-options"]   # strings that must never be shown

Fixtures a subclass provides (or overrides):

=========================  =====================================================================
fixture                    meaning
=========================  =====================================================================
``store``                  StoreContract: an **empty** store instance (one per test)
``signer``                 SignerContract: a signer instance
``publisher``              PublisherContract: a publisher that can reach its destination
``unreachable_publisher``  PublisherContract: the same backend pointed at a dead endpoint
``secret_values``          strings (tokens, passphrases, PINs…) that must not appear in a
                           ``repr()``/``str()`` or in error messages; default: none
``contract_signer``        the signer used to produce signed reports for store/publisher
                           tests; default: an in-memory ECDSA P-256 key with a self-signed
                           certificate (:class:`juxsdk.testing.fakes.MemorySigner`)
``publishable_report``     PublisherContract: the report to publish; default: a fresh signed
                           report unique to the test
=========================  =====================================================================

Assertions in this module are rewritten by pytest (``juxsdk.testing`` registers it), so a
failure shows the compared values.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from juxsdk.errors import (
    CorruptSidecarError,
    DigestMismatchError,
    JuxError,
    ReportNotFoundError,
    StoreConflictError,
    StoreError,
    TransientPublishError,
    VerificationError,
)
from juxsdk.models import PublishReceipt, Report, SignedReport, StoredReport
from juxsdk.protocols import SIGNATURE_ALGORITHMS, Publisher, Signer, Store
from juxsdk.sidecars import STORE_LOGGER

from . import samples
from ._contract_base import _assert_no_secret, _BackendShape, _unique
from .fakes import MemorySigner

__all__ = ["PublisherContract", "SignerContract", "StoreContract"]

_MISSING_HASH = "sha256:" + "0" * 64
_SMALL_SAMPLES = tuple(n for n in samples.SAMPLE_NAMES if n != "large")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _edited(record: StoredReport, **changes: Any) -> bytes:
    doc = record.to_dict()
    doc.update(changes)
    return json.dumps(doc).encode()


#: Ways a metadata record is damaged: (stored record of the victim, another report) -> raw bytes.
_CORRUPTIONS: dict[str, Callable[[StoredReport, Report], bytes]] = {
    "not-json": lambda rec, other: b"{not json",
    "empty": lambda rec, other: b"",
    "not-utf8": lambda rec, other: b'{"canonical_hash": "\xff\xfe"}',
    "json-array": lambda rec, other: b"[1, 2, 3]",
    "wrong-types": lambda rec, other: _edited(rec, size=str(rec.size), summary={"tests": "many"}),
    "nan": lambda rec, other: _edited(rec, summary={**rec.summary.to_dict(), "time": float("nan")}),
    "other-hash": lambda rec, other: _edited(rec, canonical_hash=other.canonical_hash),
    "wrong-size": lambda rec, other: _edited(rec, size=rec.size + 1),
    "missing-field": lambda rec, other: json.dumps(
        {k: v for k, v in rec.to_dict().items() if k != "stored_at"}
    ).encode(),
}


def _sign(report: Report, signer: Any) -> SignedReport:
    from juxsdk.xmldsig import sign_report

    return sign_report(report, signer)


_CONTRACT_SIGNER_FINGERPRINT = "sha256:" + "5" * 64


def _submissions(signer: Any, tag: str, count: int = 2) -> tuple[str, list[SignedReport]]:
    """``count`` signed submissions of one input: what :meth:`juxsdk.Jux.submit` stores when
    the same input is submitted again (another timestamp, so another canonical hash; the same
    idempotency key)."""
    from juxsdk.junit import add_properties
    from juxsdk.store_rules import idempotency_key

    base = samples.make_report(3, failures=1, project="idem", tag=_unique(tag))
    key = idempotency_key(base.canonical_hash, _CONTRACT_SIGNER_FINGERPRINT, {"project": "idem"})
    out: list[SignedReport] = []
    for i in range(count):
        stamped = add_properties(base, {"jux:timestamp": f"2025-01-01T00:00:{i:02d}+00:00"}, replace=True)
        signed = attrs.evolve(_sign(stamped, signer), input_hash=base.canonical_hash, idempotency_key=key)
        out.append(signed)
    assert len({r.canonical_hash for r in out}) == count
    return key, out


def _racing_put(
    store: Store, item: Report | SignedReport, barrier: threading.Barrier, errors: list[BaseException]
) -> None:
    """Put ``item`` when every racer is ready; collect anything but a refused downgrade."""
    try:
        barrier.wait()
        store.put(item)
    except StoreConflictError as exc:
        if item.signed or exc.reason != "downgrade":
            errors.append(exc)
    except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
        errors.append(exc)


class StoreContract(_BackendShape):
    """Conformance tests for :class:`juxsdk.protocols.Store` backends.

    Subclass with a ``Test…`` name and provide a ``store`` fixture yielding an **empty** store
    and a ``corrupt_metadata`` fixture: a callable ``(store, canonical_hash, raw: bytes)`` that
    replaces the stored metadata record of a stored report with ``raw`` behind the store's back
    (write the sidecar file / object / database column directly).
    """

    @pytest.fixture
    def corrupt_metadata(self) -> Callable[[Any, str, bytes], None]:
        """Override: replace a stored report's metadata record with raw bytes, bypassing the store."""

        def not_provided(store: Any, canonical_hash: str, raw: bytes) -> None:
            pytest.fail(
                f"{type(self).__name__} must provide a `corrupt_metadata` fixture: a callable "
                "(store, canonical_hash, raw) that overwrites the stored metadata record directly"
            )

        return not_provided

    # -- shape ----------------------------------------------------------------------------

    def test_implements_store_protocol(self, store: Store) -> None:
        self._check_shape(store, Store)

    # -- round trips ----------------------------------------------------------------------

    @pytest.mark.parametrize("sample", _SMALL_SAMPLES)
    def test_round_trip_is_byte_exact(self, store: Store, sample: str) -> None:
        report = samples.sample_report(sample)
        record = store.put(report)
        assert isinstance(record, StoredReport)
        assert record.canonical_hash == report.canonical_hash
        assert record.size == len(report.data)
        assert store.get(report.canonical_hash) == report.data, f"{sample}: stored bytes changed"

    def test_large_report_round_trip(self, store: Store) -> None:
        report = samples.sample_report("large")
        assert len(report.data) >= samples.LARGE_SIZE
        store.put(report)
        got = store.get(report.canonical_hash)
        assert len(got) == len(report.data)
        assert got == report.data, "the 5 MB report changed in the store"

    def test_signed_report_round_trip(self, store: Store, contract_signer: Any) -> None:
        report = samples.make_report(5, failures=1, project="contract", tag=_unique("signed"))
        signed = _sign(report, contract_signer)
        record = store.put(signed)
        assert record.canonical_hash == report.canonical_hash
        assert store.get(signed.canonical_hash) == signed.data
        meta = store.metadata(signed.canonical_hash)
        assert meta.signature is not None, "metadata of a signed report must carry the signature info"
        assert meta.signature.key_fingerprint == signed.signature.key_fingerprint
        assert meta.signed

    def test_metadata_describes_the_report(self, store: Store) -> None:
        report = samples.make_report(7, failures=2, errors=1, project="meta-proj", tag=_unique("meta"))
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        store.put(report)
        meta = store.metadata(report.canonical_hash)
        assert meta.canonical_hash == report.canonical_hash
        assert meta.size == len(report.data)
        assert (meta.summary.tests, meta.summary.failures, meta.summary.errors) == (7, 2, 1)
        assert meta.project == "meta-proj"
        assert tuple(meta.properties) == tuple(report.properties)
        assert meta.store == type(store).name
        assert meta.stored_at.tzinfo is not None, "stored_at must be timezone-aware (UTC)"
        assert before <= meta.stored_at <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        assert not meta.signed

    def test_exists(self, store: Store) -> None:
        report = samples.make_report(tag=_unique("exists"))
        assert store.exists(report.canonical_hash) is False
        store.put(report)
        assert store.exists(report.canonical_hash) is True

    # -- idempotence and replacement ------------------------------------------------------

    def test_put_is_idempotent(self, store: Store) -> None:
        report = samples.make_report(4, project="idem", tag=_unique("idem"))
        first = store.put(report)
        second = store.put(report)
        assert second.canonical_hash == first.canonical_hash
        assert second.stored_at == first.stored_at, "a repeated put must be a no-op returning the record"
        assert store.get(report.canonical_hash) == report.data
        listed = [r for r in store.list() if r.canonical_hash == report.canonical_hash]
        assert len(listed) == 1, "a repeated put must not create a second entry"
        assert listed[0].stored_at == first.stored_at

    def test_concurrent_puts_of_one_report(self, store: Store) -> None:
        report = samples.make_report(3, tag=_unique("concurrent"))
        errors: list[Exception] = []
        records: list[StoredReport] = []

        def worker() -> None:
            try:
                records.append(store.put(report))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, f"concurrent puts of the same report failed: {errors[0]!r}"
        assert len(records) == 4
        assert store.get(report.canonical_hash) == report.data
        assert len([r for r in store.list() if r.canonical_hash == report.canonical_hash]) == 1

    # -- stored evidence is never downgraded (juxsdk.store_rules.decide_put) ---------------

    def test_signed_report_upgrades_its_unsigned_copy(self, store: Store, contract_signer: Any) -> None:
        report = samples.make_report(3, project="upgrade", tag=_unique("upgrade"))
        signed = _sign(report, contract_signer)
        first = store.put(report)
        assert not first.signed
        record = store.put(signed)
        assert record.signed and record.signature is not None
        assert record.stored_at == first.stored_at, "an upgrade keeps the first stored_at"
        assert store.get(report.canonical_hash) == signed.data, "a signed report must replace its unsigned copy"
        meta = store.metadata(report.canonical_hash)
        assert meta.signed and meta.size == len(signed.data)
        assert meta.signature is not None and meta.signature.key_fingerprint == signed.signature.key_fingerprint
        assert len([r for r in store.list() if r.canonical_hash == report.canonical_hash]) == 1

    @pytest.mark.parametrize("replace", [False, True], ids=["plain", "replace"])
    def test_unsigned_report_never_replaces_signed_copy(
        self, store: Store, contract_signer: Any, replace: bool
    ) -> None:
        report = samples.make_report(3, failures=1, tag=_unique("downgrade"))
        signed = _sign(report, contract_signer)
        store.put(signed)
        with pytest.raises(StoreConflictError) as info:
            store.put(report, replace=True) if replace else store.put(report)
        assert info.value.reason == "downgrade"
        assert info.value.canonical_hash == report.canonical_hash
        assert store.get(report.canonical_hash) == signed.data, "the signed report was downgraded"
        meta = store.metadata(report.canonical_hash)
        assert meta.signed and meta.size == len(signed.data)

    def test_different_signature_is_replaced_only_on_request(self, store: Store, contract_signer: Any) -> None:
        report = samples.make_report(3, tag=_unique("resign"))
        first = _sign(report, contract_signer)
        other_signer = MemorySigner(MemorySigner.Options(algorithm="ecdsa-sha256"))
        second = _sign(report, other_signer)
        assert first.canonical_hash == second.canonical_hash and first.data != second.data
        stored_at = store.put(first).stored_at
        with pytest.raises(StoreConflictError) as info:
            store.put(second)
        assert info.value.reason == "different"
        assert store.get(report.canonical_hash) == first.data, "a different signature silently replaced the stored one"
        record = store.put(second, replace=True)
        assert record.stored_at == stored_at, "a replace keeps the first stored_at"
        assert store.get(report.canonical_hash) == second.data, "replace=True must replace the stored bytes"
        meta = store.metadata(report.canonical_hash)
        assert meta.size == len(second.data)
        assert meta.signature is not None
        assert meta.signature.key_fingerprint == second.signature.key_fingerprint
        assert len([r for r in store.list() if r.canonical_hash == report.canonical_hash]) == 1

    def test_different_unsigned_bytes_are_replaced_only_on_request(self, store: Store) -> None:
        report = samples.make_report(3, tag=_unique("reformat"))
        from juxsdk.junit import parse_report

        crlf = parse_report(report.data.replace(b"\n", b"\r\n"))
        assert crlf.canonical_hash == report.canonical_hash and crlf.data != report.data
        store.put(report)
        with pytest.raises(StoreConflictError) as info:
            store.put(crlf)
        assert info.value.reason == "different"
        assert store.get(report.canonical_hash) == report.data
        store.put(crlf, replace=True)
        assert store.get(report.canonical_hash) == crlf.data
        assert store.metadata(report.canonical_hash).size == len(crlf.data)

    def test_racing_signed_and_unsigned_puts_end_signed(self, store: Store, contract_signer: Any) -> None:
        """Writers of both versions at once: whoever comes first, the signed report is what stays."""
        for round_ in range(3):
            report = samples.make_report(3, tag=_unique(f"race-{round_}"))
            signed = _sign(report, contract_signer)
            barrier = threading.Barrier(8, timeout=60)
            unexpected: list[BaseException] = []
            threads = [
                threading.Thread(target=_racing_put, args=(store, signed if i % 2 else report, barrier, unexpected))
                for i in range(8)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert not unexpected, f"round {round_}: {unexpected[0]!r}"
            assert store.get(report.canonical_hash) == signed.data, f"round {round_}: the signed report was lost"
            meta = store.metadata(report.canonical_hash)
            assert meta.signed and meta.size == len(signed.data), f"round {round_}: the sidecar does not match"

    # -- a submission is stored once (juxsdk.store_rules: idempotency keys) ----------------

    def test_submission_keys_are_kept_and_found(self, store: Store, contract_signer: Any) -> None:
        from juxsdk.store_rules import find_submission

        key, (first, _) = _submissions(contract_signer, "keys")
        record = store.put(first)
        assert (record.input_hash, record.idempotency_key) == (first.input_hash, key)
        meta = store.metadata(first.canonical_hash)
        assert (meta.input_hash, meta.idempotency_key) == (first.input_hash, key), (
            "the metadata record must keep input_hash and idempotency_key (juxsdk.models.stored_record does)"
        )
        listed = [r for r in store.list() if r.canonical_hash == first.canonical_hash]
        assert [r.idempotency_key for r in listed] == [key]
        found = find_submission(store, key)
        assert found is not None and found.canonical_hash == first.canonical_hash
        assert find_submission(store, "sha256:" + "7" * 64) is None

    def test_same_submission_is_stored_once(self, store: Store, contract_signer: Any) -> None:
        key, (first, second) = _submissions(contract_signer, "once")
        stored_at = store.put(first).stored_at
        record = store.put(second)
        assert record.canonical_hash == first.canonical_hash, (
            "a report whose idempotency key names another stored report must not be stored: put returns "
            "that report's record (juxsdk.store_rules.decide_put, 'duplicate')"
        )
        assert record.stored_at == stored_at
        assert store.exists(second.canonical_hash) is False
        assert [r.canonical_hash for r in store.list() if r.idempotency_key == key] == [first.canonical_hash]

    def test_replace_stores_a_submission_anew(self, store: Store, contract_signer: Any) -> None:
        from juxsdk.store_rules import find_submission

        key, (first, second) = _submissions(contract_signer, "anew")
        store.put(first)
        record = store.put(second, replace=True)
        assert record.canonical_hash == second.canonical_hash
        assert store.get(second.canonical_hash) == second.data
        assert store.get(first.canonical_hash) == first.data, "the earlier submission stays stored"
        found = find_submission(store, key)
        assert found is not None and found.canonical_hash == second.canonical_hash, "the key names the newest"
        assert store.put(first).canonical_hash == second.canonical_hash

    def test_deleted_submission_is_forgotten(self, store: Store, contract_signer: Any) -> None:
        from juxsdk.store_rules import find_submission

        key, (first, second) = _submissions(contract_signer, "forgotten")
        store.put(first)
        assert store.delete(first.canonical_hash) is True
        assert find_submission(store, key) is None
        assert store.put(second).canonical_hash == second.canonical_hash
        assert store.get(second.canonical_hash) == second.data

    def test_concurrent_submissions_store_one(self, store: Store, contract_signer: Any) -> None:
        """Identical submits at once (a CI step retried while the first still runs): one report stays."""
        _key, reports = _submissions(contract_signer, "concurrent", count=6)
        barrier = threading.Barrier(len(reports), timeout=60)
        results: list[str] = []
        errors: list[BaseException] = []

        def worker(report: SignedReport) -> None:
            try:
                barrier.wait()
                results.append(store.put(report).canonical_hash)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(r,)) for r in reports]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        assert not errors, f"concurrent submissions failed: {errors[0]!r}"
        assert len(set(results)) == 1, f"concurrent submissions of one input stored {len(set(results))} reports"
        kept = [r.canonical_hash for r in reports if store.exists(r.canonical_hash)]
        assert kept == results[:1]

    def test_resubmitting_through_the_pipeline_is_idempotent(self, store: Store, contract_signer: Any) -> None:
        """`Jux.submit` of the same input twice (a retried CI step) stores one report."""
        from juxsdk.client import Jux

        raw = samples.make_report(4, failures=1, project="pipeline", tag=_unique("pipeline")).data
        jux = Jux(signer=contract_signer, stores=[store], metadata=True)
        first = jux.submit(raw, source="junit.xml")
        assert first.ok and first.already_stored is None
        second = jux.submit(raw, source="junit.xml")
        assert second.ok and second.already_stored == first.report.canonical_hash
        assert second.report.data == first.report.data
        assert [r.canonical_hash for r in store.list() if r.project == "pipeline"] == [first.report.canonical_hash]
        third = jux.submit(raw, source="junit.xml", replace=True)  # --force: signed and stored anew
        assert third.ok and third.already_stored is None and third.report.data != first.report.data
        assert store.get(third.report.canonical_hash) == third.report.data

    # -- sidecars are validated when read --------------------------------------------------

    @pytest.mark.parametrize("damage", sorted(_CORRUPTIONS))
    def test_corrupt_metadata_is_skipped_and_reported(
        self,
        store: Store,
        corrupt_metadata: Callable[[Any, str, bytes], None],
        caplog: pytest.LogCaptureFixture,
        damage: str,
    ) -> None:
        good = samples.make_report(2, project="sound", tag=_unique("sound"))
        bad = samples.make_report(2, project="damaged", tag=_unique("damaged"))
        store.put(good)
        store.put(bad)
        hexd = bad.canonical_hash.removeprefix("sha256:")
        corrupt_metadata(store, bad.canonical_hash, _CORRUPTIONS[damage](store.metadata(bad.canonical_hash), good))
        with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
            listed = [r.canonical_hash for r in store.list()]
        assert listed == [good.canonical_hash], f"{damage}: the damaged record must be skipped, the rest listed"
        problems = [r for r in caplog.records if r.name == STORE_LOGGER and hasattr(r, "jux_store_problem")]
        assert problems, f"{damage}: a skipped record must be reported (juxsdk.sidecars.report_store_problem)"
        assert any(hexd in r.getMessage() for r in problems), "the warning must name the damaged report"
        with pytest.raises(CorruptSidecarError):
            store.metadata(bad.canonical_hash)
        assert store.get(bad.canonical_hash) == bad.data, "the report's bytes must stay readable"
        store.put(bad)  # the same bytes again rewrite the sidecar
        meta = store.metadata(bad.canonical_hash)
        assert meta.size == len(bad.data) and meta.project == "damaged"
        assert {r.canonical_hash for r in store.list()} == {good.canonical_hash, bad.canonical_hash}

    # -- missing keys ---------------------------------------------------------------------

    def test_get_missing_raises_report_not_found(self, store: Store, secret_values: Sequence[str]) -> None:
        with pytest.raises(ReportNotFoundError) as info:
            store.get(_MISSING_HASH)
        _assert_no_secret(str(info.value), secret_values, "the not-found error")

    def test_metadata_missing_raises_report_not_found(self, store: Store) -> None:
        with pytest.raises(ReportNotFoundError):
            store.metadata(_MISSING_HASH)

    def test_missing_does_not_exist_and_delete_returns_false(self, store: Store) -> None:
        assert store.exists(_MISSING_HASH) is False
        assert store.delete(_MISSING_HASH) is False

    @pytest.mark.parametrize("bad", ["sha256:../../../etc/passwd", "md5:abc", "", "sha256:" + "G" * 64])
    def test_malformed_hash_is_a_store_error(self, store: Store, bad: str) -> None:
        with pytest.raises(StoreError):
            store.get(bad)
        try:
            assert store.exists(bad) is False
        except StoreError:
            pass

    # -- delete ---------------------------------------------------------------------------

    def test_delete(self, store: Store) -> None:
        keep = samples.make_report(tag=_unique("keep"))
        gone = samples.make_report(tag=_unique("gone"))
        store.put(keep)
        store.put(gone)
        assert store.delete(gone.canonical_hash) is True
        assert store.exists(gone.canonical_hash) is False
        with pytest.raises(ReportNotFoundError):
            store.get(gone.canonical_hash)
        assert store.delete(gone.canonical_hash) is False
        assert [r.canonical_hash for r in store.list()] == [keep.canonical_hash]
        assert store.get(keep.canonical_hash) == keep.data

    # -- listing --------------------------------------------------------------------------

    def test_list_empty(self, store: Store) -> None:
        assert list(store.list()) == []

    def test_list_filters(self, store: Store) -> None:
        passing = samples.make_report(3, project="alpha", tag=_unique("pass"))
        failing = samples.make_report(3, failures=1, project="alpha", tag=_unique("fail"))
        erroring = samples.make_report(3, errors=1, project="beta", tag=_unique("err"))
        for r in (passing, failing, erroring):
            store.put(r)

        def hashes_of(**filters: Any) -> set[str]:
            records = list(store.list(**filters))
            assert all(isinstance(r, StoredReport) for r in records)
            return {r.canonical_hash for r in records}

        assert hashes_of() == {passing.canonical_hash, failing.canonical_hash, erroring.canonical_hash}
        assert hashes_of(project="alpha") == {passing.canonical_hash, failing.canonical_hash}
        assert hashes_of(project="beta") == {erroring.canonical_hash}
        assert hashes_of(project="nope") == set()
        assert hashes_of(failed_only=True) == {failing.canonical_hash, erroring.canonical_hash}
        assert hashes_of(project="alpha", failed_only=True) == {failing.canonical_hash}

    def test_list_time_window(self, store: Store) -> None:
        early = samples.make_report(tag=_unique("early"))
        late = samples.make_report(tag=_unique("late"))
        store.put(early)
        time.sleep(0.05)
        middle = dt.datetime.now(dt.UTC)
        time.sleep(0.05)
        store.put(late)
        e, lt = early.canonical_hash, late.canonical_hash
        assert {r.canonical_hash for r in store.list(since=middle)} == {lt}
        assert {r.canonical_hash for r in store.list(until=middle)} == {e}
        far = middle + dt.timedelta(days=1)
        assert {r.canonical_hash for r in store.list(since=middle - dt.timedelta(days=1), until=far)} == {
            e,
            lt,
        }
        assert list(store.list(since=far)) == []

    # -- hygiene --------------------------------------------------------------------------

    def test_close_is_idempotent(self, store: Store) -> None:
        store.close()
        store.close()

    def test_secrets_not_in_repr_or_errors(self, store: Store, secret_values: Sequence[str]) -> None:
        _assert_no_secret(repr(store), secret_values, "repr(store)")
        _assert_no_secret(str(store), secret_values, "str(store)")
        options = getattr(store, "options", None)
        if options is not None:
            _assert_no_secret(repr(options), secret_values, "repr(store.options)")
        for call in (lambda: store.get(_MISSING_HASH), lambda: store.metadata(_MISSING_HASH)):
            try:
                call()
            except JuxError as exc:
                _assert_no_secret(str(exc), secret_values, "an error message")
                _assert_no_secret(str(exc.hint or ""), secret_values, "an error hint")


def _verify_raw(signer: Signer, data: bytes, signature: bytes) -> None:
    family, _, hash_name = signer.algorithm.partition("-")
    algo = _HASHES[hash_name]()
    key = signer.public_key()
    if family == "rsa":
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(signature, data, padding.PKCS1v15(), algo)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, data, ec.ECDSA(algo))


def _keys(*items: Any) -> Any:
    """Wrap trust anchors for TrustedPublicKeys / TrustedCertificates (typed loosely on purpose)."""
    return tuple(items)


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _tamper_testcase_name(data: bytes) -> bytes:
    marker = b'<testcase classname="'
    start = data.index(marker)
    name_at = data.index(b'name="', start + len(marker)) + len(b'name="')
    ch = data[name_at : name_at + 1]
    flipped = b"X" if ch != b"X" else b"Y"
    return data[:name_at] + flipped + data[name_at + 1 :]


class SignerContract(_BackendShape):
    """Conformance tests for :class:`juxsdk.protocols.Signer` backends.

    Subclass with a ``Test…`` name and provide a ``signer`` fixture. A signer with a certificate
    is checked on the certificate path (``TrustedCertificates``); one without on the key-value
    path (its signatures must carry ``KeyValue``); both on ``TrustedPublicKeys``.
    """

    def test_implements_signer_protocol(self, signer: Signer) -> None:
        self._check_shape(signer, Signer)

    def test_algorithm_is_known_and_matches_key(self, signer: Signer) -> None:
        assert signer.algorithm in SIGNATURE_ALGORITHMS
        key = signer.public_key()
        if signer.algorithm.startswith("rsa-"):
            assert isinstance(key, rsa.RSAPublicKey), "rsa-* algorithm with a non-RSA key"
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey), "ecdsa-* algorithm with a non-EC key"

    def test_raw_signature_verifies_with_public_key(self, signer: Signer) -> None:
        data = b"<ds:SignedInfo>juxsdk conformance kit</ds:SignedInfo>"
        signature = signer.sign(data)
        assert isinstance(signature, bytes) and signature
        try:
            _verify_raw(signer, data, signature)
        except InvalidSignature:
            pytest.fail("sign() output does not verify with public_key(): wrong key, hash or encoding")

    def test_certificate_chain_matches_public_key(self, signer: Signer) -> None:
        chain = list(signer.certificate_chain())
        if chain:
            assert _spki(chain[0].public_key()) == _spki(signer.public_key()), (
                "the first certificate must be the signing key's certificate"
            )

    @pytest.mark.parametrize("sample", _SMALL_SAMPLES)
    def test_sign_verify_with_trusted_public_key(self, signer: Signer, sample: str) -> None:
        from juxsdk.trust import TrustedPublicKeys
        from juxsdk.xmldsig import verify_report

        report = samples.sample_report(sample)
        signed = _sign(report, signer)
        assert signed.canonical_hash == report.canonical_hash
        assert signed.signature.algorithm == signer.algorithm
        verified = verify_report(signed.data, TrustedPublicKeys(_keys(signer.public_key())))
        assert verified.canonical_hash == report.canonical_hash
        assert verified.summary.tests == report.summary.tests

    def test_key_value_path(self, signer: Signer) -> None:
        if list(signer.certificate_chain()):
            pytest.skip("signer has a certificate: see test_certificate_path")
        from juxsdk.trust import TrustedPublicKeys
        from juxsdk.xmldsig import verify_report

        signed = _sign(samples.make_report(tag=_unique("kv")), signer)
        assert b"KeyValue" in signed.data, "a signer without certificate must produce ds:KeyValue"
        assert b"X509Certificate" not in signed.data
        verified = verify_report(signed.data, TrustedPublicKeys(_keys(signer.public_key())))
        assert verified.signature.certificate_subject is None
        assert verified.signature.key_fingerprint == signed.signature.key_fingerprint

    def test_certificate_path(self, signer: Signer) -> None:
        chain = list(signer.certificate_chain())
        if not chain:
            pytest.skip("signer has no certificate: see test_key_value_path")
        from juxsdk.trust import TrustedCertificates
        from juxsdk.xmldsig import verify_report

        signed = _sign(samples.make_report(tag=_unique("cert")), signer)
        assert b"X509Certificate" in signed.data, "a signer with a certificate must embed it"
        verified = verify_report(signed.data, TrustedCertificates(_keys(chain[0])))
        assert verified.signature.certificate_subject == chain[0].subject.rfc4514_string()

    def test_large_report_sign_verify(self, signer: Signer) -> None:
        from juxsdk.trust import TrustedPublicKeys
        from juxsdk.xmldsig import verify_report

        report = samples.sample_report("large")
        signed = _sign(report, signer)
        verified = verify_report(signed.data, TrustedPublicKeys(_keys(signer.public_key())))
        assert verified.canonical_hash == report.canonical_hash

    def test_tampered_report_is_rejected(self, signer: Signer) -> None:
        from juxsdk.trust import TrustedPublicKeys
        from juxsdk.xmldsig import verify_report

        signed = _sign(samples.make_report(tag=_unique("tamper")), signer)
        tampered = _tamper_testcase_name(signed.data)
        assert tampered != signed.data
        with pytest.raises(DigestMismatchError):
            verify_report(tampered, TrustedPublicKeys(_keys(signer.public_key())))

    def test_other_key_is_not_trusted(self, signer: Signer) -> None:
        from juxsdk.trust import TrustedPublicKeys
        from juxsdk.xmldsig import verify_report

        signed = _sign(samples.make_report(tag=_unique("other")), signer)
        stranger = MemorySigner(MemorySigner.Options(algorithm="ecdsa-sha256"))
        with pytest.raises(VerificationError):
            verify_report(signed.data, TrustedPublicKeys(_keys(stranger.public_key())))

    def test_close_is_idempotent(self, signer: Signer) -> None:
        signer.close()
        signer.close()

    def test_secrets_not_in_repr(self, signer: Signer, secret_values: Sequence[str]) -> None:
        _assert_no_secret(repr(signer), secret_values, "repr(signer)")
        _assert_no_secret(str(signer), secret_values, "str(signer)")
        options = getattr(signer, "options", None)
        if options is not None:
            _assert_no_secret(repr(options), secret_values, "repr(signer.options)")


class PublisherContract(_BackendShape):
    """Conformance tests for :class:`juxsdk.protocols.Publisher` backends.

    Subclass with a ``Test…`` name and provide ``publisher`` (reachable) and
    ``unreachable_publisher`` (pointed at a dead endpoint) fixtures. Override
    ``contract_signer`` or ``publishable_report`` when the destination only accepts reports
    signed by a trusted key.
    """

    @pytest.fixture
    def publishable_report(self, contract_signer: Any) -> Report | SignedReport:
        """A fresh signed report, unique to the test."""
        return _sign(samples.make_report(4, failures=1, project="contract", tag=_unique("pub")), contract_signer)

    def test_implements_publisher_protocol(self, publisher: Publisher) -> None:
        self._check_shape(publisher, Publisher)

    def test_publish_returns_receipt(self, publisher: Publisher, publishable_report: SignedReport) -> None:
        receipt = publisher.publish(publishable_report)
        assert isinstance(receipt, PublishReceipt)
        assert receipt.canonical_hash == publishable_report.canonical_hash
        assert receipt.publisher == type(publisher).name
        assert receipt.status in ("created", "duplicate")

    def test_publishing_twice_is_not_an_error(self, publisher: Publisher, publishable_report: SignedReport) -> None:
        first = publisher.publish(publishable_report)
        second = publisher.publish(publishable_report)
        assert first.canonical_hash == second.canonical_hash == publishable_report.canonical_hash
        assert second.status in ("duplicate", "created")

    def test_unreachable_raises_transient(
        self,
        unreachable_publisher: Publisher,
        publishable_report: SignedReport,
        secret_values: Sequence[str],
    ) -> None:
        with pytest.raises(TransientPublishError) as info:
            unreachable_publisher.publish(publishable_report)
        _assert_no_secret(str(info.value), secret_values, "the transient error")
        _assert_no_secret(repr(info.value.details), secret_values, "the error details")

    def test_close_is_idempotent(self, publisher: Publisher) -> None:
        publisher.close()
        publisher.close()

    def test_secrets_not_in_repr(self, publisher: Publisher, secret_values: Sequence[str]) -> None:
        _assert_no_secret(repr(publisher), secret_values, "repr(publisher)")
        _assert_no_secret(str(publisher), secret_values, "str(publisher)")
        options = getattr(publisher, "options", None)
        if options is not None:
            _assert_no_secret(repr(options), secret_values, "repr(publisher.options)")
