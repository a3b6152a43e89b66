"""Fuzz: mutated corpus reports (every dialect) through parse, canonical hash, sign, verify, merge.

Properties:

* ``parse_report``, ``canonical_hash``, ``sign_report``, ``merge_reports`` succeed or raise a
  ``JuxError`` subclass, never anything else;
* a report ``parse_report`` accepts keeps its bytes, has the canonical hash ``canonical_hash``
  computes from them, and — unless it carries a signature already — signs, and the signed bytes
  verify with the signer's certificate to the same canonical hash, summary and properties;
* ``add_properties`` on an accepted unsigned report writes bytes that parse back to the same
  canonical hash, with the property;
* a merge of accepted reports parses again and counts every input's testcases.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import juxsdk
from juxsdk.errors import AlreadySignedError, ReportError
from tests.fuzz.check import outcome
from tests.fuzz.conftest import ALL_CORPUS, corpus_bytes, well_formed
from tests.fuzz.mutate import mutated_bytes, mutated_xml
from tests.fuzz.profile import fuzz


@st.composite
def corpus_input(draw, *, unchanged: bool = False) -> tuple[str, bytes]:
    path = draw(st.sampled_from(ALL_CORPUS))
    data = corpus_bytes(path)
    if unchanged and draw(st.integers(0, 9)) == 0:
        return path.name, data
    if well_formed(path) and draw(st.booleans()):
        return path.name, draw(mutated_xml(data))
    return path.name, draw(mutated_bytes(data))


@fuzz(250)
@given(case=corpus_input(), key=st.sampled_from(["rsa", "ec"]))
def test_parse_sign_verify_mutated_corpus(case, key, fuzz_keys) -> None:
    name, data = case
    report, error = outcome(juxsdk.parse_report, data, source=name)
    digest, hash_error = outcome(juxsdk.canonical_hash, data)
    if report is None:
        assert isinstance(error, ReportError), repr(error)
        return
    assert report.data == data
    assert hash_error is None, f"parse_report accepted what canonical_hash refused: {hash_error}"
    assert digest == report.canonical_hash
    if not report.signed:  # the one re-serialisation before signing writes bytes that read back
        added = juxsdk.add_properties(report, {"project": "fuzz+~", "jux:fuzz": "x"})
        again = juxsdk.parse_report(added.data)
        assert again.canonical_hash == added.canonical_hash
        assert again.project == "fuzz+~"
    signer = fuzz_keys.signers[f"{key}-cert"]
    signed, sign_error = outcome(juxsdk.sign_report, report, signer)
    if signed is None:
        assert isinstance(sign_error, AlreadySignedError) and report.signed, repr(sign_error)
        return
    # what we sign, we verify: to the same content
    verified = juxsdk.verify_report(signed.data, fuzz_keys.trusts[f"{key}-cert"], source=name)
    assert verified.canonical_hash == report.canonical_hash == signed.canonical_hash
    assert verified.summary == report.summary
    assert verified.properties == report.properties


@fuzz(60)
@given(cases=st.lists(corpus_input(unchanged=True), min_size=1, max_size=3))
def test_merge_mutated_corpus(cases) -> None:
    inputs = [data for _, data in cases]
    merged, _error = outcome(juxsdk.merge_reports, inputs)
    if merged is None:
        return
    again = juxsdk.parse_report(merged.data)
    assert again.canonical_hash == merged.canonical_hash
    parsed = [juxsdk.parse_report(data) for data in inputs]
    for field in ("tests", "failures", "errors", "skipped"):  # no testcase is lost or invented
        assert getattr(merged.summary, field) == sum(getattr(p.summary, field) for p in parsed), field
