"""juxsdk's conformance kit for backend authors, plus test helpers.

* :class:`StoreContract`, :class:`SignerContract`, :class:`PublisherContract` — test classes
  a backend's tests subclass (see :mod:`juxsdk.testing.contracts` and
  ``docs/how-to/write-a-backend.md``); :class:`AttachmentStoreContract` for stores that keep
  attachments (:mod:`juxsdk.attachments`);
* :mod:`juxsdk.testing.samples` — generated sample reports (CRLF, UTF-8 BOM, 5 MB…);
* :mod:`juxsdk.testing.fakes` — in-memory :class:`MemoryStore`, :class:`MemoryPublisher`,
  :class:`MemorySigner`;
* :mod:`juxsdk.testing.server` — a reference Jux API v1 server for tests.

Importing this package registers :mod:`juxsdk.testing.contracts` for pytest's assertion
rewriting (it must happen before that module is imported, hence here). Names are loaded
lazily, so ``import juxsdk.testing`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

try:  # assertion rewriting must be registered before juxsdk.testing.contracts is imported
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the contracts
    pass
else:
    pytest.register_assert_rewrite(
        "juxsdk.testing.contracts", "juxsdk.testing._contract_base", "juxsdk.testing.attachment_contract"
    )

__all__ = [
    "LARGE_SIZE",
    "SAMPLE_NAMES",
    "AttachmentStoreContract",
    "Fault",
    "JuxApiServer",
    "MemoryPublisher",
    "MemorySigner",
    "MemoryStore",
    "PublisherContract",
    "SignerContract",
    "StoreContract",
    "Submission",
    "generate_report",
    "make_report",
    "sample_bytes",
    "sample_report",
]

_LAZY: dict[str, str] = {
    "AttachmentStoreContract": "juxsdk.testing.attachment_contract",
    "StoreContract": "juxsdk.testing.contracts",
    "SignerContract": "juxsdk.testing.contracts",
    "PublisherContract": "juxsdk.testing.contracts",
    "MemoryStore": "juxsdk.testing.fakes",
    "MemoryPublisher": "juxsdk.testing.fakes",
    "MemorySigner": "juxsdk.testing.fakes",
    "LARGE_SIZE": "juxsdk.testing.samples",
    "SAMPLE_NAMES": "juxsdk.testing.samples",
    "generate_report": "juxsdk.testing.samples",
    "make_report": "juxsdk.testing.samples",
    "sample_bytes": "juxsdk.testing.samples",
    "sample_report": "juxsdk.testing.samples",
    "JuxApiServer": "juxsdk.testing.server",
    "Fault": "juxsdk.testing.server",
    "Submission": "juxsdk.testing.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'juxsdk.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from .attachment_contract import AttachmentStoreContract
    from .contracts import PublisherContract, SignerContract, StoreContract
    from .fakes import MemoryPublisher, MemorySigner, MemoryStore
    from .samples import LARGE_SIZE, SAMPLE_NAMES, generate_report, make_report, sample_bytes, sample_report
    from .server import Fault, JuxApiServer, Submission
