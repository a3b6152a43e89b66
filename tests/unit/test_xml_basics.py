"""The shared XML basics (juxsdk._xml): one parser, one namespace table, one hash sink.

The modules that read XML (junit, canonical, xmldsig, merge, ``jux inspect``, the evidence
modules) used to carry their own copies of these; this pins that they now share one, and the
edges of the helpers the copies differed on.
"""

from __future__ import annotations

import hashlib

import pytest
from lxml import etree

import juxsdk
from juxsdk import _xml, canonical, junit, xmldsig
from juxsdk.errors import DoctypeForbiddenError, ReportLimitError


def test_one_parser_behind_every_public_name() -> None:
    # junit.parse_xml is public API: it is the shared parser, not a copy
    assert junit.parse_xml is _xml.parse_xml
    assert canonical.DS_NS == _xml.DS_NS == "http://www.w3.org/2000/09/xmldsig#"
    assert xmldsig.DSIG11_NS == _xml.DSIG11_NS == "http://www.w3.org/2009/xmldsig11#"
    assert _xml.DS_SIGNATURE == "{http://www.w3.org/2000/09/xmldsig#}Signature"


@pytest.mark.parametrize("entry", [juxsdk.parse_report, juxsdk.canonical_hash, _xml.parse_xml])
def test_every_entry_point_refuses_a_doctype_and_checks_limits(entry: object) -> None:
    assert callable(entry)
    with pytest.raises(DoctypeForbiddenError):
        entry(b'<!DOCTYPE t [<!ENTITY e "x">]><testsuite>&e;</testsuite>')
    wide = b"<testsuite " + b" ".join(b'a%d="v"' % i for i in range(1000)) + b"/>"
    with pytest.raises(ReportLimitError):
        entry(wide)


def test_local_name_of_elements_comments_and_processing_instructions() -> None:
    root = etree.fromstring(b'<r xmlns="urn:x"><!--c--><?pi x?><t/></r>')
    assert [_xml.local_name(child.tag) for child in root] == ["", "", "t"]
    assert _xml.local_name(root.tag) == "r"
    assert _xml.local_name("plain") == "plain"


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_hash_sink_hashes_what_c14n_streams(algorithm: str) -> None:
    tree = etree.ElementTree(etree.fromstring(b'<a b="2"  a="1"><c/></a>'))
    sink = _xml.HashSink(algorithm)
    tree.write_c14n(sink, exclusive=True, with_comments=False)
    octets = etree.tostring(tree, method="c14n", exclusive=True, with_comments=False)
    assert sink.hash.digest() == hashlib.new(algorithm, octets).digest()
    assert _xml.HashSink().hash.name == "sha256"


def test_root_signatures_detached_puts_them_back_in_place() -> None:
    ds = _xml.DS_NS
    data = f'<r xmlns:ds="{ds}">a<ds:Signature/>b<x/>c<ds:Signature/>d</r>'.encode()
    root = etree.fromstring(data)
    with _xml.root_signatures_detached(root) as count:
        assert count == 2
        assert [el.tag for el in root] == ["x"]
    assert etree.tostring(root) == data
