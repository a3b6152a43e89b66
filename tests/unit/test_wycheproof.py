"""Project Wycheproof's signature vectors through juxsdk's signature-value check (issue 17).

``../shared/vectors/wycheproof`` holds the ECDSA (IEEE P1363, raw r‖s as XMLDSig's SignatureValue
carries it) and RSA PKCS #1 v1.5 vectors for the profile's curves, sizes and hashes. Every vector
goes through the two steps :func:`juxsdk.verify_report` applies to a SignatureValue: the key
policy (:func:`juxsdk.trust.key_strength_problem`) and ``juxsdk.xmldsig._verify_value``; ``valid``
must be accepted and ``invalid`` refused with the exceptions verify_report turns into
SignatureValueError. ``acceptable`` vectors (RSA: a DigestInfo without the NULL parameters, RFC
8017 §9.2 note 1 allows verifiers to accept it) are **refused**, like OpenSSL refuses them: the
signers juxsdk supports always write the NULL, so refusing costs nothing (documented in
docs/reference/signature-profile.md).

The ECDSA vectors also go through the signing-side conversions: the PKCS#11 signer's raw r‖s →
DER (``juxsdk_backends.pkcs11.key.sign`` over a stand-in token that returns the vector) and
signxml's DER → raw r‖s as ``sign_report`` runs it (``_EnvelopedSigner`` + ``_SignerKey``); a
valid vector must come back byte for byte and verify, an invalid one must be refused by one of
the conversions or by the verifier — except that an r‖s of the wrong length comes out with the
same integers re-encoded to the canonical length (it was invalid for its encoding only; juxsdk
never writes the wrong-length bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from juxsdk import xmldsig
from juxsdk.errors import SigningError
from juxsdk.trust import key_strength_problem

VECTORS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "wycheproof").resolve()
FILES = sorted(VECTORS.glob("*_test.json"))
HASHES = {"SHA-256": hashes.SHA256(), "SHA-384": hashes.SHA384(), "SHA-512": hashes.SHA512()}
#: what juxsdk does with Wycheproof's ``acceptable`` vectors: refuses them
ACCEPTABLE_IS_ACCEPTED = False


def _groups(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["testGroups"])


def _key(group: dict[str, Any]) -> Any:
    key = serialization.load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
    assert key_strength_problem(key) is None, "the vectors use the profile's keys only"
    return key


def _accepts(key: Any, signature: bytes, message: bytes, hash_alg: hashes.HashAlgorithm) -> bool:
    """Whether verify_report's signature-value step accepts ``signature`` (False: SignatureValueError)."""
    try:
        xmldsig._verify_value(key, signature, message, hash_alg)
    except (InvalidSignature, ValueError):  # exactly what verify_report maps to SignatureValueError
        return False
    return True


def _expected(result: str) -> bool:
    return {"valid": True, "invalid": False, "acceptable": ACCEPTABLE_IS_ACCEPTED}[result]


def test_the_vectors_are_all_there() -> None:
    if not VECTORS.is_dir():
        pytest.fail(f"Wycheproof vectors not found at {VECTORS}: ../shared must sit beside the repository")
    counts = Counter(t["result"] for path in FILES for g in _groups(path) for t in g["tests"])
    assert len(FILES) == 10
    assert sum(counts.values()) == 2804
    assert counts["acceptable"] == 5  # the RSA "MissingNull" vectors, one per RSA file


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.removesuffix("_test.json"))
def test_every_vector_through_the_signature_value_check(path: Path) -> None:
    wrong: list[str] = []
    seen: Counter[str] = Counter()
    for group in _groups(path):
        key, hash_alg = _key(group), HASHES[group["sha"]]
        for t in group["tests"]:
            seen[t["result"]] += 1
            accepted = _accepts(key, bytes.fromhex(t["sig"]), bytes.fromhex(t["msg"]), hash_alg)
            if accepted != _expected(t["result"]):
                wrong.append(f"tcId {t['tcId']} ({t['result']}, {t['comment']}): {'accepted' if accepted else 'refused'}")
    assert not wrong, f"{len(wrong)} vectors of {path.name} decided wrongly:\n" + "\n".join(wrong[:50])
    assert seen["valid"] and seen["invalid"]


class _Token:
    """A stand-in for a PKCS#11 EC private key object: CKM_ECDSA returns the vector's raw r‖s."""

    def __init__(self, raw: bytes, digest: bytes) -> None:
        self.raw, self.digest = raw, digest

    def sign(self, data: bytes, mechanism: Any) -> bytes:
        assert data == self.digest  # the PKCS#11 path hashes on the host, then CKM_ECDSA
        return self.raw


def _pkcs11_der(raw: bytes, message: bytes, hash_name: str) -> bytes:
    from juxsdk_backends.pkcs11 import key as p11key

    conn = p11key.Connection(
        shared=SimpleNamespace(mechanisms=(), token=SimpleNamespace(label="wycheproof")),
        private_key=_Token(raw, hashlib.new(hash_name, message).digest()),
        key_type="ec",
        key_id=b"\x01",
        label="wycheproof",
    )
    return p11key.sign(conn, hash_name, message)


class _DerSigner:
    """A Signer whose signature is a given DER value: what the PKCS#11 signer hands the core."""

    name = "wycheproof"

    def __init__(self, public: ec.EllipticCurvePublicKey, algorithm: str, der: bytes) -> None:
        self._public, self.algorithm, self._der = public, algorithm, der

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def certificate_chain(self) -> tuple[()]:
        return ()

    def sign(self, data: bytes) -> bytes:
        return self._der

    def close(self) -> None:
        pass


def _signature_value(public: ec.EllipticCurvePublicKey, algorithm: str, der: bytes) -> bytes:
    """The SignatureValue sign_report's signxml step writes for a signer that returns ``der``."""
    xml_signer = xmldsig._EnvelopedSigner(b"\0" * 32, xmldsig._SIGNXML_METHODS[algorithm])
    key = xmldsig._SignerKey(_DerSigner(public, algorithm, der), algorithm.split("-")[1])
    xml_signer.sign(xml_signer.stand_in, key=key)
    signature = xml_signer.stand_in[-1]
    return base64.b64decode(signature.find(f"{{{xmldsig.DS_NS}}}SignatureValue").text)


def _same_integers_reencoded(raw: bytes, value: bytes, key: ec.EllipticCurvePublicKey) -> bool:
    """``value`` is the canonical r‖s of the integers a wrong-length ``raw`` carries in its two halves.

    Wycheproof's "incorrect size of signature" vectors carry r and s in halves shorter or longer
    than the curve size: the verifier refuses them (previous test), and a token that returned
    such bytes would get the same integers re-encoded to the canonical length by the PKCS#11
    conversion and signxml, so what juxsdk writes is always the canonical encoding, never the
    invalid bytes.
    """
    size = (key.curve.key_size + 7) // 8
    half = len(raw) // 2
    return (
        len(raw) != 2 * size
        and len(value) == 2 * size
        and value != raw
        and int.from_bytes(raw[:half], "big") == int.from_bytes(value[:size], "big")
        and int.from_bytes(raw[half:], "big") == int.from_bytes(value[size:], "big")
    )


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.name.startswith("ecdsa_")], ids=lambda p: p.name.removesuffix("_test.json")
)
def test_ecdsa_vectors_survive_the_signing_side_conversions(path: Path) -> None:
    wrong: list[str] = []
    outcomes: Counter[str] = Counter()
    for group in _groups(path):
        key, hash_alg = _key(group), HASHES[group["sha"]]
        hash_name = hash_alg.name
        algorithm = f"ecdsa-{hash_name}"
        for t in group["tests"]:
            raw, message = bytes.fromhex(t["sig"]), bytes.fromhex(t["msg"])
            try:
                der = _pkcs11_der(raw, message, hash_name)
                value = _signature_value(key, algorithm, der)
            except (SigningError, ValueError) as exc:  # refused on the signing side
                outcomes["refused by a conversion"] += 1
                if t["result"] == "valid":
                    wrong.append(f"tcId {t['tcId']} (valid): refused by a conversion: {exc}")
                continue
            accepted = _accepts(key, value, message, hash_alg)
            outcomes["accepted" if accepted else "refused by the verifier"] += 1
            if t["result"] == "valid" and not (accepted and value == raw):
                wrong.append(f"tcId {t['tcId']} (valid): came back as {value.hex()} (accepted: {accepted})")
            if t["result"] == "invalid" and accepted and not _same_integers_reencoded(raw, value, key):
                wrong.append(f"tcId {t['tcId']} (invalid, {t['comment']}): accepted after the round trip")
            if t["result"] == "invalid" and accepted:
                outcomes["re-encoded"] += 1
    assert not wrong, f"{len(wrong)} vectors of {path.name}:\n" + "\n".join(wrong[:50])
    assert outcomes["accepted"] and outcomes["refused by the verifier"] and outcomes["re-encoded"]
