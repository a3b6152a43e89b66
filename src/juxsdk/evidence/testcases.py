"""Per-test outcomes of a verified report, read from the signed content only.

:func:`juxsdk.verify_report` returns counts and properties of the signed content; the audit, the
index and ``jux diff`` also need each testcase's outcome. :func:`verified_testcases` reads them
from the same bytes verification accepted, and proves that the tree it walks *is* the verified
content: it parses the bytes with the hardened parser, removes the enveloped ``ds:Signature``
(XMLDSig 1.1 §6.6.4), and checks that the exclusive C14N of what is left hashes to the verified
canonical hash before it reads a single testcase. Comments (not signed) are never read.

Outcome rules are those of :func:`juxsdk.junit.scan_report` (so the per-test statuses add up to
the verified summary): a testcase with a ``<failure>`` child is ``failed``; else with an
``<error>`` child ``error``; else with ``<skipped>`` ``skipped``; else ``passed``.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._xml import DS_SIGNATURE, local_name, parse_xml
from ..canonical import digest_without_signatures, remove_signature
from ..errors import DigestMismatchError
from ..junit import _to_float
from ..models import VerifiedReport

__all__ = ["MAX_MESSAGE", "STATUSES", "Row", "TestOutcome", "test_id", "verified_outcome_rows", "verified_testcases"]

#: A test outcome as a plain tuple ``(classname, name, status, duration, message)``: what audit
#: workers send to the process that writes the index (cheap to pickle).
Row = tuple[str, str, str, float, "str | None"]

#: The outcome of a testcase, in the index's order (also its integer code there).
STATUSES: tuple[str, ...] = ("passed", "failed", "error", "skipped")
#: Longest failure message kept, in characters (the rest is cut and marked with "…").
MAX_MESSAGE = 1000

@attrs.frozen
class TestOutcome:
    """One testcase of a verified report.

    Attributes:
        classname: The ``classname`` attribute, else the enclosing ``<testsuite>``'s ``name``,
            else ``""``.
        name: The ``name`` attribute (``""`` when missing).
        status: One of :data:`STATUSES`.
        duration: The ``time`` attribute in seconds (0.0 when missing or not a number).
        message: For failed, error and skipped tests: the ``message`` attribute of the
            ``<failure>``/``<error>``/``<skipped>`` element, else the first non-blank line of
            its text, at most :data:`MAX_MESSAGE` characters; else None.
    """

    __test__ = False  # not a pytest test class

    classname: str
    name: str
    status: str
    duration: float = 0.0
    message: str | None = None

    @property
    def test_id(self) -> str:
        """``classname.name`` (just ``name`` when there is no classname)."""
        return test_id(self.classname, self.name)

    def as_row(self) -> Row:
        """``(classname, name, status, duration, message)``."""
        return (self.classname, self.name, self.status, self.duration, self.message)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``test_id`` included)."""
        return {
            "test_id": self.test_id,
            "classname": self.classname,
            "name": self.name,
            "status": self.status,
            "duration": self.duration,
            "message": self.message,
        }


def test_id(classname: str, name: str) -> str:
    """The identity of a test across reports: ``classname.name``, or ``name`` alone."""
    return f"{classname}.{name}" if classname else name


test_id.__test__ = False  # type: ignore[attr-defined]


def _message(el: Any) -> str | None:
    text: str | None = el.get("message")
    if not text:
        for line in "".join(el.itertext()).splitlines():
            if line.strip():
                text = line.strip()
                break
    if not text:
        return None
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _walk(root: Any) -> tuple[Row, ...]:
    out: list[Row] = []
    for case in root.iter("{*}testcase"):
        bits = 0
        detail: dict[int, Any] = {}
        for child in case:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            local = tag[tag.rfind("}") + 1 :]
            bit = 1 if local == "failure" else 2 if local == "error" else 4 if local == "skipped" else 0
            if bit and not bits & bit:
                bits |= bit
                detail[bit] = child
        if bits & 1:
            status, el = "failed", detail[1]
        elif bits & 2:
            status, el = "error", detail[2]
        elif bits & 4:
            status, el = "skipped", detail[4]
        else:
            status, el = "passed", None
        classname = case.get("classname")
        if classname is None:
            parent = case.getparent()
            classname = parent.get("name") if parent is not None and local_name(parent.tag) == "testsuite" else None
        out.append((classname or "", case.get("name") or "", status, _to_float(case.get("time")),
                    _message(el) if el is not None else None))
    return tuple(out)


def verified_testcases(data: bytes, verified: VerifiedReport) -> tuple[TestOutcome, ...]:
    """Every testcase of a verified report, in document order (see :func:`verified_outcome_rows`).

    Returns:
        One :class:`TestOutcome` per ``<testcase>`` of the signed content.

    Raises:
        juxsdk.errors.DigestMismatchError: see :func:`verified_outcome_rows`.
        juxsdk.errors.ReportParseError: see :func:`verified_outcome_rows`.
    """
    return tuple(TestOutcome(*row) for row in verified_outcome_rows(data, verified))


def verified_outcome_rows(data: bytes, verified: VerifiedReport) -> tuple[Row, ...]:
    """Every testcase of a verified report, in document order.

    Args:
        data: The exact bytes that :func:`juxsdk.verify_report` accepted to produce ``verified``.
        verified: The verification result.

    Returns:
        One :data:`Row` per ``<testcase>`` of the signed content.

    Raises:
        juxsdk.errors.DigestMismatchError: ``data`` is not what ``verified`` was verified from
            (its content without the signature does not hash to ``verified.canonical_hash``).
        juxsdk.errors.ReportParseError: ``data`` is not well-formed (it then cannot have verified).
    """
    tree = parse_xml(bytes(data), source=verified.source, max_bytes=max(len(data), 1))
    root = tree.getroot()
    for sig in [child for child in root if child.tag == DS_SIGNATURE]:
        remove_signature(sig)
    digest = digest_without_signatures(tree, has_signatures=False)
    if "sha256:" + digest.hex() != verified.canonical_hash:
        raise DigestMismatchError(
            f"{verified.source or 'report'}: these bytes are not the verified report",
            hint="pass the bytes that verify_report() accepted",
        )
    return _walk(root)
