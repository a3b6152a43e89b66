"""Write the directory outbox fixture with juxsdk 0.1.0's own outbox (before the SQLite outbox).

Run it against a checkout of that version (commit fa5918c)::

    PYTHONPATH=<checkout>/src python tests/integration/data/make_directory_outbox.py \
        tests/integration/data/directory-outbox

What it holds (tests/integration/test_outbox_migration.py checks every item after the import):

* ``queued``: a transient failure (attempts 2, last status 503, Retry-After details);
* ``other``: the same report queued for a second publisher, due now (attempts 0);
* ``dead``: a report the server rejected (400, with the server's reason and details);
* ``published``: receipts of two publishes (one report published twice: the latest wins);
* ``corrupt``: an entry whose state.json is not JSON (its bytes kept);
* ``stateless``: an entry whose state.json was never written (a crash during its first enqueue);
* lock files and a trash leftover, as a drain leaves them.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

from juxsdk.errors import PermanentPublishError, TransientPublishError
from juxsdk.junit import parse_report
from juxsdk.models import PublishReceipt
from juxsdk.outbox import Outbox
from juxsdk.testing.samples import generate_report

T0 = dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


def report(name: str, tests: int = 3):
    return parse_report(generate_report(tests, failures=1, project=f"legacy-{name}", suite=name),
                        source=f"{name}.xml")


def main(target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    box = Outbox(target, backoff_base=30, backoff_max=3600, max_attempts=20)
    queued, dead, corrupt, stateless, published = (report(n) for n in
                                                   ("queued", "dead", "corrupt", "stateless", "published"))
    box.enqueue(queued, "http", TransientPublishError("server error", status=503, details={"retry_after": 120}),
                now=T0)
    box.enqueue(queued, "http", TransientPublishError("server error", status=503, details={"retry_after": 120}),
                now=T0 + dt.timedelta(minutes=5))
    box.enqueue(queued, "other", now=T0)
    box.record_failure(dead, "http", PermanentPublishError(
        "the server rejected the report (HTTP 400): missing required property",
        status=400, details={"error": "missing required property", "details": {"missing_property": "project"}}),
        now=T0)
    box.record_published(PublishReceipt("http", published.canonical_hash, run_id="run-1", status="created"),
                         source="published.xml", project="legacy-published")
    box.record_published(PublishReceipt("http", published.canonical_hash, run_id="run-2", status="duplicate"),
                         source="published.xml", project="legacy-published")
    entry = box.enqueue(corrupt, "http", TransientPublishError("down"), now=T0)
    (box.queue_dir / entry.key / "state.json").write_text("{not json")
    entry = box.enqueue(stateless, "http", TransientPublishError("down"), now=T0)
    (box.queue_dir / entry.key / "state.json").unlink()
    (box.trash_dir / f"{'0' * 64}.http.1a2b3c4d").mkdir(parents=True)
    (box.trash_dir / f"{'0' * 64}.http.1a2b3c4d" / "report.xml").write_bytes(b"<testsuites/>")
    for path in sorted(target.rglob("*")):
        print(path.relative_to(target))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
