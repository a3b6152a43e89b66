"""FilesystemStore against someone who tampers with its root: links, special files, downgrades,
broken sidecars, and roots other users can write. Real files, real signatures, nothing mocked.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from juxsdk.errors import CorruptSidecarError, StoreConflictError, StoreError
from juxsdk.junit import parse_report
from juxsdk.sidecars import STORE_LOGGER
from juxsdk.testing import MemorySigner, make_report
from juxsdk.xmldsig import sign_report
from juxsdk_backends.filesystem import FilesystemStore

SIGNER = MemorySigner(MemorySigner.Options(algorithm="ecdsa-sha256", certificate=True))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> FilesystemStore:
    return FilesystemStore(FilesystemStore.Options(root=root))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the root with a file nobody must read, write or delete through the store."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_bytes(b"root:x:0:0:do not touch\n")
    return d


def paths(store: FilesystemStore, canonical_hash: str) -> tuple[Path, Path, Path]:
    hexd = canonical_hash.removeprefix("sha256:")
    shard = store.root / hexd[:2]
    return shard, shard / f"{hexd}.xml", shard / f"{hexd}.json"


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == STORE_LOGGER and hasattr(r, "jux_store_problem")]


# --- no downgrade --------------------------------------------------------------------------


def test_unsigned_put_never_replaces_a_signed_report(store: FilesystemStore) -> None:
    report = make_report(4, failures=1, tag="fs-downgrade")
    signed = sign_report(report, SIGNER)
    store.put(signed)
    for replace in (False, True):
        with pytest.raises(StoreError) as info:
            store.put(report, replace=replace)
        assert isinstance(info.value, StoreConflictError) and info.value.reason == "downgrade"
        assert "signed copy" in info.value.message and "never replaces" in info.value.message
        assert info.value.hint and "nothing was written" in info.value.hint
    assert store.get(report.canonical_hash) == signed.data
    assert store.metadata(report.canonical_hash).signed


def test_the_rule_reads_the_bytes_not_the_sidecar(store: FilesystemStore) -> None:
    """A signed XML whose sidecar is gone (or says "unsigned") is still protected."""
    report = make_report(2, tag="fs-bytes")
    signed = sign_report(report, SIGNER)
    _, xml, side = paths(store, report.canonical_hash)
    store.put(signed)
    side.unlink()  # half-stored: the sidecar is missing
    with pytest.raises(StoreConflictError):
        store.put(report)
    assert xml.read_bytes() == signed.data
    store.put(signed)  # the same bytes again restore the sidecar
    doc = json.loads(side.read_text())
    doc.update(signature=None, signed=False)  # a sidecar lying about the bytes
    side.write_text(json.dumps(doc))
    with pytest.raises(StoreConflictError):
        store.put(report)
    assert xml.read_bytes() == signed.data


def test_parsed_signed_report_is_recorded_as_signed(store: FilesystemStore) -> None:
    signed = sign_report(make_report(tag="fs-parsed-signed"), SIGNER)
    parsed = parse_report(signed.data)  # e.g. `jux submit signed.xml`: signature not verified
    record = store.put(parsed)
    assert record.signed and record.signature is None
    assert store.metadata(parsed.canonical_hash).signed
    assert next(store.list()).signed


def test_racing_threads_cannot_downgrade(store: FilesystemStore) -> None:
    for round_ in range(5):
        report = make_report(3, tag=f"fs-race-{round_}")
        signed = sign_report(report, SIGNER)
        barrier = threading.Barrier(6, timeout=30)

        def put(item: object) -> None:
            barrier.wait()
            try:
                store.put(item)  # type: ignore[arg-type]
            except StoreConflictError:
                pass

        threads = [threading.Thread(target=put, args=(signed if i % 2 else report,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert store.get(report.canonical_hash) == signed.data
        assert store.metadata(report.canonical_hash).size == len(signed.data)


# --- links and special files are never followed ---------------------------------------------


def test_linked_report_is_not_read_through(store: FilesystemStore, outside: Path, caplog) -> None:
    report = make_report(tag="fs-link-xml")
    store.put(report)
    _, xml, _ = paths(store, report.canonical_hash)
    xml.unlink()
    xml.symlink_to(outside / "victim")
    with pytest.raises(StoreError) as info:
        store.get(report.canonical_hash)
    assert "symbolic link" in info.value.message and str(xml) in info.value.message
    with pytest.raises(StoreError, match="symbolic link"):
        store.metadata(report.canonical_hash)
    assert store.exists(report.canonical_hash) is False
    with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
        assert list(store.list()) == []
    assert any(str(xml) in m and "symbolic link" in m for m in problems(caplog))
    # put refuses to treat the link as the report; with replace the link itself is replaced
    with pytest.raises(StoreConflictError) as conflict:
        store.put(report)
    assert conflict.value.reason == "damaged"
    store.put(report, replace=True)
    assert not xml.is_symlink() and store.get(report.canonical_hash) == report.data
    assert (outside / "victim").read_bytes() == b"root:x:0:0:do not touch\n"


def test_linked_sidecar_is_corrupt_not_followed(store: FilesystemStore, outside: Path, caplog) -> None:
    good, bad = make_report(tag="fs-side-good"), make_report(tag="fs-side-bad")
    store.put(good)
    store.put(bad)
    _, _, side = paths(store, bad.canonical_hash)
    (outside / "sidecar.json").write_bytes(side.read_bytes())  # a perfectly valid sidecar, elsewhere
    side.unlink()
    side.symlink_to(outside / "sidecar.json")
    with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
        assert [r.canonical_hash for r in store.list()] == [good.canonical_hash]
    assert any(str(side) in m and "symbolic link" in m and "not followed" in m for m in problems(caplog))
    with pytest.raises(CorruptSidecarError):
        store.metadata(bad.canonical_hash)
    store.put(bad)  # rewrites the sidecar: the link is replaced, its target untouched
    assert not side.is_symlink() and store.metadata(bad.canonical_hash).size == len(bad.data)
    assert (outside / "sidecar.json").exists()


def test_linked_shard_is_never_entered(store: FilesystemStore, outside: Path, caplog) -> None:
    report = make_report(tag="fs-link-shard")
    shard, _, _ = paths(store, report.canonical_hash)
    store.root.mkdir(mode=0o700)
    shard.symlink_to(outside, target_is_directory=True)
    with pytest.raises(StoreError) as info:
        store.put(report)
    assert "symbolic link" in info.value.message
    assert sorted(p.name for p in outside.iterdir()) == ["victim"], "the store wrote through a linked shard"
    # a complete, valid-looking report planted behind the link is not listed either
    other = FilesystemStore(FilesystemStore.Options(root=outside.parent / "elsewhere"))
    other.put(report)
    _, real_xml, real_side = paths(other, report.canonical_hash)
    shutil.copy(real_xml, outside / real_xml.name)
    shutil.copy(real_side, outside / real_side.name)
    with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
        assert list(store.list()) == []
    assert any(str(shard) in m for m in problems(caplog))
    assert store.exists(report.canonical_hash) is False
    with pytest.raises(StoreError, match="symbolic link"):
        store.get(report.canonical_hash)
    with pytest.raises(StoreError, match="symbolic link"):
        store.delete(report.canonical_hash)
    assert (outside / real_xml.name).exists() and (outside / real_side.name).exists()


def test_linked_lock_file_is_not_opened(store: FilesystemStore, outside: Path) -> None:
    report = make_report(tag="fs-link-lock")
    store.put(report)
    shard, _, _ = paths(store, report.canonical_hash)
    (shard / ".lock").unlink()
    (shard / ".lock").symlink_to(outside / "victim")
    with pytest.raises(StoreError) as info:
        store.put(report)
    assert ".lock" in info.value.message and "symbolic link" in info.value.message
    assert (outside / "victim").read_bytes() == b"root:x:0:0:do not touch\n"


def test_delete_removes_planted_links_not_their_targets(store: FilesystemStore, outside: Path) -> None:
    report = make_report(tag="fs-link-delete")
    store.put(report)
    _, xml, side = paths(store, report.canonical_hash)
    for path in (xml, side):
        path.unlink()
        path.symlink_to(outside / "victim")
    assert store.delete(report.canonical_hash) is True
    assert not xml.is_symlink() and not side.is_symlink()
    assert (outside / "victim").read_bytes() == b"root:x:0:0:do not touch\n"


def test_fifo_planted_as_a_sidecar_does_not_hang_readers(store: FilesystemStore, caplog) -> None:
    good, bad = make_report(tag="fs-fifo-good"), make_report(tag="fs-fifo-bad")
    store.put(good)
    store.put(bad)
    _, _, side = paths(store, bad.canonical_hash)
    side.unlink()
    os.mkfifo(side)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append([r.canonical_hash for r in store.list()]), daemon=True)
    with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
        reader.start()
        reader.join(timeout=20)
    assert not reader.is_alive(), "list() blocked on a FIFO"
    assert result == [[good.canonical_hash]]
    assert any(str(side) in m and "FIFO" in m for m in problems(caplog))
    with pytest.raises(CorruptSidecarError, match="FIFO"):
        store.metadata(bad.canonical_hash)


def test_oversized_sidecar_is_not_read(store: FilesystemStore, monkeypatch) -> None:
    from juxsdk import sidecars

    report = make_report(tag="fs-huge")
    store.put(report)
    _, _, side = paths(store, report.canonical_hash)
    monkeypatch.setattr("juxsdk_backends.filesystem.MAX_SIDECAR_BYTES", 64)
    with pytest.raises(CorruptSidecarError, match="over the 64 byte limit"):
        store.metadata(report.canonical_hash)
    assert side.stat().st_size > 64 and sidecars.MAX_SIDECAR_BYTES == 16 * 1024 * 1024


def test_stats_counts_problems_and_reports_them(store: FilesystemStore, outside: Path, caplog) -> None:
    reports = [make_report(tag=f"fs-stats-{i}") for i in range(3)]
    for r in reports:
        store.put(r)
    _, _, side = paths(store, reports[0].canonical_hash)
    side.write_bytes(b'{"canonical_hash": 42}')
    _, xml, _ = paths(store, reports[1].canonical_hash)
    xml.unlink()
    xml.symlink_to(outside / "victim")
    with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
        stats = store.stats()
    assert (stats["count"], stats["problems"]) == (1, 2)
    assert stats["bytes"] == len(reports[2].data)
    assert len(problems(caplog)) == 2


# --- a root other users can write ------------------------------------------------------------


def test_safe_root_has_no_warnings(store: FilesystemStore, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
        store.put(make_report(tag="fs-safe"))
    assert store.check() == [f"root {store.root}"]
    assert store.stats()["warnings"] == []
    assert not [r for r in caplog.records if r.name == STORE_LOGGER]


def test_world_writable_root_is_warned_about_once(tmp_path: Path, caplog) -> None:
    root = tmp_path / "shared-root"
    root.mkdir()
    os.chmod(root, 0o777)
    store = FilesystemStore(FilesystemStore.Options(root=root))
    with caplog.at_level(logging.WARNING, logger=STORE_LOGGER):
        store.put(make_report(tag="fs-777-a"))
        store.put(make_report(tag="fs-777-b"))
        list(store.list())
    warnings = [r.getMessage() for r in caplog.records if r.name == STORE_LOGGER]
    assert len(warnings) == 1, warnings
    assert str(root) in warnings[0] and "writable by group or others (mode 0777)" in warnings[0]
    assert not hasattr(caplog.records[0], "jux_store_problem")  # a warning, not a skipped record
    assert any("0777" in w for w in store.stats()["warnings"])
    assert [line for line in store.check() if line.startswith("warning:")]


def test_parent_others_can_write_without_sticky_bit_is_warned_about(tmp_path: Path) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    os.chmod(parent, 0o777)
    store = FilesystemStore(FilesystemStore.Options(root=parent / "reports"))
    store.put(make_report(tag="fs-parent"))
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    warnings = store.stats()["warnings"]
    assert warnings and str(parent) in warnings[0] and f"can replace {store.root}" in warnings[0]


def test_private_root_in_a_sticky_shared_directory_is_fine(tmp_path: Path) -> None:
    """Like a root under /tmp: the shared directory has the sticky bit and the root is ours, 0700."""
    sticky = tmp_path / "tmp-like"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    store = FilesystemStore(FilesystemStore.Options(root=sticky / "reports"))
    store.put(make_report(tag="fs-sticky"))
    assert store.stats()["warnings"] == []
    os.chmod(store.root, 0o777)  # but the root itself open to all is not
    assert any("mode 0777" in w for w in store.stats()["warnings"])


def test_symlinked_root_in_an_open_directory_is_warned_about(tmp_path: Path) -> None:
    real = tmp_path / "real-root"
    real.mkdir(mode=0o700)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    (open_dir / "link").symlink_to(real, target_is_directory=True)
    store = FilesystemStore(FilesystemStore.Options(root=open_dir / "link"))
    store.put(make_report(tag="fs-root-link"))  # the configured root may be a link: the user chose it
    assert list(real.iterdir())
    assert any(str(open_dir) in w for w in store.stats()["warnings"])
