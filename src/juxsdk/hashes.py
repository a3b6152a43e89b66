"""Canonical hash strings: validation, display and the prefixes users type.

A canonical hash is ``sha256:`` followed by 64 lowercase hex digits (see
:func:`juxsdk.canonical_hash` for how it is computed). Stores use the hex digits in file names
and object keys, the outbox in its rows, and the CLI accepts any unambiguous prefix of them.
The public names are re-exported by :mod:`juxsdk.models` (what backends import).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import ReportNotFoundError, StoreError

__all__ = ["HASH_RE", "canonical_hex", "hash_prefix_digits", "resolve_hash_prefix", "shown"]


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (for error messages about untrusted input)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: ``sha256:`` followed by 64 lowercase hex digits (the hex digits are group 1).
HASH_RE = re.compile(r"sha256:([0-9a-f]{64})")


def canonical_hex(canonical_hash: object) -> str:
    """Validate a canonical hash and return its 64 hex digits.

    Stores use the hex digits in file names and object keys, so anything else (path
    separators, ``..``, upper case) is refused here.

    Args:
        canonical_hash: ``"sha256:"`` followed by 64 lowercase hex digits.

    Returns:
        The hex digits.

    Raises:
        juxsdk.errors.StoreError: the value is not a canonical hash.
    """
    match = HASH_RE.fullmatch(canonical_hash) if isinstance(canonical_hash, str) else None
    if match is None:
        shown = repr(canonical_hash)[:80]
        raise StoreError(
            f"invalid canonical hash {shown}", hint="expected 'sha256:' followed by 64 lowercase hex digits"
        )
    return match.group(1)


_PREFIX_RE = re.compile(r"[0-9a-f]{1,64}")


def hash_prefix_digits(prefix: object) -> str:
    """Normalise a canonical-hash prefix as users type it (``jux cache show 3FA9``).

    Args:
        prefix: Leading hex digits of a canonical hash, with or without ``sha256:``, any case.

    Returns:
        The lowercase hex digits (1 to 64), for a store to narrow its search.

    Raises:
        juxsdk.errors.StoreError: not hex digits.
    """
    text = prefix.strip().lower().removeprefix("sha256:") if isinstance(prefix, str) else ""
    if not _PREFIX_RE.fullmatch(text):
        raise StoreError(
            f"invalid hash prefix {shown(prefix)}",
            hint="give leading hex digits of a canonical hash, e.g. 'sha256:3fa9' or '3fa9'",
        )
    return text


def resolve_hash_prefix(prefix: object, hashes: Iterable[str], *, where: str) -> str:
    """Return the one canonical hash among ``hashes`` that starts with ``prefix``.

    Args:
        prefix: As for :func:`hash_prefix_digits`.
        hashes: Candidate ``sha256:<hex>`` hashes (the stored reports, or a superset).
        where: The store, for the not-found message (e.g. ``"the filesystem store at /x"``).

    Returns:
        The full ``sha256:<hex>`` hash.

    Raises:
        juxsdk.errors.ReportNotFoundError: none matches.
        juxsdk.errors.StoreError: the prefix is not hex, or several match (the message lists
            up to five).
    """
    text = hash_prefix_digits(prefix)
    matches = sorted({h for h in hashes if h.removeprefix("sha256:").startswith(text)})
    if not matches:
        raise ReportNotFoundError(
            f"no report matching {prefix!r} in {where}", hint="`jux cache list` shows the stored reports"
        )
    if len(matches) > 1:
        width = min(64, max(16, len(text) + 8))
        shown = ", ".join(f"sha256:{h.removeprefix('sha256:')[:width]}" for h in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise StoreError(
            f"hash prefix {prefix!r} is ambiguous: {len(matches)} reports match ({shown}{more})",
            hint="give more hex digits",
        )
    return matches[0]
