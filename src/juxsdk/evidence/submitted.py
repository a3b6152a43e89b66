"""Keep the evidence index current from :meth:`juxsdk.Jux.submit` (``jux submit``, the pytest plugin).

A report the pipeline has just signed is verified against the signer's own public key (so the
index still holds only what verification returned: the summary, properties and per-test
outcomes of the signed content) and recorded with where it was stored. Failing to index never
fails the submit: it is logged, and ``jux audit`` or ``jux index rebuild`` catch up later.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from ..errors import JuxError
from ..models import SignedReport
from .index import Index
from .results import ReportAudit

__all__ = ["record_submitted"]

logger = logging.getLogger(__name__)


def record_submitted(index: Index | str | os.PathLike[str], report: SignedReport, signer: Any,
                     stored: Sequence[Any] = ()) -> Index | None:
    """Verify ``report`` with ``signer``'s public key and record it in the index.

    Args:
        index: An open :class:`~juxsdk.Index`, or the path of one to open.
        report: The report the pipeline just signed.
        signer: The :class:`~juxsdk.Signer` that signed it.
        stored: The pipeline's store outcomes (``.store``, ``.record``) — where it was stored.

    Returns:
        The open index (to reuse for the next report), or None when it could not be opened.
    """
    from ..trust import TrustedPublicKeys
    from ..xmldsig import verify_report
    from .testcases import verified_outcome_rows

    try:
        idx = index if isinstance(index, Index) else Index(os.fspath(index))
    except JuxError as exc:
        logger.warning("evidence index not updated: %s", exc.message)
        return None
    try:
        verified = verify_report(report.data, TrustedPublicKeys([signer.public_key()]), source=report.source)
        record = next((o.record for o in stored if getattr(o, "record", None) is not None), None)
        idx.record(
            ReportAudit(
                source=report.source or verified.canonical_hash,
                status="ok",
                canonical_hash=verified.canonical_hash,
                store=getattr(record, "store", None),
                location=getattr(record, "location", None),
                stored_at=getattr(record, "stored_at", None),
                summary=verified.summary,
                properties=verified.properties,
                signature=verified.signature,
                trust=f"signed by this submit's signer ({verified.trust})",
                verified_at=verified.verified_at,
                warnings=verified.warnings,
                testcases=verified_outcome_rows(report.data, verified),
            )
        )
        idx.commit()
    except JuxError as exc:
        logger.warning("evidence index not updated for %s: %s", report.source or report.canonical_hash, exc.message)
    return idx
