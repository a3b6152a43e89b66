"""`jux --help` stays light: no lxml, cryptography, signxml or requests imported."""

from __future__ import annotations

import json
import subprocess
import sys
import time

HEAVY = ("lxml", "cryptography", "signxml", "requests", "urllib3", "juxsdk.xmldsig", "cattrs", "pluggy")

PROBE = r"""
import json, sys
from juxsdk.cli import cli
args = sys.argv[1:]
try:
    cli.main(args=args, prog_name="jux")
except SystemExit:
    pass
sys.stderr.write(json.dumps(sorted(m for m in sys.modules)))
"""


def _modules(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_help_imports_nothing_heavy():
    for args in (["--help"], ["sign", "--help"], ["cache", "--help"], ["--version"]):
        loaded = _modules(*args)
        assert "juxsdk.cli" in loaded
        heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY)
        assert not heavy, (args, heavy)


def test_python_m_entry_point_and_wall_time():
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "juxsdk.cli", "--help"], capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0
    assert "Usage: jux" in proc.stdout or "Usage: python -m juxsdk.cli" in proc.stdout
    print(f"python -m juxsdk.cli --help: {elapsed * 1000:.0f} ms")  # informative, not asserted
