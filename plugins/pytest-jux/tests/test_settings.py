"""Option / ini / environment translation (no test run: pytester.parseconfig only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_jux.plugin import INI_KEYS, is_enabled
from pytest_jux.settings import build_settings


def ini(pytester: pytest.Pytester, **values: str) -> Path:
    body = "\n".join(f"{k} = {v}" for k, v in values.items())
    return pytester.makeini(f"[pytest]\n{body}\n")


def test_every_ini_key_is_registered_without_unknown_option_warning(pytester: pytest.Pytester) -> None:
    ini(pytester, **{k: ("true" if t == "bool" else "x") for k, (_, t) in INI_KEYS.items()})
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--no-jux", "-W", "error::pytest.PytestConfigWarning")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*Unknown config option*")


@pytest.mark.parametrize(
    ("args", "key", "expected"),
    [
        (["--jux-sign"], "sign", True),
        (["--no-jux-sign"], "sign", False),
        (["--jux-signer", "pkcs11"], "signer", "pkcs11"),
        (["--jux-storage-mode", "cache"], "storage_mode", "cache"),
        (["--jux-api-url", "http://127.0.0.1:9/api/v1"], "backends.http.url", "http://127.0.0.1:9/api/v1"),
        (["--jux-project", "pump"], "project", "pump"),
    ],
)
def test_command_line_options_become_overrides(
    pytester: pytest.Pytester, args: list[str], key: str, expected: object
) -> None:
    config = pytester.parseconfig(*args)
    assert build_settings(config, environ={}).overrides[key] == expected


def test_key_and_cert_paths_are_absolute_from_the_invocation_dir(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig("--jux-key", "keys/k.pem", "--jux-cert", "keys/c.pem")
    overrides = build_settings(config, environ={}).overrides
    assert overrides["backends.file.key"] == str((pytester.path / "keys/k.pem").resolve())
    assert overrides["backends.file.certificate"] == str((pytester.path / "keys/c.pem").resolve())
    assert overrides["signer"] == "file"  # a key path means the file signer


def test_explicit_signer_is_not_replaced_by_key_option(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig("--jux-key", "k.pem", "--jux-signer", "pkcs11")
    assert build_settings(config, environ={}).overrides["signer"] == "pkcs11"


@pytest.mark.parametrize(
    ("ini_key", "ini_value", "key", "expected"),
    [
        ("jux_sign", "false", "sign", False),
        ("jux_signer", "file", "signer", "file"),
        ("jux_storage_mode", "both", "storage_mode", "both"),
        ("jux_api_url", "http://127.0.0.1:9/api/v1", "backends.http.url", "http://127.0.0.1:9/api/v1"),
        ("jux_project", "from-ini", "project", "from-ini"),
    ],
)
def test_ini_keys_become_overrides(
    pytester: pytest.Pytester, ini_key: str, ini_value: str, key: str, expected: object
) -> None:
    ini(pytester, **{ini_key: ini_value})
    assert build_settings(pytester.parseconfig(), environ={}).overrides[key] == expected


def test_ini_paths_are_relative_to_the_ini_file_not_cwd(pytester: pytest.Pytester) -> None:
    ini(pytester, jux_key_path="keys/k.pem", jux_cert_path="keys/c.pem")
    sub = pytester.mkdir("sub")
    sub.joinpath("test_x.py").write_text("def test_x(): pass\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        config = pytester.parseconfig(str(sub))
    overrides = build_settings(config, environ={}).overrides
    assert overrides["backends.file.key"] == str((pytester.path / "keys/k.pem").resolve())
    assert overrides["backends.file.certificate"] == str((pytester.path / "keys/c.pem").resolve())


def test_ini_from_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\njux_enabled = true\njux_project = "py-ini"\njux_strict = true\n'
    )
    config = pytester.parseconfig()
    settings = build_settings(config, environ={})
    assert is_enabled(config, environ={})
    assert settings.overrides["project"] == "py-ini"
    assert settings.strict


@pytest.mark.parametrize(
    ("ini_key", "env_name", "key"),
    [
        ("jux_project", "JUX_PROJECT", "project"),
        ("jux_signer", "JUX_SIGNER", "signer"),
        ("jux_storage_mode", "JUX_STORAGE_MODE", "storage_mode"),
        ("jux_sign", "JUX_SIGN", "sign"),
        ("jux_key_path", "JUX_FILE__KEY", "backends.file.key"),
        ("jux_cert_path", "JUX_FILE__CERTIFICATE", "backends.file.certificate"),
        ("jux_api_url", "JUX_HTTP__URL", "backends.http.url"),
    ],
)
def test_environment_beats_ini(pytester: pytest.Pytester, ini_key: str, env_name: str, key: str) -> None:
    value = "true" if ini_key == "jux_sign" else ("local" if ini_key == "jux_storage_mode" else "ini-value")
    ini(pytester, **{ini_key: value})
    config = pytester.parseconfig()
    assert key in build_settings(config, environ={}).overrides
    # With the variable set, the ini value is not passed: the SDK loader reads the variable.
    assert key not in build_settings(config, environ={env_name: "env-value"}).overrides


def test_command_line_beats_environment(pytester: pytest.Pytester) -> None:
    ini(pytester, jux_project="ini")
    config = pytester.parseconfig("--jux-project", "cli")
    assert build_settings(config, environ={"JUX_PROJECT": "env"}).overrides["project"] == "cli"


@pytest.mark.parametrize(
    ("args", "ini_value", "env", "expected"),
    [
        ([], None, {}, False),
        (["--jux"], None, {}, True),
        ([], "true", {}, True),
        ([], "true", {"JUX_ENABLED": "0"}, False),
        ([], "false", {"JUX_ENABLED": "yes"}, True),
        (["--jux"], "false", {"JUX_ENABLED": "off"}, True),
        (["--no-jux"], "true", {"JUX_ENABLED": "1"}, False),
    ],
)
def test_enabled_precedence(
    pytester: pytest.Pytester, args: list[str], ini_value: str | None, env: dict[str, str], expected: bool
) -> None:
    if ini_value is not None:
        ini(pytester, jux_enabled=ini_value)
    assert is_enabled(pytester.parseconfig(*args), environ=env) is expected


@pytest.mark.parametrize(
    ("args", "ini_values", "env", "expected"),
    [
        ([], {}, {}, False),
        (["--jux-strict"], {}, {}, True),
        ([], {"jux_strict": "true"}, {}, True),
        ([], {"jux_strict": "true"}, {"JUX_STRICT": "false"}, False),
        (["--no-jux-strict"], {"jux_strict": "true"}, {"JUX_STRICT": "1"}, False),
    ],
)
def test_strict_precedence(
    pytester: pytest.Pytester, args: list[str], ini_values: dict[str, str], env: dict[str, str], expected: bool
) -> None:
    if ini_values:
        ini(pytester, **ini_values)
    assert build_settings(pytester.parseconfig(*args), environ=env).strict is expected


@pytest.mark.parametrize(
    ("args", "ini_values", "env", "expected"),
    [
        ([], {}, {}, None),
        (["--jux-publish"], {}, {}, True),
        (["--no-jux-publish"], {"jux_publish": "true"}, {}, False),
        ([], {"jux_publish": "true"}, {}, True),
        ([], {"jux_publish": "true"}, {"JUX_PUBLISH": "0"}, False),
    ],
)
def test_publish_precedence(
    pytester: pytest.Pytester,
    args: list[str],
    ini_values: dict[str, str],
    env: dict[str, str],
    expected: bool | None,
) -> None:
    if ini_values:
        ini(pytester, **ini_values)
    assert build_settings(pytester.parseconfig(*args), environ=env).publish is expected


def test_api_url_asks_for_the_http_publisher(pytester: pytest.Pytester) -> None:
    assert build_settings(pytester.parseconfig("--jux-api-url", "http://x/api/v1"), environ={}).add_http_publisher
    assert build_settings(pytester.parseconfig(), environ={"JUX_HTTP__URL": "http://x"}).add_http_publisher
    assert not build_settings(pytester.parseconfig(), environ={}).add_http_publisher


def test_properties_are_collected_in_order(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig("--jux-property", "rig=7", "--jux-property", "lab=a=b", "--jux-property", "e=")
    assert build_settings(config, environ={}).properties == {"rig": "7", "lab": "a=b", "e": ""}


@pytest.mark.parametrize("bad", ["no-equals", "=value"])
def test_malformed_property_is_a_usage_error(pytester: pytest.Pytester, bad: str) -> None:
    with pytest.raises(pytest.UsageError, match="KEY=VALUE"):
        build_settings(pytester.parseconfig("--jux-property", bad), environ={})


def test_bad_boolean_environment_is_a_usage_error(pytester: pytest.Pytester) -> None:
    with pytest.raises(pytest.UsageError, match="JUX_ENABLED"):
        is_enabled(pytester.parseconfig(), environ={"JUX_ENABLED": "maybe"})


def test_bad_storage_mode_in_ini_is_a_usage_error(pytester: pytest.Pytester) -> None:
    ini(pytester, jux_storage_mode="sometimes")
    with pytest.raises(pytest.UsageError, match="jux_storage_mode"):
        build_settings(pytester.parseconfig(), environ={})


def test_bad_storage_mode_option_is_a_usage_error_naming_the_sdk_modes(pytester: pytest.Pytester) -> None:
    with pytest.raises(pytest.UsageError, match=r"--jux-storage-mode 'sometimes'; expected one of local, api, both, "
                                                r"cache"):
        build_settings(pytester.parseconfig("--jux-storage-mode", "sometimes"), environ={})
    result = pytester.runpytest("--jux", "--jux-storage-mode", "sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-jux: --jux-storage-mode 'sometimes'; expected one of*"])


def test_rootdir_is_the_project_dir(pytester: pytest.Pytester) -> None:
    ini(pytester, jux_project="x")
    sub = pytester.mkdir("deep")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        config = pytester.parseconfig(str(sub))
    assert build_settings(config, environ={}).root == pytester.path
