"""The filesystem store's submission index: idempotency key → canonical hash.

:meth:`juxsdk.Jux.submit` gives each report it signs an idempotency key
(:func:`juxsdk.store_rules.idempotency_key`: the input's canonical hash, the signer's key
fingerprint and the explicit properties). The filesystem store keeps one small file per key::

    <root>/submissions/<key hex[:2]>/<key hex>   "sha256:<canonical hex>\\n": the report stored last
                                                 under that key
    <root>/submissions/<key hex[:2]>/.lock       lock file (flock) of that index shard

A ``put`` of a report carrying a key holds the index shard's lock from reading the entry until
the entry names the stored report, so two identical submits running at once store one report
(the second one's ``put`` finds the first and returns its record: the ``"duplicate"`` decision
of :func:`juxsdk.store_rules.decide_put`). The lock order is always index shard, then report
shard, and nothing takes them the other way round. Entries are plain files read and written
through directory descriptors without following links (:mod:`juxsdk_backends._fsio`), like the
reports; an entry whose report is gone (deleted, cleaned) is ignored and replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from juxsdk.errors import CorruptSidecarError, ReportNotFoundError, StoreError
from juxsdk.files import write_atomic
from juxsdk.models import StoredReport, canonical_hex

from . import _fsio
from ._fsio import ForeignEntry

if TYPE_CHECKING:  # pragma: no cover
    from .filesystem import FilesystemStore

__all__ = ["SUBMISSIONS_DIR", "Entry", "find_submission", "forget_submission", "submission_entry"]

#: Directory (below the store root) holding the submission index.
SUBMISSIONS_DIR = "submissions"
#: Largest entry read, in bytes (an entry is ``sha256:`` + 64 hex digits and a newline).
_MAX_ENTRY = 128
_ENTRY_RE = re.compile(rb"(sha256:[0-9a-f]{64})\n?")


class Entry:
    """The index entry of one key, open under its shard's lock (see :func:`submission_entry`)."""

    def __init__(self, store: FilesystemStore, name: str, shard_fd: int, shard: Path) -> None:
        self._store = store
        self._name = name
        self._fd = shard_fd
        self._shard = shard

    def read(self) -> str | None:
        """The canonical hash the entry names, or None (no entry, or an unreadable one)."""
        return _read(self._store, self._name, self._fd, self._shard)

    def write(self, canonical_hash: str) -> None:
        """Make the entry name ``canonical_hash`` (atomically).

        Raises:
            juxsdk.errors.StoreError: the write failed.
        """
        try:
            write_atomic(self._name, f"{canonical_hash}\n".encode("ascii"), dir_fd=self._fd, mode=_fsio.FILE_MODE)
        except OSError as exc:
            raise self._store._error(exc, "write", self._shard / self._name) from exc

    def remove(self) -> None:
        """Remove the entry.

        Raises:
            juxsdk.errors.StoreError: the removal failed.
        """
        try:
            _fsio.unlink(self._name, self._fd)
        except OSError as exc:
            raise self._store._error(exc, "delete", self._shard / self._name) from exc


def _read(store: FilesystemStore, name: str, shard_fd: int, shard: Path) -> str | None:
    try:
        raw = _fsio.read_file(name, shard_fd, limit=_MAX_ENTRY)
    except (FileNotFoundError, NotADirectoryError, ForeignEntry, OverflowError):
        return None  # absent, or not something the store wrote: rewritten by the next put
    except OSError as exc:
        raise store._error(exc, "read", shard / name) from exc
    match = _ENTRY_RE.fullmatch(raw)
    return match.group(1).decode("ascii") if match else None


def _names(key: str) -> tuple[str, str]:
    hexd = canonical_hex(key)
    return hexd[:2], hexd


@contextlib.contextmanager
def submission_entry(store: FilesystemStore, key: str) -> Iterator[Entry]:
    """Hold the lock of ``key``'s index shard and yield its :class:`Entry`.

    Raises:
        juxsdk.errors.StoreError: invalid key, a link planted in the index, an I/O error or a
            lock timeout.
    """
    shard_name, name = _names(key)
    shard = store.root / SUBMISSIONS_DIR / shard_name
    with store._root_fd(create=True) as root_fd, contextlib.ExitStack() as stack:
        assert root_fd is not None
        try:
            top = _fsio.open_dir(SUBMISSIONS_DIR, root_fd, create=True)
            stack.callback(_close, top)
            shard_fd = _fsio.open_dir(shard_name, top, create=True)
            stack.callback(_close, shard_fd)
        except ForeignEntry as exc:
            raise store._foreign(exc, shard.parent, "use the submission index directory") from None
        except OSError as exc:
            raise store._error(exc, "open", shard) from exc
        with store._locked(shard_fd, shard):
            yield Entry(store, name, shard_fd, shard)


def _close(fd: int) -> None:
    os.close(fd)


def _lookup(store: FilesystemStore, key: str) -> str | None:
    """The canonical hash the entry of ``key`` names (read without the lock), or None."""
    shard_name, name = _names(key)
    shard = store.root / SUBMISSIONS_DIR / shard_name
    with store._root_fd() as root_fd, contextlib.ExitStack() as stack:
        if root_fd is None:
            return None
        try:
            top = _fsio.open_dir(SUBMISSIONS_DIR, root_fd)
            stack.callback(_close, top)
            shard_fd = _fsio.open_dir(shard_name, top)
            stack.callback(_close, shard_fd)
        except (FileNotFoundError, NotADirectoryError, ForeignEntry):
            return None
        except OSError as exc:
            raise store._error(exc, "open", shard) from exc
        return _read(store, name, shard_fd, shard)


def stored(store: FilesystemStore, canonical_hash: str | None) -> StoredReport | None:
    """The record of ``canonical_hash`` when that report is (still, completely) stored, else None."""
    if canonical_hash is None:
        return None
    try:
        return store.metadata(canonical_hash)
    except (ReportNotFoundError, CorruptSidecarError):
        return None
    except StoreError:
        return None  # a link planted at the report's name: not a stored report


def find_submission(store: FilesystemStore, key: str) -> StoredReport | None:
    """The record of the report stored last under the idempotency key ``key``, or None.

    Raises:
        juxsdk.errors.StoreError: invalid key or an I/O error.
    """
    return stored(store, _lookup(store, key))


def forget_submission(store: FilesystemStore, key: str, canonical_hash: str) -> None:
    """Remove ``key``'s entry when it still names ``canonical_hash`` (after that report was deleted).

    Raises:
        juxsdk.errors.StoreError: an I/O error.
    """
    with submission_entry(store, key) as entry:
        if entry.read() == canonical_hash and not store.exists(canonical_hash):
            entry.remove()
