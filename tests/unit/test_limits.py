"""The document limits at their boundaries, the signature removal, and the prolog pass."""

from __future__ import annotations

import random

import pytest
from lxml import etree

import juxsdk
from juxsdk.canonical import DS_NS, remove_signature, remove_signatures
from juxsdk.errors import DoctypeForbiddenError, ReportLimitError, ReportParseError
from juxsdk.limits import MAX_ATTRIBUTES_PER_ELEMENT, MAX_DEPTH, MAX_NAMESPACE_DECLARATIONS_IN_SCOPE


def _nested(depth: int) -> bytes:
    inner = depth - 2  # root testsuite + testcase
    return ("<testsuite><testcase>" + "<x>" * inner + "</x>" * inner + "</testcase></testsuite>").encode()


def test_depth_at_the_limit_is_accepted_and_one_more_refused() -> None:
    assert juxsdk.parse_report(_nested(MAX_DEPTH)).summary.tests == 1
    with pytest.raises(ReportLimitError, match=f"nested deeper than {MAX_DEPTH} levels") as info:
        juxsdk.parse_report(_nested(MAX_DEPTH + 1), source="deep.xml")
    assert info.value.line == 1 and info.value.source == "deep.xml"


def test_depth_beyond_the_parser_limit_is_a_limit_error_too() -> None:
    with pytest.raises(ReportLimitError, match="nested deeper"):
        juxsdk.parse_report(_nested(3000))


def _attrs(count: int) -> bytes:
    return b"<testsuite><testcase " + b" ".join(b'a%d="v"' % i for i in range(count)) + b"/></testsuite>"


def test_attributes_at_the_limit_are_accepted_and_one_more_refused() -> None:
    assert juxsdk.parse_report(_attrs(MAX_ATTRIBUTES_PER_ELEMENT)).summary.tests == 1
    with pytest.raises(ReportLimitError, match=f"<testcase> has {MAX_ATTRIBUTES_PER_ELEMENT + 1} attributes"):
        juxsdk.parse_report(_attrs(MAX_ATTRIBUTES_PER_ELEMENT + 1))


def test_namespace_declarations_are_not_attributes() -> None:
    decls = b" ".join(b'xmlns:p%d="u:%d"' % (i, i) for i in range(MAX_NAMESPACE_DECLARATIONS_IN_SCOPE))
    attrs = b" ".join(b'a%d="v"' % i for i in range(MAX_ATTRIBUTES_PER_ELEMENT))
    assert juxsdk.parse_report(b"<testsuite " + decls + b" " + attrs + b"/>").summary.tests == 0


def _namespaces(per_level: list[int]) -> bytes:
    """Nested elements, each declaring (redeclaring) ``per_level[i]`` prefixes."""
    opens = "".join(
        f"<x{level} " + " ".join(f'xmlns:p{j}="u:{level}:{j}"' for j in range(count)) + ">"
        for level, count in enumerate(per_level)
    )
    closes = "".join(f"</x{level}>" for level in reversed(range(len(per_level))))
    return f"<testsuite>{opens}{closes}</testsuite>".encode()


def test_namespace_declarations_in_scope_count_redeclarations() -> None:
    limit = MAX_NAMESPACE_DECLARATIONS_IN_SCOPE
    assert juxsdk.parse_report(_namespaces([limit // 2, limit // 2])).summary.tests == 0
    # the same prefixes declared again one level down still count (they are searched again)
    with pytest.raises(ReportLimitError, match=f"more than {limit} namespace declarations"):
        juxsdk.parse_report(_namespaces([limit // 2, limit // 2 + 1]))
    # siblings do not add up: only the declarations on the path to an element are in scope
    siblings = "".join(f'<s{i} xmlns:q="u:{i}"/>' for i in range(limit * 4))
    assert juxsdk.parse_report(f"<testsuite>{siblings}</testsuite>".encode()).summary.tests == 0


@pytest.mark.parametrize("encoding", ["UTF-16", "UTF-16LE", "UTF-32", "UTF-8", "ISO-8859-1"])
def test_the_namespace_limit_holds_in_every_encoding(encoding: str) -> None:
    # the fast check counts `xmlns` in the bytes, which only works in an ASCII-compatible
    # encoding: in UTF-16 or UTF-32 the tree is walked instead
    limit = MAX_NAMESPACE_DECLARATIONS_IN_SCOPE
    for per_level, refused in (([limit], False), ([limit // 2, limit // 2 + 1], True)):
        text = _namespaces(per_level).decode()
        data = f'<?xml version="1.0" encoding="{encoding}"?>{text}'.encode(encoding.lower())
        if encoding == "UTF-16LE":
            data = b"\xff\xfe" + data  # the byte order mark libxml2 needs to read it
        if refused:
            with pytest.raises(ReportLimitError, match=f"more than {limit} namespace declarations"):
                juxsdk.parse_report(data)
        else:
            assert juxsdk.parse_report(data).summary.tests == 0


def test_the_enveloped_signature_is_not_walked_by_the_document_limits(rsa_signer) -> None:
    signed = juxsdk.sign_report(b'<testsuite name="s"><testcase name="a"/></testsuite>', rsa_signer)
    root = etree.fromstring(signed.data)
    obj = etree.SubElement(root.find(f"{{{DS_NS}}}Signature"), f"{{{DS_NS}}}Object")
    for i in range(MAX_ATTRIBUTES_PER_ELEMENT + 1):
        obj.set(f"a{i}", "v")
    report = juxsdk.parse_report(etree.tostring(root))  # ds:Object content is never canonicalised
    assert report.signed and report.summary.tests == 1


def test_remove_signatures_equals_removing_them_one_by_one() -> None:
    ds = f"{{{DS_NS}}}Signature"
    rnd = random.Random(10)
    for _ in range(300):
        parts = [f'<r xmlns:ds="{DS_NS}">', "head"]
        for i in range(rnd.randint(0, 12)):
            parts.append(
                rnd.choice(
                    [
                        f"<ds:Signature>in{i}</ds:Signature>tail{i}",
                        "<ds:Signature/>",
                        f"<e{i}>x</e{i}>te{i}",
                        f"<n{i}>a<ds:Signature/>b{i}<ds:Signature/>c{i}</n{i}>d{i}",
                        f"<ds:Signature><ds:Signature/>q{i}</ds:Signature>w{i}",
                    ]
                )
            )
        doc = ("".join(parts) + "</r>").encode()
        one_by_one, at_once = etree.fromstring(doc), etree.fromstring(doc)
        # the count leaves out a signature inside another one (it goes away with it)
        outermost = sum(1 for sig in at_once.iter(ds) if next(sig.iterancestors(ds), None) is None)
        for sig in list(one_by_one.iter(ds)):
            if sig.getparent() is not None:
                remove_signature(sig)
        assert remove_signatures(at_once) == outermost, doc
        assert etree.tostring(at_once) == etree.tostring(one_by_one), doc
    # a root that is itself a signature is not removed (only the signatures inside it)
    sig_root = etree.fromstring(f'<ds:Signature xmlns:ds="{DS_NS}">a<ds:Signature/>b</ds:Signature>'.encode())
    assert remove_signatures(sig_root) == 1
    assert etree.tostring(sig_root) == f'<ds:Signature xmlns:ds="{DS_NS}">ab</ds:Signature>'.encode()



@pytest.mark.parametrize(
    ("doc", "error"),
    [
        (b"<testsuite><testcase></testsuite>", ReportParseError),
        (b"\xff\xfe\x00\x00" + "<!DOCTYPE t><testsuite/>".encode("utf-32-le"), DoctypeForbiddenError),
        (b'<?xml version="1.0" encoding="x-unknown"?><testsuite/>', ReportParseError),
    ],
)
def test_what_the_prolog_pass_cannot_decide_the_full_parse_does(doc: bytes, error: type) -> None:
    with pytest.raises(error):
        juxsdk.parse_report(doc)


def test_canonical_hash_of_bytes_checks_the_limits_before_canonicalising() -> None:
    assert juxsdk.canonical_hash(_attrs(MAX_ATTRIBUTES_PER_ELEMENT)).startswith("sha256:")
    with pytest.raises(ReportLimitError):
        juxsdk.canonical_hash(_attrs(MAX_ATTRIBUTES_PER_ELEMENT + 1))
