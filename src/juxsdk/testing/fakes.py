"""In-memory fake backends for tests: :class:`MemoryStore`, :class:`MemoryPublisher`, :class:`MemorySigner`.

They implement the :mod:`juxsdk.protocols` contracts faithfully (they pass the conformance kit),
so they can stand in for real backends when a test is about something else, e.g. the
:class:`juxsdk.client.Jux` pipeline. They are not registered as plugins; pass instances
directly (``Jux(signer=MemorySigner(), stores=[MemoryStore()])``) or register them with
``Registry(plugins=[...])`` from a test module.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from juxsdk.attachments import Attachment, check_attachment, check_kind
from juxsdk.errors import (
    CorruptSidecarError,
    PermanentPublishError,
    ReportNotFoundError,
    SigningError,
    StoreError,
    TransientPublishError,
)
from juxsdk.models import PublishReceipt, Report, SignedReport, StoredReport, canonical_hex, stored_record
from juxsdk.sidecars import encode_sidecar, read_sidecar, select_records
from juxsdk.store_rules import decide_put

__all__ = ["MemoryPublisher", "MemorySigner", "MemoryStore", "self_signed_certificate"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class MemoryStore:
    """A thread-safe store that keeps reports in a dict (lost when the object goes away).

    Each report is kept as its exact bytes plus its JSON sidecar bytes, validated on read like
    a real store's; :meth:`overwrite_metadata` damages a sidecar for tests.
    """

    name: ClassVar[str] = "memory"

    @attrs.frozen
    class Options:
        """No options."""

    def __init__(self, options: MemoryStore.Options | None = None) -> None:
        self.options = options or MemoryStore.Options()
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes, bytes]] = {}
        self._attachments: dict[str, dict[str, bytes]] = {}
        self._submissions: dict[str, str] = {}
        self.closed = False

    def __repr__(self) -> str:
        return f"MemoryStore(reports={len(self._data)})"

    @staticmethod
    def _check(canonical_hash: str) -> str:
        canonical_hex(canonical_hash)  # the one validator (StoreError), as every store uses it
        return canonical_hash

    def _record(self, key: str, data: bytes, sidecar: bytes) -> StoredReport:
        return read_sidecar(sidecar, canonical_hash=key, where=f"memory:{key}.json", size=len(data))

    def put(self, report: Report | SignedReport, *, replace: bool = False) -> StoredReport:
        """Store ``report`` following :func:`juxsdk.store_rules.decide_put` (see the Store protocol).

        Raises:
            StoreConflictError: the replace rule refused the write.
        """
        key = self._check(report.canonical_hash)
        with self._lock:
            stored, sidecar = self._data.get(key, (None, None))
            old: StoredReport | None = None
            if stored is not None and sidecar is not None:
                with contextlib.suppress(CorruptSidecarError):
                    old = self._record(key, stored, sidecar)
            submitted = self._submitted(report)
            decision = decide_put(
                stored, report, replace=replace, where=f"memory:{key}", existing=old, submitted=submitted
            )
            if decision.submitted is not None:
                return decision.submitted
            if report.idempotency_key is not None:
                self._submissions[report.idempotency_key] = key
            if not decision.writes and old is not None:
                return old
            record = stored_record(
                report, store=self.name, location=f"memory:{key}", stored_at=old.stored_at if old else None
            )
            self._data[key] = (bytes(report.data), encode_sidecar(record))
            return record

    def _submitted(self, report: Report | SignedReport) -> StoredReport | None:
        """The record stored under ``report``'s idempotency key (the caller holds the lock)."""
        named = self._submissions.get(report.idempotency_key or "")
        if named is None or named == report.canonical_hash or named not in self._data:
            return None
        data, sidecar = self._data[named]
        try:
            return self._record(named, data, sidecar)
        except CorruptSidecarError:
            return None

    def find_submission(self, key: str) -> StoredReport | None:
        """The record stored last under an idempotency key, or None (see the Store protocol)."""
        with self._lock:
            named = self._submissions.get(key)
            if named is None or named not in self._data:
                return None
            data, sidecar = self._data[named]
        try:
            return self._record(named, data, sidecar)
        except CorruptSidecarError:
            return None

    def overwrite_metadata(self, canonical_hash: str, raw: bytes) -> None:
        """Test hook: replace the sidecar bytes of a stored report (behind the store's back)."""
        with self._lock:
            data, _ = self._data[canonical_hash]
            self._data[canonical_hash] = (data, bytes(raw))

    def get(self, canonical_hash: str) -> bytes:
        """Return the stored bytes; raises ReportNotFoundError when absent."""
        key = self._check(canonical_hash)
        with self._lock:
            try:
                return self._data[key][0]
            except KeyError:
                raise ReportNotFoundError(f"no report {key} in the memory store") from None

    def exists(self, canonical_hash: str) -> bool:
        """Return True when a report is stored under that hash."""
        with self._lock:
            return canonical_hash in self._data

    def metadata(self, canonical_hash: str) -> StoredReport:
        """Return the validated sidecar record.

        Raises:
            ReportNotFoundError: nothing stored under that hash.
            CorruptSidecarError: the sidecar failed validation.
        """
        key = self._check(canonical_hash)
        with self._lock:
            try:
                data, sidecar = self._data[key]
            except KeyError:
                raise ReportNotFoundError(f"no report {key} in the memory store") from None
        return self._record(key, data, sidecar)

    def _records(self) -> Iterator[StoredReport | StoreError]:
        with self._lock:
            items = list(self._data.items())
        for key, (data, sidecar) in items:
            try:
                yield self._record(key, data, sidecar)
            except StoreError as exc:
                yield exc

    def list(
        self,
        *,
        project: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        failed_only: bool = False,
    ) -> Iterator[StoredReport]:
        """Yield matching records, oldest first; corrupt sidecars are skipped and reported."""
        yield from select_records(self._records(), project=project, since=since, until=until, failed_only=failed_only)

    def delete(self, canonical_hash: str) -> bool:
        """Delete; return False when it was not there."""
        with self._lock:
            self._attachments.pop(canonical_hash, None)
            return self._data.pop(canonical_hash, None) is not None

    def close(self) -> None:
        """Mark closed (idempotent); the data stays readable."""
        self.closed = True

    # -- attachments (juxsdk.attachments.AttachmentStore) ---------------------------------

    def put_attachment(self, canonical_hash: str, kind: str, data: bytes) -> Attachment:
        """Keep ``data`` as the ``kind`` attachment of a stored report (replacing it)."""
        key, kind, body = self._check(canonical_hash), check_kind(kind), check_attachment(data)
        with self._lock:
            if key not in self._data:
                raise ReportNotFoundError(f"no report {key} in the memory store")
            self._attachments.setdefault(key, {})[kind] = body
        return Attachment(kind, len(body), f"memory:{key}/{kind}")

    def get_attachment(self, canonical_hash: str, kind: str) -> bytes:
        """Return an attachment's bytes; raises ReportNotFoundError when absent."""
        key, kind = self._check(canonical_hash), check_kind(kind)
        with self._lock:
            if key not in self._data or kind not in self._attachments.get(key, {}):
                raise ReportNotFoundError(f"no {kind!r} attachment of {key} in the memory store")
            return self._attachments[key][kind]

    def attachments(self, canonical_hash: str) -> builtins.list[Attachment]:
        """List a stored report's attachments, by kind."""
        key = self._check(canonical_hash)
        with self._lock:
            if key not in self._data:
                raise ReportNotFoundError(f"no report {key} in the memory store")
            items = sorted(self._attachments.get(key, {}).items())
        return [Attachment(k, len(v), f"memory:{key}/{k}") for k, v in items]


class MemoryPublisher:
    """Records published reports; can be told to fail transiently or permanently.

    Attributes:
        published: ``(canonical_hash, bytes)`` of every successful publish, in order.
    """

    name: ClassVar[str] = "memory-publisher"

    @attrs.frozen
    class Options:
        """Options of :class:`MemoryPublisher`.

        Attributes:
            fail: ``None`` (succeed), ``"transient"`` or ``"permanent"``.
            url: Label used in receipts.
        """

        fail: str | None = attrs.field(default=None, validator=attrs.validators.in_([None, "transient", "permanent"]))
        url: str = "memory://publisher"

    def __init__(self, options: MemoryPublisher.Options | None = None) -> None:
        self.options = options or MemoryPublisher.Options()
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self.published: list[tuple[str, bytes]] = []
        self.closed = False

    def publish(self, report: Report | SignedReport) -> PublishReceipt:
        """Record ``report``; ``status`` is ``"duplicate"`` when its hash was published before.

        Raises:
            TransientPublishError: ``fail="transient"``.
            PermanentPublishError: ``fail="permanent"``.
        """
        if self.options.fail == "transient":
            raise TransientPublishError(f"cannot reach {self.options.url} (simulated)", hint="retry later")
        if self.options.fail == "permanent":
            raise PermanentPublishError(f"{self.options.url} rejected the report (simulated)", status=422)
        with self._lock:
            status = "duplicate" if report.canonical_hash in self._seen else "created"
            self._seen.add(report.canonical_hash)
            self.published.append((report.canonical_hash, bytes(report.data)))
        return PublishReceipt(
            publisher=self.name, canonical_hash=report.canonical_hash, status=status, url=self.options.url
        )

    def close(self) -> None:
        """Mark closed (idempotent)."""
        self.closed = True


def self_signed_certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    common_name: str = "juxsdk test signer",
    *,
    days: int = 30,
) -> x509.Certificate:
    """Build a self-signed certificate for ``key`` valid from one hour ago for ``days`` days."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


class MemorySigner:
    """Signs with a key generated in memory (RSA 2048 or an EC P-256/P-384 key).

    Args:
        options: ``algorithm`` picks the key type and hash; ``certificate`` adds a self-signed
            certificate (so signatures carry ``X509Data`` instead of ``KeyValue``).
    """

    name: ClassVar[str] = "memory-signer"

    @attrs.frozen
    class Options:
        """Options of :class:`MemorySigner`.

        Attributes:
            algorithm: One of :data:`juxsdk.protocols.SIGNATURE_ALGORITHMS`.
            certificate: Also make a self-signed certificate.
        """

        algorithm: str = "ecdsa-sha256"
        certificate: bool = False

    def __init__(self, options: MemorySigner.Options | None = None, **kwargs: Any) -> None:
        self.options = options or MemorySigner.Options(**kwargs)
        family, _, hash_name = self.options.algorithm.partition("-")
        if hash_name not in _HASHES or family not in ("rsa", "ecdsa"):
            raise SigningError(f"unsupported algorithm {self.options.algorithm!r}")
        self._hash = _HASHES[hash_name]
        self._key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if family == "rsa":
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            curve: ec.EllipticCurve = ec.SECP384R1() if hash_name != "sha256" else ec.SECP256R1()
            self._key = ec.generate_private_key(curve)
        self._chain: tuple[x509.Certificate, ...] = (
            (self_signed_certificate(self._key),) if self.options.certificate else ()
        )
        self.closed = False

    def __repr__(self) -> str:
        return f"MemorySigner(algorithm={self.algorithm!r}, certificate={bool(self._chain)})"

    @property
    def algorithm(self) -> str:
        """The configured algorithm name."""
        return self.options.algorithm

    def public_key(self) -> PublicKeyTypes:
        """Return the public half of the in-memory key."""
        return self._key.public_key()

    def certificate_chain(self) -> Sequence[x509.Certificate]:
        """Return the self-signed certificate, or an empty tuple."""
        return self._chain

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``: RSA PKCS #1 v1.5 or DER ECDSA with the configured hash."""
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), self._hash())
        return self._key.sign(data, ec.ECDSA(self._hash()))

    def close(self) -> None:
        """Mark closed (idempotent)."""
        self.closed = True
