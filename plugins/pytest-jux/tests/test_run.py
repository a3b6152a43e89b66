"""Real runs with the plugin (pytester, in-process), real keys, real signatures, real store."""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

import pytest

from juxsdk.errors import DigestMismatchError
from juxsdk.testing.server import JuxApiServer
from juxsdk.trust import TrustedCertificates
from juxsdk.xmldsig import verify_report

from .conftest import stored_reports

SUITE = """
import pytest

def test_one(): pass
def test_two(): assert 1 + 1 == 2

@pytest.mark.skip(reason="demo")
def test_skipped(): pass
"""


def sign_args(keypair: tuple[Path, Path]) -> list[str]:
    key, cert = keypair
    # The "=" form: pytest decides the rootdir before plugin options are known, so a separate
    # value ("--jux-key /keys/k.pem") would count as a path argument and move the rootdir.
    return ["--jux", f"--jux-key={key}", f"--jux-cert={cert}"]


def trust(keypair: tuple[Path, Path]) -> TrustedCertificates:
    return TrustedCertificates.from_pem_file(keypair[1])


def props(data: bytes) -> dict[str, str]:
    from juxsdk.junit import parse_report

    return dict(parse_report(data).properties)


def test_disabled_by_default_leaves_junitxml_alone(pytester: pytest.Pytester, jux_env: dict[str, Path]) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--junitxml=out.xml")
    assert result.ret == 0
    assert b"Signature" not in (pytester.path / "out.xml").read_bytes()
    result.stdout.no_fnmatch_line("*- jux -*")
    assert stored_reports(jux_env["data"]) == []


def test_junitxml_is_signed_in_place_and_verifies_from_disk(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--junitxml=reports/out.xml", *sign_args(keypair))
    assert result.ret == 0
    data = (pytester.path / "reports" / "out.xml").read_bytes()
    verified = verify_report(data, trust(keypair))
    assert (verified.summary.tests, verified.summary.skipped) == (3, 1)
    # The store holds exactly the bytes written to --junitxml.
    (stored,) = stored_reports(jux_env["data"])
    assert stored.read_bytes() == data
    result.stdout.fnmatch_lines([
        "*- jux -*",
        "signed by: CN=pytest-jux tests (rsa-sha256)",
        f"canonical hash: {verified.canonical_hash}",
        f"stored: filesystem: {stored}",
        "published: no (storage mode local)",
    ])
    # No temporary file is left next to the report.
    assert [p.name for p in (pytester.path / "reports").iterdir()] == ["out.xml"]


def test_without_junitxml_the_plugin_writes_and_stores_a_signed_report(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    pytester.makepyfile(SUITE + "\ndef test_suite_prop(record_testsuite_property):\n"
                        "    record_testsuite_property('rig', 'r-7')\n")
    result = pytester.runpytest(*sign_args(keypair))
    assert result.ret == 0
    (stored,) = stored_reports(jux_env["data"])
    verified = verify_report(stored.read_bytes(), trust(keypair))
    assert verified.summary.tests == 4
    # pytest's own format, including record_testsuite_property.
    assert stored.read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<testsuites")
    assert b'<testsuite name="pytest" ' in stored.read_bytes()  # junit_suite_name's default
    assert dict(verified.properties)["rig"] == "r-7"
    # pytest's junitxml plugin wrote the file (it names it); the jux section says it is not kept,
    # and it is gone after the run.
    result.stdout.fnmatch_lines([
        "*generated xml file: *pytest-jux-*junit.xml*",
        "*- jux -*",
        "report: not kept (no --junitxml: pytest wrote a temporary file, removed at exit)",
    ])
    tmp_report = Path(result.stdout.str().split("generated xml file: ")[1].split()[0])
    assert tmp_report.name == "junit.xml" and not tmp_report.parent.exists()
    assert not list(pytester.path.glob("*.xml"))


def test_metadata_is_present_and_covered_by_the_signature(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-9f8e7d"
    pytester.makeini("[pytest]\n")  # makes pytester.path the rootdir (where git runs)
    subprocess.run(["git", "init", "-q", "-b", "main", str(pytester.path)], check=True)
    subprocess.run(["git", "-C", str(pytester.path), "remote", "add", "origin",
                    f"https://ci:{secret}@git.example.com/org/pump.git"], check=True)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/pump")
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(
        "--junitxml=out.xml", *sign_args(keypair), "--jux-project", "pump-ctl",
        "--jux-property", "rig=bench-3", "--jux-property", "jux:hostname=overridden",
    )
    assert result.ret == 0
    path = pytester.path / "out.xml"
    data = path.read_bytes()
    p = dict(verify_report(data, trust(keypair)).properties)
    assert p["project"] == "pump-ctl"
    assert p["rig"] == "bench-3"
    assert p["jux:hostname"] == "overridden"  # user properties win
    assert p["jux:pytest_version"] == pytest.__version__
    assert p["git:remote"] == "https://git.example.com/org/pump.git"
    assert p["git:branch"] == "main"
    assert p["ci:provider"] == "github-actions"
    assert p["ci:build_id"] == "4242"
    assert p["jux:timestamp"].endswith("Z")
    assert {"jux:python_version", "jux:platform", "jux:juxsdk_version"} <= p.keys()
    assert "jux:username" not in p
    assert secret.encode() not in data
    # Change one property value in the file: the signature no longer verifies.
    tampered = data.replace(b'value="bench-3"', b'value="bench-4"')
    assert tampered != data
    with pytest.raises(DigestMismatchError):
        verify_report(tampered, trust(keypair))


@pytest.mark.parametrize("exc", [KeyError("getpwuid(): uid not found: 4242"), OSError("no user")])
def test_no_passwd_entry_never_breaks_the_run(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    def no_user() -> str:
        raise exc

    monkeypatch.setattr(getpass, "getuser", no_user)
    pytester.makepyprojecttoml("[tool.jux.metadata]\ninclude_username = true\n")
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--junitxml=out.xml", *sign_args(keypair))
    assert result.ret == 0
    p = dict(verify_report((pytester.path / "out.xml").read_bytes(), trust(keypair)).properties)
    assert "jux:username" not in p
    assert "jux:python_version" in p


def test_username_when_enabled(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "ci-runner")
    pytester.makepyprojecttoml(
        '[tool.jux.metadata]\ninclude_username = true\nenv_allowlist = ["BUILD_FLAVOUR"]\n'
    )
    monkeypatch.setenv("BUILD_FLAVOUR", "debug")
    monkeypatch.setenv("SOME_TOKEN", "never-recorded")
    pytester.makepyfile(SUITE)
    assert pytester.runpytest("--junitxml=out.xml", *sign_args(keypair)).ret == 0
    data = (pytester.path / "out.xml").read_bytes()
    p = dict(verify_report(data, trust(keypair)).properties)
    assert p["jux:username"] == "ci-runner"
    assert p["env:BUILD_FLAVOUR"] == "debug"
    assert b"never-recorded" not in data


def test_ini_keys_configure_a_run(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    key, cert = keypair
    pytester.makeini(
        f"[pytest]\njux_enabled = true\njux_key_path = {key}\njux_cert_path = {cert}\n"
        "jux_project = from-ini\njux_storage_mode = local\njux_sign = true\n"
    )
    pytester.makepyfile(SUITE)
    result = pytester.runpytest()
    assert result.ret == 0
    (stored,) = stored_reports(jux_env["data"])
    assert dict(verify_report(stored.read_bytes(), trust(keypair)).properties)["project"] == "from-ini"


def test_precedence_cli_env_ini_pyproject(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyprojecttoml(
        '[tool.jux]\nproject = "from-tool-jux"\n\n[tool.pytest.ini_options]\njux_project = "from-ini"\n'
    )
    pytester.makepyfile(SUITE)

    def project(*args: str) -> str:
        assert pytester.runpytest("--junitxml=out.xml", *sign_args(keypair), *args).ret == 0
        return props((pytester.path / "out.xml").read_bytes())["project"]

    assert project() == "from-ini"
    monkeypatch.setenv("JUX_PROJECT", "from-env")
    assert project() == "from-env"
    assert project("--jux-project", "from-cli") == "from-cli"
    # Without the ini key, [tool.jux] applies.
    pytester.makepyprojecttoml('[tool.jux]\nproject = "from-tool-jux"\n')
    monkeypatch.delenv("JUX_PROJECT")
    assert project() == "from-tool-jux"


def test_config_is_read_from_the_rootdir_not_cwd(
    pytester: pytest.Pytester, keypair: tuple[Path, Path]
) -> None:
    root = pytester.mkdir("project")
    (root / "pytest.ini").write_text("[pytest]\njux_project = rootdir-ini\n")
    (root / "jux.toml").write_text("[metadata]\nproperties = { source = \"rootdir-jux-toml\" }\n")
    (root / "test_a.py").write_text("def test_a(): pass\n")
    # The working directory has its own, different configuration.
    (pytester.path / "jux.toml").write_text('project = "cwd-jux-toml"\n')
    result = pytester.runpytest("--rootdir", str(root), "-c", str(root / "pytest.ini"), str(root),
                                "--junitxml=out.xml", *sign_args(keypair))
    assert result.ret == 0
    p = props((pytester.path / "out.xml").read_bytes())
    assert p["project"] == "rootdir-ini"
    assert p["source"] == "rootdir-jux-toml"


def test_no_sign_stores_an_unsigned_report(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--junitxml=out.xml", "--jux", "--no-jux-sign")
    assert result.ret == 0
    (stored,) = stored_reports(jux_env["data"])
    data = stored.read_bytes()
    assert b"Signature" not in data
    assert data == (pytester.path / "out.xml").read_bytes()
    assert "project" in props(data)
    result.stdout.fnmatch_lines(["signed by: nobody (signing is off)"])


def test_missing_key_is_a_usage_error_before_tests_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_never(): raise SystemExit('ran')")
    result = pytester.runpytest("--jux", "--jux-key", "missing-key.pem")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-jux: signing key*missing-key.pem does not exist*"])
    result.stdout.no_fnmatch_line("*test_never*")


def test_disabled_junitxml_plugin_is_a_usage_error_before_tests_run(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    pytester.makepyfile("def test_never(): raise SystemExit('ran')")
    result = pytester.runpytest("-p", "no:junitxml", *sign_args(keypair))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-jux: pytest's junitxml plugin is disabled (-p no:junitxml)*"])
    result.stdout.no_fnmatch_line("*test_never*")
    assert stored_reports(jux_env["data"]) == []


def test_junit_ini_options_apply_to_the_report_written_without_junitxml(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    # pytest's own junitxml plugin writes the temporary report: its ini keys are honoured.
    pytester.makeini("[pytest]\njunit_suite_name = pump-suite\njunit_family = xunit1\n")
    pytester.makepyfile("def test_ok(record_property):\n    record_property('rig', 'r-9')\n")
    result = pytester.runpytest(*sign_args(keypair))
    assert result.ret == 0
    (stored,) = stored_reports(jux_env["data"])
    data = stored.read_bytes()
    assert b'<testsuite name="pump-suite" ' in data
    assert b'<property name="rig" value="r-9"' in data  # record_property: xunit1 only


def test_unknown_signer_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_never(): pass")
    result = pytester.runpytest("--jux", "--jux-signer", "no-such-signer")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown signer backend 'no-such-signer'; available:*file*"])


def test_default_key_missing_is_a_usage_error_only_when_enabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    assert pytester.runpytest().ret == 0
    assert pytester.runpytest("--jux").ret == pytest.ExitCode.USAGE_ERROR


def test_store_failure_keeps_exit_code_and_strict_fails(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = pytester.path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("JUX_DATA_DIR", str(blocker))  # the store cannot create its root
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--junitxml=out.xml", *sign_args(keypair))
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*store filesystem failed*", "*test outcome is unchanged*"])
    # Still signed and written in place: signing worked, only storing failed.
    verify_report((pytester.path / "out.xml").read_bytes(), trust(keypair))

    strict = pytester.runpytest("--junitxml=out.xml", *sign_args(keypair), "--jux-strict")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["*jux failed: store filesystem failed*", "*jux strict mode*"])
    strict.assert_outcomes(passed=2, skipped=1)


def test_failing_tests_keep_their_exit_code_and_are_signed(
    pytester: pytest.Pytester, keypair: tuple[Path, Path]
) -> None:
    pytester.makepyfile("def test_bad(): assert False\ndef test_good(): pass\n")
    result = pytester.runpytest("--junitxml=out.xml", *sign_args(keypair), "--jux-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    verified = verify_report((pytester.path / "out.xml").read_bytes(), trust(keypair))
    assert (verified.summary.tests, verified.summary.failures) == (2, 1)


def test_publish_to_a_real_jux_api_server(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    pytester.makepyfile(SUITE)
    with JuxApiServer(trust=trust(keypair)) as server:
        result = pytester.runpytest("--junitxml=out.xml", *sign_args(keypair), f"--jux-api-url={server.url}",
                                    "--jux-publish")
        runs = server.runs
    assert result.ret == 0
    assert len(runs) == 1
    data = (pytester.path / "out.xml").read_bytes()
    assert runs[0]["canonical_hash"] == verify_report(data, trust(keypair)).canonical_hash
    assert len(stored_reports(jux_env["data"])) == 1  # --jux-publish on local mode means "both"
    result.stdout.fnmatch_lines(["published: http: created*"])


def test_api_mode_without_publisher_is_a_usage_error(pytester: pytest.Pytester, keypair: tuple[Path, Path]) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest(*sign_args(keypair), "--jux-storage-mode", "api")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no publisher is configured*"])


def test_cache_mode_queues_when_the_server_is_down(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUX_HTTP__MAX_ATTEMPTS", "1")
    monkeypatch.setenv("JUX_HTTP__TIMEOUT_CONNECT", "1")
    with JuxApiServer() as server:
        dead_url = server.url  # the port is closed once the server stops
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(*sign_args(keypair), f"--jux-api-url={dead_url}", "--jux-storage-mode", "cache")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*publish to http queued for retry*"])


def test_no_jux_publish_turns_publishing_off(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(*sign_args(keypair), "--jux-api-url=http://127.0.0.1:9/api/v1",
                                "--jux-storage-mode", "both", "--no-jux-publish")
    assert result.ret == 0
    assert len(stored_reports(jux_env["data"])) == 1
    result.stdout.fnmatch_lines(["published: no (storage mode local)"])


def test_pytest_metadata_values_are_included(pytester: pytest.Pytester, keypair: tuple[Path, Path]) -> None:
    pytest.importorskip("pytest_metadata")
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--junitxml=out.xml", *sign_args(keypair), "--metadata", "Build", "77")
    assert result.ret == 0
    assert props((pytester.path / "out.xml").read_bytes())["metadata:Build"] == "77"


def test_records_go_through_pytest_logging(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], jux_env: dict[str, Path]
) -> None:
    """The plugin and juxsdk only emit records: pytest's --log-cli-level shows them, nothing else is configured."""
    pytester.makepyfile(SUITE)
    quiet = pytester.runpytest(*sign_args(keypair))
    assert quiet.ret == 0
    assert "pytest_jux" not in quiet.stdout.str() and "juxsdk.pipeline" not in quiet.stdout.str()
    live = pytester.runpytest(*sign_args(keypair), "--log-cli-level=INFO")
    assert live.ret == 0
    assert len(stored_reports(jux_env["data"])) == 2
    out = live.stdout.str()
    assert "pytest-jux: report sha256:" in out and "submitted (3 tests)" in out
    assert "juxsdk" in out  # the library's own events (sign, store, submit) reach pytest's handler too
