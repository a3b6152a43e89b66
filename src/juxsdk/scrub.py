"""The scrubbing boundary: secrets masked before anything reaches a terminal, a log or a file.

One mechanism for every place juxsdk shows or keeps text it did not write itself:

* the ``http`` publisher scrubs every string of a server's answer with a :class:`Scrubber`
  built for its API token (``juxsdk_backends._http_answer`` re-exports it);
* the CLI's log handlers (``--log-format json|text``) pass every record through
  :func:`process_scrubber`, a :class:`Scrubber` over every secret value this process has
  resolved (:meth:`juxsdk.config.secret.Secret.get` registers each one with
  :func:`register_secret`), so a value that slipped into a message is masked there too.

This module imports only the standard library and attrs-free code: it is cheap to import.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "Scrubber", "process_scrubber", "register_secret"]

MASK = "****"

# C0/C1 controls, DEL and the bidirectional overrides that can disguise text on a terminal
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MIN_ENCODED = 8  # shorter encodings of a secret are not searched for (they would mask noise)
_MIN_SECRET = 4  # shorter resolved values are not registered process-wide (they would mask noise)


def _b64_cores(secret: bytes) -> set[str]:
    """Base64 substrings that appear whenever ``secret`` is base64-encoded inside other bytes.

    Base64 maps 3 bytes to 4 characters, so the encoding of a secret embedded at byte offset
    ``k`` (mod 3) has a middle part that depends only on the secret: characters
    ``ceil(8k/6)`` to ``floor(8(k+n)/6)`` of ``b64(k zero bytes + secret)``.
    """
    cores: set[str] = set()
    n = len(secret)
    for k in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * k + secret).decode("ascii")
            core = text[-(-8 * k // 6): (8 * (k + n)) // 6]
            if len(core) >= _MIN_ENCODED:
                cores.add(core)
    return cores


class Scrubber:
    """The scrubbing boundary: masks secrets in text and JSON values.

    It replaces, with ``****``, each secret:

    * as is;
    * percent-encoded (``quote`` and ``quote_plus``, either case of hex digits);
    * as a JSON string escapes it;
    * base64-encoded (standard and URL-safe alphabets) on its own or inside a longer
      encoded value (e.g. ``base64("Bearer <token>")``), at any alignment.

    Encodings shorter than 8 characters are not searched for. It does not detect a secret that
    was otherwise transformed (case-changed, cut, hashed, encrypted). It also makes every
    string safe to print on one line: control characters, DEL and bidirectional overrides
    become U+FFFD, and a string is cut at ``max_text`` characters. JSON values are bounded to
    ``max_depth`` levels and ``max_items`` entries per container.

    Args:
        secret: The secret, or several (None: nothing to mask; strings are still made printable).
        max_text: Longest string kept, characters.
        max_items: Most entries kept per JSON object or array.
        max_depth: Deepest JSON nesting kept (deeper values become ``"…"``).
    """

    def __init__(self, secret: str | Iterable[str] | None, *, max_text: int = 1000, max_items: int = 50,
                 max_depth: int = 8) -> None:
        self.max_text = max_text
        self.max_items = max_items
        self.max_depth = max_depth
        exact: set[str] = set()
        folded: set[str] = set()
        values = [secret] if isinstance(secret, str) else list(secret or ())
        for value in values:
            if not value:
                continue
            exact.add(value)
            exact.add(json.dumps(value)[1:-1])
            exact.add(json.dumps(value, ensure_ascii=False)[1:-1])
            for quoted in (urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe=""),
                           urllib.parse.quote(value)):
                if quoted != value:
                    folded.add(quoted)
            exact |= _b64_cores(value.encode("utf-8"))
        self._exact = _alternation(exact, 0)
        self._folded = _alternation(folded, re.IGNORECASE)

    def mask(self, value: str) -> str:
        """Return ``value`` with every form of the secrets masked (nothing else changed)."""
        if self._exact is not None:
            value = self._exact.sub(MASK, value)
        if self._folded is not None:
            value = self._folded.sub(MASK, value)
        return value

    def text(self, value: object) -> str:
        """Return ``value`` as one printable line with every form of the secrets masked."""
        s = self.mask(value if isinstance(value, str) else str(value))
        s = _UNSAFE_CHARS.sub("\ufffd", s)
        if len(s) > self.max_text:
            s = s[: self.max_text] + "…"
        return s

    def json(self, value: object, _depth: int = 0) -> Any:
        """Return a bounded copy of a parsed JSON value with every key and string scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            shown = self.text(value)
            if shown != str(value) or (isinstance(value, float) and not math.isfinite(value)):
                return shown  # a number that spells the secret, or NaN/Infinity
            return value
        if _depth >= self.max_depth:
            return "…"
        if isinstance(value, Mapping):
            return {self.text(k): self.json(v, _depth + 1)
                    for k, v in list(value.items())[: self.max_items]}
        if isinstance(value, (list, tuple)):
            return [self.json(v, _depth + 1) for v in list(value)[: self.max_items]]
        return self.text(value)


def _alternation(needles: set[str], flags: int) -> re.Pattern[str] | None:
    if not needles:
        return None
    return re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)), flags)


# --- every secret this process resolved --------------------------------------------------------

_lock = threading.Lock()
_resolved: set[str] = set()
_cached: Scrubber | None = None


def register_secret(value: str) -> None:
    """Remember a secret value this process resolved, so :func:`process_scrubber` masks it.

    Called by :meth:`juxsdk.config.secret.Secret.get`. Values shorter than 4 characters are not
    remembered (masking them would garble ordinary text).

    Args:
        value: The resolved secret.
    """
    global _cached
    if len(value) < _MIN_SECRET or value in _resolved:
        return
    with _lock:
        _resolved.add(value)
        _cached = None


def process_scrubber() -> Scrubber:
    """A :class:`Scrubber` over every secret resolved in this process so far (rebuilt when one is added)."""
    global _cached
    scrubber = _cached
    if scrubber is None:
        with _lock:
            scrubber = _cached = Scrubber(sorted(_resolved), max_text=16384)
    return scrubber
