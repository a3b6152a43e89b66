"""Merge several JUnit XML reports into one ``<testsuites>`` document.

A Maven Surefire run writes one ``TEST-*.xml`` per test class; merging turns the whole run into
one report that is signed, stored and published once::

    import juxsdk
    from juxsdk.discovery import find_reports

    merged = juxsdk.merge_reports(find_reports(["target/surefire-reports"]),
                                  properties={"project": "pump-controller"})
    signed = juxsdk.sign_report(merged, signer)

How the merged document is built:

* the root is a new ``<testsuites>`` element whose ``tests``, ``failures``, ``errors`` and
  ``skipped`` attributes are the sums over the inputs (each testcase counted once, as
  :func:`juxsdk.junit.summarize` counts them) and whose ``time`` is the sum of the merged
  top-level suites' ``time`` (seconds; a suite without one counts its testcases' times);
* every input's suites are kept intact, in input order: the ``<testsuite>`` children of a
  ``<testsuites>`` root are lifted, and those of a ``<testsuites>`` group nested in it (cucumber
  features; the group's own testcases become a suite named after the group); a bare
  ``<testsuite>`` root is taken as is;
* ``<testcase>`` elements directly under a ``<testsuites>`` root (node's test runner) — any other
  element there that holds testcases, and that root's own ``<properties>``, ``<system-out>``,
  ``<system-err>`` — go into a synthetic ``<testsuite>`` named after the source file, with its
  own counts; so every testcase of every input is in the merged report;
* the sources are recorded as properties ``jux:source:<n>`` (1-based, input order) with the
  value ``<file name> sha256:<hex>`` — the input's canonical hash
  (docs/reference/canonical-hash.md), which does not change when an input is signed; then
  ``jux:merged_reports`` = the number of inputs, and the caller's ``properties``. (When the
  first input is itself a merged report, its ``jux:source:<n>`` entries are kept and the new
  ones are numbered after them.) These are
  written once, into the first ``<testsuite>``'s ``<properties>``
  (:func:`juxsdk.junit.add_properties`), so a signature over the merged report covers them.

Signed inputs: merging re-serialises, which would break their signatures, so a signed input is
first verified against ``trust`` (:func:`juxsdk.verify_report`) and only its **signed content**
is merged (anything outside the signature is dropped); the merged report is unsigned and is
signed anew by the caller. Without a trust policy a signed input is refused.

Every input is parsed with the hardened parser (:func:`juxsdk.parse_report`: no DTDs, no
entities, size limit).
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

from ._xml import local_name
from .errors import AlreadySignedError, ReportError
from .junit import DEFAULT_MAX_BYTES, _to_float, add_properties, parse_report, summarize
from .limits import read_bounded
from .models import Report, SignedReport, VerifiedReport
from .trust import TrustPolicy

__all__ = ["SOURCE_PROPERTY_PREFIX", "merge_reports"]

#: Name prefix of the properties recording each source's canonical hash (``jux:source:1``…).
SOURCE_PROPERTY_PREFIX = "jux:source:"

_PASS_THROUGH = ("properties", "system-out", "system-err")


def _read(item: Any, index: int, max_bytes: int) -> tuple[bytes, str, bool]:
    """Return ``(data, name, already_verified)`` for one input."""
    if isinstance(item, VerifiedReport):
        return item.signed_content, item.source or f"<report {index}>", True
    if isinstance(item, Report | SignedReport):
        return item.data, item.source or f"<report {index}>", False
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item), f"<bytes {index}>", False
    if isinstance(item, str | os.PathLike):
        if os.path.isdir(item):
            raise ReportError(
                f"{item}: is a directory",
                hint="expand directories first with juxsdk.discovery.find_reports()",
            )
        return read_bounded(item, max_bytes=max_bytes), str(item), False
    raise TypeError(f"cannot merge a {type(item).__name__}; expected a Report, bytes or a path")


def _display_name(source: str) -> str:
    name = source.replace("\\", "/").rstrip("/").rpartition("/")[2]
    return name or source


def _suite_name(source: str) -> str:
    name = _display_name(source)
    for suffix in (".xml", ".XML"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name or "merged"


def _set_counts(el: Any, counts: Any, time: float) -> None:
    el.set("tests", str(counts.tests))
    el.set("failures", str(counts.failures))
    el.set("errors", str(counts.errors))
    el.set("skipped", str(counts.skipped))
    el.set("time", _fmt_time(time))


def _fmt_time(seconds: float) -> str:
    text = f"{seconds:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _holds_tests(el: Any) -> bool:
    return isinstance(el.tag, str) and next(el.iter("{*}testcase"), None) is not None


def _lift(root: Any, source: str, group: str | None = None) -> list[Any]:
    """Return the ``<testsuite>`` elements to put under the merged root, in document order.

    Every testcase of the input ends up in the result (the merged counts are the sums of the
    inputs'): a nested ``<testsuites>`` group gives its own suites, and any other element that
    holds testcases goes into the synthetic suite with the loose testcases (named ``group``, a
    nested group's own name, else after ``source``).
    """
    if local_name(root.tag) == "testsuite":
        return [root]
    out: list[Any] = []
    loose: list[Any] = []
    slot: int | None = None  # where the synthetic suite goes: at the first loose testcase
    for child in root:
        name = local_name(child.tag)
        if name == "testsuite":
            out.append(child)
        elif name == "testsuites":
            out.extend(_lift(child, source, child.get("name")))  # a nested group (cucumber features)
        elif name in _PASS_THROUGH or _holds_tests(child):
            if slot is None and _holds_tests(child):
                slot = len(out)
            loose.append(child)
        # comments, processing instructions and other elements without testcases are dropped
    has_props = any(local_name(c.tag) == "properties" and len(c) for c in loose)
    if slot is None and not has_props:
        return out
    ns = etree.QName(root).namespace
    synthetic = etree.Element(f"{{{ns}}}testsuite" if ns else "testsuite")
    synthetic.set("name", group or _suite_name(source))
    # properties first, then testcases, then system-out/err (the Surefire XSD's order)
    order = {"properties": 0, "testcase": 1, "system-out": 2, "system-err": 3}
    synthetic.text = "\n    "
    for child in sorted(loose, key=lambda c: order.get(local_name(c.tag), 1)):
        child.tail = "\n    "
        synthetic.append(child)
    synthetic[-1].tail = "\n  "
    counts = summarize(synthetic)
    _set_counts(synthetic, counts, counts.time)
    out.insert(slot if slot is not None else 0, synthetic)
    return out


def _existing_sources(root: Any) -> int:
    """Highest ``jux:source:<n>`` already in the first suite (the first input was a merge)."""
    suite = next(root.iter("{*}testsuite"), None)
    if suite is None:
        return 0
    highest = 0
    for props in suite.iterchildren("{*}properties"):
        for prop in props.iterchildren("{*}property"):
            number = (prop.get("name") or "").removeprefix(SOURCE_PROPERTY_PREFIX)
            if number != prop.get("name") and number.isdigit():
                highest = max(highest, int(number))
    return highest


def _reindent(root: Any) -> None:
    root.text = "\n  "
    children = list(root)
    for i, child in enumerate(children):
        child.tail = "\n" if i == len(children) - 1 else "\n  "


def merge_reports(
    reports: Iterable[Report | SignedReport | VerifiedReport | bytes | str | os.PathLike[str]],
    *,
    trust: TrustPolicy | None = None,
    properties: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    at: dt.datetime | None = None,
    source: str | None = None,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Report:
    """Merge JUnit XML reports into one unsigned ``<testsuites>`` report.

    Args:
        reports: Inputs in order: :class:`~juxsdk.models.Report` /
            :class:`~juxsdk.models.SignedReport` objects, document bytes, file paths (``str`` or
            :class:`os.PathLike`), or :class:`~juxsdk.models.VerifiedReport` objects (already
            verified: their signed content is used as is). Expand directories and globs first
            with :func:`juxsdk.discovery.find_reports`.
        trust: Trust policy that signed inputs must verify against (:mod:`juxsdk.trust`).
            Without one, a signed input is refused.
        properties: Extra ``name -> value`` properties for the merged report (e.g. ``project``
            or provenance from :func:`juxsdk.collect_metadata`); they replace same-named
            properties of the first suite.
        at: Time at which signed inputs' certificates must be valid (default: now).
        source: ``source`` of the returned Report (e.g. the output file name).
        name: Optional ``name`` attribute of the merged ``<testsuites>`` root.
        max_bytes: Size limit per input, in bytes.

    Returns:
        An unsigned :class:`~juxsdk.models.Report` of the merged document (the result of
        :func:`juxsdk.parse_report` on its bytes), whose summary counts are the sums of the
        inputs' counts.

    Raises:
        ReportError: no inputs, an input path cannot be read, or an input is not a JUnit
            report (the message names the input).
        juxsdk.errors.ReportParseError: an input is not well-formed or unsafe XML (names the
            input, line and column).
        AlreadySignedError: an input is signed and no ``trust`` policy was given.
        juxsdk.errors.VerificationError: a signed input does not verify against ``trust``
            (any subclass: tampered, untrusted key, expired certificate…).
        TypeError: an input is of an unsupported type.
    """
    from .xmldsig import verify_report  # local: keeps `import juxsdk.merge` light

    merged = etree.Element("testsuites")
    if name:
        merged.set("name", name)
    sources: list[tuple[str, str]] = []
    total_time = 0.0
    for index, item in enumerate(reports, start=1):
        data, label, verified = _read(item, index, max_bytes)
        report = parse_report(data, source=label, max_bytes=max_bytes)
        digest = report.canonical_hash
        if report.signed and not verified:
            if trust is None:
                raise AlreadySignedError(
                    f"{label} is signed; merging would drop its signature",
                    hint="give a trust policy to verify signed inputs first (jux merge --cert/--pubkey/--ca), "
                    "or merge the unsigned originals",
                )
            checked = verify_report(data, trust, at=at, source=label, max_bytes=max_bytes)
            # only what the signature covers is merged (its canonical hash is the same)
            report = parse_report(checked.signed_content, source=label, max_bytes=max_bytes)
            digest = checked.canonical_hash
        root = copy.deepcopy(report._root)
        for suite in _lift(root, label):
            merged.append(suite)
            total_time += _to_float(suite.get("time")) if suite.get("time") else summarize(suite).time
        sources.append((_display_name(label), digest))
    if not sources:
        raise ReportError("nothing to merge: no reports given", hint="give at least one report")
    _reindent(merged)
    counts = summarize(merged)
    _set_counts(merged, counts, total_time)
    document = etree.tostring(etree.ElementTree(merged), xml_declaration=True, encoding="UTF-8")
    base = parse_report(document, source=source)
    offset = _existing_sources(base._root)
    props: list[tuple[str, str]] = [
        (f"{SOURCE_PROPERTY_PREFIX}{offset + n}", f"{file_name} {digest}")
        for n, (file_name, digest) in enumerate(sources, 1)
    ]
    props.append(("jux:merged_reports", str(len(sources))))
    if properties:
        props.extend(properties.items() if isinstance(properties, Mapping) else properties)
    return add_properties(base, props, replace=True)  # built from its own bytes' tree: no re-parse
