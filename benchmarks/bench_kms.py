"""KMS benchmark: signing 1,000-testcase reports with an AWS KMS key (moto on loopback) vs PKCS#11 vs a file key (issue 15).

Run:  .venv/bin/python benchmarks/bench_kms.py [--tests 1000] [--rounds 9] [--per-round 10] [--no-readme]

The three signers run in the same process on the same report, RSA-2048 and EC P-256 each: a
PEM file key, a SoftHSM2 token key (tests/softhsm.py) and an AWS KMS key on moto's standalone
server on 127.0.0.1 (tests/kmssupport.py; boto3 over HTTP, exactly as against AWS). Rounds
alternate file / PKCS#11 / KMS so machine noise hits all alike; each figure is the median over
rounds of the mean time per report. Also measured: raw ``sign()`` calls per second on a
700-byte SignedInfo-sized input, which isolates the per-signature cost (for KMS: one ``Sign``
round trip; the public key is read once per process).

Moto is a Python server on the same 2-CPU machine, so its round trip (server CPU included) is
an upper bound for loopback and a lower bound for a real region, where the round trip is the
network latency to the KMS endpoint (typically 5–30 ms inside the region).
Results go to benchmarks/results/kms.json and between the ``kms`` markers in README.md.
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


def _round(fn, per_round: int) -> tuple[float, float]:
    """(wall ms, process CPU ms) per call, mean over ``per_round`` calls."""
    c = time.process_time()
    t = time.perf_counter()
    for _ in range(per_round):
        fn()
    return (time.perf_counter() - t) * 1000 / per_round, (time.process_time() - c) * 1000 / per_round


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", type=int, default=1000, help="testcases per report")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = ap.parse_args()

    from tests.kmssupport import kms_server
    from tests.softhsm import skip_reason, softhsm_environment

    reason = skip_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    hsm = softhsm_environment()
    kms = kms_server()
    os.environ.update(kms.env())

    import genreports

    import juxsdk
    from juxsdk.keys import generate_key_pair
    from juxsdk_backends.awskms import AwsKmsOptions, AwsKmsSigner
    from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner
    from juxsdk_backends.pkcs11 import Pkcs11Signer

    data = genreports.make_report(args.tests)
    work = Path(tempfile.mkdtemp(prefix="jux-bench-kms-"))
    groups = []
    for kind, name, gen in (
        ("RSA-2048", "rsa2048", {"key_type": "rsa", "bits": 2048}),
        ("EC P-256", "p256", {"key_type": "ec", "curve": "P-256"}),
    ):
        kp = generate_key_pair(work / f"{name}-key.pem", work / f"{name}-cert.pem", **gen)
        signers = {
            "file": FileKeySigner(FileKeyOptions(key=kp.key_path, certificate=kp.cert_path)),
            "pkcs11": Pkcs11Signer(hsm.options(name)),
            "awskms": AwsKmsSigner(AwsKmsOptions(key_id=kms.keys[name].alias)),
        }
        groups.append((kind, signers))

    probe = b"<ds:SignedInfo>" + b"x" * 685 + b"</ds:SignedInfo>"
    rows = []
    for kind, signers in groups:
        for s in signers.values():  # warm up: load keys, log in, fetch the KMS public key
            for _ in range(3):
                signed = juxsdk.sign_report(data, s).data
                juxsdk.verify_report(signed, juxsdk.TrustedPublicKeys([s.public_key()]))
        wall: dict[str, list[float]] = {n: [] for n in signers}
        cpu: dict[str, list[float]] = {n: [] for n in signers}
        for _ in range(args.rounds):
            for n, s in signers.items():
                w, c = _round(lambda s=s: juxsdk.sign_report(data, s), args.per_round)
                wall[n].append(w)
                cpu[n].append(c)
        raw = {n: statistics.median(_round(lambda s=s: s.sign(probe), 50)[0] for _ in range(5))
               for n, s in signers.items()}
        med = {n: statistics.median(v) for n, v in wall.items()}
        rows.append(
            {
                "key": kind,
                "ms_per_report": med,
                "cpu_ms_per_report": {n: statistics.median(v) for n, v in cpu.items()},
                "reports_per_s": {n: 1000 / v for n, v in med.items()},
                "added_ms_over_file": {n: med[n] - med["file"] for n in signers if n != "file"},
                "raw_signs_per_s": {n: 1000 / v for n, v in raw.items()},
                "raw_sign_ms": raw,
            }
        )
        for s in signers.values():
            s.close()
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
        "rows": rows,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "kms.json").write_text(json.dumps(result, indent=2) + "\n")

    table = [
        f"Report: {args.tests:,} testcases ({len(data) / 1e6:.2f} MB), signed from its bytes with "
        "`juxsdk.sign_report`; median of "
        f"{args.rounds} rounds x {args.per_round} reports, file / PKCS#11 (SoftHSM2) / AWS KMS (moto "
        f"{_moto_version()} on 127.0.0.1) rounds alternating; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, 1-min load average {result['load_average_1min']:.1f} at the end of the run. "
        "Raw signs/s: `sign()` on a 700-byte SignedInfo-sized input (for KMS: one `Sign` round trip).",
        "",
        "| key | file ms/report | PKCS#11 ms/report | KMS ms/report | PKCS#11 adds ms/report | "
        "KMS adds ms/report | reports/s file / PKCS#11 / KMS | raw signs/s file / PKCS#11 / KMS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        m, a, s, p = r["ms_per_report"], r["added_ms_over_file"], r["raw_signs_per_s"], r["reports_per_s"]
        table.append(
            f"| {r['key']} | {m['file']:.2f} | {m['pkcs11']:.2f} | {m['awskms']:.2f} | {a['pkcs11']:+.2f} | "
            f"{a['awskms']:+.2f} | {p['file']:.0f} / {p['pkcs11']:.0f} / {p['awskms']:.0f} | "
            f"{s['file']:,.0f} / {s['pkcs11']:,.0f} / {s['awskms']:,.0f} |"
        )
    text = "\n".join(table)
    print(text)
    if not args.no_readme:
        _update_readme(text)
    return 0


def _moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def _update_readme(text: str) -> None:
    readme = HERE / "README.md"
    body = readme.read_text() if readme.exists() else "# Benchmarks\n"
    start, end = "<!-- kms:start -->", "<!-- kms:end -->"
    block = f"{start}\n{text}\n{end}"
    if start in body and end in body:
        before, rest = body.split(start, 1)
        _, after = rest.split(end, 1)
        body = before + block + after
    else:
        body = (
            body.rstrip("\n")
            + "\n\n## AWS KMS next to PKCS#11 and the file key (issue 15)\n\n"
            "`python benchmarks/bench_kms.py` — the same report signed by a file key, a SoftHSM2 token "
            "key and an AWS KMS key on moto's standalone server (loopback), in one process. Per report "
            "KMS adds one `Sign` round trip; the public key is fetched once per process. Against AWS "
            "the added time is the network round trip to the regional endpoint instead of moto's "
            "(a Python server sharing the CPUs).\n\n"
            + block
            + "\n"
        )
    readme.write_text(body)


if __name__ == "__main__":
    raise SystemExit(main())
