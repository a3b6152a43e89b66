"""pytest plugin overhead on a 1000-test trivial suite, before/after in one run (issues 3 and 11).

Run:  .venv/bin/python benchmarks/bench_pytest_plugin.py [--runs 9] [--tests 1000]
                                                          [--baseline REV] [--instructions] [--no-readme]

What is measured, as a user installs it: each tree (this work tree, and ``--baseline REV``
exported with ``git archive``) is installed **non-editable** (``pip install . plugins/pytest-jux``,
so pip pre-compiles the ``.pyc`` files as in any real installation) into its own venv under
``benchmarks/.work/`` next to the same pytest version as the running interpreter and nothing
else, and pytest's plugin autoload stays **on** (so a ``pytest11`` entry point costs what it
costs: pytest marks every module of a distribution that declares one for assertion rewriting).

Configurations, each a fresh ``python -m pytest`` process writing ``--junitxml``:

* ``blocked``         — ``-p no:jux`` (the reference);
* ``installed, off``  — the plugin loads but ``--jux`` is not given;
* ``on (RSA-2048)``   — ``--jux`` with an RSA-2048 file key + certificate and the filesystem
  store (metadata with git, signature, store, ``--junitxml`` replaced by the signed bytes);

each with ``PYTHONDONTWRITEBYTECODE=1`` (common in CI containers: nothing new is cached, so
assertion-rewritten modules are rewritten on every run; pytest's rewritten-module caches are
deleted before each such run, as a fresh container has none) and without it; plus ``jux --help``.
Runs alternate round-robin over every (tree, bytecode, configuration) to spread machine noise;
each figure is the median of ``--runs`` runs. Targets (issue 11): on ≤ +60 ms and installed-but-off
≤ +10 ms over blocked, ``jux --help`` ≤ 80 ms, in both bytecode settings.

``--instructions`` runs each configuration once under valgrind's callgrind instead and reports the
instructions executed: slow (minutes per run), but the same whatever else the machine is doing,
so before/after differences stay visible on a busy machine where wall-clock medians do not.

Where the time of an enabled run goes is measured in the work tree's venv: ``-X importtime`` of an
enabled and a blocked run (modules only the enabled run imports, grouped by top-level package,
self time) and the in-process time of each phase. Results go to
``benchmarks/results/pytest_plugin.json`` and between the ``pytest-plugin`` markers in
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
BENCH = WORK / "pytest-plugin"

TARGETS = {"installed, off": 10.0, "on (RSA-2048)": 60.0}
NO_BYTECODE = "PYTHONDONTWRITEBYTECODE=1"
BYTECODE_SETTINGS = (NO_BYTECODE, "bytecode written")
HELP_TARGET = 80.0


# --- set-up ----------------------------------------------------------------------------------


def make_suite(root: Path, n_tests: int, name: str = "suite") -> Path:
    """Write ``n_tests`` trivial test functions in modules of 100 into ``root/name``."""
    suite = root / name
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
    key, cert = root / "bench-key-2048.pem", root / "bench-cert-2048.pem"
    if not (key.exists() and cert.exists()):
        from juxsdk.keys import generate_key_pair

        key.unlink(missing_ok=True)
        cert.unlink(missing_ok=True)
        generate_key_pair(key, cert, bits=2048, subject="bench")
    return key, cert


def export_tree(rev: str) -> Path:
    """``git archive REV`` of this repository into ``.work/src-<rev>`` (once)."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", rev],
                         capture_output=True, text=True, check=True).stdout.strip()
    dest = WORK / f"src-{sha}"
    if not (dest / "pyproject.toml").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", sha], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def install(label: str, source: Path) -> Path:
    """A venv with ``source`` and its pytest plugin installed non-editable; returns its python."""
    import pytest

    venv = WORK / f"venv-{label}"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"pytest=={pytest.__version__}"], check=True)
    # --force-reinstall --no-deps: the tree may have changed since the last run; its
    # dependencies are installed once (first command) and kept.
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(source), str(source / "plugins" / "pytest-jux")], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(source), str(source / "plugins" / "pytest-jux")],
                   check=True, stdout=subprocess.DEVNULL)
    return py


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUX_", "JUXSDK_", "PYTEST_", "PYTHON"))}
    env.update({
        "JUX_DATA_DIR": str(BENCH / "data"),
        "JUX_CONFIG_DIR": str(BENCH / "conf"),
        "JUX_SYSTEM_CONFIG": str(BENCH / "no-system-config.toml"),
        "XDG_DATA_HOME": str(BENCH / "xdg-data"),
        "XDG_CONFIG_HOME": str(BENCH / "xdg-conf"),
    })
    return env


def configurations(
    trees: dict[str, dict[str, Path]], suites: dict[str, Path], key: Path, cert: Path
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Every (tree, bytecode setting, configuration) → (command, environment).

    Each bytecode setting has its own venv per tree and its own copy of the suite: runs without
    bytecode must never find the rewritten ``.pyc`` files that pytest caches in runs with it
    (pytest reads them even when it may not write), as in a fresh CI container.
    """
    extra = {
        "blocked": ["-p", "no:jux"],
        "installed, off": [],
        "on (RSA-2048)": ["--jux", f"--jux-key={key}", f"--jux-cert={cert}"],
    }
    configs: dict[str, tuple[list[str], dict[str, str]]] = {}
    for label, venvs in trees.items():
        for bytecode in BYTECODE_SETTINGS:
            py = venvs[bytecode]
            env = base_env()
            if bytecode == NO_BYTECODE:
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            common = ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={BENCH / 'out.xml'}",
                      str(suites[bytecode])]
            for name, args in extra.items():
                configs[f"{label} | {bytecode} | {name}"] = ([str(py), *common, *args], env)
            configs[f"{label} | {bytecode} | jux --help"] = ([str(py.parent / "jux"), "--help"], env)
    return configs


def run_once(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Run one process; return (wall ms, CPU ms = user + system time of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed * 1000, cpu * 1000


# --- where the time goes ---------------------------------------------------------------------

PHASES = r"""
import json, sys, time
from pathlib import Path
T = time.perf_counter
out = {}
import pytest
t = T(); import pytest_jux.plugin
out["import pytest_jux.plugin (what an installed-but-off run imports)"] = T() - t
t = T(); import juxsdk.client, juxsdk.config, juxsdk.registry
out["import juxsdk.client, juxsdk.config, juxsdk.registry"] = T() - t
t = T(); reg = juxsdk.registry.Registry()
out["Registry() (entry points, no backend module)"] = T() - t
t = T()
cfg = juxsdk.config.load_config(project_dir=Path(sys.argv[1]), overrides={
    "signer": "file", "backends.file.key": sys.argv[2], "backends.file.certificate": sys.argv[3]})
out["load_config"] = T() - t
t = T(); jux = juxsdk.client.Jux.from_config(cfg, registry=reg, metadata=False)
out["Jux.from_config (imports file signer + filesystem store, loads the key)"] = T() - t
data = Path(sys.argv[4]).read_bytes()
t = T(); import juxsdk.junit, juxsdk.metadata
out["import juxsdk.junit, juxsdk.metadata (lxml)"] = T() - t
t = T(); report = juxsdk.junit.parse_report(data)
out["parse_report"] = T() - t
t = T(); props = juxsdk.metadata.collect_metadata(root=Path(sys.argv[1]), harness="pytest", registry=reg)
out["collect_metadata (git subprocesses)"] = T() - t
t = T(); report = juxsdk.junit.add_properties(report, props)
out["add_properties"] = T() - t
t = T(); import juxsdk.xmldsig
out["import juxsdk.xmldsig (signxml, cryptography)"] = T() - t
t = T(); jux.submit(report); out["submit: sign RSA-2048 + filesystem store"] = T() - t
print(json.dumps(out))
"""


def phases(py: Path, suite: Path, key: Path, cert: Path, env: dict[str, str], runs: int = 5) -> dict[str, float]:
    """Median in-process time (ms) of each phase of an enabled run, in a fresh process each."""
    unsigned = BENCH / "unsigned.xml"
    subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:jux",
                    f"--junitxml={unsigned}", str(suite)], env=env, cwd=BENCH, capture_output=True, check=True)
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run([str(py), "-c", PHASES, str(suite), str(key), str(cert), str(unsigned)],
                              env=env, cwd=BENCH, capture_output=True, text=True, check=True)
        for name, value in json.loads(proc.stdout).items():
            samples.setdefault(name, []).append(value * 1000)
    return {name: statistics.median(v) for name, v in samples.items()}


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _import_self_times(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    env = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(cmd, env=env, cwd=BENCH, capture_output=True, text=True, check=True)
    out: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            out[m.group(4)] = int(m.group(1)) / 1000.0  # self time, ms
    return out


def import_costs(py: Path, suite: Path, key: Path, cert: Path, env: dict[str, str],
                 runs: int = 5) -> dict[str, float]:
    """Self import time (ms, median of ``runs``) of what only the enabled run imports, per top-level package."""
    common = [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={BENCH / 'out.xml'}", str(suite)]
    per_pkg: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        blocked = _import_self_times([*common, "-p", "no:jux"], env)
        enabled = _import_self_times([*common, "--jux", f"--jux-key={key}", f"--jux-cert={cert}"], env)
        totals: dict[str, float] = defaultdict(float)
        for mod, ms in enabled.items():
            if mod not in blocked:
                totals[mod.split(".")[0]] += ms
        for pkg in set(totals) | set(per_pkg):
            per_pkg[pkg].append(totals.get(pkg, 0.0))
    med = {pkg: statistics.median(v) for pkg, v in per_pkg.items()}
    return dict(sorted(med.items(), key=lambda kv: -kv[1]))


# --- instruction counts (independent of other load on the machine) ----------------------------

_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(cmd: list[str], env: dict[str, str]) -> int:
    """Instructions the process executes (valgrind's callgrind ``Ir``; child processes such as
    git are not counted). Deterministic to ~0.1 % with a fixed hash seed, whatever else runs."""
    env = {**env, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
                          env=env, cwd=BENCH, capture_output=True, text=True)
    m = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or m is None:
        raise SystemExit(f"callgrind failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return int(m.group(1))


def instruction_table(configs: dict[str, tuple[list[str], dict[str, str]]], labels: list[str]) -> tuple[list[str], dict[str, int]]:
    counts: dict[str, int] = {}
    for cmd, env in configs.values():  # warm-up: page cache, rewritten-module cache where written
        run_once(cmd, env, BENCH)
    for name, (cmd, env) in configs.items():
        counts[name] = instructions(cmd, env)
        print(f"callgrind {name}: {counts[name]:,}", file=sys.stderr)
    lines = [
        "| tree | bytecode | configuration | instructions (M) | over blocked (M) | over blocked |",
        "|---|---|---|---:|---:|---:|",
    ]
    for label in labels:
        for bytecode in BYTECODE_SETTINGS:
            base = counts[f"{label} | {bytecode} | blocked"]
            for name in ("blocked", "installed, off", "on (RSA-2048)", "jux --help"):
                n = counts[f"{label} | {bytecode} | {name}"]
                if name in ("blocked", "jux --help"):
                    lines.append(f"| {label} | {bytecode} | {name} | {n / 1e6:,.0f} | — | — |")
                else:
                    lines.append(f"| {label} | {bytecode} | {name} | {n / 1e6:,.0f} | {(n - base) / 1e6:+,.0f} | "
                                 f"{(n - base) / base:+.1%} |")
    return lines, counts


#: What an enabled, signing run imports beyond pytest, in import order, by group.
IMPORT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cryptography (x509, serialization, pkcs12, rsa, ec, padding)",
     ("cryptography.x509", "cryptography.hazmat.primitives.serialization",
      "cryptography.hazmat.primitives.serialization.pkcs12", "cryptography.hazmat.primitives.asymmetric.rsa",
      "cryptography.hazmat.primitives.asymmetric.ec", "cryptography.hazmat.primitives.asymmetric.padding")),
    ("lxml.etree", ("lxml.etree",)),
    ("signxml", ("signxml",)),
    ("attrs", ("attrs",)),
    ("cattrs", ("cattrs", "cattrs.gen", "cattrs.errors")),
    ("filelock (filesystem store)", ("filelock",)),
    ("tomllib, platformdirs", ("tomllib", "platformdirs")),
    ("juxsdk: client, config, registry, junit, metadata, xmldsig, trust (+ models, protocols, errors…)",
     ("juxsdk.client", "juxsdk.config", "juxsdk.registry", "juxsdk.junit", "juxsdk.metadata", "juxsdk.xmldsig",
      "juxsdk.trust")),
    ("juxsdk_backends: file_key, filesystem", ("juxsdk_backends.file_key", "juxsdk_backends.filesystem")),
)


def import_instructions(py: Path) -> list[str]:
    """Instructions each import group adds on top of ``import pytest`` and the groups before it."""
    lines = ["| imported after pytest (cumulative, in this order) | instructions (M) |", "|---|---:|"]
    modules: list[str] = ["pytest"]
    previous = instructions([str(py), "-c", "import pytest"], base_env())
    total = 0
    for label, group in IMPORT_GROUPS:
        modules += group
        code = f"import importlib\nfor m in {modules!r}: importlib.import_module(m)"
        count = instructions([str(py), "-c", code], base_env())
        lines.append(f"| {label} | {(count - previous) / 1e6:,.0f} |")
        total += count - previous
        previous = count
    lines.append(f"| all of the above | {total / 1e6:,.0f} |")
    return lines


# --- report ----------------------------------------------------------------------------------


def table(labels: list[str], med: dict[str, float], mins: dict[str, float], cpu: dict[str, float]) -> list[str]:
    lines = [
        "| tree | bytecode | configuration | median ms | min ms | median over blocked | CPU ms (over blocked) | target (median) |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for label in labels:
        for bytecode in BYTECODE_SETTINGS:
            base = med[f"{label} | {bytecode} | blocked"]
            cpu_base = cpu[f"{label} | {bytecode} | blocked"]
            for name in ("blocked", "installed, off", "on (RSA-2048)", "jux --help"):
                key = f"{label} | {bytecode} | {name}"
                cpu_cell = f"{cpu[key]:.0f}"
                if name == "blocked":
                    over, target = "—", ""
                elif name == "jux --help":
                    over = "—"
                    target = f"≤ {HELP_TARGET:.0f} ms " + ("✅" if med[key] <= HELP_TARGET else "❌")
                else:
                    delta = med[key] - base
                    over = f"{delta:+.0f} ms"
                    cpu_cell += f" ({cpu[key] - cpu_base:+.0f})"
                    target = f"≤ +{TARGETS[name]:.0f} ms " + ("✅" if delta <= TARGETS[name] else "❌")
                lines.append(f"| {label} | {bytecode} | {name} | {med[key]:.0f} | {mins[key]:.0f} | {over} | "
                             f"{cpu_cell} | {target} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9, help="runs per configuration (median reported; ≥ 7)")
    ap.add_argument("--tests", type=int, default=1000, help="number of trivial tests in the suite")
    ap.add_argument("--baseline", metavar="REV", help="also measure this git revision (e.g. main), interleaved")
    ap.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    ap.add_argument("--import-instructions", action="store_true",
                    help="only count the instructions of the imports an enabled run needs, per library "
                    "(valgrind), in the work tree's venv")
    ap.add_argument("--instructions", action="store_true",
                    help="only count instructions under valgrind (one run per configuration, slow, but "
                    "independent of other load); written to results/pytest_plugin_instructions.json")
    args = ap.parse_args()

    BENCH.mkdir(parents=True, exist_ok=True)
    if args.import_instructions:
        text = "\n".join(import_instructions(install("worktree", REPO)))
        print(text)
        if not args.no_readme:
            _write_readme_block("pytest-plugin-imports", text)
        return
    suites = {NO_BYTECODE: make_suite(BENCH, args.tests, "suite-nobytecode"),
              "bytecode written": make_suite(BENCH, args.tests, "suite")}
    suite = suites["bytecode written"]
    key, cert = make_keys(BENCH)
    trees: dict[str, dict[str, Path]] = {}
    if args.baseline:
        source = export_tree(args.baseline)
        trees[f"before ({args.baseline})"] = {NO_BYTECODE: install("baseline-nobytecode", source),
                                              "bytecode written": install("baseline", source)}
    trees["after" if args.baseline else "this tree"] = {NO_BYTECODE: install("worktree-nobytecode", REPO),
                                                        "bytecode written": install("worktree", REPO)}
    configs = configurations(trees, suites, key, cert)
    if args.instructions:
        lines, counts = instruction_table(configs, list(trees))
        text = "\n".join([
            f"{args.tests:,} trivial tests; instructions executed by the pytest process (valgrind callgrind `Ir`, "
            "one run each, `PYTHONHASHSEED=0`; git child processes not counted), same installs as above:",
            "",
            *lines,
        ])
        print(text)
        (HERE / "results" / "pytest_plugin_instructions.json").write_text(
            json.dumps({"tests": args.tests, "instructions": counts}, indent=2) + "\n")
        if not args.no_readme:
            _write_readme_block("pytest-plugin-instructions", text)
        return

    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in configs}
    cpu_times: dict[str, list[float]] = {name: [] for name in configs}
    for cmd, env in configs.values():  # warm-up: page cache, rewritten-module cache where written
        run_once(cmd, env, BENCH)
    for i in range(args.runs):
        for name, (cmd, env) in configs.items():
            wall, cpu = run_once(cmd, env, BENCH)
            times[name].append(wall)
            cpu_times[name].append(cpu)
        print(f"round {i + 1}/{args.runs}", file=sys.stderr)
    load_after = os.getloadavg()[0]

    med = {name: statistics.median(v) for name, v in times.items()}
    mins = {name: min(v) for name, v in times.items()}
    cpu_med = {name: statistics.median(v) for name, v in cpu_times.items()}
    labels = list(trees)
    py = trees[labels[-1]]["bytecode written"]
    env = base_env()
    phase_ms = phases(py, suite, key, cert, env)
    imports_ms = import_costs(py, suite, key, cert, env)

    lines = [
        f"{args.tests:,} trivial tests, `--junitxml` in every run, median of {args.runs} alternating runs "
        f"(wall ms per process), non-editable installs with pytest's plugin autoload on, "
        f"Python {platform.python_version()}, pytest {_pytest_version(py)}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before and {load_after:.1f} after.",
        "",
        *table(labels, med, mins, cpu_med),
        "",
        f"Where an enabled run's time goes ({labels[-1]}, bytecode written; medians of 5 fresh processes):",
        "",
        "- in-process phases:",
        *(f"  - {name}: {ms:.1f} ms" for name, ms in phase_ms.items()),
        "- self import time of the modules only the enabled run imports (`-X importtime`), per top-level package "
        f"(total {sum(imports_ms.values()):.0f} ms; `-X importtime` itself inflates it):",
        *(f"  - {pkg}: {ms:.1f} ms" for pkg, ms in imports_ms.items() if ms >= 0.5),
    ]
    text = "\n".join(lines)
    print(text)

    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "pytest_plugin.json").write_text(json.dumps(
        {"tests": args.tests, "runs": args.runs, "load_average": [load_before, load_after], "median_ms": med,
         "min_ms": mins, "cpu_median_ms": cpu_med, "phases_ms": phase_ms, "enabled_only_imports_ms": imports_ms,
         "all_ms": times, "all_cpu_ms": cpu_times}, indent=2) + "\n")
    if not args.no_readme:
        _write_readme_block("pytest-plugin", text)


def _write_readme_block(marker: str, text: str) -> None:
    """Replace the text between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` in README.md."""
    readme = HERE / "README.md"
    doc = readme.read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    doc = doc[: doc.index(start)] + f"{start}\n{text}\n{end}" + doc[doc.index(end) + len(end):]
    readme.write_text(doc)


def _pytest_version(py: Path) -> str:
    return subprocess.run([str(py), "-c", "import pytest; print(pytest.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


if __name__ == "__main__":
    main()
