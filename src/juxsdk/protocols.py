"""The three backend protocols: :class:`Signer`, :class:`Store` and :class:`Publisher`.

Shape only. A backend is a class with a unique ``name`` (used in configuration), an attrs
``Options`` class (its options table, structured strictly by :mod:`juxsdk.config`) and a
constructor taking one ``Options`` instance. Backends are registered through the ``juxsdk``
pluggy hooks (:mod:`juxsdk.hookspecs`) and must raise only :class:`juxsdk.errors.JuxError`
subclasses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from .models import PublishReceipt, Report, SignedReport, StoredReport

__all__ = ["SIGNATURE_ALGORITHMS", "Publisher", "Signer", "Store"]

#: Algorithm names a :class:`Signer` may report, and what ``sign()`` must return for each.
#: RSA: PKCS #1 v1.5 signature (RFC 8017 §8.2) over the data hashed with the named SHA-2.
#: ECDSA: DER-encoded ``Ecdsa-Sig-Value`` (RFC 3279 §2.2.3) over the data hashed with SHA-2.
SIGNATURE_ALGORITHMS: tuple[str, ...] = (
    "rsa-sha256",
    "rsa-sha384",
    "rsa-sha512",
    "ecdsa-sha256",
    "ecdsa-sha384",
    "ecdsa-sha512",
)


@runtime_checkable
class Signer(Protocol):
    """Signs bytes with a private key it keeps to itself.

    Backends sign bytes; only the core builds XMLDSig (:mod:`juxsdk.xmldsig`).

    Attributes:
        name: Backend name used in configuration (e.g. ``"file"``, ``"pkcs11"``).
        Options: attrs class of this backend's options.
        algorithm: One of :data:`SIGNATURE_ALGORITHMS`.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Any]]

    @property
    def algorithm(self) -> str: ...

    def public_key(self) -> PublicKeyTypes:
        """Return the public key matching the signing key (a cryptography public key)."""
        ...

    def certificate_chain(self) -> Sequence[x509.Certificate]:
        """Return the signing certificate first, then intermediates; empty when none is configured."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (the canonical SignedInfo bytes) and return the signature.

        Returns:
            RSA: the PKCS #1 v1.5 signature; ECDSA: the DER ``Ecdsa-Sig-Value``.

        Raises:
            juxsdk.errors.SigningError: the key or token could not sign.
        """
        ...

    def close(self) -> None:
        """Release resources (sessions, handles). Idempotent."""
        ...


@runtime_checkable
class Store(Protocol):
    """Content-addressed report storage, keyed by canonical hash (``sha256:<hex>``)."""

    name: ClassVar[str]
    Options: ClassVar[type[Any]]

    def put(self, report: Report | SignedReport, *, replace: bool = False) -> StoredReport:
        """Store ``report.data`` byte-for-byte with its metadata sidecar.

        Idempotent: putting the same bytes again is a no-op returning the existing record (a
        missing or corrupt sidecar is rewritten). Different bytes under the same canonical
        hash follow :func:`juxsdk.store_rules.decide_put`, applied atomically with the write:
        a signed report replaces its unsigned version; an unsigned report never replaces a
        signed one; other different bytes are replaced only with ``replace=True``. The first
        ``stored_at`` is kept. When a put returns, ``get`` returns exactly ``report.data``.

        A report carrying an idempotency key (:meth:`juxsdk.Jux.submit` sets
        ``report.idempotency_key``) keeps it in its record, and a store that indexes keys passes
        the record stored under the same key to ``decide_put(..., submitted=…)``: another report
        still stored there makes the decision ``"duplicate"`` (nothing written, that record
        returned) unless ``replace=True``. Such a store also offers ``find_submission(key) ->
        StoredReport | None`` (optional: without it :func:`juxsdk.store_rules.find_submission`
        searches ``list()``). :class:`juxsdk.testing.StoreContract` checks both.

        Args:
            report: The report; ``report.canonical_hash`` is the key.
            replace: Replace different stored bytes (CLI ``--force``); never a downgrade.

        Raises:
            juxsdk.errors.StoreConflictError: the rule refused the write; nothing was written.
            juxsdk.errors.StoreError: the backend failed.
        """
        ...

    def get(self, canonical_hash: str) -> bytes:
        """Return the exact stored bytes.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing stored under that hash.
            juxsdk.errors.StoreError: the backend failed.
        """
        ...

    def exists(self, canonical_hash: str) -> bool:
        """Return True when a report is stored under that hash."""
        ...

    def metadata(self, canonical_hash: str) -> StoredReport:
        """Return the sidecar record, validated (:func:`juxsdk.sidecars.read_sidecar`).

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing stored under that hash.
            juxsdk.errors.CorruptSidecarError: the sidecar failed validation.
        """
        ...

    def list(
        self,
        *,
        project: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        failed_only: bool = False,
    ) -> Iterator[StoredReport]:
        """Yield records matching every given filter (``stored_at`` in ``[since, until)``).

        A corrupt sidecar never breaks the listing: that report is skipped and reported with
        :func:`juxsdk.sidecars.report_store_problem` (pass the error to
        :func:`juxsdk.sidecars.select_records`, which does it).
        """
        ...

    def delete(self, canonical_hash: str) -> bool:
        """Delete a report and its sidecar; return False when it was not there."""
        ...

    def close(self) -> None:
        """Release resources. Idempotent."""
        ...


@runtime_checkable
class Publisher(Protocol):
    """Sends a report somewhere (e.g. the Jux API v1)."""

    name: ClassVar[str]
    Options: ClassVar[type[Any]]

    def publish(self, report: Report | SignedReport) -> PublishReceipt:
        """Publish the exact bytes of ``report``.

        Raises:
            juxsdk.errors.TransientPublishError: worth retrying later (the outbox queues it).
            juxsdk.errors.PermanentPublishError: retrying will not help.
        """
        ...

    def close(self) -> None:
        """Release resources. Idempotent."""
        ...
