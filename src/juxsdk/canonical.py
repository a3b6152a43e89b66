"""The canonical hash: the identity of a report's content, signed or not.

Recipe (also in docs/reference/canonical-hash.md):

1. Parse the document with the hardened parser (:func:`juxsdk.junit.parse_xml`).
2. Remove every ``ds:Signature`` element (namespace ``http://www.w3.org/2000/09/xmldsig#``),
   keeping the text that follows it, exactly as the enveloped-signature transform does
   (XMLDSig 1.1 §6.6.4).
3. Serialise the whole document with Exclusive XML Canonicalization 1.0 **without comments**
   (https://www.w3.org/TR/xml-exc-c14n/), i.e. the octets an XMLDSig ``Reference URI=""`` with
   the enveloped and exclusive-C14N transforms digests (XMLDSig 1.1 §4.4.3.2).
4. ``sha256:`` + the lowercase hex SHA-256 of those octets.

Because step 3 is the reference digest input, the canonical hash of a report is the same
before and after signing, and equals the hex form of its (SHA-256) ``DigestValue``. It ignores
attribute order, quote style, CDATA vs escaped text, the XML declaration and encoding, line
endings (CRLF), comments, and namespace prefix declarations that are not used.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from typing import Any

from lxml import etree

from . import _telemetry
from ._xml import DS_NS, DS_SIGNATURE, HashSink, parse_xml

log = logging.getLogger(__name__)

__all__ = [
    "DS_NS",
    "c14n_without_signatures",
    "canonical_hash",
    "digest_without_signatures",
    "hash_c14n",
    "remove_signature",
    "remove_signatures",
    "signed_content_of",
]

def remove_signature(sig: Any) -> None:
    """Detach ``sig`` from its parent, keeping its tail text (enveloped-signature transform).

    Args:
        sig: An lxml element with a parent.
    """
    parent = sig.getparent()
    tail = sig.tail
    if tail:
        prev = sig.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(sig)


def remove_signatures(root: Any) -> int:
    """Detach every ``ds:Signature`` in ``root``'s tree, keeping their tails (enveloped transform).

    Equivalent to :func:`remove_signature` on each signature in document order, in time linear
    in the document: the tails of consecutive signatures are joined once per anchor instead of
    being appended one at a time.

    Args:
        root: An lxml element (normally the document root); not itself removed.

    Returns:
        How many signatures were removed (nested ones inside a removed signature not counted).
    """
    removed: list[Any] = []
    # anchor (previous kept sibling, or the parent) of each removed signature; lxml returns the
    # same proxy for a node while one is referenced, so the proxies work as keys
    anchor_of: dict[Any, tuple[Any, Any]] = {}
    tails: dict[tuple[Any, Any], list[str]] = {}
    last: Any = None
    for sig in root.iter(DS_SIGNATURE):
        if sig is root:
            continue
        if last is not None and _inside(sig, last):
            continue  # goes away with the signature that holds it
        prev = sig.getprevious()
        if prev is not None and prev in anchor_of:
            key = anchor_of[prev]
        else:
            key = (prev, None) if prev is not None else (None, sig.getparent())
        anchor_of[sig] = key
        if sig.tail:
            tails.setdefault(key, []).append(sig.tail)
        removed.append(sig)
        last = sig
    for (prev, parent), parts in tails.items():
        if prev is not None:
            prev.tail = (prev.tail or "") + "".join(parts)
        else:
            parent.text = (parent.text or "") + "".join(parts)
    for sig in removed:
        sig.tail = None
        sig.getparent().remove(sig)
    return len(removed)


def _inside(el: Any, ancestor: Any) -> bool:
    return any(a is ancestor for a in el.iterancestors(DS_SIGNATURE))


def exc_c14n(tree: Any) -> bytes:
    """Exclusive C14N 1.0 without comments of a whole document (lxml ElementTree)."""
    return bytes(etree.tostring(tree, method="c14n", exclusive=True, with_comments=False))


def _without_signatures(tree: Any, has_signatures: bool | None = None) -> Any:
    if has_signatures is None:
        has_signatures = any(True for _ in tree.getroot().iter(DS_SIGNATURE))
    if not has_signatures:
        return tree
    clone = copy.deepcopy(tree)
    remove_signatures(clone.getroot())
    return clone


@_telemetry.traced("canonicalise", log, result=lambda digest: {"canonical_hash": "sha256:" + digest.hex()})
def digest_without_signatures(tree: Any, *, has_signatures: bool | None = None) -> bytes:
    """SHA-256 digest of the canonical octets of ``tree`` (signatures removed), streamed.

    Same value as ``hashlib.sha256(c14n_without_signatures(tree)).digest()`` without holding
    the canonical octets in memory (lxml streams its C14N output into the hash).

    Args:
        tree: An lxml ``_ElementTree``; not modified.
        has_signatures: Whether the tree holds a ``ds:Signature``, when the caller knows
            (saves a walk of the tree); None = look.

    Returns:
        The 32-byte digest.
    """
    sink = HashSink()
    _without_signatures(tree, has_signatures).write_c14n(sink, exclusive=True, with_comments=False)
    return sink.hash.digest()


def c14n_without_signatures(tree: Any) -> bytes:
    """Exclusive C14N (no comments) of ``tree`` with every ``ds:Signature`` removed.

    ``tree`` itself is not modified (a copy is made only when a signature is present).

    Args:
        tree: An lxml ``_ElementTree``.

    Returns:
        The canonical octets.
    """
    return exc_c14n(_without_signatures(tree))


def signed_content_of(data: bytes, canonical_hash: str) -> bytes:
    """Recompute the signed content of verified bytes and check it against its hash.

    Args:
        data: Bytes that :func:`juxsdk.verify_report` accepted (one ``ds:Signature``).
        canonical_hash: The canonical hash verification computed.

    Returns:
        The exclusive C14N octets of the document without its signature.

    Raises:
        juxsdk.errors.DigestMismatchError: the octets do not hash to ``canonical_hash``.
    """
    from .errors import DigestMismatchError

    octets = c14n_without_signatures(parse_xml(data, max_bytes=max(len(data), 1)))
    if hash_c14n(octets) != canonical_hash:
        raise DigestMismatchError("the signed content does not match the verified canonical hash")
    return octets


def hash_c14n(c14n: bytes) -> str:
    """``sha256:<hex>`` of canonical octets."""
    return "sha256:" + hashlib.sha256(c14n).hexdigest()


def canonical_hash(report: Any) -> str:
    """Return the canonical hash of a report.

    Args:
        report: Document bytes, or a parsed :class:`~juxsdk.models.Report` /
            :class:`~juxsdk.models.SignedReport` / :class:`~juxsdk.models.VerifiedReport`
            (their stored hash is returned).

    Returns:
        ``"sha256:"`` followed by 64 lowercase hex digits.

    Raises:
        juxsdk.errors.ReportParseError: ``report`` is bytes that are not well-formed XML, or over
            a limit of :mod:`juxsdk.limits` (checked before the document is canonicalised).
    """
    if isinstance(report, bytes | bytearray | memoryview):
        return "sha256:" + digest_without_signatures(parse_xml(bytes(report))).hex()
    value = getattr(report, "canonical_hash", None)
    if isinstance(value, str):
        return value
    raise TypeError(f"expected bytes or a report, got {type(report).__name__}")
