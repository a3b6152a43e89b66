"""Find report files: expand files, directories and glob patterns into report paths.

This is the single expansion function used by ``jux submit``, ``jux sign`` and ``jux merge``
(and available to harness authors)::

    from juxsdk.discovery import find_reports

    paths = find_reports(["target/surefire-reports", "build/test-results/**/*.xml"])

Rules, per argument, in the order given (duplicates removed, first occurrence kept):

* an existing **file** is taken as is, whatever its extension;
* an existing **directory** is searched recursively: when it holds Maven Surefire / Failsafe /
  JUnit 5 console launcher output (files named ``TEST-*.xml``), only those are taken (so
  ``failsafe-summary.xml`` and ``testng-results.xml`` beside them are left out); otherwise every
  ``*.xml`` file below it. Hidden files and directories (name starting with ``.``) are skipped;
* anything containing ``*``, ``?`` or ``[`` is a **glob** (:func:`glob.glob` with
  ``recursive=True``, so ``**`` matches any number of directories); matching directories are
  expanded as above;
* ``-`` (standard input) is passed through as ``Path("-")``.

Results are sorted within each argument (so runs are reproducible) and keep the spelling of
the argument (relative arguments give relative paths).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import ReportError

__all__ = ["SUREFIRE_PATTERN", "expand_report_arg", "find_reports", "is_pattern"]

#: File name pattern of Maven Surefire/Failsafe and JUnit console launcher reports.
SUREFIRE_PATTERN = "TEST-*.xml"

_GLOB_CHARS = frozenset("*?[")


def is_pattern(arg: str | os.PathLike[str]) -> bool:
    """True when ``arg`` contains glob characters (``*``, ``?`` or ``[``)."""
    return any(ch in _GLOB_CHARS for ch in os.fspath(arg))


def _visible(path: Path, base: Path) -> bool:
    try:
        parts = path.relative_to(base).parts
    except ValueError:  # pragma: no cover - rglob results are always below base
        parts = path.parts
    return not any(part.startswith(".") for part in parts)


def _files_below(base: Path, pattern: str) -> list[Path]:
    return sorted(p for p in base.rglob(pattern) if p.is_file() and _visible(p, base))


def _expand_directory(directory: Path, label: str) -> list[Path]:
    found = _files_below(directory, SUREFIRE_PATTERN) or _files_below(directory, "*.xml")
    if not found:
        raise ReportError(
            f"{label}: directory contains no *.xml reports",
            hint="check that the test run wrote its JUnit XML there (e.g. target/surefire-reports)",
        )
    return found


def expand_report_arg(arg: str | os.PathLike[str]) -> list[Path]:
    """Expand one command-line argument into report paths (see the module docstring).

    Args:
        arg: A file, a directory, a glob pattern or ``-``.

    Returns:
        The report paths, sorted (``[Path(arg)]`` for a file or ``-``).

    Raises:
        ReportError: the file or directory does not exist, a directory holds no ``*.xml``
            file, or a glob pattern matches nothing (the message names the argument).
    """
    text = os.fspath(arg)
    if text == "-":
        return [Path("-")]
    path = Path(text)
    if is_pattern(text) and not path.exists():
        matches = sorted(glob.glob(text, recursive=True))
        out: list[Path] = []
        for match in matches:
            candidate = Path(match)
            if candidate.is_dir():
                out.extend(_files_below(candidate, SUREFIRE_PATTERN) or _files_below(candidate, "*.xml"))
            elif candidate.is_file():
                out.append(candidate)
        if not out:
            raise ReportError(
                f"no report matches {text!r}",
                hint="check the pattern and the current directory; quote it so the shell passes it "
                "unexpanded, and use ** to match subdirectories (e.g. 'target/**/TEST-*.xml')",
            )
        return out
    if path.is_dir():
        return _expand_directory(path, text)
    if path.is_file():
        return [path]
    if path.exists():
        raise ReportError(f"{text}: not a regular file or directory", hint="give a JUnit XML file")
    raise ReportError(f"{text}: no such file or directory", hint="check the path")


def _dedupe(paths: Iterable[Path]) -> list[Path]:
    seen: set[str] = set()
    out: list[Path] = []
    for path in paths:
        key = "-" if str(path) == "-" else os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def find_reports(args: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand files, directories and globs into a de-duplicated list of report paths.

    Args:
        args: Files, directories, glob patterns (``**`` allowed) or ``-``.

    Returns:
        Report paths in argument order, each argument's results sorted, duplicates removed.

    Raises:
        ReportError: no argument was given, or one argument matches nothing (see
            :func:`expand_report_arg`); the message names that argument.
    """
    if isinstance(args, str | os.PathLike):
        args = [args]
    if not args:
        raise ReportError("no report files given", hint="name files, directories or glob patterns")
    found: list[Path] = []
    for arg in args:
        found.extend(expand_report_arg(arg))
    return _dedupe(found)
