"""TOML reading with one kind of refusal for every input :mod:`tomllib` cannot read.

:func:`tomllib.loads` refuses bad syntax with ``TOMLDecodeError`` but two other inputs escape
as other exceptions: an integer longer than Python converts (``ValueError``, the
``sys.get_int_max_str_digits()`` limit of 4300 digits, CPython's CVE-2020-10735 guard) and arrays
or inline tables nested deeper than the parser can recurse (``RecursionError``). Every TOML
reader of juxsdk (configuration, evidence policy, ``pyproject.toml`` metadata) goes through
:func:`loads`, so each of them refuses all three the same way.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

__all__ = ["TOMLError", "loads"]

_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


class TOMLError(ValueError):
    """Text that is not TOML juxsdk can read.

    Attributes:
        reason: What is wrong, without the position.
        line: 1-based line of the problem, when the parser said (None otherwise).
        column: 1-based column, with ``line``.
    """

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(reason if line is None else f"{reason} (at line {line}, column {column})")
        self.reason = reason
        self.line = line
        self.column = column


def loads(text: str) -> dict[str, Any]:
    """Parse TOML 1.0 text (https://toml.io/en/v1.0.0) with :func:`tomllib.loads`.

    Args:
        text: The document.

    Returns:
        The parsed table.

    Raises:
        TOMLError: a syntax error (with its line and column; the end of the document counts as
            the last line), an integer of more than ``sys.get_int_max_str_digits()`` digits, or
            nesting deeper than the parser recurses.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if m := _AT.search(message):
            raise TOMLError(message[: m.start()], int(m.group(1)), int(m.group(2))) from None
        if m := _AT_END.search(message):
            lines = text.split("\n")
            raise TOMLError(message[: m.start()], len(lines), len(lines[-1]) + 1) from None
        raise TOMLError(message) from None
    except RecursionError:
        raise TOMLError("arrays or inline tables nested too deeply") from None
    except ValueError as exc:  # int(): more digits than sys.get_int_max_str_digits()
        raise TOMLError(f"a number too long to read ({exc})") from None
