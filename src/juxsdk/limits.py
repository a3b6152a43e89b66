"""The limits juxsdk applies to the reports it reads, and the one bounded reader.

Every number that bounds the work done on an untrusted report lives here, so that the code, the
tests and docs/reference/limits.md name the same values. The limits exist because the parts of
XML processing that are not linear in the input (libxml2's canonicalisation sorts attributes and
namespace declarations per element and walks every ancestor of every element; signature checks
decode whatever a ``ds:Signature`` holds) would let a small hostile report burn minutes of CPU.
With them, every input up to :data:`DEFAULT_MAX_BYTES` costs time roughly linear in its size.

Each limit is checked *before* the step it protects: the document limits before the canonical
hash is computed (parsing, signing) and before the document is canonicalised (verification); the
signature limits before ``SignedInfo`` is canonicalised, before the trust decision and before any
public-key operation. The reports juxsdk and the common JUnit producers write stay far below all
of them (depth under 10, fewer than 20 attributes per element, one or two namespace
declarations).
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import IO

from .errors import ReportError, ReportTooLargeError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_ATTRIBUTES_PER_ELEMENT",
    "MAX_BASE64_CHARS",
    "MAX_CERTIFICATES",
    "MAX_DEPTH",
    "MAX_NAMESPACE_DECLARATIONS_IN_SCOPE",
    "MAX_RSA_BITS",
    "MAX_SIGNATURE_ELEMENTS",
    "MIN_RSA_BITS",
    "UNSAFE_MIN_RSA_BITS",
    "read_bounded",
]

#: Largest report accepted, in bytes (256 MiB). Raise it with ``max_bytes=`` (library).
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

# --- the document ------------------------------------------------------------------------------

#: Deepest element nesting (the root element is depth 1): libxml2's own limit without
#: ``XML_PARSE_HUGE``, enforced by the parser. libxml2's C14N and lxml's tree walks cost time in
#: proportion to depth for every element, so depth is bounded like the other counts.
MAX_DEPTH = 256

#: Most attributes on one element (namespace declarations not counted). C14N sorts each element's
#: attributes by insertion into a list: quadratic in their number.
MAX_ATTRIBUTES_PER_ELEMENT = 64

#: Most namespace declarations in scope at any element, counting every declaration on the element
#: and its ancestors (a prefix declared again further down counts again). C14N searches them for
#: every element and sorts the ones it renders.
MAX_NAMESPACE_DECLARATIONS_IN_SCOPE = 64

# --- the signature -----------------------------------------------------------------------------

#: Most elements inside ``ds:SignedInfo`` and ``ds:KeyInfo`` together (juxsdk writes 9 to 12 plus
#: one per certificate).
MAX_SIGNATURE_ELEMENTS = 64

#: Most ``ds:X509Certificate`` elements in ``ds:KeyInfo`` (the signing certificate and its chain).
MAX_CERTIFICATES = 16

#: Longest base64 text in one signature field, in characters without whitespace (a 16 KiB DER
#: certificate takes about 22 000).
MAX_BASE64_CHARS = 65536

#: Smallest RSA modulus accepted for signing and verification, in bits.
MIN_RSA_BITS = 2048

#: Smallest RSA modulus accepted with the explicitly unsafe option (``unsafe_allow_weak_keys``).
UNSAFE_MIN_RSA_BITS = 1024

#: Largest RSA modulus accepted, in bits (the largest OpenSSL verifies).
MAX_RSA_BITS = 16384

_CHUNK = 1 << 20


def read_bounded(source: str | os.PathLike[str] | IO[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES,
                 name: str | None = None) -> bytes:
    """Read a whole report from a file path or a binary stream, refusing it past ``max_bytes``.

    A regular file whose size is over the limit is refused before anything is read; anything
    else (a pipe, stdin, a FIFO, a file that grows) is read in chunks and refused as soon as it
    passes the limit, so memory never holds more than ``max_bytes`` + 1 MiB of a refused input.

    Args:
        source: A path, or a binary stream (``sys.stdin.buffer``); a stream is not closed.
        max_bytes: Largest accepted size, in bytes.
        name: File name for messages (default: the path, or ``"<stream>"``).

    Returns:
        The bytes, exactly as read.

    Raises:
        ReportTooLargeError: more than ``max_bytes`` bytes.
        ReportError: the path does not exist, is a directory or cannot be read.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        label = name or str(source)
        try:
            with open(path, "rb") as fh:
                info = os.fstat(fh.fileno())
                if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                    raise _too_large(label, max_bytes, info.st_size)
                return _read_stream(fh, max_bytes, label)
        except FileNotFoundError:
            raise ReportError(f"{label}: no such file", hint="check the path") from None
        except IsADirectoryError:
            raise ReportError(f"{label}: is a directory", hint="give a report file, not a directory") from None
        except PermissionError:
            raise ReportError(f"{label}: permission denied", hint="check the file permissions") from None
        except OSError as exc:
            raise ReportError(f"{label}: cannot read: {exc.strerror or exc}") from exc
    return _read_stream(source, max_bytes, name or "<stream>")


def _read_stream(stream: IO[bytes], max_bytes: int, label: str) -> bytes:
    buffer = io.BytesIO()
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            return buffer.getvalue()
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(label, max_bytes, None)
        buffer.write(chunk)


def _too_large(label: str, max_bytes: int, size: int | None) -> ReportTooLargeError:
    what = f"{size} bytes" if size is not None else "refused while reading"
    return ReportTooLargeError(
        f"report is over the limit of {max_bytes} bytes ({what})",
        source=label,
        hint="raise the limit with max_bytes= if this report is genuine",
        cli_hint="the limit guards against hostile input; split a genuine report this large",
    )
