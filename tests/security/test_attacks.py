"""Hostile input: XXE, entity bombs, signature wrapping, smuggled content."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

import juxsdk
from juxsdk.errors import (
    MultipleSignaturesError,
    NoSignatureError,
    ReportParseError,
    SignatureStructureError,
)

DS = "{http://www.w3.org/2000/09/xmldsig#}"


def test_xxe_local_file_is_refused_and_nothing_leaks(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doc = f"""<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file://{secret}">]>
<testsuite name="&xxe;"><testcase name="&xxe;"/></testsuite>""".encode()
    with pytest.raises(ReportParseError, match="DOCTYPE") as info:
        juxsdk.parse_report(doc)
    assert "TOP-SECRET" not in str(info.value)
    with pytest.raises(ReportParseError):
        juxsdk.verify_report(doc, juxsdk.UnsafeAcceptAnyKey())


def test_xxe_hidden_after_a_long_prolog_is_still_refused(tmp_path: Path) -> None:
    doc = b"<?xml version='1.0'?>" + b"<!--" + b"x" * 100_000 + b"-->" + b'<!DOCTYPE t [<!ENTITY e SYSTEM "file:///etc/passwd">]><testsuite name="&e;"/>'
    with pytest.raises(ReportParseError):
        r = juxsdk.parse_report(doc)
        assert "root:" not in str(r.properties)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="&lol9;"><testcase name="&lol9;"/></testsuite>"""


def test_billion_laughs_fails_fast_with_bounded_memory() -> None:
    code = (
        "import resource, sys, time, juxsdk\n"
        "data = sys.stdin.buffer.read()\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    juxsdk.parse_report(data)\n"
        "    print('PARSED')\n"
        "except juxsdk.ReportParseError as e:\n"
        "    print('REJECTED', e)\n"
        "print('SECONDS', time.perf_counter() - t)\n"
        # VmHWM is this process's own peak (ru_maxrss is inherited from the forking parent)
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('MAXRSS_KB', hwm)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=BOMB, capture_output=True, timeout=60, check=True
    ).stdout.decode()
    assert "REJECTED" in out and "DOCTYPE" in out
    seconds = float(out.split("SECONDS ")[1].split()[0])
    maxrss_mb = int(out.split("MAXRSS_KB ")[1].split()[0]) / 1024
    assert seconds < 1.0
    assert maxrss_mb < 200  # interpreter + libraries; an expanded bomb would need gigabytes


def _signed_tree(signer, corpus_dir: Path):
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), signer)
    return signed, etree.fromstring(signed.data)


def test_testsuite_hidden_in_ds_object_is_not_counted(rsa_signer, rsa_cert_path: Path, corpus_dir: Path) -> None:
    signed, root = _signed_tree(rsa_signer, corpus_dir)
    sig = root.find(f"{DS}Signature")
    obj = etree.SubElement(sig, f"{DS}Object")
    hidden = etree.SubElement(obj, "testsuite", name="smuggled", tests="500", failures="0")
    for i in range(500):
        etree.SubElement(hidden, "testcase", name=f"fake{i}")
    etree.SubElement(etree.SubElement(hidden, "properties"), "property", name="project", value="evil")
    tampered = etree.tostring(root)
    v = juxsdk.verify_report(tampered, juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))
    assert v.summary == signed.summary  # only the signed counts
    assert ("project", "evil") not in v.properties
    assert b"smuggled" not in v.signed_content
    assert any("ds:Object" in w for w in v.warnings)


def test_two_signatures_are_refused(rsa_signer, rsa_cert_path: Path, corpus_dir: Path) -> None:
    _, root = _signed_tree(rsa_signer, corpus_dir)
    root.append(copy.deepcopy(root.find(f"{DS}Signature")))
    with pytest.raises(MultipleSignaturesError):
        juxsdk.verify_report(etree.tostring(root), juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))


def test_signature_moved_to_another_element_is_refused(rsa_signer, rsa_cert_path: Path, corpus_dir: Path) -> None:
    _, root = _signed_tree(rsa_signer, corpus_dir)
    sig = root.find(f"{DS}Signature")
    root.remove(sig)
    root.find(".//testcase").append(sig)
    with pytest.raises(SignatureStructureError, match="not a child of the root"):
        juxsdk.verify_report(etree.tostring(root), juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))


def test_reference_to_a_subtree_is_refused(rsa_signer, rsa_cert_path: Path, corpus_dir: Path) -> None:
    _, root = _signed_tree(rsa_signer, corpus_dir)
    ref = root.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference")
    ref.set("URI", "#some-id")
    with pytest.raises(SignatureStructureError, match="URI"):
        juxsdk.verify_report(etree.tostring(root), juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))


def test_sha1_is_refused(rsa_signer, rsa_cert_path: Path, corpus_dir: Path) -> None:
    _, root = _signed_tree(rsa_signer, corpus_dir)
    root.find(f"{DS}Signature/{DS}SignedInfo/{DS}SignatureMethod").set(
        "Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    )
    with pytest.raises(juxsdk.UnsupportedAlgorithmError, match="no SHA-1"):
        juxsdk.verify_report(etree.tostring(root), juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))


def test_unsigned_report_has_no_signature(corpus_dir: Path) -> None:
    with pytest.raises(NoSignatureError):
        juxsdk.verify_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), juxsdk.UnsafeAcceptAnyKey())


def test_comment_injection_does_not_change_what_was_signed(rsa_signer, rsa_cert_path: Path, corpus_dir: Path) -> None:
    # Comments are not signed; adding one must still verify, and must not alter reported values.
    signed, root = _signed_tree(rsa_signer, corpus_dir)
    tc = root.find(".//testcase")
    tc.append(etree.Comment("<failure>injected</failure>"))
    v = juxsdk.verify_report(etree.tostring(root), juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))
    assert v.summary == signed.summary
    assert b"injected" not in v.signed_content
