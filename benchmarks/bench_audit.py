"""Audit throughput and evidence-index query time (issue 13), compared in one run.

Run:  .venv/bin/python benchmarks/bench_audit.py [--reports 400] [--query-reports 10000]

* Audit: N signed reports of 1,000 testcases (0.36 MB) in a directory, audited with
  ``juxsdk.audit`` at ``jobs=1`` and ``jobs=2`` — without index, filling a fresh index (per-test
  outcomes read from the signed content and written), and again with the index current — against
  a loop of ``jux verify`` calls and a loop of pytest-jux 0.6.3's ``jux-verify`` (separate venv,
  as ``bench_core.py`` installs it) on a sample of the same reports.
* Query: an index of Q reports x 1,000 tests generated directly (no signing), then a
  project/branch/test-name query (``Index.tests``) timed, median of 9.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "audit"


def make_report(n: int, seed: int) -> bytes:
    """1,000-test pytest-style report; names stable across runs, ~10 % failing (by seed)."""
    rnd = random.Random(seed)
    cases = []
    failures = 0
    for i in range(n):
        attrs = (f'classname="tests.unit.test_module_{i // 100:04d}" name="test_behaviour_{i:07d}_with_a_'
                 f'reasonably_descriptive_name" file="tests/unit/test_module_{i // 100:04d}.py" time="{rnd.random() / 10:.4f}"')
        if rnd.random() < 0.10:
            failures += 1
            cases.append(f'<testcase {attrs}><failure message="assert 6 == 7">def test_x():\n&gt;  assert compute(3) == 7\n'
                         f'E  assert 6 == 7\n\ntests/test_mod.py:42: AssertionError</failure></testcase>')
        else:
            cases.append(f'<testcase {attrs}><system-out>ok run {i} seed {rnd.randint(0, 10**9)} worker gw{i % 4} '
                         f'fixtures db,client,tmp_path,monkeypatch,capsys params=({i},{i % 7})</system-out></testcase>')
    head = (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n<testsuite name="pytest" tests="{n}" '
            f'failures="{failures}" errors="0" skipped="0" time="{n / 100:.3f}">')
    return ("\n".join([head, *cases, "</testsuite>", "</testsuites>"]) + "\n").encode()


def ensure_reports(count: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(HERE))
    import bench_core

    bench_core.ensure_inputs([10])
    import juxsdk
    from juxsdk_backends.file_key import FileKeySigner

    cert = HERE / ".work" / "cert.pem"
    signer = FileKeySigner(FileKeySigner.Options(key=HERE / ".work" / "key.pem", certificate=cert))
    out = WORK / "reports"
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = out / f"r{i:05d}.xml"
        if not path.exists():
            report = juxsdk.add_properties(juxsdk.parse_report(make_report(1000, i)),
                                           {"project": f"proj-{i % 4}", "git:branch": "main",
                                            "jux:timestamp": f"2026-01-01T{i % 24:02d}:00:00Z"})
            path.write_bytes(juxsdk.sign_report(report, signer).data)
    return out, cert


def bench_audit(count: int) -> dict[str, float]:
    import juxsdk

    reports, cert = ensure_reports(count)
    trust = juxsdk.TrustedCertificates.from_pem_file(cert)
    files = sorted(reports.glob("*.xml"))[:count]
    out: dict[str, float] = {}

    def run(label: str, jobs: int, index: object) -> None:
        t = time.perf_counter()
        result = juxsdk.audit([str(f) for f in files], trust=trust, jobs=jobs, index=index)
        assert len(result.reports) == count and result.ok
        out[label] = count / (time.perf_counter() - t)
        print(f"{label:<36} {out[label]:8.1f} reports/s", flush=True)

    for jobs in (1, 2):
        run(f"audit -j {jobs}, no index", jobs, None)
    for jobs in (1, 2):
        path = WORK / f"index-{jobs}.sqlite3"
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        with juxsdk.Index(path) as index:
            run(f"audit -j {jobs}, filling a new index", jobs, index)
            run(f"audit -j {jobs}, index current", jobs, index)
    sample = [str(f) for f in files[:20]]
    jux = Path(sys.executable).with_name("jux")
    t = time.perf_counter()
    for f in sample:
        subprocess.run([str(jux), "verify", "--cert", str(cert), f], check=True, capture_output=True)
    out["loop of `jux verify`"] = len(sample) / (time.perf_counter() - t)
    print(f"{'loop of `jux verify`':<36} {out['loop of `jux verify`']:8.1f} reports/s", flush=True)
    import bench_core

    peer = bench_core.ensure_peer()
    if peer is not None:
        peer_verify = peer.with_name("jux-verify")
        peer_sample = []
        for i in range(len(sample)):  # the peer verifies its own signatures: it signs the same unsigned input
            target, plain = WORK / f"peer-{i}.xml", WORK / f"plain-{i}.xml"
            if not target.exists():
                plain.write_bytes(make_report(1000, i))
                subprocess.run([str(peer.with_name("jux-sign")), "-i", str(plain), "-o", str(target), "--key",
                                str(HERE / ".work" / "key.pem"), "--cert", str(cert)], capture_output=True)
            if target.exists():
                peer_sample.append(target)
        if peer_sample:
            t = time.perf_counter()
            valid = 0
            for f in peer_sample:
                r = subprocess.run([str(peer_verify), "-i", str(f), "--cert", str(cert), "-q"], capture_output=True)
                valid += r.returncode == 0
            out["loop of pytest-jux `jux-verify`"] = len(peer_sample) / (time.perf_counter() - t)
            print(f"  pytest-jux verified {valid} of {len(peer_sample)} of its own signed reports")
            print(f"{'loop of pytest-jux `jux-verify`':<36} {out['loop of pytest-jux `jux-verify`']:8.1f} reports/s")
    return out


def bench_query(count: int, tests: int = 1000) -> dict[str, float]:
    import juxsdk
    from juxsdk.evidence.results import ReportAudit
    from juxsdk.models import ReportSummary, SignatureInfo

    path = WORK / f"query-{count}.sqlite3"
    sig = SignatureInfo(algorithm="rsa-sha256", key_fingerprint="sha256:" + "ab" * 32, certificate_subject="CN=bench")
    if not path.exists():
        t = time.perf_counter()
        with juxsdk.Index(path) as index:
            for r in range(count):
                project, branch = f"proj-{r % 10}", ("main" if r % 3 else f"feature/{r % 7}")
                outcomes = tuple(
                    (f"tests.{project}.test_module_{i // 100:03d}", f"test_case_{i:05d}",
                     "failed" if (i * 7 + r) % 53 == 0 else "passed", 0.01,
                     "assert 6 == 7" if (i * 7 + r) % 53 == 0 else None)
                    for i in range(tests))
                failed = sum(o[2] == "failed" for o in outcomes)
                index.record(ReportAudit(
                    source=f"r{r}", status="ok", canonical_hash=f"sha256:{r:064x}",
                    summary=ReportSummary(tests=tests, failures=failed, time=10.0, suites=1),
                    properties=(("project", project), ("git:branch", branch), ("git:commit", f"{r:040x}"),
                                ("jux:timestamp", (dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
                                                   + dt.timedelta(minutes=r)).strftime("%Y-%m-%dT%H:%M:%SZ"))),
                    signature=sig, trust="bench", verified_at=dt.datetime.now(dt.UTC), testcases=outcomes))
                if r % 500 == 499:
                    index.commit()
                    print(f"  generated {r + 1} reports", flush=True)
        print(f"generated {count} x {tests} in {time.perf_counter() - t:.0f} s", flush=True)
    with juxsdk.Index(path) as index:
        xs = []
        for _ in range(9):
            t = time.perf_counter()
            rows = index.tests(project="proj-3", branch="main", test="*test_module_004.test_case_0042*", limit=None)
            xs.append(time.perf_counter() - t)
        assert rows, "the query found nothing"
        ms = statistics.median(xs) * 1000
        print(f"query project/branch/test-name on {count} x {tests}: {ms:.1f} ms ({len(rows)} rows)")
        return {"query_ms": ms, "rows": float(len(rows)), "reports": float(count)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=int, default=400)
    ap.add_argument("--query-reports", type=int, default=10000)
    args = ap.parse_args()
    results = {"audit": bench_audit(args.reports), "query": bench_query(args.query_reports)}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "audit.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
