"""Sample JUnit XML reports for backend tests, generated deterministically in memory.

The samples mirror the shapes found in real producers' output (pytest, Maven Surefire,
Jenkins…; see the ``jux-test-fixtures`` corpus) plus the encodings that break naive backends:

* ``basic`` — a small ``<testsuites>`` report with properties, one failure and one skip;
* ``crlf`` — the same shape with Windows line endings (``\\r\\n``) that must survive byte-exact;
* ``utf8-bom`` — UTF-8 with a byte order mark and non-ASCII text (names, messages, CDATA);
* ``bare-suite`` — a bare ``<testsuite>`` root (older Ant/Surefire dialect);
* ``large`` — at least :data:`LARGE_SIZE` bytes (about 5.7 MB, 66 000 test cases).

Nothing here touches the network or the file system. :func:`generate_report` builds any size;
:func:`sample_bytes` returns a named sample; :func:`sample_report` parses one into a
:class:`juxsdk.models.Report` (small samples cached; the 5 MB one parsed per call to bound memory).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:  # pragma: no cover
    from juxsdk.models import Report

__all__ = [
    "LARGE_SIZE",
    "SAMPLE_NAMES",
    "generate_report",
    "make_report",
    "sample_bytes",
    "sample_report",
]

#: Minimum size in bytes of the ``large`` sample (5 MiB).
LARGE_SIZE = 5 * 1024 * 1024

#: Names accepted by :func:`sample_bytes` and :func:`sample_report`, smallest first.
SAMPLE_NAMES: tuple[str, ...] = ("basic", "crlf", "utf8-bom", "bare-suite", "large")

_BOM = b"\xef\xbb\xbf"


def _case_xml(suite: str, index: int, outcome: str, *, unicode: bool, indent: str, nl: str) -> str:
    name = f"test_{'ünïcødé_' if unicode else ''}case_{index:05d}"
    attrs = (
        f"classname={quoteattr(f'{suite}.Test{index // 50:03d}')} name={quoteattr(name)} "
        f'time="{(index % 97) / 1000:.3f}"'
    )
    if outcome == "passed":
        return f"{indent}<testcase {attrs}/>{nl}"
    if outcome == "failed":
        msg = "assert 1 == 2 — ожидалось равенство" if unicode else "assert 1 == 2"
        body = (
            f'{indent}  <failure message={quoteattr(msg)} type="AssertionError">'
            f"{escape('def test(): assert 1 == 2 & <stuff>')}</failure>{nl}"
        )
    elif outcome == "error":
        body = (
            f'{indent}  <error message="fixture crashed" type="RuntimeError">'
            f"<![CDATA[Traceback: boom <at> setup & teardown]]></error>{nl}"
        )
    else:
        body = f'{indent}  <skipped message="not on this platform"/>{nl}'
    return f"{indent}<testcase {attrs}>{nl}{body}{indent}</testcase>{nl}"


def generate_report(
    tests: int = 10,
    *,
    failures: int = 0,
    errors: int = 0,
    skipped: int = 0,
    project: str | None = None,
    properties: Iterable[tuple[str, str]] = (),
    suite: str = "sample",
    newline: str = "\n",
    bom: bool = False,
    unicode: bool = False,
    bare_suite: bool = False,
    min_size: int = 0,
) -> bytes:
    """Build a well-formed JUnit XML report.

    The declared counts match the children, so they are valid expected values. Outcomes are
    assigned in order: the first ``failures`` cases fail, the next ``errors`` error, the next
    ``skipped`` are skipped, the rest pass.

    Args:
        tests: Number of ``<testcase>`` elements (raised automatically to reach ``min_size``).
        failures: How many of them carry ``<failure>``.
        errors: How many carry ``<error>`` (with a CDATA section).
        skipped: How many carry ``<skipped>``.
        project: Value of a ``project`` property in the first ``<testsuite>``, if given.
        properties: Extra ``(name, value)`` properties of the first ``<testsuite>``; use a
            unique value to get a unique canonical hash.
        suite: Name of the test suite (also the class name prefix).
        newline: Line ending: ``"\\n"`` or ``"\\r\\n"``.
        bom: Prefix the document with the UTF-8 byte order mark.
        unicode: Use non-ASCII test names and messages.
        bare_suite: Use a ``<testsuite>`` root instead of ``<testsuites>``.
        min_size: Minimum document size in bytes; test cases are added until it is reached.

    Returns:
        The document as UTF-8 bytes.

    Raises:
        ValueError: the outcome counts exceed ``tests`` or ``newline`` is not LF/CRLF.
    """
    if newline not in ("\n", "\r\n"):
        raise ValueError("newline must be '\\n' or '\\r\\n'")
    if failures + errors + skipped > tests:
        raise ValueError("failures + errors + skipped must not exceed tests")
    nl = newline
    props = ([("project", project)] if project is not None else []) + list(properties)
    ind = "  " if bare_suite else "    "

    def render(n: int) -> str:
        outcomes = ["failed"] * failures + ["error"] * errors + ["skipped"] * skipped
        outcomes += ["passed"] * (n - len(outcomes))
        cases = "".join(
            _case_xml(suite, i, o, unicode=unicode, indent=ind + "  ", nl=nl) for i, o in enumerate(outcomes)
        )
        total_time = sum((i % 97) / 1000 for i in range(n))
        suite_attrs = (
            f'name={quoteattr(suite)} tests="{n}" failures="{failures}" errors="{errors}" '
            f'skipped="{skipped}" time="{total_time:.3f}" timestamp="2024-05-01T12:00:00" '
            'hostname="ci-runner-1"'
        )
        prop_xml = ""
        if props:
            prop_xml = (
                f"{ind}  <properties>{nl}"
                + "".join(f"{ind}    <property name={quoteattr(k)} value={quoteattr(v)}/>{nl}" for k, v in props)
                + f"{ind}  </properties>{nl}"
            )
        system_out = f"{ind}  <system-out><![CDATA[collected {n} items{nl}done]]></system-out>{nl}"
        body = f"{ind}<testsuite {suite_attrs}>{nl}{prop_xml}{cases}{system_out}{ind}</testsuite>{nl}"
        if bare_suite:
            return f'<?xml version="1.0" encoding="UTF-8"?>{nl}{body.strip(" ")}'
        root_attrs = f'name="all" tests="{n}" failures="{failures}" errors="{errors}" skipped="{skipped}"'
        return f'<?xml version="1.0" encoding="UTF-8"?>{nl}<testsuites {root_attrs}>{nl}{body}</testsuites>{nl}'

    n = tests
    text = render(n)
    if min_size and len(text.encode()) < min_size:
        per_case = max(len(text.encode()) // max(n, 1), 1)
        n = max(n, min_size // per_case + 1)
        text = render(n)
        while len(text.encode()) < min_size:  # bounded: each round adds >= 10 % of the cases
            n += max(n // 10, 1)
            text = render(n)
    data = text.encode("utf-8")
    return _BOM + data if bom else data


@functools.cache
def sample_bytes(name: str) -> bytes:
    """Return the bytes of a named sample (see the module docstring for the list).

    Args:
        name: One of :data:`SAMPLE_NAMES`.

    Returns:
        The document bytes (the same object on every call).

    Raises:
        KeyError: unknown sample name.
    """
    if name == "basic":
        return generate_report(6, failures=1, skipped=1, project="sample-project", suite="tests.basic")
    if name == "crlf":
        return generate_report(5, failures=1, project="sample-crlf", suite="tests.crlf", newline="\r\n")
    if name == "utf8-bom":
        return generate_report(4, errors=1, project="échantillon-ünïcødé", suite="tests.bom", bom=True, unicode=True)
    if name == "bare-suite":
        return generate_report(3, skipped=1, suite="com.example.BareSuiteTest", bare_suite=True)
    if name == "large":
        return generate_report(
            1000,
            failures=3,
            errors=2,
            skipped=5,
            project="sample-large",
            suite="tests.large",
            min_size=LARGE_SIZE,
        )
    raise KeyError(f"unknown sample {name!r}; known: {', '.join(SAMPLE_NAMES)}")


def sample_report(name: str) -> Report:
    """Parse a named sample with :func:`juxsdk.junit.parse_report`.

    Small samples are parsed once and cached; ``large`` is parsed on every call (its parsed
    tree takes ~60 MB, too much to keep alive for a whole test session).

    Args:
        name: One of :data:`SAMPLE_NAMES`.

    Returns:
        The parsed report; ``report.source`` is ``"sample:<name>"``.

    Raises:
        KeyError: unknown sample name.
    """
    if name == "large":
        from juxsdk.junit import parse_report

        return parse_report(sample_bytes(name), source=f"sample:{name}")
    return _small_report(name)


@functools.cache
def _small_report(name: str) -> Report:
    from juxsdk.junit import parse_report

    return parse_report(sample_bytes(name), source=f"sample:{name}")


def make_report(
    tests: int = 3,
    *,
    failures: int = 0,
    errors: int = 0,
    project: str | None = None,
    tag: str = "",
) -> Report:
    """Parse a small generated report; a distinct ``tag`` gives a distinct canonical hash.

    Args:
        tests: Number of test cases.
        failures: Number of failing cases.
        errors: Number of erroring cases.
        project: ``project`` property value, if any.
        tag: Value of a ``sample:tag`` property (use a unique value per report).

    Returns:
        The parsed :class:`juxsdk.models.Report`.
    """
    from juxsdk.junit import parse_report

    data = generate_report(tests, failures=failures, errors=errors, project=project, properties=[("sample:tag", tag)])
    return parse_report(data, source=f"generated:{tag or 'report'}")
