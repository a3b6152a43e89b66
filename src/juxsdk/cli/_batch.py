"""Many reports per command: argument expansion, a progress bar, per-file results and the exit code
(``jux submit``/``sign``/``merge``).

Expansion is :mod:`juxsdk.discovery` (the one place that turns directories and globs into
report paths). Here it is applied per argument so that one bad argument (a pattern that matches
nothing) is reported by name and does not stop the others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import click

from juxsdk.errors import JuxError

from ._common import hint_of

T = TypeVar("T")

#: Show a progress bar (on a terminal) from this many files on.
PROGRESS_MIN_FILES = 5


def needs_expansion(arg: str) -> bool:
    """True for a directory or a glob pattern; False for ``-`` and plain file paths."""
    from juxsdk.discovery import is_pattern

    if arg == "-":
        return False
    return os.path.isdir(arg) or (is_pattern(arg) and not os.path.exists(arg))


def expand_args(args: Sequence[str]) -> tuple[list[str], list[tuple[str, JuxError]]]:
    """Expand directories and globs; keep plain paths and ``-`` as given.

    Plain paths are not checked here, so a missing file is reported by the command like any
    other per-file failure.

    Returns:
        ``(files, errors)``: the file names in order (duplicates removed), and
        ``(argument, error)`` for each directory/glob argument that matched nothing.
    """
    from juxsdk.discovery import expand_report_arg

    files: list[str] = []
    errors: list[tuple[str, JuxError]] = []
    seen: set[str] = set()
    for arg in args:
        if needs_expansion(arg):
            try:
                found = [str(p) for p in expand_report_arg(arg)]
            except JuxError as exc:
                errors.append((arg, exc))
                continue
        else:
            found = [arg]
        for name in found:
            key = name if name == "-" else os.path.normcase(os.path.abspath(name))
            if key not in seen:
                seen.add(key)
                files.append(name)
    return files, errors


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress_wanted(count: int, *, quiet: bool = False) -> bool:
    """True when a progress bar should be drawn: a terminal on stderr and many files."""
    return not quiet and count >= PROGRESS_MIN_FILES and _stderr_is_tty()


@contextmanager
def progress(items: Sequence[T], *, label: str, enabled: bool) -> Iterator[Iterable[T]]:
    """Iterate ``items``, drawing a click progress bar on stderr when ``enabled``."""
    if not enabled:
        yield items
        return

    def show(item: T | None) -> str | None:
        return None if item is None else str(item)

    with click.progressbar(items, label=label, file=sys.stderr, item_show_func=show) as bar:
        yield bar


def exit_code_for(oks: Sequence[bool], failures: Sequence[JuxError]) -> int:
    """0 when all succeeded, 4 (partial) when some did, else the failures' common code (or 3)."""
    from juxsdk.errors import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL

    if all(oks):
        return EXIT_OK
    if any(oks):
        return EXIT_PARTIAL
    codes = {f.exit_code for f in failures}
    return codes.pop() if len(codes) == 1 else EXIT_ERROR


def error_dict(exc: JuxError) -> dict[str, str | None]:
    """The JSON form of a per-file failure: ``{"type", "message", "hint"}``."""
    return {"type": type(exc).__name__, "message": exc.message, "hint": hint_of(exc)}


def named(name: str, exc: JuxError) -> JuxError:
    """``exc`` with its message prefixed by the file ``name`` (unless it names it already)."""
    message = exc.message if name in exc.message else f"{name}: {exc.message}"
    return JuxError(message, hint=hint_of(exc))
