"""The filesystem store's root, opened without following links: descriptors, locks, writes, errors.

:class:`StoreRoot` is the base of :class:`juxsdk_backends.filesystem.FilesystemStore`: every
directory and file operation the store makes goes through it, relative to descriptors
(:mod:`juxsdk_backends._fsio`), and every :class:`OSError` becomes a
:class:`~juxsdk.errors.StoreError` naming the path, with a hint. The store itself (what the
files mean: reports, sidecars, attachments, listing, maintenance) lives in ``filesystem.py``.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from juxsdk.errors import StoreError
from juxsdk.files import fsync_dir, write_atomic
from juxsdk.sidecars import STORE_LOGGER

from . import _fsio
from ._fsio import DIR_MODE, FILE_MODE, ForeignEntry

__all__ = ["FOREIGN_HINT", "LOCK_NAME", "LOCK_TIMEOUT", "StoreRoot"]

#: Name of the per-shard lock file.
LOCK_NAME = ".lock"
#: Seconds a writer waits for a shard lock before giving up.
LOCK_TIMEOUT = 60.0
FOREIGN_HINT = "the store never follows links or touches special files it did not create: remove it"

# Roots already warned about in this process (the warning is logged once per root).
_warned_roots: set[str] = set()
_warned_lock = threading.Lock()


class StoreRoot:
    """A store root (``self.root``, absolute) and the safe operations below it."""

    root: Path

    # ------------------------------------------------------------------ errors

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

    def _foreign(self, entry: ForeignEntry, directory: Path, action: str) -> StoreError:
        path = directory / entry.name
        return StoreError(
            f"filesystem store: cannot {action} {path}: it is a {entry.kind} the store did not make; not followed",
            hint=FOREIGN_HINT,
        )

    # ------------------------------------------------------------------ directories

    def _prepare(self) -> None:
        """Refuse unsupported platforms; warn once about a root other users can change."""
        reason = _fsio.require_posix()
        if reason is not None:
            raise StoreError(f"filesystem store: {reason}", hint="use another store backend on this platform")
        key = str(self.root)
        with _warned_lock:
            if key in _warned_roots:
                return
            _warned_roots.add(key)
        for line in _fsio.root_warnings(self.root):
            logging.getLogger(STORE_LOGGER).warning("filesystem store: %s", line)

    def _root_warnings_reported(self) -> None:
        """The caller shows the root's warnings itself: :meth:`_prepare` does not log them."""
        with _warned_lock:
            _warned_roots.add(str(self.root))

    def _ensure_root(self) -> None:
        """Create the root and missing parents, each ``0700`` (chmod'ed, not via umask)."""
        missing: builtins.list[Path] = []
        current = self.root
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
                fd = os.open(path.parent, os.O_RDONLY)
                try:
                    fsync_dir(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise self._error(exc, "create directory", path) from exc

    @contextlib.contextmanager
    def _root_fd(self, *, create: bool = False) -> Iterator[int | None]:
        """An open descriptor of the root (None when it does not exist and ``create`` is false)."""
        self._prepare()
        if create:
            self._ensure_root()
        try:
            fd = _fsio.open_root(self.root)
        except FileNotFoundError:
            if create:
                raise
            yield None
            return
        except OSError as exc:
            raise self._error(exc, "open", self.root) from exc
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _shard_fd(self, shard: str, *, create: bool = False, foreign_ok: bool = False) -> Iterator[int | None]:
        """An open descriptor of a shard, never through a link (None when it does not exist,
        or with ``foreign_ok`` when a link or file is there instead)."""
        with self._root_fd(create=create) as root_fd:
            if root_fd is None:
                yield None
                return
            try:
                fd = _fsio.open_dir(shard, root_fd, create=create)
            except FileNotFoundError:
                yield None
                return
            except ForeignEntry as exc:
                if foreign_ok:
                    yield None
                    return
                raise self._foreign(exc, self.root, "use the shard directory") from None
            except OSError as exc:
                raise self._error(exc, "open", self.root / shard) from exc
            try:
                yield fd
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def _locked(self, shard_fd: int, shard: Path) -> Iterator[None]:
        """Hold the shard's lock file (released by the kernel if the process dies)."""
        lock_path = shard / LOCK_NAME
        try:
            with _fsio.locked(LOCK_NAME, shard_fd, timeout=LOCK_TIMEOUT):
                yield
        except _fsio.LockTimeout:
            raise StoreError(
                f"filesystem store: timed out after {LOCK_TIMEOUT:.0f} s waiting for the lock {lock_path}",
                hint="another process is writing to this store; retry when it has finished",
            ) from None
        except ForeignEntry as exc:
            raise self._foreign(exc, shard, "lock") from None
        except OSError as exc:
            raise self._error(exc, "lock", lock_path) from exc

    # ------------------------------------------------------------------ files

    def _write(self, name: str, data: bytes, shard_fd: int, shard: Path, *, sync_dir: bool = True) -> None:
        try:
            write_atomic(name, data, dir_fd=shard_fd, mode=FILE_MODE, sync_dir=sync_dir)
        except OSError as exc:
            raise self._error(exc, "write", shard / name) from exc

    def _unlink(self, name: str, shard_fd: int, shard: Path) -> bool:
        try:
            return _fsio.unlink(name, shard_fd)
        except OSError as exc:
            raise self._error(exc, "delete", shard / name) from exc

    def _sync(self, shard_fd: int, shard: Path) -> None:
        try:
            fsync_dir(shard_fd)
        except OSError as exc:
            raise self._error(exc, "sync", shard) from exc

    def _regular_size(self, name: str, shard_fd: int, shard: Path) -> int | None:
        """Size of the regular file ``name``; None when absent.

        Raises:
            ForeignEntry: something other than a regular file is there.
        """
        try:
            st = _fsio.entry_stat(name, shard_fd)
        except OSError as exc:
            raise self._error(exc, "access", shard / name) from exc
        if st is None:
            return None
        if not stat.S_ISREG(st.st_mode):
            raise ForeignEntry(name, _fsio.kind_of(st.st_mode))
        return st.st_size
