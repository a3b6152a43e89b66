"""Attachments: files a store keeps next to a report, under the report's canonical hash.

An optional extension of the :class:`~juxsdk.protocols.Store` protocol. A store that has the
three methods of :class:`AttachmentStore` keeps, for each stored report, at most one blob per
*kind* (e.g. its in-toto attestation, kind :data:`ATTESTATION_KIND`). The built-in
filesystem and S3 stores implement it; ``juxsdk.testing.AttachmentStoreContract`` checks an
implementation.

Rules every implementation follows:

* an attachment belongs to a stored report: ``put_attachment`` refuses a hash that is not
  stored (:class:`~juxsdk.errors.ReportNotFoundError`), and deleting the report deletes its
  attachments;
* ``put_attachment`` replaces the kind's previous bytes (atomically, where the backend can);
* kinds are :func:`check_kind`-valid names, data is bytes of at most
  :data:`MAX_ATTACHMENT_BYTES`;
* ``get_attachment`` returns the exact bytes; ``attachments`` lists kinds in name order.
"""

from __future__ import annotations

import re
from typing import ClassVar, Protocol, runtime_checkable

import attrs

from .errors import StoreError

__all__ = [
    "ATTESTATION_KIND",
    "MAX_ATTACHMENT_BYTES",
    "Attachment",
    "AttachmentStore",
    "check_attachment",
    "check_kind",
    "supports_attachments",
]

#: Kind of a report's in-toto test-result attestation (a DSSE JSON envelope). Stores name the
#: file ``<hex>.att.intoto.json``.
ATTESTATION_KIND = "intoto.json"
#: Largest attachment a store accepts, in bytes (16 MiB, the DSSE envelope limit).
MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024
#: Infix between a report's hex digits and an attachment kind in file and object names.
NAME_INFIX = ".att."

_KIND_RE = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")


@attrs.frozen
class Attachment:
    """One attachment of a stored report.

    Attributes:
        kind: Its kind (e.g. ``"intoto.json"``).
        size: Its size in bytes.
        location: Where it lives in the store (path or URL).
    """

    kind: str
    size: int
    location: str | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"kind": self.kind, "size": self.size, "location": self.location}


def check_kind(kind: object) -> str:
    """Validate an attachment kind: 1–64 characters, lowercase letters and digits in dot- or
    dash-separated words (``intoto.json``, ``coverage-xml``).

    Returns:
        The kind.

    Raises:
        juxsdk.errors.StoreError: anything else (path separators, ``..``, upper case…).
    """
    if not isinstance(kind, str) or len(kind) > 64 or not _KIND_RE.fullmatch(kind):
        raise StoreError(
            f"invalid attachment kind {str(kind)[:80]!r}",
            hint="use lowercase letters and digits separated by '.' or '-', e.g. 'intoto.json'",
        )
    return kind


def check_attachment(data: object) -> bytes:
    """Validate attachment bytes.

    Returns:
        ``bytes(data)``.

    Raises:
        juxsdk.errors.StoreError: not bytes, or over :data:`MAX_ATTACHMENT_BYTES`.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise StoreError(f"an attachment must be bytes, not {type(data).__name__}")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise StoreError(
            f"the attachment is {len(data)} bytes, over the limit of {MAX_ATTACHMENT_BYTES} bytes",
            hint="attachments are small evidence files (attestations), not artifacts",
        )
    return bytes(data)


@runtime_checkable
class AttachmentStore(Protocol):
    """A :class:`~juxsdk.protocols.Store` that also keeps attachments (optional extension)."""

    name: ClassVar[str]

    def put_attachment(self, canonical_hash: str, kind: str, data: bytes) -> Attachment:
        """Store (or replace) the ``kind`` attachment of a stored report.

        Raises:
            juxsdk.errors.ReportNotFoundError: no report is stored under that hash.
            juxsdk.errors.StoreError: invalid hash, kind or data, or the backend failed.
        """
        ...

    def get_attachment(self, canonical_hash: str, kind: str) -> bytes:
        """Return the exact bytes of an attachment.

        Raises:
            juxsdk.errors.ReportNotFoundError: no such report or no attachment of that kind.
            juxsdk.errors.StoreError: invalid hash or kind, or the backend failed.
        """
        ...

    def attachments(self, canonical_hash: str) -> list[Attachment]:
        """List a stored report's attachments, by kind.

        Raises:
            juxsdk.errors.ReportNotFoundError: no report is stored under that hash.
            juxsdk.errors.StoreError: invalid hash, or the backend failed.
        """
        ...


def supports_attachments(store: object) -> bool:
    """True when ``store`` implements :class:`AttachmentStore`."""
    return isinstance(store, AttachmentStore)
