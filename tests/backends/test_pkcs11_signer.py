"""Pkcs11Signer against a real SoftHSM2 token (tests/softhsm.py builds it once per process)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from juxsdk.config import Secret
from juxsdk.errors import ConfigError, JuxError, SecretRequiredError, SigningError
from juxsdk.junit import parse_report
from juxsdk.protocols import Signer
from juxsdk.testing import SignerContract
from juxsdk.trust import TrustedCertificates, TrustedPublicKeys
from juxsdk.xmldsig import sign_report, verify_report
from juxsdk_backends.pkcs11 import (
    Pkcs11Options,
    Pkcs11Signer,
    check_reachability,
    generate_token_key_pair,
)
from juxsdk_backends.pkcs11 import key as p11key
from juxsdk_backends.pkcs11 import keygen as p11keygen
from juxsdk_backends.pkcs11 import session as p11session
from tests.conftest import CORPUS, good_corpus
from tests.softhsm import requires_softhsm

pytestmark = [pytest.mark.softhsm, requires_softhsm]

XMLSEC1 = shutil.which("xmlsec1")
WRONG_PIN = "9999-wrong-pin-zz"
CORPUS_FILES = good_corpus()
SMALL = CORPUS / "raw" / "pytest"


def _first_small_report() -> bytes:
    return sorted(SMALL.glob("*.xml"))[0].read_bytes()


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pubkey_pem(key) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def xmlsec1_verify(tmp_path: Path, data: bytes, signer: Signer) -> subprocess.CompletedProcess[str]:
    """Verify with xmlsec1: the certificate as trust anchor when there is one, else the public key."""
    assert XMLSEC1 is not None
    doc = tmp_path / f"signed-{hashlib.sha256(data).hexdigest()[:12]}.xml"
    doc.write_bytes(data)
    chain = list(signer.certificate_chain())
    if chain:
        trust = tmp_path / "trusted-cert.pem"
        trust.write_bytes(_pem(chain[0]))
        args = ["--trusted-pem", str(trust)]
    else:
        trust = tmp_path / "pubkey.pem"
        trust.write_bytes(_pubkey_pem(signer.public_key()))
        args = ["--pubkey-pem", str(trust)]
    return subprocess.run(
        [XMLSEC1, "--verify", *args, str(doc)], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture
def rsa_hsm(softhsm):
    with Pkcs11Signer(softhsm.options("rsa2048")) as signer:
        yield signer


@pytest.fixture
def ec_hsm(softhsm):
    with Pkcs11Signer(softhsm.options("p256")) as signer:
        yield signer


# --- the shared Signer contract -------------------------------------------------------------


class TestPkcs11SignerContract(SignerContract):
    @pytest.fixture(
        params=["rsa2048-pem-cert", "rsa2048-token-cert", "rsa3072", "p256-key-value", "p384-token-cert"]
    )
    def signer(self, request, softhsm):
        key, _, variant = request.param.partition("-")
        cert = "token" if variant == "token-cert" else "auto"
        signer = Pkcs11Signer(softhsm.options(key, cert=cert))
        yield signer
        signer.close()

    @pytest.fixture
    def secret_values(self, softhsm):
        return [softhsm.pin, softhsm.so_pin]


# --- keys, algorithms, certificates -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "algorithm", "curve_or_bits", "has_cert"),
    [
        ("rsa2048", "rsa-sha256", 2048, True),
        ("rsa3072", "rsa-sha256", 3072, True),
        ("p256", "ecdsa-sha256", "secp256r1", False),
        ("p384", "ecdsa-sha384", "secp384r1", True),
    ],
)
def test_default_algorithm_key_and_certificate(softhsm, key, algorithm, curve_or_bits, has_cert):
    with Pkcs11Signer(softhsm.options(key)) as signer:
        assert signer.algorithm == algorithm
        pub = signer.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            assert pub.key_size == curve_or_bits
        else:
            assert isinstance(pub, ec.EllipticCurvePublicKey)
            assert pub.curve.name == curve_or_bits
        chain = signer.certificate_chain()
        assert bool(chain) is has_cert
        if chain:
            assert chain[0].public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ) == pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "rsa-sha384", "rsa-sha512"])
def test_rsa_algorithms_verify(softhsm, algorithm, tmp_path):
    with Pkcs11Signer(softhsm.options("rsa2048", algorithm=algorithm)) as signer:
        signed = sign_report(parse_report(_first_small_report()), signer)
        assert signed.signature.algorithm == algorithm
        verified = verify_report(signed.data, TrustedCertificates(list(signer.certificate_chain())))
        assert verified.signature.algorithm == algorithm
        if XMLSEC1:
            proc = xmlsec1_verify(tmp_path, signed.data, signer)
            assert proc.returncode == 0, proc.stderr


def test_ecdsa_signature_is_der_and_verifies(ec_hsm):
    data = b"SignedInfo bytes"
    sig = ec_hsm.sign(data)
    assert sig[0] == 0x30, "ECDSA signatures must be DER Ecdsa-Sig-Value, not raw r||s"
    ec_hsm.public_key().verify(sig, data, ec.ECDSA(hashes.SHA256()))


def test_rsa_host_hash_fallback_gives_identical_signature(softhsm):
    """Without CKM_SHA256_RSA_PKCS the DigestInfo is built on the host: same PKCS #1 v1.5 bytes."""
    data = b"<SignedInfo>fallback</SignedInfo>"
    with Pkcs11Signer(softhsm.options("rsa2048")) as signer:
        direct = signer.sign(data)
        signer._conn.rsa_hash_mechanism_ok["sha256"] = False  # as if the token lacked the mechanism
        fallback = signer.sign(data)
    assert fallback == direct  # PKCS #1 v1.5 is deterministic
    signer.public_key().verify(fallback, data, padding.PKCS1v15(), hashes.SHA256())


def test_rsa_fallback_when_token_rejects_the_mechanism(softhsm):
    """A token that lists CKM_SHA384_RSA_PKCS but fails it with CKR_MECHANISM_INVALID (fault injection)."""
    import pkcs11

    calls = []

    class RejectingKey:
        def __init__(self, inner):
            self.inner = inner

        def sign(self, data, mechanism):
            calls.append(mechanism)
            if mechanism != pkcs11.Mechanism.RSA_PKCS:
                raise pkcs11.MechanismInvalid()
            return self.inner.sign(data, mechanism=mechanism)

    data = b"payload"
    with Pkcs11Signer(softhsm.options("rsa2048", algorithm="rsa-sha384")) as signer:
        signer.sign(b"connect")
        signer._conn.private_key = RejectingKey(signer._conn.private_key)
        sig = signer.sign(data)
        sig2 = signer.sign(data)
    signer.public_key().verify(sig, data, padding.PKCS1v15(), hashes.SHA384())
    assert sig == sig2
    # the rejected mechanism is tried once, then remembered
    assert calls == [pkcs11.Mechanism.SHA384_RSA_PKCS, pkcs11.Mechanism.RSA_PKCS, pkcs11.Mechanism.RSA_PKCS]


def test_digest_info_prefixes_match_asn1():
    """RFC 8017 §9.2 DigestInfo with an explicit NULL parameter, as CKM_SHA*_RSA_PKCS builds it."""
    algos = pytest.importorskip("asn1crypto.algos")
    core = pytest.importorskip("asn1crypto.core")
    for name in ("sha256", "sha384", "sha512"):
        digest = hashlib.new(name, b"x").digest()
        der = algos.DigestInfo(
            {"digest_algorithm": {"algorithm": name, "parameters": core.Null()}, "digest": digest}
        ).dump()
        assert der == p11key.DIGEST_INFO_PREFIX[name] + digest


def test_der_integer_helper():
    asn1 = pytest.importorskip("asn1crypto.core")
    for value in (0, 1, 127, 128, 255, 256, 2**159 - 1, 2**1100):
        assert p11keygen._der_integer(value) == asn1.Integer(value).dump()


def test_key_selection_by_id_and_token_serial(softhsm):
    with Pkcs11Signer(softhsm.options("p256")) as signer:
        signer.sign(b"x")
        serial = signer._conn.shared.token.serial.decode().strip()
        expected = signer.public_key()
    options = softhsm.options("p256", key_label=None, key_id=softhsm.keys["p256"].key_id,
                              token_label=None, token_serial=serial)
    with Pkcs11Signer(options) as by_id:
        sig = by_id.sign(b"y")
        expected.verify(sig, b"y", ec.ECDSA(hashes.SHA256()))


def test_certificate_found_by_key_id_without_configuration(softhsm):
    with Pkcs11Signer(softhsm.options("rsa2048", cert=None)) as signer:
        chain = signer.certificate_chain()
    assert len(chain) == 1
    assert chain[0].subject.rfc4514_string() == "CN=jux test rsa2048,O=juxsdk tests"


# --- signing the corpus ----------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_corpus_signs_and_verifies(path, softhsm):
    report = parse_report(path.read_bytes(), source=str(path))
    with (
        Pkcs11Signer(softhsm.options("rsa2048")) as rsa_signer,
        Pkcs11Signer(softhsm.options("p256")) as ec_signer,
    ):
        signed = sign_report(report, rsa_signer)
        assert signed.data.startswith(report.data[: report.data.rindex(b"</")])
        verified = verify_report(signed.data, TrustedCertificates(list(rsa_signer.certificate_chain())))
        assert verified.canonical_hash == report.canonical_hash
        assert verified.summary == report.summary
        signed_ec = sign_report(report, ec_signer)
        verified_ec = verify_report(signed_ec.data, TrustedPublicKeys([ec_signer.public_key()]))
        assert verified_ec.signature.algorithm == "ecdsa-sha256"


@pytest.mark.interop
@pytest.mark.skipif(XMLSEC1 is None, reason="xmlsec1 not installed (apt-get install xmlsec1)")
@pytest.mark.parametrize("key", ["rsa2048", "rsa3072", "p256", "p384"])
def test_xmlsec1_verifies_hsm_signatures(softhsm, key, tmp_path):
    files = CORPUS_FILES[:: max(1, len(CORPUS_FILES) // 8)]
    with Pkcs11Signer(softhsm.options(key)) as signer:
        for path in files:
            signed = sign_report(parse_report(path.read_bytes()), signer)
            proc = xmlsec1_verify(tmp_path, signed.data, signer)
            assert proc.returncode == 0, f"{path.name}: {proc.stderr}"
        # and a tampered one is rejected by xmlsec1 too (the check can fail)
        tampered = signed.data.replace(b"<testcase ", b"<testcase x=\"1\" ", 1)
        assert tampered != signed.data
        assert xmlsec1_verify(tmp_path, tampered, signer).returncode != 0


# --- errors -------------------------------------------------------------------------------------


def _assert_clean(exc: JuxError, *secrets: str) -> None:
    text = f"{exc} {exc.hint} {exc!r}"
    for secret in secrets:
        assert secret not in text


def test_missing_python_pkcs11_gives_install_hint(softhsm, monkeypatch):
    monkeypatch.setitem(sys.modules, "pkcs11", None)
    signer = Pkcs11Signer(softhsm.options("rsa2048"))
    with pytest.raises(ConfigError) as info:
        signer.sign(b"x")
    assert "python-pkcs11" in info.value.message
    assert info.value.hint == "pip install 'juxsdk[pkcs11]'"


def test_module_not_found(softhsm, tmp_path):
    with pytest.raises(ConfigError, match="PKCS#11 module not found") as info:
        Pkcs11Signer(softhsm.options("rsa2048", module=tmp_path / "nope.so")).sign(b"x")
    assert "libsofthsm2" in info.value.hint


def test_module_not_a_library(softhsm, tmp_path):
    bogus = tmp_path / "bogus.so"
    bogus.write_text("not a shared object")
    with pytest.raises(ConfigError, match="cannot load PKCS#11 module"):
        Pkcs11Signer(softhsm.options("rsa2048", module=bogus)).sign(b"x")


def test_token_not_present_lists_available_tokens(softhsm):
    with pytest.raises(SigningError) as info:
        Pkcs11Signer(softhsm.options("rsa2048", token_label="no-such-token")).sign(b"x")
    message = info.value.message
    assert "'no-such-token' is not present" in message
    for label in (softhsm.token, softhsm.spare_token, softhsm.locked_token):
        assert repr(label) in message
    assert "''" not in message  # SoftHSM2's free, uninitialised slot is not listed
    _assert_clean(info.value, softhsm.pin)


def test_wrong_pin_is_reported_without_echo(softhsm):
    options = softhsm.options("rsa2048", token_label=softhsm.spare_token, pin=Secret(value=WRONG_PIN))
    signer = Pkcs11Signer(options)
    with pytest.raises(SigningError, match="wrong PIN for PKCS#11 token 'jux-spare'") as info:
        signer.sign(b"x")
    _assert_clean(info.value, WRONG_PIN, softhsm.pin)
    assert WRONG_PIN not in repr(signer) and WRONG_PIN not in repr(options)


def test_wrong_pin_from_env_names_the_variable_not_the_value(softhsm, monkeypatch):
    monkeypatch.setenv("JUX_TEST_PKCS11_PIN", WRONG_PIN)
    options = softhsm.options(
        "rsa2048", token_label=softhsm.spare_token, pin=Secret(env="JUX_TEST_PKCS11_PIN")
    )
    with pytest.raises(SigningError) as info:
        Pkcs11Signer(options).sign(b"x")
    assert "$JUX_TEST_PKCS11_PIN" in info.value.hint
    _assert_clean(info.value, WRONG_PIN)


def test_wrong_pin_while_another_signer_is_logged_in(softhsm, rsa_hsm):
    rsa_hsm.sign(b"log in")
    other = Pkcs11Signer(softhsm.options("p256", pin=Secret(value=WRONG_PIN)))
    with pytest.raises(SigningError, match="wrong PIN") as info:
        other.sign(b"x")
    _assert_clean(info.value, WRONG_PIN, softhsm.pin)
    rsa_hsm.sign(b"still works")


def test_locked_pin(softhsm):
    with pytest.raises(SigningError, match="PIN of PKCS#11 token 'jux-locked' is locked") as info:
        Pkcs11Signer(softhsm.options("rsa2048", token_label=softhsm.locked_token)).sign(b"x")
    assert "security officer" in info.value.hint
    _assert_clean(info.value, softhsm.pin)


@pytest.mark.parametrize(
    ("error", "match"),
    [
        ("PinLocked", "is locked"),
        ("PinIncorrect", "wrong PIN"),
        ("PinLenRange", "wrong PIN"),
        ("PinExpired", "has expired"),
        ("UserPinNotInitialized", "has no user PIN"),
        ("DeviceRemoved", "cannot log in"),
    ],
)
def test_login_errors_are_mapped(softhsm, error, match):
    """The C_Login return codes SoftHSM2 cannot produce on demand (fault injection at the mapper)."""
    import pkcs11

    options = softhsm.options("rsa2048", pin=Secret(value=WRONG_PIN))
    mapped = p11session.login_error(getattr(pkcs11, error)(), options, "tok")
    assert isinstance(mapped, SigningError)
    assert match in mapped.message
    _assert_clean(mapped, WRONG_PIN)


def test_missing_pin_asks_for_one(softhsm, rsa_hsm):
    rsa_hsm.sign(b"a logged-in session exists; a signer without PIN must still be refused")
    with pytest.raises(SecretRequiredError) as info:
        Pkcs11Signer(softhsm.options("p256", pin=None)).sign(b"x")
    assert info.value.option_path == "backends.pkcs11.pin"


def test_key_not_found_lists_keys(softhsm):
    with pytest.raises(SigningError, match="no private key with label 'nope'") as info:
        Pkcs11Signer(softhsm.options("rsa2048", key_label="nope", certificate=None)).sign(b"x")
    assert "'jux-rsa2048'" in info.value.message
    assert "jux keygen --signer pkcs11" in info.value.hint


def test_ambiguous_token_selection(softhsm):
    with pytest.raises(ConfigError, match="several PKCS#11 tokens match") as info:
        Pkcs11Signer(softhsm.options("rsa2048", token_label=None)).sign(b"x")
    assert "token_serial" in info.value.hint


def test_ambiguous_key_selection(softhsm):
    with pytest.raises(ConfigError, match="private keys match"):
        Pkcs11Signer(softhsm.options("rsa2048", key_label=None, certificate=None)).sign(b"x")


def test_certificate_label_not_found(softhsm):
    with pytest.raises(SigningError, match="no certificate labelled 'nope'"):
        Pkcs11Signer(softhsm.options("rsa2048", cert=None, certificate_label="nope")).public_key()


def test_certificate_does_not_match_key(softhsm):
    wrong = softhsm.keys["rsa3072"].certificate_pem
    with pytest.raises(ConfigError, match="does not match the PKCS#11 key 'jux-rsa2048'"):
        Pkcs11Signer(softhsm.options("rsa2048", certificate=wrong)).certificate_chain()


def test_token_certificate_does_not_match_key(softhsm):
    with pytest.raises(ConfigError, match="token's certificate object"):
        Pkcs11Signer(softhsm.options("rsa2048", cert=None, certificate_label="jux-p384")).sign(b"x")


def test_algorithm_must_fit_the_key(softhsm):
    with pytest.raises(ConfigError, match="does not fit the RSA key"):
        Pkcs11Signer(softhsm.options("rsa2048", algorithm="ecdsa-sha256")).sign(b"x")


@pytest.mark.parametrize(
    ("key", "match"),
    [("p256", "does not support CKM_ECDSA"), ("rsa2048", "CKM_SHA256_RSA_PKCS or CKM_RSA_PKCS")],
)
def test_mechanism_not_supported(softhsm, monkeypatch, key, match):
    """The token's mechanism list lacks what the key needs (the list is faked; the token is real)."""
    with Pkcs11Signer(softhsm.options(key)) as signer:
        signer.sign(b"connect")
        signer._conn.rsa_hash_mechanism_ok.clear()
        monkeypatch.setattr(signer._conn.shared, "mechanisms", frozenset({"nothing-useful"}))
        with pytest.raises(SigningError, match=match) as info:
            signer.sign(b"x")
        assert "'jux-test'" in info.value.message


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"key_id": "xyz"}, "not hexadecimal"),
        ({"algorithm": "rsa-sha1"}, "unsupported pkcs11 algorithm"),
        ({"certificate_label": "a", "certificate": Path("b.pem")}, "not both"),
    ],
)
def test_bad_options(softhsm, overrides, match):
    with pytest.raises(ConfigError, match=match):
        softhsm.options("rsa2048", cert=None, **overrides)


# --- sessions, threads, fork ----------------------------------------------------------------


def _session_count() -> int:
    return len(p11session.STATE.sessions)


def test_one_shared_session_and_idempotent_close(softhsm):
    a = Pkcs11Signer(softhsm.options("rsa2048"))
    b = Pkcs11Signer(softhsm.options("p256"))
    a.sign(b"1")
    b.sign(b"2")
    assert a._conn.shared is b._conn.shared  # one login, one session per token
    shared = a._conn.shared
    refs = shared.refs
    a.close()
    a.close()  # idempotent
    assert shared.refs == refs - 1 and not shared.closed
    b.public_key().verify(b.sign(b"3"), b"3", ec.ECDSA(hashes.SHA256()))  # b unaffected
    with b:
        pass
    b.close()
    assert a._conn is None and b._conn is None
    # a closed signer reopens on use
    a.public_key().verify(a.sign(b"4"), b"4", padding.PKCS1v15(), hashes.SHA256())
    a.close()


def test_last_close_logs_out_and_closes_the_session(softhsm):
    before = {k: s.refs for k, s in p11session.STATE.sessions.items()}
    with Pkcs11Signer(softhsm.options("rsa2048", token_label=softhsm.spare_token)) as s:
        with pytest.raises(SigningError, match="no private key"):
            s.sign(b"x")  # spare token has no keys; the session was opened and then released
    assert {k: s.refs for k, s in p11session.STATE.sessions.items()} == before


def test_reconnects_when_the_session_dies(softhsm):
    with Pkcs11Signer(softhsm.options("rsa2048")) as signer:
        signer.sign(b"connect")
        old = signer._conn.shared
        with p11session.locked():
            old.session.close()  # the session vanishes under the signer (token reset, etc.)
        sig = signer.sign(b"after")
        assert signer._conn.shared is not old and old.closed
        signer.public_key().verify(sig, b"after", padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.slow
def test_concurrent_signing_8_threads_x_50(softhsm):
    """8 threads x 50 signatures: 4 threads share one signer, 4 own one each (same token)."""
    report = parse_report(_first_small_report())
    shared_signer = Pkcs11Signer(softhsm.options("rsa2048"))
    own = [Pkcs11Signer(softhsm.options("p256" if i % 2 else "rsa3072")) for i in range(4)]
    signers = [shared_signer] * 4 + own
    results: list[list[bytes]] = [[] for _ in signers]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(signers), timeout=30)

    def work(index: int) -> None:
        try:
            barrier.wait()
            for _ in range(50):
                results[index].append(sign_report(report, signers[index]).data)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(signers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a signing thread hung"
    assert not errors, errors
    for signer, signed in zip(signers, results, strict=True):
        assert len(signed) == 50
        trust = TrustedPublicKeys([signer.public_key()])
        for data in signed:
            assert verify_report(data, trust).canonical_hash == report.canonical_hash
    for s in {id(s): s for s in signers}.values():
        s.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_signing_after_fork(softhsm):
    report = parse_report(_first_small_report())
    signer = Pkcs11Signer(softhsm.options("rsa2048"))
    parent_signed = sign_report(report, signer)  # parent is logged in with an open session
    generation = p11session.STATE.generation
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must re-initialise and open its own session
        code = 1
        try:
            os.close(read_fd)
            child_signed = sign_report(report, signer)
            out = {
                "data": child_signed.data.decode("utf-8"),
                "generation": p11session.STATE.generation,
                "pid_ok": p11session.STATE.pid == os.getpid(),
            }
            signer.close()
            os.write(write_fd, json.dumps(out).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent through the pipe
            os.write(write_fd, json.dumps({"error": repr(exc)}).encode())
        finally:
            os.close(write_fd)
            os._exit(code)
    os.close(write_fd)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    out = json.loads(b"".join(chunks) or b"{}")
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert out["generation"] == generation + 1 and out["pid_ok"]
    trust = TrustedCertificates(list(signer.certificate_chain()))
    verify_report(out["data"].encode("utf-8"), trust)
    # the parent's session survived the child's re-initialisation
    again = sign_report(report, signer)
    verify_report(again.data, trust)
    verify_report(parent_signed.data, trust)
    signer.close()


FORK_SCRIPT = """
import os, sys
from juxsdk.config import Secret
from juxsdk.junit import parse_report
from juxsdk.trust import TrustedPublicKeys
from juxsdk.xmldsig import sign_report, verify_report
from juxsdk_backends.pkcs11 import Pkcs11Options, Pkcs11Signer

module, token, label, report_path = sys.argv[1:5]
options = Pkcs11Options(module=module, token_label=token, key_label=label, pin=Secret(env="PIN"))
report = parse_report(open(report_path, "rb").read())
with Pkcs11Signer(options) as signer:
    trust = TrustedPublicKeys([signer.public_key()])
    verify_report(sign_report(report, signer).data, trust)
    pid = os.fork()
    if pid == 0:
        try:
            verify_report(sign_report(report, signer).data, trust)
        except BaseException as exc:
            print("child failed:", repr(exc), file=sys.stderr)
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "child failed"
    verify_report(sign_report(report, signer).data, trust)
print("fork ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_with_library_reset_on_fork(softhsm, tmp_path):
    """SoftHSM2 with ``library.reset_on_fork = true`` forgets its state in the child.

    The child's ``C_Finalize`` then fails with CKR_CRYPTOKI_NOT_INITIALIZED, which the signer
    ignores before ``C_Initialize`` (run in a fresh process: the config is read at initialise).
    """
    conf = tmp_path / "softhsm2-reset.conf"
    conf.write_text(softhsm.conf.read_text() + "library.reset_on_fork = true\n")
    script = tmp_path / "fork_check.py"
    script.write_text(FORK_SCRIPT)
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "PIN": softhsm.pin}
    proc = subprocess.run(
        [sys.executable, str(script), str(softhsm.module), softhsm.token, "jux-p256",
         str(sorted(SMALL.glob("*.xml"))[0])],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "fork ok"


# --- key generation and reachability ----------------------------------------------------------


def test_generated_keys_are_sensitive_and_not_extractable(softhsm):
    import pkcs11

    for name in softhsm.keys:
        with Pkcs11Signer(softhsm.options(name)) as signer:
            signer.sign(b"x")
            key = signer._conn.private_key
            with p11session.locked():
                assert key[pkcs11.Attribute.SENSITIVE] is True
                assert key[pkcs11.Attribute.EXTRACTABLE] is False
                assert key[pkcs11.Attribute.SIGN] is True
                assert key[pkcs11.Attribute.TOKEN] is True
                secret_attr = (
                    pkcs11.Attribute.PRIVATE_EXPONENT
                    if softhsm.keys[name].key_type == "rsa"
                    else pkcs11.Attribute.VALUE
                )
                with pytest.raises(pkcs11.AttributeSensitive):
                    key[secret_attr]


def test_generated_certificate_is_signed_by_the_token_key(softhsm):
    for name in ("rsa2048", "rsa3072", "p384"):
        info = softhsm.keys[name]
        with Pkcs11Signer(softhsm.options(name)) as signer:
            cert = signer.certificate_chain()[0]
            assert cert.public_bytes(serialization.Encoding.DER) == info.certificate_der
            cert.verify_directly_issued_by(cert)  # self-signed: the token key made this signature
            assert cert.subject == cert.issuer


def test_generate_refuses_an_existing_label(softhsm):
    with pytest.raises(ConfigError, match="already holds a key"):
        generate_token_key_pair(softhsm.options("rsa2048", cert=None), key_type="rsa", bits=2048)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"key_type": "dsa"}, "unsupported key type"),
        ({"key_type": "rsa", "bits": 1024}, "unsupported RSA size"),
        ({"key_type": "ec", "curve": "P-192"}, "unsupported EC curve"),
        ({"days": 0}, "at least 1 day"),
    ],
)
def test_generate_rejects_bad_arguments(softhsm, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        generate_token_key_pair(softhsm.options("rsa2048", cert=None, key_label="fresh"), **kwargs)


def test_generate_in_spare_token_and_sign(softhsm, tmp_path):
    options = Pkcs11Options(
        module=softhsm.module,
        token_label=softhsm.spare_token,
        key_label="gen-ec",
        pin=Secret(value=softhsm.pin),
    )
    made = generate_token_key_pair(
        options, key_type="ec", curve="P-256", subject="build-bot", days=7,
        certificate_out=str(tmp_path / "out" / "cert.pem"), store_certificate=False,
    )
    assert made.algorithm == "ecdsa-sha256" and not made.stored_in_token
    assert len(made.key_id) == 16
    assert made.certificate_path.read_bytes() == _pem(made.certificate)
    signer_options = Pkcs11Options(
        module=softhsm.module, token_label=softhsm.spare_token, key_label="gen-ec",
        pin=Secret(value=softhsm.pin), certificate=made.certificate_path,
    )
    with Pkcs11Signer(signer_options) as signer:
        signed = sign_report(parse_report(_first_small_report()), signer)
    verified = verify_report(signed.data, TrustedCertificates.from_pem_file(made.certificate_path))
    assert verified.signature.certificate_subject == "CN=build-bot"


def test_check_reachability_lines(softhsm):
    lines = check_reachability(softhsm.options("rsa2048"))
    text = "\n".join(lines)
    assert lines[0].startswith(f"module: {softhsm.module}")
    assert f"token: '{softhsm.token}'" in text
    assert "login: ok" in text
    assert "key: 'jux-rsa2048' (id 01, RSA 2048) -> rsa-sha256" in text
    assert "matches the key" in text
    assert lines[-1] == "test signature: ok (rsa-sha256)"
    assert softhsm.pin not in text


def test_check_reachability_raises_the_first_failure(softhsm):
    with pytest.raises(SigningError, match="wrong PIN"):
        check_reachability(softhsm.options("rsa2048", token_label=softhsm.spare_token,
                                           pin=Secret(value=WRONG_PIN)))


def test_registered_as_builtin_signer():
    from juxsdk.registry import Registry

    assert Registry().get("signer", "pkcs11").cls is Pkcs11Signer
