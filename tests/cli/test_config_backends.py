"""`jux config show|check|init`, `jux backends`, and clean configuration errors."""

from __future__ import annotations

import json

from tests.cli.conftest import assert_clean_error

SECRET_ENV_VALUE = "tok-from-env-6f1c9a7e"
SECRET_PLAIN_VALUE = "plain-in-file-93d2b44c"


def _http_config(workdir, token_line: str):
    (workdir / "jux.toml").write_text(
        'project = "pump"\n'
        'publishers = ["http"]\n'
        'storage_mode = "both"\n'
        "[backends.http]\n"
        'url = "https://jux.example.com/api/v1"\n'
        f"{token_line}\n",
        encoding="utf-8",
    )


def test_config_show_sources_and_masks_secrets(jux, workdir, monkeypatch):
    monkeypatch.setenv("JUX_API_TOKEN", SECRET_ENV_VALUE)
    monkeypatch.setenv("JUX_STORAGE_MODE", "cache")
    _http_config(workdir, 'token = { env = "JUX_API_TOKEN" }')
    result = jux("config", "show")
    assert result.exit_code == 0, result.stderr
    assert SECRET_ENV_VALUE not in result.stdout + result.stderr
    lines = {ln.split("=")[0].strip(): ln for ln in result.stdout.splitlines() if "=" in ln}
    assert "jux.toml" in lines["project"]
    assert "env JUX_STORAGE_MODE" in lines["storage_mode"] and '"cache"' in lines["storage_mode"]
    assert "default" in lines["sign"]
    assert "JUX_API_TOKEN" in lines["backends.http.token"]

    as_json = jux("config", "show", "--json")
    assert SECRET_ENV_VALUE not in as_json.stdout
    settings = {r["key"]: r for r in json.loads(as_json.stdout)["settings"]}
    assert settings["project"]["value"] == '"pump"'
    assert settings["project"]["source"].endswith("jux.toml")


def test_config_show_masks_plain_text_secret(jux, workdir):
    _http_config(workdir, f'token = "{SECRET_PLAIN_VALUE}"')
    for args in (("config", "show"), ("config", "show", "--json"), ("config", "check")):
        result = jux(*args)
        assert SECRET_PLAIN_VALUE not in result.stdout + result.stderr, args


def test_config_check_ok(jux, workdir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    result = jux("config", "check", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert {(b["kind"], b["name"]) for b in report["backends"]} == {
        ("signer", "file"),
        ("store", "filesystem"),
    }


def test_config_check_reports_missing_key(jux):
    result = jux("config", "check")
    assert result.exit_code == 2
    assert "signer" in result.stdout and "failed" in result.stdout and "jux keygen" in result.stdout


def test_bad_config_is_one_line_exit_2(jux, workdir):
    (workdir / "jux.toml").write_text('storage_mode = "sometimes"\n', encoding="utf-8")
    for args in (("config", "show"), ("config", "check"), ("submit", "x.xml"), ("cache", "list")):
        result = jux(*args)
        assert_clean_error(result, 2, "jux.toml")
        assert len([ln for ln in result.stderr.splitlines() if ln.startswith("error:")]) == 1
        assert len(result.stderr.strip().splitlines()) <= 2


def test_several_config_problems_are_listed_one_per_line_exit_2(jux, workdir):
    jux_toml = str(workdir / "jux.toml")
    (workdir / "jux.toml").write_text('storage_mode = "sometimes"\nstorez = ["filesystem"]\n', encoding="utf-8")
    (workdir / "user").mkdir()
    (workdir / "user" / "config.toml").write_text("[outbox]\nbackoff_base = nan\n", encoding="utf-8")
    for args in (("config", "show"), ("config", "check"), ("submit", "x.xml"), ("cache", "list")):
        result = jux(*args, env={"JUX_CONFIG_DIR": str(workdir / "user")})
        assert_clean_error(result, 2)
        lines = result.stderr.strip().splitlines()
        assert lines[0] == "error: 3 configuration problems", lines
        problems = [ln for ln in lines[1:-1] if not ln.startswith("    hint: ")]
        assert [ln.split(": ")[0:2] for ln in problems] == [
            [f"  {jux_toml}", "storage_mode"],
            [f"  {workdir / 'user' / 'config.toml'}", "outbox.backoff_base"],
            [f"  {jux_toml}", "storez"],
        ], lines
        assert "not a finite number" in problems[1] and problems[2].endswith("unknown key")
        assert lines[-1].startswith("hint: "), lines


def test_invalid_toml_names_line_and_column(jux, workdir):
    (workdir / "jux.toml").write_text('project = "a"\nsigner = \n', encoding="utf-8")
    result = jux("config", "show")
    assert_clean_error(result, 2, "jux.toml:2")


def test_explicit_config_flag(jux, workdir):
    other = workdir / "elsewhere.toml"
    other.write_text('project = "from-flag"\n', encoding="utf-8")
    result = jux("--config", other, "config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    settings = {r["key"]: r for r in json.loads(result.stdout)["settings"]}
    assert settings["project"]["value"] == '"from-flag"'
    # also accepted after the subcommand
    again = jux("config", "show", "--json", "--config", other)
    assert json.loads(again.stdout)["settings"] == json.loads(result.stdout)["settings"]
    missing = jux("--config", workdir / "nope.toml", "config", "show")
    assert_clean_error(missing, 2, "nope.toml")


def test_unknown_backend_lists_available(jux, workdir):
    (workdir / "jux.toml").write_text('stores = ["nosuchstore"]\n', encoding="utf-8")
    result = jux("cache", "list")
    assert_clean_error(result, 2, "nosuchstore", "filesystem", "may not be installed")


def test_config_init_writes_loadable_file(jux, workdir):
    result = jux("config", "init")
    assert result.exit_code == 0, result.stderr
    text = (workdir / "jux.toml").read_text(encoding="utf-8")
    assert text.lstrip().startswith("#")
    assert_clean_error(jux("config", "init"), 2, "already exists")
    assert jux("config", "init", "--force").exit_code == 0
    shown = jux("config", "show", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert any(str(workdir / "jux.toml") in f for f in json.loads(shown.stdout)["files"])
    printed = jux("config", "init", "--path", "-")
    assert printed.exit_code == 0 and printed.stdout == text


def test_config_init_appends_to_pyproject(jux, workdir):
    (workdir / "pyproject.toml").write_text('[project]\nname = "demo"\n', encoding="utf-8")
    assert jux("config", "init", "--path", "pyproject.toml").exit_code == 0
    text = (workdir / "pyproject.toml").read_text(encoding="utf-8")
    assert text.startswith('[project]\nname = "demo"\n') and "[tool.jux" in text
    assert jux("config", "show").exit_code == 0
    assert_clean_error(jux("config", "init", "--path", "pyproject.toml"), 2, "[tool.jux]")


def test_backends_lists_builtins_with_distribution(jux):
    result = jux("backends", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    for key in (("signer", "file"), ("store", "filesystem")):
        assert key in rows, rows.keys()
        assert rows[key]["distribution"] == "juxsdk"
        assert rows[key]["version"]
        assert rows[key]["summary"]
    table = jux("backends")
    assert "filesystem" in table.stdout and "juxsdk" in table.stdout
