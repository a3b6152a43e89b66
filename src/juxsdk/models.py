"""Immutable values passed between the core, the backends and the callers.

All classes are frozen attrs classes. Reports carry their exact bytes; nothing here ever
re-serialises XML.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import JuxError, PublishError
from .hashes import HASH_RE as _HASH_RE
from .hashes import canonical_hex, hash_prefix_digits, report_name_parts, resolve_hash_prefix
from .hashes import shown as _shown

__all__ = [
    "PublishOutcome",
    "PublishReceipt",
    "Report",
    "ReportSummary",
    "SignatureInfo",
    "SignedReport",
    "StoreOutcome",
    "StoredReport",
    "SubmitResult",
    "VerifiedReport",
    "canonical_hex",
    "hash_prefix_digits",
    "jsonable",
    "report_name_parts",
    "resolve_hash_prefix",
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
        """Build from :meth:`to_dict` output (unknown keys ignored, ``passed`` recomputed).

        The record may come from a file on disk (an outbox entry, a sidecar), so its values are
        checked: counts are non-negative integers, ``time`` a finite number.

        Args:
            data: A mapping with ``tests``, ``failures``, ``errors``, ``skipped``, ``suites``
                (ints) and ``time`` (seconds); missing keys default to 0.

        Raises:
            ValueError: ``data`` is not a mapping, or a value has the wrong type or range.
        """
        return _summary_from(data)


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
        signed: True when the stored bytes contain a ``ds:Signature`` (not verified!). Also
            true for a signed report stored as parsed, whose ``signature`` (who signed) is
            unknown until it is verified. Default: ``signature is not None``.
        input_hash: Canonical hash of the input :meth:`juxsdk.Jux.submit` was given, before
            provenance properties were added and it was signed; None when not recorded.
        idempotency_key: ``sha256:<hex>`` naming "this input, signed by this key with these
            explicit properties" (:func:`juxsdk.store_rules.idempotency_key`): a second submit
            of the same input with the same configuration finds this record instead of
            storing another one. None when not recorded.
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
    signed: bool = attrs.field(default=attrs.Factory(lambda self: self.signature is not None, takes_self=True))
    input_hash: str | None = None
    idempotency_key: str | None = None

    @property
    def project(self) -> str | None:
        """Value of the first ``project`` property, if any."""
        for name, value in self.properties:
            if name == "project":
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready sidecar dict."""
        return {
            "canonical_hash": self.canonical_hash,
            "size": self.size,
            "summary": self.summary.to_dict(),
            "properties": [list(p) for p in self.properties],
            "project": self.project,
            "signature": self.signature.to_dict() if self.signature else None,
            "signed": self.signed,
            "stored_at": self.stored_at.isoformat(),
            "source": self.source,
            "location": self.location,
            "store": self.store,
            "input_hash": self.input_hash,
            "idempotency_key": self.idempotency_key,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredReport:
        """Inverse of :meth:`to_dict`, validating every field (a sidecar read back is untrusted).

        Checked: ``canonical_hash`` is ``sha256:`` + 64 lowercase hex digits; ``size`` and the
        summary counts are non-negative integers (``time`` a finite number); ``properties`` is
        a list of ``[name, value]`` string pairs and ``project`` (if given) is the first
        ``project`` property; ``signature`` is null or an object with string ``algorithm`` and
        ``key_fingerprint``; ``signed`` (if given) is a boolean, true when a signature is
        described; ``stored_at`` and ``certificate_not_after`` are ISO 8601 (naive values are
        taken as UTC); ``source``, ``location``, ``store`` are strings or null;
        ``input_hash`` and ``idempotency_key`` (if given) are null or canonical hashes. Unknown
        keys are ignored, so newer sidecars stay readable, and older sidecars (without the two
        hashes) read as records without them.

        Args:
            data: The decoded JSON object.

        Returns:
            The record, ``stored_at`` timezone-aware.

        Raises:
            ValueError: the dict is not a valid sidecar (the message names the field).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {_json_type(data)}")
        canonical_hash = _field(data, "canonical_hash", str)
        if _HASH_RE.fullmatch(canonical_hash) is None:
            raise ValueError(f"canonical_hash {_shown(canonical_hash)} is not 'sha256:' + 64 lowercase hex digits")
        properties = _properties_from(data.get("properties", []))
        signature = _signature_from(data.get("signature"))
        signed = data.get("signed", signature is not None)
        if not isinstance(signed, bool):
            raise ValueError(f"signed must be true or false, got {_json_type(signed)}")
        if signature is not None and not signed:
            raise ValueError("signed is false but a signature is described")
        record = cls(
            canonical_hash=canonical_hash,
            size=_count(data, "size"),
            summary=_summary_from(data.get("summary", {})),
            properties=properties,
            signature=signature,
            stored_at=_timestamp(_field(data, "stored_at", str), "stored_at"),
            source=_optional(data, "source"),
            location=_optional(data, "location"),
            store=_optional(data, "store"),
            signed=signed,
            input_hash=_optional_hash(data, "input_hash"),
            idempotency_key=_optional_hash(data, "idempotency_key"),
        )
        project = _optional(data, "project")
        if "project" in data and project != record.project:
            raise ValueError(f"project {_shown(project)} is not the report's first project property")
        return record


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else type(value).__name__


_KINDS = {str: "a string", int: "an integer", bool: "a boolean"}


def _field(data: Mapping[str, Any], name: str, kind: type, label: str | None = None) -> Any:
    label = label or name
    if name not in data:
        raise ValueError(f"{label} is missing")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise ValueError(f"{label} must be {_KINDS[kind]}, got {_json_type(value)}")
    return value


def _optional(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or null, got {_json_type(value)}")
    return value


def _optional_hash(data: Mapping[str, Any], name: str) -> str | None:
    value = _optional(data, name)
    if value is not None and _HASH_RE.fullmatch(value) is None:
        raise ValueError(f"{name} {_shown(value)} is not 'sha256:' + 64 lowercase hex digits")
    return value


def _count(data: Mapping[str, Any], name: str, label: str | None = None) -> int:
    value = _field(data, name, int, label)
    if value < 0:
        raise ValueError(f"{label or name} must not be negative, got {value}")
    return int(value)


def _timestamp(text: str, name: str) -> _dt.datetime:
    try:
        value = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {_shown(text)} is not an ISO 8601 date and time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)


def _summary_from(data: object) -> ReportSummary:
    if not isinstance(data, Mapping):
        raise ValueError(f"summary must be an object, got {_json_type(data)}")
    names = ("tests", "failures", "errors", "skipped", "suites")
    counts = {name: _count(data, name, f"summary.{name}") for name in names if name in data}
    time = data.get("time", 0.0)
    if isinstance(time, bool) or not isinstance(time, int | float) or not math.isfinite(time):
        raise ValueError(f"summary.time must be a finite number, got {_shown(time)}")
    return ReportSummary(time=float(time), **counts)


def _properties_from(data: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, list):
        raise ValueError(f"properties must be an array, got {_json_type(data)}")
    pairs: list[tuple[str, str]] = []
    for item in data:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ValueError(f"every property must be a [name, value] pair of strings, got {_shown(item)}")
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def _signature_from(data: object) -> SignatureInfo | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ValueError(f"signature must be an object or null, got {_json_type(data)}")
    not_after = _optional(data, "certificate_not_after")
    return SignatureInfo(
        algorithm=_field(data, "algorithm", str, "signature.algorithm"),
        key_fingerprint=_field(data, "key_fingerprint", str, "signature.key_fingerprint"),
        certificate_subject=_optional(data, "certificate_subject"),
        certificate_fingerprint=_optional(data, "certificate_fingerprint"),
        certificate_not_after=_timestamp(not_after, "signature.certificate_not_after") if not_after else None,
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
        input_hash: Set by :meth:`juxsdk.Jux.submit` on the report it stores: the canonical
            hash of the input before provenance was added (see :class:`StoredReport`).
        idempotency_key: Set by :meth:`juxsdk.Jux.submit`: see :class:`StoredReport`.
    """

    data: bytes
    summary: ReportSummary
    properties: tuple[tuple[str, str], ...]
    canonical_hash: str
    signed: bool = False
    source: str | None = None
    input_hash: str | None = attrs.field(default=None, kw_only=True)
    idempotency_key: str | None = attrs.field(default=None, kw_only=True)
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
        input_hash: Set by :meth:`juxsdk.Jux.submit`: the canonical hash of the input before
            provenance was added and it was signed (see :class:`StoredReport`).
        idempotency_key: Set by :meth:`juxsdk.Jux.submit`: see :class:`StoredReport`.
    """

    data: bytes
    canonical_hash: str
    summary: ReportSummary
    properties: tuple[tuple[str, str], ...]
    signature: SignatureInfo
    source: str | None = None
    input_hash: str | None = attrs.field(default=None, kw_only=True)
    idempotency_key: str | None = attrs.field(default=None, kw_only=True)

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

    The record carries the report's ``input_hash`` and ``idempotency_key`` (set by
    :meth:`juxsdk.Jux.submit`), so a store that writes this record keeps them.

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
        signed=report.signed,
        input_hash=report.input_hash,
        idempotency_key=report.idempotency_key,
    )


# --- outcomes of the pipeline (Jux.submit, jux publish) -------------------------------------


@attrs.frozen
class StoreOutcome:
    """What one store did with a report.

    Attributes:
        store: Store backend name.
        record: The stored record, when it worked.
        error: The error, when it did not.
        duplicate: True when the store already held this submission (the same input
            submitted with the same configuration, or the very same bytes): ``record`` is the
            record stored earlier and nothing was written.
    """

    store: str
    record: StoredReport | None = None
    error: JuxError | None = None
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        """True when the report is stored."""
        return self.error is None


@attrs.frozen
class PublishOutcome:
    """What one publisher did with a report (see :func:`juxsdk.storage_mode.publish_with_mode`).

    Attributes:
        publisher: Publisher backend name.
        receipt: The receipt, when published (or already there).
        error: The error, when it failed.
        queued: True when the report was queued in the outbox for a later retry.
        dead: True when the report was kept in the outbox as a dead letter (the server
            rejected it; ``jux queue list`` shows why, ``jux queue retry`` sends it again).
    """

    publisher: str
    receipt: PublishReceipt | None = None
    error: JuxError | None = None
    queued: bool = False
    dead: bool = False

    @property
    def ok(self) -> bool:
        """True when published (or already on the server)."""
        return self.error is None and self.receipt is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``jux publish --json``): the error as type, message, hint (and
        ``status``/``details`` for a :class:`~juxsdk.errors.PublishError`)."""
        err: dict[str, Any] | None = None
        if self.error is not None:
            err = {"type": type(self.error).__name__, "message": self.error.message, "hint": self.error.hint}
            if isinstance(self.error, PublishError):
                err["status"] = self.error.status
                err["details"] = jsonable(self.error.details)
        return {"publisher": self.publisher, "ok": self.ok, "queued": self.queued, "dead": self.dead,
                "receipt": self.receipt.to_dict() if self.receipt else None, "error": err}


@attrs.frozen
class SubmitResult:
    """Result of :meth:`juxsdk.Jux.submit`.

    Attributes:
        report: The signed report (exact bytes in ``.data``), or the unsigned report when no
            signer is configured.
        stored: One outcome per configured store.
        published: One outcome per configured publisher.
        storage_mode: The mode that was applied (a :class:`juxsdk.config.StorageMode`, which is
            a ``str``).
        verified: For a report that came signed and was kept as is: its verification against
            the pipeline's trust policy (``[trust]``), or None when no trust is configured
            (then it was stored unverified) or when the pipeline signed the report itself.
    """

    report: SignedReport | Report
    stored: tuple[StoreOutcome, ...] = ()
    published: tuple[PublishOutcome, ...] = ()
    storage_mode: str = "local"
    verified: VerifiedReport | None = None

    @property
    def ok(self) -> bool:
        """True when every store worked and every publish succeeded (or was queued in cache mode)."""
        return all(o.ok for o in self.stored) and all(o.ok or o.queued for o in self.published)

    @property
    def already_stored(self) -> str | None:
        """The canonical hash the stores already held this submission under, or None.

        Set when the same input was submitted before with the same configuration (or the very
        same signed bytes were): nothing new was signed or stored.
        """
        for outcome in self.stored:
            if outcome.duplicate and outcome.record is not None:
                return outcome.record.canonical_hash
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no document bytes)."""
        sig = getattr(self.report, "signature", None)
        return {
            "source": self.report.source,
            "canonical_hash": self.report.canonical_hash,
            "signed": bool(self.report.signed),
            "signature": sig.to_dict() if sig is not None else None,
            "summary": self.report.summary.to_dict(),
            "storage_mode": str(self.storage_mode),
            "already_stored": self.already_stored,
            "verified": self.verified.to_dict() if self.verified is not None else None,
            "stored": [{"store": o.store, "ok": o.ok, "duplicate": o.duplicate,
                        "canonical_hash": o.record.canonical_hash if o.record else None,
                        "location": o.record.location if o.record else None,
                        "error": str(o.error) if o.error else None} for o in self.stored],
            "published": [{"publisher": o.publisher, "ok": o.ok, "queued": o.queued, "dead": o.dead,
                           "receipt": o.receipt.to_dict() if o.receipt else None,
                           "error": str(o.error) if o.error else None} for o in self.published],
            "ok": self.ok,
        }


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (anything else becomes its ``str``), e.g. error details."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError):
        return str(value)
