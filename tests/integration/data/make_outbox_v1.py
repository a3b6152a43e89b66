"""Write the schema-1 SQLite outbox fixture with the first SQLite outbox's own code.

Run it against a checkout of that version (commit 5ab498e, before ``retry_after_until``)::

    PYTHONPATH=<checkout>/src python tests/integration/data/make_outbox_v1.py \
        tests/integration/data/outbox-v1.sqlite3

What it holds (tests/integration/test_outbox_drain_modes.py checks every item after the upgrade):

* ``server-wait``: a report queued after a 503 whose server asked to wait 3600 s (``Retry-After``),
  at ``T0``: ``details["retry_after"] = 3600``, ``updated_at = T0``;
* ``backoff``: a report queued after three refused connections (no ``Retry-After``), the last at
  ``T0 + 10 min``: only our backoff delays it;
* ``dead``: a report the server rejected (400), a dead letter.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from juxsdk.config import OutboxConfig
from juxsdk.errors import PermanentPublishError, TransientPublishError
from juxsdk.junit import parse_report
from juxsdk.outbox import Outbox
from juxsdk.testing.samples import generate_report

T0 = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def report(name: str):
    return parse_report(generate_report(2, project=f"v1-{name}", suite=name), source=f"{name}.xml")


def main(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(OutboxConfig(path=Path(tmp), backoff_base=600, backoff_max=7200, max_attempts=20))
        box.enqueue(report("server-wait"), "http",
                    TransientPublishError("server error", status=503, details={"retry_after": 3600}), now=T0)
        for minutes in (0, 5, 10):
            box.enqueue(report("backoff"), "http", TransientPublishError("connection refused"),
                        now=T0 + dt.timedelta(minutes=minutes))
        box.record_failure(report("dead"), "http", PermanentPublishError(
            "the server rejected the report (HTTP 400): missing required property", status=400,
            details={"error": "missing required property"}), now=T0)
        box.close()
        with sqlite3.connect(box.database) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
            conn.execute("VACUUM")
        shutil.copyfile(box.database, target)
    print(target, target.stat().st_size, "bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
