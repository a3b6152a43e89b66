"""The juxsdk.config package: light submodules, no import cycle, small modules, strict conversion
through cattrs' own container handling, and every problem reported at once."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

import juxsdk.config
from juxsdk.config import Secret, StorageMode, load_config, structure_options
from juxsdk.errors import ConfigError

PACKAGE = Path(juxsdk.config.__file__).resolve().parent
SECRET = "s3cr3t-Value-never-shown"


# --- structure of the package ----------------------------------------------------------------


def _modules_after(code: str) -> set[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


HEAVY = {"cattrs", "tomllib", "juxsdk.config.load", "juxsdk.config.convert", "juxsdk.config.problems",
         "juxsdk.config.model", "juxsdk.config.render", "platformdirs"}


@pytest.mark.parametrize("code", [
    "import juxsdk.config.secret",
    "from juxsdk.config.secret import Secret",
    "from juxsdk.config import Secret",
    "import juxsdk.config.numbers",
    "from juxsdk.config import user_data_dir, user_config_dir, POSITIVE_SECONDS",
    "import juxsdk.config",
])
def test_light_submodules_do_not_load_the_loader(code: str) -> None:
    loaded = _modules_after(code)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY}, code


def test_the_loader_loads_on_first_use_of_its_names() -> None:
    loaded = _modules_after("from juxsdk.config import load_config")
    assert {"juxsdk.config.load", "tomllib"} <= loaded
    assert "cattrs" not in loaded  # only when something is structured


def _imports(path: Path) -> set[str]:
    """Every juxsdk.config module a file imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("juxsdk.config."):
            found.add(node.module.split(".")[2])  # type: ignore[union-attr]
    return found


def test_no_import_cycle_and_no_big_module() -> None:
    graph = {p.stem: _imports(p) - {p.stem} for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert set(graph) >= {"secret", "numbers", "paths", "model", "convert", "problems", "load", "render"}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        assert node not in visiting, f"import cycle: {' -> '.join([*visiting, node])}"
        if node in done or node not in graph:
            return
        visiting.append(node)
        for dep in graph[node]:
            visit(dep)
        visiting.pop()
        done.add(node)

    for node in graph:
        visit(node)
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 800, path.name
    # the light modules import no heavier sibling at all
    assert graph["secret"] <= set() and graph["numbers"] <= set() and graph["paths"] <= set()


def test_every_public_name_resolves() -> None:
    for name in juxsdk.config.__all__:
        assert getattr(juxsdk.config, name) is not None, name
    assert sorted(dir(juxsdk.config)) == sorted(juxsdk.config.__all__)
    with pytest.raises(AttributeError):
        juxsdk.config.no_such_name
    from juxsdk.config.secret import Secret as Light

    assert Light is Secret


# --- strict conversion through cattrs' own container handling -----------------------------------


@attrs.frozen
class Shapes:
    names: list[str] = attrs.field(factory=list)
    tags: frozenset[str] = frozenset()
    uniq: set[int] = attrs.field(factory=set)
    seq: Sequence[str] = ()
    either: int | str = 0
    maybe: tuple[str, ...] | None = None
    table: dict[str, int] = attrs.field(factory=dict)
    level: Literal["low", "high"] = "low"
    mode: StorageMode = StorageMode.LOCAL


def _opts(raw: dict[str, Any]) -> Shapes:
    return structure_options(Shapes, raw, backend="shapes")


def test_containers_unions_literals_and_enums_structure() -> None:
    got = _opts({"names": ["a", "b"], "tags": ["x", "x"], "uniq": [1, 2, 1], "seq": ["s"], "either": "e",
                 "maybe": ["m"], "table": {"k": 1}, "level": "high", "mode": "cache"})
    assert got == Shapes(["a", "b"], frozenset({"x"}), {1, 2}, ("s",), "e", ("m",), {"k": 1}, "high",
                         StorageMode.CACHE)
    assert isinstance(got.seq, tuple) and isinstance(got.names, list)
    assert _opts({"either": 3, "maybe": None}).either == 3


@pytest.mark.parametrize(("raw", "message"), [
    ({"names": "ab"}, "backends.shapes.names: expected an array of strings, got a string"),
    ({"tags": {"a": "b"}}, "backends.shapes.tags: expected an array of strings, got a table"),
    ({"uniq": [1, "2"]}, "backends.shapes.uniq[1]: expected an integer, got a string"),
    ({"seq": "s"}, "backends.shapes.seq: expected an array of strings, got a string"),
    ({"maybe": "m"}, "backends.shapes.maybe: expected an array of strings, got a string"),
    ({"either": True}, "backends.shapes.either: expected an integer or a string, got a boolean"),
    ({"either": 1.5}, "backends.shapes.either: expected an integer or a string, got a float"),
    ({"table": [1]}, "backends.shapes.table: expected a table, got an array"),
    ({"table": {"k": "1"}}, "backends.shapes.table.k: expected an integer, got a string"),
    ({"level": "mid"}, "backends.shapes.level: invalid value 'mid'; expected one of: low, high"),
    ({"level": 1}, "backends.shapes.level: invalid value; expected one of: low, high"),
    ({"mode": "sometimes"}, "backends.shapes.mode: invalid value 'sometimes'; expected one of: local, api"),
    ({"mode": 3}, "backends.shapes.mode: expected a string, got an integer"),
])
def test_strictness_is_kept(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _opts(raw)
    assert info.value.message.startswith(message), info.value.message


def test_string_false_is_never_true_and_numbers_are_not_read_from_strings() -> None:
    @attrs.frozen
    class Flags:
        on: bool = True
        count: int = 1
        ratio: float = 1.0

    for raw in ({"on": "false"}, {"on": 0}, {"count": "3"}, {"count": 3.0}, {"ratio": "0.5"}, {"count": True}):
        with pytest.raises(ConfigError):
            structure_options(Flags, raw, backend="flags")
    # from the environment, text is converted by the field's type
    env = {"backends.flags.on": "env JUX_FLAGS__ON", "backends.flags.count": "env JUX_FLAGS__COUNT",
           "backends.flags.ratio": "env JUX_FLAGS__RATIO"}
    got = structure_options(Flags, {"on": "false", "count": "3", "ratio": "0.5"}, backend="flags", sources=env)
    assert got == Flags(on=False, count=3, ratio=0.5)


# --- every problem at once -----------------------------------------------------------------------


def _layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    project = tmp_path / "repo"
    (project / ".git").mkdir(parents=True)
    user = tmp_path / "user"
    user.mkdir()
    return project, user, tmp_path / "system.toml"


def test_problems_in_several_files_env_and_overrides_are_all_listed(tmp_path: Path) -> None:
    project, user, system = _layout(tmp_path)
    system.write_text("[outbox]\nmax_attempts = 0\n", encoding="utf-8")
    (user / "config.toml").write_text('stores = "filesystem"\n[metadata]\ngit = "yes"\n', encoding="utf-8")
    (project / "pyproject.toml").write_text('[tool.jux]\nstorage_mode = "often"\nstorage = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(project_dir=project, user_config_dir=user, system_config_file=system,
                    environ={"JUX_SIGN": "perhaps"}, overrides={"publishers": ["http", "http"]})
    lines = info.value.message.splitlines()
    assert lines[0] == "7 configuration problems", lines
    problems = [ln.strip() for ln in lines[1:] if not ln.strip().startswith("hint:")]
    pyproject, user_file = (project / "pyproject.toml").resolve(), (user / "config.toml").resolve()
    assert problems == [
        "sign (env JUX_SIGN): expected a boolean (true/false, 1/0, yes/no, on/off)",
        f"{user_file}: stores: expected an array of strings, got a string",
        f"{pyproject}: tool.jux.storage_mode: invalid value 'often'; expected one of: local, api, both, cache",
        f"{user_file}: metadata.git: expected a boolean (true or false), got a string",
        f"{system.resolve()}: outbox.max_attempts: out of range: expected a number between 1 and 1000",
        f"{pyproject}: tool.jux.storage: unknown key",
        "publishers[1] (argument): backend 'http' is listed twice",
    ]


def test_a_broken_file_does_not_hide_the_other_files_problems(tmp_path: Path) -> None:
    project, user, system = _layout(tmp_path)
    (user / "config.toml").write_text("project = \n", encoding="utf-8")
    (project / "jux.toml").write_text("sign = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(project_dir=project, user_config_dir=user, system_config_file=system, environ={})
    lines = info.value.message.splitlines()
    assert lines[0] == "2 configuration problems"
    assert lines[1].startswith(f"  {user / 'config.toml'}:1:") and "invalid TOML" in lines[1]
    assert any(ln.startswith(f"  {(project / 'jux.toml').resolve()}: sign: expected a boolean") for ln in lines)


def test_backend_options_list_every_problem_and_never_the_secret(tmp_path: Path) -> None:
    @attrs.frozen
    class Opts:
        url: str
        token: Secret | None = None
        retries: int = 3
        tags: tuple[str, ...] = ()

    raw = {"token": SECRET, "retries": SECRET, "tags": SECRET, "extra": SECRET}
    with pytest.raises(ConfigError) as info:
        structure_options(Opts, raw, backend="svc", sources={"backends.svc.retries": str(tmp_path / "jux.toml")})
    err = info.value
    lines = err.message.splitlines()
    assert lines[0] == "4 configuration problems"
    assert any(ln.strip().endswith("backends.svc.url: required key is missing") for ln in lines)
    assert any(ln.strip().startswith(f"{tmp_path / 'jux.toml'}: backends.svc.retries: expected an integer")
               for ln in lines)
    assert any(ln.strip().endswith("backends.svc.extra: unknown key") for ln in lines)
    for text in (err.message, err.hint or "", str(err), repr(err)):
        assert SECRET not in text


def test_one_problem_is_one_line(tmp_path: Path) -> None:
    project, user, system = _layout(tmp_path)
    (project / "jux.toml").write_text("[outbox]\nbackoff_max = 1\nbackoff_base = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(project_dir=project, user_config_dir=user, system_config_file=system, environ={})
    assert info.value.message == (f"{(project / 'jux.toml').resolve()}: outbox.backoff_max: must not be smaller "
                                  "than outbox.backoff_base")
    assert info.value.hint == "set outbox.backoff_max to at least 2 seconds"


def test_an_options_class_refusing_values_with_a_config_error_keeps_its_words() -> None:
    def check(_inst: Any, _attr: Any, value: str) -> None:
        if value == "bad":
            raise ConfigError("vault: mode 'bad' is not supported", hint="use mode = 'good'")

    @attrs.frozen
    class Vault:
        mode: str = attrs.field(default="good", validator=check)
        shards: int = 1

    with pytest.raises(ConfigError) as info:
        structure_options(Vault, {"mode": "bad"}, backend="vault")
    assert (info.value.message, info.value.hint) == ("backends.vault: vault: mode 'bad' is not supported",
                                                     "use mode = 'good'")
    env = {"backends.vault.shards": "env JUX_VAULT__SHARDS"}
    with pytest.raises(ConfigError) as info:  # with another problem: both listed
        structure_options(Vault, {"mode": "bad", "shards": "many"}, backend="vault", sources=env)
    lines = info.value.message.splitlines()
    assert lines[0] == "2 configuration problems"
    assert "  backends.vault.shards (env JUX_VAULT__SHARDS): expected an integer" in lines
