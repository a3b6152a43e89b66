"""Fuzz: store sidecars mutated through the filesystem store's own files.

Each example writes a mutated sidecar (JSON values replaced, deleted, added, nested; odd numbers,
timestamps with extreme offsets, lone surrogates, deep nesting, byte flips and truncation) over
the real sidecar of a stored report, then drives the store.

Properties:

* ``sidecars.read_sidecar`` returns a record for this hash and size, or raises
  ``CorruptSidecarError`` — nothing else;
* ``get`` still returns the exact stored bytes; ``exists`` and ``resolve_prefix`` still find the
  report; ``metadata`` returns a valid record or raises ``CorruptSidecarError``;
* ``list`` (with any filters) and ``stats`` never raise: a corrupt sidecar is skipped and reported;
* putting the same report again repairs the sidecar.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import juxsdk
from juxsdk.errors import CorruptSidecarError
from juxsdk.sidecars import read_sidecar
from juxsdk_backends.filesystem import FilesystemStore
from tests.fuzz.check import outcome
from tests.fuzz.conftest import SIGNED_SAMPLES, corpus_bytes, corpus_path
from tests.fuzz.mutate import mutated_json
from tests.fuzz.profile import fuzz

ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))])
FILTERS = st.fixed_dictionaries({}, optional={
    "project": st.sampled_from(["pump", "", "x"]),
    "since": st.datetimes(timezones=st.none() | ZONES),
    "until": st.datetimes(timezones=st.none() | ZONES),
    "failed_only": st.booleans(),
})


class Entry(tuple):
    """(report, xml, sidecar path, sidecar bytes), shown by its file name in failure reports."""

    def __repr__(self) -> str:
        return f"Entry({self[2].name})"


class Stock(tuple):
    def __repr__(self) -> str:
        return f"Stock({self[0]!r})"


@pytest.fixture
def stocked(tmp_path: Path, fuzz_keys) -> tuple[FilesystemStore, list[Entry]]:
    """A filesystem store holding four reports (two signed): (report, xml, sidecar path, sidecar)."""
    store = FilesystemStore(FilesystemStore.Options(root=tmp_path / "store"))
    entries = []
    for i, rel in enumerate(SIGNED_SAMPLES[:4]):
        report = juxsdk.parse_report(corpus_bytes(corpus_path(rel)), source=rel)
        if i % 2:
            report = juxsdk.sign_report(report, fuzz_keys.signers["rsa-cert"])
        record = store.put(report)
        xml = Path(record.location)
        sidecar = xml.with_suffix(".json")
        entries.append(Entry((report, xml.read_bytes(), sidecar, sidecar.read_bytes())))
    return Stock((store, entries))


@fuzz(150)
@given(data=st.data(), filters=FILTERS)
def test_mutated_sidecars(data, filters, stocked) -> None:
    store, entries = stocked
    report, xml, sidecar, original = data.draw(st.sampled_from(entries), label="entry")
    raw = data.draw(mutated_json(json.loads(original)), label="sidecar")
    sidecar.write_bytes(raw)
    try:
        chash = report.canonical_hash
        record, error = outcome(read_sidecar, raw, canonical_hash=chash, where=str(sidecar), size=len(xml))
        if record is None:
            assert isinstance(error, CorruptSidecarError), repr(error)
        else:
            assert (record.canonical_hash, record.size) == (chash, len(xml))

        assert store.get(chash) == xml
        assert store.exists(chash)
        assert store.resolve_prefix(chash[7:19]) == chash
        meta, meta_error = outcome(store.metadata, chash)
        assert (meta is None) == (record is None), (meta, meta_error)
        if meta_error is not None:
            assert isinstance(meta_error, CorruptSidecarError), repr(meta_error)

        listed = list(store.list(**filters))  # never raises: a corrupt sidecar is skipped and reported
        assert len({r.canonical_hash for r in listed}) == len(listed)
        if record is None:
            assert chash not in {r.canonical_hash for r in listed}
        assert len(list(store.list())) >= len(entries) - 1
        store.stats()
    finally:
        # putting the same report again repairs what the mutation did
        store.put(report)
        assert store.metadata(report.canonical_hash).size == len(xml)
