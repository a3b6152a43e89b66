"""File operations of the filesystem store that never follow a symbolic link below the root.

Everything below the store root goes through directory file descriptors: a shard is opened
with ``O_DIRECTORY | O_NOFOLLOW`` relative to the root's descriptor, a file with ``O_NOFOLLOW``
(and ``O_NONBLOCK``, so a planted FIFO cannot hang a reader) relative to its shard's, and
``fstat`` must then say "regular file". New files are created with ``O_CREAT | O_EXCL`` under a
random temporary name and renamed with ``renameat`` (``os.replace`` with ``src_dir_fd`` /
``dst_dir_fd``), which replaces a directory entry and never writes through a link: that is
:func:`juxsdk.files.write_atomic` with a directory descriptor, the one atomic-write helper. A link
planted in the store — at a report's, a sidecar's, a lock's or a shard's name — is therefore
never read, written, truncated or deleted *through*: it is reported as a :class:`ForeignEntry`.

POSIX only (Linux, macOS, the BSDs): ``O_NOFOLLOW``, ``*at`` system calls and ``flock``.
References: POSIX.1-2017 ``open``/``openat`` (``O_NOFOLLOW``, ``O_DIRECTORY``), ``renameat``;
flock(2).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from juxsdk.files import fsync_dir

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "ForeignEntry",
    "LockTimeout",
    "entry_stat",
    "locked",
    "open_dir",
    "open_root",
    "read_file",
    "require_posix",
    "root_warnings",
    "unlink",
]

DIR_MODE = 0o700
FILE_MODE = 0o600

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC
# errno of open(O_NOFOLLOW) on a symbolic link: ELOOP (Linux, macOS), EMLINK (FreeBSD), EFTYPE (NetBSD)
_LINK_ERRNOS = frozenset(e for e in (errno.ELOOP, errno.EMLINK, getattr(errno, "EFTYPE", None)) if e is not None)


class ForeignEntry(Exception):
    """A name in the store is not what the store creates there (a link, FIFO, device…).

    Args:
        name: The entry's name inside its directory.
        kind: What it is (``"symbolic link"``, ``"directory"``, ``"FIFO"``…).
    """

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(f"{name} is a {kind}")
        self.name = name
        self.kind = kind


class LockTimeout(Exception):
    """A shard lock was not obtained in time."""


_POSIX = os.name == "posix" and bool(_NOFOLLOW) and os.open in os.supports_dir_fd


def require_posix() -> str | None:
    """Return why the platform cannot run the store safely, or None when it can."""
    if not _POSIX:
        return "the filesystem store needs a POSIX system (O_NOFOLLOW, openat, renameat, flock)"
    return None


def kind_of(mode: int) -> str:
    """Name the file type of an ``st_mode``."""
    for test, name in (
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISREG, "regular file"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def entry_stat(name: str, dir_fd: int) -> os.stat_result | None:
    """``lstat`` of ``name`` in ``dir_fd`` (never follows a link); None when it is not there."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _foreign(name: str, dir_fd: int | None, exc: OSError) -> ForeignEntry | None:
    """The ForeignEntry behind an open() failure, or None when the failure is something else."""
    if exc.errno not in _LINK_ERRNOS and exc.errno != errno.ENOTDIR:
        return None
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    return ForeignEntry(name, kind_of(st.st_mode))


def open_root(root: Path) -> int:
    """Open the store root directory (the configured path is followed, as the user chose it).

    Raises:
        FileNotFoundError: no root yet. OSError: other failures.
    """
    return os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)


def open_dir(name: str, dir_fd: int, *, create: bool = False) -> int:
    """Open the subdirectory ``name`` of ``dir_fd`` without following a link.

    Args:
        name: A single path component.
        dir_fd: Descriptor of the parent directory.
        create: Create it (mode ``0700``, set explicitly) when missing, and fsync the parent.

    Returns:
        A descriptor of the directory (close it).

    Raises:
        ForeignEntry: ``name`` is a link or not a directory.
        FileNotFoundError: missing and ``create`` is false. OSError: other failures.
    """
    if create:
        try:
            os.mkdir(name, DIR_MODE, dir_fd=dir_fd)
        except FileExistsError:
            pass
        else:
            fd = _open_dir(name, dir_fd)
            try:
                os.fchmod(fd, DIR_MODE)
                fsync_dir(dir_fd)
            except BaseException:
                os.close(fd)
                raise
            return fd
    return _open_dir(name, dir_fd)


def _open_dir(name: str, dir_fd: int) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        foreign = _foreign(name, dir_fd, exc)
        if foreign is not None:
            raise foreign from None
        raise


def read_file(name: str, dir_fd: int, *, limit: int | None = None) -> bytes:
    """Read the regular file ``name`` of ``dir_fd`` without following a link.

    Args:
        name: A single path component.
        dir_fd: Descriptor of its directory.
        limit: Largest size accepted, in bytes; a larger file raises :class:`OverflowError`
            before it is read.

    Raises:
        ForeignEntry: a link, FIFO, directory… is there instead.
        FileNotFoundError: nothing is there. OverflowError: over ``limit``. OSError: other.
    """
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        foreign = _foreign(name, dir_fd, exc)
        if foreign is not None:
            raise foreign from None
        raise
    with open(fd, "rb", closefd=True) as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ForeignEntry(name, kind_of(st.st_mode))
        if limit is not None and st.st_size > limit:
            raise OverflowError(f"{name} is {st.st_size} bytes, over the {limit} byte limit")
        # one byte more than fstat said: a file that grew meanwhile is caught below, never read whole
        data = fh.read() if limit is None else fh.read(st.st_size + 1)
    if limit is not None and len(data) > min(limit, st.st_size):
        raise OverflowError(f"{name} grew while it was read (over {min(limit, st.st_size)} bytes)")
    return data


def unlink(name: str, dir_fd: int) -> bool:
    """Remove the entry ``name`` (a link itself, never its target); False when not there."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def locked(name: str, dir_fd: int, *, timeout: float, poll: float = 0.005) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the lock file ``name`` of ``dir_fd`` (created ``0600``).

    Each call opens its own descriptor, so threads of one process exclude each other as
    processes do; the kernel releases the lock if the process dies.

    Raises:
        ForeignEntry: the lock file is a link or not a regular file (never opened through).
        LockTimeout: not obtained within ``timeout`` seconds. OSError: other failures.
    """
    import fcntl

    try:
        fd = os.open(name, _LOCK_FLAGS, FILE_MODE, dir_fd=dir_fd)
    except OSError as exc:
        foreign = _foreign(name, dir_fd, exc)
        if foreign is not None:
            raise foreign from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ForeignEntry(name, kind_of(st.st_mode))
        deadline = time.monotonic() + timeout
        delay = poll
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(name) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- root safety


def _chain(path: Path) -> list[Path]:
    """``path`` and its ancestors, deepest first."""
    return [path, *path.parents]


def root_warnings(root: Path) -> list[str]:
    """Say why users other than us (and root) could change the store root, if they can.

    Checked for the root as configured and as resolved (``realpath``): the root directory must
    be owned by us (or root) and not writable by group or others; each ancestor must be owned
    by us or root, and when it is writable by group or others it must have the sticky bit
    (like ``/tmp``) and the entry below it must be ours (or root's) — otherwise another user
    could rename that entry and put their own directory (or a link) in its place. Components
    not created yet are skipped (the store creates them ``0700``). ACLs are not examined.

    Args:
        root: The absolute root path.

    Returns:
        One line per problem (empty when the root is safe).
    """
    me = os.geteuid() if hasattr(os, "geteuid") else 0
    trusted = {0, me}
    problems: list[str] = []
    seen: set[tuple[Path, Path | None]] = set()
    real = Path(os.path.realpath(root))
    for chain in (_chain(root), _chain(real)):
        child: Path | None = None
        for directory in chain:
            if (directory, child) in seen:
                child = directory
                continue
            seen.add((directory, child))
            try:
                st = os.stat(directory)
            except OSError:
                child = directory  # not created yet (or unreadable): nothing to judge
                continue
            mode = stat.S_IMODE(st.st_mode)
            writable = mode & (stat.S_IWGRP | stat.S_IWOTH)
            if st.st_uid not in trusted:
                problems.append(f"{directory} is owned by uid {st.st_uid}, another user, who can replace its contents")
            elif child is None and writable:
                problems.append(f"the store root {directory} is writable by group or others (mode {mode:04o})")
            elif child is not None and writable:
                try:
                    owner = os.stat(child, follow_symlinks=False).st_uid
                except OSError:
                    owner = me  # will be created by us
                if not (mode & stat.S_ISVTX and owner in trusted):
                    problems.append(
                        f"{directory} is writable by group or others (mode {mode:04o}), so another user "
                        f"can replace {child}"
                    )
            child = directory
    return list(dict.fromkeys(problems))
