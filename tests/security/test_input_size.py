"""Input over the size cap is refused while it is read (issue 10, class 2).

Peak memory must not grow with a rejected input: a regular file over the cap is refused before
it is read (a sparse file of the cap plus one byte costs no disk), and stdin is read in chunks and
refused as soon as it passes the cap. Peak RSS (VmHWM) is measured in the `jux` process itself.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import juxsdk
from juxsdk.errors import ReportTooLargeError
from juxsdk.limits import DEFAULT_MAX_BYTES, read_bounded

MIB = 1024 * 1024

# Runs `jux ARGS…` in this very process and prints its peak RSS on stderr when it exits.
JUX = textwrap.dedent(
    """
    import atexit, sys
    def peak():
        line = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
        print("PEAK_KIB", line.split()[1], file=sys.stderr)
    atexit.register(peak)
    from juxsdk.cli import cli
    cli(sys.argv[1:], prog_name="jux")
    """
)


def _feed(proc: subprocess.Popen[bytes], count: int, chunk: bytes) -> None:
    """Write ``count`` chunks to the child's stdin until it stops reading, then close it."""
    stdin = proc.stdin
    assert stdin is not None
    proc.stdin = None  # so communicate() does not touch it

    def feed() -> None:
        try:
            for _ in range(count):
                stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            pass
        finally:
            try:
                stdin.close()
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    writer.join(timeout=180)


def _jux(args: list[str], *, stdin_bytes: int | None = None, cwd: Path | None = None) -> tuple[int, str, int]:
    """Run jux; with ``stdin_bytes``, feed that many bytes through a pipe (stops when jux stops reading)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", JUX, *args],
        stdin=subprocess.PIPE if stdin_bytes is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    if stdin_bytes is not None:
        assert proc.stdin is not None

        _feed(proc, stdin_bytes // MIB, b" " * MIB)
    out, err = proc.communicate(timeout=180)
    text = out.decode() + err.decode()
    peak = int(text.split("PEAK_KIB ")[1].split()[0])
    return proc.returncode, text, peak


def test_stdin_over_the_cap_is_refused_while_read_with_bounded_memory(tmp_path: Path) -> None:
    code, text, peak = _jux(["verify", "--unsafe-accept-any-key", "-"], stdin_bytes=DEFAULT_MAX_BYTES + 192 * MIB)
    assert code == 3, text
    assert f"over the limit of {DEFAULT_MAX_BYTES} bytes" in text
    # holds at most the cap (plus a chunk) of the refused input, never all of it
    assert peak < (DEFAULT_MAX_BYTES + 96 * MIB) // 1024, peak


@pytest.mark.parametrize("command", [["verify", "--unsafe-accept-any-key"], ["sign"], ["inspect"]])
def test_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path, command: list[str]) -> None:
    big = tmp_path / "big.xml"
    with open(big, "wb") as fh:
        fh.truncate(DEFAULT_MAX_BYTES + 1)  # sparse: no disk, but reading it would cost 256 MiB
    code, text, peak = _jux([*command, str(big)], cwd=tmp_path)
    assert code == 3, text
    assert f"over the limit of {DEFAULT_MAX_BYTES} bytes ({DEFAULT_MAX_BYTES + 1} bytes)" in text
    assert peak < 128 * 1024, peak  # the interpreter and its imports only


def test_read_bounded_stops_a_stream_at_the_limit() -> None:
    code = textwrap.dedent(
        """
        import sys
        from juxsdk.limits import read_bounded
        from juxsdk.errors import ReportTooLargeError
        base = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
        try:
            read_bounded(sys.stdin.buffer, max_bytes=4 * 1024 * 1024, name="<stdin>")
        except ReportTooLargeError as exc:
            print("REFUSED", exc)
        peak = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
        print("GROWTH_KIB", peak - base)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    _feed(proc, 512, b"x" * MIB)  # 512 MiB offered
    out = proc.communicate(timeout=120)[0].decode()
    assert "REFUSED <stdin>: report is over the limit of 4194304 bytes" in out
    assert int(out.split("GROWTH_KIB ")[1].split()[0]) < 24 * 1024


def test_read_bounded_refuses_a_huge_sparse_file_without_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.xml"
    with open(huge, "wb") as fh:
        fh.truncate(64 * 1024**3)  # 64 GiB: reading it would not finish
    with pytest.raises(ReportTooLargeError, match=r"\(68719476736 bytes\)"):
        read_bounded(huge)
    with pytest.raises(ReportTooLargeError):
        juxsdk.merge_reports([huge])
    from juxsdk.testing.fakes import MemoryStore

    with pytest.raises(ReportTooLargeError):
        juxsdk.Jux(stores=[MemoryStore()]).submit(huge)


def test_read_bounded_reads_exactly_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(b"x" * 1000)
    assert read_bounded(path, max_bytes=1000) == b"x" * 1000
    with pytest.raises(ReportTooLargeError):
        read_bounded(path, max_bytes=999)
    import io

    assert read_bounded(io.BytesIO(b"y" * 1000), max_bytes=1000) == b"y" * 1000
    with pytest.raises(ReportTooLargeError, match="<stream>: report is over the limit of 999 bytes"):
        read_bounded(io.BytesIO(b"y" * 1000), max_bytes=999)


def test_read_bounded_reads_a_fifo_in_chunks(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as fh:
            fh.write(b"<testsuite/>" * 100_000)

    threading.Thread(target=write, daemon=True).start()
    assert len(read_bounded(fifo)) == 1_200_000
