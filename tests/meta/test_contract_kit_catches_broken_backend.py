"""The conformance kit must FAIL deliberately broken backends (and pass correct ones).

Each broken fake below breaks exactly one promise; the kit is run against it with pytester and
the tests that guard that promise must fail, while the same kit passes the correct fakes.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

BACKENDS = textwrap.dedent(
    '''
    import datetime as dt

    import pytest
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import hashes
    from lxml import etree

    import json

    from juxsdk.errors import TransientPublishError
    from juxsdk.models import StoredReport, stored_record
    from juxsdk.sidecars import encode_sidecar
    from juxsdk.testing import PublisherContract, SignerContract, StoreContract
    from juxsdk.testing.fakes import MemoryPublisher, MemorySigner, MemoryStore


    class ReserialisingStore(MemoryStore):
        """get() parses and re-serialises the XML: loses the BOM, the declaration, CRLF."""

        def get(self, canonical_hash):
            data = super().get(canonical_hash)
            return etree.tostring(etree.fromstring(data), encoding="utf-8")


    class NonIdempotentStore(MemoryStore):
        """put() always writes a new entry with a new stored_at."""

        def __init__(self, options=None):
            super().__init__(options)
            self.extra = []

        def put(self, report):
            record = super().put(report)
            record = stored_record(report, store=self.name, stored_at=dt.datetime.now(dt.UTC))
            self.extra.append(record)
            return record

        def list(self, **filters):
            yield from super().list(**filters)
            yield from self.extra[1:]


    class LeakyStore(MemoryStore):
        """Shows its secret in repr()."""

        def __repr__(self):
            return "LeakyStore(password='hunter2-very-secret')"


    class DowngradingStore(MemoryStore):
        """put() replaces whatever differs, as stores did before the replace rule."""

        def put(self, report, *, replace=False):
            with self._lock:
                existing = self._data.get(report.canonical_hash)
                old = self._record(report.canonical_hash, *existing) if existing is not None else None
                if existing is not None and existing[0] == report.data:
                    return old
                record = stored_record(report, store=self.name, stored_at=old.stored_at if old else None)
                self._data[report.canonical_hash] = (bytes(report.data), encode_sidecar(record))
                return record


    class CorruptionBlindStore(MemoryStore):
        """Trusts its sidecars: no validation on read, a broken one breaks list()."""

        def _record(self, key, data, sidecar):
            return StoredReport.from_dict(json.loads(sidecar))

        def _records(self):
            with self._lock:
                items = list(self._data.items())
            for key, (data, sidecar) in items:
                yield self._record(key, data, sidecar)


    class SubmissionBlindStore(MemoryStore):
        """Ignores idempotency keys (as stores written before them): every submission is stored."""

        find_submission = None  # no index: juxsdk.store_rules.find_submission searches list()

        def _submitted(self, report):
            return None


    class _MemoryKit(StoreContract):
        @pytest.fixture
        def corrupt_metadata(self):
            return lambda store, canonical_hash, raw: store.overwrite_metadata(canonical_hash, raw)


    class WrongKeySigner(MemorySigner):
        """Signs with a different key than the one public_key() returns."""

        def __init__(self, options=None, **kwargs):
            super().__init__(options, **kwargs)
            self._other = ec.generate_private_key(ec.SECP256R1())

        def sign(self, data):
            return self._other.sign(data, ec.ECDSA(hashes.SHA256()))


    class BadAlgorithmSigner(MemorySigner):
        @property
        def algorithm(self):
            return "rsa-sha1"


    class ConnectionErrorPublisher(MemoryPublisher):
        """Lets a raw ConnectionError escape instead of TransientPublishError."""

        def publish(self, report):
            if self.options.fail == "transient":
                raise ConnectionError("connection refused")
            return super().publish(report)


    class TestGoodStore(_MemoryKit):
        @pytest.fixture
        def store(self):
            return MemoryStore()


    class TestReserialisingStore(_MemoryKit):
        @pytest.fixture
        def store(self):
            return ReserialisingStore()


    class TestNonIdempotentStore(_MemoryKit):
        @pytest.fixture
        def store(self):
            return NonIdempotentStore()


    class TestSubmissionBlindStore(_MemoryKit):
        @pytest.fixture
        def store(self):
            return SubmissionBlindStore()


    class TestLeakyStore(_MemoryKit):
        @pytest.fixture
        def store(self):
            return LeakyStore()

        @pytest.fixture
        def secret_values(self):
            return ["hunter2-very-secret"]


    class TestDowngradingStore(_MemoryKit):
        @pytest.fixture
        def store(self):
            return DowngradingStore()


    class TestCorruptionBlindStore(_MemoryKit):
        @pytest.fixture
        def store(self):
            return CorruptionBlindStore()


    class TestStoreWithoutCorruptionFixture(StoreContract):
        @pytest.fixture
        def store(self):
            return MemoryStore()


    class TestGoodSigner(SignerContract):
        @pytest.fixture
        def signer(self):
            return MemorySigner(algorithm="ecdsa-sha256")


    class TestWrongKeySigner(SignerContract):
        @pytest.fixture
        def signer(self):
            return WrongKeySigner(algorithm="ecdsa-sha256")


    class TestBadAlgorithmSigner(SignerContract):
        @pytest.fixture
        def signer(self):
            return BadAlgorithmSigner(algorithm="ecdsa-sha256")


    class TestGoodPublisher(PublisherContract):
        @pytest.fixture
        def publisher(self):
            return MemoryPublisher()

        @pytest.fixture
        def unreachable_publisher(self):
            return MemoryPublisher(MemoryPublisher.Options(fail="transient"))


    class TestConnectionErrorPublisher(PublisherContract):
        @pytest.fixture
        def publisher(self):
            return ConnectionErrorPublisher()

        @pytest.fixture
        def unreachable_publisher(self):
            return ConnectionErrorPublisher(MemoryPublisher.Options(fail="transient"))
    '''
)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, str]:
    """Run the kit once over every fake in-process; map test id (no file part) -> outcome."""
    pytester_dir = tmp_path_factory.mktemp("kit")
    (pytester_dir / "test_backends.py").write_text(BACKENDS, encoding="utf-8")

    class Collect:
        def __init__(self) -> None:
            self.results: dict[str, str] = {}

        def pytest_runtest_logreport(self, report) -> None:
            if report.when == "call" or report.outcome != "passed":
                key = report.nodeid.split("::", 1)[1]
                if self.results.get(key) != "failed":
                    self.results[key] = report.outcome

    collector = Collect()
    code = pytest.main(
        [
            str(pytester_dir / "test_backends.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--rootdir",
            str(pytester_dir),
            "-o",
            "addopts=",
            "-W",
            "ignore::DeprecationWarning",
        ],
        plugins=[collector],
    )
    assert code == 1, f"the run must fail (broken backends), exit code was {code}"
    return collector.results


def _of(outcomes: dict[str, str], cls: str) -> dict[str, str]:
    return {k.split("::", 1)[1]: v for k, v in outcomes.items() if k.startswith(cls + "::")}


@pytest.mark.parametrize("cls", ["TestGoodStore", "TestGoodSigner", "TestGoodPublisher"])
def test_correct_fakes_pass_the_whole_kit(outcomes, cls) -> None:
    results = _of(outcomes, cls)
    assert len(results) >= 5, f"{cls}: too few tests ran: {results}"
    failed = {k: v for k, v in results.items() if v == "failed"}
    assert not failed, f"{cls} should pass the kit but failed: {sorted(failed)}"


def test_reserialising_store_fails_byte_exact_round_trips(outcomes) -> None:
    results = _of(outcomes, "TestReserialisingStore")
    for sample in ("basic", "crlf", "utf8-bom", "bare-suite"):
        assert results[f"test_round_trip_is_byte_exact[{sample}]"] == "failed", sample
    assert results["test_large_report_round_trip"] == "failed"
    assert results["test_signed_report_round_trip"] == "failed"
    assert results["test_list_filters"] == "passed"  # only the broken promise fails


def test_non_idempotent_store_fails_idempotence(outcomes) -> None:
    results = _of(outcomes, "TestNonIdempotentStore")
    assert results["test_put_is_idempotent"] == "failed"
    assert results["test_concurrent_puts_of_one_report"] == "failed"
    assert results["test_get_missing_raises_report_not_found"] == "passed"


def test_store_ignoring_idempotency_keys_fails_the_submission_rule(outcomes) -> None:
    results = _of(outcomes, "TestSubmissionBlindStore")
    assert results["test_same_submission_is_stored_once"] == "failed"
    assert results["test_concurrent_submissions_store_one"] == "failed"
    # what a store without an index still gets right, through list() and the facade's look-up
    assert results["test_submission_keys_are_kept_and_found"] == "passed"
    assert results["test_resubmitting_through_the_pipeline_is_idempotent"] == "passed"
    assert results["test_put_is_idempotent"] == "passed"


def test_downgrading_store_fails_the_replace_rule(outcomes) -> None:
    results = _of(outcomes, "TestDowngradingStore")
    for name in ("test_unsigned_report_never_replaces_signed_copy[plain]",
                 "test_unsigned_report_never_replaces_signed_copy[replace]",
                 "test_different_signature_is_replaced_only_on_request",
                 "test_different_unsigned_bytes_are_replaced_only_on_request",
                 "test_racing_signed_and_unsigned_puts_end_signed"):
        assert results[name] == "failed", name
    assert results["test_signed_report_upgrades_its_unsigned_copy"] == "passed"
    assert results["test_put_is_idempotent"] == "passed"


def test_store_trusting_its_sidecars_fails_corruption_checks(outcomes) -> None:
    results = _of(outcomes, "TestCorruptionBlindStore")
    corrupt = {k: v for k, v in results.items() if k.startswith("test_corrupt_metadata_is_skipped_and_reported[")}
    assert len(corrupt) >= 8
    assert set(corrupt.values()) == {"failed"}, corrupt
    assert results["test_unsigned_report_never_replaces_signed_copy[plain]"] == "passed"


def test_store_without_corruption_fixture_is_told_what_to_provide(outcomes) -> None:
    results = _of(outcomes, "TestStoreWithoutCorruptionFixture")
    assert results["test_corrupt_metadata_is_skipped_and_reported[not-json]"] == "failed"
    assert results["test_list_filters"] == "passed"


def test_leaky_store_fails_secret_check(outcomes) -> None:
    results = _of(outcomes, "TestLeakyStore")
    assert results["test_secrets_not_in_repr_or_errors"] == "failed"
    assert results["test_put_is_idempotent"] == "passed"


def test_wrong_key_signer_fails_every_verification(outcomes) -> None:
    results = _of(outcomes, "TestWrongKeySigner")
    assert results["test_raw_signature_verifies_with_public_key"] == "failed"
    assert results["test_key_value_path"] == "failed"
    for sample in ("basic", "crlf", "utf8-bom", "bare-suite"):
        assert results[f"test_sign_verify_with_trusted_public_key[{sample}]"] == "failed"
    assert results["test_algorithm_is_known_and_matches_key"] == "passed"


def test_bad_algorithm_signer_fails(outcomes) -> None:
    results = _of(outcomes, "TestBadAlgorithmSigner")
    assert results["test_algorithm_is_known_and_matches_key"] == "failed"


def test_publisher_leaking_raw_exceptions_fails(outcomes) -> None:
    results = _of(outcomes, "TestConnectionErrorPublisher")
    assert results["test_unreachable_raises_transient"] == "failed"
    assert results["test_publish_returns_receipt"] == "passed"


def test_contracts_module_is_assertion_rewritten() -> None:
    import juxsdk.testing.contracts as contracts

    assert "@py_builtins" in vars(contracts), "juxsdk.testing.contracts was imported without assert rewriting"


def test_failure_output_shows_compared_values(pytester) -> None:
    """In a fresh process, a kit failure shows pytest's assertion introspection."""
    pytester.makepyfile(
        test_one=textwrap.dedent(
            """
            import pytest
            from lxml import etree
            from juxsdk.testing import StoreContract
            from juxsdk.testing.fakes import MemoryStore

            class Broken(MemoryStore):
                def get(self, canonical_hash):
                    return etree.tostring(etree.fromstring(super().get(canonical_hash)))

            class TestBroken(StoreContract):
                @pytest.fixture
                def store(self):
                    return Broken()
            """
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "addopts=", "-k", "test_round_trip_is_byte_exact and crlf"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*crlf: stored bytes changed*", "*assert b'<testsuites*== b'<?xml*"])
