"""Tests of juxsdk.config: layering, precedence, strictness, secrets, dumping.

Every test writes real TOML files under tmp_path and passes an explicit ``environ``, system file
and user config dir, so the host's /etc/jux, ~/.config/jux and JUX_* variables never leak in.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

from juxsdk.config import (
    JuxConfig,
    MetadataConfig,
    OutboxConfig,
    Secret,
    StorageMode,
    dump_config,
    find_project_file,
    init_config_text,
    load_config,
    render_toml,
    structure_options,
    user_config_dir,
    user_data_dir,
)
from juxsdk.errors import ConfigError

SECRET = "hunter2-Sup3rS3cret-value"


# --- Options classes as a backend would declare them ---------------------------------------


@attrs.frozen
class HttpOptions:
    url: str
    token: Secret | None = None
    timeout: float = 30.0
    retries: int = 3
    verify: bool = True
    ca_file: Path | None = None
    mode: Literal["strict", "lenient"] = "strict"
    tags: tuple[str, ...] = ()


@attrs.frozen
class KeyOptions:
    key: Path
    passphrase: Secret | None = None


def _positive(_inst: Any, _attr: Any, value: int) -> None:
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")


@attrs.frozen
class StoreOptions:
    root: Path | None = None
    shards: int = attrs.field(default=2, validator=_positive)
    api_key: Secret | None = None


# --- helpers -------------------------------------------------------------------------------


@attrs.define
class Layout:
    """A sandbox: system file, user config dir, a git repo with a project dir inside."""

    root: Path
    system: Path
    user_dir: Path
    repo: Path
    project: Path

    @property
    def user(self) -> Path:
        return self.user_dir / "config.toml"

    def load(self, *, environ: dict[str, str] | None = None, **kw: Any) -> JuxConfig:
        kw.setdefault("project_dir", self.project)
        return load_config(
            environ=environ or {},
            system_config_file=self.system,
            user_config_dir=self.user_dir,
            **kw,
        )


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    project = repo / "pkg"
    project.mkdir()
    user_dir = tmp_path / "home" / ".config" / "jux"
    user_dir.mkdir(parents=True)
    etc = tmp_path / "etc" / "jux"
    etc.mkdir(parents=True)
    return Layout(tmp_path, etc / "config.toml", user_dir, repo, project)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(fn: Any, *args: Any, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kw)
    err = info.value
    assert "\n" not in err.message, "a single problem is one line"
    assert "\n" not in (err.hint or "")
    return err


# --- defaults ------------------------------------------------------------------------------


def test_defaults_when_nothing_is_configured(lay: Layout) -> None:
    cfg = lay.load()
    assert cfg.project is None
    assert cfg.signer == "file"
    assert cfg.sign is True
    assert cfg.active_signer == "file"
    assert cfg.stores == ("filesystem",)
    assert cfg.publishers == ()
    assert cfg.storage_mode is StorageMode.LOCAL
    assert cfg.metadata == MetadataConfig()
    assert cfg.outbox == OutboxConfig(path=None, max_attempts=8, backoff_base=2.0, backoff_max=3600.0)
    assert cfg.backends == {}
    assert cfg.files == ()
    assert set(cfg.sources.values()) == {"default"}
    assert {"project", "signer", "outbox.max_attempts", "metadata.git"} <= set(cfg.sources)


# --- precedence ----------------------------------------------------------------------------

LAYERS = ["system", "user", "project", "env", "override"]


@pytest.mark.parametrize("top", range(len(LAYERS)))
def test_each_layer_overrides_the_ones_below(lay: Layout, top: int) -> None:
    """Layers 0..top all set `project`; the highest one present wins, and sources says so."""
    present = LAYERS[: top + 1]
    environ: dict[str, str] = {}
    overrides: dict[str, Any] = {}
    if "system" in present:
        write(lay.system, 'project = "from-system"\n')
    if "user" in present:
        write(lay.user, 'project = "from-user"\n')
    if "project" in present:
        write(lay.project / "jux.toml", 'project = "from-project"\n')
    if "env" in present:
        environ["JUX_PROJECT"] = "from-env"
    if "override" in present:
        overrides["project"] = "from-override"
    cfg = lay.load(environ=environ, overrides=overrides)
    expected_label = {
        "system": str(lay.system.resolve()),
        "user": str(lay.user.resolve()),
        "project": str((lay.project / "jux.toml").resolve()),
        "env": "env JUX_PROJECT",
        "override": "argument",
    }[LAYERS[top]]
    assert cfg.project == f"from-{LAYERS[top]}"
    assert cfg.sources["project"] == expected_label


def test_every_layer_contributes_its_own_keys(lay: Layout) -> None:
    write(lay.system, 'project = "sys"\nstores = ["filesystem", "s3"]\n')
    write(lay.user, 'publishers = ["http"]\n[outbox]\nmax_attempts = 4\n')
    write(lay.project / "jux.toml", 'storage_mode = "cache"\n[outbox]\nbackoff_base = 0.5\n')
    cfg = lay.load(environ={"JUX_SIGN": "off"}, overrides={"outbox.backoff_max": 60.0})
    assert (cfg.project, cfg.stores, cfg.publishers) == ("sys", ("filesystem", "s3"), ("http",))
    assert cfg.storage_mode is StorageMode.CACHE
    assert cfg.sign is False and cfg.active_signer is None
    assert cfg.outbox == OutboxConfig(max_attempts=4, backoff_base=0.5, backoff_max=60.0)
    assert cfg.sources["stores"] == str(lay.system.resolve())
    assert cfg.sources["publishers"] == str(lay.user.resolve())
    assert cfg.sources["outbox.max_attempts"] == str(lay.user.resolve())
    assert cfg.sources["outbox.backoff_base"] == str((lay.project / "jux.toml").resolve())
    assert cfg.sources["sign"] == "env JUX_SIGN"
    assert cfg.sources["outbox.backoff_max"] == "argument"
    assert cfg.sources["outbox.path"] == "default"
    assert cfg.files == (lay.system.resolve(), lay.user.resolve(), (lay.project / "jux.toml").resolve())


def test_tables_merge_deeply_and_arrays_are_replaced(lay: Layout) -> None:
    write(lay.user, """
stores = ["filesystem", "s3"]
[backends.http]
url = "https://user.example/api/v1"
retries = 5
[metadata.properties]
team = "core"
""")
    write(lay.project / "jux.toml", """
stores = ["s3"]
[backends.http]
timeout = 2.5
retries = 1
[metadata.properties]
component = "pump"
""")
    cfg = lay.load()
    assert cfg.stores == ("s3",)
    assert dict(cfg.backends["http"]) == {"url": "https://user.example/api/v1", "retries": 1, "timeout": 2.5}
    assert cfg.metadata.properties == {"team": "core", "component": "pump"}
    proj = str((lay.project / "jux.toml").resolve())
    assert cfg.sources["backends.http.url"] == str(lay.user.resolve())
    assert cfg.sources["backends.http.retries"] == proj
    assert cfg.sources["metadata.properties.team"] == str(lay.user.resolve())
    assert cfg.sources["metadata.properties.component"] == proj
    assert "metadata.properties" not in cfg.sources  # replaced by its children
    opts = cfg.backend_options("http", HttpOptions)
    assert (opts.url, opts.timeout, opts.retries) == ("https://user.example/api/v1", 2.5, 1)


def test_overrides_accept_dotted_keys_and_nested_tables(lay: Layout) -> None:
    write(lay.project / "jux.toml", '[backends.file]\nkey = "a.pem"\n')
    cfg = lay.load(
        overrides={"backends.file.key": "/keys/b.pem", "outbox": {"max_attempts": 2}, "signer": None},
        override_source="command line",
    )
    assert cfg.backends["file"]["key"] == "/keys/b.pem"
    assert cfg.outbox.max_attempts == 2
    assert cfg.signer is None and cfg.active_signer is None
    assert cfg.sources["backends.file.key"] == "command line"
    assert cfg.sources["outbox.max_attempts"] == "command line"


# --- project file discovery ----------------------------------------------------------------


def test_pyproject_tool_jux_is_used(lay: Layout) -> None:
    pp = write(lay.project / "pyproject.toml", """
[project]
name = "pump"
[tool.jux]
project = "pump-controller"
[tool.jux.backends.file]
key = "keys/signing.pem"
""")
    cfg = lay.load()
    assert cfg.project == "pump-controller"
    assert cfg.sources["project"] == str(pp.resolve())
    assert cfg.backend_options("file", KeyOptions).key == lay.project / "keys" / "signing.pem"


def test_jux_toml_wins_over_pyproject_in_the_same_directory(lay: Layout) -> None:
    write(lay.project / "pyproject.toml", '[tool.jux]\nproject = "from-pyproject"\nsign = false\n')
    jt = write(lay.project / "jux.toml", 'project = "from-jux-toml"\n')
    cfg = lay.load()
    assert cfg.project == "from-jux-toml"
    assert cfg.sign is True, "the two files are not merged: only jux.toml is read"
    assert cfg.files == (jt.resolve(),)
    assert find_project_file(lay.project) == jt.resolve()


def test_search_goes_upward_and_skips_pyproject_without_tool_jux(lay: Layout) -> None:
    deep = lay.project / "src" / "pkg"
    deep.mkdir(parents=True)
    write(lay.project / "src" / "pyproject.toml", '[project]\nname = "inner"\n')  # no [tool.jux]
    pp = write(lay.repo / "pyproject.toml", '[tool.jux]\nproject = "repo-level"\n')
    cfg = lay.load(project_dir=deep)
    assert cfg.project == "repo-level"
    assert cfg.sources["project"] == str(pp.resolve())


def test_search_stops_at_the_git_root(lay: Layout) -> None:
    write(lay.root / "jux.toml", 'project = "outside-the-repo"\n')  # above repo/.git
    cfg = lay.load()
    assert cfg.project is None
    assert find_project_file(lay.project) is None


def test_jux_config_env_and_config_file_name_an_explicit_file(lay: Layout) -> None:
    write(lay.project / "jux.toml", 'project = "searched"\n')
    via_env = write(lay.root / "ci" / "jux-ci.toml", 'project = "from-JUX_CONFIG"\n')
    via_arg = write(lay.root / "arg.toml", 'project = "from-argument"\n')
    cfg = lay.load(environ={"JUX_CONFIG": str(via_env)})
    assert (cfg.project, cfg.sources["project"]) == ("from-JUX_CONFIG", str(via_env.resolve()))
    cfg = lay.load(environ={"JUX_CONFIG": str(via_env)}, config_file=via_arg)
    assert cfg.project == "from-argument"
    err = error_of(lay.load, config_file=lay.root / "missing.toml")
    assert str(lay.root / "missing.toml") in err.message


def test_explicit_pyproject_contributes_tool_jux(lay: Layout) -> None:
    pp = write(lay.root / "other" / "pyproject.toml", '[tool.jux]\nstorage_mode = "both"\n')
    assert lay.load(config_file=pp).storage_mode is StorageMode.BOTH


def test_user_file_location_follows_jux_config_dir(lay: Layout, tmp_path: Path) -> None:
    alt = tmp_path / "alt-config"
    write(alt / "config.toml", 'project = "alt-user"\n')
    cfg = load_config(environ={"JUX_CONFIG_DIR": str(alt)}, system_config_file=lay.system,
                      project_dir=lay.project)
    assert cfg.project == "alt-user"
    assert cfg.sources["project"] == str((alt / "config.toml").resolve())


def test_path_helpers_honour_overrides(tmp_path: Path) -> None:
    import platformdirs

    assert user_data_dir({"JUX_DATA_DIR": str(tmp_path / "d")}) == tmp_path / "d"
    assert user_config_dir({"JUX_CONFIG_DIR": str(tmp_path / "c")}) == tmp_path / "c"
    assert user_data_dir({}) == platformdirs.user_data_path("jux", appauthor=False)
    assert user_config_dir({"JUX_CONFIG_DIR": ""}) == platformdirs.user_config_path("jux", appauthor=False)
    assert OutboxConfig().resolved_path({"JUX_DATA_DIR": str(tmp_path)}) == tmp_path / "outbox"


# --- environment ---------------------------------------------------------------------------


def test_environment_values_are_converted_by_field_type(lay: Layout) -> None:
    env = {
        "JUX_SIGN": "no",
        "JUX_STORES": "filesystem, s3 ,",
        "JUX_PUBLISHERS": "http",
        "JUX_STORAGE_MODE": "api",
        "JUX_METADATA__ENV_ALLOWLIST": "CI,GITHUB_SHA",
        "JUX_METADATA__INCLUDE_USERNAME": "on",
        "JUX_METADATA__GIT": "0",
        "JUX_METADATA__PROPERTIES": "team=core, build=42",
        "JUX_OUTBOX__MAX_ATTEMPTS": "3",
        "JUX_OUTBOX__BACKOFF_BASE": "0.25",
        "JUX_OUTBOX__PATH": "~/outbox",
    }
    cfg = lay.load(environ=env)
    assert cfg.sign is False
    assert cfg.stores == ("filesystem", "s3")
    assert cfg.publishers == ("http",)
    assert cfg.storage_mode is StorageMode.API
    assert cfg.metadata == MetadataConfig(("CI", "GITHUB_SHA"), True, {"team": "core", "build": "42"}, False)
    assert cfg.outbox.max_attempts == 3 and cfg.outbox.backoff_base == 0.25
    assert cfg.outbox.path == Path("~/outbox").expanduser()
    assert cfg.sources["outbox.max_attempts"] == "env JUX_OUTBOX__MAX_ATTEMPTS"


def test_empty_jux_signer_means_do_not_sign(lay: Layout) -> None:
    write(lay.project / "jux.toml", 'signer = "pkcs11"\n')
    cfg = lay.load(environ={"JUX_SIGNER": ""})
    assert cfg.signer is None and cfg.active_signer is None
    assert cfg.sources["signer"] == "env JUX_SIGNER"


@pytest.mark.parametrize(("var", "value", "expect"), [
    ("JUX_SIGN", "maybe", "sign (env JUX_SIGN)"),
    ("JUX_OUTBOX__MAX_ATTEMPTS", "many", "outbox.max_attempts (env JUX_OUTBOX__MAX_ATTEMPTS)"),
    ("JUX_STORAGE_MODE", "sometimes", "storage_mode (env JUX_STORAGE_MODE)"),
])
def test_bad_environment_values_name_the_variable(lay: Layout, var: str, value: str, expect: str) -> None:
    err = error_of(lay.load, environ={var: value})
    assert err.message.startswith(expect), err.message


def test_unknown_jux_variables_are_ignored(lay: Layout) -> None:
    write(lay.project / "jux.toml", """
[backends.http]
url = "https://jux.example/api/v1"
token = { env = "JUX_HTTP__TOKEN" }
""")
    env = {
        "JUX_FOO": "1",
        "JUX_SIGNERS": "typo-is-ignored",
        "JUX_METADATA__NOPE": "x",
        "JUX_A__B__C": "x",
        "JUX_HTTP__NO_SUCH_OPTION": "x",
        "JUX_HTTP__TOKEN": SECRET,  # referenced by {env=...}: a secret, not a config value
        "JUX_DATA_DIR": "/tmp/data",
        "JUX_CONFIG_DIR": "/tmp/cfg",
    }
    cfg = lay.load(environ=env)
    assert cfg.signer == "file"
    assert cfg.backends["http"]["token"] == {"env": "JUX_HTTP__TOKEN"}
    opts = cfg.backend_options("http", HttpOptions)
    assert opts.token == Secret(env="JUX_HTTP__TOKEN")
    assert opts.token.get(env) == SECRET


def test_backend_options_from_environment_are_typed_by_the_options_class(lay: Layout) -> None:
    env = {
        "JUX_HTTP__URL": "https://env.example/api/v1",
        "JUX_HTTP__TIMEOUT": "2.5",
        "JUX_HTTP__RETRIES": "7",
        "JUX_HTTP__VERIFY": "false",
        "JUX_HTTP__TAGS": "a,b",
        "JUX_HTTP__TOKEN": SECRET,
        "JUX_HTTP__CA_FILE": "",
    }
    cfg = lay.load(environ=env)
    opts = cfg.backend_options("http", HttpOptions)
    assert opts == HttpOptions(url="https://env.example/api/v1", token=Secret(value=SECRET), timeout=2.5,
                               retries=7, verify=False, ca_file=None, tags=("a", "b"))
    assert opts.token is not None and opts.token.get() == SECRET
    assert cfg.sources["backends.http.timeout"] == "env JUX_HTTP__TIMEOUT"
    err = error_of(lay.load(environ={"JUX_HTTP__URL": "u", "JUX_HTTP__RETRIES": "seven"}).backend_options,
                   "http", HttpOptions)
    assert err.message.startswith("backends.http.retries (env JUX_HTTP__RETRIES): expected an integer")


def test_dashed_backend_names_map_to_underscores_in_env(lay: Layout) -> None:
    write(lay.project / "jux.toml", 'stores = ["my-store"]\n')
    cfg = lay.load(environ={"JUX_MY_STORE__SHARDS": "4"})
    assert cfg.sources["backends.my-store.shards"] == "env JUX_MY_STORE__SHARDS"
    assert cfg.backend_options("my-store", StoreOptions).shards == 4
    # a backend only named in the environment is found under its lower-cased spelling
    cfg = lay.load(environ={"JUX_OTHER_STORE__SHARDS": "5"})
    assert cfg.backend_options("other-store", StoreOptions).shards == 5


# --- strictness ----------------------------------------------------------------------------


def test_unknown_key_names_path_and_file(lay: Layout) -> None:
    jt = write(lay.project / "jux.toml", 'project = "p"\nstorage_mod = "local"\n')
    err = error_of(lay.load)
    assert err.message == f"{jt.resolve()}: storage_mod: unknown key"
    assert err.hint is not None and "storage_mode" in err.hint and "backends" in err.hint


def test_unknown_nested_key_in_pyproject_uses_tool_jux_path(lay: Layout) -> None:
    pp = write(lay.project / "pyproject.toml", "[tool.jux.outbox]\nmax_attempt = 3\n")
    err = error_of(lay.load)
    assert err.message == f"{pp.resolve()}: tool.jux.outbox.max_attempt: unknown key"
    assert err.hint is not None and "max_attempts" in err.hint


def test_string_false_is_not_a_boolean(lay: Layout) -> None:
    write(lay.user, 'sign = "false"\n')
    err = error_of(lay.load)
    assert err.message == f"{lay.user.resolve()}: sign: expected a boolean (true or false), got a string"
    assert err.hint is not None and "without quotes" in err.hint


@pytest.mark.parametrize(("toml", "path", "words"), [
    ("[outbox]\nmax_attempts = 2.5\n", "outbox.max_attempts", "expected an integer, got a float"),
    ("[outbox]\nmax_attempts = true\n", "outbox.max_attempts", "expected an integer, got a boolean"),
    ("[outbox]\nbackoff_base = \"2\"\n", "outbox.backoff_base", "expected a number, got a string"),
    ("project = 42\n", "project", "expected a string, got an integer"),
    ('stores = "filesystem"\n', "stores", "expected an array of strings, got a string"),
    ('stores = ["filesystem", 3]\n', "stores[1]", "expected a string, got an integer"),
    ('metadata = "x"\n', "metadata", "expected a table, got a string"),
    ("[metadata.properties]\nbuild = 42\n", "metadata.properties.build", "expected a string"),
    ("backends = 1\n", "backends", "expected a table of backend option tables"),
    ('[backends]\nhttp = "x"\n', "backends.http", "expected a table of options"),
])
def test_wrong_types_name_the_key(lay: Layout, toml: str, path: str, words: str) -> None:
    jt = write(lay.project / "jux.toml", toml)
    err = error_of(lay.load)
    assert err.message.startswith(f"{jt.resolve()}: {path}: {words}"), err.message


def test_bad_enum_lists_allowed_values(lay: Layout) -> None:
    pp = write(lay.project / "pyproject.toml", '[tool.jux]\nstorage_mode = "sometimes"\n')
    err = error_of(lay.load)
    assert err.message.startswith(f"{pp.resolve()}: tool.jux.storage_mode: invalid value 'sometimes'")
    assert err.hint == "allowed values: local, api, both, cache"


def test_several_problems_are_all_listed(lay: Layout) -> None:
    jt = str(write(lay.project / "jux.toml", 'sign = "yes"\nproject = 1\nbogus = 2\n').resolve())
    with pytest.raises(ConfigError) as info:
        lay.load()
    assert info.value.message.splitlines() == [
        "3 configuration problems",
        f"  {jt}: project: expected a string, got an integer",
        "    hint: quote the value",
        f"  {jt}: sign: expected a boolean (true or false), got a string",
        f"  {jt}: bogus: unknown key",
        "    hint: allowed keys here: backends, circuit_breaker, index, metadata, outbox, project, publishers, sign, "
        "signer, signing_log, storage_mode, stores, trust",
    ]
    assert info.value.hint is not None and "jux config show" in info.value.hint


def test_toml_syntax_error_names_file_line_and_column(lay: Layout) -> None:
    jt = write(lay.project / "jux.toml", 'project = "p"\nstorage_mode = local\n')
    err = error_of(lay.load)
    assert err.message.startswith(f"{jt}:2:16: invalid TOML: "), err.message
    write(lay.system, "[outbox\n")  # a second broken file: both are reported, in layer order
    with pytest.raises(ConfigError) as info:
        lay.load()
    lines = info.value.message.splitlines()
    assert lines[0] == "2 configuration problems"
    assert lines[1].startswith(f"  {lay.system}:1:") and lines[3].startswith(f"  {jt}:2:16: invalid TOML: "), lines


def test_unterminated_document_error_has_a_position(lay: Layout) -> None:
    write(lay.user, 'project = "p"\nstores = [\n')
    err = error_of(lay.load)
    assert err.message.startswith(f"{lay.user}:3:1: invalid TOML"), err.message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[outbox]\nmax_attempts = " + "9" * 4400 + "\n", "a number too long to read"),
        ("project = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("project = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply"),
    ],
)
def test_toml_the_parser_cannot_read_is_a_configuration_error(lay: Layout, text: str, reason: str) -> None:
    """Found by the fuzz suite: an integer of more than 4300 digits escaped tomllib as a
    ValueError (and deep nesting as a RecursionError): `jux config check` said "internal error"."""
    jt = write(lay.project / "jux.toml", text)
    err = error_of(lay.load)
    assert err.message.startswith(f"{jt}: invalid TOML: "), err.message
    assert reason in err.message and err.exit_code == 2


def test_tool_jux_must_be_a_table(lay: Layout) -> None:
    write(lay.project / "pyproject.toml", "[tool]\njux = 3\n")
    err = error_of(lay.load)
    assert "tool.jux: expected a table" in err.message


@pytest.mark.parametrize(("overrides", "path", "words"), [
    ({"outbox.max_attempts": 0}, "outbox.max_attempts", "out of range: expected a number between 1 and 1000"),
    ({"outbox.backoff_base": 0}, "outbox.backoff_base", "out of range: expected a number greater than 0"),
    ({"outbox.backoff_max": 1.0}, "outbox.backoff_max", "must not be smaller"),
    ({"stores": ["filesystem", "filesystem"]}, "stores[1]", "backend 'filesystem' is listed twice"),
])
def test_semantic_checks(lay: Layout, overrides: dict[str, Any], path: str, words: str) -> None:
    err = error_of(lay.load, overrides=overrides)
    assert err.message.startswith(f"{path} (argument): {words}"), err.message


# --- backend options -----------------------------------------------------------------------


def test_backend_options_structure_strictly(lay: Layout) -> None:
    jt = write(lay.project / "jux.toml", """
[backends.http]
url = "https://jux.example/api/v1"
timeout = 5
mode = "lenient"
ca_file = "certs/ca.pem"
""")
    opts = lay.load().backend_options("http", HttpOptions)
    assert opts.timeout == 5.0 and isinstance(opts.timeout, float)
    assert opts.mode == "lenient"
    assert opts.ca_file == lay.project / "certs" / "ca.pem", "relative to the file's directory"
    assert opts.token is None

    cases = {
        'timout = 5': ("backends.http.timout: unknown key", "timeout"),
        'retries = "3"': ("backends.http.retries: expected an integer, got a string", "without quotes"),
        'verify = "false"': ("backends.http.verify: expected a boolean (true or false), got a string",
                             "without quotes"),
        'mode = "loose"': ("backends.http.mode: invalid value 'loose'", "allowed values: strict, lenient"),
        'tags = "a"': ("backends.http.tags: expected an array of strings, got a string", "array"),
        'token = { name = "X" }': ("backends.http.token: a secret table must have exactly one key", "env"),
    }
    for line, (message, hint) in cases.items():
        write(jt, f'[backends.http]\nurl = "u"\n{line}\n')
        err = error_of(lay.load().backend_options, "http", HttpOptions)
        assert err.message.startswith(f"{jt.resolve()}: {message}"), err.message
        assert hint in (err.hint or ""), (line, err.hint)


def test_missing_required_option_names_the_backend_key(lay: Layout) -> None:
    jt = write(lay.project / "jux.toml", '[backends.file]\npassphrase = { env = "KEY_PASS" }\n')
    err = error_of(lay.load().backend_options, "file", KeyOptions)
    assert err.message == f"{jt.resolve()}: backends.file.key: required key is missing"
    err = error_of(JuxConfig().backend_options, "file", KeyOptions)
    assert err.message == "backends.file.key: required key is missing"
    assert "backends.file.key" in (err.hint or "")


def test_paths_expand_home(lay: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    home = lay.root / "home"
    monkeypatch.setenv("HOME", str(home))
    write(lay.project / "jux.toml", '[backends.file]\nkey = "~/.config/jux/k.pem"\n')
    assert lay.load().backend_options("file", KeyOptions).key == home / ".config" / "jux" / "k.pem"


def test_structure_options_directly() -> None:
    opts = structure_options(HttpOptions, {"url": "u", "retries": "4"}, backend="http",
                             sources={"backends.http.retries": "env JUX_HTTP__RETRIES"})
    assert opts.retries == 4
    with pytest.raises(TypeError):
        structure_options(dict, {}, backend="x")


def test_options_validator_errors_are_config_errors(lay: Layout) -> None:
    write(lay.project / "jux.toml", "[backends.vault]\nshards = 0\n")
    err = error_of(lay.load().backend_options, "vault", StoreOptions)
    assert "backends.vault" in err.message and "must be positive" in err.message


# --- secrets -------------------------------------------------------------------------------


def test_env_secret_resolution_and_missing_variable(lay: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    write(lay.project / "jux.toml", '[backends.http]\nurl = "u"\ntoken = { env = "TEST_JUX_TOKEN" }\n')
    opts = lay.load().backend_options("http", HttpOptions)
    assert opts.token == Secret(env="TEST_JUX_TOKEN")
    monkeypatch.delenv("TEST_JUX_TOKEN", raising=False)
    err = error_of(opts.token.get)
    assert err.message == "secret environment variable TEST_JUX_TOKEN is not set"
    monkeypatch.setenv("TEST_JUX_TOKEN", SECRET)
    assert opts.token.get() == SECRET
    assert opts.token.get({"TEST_JUX_TOKEN": "other"}) == "other"


def test_file_secret_is_relative_to_the_config_file(lay: Layout) -> None:
    write(lay.project / "secrets" / "pass.txt", f"  {SECRET}\n")
    jt = write(lay.project / "jux.toml", """
[backends.file]
key = "k.pem"
passphrase = { file = "secrets/pass.txt" }
""")
    opts = lay.load().backend_options("file", KeyOptions)
    assert opts.passphrase == Secret(file=str(lay.project.resolve() / "secrets" / "pass.txt"))
    assert opts.passphrase.get() == SECRET
    (lay.project / "secrets" / "pass.txt").unlink()
    err = error_of(opts.passphrase.get)
    assert "pass.txt" in err.message and SECRET not in err.message
    assert jt.exists()


def test_secret_value_never_leaks(lay: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    """A plain-text secret is accepted but appears in no repr, dump, rendering or error."""
    write(lay.user, f'[backends.http]\ntoken = "{SECRET}"\n')
    write(lay.project / "jux.toml", f"""
[backends.http]
url = "https://jux.example/api/v1"
[backends.file]
key = "k.pem"
passphrase = "{SECRET}"
[backends.vault]
api_key = "{SECRET}"
shards = 0
""")
    cfg = lay.load(environ={"JUX_VAULT__ROOT": "/tmp/vault"})
    http = cfg.backend_options("http", HttpOptions)
    key = cfg.backend_options("file", KeyOptions)
    assert http.token is not None and http.token.get() == SECRET
    assert key.passphrase is not None and key.passphrase.get() == SECRET

    texts = [repr(cfg), str(cfg), repr(http), str(http), repr(key), repr(http.token), str(http.token)]
    texts += ["|".join(row) for row in dump_config(cfg)]
    texts += ["|".join(row) for row in dump_config(cfg, options_classes={"http": HttpOptions})]
    texts.append(render_toml(cfg))
    texts.append(render_toml(cfg, pyproject=True))
    # errors from tables holding the secret
    errs = [error_of(cfg.backend_options, "vault", StoreOptions)]
    write(lay.project / "jux.toml", f'[backends.http]\nurl = "u"\ntoken = "{SECRET}"\nretries = "x"\n')
    errs.append(error_of(lay.load().backend_options, "http", HttpOptions))
    write(lay.project / "jux.toml", f'[backends.http]\nurl = 1\ntoken = "{SECRET}"\n')
    errs.append(error_of(lay.load().backend_options, "http", HttpOptions))
    errs.append(error_of(lay.load, overrides={"backends.http.token": SECRET, "sign": "x"}))
    errs.append(error_of(structure_options, HttpOptions, {"token": SECRET}, backend="http"))
    for err in errs:
        texts += [str(err), repr(err), err.message, err.hint or ""]
    printed = capsys.readouterr()
    texts += [printed.out, printed.err]
    for text in texts:
        assert SECRET not in text, text
        assert SECRET[:12] not in text
    rows = {k: v for k, v, _ in dump_config(cfg)}
    assert rows["backends.http.token"] == "****"
    assert rows["backends.file.passphrase"] == "****"
    assert rows["backends.vault.api_key"] == "****"
    assert rows["backends.http.url"] == '"https://jux.example/api/v1"'


def test_secret_references_are_shown_as_references(lay: Layout) -> None:
    write(lay.project / "jux.toml", """
[backends.http]
url = "u"
token = { env = "JUX_API_TOKEN" }
[backends.file]
key = "k.pem"
passphrase = { file = "/run/secrets/pass" }
""")
    rows = {k: v for k, v, _ in dump_config(lay.load())}
    assert rows["backends.http.token"] == '{env = "JUX_API_TOKEN"}'
    assert rows["backends.file.passphrase"] == '{file = "/run/secrets/pass"}'
    assert repr(Secret(value=SECRET)) == "Secret('****')" == str(Secret(value=SECRET))
    assert Secret(env="A") == Secret(env="A") and Secret(value="x") == Secret(value="y")


def test_plain_secret_from_an_unknown_option_name_is_masked_with_options_classes(lay: Layout) -> None:
    @attrs.frozen
    class Opaque:
        credential_blob: Secret | None = None
        bearer: Secret | None = None

    write(lay.project / "jux.toml", f'[backends.opaque]\nbearer = "{SECRET}"\n')
    cfg = lay.load()
    assert SECRET not in repr(cfg)
    rows = {k: v for k, v, _ in dump_config(cfg, options_classes={"opaque": Opaque})}
    assert rows["backends.opaque.bearer"] == "****"


# --- dump / render / init ------------------------------------------------------------------


def test_dump_config_rows_and_sources(lay: Layout) -> None:
    write(lay.project / "jux.toml", 'project = "p"\n[backends.http]\nurl = "u"\n')
    cfg = lay.load(environ={"JUX_HTTP__TIMEOUT": "4"})
    rows = dump_config(cfg, options_classes={"http": HttpOptions})
    table = {k: (v, s) for k, v, s in rows}
    assert table["project"] == ('"p"', str((lay.project / "jux.toml").resolve()))
    assert table["signer"] == ('"file"', "default")
    assert table["outbox.path"] == ("(not set)", "default")
    assert table["backends.http.timeout"] == ("4.0", "env JUX_HTTP__TIMEOUT")
    core = ["project", "signer", "sign", "stores", "publishers", "storage_mode"]
    assert [k for k, _, _ in rows][:6] == core
    assert all(s == "" for _, _, s in dump_config(cfg, show_sources=False))


def test_render_toml_round_trips(lay: Layout) -> None:
    write(lay.project / "jux.toml", """
project = "pump"
stores = ["filesystem", "s3"]
storage_mode = "both"
[metadata]
env_allowlist = ["CI"]
[metadata.properties]
"team name" = "core"
[outbox]
path = "/var/lib/jux/outbox"
[backends.http]
url = "https://jux.example/api/v1"
token = { env = "JUX_API_TOKEN" }
retries = 2
""")
    cfg = lay.load()
    for pyproject in (False, True):
        text = render_toml(cfg, pyproject=pyproject)
        tomllib.loads(text)
        name = "pyproject.toml" if pyproject else "jux.toml"
        out = write(lay.root / ("rt-" + str(pyproject)) / name, text)
        again = lay.load(config_file=out)
        for field in ("project", "stores", "storage_mode", "metadata", "outbox", "backends", "signer"):
            assert getattr(again, field) == getattr(cfg, field), field


def test_init_config_text_loads(lay: Layout) -> None:
    text = init_config_text(project="pump", signer="file", stores=["filesystem"], publishers=["http"],
                            storage_mode="cache", options_classes={"http": HttpOptions, "file": KeyOptions},
                            values={"file": {"key": "keys/jux.pem"}})
    assert "[backends.http]" in text and '# token = { env = "JUX_HTTP_TOKEN" }' in text
    assert "REQUIRED" in text  # http.url has no default
    jt = write(lay.project / "jux.toml", text)
    cfg = lay.load()
    assert (cfg.project, cfg.publishers, cfg.storage_mode) == ("pump", ("http",), StorageMode.CACHE)
    assert cfg.backend_options("file", KeyOptions).key == jt.parent.resolve() / "keys" / "jux.pem"
    pp = write(lay.root / "pp" / "pyproject.toml",
               init_config_text(signer=None, pyproject=True, options_classes={"filesystem": StoreOptions}))
    cfg = lay.load(config_file=pp)
    assert cfg.sign is False and cfg.active_signer is None
    with pytest.raises(ValueError, match="secret"):
        init_config_text(options_classes={"file": KeyOptions}, values={"file": {"passphrase": SECRET}})


def test_config_objects_are_frozen() -> None:
    cfg = JuxConfig()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cfg.project = "x"  # type: ignore[misc,unused-ignore]


def test_os_environ_is_the_default_environment(lay: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUX_PROJECT", "from-os-environ")
    monkeypatch.delenv("JUX_CONFIG", raising=False)
    cfg = load_config(system_config_file=lay.system, user_config_dir=lay.user_dir, project_dir=lay.project)
    assert cfg.project == "from-os-environ"
    assert os.environ["JUX_PROJECT"] == "from-os-environ"
