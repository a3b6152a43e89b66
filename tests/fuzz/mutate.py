"""Hypothesis strategies that mutate real inputs: bytes, XML structure, signatures, JSON, TOML.

Every strategy starts from a real document (a corpus report, a report signed with a real key, a
sidecar or envelope a store or ``attest`` wrote, a valid configuration) and applies a few
mutations drawn by Hypothesis, so most examples are *almost* valid — the inputs that reach deep
into the code — and Hypothesis can shrink a failure to the one mutation that matters.
"""

from __future__ import annotations

import base64
import codecs
import copy
import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import strategies as st
from lxml import etree

from juxsdk.config.secret import toml_str

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS = f"{{{DS_NS}}}"
EXC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
DSIG11 = "{http://www.w3.org/2009/xmldsig11#}"

Draw = Callable[[st.SearchStrategy[Any]], Any]

# --- bytes -------------------------------------------------------------------------------------

#: Byte sequences that mean something to an XML parser, a decoder or a signature check.
TOKENS: tuple[bytes, ...] = (
    b"<", b">", b"/>", b"</", b"&", b"&amp;", b"&lt;", b"&#0;", b"&#x110000;", b"&#xD800;", b"&bogus;",
    b"]]>", b"<![CDATA[x]]>", b"<!--", b"-->", b"<!-- c -->", b"<?pi data?>", b"\x00", b"\xff", b"\xfe",
    b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
    b"\r\n", b"\r", b"\t", b" ", b'"', b"'", b"=", b":", b"xmlns=''", b' xmlns:ds="http://www.w3.org/2000/09/xmldsig#"',
    b'<?xml version="1.0"?>', b'<?xml version="1.1" encoding="UTF-16"?>', b"<!DOCTYPE r>",
    b'<!DOCTYPE r [<!ENTITY e "x">]>', b'<!DOCTYPE r SYSTEM "file:///etc/passwd">', b"&e;",
    b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>',
    b'<testcase name="t"/>', b"<failure/>", b"<error/>", b"<skipped/>", b"<testsuite>", b"</testsuite>",
    b"<ds:Signature>", b"</ds:Signature>", b'<property name="project" value="x"/>',
    b' time="nan"', b' tests="-1"', b' time="1e309"', b"\xe2\x80\xae", b"\xc2\x85", b"\x1b[31m",
)

_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.S)
ENCODINGS = (
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "latin-1",
    "cp1252", "cp037", "shift_jis", "utf-7", "ascii",
)
DECLARED = (
    None, "UTF-8", "utf-8", "UTF-16", "UTF-16LE", "UTF-16BE", "UTF-32", "ISO-8859-1", "US-ASCII",
    "EBCDIC-US", "Shift_JIS", "UTF-7", "bogus", "", "x" * 300,
)


def _pos(draw: Draw, data: bytes) -> int:
    return int(draw(st.integers(0, max(len(data), 0))))


def _flip(draw: Draw, data: bytes) -> bytes:
    if not data:
        return data
    i = _pos(draw, data[:-1])
    bit = draw(st.integers(0, 7))
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:]


def _replace_byte(draw: Draw, data: bytes) -> bytes:
    if not data:
        return data
    i = _pos(draw, data[:-1])
    return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]


def _insert(draw: Draw, data: bytes) -> bytes:
    i = _pos(draw, data)
    token = draw(st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8)))
    return data[:i] + token + data[i:]


def _delete(draw: Draw, data: bytes) -> bytes:
    i = _pos(draw, data)
    n = draw(st.integers(1, 64))
    return data[:i] + data[i + n:]


def _duplicate(draw: Draw, data: bytes) -> bytes:
    i = _pos(draw, data)
    n = draw(st.integers(1, 256))
    return data[:i] + data[i:i + n] + data[i:]


def _truncate(draw: Draw, data: bytes) -> bytes:
    return data[:_pos(draw, data)]


def _line_endings(draw: Draw, data: bytes) -> bytes:
    style = draw(st.sampled_from([b"\r\n", b"\r", b"\n\n"]))
    return data.replace(b"\r\n", b"\n").replace(b"\n", style)


def _bom(draw: Draw, data: bytes) -> bytes:
    bom = draw(st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE,
                                codecs.BOM_UTF32_BE, b"\x2b\x2f\x76\x38", b"\xdd\x73\x66\x73"]))
    return bom + data


def _reencode(draw: Draw, data: bytes) -> bytes:
    """Transcode the document and (mis)declare its encoding, with or without a BOM."""
    text = data.decode("utf-8", errors="surrogateescape")
    body = _DECL.sub(b"", data).decode("utf-8", errors="surrogateescape") if _DECL.match(data) else text
    declared = draw(st.sampled_from(DECLARED))
    if declared is not None:
        quote = draw(st.sampled_from(['"', "'"]))
        body = f"<?xml version={quote}1.0{quote} encoding={quote}{declared}{quote}?>" + body
    encoding = draw(st.sampled_from(ENCODINGS))
    out = body.encode(encoding, errors="replace") if encoding != "utf-8" else body.encode(
        "utf-8", errors="surrogateescape")
    return out


BYTE_OPS: tuple[Callable[[Draw, bytes], bytes], ...] = (
    _flip, _replace_byte, _insert, _delete, _duplicate, _truncate, _line_endings, _bom, _reencode,
)


@st.composite
def mutated_bytes(draw: Draw, data: bytes, max_ops: int = 3) -> bytes:
    """``data`` after 1..``max_ops`` byte-level mutations."""
    ops = draw(st.lists(st.sampled_from(BYTE_OPS), min_size=1, max_size=max_ops))
    for op in ops:
        data = op(draw, data)
    return data


# --- XML structure -----------------------------------------------------------------------------

TAGS: tuple[str, ...] = (
    "testsuites", "testsuite", "testcase", "failure", "error", "skipped", "properties", "property", "system-out",
    "system-err", "{urn:fuzz}testcase", "{urn:fuzz}testsuite", "{urn:x-jux}properties", "x",
    f"{DS}Signature", f"{DS}SignedInfo", f"{DS}Reference", f"{DS}Object", f"{DS}KeyInfo", f"{DS}X509Data",
    f"{DS}SignatureValue", f"{DS}Transform", f"{DS}DigestValue", f"{DS}KeyValue",
    f"{{{EXC_NS}}}InclusiveNamespaces", "{http://www.w3.org/2001/XInclude}include",
)
ATTR_NAMES: tuple[str, ...] = (
    "name", "classname", "tests", "failures", "errors", "skipped", "time", "value", "timestamp", "file",
    "Algorithm", "URI", "Id", "ID", "PrefixList", "Type", "{http://www.w3.org/XML/1998/namespace}id",
    "{http://www.w3.org/XML/1998/namespace}base", "{urn:fuzz}a", "{http://www.w3.org/2001/XInclude}href",
)
VALUES: tuple[str, ...] = (
    "", "0", "-1", "1", "3", "nan", "NaN", "inf", "-inf", "1e309", "1,234.5", "9" * 400, "0x10", "\uff19",
    "\u0661", "  2  ", "project", "jux:timestamp", "2025-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00",
    "\u202e", "\u00e9\u00e8", "a\nb", "\t", "&", "<", "]]>", "#", "#x", "#xpointer(/)", "http://evil.example/",
    "file:///etc/passwd", "ds #default", "#default",
    "http://www.w3.org/2000/09/xmldsig#sha1", "http://www.w3.org/2001/04/xmlenc#sha256",
)


def _elements(root: Any) -> list[Any]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def _pick(draw: Draw, items: list[Any]) -> Any:
    return items[draw(st.integers(0, len(items) - 1))]


def _value(draw: Draw) -> str:
    return str(draw(st.one_of(st.sampled_from(VALUES), st.text(max_size=12))))


def _x_delete(draw: Draw, root: Any, els: list[Any]) -> None:
    el = _pick(draw, els)
    if el.getparent() is not None:
        el.getparent().remove(el)


def _x_duplicate(draw: Draw, root: Any, els: list[Any]) -> None:
    el = _pick(draw, els)
    if el.getparent() is not None:
        el.addnext(copy.deepcopy(el))


def _x_move(draw: Draw, root: Any, els: list[Any]) -> None:
    el, target = _pick(draw, els), _pick(draw, _elements(root))
    if el.getparent() is None or target is el or any(a is el for a in target.iterancestors()):
        return
    position = draw(st.integers(0, len(target)))
    target.insert(position, el)


def _x_set_attribute(draw: Draw, root: Any, els: list[Any]) -> None:
    _pick(draw, els).set(draw(st.sampled_from(ATTR_NAMES)), _value(draw))


def _x_delete_attribute(draw: Draw, root: Any, els: list[Any]) -> None:
    el = _pick(draw, els)
    if el.keys():
        del el.attrib[draw(st.sampled_from(sorted(el.keys())))]


def _x_text(draw: Draw, root: Any, els: list[Any]) -> None:
    el = _pick(draw, els)
    text = _value(draw)
    el.text = etree.CDATA(text) if draw(st.booleans()) and "]]>" not in text else text


def _x_insert(draw: Draw, root: Any, els: list[Any]) -> None:
    el = _pick(draw, els)
    child = etree.Element(draw(st.sampled_from(TAGS)))
    if draw(st.booleans()):
        child.set(draw(st.sampled_from(ATTR_NAMES)), _value(draw))
    el.insert(draw(st.integers(0, len(el))), child)


def _x_rename(draw: Draw, root: Any, els: list[Any]) -> None:
    _pick(draw, els).tag = draw(st.sampled_from(TAGS))


def _x_comment(draw: Draw, root: Any, els: list[Any]) -> None:
    el = _pick(draw, els)
    node = etree.Comment(" fuzz ") if draw(st.booleans()) else etree.ProcessingInstruction("fuzz", "data")
    el.insert(draw(st.integers(0, len(el))), node)


XML_OPS = (_x_delete, _x_duplicate, _x_move, _x_set_attribute, _x_delete_attribute, _x_text, _x_insert, _x_rename,
           _x_comment)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)


def parse_plain(data: bytes) -> Any:
    """Parse trusted test input (a corpus file, our own signed output) for mutation."""
    return etree.fromstring(data, _PARSER)


def serialise(draw: Draw, root: Any) -> bytes:
    """Serialise a mutated tree, in a drawn encoding, with or without an XML declaration."""
    encoding = draw(st.sampled_from(["UTF-8", "UTF-8", "UTF-16", "ISO-8859-1", "ASCII", "UTF-32"]))
    declaration = encoding != "UTF-8" or draw(st.booleans())
    return bytes(etree.tostring(root.getroottree(), xml_declaration=declaration, encoding=encoding))


def apply_xml_ops(draw: Draw, root: Any, *, max_ops: int, focus: Callable[[Any], list[Any]] | None = None) -> None:
    """Apply 1..``max_ops`` structural mutations to ``root`` in place (invalid values skipped)."""
    for op in draw(st.lists(st.sampled_from(XML_OPS), min_size=1, max_size=max_ops)):
        els = _elements(root)
        if focus is not None and draw(st.booleans()):
            els = focus(root) or els
        try:
            op(draw, root, els)
        except ValueError:  # a value XML cannot hold (control characters, lone surrogates)
            pass


@st.composite
def mutated_xml(draw: Draw, data: bytes, max_ops: int = 3) -> bytes:
    """``data`` (well-formed) after structural mutations, serialised again; sometimes also bytes."""
    root = parse_plain(data)
    apply_xml_ops(draw, root, max_ops=max_ops)
    out = serialise(draw, root)
    if draw(st.integers(0, 3)) == 0:
        out = draw(mutated_bytes(out, max_ops=1))
    return out


# --- signatures ----------------------------------------------------------------------------------

ALGORITHMS: tuple[str, ...] = (
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1", "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384", "http://www.w3.org/2001/04/xmlenc#sha512",
    "http://www.w3.org/2000/09/xmldsig#sha1", "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11", "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2000/09/xmldsig#base64", "http://www.w3.org/TR/1999/REC-xpath-19991116",
    "http://www.w3.org/TR/1999/REC-xslt-19991116", "", "urn:fuzz", "http://www.w3.org/2001/04/xmldsig-more#RSA-SHA256",
)
_B64_FIELDS = (f"{DS}SignatureValue", f"{DS}DigestValue", f"{DS}X509Certificate", f"{DS}Modulus", f"{DS}Exponent",
               f"{DSIG11}PublicKey")


def signature_parts(root: Any) -> list[Any]:
    """The elements of every ``ds:Signature`` (the focus of signature mutations)."""
    return [el for sig in root.iter(f"{DS}Signature") for el in sig.iter() if isinstance(el.tag, str)]


def _s_base64(draw: Draw, root: Any) -> None:
    fields = [el for tag in _B64_FIELDS for el in root.iter(tag)]
    if not fields:
        return
    el = _pick(draw, fields)
    text = el.text or ""
    i = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["replace", "delete", "insert", "pad", "wrap", "empty", "urlsafe", "double"]))
    if how == "replace" and text:
        i = min(i, len(text) - 1)
        el.text = text[:i] + draw(st.sampled_from("AZaz09+/=-_!. \u00e9")) + text[i + 1:]
    elif how == "delete":
        el.text = text[:i] + text[i + 1:]
    elif how == "insert":
        el.text = text[:i] + draw(st.sampled_from(["A", "==", "\n", " ", "\t", "AAAA", "\r\n"])) + text[i:]
    elif how == "pad":
        el.text = text + "="
    elif how == "wrap":
        el.text = "\n".join(text[j:j + 64] for j in range(0, len(text), 64))
    elif how == "empty":
        el.text = None
    elif how == "urlsafe":
        el.text = text.replace("+", "-").replace("/", "_")
    else:
        el.text = text + text


def _s_algorithm(draw: Draw, root: Any) -> None:
    els = [el for el in signature_parts(root) if el.get("Algorithm") is not None]
    if els:
        _pick(draw, els).set("Algorithm", draw(st.sampled_from(ALGORITHMS)))


def _s_reference_uri(draw: Draw, root: Any) -> None:
    refs = list(root.iter(f"{DS}Reference"))
    if not refs:
        return
    ref = _pick(draw, refs)
    uri = draw(st.sampled_from([None, "", "#", "#xpointer(/)", "#xpointer(id('x'))", "#id1", "http://evil.example/",
                                "file:///etc/passwd", " "]))
    if uri is None:
        ref.attrib.pop("URI", None)
    else:
        ref.set("URI", uri)


def _s_move(draw: Draw, root: Any) -> None:
    sigs = list(root.iter(f"{DS}Signature"))
    if not sigs:
        return
    sig = sigs[0]
    targets = [el for el in _elements(root) if el is not sig and not any(a is sig for a in el.iterancestors())]
    target = _pick(draw, targets)
    where = draw(st.sampled_from(["first", "last", "wrap"]))
    if where == "wrap" and target.getparent() is not None and not any(a is target for a in sig.iterancestors()):
        # move the target *into* the signature's ds:Object (signature wrapping)
        obj = etree.SubElement(sig, f"{DS}Object")
        obj.append(target)
    elif where == "first":
        target.insert(0, sig)
    else:
        target.append(sig)


def _s_duplicate(draw: Draw, root: Any) -> None:
    parts = [el for el in signature_parts(root) if el.getparent() is not None]
    if parts:
        el = _pick(draw, parts)
        el.addnext(copy.deepcopy(el))


def _s_object(draw: Draw, root: Any) -> None:
    sigs = list(root.iter(f"{DS}Signature"))
    if not sigs:
        return
    obj = etree.SubElement(sigs[0], f"{DS}Object")
    obj.append(etree.fromstring(b'<testsuite name="hidden" tests="1"><testcase name="smuggled"/></testsuite>'))


def _s_inclusive(draw: Draw, root: Any) -> None:
    targets = [el for el in signature_parts(root)
               if el.tag in (f"{DS}CanonicalizationMethod", f"{DS}Transform")]
    if targets:
        inc = etree.SubElement(_pick(draw, targets), f"{{{EXC_NS}}}InclusiveNamespaces")
        inc.set("PrefixList", draw(st.sampled_from(["", "ds", "#default", "ds xsi #default", "nope", "x" * 50])))


def _s_drop(draw: Draw, root: Any) -> None:
    tags = [f"{DS}KeyInfo", f"{DS}X509Data", f"{DS}X509Certificate", f"{DS}Transforms", f"{DS}Transform",
            f"{DS}SignedInfo", f"{DS}SignatureValue", f"{DS}DigestMethod", f"{DS}KeyValue"]
    els = [el for tag in tags for el in root.iter(tag)]
    if els:
        el = _pick(draw, els)
        el.getparent().remove(el)


SIGNATURE_OPS = (_s_base64, _s_algorithm, _s_reference_uri, _s_move, _s_duplicate, _s_object, _s_inclusive, _s_drop)


def resign(root: Any, key: Any) -> None:
    """Recompute ``SignatureValue`` over the (mutated) ``SignedInfo`` with the real private key, so
    that the mutations behind it are judged by the checks after the signature value's."""
    sig = root.find(f".//{DS}Signature")
    if sig is None:
        return
    signed_info = sig.find(f"{DS}SignedInfo")
    value_el = sig.find(f"{DS}SignatureValue")
    if signed_info is None or value_el is None:
        return
    octets = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(octets, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(octets, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        value = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    value_el.text = base64.b64encode(value).decode()


@st.composite
def mutated_signed(draw: Draw, data: bytes, key: Any, max_ops: int = 3) -> tuple[bytes, str]:
    """A signed report after signature and structure mutations (optionally re-signed), then maybe
    re-encoded or byte-mutated. Returns ``(bytes, kind)`` with ``kind`` naming the layers used."""
    kind = draw(st.sampled_from(["signature", "structure", "bytes", "signature+resign", "noop"]))
    if kind == "bytes":
        return draw(mutated_bytes(data)), kind
    root = parse_plain(data)
    if kind.startswith("signature"):
        for op in draw(st.lists(st.sampled_from(SIGNATURE_OPS), min_size=1, max_size=max_ops)):
            op(draw, root)
        if kind.endswith("resign"):
            resign(root, key)
    elif kind == "structure":
        apply_xml_ops(draw, root, max_ops=max_ops, focus=signature_parts)
    return serialise(draw, root), kind


# --- JSON ----------------------------------------------------------------------------------------

JSON_ODD: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**63, -(2**63), 10**30, 1.5, -0.0, 1e308, "", " ", "null", "0",
    "sha256:" + "0" * 64, "sha256:" + "A" * 64, "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
    "2025-01-01", "2025-01-01T00:00:00", "2025-13-01T00:00:00Z", "\ud800", "\u202e", "\x00", "x" * 300,
    [], {}, [[]], [["project", "p"]], [["a", 1]], {"tests": 1}, {"algorithm": "rsa-sha256"},
)

json_values = st.recursive(
    st.one_of(st.sampled_from(JSON_ODD), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def mutated_json(draw: Draw, doc: Any, max_ops: int = 3) -> bytes:
    """A JSON document after value-level mutations (replace, delete, add, nest), serialised (with
    ``NaN``/``Infinity`` allowed), sometimes byte-mutated."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, max_ops))):
        path = _pick(draw, _paths(doc))
        how = draw(st.sampled_from(["replace", "delete", "add", "nest"]))
        if not path:
            if how == "replace":
                doc = copy.deepcopy(draw(json_values))
            continue
        parent, last = _at(doc, path[:-1]), path[-1]
        if how == "replace":
            parent[last] = copy.deepcopy(draw(json_values))
        elif how == "delete":
            del parent[last]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "signed", "project", "size", "stored_at"]))] = copy.deepcopy(draw(json_values))
        elif how == "add" and isinstance(parent, list):
            parent.append(copy.deepcopy(draw(json_values)))
        elif how == "nest":
            parent[last] = [parent[last]] if draw(st.booleans()) else {"v": parent[last]}
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=True)
    if draw(st.integers(0, 4)) == 0:
        text = "[" * 50_000 + "]" * 50_000 if draw(st.booleans()) else text + "\n" + text
    raw = text.encode("utf-8", errors="surrogatepass")
    if draw(st.integers(0, 3)) == 0:
        raw = draw(mutated_bytes(raw, max_ops=2))
    return raw


# --- TOML ----------------------------------------------------------------------------------------

class RawToml(str):
    """TOML text written as is (values Python cannot render, e.g. a 4400-digit integer)."""


TOML_ODD: tuple[Any, ...] = (
    "", "x", "file", "filesystem", "http", "local", "cache", "both", "api", "nope", "0", "true", "-1",
    0, -1, 1, 3, 2**63, -(2**63) - 1, 10**30, RawToml("9" * 4400), RawToml("0x7fffffffffffffffffff"), RawToml("1e400"), 0.5, -0.0, math.inf, -math.inf, math.nan, 1e308,
    True, False, dt.date(2025, 1, 1), dt.time(12, 0), dt.datetime(2025, 1, 1),
    dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),
    dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    [], ["*"], [1], ["a", "b"], {}, {"env": "JUX_FUZZ_UNSET"}, {"file": "/nonexistent"}, {"env": 1},
    "sha256:" + "0" * 64, "~/x", "/etc/passwd", "\u202e", "a\nb",
)
toml_values = st.recursive(
    st.one_of(st.sampled_from(TOML_ODD), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def toml_value(value: Any) -> str:
    """One TOML value (inline tables for tables); a tiny writer for generated test documents."""
    if isinstance(value, RawToml):
        return str.__str__(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_str(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(doc: dict[str, Any]) -> str:
    """A TOML document: top-level keys as ``key = value`` lines (tables inline)."""
    return "".join(f"{toml_str(str(k))} = {toml_value(v)}\n" for k, v in doc.items())


@st.composite
def mutated_toml(draw: Draw, doc: dict[str, Any], max_ops: int = 3) -> bytes:
    """A valid TOML document after value-level mutations, sometimes byte-mutated."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, max_ops))):
        path = _pick(draw, [p for p in _paths(doc) if p])
        parent, last = _at(doc, path[:-1]), path[-1]
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        if how == "replace":
            parent[last] = copy.deepcopy(draw(toml_values))
        elif how == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "name", "url", "key", "stores", "max_attempts"]))] = copy.deepcopy(draw(toml_values))
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(draw(toml_values)))
    try:
        raw = toml_document(doc).encode("utf-8", errors="surrogatepass")
    except (TypeError, ValueError):
        raw = b""
    if draw(st.integers(0, 3)) == 0:
        raw = draw(mutated_bytes(raw, max_ops=2))
    return raw
