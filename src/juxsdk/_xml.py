"""XML basics shared by every module that reads reports: the hardened parser, namespaces, helpers.

One place for each of them (juxsdk.junit, juxsdk.canonical, juxsdk.xmldsig, juxsdk.merge,
``jux inspect`` and the evidence modules use these):

* :func:`parse_xml` — **the** hardened parser. One parser configuration (:func:`_parser`): no
  DTD is loaded, no entity is substituted, no network is used, and a resolver refuses every
  external resource libxml2 could ask for (external DTD subset, external general or parameter
  entity), so nothing outside the input is ever opened. XInclude is never processed. A document
  with a DOCTYPE is refused; the decision is made on the parsed structure, for every encoding
  libxml2 reads: a first pass stops at the DOCTYPE or at the root element's start tag, whichever
  comes first, so the internal subset (entity declarations, parameter entities) is never
  processed. The document size is capped by ``max_bytes``; the depth by libxml2's own limit
  (256, :data:`~juxsdk.limits.MAX_DEPTH`), and the attributes and namespace declarations per
  element by the limits in :mod:`juxsdk.limits`, checked right after parsing
  (:func:`check_document_limits`), before anything canonicalises the document. Text nodes over
  10 MB are accepted (the document is parsed again with ``huge_tree`` for them).
* :data:`DS_NS`, :data:`DSIG11_NS`, :data:`DS_SIGNATURE` — the XMLDSig namespaces
  (https://www.w3.org/TR/xmldsig-core1/ §1.3) and the Clark name of ``ds:Signature``.
* :func:`local_name` — an element's tag without its namespace.
* :class:`HashSink` — a file-like object that hashes what lxml's C14N writer streams into it.
* :func:`root_signatures_detached` — the root's ``ds:Signature`` children set aside for a block.

Internal: the public names are :func:`juxsdk.junit.parse_xml` (re-exported there) and
:data:`juxsdk.canonical.DS_NS`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree
from lxml.etree import XMLSyntaxError  # a plain name: cosmic-ray cannot mutate a dotted one in a tuple

from .errors import DoctypeForbiddenError, ReportLimitError, ReportParseError
from .limits import (
    DEFAULT_MAX_BYTES,
    MAX_ATTRIBUTES_PER_ELEMENT,
    MAX_DEPTH,
    MAX_NAMESPACE_DECLARATIONS_IN_SCOPE,
)

__all__ = [
    "DSIG11_NS",
    "DS_NS",
    "DS_SIGNATURE",
    "HashSink",
    "check_document_limits",
    "local_name",
    "parse_xml",
    "root_signatures_detached",
]

#: XML Signature namespace (XMLDSig 1.1 §1.3), prefix ``ds``.
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
#: XML Signature 1.1 namespace (``dsig11``: ECKeyValue and friends).
DSIG11_NS = "http://www.w3.org/2009/xmldsig11#"
#: Clark name (``{namespace}local``) of ``ds:Signature``.
DS_SIGNATURE = f"{{{DS_NS}}}Signature"

_PROLOG_CHUNK = 64 * 1024
_DOCTYPE_HINT = "JUnit producers never write a DOCTYPE; remove it"


def local_name(tag: Any) -> str:
    """The local part of an lxml tag (``{ns}testcase`` → ``testcase``); ``""`` for comments and
    processing instructions, whose ``tag`` is not a string."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


class HashSink:
    """File-like sink for lxml's ``write_c14n``: hashes what it is given, keeps nothing.

    Args:
        algorithm: A :func:`hashlib.new` name (``"sha256"``, ``"sha384"``, ``"sha512"``).

    Attributes:
        hash: The running hash object.
    """

    __slots__ = ("hash",)

    def __init__(self, algorithm: str = "sha256") -> None:
        self.hash = hashlib.new(algorithm)

    def write(self, chunk: bytes) -> None:
        """Add ``chunk`` to the hash."""
        self.hash.update(chunk)


class _ExternalResourceRefused(Exception):
    """Raised by :class:`_RefuseExternal` instead of loading anything."""


class _RefuseExternal(etree.Resolver):
    """Refuses every external resource libxml2 asks for (DTD, entity, anything with a URL)."""

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        raise _ExternalResourceRefused(system_url or public_id or "?")


def _parser(target: Any = None, *, huge: bool) -> etree.XMLParser:
    """The one hardened parser configuration (a new parser per call: lxml parsers are not thread-safe).

    ``huge`` lifts libxml2's resource limits (``XML_PARSE_HUGE``: text nodes over 10 MB, depth
    up to 2048); :func:`parse_xml` uses it only for a document the normal limits refuse.
    """
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=huge,
        collect_ids=False,
        remove_comments=False,
        target=target,
    )
    parser.resolvers.add(_RefuseExternal())
    return parser


class _PrologDecided(Exception):
    def __init__(self, doctype: str | None) -> None:
        super().__init__(doctype)
        self.doctype = doctype


class _PrologTarget:
    """Parser target for the first pass: stops at the DOCTYPE or at the root start tag."""

    def doctype(self, name: str | None, pubid: str | None, system: str | None) -> None:
        raise _PrologDecided(name or "?")

    def start(self, tag: str, attrib: Any, nsmap: Any = None) -> None:
        raise _PrologDecided(None)

    def end(self, tag: str) -> None:  # pragma: no cover - never reached
        pass

    def data(self, data: str) -> None:  # pragma: no cover - never reached
        pass

    def comment(self, text: str) -> None:
        pass

    def pi(self, target: str, data: str | None = None) -> None:
        pass

    def close(self) -> None:
        return None


def _prolog_doctype(data: bytes) -> str | bool | None:
    """Parse the prolog only: the DOCTYPE name, None when the root element starts first, or
    False when the incremental parser could not tell (then the full parse decides)."""
    # libxml2's size limits lifted: the pass ends at the DOCTYPE or the root start tag, and a
    # DOCTYPE with an over-long name or a prolog comment over 10 MB is still seen as what it is
    parser = _parser(_PrologTarget(), huge=True)
    try:
        for offset in range(0, len(data), _PROLOG_CHUNK):
            parser.feed(data[offset : offset + _PROLOG_CHUNK])
        parser.close()
    except _PrologDecided as decided:
        return decided.doctype
    except (XMLSyntaxError, _ExternalResourceRefused, ValueError, LookupError):
        return False
    return False


def _doctype_error(source: str | None, what: str) -> DoctypeForbiddenError:
    return DoctypeForbiddenError(
        f"DOCTYPE declarations are not allowed in reports ({what}); they enable XXE and entity "
        "expansion attacks",
        source=source,
        hint=_DOCTYPE_HINT,
    )


def parse_xml(data: bytes, *, source: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse ``data`` with the hardened parser and return the lxml ElementTree.

    Args:
        data: The document bytes (any encoding the XML declaration or a byte order mark names).
        source: File name for error messages.
        max_bytes: Reject documents larger than this many bytes.

    Returns:
        An ``lxml.etree._ElementTree``.

    Raises:
        ReportTooLargeError: more than ``max_bytes`` bytes.
        DoctypeForbiddenError: the document has a DOCTYPE (with or without entity declarations,
            in any encoding, however far into the file) or refers to an external resource.
        ReportLimitError: nested deeper than :data:`~juxsdk.limits.MAX_DEPTH`, or over another
            document limit (:func:`check_document_limits`).
        ReportParseError: empty, or not well-formed.
    """
    from .errors import ReportTooLargeError

    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise ReportTooLargeError(
            f"report is {len(data)} bytes, over the limit of {max_bytes} bytes",
            source=source,
            hint="raise the limit with max_bytes= if this report is genuine",
            cli_hint="the limit guards against hostile input; split a genuine report this large",
        )
    if not data[:4096].strip(b" \t\r\n\xef\xbb\xbf") and not data.strip():
        raise ReportParseError("file is empty", source=source, hint="expected a JUnit XML report")
    doctype = _prolog_doctype(data)
    if isinstance(doctype, str):
        raise _doctype_error(source, f"<!DOCTYPE {doctype} …>")
    tree = _parse_tree(data, source)
    docinfo = tree.docinfo
    # libxml2 makes the internal-subset node for every DOCTYPE, with or without a subset or an
    # external identifier (an external subset is never loaded: load_dtd=False)
    if docinfo.internalDTD is not None:
        raise _doctype_error(source, docinfo.doctype or "a document type definition")
    check_document_limits(tree, data, source=source)
    return tree


#: What libxml2 says when a document passes one of the limits ``XML_PARSE_HUGE`` lifts, other
#: than depth (a text node or attribute value over 10 MB, a start tag over 10 MB, a long name).
_HUGE_ONLY = ("XML_PARSE_HUGE",)


def _parse_tree(data: bytes, source: str | None) -> Any:
    """Parse with libxml2's normal limits (depth at most 256); a document refused only for a
    text node, attribute value or start tag over 10 MB is parsed again with those lifted, and
    its depth checked here instead (the second parse doubles the cost of such rare reports)."""
    huge = False
    while True:
        try:
            tree: Any = etree.ElementTree(etree.fromstring(data, _parser(huge=huge)))
        except _ExternalResourceRefused as exc:
            raise _doctype_error(source, f"it refers to the external resource {str(exc)!r}") from None
        except etree.XMLSyntaxError as exc:
            line, column = exc.position if exc.position else (None, None)
            msg = exc.msg or str(exc)
            # lxml appends ", line L, column C" to the message; we report position ourselves.
            msg = re.sub(r",? line \d+, column \d+$", "", msg).strip()
            if "Excessive depth" in msg:
                raise _depth_error(source, line) from None
            if not huge and any(marker in msg for marker in _HUGE_ONLY):
                huge = True
                continue
            raise ReportParseError(
                f"not well-formed XML: {msg}",
                source=source,
                line=line,
                column=column,
                hint="is this a complete JUnit XML file? check the producer's output",
            ) from exc
        except ValueError as exc:  # e.g. unsupported encoding declarations
            raise ReportParseError(f"cannot parse: {exc}", source=source) from exc
        if huge and etree.XPath("boolean(/*" + "/*" * MAX_DEPTH + ")")(tree):
            raise _depth_error(source, None)
        return tree


def _depth_error(source: str | None, line: int | None) -> ReportLimitError:
    return ReportLimitError(
        f"elements are nested deeper than {MAX_DEPTH} levels",
        source=source,
        line=line,
        hint="JUnit reports are a few levels deep; this document is not a plausible report",
    )


#: Encodings in which every ASCII character is the same single byte as in ASCII, so the bytes
#: ``xmlns`` occur once per namespace declaration at least (libxml2's names for them).
_ASCII_BYTES = re.compile(r"(?i)(utf-?8|us-ascii|ascii|iso-8859-\d+|latin-?1|windows-125\d|cp125\d)")


@contextlib.contextmanager
def root_signatures_detached(root: Any) -> Iterator[int]:
    """Detach the root's ``ds:Signature`` children (the enveloped signature is not part of the
    signed content) for the duration of the block, keeping their tails; yields how many."""
    # (signature, previous sibling, tail): put back after that sibling, in document order, so
    # detaching and re-attaching n signatures costs O(n) (insert-at-index would be quadratic).
    holder = [(child, child.getprevious(), child.tail) for child in root if child.tag == DS_SIGNATURE]
    for sig, _, _ in holder:
        root.remove(sig)
    try:
        yield len(holder)
    finally:
        for sig, anchor, tail in holder:
            if anchor is None:
                root.insert(0, sig)
            else:
                anchor.addnext(sig)
            sig.tail = tail


def check_document_limits(tree: Any, data: bytes, *, source: str | None = None) -> None:
    """Check the document limits of :mod:`juxsdk.limits` on a parsed document.

    Depth is bounded by the parser itself (:func:`parse_xml`). This checks the number of
    attributes of every element and the namespace declarations in scope at every element, the
    two counts that make libxml2's canonicalisation super-linear. The namespace count is proved
    from the bytes when they are in an ASCII-compatible encoding and hold at most
    ``MAX_NAMESPACE_DECLARATIONS_IN_SCOPE`` occurrences of ``xmlns`` (every declaration has
    them); otherwise the tree is walked.

    Args:
        tree: The parsed document (an lxml ``_ElementTree``).
        data: The bytes it was parsed from (for the fast namespace check).
        source: File name for error messages.

    Raises:
        ReportLimitError: an element has more than ``MAX_ATTRIBUTES_PER_ELEMENT`` attributes, or
            more than ``MAX_NAMESPACE_DECLARATIONS_IN_SCOPE`` namespace declarations are in scope.
    """
    root = tree.getroot()
    limit = MAX_ATTRIBUTES_PER_ELEMENT
    encoding = tree.docinfo.encoding or "UTF-8"
    fast_namespaces = (
        _ASCII_BYTES.fullmatch(encoding) is not None
        and data.count(b"xmlns") <= MAX_NAMESPACE_DECLARATIONS_IN_SCOPE
    )
    # The root's ds:Signature children are left to the signature checks (juxsdk.xmldsig), which
    # apply the same limits to them with a verification error.
    with root_signatures_detached(root):
        for el in root.iter():  # one C-driven walk; comments and PIs have no attributes
            if len(el.keys()) > limit:
                raise _limit_error(
                    source, el,
                    f"<{local_name(el.tag)}> has {len(el.keys())} attributes, over the limit of "
                    f"{MAX_ATTRIBUTES_PER_ELEMENT}",
                    "JUnit elements carry a handful of attributes; this document is not a plausible report",
                )
        if fast_namespaces:
            return
        declarations = 0
        for event, _el in etree.iterwalk(root, events=("start-ns", "end-ns")):
            if event == "start-ns":
                declarations += 1
                if declarations > MAX_NAMESPACE_DECLARATIONS_IN_SCOPE:
                    raise ReportLimitError(
                        f"more than {MAX_NAMESPACE_DECLARATIONS_IN_SCOPE} namespace declarations are in scope "
                        "at one element",
                        source=source,
                        hint="JUnit reports declare one or two namespaces; this document is not a plausible report",
                    )
            else:
                declarations -= 1


def _limit_error(source: str | None, el: Any, message: str, hint: str) -> ReportLimitError:
    return ReportLimitError(message, source=source, line=el.sourceline, hint=hint)
