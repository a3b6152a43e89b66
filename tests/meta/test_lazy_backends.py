"""Backends load lazily, and the core distribution costs a pytest run nothing (issue 11, items 5-6).

Each check runs in a fresh interpreter, so what is in ``sys.modules`` is what the operation
imported: building a ``Registry`` imports the plugins' hook modules only, looking a backend up
imports that backend's module only, and ``jux backends`` lists every backend without importing
any. The core distribution declares no ``pytest11`` entry point (pytest would mark every
``juxsdk`` module for assertion rewriting in every run), yet the conformance kit's assertions are
still rewritten.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

#: Modules that hold backends (built-in and the installed third-party example), and the
#: heavy or optional libraries only a backend needs.
BACKEND_PREFIXES = ("juxsdk_backends.", "jux_sqlite_store.store")
HOOK_MODULES = {"juxsdk_backends.hooks", "jux_sqlite_store.hooks"}
LIBRARIES = ("cryptography", "lxml", "signxml", "requests", "urllib3", "boto3", "botocore", "pkcs11",
             "filelock", "cattrs")

PROBE = """
import json, sys
from juxsdk.registry import Registry

def snapshot():
    return sorted(sys.modules)

reg = Registry()
after_registry = snapshot()
names = {kind: reg.names(kind) for kind in ("signer", "store", "publisher")}
reg.get("signer", "file")
print(json.dumps({"registry": after_registry, "get": snapshot(), "names": names}))
"""


def _run(code: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with the installed entry points (no JUXSDK_* overrides)."""
    env = {k: v for k, v in os.environ.items() if k not in ("JUXSDK_DISABLE_PLUGIN_AUTOLOAD", "JUXSDK_PLUGINS")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=check, env=env)


def _backend_modules(modules: list[str]) -> set[str]:
    # the shared private helpers (juxsdk_backends._algorithms, _certificates…) are not backends
    return {m for m in modules if m.startswith(BACKEND_PREFIXES) and m not in HOOK_MODULES
            and not m.startswith("juxsdk_backends._")}


def test_registry_imports_no_backend_and_get_imports_only_the_one_asked_for() -> None:
    out = json.loads(_run(PROBE).stdout)
    assert "file" in out["names"]["signer"] and "filesystem" in out["names"]["store"]
    # Registry(): the entry points' hook modules and nothing else.
    assert _backend_modules(out["registry"]) == set()
    assert "juxsdk_backends.hooks" in out["registry"]
    assert [m for m in out["registry"] if m.split(".")[0] in LIBRARIES] == []
    # get("signer", "file"): the file signer's module; no other backend, no optional library.
    assert _backend_modules(out["get"]) == {"juxsdk_backends.file_key"}
    assert [m for m in out["get"] if m.split(".")[0] in set(LIBRARIES) - {"cryptography", "cattrs"}] == []


def test_jux_backends_lists_every_backend_without_importing_one() -> None:
    code = textwrap.dedent("""
        import atexit, json, sys
        atexit.register(lambda: sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
        sys.argv = ["jux", "backends", "--json"]
        from juxsdk.cli import main
        main()
    """)
    proc = _run(code, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {"file", "pkcs11", "filesystem", "s3", "http"} <= {r["name"] for r in rows}
    by_name = {r["name"]: r for r in rows}
    assert by_name["s3"]["class"] == "juxsdk_backends.s3.S3Store"
    assert by_name["s3"]["distribution"] == "juxsdk" and by_name["s3"]["summary"].startswith("Stores reports")
    modules = json.loads(proc.stderr.rsplit("MODULES ", 1)[1])
    assert _backend_modules(modules) == set()


def test_the_core_distribution_declares_no_pytest11_entry_point() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "pytest11" not in project.get("entry-points", {})
    installed = importlib.metadata.distribution("juxsdk").entry_points
    assert [ep for ep in installed if ep.group == "pytest11"] == []
    assert not (REPO / "src" / "juxsdk" / "testing" / "pytest_plugin.py").exists()


def test_the_conformance_kit_is_still_rewritten(pytester: pytest.Pytester) -> None:
    """``import juxsdk.testing`` registers the contracts for assertion rewriting by itself."""
    pytester.makepyfile(test_kit=textwrap.dedent("""
        import pytest
        from lxml import etree
        from juxsdk.testing import StoreContract
        from juxsdk.testing.fakes import MemoryStore


        class ReserialisingStore(MemoryStore):
            def get(self, canonical_hash):
                return etree.tostring(etree.fromstring(super().get(canonical_hash)), encoding="utf-8")


        class TestBroken(StoreContract):
            @pytest.fixture
            def store(self):
                return ReserialisingStore()
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "test_round_trip_is_byte_exact", "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # pytest's comparison detail appears only when the kit's assert statements were rewritten.
    result.stdout.fnmatch_lines(["E       assert b'<testsuites*' == b'<?xml versi*", "E         At index *diff*"])
