"""Canonical hash stability (docs/reference/canonical-hash.md)."""

from __future__ import annotations

import hashlib

import pytest

import juxsdk

BASE = b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="s" tests="1"><testcase classname="c" name="a &amp; b"><system-out>x &lt; y</system-out></testcase></testsuite>'

EQUIVALENT = {
    "attribute order": b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite tests="1" name="s"><testcase name="a &amp; b" classname="c"><system-out>x &lt; y</system-out></testcase></testsuite>',
    "quote style": b"<?xml version='1.0' encoding='UTF-8'?>\n<testsuite name='s' tests='1'><testcase classname='c' name='a &amp; b'><system-out>x &lt; y</system-out></testcase></testsuite>",
    "cdata": b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="s" tests="1"><testcase classname="c" name="a &amp; b"><system-out><![CDATA[x < y]]></system-out></testcase></testsuite>',
    "no declaration": b'<testsuite name="s" tests="1"><testcase classname="c" name="a &amp; b"><system-out>x &lt; y</system-out></testcase></testsuite>',
    "latin-1 encoding": '<?xml version="1.0" encoding="ISO-8859-1"?>\n<testsuite name="s" tests="1"><testcase classname="c" name="a &amp; b"><system-out>x &lt; y</system-out></testcase></testsuite>'.encode("latin-1"),
    "comment": b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="s" tests="1"><!-- hi --><testcase classname="c" name="a &amp; b"><system-out>x &lt; y</system-out></testcase></testsuite>',
    "unused namespace": b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite xmlns:unused="urn:x" name="s" tests="1"><testcase classname="c" name="a &amp; b"><system-out>x &lt; y</system-out></testcase></testsuite>',
    "empty element form": b'<?xml version="1.0"?>\n<testsuite name="s" tests="1"><testcase classname="c" name="a &amp; b"><system-out>x &lt; y</system-out></testcase></testsuite>',
}


@pytest.mark.parametrize("variant", sorted(EQUIVALENT))
def test_insignificant_differences_do_not_change_the_hash(variant: str) -> None:
    assert juxsdk.canonical_hash(EQUIVALENT[variant]) == juxsdk.canonical_hash(BASE)


def test_crlf_line_endings_normalise() -> None:
    lf = b'<testsuite name="s">\n  <testcase name="a"/>\n</testsuite>\n'
    assert juxsdk.canonical_hash(lf.replace(b"\n", b"\r\n")) == juxsdk.canonical_hash(lf)


def test_significant_differences_change_the_hash() -> None:
    assert juxsdk.canonical_hash(BASE.replace(b"a &amp; b", b"a &amp; c")) != juxsdk.canonical_hash(BASE)
    assert juxsdk.canonical_hash(BASE.replace(b'tests="1"', b'tests="2"')) != juxsdk.canonical_hash(BASE)


def test_recipe_is_exc_c14n_sha256() -> None:
    # Known-answer: the exclusive C14N of BASE, written out by hand.
    c14n = b'<testsuite name="s" tests="1"><testcase classname="c" name="a &amp; b"><system-out>x &lt; y</system-out></testcase></testsuite>'
    assert juxsdk.canonical_hash(BASE) == "sha256:" + hashlib.sha256(c14n).hexdigest()


def test_hash_unchanged_by_signing(rsa_signer) -> None:
    signed = juxsdk.sign_report(BASE, rsa_signer)
    assert juxsdk.canonical_hash(signed.data) == juxsdk.canonical_hash(BASE) == signed.canonical_hash
