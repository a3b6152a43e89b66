"""Checks around the verification path that mutation testing found unpinned (issue 17).

The signing half of ``juxsdk.xmldsig`` and the report parser ``juxsdk.junit`` are mutated with the
verifier (tools/mutation/cosmic-ray.toml); each test here kills mutants that the verifier tests
let survive, and names the check it pins.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

import juxsdk
from juxsdk import errors as E
from juxsdk.protocols import SIGNATURE_ALGORITHMS

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


class _OtherAlgorithmSigner(_FailingSigner):
    """A signer that signs with ``algorithm`` (one the signature profile does not have)."""

    def __init__(self, real, algorithm: str) -> None:
        super().__init__(real, RuntimeError("never called"))
        self.algorithm = algorithm

    def sign(self, data: bytes) -> bytes:
        return self.real.sign(data)


@pytest.mark.parametrize("algorithm", ["rsa-sha1", "dsa-sha256", "RSA-SHA256", ""])
def test_a_signer_algorithm_outside_the_profile_is_refused_by_name(rsa_signer, algorithm) -> None:
    # the check of sign_report against SIGNATURE_ALGORITHMS, before the key or the signer is used
    with pytest.raises(E.SigningError) as info:
        juxsdk.sign_report(REPORT, _OtherAlgorithmSigner(rsa_signer, algorithm))
    assert type(info.value) is E.SigningError
    assert info.value.message == f"signer algorithm {algorithm!r} is not supported"
    assert info.value.hint == "use one of " + ", ".join(SIGNATURE_ALGORITHMS)


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


@pytest.mark.parametrize("kind", ["CERTIFICATE", "PUBLIC KEY"])
def test_a_broken_pem_block_beside_a_good_key_is_a_config_error(tmp_path, rsa_keys, kind) -> None:
    # TrustedPublicKeys.from_pem_file refuses the whole file: a trust anchor file with a block
    # that does not load is not silently reduced to the blocks that do
    from juxsdk.trust import TrustedPublicKeys

    good = rsa_keys.pubkey_path.read_bytes()
    path = tmp_path / "anchors.pem"
    path.write_bytes(good + f"-----BEGIN {kind}-----\nAAAA\n-----END {kind}-----\n".encode())
    with pytest.raises(E.ConfigError) as info:
        TrustedPublicKeys.from_pem_file(path)
    assert info.value.message == f"{path}: invalid PEM {kind} block"


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        pytest.param("algorithm", hashes.SHA384(), id="rsa-padding-hash"),
        pytest.param("signature_algorithm", ec.ECDSA(hashes.SHA512()), id="ecdsa-hash"),
    ],
)
def test_the_signer_key_refuses_a_hash_signxml_was_not_configured_with(rsa_signer, keyword, value) -> None:
    # signxml passes the hash as algorithm= (RSA) or inside signature_algorithm= (ECDSA); a hash
    # other than the signer's is refused before the signer (an HSM, a KMS key) is asked
    from juxsdk.xmldsig import _SignerKey

    key = _SignerKey(_FailingSigner(rsa_signer, AssertionError("the signer must not be asked")), "sha256")
    with pytest.raises(E.SigningError) as info:
        key.sign(b"data", **{keyword: value})
    assert info.value.message.startswith("internal: signxml asked for sha")
    assert info.value.message.endswith(", signer uses sha256")


def test_the_signature_info_describes_the_signing_certificate(rsa_keys) -> None:
    # what sign_report and verify_report say of the key: the certificate's subject, fingerprint
    # and end of validity when there is one, None for each when the key signs alone
    from juxsdk.trust import TrustedCertificates

    signed = juxsdk.sign_report(REPORT, rsa_keys.signer())
    verified = juxsdk.verify_report(signed.data, TrustedCertificates([rsa_keys.cert]))
    for info in (signed.signature, verified.signature):
        assert info.certificate_not_after == rsa_keys.cert.not_valid_after_utc
        assert info.certificate_subject == rsa_keys.cert.subject.rfc4514_string()
        assert info.certificate_fingerprint is not None
    bare = juxsdk.sign_report(REPORT, rsa_keys.signer(with_cert=False)).signature
    assert (bare.certificate_not_after, bare.certificate_subject, bare.certificate_fingerprint) == (None, None, None)


def test_re_signing_a_signed_report_keeps_its_source_unless_another_is_given(rsa_signer) -> None:
    signed = juxsdk.sign_report(REPORT, rsa_signer, source="first.xml")
    assert signed.source == "first.xml"
    assert juxsdk.sign_report(signed, rsa_signer, replace=True).source == "first.xml"
    assert juxsdk.sign_report(signed, rsa_signer, replace=True, source="second.xml").source == "second.xml"


def test_the_parser_takes_bytes_only() -> None:
    # bytes(5) would be five NUL bytes: an int (or a str) is a programming error, said as such
    from juxsdk._xml import parse_xml

    for value in (5, "<testsuite/>"):
        with pytest.raises(TypeError, match=f"expected bytes, got {type(value).__name__}"):
            parse_xml(value)  # type: ignore[arg-type]
    assert parse_xml(memoryview(b"<testsuite/>")).getroot().tag == "testsuite"


def test_properties_are_added_to_a_testsuites_root_without_suites() -> None:
    added = juxsdk.add_properties(juxsdk.parse_report(b'<testsuites name="none"></testsuites>'), {"project": "p"})
    assert added.project == "p"
    assert [el.tag for el in etree.fromstring(added.data)] == ["properties"]


@pytest.mark.parametrize(
    "doc",
    [
        b"<?xml version='1.0'?>\n<j:testsuite xmlns:j='urn:junit' name='s'><j:testcase name='a'/></j:testsuite>\n",
        b'<testsuite name="s"><testcase name="a"/></testsuite>  <!-- end -->\n',
    ],
)
def test_a_report_is_signed_by_splicing_even_with_a_prefixed_root(rsa_signer, doc) -> None:
    # the signed bytes are the input bytes up to the root end tag, the signature, then the rest
    signed = juxsdk.sign_report(doc, rsa_signer).data
    end = doc.rindex(b"</")
    assert signed.startswith(doc[:end]) and signed.endswith(doc[end:])
    assert signed[end:-len(doc) + end].startswith(b"<ds:Signature")


@pytest.mark.parametrize(("algorithm", "keys"), [("ecdsa-sha256", "rsa_signer"), ("rsa-sha256", "ec_signer")])
def test_a_signer_whose_algorithm_does_not_fit_its_key_is_refused(request, algorithm, keys) -> None:
    real = request.getfixturevalue(keys)
    with pytest.raises(E.SigningError) as info:
        juxsdk.sign_report(REPORT, _OtherAlgorithmSigner(real, algorithm))
    assert type(info.value) is E.SigningError
    assert info.value.message.startswith(f"signer algorithm {algorithm} does not match its ")


@pytest.mark.parametrize(
    "kinds",
    [{}, {"certs": ["a.pem"], "pubkeys": ["b.pem"]}, {"pubkeys": ["b.pem"], "cas": ["c.pem"]}],
    ids=["none", "certs-and-pubkeys", "pubkeys-and-cas"],
)
def test_a_trust_policy_from_files_takes_exactly_one_kind_of_anchor(kinds) -> None:
    # checked before any file is read (these files do not exist)
    from juxsdk.trust import policy_from_files

    with pytest.raises(E.ConfigError) as info:
        policy_from_files(**kinds)
    assert info.value.message == "give exactly one kind of trust anchor"


def test_the_prolog_pass_decides_at_the_root_start_tag_without_reading_further() -> None:
    # None: decided, no DOCTYPE (the bytes after the root start tag are never parsed twice);
    # False: undecided, the full parse decides
    from juxsdk._xml import _prolog_doctype

    assert _prolog_doctype(b"<?xml version='1.0'?>\n<testsuite name='s'>" + b"\xff\xfe not xml <<<") is None
    assert _prolog_doctype(b"<!DOCTYPE testsuite><testsuite/>") == "testsuite"
    assert _prolog_doctype(b"<?xml version='1.0'?>\n<!-- unterminated") is False


def test_a_certificate_whose_subject_cannot_be_decoded_is_still_described(rsa_keys) -> None:
    # the certificate comes from the report (untrusted): describing it must not fail
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from juxsdk.trust import TrustedCertificates
    from juxsdk.xmldsig import signature_info
    from tests import pki

    key = pki.new_key("p256")
    der = pki.make_cert(key, "QQQQQQQQ").public_bytes(serialization.Encoding.DER)
    cert = x509.load_der_x509_certificate(der.replace(b"QQQQQQQQ", b"\xff\xfe\xfd\xfcQQQQ"))
    with pytest.raises(ValueError):
        cert.subject.rfc4514_string()
    info = signature_info("ecdsa-sha256", key.public_key(), cert)
    assert info.certificate_subject == "<invalid subject>"
    decision = TrustedCertificates([cert]).decide([cert], None, cert.not_valid_before_utc)
    assert decision.description.startswith("pinned certificate '<invalid subject>' (sha256:")


def test_the_signature_value_check_refuses_a_key_type_outside_the_profile() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from juxsdk.xmldsig import _verify_value

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(E.UnsupportedAlgorithmError, match="unsupported key type Ed25519PublicKey"):
        _verify_value(key, b"\0" * 64, b"octets", hashes.SHA256())  # type: ignore[arg-type]


def test_the_precomputed_reference_digest_is_only_handed_out_as_sha256() -> None:
    from signxml import DigestAlgorithm, SignatureMethod

    from juxsdk.xmldsig import _EnvelopedSigner

    signer = _EnvelopedSigner(b"\1" * 32, SignatureMethod.RSA_SHA256)
    marker = signer._c14n(signer.stand_in, None)
    assert signer._get_digest(marker, DigestAlgorithm.SHA256) == b"\1" * 32
    with pytest.raises(E.SigningError, match="the precomputed reference digest is SHA-256"):
        signer._get_digest(marker, DigestAlgorithm.SHA512)


def test_a_failure_inside_signxml_is_a_signing_error(rsa_signer, monkeypatch) -> None:
    # fault injection: whatever signxml raises while building the signature (not the signer's own
    # SigningError) is reported as a SigningError naming it, never as a raw exception
    from juxsdk.xmldsig import _EnvelopedSigner

    def broken(self, data, references):
        raise RuntimeError("boom")

    monkeypatch.setattr(_EnvelopedSigner, "_unpack", broken)
    with pytest.raises(E.SigningError) as info:
        juxsdk.sign_report(REPORT, rsa_signer)
    assert info.value.message == "cannot build the XML signature: RuntimeError: boom"


@pytest.mark.parametrize(
    "doc",
    [
        b"<!DOCTYPE " + b"n" * 60_000 + b"><testsuite/>",  # a name over libxml2's normal limit
        b"<!--" + b"c" * 11_000_000 + b"--><!DOCTYPE testsuite><testsuite/>",  # after a comment over 10 MB
    ],
    ids=["long-name", "huge-comment"],
)
def test_a_doctype_past_libxml2s_normal_limits_is_refused_as_a_doctype(doc) -> None:
    with pytest.raises(E.DoctypeForbiddenError):
        juxsdk.parse_report(doc, max_bytes=len(doc))


class _OtherCertificateSigner(_OtherAlgorithmSigner):
    """A signer whose certificate chain starts with ``cert`` (not the certificate of its key)."""

    def __init__(self, real, cert) -> None:
        super().__init__(real, real.algorithm)
        self.cert = cert

    def certificate_chain(self):
        return [self.cert]


def test_a_signing_certificate_that_is_not_the_keys_is_refused(rsa_signer, ec_keys) -> None:
    # the signature value would verify (it is made with the key), but the embedded certificate
    # would name another key: refused before signing
    with pytest.raises(E.SigningError) as info:
        juxsdk.sign_report(REPORT, _OtherCertificateSigner(rsa_signer, ec_keys.cert))
    assert type(info.value) is E.SigningError
    assert info.value.message == "the signing certificate does not match the signing key"


def test_an_end_tag_named_in_a_trailing_comment_is_not_the_splice_point(rsa_signer) -> None:
    # the last "</testsuite" in the bytes is inside the comment after the root: splicing there
    # would hide the signature in the comment; the report is re-serialised instead
    doc = b'<testsuite name="s"><testcase name="a"/></testsuite>\n<!-- was </testsuite > -->\n'
    signed = juxsdk.sign_report(doc, rsa_signer).data
    assert juxsdk.verify_report(signed, juxsdk.UnsafeAcceptAnyKey()).summary.tests == 1
    assert signed.index(b"<ds:Signature") < signed.index(b"<!--")


def test_a_report_without_a_source_is_called_report_in_verification_errors() -> None:
    with pytest.raises(E.NoSignatureError) as info:
        juxsdk.verify_report(REPORT, juxsdk.UnsafeAcceptAnyKey())
    assert info.value.message == "report has no XML signature"
    with pytest.raises(E.NoSignatureError) as info:
        juxsdk.verify_report(REPORT, juxsdk.UnsafeAcceptAnyKey(), source="r.xml")
    assert info.value.message == "r.xml has no XML signature"


def test_blocks_other_than_certificates_and_public_keys_are_skipped_in_a_pem_trust_file(tmp_path, rsa_keys) -> None:
    # a bundle that also holds the private key (or parameters) still gives its one public key
    from juxsdk.trust import TrustedPublicKeys

    path = tmp_path / "bundle.pem"
    path.write_bytes(rsa_keys.key_path.read_bytes() + rsa_keys.pubkey_path.read_bytes())
    assert b"PRIVATE KEY-----" in path.read_bytes()
    policy = TrustedPublicKeys.from_pem_file(path)
    assert [juxsdk.trust.key_fingerprint(k) for k in policy.keys] == [
        juxsdk.trust.key_fingerprint(rsa_keys.key.public_key())
    ]


@pytest.mark.parametrize(("source", "label"), [(None, "report"), ("r.xml", "r.xml")])
def test_signing_a_signed_report_again_names_it(rsa_signer, source, label) -> None:
    signed = juxsdk.sign_report(REPORT, rsa_signer).data
    with pytest.raises(E.AlreadySignedError) as info:
        juxsdk.sign_report(signed, rsa_signer, source=source)
    assert info.value.message == f"{label} is already signed"


def test_re_signing_keeps_the_xml_declaration_of_a_non_utf8_report(rsa_signer) -> None:
    doc = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<testsuite name="é"><testcase name="a"/></testsuite>'
    signed = juxsdk.sign_report(doc.encode("latin-1"), rsa_signer)
    again = juxsdk.sign_report(signed, rsa_signer, replace=True).data
    assert again.startswith(b"<?xml version='1.0' encoding='ISO-8859-1'?>")
    assert juxsdk.verify_report(again, juxsdk.UnsafeAcceptAnyKey()).canonical_hash == juxsdk.canonical_hash(
        doc.encode("latin-1")
    )
