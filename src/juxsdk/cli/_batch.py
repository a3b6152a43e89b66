"""Many reports per command: argument expansion and a progress bar (``jux submit``/``sign``/``merge``).

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


def _error_dict(exc: JuxError) -> dict[str, str | None]:
    return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}


def _named(name: str, exc: JuxError) -> JuxError:
    message = exc.message if name in exc.message else f"{name}: {exc.message}"
    return JuxError(message, hint=exc.hint)


def sign_many(
    args: Sequence[str],
    *,
    output: str,
    force: bool,
    overrides: dict[str, object],
    as_json: bool,
) -> int:
    """``jux sign`` with several files, directories or globs: one signed file per report in OUT.

    Each report is written to ``OUT/<its path relative to the inputs' common directory>``; a
    failing report is reported by name and does not stop the others.

    Returns:
        The exit code (see :func:`exit_code_for`).
    """
    from pathlib import Path

    import juxsdk
    from juxsdk.limits import read_bounded

    from ._common import echo_json, journal, render_error, write_output
    from .sign_cmd import with_configured_signer

    if output == "-":
        raise click.UsageError("signing several reports: give an output directory with -o DIR")
    names, bad = expand_args(args)
    if "-" in names:
        raise click.UsageError("'-' (stdin) cannot be combined with other inputs")
    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(f"-o {output}: not a directory (several reports are signed into a directory)")
    entries: list[dict[str, object]] = []
    failures: list[JuxError] = []
    oks: list[bool] = []
    for arg, exc in bad:
        failures.append(exc)
        oks.append(False)
        entries.append({"file": arg, "ok": False, "error": _error_dict(exc)})
    base = os.path.commonpath([os.path.dirname(os.path.abspath(n)) for n in names]) if names else "."
    bar = progress_wanted(len(names), quiet=as_json)

    def run(signer: object) -> None:
        with progress(names, label="signing", enabled=bar) as items:
            for name in items:
                target = out_dir / os.path.relpath(os.path.abspath(name), base)
                try:
                    if os.path.abspath(target) == os.path.abspath(name):
                        raise JuxError(
                            f"{name}: signing into {output} would overwrite the input",
                            hint="choose another output directory with -o DIR",
                        )
                    data = read_bounded(name)
                    signed = juxsdk.sign_report(data, signer, replace=force, source=name)  # type: ignore[arg-type]
                    journal("sign", canonical_hash=signed.canonical_hash, signature=signed.signature,
                            backend=getattr(signer, "name", None))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_output(str(target), signed.data)
                except OSError as exc:
                    err = JuxError(f"{name}: cannot read: {exc.strerror or exc}")
                    failures.append(err)
                    oks.append(False)
                    entries.append({"file": name, "ok": False, "error": _error_dict(err)})
                    continue
                except JuxError as exc:
                    failures.append(exc)
                    oks.append(False)
                    entries.append({"file": name, "ok": False, "error": _error_dict(exc)})
                    continue
                oks.append(True)
                entries.append(
                    {
                        "file": name,
                        "ok": True,
                        "output": str(target),
                        "canonical_hash": signed.canonical_hash,
                        "signature": signed.signature.to_dict(),
                    }
                )

    if names:
        with_configured_signer(dict(overrides), reading_stdin=False, action=run)
    if as_json:
        echo_json(entries)
    else:
        for entry in entries:
            if entry["ok"]:
                click.echo(f"OK   {entry['file']} -> {entry['output']}")
            else:
                err = entry["error"]
                assert isinstance(err, dict)
                render_error(_named(str(entry["file"]), JuxError(str(err["message"]), hint=err["hint"])))
        done = sum(oks)
        click.echo(f"signed {done} of {len(oks)} reports into {output}", err=True)
    return exit_code_for(oks, failures)
