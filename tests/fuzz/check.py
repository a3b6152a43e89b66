"""The promise the fuzz suite enforces: only ``JuxError`` subclasses escape, each a clean message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from juxsdk.errors import EXIT_ERROR, EXIT_USAGE, EXIT_VERIFICATION_FAILED, JuxError

T = TypeVar("T")

#: Exit codes the CLI documents (docs/reference/exit-codes.md).
EXIT_CODES = frozenset({0, 1, 2, 3, 4})


def assert_clean_error(exc: JuxError) -> None:
    """A JuxError as the CLI would show it: a message, a documented exit code, no "internal"."""
    assert exc.message.strip(), f"{type(exc).__name__} without a message"
    assert not exc.message.lower().startswith("internal"), exc.message
    assert exc.exit_code in (EXIT_VERIFICATION_FAILED, EXIT_USAGE, EXIT_ERROR), (type(exc), exc.exit_code)
    str(exc)  # renders (a message built from odd input must not fail to render)


def outcome(call: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T | None, JuxError | None]:
    """Run ``call``: ``(result, None)``, or ``(None, error)`` for a JuxError.

    Any other exception propagates and fails the example: that is the property.
    """
    try:
        return call(*args, **kwargs), None
    except JuxError as exc:
        assert_clean_error(exc)
        return None, exc


def assert_clean_cli(result: Any, *, allowed: frozenset[int] = EXIT_CODES) -> None:
    """A CliRunner result that kept the promise: a documented exit code, no traceback, no
    "internal error", no exception escaping click."""
    output = (result.stdout or "") + (result.stderr or "")
    assert result.exit_code in allowed, (result.exit_code, output[-2000:])
    assert "internal error" not in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code != 0:  # says why: an error line, a usage message, or (--json) an error object
        assert "error:" in result.stderr or result.exit_code == 4 or "usage" in result.stderr.lower() or (
            result.exit_code == 1 and result.stdout
        ) or '"error"' in result.stdout, output[-2000:]
