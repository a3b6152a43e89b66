"""FilesystemStore ("filesystem") on real files: layout, atomicity, idempotence, filters, errors."""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import juxsdk.files
from juxsdk.errors import CorruptSidecarError, ReportNotFoundError, StoreConflictError, StoreError
from juxsdk.junit import parse_report
from juxsdk.models import Report, StoredReport
from juxsdk.protocols import Store
from juxsdk.sidecars import STORE_LOGGER
from juxsdk_backends import _fsio
from juxsdk_backends.filesystem import FilesystemStore

REPO = Path(__file__).resolve().parents[2]
CORPUS = (REPO / ".." / "shared" / "corpus" / "jux-test-fixtures").resolve()
NOT_WELL_FORMED = {"raw/jenkins/nightly-build.xml"}
WELL_FORMED = sorted(
    p
    for p in CORPUS.rglob("*.xml")
    if "malformed" not in p.parts and p.relative_to(CORPUS).as_posix() not in NOT_WELL_FORMED
)
UTC = dt.UTC


def junit(name: str, *, project: str | None = None, failures: int = 0, cases: int = 3) -> bytes:
    """A small generated JUnit document (unique per ``name``)."""
    props = f'<properties><property name="project" value="{project}"/></properties>' if project else ""
    body = []
    for i in range(cases):
        fail = '<failure message="boom">Traceback: x</failure>' if i < failures else ""
        body.append(f'<testcase classname="t.{name}" name="test_{i}" time="0.01">{fail}</testcase>')
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="{name}" tests="{cases}" '
        f'failures="{failures}" errors="0" skipped="0" time="0.03">{props}{"".join(body)}</testsuite>\n'
    ).encode()


def rep(data: bytes, source: str | None = None) -> Report:
    return parse_report(data, source=source)


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def set_stored_at(store: FilesystemStore, canonical_hash: str, when: dt.datetime) -> None:
    """Rewrite a sidecar's stored_at (the only way to get old records without waiting)."""
    side = Path(store.metadata(canonical_hash).location or "").with_suffix(".json")
    doc = json.loads(side.read_text("utf-8"))
    doc["stored_at"] = when.isoformat()
    side.write_text(json.dumps(doc, sort_keys=True), "utf-8")


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(FilesystemStore.Options(root=tmp_path / "store"))


def test_corpus_is_there() -> None:
    assert len(WELL_FORMED) >= 90, CORPUS


def test_satisfies_store_protocol(store: FilesystemStore) -> None:
    assert isinstance(store, Store)
    assert FilesystemStore.name == "filesystem"
    store.close()
    store.close()  # idempotent


@pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_put_get_roundtrip_corpus(store: FilesystemStore, path: Path) -> None:
    data = path.read_bytes()
    report = rep(data, source=path.name)
    record = store.put(report)
    hexd = report.canonical_hash.removeprefix("sha256:")
    xml = store.root / hexd[:2] / f"{hexd}.xml"
    side = xml.with_suffix(".json")

    assert store.get(report.canonical_hash) == data
    assert xml.read_bytes() == data
    assert store.exists(report.canonical_hash)
    assert record.location == str(xml)
    assert record.size == len(data)
    assert record.summary == report.summary
    assert record.properties == report.properties
    assert record.source == path.name
    assert record.store == "filesystem"

    raw = side.read_bytes()
    doc = json.loads(raw.decode("utf-8"))
    assert list(doc) == sorted(doc)
    assert StoredReport.from_dict(doc).summary == report.summary
    assert store.metadata(report.canonical_hash) == record
    assert [r.canonical_hash for r in store.list()] == [report.canonical_hash]


def test_crlf_and_bom_bytes_are_kept_exactly(store: FilesystemStore) -> None:
    lf = (CORPUS / "edge-cases" / "unicode-content.xml").read_bytes()
    assert b"\r\n" not in lf
    crlf = lf.replace(b"\n", b"\r\n")
    bom_crlf = b"\xef\xbb\xbf" + crlf
    r_crlf, r_bom = rep(crlf), rep(bom_crlf)
    # Same canonical hash, different bytes: replaced only on request, get returns exactly the last.
    assert r_crlf.canonical_hash == r_bom.canonical_hash == rep(lf).canonical_hash
    store.put(r_crlf)
    assert store.get(r_crlf.canonical_hash) == crlf
    with pytest.raises(StoreConflictError):
        store.put(r_bom)
    assert store.get(r_crlf.canonical_hash) == crlf
    store.put(r_bom, replace=True)
    got = store.get(r_bom.canonical_hash)
    assert got == bom_crlf and got.startswith(b"\xef\xbb\xbf") and b"\r\n" in got
    assert store.metadata(r_bom.canonical_hash).size == len(bom_crlf)


def test_put_is_idempotent_and_touches_nothing(store: FilesystemStore) -> None:
    report = rep(junit("idem"))
    first = store.put(report)
    paths = files_of(store.root)
    old = 1_000_000_000  # 2001: any rewrite would move the mtime to now
    for p in paths:
        os.utime(p, ns=(old * 10**9, old * 10**9))
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino, p.read_bytes()) for p in paths}

    again = store.put(rep(junit("idem")))

    assert again == first
    assert files_of(store.root) == paths
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino, p.read_bytes()) for p in paths} == before


def test_same_hash_different_bytes_replaces_both(store: FilesystemStore) -> None:
    a = junit("swap", project="p1")
    b = a.replace(b'name="swap" tests="3"', b'tests="3" name="swap"')  # attribute order only
    ra, rb = rep(a), rep(b)
    assert a != b and ra.canonical_hash == rb.canonical_hash
    first = store.put(ra)
    set_stored_at(store, ra.canonical_hash, dt.datetime(2024, 1, 2, tzinfo=UTC))
    with pytest.raises(StoreConflictError) as info:
        store.put(rb)
    assert info.value.reason == "different" and store.get(ra.canonical_hash) == a
    second = store.put(rb, replace=True)

    assert store.get(rb.canonical_hash) == b
    assert second.size == len(b)
    assert second.stored_at == dt.datetime(2024, 1, 2, tzinfo=UTC)  # first storage time kept
    assert first.stored_at != second.stored_at
    assert [r.canonical_hash for r in store.list()] == [rb.canonical_hash]
    assert len([p for p in files_of(store.root) if p.suffix in (".xml", ".json")]) == 2


def test_half_stored_report_is_invisible_and_put_repairs(store: FilesystemStore) -> None:
    report = rep(junit("half"))
    record = store.put(report)
    side = Path(record.location or "").with_suffix(".json")
    side.unlink()  # as if the process died between the XML and the sidecar

    assert not store.exists(report.canonical_hash)
    assert list(store.list()) == []
    assert (store.stats()["count"], store.stats()["incomplete"]) == (0, 1)
    with pytest.raises(ReportNotFoundError):
        store.get(report.canonical_hash)
    with pytest.raises(ReportNotFoundError):
        store.metadata(report.canonical_hash)

    store.put(report)
    assert store.exists(report.canonical_hash)
    assert store.get(report.canonical_hash) == report.data


def test_orphan_sidecar_is_invisible(store: FilesystemStore) -> None:
    report = rep(junit("orphan"))
    record = store.put(report)
    Path(record.location or "").unlink()
    assert not store.exists(report.canonical_hash)
    assert list(store.list()) == []
    with pytest.raises(ReportNotFoundError):
        store.get(report.canonical_hash)


def test_list_filters_and_order(store: FilesystemStore) -> None:
    specs = {
        "a": ("alpha", 0, dt.datetime(2024, 1, 1, tzinfo=UTC)),
        "b": ("alpha", 2, dt.datetime(2024, 1, 5, tzinfo=UTC)),
        "c": ("beta", 1, dt.datetime(2024, 1, 3, tzinfo=UTC)),
        "d": (None, 0, dt.datetime(2024, 1, 10, tzinfo=UTC)),
    }
    hashes = {}
    for key, (project, failures, when) in specs.items():
        report = rep(junit(key, project=project, failures=failures))
        store.put(report)
        set_stored_at(store, report.canonical_hash, when)
        hashes[report.canonical_hash] = key

    def keys(**kw: object) -> list[str]:
        return [hashes[r.canonical_hash] for r in store.list(**kw)]  # type: ignore[arg-type]

    assert keys() == ["a", "c", "b", "d"]  # sorted by stored_at
    assert keys(project="alpha") == ["a", "b"]
    assert keys(project="nobody") == []
    assert keys(failed_only=True) == ["c", "b"]
    assert keys(since=dt.datetime(2024, 1, 3, tzinfo=UTC)) == ["c", "b", "d"]  # since inclusive
    assert keys(until=dt.datetime(2024, 1, 5, tzinfo=UTC)) == ["a", "c"]  # until exclusive
    assert keys(since=dt.datetime(2024, 1, 2), until=dt.datetime(2024, 1, 6)) == ["c", "b"]  # naive = UTC
    assert keys(project="alpha", failed_only=True, since=dt.datetime(2024, 1, 4, tzinfo=UTC)) == ["b"]
    record = next(r for r in store.list(project="beta"))
    assert record.summary.failures == 1 and record.project == "beta"


def test_list_on_missing_root_is_empty(tmp_path: Path) -> None:
    s = FilesystemStore(FilesystemStore.Options(root=tmp_path / "nope"))
    assert list(s.list()) == []
    assert s.stats()["count"] == 0
    assert not (tmp_path / "nope").exists()  # reading never creates the root


def test_delete(store: FilesystemStore) -> None:
    keep, gone = rep(junit("keep")), rep(junit("gone"))
    store.put(keep)
    store.put(gone)
    assert store.delete(gone.canonical_hash) is True
    assert store.delete(gone.canonical_hash) is False
    assert not store.exists(gone.canonical_hash)
    with pytest.raises(ReportNotFoundError):
        store.get(gone.canonical_hash)
    hexd = gone.canonical_hash.removeprefix("sha256:")
    assert not any(hexd in p.name for p in files_of(store.root))
    assert [r.canonical_hash for r in store.list()] == [keep.canonical_hash]
    assert store.delete("sha256:" + "0" * 64) is False  # never stored, shard absent


def test_resolve_prefix(store: FilesystemStore) -> None:
    reports = [rep(junit(f"p{i}")) for i in range(20)]
    for r in reports:
        store.put(r)
    hexes = [r.canonical_hash.removeprefix("sha256:") for r in reports]
    target = hexes[0]
    # Unique, with and without "sha256:", any case.
    assert store.resolve_prefix(target[:12]) == f"sha256:{target}"
    assert store.resolve_prefix(f"sha256:{target[:12]}") == f"sha256:{target}"
    assert store.resolve_prefix(target[:12].upper()) == f"sha256:{target}"
    assert store.resolve_prefix(f"sha256:{target}") == f"sha256:{target}"
    # 20 hashes over 16 first digits: some first digit is shared (pigeonhole).
    first = next(c for c in "0123456789abcdef" if sum(h.startswith(c) for h in hexes) >= 2)
    with pytest.raises(StoreError) as ambiguous:
        store.resolve_prefix(first)
    assert not isinstance(ambiguous.value, ReportNotFoundError)
    assert "ambiguous" in ambiguous.value.message
    for h in hexes:
        if h.startswith(first):
            assert f"sha256:{h[:16]}" in ambiguous.value.message
    missing = next(p for p in (f"{a}{b}{c}" for a in "0123456789abcdef" for b in "0123456789abcdef"
                               for c in "0123456789abcdef") if not any(h.startswith(p) for h in hexes))
    with pytest.raises(ReportNotFoundError):
        store.resolve_prefix(missing)
    for bad in ("", "xyz", "../", "sha256:", "g" * 3, "a" * 65):
        with pytest.raises(StoreError):
            store.resolve_prefix(bad)


def test_permissions_are_explicit_not_umask(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "reports"
    s = FilesystemStore(FilesystemStore.Options(root=root))
    old = os.umask(0)  # a umask would give 0777/0666: the store must chmod explicitly
    try:
        record = s.put(rep(junit("perm")))
    finally:
        os.umask(old)
    for d in (tmp_path / "a", tmp_path / "a" / "b", root, root / Path(record.location or "").parent.name):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    files = files_of(root)
    assert {p.suffix for p in files} >= {".xml", ".json"}
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


@pytest.mark.parametrize(
    "bad",
    [
        "sha256:" + "A" * 64,  # uppercase
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "a" * 64,  # no algorithm
        "md5:" + "a" * 32,
        "sha256:../../../../etc/passwd",
        "sha256:" + "a" * 62 + "/x",
        "sha256:" + "a" * 64 + "\n",
        "",
    ],
)
def test_invalid_hash_rejected(store: FilesystemStore, bad: str) -> None:
    for call in (store.get, store.exists, store.metadata, store.delete):
        with pytest.raises(StoreError) as info:
            call(bad)
        assert "invalid canonical hash" in info.value.message
    fake = Report(b"<testsuite/>", rep(junit("x")).summary, (), bad)
    with pytest.raises(StoreError):
        store.put(fake)
    assert not store.root.exists()


def test_corrupt_sidecar_is_skipped_with_warning(
    store: FilesystemStore, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = rep(junit("good")), rep(junit("bad"))
    store.put(good)
    rec = store.put(bad)
    side = Path(rec.location or "").with_suffix(".json")
    for garbage in (b"{not json", b"\xff\xfe", b"[1, 2]", b'{"canonical_hash": "sha256:00"}'):
        side.write_bytes(garbage)
        with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
            caplog.clear()
            assert [r.canonical_hash for r in store.list()] == [good.canonical_hash]
        assert any("corrupt metadata sidecar" in m and str(side) in m for m in caplog.messages)
        with pytest.raises(CorruptSidecarError) as info:
            store.metadata(bad.canonical_hash)
        assert "corrupt" in info.value.message and info.value.where == str(side)
    store.put(bad)  # repairs
    assert store.metadata(bad.canonical_hash).size == len(bad.data)
    assert len(list(store.list())) == 2


def test_temp_and_lock_files_are_ignored(store: FilesystemStore) -> None:
    report = rep(junit("tmp"))
    rec = store.put(report)
    shard = Path(rec.location or "").parent
    (shard / ".tmp-abc123.xml").write_bytes(b"<testsuite")  # left by a killed writer
    (shard / ".tmp-abc123.json").write_bytes(b"{")
    (store.root / "zz").mkdir()
    (store.root / "README").write_text("hi")
    assert [r.canonical_hash for r in store.list()] == [report.canonical_hash]
    stats = store.stats()
    assert (stats["count"], stats["temp_files"], stats["incomplete"]) == (1, 2, 0)


def test_clean_removes_only_stale_temp_files(store: FilesystemStore) -> None:
    rec = store.put(rep(junit("stale")))
    shard = Path(rec.location or "").parent
    stale, fresh = shard / ".tmp-stale.xml", shard / ".tmp-fresh.xml"
    stale.write_bytes(b"<test")
    fresh.write_bytes(b"<test")
    two_hours_ago = dt.datetime.now(UTC).timestamp() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    store.clean(dt.timedelta(days=1), dry_run=True)
    assert stale.exists()
    assert store.clean(dt.timedelta(days=1)) == []
    assert not stale.exists() and fresh.exists()  # a young one may be another writer's
    assert store.exists(rec.canonical_hash)


def test_stats(store: FilesystemStore) -> None:
    datas = [junit(f"s{i}") for i in range(5)]
    for d in datas:
        store.put(rep(d))
    stats = store.stats()
    assert stats["count"] == 5
    assert stats["bytes"] == sum(len(d) for d in datas)
    assert stats["metadata_bytes"] > 0
    assert stats["root"] == str(store.root)


def test_clean_dry_run_and_real(store: FilesystemStore) -> None:
    old, new = rep(junit("old")), rep(junit("new"))
    store.put(old)
    store.put(new)
    set_stored_at(store, old.canonical_hash, dt.datetime.now(UTC) - dt.timedelta(days=10))

    would = store.clean(dt.timedelta(days=7), dry_run=True)
    assert [r.canonical_hash for r in would] == [old.canonical_hash]
    assert store.exists(old.canonical_hash)

    done = store.clean(dt.timedelta(days=7))
    assert [r.canonical_hash for r in done] == [old.canonical_hash]
    assert not store.exists(old.canonical_hash) and store.exists(new.canonical_hash)
    assert store.clean(dt.timedelta(days=0), dry_run=True)[0].canonical_hash == new.canonical_hash
    with pytest.raises(StoreError):
        store.clean(dt.timedelta(days=-1))


def test_concurrent_threads_same_hash_keep_xml_and_sidecar_consistent(store: FilesystemStore) -> None:
    """Racing puts of different bytes under one hash: the sidecar always describes the XML."""
    a = junit("race")
    variants = [rep(a), rep(b"\xef\xbb\xbf" + a), rep(a.replace(b"\n", b"\r\n")), rep(a + b"\n" * 5)]
    assert len({v.canonical_hash for v in variants}) == 1
    assert len({len(v.data) for v in variants}) == len(variants)  # sizes tell them apart
    h = variants[0].canonical_hash
    barrier = threading.Barrier(len(variants), timeout=30)
    errors: list[Exception] = []
    mismatches = []

    def worker(v: Report) -> None:
        try:
            barrier.wait()
            store.put(v, replace=True)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    for round_ in range(40):
        threads = [threading.Thread(target=worker, args=(v,)) for v in variants]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        data = store.get(h)
        if store.metadata(h).size != len(data):
            mismatches.append(round_)
    assert not errors
    assert not mismatches
    assert store.get(h) in {v.data for v in variants}
    assert not [p for p in files_of(store.root) if p.name.startswith(".tmp-")]


def test_signed_reports_and_resigning(store: FilesystemStore, tmp_path: Path) -> None:
    keys = pytest.importorskip("juxsdk.keys")
    xmldsig = pytest.importorskip("juxsdk.xmldsig")
    trust = pytest.importorskip("juxsdk.trust")
    from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner

    signers = []
    for name in ("one", "two"):
        keys.generate_key_pair(tmp_path / f"{name}-key.pem", tmp_path / f"{name}-cert.pem", subject=name)
        signers.append(FileKeySigner(FileKeyOptions(key=tmp_path / f"{name}-key.pem",
                                                    certificate=tmp_path / f"{name}-cert.pem")))
    report = rep((CORPUS / "edge-cases" / "unicode-content.xml").read_bytes())
    first = xmldsig.sign_report(report, signers[0])
    record = store.put(first)
    assert record.signature is not None and record.signature.certificate_subject == "CN=one"
    assert store.get(first.canonical_hash) == first.data
    xmldsig.verify_report(store.get(first.canonical_hash),
                          trust.TrustedCertificates.from_pem_file(tmp_path / "one-cert.pem"))

    second = xmldsig.sign_report(first.data, signers[1], replace=True)  # same hash, new bytes
    assert second.canonical_hash == first.canonical_hash and second.data != first.data
    with pytest.raises(StoreConflictError, match="signed by CN=one, the new one by CN=two"):
        store.put(second)
    record = store.put(second, replace=True)
    assert store.get(second.canonical_hash) == second.data
    meta = store.metadata(second.canonical_hash)
    assert meta.signature is not None and meta.signature.certificate_subject == "CN=two"
    assert meta.size == len(second.data) and meta == record
    xmldsig.verify_report(store.get(second.canonical_hash),
                          trust.TrustedCertificates.from_pem_file(tmp_path / "two-cert.pem"))


# --- OSError mapping ----------------------------------------------------------------------


def test_root_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    s = FilesystemStore(FilesystemStore.Options(root=blocker / "reports"))
    with pytest.raises(StoreError) as info:
        s.put(rep(junit("x")))
    assert str(blocker) in info.value.message
    assert info.value.hint and "not a directory" in info.value.hint
    assert isinstance(info.value.__cause__, OSError)


def test_permission_denied_injected(store: FilesystemStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def denied(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_EXCL:  # the temporary file of an atomic write
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_fsio.os, "open", denied)
    with pytest.raises(StoreError) as info:
        store.put(rep(junit("x")))
    monkeypatch.undo()
    assert "Permission denied" in info.value.message and ".xml" in info.value.message
    assert info.value.hint and "permissions" in info.value.hint and str(store.root) in info.value.hint


def test_disk_full_injected_leaves_no_temp_file(
    store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FullFile:
        def __init__(self, fd: int, *a: object, **k: object) -> None:
            self._fd = fd

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *exc: object) -> None:
            os.close(self._fd)

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    report = rep(junit("full"))
    monkeypatch.setattr(juxsdk.files, "open", FullFile, raising=False)  # the one atomic-write helper
    with pytest.raises(StoreError) as info:
        store.put(report)
    monkeypatch.undo()
    assert "No space left" in info.value.message
    assert info.value.hint and "full" in info.value.hint
    assert not [p for p in files_of(store.root) if p.name.startswith(".tmp-")]
    assert not store.exists(report.canonical_hash)


_CHILD = textwrap.dedent(
    """
    import sys
    from juxsdk.errors import StoreError
    from juxsdk.junit import parse_report
    from juxsdk_backends.filesystem import FilesystemStore
    s = FilesystemStore(FilesystemStore.Options(root=sys.argv[1]))
    data = b'<testsuite name="ro" tests="1"><testcase name="a"/></testsuite>'
    try:
        s.put(parse_report(data))
    except StoreError as exc:
        print("STOREERROR", exc.message, "|", exc.hint)
        sys.exit(3)
    """
)


def test_read_only_root_real_permission_error(tmp_path: Path) -> None:
    """A real EACCES from a 0555 root; as root, the child runs without CAP_DAC_OVERRIDE."""
    root = tmp_path / "reports"
    root.mkdir()
    os.chmod(root, 0o555)
    cmd = [sys.executable, "-c", _CHILD, str(root)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot provoke a real EACCES")
        cmd = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps=-all", "--", *cmd]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    finally:
        os.chmod(root, 0o700)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "STOREERROR" in proc.stdout and "Permission denied" in proc.stdout
    assert "permissions" in proc.stdout and str(root) in proc.stdout
    assert list(root.iterdir()) == []


# --- options ------------------------------------------------------------------------------


def test_options_root_accepts_str_and_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = FilesystemStore(FilesystemStore.Options(root="~/jux-reports"))  # type: ignore[arg-type]
    assert s.root == tmp_path / "jux-reports"
    assert isinstance(FilesystemStore.Options(root="x").root, Path)  # type: ignore[arg-type]


def test_default_root_honours_jux_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUX_DATA_DIR", str(tmp_path / "data"))
    s = FilesystemStore()
    assert s.root == tmp_path / "data" / "reports"
    assert not s.root.exists()  # the constructor does no I/O
    s.put(rep(junit("default")))
    assert len(list(s.list())) == 1
