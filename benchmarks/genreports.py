"""Generate pytest-style JUnit XML reports for benchmarks (stdlib only, deterministic).

Each testcase is one line of about 360 bytes; about 10 % fail with a short traceback.
"""

from __future__ import annotations

import random

_TRACE = (
    "def test_x():\n&gt;       assert compute(3) == 7\nE       assert 6 == 7\nE        +  where 6 = compute(3)\n\n"
    "tests/test_mod.py:42: AssertionError"
)


def make_report(n: int, seed: int = 1234) -> bytes:
    """Return a ``<testsuites>`` document with ``n`` testcases (bytes, UTF-8)."""
    rnd = random.Random(seed)
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<testsuites>"]
    failures = 0
    cases = []
    for i in range(n):
        mod = f"tests.unit.test_module_{i // 100:04d}"
        name = f"test_behaviour_number_{i:07d}_with_a_reasonably_descriptive_name_param{rnd.randint(0, 999):03d}"
        t = f"{rnd.random() / 10:.4f}"
        attrs = f'classname="{mod}" name="{name}" file="tests/unit/test_module_{i // 100:04d}.py" line="{i % 500}" time="{t}"'
        if rnd.random() < 0.10:
            failures += 1
            cases.append(f'<testcase {attrs}><failure message="assert 6 == 7">{_TRACE}</failure></testcase>')
        else:
            cases.append(f'<testcase {attrs}><system-out>ok run {i} seed {rnd.randint(0, 10**9)} worker gw{i % 4} fixtures db,client,tmp_path,monkeypatch,capsys,caplog params=({i},{i % 7}) markers=unit,fast</system-out></testcase>')
    lines.append(
        f'<testsuite name="pytest" errors="0" failures="{failures}" skipped="0" tests="{n}" time="{n / 100:.3f}" '
        f'timestamp="2026-11-23T00:00:00" hostname="bench">'
    )
    lines.extend(cases)
    lines.append("</testsuite>")
    lines.append("</testsuites>")
    return ("\n".join(lines) + "\n").encode()


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    sys.stdout.buffer.write(make_report(n))
