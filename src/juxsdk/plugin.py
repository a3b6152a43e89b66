"""The small, stable module backend authors import.

Example (a third-party store)::

    # my_package/hooks.py — listed in the "juxsdk" entry-point group
    from juxsdk.plugin import BackendSpec, hookimpl

    @hookimpl
    def juxsdk_register_stores():
        # The module is imported only when a configuration selects "sqlite".
        return [BackendSpec("sqlite", "my_package.store:SqliteStore",
                            "Stores reports in one SQLite file, keyed by canonical hash.")]

    # my_package/store.py
    from juxsdk.plugin import Store, StoreError, stored_record

    class SqliteStore:
        name = "sqlite"                 # the options table is [tool.jux.backends.sqlite]
        ...

Only :data:`hookimpl` and :class:`BackendSpec` are defined at import time; every other name
(protocols, models, errors, :class:`Secret`) is imported on first use, so a hooks module that
imports this one stays cheap to load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

from .hookspecs import PROJECT_NAME, BackendSpec

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = [
    "SIGNATURE_ALGORITHMS",
    "BackendSpec",
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

_LAZY: dict[str, str] = {
    "Secret": "juxsdk.config.secret",
    "PutDecision": "juxsdk.store_rules",
    "decide_put": "juxsdk.store_rules",
    **{
        name: "juxsdk.errors"
        for name in (
            "CorruptSidecarError",
            "JuxError",
            "PermanentPublishError",
            "PublishError",
            "ReportNotFoundError",
            "SigningError",
            "StoreConflictError",
            "StoreError",
            "TransientPublishError",
        )
    },
    **{
        name: "juxsdk.models"
        for name in ("PublishReceipt", "Report", "SignedReport", "StoredReport", "canonical_hex", "stored_record")
    },
    **{
        name: "juxsdk.sidecars"
        for name in ("encode_sidecar", "read_sidecar", "report_store_problem", "select_records")
    },
    **{name: "juxsdk.protocols" for name in ("SIGNATURE_ALGORITHMS", "Publisher", "Signer", "Store")},
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'juxsdk.plugin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
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
    from .models import PublishReceipt, Report, SignedReport, StoredReport, canonical_hex, stored_record
    from .protocols import SIGNATURE_ALGORITHMS, Publisher, Signer, Store
    from .sidecars import encode_sidecar, read_sidecar, report_store_problem, select_records
    from .store_rules import PutDecision, decide_put
