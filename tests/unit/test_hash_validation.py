"""One canonical-hash validator (juxsdk.hashes, re-exported by juxsdk.models), used everywhere.

Before issue 11 item 7 the memory store, the evidence index, both built-in stores and the outbox
each had their own regular expression for a canonical hash or a stored name; they now call the
helpers of :mod:`juxsdk.hashes`.
"""

from __future__ import annotations

import pytest

import juxsdk
from juxsdk.errors import ReportNotFoundError, StoreError
from juxsdk.models import canonical_hex, hash_prefix_digits, report_name_parts
from juxsdk.outbox.entries import split_key
from juxsdk.testing.fakes import MemoryStore

HEX = "3fa9" + "0" * 60
BAD_HASHES = ["sha256:../../../etc/passwd", "md5:abc", "", "sha256:" + "A" * 64, f"sha256:{HEX}\n", HEX, None]


def test_canonical_hex_accepts_exactly_sha256_and_64_lowercase_hex() -> None:
    assert canonical_hex(f"sha256:{HEX}") == HEX
    for bad in BAD_HASHES:
        with pytest.raises(StoreError, match="invalid canonical hash"):
            canonical_hex(bad)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        (f"{HEX}.xml", (HEX, "xml")),
        (f"{HEX}.json", (HEX, "json")),
        (f"{HEX}.att.intoto.json", None),
        (".tmp-0123456789abcdef.xml", None),
        (f"{HEX.upper()}.xml", None),
        (f"{HEX[:63]}.xml", None),
        (f"{HEX}.xml.bak", None),
        (".lock", None),
    ],
)
def test_report_name_parts(name: str, parts: tuple[str, str] | None) -> None:
    assert report_name_parts(name) == parts


@pytest.mark.parametrize("bad", [b for b in BAD_HASHES if b is not None])
def test_memory_store_refuses_what_canonical_hex_refuses(bad: str) -> None:
    store = MemoryStore()
    with pytest.raises(StoreError, match="invalid canonical hash"):
        store.get(bad)
    with pytest.raises(StoreError, match="invalid canonical hash"):
        store.metadata(bad)


def test_index_resolve_uses_the_one_prefix_rule(tmp_path) -> None:
    assert hash_prefix_digits(" SHA256:3FA9 ") == "3fa9"
    with juxsdk.Index(tmp_path / "i.sqlite3") as idx:
        for bad in ("xyz", "", "sha256:", "3fa9-"):
            with pytest.raises(ReportNotFoundError, match="invalid hash prefix") as info:
                idx.resolve(bad)
            assert info.value.hint and "leading hex digits" in info.value.hint
        with pytest.raises(ReportNotFoundError, match="no indexed report matches"):
            idx.resolve("SHA256:3FA9")


def test_outbox_entry_names_use_the_one_pattern() -> None:
    assert split_key(f"{HEX}.http") == (f"sha256:{HEX}", "http")
    for bad in (f"{HEX}\n.http", f"{HEX.upper()}.http", f"{HEX[:63]}.http", f"{HEX}"):
        assert split_key(bad) is None
