"""Interoperability of attestations with independent implementations (installed for tests only).

* securesystemslib's DSSE ``Envelope.verify`` accepts envelopes juxsdk made with RSA and ECDSA
  keys, from key files and from SoftHSM2 tokens (keyid and signature format without special
  cases), and the in-toto package loads and verifies them as DSSE metadata;
* the in-toto-attestation bindings parse the Statement and the test-result predicate;
* envelopes securesystemslib signs with the same keys (PKCS #1 v1.5, PSS, ECDSA) over a
  Statement built with in-toto-attestation verify with ``jux verify-attestation``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import json_format
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.signer import CryptoSigner, SSlibKey

import juxsdk
from juxsdk.cli import cli
from tests.conftest import CORPUS, KeyMaterial
from tests.softhsm import requires_softhsm, softhsm_environment

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPORT = CORPUS / "enriched" / "pytest" / "xunit2-basic.xml"


def sslib_scheme(signer: Any) -> str:
    key = signer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-sha2-nistp256", "secp384r1": "ecdsa-sha2-nistp384"}[key.curve.name]
    return "rsa-pkcs1v15-" + signer.algorithm.split("-")[1]


def check_with_independent_tools(signer: Any) -> None:
    made = juxsdk.attest(juxsdk.parse_report(REPORT.read_bytes(), source="junit.xml"), signer, commit=COMMIT)
    key = SSlibKey.from_crypto(signer.public_key(), scheme=sslib_scheme(signer))

    # securesystemslib: the keyid matches and the signature verifies (threshold 1)
    envelope = SslibEnvelope.from_dict(json.loads(made.envelope))
    assert list(envelope.verify([key], 1)) == [key.keyid] == list(made.keyids)
    statement = json.loads(envelope.payload)
    assert statement["predicate"]["configuration"][0]["digest"]["juxCanonicalSha256"] == (
        made.report_canonical_hash.partition(":")[2]
    )

    # in-toto: loads the envelope as DSSE metadata and verifies it with the key
    from in_toto.models.metadata import Metadata

    metadata = Metadata.from_dict(json.loads(made.envelope))
    metadata.verify_signature({"keyid": key.keyid, **key.to_dict()})

    # in-toto-attestation: the Statement and the predicate parse field by field
    from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
    from in_toto_attestation.v1 import statement_pb2

    Statement.copy_from_pb(json_format.Parse(envelope.payload, statement_pb2.Statement())).validate()
    predicate = json_format.ParseDict(statement["predicate"], test_result_pb2.TestResult())
    assert predicate.result == "FAILED" and list(predicate.failed_tests) == ["tests.test_api::test_update_user"]

    # a tampered payload is refused by securesystemslib too
    tampered = json.loads(made.envelope)
    tampered["payload"] = tampered["payload"][:-8] + "AAAAAAA="
    from securesystemslib.exceptions import VerificationError

    with pytest.raises(VerificationError):
        SslibEnvelope.from_dict(tampered).verify([key], 1)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_securesystemslib_and_in_toto_verify_file_key_envelopes(kind: str, rsa_keys: KeyMaterial, ec_keys: KeyMaterial) -> None:
    keys = rsa_keys if kind == "rsa" else ec_keys
    signer = keys.signer()
    try:
        check_with_independent_tools(signer)
    finally:
        signer.close()


@pytest.mark.softhsm
@requires_softhsm
@pytest.mark.parametrize("key", ["rsa2048", "p256", "p384"])
def test_securesystemslib_and_in_toto_verify_softhsm_envelopes(key: str) -> None:
    from juxsdk_backends.pkcs11 import Pkcs11Signer

    hsm = softhsm_environment()
    with Pkcs11Signer(hsm.options(key)) as signer:
        check_with_independent_tools(signer)


# --- the other direction: securesystemslib signs, jux verifies ----------------------------


def in_toto_statement() -> bytes:
    """A test-result Statement built with the in-toto-attestation bindings (not juxsdk)."""
    subject = ResourceDescriptor(digest={"gitCommit": COMMIT}).pb
    predicate = {
        "result": "PASSED",
        "configuration": [{"name": ".github/workflows/ci.yml", "digest": {"sha256": "ab" * 32}}],
        "url": "https://github.com/acme/app/actions/runs/1",
        "passedTests": ["tests.test_a::test_one"],
        "warnedTests": [],
        "failedTests": [],
    }
    statement = Statement([subject], "https://in-toto.io/attestation/test-result/v0.1", predicate)
    statement.validate()
    return json_format.MessageToJson(statement.pb).encode()


@pytest.mark.parametrize(
    ("kind", "scheme"),
    [("rsa", "rsa-pkcs1v15-sha256"), ("rsa", "rsassa-pss-sha256"), ("rsa", "rsa-pkcs1v15-sha512"), ("ec", "ecdsa-sha2-nistp256")],
)
def test_jux_verifies_envelopes_made_by_securesystemslib(
    kind: str, scheme: str, rsa_keys: KeyMaterial, ec_keys: KeyMaterial, tmp_path: Path
) -> None:
    keys = rsa_keys if kind == "rsa" else ec_keys
    public = SSlibKey.from_crypto(keys.key.public_key(), scheme=scheme)
    envelope = SslibEnvelope(in_toto_statement(), "application/vnd.in-toto+json", {})
    envelope.sign(CryptoSigner(keys.key, public))
    path = tmp_path / "sslib.intoto.json"
    path.write_text(json.dumps(envelope.to_dict()))

    runner = CliRunner()
    ok = runner.invoke(cli, ["verify-attestation", "--pubkey", str(keys.pubkey_path), str(path)], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert "test-result PASSED (1 passed, 0 warned, 0 failed)" in ok.output
    ok = runner.invoke(cli, ["verify-attestation", "--cert", str(keys.cert_path), "--json", str(path)])
    assert ok.exit_code == 0 and json.loads(ok.output)["subjects"] == [{"digest": {"gitCommit": COMMIT}}]

    other = rsa_keys if kind == "ec" else ec_keys
    refused = runner.invoke(cli, ["verify-attestation", "--pubkey", str(other.pubkey_path), str(path)])
    assert refused.exit_code == 1 and refused.output.startswith("FAIL")


def test_a_securesystemslib_cosignature_counts_towards_the_threshold(
    rsa_keys: KeyMaterial, ec_keys: KeyMaterial, tmp_path: Path
) -> None:
    """juxsdk signs (CI), securesystemslib co-signs with another key (release manager)."""
    signer = rsa_keys.signer()
    made = juxsdk.attest(juxsdk.parse_report(REPORT.read_bytes()), signer, commit=COMMIT)
    envelope = SslibEnvelope.from_dict(json.loads(made.envelope))
    envelope.sign(CryptoSigner(ec_keys.key, SSlibKey.from_crypto(ec_keys.key.public_key())))
    path = tmp_path / "cosigned.json"
    path.write_text(json.dumps(envelope.to_dict()))
    args = ["verify-attestation", "--pubkey", str(rsa_keys.pubkey_path), "--pubkey", str(ec_keys.pubkey_path)]
    result = CliRunner().invoke(cli, [*args, "--threshold", "2", str(path)])
    assert result.exit_code == 0, result.output
    assert "signatures: 2 trusted, 2 required" in result.output
