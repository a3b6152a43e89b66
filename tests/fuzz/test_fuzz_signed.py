"""Fuzz: mutated signed reports (RSA and EC file keys, X509Data and KeyValue) through verify and sign.

Mutations: signature fields (base64 flipped, padded, wrapped, emptied, made URL-safe), algorithm
URIs (SHA-1, HMAC, unknown, other C14N methods), the Reference URI, the signature moved (first
child, into a suite or testcase, wrapped content in ``ds:Object``), duplicated signature parts,
``InclusiveNamespaces`` prefix lists, dropped KeyInfo/Transforms/SignedInfo parts — optionally
with ``SignatureValue`` recomputed over the mutated ``SignedInfo`` with the real key, so the checks
after the signature value judge them — generic structure mutations focused on the signature,
re-encodings, BOMs, truncation and byte flips.

Properties:

* ``verify_report`` succeeds or raises a ``VerificationError`` (exit 1) or a ``ReportError``
  (exit 3: not well-formed / not a report), never anything else;
* it never succeeds on mutated signed content: when it succeeds, the mutated document's
  canonical hash is the original's (the mutation was a no-op for exclusive C14N without the
  signature) and the verified summary and properties are the original's;
* ``sign_report(..., replace=True)`` on the mutated bytes succeeds or raises a ``JuxError``, and
  what it signs verifies.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import juxsdk
from juxsdk.errors import ReportError, VerificationError
from tests.fuzz.check import outcome
from tests.fuzz.mutate import mutated_signed
from tests.fuzz.profile import fuzz


@fuzz(400)
@given(data=st.data())
def test_verify_mutated_signed_reports(data, signed_samples, fuzz_keys) -> None:
    sample = data.draw(st.sampled_from(signed_samples), label="sample")
    mutated, kind = data.draw(mutated_signed(sample.data, sample.key), label="mutated")
    verified, error = outcome(juxsdk.verify_report, mutated, sample.trust, source="fuzz.xml")
    if verified is None:
        assert isinstance(error, VerificationError | ReportError), repr(error)
    else:
        original = sample.original
        assert juxsdk.canonical_hash(mutated) == original.canonical_hash, f"{kind}: verified changed content"
        assert verified.canonical_hash == original.canonical_hash
        assert verified.summary == original.summary
        assert verified.properties == original.properties

    # Re-signing whatever the mutation left: a JuxError, or a signature that verifies.
    resigned, _ = outcome(juxsdk.sign_report, mutated, fuzz_keys.signers["ec-cert"], replace=True)
    if resigned is not None:
        again = juxsdk.verify_report(resigned.data, fuzz_keys.trusts["ec-cert"])
        assert again.canonical_hash == resigned.canonical_hash
        assert again.summary == resigned.summary
