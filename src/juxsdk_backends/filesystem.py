"""The built-in filesystem store (backend name ``"filesystem"``).

Reports are content-addressed by their canonical hash (``sha256:<hex>``, see
:mod:`juxsdk.canonical`)::

    <root>/<hex[:2]>/<hex>.xml    the exact report bytes (never re-serialised)
    <root>/<hex[:2]>/<hex>.json   the metadata sidecar (juxsdk.sidecars.encode_sidecar: sorted keys, UTF-8)
    <root>/<hex[:2]>/.lock        per-shard lock file (flock), serialises writers of that shard
    <root>/<hex[:2]>/<hex>.att.<kind>  attachments of the report (juxsdk.attachments), e.g. its
                                  in-toto attestation <hex>.att.intoto.json; deleted with it
    <root>/submissions/<kk>/<key hex>  the submission index: idempotency key -> canonical hash
                                  (juxsdk_backends._fs_submissions)

Guarantees (see ``docs/reference/filesystem-store.md``):

* stored evidence is never downgraded: ``put`` follows :func:`juxsdk.store_rules.decide_put`
  under the shard lock (an unsigned report never replaces a signed one; other different bytes
  only with ``replace=True``);
* a submission is stored once: a report carrying an idempotency key whose earlier report is
  still stored is not written (``put`` returns the earlier record), under the index shard's
  lock, so identical submits running at once store one report;
* no symbolic link below the root is ever followed (:mod:`juxsdk_backends._fsio`): a link or
  special file planted at a shard's, report's, sidecar's or lock's name is never read, written
  or deleted through, and is reported;
* sidecars are validated on read (:func:`juxsdk.sidecars.read_sidecar`, size checked against the
  XML); a corrupt one is skipped and reported by ``list``/``stats``, an error in ``metadata``;
* every file is written atomically (``.tmp-*`` file, ``fsync``, ``renameat``, directory
  ``fsync``); directories are ``0700`` and files ``0600``, set explicitly;
* a report *exists* only when both its XML and its sidecar exist (XML written first);
* a root that other users could change is warned about once (logger ``juxsdk.store``), in
  ``stats()["warnings"]`` and in ``check()`` (``jux config check``);
* every :class:`OSError` is mapped to :class:`juxsdk.errors.StoreError` with the path and a hint.

POSIX only (``O_NOFOLLOW``, ``openat``, ``renameat``, ``flock``).
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import logging
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs

from juxsdk import config as _config
from juxsdk.attachments import MAX_ATTACHMENT_BYTES, NAME_INFIX, Attachment, check_attachment, check_kind
from juxsdk.errors import CorruptSidecarError, ReportNotFoundError, StoreError
from juxsdk.files import TMP_PREFIX
from juxsdk.models import (
    Report,
    ReportSummary,
    SignedReport,
    StoredReport,
    canonical_hex,
    hash_prefix_digits,
    report_name_parts,
    resolve_hash_prefix,
    stored_record,
)
from juxsdk.plugin import decide_put
from juxsdk.sidecars import MAX_SIDECAR_BYTES, encode_sidecar, read_sidecar, report_store_problem, select_records

from . import _fs_submissions, _fsio
from ._fsio import ForeignEntry
from ._fsroot import FOREIGN_HINT, StoreRoot

__all__ = ["FilesystemStore", "default_root"]

logger = logging.getLogger(__name__)

#: Seconds after which ``clean`` treats a ``.tmp-*`` file as left by a dead writer.
STALE_TEMP_AGE = 3600.0

_SHARD_RE = re.compile(r"[0-9a-f]{2}")
_HEX_DIGITS = "0123456789abcdef"



def default_root() -> Path:
    """Return the default store root, ``<user data dir>/reports``.

    The data directory is decided in one place, :func:`juxsdk.config.user_data_dir`:
    ``$JUX_DATA_DIR`` when set, else ``platformdirs.user_data_path("jux")`` (e.g.
    ``~/.local/share/jux`` on Linux, ``~/Library/Application Support/jux`` on macOS).

    Returns:
        The absolute default root directory (it may not exist yet).
    """
    return _config.user_data_dir() / "reports"


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


@attrs.define
class _Scan:
    """What a walk over the root found (see :meth:`FilesystemStore.stats`)."""

    items: builtins.list[StoredReport | StoreError] = attrs.field(factory=list)
    xml_bytes: int = 0
    side_bytes: int = 0
    incomplete: int = 0
    temp_files: int = 0


class FilesystemStore(StoreRoot):
    """Stores reports as files under a local directory, keyed by canonical hash.

    Args:
        options: :class:`FilesystemStore.Options`; default options when omitted.

    The constructor does no I/O: directories are created by the first ``put``.
    """

    name: ClassVar[str] = "filesystem"

    @attrs.frozen
    class Options:
        """Options of the ``filesystem`` store (``[tool.jux.backends.filesystem]``).

        Attributes:
            root: Directory holding the reports; ``~`` is expanded, a relative path is taken
                relative to the current directory. Default: :func:`default_root`
                (``<platformdirs user data dir>/jux/reports``, or ``$JUX_DATA_DIR/reports``).
        """

        root: Path | None = attrs.field(default=None, converter=_optional_path)

    def __init__(self, options: FilesystemStore.Options | None = None) -> None:
        self.options = options if options is not None else FilesystemStore.Options()
        root = self.options.root if self.options.root is not None else default_root()
        self.root: Path = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"FilesystemStore(root={str(self.root)!r})"

    # ------------------------------------------------------------------ records

    def _not_found(self, what: str) -> ReportNotFoundError:
        return ReportNotFoundError(
            f"no report {what} in the filesystem store at {self.root}",
            hint="`jux cache list` shows the stored reports",
        )

    def _load(self, hexd: str, shard_fd: int, shard: Path, size: int) -> StoredReport:
        """Read and validate the sidecar of ``hexd`` (``size``: its XML's size).

        Raises:
            FileNotFoundError: no sidecar. CorruptSidecarError: invalid, too large or not a
            regular file. StoreError: I/O error.
        """
        name = f"{hexd}.json"
        where = str(shard / name)
        try:
            raw = _fsio.read_file(name, shard_fd, limit=MAX_SIDECAR_BYTES)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(where) from None
        except ForeignEntry as exc:
            raise CorruptSidecarError(
                f"corrupt metadata sidecar {where}: it is a {exc.kind} the store did not make; not followed",
                where=where,
                hint=FOREIGN_HINT,
            ) from None
        except OverflowError as exc:
            raise CorruptSidecarError(f"corrupt metadata sidecar {where}: {exc}", where=where) from None
        except OSError as exc:
            raise self._error(exc, "read", shard / name) from exc
        record = read_sidecar(raw, canonical_hash=f"sha256:{hexd}", where=where, size=size)
        return attrs.evolve(record, location=str(shard / f"{hexd}.xml"), store=self.name)

    # ------------------------------------------------------------------ Store protocol

    def put(self, report: Report | SignedReport, *, replace: bool = False) -> StoredReport:
        """Store ``report.data`` byte-for-byte with its JSON sidecar.

        Under the shard lock, :func:`juxsdk.store_rules.decide_put` compares with what is
        stored: same bytes → no-op returning the existing record (a missing or corrupt sidecar
        is rewritten); a signed report over its unsigned version → upgrade; anything else that
        differs → :class:`~juxsdk.errors.StoreConflictError` unless ``replace=True`` (and an
        unsigned report never replaces a signed one). A write removes the sidecar, replaces
        the XML, then writes a new sidecar keeping the first ``stored_at``.

        A report carrying an idempotency key (:meth:`juxsdk.Jux.submit` sets it) is put while
        the key's submission-index entry is locked: when the entry names another report that
        is still stored, nothing is written and that report's record is returned (unless
        ``replace=True``); otherwise the entry is made to name this report.

        Args:
            report: A parsed or signed report; ``report.canonical_hash`` is the key.
            replace: Replace different stored bytes (CLI ``--force``); never a downgrade.

        Returns:
            The sidecar record (``location`` is the XML path).

        Raises:
            juxsdk.errors.StoreConflictError: the replace rule refused; nothing was written.
            juxsdk.errors.StoreError: invalid hash, a link or special file planted in the
                store, I/O error (permission, disk full…), or the shard lock was not obtained
                within ``LOCK_TIMEOUT`` seconds.
        """
        key = report.idempotency_key
        if key is None:
            return self._put(report, replace=replace, submitted=None)
        with _fs_submissions.submission_entry(self, key) as entry:
            named = entry.read()
            submitted = _fs_submissions.stored(self, named) if named != report.canonical_hash else None
            record = self._put(report, replace=replace, submitted=submitted)
            if record.canonical_hash == report.canonical_hash and named != report.canonical_hash:
                entry.write(report.canonical_hash)
            return record

    def find_submission(self, key: str) -> StoredReport | None:
        """The record of the report stored last under an idempotency key, or None.

        See :func:`juxsdk.store_rules.find_submission`; one small index file is read
        (:mod:`juxsdk_backends._fs_submissions`), and the report must still be stored.

        Raises:
            juxsdk.errors.StoreError: invalid key or an I/O error.
        """
        return _fs_submissions.find_submission(self, key)

    def _put(self, report: Report | SignedReport, *, replace: bool, submitted: StoredReport | None) -> StoredReport:
        hexd = canonical_hex(report.canonical_hash)
        data = bytes(report.data)
        xml_name, side_name = f"{hexd}.xml", f"{hexd}.json"
        shard = self.root / hexd[:2]
        with self._shard_fd(hexd[:2], create=True) as shard_fd:
            assert shard_fd is not None
            with self._locked(shard_fd, shard):
                stored: bytes | None = None
                damaged: str | None = None
                try:
                    stored = _fsio.read_file(xml_name, shard_fd)
                except FileNotFoundError:
                    pass
                except ForeignEntry as exc:
                    damaged = f"{shard / xml_name} is a {exc.kind}, which the store does not follow"
                except OSError as exc:
                    raise self._error(exc, "read", shard / xml_name) from exc
                old: StoredReport | None = None
                if stored is not None:
                    with contextlib.suppress(FileNotFoundError, CorruptSidecarError):
                        old = self._load(hexd, shard_fd, shard, len(stored))
                decision = decide_put(
                    stored, report, replace=replace, where=str(shard / xml_name), existing=old, damaged=damaged,
                    submitted=submitted,
                )
                if decision.submitted is not None:
                    return decision.submitted
                if not decision.writes and old is not None:
                    return old
                if decision.writes:
                    if self._unlink(side_name, shard_fd, shard):  # hide the report while its bytes change
                        self._sync(shard_fd, shard)
                    # A new XML needs no directory fsync of its own: should a power loss keep the
                    # sidecar's name but not the XML's, the report is merely invisible (both are
                    # needed) until the next put. A *replaced* XML must be durable before the new
                    # sidecar, or old bytes could meet new metadata.
                    self._write(xml_name, data, shard_fd, shard, sync_dir=decision.action != "create")
                    if decision.action != "create":
                        logger.info("filesystem store: %s", decision.detail)
                record = stored_record(
                    report,
                    store=self.name,
                    location=str(shard / xml_name),
                    stored_at=old.stored_at if old is not None else None,
                )
                self._write(side_name, encode_sidecar(record), shard_fd, shard)
                return record

    def get(self, canonical_hash: str) -> bytes:
        """Return the exact stored bytes.

        Args:
            canonical_hash: ``sha256:<64 lowercase hex>``.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing (complete) stored under that hash.
            juxsdk.errors.StoreError: invalid hash, a link or special file planted where the
                report should be (never followed), or an I/O error.
        """
        hexd = canonical_hex(canonical_hash)
        shard = self.root / hexd[:2]
        with self._shard_fd(hexd[:2]) as shard_fd:
            if shard_fd is None:
                raise self._not_found(canonical_hash)
            try:
                if self._regular_size(f"{hexd}.json", shard_fd, shard) is None:
                    raise self._not_found(canonical_hash)
                return _fsio.read_file(f"{hexd}.xml", shard_fd)
            except ForeignEntry as exc:
                raise self._foreign(exc, shard, "read") from None
            except (FileNotFoundError, NotADirectoryError):
                raise self._not_found(canonical_hash) from None
            except OSError as exc:
                raise self._error(exc, "read", shard / f"{hexd}.xml") from exc

    def exists(self, canonical_hash: str) -> bool:
        """Return True when both the XML and the sidecar of that hash exist as regular files.

        Raises:
            juxsdk.errors.StoreError: invalid hash or I/O error other than "not found".
        """
        hexd = canonical_hex(canonical_hash)
        shard = self.root / hexd[:2]
        with self._shard_fd(hexd[:2], foreign_ok=True) as shard_fd:
            if shard_fd is None:
                return False
            try:
                return all(self._regular_size(n, shard_fd, shard) is not None for n in (f"{hexd}.json", f"{hexd}.xml"))
            except ForeignEntry:
                return False

    def metadata(self, canonical_hash: str) -> StoredReport:
        """Return the validated sidecar record of a stored report.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing (complete) stored under that hash.
            juxsdk.errors.CorruptSidecarError: the sidecar failed validation (not JSON, wrong
                types, another hash, a size other than the XML's, too large, a link…).
            juxsdk.errors.StoreError: invalid hash, a link planted at the XML's name, I/O error.
        """
        hexd = canonical_hex(canonical_hash)
        shard = self.root / hexd[:2]
        with self._shard_fd(hexd[:2]) as shard_fd:
            if shard_fd is None:
                raise self._not_found(canonical_hash)
            try:
                size = self._regular_size(f"{hexd}.xml", shard_fd, shard)
            except ForeignEntry as exc:
                raise self._foreign(exc, shard, "read") from None
            if size is None:
                raise self._not_found(canonical_hash)
            try:
                return self._load(hexd, shard_fd, shard, size)
            except FileNotFoundError:
                raise self._not_found(canonical_hash) from None

    def _scan(self, shards: Iterable[str] | None = None, *, load: bool = True) -> _Scan:
        """Walk the shards (all, or the given names), never following a link.

        With ``load``, every complete report's sidecar is read and validated; problems
        (corrupt sidecars, links or special files at report names, linked shards) are
        collected as :class:`StoreError` items. Temp files, lock files, stray names and
        half-stored reports are not reports.
        """
        found = _Scan()
        with self._root_fd() as root_fd:
            if root_fd is None:
                return found
            if shards is None:
                try:
                    shards = sorted(n for n in os.listdir(root_fd) if _SHARD_RE.fullmatch(n))
                except OSError as exc:
                    raise self._error(exc, "list", self.root) from exc
            for name in sorted(shards):
                try:
                    shard_fd = _fsio.open_dir(name, root_fd)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except ForeignEntry as exc:
                    found.items.append(self._foreign(exc, self.root, "list"))
                    continue
                except OSError as exc:
                    raise self._error(exc, "open", self.root / name) from exc
                try:
                    self._scan_shard(name, shard_fd, found, load)
                finally:
                    os.close(shard_fd)
        return found

    def _scan_shard(self, name: str, shard_fd: int, found: _Scan, load: bool) -> None:
        shard = self.root / name
        try:
            with os.scandir(shard_fd) as it:
                entries = {e.name: e for e in it}
        except OSError as exc:
            raise self._error(exc, "list", shard) from exc
        sizes: dict[str, int] = {}
        for fname in sorted(entries):
            if fname.startswith(TMP_PREFIX):
                found.temp_files += 1
                continue
            parts = report_name_parts(fname)
            if parts is None or parts[0][:2] != name:
                continue
            try:
                st = entries[fname].stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted meanwhile
            except OSError as exc:
                raise self._error(exc, "stat", shard / fname) from exc
            if stat.S_ISREG(st.st_mode):
                sizes[fname] = st.st_size
            else:
                found.items.append(self._foreign(ForeignEntry(fname, _fsio.kind_of(st.st_mode)), shard, "list"))
        for fname, side_size in sizes.items():
            hexd, ext = fname.split(".")
            if ext != "json":
                if f"{hexd}.json" not in entries:
                    found.incomplete += 1
                continue
            xml_size = sizes.get(f"{hexd}.xml")
            if xml_size is None:
                if f"{hexd}.xml" not in entries:
                    found.incomplete += 1
                continue
            if not load:
                found.items.append(StoredReport(f"sha256:{hexd}", xml_size, ReportSummary()))
                continue
            try:
                found.items.append(self._load(hexd, shard_fd, shard, xml_size))
            except FileNotFoundError:
                continue  # deleted meanwhile
            except StoreError as exc:
                found.items.append(exc)
                continue
            found.xml_bytes += xml_size
            found.side_bytes += side_size

    def list(
        self,
        *,
        project: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        failed_only: bool = False,
    ) -> Iterator[StoredReport]:
        """Yield the records matching every given filter, oldest ``stored_at`` first.

        Args:
            project: Only reports whose first ``project`` property equals this.
            since: Only ``stored_at >= since`` (naive datetimes are taken as UTC).
            until: Only ``stored_at < until`` (naive datetimes are taken as UTC).
            failed_only: Only reports with at least one failure or error.

        Returns:
            An iterator over :class:`~juxsdk.models.StoredReport` (sorted by ``stored_at``,
            then hash). Corrupt sidecars and links or special files at report names are
            skipped and reported (:func:`juxsdk.sidecars.report_store_problem`); ``.tmp-*``
            files and half-stored reports are ignored.

        Raises:
            juxsdk.errors.StoreError: the root or a shard cannot be read.
        """
        items = self._scan().items
        return iter(select_records(items, project=project, since=since, until=until, failed_only=failed_only))

    def delete(self, canonical_hash: str) -> bool:
        """Delete a report (sidecar first, then XML). A link planted at either name is removed
        itself; its target is never touched.

        Returns:
            True when something was removed, False when nothing was stored under that hash.

        Raises:
            juxsdk.errors.StoreError: invalid hash, a linked shard, or an I/O error.
        """
        hexd = canonical_hex(canonical_hash)
        shard = self.root / hexd[:2]
        key: str | None = None
        with self._shard_fd(hexd[:2]) as shard_fd:
            if shard_fd is None:
                return False
            with self._locked(shard_fd, shard):
                with contextlib.suppress(FileNotFoundError, StoreError, ForeignEntry):
                    size = self._regular_size(f"{hexd}.xml", shard_fd, shard)
                    key = self._load(hexd, shard_fd, shard, size or 0).idempotency_key
                removed = self._unlink(f"{hexd}.json", shard_fd, shard)
                removed = self._unlink(f"{hexd}.xml", shard_fd, shard) or removed
                removed = self._delete_attachments(hexd, shard_fd, shard) or removed
                if removed:
                    self._sync(shard_fd, shard)
        if key is not None:  # after the report's lock is released: index shard first, always
            _fs_submissions.forget_submission(self, key, canonical_hash)
        return removed

    def resolve_prefix(self, prefix: str) -> str:
        """Return the one stored hash starting with ``prefix`` (reads no sidecar).

        Args:
            prefix: Leading hex digits of a canonical hash, with or without ``sha256:``
                (case-insensitive), e.g. ``"3fa9"`` or ``"sha256:3fa9"``.

        Returns:
            The full ``sha256:<hex>`` hash.

        Raises:
            juxsdk.errors.ReportNotFoundError: no stored report matches.
            juxsdk.errors.StoreError: the prefix is not hex, or several reports match (the
                message lists candidates).
        """
        text = hash_prefix_digits(prefix)
        shards = [text[:2]] if len(text) >= 2 else [text + c for c in _HEX_DIGITS]
        found = self._scan(shards, load=False).items
        hashes = [r.canonical_hash for r in found if isinstance(r, StoredReport)]
        return resolve_hash_prefix(prefix, hashes, where=f"the filesystem store at {self.root}")

    def stats(self) -> dict[str, Any]:
        """Count what is under the root, validating every sidecar.

        Returns:
            ``{"root": str, "count": readable reports, "bytes": their XML bytes,
            "metadata_bytes": their sidecar bytes, "incomplete": XML or sidecar files without
            their partner (left by an interrupted write or replace; invisible, repaired by the
            next put), "temp_files": leftover ``.tmp-*`` files, "problems": reports skipped
            (corrupt sidecars, links or special files; each also reported with
            :func:`juxsdk.sidecars.report_store_problem`), "warnings": why other users could
            change the root (see :meth:`check`)}``.

        Raises:
            juxsdk.errors.StoreError: the root or a shard cannot be read.
        """
        found = self._scan()
        problems = [item for item in found.items if isinstance(item, StoreError)]
        for problem in problems:
            report_store_problem(problem)
        return {
            "root": str(self.root),
            "count": len(found.items) - len(problems),
            "bytes": found.xml_bytes,
            "metadata_bytes": found.side_bytes,
            "incomplete": found.incomplete,
            "temp_files": found.temp_files,
            "problems": len(problems),
            "warnings": _fsio.root_warnings(self.root),
        }

    def check(self) -> builtins.list[str]:
        """Describe the root for ``jux config check`` (no write happens).

        Returns:
            ``"root <path>"`` (with ``"(not created yet)"`` when missing), then one
            ``"warning: …"`` line per reason other users could change the root: it, or an
            ancestor without the sticky bit, is writable by group or others, or is owned by
            another user.

        Raises:
            juxsdk.errors.StoreError: the root exists but is not a usable directory.
        """
        self._root_warnings_reported()  # below: no need to log them as well
        with self._root_fd() as root_fd:
            state = "" if root_fd is not None else " (not created yet)"
        return [f"root {self.root}{state}", *(f"warning: {w}" for w in _fsio.root_warnings(self.root))]

    def clean(self, older_than: dt.timedelta, dry_run: bool = False) -> builtins.list[StoredReport]:
        """Delete reports stored more than ``older_than`` ago (``jux cache clean --days N``).

        Args:
            older_than: Age threshold; reports with ``stored_at < now - older_than`` go.
            dry_run: Only return what would be deleted. Otherwise ``.tmp-*`` files left by
                killed writers and older than one hour are removed too.

        Returns:
            The records deleted (or that would be), oldest first. Reports whose sidecar is
            corrupt are skipped (their age is unknown) and reported.

        Raises:
            juxsdk.errors.StoreError: negative ``older_than`` or I/O error.
        """
        if older_than < dt.timedelta(0):
            raise StoreError("cache clean: the age must not be negative", hint="use --days 0 or more")
        cutoff = dt.datetime.now(dt.UTC) - older_than
        victims = builtins.list(self.list(until=cutoff))
        if not dry_run:
            for record in victims:
                self.delete(record.canonical_hash)
            self._remove_stale_temp_files()
        return victims

    def _remove_stale_temp_files(self, max_age: float = STALE_TEMP_AGE) -> int:
        """Remove ``.tmp-*`` entries older than ``max_age`` seconds (left by killed writers).

        Younger ones may belong to a write in progress in another process and are kept.
        """
        removed = 0
        horizon = time.time() - max_age
        with self._root_fd() as root_fd:
            if root_fd is None:
                return 0
            for name in sorted(n for n in os.listdir(root_fd) if _SHARD_RE.fullmatch(n)):
                with contextlib.suppress(ForeignEntry, FileNotFoundError), contextlib.ExitStack() as stack:
                    shard_fd = _fsio.open_dir(name, root_fd)
                    stack.callback(os.close, shard_fd)
                    removed += self._remove_temp_in(shard_fd, self.root / name, horizon)
        return removed

    def _remove_temp_in(self, shard_fd: int, shard: Path, horizon: float) -> int:
        removed = 0
        for fname in os.listdir(shard_fd):
            if not fname.startswith(TMP_PREFIX):
                continue
            try:
                st = _fsio.entry_stat(fname, shard_fd)
                if st is not None and st.st_mtime < horizon:
                    _fsio.unlink(fname, shard_fd)
                    removed += 1
            except OSError as exc:
                raise self._error(exc, "delete", shard / fname) from exc
        return removed

    def close(self) -> None:
        """Release resources (the store holds none between calls). Idempotent."""

    # ------------------------------------------------------------------ attachments (juxsdk.attachments)

    def _attachment_names(self, hexd: str, shard_fd: int, shard: Path) -> builtins.list[str]:
        prefix = f"{hexd}{NAME_INFIX}"
        try:
            with os.scandir(shard_fd) as it:
                return sorted(e.name for e in it if e.name.startswith(prefix))
        except OSError as exc:
            raise self._error(exc, "list", shard) from exc

    def put_attachment(self, canonical_hash: str, kind: str, data: bytes) -> Attachment:
        """Keep ``data`` as the ``kind`` attachment of a stored report (``<hex>.att.<kind>``).

        Written atomically under the shard lock (never through a link), replacing a previous
        attachment of that kind.

        Raises:
            juxsdk.errors.ReportNotFoundError: no report is stored under that hash.
            juxsdk.errors.StoreError: invalid hash, kind or data, a linked shard, or an I/O error.
        """
        hexd = canonical_hex(canonical_hash)
        name = f"{hexd}{NAME_INFIX}{check_kind(kind)}"
        body = check_attachment(data)
        shard = self.root / hexd[:2]
        with self._shard_fd(hexd[:2]) as shard_fd:
            if shard_fd is None:
                raise self._not_found(canonical_hash)
            with self._locked(shard_fd, shard):
                try:
                    if any(self._regular_size(n, shard_fd, shard) is None for n in (f"{hexd}.json", f"{hexd}.xml")):
                        raise self._not_found(canonical_hash)
                except ForeignEntry as exc:
                    raise self._foreign(exc, shard, "read") from None
                self._write(name, body, shard_fd, shard)
        return Attachment(kind, len(body), str(shard / name))

    def get_attachment(self, canonical_hash: str, kind: str) -> bytes:
        """Return the exact bytes of an attachment.

        Raises:
            juxsdk.errors.ReportNotFoundError: no such report, or no attachment of that kind.
            juxsdk.errors.StoreError: invalid hash or kind, a link or special file where the
                attachment should be (never followed), an oversized file, or an I/O error.
        """
        hexd = canonical_hex(canonical_hash)
        name = f"{hexd}{NAME_INFIX}{check_kind(kind)}"
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        shard = self.root / hexd[:2]
        with self._shard_fd(hexd[:2]) as shard_fd:
            try:
                if shard_fd is None:
                    raise FileNotFoundError(name)
                return _fsio.read_file(name, shard_fd, limit=MAX_ATTACHMENT_BYTES)
            except (FileNotFoundError, NotADirectoryError):
                raise ReportNotFoundError(
                    f"report {canonical_hash} has no {kind!r} attachment in the filesystem store at {self.root}",
                    hint="`jux cache show HASH` lists a report's attachments",
                ) from None
            except ForeignEntry as exc:
                raise self._foreign(exc, shard, "read") from None
            except OverflowError as exc:
                raise StoreError(f"filesystem store: {shard / name}: {exc}") from None
            except OSError as exc:
                raise self._error(exc, "read", shard / name) from exc

    def attachments(self, canonical_hash: str) -> builtins.list[Attachment]:
        """List a stored report's attachments (regular files only), by kind.

        Raises:
            juxsdk.errors.ReportNotFoundError: no report is stored under that hash.
            juxsdk.errors.StoreError: invalid hash or an I/O error.
        """
        hexd = canonical_hex(canonical_hash)
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        shard = self.root / hexd[:2]
        prefix = f"{hexd}{NAME_INFIX}"
        found: builtins.list[Attachment] = []
        with self._shard_fd(hexd[:2]) as shard_fd:
            if shard_fd is None:
                raise self._not_found(canonical_hash)
            for fname in self._attachment_names(hexd, shard_fd, shard):
                kind = fname[len(prefix) :]
                try:
                    check_kind(kind)
                    size = self._regular_size(fname, shard_fd, shard)
                except (StoreError, ForeignEntry):
                    continue
                if size is not None:
                    found.append(Attachment(kind, size, str(shard / fname)))
        return found

    def _delete_attachments(self, hexd: str, shard_fd: int, shard: Path) -> bool:
        """Remove every attachment entry of a report (the caller holds the shard lock)."""
        removed = False
        for fname in self._attachment_names(hexd, shard_fd, shard):
            removed = self._unlink(fname, shard_fd, shard) or removed
        return removed
