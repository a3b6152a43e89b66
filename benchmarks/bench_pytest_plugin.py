"""pytest plugin overhead: a 1000-test trivial suite, wall time per pytest process (issue 3).

Run:  .venv/bin/python benchmarks/bench_pytest_plugin.py [--runs 15] [--tests 1000] [--no-readme]

Configurations (each a fresh ``python -m pytest`` process, ``--junitxml`` in every one so the
JUnit writing cost is the same; third-party plugin autoload is off and the plugins under test
are loaded with ``-p``, so other plugins installed in the venv do not blur the numbers):

* ``pytest alone``                 — no jux plugin;
* ``pytest-jux installed, off``    — ``-p pytest_jux.plugin`` without ``--jux``;
* ``pytest-jux on (RSA, local)``   — ``--jux`` with an RSA-3072 file key + certificate and the
  filesystem store (metadata with git, signature, store, junitxml replaced);
* ``pytest-jux 0.6.3 alone`` / ``pytest-jux 0.6.3 signing`` — the predecessor from PyPI in
  ``benchmarks/.work/peer-venv`` (created with ``python -m venv`` + ``pip install
  pytest-jux==0.6.3`` when missing), same pytest version, signing with the same key and local
  storage.

Bytecode caching is on (``PYTHONPYCACHEPREFIX`` under ``benchmarks/.work``), as in a real
installation. Runs are interleaved (round-robin over the configurations) to spread machine noise; each figure
is the median of ``--runs`` runs. Targets: installed-but-off <= +20 ms, on <= +100 ms over
pytest alone. Results go to ``benchmarks/results/pytest_plugin.json`` and the table between the
``pytest-plugin`` markers in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
PEER_VENV = WORK / "peer-venv"
BENCH = WORK / "pytest-plugin"
PEER_VERSION = "0.6.3"


def make_suite(root: Path, n_tests: int) -> Path:
    """Write ``n_tests`` trivial test functions in modules of 100."""
    suite = root / "suite"
    if suite.exists():
        shutil.rmtree(suite)
    suite.mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\n")
    per_module = 100
    for m in range((n_tests + per_module - 1) // per_module):
        count = min(per_module, n_tests - m * per_module)
        body = "\n\n".join(f"def test_{m}_{i}():\n    assert {i} == {i}" for i in range(count))
        (suite / f"test_mod{m:03d}.py").write_text(body + "\n")
    return suite


def make_keys(root: Path) -> tuple[Path, Path]:
    key, cert = root / "bench-key.pem", root / "bench-cert.pem"
    if not (key.exists() and cert.exists()):
        from juxsdk.keys import generate_key_pair

        key.unlink(missing_ok=True)
        cert.unlink(missing_ok=True)
        generate_key_pair(key, cert, subject="bench")  # RSA-3072, the `jux keygen` default
    return key, cert


def peer_python() -> Path | None:
    """The peer venv's python, created on first use; None when it cannot be installed."""
    py = PEER_VENV / "bin" / "python"
    if py.exists():
        check = subprocess.run([str(py), "-c", "import pytest_jux, pytest"], capture_output=True)
        if check.returncode == 0:
            return py
    import pytest

    print(f"creating {PEER_VENV} with pytest-jux=={PEER_VERSION} …", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", f"pytest-jux=={PEER_VERSION}", f"pytest=={pytest.__version__}"],
        capture_output=True, text=True,
    )
    if pip.returncode != 0:
        print(f"cannot install the peer: {pip.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return py


def configurations(
    suite: Path, key: Path, cert: Path, peer: Path | None
) -> dict[str, tuple[list[str], dict[str, str]]]:
    ours = sys.executable
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("JUX_", "JUXSDK_", "PYTEST_"))}
    base_env.update({
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "JUX_DATA_DIR": str(BENCH / "data"),
        "JUX_CONFIG_DIR": str(BENCH / "conf"),
        "XDG_DATA_HOME": str(BENCH / "xdg-data"),
        "XDG_CONFIG_HOME": str(BENCH / "xdg-conf"),
        # Bytecode caching on, as in any real installation (this machine sets
        # PYTHONDONTWRITEBYTECODE=1, which would recompile every juxsdk module in every run);
        # the .pyc files go to a separate tree so the source directories stay clean.
        "PYTHONPYCACHEPREFIX": str(BENCH / "pycache"),
    })
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)
    common = ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={BENCH / 'out.xml'}", str(suite)]
    configs: dict[str, tuple[list[str], dict[str, str]]] = {
        "pytest alone": ([ours, *common], base_env),
        "pytest-jux installed, off": ([ours, *common, "-p", "pytest_jux.plugin"], base_env),
        "pytest-jux on (RSA, local)": (
            [ours, *common, "-p", "pytest_jux.plugin", "--jux", f"--jux-key={key}", f"--jux-cert={cert}"],
            base_env,
        ),
    }
    if peer is not None:
        peer_env = dict(base_env)
        peer_env.update({"JUX_STORAGE_MODE": "local", "JUX_STORAGE_PATH": str(BENCH / "peer-store")})
        peer_common = [str(peer), *common]
        configs["pytest-jux 0.6.3 alone"] = (peer_common, base_env)
        configs["pytest-jux 0.6.3 signing"] = (
            [*peer_common, "-p", "pytest_metadata.plugin", "-p", "pytest_jux.plugin",
             "--jux-sign", f"--jux-key={key}", f"--jux-cert={cert}"],
            peer_env,
        )
    return configs


BREAKDOWN = r"""
import json, sys, time
from pathlib import Path
T = time.perf_counter
out = {}
import pytest
t = T(); import pytest_jux.plugin
out["import pytest_jux.plugin (all a disabled run pays, besides option parsing)"] = T() - t
t = T(); import juxsdk.client, juxsdk.config, juxsdk.junit, juxsdk.metadata, juxsdk.xmldsig
out["import juxsdk (client, config, junit, xmldsig)"] = T() - t
t = T(); from juxsdk.registry import Registry; reg = Registry()
out["Registry() (imports every backend module)"] = T() - t
t = T()
cfg = juxsdk.config.load_config(project_dir=Path(sys.argv[1]), overrides={
    "signer": "file", "backends.file.key": sys.argv[2], "backends.file.certificate": sys.argv[3]})
jux = juxsdk.client.Jux.from_config(cfg, registry=reg, metadata=False)
out["load_config + Jux.from_config (key load)"] = T() - t
data = Path(sys.argv[4]).read_bytes()
t = T()
report = juxsdk.junit.parse_report(data)
props = juxsdk.metadata.collect_metadata(root=Path(sys.argv[1]), harness="pytest", registry=reg)
report = juxsdk.junit.add_properties(report, props)
out["parse + collect_metadata (git) + add_properties"] = T() - t
t = T(); jux.submit(report); out["submit: sign RSA-3072 + filesystem store"] = T() - t
print(json.dumps(out))
"""


def breakdown(suite: Path, key: Path, cert: Path, env: dict[str, str], runs: int = 5) -> dict[str, float]:
    """Median in-process time (ms) of each phase of an enabled run, in a fresh process each."""
    unsigned = BENCH / "unsigned.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={unsigned}",
                    str(suite)], env=env, cwd=BENCH, capture_output=True, check=True)
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", BREAKDOWN, str(suite), str(key), str(cert), str(unsigned)],
                              env=env, cwd=BENCH, capture_output=True, text=True, check=True)
        for name, value in json.loads(proc.stdout).items():
            samples.setdefault(name, []).append(value * 1000)
    return {name: statistics.median(v) for name, v in samples.items()}


def run_once(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15, help="runs per configuration (median reported)")
    ap.add_argument("--tests", type=int, default=1000, help="number of trivial tests in the suite")
    ap.add_argument("--no-peer", action="store_true", help="skip pytest-jux 0.6.3")
    ap.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = ap.parse_args()

    BENCH.mkdir(parents=True, exist_ok=True)
    suite = make_suite(BENCH, args.tests)
    key, cert = make_keys(BENCH)
    peer = None if args.no_peer else peer_python()
    configs = configurations(suite, key, cert, peer)

    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in configs}
    for cmd, env in configs.values():  # warm-up: page cache, .pyc files
        run_once(cmd, env, BENCH)
    for i in range(args.runs):
        for name, (cmd, env) in configs.items():
            times[name].append(run_once(cmd, env, BENCH))
        print(f"round {i + 1}/{args.runs}", file=sys.stderr)

    load_after = os.getloadavg()[0]
    med = {name: statistics.median(v) * 1000 for name, v in times.items()}
    base = med["pytest alone"]
    peer_base = med.get("pytest-jux 0.6.3 alone")
    mins = {name: min(v) * 1000 for name, v in times.items()}
    lines = [
        f"{args.tests:,} trivial tests, median of {args.runs} runs (wall ms per pytest process), "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs.",
        "",
        "| configuration | median ms | min ms | median over pytest alone | min over pytest alone | target (median) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    targets = {"pytest-jux installed, off": 20.0, "pytest-jux on (RSA, local)": 100.0}
    for name in times:
        ref = peer_base if name == "pytest-jux 0.6.3 signing" and peer_base else base
        delta = med[name] - ref
        target = targets.get(name)
        verdict = "" if target is None else (f"≤ +{target:.0f} ms " + ("✅" if delta <= target else "❌"))
        min_ref = mins["pytest-jux 0.6.3 alone"] if name == "pytest-jux 0.6.3 signing" else mins["pytest alone"]
        is_base = name in ("pytest alone", "pytest-jux 0.6.3 alone")
        over = "—" if is_base else f"{delta:+.0f} ms"
        over_min = "—" if is_base else f"{mins[name] - min_ref:+.0f} ms"
        lines.append(f"| {name} | {med[name]:.0f} | {mins[name]:.0f} | {over} | {over_min} | {verdict} |")
    lines.append("")
    lines.append("The 0.6.3 row is compared with pytest alone in its own venv (same pytest version). "
                 f"1-minute load average {load_before:.1f} before and {load_after:.1f} after the runs: with "
                 "other work on the machine, wall-time deltas of a few tens of ms are noise; the in-process "
                 "phase times below are the steadier figure.")
    phases = breakdown(suite, key, cert, configs["pytest alone"][1])
    lines.append("")
    lines.append("Where the time goes (median of 5 fresh processes, in-process ms):")
    lines.append("")
    lines.extend(f"- {name}: {ms:.0f} ms" for name, ms in phases.items())
    table = "\n".join(lines)
    print(table)

    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "pytest_plugin.json").write_text(json.dumps(
        {"tests": args.tests, "runs": args.runs, "median_ms": med, "phases_ms": phases,
         "all_ms": {k: [t * 1000 for t in v] for k, v in times.items()}}, indent=2))
    if args.no_readme:
        return
    readme = HERE / "README.md"
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    start, end = "<!-- pytest-plugin:start -->", "<!-- pytest-plugin:end -->"
    block = f"{start}\n{table}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text += f"\n## pytest plugin (issue 3)\n\n`python benchmarks/bench_pytest_plugin.py`\n\n{block}\n"
    readme.write_text(text)


if __name__ == "__main__":
    main()
