"""Immutable values passed between the core, the backends and the callers.

All classes are frozen attrs classes. Reports carry their exact bytes; nothing here ever
re-serialises XML.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "PublishReceipt",
    "Report",
    "ReportSummary",
    "SignatureInfo",
    "SignedReport",
    "StoredReport",
    "VerifiedReport",
    "canonical_hex",
    "select_records",
    "stored_record",
]


@attrs.frozen
class ReportSummary:
    """Counts of a JUnit report, each testcase counted once.

    Attributes:
        tests: Number of ``<testcase>`` elements (or the declared total when larger).
        failures: Testcases with a ``<failure>`` child.
        errors: Testcases with an ``<error>`` child.
        skipped: Testcases with a ``<skipped>`` child.
        time: Total duration in seconds (sum of the top-level suites' ``time``, else of cases).
        suites: Number of ``<testsuite>`` elements (nested ones included).
    """

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    time: float = 0.0
    suites: int = 0

    @property
    def passed(self) -> int:
        """Testcases that neither failed, errored nor were skipped."""
        return max(self.tests - self.failures - self.errors - self.skipped, 0)

    @property
    def ok(self) -> bool:
        """True when there are no failures and no errors."""
        return self.failures == 0 and self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``passed`` included)."""
        d = attrs.asdict(self)
        d["passed"] = self.passed
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportSummary:
        """Build from :meth:`to_dict` output (unknown keys ignored)."""
        names = {f.name for f in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@attrs.frozen
class SignatureInfo:
    """What a signature says about who signed.

    Attributes:
        algorithm: Short algorithm name, e.g. ``"rsa-sha256"`` or ``"ecdsa-sha384"``.
        key_fingerprint: ``sha256:<hex>`` of the DER SubjectPublicKeyInfo of the signing key.
        certificate_subject: RFC 4514 subject of the signing certificate, if KeyInfo had one.
        certificate_fingerprint: ``sha256:<hex>`` of the signing certificate's DER, if any.
        certificate_not_after: End of the certificate's validity, if any.
    """

    algorithm: str
    key_fingerprint: str
    certificate_subject: str | None = None
    certificate_fingerprint: str | None = None
    certificate_not_after: _dt.datetime | None = None

    @property
    def signer(self) -> str:
        """Human label: the certificate subject, else the key fingerprint."""
        return self.certificate_subject or self.key_fingerprint

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO 8601)."""
        return {
            "algorithm": self.algorithm,
            "key_fingerprint": self.key_fingerprint,
            "certificate_subject": self.certificate_subject,
            "certificate_fingerprint": self.certificate_fingerprint,
            "certificate_not_after": (
                self.certificate_not_after.isoformat() if self.certificate_not_after else None
            ),
        }


@attrs.frozen
class StoredReport:
    """A store's record of one report (the JSON metadata sidecar).

    Attributes:
        canonical_hash: ``sha256:<hex>`` store key (see :mod:`juxsdk.canonical`).
        size: Size of the stored bytes.
        summary: Counts of the report.
        properties: Report properties, in document order (name, value).
        signature: Signer information, or None for an unsigned report.
        stored_at: When it was first stored (UTC).
        source: Original file name, if known.
        location: Backend-specific location (path or URL) of the stored bytes.
        store: Name of the store backend.
    """

    canonical_hash: str
    size: int
    summary: ReportSummary
    properties: tuple[tuple[str, str], ...] = ()
    signature: SignatureInfo | None = None
    stored_at: _dt.datetime = attrs.field(factory=lambda: _dt.datetime.now(_dt.UTC))
    source: str | None = None
    location: str | None = None
    store: str | None = None

    @property
    def project(self) -> str | None:
        """Value of the first ``project`` property, if any."""
        for name, value in self.properties:
            if name == "project":
                return value
        return None

    @property
    def signed(self) -> bool:
        """True when the stored report carries a signature."""
        return self.signature is not None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready sidecar dict."""
        return {
            "canonical_hash": self.canonical_hash,
            "size": self.size,
            "summary": self.summary.to_dict(),
            "properties": [list(p) for p in self.properties],
            "project": self.project,
            "signature": self.signature.to_dict() if self.signature else None,
            "stored_at": self.stored_at.isoformat(),
            "source": self.source,
            "location": self.location,
            "store": self.store,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredReport:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError, ValueError, TypeError: when the dict is not a sidecar.
        """
        sig = data.get("signature")
        signature = None
        if sig:
            not_after = sig.get("certificate_not_after")
            signature = SignatureInfo(
                algorithm=sig["algorithm"],
                key_fingerprint=sig["key_fingerprint"],
                certificate_subject=sig.get("certificate_subject"),
                certificate_fingerprint=sig.get("certificate_fingerprint"),
                certificate_not_after=_dt.datetime.fromisoformat(not_after) if not_after else None,
            )
        return cls(
            canonical_hash=data["canonical_hash"],
            size=int(data["size"]),
            summary=ReportSummary.from_dict(data.get("summary", {})),
            properties=tuple((str(n), str(v)) for n, v in data.get("properties", [])),
            signature=signature,
            stored_at=_dt.datetime.fromisoformat(data["stored_at"]),
            source=data.get("source"),
            location=data.get("location"),
            store=data.get("store"),
        )


@attrs.frozen
class PublishReceipt:
    """The outcome of one successful publish.

    Attributes:
        publisher: Name of the publisher backend (e.g. ``"http"``).
        canonical_hash: Hash of the published report.
        status: ``"created"`` (new on the server) or ``"duplicate"`` (already there).
        run_id: Server-side identifier (Jux API ``test_run_id``), when returned.
        url: Endpoint the report went to (no credentials).
        message: Server message, if any.
        counts: Server-reported counts (test_count, failure_count…), if any.
    """

    publisher: str
    canonical_hash: str
    status: str = "created"
    run_id: str | None = None
    url: str | None = None
    message: str | None = None
    counts: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = attrs.asdict(self)
        d["counts"] = dict(self.counts)
        return d


def _first_property(properties: tuple[tuple[str, str], ...], name: str) -> str | None:
    for key, value in properties:
        if key == name:
            return value
    return None


@attrs.frozen(eq=False)
class Report:
    """A parsed, not (yet) verified JUnit XML report.

    Build one with :func:`juxsdk.parse_report`; do not construct it directly.

    Attributes:
        data: The exact bytes of the document.
        summary: Counts (tests, failures, errors, skipped, time, suites).
        properties: ``(name, value)`` pairs of the root's and every testsuite's
            ``<properties>``, in document order (testcase-level properties excluded).
        canonical_hash: ``sha256:<hex>``, see :mod:`juxsdk.canonical`.
        signed: True when the document contains a ``ds:Signature`` (not verified!).
        source: File name the bytes came from, if known.
    """

    data: bytes
    summary: ReportSummary
    properties: tuple[tuple[str, str], ...]
    canonical_hash: str
    signed: bool = False
    source: str | None = None
    # Internal: the parsed tree and the SHA-256 digest of its exclusive C14N (signatures
    # removed), reused by sign_report so a report is parsed and canonicalised once.
    _root: Any = attrs.field(default=None, repr=False, alias="_root")
    _digest: bytes | None = attrs.field(default=None, repr=False, alias="_digest")

    signature: None = attrs.field(default=None, init=False)

    @property
    def project(self) -> str | None:
        """Value of the first ``project`` property, if any."""
        return _first_property(self.properties, "project")


@attrs.frozen(eq=False)
class SignedReport:
    """A report and its enveloped XMLDSig signature, as exact bytes.

    ``data`` is what was signed and is what must be written, stored and published: it is
    never re-serialised.

    Attributes:
        data: The exact signed document bytes.
        canonical_hash: ``sha256:<hex>`` (same as before signing).
        summary: Counts of the signed report.
        properties: Properties of the signed report (name, value).
        signature: Who signed and with which algorithm.
        source: File name the report came from, if known.
    """

    data: bytes
    canonical_hash: str
    summary: ReportSummary
    properties: tuple[tuple[str, str], ...]
    signature: SignatureInfo
    source: str | None = None

    signed: bool = attrs.field(default=True, init=False)

    @property
    def project(self) -> str | None:
        """Value of the first ``project`` property, if any."""
        return _first_property(self.properties, "project")


@attrs.frozen(eq=False)
class VerifiedReport:
    """The result of a successful verification: **only** what the signature covers.

    Attributes:
        signed_content: Exclusive C14N of the document with the signature removed: exactly the
            bytes the reference digest covers. Computed on access from the verified bytes and
            checked against the verified canonical digest, so a caller that only needs the
            summary never holds a second copy of a large report.
        canonical_hash: ``sha256:<hex>`` of ``signed_content``.
        summary: Counts computed from the signed content only.
        properties: Properties from the signed content only.
        signature: The signing key / certificate that verified.
        verified_at: The time the certificate validity was checked against (UTC).
        trust: Description of the trust policy that accepted the key.
        warnings: Things that were ignored because they are not signed (e.g. a ``ds:Object``).
        source: File name, if known.
    """

    _verified_bytes: bytes = attrs.field(repr=False, alias="_verified_bytes")
    canonical_hash: str
    summary: ReportSummary
    properties: tuple[tuple[str, str], ...]
    signature: SignatureInfo
    verified_at: _dt.datetime
    trust: str
    warnings: tuple[str, ...] = ()
    source: str | None = None

    @property
    def signed_content(self) -> bytes:
        """Exclusive C14N of the signed document (signature removed), as one bytes object.

        Raises:
            juxsdk.errors.DigestMismatchError: never in practice (the verified bytes are
                immutable); the recomputed content is checked against the canonical hash.
        """
        from .canonical import signed_content_of

        return signed_content_of(self._verified_bytes, self.canonical_hash)

    @property
    def project(self) -> str | None:
        """Value of the first ``project`` property, if any."""
        return _first_property(self.properties, "project")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (no document bytes)."""
        return {
            "verified": True,
            "canonical_hash": self.canonical_hash,
            "summary": self.summary.to_dict(),
            "properties": [list(p) for p in self.properties],
            "project": self.project,
            "signature": self.signature.to_dict(),
            "verified_at": self.verified_at.isoformat(),
            "trust": self.trust,
            "warnings": list(self.warnings),
            "source": self.source,
        }


def stored_record(
    report: Report | SignedReport,
    *,
    store: str,
    location: str | None = None,
    stored_at: _dt.datetime | None = None,
) -> StoredReport:
    """Build the :class:`StoredReport` sidecar a store writes next to ``report``.

    Args:
        report: The report being stored.
        store: Name of the store backend.
        location: Where the bytes live in that store (path or URL).
        stored_at: Time of storage (default: now, UTC).

    Returns:
        The sidecar record.
    """
    return StoredReport(
        canonical_hash=report.canonical_hash,
        size=len(report.data),
        summary=report.summary,
        properties=report.properties,
        signature=report.signature,
        stored_at=stored_at or _dt.datetime.now(_dt.UTC),
        source=report.source,
        location=location,
        store=store,
    )


_HASH_RE = re.compile(r"sha256:([0-9a-f]{64})")


def canonical_hex(canonical_hash: object) -> str:
    """Validate a canonical hash and return its 64 hex digits.

    Stores use the hex digits in file names and object keys, so anything else (path
    separators, ``..``, upper case) is refused here.

    Args:
        canonical_hash: ``"sha256:"`` followed by 64 lowercase hex digits.

    Returns:
        The hex digits.

    Raises:
        juxsdk.errors.StoreError: the value is not a canonical hash.
    """
    match = _HASH_RE.fullmatch(canonical_hash) if isinstance(canonical_hash, str) else None
    if match is None:
        from .errors import StoreError

        shown = repr(canonical_hash)[:80]
        raise StoreError(
            f"invalid canonical hash {shown}", hint="expected 'sha256:' followed by 64 lowercase hex digits"
        )
    return match.group(1)


def _utc(value: _dt.datetime | None) -> _dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=_dt.UTC)


def select_records(
    records: Iterable[StoredReport | None],
    *,
    project: str | None = None,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    failed_only: bool = False,
) -> list[StoredReport]:
    """Apply the :meth:`juxsdk.protocols.Store.list` filters and order.

    Args:
        records: Candidate records (None entries are skipped).
        project: Keep records whose ``project`` property equals this.
        since: Keep records stored at or after this time (naive = UTC).
        until: Keep records stored before this time (naive = UTC).
        failed_only: Keep records with failures or errors.

    Returns:
        The matching records sorted by ``(stored_at, canonical_hash)``.
    """
    lower, upper = _utc(since), _utc(until)
    found = [
        r
        for r in records
        if r is not None
        and (project is None or r.project == project)
        and (lower is None or _utc(r.stored_at) >= lower)  # type: ignore[operator]
        and (upper is None or _utc(r.stored_at) < upper)  # type: ignore[operator]
        and (not failed_only or not r.summary.ok)
    ]
    found.sort(key=lambda r: (r.stored_at, r.canonical_hash))
    return found
