"""DSSE envelopes (juxsdk.dsse): PAE, key ids, signing with Signers, and hostile envelopes refused."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from juxsdk import dsse
from juxsdk.errors import (
    AttestationError,
    CertificateValidityError,
    ConfigError,
    SignatureThresholdError,
    SignatureValueError,
    SigningError,
    UnsupportedAlgorithmError,
    UntrustedKeyError,
)
from juxsdk.testing.fakes import MemorySigner
from juxsdk.trust import TrustedCA, TrustedCertificates, TrustedPublicKeys, UnsafeAcceptAnyKey
from tests import pki

TYPE = "application/vnd.in-toto+json"
BODY = b'{"_type":"https://in-toto.io/Statement/v1"}'


def memory(alg: str = "ecdsa-sha256", *, cert: bool = True) -> MemorySigner:
    return MemorySigner(MemorySigner.Options(algorithm=alg, certificate=cert))


def doc(envelope: dsse.Envelope) -> dict:
    return json.loads(envelope.to_json())


def raw(d: dict) -> bytes:
    return json.dumps(d).encode()


@pytest.fixture(scope="module")
def signer() -> MemorySigner:
    return memory()


@pytest.fixture(scope="module")
def signed(signer: MemorySigner) -> dsse.Envelope:
    return dsse.sign_envelope(BODY, TYPE, signer)


def test_pae_is_the_spec_test_vector() -> None:
    # DSSE protocol.md, "Test Vectors"
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert dsse.pae("t\u00e9", b"") == b"DSSEv1 3 t\xc3\xa9 0 "  # LEN counts UTF-8 bytes


def test_keyid_is_securesystemslibs_default_keyid() -> None:
    from securesystemslib.signer import SSlibKey

    for key in (rsa.generate_private_key(65537, 2048).public_key(), ec.generate_private_key(ec.SECP384R1()).public_key()):
        schemes = ("rsa-pkcs1v15-sha256", "rsassa-pss-sha512") if isinstance(key, rsa.RSAPublicKey) else (
            "ecdsa-sha2-nistp384",
        )
        for scheme in schemes:
            assert dsse.keyid(key, scheme) == SSlibKey.from_crypto(key, scheme=scheme).keyid


@pytest.mark.parametrize("alg", ["rsa-sha256", "rsa-sha384", "rsa-sha512", "ecdsa-sha256"])
def test_round_trip_with_pinned_key_and_pinned_certificate(alg: str) -> None:
    s = memory(alg)
    envelope = dsse.Envelope.from_json(dsse.sign_envelope(BODY, TYPE, s).to_json())
    by_key = dsse.verify_envelope(envelope, TrustedPublicKeys([s.public_key()]), payload_types=[TYPE])
    assert by_key.payload == BODY and by_key.signatures[0].algorithm == alg
    by_cert = dsse.verify_envelope(envelope, TrustedCertificates(s.certificate_chain()))
    assert by_cert.signatures[0].certificate_subject == "CN=juxsdk test signer"


def test_the_certificate_chain_travels_in_the_sigstore_extension(signed: dsse.Envelope, signer) -> None:
    sig = doc(signed)["signatures"][0]
    assert sig["extension"]["kind"] == dsse.CHAIN_EXTENSION_KIND
    certs = sig["extension"]["ext"]["x509CertificateChain"]["certificates"]
    assert len(certs) == 1 and base64.b64decode(certs[0]["rawBytes"])[:1] == b"\x30"
    # without a certificate, no extension: the policy's pinned keys are the candidates
    bare = memory(cert=False)
    plain = doc(dsse.sign_envelope(BODY, TYPE, bare))["signatures"][0]
    assert set(plain) == {"keyid", "sig"}
    assert dsse.verify_envelope(dsse.Envelope.from_json(raw({**doc(dsse.sign_envelope(BODY, TYPE, bare))})),
                                TrustedPublicKeys([bare.public_key()])).signatures


class ChainSigner(MemorySigner):
    """A MemorySigner whose key and chain are given (a CA-issued leaf)."""

    def __init__(self, key, chain) -> None:
        super().__init__(MemorySigner.Options(algorithm="ecdsa-sha256"))
        self._key, self._chain = key, tuple(chain)


def test_ca_policy_uses_the_chain_and_the_validity_time() -> None:
    ca_key = pki.new_key("p256")
    ca = pki.make_cert(ca_key, "juxsdk test CA", ca=True)
    leaf_key = pki.new_key("p256")
    leaf = pki.make_cert(leaf_key, "ci signer", issuer_key=ca_key, issuer_cert=ca)
    envelope = dsse.Envelope.from_json(dsse.sign_envelope(BODY, TYPE, ChainSigner(leaf_key, [leaf])).to_json())
    verified = dsse.verify_envelope(envelope, TrustedCA([ca]))
    assert "chains to a trusted CA" in verified.trust[0]
    with pytest.raises(CertificateValidityError):
        dsse.verify_envelope(envelope, TrustedCA([ca]), at=dt.datetime(1999, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(UntrustedKeyError):
        dsse.verify_envelope(envelope, TrustedCA([pki.make_cert(pki.new_key("p256"), "other CA", ca=True)]))
    # a CA cannot vouch for an envelope that carries no certificate
    bare = dsse.sign_envelope(BODY, TYPE, ChainSigner(leaf_key, []))
    with pytest.raises(UntrustedKeyError):
        dsse.verify_envelope(bare, TrustedCA([ca]))


def test_expired_pinned_certificate_is_refused_unless_verified_at_signing_time(signed, signer) -> None:
    trust = TrustedCertificates(signer.certificate_chain())
    later = signer.certificate_chain()[0].not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(CertificateValidityError):
        dsse.verify_envelope(signed, trust, at=later)
    assert dsse.verify_envelope(signed, trust, at=dt.datetime.now(dt.UTC)).signatures


def test_tampered_payload_and_wrong_key(signed, signer) -> None:
    d = doc(signed)
    d["payload"] = base64.b64encode(BODY.replace(b"v1", b"v2")).decode()
    with pytest.raises(SignatureValueError):
        dsse.verify_envelope(dsse.Envelope.from_json(raw(d)), TrustedPublicKeys([signer.public_key()]))
    with pytest.raises(UntrustedKeyError):
        dsse.verify_envelope(signed, TrustedPublicKeys([memory().public_key()]))
    # the payload type is signed too
    d = doc(signed)
    d["payloadType"] = "application/vnd.in-toto.test-result+json"
    with pytest.raises(SignatureValueError):
        dsse.verify_envelope(dsse.Envelope.from_json(raw(d)), TrustedPublicKeys([signer.public_key()]))


def test_a_swapped_certificate_does_not_make_a_signature_trusted(signed) -> None:
    other = memory()
    d = doc(signed)
    d["signatures"][0]["extension"] = doc(dsse.sign_envelope(BODY, TYPE, other))["signatures"][0]["extension"]
    with pytest.raises(SignatureValueError):
        dsse.verify_envelope(dsse.Envelope.from_json(raw(d)), TrustedCertificates(other.certificate_chain()))


def test_threshold_counts_distinct_trusted_keys(signer) -> None:
    ci, rm = signer, memory("rsa-sha256")
    one = dsse.sign_envelope(BODY, TYPE, ci)
    both = dsse.sign_envelope(BODY, TYPE, rm, cosign=one)
    trust = TrustedPublicKeys([ci.public_key(), rm.public_key()])
    assert len(dsse.verify_envelope(both, trust, threshold=2).signatures) == 2
    with pytest.raises(SignatureThresholdError):
        dsse.verify_envelope(one, trust, threshold=2)
    with pytest.raises(SignatureThresholdError, match="signature 2"):
        dsse.verify_envelope(both, TrustedPublicKeys([ci.public_key()]), threshold=2)
    # the same key twice counts once
    d = doc(one)
    d["signatures"].append(dict(d["signatures"][0]))
    with pytest.raises(SignatureThresholdError, match="same key"):
        dsse.verify_envelope(dsse.Envelope.from_json(raw(d)), trust, threshold=2)
    with pytest.raises(SigningError, match="already carries"):
        dsse.sign_envelope(BODY, TYPE, ci, cosign=one)
    with pytest.raises(ConfigError):
        dsse.verify_envelope(one, trust, threshold=0)


def test_unsafe_policy_needs_a_key_from_somewhere(signer) -> None:
    with_chain = dsse.sign_envelope(BODY, TYPE, signer)
    assert dsse.verify_envelope(with_chain, UnsafeAcceptAnyKey()).trust[0].startswith("UNSAFE")
    bare = dsse.sign_envelope(BODY, TYPE, memory(cert=False))
    with pytest.raises(UntrustedKeyError, match="no certificate"):
        dsse.verify_envelope(bare, UnsafeAcceptAnyKey())


def test_an_ec_signer_must_use_its_curves_hash() -> None:
    class P256WithSha384(MemorySigner):
        algorithm = property(lambda self: "ecdsa-sha384")  # P-256 with SHA-384: no DSSE scheme

    s = P256WithSha384(MemorySigner.Options(algorithm="ecdsa-sha256"))
    with pytest.raises(SigningError, match="must sign with sha256"):
        dsse.sign_envelope(BODY, TYPE, s)


def test_weak_rsa_keys_are_refused_on_verification(signer) -> None:
    weak = rsa.generate_private_key(65537, 1024)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    sig = weak.sign(dsse.pae(TYPE, BODY), padding.PKCS1v15(), hashes.SHA256())
    env = dsse.Envelope(BODY, TYPE, (dsse.DsseSignature("", sig),))
    with pytest.raises(UnsupportedAlgorithmError, match="2048"):
        dsse.verify_envelope(env, TrustedPublicKeys([weak.public_key()]))


def test_a_signer_returning_garbage_is_a_signing_error() -> None:
    s = memory()
    s.sign = lambda data: b"\x30\x06\x02\x01\x01\x02\x01\x01"  # type: ignore[method-assign]
    with pytest.raises(SigningError, match="does not verify with its own public key"):
        dsse.sign_envelope(BODY, TYPE, s)

    def boom(data: bytes) -> bytes:
        raise RuntimeError("token fell out")

    s.sign = boom  # type: ignore[method-assign]
    with pytest.raises(SigningError, match="token fell out"):
        dsse.sign_envelope(BODY, TYPE, s)


# --- hostile envelopes -----------------------------------------------------------------------


def _ok(signed: dsse.Envelope) -> dict:
    return doc(signed)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"[]", "not a JSON object"),
        (lambda d: b"{", "not JSON"),
        (lambda d: b"\xff\xfe{}", "not UTF-8"),
        (lambda d: "\ufeff{}".encode(), "byte order mark"),
        (lambda d: b'{"payload": NaN}', "NaN"),
        (lambda d: b"[" * 100_000 + b"]" * 100_000, "nested"),
        (lambda d: b'{"a":' * 70 + b"1" + b"}" * 70, "nested deeper"),
        (lambda d: raw(d).replace(b'"payload"', b'"payload": "e30=", "payload"', 1), "duplicate JSON key"),
        (lambda d: raw({k: v for k, v in d.items() if k != "payload"}), "no 'payload'"),
        (lambda d: raw({**d, "payloadType": 7}), "'payloadType' is not a str"),
        (lambda d: raw({**d, "signatures": {}}), "'signatures' is not a list"),
        (lambda d: raw({**d, "signatures": []}), "no signature"),
        (lambda d: raw({**d, "signatures": d["signatures"] * 17}), "at most 16"),
        (lambda d: raw({**d, "signatures": ["x"]}), "signature 1 is not a JSON object"),
        (lambda d: raw({**d, "signatures": [{"keyid": "k"}]}), "has no 'sig'"),
        (lambda d: raw({**d, "signatures": [{"sig": "AA==", "keyid": 5}]}), "'keyid' is not a string"),
        (lambda d: raw({**d, "payload": "e30=!"}), "not valid base64"),
        (lambda d: raw({**d, "payload": "e3+_"}), "not valid base64"),  # mixed alphabets
        (lambda d: raw({**d, "payload": "e30"}), None),  # unpadded is fine (URL-safe style)
        (lambda d: raw({**d, "payload": "e31="}), "not canonical"),  # non-zero padding bits
        (lambda d: raw({**d, "payload": "e30=="}), "bad length or padding"),
        (lambda d: raw({**d, "payload": 12}), "'payload' is not a str"),
        (lambda d: raw({**d, "signatures": [{"sig": 12}]}), "not a base64 string"),
        (
            lambda d: raw({**d, "signatures": [{**d["signatures"][0], "extension": {"kind": 1}}]}),
            "no string 'kind'",
        ),
        (
            lambda d: raw(
                {
                    **d,
                    "signatures": [
                        {
                            **d["signatures"][0],
                            "extension": {
                                "kind": dsse.CHAIN_EXTENSION_KIND,
                                "ext": {"x509CertificateChain": {"certificates": [{"rawBytes": "AAAA"}]}},
                            },
                        }
                    ],
                }
            ),
            "not a DER X.509 certificate",
        ),
    ],
)
def test_hostile_envelopes_are_refused_clearly(signed, mutate, message) -> None:
    data = mutate(_ok(signed))
    if message is None:
        assert dsse.Envelope.from_json(data).payload == b"{}"
        return
    with pytest.raises(AttestationError, match=message):
        dsse.Envelope.from_json(data)


def test_size_cap_and_unknown_fields(signed, signer) -> None:
    big = raw({**_ok(signed), "padding": "x" * 2048})
    with pytest.raises(AttestationError, match="over the limit"):
        dsse.Envelope.from_json(big, max_bytes=1024)
    # unknown fields and unknown extension kinds are ignored (DSSE envelope.md parsing rules)
    d = _ok(signed)
    d["signatures"][0]["extension"] = {"kind": "application/x-other", "ext": {}}
    d["x-note"] = "hi"
    parsed = dsse.Envelope.from_json(raw(d))
    assert parsed.warnings and "unknown kind" in parsed.warnings[0]
    assert dsse.verify_envelope(parsed, TrustedPublicKeys([signer.public_key()])).payload == BODY


def test_url_safe_base64_is_accepted(signed, signer) -> None:
    d = _ok(signed)
    d["payload"] = base64.urlsafe_b64encode(BODY).decode().rstrip("=")
    d["signatures"][0]["sig"] = base64.urlsafe_b64encode(signed.signatures[0].sig).decode()
    parsed = dsse.Envelope.from_json(raw(d))
    assert dsse.verify_envelope(parsed, TrustedPublicKeys([signer.public_key()])).payload == BODY


def test_wrong_payload_type_is_refused_before_any_signature_work(signed, signer) -> None:
    with pytest.raises(AttestationError, match="payloadType"):
        dsse.verify_envelope(signed, TrustedPublicKeys([signer.public_key()]), payload_types=["text/plain"])
