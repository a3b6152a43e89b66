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
    JuxError,
    PermanentPublishError,
    PublishError,
    ReportNotFoundError,
    SigningError,
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
    select_records,
    stored_record,
)
from .protocols import SIGNATURE_ALGORITHMS, Publisher, Signer, Store

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = [
    "SIGNATURE_ALGORITHMS",
    "JuxError",
    "PermanentPublishError",
    "PublishError",
    "PublishReceipt",
    "Publisher",
    "Report",
    "ReportNotFoundError",
    "Secret",
    "SignedReport",
    "Signer",
    "SigningError",
    "Store",
    "StoreError",
    "StoredReport",
    "TransientPublishError",
    "canonical_hex",
    "hookimpl",
    "select_records",
    "stored_record",
]
