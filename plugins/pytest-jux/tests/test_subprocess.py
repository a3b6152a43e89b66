"""Runs in a separate Python process: entry-point loading, imports, warnings, xdist."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import pytest_jux

from juxsdk.trust import TrustedCertificates
from juxsdk.xmldsig import verify_report

from .conftest import stored_reports

HEAVY = ("lxml", "cryptography", "signxml", "juxsdk", "juxsdk_backends", "pytest_jux._session",
         "pytest_jux.settings")

SPY = """
import json, os, sys

def pytest_unconfigure(config):
    with open(os.environ["MODULES_OUT"], "w") as fh:
        json.dump({"modules": sorted(sys.modules),
                   "plugins": sorted(name for name, _ in config.pluginmanager.list_name_plugin())}, fh)
"""


@pytest.mark.parametrize("args", [[], ["--no-jux"]])
def test_installed_but_disabled_imports_nothing_heavy(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "modules.json"
    monkeypatch.setenv("MODULES_OUT", str(out))
    pytester.makeconftest(SPY)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0
    seen = json.loads(out.read_text())
    modules = set(seen["modules"])
    assert "pytest_jux.plugin" in modules  # the entry point was loaded...
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY)
    assert loaded == []  # ...and pulled in nothing heavy (not even juxsdk itself)
    assert "jux-session" not in seen["plugins"]  # no jux hook runs in a disabled session


def test_the_plugin_imports_no_private_pytest_module() -> None:
    """pytest's public API only (``pytest``, ``pytest.hookimpl``, ``config.option``…), no ``_pytest``."""
    src = Path(pytest_jux.__file__).parent
    for path in sorted(src.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "_pytest" for n in names), f"{path.name} imports {names}"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                assert not any(isinstance(a, ast.Constant) and str(a.value).startswith("_pytest") for a in node.args)


def test_enabled_plugin_loads_through_the_entry_point(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    key, cert = keypair
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile("import pytest\ndef test_ok(): pass\n@pytest.mark.skip\ndef test_skip(): pass\n")
    # -W error and filterwarnings = error: the plugin never warns for normal outcomes.
    result = pytester.runpytest_subprocess("-W", "error", "--jux", f"--jux-key={key}", f"--jux-cert={cert}",
                                           "--junitxml=out.xml")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.no_fnmatch_line("*warning*")
    data = (pytester.path / "out.xml").read_bytes()
    verify_report(data, TrustedCertificates.from_pem_file(cert))
    assert [p.read_bytes() for p in stored_reports(jux_env["data"])] == [data]


def test_xdist_stores_exactly_one_report(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    pytest.importorskip("xdist")
    key, cert = keypair
    pytester.makepyfile(**{
        f"test_mod{i}": "\n".join(f"def test_{j}(): pass" for j in range(5)) for i in range(4)
    })
    result = pytester.runpytest_subprocess("-n", "2", "--jux", f"--jux-key={key}", f"--jux-cert={cert}",
                                           "--junitxml=out.xml")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    (stored,) = stored_reports(jux_env["data"])
    verified = verify_report(stored.read_bytes(), TrustedCertificates.from_pem_file(cert))
    assert verified.summary.tests == 20
    assert stored.read_bytes() == (pytester.path / "out.xml").read_bytes()
    assert result.stdout.str().count("- jux -") == 1


def test_jux_failure_exit_codes_in_a_real_process(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, cert = keypair
    blocker = pytester.path / "blocker"
    blocker.write_text("not a directory")
    monkeypatch.setenv("JUX_DATA_DIR", str(blocker))
    pytester.makepyfile("def test_ok(): pass")
    args = ("--jux", f"--jux-key={key}", f"--jux-cert={cert}")
    assert pytester.runpytest_subprocess(*args).ret == 0
    strict = pytester.runpytest_subprocess(*args, "--jux-strict")
    assert strict.ret != 0
    strict.stdout.fnmatch_lines(["*jux strict mode*"])
