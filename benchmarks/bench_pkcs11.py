"""PKCS#11 benchmark: signing 1,000-testcase reports with a SoftHSM2 key vs a file key (issue 4).

Run:  .venv/bin/python benchmarks/bench_pkcs11.py [--tests 1000] [--rounds 15] [--per-round 20] [--no-readme]

Both signers run in the same process on the same report: RSA-2048 and EC P-256, a key in a
throwaway SoftHSM2 token (tests/softhsm.py builds it) against the same kind of key in a PEM
file. Rounds alternate file / HSM so machine noise hits both alike; each figure is the median
over rounds of the mean time per report in a round. Also measured: raw ``sign()`` calls per
second (a 700-byte SignedInfo-sized input), which isolates the token round trip.

Target (issue 4): the HSM adds at most 2 ms per report over the file key.
Results go to benchmarks/results/pkcs11.json and between the ``pkcs11`` markers in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

TARGET_MS = 2.0


def _rounds(fn, rounds: int, per_round: int, cpu: list[float] | None = None) -> list[float]:
    """Mean wall ms per call for each round (process CPU ms per call appended to ``cpu``)."""
    out = []
    for _ in range(rounds):
        c = time.process_time()
        t = time.perf_counter()
        for _ in range(per_round):
            fn()
        out.append((time.perf_counter() - t) * 1000 / per_round)
        if cpu is not None:
            cpu.append((time.process_time() - c) * 1000 / per_round)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", type=int, default=1000, help="testcases per report")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--per-round", type=int, default=20)
    ap.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = ap.parse_args()

    from tests.softhsm import skip_reason, softhsm_environment

    reason = skip_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    hsm = softhsm_environment()

    import genreports

    import juxsdk
    from juxsdk.keys import generate_key_pair
    from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner
    from juxsdk_backends.pkcs11 import Pkcs11Signer

    data = genreports.make_report(args.tests)
    work = Path(tempfile.mkdtemp(prefix="jux-bench-pkcs11-"))
    pairs = []
    for kind, hsm_key, gen in (
        ("RSA-2048", "rsa2048", {"key_type": "rsa", "bits": 2048}),
        ("EC P-256", "p256", {"key_type": "ec", "curve": "P-256"}),
    ):
        kp = generate_key_pair(work / f"{hsm_key}-key.pem", work / f"{hsm_key}-cert.pem", **gen)
        file_signer = FileKeySigner(FileKeyOptions(key=kp.key_path, certificate=kp.cert_path))
        hsm_signer = Pkcs11Signer(hsm.options(hsm_key))
        pairs.append((kind, file_signer, hsm_signer))

    probe = b"<ds:SignedInfo>" + b"x" * 685 + b"</ds:SignedInfo>"
    rows = []
    for kind, file_signer, hsm_signer in pairs:
        for s in (file_signer, hsm_signer):  # warm up: load keys, log in, first signatures
            for _ in range(3):
                signed = juxsdk.sign_report(data, s).data
                juxsdk.verify_report(signed, juxsdk.TrustedPublicKeys([s.public_key()]))
        file_ms, hsm_ms, file_cpu, hsm_cpu = [], [], [], []
        n = args.per_round
        for _ in range(args.rounds):
            file_ms += _rounds(lambda s=file_signer: juxsdk.sign_report(data, s), 1, n, file_cpu)
            hsm_ms += _rounds(lambda s=hsm_signer: juxsdk.sign_report(data, s), 1, n, hsm_cpu)
        raw_file = _rounds(lambda s=file_signer: s.sign(probe), 5, 200)
        raw_hsm = _rounds(lambda s=hsm_signer: s.sign(probe), 5, 200)
        f, h = statistics.median(file_ms), statistics.median(hsm_ms)
        rows.append(
            {
                "key": kind,
                "file_ms": f,
                "hsm_ms": h,
                "file_reports_per_s": 1000 / f,
                "hsm_reports_per_s": 1000 / h,
                "delta_ms": h - f,
                "file_cpu_ms": statistics.median(file_cpu),
                "hsm_cpu_ms": statistics.median(hsm_cpu),
                "delta_cpu_ms": statistics.median(hsm_cpu) - statistics.median(file_cpu),
                "raw_file_signs_per_s": 1000 / statistics.median(raw_file),
                "raw_hsm_signs_per_s": 1000 / statistics.median(raw_hsm),
                "meets_target": (h - f) <= TARGET_MS,
            }
        )
        hsm_signer.close()
        file_signer.close()
    shutil.rmtree(work, ignore_errors=True)

    result = {
        "tests": args.tests,
        "report_bytes": len(data),
        "rounds": args.rounds,
        "per_round": args.per_round,
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "softhsm_module": str(hsm.module),
        "target_delta_ms": TARGET_MS,
        "rows": rows,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "pkcs11.json").write_text(json.dumps(result, indent=2) + "\n")

    table = [
        f"Report: {args.tests:,} testcases ({len(data) / 1e6:.2f} MB), signed from its bytes with "
        "`juxsdk.sign_report` (parse + C14N + digest + signature); "
        f"median of {args.rounds} rounds x {args.per_round} reports, file and HSM rounds alternating; "
        f"SoftHSM2 (`{hsm.module}`), Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"1-min load average {result['load_average_1min']:.1f} at the end of the run. "
        "CPU ms = process CPU time per report (less sensitive to other load on the machine).",
        "",
        "| key | file key ms/report | HSM ms/report | file reports/s | HSM reports/s | HSM adds ms "
        f"(target ≤ {TARGET_MS:g}) | file / HSM CPU ms | HSM adds CPU ms | "
        "raw file signs/s | raw HSM signs/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = "✓" if r["meets_target"] else "✗"
        table.append(
            f"| {r['key']} | {r['file_ms']:.2f} | {r['hsm_ms']:.2f} | {r['file_reports_per_s']:.0f} | "
            f"{r['hsm_reports_per_s']:.0f} | {r['delta_ms']:+.2f} {mark} | "
            f"{r['file_cpu_ms']:.2f} / {r['hsm_cpu_ms']:.2f} | {r['delta_cpu_ms']:+.2f} | "
            f"{r['raw_file_signs_per_s']:,.0f} | "
            f"{r['raw_hsm_signs_per_s']:,.0f} |"
        )
    text = "\n".join(table)
    print(text)
    if not args.no_readme:
        _update_readme(text)
    return 0 if all(r["meets_target"] for r in rows) else 1


def _update_readme(text: str) -> None:
    readme = HERE / "README.md"
    body = readme.read_text() if readme.exists() else "# Benchmarks\n"
    start, end = "<!-- pkcs11:start -->", "<!-- pkcs11:end -->"
    block = f"{start}\n{text}\n{end}"
    if start in body and end in body:
        before, rest = body.split(start, 1)
        _, after = rest.split(end, 1)
        body = before + block + after
    else:
        body = (
            body.rstrip("\n")
            + "\n\n## PKCS#11 (issue 4)\n\n`python benchmarks/bench_pkcs11.py` — HSM key (SoftHSM2) "
            "vs file key, same process, same report.\n\n"
            + block
            + "\n"
        )
    readme.write_text(body)


if __name__ == "__main__":
    raise SystemExit(main())
