"""The one atomic-write helper (juxsdk.files.write_atomic) and the writers built on it.

Before issue 11 item 7 there were four copies (keys, the CLI's outputs, the filesystem store,
the pytest plugin) with different temporary names, modes and failure cleanup; these tests pin
the one behaviour they now share, on a real filesystem.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from juxsdk import files
from juxsdk.errors import JuxError
from juxsdk.files import TMP_PREFIX, write_atomic
from juxsdk.keys import KeyFileExistsError, write_private_file

pytestmark = pytest.mark.skipif(os.name != "posix", reason="permission bits and dir_fd are POSIX")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TMP_PREFIX))


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_writes_exact_bytes_private_by_default_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_atomic(tmp_path / "key.pem", b"\x00secret\r\n")
    finally:
        os.umask(old)
    assert (tmp_path / "key.pem").read_bytes() == b"\x00secret\r\n"
    assert _mode(tmp_path / "key.pem") == 0o600
    assert _leftovers(tmp_path) == []


def test_mode_none_is_an_ordinary_file_and_keeps_the_mode_it_replaces(tmp_path: Path, umask: None) -> None:
    target = tmp_path / "out.xml"
    write_atomic(target, b"one", mode=None)
    assert _mode(target) == 0o644  # 0o666 less the umask, as open() gives
    target.chmod(0o640)
    write_atomic(target, b"two", mode=None)
    assert target.read_bytes() == b"two" and _mode(target) == 0o640


def test_no_clobber_leaves_the_existing_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(b"original")
    with pytest.raises(FileExistsError):
        write_atomic(target, b"new", replace=False)
    assert target.read_bytes() == b"original"
    assert _leftovers(tmp_path) == []
    write_atomic(tmp_path / "fresh.pem", b"new", replace=False)
    assert (tmp_path / "fresh.pem").read_bytes() == b"new"


def test_no_clobber_without_hard_links_still_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(files.os, "link", no_links)
    target = tmp_path / "a"
    target.write_bytes(b"kept")
    with pytest.raises(FileExistsError):
        write_atomic(target, b"x", replace=False)
    write_atomic(tmp_path / "b", b"y", replace=False)
    assert target.read_bytes() == b"kept" and (tmp_path / "b").read_bytes() == b"y"
    assert _leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.xml"
    target.write_bytes(b"old")
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_with_a_directory_descriptor_a_planted_link_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"not yours")
    shard = tmp_path / "shard"
    shard.mkdir()
    (shard / "x.json").symlink_to(outside)
    fd = os.open(shard, os.O_RDONLY)
    try:
        write_atomic("x.json", b"{}", dir_fd=fd)
        with pytest.raises(ValueError, match="a name in that directory"):
            write_atomic("sub/x.json", b"{}", dir_fd=fd)
    finally:
        os.close(fd)
    assert outside.read_bytes() == b"not yours"
    assert not (shard / "x.json").is_symlink() and (shard / "x.json").read_bytes() == b"{}"
    assert _leftovers(shard) == []


def test_write_private_file_maps_errors(tmp_path: Path) -> None:
    key = tmp_path / "deep" / "key.pem"
    write_private_file(key, b"k1")
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
    with pytest.raises(KeyFileExistsError, match="already exists"):
        write_private_file(key, b"k2")
    write_private_file(key, b"k3", overwrite=True, mode=0o644)
    assert key.read_bytes() == b"k3" and _mode(key) == 0o644
    if os.geteuid() != 0:  # root may write anywhere
        key.parent.chmod(0o500)
        try:
            with pytest.raises(JuxError, match="cannot write"):
                write_private_file(key.parent / "other.pem", b"k")
        finally:
            key.parent.chmod(0o700)
