"""Checks around the verification path that mutation testing found unpinned (issue 17).

The signing half of ``juxsdk.xmldsig`` and the report parser ``juxsdk.junit`` are mutated with the
verifier (tools/mutation/cosmic-ray.toml); each test here kills mutants that the verifier tests
let survive, and names the check it pins.
"""

from __future__ import annotations

import pytest

import juxsdk
from juxsdk import errors as E

REPORT = b'<testsuite name="s" tests="1"><testcase name="a"/></testsuite>'


class _FailingSigner:
    """A signer whose token fails: ``sign`` raises ``error``."""

    name = "failing"

    def __init__(self, real, error: Exception) -> None:
        self.real, self.error = real, error
        self.algorithm = real.algorithm

    def public_key(self):
        return self.real.public_key()

    def certificate_chain(self):
        return self.real.certificate_chain()

    def sign(self, data: bytes) -> bytes:
        raise self.error

    def close(self) -> None:
        pass


def test_a_signing_error_of_the_signer_reaches_the_caller_unchanged(rsa_signer) -> None:
    # xmldsig.sign_report re-raises the signer's SigningError as it is (its hint included)
    error = E.SigningError("the token was removed", hint="insert the token")
    with pytest.raises(E.SigningError) as info:
        juxsdk.sign_report(REPORT, _FailingSigner(rsa_signer, error))
    assert info.value is error


def test_any_other_failure_of_the_signer_is_a_signing_error(rsa_signer) -> None:
    with pytest.raises(E.SigningError) as info:
        juxsdk.sign_report(REPORT, _FailingSigner(rsa_signer, RuntimeError("bus error")))
    assert type(info.value) is E.SigningError
    assert str(info.value) == "signer 'failing' failed: RuntimeError: bus error"


def test_a_property_without_a_name_is_not_a_report_property() -> None:
    doc = (
        b'<testsuite name="s" tests="1"><properties><property value="nameless"/>'
        b'<property name="project" value="p"/><property name="text">body</property></properties>'
        b'<testcase name="a"/></testsuite>'
    )
    assert juxsdk.parse_report(doc).properties == (("project", "p"), ("text", "body"))


def test_the_element_limit_of_the_signature_also_bounds_its_depth() -> None:
    # xmldsig has no depth check of its own: a signature nested deeper than MAX_DEPTH would need
    # more elements than MAX_SIGNATURE_ELEMENTS allows (and the parser refuses such a document)
    from juxsdk.limits import MAX_DEPTH, MAX_SIGNATURE_ELEMENTS

    assert MAX_SIGNATURE_ELEMENTS < MAX_DEPTH


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16"])
def test_a_reserialised_report_keeps_its_encoding(rsa_signer, encoding) -> None:
    # a self-closing root is re-serialised to take the signature: in the document's own encoding
    doc = f'<?xml version="1.0" encoding="{encoding}"?>\n<testsuites name="é"/>'.encode(encoding.lower())
    signed = juxsdk.sign_report(doc, rsa_signer)
    assert signed.data.decode(encoding.lower()).startswith(f"<?xml version='1.0' encoding='{encoding}'?>")
    assert 'name="é"' in signed.data.decode(encoding.lower())
    # replacing the signature re-serialises too, in the same encoding
    again = juxsdk.sign_report(signed.data, rsa_signer, replace=True)
    assert again.data.decode(encoding.lower()).startswith(f"<?xml version='1.0' encoding='{encoding}'?>")
    assert juxsdk.verify_report(again.data, juxsdk.UnsafeAcceptAnyKey()).summary.tests == 0


@pytest.mark.parametrize(
    ("suite_text", "expected"),
    [
        pytest.param(None, b'<testsuite name="s">\n<properties>\n  <property name="project" value="p"/>\n'
                     b'</properties><testcase name="a"/></testsuite>', id="no-text"),
        pytest.param("\n    ", b'<testsuite name="s">\n    <properties>\n      <property name="project" value="p"/>\n'
                     b'    </properties>\n    <testcase name="a"/></testsuite>', id="indented"),
        # text in the suite is kept (after the new properties), never dropped, and not used as indentation
        pytest.param("lead", b'<testsuite name="s">\n<properties>\n  <property name="project" value="p"/>\n'
                     b'</properties>lead<testcase name="a"/></testsuite>', id="text"),
    ],
)
def test_new_properties_follow_the_suite_indentation_and_keep_its_text(suite_text, expected) -> None:
    doc = f'<testsuite name="s">{suite_text or ""}<testcase name="a"/></testsuite>'.encode()
    report = juxsdk.add_properties(juxsdk.parse_report(doc), {"project": "p"})
    assert report.data == b"<?xml version='1.0' encoding='UTF-8'?>\n" + expected
    assert report.properties == (("project", "p"),)


@pytest.mark.parametrize(
    ("encoding", "compatible"),
    [(None, True), ("ISO-8859-1", True), ("UTF-16", False), ("cp037", False), ("no-such-codec", False),
     ("undefined", False)],  # Python's "undefined" codec raises UnicodeError on any text
)
def test_only_an_ascii_compatible_encoding_is_spliced_into(encoding, compatible) -> None:
    # the signature element is spliced into the original bytes only when ASCII markup is itself there
    from juxsdk.junit import ascii_compatible as _ascii_compatible

    assert _ascii_compatible(encoding) is compatible


def test_a_parse_error_names_the_position_once_and_nothing_of_lxml() -> None:
    # lxml's str(exc) appends ", line L, column C (<string>, line L)": the message keeps lxml's
    # own text without either, and juxsdk puts the position in front
    with pytest.raises(E.ReportParseError) as info:
        juxsdk.parse_report(b"<testsuite", source="r.xml")
    assert info.value.message == "r.xml:1:11: not well-formed XML: Couldn't find end of Start Tag testsuite line 1"


def test_a_doctype_the_prolog_pass_cannot_see_is_refused_after_the_parse_and_named() -> None:
    # UTF-32: the incremental prolog pass cannot tell, the full parse finds the DOCTYPE
    doc = '<?xml version="1.0" encoding="UTF-32"?><!DOCTYPE r><r/>'.encode("utf-32")
    with pytest.raises(E.DoctypeForbiddenError) as info:
        juxsdk.parse_report(doc, source="r.xml")
    assert info.value.message.startswith("r.xml: DOCTYPE declarations are not allowed in reports (<!DOCTYPE r>)")


def test_an_unreadable_public_key_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(E.ConfigError) as info:
        juxsdk.TrustedPublicKeys.from_pem_file(tmp_path / "missing.pem")
    assert type(info.value) is E.ConfigError
    assert str(info.value).startswith(f"cannot read public key file {tmp_path / 'missing.pem'}: ")
