"""Atomic file writes: the one helper behind every file juxsdk writes whole.

A reader never sees a partial file and a crash never leaves a truncated one. The recipe:

1. the bytes go to a new temporary file in the target's directory, named
   ``.tmp-<target name>.<16 random hex digits>`` and created with
   ``O_CREAT | O_EXCL | O_NOFOLLOW`` (a planted file or link at that name is never opened);
2. its permission bits are set explicitly (``fchmod``: the umask cannot change them), the
   bytes are written, and the file is ``fsync``-ed;
3. it is moved into place with ``rename(2)`` (:func:`os.replace`: the directory entry is
   replaced, a link at the target name is replaced itself and never written through) or, when
   replacing is not allowed, with ``link(2)`` (fails when the name exists: no window in which
   an existing file could be clobbered), and the temporary name is removed;
4. the directory is ``fsync``-ed so that the new name survives a power loss (best effort when
   writing by path: the file is in place already).

On any failure the temporary file is removed and the error is raised as it came
(:class:`OSError`); callers map it to their :class:`~juxsdk.errors.JuxError` with the path and a
hint. With a directory descriptor (``dir_fd``), every step is relative to it (``openat``,
``renameat``, ``linkat``), which is how the filesystem store never follows a link below its root.

Used by :func:`juxsdk.keys.write_private_file` (keys, certificates, configuration files), the
CLI's ``-o`` outputs, the filesystem store, the pytest plugin (signed report, attestation), the
PEM files of remote-key backends and the HTML evidence report. (The outbox keeps its state in
SQLite, whose transactions give it the same guarantee.)

References: POSIX.1-2017 ``open`` (``O_EXCL``, ``O_NOFOLLOW``), ``rename``, ``link``, ``fsync``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets

__all__ = ["TMP_PREFIX", "fsync_dir", "write_atomic"]

#: Prefix of the temporary files (an interrupted writer may leave one behind; the filesystem
#: store ignores such names and ``jux cache clean`` removes old ones).
TMP_PREFIX = ".tmp-"

_CREATE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
)


def fsync_dir(dir_fd: int) -> None:
    """Flush a directory's entries (new, renamed, removed names) to disk.

    Args:
        dir_fd: An open descriptor of the directory.

    Raises:
        OSError: the flush failed (a filesystem that cannot flush directories — ``EINVAL``,
            ``ENOTSUP``, ``EBADF`` — is not an error).
    """
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    dir_fd: int | None = None,
    mode: int | None = 0o600,
    replace: bool = True,
    sync: bool = True,
    sync_dir: bool = True,
) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring for the recipe).

    Args:
        path: The target file; with ``dir_fd``, a name inside that directory. Its directory
            must exist.
        data: The whole content.
        dir_fd: An open directory descriptor that ``path`` is relative to (every operation
            then uses it: no link in the directory's own path is followed again).
        mode: Permission bits of the new file, set exactly (default ``0o600``: private). None
            means an ordinary file: the bits of the file it replaces, else ``0o666`` less the
            umask (what ``open(path, "w")`` gives).
        replace: Replace an existing file. When False and ``path`` exists,
            :class:`FileExistsError` is raised and nothing changes.
        sync: ``fsync`` the file before it is moved into place (turn off only for bulk output
            that can be regenerated, such as HTML pages).
        sync_dir: ``fsync`` the directory afterwards.

    Raises:
        FileExistsError: ``replace`` is False and ``path`` exists.
        OSError: any other failure (permission, disk full, missing directory…); the temporary
            file is removed.
    """
    target = os.fspath(path)
    head, name = os.path.split(target)
    if dir_fd is not None and head:
        raise ValueError(f"with dir_fd, path must be a name in that directory, not {target!r}")
    if mode is None:
        try:
            mode = os.stat(target, dir_fd=dir_fd).st_mode & 0o777
        except FileNotFoundError:
            mode = None  # a new ordinary file: the umask decides, as for open()
    while True:
        tmp = os.path.join(head, f"{TMP_PREFIX}{name}.{secrets.token_hex(8)}")
        try:
            fd = os.open(tmp, _CREATE_FLAGS, 0o666 if mode is None else mode, dir_fd=dir_fd)
            break
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue
    try:
        with open(fd, "wb", closefd=True) as fh:
            if mode is not None:
                os.fchmod(fd, mode)  # the umask may have removed bits we asked for; adds no others
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fd)
        if replace:
            os.replace(tmp, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            _link_no_clobber(tmp, target, dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    if sync_dir:
        _sync_parent(head, dir_fd)


def _link_no_clobber(tmp: str, target: str, dir_fd: int | None) -> None:
    """Move ``tmp`` to ``target`` unless ``target`` exists (``link`` + ``unlink``)."""
    try:
        os.link(tmp, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except FileExistsError:
        raise
    except OSError:
        # A filesystem without hard links: check, then rename (a narrow race, as close as it gets).
        if os.path.lexists(target) if dir_fd is None else _lexists_at(target, dir_fd):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target) from None
        os.replace(tmp, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    os.unlink(tmp, dir_fd=dir_fd)


def _lexists_at(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _sync_parent(head: str, dir_fd: int | None) -> None:
    if dir_fd is not None:
        fsync_dir(dir_fd)
        return
    # By path the file is in place already: flushing its directory is best effort (a platform
    # that cannot open directories, a directory without read permission).
    with contextlib.suppress(OSError):
        fd = os.open(head or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            fsync_dir(fd)
        finally:
            os.close(fd)
