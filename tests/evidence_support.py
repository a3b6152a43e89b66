"""Building stores of signed reports with known defects, for the audit/index/report tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import juxsdk
from juxsdk.testing.samples import generate_report
from tests.conftest import good_corpus

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def provenance(project: str, *, branch: str = "main", provider: str | None = "github", when: dt.datetime | None = None,
               commit: str | None = None) -> dict[str, str]:
    props = {"project": project, "git:branch": branch, "jux:timestamp": stamp(when or NOW - dt.timedelta(hours=1))}
    if provider is not None:
        props["ci:provider"] = provider
    if commit is not None:
        props["git:commit"] = commit
    return props


def signed(data: bytes, signer: Any, props: dict[str, str], source: str) -> juxsdk.SignedReport:
    report = juxsdk.add_properties(juxsdk.parse_report(data, source=source), props)
    return juxsdk.sign_report(report, signer)


@dataclass
class Corpus:
    """A store filled with reports, and what each one is."""

    kinds: dict[str, str] = field(default_factory=dict)  # canonical hash -> category
    zero_tests: set[str] = field(default_factory=set)
    max_failures: int = 0
    max_errors: int = 0

    def bad(self) -> set[str]:
        return {h for h, k in self.kinds.items() if k != "good"} | self.zero_tests

    def of(self, kind: str) -> set[str]:
        return {h for h, k in self.kinds.items() if k == kind}


def fill_store(store: Any, signer: Any, other_signer: Any, *, generated: int = 150, per_defect: int = 3,
               corpus: bool = True) -> Corpus:
    """Store real corpus reports and generated ones, signed, with every kind of defect.

    Kinds: good, tampered (stored bytes edited afterwards: the caller does it with ``tamper``),
    other-key, unsigned, no-ci (ci:provider missing), branch (git:branch not allowed),
    failures, errors, old (jux:timestamp 400 days ago), and zero-test reports (min_tests).
    """
    out = Corpus()
    goods: list[juxsdk.SignedReport] = []
    if corpus:
        for path in good_corpus():
            s = signed(path.read_bytes(), signer, provenance("corpus"), path.name)
            goods.append(s)
            if s.summary.tests == 0:
                out.zero_tests.add(s.canonical_hash)
    out.max_failures = max([g.summary.failures for g in goods] + [0])
    out.max_errors = max([g.summary.errors for g in goods] + [0])
    for i in range(generated):
        branch = "release/4.2" if i % 10 == 0 else "main"
        data = generate_report(tests=12, project="gen", properties=[("run", str(i))], suite="gen.Suite")
        goods.append(signed(data, signer, provenance("gen", branch=branch, commit=f"{i:040x}"), f"gen-{i}.xml"))
    for s in goods:
        record = store.put(s)
        out.kinds[record.canonical_hash] = "good"

    def add(kind: str, data: bytes, props: dict[str, str] | None, who: Any) -> None:
        if who is None:
            report: Any = juxsdk.parse_report(data, source=f"{kind}.xml")
        else:
            report = signed(data, who, props or {}, f"{kind}.xml")
        record = store.put(report)
        out.kinds[record.canonical_hash] = kind

    for i in range(per_defect):
        base = generate_report(tests=12, project="gen", properties=[("defect", str(i))], suite="gen.Suite")
        add("other-key", base, provenance("gen"), other_signer)
        add("unsigned", base, None, None)
        add("no-ci", base, provenance("gen", provider=None), signer)
        add("branch", base, provenance("gen", branch="feature/x"), signer)
        add("old", base, provenance("gen", when=NOW - dt.timedelta(days=400)), signer)
        many = generate_report(tests=40, failures=out.max_failures + 1, project="gen",
                               properties=[("defect", str(i))], suite="gen.Suite")
        add("failures", many, provenance("gen"), signer)
        errs = generate_report(tests=40, errors=out.max_errors + 1, project="gen",
                               properties=[("defect", str(i))], suite="gen.Suite")
        add("errors", errs, provenance("gen"), signer)
        empty = generate_report(tests=0, project="gen", properties=[("defect", str(i))], suite="gen.Suite")
        add("empty", empty, provenance("gen"), signer)
        tamper_me = generate_report(tests=12, project="gen", properties=[("tamper", str(i))], suite="gen.Suite")
        add("tampered", tamper_me, provenance("gen"), signer)
    return out


def tampered_bytes(data: bytes) -> bytes:
    """The same report with one test renamed (its signature no longer matches)."""
    marker = b'name="test_case_00001"'
    assert marker in data
    return data.replace(marker, b'name="test_case_0000X"', 1)


def tamper_filesystem(root: Path, hashes: set[str]) -> None:
    for h in hashes:
        hexd = h.partition(":")[2]
        path = root / hexd[:2] / f"{hexd}.xml"
        path.write_bytes(tampered_bytes(path.read_bytes()))


def policy_text(corpus: Corpus, cert_fingerprint: str, *, extra: str = "") -> str:
    return f"""
name = "release-gate"

[signers]
certificates = ["{cert_fingerprint}"]

[properties]
"git:branch" = ["main", "release/*"]
"ci:provider" = ["*"]

[results]
max_failures = {corpus.max_failures}
max_errors = {corpus.max_errors}
min_tests = 1
max_age_days = 30
{extra}
"""


EXPECTED_REASON = {
    "tampered": "changed after it was signed",
    "other-key": "does not allow",
    "unsigned": "no XML signature",
    "no-ci": "property ci:provider is missing",
    "branch": "property git:branch is 'feature/x'",
    "failures": "failures, at most",
    "errors": "errors, at most",
    "empty": "0 tests, at least 1 required",
    "old": "days old, at most 30 allowed",
}
