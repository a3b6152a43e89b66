"""The mutation-testing tooling of issue 17 (tools/mutation, ``jux-mutation``) works and can fail.

* each "remove a check" operator turns its examples into exactly the expected code;
* ``jux-mutation`` exits 1 when the tests kill too few mutants (a test command that checks
  nothing), so the CI sample in scripts/test.sh really fails below the target, and exits 2 when
  the tests fail without any mutation (else every mutant would count as killed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cosmic_ray.mutating import mutate_code  # the dev extra; jux_mutation: scripts/test.sh installs tools/mutation
from jux_mutation.operators import ForceConditionFalse, ForceConditionTrue, RemoveRaise

REPO = Path(__file__).resolve().parents[2]
JUX_MUTATION = Path(sys.executable).parent / "jux-mutation"


@pytest.mark.parametrize("operator", [RemoveRaise, ForceConditionTrue, ForceConditionFalse])
def test_each_operator_mutates_its_examples(operator) -> None:
    for example in operator.examples():
        assert mutate_code(example.pre_mutation_code, operator(), example.occurrence) == example.post_mutation_code


def test_remove_raise_and_force_condition_find_every_check() -> None:
    code = "def f(x):\n    if x:\n        raise E('a')\n    elif y:\n        raise\n    return 1 if z else 2\n"
    assert mutate_code(code, RemoveRaise(), 1) == code.replace("        raise\n", "        pass\n")
    assert mutate_code(code, RemoveRaise(), 2) is None
    assert mutate_code(code, ForceConditionTrue(), 2) == code.replace("if z", "if True")
    assert mutate_code(code, ForceConditionFalse(), 0) == code.replace("if x:", "if False:")


def _config(tmp_path: Path, test_command: str) -> Path:
    text = (REPO / "tools/mutation/cosmic-ray.toml").read_text(encoding="utf-8")
    start = text.index('test-command = """')
    end = text.index('"""', start + len('test-command = """')) + 3
    config = tmp_path / "cosmic-ray.toml"
    config.write_text(text[:start] + f"test-command = {test_command!r}" + text[end:], encoding="utf-8")
    return config


def _run(tmp_path: Path, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(JUX_MUTATION), "--config", str(config), "--sample", "3", "--workdir", str(tmp_path / "work"), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.mark.slow
def test_jux_mutation_fails_below_the_target(tmp_path: Path) -> None:
    # a test command that checks nothing: every mutant survives, the score is 0 %
    result = _run(tmp_path, _config(tmp_path, "{python} -c pass"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mutants: 0 killed, 3 survived" in result.stdout
    assert "score: 0.0% (target 95%)" in result.stdout
    assert "NOT EXPLAINED" in result.stdout
    assert "FAIL: the mutation score is below the target" in result.stderr


@pytest.mark.slow
def test_jux_mutation_refuses_tests_that_fail_unmutated(tmp_path: Path) -> None:
    result = _run(tmp_path, _config(tmp_path, "{python} -c 'raise SystemExit(1)'"))
    assert result.returncode == 2
    assert "the tests fail without any mutation" in result.stderr


@pytest.mark.slow
def test_jux_mutation_tests_mutants_in_parallel_workers_and_scores_them_all(tmp_path: Path) -> None:
    # --workers 2: cosmic-ray's http distributor and two loopback workers, each in its own copy;
    # a test command that fails only when a module of the copy differs from the pristine sources
    # proves each worker tested a mutated copy (every mutant killed), and the copies are restored
    script = tmp_path / "differs.py"
    script.write_text(
        "import filecmp, pathlib, sys\n"
        "p, q = pathlib.Path('src/juxsdk'), pathlib.Path('../pristine-src/juxsdk')\n"
        "sys.exit(any(not filecmp.cmp(f, q / f.name, shallow=False) for f in p.glob('*.py')))\n",
        encoding="utf-8",
    )
    check = f"{{python}} {script}"
    result = _run(tmp_path, _config(tmp_path, check), "--workers", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mutants: 3 killed, 0 survived" in result.stdout
    work = tmp_path / "work"
    assert {p.name for p in work.iterdir()} >= {"repo", "repo-1", "exec.toml"}
    for copy in (work / "repo", work / "repo-1"):
        for original in (work / "pristine-src" / "juxsdk").glob("*.py"):
            assert (copy / "src" / "juxsdk" / original.name).read_bytes() == original.read_bytes()
