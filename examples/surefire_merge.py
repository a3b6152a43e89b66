"""Merge a Maven Surefire reports directory into one signed JUnit report.

Usage::

    mvn test                                  # writes target/surefire-reports/TEST-*.xml
    python examples/surefire_merge.py target/surefire-reports --out surefire.signed.xml

The same as ``jux submit --merge target/surefire-reports`` (or ``jux merge DIR --sign -o OUT``),
written out with the library so a harness can do it in-process:

1. :func:`juxsdk.discovery.find_reports` expands the directory (only ``TEST-*.xml`` when present,
   so ``failsafe-summary.xml`` is left out);
2. :func:`juxsdk.merge_reports` keeps every suite intact, recomputes the totals and records each
   source file's canonical hash as a ``jux:source:<n>`` property;
3. the configured pipeline (:meth:`juxsdk.Jux.from_config`) adds provenance, signs, and stores
   / publishes as configured. The signed bytes are written to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import juxsdk
from juxsdk.discovery import find_reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="surefire-reports directory, files or quoted globs")
    parser.add_argument("--out", type=Path, required=True, help="merged, signed report to write")
    parser.add_argument("--project", help="project property (default: configuration / detection)")
    args = parser.parse_args(argv)

    try:
        paths = find_reports(args.reports)
        merged = juxsdk.merge_reports(paths, source=args.out.name)
        properties = {"jux:harness": "maven-surefire"}
        if args.project:
            properties["project"] = args.project
        with juxsdk.Jux.from_config() as jux:
            result = jux.submit(merged, properties=properties)
    except juxsdk.JuxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    args.out.write_bytes(result.report.data)
    s = result.report.summary
    signed = f"signed by {result.report.signature.signer}" if result.report.signature else "NOT signed"
    print(
        f"merged {len(paths)} reports: {s.tests} tests, {s.failures} failures, {s.errors} errors, "
        f"{s.skipped} skipped; {signed}; {result.report.canonical_hash} -> {args.out}"
    )
    for outcome in result.stored:
        print(f"  store {outcome.store}: {'ok' if outcome.ok else outcome.error}")
    return 0 if result.ok else 4


if __name__ == "__main__":
    sys.exit(main())
