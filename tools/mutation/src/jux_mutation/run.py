"""``jux-mutation``: cosmic-ray over juxsdk's verification path, in a copy of the repository.

Steps (each a cosmic-ray command or a small step around one):

1. copy ``src/``, ``tests/`` and ``pyproject.toml`` into a work directory (cosmic-ray mutates
   files in place: the checkout is never touched, an interrupted run leaves nothing behind), with
   ``../shared`` linked beside the copy for the corpus and the vectors; compile the copy with
   hash-checked ``.pyc`` files so that a mutant is never hidden by a stale cache;
2. run the test command once on the unmutated copy: it must pass (else every mutant would count
   as killed);
3. ``cosmic-ray init`` with ``tools/mutation/cosmic-ray.toml`` (the module list and the test
   command are there), then the operator filter of that file (cosmic-ray's ``operators-filter``
   semantics, in one transaction) and, for ``--sample N``, mark all but a deterministic sample as
   skipped (the mutants sorted by module, operator and occurrence, ``random.Random(seed).sample``);
4. ``cosmic-ray exec`` (the local distributor: one pytest process per mutant, ``PYTHONPATH``
   pointing at the copy; with ``--workers N``, cosmic-ray's http distributor and N loopback
   workers, each in its own copy, ``jux_mutation.worker``), stopped after ``--time-limit``
   seconds if given (cosmic-ray takes the pending mutants in random order, so what a bounded
   run tested is a random subset);
5. score: killed / (killed + survived), overall and for the "remove a check" operators, where a
   survivor that ``tools/mutation/equivalent.toml`` explains as equivalent counts in neither
   (the usual mutation score, killed / (all − equivalent)); every survivor is printed with its
   diff and, for the equivalent ones, why. Exit 1 below the target, 2 on a setup error, 0 otherwise.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
DEFAULT_CONFIG = Path("tools/mutation/cosmic-ray.toml")
EQUIVALENT = Path("tools/mutation/equivalent.toml")


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _copy_tree(repo: Path, dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    for name in ("src", "tests"):
        shutil.copytree(repo / name, dest / name, ignore=ignore)
    shutil.copy2(repo / "pyproject.toml", dest / "pyproject.toml")
    shared = repo.parent / "shared"
    if shared.exists():
        (dest.parent / "shared").symlink_to(shared.resolve())
    # cosmic-ray restores a mutated module when a mutant's test ends; a killed run (--time-limit)
    # cannot, so the pristine sources are kept beside the copy and put back after every exec
    shutil.copytree(dest / "src", dest.parent / "pristine-src", ignore=ignore)
    compileall.compile_dir(
        str(dest / "src"), quiet=1, invalidation_mode=compileall.py_compile.PycInvalidationMode.CHECKED_HASH
    )


def _restore(copy: Path) -> None:
    """Put the pristine sources back into the copy (undo a mutant a killed run left applied)."""
    pristine = copy.parent / "pristine-src"
    for original in pristine.rglob("*.py"):
        target = copy / "src" / original.relative_to(pristine)
        if target.read_bytes() != original.read_bytes():
            shutil.copy2(original, target)


def _environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy / "src"), str(copy)])
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_workers(
    work: Path, copy: Path, count: int
) -> tuple[list[subprocess.Popen[bytes]], list[str], list[Path]]:
    """Start ``count`` loopback HTTP workers, each in its own copy of ``copy`` (work/repo-1, …).

    Returns:
        (the worker processes, their URLs, their copies), once every worker accepts connections.

    Raises:
        RuntimeError: a worker did not listen within 60 seconds.
    """
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    copies = [copy] + [work / f"repo-{index}" for index in range(1, count)]
    for own in copies:
        if own != copy:
            shutil.copytree(copy, own, symlinks=True)
        ports.append(_free_port())
        cmd = [sys.executable, "-m", "jux_mutation.worker", str(ports[-1])]
        procs.append(subprocess.Popen(cmd, cwd=own, env=_environment(own), start_new_session=True))
    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    _stop(procs)
                    raise RuntimeError(f"the mutation worker on port {port} did not start") from None
                time.sleep(0.2)
    return procs, [f"http://127.0.0.1:{port}" for port in ports], copies


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _http_config(text: str, urls: list[str]) -> str:
    """The config with cosmic-ray's http distributor sending to ``urls`` instead of the local one."""
    changed, count = re.subn(r'(\[cosmic-ray\.distributor\]\s*\nname\s*=\s*)"local"', r'\1"http"', text)
    if count != 1:
        raise ValueError('the config must have [cosmic-ray.distributor] with name = "local" first')
    return changed + "\n[cosmic-ray.distributor.http]\nworker-urls = " + json.dumps(urls) + "\n"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], *, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    if not quiet:
        print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
    return subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=quiet, check=False)


def _sort_key(item: Any) -> tuple[str, str, int]:
    m = item.mutations[0]
    return (str(m.module_path), m.operator_name, m.occurrence)


def _select(session: Path, exclude: list[str], size: int | None, seed: int) -> tuple[int, int]:
    """Mark skipped the mutants of excluded operators and, for ``size``, all but a sample.

    The operator filter is cosmic-ray's ``operators-filter`` (``exclude-operators`` regular
    expressions matched at the start of the operator name), done in one transaction instead of
    one per mutant. The sample is ``size`` mutants drawn with ``seed`` from the remaining ones
    sorted by module, operator and occurrence: the same mutants for the same code and config.

    Returns:
        (mutants kept, mutants after the operator filter).
    """
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    pattern = re.compile("|".join(f"(?:{e})" for e in exclude)) if exclude else None
    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sorted(db.pending_work_items, key=_sort_key)
        filtered = [i for i in pending if pattern and any(pattern.match(m.operator_name) for m in i.mutations)]
        db.set_multiple_results(
            [i.job_id for i in filtered], WorkResult(output="Filtered operator", worker_outcome=WorkerOutcome.SKIPPED)
        )
        left = [i for i in pending if i not in filtered]
        if size is None or size >= len(left):
            return len(left), len(left)
        # a reproducible sample, not a secret: random.Random is the right tool
        keep = {item.job_id for item in random.Random(seed).sample(left, size)}  # noqa: S311
        drop = [item.job_id for item in left if item.job_id not in keep]
        db.set_multiple_results(drop, WorkResult(output="not in the sample", worker_outcome=WorkerOutcome.SKIPPED))
    return len(keep), len(left)


def _source_line(copy: Path, module: str, line: int) -> str:
    lines = (copy / module).read_text(encoding="utf-8").splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def _original_line(diff: str | None) -> str:
    """The first line the mutation changed, as it was (the copy may hold another mutant right now)."""
    for ln in (diff or "").splitlines():
        if ln.startswith("-") and not ln.startswith("---"):
            return ln[1:].strip()
    return ""


def _equivalents(repo: Path) -> list[dict[str, str]]:
    path = repo / EQUIVALENT
    if not path.exists():
        return []
    return list(tomllib.loads(path.read_text(encoding="utf-8")).get("mutant", []))


def _explain(entry: dict[str, Any], known: list[dict[str, str]]) -> str | None:
    for eq in known:
        if (
            eq["module"] == entry["module"]
            and eq["operator"] == entry["operator"]
            and eq.get("definition", entry["definition"]) == entry["definition"]
            and eq["line"] == entry["line"]
        ):
            return eq["reason"]
    return None


def _entry(item: Any, result: Any, copy: Path) -> dict[str, str]:
    m = item.mutations[0]
    return {
        "module": str(m.module_path),
        "operator": m.operator_name,
        "definition": m.definition_name or "",
        "position": f"{m.start_pos[0]}:{m.start_pos[1]}",
        "line": _original_line(result.diff) or _source_line(copy, str(m.module_path), m.start_pos[0]),
    }


def _collect(session: Path, copy: Path, repo: Path, check_ops: set[str]) -> dict[str, Any]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    known = _equivalents(repo)
    counts: Counter[str] = Counter()
    check_counts: Counter[str] = Counter()
    survivors: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome in (WorkerOutcome.SKIPPED, WorkerOutcome.NO_TEST):
                continue
            m = item.mutations[0]
            entry = _entry(item, result, copy)
            if result.worker_outcome != WorkerOutcome.NORMAL:
                outcome = "error"
                errors.append({**entry, "output": (result.output or "")[-2000:]})
            elif result.test_outcome == TestOutcome.SURVIVED:
                reason = _explain(entry, known)
                outcome = "equivalent" if reason else "survived"
                survivors.append({**entry, "equivalent": reason, "diff": result.diff or ""})
            elif result.test_outcome == TestOutcome.KILLED:
                outcome = "killed"
            else:
                outcome = "error"
                errors.append({**entry, "output": (result.output or "")[-2000:]})
            counts[outcome] += 1
            if m.operator_name in check_ops:
                check_counts[outcome] += 1
    return {"counts": dict(counts), "check_counts": dict(check_counts), "survivors": survivors, "errors": errors}


def _score(counts: dict[str, int]) -> float:
    tested = counts.get("killed", 0) + counts.get("survived", 0)
    return counts.get("killed", 0) / tested if tested else 1.0


def _print_report(result: dict[str, Any], target: float) -> None:
    counts, check = result["counts"], result["check_counts"]
    tested = sum(counts.values())
    print(f"\ntested {tested} of {result['selected']} selected mutants ({result['after_operator_filter']} after the "
          "operator filter)")
    print(f"mutants: {counts.get('killed', 0)} killed, {counts.get('survived', 0)} survived, "
          f"{counts.get('equivalent', 0)} equivalent (explained survivors, not scored), "
          f"{counts.get('error', 0)} errors")
    print(f"score: {_score(counts):.1%} (target {target:.0%})")
    print(f"remove-a-check mutants: {check.get('killed', 0)} killed, {check.get('survived', 0)} survived, "
          f"{check.get('equivalent', 0)} equivalent: "
          f"{_score(check):.1%} (target {target:.0%})")
    for s in result["survivors"]:
        why = f"equivalent: {s['equivalent']}" if s["equivalent"] else "NOT EXPLAINED (add a test, or a reason)"
        print(f"\nSURVIVED {s['module']}:{s['position']} {s['definition']} {s['operator']}\n  {s['line']}\n  {why}")
        diff = [ln for ln in s["diff"].splitlines() if ln[:1] in "+-" and not ln.startswith(("---", "+++"))]
        for ln in diff:
            print(f"    {ln}")
    for e in result["errors"]:
        print(f"\nERROR {e['module']}:{e['position']} {e['definition']} {e['operator']}\n{e['output']}")


def _verdict(result: dict[str, Any], target: float) -> bool:
    return _score(result["counts"]) >= target and _score(result["check_counts"]) >= target and not result["errors"]


def _retest(work: Path, repo: Path, raw: str) -> int:
    """Mark the untested mutants of ``work``'s session skipped, forget its survivors, test them again."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    copy, session = work / "repo", work / "session.sqlite"
    if not session.is_file():
        print(f"error: no session at {session}", file=sys.stderr)
        return 2
    _restore(copy)
    shutil.rmtree(copy / "tests")
    shutil.copytree(repo / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    config = copy / "cosmic-ray.toml"
    config.write_text(raw.replace("{python}", sys.executable), encoding="utf-8")
    with use_db(str(session), WorkDB.Mode.open) as db:
        untested = [item.job_id for item in db.pending_work_items]
        db.set_multiple_results(
            untested, WorkResult(output="not reached (time limit)", worker_outcome=WorkerOutcome.SKIPPED)
        )
        known = _equivalents(repo)
        survivors = [
            item.job_id for item, result in db.completed_work_items
            if result.worker_outcome == WorkerOutcome.NORMAL and result.test_outcome == TestOutcome.SURVIVED
            and not _explain(_entry(item, result, copy), known)  # equivalent ones would survive again
        ]
    with sqlite3.connect(session) as raw_db:  # cosmic-ray's WorkDB cannot forget a result: pending again
        raw_db.executemany("DELETE FROM work_results WHERE job_id = ?", [(j,) for j in survivors])
    print(f"  retesting {len(survivors)} unexplained survivors ({len(untested)} untested stay untested)", flush=True)
    cmd = [_bin("cosmic-ray"), "exec", str(config), str(session)]
    code = _run(cmd, copy, _environment(copy)).returncode
    _restore(copy)
    return 0 if code == 0 else 2


def _report_only(work: Path, repo: Path, check_ops: set[str], target: float, out: Path | None) -> int:
    from cosmic_ray.work_db import WorkDB, use_db

    session = work / "session.sqlite"
    if not session.is_file():
        print(f"error: no session at {session}", file=sys.stderr)
        return 2
    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sum(1 for _ in db.pending_work_items)
    with sqlite3.connect(session) as raw_db:  # marked by --retest
        query = "SELECT count(*) FROM work_results WHERE output = 'not reached (time limit)'"
        pending += raw_db.execute(query).fetchone()[0]
    result = _collect(session, work / "repo", repo, check_ops)
    tested = sum(result["counts"].values())
    result.update(target=target, selected=tested + pending, after_operator_filter=tested + pending)
    _print_report(result, target)
    if out:
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if _verdict(result, target) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jux-mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=None, help=f"default: {DEFAULT_CONFIG}")
    parser.add_argument("--sample", type=int, default=None, metavar="N",
                        help="test N mutants drawn with --seed (the CI run; default: all of them)")
    parser.add_argument("--ci", action="store_true", help="the CI sample: --sample/--seed from the config")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop testing mutants after this long and score those tested (cosmic-ray tests "
                             "them in random order, so a bounded run is a random subset)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="test N mutants at a time, each in its own copy (cosmic-ray's http distributor "
                             "with loopback workers; default 1: the local distributor)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the copy and the session here")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument("--report", type=Path, default=None, metavar="WORKDIR",
                        help="only score the session a run with --workdir WORKDIR left (test nothing)")
    parser.add_argument("--retest", type=Path, default=None, metavar="WORKDIR",
                        help="test the survivors of the session in WORKDIR again with today's tests and test "
                             "command (the mutated source stays the session's), then score; mutants a "
                             "--time-limit left untested stay untested")
    args = parser.parse_args(argv)

    if args.workers < 1:
        parser.error("--workers must be at least 1")
    repo = Path.cwd()
    config_path = args.config or repo / DEFAULT_CONFIG
    if not config_path.is_file() or not (repo / "src" / "juxsdk").is_dir():
        print(f"error: run from the repository root ({config_path} not found)", file=sys.stderr)
        return 2
    raw = config_path.read_text(encoding="utf-8")
    settings = tomllib.loads(raw).get("jux-mutation", {})
    target = float(settings.get("target", 0.95))
    seed = args.seed if args.seed is not None else int(settings.get("seed", 17))
    sample = args.sample if args.sample is not None else (int(settings["sample-size"]) if args.ci else None)
    check_ops = set(settings.get("check-operators", ()))

    if args.retest:
        code = _retest(args.retest, repo, raw)
        if code:
            return code
    if args.report or args.retest:
        return _report_only(args.report or args.retest, repo, check_ops, target, args.json)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="jux-mutation-"))
    if args.workdir and work.exists():
        shutil.rmtree(work)
    copy = work / "repo"
    copy.mkdir(parents=True)
    started = time.monotonic()
    _copy_tree(repo, copy)
    env = _environment(copy)
    config = copy / "cosmic-ray.toml"
    config.write_text(raw.replace("{python}", sys.executable), encoding="utf-8")
    session = work / "session.sqlite"

    from cosmic_ray.config import load_config

    test_command = load_config(str(config)).test_command
    print("+ baseline:", test_command, flush=True)
    base = subprocess.run(shlex.split(test_command), cwd=copy, env=env, text=True, capture_output=True, check=False)
    if base.returncode != 0:
        print(base.stdout[-5000:], base.stderr[-2000:])
        print("error: the tests fail without any mutation", file=sys.stderr)
        return 2
    print("  " + (base.stdout.strip().splitlines() or ["?"])[-1], flush=True)
    if _run([_bin("cosmic-ray"), "init", str(config), str(session)], copy, env).returncode != 0:
        return 2
    exclude = list(tomllib.loads(raw)["cosmic-ray"].get("filters", {}).get("operators-filter", {})
                   .get("exclude-operators", ()))
    kept, total = _select(session, exclude, sample, seed)
    print(f"  mutants: {kept} of {total} (operators filtered; sample seed {seed})", flush=True)
    workers: list[subprocess.Popen[bytes]] = []
    copies = [copy]
    if args.workers > 1:
        workers, urls, copies = _start_workers(work, copy, args.workers)
        config = work / "exec.toml"
        config.write_text(_http_config(raw.replace("{python}", sys.executable), urls), encoding="utf-8")
    cmd = [_bin("cosmic-ray"), "exec", str(config), str(session)]
    print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=copy, env=env, start_new_session=True)
    try:
        returncode = proc.wait(timeout=args.time_limit)
    except subprocess.TimeoutExpired:
        # the bound of --time-limit: stop this run's own cosmic-ray and its pytest, score what finished
        os.killpg(proc.pid, signal.SIGKILL)  # at once: an interrupted pytest must not count as a kill
        proc.wait()
        returncode = 0
        print(f"  time limit of {args.time_limit} s reached: scoring the mutants tested so far", flush=True)
    finally:
        _stop(workers)
    for each in copies:
        _restore(each)
    if returncode != 0:
        return 2
    result = _collect(session, copy, repo, check_ops)
    result.update(seconds=round(time.monotonic() - started), sample=sample, seed=seed, target=target,
                  selected=kept, after_operator_filter=total)
    _print_report(result, target)
    print(f"\n{result['seconds']} s; session: {session}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    ok = _verdict(result, target)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    if not ok:
        print("FAIL: the mutation score is below the target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
