"""Run a stdlib ``unittest`` suite, write JUnit XML, and sign it in-process with juxsdk.

Usage::

    python examples/unittest_harness.py --out results.signed.xml            # configured signer
    python examples/unittest_harness.py --out r.xml --key key.pem --cert cert.pem

The harness is three small pieces:

1. ``JUnitResult`` — a ``unittest.TestResult`` that remembers each test's outcome and duration;
2. ``to_junit_xml()`` — turns those records into a JUnit ``<testsuite>`` (xml.etree, stdlib);
3. juxsdk — parse the bytes, sign them (configured pipeline or an explicit key), write them.

Exit status: 0 when the tests passed, 1 when some failed (the signed report is written either way:
a signed record of a failing run is still evidence), 3 when signing failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

import juxsdk

# --- the code under test and its tests (stand-ins for your own) --------------------------------


def pump_flow(rpm: int) -> float:
    if rpm < 0:
        raise ValueError("rpm must be >= 0")
    return rpm * 0.25


class PumpTests(unittest.TestCase):
    def test_flow_at_rest(self) -> None:
        self.assertEqual(pump_flow(0), 0.0)

    def test_flow_scales(self) -> None:
        self.assertAlmostEqual(pump_flow(1200), 300.0)

    def test_negative_rpm_rejected(self) -> None:
        with self.assertRaises(ValueError):
            pump_flow(-1)

    @unittest.skip("needs the hardware rig")
    def test_on_rig(self) -> None:  # pragma: no cover - skipped
        pass

    @unittest.expectedFailure
    def test_known_calibration_bug(self) -> None:
        self.assertEqual(pump_flow(3), 0.8)


# --- 1. a TestResult that records outcomes -----------------------------------------------------


class JUnitResult(unittest.TestResult):
    """Records ``(test, outcome, detail, seconds)`` for every test."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[unittest.TestCase, str, str, float]] = []
        self._started = 0.0

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self._started = time.perf_counter()

    def _record(self, test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        self.records.append((test, outcome, detail, time.perf_counter() - self._started))

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test: unittest.TestCase, err: object) -> None:
        super().addFailure(test, err)  # type: ignore[arg-type]
        self._record(test, "failure", self.failures[-1][1])

    def addError(self, test: unittest.TestCase, err: object) -> None:
        super().addError(test, err)  # type: ignore[arg-type]
        self._record(test, "error", self.errors[-1][1])

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: object) -> None:
        super().addExpectedFailure(test, err)  # type: ignore[arg-type]
        self._record(test, "passed")  # an expected failure is a pass, as in pytest's junitxml

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "failure", "unexpected success")


# --- 2. JUnit XML ------------------------------------------------------------------------------


def to_junit_xml(result: JUnitResult, suite_name: str) -> bytes:
    """One ``<testsuite>`` with a ``<testcase>`` per record (Ant/Surefire JUnit dialect)."""
    counts = {"failure": 0, "error": 0, "skipped": 0}
    suite = ET.Element("testsuite", name=suite_name)
    for test, outcome, detail, seconds in result.records:
        cls = f"{type(test).__module__}.{type(test).__qualname__}"
        case = ET.SubElement(suite, "testcase", classname=cls, name=test._testMethodName, time=f"{seconds:.6f}")
        if outcome in counts:
            counts[outcome] += 1
            message = detail.strip().splitlines()[-1] if detail.strip() else outcome
            child = ET.SubElement(case, outcome, message=message)
            if outcome != "skipped":
                child.text = detail
    suite.set("tests", str(len(result.records)))
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", f"{sum(r[3] for r in result.records):.6f}")
    ET.indent(suite)
    data: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return data


# --- 3. sign with juxsdk -----------------------------------------------------------------------


def sign(data: bytes, key: Path | None, cert: Path | None) -> juxsdk.SignedReport:
    report = juxsdk.parse_report(data, source="unittest-results.xml")
    if key is None:
        # The configured pipeline: [tool.jux] in pyproject.toml / jux.toml / JUX_* / `jux keygen` key.
        # It adds provenance properties (project, git, CI, host, time) and signs; stores and
        # publishers run as configured.
        with juxsdk.Jux.from_config() as jux:
            result = jux.submit(report, properties={"jux:harness": "unittest"})
            assert isinstance(result.report, juxsdk.SignedReport), "configure a signer (jux keygen)"
            return result.report
    # Explicit key: the built-in file signer, looked up by name like any plugin.
    registry = juxsdk.Registry()
    signer_cls = registry.get("signer", "file").cls
    signer = signer_cls(signer_cls.Options(key=key, certificate=cert))
    try:
        report = juxsdk.add_properties(report, juxsdk.collect_metadata(harness="unittest"), replace=False)
        return juxsdk.sign_report(report, signer)
    finally:
        signer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="signed JUnit XML to write")
    parser.add_argument("--key", type=Path, help="private key (default: the configured signer)")
    parser.add_argument("--cert", type=Path, help="certificate to embed (with --key)")
    args = parser.parse_args(argv)

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(PumpTests)
    result = JUnitResult()
    suite.run(result)
    data = to_junit_xml(result, "pump-unittest")
    try:
        signed = sign(data, args.key, args.cert)
    except juxsdk.JuxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    args.out.write_bytes(signed.data)  # exactly the signed bytes: never re-serialise them
    s = signed.summary
    print(
        f"{s.tests} tests, {s.failures} failures, {s.errors} errors, {s.skipped} skipped; "
        f"signed by {signed.signature.signer}; {signed.canonical_hash} -> {args.out}"
    )
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
