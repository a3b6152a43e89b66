"""The idempotency key of a submission (juxsdk.store_rules.idempotency_key) and its record fields."""

from __future__ import annotations

import hashlib
import json

import attrs
import pytest

from juxsdk.errors import CorruptSidecarError
from juxsdk.models import stored_record
from juxsdk.sidecars import encode_sidecar, read_sidecar
from juxsdk.store_rules import idempotency_key
from juxsdk.testing import samples

INPUT = "sha256:" + "ab" * 32
SIGNER = "sha256:" + "cd" * 32


def test_recipe_is_the_documented_one() -> None:
    doc = ["jux-submission-v1", INPUT, SIGNER, [["project", "pump"], ["team", "ctl"]]]
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    expected = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert idempotency_key(INPUT, SIGNER, {"team": "ctl", "project": "pump"}) == expected
    assert idempotency_key(INPUT, SIGNER, [("team", "ctl"), ("project", "pump")]) == expected  # order-free


@pytest.mark.parametrize(
    ("input_hash", "signer", "properties"),
    [
        ("sha256:" + "ef" * 32, SIGNER, {"project": "pump"}),  # another input
        (INPUT, "sha256:" + "01" * 32, {"project": "pump"}),  # another signing key
        (INPUT, None, {"project": "pump"}),  # not signed
        (INPUT, SIGNER, {"project": "other"}),  # another project
        (INPUT, SIGNER, {"project": "pump", "team": "x"}),  # another explicit property
    ],
)
def test_any_other_configuration_is_another_submission(input_hash, signer, properties) -> None:
    assert idempotency_key(input_hash, signer, properties) != idempotency_key(INPUT, SIGNER, {"project": "pump"})


def test_sidecars_keep_the_key_and_older_ones_still_read() -> None:
    report = samples.make_report(2, project="p", tag="idem-unit")
    key = idempotency_key(report.canonical_hash, None, {})
    keyed = attrs.evolve(report, input_hash=report.canonical_hash, idempotency_key=key)
    raw = encode_sidecar(stored_record(keyed, store="memory"))
    back = read_sidecar(raw, canonical_hash=report.canonical_hash, where="memory")
    assert (back.input_hash, back.idempotency_key) == (report.canonical_hash, key)

    older = json.loads(raw)
    del older["input_hash"], older["idempotency_key"]  # a sidecar written before the fields existed
    back = read_sidecar(json.dumps(older).encode(), canonical_hash=report.canonical_hash, where="memory")
    assert back.idempotency_key is None and back.input_hash is None

    older["idempotency_key"] = "../../etc/passwd"
    with pytest.raises(CorruptSidecarError):
        read_sidecar(json.dumps(older).encode(), canonical_hash=report.canonical_hash, where="memory")
