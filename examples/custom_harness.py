"""A minimal custom harness: JUnit XML built in memory with lxml, signed, verified and stored —
no report file ever touches the disk.

Usage::

    python examples/custom_harness.py --key signing-key.pem --cert signing-cert.pem --store ./reports

Bytes in, :class:`juxsdk.SignedReport` out. Backends are chosen by name through the registry
(exactly how configuration chooses them), so the same code works with any installed signer
(``"pkcs11"``…) or store (``"s3"``…).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

import juxsdk

# --- a toy harness: checks of an industrial gateway, as (name, check) pairs ---------------------


def check_modbus() -> None:
    assert 502 == 502


def check_firmware() -> None:
    raise AssertionError("firmware 1.4.2 reported, 1.4.3 expected")


CHECKS: list[tuple[str, Callable[[], None]]] = [("modbus_port", check_modbus), ("firmware_version", check_firmware)]


def run_checks() -> bytes:
    """Run the checks and return a JUnit XML document (bytes), built in memory with lxml."""
    suite = etree.Element("testsuite", name="gateway-acceptance")
    failures = 0
    for name, check in CHECKS:
        started = time.perf_counter()
        case = etree.SubElement(suite, "testcase", classname="gateway", name=name)
        try:
            check()
        except AssertionError as exc:
            failures += 1
            etree.SubElement(case, "failure", message=str(exc)).text = repr(exc)
        case.set("time", f"{time.perf_counter() - started:.6f}")
    suite.set("tests", str(len(CHECKS)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    return etree.tostring(suite, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", type=Path, required=True, help="signing key (PEM)")
    parser.add_argument("--cert", type=Path, required=True, help="signing certificate (PEM)")
    parser.add_argument("--store", type=Path, required=True, help="directory of the filesystem store")
    args = parser.parse_args(argv)

    data = run_checks()  # bytes in ...

    registry = juxsdk.Registry()
    signer_cls = registry.get("signer", "file").cls
    store_cls = registry.get("store", "filesystem").cls
    signer = signer_cls(signer_cls.Options(key=args.key, certificate=args.cert))
    store = store_cls(store_cls.Options(root=args.store))

    with juxsdk.Jux(signer=signer, stores=[store], project="gateway", metadata=True) as jux:
        result = jux.submit(data, source="gateway-acceptance.xml", properties={"jux:harness": "custom"})
    signed = result.report  # ... SignedReport out: signed.data are the exact signed bytes
    assert isinstance(signed, juxsdk.SignedReport)

    # Anyone holding the certificate can check it; counts come from the signed content only.
    trust = juxsdk.TrustedCertificates.from_pem_file(args.cert)
    verified = juxsdk.verify_report(signed.data, trust)
    s = verified.summary
    who = verified.signature.signer
    print(f"verified: {s.tests} tests, {s.failures} failures, project={verified.project}, by {who}")
    for outcome in result.stored:
        location = outcome.record.location if outcome.record else outcome.error
        print(f"stored in {outcome.store}: {location}")
    print(signed.canonical_hash)
    return 0 if result.ok else 4


if __name__ == "__main__":
    sys.exit(main())
