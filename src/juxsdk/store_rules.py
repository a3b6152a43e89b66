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

"Signed" means the document contains a ``ds:Signature`` (:attr:`juxsdk.models.Report.signed`);
stores do not verify signatures (they hold no trust policy). The stored bytes are parsed with
the hardened parser (:func:`juxsdk.junit.parse_report`) only when they differ from the new
ones, so the usual idempotent ``put`` costs one byte comparison.

Backends call :func:`decide_put` while they hold whatever makes their compare-and-write atomic
(the filesystem store's shard lock, S3's ``If-Match``/``If-None-Match`` conditional writes, a
database transaction) and write only when :attr:`PutDecision.writes` is true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

from .errors import ReportError, StoreConflictError

if TYPE_CHECKING:
    from .models import Report, SignedReport, StoredReport

__all__ = ["PutDecision", "decide_put"]

_FORCE_HINT = "pass replace=True to replace it, or delete the stored report first"
_FORCE_CLI_HINT = "use --force to replace it, or delete the stored report first"


@attrs.frozen
class PutDecision:
    """What ``put`` does with the bytes already stored under a canonical hash.

    Attributes:
        action: ``"create"`` (nothing stored), ``"unchanged"`` (the same bytes: nothing to
            write), ``"upgrade"`` (a signed report replaces its unsigned version),
            ``"replace"`` (different bytes replaced because ``replace=True`` was asked) or
            ``"repair"`` (damaged stored bytes replaced because ``replace=True`` was asked).
        detail: One line describing the decision, for logs.
    """

    ACTIONS: ClassVar[tuple[str, ...]] = ("create", "unchanged", "upgrade", "replace", "repair")

    action: str = attrs.field(validator=attrs.validators.in_(ACTIONS))
    detail: str = ""

    @property
    def writes(self) -> bool:
        """True when the report's bytes must be written."""
        return self.action != "unchanged"


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

    Returns:
        The decision; write the report only when ``decision.writes``.

    Raises:
        juxsdk.errors.StoreConflictError: the write is refused; ``reason`` is
            ``"downgrade"``, ``"different"`` or ``"damaged"``. Nothing may be written.
    """
    key = report.canonical_hash
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
