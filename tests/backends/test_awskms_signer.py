"""AwsKmsSigner against moto's standalone KMS server on loopback (tests/kmssupport.py).

The signer reaches moto exactly as it reaches AWS: boto3's standard credential chain and
``AWS_ENDPOINT_URL_KMS`` from the environment. What moto cannot produce (throttling, access
denied, expired credentials, AWS refusing to sign with a disabled key) goes through a real HTTP
fault proxy that answers with AWS's JSON errors, so botocore's retry and parsing run for real.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from juxsdk.errors import ConfigError, JuxError, SigningError
from juxsdk.junit import parse_report
from juxsdk.testing import SignerContract
from juxsdk.trust import TrustedCertificates, TrustedPublicKeys
from juxsdk.xmldsig import sign_report, verify_report
from juxsdk_backends.awskms import AwsKmsOptions, AwsKmsSigner, generate_kms_key
from juxsdk_backends.awskms import signer as kms_signer_module
from tests.conftest import CORPUS, good_corpus
from tests.kmssupport import SECRETS, FaultProxy, kms_server

XMLSEC1 = shutil.which("xmlsec1")
CORPUS_FILES = good_corpus()


@pytest.fixture(scope="module")
def kms():
    return kms_server()


@pytest.fixture(scope="module")
def module_env(kms):
    """The standard AWS chain points at moto (module-wide: the contract's signers live per class)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in kms.env().items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
            mp.delenv(name, raising=False)
        yield
    kms_signer_module._CACHE.clear()


@pytest.fixture(autouse=True)
def aws_env(module_env):
    """Every test runs with the module's AWS environment (tests may change it with monkeypatch).

    The per-process key cache is keyed by endpoint: a test behind a fresh FaultProxy (its own
    port) always starts with a cold cache.
    """


@pytest.fixture
def proxy(kms, monkeypatch):
    fault = FaultProxy(kms.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", fault.url)
    yield fault
    fault.close()


def _signer(key_id: str, **options) -> AwsKmsSigner:
    return AwsKmsSigner(AwsKmsOptions(key_id=key_id, **options))


def _assert_clean(exc: JuxError) -> None:
    text = f"{exc} {exc.hint} {exc!r}"
    for secret in SECRETS:
        assert secret not in text


def _small_report() -> bytes:
    return sorted((CORPUS / "raw" / "pytest").glob("*.xml"))[0].read_bytes()


# --- the shared Signer contract --------------------------------------------------------------


class TestAwsKmsSignerContract(SignerContract):
    @pytest.fixture(scope="class", params=["rsa2048", "p384", "p256-cert"])
    @classmethod
    def signer(cls, request, kms, module_env, tmp_path_factory):
        name, _, variant = request.param.partition("-")
        signer = _signer(kms.keys[name].alias)
        if variant == "cert":
            cert = tmp_path_factory.mktemp("kms") / "kms-cert.pem"
            generate_kms_key(signer, subject="CN=kms contract", days=2, certificate_out=cert)
            signer = _signer(kms.keys[name].alias, certificate=cert)
        yield signer
        signer.close()

    @pytest.fixture
    def secret_values(self):
        return list(SECRETS)


# --- keys, algorithms, round trips ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "algorithm", "size_or_curve"),
    [("rsa2048", "rsa-sha256", 2048), ("rsa4096", "rsa-sha256", 4096),
     ("p256", "ecdsa-sha256", "secp256r1"), ("p384", "ecdsa-sha384", "secp384r1")],
)
def test_algorithm_from_key_metadata(kms, name, algorithm, size_or_curve):
    with _signer(kms.keys[name].alias) as signer:
        assert signer.algorithm == algorithm
        public = signer.public_key()
        expected = serialization.load_der_public_key(kms.client.get_public_key(KeyId=kms.keys[name].key_id)["PublicKey"])
        assert public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == (
            expected.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        if isinstance(public, rsa.RSAPublicKey):
            assert public.key_size == size_or_curve
        else:
            assert public.curve.name == size_or_curve


@pytest.mark.parametrize("algorithm", ["rsa-sha384", "rsa-sha512"])
def test_configured_rsa_algorithms_verify(kms, algorithm):
    with _signer(kms.keys["rsa4096"].arn, algorithm=algorithm) as signer:
        signed = sign_report(parse_report(_small_report()), signer)
        assert verify_report(signed.data, TrustedPublicKeys([signer.public_key()])).signature.algorithm == algorithm


def test_ecdsa_signature_is_der(kms):
    with _signer(kms.keys["p384"].alias) as signer:
        sig = signer.sign(b"SignedInfo")
        assert sig[0] == 0x30
        signer.public_key().verify(sig, b"SignedInfo", ec.ECDSA(hashes.SHA384()))


@pytest.mark.parametrize("how", ["key_id", "arn", "alias", "alias_arn"])
def test_key_by_id_arn_alias_and_alias_arn(kms, how):
    key = kms.keys["p256"]
    key_ref = {
        "key_id": key.key_id,
        "arn": key.arn,
        "alias": key.alias,
        "alias_arn": key.arn.split(":key/")[0] + ":" + key.alias,
    }[how]
    with _signer(key_ref) as signer:
        signer.public_key().verify(signer.sign(b"x"), b"x", ec.ECDSA(hashes.SHA256()))


def test_public_key_cached_per_process_and_one_round_trip_per_signature(kms, proxy):
    key = kms.keys["rsa2048"].alias
    report = parse_report(_small_report())
    with _signer(key) as a, _signer(key) as b:
        for signer in (a, b, a):
            sign_report(report, signer)
    assert proxy.calls["GetPublicKey"] == 1 and proxy.calls["DescribeKey"] == 1
    assert proxy.calls["Sign"] == 3  # one network round trip per report


def test_large_message_is_signed_as_digest(kms, proxy):
    """Over 4096 bytes the message is hashed locally (MessageType=DIGEST; moto hashes it again)."""
    with _signer(kms.keys["rsa2048"].alias) as signer:
        raw = signer.sign(b"a" * 4096)
        signer.public_key().verify(raw, b"a" * 4096, padding.PKCS1v15(), hashes.SHA256())
        signer.sign(b"a" * 4097)  # accepted by KMS; verifies on AWS, not against moto's double hash
    assert proxy.calls["Sign"] == 2


@pytest.mark.parametrize("path", CORPUS_FILES[:: max(1, len(CORPUS_FILES) // 12)],
                         ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_corpus_signs_and_verifies(kms, path):
    report = parse_report(path.read_bytes(), source=str(path))
    for name in ("rsa2048", "p384"):
        with _signer(kms.keys[name].alias) as signer:
            signed = sign_report(report, signer)
            verified = verify_report(signed.data, TrustedPublicKeys([signer.public_key()]))
            assert verified.canonical_hash == report.canonical_hash


@pytest.mark.interop
@pytest.mark.skipif(XMLSEC1 is None, reason="xmlsec1 not installed (apt-get install xmlsec1)")
@pytest.mark.parametrize("name", ["rsa2048", "rsa4096", "p256", "p384"])
def test_xmlsec1_verifies_kms_signatures_with_get_public_key(kms, name, tmp_path):
    """xmlsec1 checks the signature with the key KMS hands out (GetPublicKey), not ours."""
    der = kms.client.get_public_key(KeyId=kms.keys[name].key_id)["PublicKey"]
    pem = tmp_path / "kms-pub.pem"
    pem.write_bytes(
        serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with _signer(kms.keys[name].alias) as signer:
        signed = sign_report(parse_report(_small_report()), signer)
    doc = tmp_path / "signed.xml"
    doc.write_bytes(signed.data)
    proc = subprocess.run([XMLSEC1, "--verify", "--pubkey-pem", str(pem), str(doc)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    doc.write_bytes(signed.data.replace(b"<testcase ", b'<testcase x="1" ', 1))
    proc = subprocess.run([XMLSEC1, "--verify", "--pubkey-pem", str(pem), str(doc)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0


# --- keygen and check --------------------------------------------------------------------------


def test_keygen_for_an_existing_key_makes_certificate_and_csr(kms, tmp_path):
    with _signer(kms.keys["p384"].alias) as signer:
        made = generate_kms_key(signer, subject="CN=kms-bot,O=Example", days=10,
                                certificate_out=tmp_path / "c.pem", csr_out=tmp_path / "r.csr")
    assert not made.created and made.key_spec == "ECC_NIST_P384" and made.algorithm == "ecdsa-sha384"
    cert = x509.load_pem_x509_certificate(made.certificate_path.read_bytes())
    cert.verify_directly_issued_by(cert)  # the KMS key made this signature
    csr = x509.load_pem_x509_csr(made.csr_path.read_bytes())
    assert csr.is_signature_valid and csr.subject == cert.subject
    assert csr.public_key() == cert.public_key() == signer.public_key()
    with _signer(kms.keys["p384"].alias, certificate=made.certificate_path) as with_cert:
        signed = sign_report(parse_report(_small_report()), with_cert)
    verified = verify_report(signed.data, TrustedCertificates.from_pem_file(made.certificate_path))
    assert verified.signature.certificate_subject == "CN=kms-bot,O=Example"


def test_keygen_creates_a_key_for_a_new_alias(kms, tmp_path):
    alias = f"alias/jux-new-{tmp_path.name[-12:]}"
    with _signer(alias) as signer:
        made = generate_kms_key(signer, key_type="rsa", bits=2048, subject="new", days=1)
    assert made.created and made.key_spec == "RSA_2048"
    assert kms.client.describe_key(KeyId=alias)["KeyMetadata"]["Arn"] == made.key_arn


def test_keygen_refuses_an_unknown_key_id(kms):
    with _signer("1234abcd-12ab-34cd-56ef-1234567890ab") as signer, pytest.raises(ConfigError, match="does not exist"):
        generate_kms_key(signer)


def test_check_lines(kms):
    with _signer(kms.keys["rsa2048"].alias) as signer:
        lines = signer.check()
    text = "\n".join(lines)
    assert lines[0].startswith(f"endpoint: {kms.url}")
    assert f"key: {kms.keys['rsa2048'].arn} (RSA_2048, SIGN_VERIFY, Enabled) -> rsa-sha256" in text
    assert lines[-1].startswith("test signature: ok (rsa-sha256")
    assert all(s not in text for s in SECRETS)


# --- errors provoked on the server -----------------------------------------------------------------


def test_disabled_key(kms):
    key = kms.create_key("ECC_NIST_P256")
    kms.client.disable_key(KeyId=key.key_id)
    with pytest.raises(SigningError, match="is disabled") as info:
        _signer(key.key_id).sign(b"x")
    assert "enable-key" in info.value.hint
    _assert_clean(info.value)


def test_key_pending_deletion(kms):
    key = kms.create_key("RSA_2048")
    kms.client.schedule_key_deletion(KeyId=key.key_id, PendingWindowInDays=7)
    with pytest.raises(SigningError, match="scheduled for deletion") as info:
        _signer(key.arn).sign(b"x")
    assert "cancel-key-deletion" in info.value.hint


@pytest.mark.parametrize("spec", ["SYMMETRIC_DEFAULT", "RSA_2048"])
def test_encrypt_decrypt_key_is_wrong_usage(kms, spec):
    key = kms.create_key(spec, usage="ENCRYPT_DECRYPT")
    with pytest.raises(ConfigError, match="ENCRYPT_DECRYPT, not SIGN_VERIFY") as info:
        _signer(key.key_id).sign(b"x")
    assert "SIGN_VERIFY key" in info.value.hint


def test_unsupported_key_spec(kms):
    key = kms.create_key("ECC_SECG_P256K1")
    with pytest.raises(ConfigError, match="ECC_SECG_P256K1, which XMLDSig signing does not support"):
        _ = _signer(key.key_id).algorithm


def test_key_not_found(kms):
    with pytest.raises(SigningError, match="does not exist") as info:
        _signer("alias/no-such-key").sign(b"x")
    assert "region" in info.value.hint


def test_algorithm_must_fit_the_key(kms):
    with pytest.raises(ConfigError, match="does not fit the RSA_2048 key"):
        _ = _signer(kms.keys["rsa2048"].alias, algorithm="ecdsa-sha256").algorithm


def test_endpoint_unreachable_after_the_server_stopped(monkeypatch):
    from tests.kmssupport import ACCESS_KEY, SECRET_KEY
    from tests.s3support import kms_client, start_moto_server

    server, url = start_moto_server()
    key = kms_client(url, ACCESS_KEY, SECRET_KEY).create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", url)
    signer = _signer(key["KeyMetadata"]["KeyId"], max_attempts=1, connect_timeout=2)
    signer.sign(b"works")
    server.stop()
    with pytest.raises(SigningError, match=f"cannot reach KMS at {url}") as info:
        signer.sign(b"x")
    assert "endpoint_url" in info.value.hint
    _assert_clean(info.value)


def test_throttling_is_retried_with_backoff_then_succeeds(kms, proxy):
    with _signer(kms.keys["p256"].alias, max_attempts=3) as signer:
        signer.public_key()
        proxy.fail("Sign", "ThrottlingException", times=2)
        sig = signer.sign(b"x")
    signer.public_key().verify(sig, b"x", ec.ECDSA(hashes.SHA256()))
    assert proxy.calls["Sign"] == 3


def test_throttling_past_max_attempts(kms, proxy):
    proxy.fail("Sign", "ThrottlingException")
    with _signer(kms.keys["p256"].alias, max_attempts=2) as signer, pytest.raises(SigningError) as info:
        signer.sign(b"x")
    assert "throttled" in info.value.message and "after 2 attempts" in info.value.message
    assert "max_attempts" in info.value.hint
    assert proxy.calls["Sign"] == 2


@pytest.mark.parametrize(
    ("action", "code", "error", "needle", "hint"),
    [
        ("Sign", "AccessDeniedException", SigningError, "access denied: kms:Sign", "kms:Sign"),
        ("GetPublicKey", "AccessDeniedException", SigningError, "access denied: kms:GetPublicKey", "key policy"),
        ("Sign", "ExpiredTokenException", SigningError, "credentials have expired", "aws sso login"),
        ("*", "UnrecognizedClientException", SigningError, "rejected the credentials", "AWS_ACCESS_KEY_ID"),
        ("Sign", "DisabledException", SigningError, "is disabled", "enable-key"),
        ("Sign", "KMSInvalidStateException", SigningError, "pending deletion", "cancel-key-deletion"),
        ("Sign", "InvalidKeyUsageException", ConfigError, "key usage is not SIGN_VERIFY", "SIGN_VERIFY key"),
        ("Sign", "KMSInternalException", SigningError, "temporarily unavailable", "try again"),
    ],
)
def test_aws_errors_are_mapped(kms, proxy, action, code, error, needle, hint):
    """AWS's answers that moto does not give (Sign on a disabled key, IAM, STS expiry), through the proxy."""
    proxy.fail(action, code)
    with _signer(kms.keys["p256"].alias, max_attempts=1) as signer, pytest.raises(error) as info:
        signer.sign(b"x")
    assert type(info.value) is error
    assert needle in info.value.message and hint in info.value.hint
    _assert_clean(info.value)


def test_describe_key_denied_is_tolerated(kms, proxy):
    """kms:DescribeKey is optional: without it the key state shows up at Sign."""
    proxy.fail("DescribeKey", "AccessDeniedException")
    with _signer(kms.keys["p256"].alias) as signer:
        signer.sign(b"x")
        assert "state not readable" in "\n".join(signer.check())


def test_no_credentials(kms, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    with pytest.raises(SigningError, match="no usable AWS credentials") as info:
        _signer(kms.keys["p256"].alias, max_attempts=1).sign(b"x")
    assert "AWS_PROFILE" in info.value.hint


def test_no_region(kms, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError, match="no AWS region"):
        _signer(kms.keys["p256"].alias).sign(b"x")


def test_explicit_credentials_are_never_printed(kms, proxy):
    from juxsdk.config import Secret

    proxy.fail("Sign", "AccessDeniedException")
    signer = _signer(kms.keys["p256"].alias, max_attempts=1, access_key_id=Secret(value="AKIAEXPLICIT0000"),
                     secret_access_key=Secret(value="explicit-secret-value-xyz"))
    with pytest.raises(SigningError) as info:
        signer.sign(b"x")
    assert "explicit-secret-value-xyz" not in f"{info.value} {info.value.hint} {signer!r}"


def test_missing_boto3_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError, match="needs boto3") as info:
        _signer("alias/x")
    assert info.value.hint == "pip install 'juxsdk[aws]'"


@pytest.mark.parametrize(
    ("options", "match"),
    [({"key_id": " "}, "key_id is empty"), ({"key_id": "k", "algorithm": "rsa-sha1"}, "unsupported awskms algorithm"),
     ({"key_id": "k", "access_key_id": "x"}, "must be given together")],
)
def test_bad_options(options, match):
    from juxsdk.config import Secret

    if "access_key_id" in options:
        options["access_key_id"] = Secret(value="AKIA")
    with pytest.raises(ConfigError, match=match):
        AwsKmsOptions(**options)


def test_registered_as_builtin_signer():
    from juxsdk.registry import Registry

    assert Registry().get("signer", "awskms").cls is AwsKmsSigner


def test_module_does_not_import_boto3_until_used():
    code = "import sys, juxsdk_backends.awskms, juxsdk_backends.sslib; print('boto3' in sys.modules, 'securesystemslib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


