"""Shared CLI plumbing: global state, error rendering, exit codes, output helpers.

Import only ``click``, :mod:`juxsdk.errors` and the number ranges of :mod:`juxsdk.config.numbers`
at module level: ``jux --help`` must not pull in lxml, cryptography, signxml or the config loader.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar, overload

import click

from juxsdk.errors import EXIT_ERROR, EXIT_USAGE, ConfigError, JuxError

if TYPE_CHECKING:  # pragma: no cover
    from juxsdk.client import Jux
    from juxsdk.config import JuxConfig
    from juxsdk.config.numbers import Range
    from juxsdk.protocols import Signer
    from juxsdk.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])

#: click context settings shared by every command (also when run through an alias script).
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class State:
    """Options given to the ``jux`` group (or to any command): shared by every command.

    Attributes:
        config_path: Explicit configuration file (``--config``), else None.
        verbose: ``-v`` given: tracebacks for internal errors, debug logging.
        color: False when ``--no-color`` (or ``NO_COLOR``) asks for plain output.
        log_format: ``--log-format`` (or ``JUX_LOG_FORMAT``): ``"text"`` or ``"json"``, else None.
        log_level: ``--log-level`` (or ``JUX_LOG_LEVEL``), else None.
    """

    def __init__(self) -> None:
        self.config_path: Path | None = None
        self.verbose = False
        self.color: bool | None = False if os.environ.get("NO_COLOR") else None
        self.log_format: str | None = None
        self.log_level: str | None = None
        self._registry: Registry | None = None
        self._signing_log: Any = _UNSET
        self._logging_reset = False
        _start_telemetry()

    def registry(self) -> Registry:
        """The backend registry (built once per invocation)."""
        if self._registry is None:
            from juxsdk.registry import Registry

            self._registry = Registry()
        return self._registry


_UNSET: Any = object()
_telemetry_started = False


def _start_telemetry() -> None:
    """Turn OpenTelemetry on once per process when ``JUX_OTEL`` asks (see :mod:`juxsdk._telemetry`)."""
    global _telemetry_started
    if _telemetry_started:
        return
    _telemetry_started = True
    from juxsdk import _telemetry

    said = _telemetry.setup_from_environment()
    if said is not None and "not installed" in said:
        echo_err("warning", said, fg="yellow")


def get_state(ctx: click.Context | None = None) -> State:
    """Return the invocation's :class:`State`, creating it on the root context if needed."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


# --- global options (accepted on the group and on every command) ---------------------------


def _set_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        get_state(ctx).config_path = value


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        state = get_state(ctx)
        state.verbose = True
        _configure_logging(state)


def _set_log_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        state = get_state(ctx)
        state.log_format = value.lower()
        _configure_logging(state)


def _set_log_level(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        state = get_state(ctx)
        state.log_level = value.lower()
        _configure_logging(state)


def _configure_logging(state: State) -> None:
    from ._logging import configure_logging, reset_logging

    configure_logging(state.log_format, state.log_level, verbose=state.verbose)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and not state._logging_reset:
        state._logging_reset = True
        ctx.find_root().call_on_close(reset_logging)


def _set_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        get_state(ctx).color = False
    if get_state(ctx).color is False:
        ctx.find_root().color = False
        ctx.color = False


@overload
def global_options(f: F) -> F: ...


@overload
def global_options(f: None = None, *, hidden: bool = False) -> Callable[[F], F]: ...


def global_options(f: F | None = None, *, hidden: bool = False) -> F | Callable[[F], F]:
    """Add ``--config``, ``-v/--verbose``, ``--log-format``, ``--log-level`` and ``--no-color``
    to a command or group.

    Used bare on the ``jux`` group (shown in its help) and as ``global_options(hidden=True)``
    on every command, so ``jux sign -v`` works like ``jux -v sign`` without repeating the
    options in every help page.
    """

    def decorate(func: F) -> F:
        func = click.option(
            "--no-color",
            is_flag=True,
            expose_value=False,
            hidden=hidden,
            callback=_set_no_color,
            help="Plain output without ANSI colours (also: NO_COLOR=1).",
        )(func)
        func = click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False),
            envvar="JUX_LOG_LEVEL",
            expose_value=False,
            hidden=hidden,
            callback=_set_log_level,
            help="Log records of juxsdk from this level on, to stderr (also: JUX_LOG_LEVEL).",
        )(func)
        func = click.option(
            "--log-format",
            type=click.Choice(["text", "json"], case_sensitive=False),
            envvar="JUX_LOG_FORMAT",
            expose_value=False,
            hidden=hidden,
            callback=_set_log_format,
            help="Log records as text or as JSON lines on stderr (also: JUX_LOG_FORMAT).",
        )(func)
        func = click.option(
            "-v",
            "--verbose",
            is_flag=True,
            expose_value=False,
            hidden=hidden,
            callback=_set_verbose,
            help="Debug logging, and a traceback for internal errors.",
        )(func)
        func = click.option(
            "--config",
            "config_file",
            type=click.Path(path_type=Path, dir_okay=False),
            expose_value=False,
            hidden=hidden,
            callback=_set_config,
            help="Configuration file to use (jux.toml or pyproject.toml) instead of the project file "
            "lookup (also: JUX_CONFIG).",
        )(func)
        return func

    return decorate(f) if f is not None else decorate


# --- renamed options (one vocabulary, old spellings kept for one release) ------------------


def renamed_option(old: str, new: str, dest: str, *, meaning: str, **option: Any) -> Callable[[F], F]:
    """Keep ``old`` as a hidden, deprecated spelling of the option ``new`` (stored in ``dest``).

    The flag vocabulary is the same on every command (``docs/reference/cli.md``, "One
    vocabulary"): ``--signing-cert`` embeds a certificate, ``--cert/--pubkey/--ca`` name trust
    anchors. A command whose option was renamed keeps the old spelling for one release: it is
    hidden from ``--help``, works as before, and prints one ``warning:`` line on stderr naming
    the new spelling. Giving both spellings is a usage error (exit code 2).

    Apply it below ``@click.command`` (like ``@click.option``), after the option ``new``.

    Args:
        old: The deprecated spelling, e.g. ``"--cert"``.
        new: The spelling to use instead, e.g. ``"--signing-cert"``.
        dest: The command parameter both spellings fill, e.g. ``"signing_cert"``.
        meaning: What the option means, for the warning (``"the certificate to embed"``).
        **option: Further :func:`click.option` arguments (``type``, ``multiple``, ``metavar``).

    Returns:
        A decorator for the command function.
    """
    import functools

    hidden_dest = f"_deprecated_{dest}"

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(hidden_dest, None)
            if value is not None and value != ():
                if kwargs.get(dest) not in (None, ()):
                    raise click.UsageError(f"give {new} only ({old} is its deprecated spelling here)")
                ctx = click.get_current_context()
                echo_err(
                    "warning",
                    f"{old} is deprecated in `{ctx.command_path}`: use {new} ({meaning}); {old} will be "
                    "removed in the next release",
                    fg="yellow",
                )
                kwargs[dest] = value
            return func(*args, **kwargs)

        return click.option(old, hidden_dest, hidden=True, **option)(wrapper)  # type: ignore[return-value]

    return decorate


# --- error rendering -----------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def echo_err(label: str, message: str, *, fg: str | None = None) -> None:
    """Print ``<label>: <message>`` on stderr as one line."""
    ctx = click.get_current_context(silent=True)
    color = None if ctx is None else ctx.color
    click.echo(click.style(f"{label}:", fg=fg, bold=True) + " " + _one_line(message), err=True, color=color)


def hint_of(exc: BaseException) -> str | None:
    """The advice to show a ``jux`` user: the error's ``cli_hint`` when it has one, else its ``hint``.

    Library errors may phrase a hint for Python callers (``replace=True``); their ``cli_hint``
    says the same with the command's options (``use --force``).
    """
    return getattr(exc, "cli_hint", None) or getattr(exc, "hint", None)


def render_error(exc: JuxError) -> None:
    """Print ``error: <message>`` and, when there is one, ``hint: <hint>`` (one line each).

    A list (a summary line, then lines indented by two spaces or more: a configuration error
    listing every problem) keeps its lines and their indentation under the ``error:`` line; any
    other message is shown on one line.
    """
    first, *rest = exc.message.split("\n")
    if not rest or not all(line.startswith("  ") for line in rest):
        first, rest = exc.message, []
    echo_err("error", first, fg="red")
    for line in rest:
        indent = len(line) - len(line.lstrip())
        click.echo(" " * indent + _one_line(line), err=True)
    hint = hint_of(exc)
    if hint:
        echo_err("hint", hint, fg="yellow")


def _handle(ctx: click.Context, exc: BaseException) -> NoReturn:
    import traceback

    state = get_state(ctx)
    if isinstance(exc, JuxError):
        if state.verbose:
            traceback.print_exc(file=sys.stderr)
        render_error(exc)
        ctx.exit(exc.exit_code)
    if state.verbose:
        traceback.print_exc(file=sys.stderr)
    echo_err("error", f"internal error: {type(exc).__name__}: {exc}", fg="red")
    echo_err(
        "hint",
        "this is a bug in juxsdk or a plugin; rerun with -v for the traceback and report it",
        fg="yellow",
    )
    ctx.exit(EXIT_ERROR)


_PASSTHROUGH: tuple[type[BaseException], ...] = (
    click.exceptions.ClickException,
    click.exceptions.Exit,
    click.exceptions.Abort,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)


class JuxCommand(click.Command):
    """A command that renders :class:`JuxError` as ``error:``/``hint:`` lines and exits with its code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASSTHROUGH:
            raise
        except BrokenPipeError:
            # Output closed early (`jux cache list | head`): not an error worth a message.
            _silence_stdout()
            ctx.exit(EXIT_ERROR)
        except Exception as exc:  # noqa: BLE001 - the one place that turns any error into a message
            _handle(ctx, exc)


class JuxGroup(click.Group):
    """A group whose commands are :class:`JuxCommand`; subcommands may be loaded lazily.

    Args:
        lazy_subcommands: ``name -> "module:attribute"`` commands imported only when used or
            listed; skipped silently when the module is not installed.
    """

    command_class = JuxCommand

    def __init__(self, *args: Any, lazy_subcommands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands: dict[str, str] = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n, target in self.lazy_subcommands.items() if _module_available(target))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in self.lazy_subcommands:
            cmd = load_lazy(self.lazy_subcommands[cmd_name])
            if cmd is not None:
                self.add_command(cmd, cmd_name)
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASSTHROUGH:
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that turns any error into a message
            _handle(ctx, exc)


JuxGroup.group_class = JuxGroup


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (CliRunner)
        pass


def _module_available(target: str) -> bool:
    import importlib.util

    modname = target.partition(":")[0]
    try:
        return importlib.util.find_spec(modname) is not None
    except (ImportError, ValueError):
        return False


def load_lazy(target: str) -> click.Command | None:
    """Import ``"module:attribute"`` and return the click command, or None when absent.

    A module that exists but fails to import raises (so the failure is visible).
    """
    import importlib

    modname, _, attr = target.partition(":")
    if not _module_available(target):
        return None
    module = importlib.import_module(modname)
    cmd = getattr(module, attr, None)
    return cmd if isinstance(cmd, click.Command) else None


# --- configuration and pipeline ------------------------------------------------------------


def load_config(overrides: Mapping[str, Any] | None = None) -> JuxConfig:
    """Load the layered configuration, honouring ``--config`` and CLI overrides.

    Args:
        overrides: CLI-flag values (highest precedence), in the config's shape
            (``{"signer": "file", "backends": {"file": {"key": "..."}}}``).

    Raises:
        ConfigError: the configuration is invalid (exit code 2).
    """
    from juxsdk import config as _config

    state = get_state()
    kwargs: dict[str, Any] = {}
    if state.config_path is not None:
        if not state.config_path.is_file():
            raise ConfigError(
                f"configuration file {state.config_path} does not exist",
                hint="check the --config path (or JUX_CONFIG)",
            )
        kwargs["config_file"] = state.config_path
    if overrides:
        kwargs["overrides"] = dict(overrides)
    return _config.load_config(override_source="command line", **kwargs)


def options_classes() -> Mapping[str, type[Any]]:
    """Backend name → its ``Options`` class; a backend's module is imported only when looked up."""
    return get_state().registry().options_classes()


def make_backend(config: JuxConfig, kind: str, name: str) -> Any:
    """Build one backend with :meth:`juxsdk.registry.Registry.create` (options from ``config``).

    Raises:
        BackendNotFoundError: no backend of that kind and name (exit code 2).
        PluginError: its plugin cannot be loaded (exit code 2).
        ConfigError: its options do not fit (exit code 2).
    """
    return get_state().registry().create(kind, name, config)


def make_signer(config: JuxConfig) -> Signer:
    """Instantiate the configured signer only (no stores, no publishers).

    Raises:
        ConfigError: signing is disabled or no signer is selected, or its options are invalid.
    """
    name = config.active_signer
    if name is None:
        raise ConfigError(
            "no signer is configured (signer is unset or sign = false)",
            hint='set signer = "file" (after `jux keygen`), or pass --key KEY --signing-cert CERT',
        )
    return get_state().registry().create("signer", name, config)


def signing_log() -> Any:
    """The signing log of this invocation (:class:`juxsdk.signing_log.SigningLog`), or None when disabled.

    Read from ``[signing_log]``; a command that does not otherwise need the configuration
    (``jux verify``) still records in the default log when the configuration cannot be loaded.
    """
    state = get_state()
    if state._signing_log is _UNSET:
        from juxsdk.config import JuxConfig
        from juxsdk.signing_log import SigningLog

        try:
            config = load_config()
        except ConfigError:
            config = JuxConfig()
        state._signing_log = SigningLog.from_config(config)
    return state._signing_log


def journal(operation: str, **fields: Any) -> None:
    """Append one line to the signing log, when it is enabled (see :meth:`juxsdk.signing_log.SigningLog.record`).

    Args:
        operation: ``"sign"``, ``"delete"``, ``"verify"``…
        **fields: ``canonical_hash``, ``signature``, ``backend``, ``outcome``, ``detail``.
    """
    log = signing_log()
    if log is not None:
        log.record(operation, **fields)


def make_client(config: JuxConfig) -> Jux:
    """Build the configured pipeline (signer, stores, publishers) from ``config``."""
    from juxsdk.client import Jux

    return Jux.from_config(config, registry=get_state().registry())


# --- input / output ------------------------------------------------------------------------


def read_input(path: str) -> tuple[bytes, str]:
    """Read a report from a file path or ``-`` (stdin, binary), refusing it past the size limit.

    Reading goes through :func:`juxsdk.limits.read_bounded`: a file over
    :data:`~juxsdk.limits.DEFAULT_MAX_BYTES` is refused before it is read, and stdin is refused
    as soon as it passes the limit, so a huge input never fills memory.

    Returns:
        ``(data, source)`` where ``source`` is the file name or ``"<stdin>"``.

    Raises:
        juxsdk.errors.ReportTooLargeError: the input is over the size limit.
        juxsdk.errors.ReportError: the file does not exist or cannot be read.
    """
    from juxsdk.limits import read_bounded

    if path == "-":
        if _stdin_is_tty():
            raise click.UsageError("no report given: pass FILE, or pipe a report into stdin ('-')")
        return read_bounded(sys.stdin.buffer, name="<stdin>"), "<stdin>"
    return read_bounded(path), str(path)


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def write_output(path: str, data: bytes) -> None:
    """Write ``data`` exactly to a file (:func:`juxsdk.files.write_atomic`, replacing it) or to stdout (``-``)."""
    if path == "-":
        out: IO[bytes] = sys.stdout.buffer
        out.write(data)
        out.flush()
        return
    from juxsdk.files import write_atomic

    try:
        write_atomic(path, data, mode=None)  # an ordinary file: keeps the mode of the one it replaces
    except OSError as exc:
        raise JuxError(f"cannot write {path}: {exc.strerror or exc}") from exc


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    import json

    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str, ensure_ascii=False))


def parse_properties(values: Iterable[str]) -> list[tuple[str, str]]:
    """Parse repeated ``K=V`` options.

    Raises:
        click.BadParameter: an item has no ``=`` or an empty key (exit code 2).
    """
    props: list[tuple[str, str]] = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="'--property'")
        props.append((key.strip(), value))
    return props


def parse_datetime(value: str, *, option: str) -> Any:
    """Parse an ISO 8601 date or date-time (naive values are UTC).

    The instant must exist in UTC: ``9999-12-31T23:00:00-05:00`` (year 10000 in UTC) and
    ``0001-01-01T00:00:00+05:00`` (year 0) are refused, so no later conversion or comparison
    overflows.

    Args:
        value: The option's text.
        option: The option's name for the message (``"--at"``).

    Returns:
        An aware :class:`datetime.datetime` (the offset given, or UTC).

    Raises:
        click.BadParameter: the value is not ISO 8601, or is outside years 1-9999 in UTC
            (exit code 2).
    """
    import datetime as dt

    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date or date-time (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)",
            param_hint=f"'{option}'",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        parsed.astimezone(dt.UTC)
    except OverflowError:
        raise click.BadParameter(
            f"{value!r} is outside the calendar: in UTC it is before year 1 or after year 9999",
            param_hint=f"'{option}'",
        ) from None
    return parsed


class _FiniteFloatRange(click.FloatRange):
    """click's FloatRange, which lets ``nan`` through (every comparison with nan is false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number != number:  # nan
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def number_type(allowed: Range, *, integer: bool) -> click.IntRange | click.FloatRange:
    """The click type of a number flag, bounded by a :mod:`juxsdk.config.numbers` range.

    Configuration and flags share the ranges, so ``--days`` accepts what a day count in the
    configuration accepts. A value outside the range (or ``nan``/``inf``, or too large) is a
    click usage error naming the flag (exit code 2); ``--help`` shows the range.

    Args:
        allowed: The range, e.g. :data:`juxsdk.config.numbers.DAYS`.
        integer: An integer flag (else a float flag, finite).

    Returns:
        A :class:`click.IntRange` or a finite :class:`click.FloatRange`.
    """
    if integer:
        return click.IntRange(int(allowed.low), int(allowed.high), min_open=allowed.low_open)
    return _FiniteFloatRange(allowed.low, allowed.high, min_open=allowed.low_open)


def human_size(size: int) -> str:
    """A byte count for people: ``"512 B"``, ``"1.5 KiB"``, ``"3.2 MiB"`` (IEC binary units, 1024).

    Args:
        size: A number of bytes (0 or more).
    """
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 failure"``, ``"2 failures"``: a count with the noun in the right number.

    Args:
        count: How many.
        singular: The noun for one (``"failure"``, ``"report"``).
        plural_form: The noun for any other count (default: ``singular + "s"``).
    """
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def counts(tests: int, failures: int, errors: int, skipped: int | None = None) -> str:
    """``"3 tests, 1 failure, 0 errors, 2 skipped"``: a report summary's counts, plurals right."""
    text = f"{plural(tests, 'test')}, {plural(failures, 'failure')}, {plural(errors, 'error')}"
    return text if skipped is None else f"{text}, {skipped} skipped"


#: Colours of the status words (``OK``, ``FAIL``…) at the start of a result line.
_STATUS_COLOURS = {
    "OK": "green",
    "FAIL": "red",
    "FAILED": "red",
    "ERROR": "red",
    "VIOLATION": "red",
    "PART": "yellow",
    "SKIP": "yellow",
}


def status_word(word: str, *, width: int = 4) -> str:
    """``word`` padded to ``width`` and coloured (OK green, FAIL/ERROR/VIOLATION red, PART/SKIP yellow).

    The ANSI codes are removed by :func:`click.echo` when the output is not a terminal, and
    never written with ``--no-color`` or ``NO_COLOR`` set (the context's ``color`` is False).
    """
    return click.style(word, fg=_STATUS_COLOURS.get(word), bold=True) + " " * max(0, width - len(word))


class HashPrefixType(click.ParamType[str]):
    """A canonical-hash prefix argument (``3fa9``, ``sha256:3FA9``), checked when parsed.

    Text that is not leading hex digits is a usage error (exit code 2) naming the argument,
    like any other bad value; the value itself is passed on unchanged.
    """

    name = "hash_prefix"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from juxsdk.models import hash_prefix_digits

        try:
            hash_prefix_digits(value)
        except JuxError as exc:
            hint = hint_of(exc)
            self.fail(f"{exc.message} ({hint})" if hint else exc.message, param, ctx)
        return value


#: The parameter type of every HASH / HASH_PREFIX argument.
HASH_PREFIX = HashPrefixType()


def short_hash(canonical_hash: str, length: int = 16) -> str:
    """``sha256:abcdef…`` → ``abcdef…`` (first ``length`` hex digits)."""
    return canonical_hash.partition(":")[2][:length] or canonical_hash[:length]


def usage_error(message: str) -> NoReturn:
    """Raise a click usage error (exit code 2)."""
    raise click.UsageError(message)


__all__ = [
    "EXIT_USAGE",
    "HASH_PREFIX",
    "JuxCommand",
    "JuxGroup",
    "State",
    "counts",
    "echo_err",
    "echo_json",
    "get_state",
    "global_options",
    "hint_of",
    "human_size",
    "journal",
    "load_config",
    "make_client",
    "number_type",
    "parse_datetime",
    "parse_properties",
    "plural",
    "read_input",
    "renamed_option",
    "render_error",
    "short_hash",
    "signing_log",
    "status_word",
    "write_output",
]
