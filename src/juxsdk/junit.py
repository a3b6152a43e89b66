"""Hardened JUnit XML parsing, summaries and properties.

Every JUnit dialect in the wild is accepted: a ``<testsuites>`` or bare ``<testsuite>`` root,
nested suites (each testcase counted once), ``<testcase>`` directly under ``<testsuites>`` (node's
test runner), and namespaced documents. There is no authoritative JUnit schema; the de-facto
format is Ant's ``junit`` task output as extended by Maven Surefire
(https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report.xsd).

Parsing is hardened in one place, :func:`parse_xml`, with one parser configuration
(:func:`_parser`): no DTD is loaded, no entity is substituted, no network is used, and a
resolver refuses every external resource libxml2 could ask for (external DTD subset, external
general or parameter entity), so nothing outside the input is ever opened. XInclude is never
processed. A document with a DOCTYPE is refused; the decision is made on the parsed structure,
for every encoding libxml2 reads: a first pass stops at the DOCTYPE or at the root element's
start tag, whichever comes first, so the internal subset (entity declarations, parameter
entities) is never processed. The document size is capped by ``max_bytes``; the depth by
libxml2's own limit (256, :data:`~juxsdk.limits.MAX_DEPTH`), and the attributes and namespace
declarations per element by the limits in :mod:`juxsdk.limits`, checked right after parsing
(:func:`check_document_limits`), before anything canonicalises the document. Text nodes over
10 MB are accepted (the document is parsed again with ``huge_tree`` for them).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from lxml import etree

from . import _telemetry
from .canonical import DS_NS, digest_without_signatures
from .errors import AlreadySignedError, DoctypeForbiddenError, ReportError, ReportLimitError, ReportParseError
from .limits import (
    DEFAULT_MAX_BYTES,
    MAX_ATTRIBUTES_PER_ELEMENT,
    MAX_DEPTH,
    MAX_NAMESPACE_DECLARATIONS_IN_SCOPE,
)
from .models import Report, ReportSummary

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "add_properties",
    "parse_report",
    "parse_xml",
    "properties_of",
    "scan",
    "summarize",
]

_ROOT_NAMES = ("testsuites", "testsuite")
_DS_SIGNATURE = f"{{{DS_NS}}}Signature"
_PROLOG_CHUNK = 64 * 1024
_DOCTYPE_HINT = "JUnit producers never write a DOCTYPE; remove it"


class _ExternalResourceRefused(Exception):
    """Raised by :class:`_RefuseExternal` instead of loading anything."""


class _RefuseExternal(etree.Resolver):
    """Refuses every external resource libxml2 asks for (DTD, entity, anything with a URL)."""

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        raise _ExternalResourceRefused(system_url or public_id or "?")


def _parser(target: Any = None, *, huge: bool = False) -> etree.XMLParser:
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
    parser = _parser(_PrologTarget())
    try:
        for offset in range(0, len(data), _PROLOG_CHUNK):
            parser.feed(data[offset : offset + _PROLOG_CHUNK])
        parser.close()
    except _PrologDecided as decided:
        return decided.doctype
    except (etree.XMLSyntaxError, _ExternalResourceRefused, ValueError, LookupError):
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
            hint="raise the limit with max_bytes= (library) if this report is genuine",
        )
    if not data[:4096].strip(b" \t\r\n\xef\xbb\xbf") and not data.strip():
        raise ReportParseError("file is empty", source=source, hint="expected a JUnit XML report")
    doctype = _prolog_doctype(data)
    if isinstance(doctype, str):
        raise _doctype_error(source, f"<!DOCTYPE {doctype} …>")
    tree = _parse_tree(data, source)
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
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
def _root_signatures_detached(root: Any) -> Iterator[int]:
    """Detach the root's ``ds:Signature`` children (the enveloped signature is not part of the
    signed content) for the duration of the block, keeping their tails; yields how many."""
    # (signature, previous sibling, tail): put back after that sibling, in document order, so
    # detaching and re-attaching n signatures costs O(n) (insert-at-index would be quadratic).
    holder = [(child, child.getprevious(), child.tail) for child in root if child.tag == _DS_SIGNATURE]
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


def check_document_limits(tree: Any, data: bytes | None = None, *, source: str | None = None) -> None:
    """Check the document limits of :mod:`juxsdk.limits` on a parsed document.

    Depth is bounded by the parser itself (:func:`parse_xml`). This checks the number of
    attributes of every element and the namespace declarations in scope at every element, the
    two counts that make libxml2's canonicalisation super-linear. The namespace count is proved
    from the bytes when they are in an ASCII-compatible encoding and hold at most
    ``MAX_NAMESPACE_DECLARATIONS_IN_SCOPE`` occurrences of ``xmlns`` (every declaration has
    them); otherwise the tree is walked.

    Args:
        tree: The parsed document (an lxml ``_ElementTree``).
        data: The bytes it was parsed from, if known (enables the fast namespace check).
        source: File name for error messages.

    Raises:
        ReportLimitError: an element has more than ``MAX_ATTRIBUTES_PER_ELEMENT`` attributes, or
            more than ``MAX_NAMESPACE_DECLARATIONS_IN_SCOPE`` namespace declarations are in scope.
    """
    root = tree.getroot()
    limit = MAX_ATTRIBUTES_PER_ELEMENT
    encoding = tree.docinfo.encoding or "UTF-8"
    fast_namespaces = (
        data is not None
        and _ASCII_BYTES.fullmatch(encoding) is not None
        and data.count(b"xmlns") <= MAX_NAMESPACE_DECLARATIONS_IN_SCOPE
    )
    # The root's ds:Signature children are left to the signature checks (juxsdk.xmldsig), which
    # apply the same limits to them with a verification error.
    with _root_signatures_detached(root):
        for el in root.iter():  # one C-driven walk; comments and PIs have no attributes
            if len(el.keys()) > limit:
                raise _limit_error(
                    source, el,
                    f"<{_local(el.tag)}> has {len(el.keys())} attributes, over the limit of "
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


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _check_root(root: Any, source: str | None) -> None:
    name = _local(root.tag)
    if name not in _ROOT_NAMES:
        raise ReportError(
            f"{source or '<bytes>'}: root element is <{name}>, expected <testsuites> or <testsuite>",
            hint="this XML file is not a JUnit report",
        )


def _to_float(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return 0.0


def _limit_error(source: str | None, el: Any, message: str, hint: str) -> ReportLimitError:
    return ReportLimitError(message, source=source, line=el.sourceline, hint=hint)


_SCAN_TAGS = (
    _DS_SIGNATURE,
    "{*}testcase",
    "{*}failure",
    "{*}error",
    "{*}skipped",
    "{*}testsuite",
    "{*}testsuites",
    "{*}properties",
)


def scan(root: Any, *, source: str | None = None) -> tuple[ReportSummary, tuple[tuple[str, str], ...]]:
    """Summary and properties of a parsed report in one walk of the tree (see :func:`scan_report`)."""
    summary, props, _ = scan_report(root, source=source)
    return summary, props


def scan_report(root: Any, *, source: str | None = None) -> tuple[ReportSummary, tuple[tuple[str, str], ...], int]:
    """Summary and properties of a parsed report in one walk of the tree.

    A testcase with a ``<failure>`` counts as a failure; else with an ``<error>`` as an error;
    else with ``<skipped>`` as skipped. ``time`` is the root's ``time`` attribute, else the sum of
    the top-level suites' ``time``, else the sum of the testcases' ``time`` (seconds).
    Properties are the ``(name, value)`` pairs of the root's and every testsuite's
    ``<properties>``, in document order (testcase-level ones excluded); a property's value is its
    ``value`` attribute, else its text. ``ds:Signature`` children of the root (the enveloped
    signature and anything inside it) are left out. The document limits are not checked here:
    :func:`parse_xml` checks them on every document it parses.

    Args:
        root: The root element (``<testsuites>`` or ``<testsuite>``).
        source: File name for error messages (unused; kept for symmetry with the parse calls).

    Returns:
        ``(summary, properties, signatures)``: ``signatures`` counts ``ds:Signature`` elements
        anywhere in the document.
    """
    with _root_signatures_detached(root) as root_signatures:
        tests = suites = 0
        nested_signatures = 0
        case_time = 0.0
        top = [c for c in root if _local(c.tag) == "testsuite"]
        need_case_time = root.get("time") is None and not (top and all(c.get("time") is not None for c in top))
        outcomes: dict[Any, int] = {}
        props: list[tuple[str, str]] = []
        # One walk of the tree, filtered in C by tag ({*} matches any namespace).
        for el in root.iter(*_SCAN_TAGS):
            name = el.tag.rpartition("}")[2]
            if name == "testcase":
                tests += 1
                if need_case_time:
                    t = el.get("time")
                    if t:
                        case_time += _to_float(t)
            elif name == "testsuite":
                suites += 1
            elif name == "testsuites":
                continue
            elif name == "Signature":
                if el.tag == _DS_SIGNATURE:
                    nested_signatures += 1
            elif name == "properties":
                parent = el.getparent()
                if parent is None or _local(parent.tag) not in _ROOT_NAMES:
                    continue
                for prop in el.iterchildren("{*}property"):
                    key = prop.get("name")
                    if key is None:
                        continue
                    value = prop.get("value")
                    props.append((key, value if value is not None else "".join(prop.itertext())))
            else:
                case = el.getparent()
                if case is None or _local(case.tag) != "testcase":
                    continue
                bit = 1 if name == "failure" else 2 if name == "error" else 4
                outcomes[case] = outcomes.get(case, 0) | bit
        failures = sum(1 for bits in outcomes.values() if bits & 1)
        errors = sum(1 for bits in outcomes.values() if bits & 2 and not bits & 1)
        skipped = sum(1 for bits in outcomes.values() if bits == 4)
        if root.get("time") is not None:
            total = _to_float(root.get("time"))
        elif not need_case_time:
            total = sum(_to_float(c.get("time")) for c in top)
        else:
            total = case_time
    summary = ReportSummary(
        tests=tests,
        failures=failures,
        errors=errors,
        skipped=skipped,
        time=round(total, 6),
        suites=suites,
    )
    return summary, tuple(props), root_signatures + nested_signatures


def summarize(root: Any) -> ReportSummary:
    """Count testcases of a parsed report, each once (see :func:`scan` for the rules).

    Args:
        root: The root element, or any ``<testsuite>`` element.

    Returns:
        The summary.
    """
    return scan(root)[0]


def properties_of(root: Any) -> tuple[tuple[str, str], ...]:
    """Return ``(name, value)`` of the root's and every testsuite's properties, in document order."""
    return scan(root)[1]


def _report_fields(report: Report) -> dict[str, Any]:
    """What an instrumented step knows about a report (:mod:`juxsdk._telemetry` fields)."""
    return {"canonical_hash": report.canonical_hash, "size": len(report.data), "tests": report.summary.tests}


def _signed_fields(report: Any) -> dict[str, Any]:
    """What the sign and verify steps know about a signed or verified report (telemetry fields)."""
    sig = report.signature
    return {"canonical_hash": report.canonical_hash, "tests": report.summary.tests,
            "algorithm": sig.algorithm, "signer": sig.signer}


@_telemetry.traced("parse", log, result=_report_fields)
def parse_report(
    data: bytes,
    *,
    source: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Report:
    """Parse a JUnit XML report.

    Args:
        data: The exact document bytes.
        source: File name, kept in the Report and used in error messages.
        max_bytes: Size limit in bytes (default :data:`DEFAULT_MAX_BYTES`).

    Returns:
        A :class:`~juxsdk.models.Report` whose ``data`` is ``data`` unchanged, with summary,
        properties and canonical hash. The report is **not verified**, even if signed.

    Raises:
        ReportParseError: not well-formed, empty, too large, or has a DOCTYPE; the message
            names the line and column.
        ReportError: well-formed XML whose root is not ``<testsuites>``/``<testsuite>``.
    """
    tree = parse_xml(data, source=source, max_bytes=max_bytes)
    return _report_from_tree(bytes(data), tree, source)


def _report_from_tree(data: bytes, tree: Any, source: str | None) -> Report:
    root = tree.getroot()
    _check_root(root, source)
    summary, properties, signatures = scan_report(root, source=source)
    digest = digest_without_signatures(tree, has_signatures=signatures > 0)
    return Report(
        data=data,
        summary=summary,
        properties=properties,
        canonical_hash="sha256:" + digest.hex(),
        signed=signatures > 0,
        source=source,
        _root=root,
        _digest=digest,
    )


def _first_suite(root: Any) -> Any:
    if _local(root.tag) == "testsuite":
        return root
    for el in root.iter():
        if _local(el.tag) == "testsuite":
            return el
    return root


def add_properties(
    report: Report,
    properties: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    replace: bool = True,
    defaults: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> Report:
    """Add provenance properties to the first ``<testsuite>``'s ``<properties>``.

    They are written before signing so the signature covers them. The document is serialised
    once (the only re-serialisation juxsdk does, and only before signing).

    Args:
        report: An unsigned report.
        properties: ``name -> value`` pairs, in the order to write them.
        replace: When True, a property that already exists gets the new value; when False, an
            existing property is kept and the new one skipped.
        defaults: ``name -> value`` pairs written first and only where the property does not
            exist yet (detected values that must not override the report's own), so explicit
            and detected properties cost one serialisation together.

    Returns:
        A new Report (new ``data``, same canonical-hash recipe); ``report`` is unchanged.

    Raises:
        AlreadySignedError: the report is signed (adding properties would break the signature).
    """
    if report.signed:
        raise AlreadySignedError(
            "cannot add properties to a signed report: it would invalidate the signature",
            hint="add properties before signing, or re-sign with replace=True",
        )
    def pairs(values: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return list(values.items() if isinstance(values, Mapping) else values)

    items = [(n, v, False) for n, v in pairs(defaults)] + [(n, v, replace) for n, v in pairs(properties)]
    if not items:
        return report
    # Nothing to write (every property already there with the value it would get): keep the
    # report and its bytes as they are instead of serialising an identical document.
    current_props = next((c for c in _first_suite(report._root) if _local(c.tag) == "properties"), None)
    if current_props is not None:
        have = {p.get("name"): p.get("value") for p in current_props if _local(p.tag) == "property"}
        if all(n in have and (not o or have[n] == str(v)) for n, v, o in items):
            return report
    tree = copy.deepcopy(report._root.getroottree())
    root = tree.getroot()
    suite = _first_suite(root)
    ns = etree.QName(suite).namespace
    qn = (lambda n: f"{{{ns}}}{n}") if ns else (lambda n: n)
    props_el = next((c for c in suite if _local(c.tag) == "properties"), None)
    indent = (suite.text or "\n") if (suite.text or "").strip() == "" else "\n"
    if props_el is None:
        props_el = etree.Element(qn("properties"))
        props_el.text = indent + "  "
        props_el.tail = suite.text if (suite.text or "").strip() == "" else None
        suite.insert(0, props_el)
        if suite.text is None or suite.text.strip():
            suite.text = indent
        last = None
    else:
        last = props_el[-1] if len(props_el) else None
    existing = {p.get("name"): p for p in props_el if _local(p.tag) == "property"}
    for name, value, overwrite in items:
        current = existing.get(name)
        if current is not None:
            if overwrite:
                current.set("value", str(value))
            continue
        el = etree.SubElement(props_el, qn("property"), name=str(name), value=str(value))
        if last is not None:
            el.tail = last.tail
            last.tail = (props_el.text or indent)
        else:
            el.tail = indent
        last = el
        existing[name] = el
    encoding = tree.docinfo.encoding or "UTF-8"
    standalone = tree.docinfo.standalone
    kwargs: dict[str, Any] = {"xml_declaration": True, "encoding": encoding}
    # lxml reports False when the declaration has no standalone pseudo-attribute at all
    if standalone is not None and b"standalone" in report.data[:200]:
        kwargs["standalone"] = standalone
    data = etree.tostring(tree, **kwargs)
    return _report_from_tree(data, tree, report.source)
