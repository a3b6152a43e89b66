"""The built-in filesystem store (backend name ``"filesystem"``).

Reports are content-addressed by their canonical hash (``sha256:<hex>``, see
:mod:`juxsdk.canonical`)::

    <root>/<hex[:2]>/<hex>.xml    the exact report bytes (never re-serialised)
    <root>/<hex[:2]>/<hex>.json   the metadata sidecar (juxsdk.models.StoredReport.to_dict(),
                                  sorted keys, UTF-8)
    <root>/<hex[:2]>/.lock        per-shard lock file (filelock), serialises writers of that shard
    <root>/<hex[:2]>/<hex>.att.<kind>  attachments of the report (juxsdk.attachments), e.g. its
                                  in-toto attestation <hex>.att.intoto.json; deleted with it

Guarantees (see ``docs/reference/filesystem-store.md``):

* every file is written atomically: a ``.tmp-*`` file in the same directory, ``write``,
  ``fsync``, ``os.replace``, then ``fsync`` of the directory;
* directories are created ``0700`` and files ``0600`` (set explicitly, independent of the umask);
* a report *exists* only when both its XML and its sidecar exist; the XML is written first, so
  a crash (or SIGKILL) never exposes a half-stored report, and the next ``put`` repairs it;
* ``put`` holds a per-shard lock while it compares and writes, so several processes can write
  to one root at once and the XML and sidecar of a hash always describe the same bytes;
* every :class:`OSError` is mapped to :class:`juxsdk.errors.StoreError` with the path and a hint.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import errno
import json
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs

from juxsdk import config as _config
from juxsdk.attachments import MAX_ATTACHMENT_BYTES, NAME_INFIX, Attachment, check_attachment, check_kind
from juxsdk.errors import ReportNotFoundError, StoreError
from juxsdk.models import Report, SignedReport, StoredReport, canonical_hex, select_records, stored_record

__all__ = ["FilesystemStore", "default_root"]

logger = logging.getLogger(__name__)

#: Prefix of the temporary files an interrupted write may leave behind (ignored everywhere).
TMP_PREFIX = ".tmp-"
#: Name of the per-shard lock file.
LOCK_NAME = ".lock"
DIR_MODE = 0o700
FILE_MODE = 0o600
#: Seconds a writer waits for a shard lock before giving up.
LOCK_TIMEOUT = 60.0
_LOCK_POLL = 0.005
#: Seconds after which ``clean`` treats a ``.tmp-*`` file as left by a dead writer.
STALE_TEMP_AGE = 3600.0

_HEX_RE = re.compile(r"[0-9a-f]{64}")
_PREFIX_RE = re.compile(r"[0-9a-f]{1,64}")
_SHARD_RE = re.compile(r"[0-9a-f]{2}")
_HEX_DIGITS = "0123456789abcdef"
# What a damaged sidecar makes json.loads / StoredReport.from_dict raise.
_CORRUPT = (ValueError, KeyError, TypeError, AttributeError)


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


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """Make ``value`` timezone-aware; naive datetimes are taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (new/renamed/removed names) to disk (POSIX only)."""
    if os.name != "posix":  # pragma: no cover - Windows cannot open directories
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems do not support fsync on directories
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class FilesystemStore:
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

    # ------------------------------------------------------------------ helpers

    def _error(self, exc: OSError, action: str, path: Path) -> StoreError:
        """Map an :class:`OSError` to a :class:`StoreError` naming the path, with a hint."""
        where = exc.filename if isinstance(exc.filename, str) and exc.filename else str(path)
        reason = exc.strerror or str(exc) or type(exc).__name__
        code = exc.errno
        if code in (errno.EACCES, errno.EPERM):
            hint = (
                f"check the ownership and permissions of {self.root} and its subdirectories "
                "(the user running jux needs read, write and execute access)"
            )
        elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            hint = f"the disk (or quota) holding {self.root} is full: free space, or run `jux cache clean`"
        elif code == errno.EROFS:
            hint = f"{self.root} is on a read-only filesystem: configure another root"
        elif code in (errno.ENOTDIR, errno.EEXIST):
            hint = f"a component of {where} is a file, not a directory: remove it or configure another root"
        else:
            hint = f"check that {self.root} is a writable local directory"
        return StoreError(f"filesystem store: cannot {action} {where}: {reason}", hint=hint)

    def _hex(self, canonical_hash: str) -> str:
        """Validate ``sha256:<64 lowercase hex>`` and return the hex part (blocks path tricks)."""
        return canonical_hex(canonical_hash)

    def _paths(self, hexd: str) -> tuple[Path, Path, Path]:
        shard = self.root / hexd[:2]
        return shard, shard / f"{hexd}.xml", shard / f"{hexd}.json"

    def _present(self, path: Path) -> bool:
        """True when ``path`` exists; errors other than "not there" are mapped."""
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise self._error(exc, "access", path) from exc
        return True

    def _ensure_dir(self, directory: Path) -> None:
        """Create ``directory`` and missing parents, each ``0700`` (chmod'ed, not via umask)."""
        missing: builtins.list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        for path in reversed(missing):
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError as exc:
                if path.is_dir():  # another process created it first
                    continue
                raise self._error(exc, "create directory", path) from exc
            except OSError as exc:
                raise self._error(exc, "create directory", path) from exc
            try:
                os.chmod(path, DIR_MODE)
                _fsync_dir(path.parent)
            except OSError as exc:
                raise self._error(exc, "create directory", path) from exc

    @contextlib.contextmanager
    def _locked(self, shard: Path) -> Iterator[None]:
        """Hold the shard's lock file (released by the kernel if the process dies)."""
        import filelock  # on first write: registering the backend stays cheap

        lock_path = shard / LOCK_NAME
        lock = filelock.FileLock(str(lock_path), mode=FILE_MODE)
        try:
            lock.acquire(timeout=LOCK_TIMEOUT, poll_interval=_LOCK_POLL)
        except filelock.Timeout as exc:
            raise StoreError(
                f"filesystem store: timed out after {LOCK_TIMEOUT:.0f} s waiting for the lock {lock_path}",
                hint="another process is writing to this store; retry when it has finished",
            ) from exc
        except OSError as exc:
            raise self._error(exc, "lock", lock_path) from exc
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.release()

    def _write_atomic(self, path: Path, data: bytes, *, sync_dir: bool = True) -> None:
        """Write ``data`` to ``path`` via a same-directory temp file, fsync and ``os.replace``.

        ``sync_dir`` also fsyncs the directory, making the new name durable before returning.
        """
        try:
            fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
        except OSError as exc:
            raise self._error(exc, "write", path) from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                os.chmod(tmp, FILE_MODE)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            if sync_dir:
                _fsync_dir(path.parent)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise self._error(exc, "write", path) from exc
            raise

    def _unlink(self, path: Path) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._error(exc, "delete", path) from exc
        return True

    @staticmethod
    def _encode(record: StoredReport) -> bytes:
        doc = record.to_dict()
        try:
            text = json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=2)
            return (text + "\n").encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: fall back to \u escapes
            return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode("ascii")

    def _load(self, hexd: str, xml: Path, side: Path) -> StoredReport:
        """Read and check a sidecar.

        Raises:
            OSError: cannot read it. ValueError/KeyError/TypeError/AttributeError: corrupt.
        """
        doc: Any = json.loads(side.read_bytes().decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("the sidecar is not a JSON object")
        record = StoredReport.from_dict(doc)
        if record.canonical_hash != f"sha256:{hexd}":
            raise ValueError(f"the sidecar describes {record.canonical_hash}, not its file name")
        stored_at = _utc(record.stored_at)
        assert stored_at is not None
        return attrs.evolve(record, stored_at=stored_at, location=str(xml), store=self.name)

    def _load_or_none(self, hexd: str, xml: Path, side: Path) -> StoredReport | None:
        """Like :meth:`_load`, but None when missing or corrupt (corrupt ones logged)."""
        try:
            return self._load(hexd, xml, side)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._error(exc, "read", side) from exc
        except _CORRUPT as exc:
            logger.warning("filesystem store: skipping corrupt sidecar %s: %s", side, exc)
            return None

    def _shard_names(self) -> builtins.list[str]:
        """Sorted names of the shard directories (``00``..``ff``) present under the root."""
        try:
            with os.scandir(self.root) as entries:
                return sorted(e.name for e in entries if _SHARD_RE.fullmatch(e.name) and e.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise self._error(exc, "list", self.root) from exc

    def _listdir(self, shard: Path) -> builtins.list[str]:
        try:
            return sorted(os.listdir(shard))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise self._error(exc, "list", shard) from exc

    def _scan(self, shards: Iterable[str] | None = None) -> Iterator[tuple[str, Path, Path]]:
        """Yield ``(hex, xml path, sidecar path)`` of every complete report, in hash order.

        Temp files, lock files, orphans (XML without sidecar or the reverse) and stray names
        are ignored.
        """
        for name in self._shard_names() if shards is None else sorted(shards):
            shard = self.root / name
            files = self._listdir(shard)
            present = set(files)
            for fname in files:
                if not fname.endswith(".json") or fname.startswith(TMP_PREFIX):
                    continue
                hexd = fname[:-5]
                if not _HEX_RE.fullmatch(hexd) or hexd[:2] != name or f"{hexd}.xml" not in present:
                    continue
                yield hexd, shard / f"{hexd}.xml", shard / fname

    def _not_found(self, what: str) -> ReportNotFoundError:
        return ReportNotFoundError(
            f"no report {what} in the filesystem store at {self.root}",
            hint="`jux cache list` shows the stored reports",
        )

    # ------------------------------------------------------------------ Store protocol

    def put(self, report: Report | SignedReport) -> StoredReport:
        """Store ``report.data`` byte-for-byte with its JSON sidecar.

        Same hash and same bytes already stored: no-op (files untouched), returns the existing
        record. Same hash, different bytes (e.g. re-signed): the sidecar is removed, the XML
        replaced, then a new sidecar written (keeping the first ``stored_at``); a half-stored
        report left by a crash is repaired.

        Args:
            report: A parsed or signed report; ``report.canonical_hash`` is the key.

        Returns:
            The sidecar record (``location`` is the XML path).

        Raises:
            juxsdk.errors.StoreError: invalid hash, I/O error (permission, disk full…), or
                the shard lock was not obtained within ``LOCK_TIMEOUT`` seconds.
        """
        hexd = self._hex(report.canonical_hash)
        data = bytes(report.data)
        shard, xml, side = self._paths(hexd)
        self._ensure_dir(shard)
        with self._locked(shard):
            had_xml, same = self._compare(xml, data)
            old = self._load_or_none(hexd, xml, side)
            if same and old is not None and old.size == len(data):
                return old
            if not same:
                if self._unlink(side):  # hide the report while its bytes change
                    self._fsync_or_raise(shard)
                # A new XML needs no directory fsync of its own: should a power loss keep the
                # sidecar's name but not the XML's, the report is merely invisible (both are
                # needed) until the next put. A *replaced* XML must be durable before the new
                # sidecar, or old bytes could meet new metadata.
                self._write_atomic(xml, data, sync_dir=had_xml)
            record = stored_record(
                report,
                store=self.name,
                location=str(xml),
                stored_at=old.stored_at if old is not None else None,
            )
            self._write_atomic(side, self._encode(record))
            return record

    def _compare(self, xml: Path, data: bytes) -> tuple[bool, bool]:
        """Return ``(the XML exists, it holds exactly data)``; reads it only when sizes match."""
        try:
            if os.stat(xml).st_size != len(data):
                return True, False
            return True, xml.read_bytes() == data
        except (FileNotFoundError, NotADirectoryError):
            return False, False
        except OSError as exc:
            raise self._error(exc, "read", xml) from exc

    def _fsync_or_raise(self, directory: Path) -> None:
        try:
            _fsync_dir(directory)
        except OSError as exc:
            raise self._error(exc, "sync", directory) from exc

    def get(self, canonical_hash: str) -> bytes:
        """Return the exact stored bytes.

        Args:
            canonical_hash: ``sha256:<64 lowercase hex>``.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing (complete) stored under that hash.
            juxsdk.errors.StoreError: invalid hash or I/O error.
        """
        hexd = self._hex(canonical_hash)
        _, xml, side = self._paths(hexd)
        if not self._present(side):
            raise self._not_found(canonical_hash)
        try:
            return xml.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise self._not_found(canonical_hash) from None
        except OSError as exc:
            raise self._error(exc, "read", xml) from exc

    def exists(self, canonical_hash: str) -> bool:
        """Return True when both the XML and the sidecar of that hash exist.

        Raises:
            juxsdk.errors.StoreError: invalid hash or I/O error other than "not found".
        """
        hexd = self._hex(canonical_hash)
        _, xml, side = self._paths(hexd)
        return self._present(side) and self._present(xml)

    def metadata(self, canonical_hash: str) -> StoredReport:
        """Return the sidecar record of a stored report.

        Raises:
            juxsdk.errors.ReportNotFoundError: nothing (complete) stored under that hash.
            juxsdk.errors.StoreError: invalid hash, unreadable or corrupt sidecar.
        """
        hexd = self._hex(canonical_hash)
        _, xml, side = self._paths(hexd)
        if not self._present(xml):
            raise self._not_found(canonical_hash)
        try:
            return self._load(hexd, xml, side)
        except (FileNotFoundError, NotADirectoryError):
            raise self._not_found(canonical_hash) from None
        except OSError as exc:
            raise self._error(exc, "read", side) from exc
        except _CORRUPT as exc:
            raise StoreError(
                f"filesystem store: corrupt metadata sidecar {side}: {exc}",
                hint="put the report again to rewrite it, or delete it",
            ) from exc

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
            then hash). Corrupt sidecars are skipped with a logged warning; ``.tmp-*`` files
            and half-stored reports are ignored.

        Raises:
            juxsdk.errors.StoreError: the root or a shard cannot be read.
        """
        records = (self._load_or_none(hexd, xml, side) for hexd, xml, side in self._scan())
        return iter(select_records(records, project=project, since=since, until=until, failed_only=failed_only))

    def delete(self, canonical_hash: str) -> bool:
        """Delete a report (sidecar first, then XML).

        Returns:
            True when something was removed, False when nothing was stored under that hash.

        Raises:
            juxsdk.errors.StoreError: invalid hash or I/O error.
        """
        hexd = self._hex(canonical_hash)
        shard, xml, side = self._paths(hexd)
        if not self._present(shard):
            return False
        with self._locked(shard):
            removed = self._unlink(side)
            removed = self._unlink(xml) or removed
            removed = self._delete_attachments(shard, hexd) or removed
            if removed:
                self._fsync_or_raise(shard)
        return removed

    def resolve_prefix(self, prefix: str) -> str:
        """Return the one stored hash starting with ``prefix``.

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
        text = prefix.strip().lower() if isinstance(prefix, str) else ""
        text = text.removeprefix("sha256:")
        if not _PREFIX_RE.fullmatch(text):
            raise StoreError(
                f"invalid hash prefix {_short(prefix)}",
                hint="give leading hex digits of a canonical hash, e.g. 'sha256:3fa9' or '3fa9'",
            )
        shards = [text[:2]] if len(text) >= 2 else [text + c for c in _HEX_DIGITS]
        matches = [hexd for hexd, _, _ in self._scan(shards) if hexd.startswith(text)]
        if not matches:
            raise self._not_found(f"matching {prefix!r}")
        if len(matches) > 1:
            width = min(64, max(16, len(text) + 8))
            shown = ", ".join(f"sha256:{h[:width]}" for h in matches[:5])
            more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
            raise StoreError(
                f"hash prefix {prefix!r} is ambiguous: {len(matches)} reports match ({shown}{more})",
                hint="give more hex digits",
            )
        return f"sha256:{matches[0]}"

    def stats(self) -> dict[str, Any]:
        """Count what is under the root.

        Returns:
            ``{"root": str, "count": complete reports, "bytes": their XML bytes,
            "metadata_bytes": their sidecar bytes, "incomplete": XML or sidecar files without
            their partner (left by an interrupted write or replace; invisible, repaired by the
            next put), "temp_files": leftover ``.tmp-*`` files}``.

        Raises:
            juxsdk.errors.StoreError: the root or a shard cannot be read.
        """
        count = size = meta = incomplete = temp = 0
        for name in self._shard_names():
            shard = self.root / name
            files = self._listdir(shard)
            present = set(files)
            for fname in files:
                if fname.startswith(TMP_PREFIX):
                    temp += 1
                    continue
                stem, ext = os.path.splitext(fname)
                if ext not in (".xml", ".json") or not _HEX_RE.fullmatch(stem) or stem[:2] != name:
                    continue
                if f"{stem}{'.json' if ext == '.xml' else '.xml'}" not in present:
                    incomplete += 1
                    continue
                try:
                    nbytes = os.stat(shard / fname).st_size
                except (FileNotFoundError, NotADirectoryError):
                    continue  # deleted meanwhile
                except OSError as exc:
                    raise self._error(exc, "stat", shard / fname) from exc
                if ext == ".xml":
                    count += 1
                    size += nbytes
                else:
                    meta += nbytes
        return {
            "root": str(self.root),
            "count": count,
            "bytes": size,
            "metadata_bytes": meta,
            "incomplete": incomplete,
            "temp_files": temp,
        }

    def clean(self, older_than: dt.timedelta, dry_run: bool = False) -> builtins.list[StoredReport]:
        """Delete reports stored more than ``older_than`` ago (``jux cache clean --days N``).

        Args:
            older_than: Age threshold; reports with ``stored_at < now - older_than`` go.
            dry_run: Only return what would be deleted. Otherwise ``.tmp-*`` files left by
                killed writers and older than one hour are removed too.

        Returns:
            The records deleted (or that would be), oldest first.

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
        """Remove ``.tmp-*`` files older than ``max_age`` seconds (left by killed writers).

        Younger ones may belong to a write in progress in another process and are kept.
        """
        removed = 0
        horizon = time.time() - max_age
        for name in self._shard_names():
            shard = self.root / name
            for fname in self._listdir(shard):
                if not fname.startswith(TMP_PREFIX):
                    continue
                path = shard / fname
                try:
                    if os.stat(path).st_mtime < horizon:
                        os.unlink(path)
                        removed += 1
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise self._error(exc, "delete", path) from exc
        return removed

    def close(self) -> None:
        """Release resources (the store holds none between calls). Idempotent."""

    # ------------------------------------------------------------------ attachments (juxsdk.attachments)

    def _attachment_path(self, hexd: str, kind: str) -> Path:
        return self.root / hexd[:2] / f"{hexd}{NAME_INFIX}{check_kind(kind)}"

    def _read_nofollow(self, path: Path) -> bytes:
        """Read a file this store wrote, refusing symbolic links and oversized files."""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > MAX_ATTACHMENT_BYTES:
                raise StoreError(f"filesystem store: {path} is over the {MAX_ATTACHMENT_BYTES}-byte attachment limit")
            return fh.read(MAX_ATTACHMENT_BYTES + 1)

    def put_attachment(self, canonical_hash: str, kind: str, data: bytes) -> Attachment:
        """Keep ``data`` as the ``kind`` attachment of a stored report (``<hex>.att.<kind>``).

        Written atomically under the shard lock, replacing a previous attachment of that kind.

        Raises:
            juxsdk.errors.ReportNotFoundError: no report is stored under that hash.
            juxsdk.errors.StoreError: invalid hash, kind or data, or an I/O error.
        """
        hexd = self._hex(canonical_hash)
        path = self._attachment_path(hexd, kind)
        body = check_attachment(data)
        shard = path.parent
        if not self._present(shard):
            raise self._not_found(canonical_hash)
        with self._locked(shard):
            if not self.exists(canonical_hash):
                raise self._not_found(canonical_hash)
            self._write_atomic(path, body)
        return Attachment(kind, len(body), str(path))

    def get_attachment(self, canonical_hash: str, kind: str) -> bytes:
        """Return the exact bytes of an attachment.

        Raises:
            juxsdk.errors.ReportNotFoundError: no such report, or no attachment of that kind.
            juxsdk.errors.StoreError: invalid hash or kind, or an I/O error (a symbolic link
                where the attachment should be is refused).
        """
        hexd = self._hex(canonical_hash)
        path = self._attachment_path(hexd, kind)
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        try:
            return self._read_nofollow(path)
        except (FileNotFoundError, NotADirectoryError):
            raise ReportNotFoundError(
                f"report {canonical_hash} has no {kind!r} attachment in the filesystem store at {self.root}",
                hint="`jux cache show HASH` lists a report's attachments",
            ) from None
        except OSError as exc:
            raise self._error(exc, "read", path) from exc

    def attachments(self, canonical_hash: str) -> builtins.list[Attachment]:
        """List a stored report's attachments, by kind.

        Raises:
            juxsdk.errors.ReportNotFoundError: no report is stored under that hash.
            juxsdk.errors.StoreError: invalid hash or an I/O error.
        """
        hexd = self._hex(canonical_hash)
        if not self.exists(canonical_hash):
            raise self._not_found(canonical_hash)
        shard = self.root / hexd[:2]
        prefix = f"{hexd}{NAME_INFIX}"
        found: builtins.list[Attachment] = []
        for fname in self._listdir(shard):
            if not fname.startswith(prefix):
                continue
            kind = fname[len(prefix) :]
            try:
                check_kind(kind)
                info = os.lstat(shard / fname)
            except (StoreError, FileNotFoundError):
                continue
            except OSError as exc:
                raise self._error(exc, "stat", shard / fname) from exc
            if stat.S_ISREG(info.st_mode):
                found.append(Attachment(kind, info.st_size, str(shard / fname)))
        return found

    def _delete_attachments(self, shard: Path, hexd: str) -> bool:
        """Remove every attachment of a report (the caller holds the shard lock)."""
        prefix = f"{hexd}{NAME_INFIX}"
        removed = False
        for fname in self._listdir(shard):
            if fname.startswith(prefix):
                removed = self._unlink(shard / fname) or removed
        return removed
