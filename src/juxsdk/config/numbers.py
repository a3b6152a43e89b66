"""Allowed ranges of numeric options: durations in seconds, counts, day counts, sizes.

A :class:`Range` is an ``attrs`` validator. Put one on every numeric field of an ``Options``
class (and of the core configuration)::

    @attrs.frozen
    class Options:
        timeout: float = attrs.field(default=30.0, validator=POSITIVE_SECONDS)
        max_attempts: int = attrs.field(default=4, validator=ATTEMPTS)

The configuration loader finds the range on the field and checks it while it structures the
value, so an out-of-range or non-finite value (``nan``, ``inf``, ``1e300``, ``-1``) written in a
file, a ``JUX_*`` variable or an override is a :class:`~juxsdk.errors.ConfigError` naming the
key path and where the value came from, reported with every other problem of the
configuration. Building the class directly (``Options(timeout=float("nan"))``) runs the same
check as an attrs validator (:class:`OutOfRangeError`, a ``ConfigError`` and a ``ValueError``, naming
the field). The CLI's number flags use
the same ranges (a click usage error, exit code 2).

Independently of any range, the loader refuses non-finite floats (TOML's ``nan``/``inf``) and
integers outside the signed 64-bit range of TOML 1.0 (https://toml.io/en/v1.0.0#integer)
everywhere.

This module imports nothing but :mod:`math`: the CLI uses it while its commands are defined.
The ranges are documented in ``docs/reference/configuration.md`` (section "Numbers").
"""

from __future__ import annotations

import math
from typing import Any, Final

from juxsdk.errors import ConfigError

__all__ = [
    "ATTEMPTS",
    "BYTES",
    "COUNT",
    "DAYS",
    "MAX_DAYS",
    "MAX_SECONDS",
    "POSITIVE_SECONDS",
    "SECONDS",
    "OutOfRangeError",
    "Range",
    "range_of",
]


def _num(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}".replace(",", "_") if abs(value) >= 100_000 else f"{value:g}"


class OutOfRangeError(ConfigError, ValueError):
    """A numeric option is non-finite or outside its :class:`Range`.

    Both a :class:`~juxsdk.errors.ConfigError` (exit code 2) and a :class:`ValueError` (what
    ``attrs`` validators conventionally raise), so code catching either sees it.
    """


class Range:
    """An interval of allowed values for a numeric option, usable as an ``attrs`` validator.

    Every value must be a finite ``int`` or ``float`` (never a ``bool``) with
    ``low <= value <= high`` (``low < value`` when ``low_open``). ``None`` is accepted, so the
    same range serves an optional field (``float | None``): "not set".

    Args:
        low: Smallest allowed value (excluded when ``low_open``).
        high: Largest allowed value (included).
        unit: Unit named in messages and documentation (``"seconds"``, ``"days"``, ``"bytes"``),
            or ``""``.
        low_open: ``low`` itself is not allowed (``> 0`` rather than ``>= 0``).

    Raises:
        ValueError: ``low``/``high`` are not finite or ``low > high``.
    """

    __slots__ = ("high", "low", "low_open", "unit")

    def __init__(self, low: float, high: float, *, unit: str = "", low_open: bool = False) -> None:
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValueError(f"invalid range {low!r}..{high!r}")
        self.low = low
        self.high = high
        self.unit = unit
        self.low_open = low_open

    def problem(self, value: object) -> str | None:
        """Say what is wrong with ``value``, or return ``None`` when it is allowed.

        Args:
            value: The value to check.

        Returns:
            A short phrase such as ``"out of range: expected a number between 1 and 1000"``
            (it never repeats the value), or ``None``.
        """
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number {self.describe()}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"not a finite number (nan or infinity); expected a number {self.describe()}"
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or value > self.high:
            return f"out of range: expected a number {self.describe()}"
        return None

    def describe(self) -> str:
        """The range in words, e.g. ``"greater than 0 and at most 604_800 seconds"``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.low_open:
            return f"greater than {_num(self.low)} and at most {_num(self.high)}{unit}"
        return f"between {_num(self.low)} and {_num(self.high)}{unit}"

    def contains(self, value: object) -> bool:
        """Whether ``value`` is allowed (a finite number in the range, or ``None``)."""
        return self.problem(value) is None

    def __call__(self, instance: Any, attribute: Any, value: Any) -> None:
        """The ``attrs`` validator protocol.

        Raises:
            OutOfRangeError: ``value`` is not allowed (a ``ConfigError`` and a ``ValueError``);
                the message names the field.
        """
        problem = self.problem(value)
        if problem is not None:
            raise OutOfRangeError(f"{getattr(attribute, 'name', 'value')}: {problem}")

    def __repr__(self) -> str:
        extra = f", unit={self.unit!r}" if self.unit else ""
        extra += ", low_open=True" if self.low_open else ""
        return f"Range({self.low!r}, {self.high!r}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Range):
            return NotImplemented
        return (self.low, self.high, self.unit, self.low_open) == (other.low, other.high, other.unit, other.low_open)

    def __hash__(self) -> int:
        return hash((self.low, self.high, self.unit, self.low_open))


def range_of(validator: object) -> Range | None:
    """The :class:`Range` among an attrs field's validators, or ``None``.

    Finds it alone, inside ``attrs.validators.and_(...)`` (or a list of validators) and inside
    ``attrs.validators.optional(...)``.

    Args:
        validator: An attrs field's ``validator`` attribute.
    """
    if isinstance(validator, Range):
        return validator
    for inner in (*getattr(validator, "_validators", ()), getattr(validator, "validator", None)):
        if inner is not None and inner is not validator:
            found = range_of(inner)
            if found is not None:
                return found
    return None


#: Longest duration any option may ask for: one week, in seconds.
MAX_SECONDS: Final = 7 * 24 * 3600
#: Largest day count: 100 years, so that "now ± days" always stays inside the calendar.
MAX_DAYS: Final = 36_500

#: A duration that may be zero (a backoff, a cap on a server-requested wait): 0 … 604_800 s.
SECONDS: Final = Range(0, MAX_SECONDS, unit="seconds")
#: A timeout or deadline: more than 0 and at most 604_800 s (one week).
POSITIVE_SECONDS: Final = Range(0, MAX_SECONDS, unit="seconds", low_open=True)
#: Attempts at an operation, the first one included: 1 … 1000.
ATTEMPTS: Final = Range(1, 1000)
#: A count of things that may be zero (entries, workers…): 0 … 1_000_000.
COUNT: Final = Range(0, 1_000_000)
#: A number of days: 0 … 36_500 (100 years).
DAYS: Final = Range(0, MAX_DAYS, unit="days")
#: A size in bytes: 0 … 2**40 (1 TiB).
BYTES: Final = Range(0, 2**40, unit="bytes")
