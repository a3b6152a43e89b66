"""Numbers in configuration: non-finite or absurd values are configuration errors naming the key.

One mechanism covers every numeric option: the strict float hook refuses non-finite values, the
int hook refuses integers beyond 64 bits, and a :class:`~juxsdk.config.numbers.Range` validator on
each numeric field bounds it. These tests walk every numeric field of the core configuration and
of every registered backend's ``Options`` (so a new backend option is covered without a new
test) and feed each one absurd values through a TOML file, a ``JUX_*`` variable and the CLI.
"""

from __future__ import annotations

import datetime as dt
import math
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from juxsdk.config import JuxConfig, OutboxConfig, load_config
from juxsdk.config.numbers import (
    ATTEMPTS,
    BYTES,
    COUNT,
    DAYS,
    MAX_DAYS,
    POSITIVE_SECONDS,
    SECONDS,
    Range,
    range_of,
)
from juxsdk.errors import ConfigError
from juxsdk.registry import Registry

# --- discovering the numeric options -----------------------------------------------------------


def _base(tp: Any) -> Any:
    """``float | None`` -> ``float``; other types unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def _numeric_fields(cls: type[Any], prefix: str) -> Iterator[tuple[str, attrs.Attribute[Any]]]:
    attrs.resolve_types(cls)
    for f in attrs.fields(cls):
        base = _base(f.type)
        if base in (int, float):
            yield f"{prefix}{f.name}", f
        elif isinstance(base, type) and attrs.has(base):
            yield from _numeric_fields(base, f"{prefix}{f.name}.")


CORE = [key for key, _ in _numeric_fields(JuxConfig, "")]


def _backends() -> list[tuple[str, str, type[Any], str, attrs.Attribute[Any]]]:
    """``(kind, backend name, Options class, option, field)`` for every numeric backend option."""
    out = []
    for info in Registry().backends():
        for option, f in _numeric_fields(info.cls.Options, ""):
            out.append((info.kind, info.name, info.cls.Options, option, f))
    return out


BACKENDS = _backends()
BACKEND_IDS = [f"{name}.{option}" for _, name, _, option, _ in BACKENDS]


#: Values no numeric option accepts: TOML text as written in a file or a variable.
ABSURD = ["nan", "inf", "-inf", "+inf", "1e300", "-1", "-0.5", str(2**63), str(-(2**63) - 1)]
#: In a variable (no TOML syntax): what float() makes infinite.
ABSURD_ENV = [*ABSURD, "1e400", "-1e400", "Infinity", "NaN"]


def _days_past_year_9999() -> str:
    return str((dt.date(9999, 12, 31) - dt.datetime.now(dt.UTC).date()).days + 1)


def _absurd_for(f: attrs.Attribute[Any]) -> list[str]:
    rng = range_of(f.validator)
    extra = [_days_past_year_9999()] if rng is not None and rng.unit == "days" else []
    return ABSURD + extra


def _placeholder(f: attrs.Attribute[Any]) -> str:
    """A TOML value of the right type for a required non-numeric option."""
    base = _base(f.type)
    if base is str:
        return '"placeholder-value"'
    if isinstance(base, type) and issubclass(base, Path):
        return '"/nonexistent/placeholder"'
    raise AssertionError(f"no placeholder for required option {f.name} of type {f.type!r}")


def _required(options_cls: type[Any], option: str) -> str:
    """TOML lines setting every required option but ``option`` to a placeholder."""
    return "".join(f"{f.name} = {_placeholder(f)}\n" for f in attrs.fields(options_cls)
                   if f.name != option and f.default is attrs.NOTHING)


def _table(options_cls: type[Any], option: str, value: str) -> str:
    return f"{option} = {value}\n" + _required(options_cls, option)


def _load(tmp_path: Path, text: str = "", environ: dict[str, str] | None = None) -> JuxConfig:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True, exist_ok=True)
    if text:
        (project / "jux.toml").write_text(text, encoding="utf-8")
    return load_config(project_dir=project, environ=environ or {}, user_config_dir=tmp_path / "user",
                       system_config_file=tmp_path / "system.toml")


def _assert_names(err: ConfigError, key: str, where: str) -> None:
    assert key in err.message, err.message
    assert where in err.message, err.message
    assert "\n" not in err.message


# --- the core configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("key", CORE)
def test_core_numbers_from_a_file(tmp_path: Path, key: str) -> None:
    section, option = key.split(".")
    for value in ABSURD:
        with pytest.raises(ConfigError) as info:
            _load(tmp_path, f"[{section}]\n{option} = {value}\n")
        _assert_names(info.value, key, str(tmp_path / "project" / "jux.toml"))


@pytest.mark.parametrize("key", CORE)
def test_core_numbers_from_the_environment(tmp_path: Path, key: str) -> None:
    section, option = key.split(".")
    var = f"JUX_{section.upper()}__{option.upper()}"
    for value in ABSURD_ENV:
        with pytest.raises(ConfigError) as info:
            _load(tmp_path, environ={var: value})
        _assert_names(info.value, key, f"env {var}")


@pytest.mark.parametrize("key", CORE)
def test_core_numbers_from_overrides(tmp_path: Path, key: str) -> None:
    for value in (math.nan, math.inf, -math.inf, 1e300, -1, 2**63):
        with pytest.raises(ConfigError) as info:
            load_config(overrides={key: value}, project_dir=tmp_path, environ={},
                        user_config_dir=tmp_path / "user", system_config_file=tmp_path / "system.toml")
        _assert_names(info.value, key, "(argument)")


def test_outbox_numbers_at_their_limits(tmp_path: Path) -> None:
    # Before: accepted, then `now + timedelta(seconds=1e300)` overflowed when a report was queued.
    with pytest.raises(ConfigError, match=r"outbox\.backoff_max: out of range"):
        _load(tmp_path, "[outbox]\nbackoff_max = 1e300\n")
    with pytest.raises(ConfigError, match=r"outbox\.max_attempts: out of range"):
        _load(tmp_path, "[outbox]\nmax_attempts = 1001\n")
    cfg = _load(tmp_path, "[outbox]\nmax_attempts = 1000\nbackoff_base = 1\nbackoff_max = 604800\n")
    assert cfg.outbox == OutboxConfig(max_attempts=1000, backoff_base=1.0, backoff_max=604800.0)
    assert isinstance(cfg.outbox.backoff_base, float)
    cfg = _load(tmp_path, environ={"JUX_OUTBOX__BACKOFF_BASE": "0.25", "JUX_OUTBOX__MAX_ATTEMPTS": "3"})
    assert (cfg.outbox.backoff_base, cfg.outbox.max_attempts) == (0.25, 3)


# --- every registered backend's options -----------------------------------------------------------


@pytest.mark.parametrize(("kind", "name", "options_cls", "option", "field"), BACKENDS, ids=BACKEND_IDS)
def test_backend_numbers_from_a_file(tmp_path: Path, kind: str, name: str, options_cls: type[Any],
                                     option: str, field: attrs.Attribute[Any]) -> None:
    jux_toml = str(tmp_path / "project" / "jux.toml")
    for value in _absurd_for(field):
        cfg = _load(tmp_path, f"[backends.{name}]\n" + _table(options_cls, option, value))
        with pytest.raises(ConfigError) as info:
            cfg.backend_options(name, options_cls)
        _assert_names(info.value, f"backends.{name}.{option}", jux_toml)


@pytest.mark.parametrize(("kind", "name", "options_cls", "option", "field"), BACKENDS, ids=BACKEND_IDS)
def test_backend_numbers_from_the_environment(tmp_path: Path, kind: str, name: str, options_cls: type[Any],
                                              option: str, field: attrs.Attribute[Any]) -> None:
    var = f"JUX_{name.upper().replace('-', '_')}__{option.upper()}"
    for value in [*ABSURD_ENV, *_absurd_for(field)[len(ABSURD):]]:
        cfg = _load(tmp_path, f"[backends.{name}]\n{_required(options_cls, option)}", environ={var: value})
        with pytest.raises(ConfigError) as info:
            cfg.backend_options(name, options_cls)
        _assert_names(info.value, f"backends.{name}.{option}", f"env {var}")


@pytest.mark.parametrize(("kind", "name", "options_cls", "option", "field"), BACKENDS, ids=BACKEND_IDS)
def test_backend_numbers_refused_when_built_directly(kind: str, name: str, options_cls: type[Any],
                                                     option: str, field: attrs.Attribute[Any]) -> None:
    # The same Range is the field's attrs validator: Options(...) from Python refuses it too.
    required = {f.name: "placeholder-value" if _base(f.type) is str else Path("/nonexistent")
                for f in attrs.fields(options_cls) if f.name != option and f.default is attrs.NOTHING}
    for value in (math.nan, math.inf, -1, 1e300):
        with pytest.raises(ValueError, match=option):
            options_cls(**required, **{option: value})


@pytest.mark.parametrize(("kind", "name", "options_cls", "option", "field"), BACKENDS, ids=BACKEND_IDS)
def test_jux_config_check_exits_2_naming_the_key_and_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, name: str, options_cls: type[Any],
        option: str, field: attrs.Attribute[Any]) -> None:
    from juxsdk.cli import cli

    selection = {"signer": f'signer = "{name}"',
                 "store": f'sign = false\nstores = ["{name}"]',
                 "publisher": f'sign = false\nstores = []\npublishers = ["{name}"]\nstorage_mode = "api"'}[kind]
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    jux_toml = project / "jux.toml"
    value = "nan" if _base(field.type) is float else "-1"
    jux_toml.write_text(f"{selection}\n[backends.{name}]\n" + _table(options_cls, option, value), encoding="utf-8")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["config", "check"], prog_name="jux")
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"{jux_toml}: backends.{name}.{option}: " in result.stderr, result.stderr
    assert "Traceback" not in result.output + result.stderr


# --- the mechanism ---------------------------------------------------------------------------------


def test_every_numeric_option_declares_a_range() -> None:
    # The walks find what they must (so they cannot pass by finding nothing)...
    assert {"outbox.max_attempts", "outbox.backoff_base", "outbox.backoff_max"} <= set(CORE)
    found = {f"{name}.{option}" for _, name, _, option, _ in BACKENDS}
    assert {"http.timeout_connect", "http.timeout_read", "http.max_attempts", "http.total_deadline",
            "http.backoff_base", "http.retry_after_cap", "s3.connect_timeout", "s3.read_timeout",
            "s3.max_attempts"} <= found
    # ...and each numeric option has a Range. A bare `float` field is only protected against
    # nan/inf; the walks would catch a missing range through -1/1e300, this names the culprit.
    missing = [key for key, f in _numeric_fields(JuxConfig, "") if range_of(f.validator) is None]
    missing += [f"backends.{name}.{option}" for _, name, _, option, f in BACKENDS if range_of(f.validator) is None]
    assert not missing, f"numeric options without a juxsdk.config.numbers.Range validator: {missing}"


@attrs.frozen
class _Bare:
    """A third-party Options class with bare numbers (no Range): still no nan/inf, no 65-bit ints."""

    ratio: float = 1.0
    count: int = 1
    maybe: float | None = None


def test_bare_numbers_are_finite_and_64_bit(tmp_path: Path) -> None:
    for option, value in [("ratio", "nan"), ("ratio", "inf"), ("ratio", "-inf"), ("maybe", "nan"),
                          ("count", str(2**63)), ("count", str(-(2**63) - 1))]:
        cfg = _load(tmp_path, f"[backends.bare]\n{option} = {value}\n")
        with pytest.raises(ConfigError) as info:
            cfg.backend_options("bare", _Bare)
        _assert_names(info.value, f"backends.bare.{option}", str(tmp_path / "project" / "jux.toml"))
    # Without a range, any finite float and any 64-bit integer is kept.
    cfg = _load(tmp_path, f"[backends.bare]\nratio = -1e300\ncount = {2**63 - 1}\n",
                environ={"JUX_BARE__MAYBE": "-2.5"})
    assert cfg.backend_options("bare", _Bare) == _Bare(ratio=-1e300, count=2**63 - 1, maybe=-2.5)


def test_a_huge_integer_for_a_float_option_is_not_an_internal_error(tmp_path: Path) -> None:
    cfg = _load(tmp_path, f"[backends.bare]\nratio = {10**400}\n")
    with pytest.raises(ConfigError, match=r"backends\.bare\.ratio: not a finite number"):
        cfg.backend_options("bare", _Bare)


@pytest.mark.parametrize(("rng", "inside", "outside"), [
    (SECONDS, [0, 0.0, 1e-9, 604_800], [-1e-9, 604_800.5, math.nan, math.inf, -math.inf]),
    (POSITIVE_SECONDS, [1e-9, 0.5, 604_800], [0, 0.0, -0.0, -1, 604_801]),
    (ATTEMPTS, [1, 1000], [0, -1, 1001, 2**63]),
    (COUNT, [0, 1_000_000], [-1, 1_000_001]),
    (DAYS, [0, MAX_DAYS], [-1, MAX_DAYS + 1]),
    (BYTES, [0, 2**40], [-1, 2**40 + 1]),
])
def test_range_bounds(rng: Range, inside: list[float], outside: list[float]) -> None:
    for value in inside:
        assert rng.contains(value), value
    for value in outside:
        assert not rng.contains(value), value
    assert rng.contains(None)
    assert not rng.contains(True)
    assert not rng.contains("1")


def test_day_counts_stay_inside_the_calendar() -> None:
    now = dt.datetime.now(dt.UTC)
    assert (now + dt.timedelta(days=MAX_DAYS)).year <= 9999
    assert (now - dt.timedelta(days=MAX_DAYS)).year >= 1


def test_range_messages_and_validator() -> None:
    assert POSITIVE_SECONDS.describe() == "greater than 0 and at most 604_800 seconds"
    assert ATTEMPTS.describe() == "between 1 and 1000"
    assert ATTEMPTS.problem(0) == "out of range: expected a number between 1 and 1000"
    assert "finite" in (SECONDS.problem(math.nan) or "")
    with pytest.raises(ValueError, match="max_attempts: out of range"):
        OutboxConfig(max_attempts=0)
    with pytest.raises(ValueError, match="invalid range"):
        Range(2, 1)
    with pytest.raises(ValueError, match="invalid range"):
        Range(0, math.inf)
    assert Range(0, 1, unit="s") == Range(0, 1, unit="s") != Range(0, 1)
    assert repr(POSITIVE_SECONDS) == "Range(0, 604800, unit='seconds', low_open=True)"
