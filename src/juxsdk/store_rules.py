"""The replace rule every store applies in ``put``: stored evidence is never downgraded.

A store is keyed by canonical hash, which is the same for a report before and after signing
(:mod:`juxsdk.canonical`), so one key can hold the unsigned or a signed version of a report.
:func:`decide_put` decides, from the bytes already stored under the key and the report being
put, whether ``put`` writes:

=====================================================  ========================================
stored under the key                                   ``put(report)`` / ``put(report, replace=True)``
=====================================================  ========================================
nothing                                                ``create``
the same bytes                                         ``unchanged`` (no-op; a missing or
                                                       corrupt sidecar is rewritten)
unsigned bytes, the new report is signed               ``upgrade``
signed bytes, the new report is unsigned               refused (:class:`StoreConflictError`,
                                                       ``reason="downgrade"``), even with
                                                       ``replace=True``
other signed bytes (another signature or signer)       refused (``"different"``) / ``replace``
other unsigned bytes (same content, other formatting)  refused (``"different"``) / ``replace``
bytes that are not a report with this canonical hash   refused (``"damaged"``) / ``replace``
=====================================================  ========================================

A report :meth:`juxsdk.Jux.submit` signed carries an *idempotency key*
(:func:`idempotency_key`: its input's canonical hash, the signer's key fingerprint and the
explicit properties). Signing adds a timestamp, so submitting the same input twice gives two
different canonical hashes; the key is what stays the same. A store that records keys finds
the report last stored under a key (``find_submission``) and passes it to :func:`decide_put` as
``submitted``:

=====================================================  ========================================
stored under the report's idempotency key              ``put(report)`` / ``put(report, replace=True)``
=====================================================  ========================================
nothing, or this very report                           the table above
another report that is still stored                    ``duplicate``: nothing is written, ``put``
                                                       returns that report's record / the table
                                                       above, and the key now names this report
=====================================================  ========================================

A report whose own key holds other bytes of the same submission (the same input signed twice at
once: ECDSA signatures differ) is a ``duplicate`` of the stored one too, without ``replace``.

"Signed" means the document contains a ``ds:Signature`` (:attr:`juxsdk.models.Report.signed`);
stores do not verify signatures (they hold no trust policy). The stored bytes are parsed with
the hardened parser (:func:`juxsdk.junit.parse_report`) only when they differ from the new
ones, so the usual idempotent ``put`` costs one byte comparison.

Backends call :func:`decide_put` while they hold whatever makes their compare-and-write atomic
(the filesystem store's shard lock, S3's ``If-Match``/``If-None-Match`` conditional writes, a
database transaction) and write only when :attr:`PutDecision.writes` is true.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from .errors import ReportError, StoreConflictError

if TYPE_CHECKING:
    from .models import Report, SignedReport, StoredReport

__all__ = ["PutDecision", "decide_put", "find_submission", "idempotency_key"]

_FORCE_HINT = "pass replace=True to replace it, or delete the stored report first"
_FORCE_CLI_HINT = "use --force to replace it, or delete the stored report first"


@attrs.frozen
class PutDecision:
    """What ``put`` does with the bytes already stored under a canonical hash.

    Attributes:
        action: ``"create"`` (nothing stored), ``"unchanged"`` (the same bytes: nothing to
            write), ``"upgrade"`` (a signed report replaces its unsigned version),
            ``"replace"`` (different bytes replaced because ``replace=True`` was asked),
            ``"repair"`` (damaged stored bytes replaced because ``replace=True`` was asked) or
            ``"duplicate"`` (the report's input was already submitted with the same
            configuration: nothing is written and ``put`` returns :attr:`submitted`).
        detail: One line describing the decision, for logs.
        submitted: For ``"duplicate"``: the record of the report stored earlier under the
            same idempotency key.
    """

    ACTIONS: ClassVar[tuple[str, ...]] = ("create", "unchanged", "upgrade", "replace", "repair", "duplicate")

    action: str = attrs.field(validator=attrs.validators.in_(ACTIONS))
    detail: str = ""
    submitted: StoredReport | None = None

    @property
    def writes(self) -> bool:
        """True when the report's bytes must be written."""
        return self.action not in ("unchanged", "duplicate")


def _signer(record: StoredReport | Report | SignedReport | None) -> str:
    signature = getattr(record, "signature", None)
    return f" by {signature.signer}" if signature is not None else ""


def decide_put(
    stored: bytes | None,
    report: Report | SignedReport,
    *,
    replace: bool = False,
    where: str,
    existing: StoredReport | None = None,
    damaged: str | None = None,
    submitted: StoredReport | None = None,
) -> PutDecision:
    """Decide whether ``put`` may write ``report`` over what is stored under its key.

    Args:
        stored: The bytes stored under ``report.canonical_hash``, or None when nothing is.
        report: The report being put.
        replace: The caller asked to replace different stored bytes (CLI ``--force``). It
            never allows a signed report to be replaced by an unsigned one.
        where: Location of the stored report (path or URL), for messages.
        existing: The stored report's sidecar record when it is valid (names the stored
            signer in messages).
        damaged: Set when something is stored under the key but could not be read as bytes
            (e.g. a symbolic link the store will not follow): the reason. ``stored`` is then
            ignored.
        submitted: The record of the report the store keeps under ``report.idempotency_key``
            (see :func:`find_submission`), when there is one and it is still stored. Another
            report there makes the decision ``"duplicate"`` unless ``replace`` is true.

    Returns:
        The decision; write the report only when ``decision.writes``.

    Raises:
        juxsdk.errors.StoreConflictError: the write is refused; ``reason`` is
            ``"downgrade"``, ``"different"`` or ``"damaged"``. Nothing may be written.
    """
    key = report.canonical_hash
    if report.idempotency_key is not None and not replace:
        earlier = submitted if submitted is not None and submitted.canonical_hash != key else None
        if (
            earlier is None
            and existing is not None
            and stored is not None
            and stored != report.data
            and existing.idempotency_key == report.idempotency_key
        ):
            earlier = existing  # the same submission signed twice at once (ECDSA signatures differ)
        if earlier is not None:
            return PutDecision(
                "duplicate",
                f"{key}: the same input was already stored as {earlier.canonical_hash} (idempotency key "
                f"{report.idempotency_key})",
                earlier,
            )
    if damaged is None and stored is None:
        return PutDecision("create", f"{key} stored at {where}")
    if damaged is None and stored == report.data:
        return PutDecision("unchanged", f"{key} already stored at {where}")
    if damaged is None:
        assert stored is not None
        from .junit import parse_report  # only when the bytes differ: keeps `put` cheap

        try:
            current = parse_report(stored, source=where)
        except ReportError as exc:
            damaged = f"they are not a readable report ({exc.message})"
        else:
            if current.canonical_hash != key:
                damaged = f"their canonical hash is {current.canonical_hash}"
            elif current.signed and not report.signed:
                raise StoreConflictError(
                    f"{where} holds a signed copy of {key}{_signer(existing)}; an unsigned copy never replaces it",
                    canonical_hash=key,
                    reason="downgrade",
                    hint="the signed report is kept and nothing was written; store the signed report, "
                    "or delete the stored one first if you really mean to keep only an unsigned copy",
                )
            elif report.signed and not current.signed:
                return PutDecision("upgrade", f"{key}: the signed report{_signer(report)} replaced its unsigned copy")
            elif not replace:
                what = (
                    f"signed{_signer(existing)}, the new one{_signer(report)} is signed differently"
                    if report.signed
                    else "unsigned, with different bytes (same canonical content, other formatting)"
                )
                raise StoreConflictError(
                    f"{where} already holds {key}: {what}; nothing was written",
                    canonical_hash=key,
                    reason="different",
                    hint=_FORCE_HINT,
                    cli_hint=_FORCE_CLI_HINT,
                )
            else:
                return PutDecision("replace", f"{key}: different bytes replaced on request (replace=True)")
    if not replace:
        raise StoreConflictError(
            f"{where} holds bytes under {key} that are not that report: {damaged}; nothing was written",
            canonical_hash=key,
            reason="damaged",
            hint=_FORCE_HINT,
            cli_hint=_FORCE_CLI_HINT,
        )
    return PutDecision("repair", f"{key}: damaged stored bytes replaced on request ({damaged})")


def idempotency_key(
    input_hash: str, signer: str | None, properties: Iterable[tuple[str, str]] | Mapping[str, str]
) -> str:
    """The key naming one submission: this input, signed by this key, with these explicit properties.

    :meth:`juxsdk.Jux.submit` adds provenance (git, CI, host and a timestamp) before signing,
    so the same input submitted twice gives two canonical hashes; this key is the same both
    times, and stores keep it with the record (:attr:`juxsdk.models.StoredReport.idempotency_key`)
    so the second submit finds the first record instead of storing another one. Detected
    provenance is not part of the key (it changes with every run); the explicit settings are.

    Recipe: ``"sha256:" + hex(SHA-256(JSON))`` of the JSON array
    ``["jux-submission-v1", input_hash, signer, [[name, value], …]]`` with the properties sorted
    by name and value, encoded as UTF-8 with no insignificant whitespace (RFC 8259; Python's
    ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)``).

    Args:
        input_hash: Canonical hash of the input report as given (``sha256:<hex>``).
        signer: The signing key's fingerprint (``sha256:<hex>`` of the SubjectPublicKeyInfo
            DER, :func:`juxsdk.trust.key_fingerprint`), or None when nothing signs.
        properties: The explicit properties added before signing: the ``project`` setting,
            configured ``[metadata.properties]`` and per-call properties.

    Returns:
        ``sha256:<64 hex digits>``.
    """
    pairs = properties.items() if isinstance(properties, Mapping) else properties
    doc: list[Any] = ["jux-submission-v1", input_hash, signer, sorted([str(k), str(v)] for k, v in pairs)]
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def find_submission(store: Any, key: str) -> StoredReport | None:
    """The record a store keeps under an idempotency key, or None.

    A store may offer ``find_submission(key) -> StoredReport | None`` (the built-in stores
    do, from an index); for any other store the records of ``store.list()`` are searched for
    ``idempotency_key == key`` (the newest wins). A record whose report is no longer stored
    is never returned.

    Args:
        store: A :class:`juxsdk.protocols.Store`.
        key: An idempotency key (:func:`idempotency_key`).

    Returns:
        The record, or None.

    Raises:
        juxsdk.errors.StoreError: the store failed.
    """
    finder = getattr(store, "find_submission", None)
    if callable(finder):
        found = finder(key)
        return found if found is None or found.idempotency_key in (key, None) else None
    latest: StoredReport | None = None
    for record in store.list():
        if record.idempotency_key == key and (latest is None or record.stored_at >= latest.stored_at):
            latest = record
    return latest
