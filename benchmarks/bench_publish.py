"""Publishing throughput: drain N queued 1k-test reports to the reference Jux API v1 server.

    python benchmarks/bench_publish.py [--reports 1000] [--tests 1000] [--workers 1]
                                       [--compare-src <another checkout>/src]

Same run, same reports, a fresh reference server (``python -m juxsdk.testing.server``, its own
process, signature check off, in-memory runs) for every client:

* ``pooled`` — :class:`juxsdk.outbox.Outbox` drain with :class:`HttpApiPublisher` (one pooled
  ``requests.Session`` with keep-alive, urllib3 Retry);
* ``naive`` — the same drain with a publisher doing ``requests.post`` per report (a new session
  and TCP connection each time);
* ``raw pooled loop`` — a bare ``session.post`` loop over the same bytes, no outbox: the floor the
  drain is compared against.

Every run must end with exactly one run per report on the server and an empty outbox.

The outbox's own cost, measured in a child process per juxsdk source tree (this one, and
``--compare-src`` — e.g. a checkout from before the SQLite outbox — in the same run, on the same
reports): ``enqueue`` of every report into a fresh, durable outbox (fsync on), a drain to a
publisher that returns a receipt at once (no network: the outbox's overhead alone), and a pooled
drain to a fresh reference server.

Writes benchmarks/results/publish.json (``--outbox-only``: publish-outbox.json) and the tables
between the ``publish`` and ``publish-outbox`` markers in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import requests  # noqa: E402
from genreports import make_report as gen_report  # noqa: E402

from juxsdk.errors import PermanentPublishError, TransientPublishError  # noqa: E402
from juxsdk.junit import parse_report  # noqa: E402
from juxsdk.models import PublishReceipt  # noqa: E402
from juxsdk.outbox import Outbox  # noqa: E402
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions  # noqa: E402


class NaivePublisher:
    """One ``requests.post`` (new session, new connection) per report: the comparison client."""

    name: ClassVar[str] = "http"

    def __init__(self, url: str) -> None:
        self.endpoint = url + "/junit/submit"

    def publish(self, report: Any) -> PublishReceipt:
        try:
            r = requests.post(self.endpoint, data=report.data, timeout=(5, 30), headers={
                "Content-Type": "application/xml; charset=utf-8", "Accept": "application/json",
                "Idempotency-Key": report.canonical_hash})
        except requests.RequestException as exc:
            raise TransientPublishError(type(exc).__name__) from None
        if r.status_code in (201, 409):
            body = r.json()
            return PublishReceipt("http", report.canonical_hash, run_id=body.get("test_run_id"))
        if r.status_code >= 500 or r.status_code == 429:
            raise TransientPublishError(f"HTTP {r.status_code}", status=r.status_code)
        raise PermanentPublishError(f"HTTP {r.status_code}", status=r.status_code)

    def close(self) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """The reference server in its own process (so it does not share the client's GIL)."""

    def __init__(self) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "juxsdk.testing.server", "--port", str(self.port)],
            stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "reference server" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{self.port}/api/v1"

    def count_runs(self) -> int:
        r = requests.get(self.url + "/test_runs", params={"per_page": 1}, timeout=10)
        return int(r.json()["meta"]["total"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def build_reports(n: int, tests: int, *, small: bool = False) -> list[bytes]:
    """``n`` distinct reports of ``tests`` testcases (a unique property each).

    Default: pytest-style cases with captured output, ~0.36 KB per test (as bench_stores.py);
    ``small``: juxsdk.testing.samples.generate_report, ~0.08 KB per test.
    """
    if small:
        from juxsdk.testing.samples import generate_report

        return [generate_report(tests, failures=tests // 10, project="bench", suite="bench",
                                properties=[("bench:index", str(i))]) for i in range(n)]
    base = gen_report(tests)
    anchor = b'hostname="bench">'
    assert anchor in base, base[:300]
    out = []
    for i in range(n):
        props = (f'hostname="bench">\n<properties><property name="project" value="bench"/>'
                 f'<property name="bench:index" value="{i}"/></properties>').encode()
        out.append(base.replace(anchor, props, 1))
    return out


def make_template(reports: list[bytes], root: Path) -> Path:
    template = root / "template"
    ob = Outbox(path=template, durable=False)
    for data in reports:
        ob.enqueue(parse_report(data), "http")
    return template


#: Run in a child process with PYTHONPATH=<a juxsdk source tree>: the outbox's own costs there.
#: Only API that every juxsdk outbox has: Outbox(path=..., durable=...), enqueue, drain, entries.
OUTBOX_COSTS = """
import json, sys, time
from pathlib import Path
from juxsdk.junit import parse_report
from juxsdk.models import PublishReceipt
from juxsdk.outbox import Outbox
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions

class Null:
    name = "http"
    def publish(self, report):
        return PublishReceipt("http", report.canonical_hash, run_id="r")
    def close(self):
        pass

files, root, url = sorted(Path(sys.argv[1]).glob("*.xml")), Path(sys.argv[2]), sys.argv[3]
reports = [parse_report(f.read_bytes()) for f in files]
out = {}
for label, pub in (("null", Null()), ("server", None)) if url != "-" else (("null", Null()),):
    box = Outbox(path=root / label)  # durable: as users run it
    t0 = time.perf_counter()
    for r in reports:
        box.enqueue(r, "http")
    out[f"enqueue_{label}"] = time.perf_counter() - t0
    if pub is None:
        pub = HttpApiPublisher(HttpApiPublisherOptions(url=url, backoff_base=0.05, max_attempts=3))
    t0 = time.perf_counter()
    result = box.drain({"http": pub}, force=True)
    out[f"drain_{label}"] = time.perf_counter() - t0
    pub.close()
    assert len(result.published) == len(reports) and not box.entries(), label
print(json.dumps(out))
"""


def _outbox_child(label: str, src: Path, files: Path, root: Path, *, server: bool) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(dir=root))
    srv = ServerProcess() if server else None
    try:
        env = {**os.environ, "PYTHONPATH": str(src)}
        proc = subprocess.run([sys.executable, "-c", OUTBOX_COSTS, str(files), str(work), srv.url if srv else "-"],
                              env=env, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"{label}: {proc.stderr[-2000:]}")
        result: dict[str, float] = json.loads(proc.stdout)
        if srv is not None:
            result["runs"] = srv.count_runs()
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return result


def outbox_costs(sources: list[tuple[str, Path]], reports: list[bytes], root: Path,
                 repeat: int) -> list[dict[str, Any]]:
    """Enqueue and drain costs of the outbox of each juxsdk source tree (child processes).

    The sources take turns ``repeat`` times (so that load from other jobs hits them alike); the
    medians are reported.
    """
    files = root / "files"
    files.mkdir()
    for i, data in enumerate(reports):
        (files / f"{i:05d}.xml").write_bytes(data)
    samples: dict[str, list[dict[str, float]]] = {label: [] for label, _ in sources}
    for _ in range(repeat):
        for label, src in sources:
            samples[label].append(_outbox_child(label, src, files, root, server=True))
    n = len(reports)
    rows = []
    for label, _ in sources:
        runs = samples[label][0]["runs"]
        assert all(s["runs"] == n for s in samples[label]), (label, runs)
        enqueue = statistics.median(t for s in samples[label] for t in (s["enqueue_null"], s["enqueue_server"]))
        drain = statistics.median(s["drain_null"] for s in samples[label])
        servers = [n / s["drain_server"] for s in samples[label]]
        rows.append({"outbox": label, "reports": n, "repeat": repeat,
                     "enqueue_ms": round(1000 * enqueue / n, 2), "drain_null_ms": round(1000 * drain / n, 2),
                     "drain_null_rate": round(n / drain, 1),
                     "drain_server_rate": round(statistics.median(servers), 1),
                     "drain_server_range": [round(min(servers)), round(max(servers))], "runs_on_server": runs})
    return rows


def drain_run(label: str, template: Path, root: Path, make_pub: Any, n: int, workers: int) -> dict[str, Any]:
    label = f"{label}, {workers} worker{'s' if workers > 1 else ''}"
    path = root / f"run-{len(list(root.iterdir()))}"
    shutil.copytree(template, path)
    server = ServerProcess()
    try:
        pub = make_pub(server.url)
        ob = Outbox(path=path)
        t0 = time.perf_counter()
        result = ob.drain({"http": pub}, force=True, workers=workers)
        elapsed = time.perf_counter() - t0
        pub.close()
        runs = server.count_runs()
    finally:
        server.stop()
    assert len(result.published) == n and result.ok, (label, result.retrying[:1], result.dead[:1])
    assert runs == n, (label, runs)
    assert Outbox(path=path).entries() == []
    return {"client": label, "workers": workers, "reports": n, "seconds": round(elapsed, 3),
            "rate": round(n / elapsed, 1),
            "ms_per_report": round(1000 * elapsed / n, 2), "runs_on_server": runs}


def raw_loop(reports: list[bytes]) -> dict[str, Any]:
    server = ServerProcess()
    try:
        s = requests.Session()
        t0 = time.perf_counter()
        for data in reports:
            r = s.post(server.url + "/junit/submit", data=data, timeout=30,
                       headers={"Content-Type": "application/xml"})
            assert r.status_code == 201
        elapsed = time.perf_counter() - t0
        s.close()
        runs = server.count_runs()
    finally:
        server.stop()
    n = len(reports)
    return {"client": "raw pooled loop (no outbox)", "reports": n, "seconds": round(elapsed, 3),
            "rate": round(n / elapsed, 1), "ms_per_report": round(1000 * elapsed / n, 2), "runs_on_server": runs}


def server_parse_ms(reports: list[bytes]) -> float:
    sample = reports[: min(50, len(reports))]
    t0 = time.perf_counter()
    for data in sample:
        parse_report(data)
    return 1000 * (time.perf_counter() - t0) / len(sample)


def write_readme(rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    readme = HERE / "README.md"
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    table = [
        "| client | reports | seconds | reports/s | ms/report | runs on server |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(f"| {r['client']} | {r['reports']:,} | {r['seconds']:.2f} | {r['rate']:.0f} | "
                     f"{r['ms_per_report']:.2f} | {r['runs_on_server']:,} |")
    pooled = max((r for r in rows if r["client"].startswith("pooled")), key=lambda r: r["rate"])
    naive = next(r for r in rows if r["client"].startswith("naive") and r["workers"] == pooled["workers"])
    notes = [
        "",
        f"- Reports: {meta['reports']:,} distinct reports of {meta['tests']:,} testcases "
        f"({meta['report_bytes'] / 1e6:.2f} MB each), queued in the outbox before timing.",
        f"- Best pooled drain ({pooled['workers']} worker(s)) vs naive client with as many workers: "
        f"{pooled['rate'] / naive['rate']:.2f}× "
        f"(target ≥ 200 reports/s pooled: {'met' if pooled['rate'] >= 200 else 'NOT met'}).",
        f"- The server parses and canonicalises every report (`parse_report`: "
        f"{meta['server_parse_ms']:.1f} ms per report measured in this process), which bounds all rows.",
        f"- Machine: {meta['machine']}, Python {meta['python']}, {meta['cpus']} CPUs, load average "
        f"{meta['load_before']:.1f} at start (other jobs running); server in its own process.",
    ]
    tag = "publish-small" if meta.get("small") else "publish"
    start_m, end_m = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
    title = ("Smaller reports (`--small`, juxsdk.testing.samples):" if meta.get("small")
             else "1k-test pytest-style reports (default):")
    block = "\n".join([start_m, title, "", *table, *notes, end_m])
    if start_m in text:
        text = text[:text.index(start_m)] + block + text[text.index(end_m) + len(end_m):]
    else:
        other = "<!-- publish:end -->" if tag == "publish-small" else "<!-- publish-small:end -->"
        if other in text:
            at = text.index(other) + len(other)
            text = text[:at] + "\n\n" + block + text[at:]
        else:
            text = (text.rstrip() + "\n\n## Publishing: outbox drain to the reference Jux API server (issue 6)\n\n"
                    "`python benchmarks/bench_publish.py [--small] [--workers 4]`\n\n" + block + "\n")
    readme.write_text(text)


def write_outbox_table(costs: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    table = [
        "| outbox | reports | enqueue ms/report (durable) | drain ms/report, no network | "
        "drain reports/s, no network | drain reports/s, reference server (min–max) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in costs:
        spread = c.get("drain_server_range")
        table.append(f"| {c['outbox']} | {c['reports']:,} | {c['enqueue_ms']:.2f} | {c['drain_null_ms']:.2f} | "
                     f"{c['drain_null_rate']:.0f} | {c['drain_server_rate']:.0f}"
                     + (f" ({spread[0]}–{spread[1]})" if spread else "") + " |")
    notes = [
        "",
        f"- Same run, same {meta['reports']:,} reports ({meta['report_bytes'] / 1e6:.2f} MB each), child "
        f"processes taking turns ({costs[0]['repeat']} each, medians; a fresh reference server each time); each "
        "enqueue is durable (fsync), as users run it; the no-network drain's publisher returns a receipt at "
        "once, so that column is the outbox's own overhead; the reference-server column is bounded by the "
        "server (it parses every report) and moves with the machine's load.",
        f"- Machine: {meta['machine']}, Python {meta['python']}, {meta['cpus']} CPUs, load average "
        f"{meta['load_before']:.1f} at start.",
    ]
    start_m, end_m = "<!-- publish-outbox:start -->", "<!-- publish-outbox:end -->"
    block = "\n".join([start_m, "The outbox itself, this version against `--compare-src`:", "", *table, *notes, end_m])
    if start_m in text:
        text = text[:text.index(start_m)] + block + text[text.index(end_m) + len(end_m):]
    else:
        at = text.index("<!-- publish:end -->") + len("<!-- publish:end -->")
        text = text[:at] + "\n\n" + block + text[at:]
    readme.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--tests", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4, help="concurrent drain workers for the second pair of rows")
    ap.add_argument("--small", action="store_true",
                    help="smaller reports (juxsdk.testing.samples, ~80 B/test) instead of ~360 B/test")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update README/results")
    ap.add_argument("--compare-src", type=Path, metavar="DIR",
                    help="also measure the outbox of the juxsdk in DIR (a src/ directory), same run")
    ap.add_argument("--compare-label", default=None, help="name of --compare-src in the table")
    ap.add_argument("--outbox-only", action="store_true", help="only the outbox cost table")
    ap.add_argument("--repeat", type=int, default=3, help="turns of the outbox cost measurement (median)")
    args = ap.parse_args()

    reports = build_reports(args.reports, args.tests, small=args.small)
    with tempfile.TemporaryDirectory(prefix="jux-bench-publish-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        template = make_template(reports, root)
        print(f"queued {len(reports)} reports in {time.perf_counter() - t0:.1f} s", flush=True)
        opts = dict(backoff_base=0.05, max_attempts=3)
        def pooled(url: str) -> HttpApiPublisher:
            return HttpApiPublisher(HttpApiPublisherOptions(url=url, **opts))

        sources = [("this version", REPO / "src")]
        if args.compare_src:
            sources.append((args.compare_label or f"--compare-src {args.compare_src}", args.compare_src))
        costs = outbox_costs(sources, reports, root, args.repeat)
        for c in costs:
            print(f"{c['outbox']:<50} enqueue {c['enqueue_ms']:.2f} ms/report, drain (no network) "
                  f"{c['drain_null_ms']:.2f} ms/report, drain (server) {c['drain_server_rate']:.0f} reports/s",
                  flush=True)
        rows = []
        for workers in sorted({1, args.workers}) if not args.outbox_only else ():
            rows.append(drain_run("pooled (HttpApiPublisher, outbox drain)", template, root, pooled,
                                  len(reports), workers))
            rows.append(drain_run("naive (requests.post per report, outbox drain)", template, root,
                                  NaivePublisher, len(reports), workers))
        if not args.outbox_only:
            rows.append(raw_loop(reports))
    meta = {
        "reports": args.reports, "tests": args.tests, "load_before": os.getloadavg()[0],
        "report_bytes": len(reports[0]), "small": args.small,
        "server_parse_ms": server_parse_ms(reports),
        "machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
        "outbox": costs,
    }
    for r in rows:
        print(f"{r['client']:<50} {r['rate']:>7.0f} reports/s  {r['ms_per_report']:.2f} ms/report")
    if args.outbox_only:
        if not args.no_write:
            (HERE / "results").mkdir(exist_ok=True)
            (HERE / "results" / "publish-outbox.json").write_text(json.dumps({"meta": meta}, indent=2) + "\n")
            write_outbox_table(costs, meta)
        return
    if not args.no_write:
        (HERE / "results").mkdir(exist_ok=True)
        name = "publish-small.json" if args.small else "publish.json"
        (HERE / "results" / name).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
        write_readme(rows, meta)
        write_outbox_table(costs, meta)


if __name__ == "__main__":
    main()
