"""A third-party backend package (examples/jux-sqlite-store) installed through entry points.

Skipped unless the package is installed (``pip install -e examples/jux-sqlite-store``, as the
test command does). Then: the registry and ``jux backends`` list its ``sqlite`` store with its
distribution, and ``jux submit`` with ``stores = ["sqlite"]`` stores there, with no change to
juxsdk.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from juxsdk.registry import Registry

try:
    DIST = importlib.metadata.distribution("jux-sqlite-store")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - depends on the environment
    pytest.skip(
        "jux-sqlite-store is not installed: pip install -e examples/jux-sqlite-store",
        allow_module_level=True,
    )

JUX = Path(sys.executable).with_name("jux")


def run_jux(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not JUX.exists():
        pytest.skip(f"the jux console script is not installed next to {sys.executable}")
    return subprocess.run([str(JUX), *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=dict(os.environ))


def test_registry_lists_sqlite_with_its_distribution() -> None:
    info = Registry().get("store", "sqlite")
    assert info.distribution == "jux-sqlite-store"
    assert info.version == DIST.version
    assert info.cls.__module__ == "jux_sqlite_store.store"
    assert info.plugin == "sqlite"  # the entry point's name


def test_jux_backends_lists_it(tmp_path: Path) -> None:
    proc = run_jux("backends", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    sqlite = [r for r in rows if r.get("name") == "sqlite"]
    assert len(sqlite) == 1, rows
    assert sqlite[0]["kind"] == "store"
    assert sqlite[0]["distribution"] == "jux-sqlite-store"


def test_jux_submit_stores_in_sqlite(tmp_path: Path, rsa_keys, corpus_dir) -> None:
    db = tmp_path / "reports.sqlite"
    (tmp_path / "jux.toml").write_text(
        f"""
signer = "file"
stores = ["sqlite"]

[backends.file]
key = "{rsa_keys.key_path}"
certificate = "{rsa_keys.cert_path}"

[backends.sqlite]
path = "{db}"
""",
        encoding="utf-8",
    )
    source = corpus_dir / "raw" / "cucumber" / "scenario-outline.xml"
    proc = run_jux("submit", "--json", str(source), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entries = json.loads(proc.stdout)
    entry = entries[0] if isinstance(entries, list) else entries
    assert [s["store"] for s in entry["stored"]] == ["sqlite"]
    assert entry["stored"][0]["ok"] is True

    store_cls = Registry().get("store", "sqlite").cls
    store = store_cls(store_cls.Options(path=db))
    try:
        stored = store.get(entry["canonical_hash"])
        assert b"SignatureValue" in stored
        from juxsdk.trust import TrustedCertificates
        from juxsdk.xmldsig import verify_report

        verified = verify_report(stored, TrustedCertificates.from_pem_file(rsa_keys.cert_path))
        assert verified.canonical_hash == entry["canonical_hash"]
        assert [r.canonical_hash for r in store.list()] == [entry["canonical_hash"]]
    finally:
        store.close()
