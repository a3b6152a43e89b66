"""The signing log: a local, tamper-evident, append-only record of who signed what, when.

Every sign, store, publish, delete and verification decision made by the :class:`~juxsdk.Jux`
pipeline, the publishers built from configuration and the ``jux`` commands appends one JSON line
to ``<user data dir>/signing-log.jsonl`` (``[signing_log]`` in the configuration):

.. code-block:: json

    {"backend":"file","canonical_hash":"sha256:…","host":"ci-7","key":"sha256:…","operation":"sign",
     "outcome":"ok","prev":"sha256:…","seq":42,"signer":"CN=ci-signing","time":"2025-06-01T12:00:00.123456Z","v":1}

Fields: ``v`` (format version, 1), ``seq`` (1, 2, 3… across rotations), ``time`` (UTC, RFC 3339),
``operation`` (``sign``, ``store``, ``publish``, ``delete``, ``verify``, ``rotate``),
``canonical_hash``, ``signer`` (certificate subject, else key fingerprint) and ``key`` (SHA-256
of the signing key's SubjectPublicKeyInfo), ``backend``, ``outcome`` (``ok``, ``failed``,
``queued``, ``duplicate``…), ``detail`` (an error class or a run id — never an error text),
``host``, ``user`` (only with ``include_user = true``) and ``prev``. Keys are sorted, the
line is compact JSON in UTF-8; no secret is ever written.

**The hash chain.** ``prev`` is ``sha256:<hex>`` of the previous line's exact bytes (without
its newline); the first line of a log has ``sha256:`` followed by 64 zeros. Editing,
removing, inserting or reordering any line changes a hash that the next line names, so
:meth:`SigningLog.verify` finds it and says where. The newest line has no successor: anchor
the head (``jux log verify`` prints it; ``--head HASH`` checks it) to protect the end of
the log against truncation or an edit of the last line.

**Concurrent writers** (several pytest-xdist controllers, parallel CI jobs on one runner, threads)
never interleave or lose lines: each append takes an exclusive ``flock(2)`` on
``<log>.lock`` (a separate file, so that rotation can replace the log file without a writer
appending to the renamed one), reads the previous line, and writes the new one with a single
``write(2)`` on an ``O_APPEND`` descriptor. A line torn by a crash is left as it is (``verify``
reports it); the next writer starts on a new line and chains to the torn bytes.

**Durability.** By default a line is handed to the kernel by that ``write(2)`` before the
operation returns (it survives the process being killed, not a power cut); with
``fsync = true`` every line is also ``fsync``-ed (one disk flush per line).

**Rotation.** When appending would take the file past ``max_bytes``, the writer (holding the
lock) renames it to ``signing-log.<seq of its last line, 12 digits>.jsonl`` and starts the new
file with a ``rotate`` line whose ``previous_file`` names it and whose ``prev`` is the hash of
its last line, so the chain runs unbroken through every file. Rotated files are never deleted
by juxsdk.

The pure functions (:func:`juxsdk.sign_report`, :func:`juxsdk.verify_report`) write nothing;
the layers that decide something on a user's behalf record it: :class:`juxsdk.Jux` (sign,
store, publish through the guarded publishers), and the ``jux`` commands that sign, verify,
delete (``jux sign``, ``jux verify``, ``jux cache clean``, ``jux audit``…).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import getpass
import hashlib
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import JuxError

__all__ = [
    "GENESIS",
    "LogEntry",
    "LogProblem",
    "LogVerification",
    "SigningLog",
    "line_hash",
]

log = logging.getLogger(__name__)

#: ``prev`` of the first line of a log.
GENESIS = "sha256:" + "0" * 64
FORMAT_VERSION = 1
_TAIL_CHUNK = 8192
_MAX_LINE = 64 * 1024
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def line_hash(line: bytes) -> str:
    """``sha256:<hex>`` of one line's bytes (without its newline): the next line's ``prev``."""
    return "sha256:" + hashlib.sha256(line).hexdigest()


@attrs.frozen
class LogEntry:
    """One line of the log, as read back.

    Attributes:
        file: The file holding it.
        number: Its line number in that file (1-based).
        raw: The exact bytes of the line (no newline).
        data: The parsed JSON object (empty when the line is not valid JSON).
    """

    file: Path
    number: int
    raw: bytes
    data: Mapping[str, Any]

    @property
    def seq(self) -> int | None:
        """The line's sequence number, when it has one."""
        value = self.data.get("seq")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def get(self, key: str) -> Any:
        """A field's value, or None."""
        return self.data.get(key)


@attrs.frozen
class LogProblem:
    """Where the chain breaks, and why.

    Attributes:
        file: The file.
        line: Line number in that file (1-based; 0 for a problem with the file itself).
        message: What is wrong, in one line.
    """

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file.name}:{self.line}" if self.line else self.file.name
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"file": str(self.file), "line": self.line, "message": self.message}


@attrs.frozen
class LogVerification:
    """Result of :meth:`SigningLog.verify`.

    Attributes:
        files: The files checked, oldest first.
        lines: Lines checked.
        head: Hash of the newest line (anchor it elsewhere to protect the end of the log), or
            None for an empty log.
        problems: Every break found, in file order.
    """

    files: tuple[Path, ...]
    lines: int
    head: str | None
    problems: tuple[LogProblem, ...]

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"ok": self.ok, "files": [str(f) for f in self.files], "lines": self.lines, "head": self.head,
                "problems": [p.to_dict() for p in self.problems]}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry, no USER variable: record nothing
        return None


class SigningLog:
    """Append to and read the hash-chained signing log.

    Args:
        path: The current log file (rotated files are written next to it).
        include_user: Record the local user name in every line.
        max_bytes: Rotate before a line would take the file past this size, bytes.
        fsync: ``fsync`` every line.

    Appending never raises: a log that cannot be written is reported once as a WARNING log
    record (``juxsdk.signing_log``) and the operation being recorded goes on.
    """

    def __init__(self, path: Path, *, include_user: bool = False, max_bytes: int = 16 * 1024 * 1024,
                 fsync: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.include_user = include_user
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._lock = threading.Lock()
        self._host = socket.gethostname()
        self._user = _user() if include_user else None
        self._tail_cache: tuple[int, int, int, str, int] | None = None  # dev, ino, size -> hash, seq
        self._warned = False

    @classmethod
    def from_config(cls, config: Any) -> SigningLog | None:
        """The log ``[signing_log]`` describes, or None when it is disabled.

        Args:
            config: A :class:`juxsdk.config.JuxConfig` (or anything with a ``signing_log`` section).
        """
        section = getattr(config, "signing_log", None)
        if section is None or not section.enabled:
            return None
        return cls(section.resolved_path(), include_user=section.include_user, max_bytes=section.max_bytes,
                   fsync=section.fsync)

    def __repr__(self) -> str:
        return f"SigningLog({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        """The lock file every writer holds while appending."""
        return self.path.with_name(self.path.name + ".lock")

    # -- writing ------------------------------------------------------------------------------

    def record(self, operation: str, *, canonical_hash: str | None = None, signature: Any = None,
               backend: str | None = None, outcome: str = "ok", detail: str | None = None) -> bool:
        """Append one line.

        Args:
            operation: ``"sign"``, ``"store"``, ``"publish"``, ``"delete"`` or ``"verify"``.
            canonical_hash: The report's canonical hash.
            signature: The report's :class:`~juxsdk.models.SignatureInfo` (its signer and key
                fingerprint are recorded), if known.
            backend: The backend involved (signer, store or publisher name; ``"trust"`` …).
            outcome: ``"ok"``, ``"failed"``, ``"queued"``, ``"duplicate"``…
            detail: A short non-secret detail: an error class, a run id.

        Returns:
            True when the line was written; False when the log could not be written (reported
            once as a warning).
        """
        fields: dict[str, Any] = {"operation": operation, "outcome": outcome}
        if canonical_hash:
            fields["canonical_hash"] = canonical_hash
        if backend:
            fields["backend"] = backend
        if signature is not None:
            fields["signer"] = signature.signer
            fields["key"] = signature.key_fingerprint
        if detail:
            fields["detail"] = detail
        try:
            self.append(fields)
        except JuxError as exc:
            if not self._warned:
                self._warned = True
                log.warning("signing log %s not written: %s", self.path, exc.message,
                            extra={"jux": {"event": "signing_log.failed", "error_class": type(exc).__name__}})
            return False
        return True

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Append a line with ``fields`` (plus ``v``, ``seq``, ``time``, ``host``, ``user``, ``prev``).

        Args:
            fields: JSON-ready values; ``operation`` is required.

        Returns:
            The object written.

        Raises:
            JuxError: the log or its lock cannot be opened, read or written.
        """
        with self._lock:
            try:
                return self._append(dict(fields))
            except OSError as exc:
                raise JuxError(f"cannot write the signing log {self.path}: {exc.strerror or exc}",
                               hint="check the data directory's permissions and free space, or set "
                                    "[signing_log] path") from exc

    def _append(self, fields: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            fd = os.open(self.path, _OPEN_FLAGS, 0o600)
            try:
                prev, seq, size, ends_clean = self._tail(fd)
                line = self._line(fields, seq + 1, prev)
                if size > 0 and size + len(line) + 1 > self.max_bytes:
                    os.close(fd)
                    fd = -1
                    fd, prev = self._rotate(seq, prev)
                    seq += 1
                    size, ends_clean = os.fstat(fd).st_size, True
                    line = self._line(fields, seq + 1, prev)
                data = (b"" if ends_clean else b"\n") + line + b"\n"
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(errno.EIO, f"short write ({written} of {len(data)} bytes)")
                if self.fsync:
                    os.fsync(fd)
                st = os.fstat(fd)
                self._tail_cache = (st.st_dev, st.st_ino, st.st_size, line_hash(line), seq + 1)
                return json.loads(line)  # type: ignore[no-any-return]
            finally:
                if fd >= 0:
                    os.close(fd)
        finally:
            os.close(lock_fd)  # closing the descriptor releases the flock

    def _line(self, fields: Mapping[str, Any], seq: int, prev: str) -> bytes:
        obj = {**fields, "v": FORMAT_VERSION, "seq": seq, "time": _now(), "host": self._host, "prev": prev}
        if self._user is not None:
            obj["user"] = self._user
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _tail(self, fd: int) -> tuple[str, int, int, bool]:
        """``(hash of the last line, its seq, file size, ends with a newline)`` (under the lock)."""
        st = os.fstat(fd)
        if st.st_size == 0:
            return GENESIS, 0, 0, True
        cached = self._tail_cache
        if cached is not None and cached[:3] == (st.st_dev, st.st_ino, st.st_size):
            return cached[3], cached[4], st.st_size, True
        rfd = os.open(self.path, _READ_FLAGS)
        try:
            last = _last_line(rfd, st.st_size)
        finally:
            os.close(rfd)
        clean = last.endswith(b"\n")
        raw = last.rstrip(b"\n")
        return line_hash(raw), _seq_of(raw), st.st_size, clean

    def _rotate(self, last_seq: int, last_hash: str) -> tuple[int, str]:
        """Rename the full log aside and start the new one with a ``rotate`` line; return (fd, its hash)."""
        rotated = self.path.with_name(f"{self.path.stem}.{last_seq:012d}{self.path.suffix or '.jsonl'}")
        if rotated.exists():  # never overwrite an older file: add a suffix instead
            rotated = rotated.with_name(f"{rotated.stem}-{os.getpid()}{rotated.suffix}")
        os.rename(self.path, rotated)
        fd = os.open(self.path, _OPEN_FLAGS | os.O_EXCL, 0o600)
        link = self._line({"operation": "rotate", "outcome": "ok", "previous_file": rotated.name},
                          last_seq + 1, last_hash)
        os.write(fd, link + b"\n")
        if self.fsync:
            os.fsync(fd)
        return fd, line_hash(link)

    # -- reading ------------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The log's files, oldest first: rotated ones (by the seq in their name), then the current one."""
        rotated: list[tuple[int, str, Path]] = []
        stem, suffix = self.path.stem, self.path.suffix or ".jsonl"
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.path.parent):
                if not entry.name.startswith(stem + ".") or entry.name == self.path.name:
                    continue
                rest = entry.name[len(stem):]
                match = re.fullmatch(r"\.(\d{12})(-\d+)?" + re.escape(suffix), rest)
                if match and entry.is_file(follow_symlinks=False):
                    rotated.append((int(match.group(1)), entry.name, Path(entry.path)))
        out = [p for _, _, p in sorted(rotated)]
        if self.path.is_file():
            out.append(self.path)
        return out

    def entries(self) -> Iterator[LogEntry]:
        """Every line of every file, oldest first (lines that are not JSON have empty ``data``).

        Raises:
            JuxError: a file cannot be read.
        """
        for path in self.files():
            yield from _read_entries(path)

    def verify(self, *, head: str | None = None) -> LogVerification:
        """Check the hash chain through every file.

        Reports each line that is not a JSON object, whose ``prev`` is not the hash of the line
        before it (the line before was edited, or lines were removed, inserted or reordered),
        whose ``seq`` does not follow, and each file that does not start with a ``rotate`` line
        naming the file before it. After a break the chain is picked up again, so every break
        is reported.

        Args:
            head: The expected hash of the newest line (anchored earlier); a different head
                means the end of the log was cut or its last line changed.

        Returns:
            A :class:`LogVerification`.

        Raises:
            JuxError: a file cannot be read.
        """
        files = self.files()
        problems: list[LogProblem] = []
        prev_hash = GENESIS
        prev_seq = 0
        prev_file: Path | None = None
        count = 0
        for path in files:
            first = True
            for entry in _read_entries(path):
                count += 1
                data = entry.data
                if not data:
                    problems.append(LogProblem(path, entry.number, "not a JSON object (edited, or a writer "
                                                                   "was interrupted mid-line)"))
                elif data.get("prev") != prev_hash:
                    if prev_file is None and first:
                        what = "the first line of the log does not start the chain (lines before it were removed)"
                    else:
                        before = (f"line {entry.number - 1}" if not first or prev_file is None
                                  else f"the last line of {prev_file.name}")
                        what = (f"prev is not the hash of {before}: {before} was edited, or lines were removed, "
                                "inserted or reordered here")
                    problems.append(LogProblem(path, entry.number, what))
                elif entry.seq is not None and prev_seq and entry.seq != prev_seq + 1:
                    problems.append(LogProblem(path, entry.number, f"seq {entry.seq} does not follow {prev_seq}"))
                if first and prev_file is not None and data.get("operation") != "rotate":
                    problems.append(LogProblem(path, entry.number, f"does not start with a rotate line naming "
                                                                   f"{prev_file.name}"))
                elif first and data.get("operation") == "rotate":
                    named = data.get("previous_file")
                    if prev_file is None:
                        problems.append(LogProblem(path, entry.number, f"rotated file {named} is missing"))
                    elif named != prev_file.name:
                        problems.append(LogProblem(path, entry.number, f"names {named} as the previous file, "
                                                                       f"not {prev_file.name}"))
                first = False
                prev_hash = line_hash(entry.raw)
                prev_seq = entry.seq or prev_seq
            prev_file = path
        last = prev_hash if count else None
        if head is not None and head != last and files:
            problems.append(LogProblem(files[-1], 0, f"the newest line hashes to {last}, not to the anchored head "
                                                     f"{head}: the end of the log was cut or changed"))
        return LogVerification(tuple(files), count, last, tuple(problems))


def _seq_of(raw: bytes) -> int:
    try:
        value = json.loads(raw).get("seq")
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _last_line(fd: int, size: int) -> bytes:
    """The last line of the file (with its newline, when it has one), reading backwards."""
    end = size
    buf = b""
    while end > 0 and len(buf) <= _MAX_LINE:
        start = max(0, end - _TAIL_CHUNK)
        buf = os.pread(fd, end - start, start) + buf
        end = start
        body = buf[:-1] if buf.endswith(b"\n") else buf
        cut = body.rfind(b"\n")
        if cut >= 0:
            return buf[cut + 1:]
    return buf


def _read_entries(path: Path) -> Iterator[LogEntry]:
    try:
        with open(path, "rb") as fh:
            for number, line in enumerate(fh, 1):
                raw = line.rstrip(b"\n")
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = {}
                yield LogEntry(path, number, raw, data if isinstance(data, dict) else {})
    except OSError as exc:
        raise JuxError(f"cannot read the signing log {path}: {exc.strerror or exc}") from exc
