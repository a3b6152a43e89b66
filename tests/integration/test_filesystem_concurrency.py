"""FilesystemStore under real concurrency: 8 writer processes on one root, and SIGKILLed writers.

Every process is a real interpreter (multiprocessing "spawn"); nothing is mocked. The writers
sign every report with a real RSA key (FileKeySigner), so the parent can check that every stored
report still verifies.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from juxsdk.junit import parse_report
from juxsdk.models import StoredReport
from juxsdk_backends.filesystem import FilesystemStore

pytestmark = pytest.mark.slow

N_PROCS = 8
PER_PROC = 200
SHARED = 20  # reports every process also puts (identical bytes): overlapping puts of one hash
JOIN_TIMEOUT = 120.0
KILL_REPORTS = 6  # big reports each killed writer cycles through


def small_doc(tag: str) -> bytes:
    """A small JUnit document, unique per ``tag`` (one failure in every seventh)."""
    fail = int(tag.encode().hex(), 16) % 7 == 0
    failure = '<failure message="assert 1 == 2">Traceback: assert 1 == 2</failure>' if fail else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="{tag}" tests="3" failures="{int(fail)}" errors="0" skipped="0" time="0.3">'
        '<properties><property name="project" value="concurrency"/></properties>'
        f'<testcase classname="c.{tag}" name="test_a" time="0.1">{failure}</testcase>'
        f'<testcase classname="c.{tag}" name="test_b" time="0.1"/>'
        f'<testcase classname="c.{tag}" name="test_c" time="0.1"/>'
        "</testsuite>\n"
    ).encode()


def big_doc(tag: str, cases: int = 1500) -> bytes:
    """A ~150 KB document (one testcase per line), so a kill often lands in the middle of a write."""
    body = "\n".join(
        f'<testcase classname="big.{tag}" name="test_{i}" time="0.001">'
        f"<system-out>line {i} of {tag}</system-out></testcase>"
        for i in range(cases)
    )
    return (
        f'<testsuite name="{tag}" tests="{cases}" failures="0" errors="0" skipped="0">{body}</testsuite>'
    ).encode()


def _signer(key: str | None, cert: str | None):  # type: ignore[no-untyped-def]
    if key is None:
        return None
    from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner

    return FileKeySigner(FileKeyOptions(key=Path(key), certificate=Path(cert) if cert else None))


def _prepare(data: bytes, signer: object):  # type: ignore[no-untyped-def]
    report = parse_report(data)
    if signer is None:
        return report
    from juxsdk.xmldsig import sign_report

    return sign_report(report, signer)  # type: ignore[arg-type]


def _writer(root: str, worker: int, key: str | None, cert: str | None, barrier: object) -> None:
    """Child process: put PER_PROC distinct reports and, interleaved, the SHARED ones."""
    store = FilesystemStore(FilesystemStore.Options(root=Path(root)))
    signer = _signer(key, cert)
    barrier.wait(60)  # type: ignore[attr-defined]  # start together for maximal overlap
    for j in range(PER_PROC):
        store.put(_prepare(small_doc(f"w{worker}-r{j}"), signer))
        if j % (PER_PROC // SHARED) == 0:
            store.put(_prepare(small_doc(f"shared-{(j // (PER_PROC // SHARED) + worker) % SHARED}"), signer))
    store.close()


def _long_writer(root: str, prefix: str, started: object) -> None:
    """Child process: store big reports, then keep replacing them (LF <-> CRLF) until killed.

    Replacing (same hash, different bytes, ``replace=True``) is the most delicate path: sidecar
    removed, XML replaced, sidecar rewritten. Parsing happens up front so nearly all the time is store I/O.
    """
    store = FilesystemStore(FilesystemStore.Options(root=Path(root)))
    pairs = []
    for k in range(KILL_REPORTS):
        lf = big_doc(f"{prefix}-{k}")
        pairs.append((parse_report(lf), parse_report(lf.replace(b"\n", b"\r\n"))))
    for j in range(1_000_000):
        lf_report, crlf_report = pairs[j % KILL_REPORTS]
        store.put(crlf_report if (j // KILL_REPORTS) % 2 else lf_report, replace=True)
        if j == KILL_REPORTS:
            started.set()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    keys = pytest.importorskip("juxsdk.keys")
    d = tmp_path_factory.mktemp("keys")
    keys.generate_key_pair(d / "key.pem", d / "cert.pem", subject="jux concurrency test")
    return d / "key.pem", d / "cert.pem"


def _non_tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")]


def test_eight_processes_write_one_root(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    # Signing is part of this test: every stored report must still verify afterwards.
    xmldsig = pytest.importorskip("juxsdk.xmldsig")
    trust_mod = pytest.importorskip("juxsdk.trust")
    key, cert = key_pair
    root = tmp_path / "store"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(N_PROCS)
    procs = [
        ctx.Process(target=_writer, args=(str(root), w, str(key), str(cert), barrier), name=f"writer-{w}")
        for w in range(N_PROCS)
    ]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(JOIN_TIMEOUT)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    elapsed = time.monotonic() - t0
    assert [p.exitcode for p in procs] == [0] * N_PROCS

    # Expected content, recomputed here (RSA PKCS#1 v1.5 signatures are deterministic).
    signer = _signer(str(key), str(cert))
    tags = [f"w{w}-r{j}" for w in range(N_PROCS) for j in range(PER_PROC)] + [
        f"shared-{k}" for k in range(SHARED)
    ]
    expected = {}
    for tag in tags:
        signed = _prepare(small_doc(tag), signer)
        expected[signed.canonical_hash] = signed.data
    assert len(expected) == N_PROCS * PER_PROC + SHARED

    store = FilesystemStore(FilesystemStore.Options(root=root))
    records = list(store.list())
    assert {r.canonical_hash for r in records} == set(expected)
    assert len(records) == len(expected)
    assert store.stats()["count"] == len(expected)

    # Nothing half-written, nothing left over, every sidecar parses, modes are 0600.
    everything = [p for p in root.rglob("*") if p.is_file()]
    assert not [p for p in everything if p.name.startswith(".tmp-")]
    sidecars = [p for p in everything if p.suffix == ".json"]
    assert len(sidecars) == len(expected)
    for side in sidecars:
        record = StoredReport.from_dict(json.loads(side.read_bytes().decode("utf-8")))
        assert record.canonical_hash == "sha256:" + side.stem
        assert record.signature is not None and record.signature.certificate_subject
    for p in everything:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p

    trust = trust_mod.TrustedCertificates.from_pem_file(cert)
    for h, data in expected.items():
        got = store.get(h)
        assert got == data, h
        verified = xmldsig.verify_report(got, trust)
        assert verified.canonical_hash == h
        assert verified.summary.tests == 3
    print(f"\n{N_PROCS} processes x {PER_PROC} (+{SHARED} shared) signed puts: {elapsed:.1f} s wall")


def _check_no_partial(root: Path, store: FilesystemStore) -> int:
    """Every final-named file is complete; every listed report hashes to its name and size."""
    for xml in (p for p in _non_tmp_files(root) if p.suffix == ".xml"):
        assert parse_report(xml.read_bytes()).canonical_hash == "sha256:" + xml.stem, xml
    for side in (p for p in _non_tmp_files(root) if p.suffix == ".json"):
        json.loads(side.read_bytes().decode("utf-8"))
    n = 0
    for record in store.list():
        data = store.get(record.canonical_hash)
        assert parse_report(data).canonical_hash == record.canonical_hash
        assert len(data) == record.size  # the sidecar describes these very bytes
        n += 1
    return n


def test_sigkill_mid_write_leaves_no_partial_report(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = FilesystemStore(FilesystemStore.Options(root=root))
    ctx = multiprocessing.get_context("spawn")
    leftovers = hidden = 0
    for round_, delay in enumerate((0.05, 0.17, 0.29, 0.41)):
        started = ctx.Event()
        p = ctx.Process(target=_long_writer, args=(str(root), f"kill{round_}", started))
        p.start()
        try:
            assert started.wait(60), "writer did not start"
            time.sleep(delay)
            os.kill(p.pid, signal.SIGKILL)  # type: ignore[arg-type]
            p.join(10)
        finally:
            if p.is_alive():
                p.kill()
                p.join(5)
        assert p.exitcode == -signal.SIGKILL  # killed in the middle of its run, not finished
        count = _check_no_partial(root, store)
        assert count >= KILL_REPORTS * (round_ + 1) - (round_ + 1)  # at most one hidden per kill
        leftovers += sum(1 for _ in root.rglob(".tmp-*"))
        hidden += sum(1 for q in root.rglob("*.xml") if not q.with_suffix(".json").exists())

    # Interrupted reports are repaired by putting them again; then all are complete.
    for round_ in range(4):
        for k in range(KILL_REPORTS):
            store.put(parse_report(big_doc(f"kill{round_}-{k}")), replace=True)  # LF or CRLF may be stored
    assert _check_no_partial(root, store) == 4 * KILL_REPORTS == store.stats()["count"]
    print(f"\nkills left {leftovers} temp files and {hidden} hidden (mid-replace) reports; all repaired")
