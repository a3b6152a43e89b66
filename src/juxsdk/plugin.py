"""The small, stable module backend authors import.

Example (a third-party store)::

    from juxsdk.plugin import hookimpl, Store

    class SqliteStore:
        name = "sqlite"
        ...

    @hookimpl
    def juxsdk_register_stores():
        return [SqliteStore]
"""

from __future__ import annotations

import pluggy

from .config.secret import Secret
from .errors import (
    CorruptSidecarError,
    JuxError,
    PermanentPublishError,
    PublishError,
    ReportNotFoundError,
    SigningError,
    StoreConflictError,
    StoreError,
    TransientPublishError,
)
from .hookspecs import PROJECT_NAME
from .models import (
    PublishReceipt,
    Report,
    SignedReport,
    StoredReport,
    canonical_hex,
    encode_sidecar,
    read_sidecar,
    report_store_problem,
    select_records,
    stored_record,
)
from .protocols import SIGNATURE_ALGORITHMS, Publisher, Signer, Store
from .store_rules import PutDecision, decide_put

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = [
    "SIGNATURE_ALGORITHMS",
    "CorruptSidecarError",
    "JuxError",
    "PermanentPublishError",
    "PublishError",
    "PublishReceipt",
    "Publisher",
    "PutDecision",
    "Report",
    "ReportNotFoundError",
    "Secret",
    "SignedReport",
    "Signer",
    "SigningError",
    "Store",
    "StoreConflictError",
    "StoreError",
    "StoredReport",
    "TransientPublishError",
    "canonical_hex",
    "decide_put",
    "encode_sidecar",
    "hookimpl",
    "read_sidecar",
    "report_store_problem",
    "select_records",
    "stored_record",
]
