"""Hardened JUnit XML parsing, summaries and properties.

Every JUnit dialect in the wild is accepted: a ``<testsuites>`` or bare ``<testsuite>`` root,
nested suites (each testcase counted once), ``<testcase>`` directly under ``<testsuites>`` (node's
test runner), and namespaced documents. There is no authoritative JUnit schema; the de-facto
format is Ant's ``junit`` task output as extended by Maven Surefire
(https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report.xsd).

Parsing is hardened in one place, :func:`parse_xml` (defined in :mod:`juxsdk._xml` with the
other XML basics, re-exported here): no DTD is loaded, no entity is substituted, no network is
used, nothing outside the input is ever opened, a document with a DOCTYPE is refused whatever
its encoding, and the size, depth, attribute and namespace limits of :mod:`juxsdk.limits` are
checked before anything canonicalises the document.
"""

from __future__ import annotations

import codecs
import copy
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

from . import _telemetry
from ._xml import DS_SIGNATURE, local_name, parse_xml, root_signatures_detached
from .canonical import digest_without_signatures
from .errors import AlreadySignedError, ReportError
from .limits import DEFAULT_MAX_BYTES
from .models import Report, ReportSummary

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "add_properties",
    "ascii_compatible",
    "parse_report",
    "parse_xml",
    "properties_of",
    "scan",
    "serialisation_encoding",
    "summarize",
]

_ROOT_NAMES = ("testsuites", "testsuite")


def _check_root(root: Any, source: str | None) -> None:
    name = local_name(root.tag)
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



_SCAN_TAGS = (
    DS_SIGNATURE,
    "{*}testcase",
    "{*}failure",
    "{*}error",
    "{*}skipped",
    "{*}testsuite",
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
    with root_signatures_detached(root) as root_signatures:
        tests = suites = 0
        nested_signatures = 0
        case_time = 0.0
        top = [c for c in root if local_name(c.tag) == "testsuite"]
        need_case_time = root.get("time") is None and not (top and all(c.get("time") is not None for c in top))
        outcomes: dict[Any, int] = {}
        props: list[tuple[str, str]] = []
        # One walk of the tree, filtered in C by tag ({*} matches any namespace).
        for el in root.iter(*_SCAN_TAGS):
            name = el.tag.rpartition("}")[2]
            if name == "testcase":
                tests += 1
                if need_case_time:
                    case_time += _to_float(el.get("time"))
            elif name == "testsuite":
                suites += 1
            elif name == "Signature":  # only ds:Signature is scanned (_SCAN_TAGS)
                nested_signatures += 1
            elif name == "properties":
                parent = el.getparent()
                if parent is None or local_name(parent.tag) not in _ROOT_NAMES:
                    continue
                for prop in el.iterchildren("{*}property"):
                    key = prop.get("name")
                    if key is None:
                        continue
                    value = prop.get("value")
                    props.append((key, value if value is not None else "".join(prop.itertext())))
            else:
                case = el.getparent()
                if case is None or local_name(case.tag) != "testcase":
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


_ASCII_TEXT = bytes(range(0x20, 0x7F)) + b"\t\n\r"


def ascii_compatible(encoding: str | None) -> bool:
    """True when every printable ASCII character (and tab, LF, CR) is the same single byte in
    ``encoding`` as in ASCII, so ASCII markup can be spliced into a document in that encoding
    byte for byte (UTF-8, ISO-8859-*, windows-125x, Shift_JIS…; not UTF-7, HZ, EBCDIC, UTF-16).

    Args:
        encoding: An encoding name as declared (``docinfo.encoding``); None = UTF-8.

    Returns:
        False for encodings Python does not know, or in which an ASCII character is written
        otherwise (UTF-7 writes ``+`` as ``+-``).
    """
    try:
        codec = codecs.lookup(encoding or "utf-8")
    except LookupError:
        return False
    try:
        return _ASCII_TEXT.decode(codec.name) == _ASCII_TEXT.decode("ascii")
    except (UnicodeError, ValueError):
        return False


def serialisation_encoding(encoding: str | None) -> str:
    """The encoding to write a re-serialised document in: its own when libxml2 writes that one
    faithfully (an :func:`ascii_compatible` encoding, UTF-16 or UTF-32), else UTF-8.

    libxml2 reads UTF-7 (and other encodings through iconv) but does not write them back
    faithfully (its UTF-7 output is not even well-formed), so such documents are written in
    UTF-8, with an XML declaration that says so.

    Args:
        encoding: The document's encoding (``docinfo.encoding``); None = UTF-8.

    Returns:
        An encoding name for :func:`lxml.etree.tostring`.
    """
    name = encoding or "UTF-8"
    if ascii_compatible(name):
        return name
    try:
        family = codecs.lookup(name).name
    except LookupError:
        return "UTF-8"
    return name if family.startswith(("utf-16", "utf-32")) else "UTF-8"


def _properties_target(root: Any) -> tuple[Any, Any]:
    """Where :func:`add_properties` writes: ``(container, properties element or None)``.

    The report's properties are read in document order (:func:`scan_report`) and the first one of
    a name wins (``Report.project``), so new properties go into the ``<properties>`` read first
    when it comes before the first ``<testsuite>`` (a ``<testsuites>`` root's own) or is that
    suite's; else into the first ``<testsuite>`` (the root when there is none), where a new
    ``<properties>`` is inserted as its first child. Either way they are read before any other.
    """
    first_suite = None
    for el in root.iter("{*}testsuite", "{*}properties"):
        if local_name(el.tag) == "testsuite":
            if first_suite is None:
                first_suite = el
            continue
        parent = el.getparent()
        if parent is None or local_name(parent.tag) not in _ROOT_NAMES:
            continue
        if first_suite is None or parent is first_suite:
            return parent, el
        break
    return (root if first_suite is None else first_suite), None


def add_properties(
    report: Report,
    properties: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    replace: bool = True,
    defaults: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> Report:
    """Add provenance properties where the report's properties are read first.

    That is the first ``<testsuite>``'s ``<properties>``, or a ``<testsuites>`` root's own
    ``<properties>`` when it has one before its first suite (see :func:`_properties_target`), so
    a written property is the one ``Report.project`` and the other first-wins readers see. They
    are written before signing so the signature covers them. The document is serialised
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
            cli_hint="add properties before signing, or re-sign with --force",
        )
    def pairs(values: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return list(values.items() if isinstance(values, Mapping) else values)

    items = [(n, v, False) for n, v in pairs(defaults)] + [(n, v, replace) for n, v in pairs(properties)]
    if not items:
        return report
    # Nothing to write (every property already there with the value it would get): keep the
    # report and its bytes as they are instead of serialising an identical document.
    current_props = _properties_target(report._root)[1]
    if current_props is not None:
        have: dict[str, str | None] = {}
        for p in current_props:
            if local_name(p.tag) == "property":
                have.setdefault(p.get("name"), p.get("value"))  # the first of a name is the one read
        if all(n in have and (not o or have[n] == str(v)) for n, v, o in items):
            return report
    tree = copy.deepcopy(report._root.getroottree())
    root = tree.getroot()
    suite, props_el = _properties_target(root)
    ns = etree.QName(suite).namespace
    qn = (lambda n: f"{{{ns}}}{n}") if ns else (lambda n: n)
    indent = (suite.text or "\n") if (suite.text or "").strip() == "" else "\n"
    if props_el is None:
        props_el = etree.Element(qn("properties"))
        props_el.text = indent + "  "
        props_el.tail = suite.text  # the suite's leading text (indentation, or text kept as it is)
        suite.insert(0, props_el)
        suite.text = indent  # the same text when it was indentation already
        last = None
    else:
        last = props_el[-1] if len(props_el) else None
    existing: dict[str, Any] = {}
    for p in props_el:
        if local_name(p.tag) == "property":
            existing.setdefault(p.get("name"), p)  # replace the first of a name: the one read
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
    encoding = serialisation_encoding(tree.docinfo.encoding)
    standalone = tree.docinfo.standalone
    kwargs: dict[str, Any] = {"xml_declaration": True, "encoding": encoding}
    # lxml reports False when the declaration has no standalone pseudo-attribute at all
    if standalone is not None and b"standalone" in report.data[:200]:
        kwargs["standalone"] = standalone
    data = etree.tostring(tree, **kwargs)
    return _report_from_tree(data, tree, report.source)
