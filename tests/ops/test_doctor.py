"""`jux doctor` against each broken setup it claims to detect (real components: the reference Jux API
server, moto's S3 server, SoftHSM2, real certificates), and its hook for third-party checks."""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
from pathlib import Path

import pytest

from juxsdk.testing.server import JuxApiServer
from tests import pki
from tests.cli.conftest import Jux

TOKEN = "doctor-token-8c1f2a"


@pytest.fixture
def jux(workdir: Path) -> Jux:
    return Jux(workdir)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    monkeypatch.chdir(wd)
    return wd


@pytest.fixture
def server():
    with JuxApiServer(tokens={TOKEN}) as srv:
        yield srv


def _keys(tmp_path: Path, *, not_after: dt.datetime | None = None, other_key: bool = False) -> tuple[Path, Path]:
    key = pki.new_key("p256")
    cert_key = pki.new_key("p256") if other_key else key
    now = dt.datetime.now(dt.UTC)
    cert = pki.make_cert(cert_key, "doctor signer", not_before=now - dt.timedelta(days=400),
                         not_after=not_after or now + dt.timedelta(days=365))
    return pki.write_key(tmp_path / "signing-key.pem", key), pki.write_certs(tmp_path / "signing-cert.pem", cert)


def _config(workdir: Path, key: Path, cert: Path, *, url: str | None = None, root: Path | None = None,
            extra: str = "") -> None:
    text = f'signer = "file"\nstores = ["filesystem"]\n[backends.file]\nkey = "{key}"\ncertificate = "{cert}"\n'
    text += f'[backends.filesystem]\nroot = "{root or workdir / "reports"}"\n'
    if url is not None:
        text = 'publishers = ["http"]\nstorage_mode = "cache"\n' + text
        text += (f'[backends.http]\nurl = "{url}"\ntoken = {{ env = "JUX_API_TOKEN" }}\nmax_attempts = 1\n'
                 'total_deadline = 5.0\ntimeout_connect = 2.0\n')
    (workdir / "jux.toml").write_text(text + extra, encoding="utf-8")


def _doctor(jux: Jux) -> tuple[int, dict[str, dict]]:
    result = jux("doctor", "--json")
    assert "Traceback" not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["exit_code"] == result.exit_code
    return result.exit_code, {c["check"]: c for c in data["checks"]}


def test_healthy_setup(jux, workdir, tmp_path, server, monkeypatch):
    monkeypatch.setenv("JUX_API_TOKEN", TOKEN)
    key, cert = _keys(tmp_path)
    _config(workdir, key, cert, url=server.url)
    (workdir / "reports").mkdir(mode=0o700)
    code, checks = _doctor(jux)
    assert code == 0, checks
    assert {c["status"] for c in checks.values()} <= {"ok", "skip"}, checks
    assert "matches the key" in checks["signer.file.certificate"]["message"]
    assert checks["signer.file.certificate"]["details"]["days_left"] in (364, 365)
    assert "verified" in checks["signer.file.signature"]["message"]
    assert "token accepted" in checks["publisher.http.endpoint"]["message"]
    assert "written" in checks["store.filesystem.writable"]["message"]
    assert "ahead of" in checks["clock"]["message"] or "behind" in checks["clock"]["message"]
    assert checks["outbox"]["details"] == {"queued": 0, "dead": 0, "oldest_age_seconds": 0}
    assert str(workdir / "jux.toml") in checks["config"]["message"]
    assert server.submissions == []  # nothing was submitted
    assert not list((workdir / "reports").iterdir())  # the probe was removed
    text = jux("doctor")
    assert text.exit_code == 0 and "healthy: " in text.stdout and "0 failed" in text.stdout
    assert TOKEN not in text.stdout + text.stderr


def test_expired_and_expiring_certificates(jux, workdir, tmp_path):
    now = dt.datetime.now(dt.UTC)
    key, cert = _keys(tmp_path, not_after=now - dt.timedelta(days=2))
    _config(workdir, key, cert)
    code, checks = _doctor(jux)
    assert code == 1
    found = checks.get("signer.file.certificate") or checks["signer.file"]
    assert found["status"] == "fail" and "expired" in found["message"], found

    key, cert = _keys(tmp_path, not_after=now + dt.timedelta(days=10, hours=1))
    code, checks = _doctor(jux)
    assert code == 0  # a warning is not a failure
    found = checks["signer.file.certificate"]
    assert found["status"] == "warn" and found["details"]["days_left"] == 10
    assert "renew" in found["hint"]
    text = jux("doctor")
    assert "warn " in text.stdout and "hint: renew" in text.stdout


def test_mismatched_certificate(jux, workdir, tmp_path):
    key, cert = _keys(tmp_path, other_key=True)
    _config(workdir, key, cert)
    code, checks = _doctor(jux)
    assert code == 1
    found = checks.get("signer.file.certificate") or checks["signer.file"]
    assert found["status"] == "fail" and "does not match" in found["message"], found


def test_broken_chain(jux, workdir, tmp_path):
    ca_key, other_ca_key, key = pki.new_key("p256"), pki.new_key("p256"), pki.new_key("p256")
    ca = pki.make_cert(ca_key, "doctor CA", ca=True)
    stranger = pki.make_cert(other_ca_key, "unrelated CA", ca=True)
    leaf = pki.make_cert(key, "doctor leaf", issuer_key=ca_key, issuer_cert=ca)
    key_path = pki.write_key(tmp_path / "k.pem", key)
    _config(workdir, key_path, pki.write_certs(tmp_path / "good.pem", leaf, ca))
    assert _doctor(jux)[1]["signer.file.chain"]["status"] == "ok"
    _config(workdir, key_path, pki.write_certs(tmp_path / "bad.pem", leaf, stranger))
    code, checks = _doctor(jux)
    found = checks.get("signer.file.chain") or checks["signer.file"]
    assert code == 1 and found["status"] == "fail", found


def test_unwritable_store(jux, workdir, tmp_path):
    key, cert = _keys(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    _config(workdir, key, cert, root=blocker / "reports")
    code, checks = _doctor(jux)
    assert code == 1
    assert checks["store.filesystem.root"]["status"] == "fail", checks["store.filesystem.root"]


@pytest.mark.skipif(sys.platform == "win32" or __import__("os").geteuid() == 0,
                    reason="root writes through any mode bits")
def test_read_only_store_root(jux, workdir, tmp_path):
    key, cert = _keys(tmp_path)
    root = tmp_path / "ro"
    root.mkdir(mode=0o500)
    _config(workdir, key, cert, root=root)
    code, checks = _doctor(jux)
    assert code == 1 and checks["store.filesystem.writable"]["status"] == "fail"


def test_stopped_server_and_wrong_token(jux, workdir, tmp_path, monkeypatch):
    key, cert = _keys(tmp_path)
    monkeypatch.setenv("JUX_API_TOKEN", "not-the-token-31a")
    with JuxApiServer(tokens={TOKEN}) as srv:
        _config(workdir, key, cert, url=srv.url)
        code, checks = _doctor(jux)
        assert code == 1
        found = checks["publisher.http.endpoint"]
        assert found["status"] == "fail" and "token was refused" in found["message"], found
        assert "not-the-token-31a" not in json.dumps(checks)
        assert srv.submissions == []
    code, checks = _doctor(jux)  # the server is stopped now
    found = checks["publisher.http.endpoint"]
    assert code == 1 and found["status"] == "fail" and "cannot reach" in found["message"], found
    assert "server running" in found["hint"]


def test_missing_token_variable(jux, workdir, tmp_path, server, monkeypatch):
    monkeypatch.delenv("JUX_API_TOKEN", raising=False)
    key, cert = _keys(tmp_path)
    _config(workdir, key, cert, url=server.url)
    code, checks = _doctor(jux)
    found = checks["publisher.http.endpoint"]
    assert code == 1 and "JUX_API_TOKEN" in found["message"], found


def test_configuration_errors_exit_2(jux, workdir, tmp_path):
    (workdir / "jux.toml").write_text('signer = "file"\nno_such_key = 1\n', encoding="utf-8")
    result = jux("doctor", "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["checks"][0]["check"] == "config" and "no_such_key" in data["checks"][0]["message"]
    (workdir / "jux.toml").write_text('signer = "no-such-signer"\n', encoding="utf-8")
    result = jux("doctor")
    assert result.exit_code == 2 and "no-such-signer" in result.stdout


def test_circuit_state_and_outbox_backlog(jux, workdir, tmp_path, corpus_dir, monkeypatch):
    monkeypatch.setenv("JUX_API_TOKEN", TOKEN)
    key, cert = _keys(tmp_path)
    with JuxApiServer(tokens={TOKEN}) as srv:
        url = srv.url
    _config(workdir, key, cert, url=url, extra="[circuit_breaker]\nfailure_threshold = 2\ncooldown = 60\n")
    from juxsdk.breaker import reset_breakers

    reset_breakers()
    files = sorted((corpus_dir / "raw/generic").glob("*.xml"))[:3]
    result = jux("submit", *files)
    assert result.exit_code == 0, result.stdout + result.stderr
    code, checks = _doctor(jux)
    assert code == 1  # the server is down
    circuit = checks["publisher.http.circuit"]
    assert circuit["status"] == "warn" and circuit["details"]["state"] == "open", circuit
    assert checks["outbox"]["details"]["queued"] == 3
    reset_breakers()


def test_third_party_checks_through_the_hook(jux, workdir, tmp_path, monkeypatch):
    plugin = tmp_path / "plugins" / "doctor_plugin_demo.py"
    plugin.parent.mkdir()
    plugin.write_text(textwrap.dedent("""
        from juxsdk.doctor import Check, fail, ok
        from juxsdk.plugin import hookimpl

        @hookimpl
        def juxsdk_doctor_checks(kind, name, backend, config):
            if kind != "store":
                return None
            def boom():
                raise RuntimeError("secret-ish text that must not be shown")
            return [Check("store.demo.quota", lambda: ok("quota fine", used=3)),
                    Check("store.demo.boom", boom),
                    Check("store.demo.bad", lambda: fail("replica down", "restart the replica"))]
    """), encoding="utf-8")
    monkeypatch.syspath_prepend(str(plugin.parent))
    monkeypatch.setenv("JUXSDK_PLUGINS", "doctor_plugin_demo")
    key, cert = _keys(tmp_path)
    _config(workdir, key, cert)
    code, checks = _doctor(jux)
    assert code == 1
    assert checks["store.demo.quota"]["status"] == "ok" and checks["store.demo.quota"]["details"] == {"used": 3}
    assert checks["store.demo.boom"]["message"] == "check crashed (RuntimeError)"
    assert checks["store.demo.bad"]["hint"] == "restart the replica"
    assert "store.filesystem.writable" in checks  # the built-in checks still run



def test_s3_bucket_probe_and_stopped_moto(jux, workdir, tmp_path, monkeypatch):
    import boto3

    from tests.s3support import start_moto

    monkeypatch.setenv("JUX_TEST_S3_KEY", "doctorkey")
    monkeypatch.setenv("JUX_TEST_S3_SECRET", "doctorsecret")
    server, url = start_moto("doctor-bucket", "doctorkey", "doctorsecret")
    key, cert = _keys(tmp_path)
    s3 = (f'[backends.s3]\nbucket = "doctor-bucket"\nprefix = "ci"\nendpoint_url = "{url}"\nregion = "us-east-1"\n'
          'addressing_style = "path"\naccess_key_id = { env = "JUX_TEST_S3_KEY" }\n'
          'secret_access_key = { env = "JUX_TEST_S3_SECRET" }\nmax_attempts = 1\n')
    _config(workdir, key, cert, extra=s3)
    text = (workdir / "jux.toml").read_text().replace('stores = ["filesystem"]', 'stores = ["s3"]')
    (workdir / "jux.toml").write_text(text)
    try:
        code, checks = _doctor(jux)
        assert code == 0, checks
        assert checks["store.s3.bucket"]["status"] == "ok"
        assert "conditional put" in checks["store.s3.write"]["message"]
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="doctorkey",
                              aws_secret_access_key="doctorsecret")
        assert client.list_objects_v2(Bucket="doctor-bucket").get("KeyCount", 0) == 0  # probe deleted
    finally:
        server.stop()
    code, checks = _doctor(jux)
    assert code == 1
    assert checks["store.s3.bucket"]["status"] == "fail" and "doctorsecret" not in json.dumps(checks)


@pytest.mark.softhsm
def test_pkcs11_token_and_missing_pin_variable(jux, workdir, tmp_path, monkeypatch):
    from tests.softhsm import softhsm_environment

    hsm = softhsm_environment()
    monkeypatch.setenv("JUX_PKCS11_PIN", hsm.pin)
    (workdir / "jux.toml").write_text('signer = "pkcs11"\n' + hsm.toml_table("rsa2048"), encoding="utf-8")
    code, checks = _doctor(jux)
    assert code == 0, checks
    assert checks["signer.pkcs11.pin"]["status"] == "ok"
    assert checks["signer.pkcs11.signature"]["status"] == "ok"
    assert hsm.pin not in json.dumps(checks)
    monkeypatch.delenv("JUX_PKCS11_PIN")
    code, checks = _doctor(jux)
    assert code == 1
    found = checks["signer.pkcs11.pin"]
    assert found["status"] == "fail" and "JUX_PKCS11_PIN" in found["message"], found
    assert "export JUX_PKCS11_PIN" in found["hint"]


def test_kms_key_reachable_then_server_stopped(jux, workdir, monkeypatch):
    from juxsdk_backends.awskms import signer as kms_signer_module
    from tests.kmssupport import ACCESS_KEY, SECRET_KEY, SECRETS, KmsServer
    from tests.s3support import kms_client, start_moto_server

    server, url = start_moto_server()
    env = KmsServer(server=server, url=url, client=kms_client(url, ACCESS_KEY, SECRET_KEY)).env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key_id = kms_client(url, ACCESS_KEY, SECRET_KEY).create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")[
        "KeyMetadata"]["KeyId"]
    (workdir / "jux.toml").write_text(
        f'signer = "awskms"\nstores = []\n[backends.awskms]\nkey_id = "{key_id}"\nmax_attempts = 1\n', encoding="utf-8")
    kms_signer_module._CACHE.clear()
    try:
        code, checks = _doctor(jux)
        assert code == 0, checks
        assert key_id in checks["signer.awskms.signature"]["message"]
    finally:
        server.stop()
    kms_signer_module._CACHE.clear()
    code, checks = _doctor(jux)
    found = checks.get("signer.awskms.signature") or checks["signer.awskms"]
    assert code == 1 and found["status"] == "fail" and "cannot reach KMS" in found["message"], found
    assert not any(secret in json.dumps(checks) for secret in SECRETS)
    kms_signer_module._CACHE.clear()


def test_untrusted_tls_certificate(jux, workdir, tmp_path, monkeypatch):
    """The reference server behind TLS with a self-signed certificate the client does not trust."""
    import ssl

    monkeypatch.setenv("JUX_API_TOKEN", TOKEN)
    server_key = pki.new_key("p256")
    cert_path = pki.write_certs(tmp_path / "server-cert.pem", pki.make_cert(server_key, "127.0.0.1"))
    key_path = pki.write_key(tmp_path / "server-key.pem", server_key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    key, cert = _keys(tmp_path)
    with JuxApiServer(tokens={TOKEN}) as srv:
        srv._httpd.socket = ctx.wrap_socket(srv._httpd.socket, server_side=True)
        _config(workdir, key, cert, url=srv.url.replace("http://", "https://"))
        code, checks = _doctor(jux)
    found = checks["publisher.http.endpoint"]
    assert code == 1 and found["status"] == "fail" and "TLS verification" in found["message"], found
    assert "ca_bundle" in found["hint"]


def test_dead_letters_in_the_outbox_are_a_warning_with_the_command_that_shows_them(
        jux, workdir, tmp_path, corpus_dir, monkeypatch):
    """Reports whose attempts ran out are dead letters; doctor counts them and says what to run."""
    monkeypatch.setenv("JUX_API_TOKEN", TOKEN)
    key, cert = _keys(tmp_path)
    with JuxApiServer(tokens={TOKEN}) as srv:
        url = srv.url  # stopped on exit: every publish fails
    _config(workdir, key, cert, url=url,
            extra="[outbox]\nmax_attempts = 1\n[circuit_breaker]\nenabled = false\n")
    files = sorted((corpus_dir / "raw/generic").glob("*.xml"))[:2]
    jux("submit", *files)
    jux("publish", "--queue", "--now")
    _, checks = _doctor(jux)
    outbox = checks["outbox"]
    assert outbox["status"] == "warn", outbox
    assert outbox["details"]["dead"] == 2 and outbox["details"]["queued"] == 0, outbox
    assert "jux queue list" in outbox["hint"] and "2 dead letters" in outbox["message"]
