"""Immutable values passed between the core, the backends and the callers.

All classes are frozen attrs classes. Reports carry their exact bytes; nothing here ever
re-serialises XML.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import CorruptSidecarError, JuxError, PublishError, StoreError
from .hashes import HASH_RE as _HASH_RE
from .hashes import canonical_hex, hash_prefix_digits, resolve_hash_prefix
from .hashes import shown as _shown

__all__ = [
    "MAX_SIDECAR_BYTES",
    "STORE_LOGGER",
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
    "encode_sidecar",
    "hash_prefix_digits",
    "jsonable",
    "read_sidecar",
    "report_store_problem",
    "resolve_hash_prefix",
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
        signed: True when the stored bytes contain a ``ds:Signature`` (not verified!). Also
            true for a signed report stored as parsed, whose ``signature`` (who signed) is
            unknown until it is verified. Default: ``signature is not None``.
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
        taken as UTC); ``source``, ``location``, ``store`` are strings or null. Unknown keys
        are ignored, so newer sidecars stay readable.

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
        signed=report.signed,
    )


# --- outcomes of the pipeline (Jux.submit, jux publish) -------------------------------------


@attrs.frozen
class StoreOutcome:
    """What one store did with a report.

    Attributes:
        store: Store backend name.
        record: The stored record, when it worked.
        error: The error, when it did not.
    """

    store: str
    record: StoredReport | None = None
    error: JuxError | None = None

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
    """

    report: SignedReport | Report
    stored: tuple[StoreOutcome, ...] = ()
    published: tuple[PublishOutcome, ...] = ()
    storage_mode: str = "local"

    @property
    def ok(self) -> bool:
        """True when every store worked and every publish succeeded (or was queued in cache mode)."""
        return all(o.ok for o in self.stored) and all(o.ok or o.queued for o in self.published)

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
            "stored": [{"store": o.store, "ok": o.ok, "location": o.record.location if o.record else None,
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


def _utc(value: _dt.datetime | None) -> _dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=_dt.UTC)


#: Name of the logger every store reports skipped records and unsafe setups to. Front ends
#: (``jux cache``) attach a handler to it; a record carrying a ``jux_store_problem`` attribute
#: (a :class:`~juxsdk.errors.StoreError`) means a stored report was skipped.
STORE_LOGGER = "juxsdk.store"

#: Largest metadata sidecar a store writes or reads, in bytes (16 MiB). Sidecars hold the
#: counts and properties of one report, typically a few KiB; a larger one is refused on write
#: and reported as corrupt on read, so a planted huge file cannot exhaust memory.
MAX_SIDECAR_BYTES = 16 * 1024 * 1024

_SIDECAR_HINT = "put the same report again to rewrite its sidecar (`jux submit FILE`), or delete the report"


def report_store_problem(error: StoreError) -> None:
    """Report a stored record that was skipped (corrupt sidecar, foreign file…) and carry on.

    Logs ``error.message`` at WARNING on :data:`STORE_LOGGER` with the error attached as the
    ``jux_store_problem`` attribute of the log record, so ``jux cache`` prints a ``warning:``
    line and exits 4 (partial) while library users see an ordinary logging warning.

    Args:
        error: What was skipped and why (its ``hint`` says what to do).
    """
    logging.getLogger(STORE_LOGGER).warning("%s", error.message, extra={"jux_store_problem": error})


def encode_sidecar(record: StoredReport) -> bytes:
    """Serialise a sidecar: :meth:`StoredReport.to_dict` as indented JSON, sorted keys, UTF-8.

    Args:
        record: The record to write.

    Returns:
        The bytes to store (a trailing newline included).

    Raises:
        juxsdk.errors.StoreError: the sidecar would exceed :data:`MAX_SIDECAR_BYTES`.
    """
    doc = record.to_dict()
    try:
        data = (json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. a file name): fall back to \u escapes
        data = (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode("ascii")
    if len(data) > MAX_SIDECAR_BYTES:
        raise StoreError(
            f"the metadata of {record.canonical_hash} is {len(data)} bytes, over the "
            f"{MAX_SIDECAR_BYTES} byte limit of a sidecar; nothing was stored",
            hint="the report's properties are too large: keep big values out of <properties>",
        )
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_SIDECAR_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def read_sidecar(raw: bytes, *, canonical_hash: str, where: str, size: int | None = None) -> StoredReport:
    """Validate the bytes of a metadata sidecar read back from a store.

    A sidecar is corrupt when it is larger than :data:`MAX_SIDECAR_BYTES`, not UTF-8 JSON
    (``NaN``/``Infinity`` included), not a valid :meth:`StoredReport.from_dict` object, names
    another canonical hash than its key, or gives a ``size`` other than the stored bytes'.

    Args:
        raw: The sidecar bytes.
        canonical_hash: The key it was stored under (``sha256:<hex>``).
        where: Its location (path or URL), for the message.
        size: Size of the stored report bytes, when the store knows it: checked against the
            sidecar's ``size``.

    Returns:
        The validated record.

    Raises:
        juxsdk.errors.CorruptSidecarError: the sidecar is corrupt (the message says why).
    """
    def corrupt(reason: str) -> CorruptSidecarError:
        return CorruptSidecarError(f"corrupt metadata sidecar {where}: {reason}", where=where, hint=_SIDECAR_HINT)

    if len(raw) > MAX_SIDECAR_BYTES:
        raise corrupt(f"{len(raw)} bytes, over the {MAX_SIDECAR_BYTES} byte limit")
    try:
        doc = _SIDECAR_JSON.decode(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise corrupt("not UTF-8") from None
    except RecursionError:
        raise corrupt("JSON nested too deeply") from None
    except ValueError as exc:
        raise corrupt(f"not valid JSON ({exc})") from None
    try:
        record = StoredReport.from_dict(doc)
    except (ValueError, RecursionError) as exc:
        raise corrupt(str(exc)) from None
    if record.canonical_hash != canonical_hash:
        raise corrupt(f"it describes {record.canonical_hash}, not {canonical_hash}")
    if size is not None and record.size != size:
        raise corrupt(f"it gives a size of {record.size} bytes, the stored report has {size}")
    return record


def select_records(
    records: Iterable[StoredReport | StoreError | None],
    *,
    project: str | None = None,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    failed_only: bool = False,
) -> list[StoredReport]:
    """Apply the :meth:`juxsdk.protocols.Store.list` filters and order.

    Args:
        records: Candidate records. None entries (deleted meanwhile, half stored) are skipped
            silently; :class:`~juxsdk.errors.StoreError` entries (a corrupt sidecar…) are
            skipped and reported with :func:`report_store_problem`.
        project: Keep records whose ``project`` property equals this.
        since: Keep records stored at or after this time (naive = UTC).
        until: Keep records stored before this time (naive = UTC).
        failed_only: Keep records with failures or errors.

    Returns:
        The matching records sorted by ``(stored_at, canonical_hash)``.
    """
    lower, upper = _utc(since), _utc(until)
    found: list[StoredReport] = []
    for r in records:
        if isinstance(r, StoreError):
            report_store_problem(r)
        elif (
            r is not None
            and (project is None or r.project == project)
            and (lower is None or _utc(r.stored_at) >= lower)  # type: ignore[operator]
            and (upper is None or _utc(r.stored_at) < upper)  # type: ignore[operator]
            and (not failed_only or not r.summary.ok)
        ):
            found.append(r)
    found.sort(key=lambda r: (_utc(r.stored_at), r.canonical_hash))
    return found
