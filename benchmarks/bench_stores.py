"""Store throughput: put / repeated put / get / list of 1k-test reports, filesystem vs S3.

    python benchmarks/bench_stores.py [--reports N] [--tests T]

Both stores run in the same process and the same run, on the same reports:

* ``filesystem`` — FilesystemStore on a temporary directory (atomic writes with fsync);
* ``s3`` — S3Store against moto's standalone S3 server on 127.0.0.1 (in this process, so the
  server's CPU time competes for the same GIL: absolute S3 figures are a floor for the
  client's overhead, not a prediction of AWS latency);
* ``s3 raw boto3`` — one plain ``put_object`` / ``get_object`` per report on the same server:
  the floor the S3 store is compared against.

Requests per operation are counted with a botocore ``before-send`` hook. Writes
benchmarks/results/stores.json and the table between the ``stores`` markers in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from genreports import make_report as gen_report  # noqa: E402

from juxsdk.config import Secret  # noqa: E402
from juxsdk.junit import parse_report  # noqa: E402
from juxsdk_backends.filesystem import FilesystemStore  # noqa: E402
from juxsdk_backends.s3 import S3Store  # noqa: E402

BUCKET = "jux-bench"


def timed(fn: Callable[[Any], Any], items: list[Any]) -> tuple[float, list[float]]:
    lat = []
    start = time.perf_counter()
    for item in items:
        t = time.perf_counter()
        fn(item)
        lat.append(time.perf_counter() - t)
    return time.perf_counter() - start, lat


def row(store: str, op: str, n: int, nbytes: int, total: float, lat: list[float], requests: float | None) -> dict:
    return {
        "store": store,
        "op": op,
        "reports": n,
        "mb": nbytes / 1e6,
        "seconds": total,
        "reports_per_s": n / total,
        "mb_per_s": nbytes / 1e6 / total,
        "median_ms": statistics.median(lat) * 1000,
        "p95_ms": sorted(lat)[int(len(lat) * 0.95) - 1] * 1000,
        "requests_per_report": requests,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100, help="number of distinct reports (default 100)")
    parser.add_argument("--tests", type=int, default=1000, help="testcases per report (default 1000)")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    reports = [parse_report(gen_report(args.tests, seed=i), source=f"bench-{i}") for i in range(args.reports)]
    nbytes = sum(len(r.data) for r in reports)
    hashes = [r.canonical_hash for r in reports]
    n = len(reports)
    print(f"{n} reports x {args.tests} testcases, {nbytes / n / 1e3:.0f} kB each, {nbytes / 1e6:.1f} MB total")

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    creds = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret"}
    raw = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds)
    raw.create_bucket(Bucket=BUCKET)

    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="jux-bench-") as tmp:
        fs = FilesystemStore(FilesystemStore.Options(root=Path(tmp) / "reports"))
        s3 = S3Store(
            S3Store.Options(
                bucket=BUCKET,
                prefix="bench",
                endpoint_url=endpoint,
                region="us-east-1",
                addressing_style="path",
                access_key_id=Secret(value="bench"),
                secret_access_key=Secret(value="bench-secret"),
            )
        )
        sent = {"n": 0}

        def count(**_: object) -> None:
            sent["n"] += 1

        s3._client().meta.events.register("before-send.s3", count)
        raw.meta.events.register("before-send.s3", count)

        def run(name: str, op: str, fn: Callable[[Any], Any], items: list[Any], counted: bool) -> None:
            sent["n"] = 0
            total, lat = timed(fn, items)
            results.append(row(name, op, n, nbytes, total, lat, sent["n"] / n if counted else None))

        for name, store, counted in (("filesystem", fs, False), ("s3", s3, True)):
            run(name, "put (new)", store.put, reports, counted)
            run(name, "put (again, no-op)", store.put, reports, counted)
            run(name, "get", store.get, hashes, counted)
            sent["n"] = 0
            t = time.perf_counter()
            listed = list(store.list())
            elapsed = time.perf_counter() - t
            assert len(listed) == n
            results.append(row(name, "list (all)", n, 0, elapsed, [elapsed], sent["n"] / n if counted else None))
        for r in reports:
            assert fs.get(r.canonical_hash) == r.data == s3.get(r.canonical_hash)

        keys = [f"raw/{h.removeprefix('sha256:')}.xml" for h in hashes]
        pairs = list(zip(keys, reports, strict=True))
        run("s3 raw boto3", "put (new)", lambda p: raw.put_object(Bucket=BUCKET, Key=p[0], Body=p[1].data), pairs, True)
        run("s3 raw boto3", "get", lambda k: raw.get_object(Bucket=BUCKET, Key=k)["Body"].read(), keys, True)
        fs.close()
        s3.close()
    server.stop()

    header = (
        "| store | operation | reports/s | MB/s | median ms | p95 ms | S3 requests/report |\n"
        "|---|---|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r in results:
        req = "" if r["requests_per_report"] is None else f"{r['requests_per_report']:.1f}"
        mbs = f"{r['mb_per_s']:.1f}" if r["mb"] else ""
        lines.append(
            f"| {r['store']} | {r['op']} | {r['reports_per_s']:.0f} | {mbs} | {r['median_ms']:.2f} | "
            f"{r['p95_ms']:.2f} | {req} |"
        )
    table = header + "\n".join(lines)
    print(table)
    meta = {
        "reports": n,
        "tests_per_report": args.tests,
        "bytes_per_report": nbytes // n,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out = HERE / "results" / "stores.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        update_readme(table, meta)
    return 0


def update_readme(table: str, meta: dict) -> None:
    readme = HERE / "README.md"
    start, end = "<!-- stores:start -->", "<!-- stores:end -->"
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    block = (
        f"{start}\n{meta['reports']} distinct reports of {meta['tests_per_report']:,} testcases "
        f"({meta['bytes_per_report'] / 1e3:.0f} kB each), Python {meta['python']}, {meta['machine']}.\n\n"
        f"{table}\n{end}"
    )
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = (
            text.rstrip("\n") + "\n\n## Stores: filesystem and S3 (issue 5)\n\n`python benchmarks/bench_stores.py`\n\n"
        )
        text += block + "\n"
    readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
