"""The pytest-jux plugin: sign, store and publish the JUnit XML report of a pytest run.

The plugin holds no signing, configuration-parsing or storage logic. It

1. translates ``--jux-*`` options and ``jux_*`` ini keys into ``overrides`` for
   :func:`juxsdk.load_config` (loaded from the pytest *rootdir*), builds the pipeline with
   :meth:`juxsdk.Jux.from_config` at startup (so a missing key or an unknown backend is a
   usage error before any test runs);
2. after the session (a ``wrapper=True`` ``pytest_sessionfinish``, after ``yield``, so
   pytest's junitxml plugin has written its file — or, without ``--junitxml``, the plugin's
   own instance of pytest's ``LogXML`` has written a temporary one) adds provenance
   properties with :func:`juxsdk.metadata.collect_metadata` and
   :func:`juxsdk.junit.add_properties`, then calls :meth:`juxsdk.Jux.submit`;
3. replaces the ``--junitxml`` file with the exact signed bytes and reports in one terminal
   summary section.

Precedence of every setting, highest first: command line > environment (``JUX_*``) > ini
(``pytest.ini``/``tox.ini``/``setup.cfg``/``[tool.pytest.ini_options]``) and ``[tool.jux]`` /
``jux.toml`` > user config file > defaults. Command-line values are passed to the SDK loader
as overrides; an ini value is passed only when the matching ``JUX_*`` variable is unset.

Only pytest and the standard library are imported at import time; juxsdk is imported inside
the hooks, and only when the plugin is enabled.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import attest as _attest

__all__ = ["JuxSettings"]

#: ini key -> (help, pytest ini type)
INI_KEYS: dict[str, tuple[str, str]] = {
    "jux_enabled": ("enable pytest-jux (sign/store/publish the JUnit XML report)", "bool"),
    "jux_sign": ("sign the report (default: as configured for juxsdk)", "bool"),
    "jux_key_path": ("private key (PEM) for the 'file' signer; relative to the ini file", "string"),
    "jux_cert_path": ("certificate (PEM) for the 'file' signer; relative to the ini file", "string"),
    "jux_signer": ("signer backend name (e.g. file, pkcs11)", "string"),
    "jux_storage_mode": ("local | api | both | cache", "string"),
    "jux_publish": ("publish the report to the configured publishers", "bool"),
    "jux_api_url": ("Jux API v1 base URL (enables the 'http' publisher)", "string"),
    "jux_project": ("project name recorded in the report", "string"),
    "jux_strict": ("fail the session when signing/storing/publishing fails", "bool"),
}

#: Settings the SDK loader knows: option dest / ini key / JUX_* variable / loader key.
#: ``kind`` says how to convert: "bool", "str" or "path".
_SDK_SETTINGS: tuple[tuple[str, str, str, str, str], ...] = (
    ("jux_sign", "jux_sign", "JUX_SIGN", "sign", "bool"),
    ("jux_signer", "jux_signer", "JUX_SIGNER", "signer", "str"),
    ("jux_key", "jux_key_path", "JUX_FILE__KEY", "backends.file.key", "path"),
    ("jux_cert", "jux_cert_path", "JUX_FILE__CERTIFICATE", "backends.file.certificate", "path"),
    ("jux_storage_mode", "jux_storage_mode", "JUX_STORAGE_MODE", "storage_mode", "str"),
    ("jux_api_url", "jux_api_url", "JUX_HTTP__URL", "backends.http.url", "str"),
    ("jux_project", "jux_project", "JUX_PROJECT", "project", "str"),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# --- options -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jux", "signed JUnit XML reports (pytest-jux, juxsdk)")
    group.addoption("--jux", action="store_true", dest="jux_enabled", default=None,
                    help="sign, store and publish the JUnit XML report of this run [ini: jux_enabled]")
    group.addoption("--no-jux", action="store_false", dest="jux_enabled",
                    help="disable pytest-jux for this run")
    group.addoption("--jux-sign", action="store_true", dest="jux_sign", default=None,
                    help="sign the report [ini: jux_sign; env: JUX_SIGN]")
    group.addoption("--no-jux-sign", action="store_false", dest="jux_sign",
                    help="do not sign (store/publish the report unsigned)")
    group.addoption("--jux-key", dest="jux_key", default=None, metavar="PATH",
                    help="private key (PEM) for the 'file' signer [ini: jux_key_path; env: JUX_FILE__KEY]")
    group.addoption("--jux-cert", dest="jux_cert", default=None, metavar="PATH",
                    help="certificate (PEM) to embed [ini: jux_cert_path; env: JUX_FILE__CERTIFICATE]")
    group.addoption("--jux-signer", dest="jux_signer", default=None, metavar="NAME",
                    help="signer backend name [ini: jux_signer; env: JUX_SIGNER]")
    group.addoption("--jux-storage-mode", dest="jux_storage_mode", default=None, metavar="MODE",
                    help="local | api | both | cache [ini: jux_storage_mode; env: JUX_STORAGE_MODE]")
    group.addoption("--jux-publish", action="store_true", dest="jux_publish", default=None,
                    help="publish the report [ini: jux_publish; env: JUX_PUBLISH]")
    group.addoption("--no-jux-publish", action="store_false", dest="jux_publish",
                    help="do not publish (store locally only)")
    group.addoption("--jux-api-url", dest="jux_api_url", default=None, metavar="URL",
                    help="Jux API v1 base URL; adds the 'http' publisher "
                    "[ini: jux_api_url; env: JUX_HTTP__URL]")
    group.addoption("--jux-project", dest="jux_project", default=None, metavar="NAME",
                    help="project name [ini: jux_project; env: JUX_PROJECT]")
    group.addoption("--jux-property", dest="jux_property", action="append", default=None,
                    metavar="KEY=VALUE", help="extra report property (repeatable)")
    group.addoption("--jux-strict", action="store_true", dest="jux_strict", default=None,
                    help="a jux failure fails the session [ini: jux_strict; env: JUX_STRICT]")
    group.addoption("--no-jux-strict", action="store_false", dest="jux_strict",
                    help="a jux failure is only reported (default)")
    for name, (help_text, ini_type) in INI_KEYS.items():
        parser.addini(name, help_text, type=ini_type, default=None)  # type: ignore[arg-type]
    _attest.addoption(parser, group)


# --- settings ------------------------------------------------------------------------------


@dataclass
class JuxSettings:
    """What the options, ini keys and environment say, before the SDK loader runs.

    Attributes:
        overrides: Dotted loader keys -> values for :func:`juxsdk.load_config`.
        publish: True/False when publishing was asked for / refused, None when unset.
        add_http_publisher: ``jux_api_url`` was given: make sure ``"http"`` is a publisher.
        strict: A jux failure fails the session.
        properties: ``--jux-property`` values, in order.
        root: The pytest rootdir (the SDK loader's project directory).
    """

    overrides: dict[str, Any] = field(default_factory=dict)
    publish: bool | None = None
    add_http_publisher: bool = False
    strict: bool = False
    properties: dict[str, str] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)


def _env_bool(environ: Mapping[str, str], name: str) -> bool | None:
    raw = environ.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise pytest.UsageError(
        f"pytest-jux: {name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)"
    )


def _ini(config: pytest.Config, name: str) -> Any:
    """An ini value, or None when the key is not set (``""``/``[]`` from older pytest)."""
    try:
        value = config.getini(name)
    except ValueError:
        return None
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = value.strip()
        if INI_KEYS[name][1] == "bool":
            low = value.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise pytest.UsageError(f"pytest-jux: ini key {name} = {value!r} is not a boolean")
    return value


def _ini_base(config: pytest.Config) -> Path:
    inipath = getattr(config, "inipath", None)
    return Path(inipath).parent if inipath else Path(config.rootpath)


def _resolve_bool(
    config: pytest.Config, dest: str, ini: str, env: str, environ: Mapping[str, str]
) -> bool | None:
    cli = config.getoption(dest, default=None)
    if cli is not None:
        return bool(cli)
    from_env = _env_bool(environ, env)
    if from_env is not None:
        return from_env
    value = _ini(config, ini)
    return None if value is None else bool(value)


def is_enabled(config: pytest.Config, environ: Mapping[str, str] | None = None) -> bool:
    """``--jux``/``--no-jux`` > ``JUX_ENABLED`` > ini ``jux_enabled`` > off."""
    env = os.environ if environ is None else environ
    return bool(_resolve_bool(config, "jux_enabled", "jux_enabled", "JUX_ENABLED", env))


def build_settings(config: pytest.Config, environ: Mapping[str, str] | None = None) -> JuxSettings:
    """Translate options, ini keys and environment into :class:`JuxSettings`.

    Raises:
        pytest.UsageError: a malformed ``--jux-property``, ini value or ``JUX_*`` boolean.
    """
    env = os.environ if environ is None else environ
    invocation_dir = Path(config.invocation_params.dir)
    ini_base = _ini_base(config)
    settings = JuxSettings(root=Path(config.rootpath))
    for dest, ini, env_name, key, kind in _SDK_SETTINGS:
        cli = config.getoption(dest, default=None)
        value: Any
        if cli is not None:  # command line: always an override
            value = str((invocation_dir / Path(cli).expanduser()).resolve()) if kind == "path" else cli
        elif env_name in env:  # environment: the SDK loader reads it itself
            continue
        else:
            value = _ini(config, ini)
            if value is None:
                continue
            if kind == "path":
                value = str((ini_base / Path(str(value)).expanduser()).resolve())
        if key == "storage_mode":
            from juxsdk.storage_mode import StorageMode  # the SDK's one definition of the modes

            if value not in {m.value for m in StorageMode}:
                where = "--jux-storage-mode" if cli is not None else f"ini key {ini} ="
                raise pytest.UsageError(f"pytest-jux: {where} {value!r}; "
                                        f"expected one of {', '.join(m.value for m in StorageMode)}")
        settings.overrides[key] = value
        if key == "backends.http.url":
            settings.add_http_publisher = True
        if key == "backends.file.key" and config.getoption("jux_signer", default=None) is None \
                and "JUX_SIGNER" not in env and _ini(config, "jux_signer") is None:
            # A key path means the file signer unless a signer is named at this level.
            settings.overrides.setdefault("signer", "file")
    if "JUX_HTTP__URL" in env and config.getoption("jux_api_url", default=None) is None:
        settings.add_http_publisher = True
    settings.publish = _resolve_bool(config, "jux_publish", "jux_publish", "JUX_PUBLISH", env)
    settings.strict = bool(_resolve_bool(config, "jux_strict", "jux_strict", "JUX_STRICT", env))
    for item in config.getoption("jux_property", default=None) or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise pytest.UsageError(f"pytest-jux: --jux-property expects KEY=VALUE, got {item!r}")
        settings.properties[name.strip()] = value
    return settings


# --- state ---------------------------------------------------------------------------------


@dataclass
class _State:
    settings: JuxSettings
    jux: Any = None
    registry: Any = None
    sdk_config: Any = None
    xmlpath: Path | None = None  # the user's --junitxml file
    tmpdir: Path | None = None  # our own report directory when there was no --junitxml
    logxml: Any = None
    result: Any = None
    error: str | None = None
    hint: str | None = None
    skipped: str | None = None
    replaced: bool = False


_STATE = pytest.StashKey[_State]()


def _load(settings: JuxSettings) -> tuple[Any, Any, Any]:
    """Load the SDK configuration from the rootdir and build the pipeline (imports juxsdk).

    Raises:
        juxsdk.errors.JuxError: invalid configuration, unknown backend, unreadable key…
    """
    from juxsdk.client import Jux
    from juxsdk.config import load_config
    from juxsdk.registry import Registry

    overrides = dict(settings.overrides)
    cfg = load_config(project_dir=settings.root, overrides=overrides, override_source="pytest option")
    publishers = [str(p) for p in cfg.publishers]
    mode = str(cfg.storage_mode)
    adjust: dict[str, Any] = {}
    if settings.publish is False:
        adjust["publishers"] = []
        if mode != "local":
            adjust["storage_mode"] = "local"
    else:
        if settings.add_http_publisher and "http" not in publishers:
            adjust["publishers"] = [*publishers, "http"]
        if settings.publish and mode == "local":
            adjust["storage_mode"] = "both"
    if adjust:
        overrides.update(adjust)
        cfg = load_config(project_dir=settings.root, overrides=overrides, override_source="pytest option")
    registry = Registry()
    # metadata=False: the plugin collects provenance itself (rootdir, harness, pytest values).
    jux = Jux.from_config(cfg, registry=registry, metadata=False)
    return cfg, registry, jux


def _make_logxml(config: pytest.Config, path: Path) -> Any:
    from _pytest import junitxml

    class _JuxLogXML(junitxml.LogXML):
        """pytest's own JUnit XML writer, to a temporary file, without the terminal line."""

        def pytest_terminal_summary(self, *args: Any, **kwargs: Any) -> None:
            return None

    xml = _JuxLogXML(
        str(path),
        getattr(config.option, "junitprefix", None),
        config.getini("junit_suite_name"),
        config.getini("junit_logging"),
        config.getini("junit_duration_report"),
        config.getini("junit_family"),
        config.getini("junit_log_passing_tests"),
    )
    # Make record_testsuite_property / record_xml_attribute work as with --junitxml.
    config.stash[junitxml.xml_key] = xml
    config.pluginmanager.register(xml, "jux-logxml")
    return xml


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # xdist worker: only the controller acts
        return
    if not is_enabled(config):
        return
    settings = build_settings(config)
    state = _State(settings=settings)
    try:
        state.sdk_config, state.registry, state.jux = _load(settings)
    except Exception as exc:
        from juxsdk.errors import JuxError

        if isinstance(exc, JuxError):
            raise pytest.UsageError(f"pytest-jux: {exc}") from exc
        raise
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        # The same normalisation as pytest's junitxml plugin (LogXML.__init__).
        expanded = os.path.expanduser(os.path.expandvars(xmlpath))
        state.xmlpath = Path(os.path.normpath(os.path.abspath(expanded)))
    else:
        state.tmpdir = Path(tempfile.mkdtemp(prefix="pytest-jux-"))
        state.logxml = _make_logxml(config, state.tmpdir / "junit.xml")
    config.stash[_STATE] = state


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    # pytest's junitxml plugin unregisters the LogXML it finds in its stash key (ours, too);
    # only when that plugin is disabled (-p no:junitxml) is it left to us.
    if (
        state.logxml is not None
        and config.pluginmanager.get_plugin("junitxml") is None
        and config.pluginmanager.is_registered(state.logxml)
    ):
        config.pluginmanager.unregister(state.logxml)
    if state.tmpdir is not None:
        shutil.rmtree(state.tmpdir, ignore_errors=True)
    if state.jux is not None:
        close = getattr(state.jux, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()
    del config.stash[_STATE]


# --- the run -------------------------------------------------------------------------------

_PROCESS_EXIT_CODES = {int(pytest.ExitCode.OK), int(pytest.ExitCode.TESTS_FAILED),
                       int(pytest.ExitCode.NO_TESTS_COLLECTED)}


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    # trylast: the innermost wrapper, so this runs after junitxml has written its file and
    # before the terminal reporter prints the summary.
    result = yield
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None:
        return result
    if int(exitstatus) not in _PROCESS_EXIT_CODES:
        state.skipped = f"session ended with exit status {int(exitstatus)}; the report was not submitted"
        return result
    try:
        _process(config, state)
    except Exception as exc:  # noqa: BLE001 - a jux failure must never break the test run
        from juxsdk.errors import JuxError

        if isinstance(exc, JuxError):
            state.error, state.hint = exc.message, exc.hint
        else:  # a bug or an unexpected library error: report it, never break the run
            state.error = f"unexpected {type(exc).__name__}: {exc}"
    if state.error and state.settings.strict and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result


def _pytest_metadata(config: pytest.Config) -> dict[str, str]:
    """pytest-metadata's values (flattened ``a.b`` names), when that plugin is active."""
    if not config.pluginmanager.hasplugin("metadata"):
        return {}
    try:
        metadata_key = importlib.import_module("pytest_metadata.plugin").metadata_key
    except (ImportError, AttributeError):
        return {}
    data = config.stash.get(metadata_key, None) or {}
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif value is not None:
            out[f"metadata:{prefix}"] = str(value)

    walk("", data)
    return out


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".jux-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _process(config: pytest.Config, state: _State) -> None:
    from juxsdk.errors import ReportError
    from juxsdk.junit import add_properties, parse_report
    from juxsdk.metadata import collect_metadata

    path = state.xmlpath or (state.tmpdir / "junit.xml" if state.tmpdir else None)
    if path is None or not path.is_file():
        raise ReportError(f"no JUnit XML report was written ({path})",
                          hint="is the junitxml plugin disabled (-p no:junitxml)?")
    # The user's --junitxml path is a useful source; our temporary file is not.
    source = str(path) if state.xmlpath is not None else None
    report = parse_report(path.read_bytes(), source=source)
    cfg = state.sdk_config
    md = cfg.metadata
    explicit: dict[str, str] = {**md.properties, **state.settings.properties}
    collected = collect_metadata(
        project=cfg.project,
        root=state.settings.root,
        env_allowlist=md.env_allowlist,
        include_username=md.include_username,
        git=md.git,
        harness="pytest",
        extra={"jux:pytest_version": pytest.__version__, **_pytest_metadata(config), **explicit},
        registry=state.registry,
    )
    if cfg.project:
        explicit["project"] = cfg.project
    # Explicit values (project setting, [tool.jux.metadata] properties, --jux-property) win
    # over the report's own properties (record_testsuite_property); detected ones do not.
    present = {name for name, _ in report.properties}
    props = {k: v for k, v in collected.items() if k in explicit or k not in present}
    report = add_properties(report, props, replace=True)
    state.result = state.jux.submit(report, source=source)
    if state.xmlpath is not None:
        _write_atomically(state.xmlpath, state.result.report.data)
        state.replaced = True
    _attest.run(config, state.jux, state.result.report, _write_atomically)
    if not state.result.ok:
        state.error = _first_failure(state.result)


def _name(obj: Any) -> str:
    return str(getattr(obj, "name", obj))


def _first_failure(result: Any) -> str:
    for outcome in getattr(result, "stored", ()):
        if outcome.error is not None:
            return f"store {_name(outcome.store)} failed: {_err(outcome.error)}"
    for outcome in getattr(result, "published", ()):
        if outcome.error is not None and not outcome.queued:
            return f"publish to {_name(outcome.publisher)} failed: {_err(outcome.error)}"
    return "the report was not fully submitted"


def _err(error: Any) -> str:
    return str(getattr(error, "message", None) or error)


# --- reporting -----------------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    tr = terminalreporter
    tr.write_sep("-", "jux")
    if state.skipped:
        tr.write_line(f"jux: {state.skipped}", yellow=True)
        return
    result = state.result
    if result is not None:
        report = result.report
        signature = getattr(report, "signature", None)
        if signature is not None:
            tr.write_line(f"signed by: {signature.signer} ({signature.algorithm})")
        else:
            tr.write_line("signed by: nobody (signing is off)")
        tr.write_line(f"canonical hash: {report.canonical_hash}")
        if state.replaced:
            tr.write_line(f"report: {state.xmlpath}")
        stored = tuple(getattr(result, "stored", ()))
        for outcome in stored:
            if outcome.error is None:
                where = getattr(outcome.record, "location", None) or "(stored)"
                tr.write_line(f"stored: {_name(outcome.store)}: {where}")
            else:
                tr.write_line(f"store {_name(outcome.store)} failed: {_err(outcome.error)}", red=True)
        if not stored:
            tr.write_line("stored: nowhere (storage mode does not store locally)")
        published = tuple(getattr(result, "published", ()))
        for outcome in published:
            if outcome.receipt is not None:
                receipt = outcome.receipt
                run = f" run {receipt.run_id}" if receipt.run_id else ""
                tr.write_line(f"published: {_name(outcome.publisher)}: {receipt.status}{run}")
            elif outcome.queued:
                tr.write_line(
                    f"publish to {_name(outcome.publisher)} queued for retry: {_err(outcome.error)} "
                    "(run `jux publish --queue`)", yellow=True,
                )
            else:
                tr.write_line(
                    f"publish to {_name(outcome.publisher)} failed: {_err(outcome.error)}", red=True
                )
        if not published:
            mode = getattr(state.sdk_config, "storage_mode", "local")
            if mode == "local":
                tr.write_line("published: no (storage mode local)")
            else:
                tr.write_line(f"published: no publisher is configured (storage mode {mode})", yellow=True)
    for line in _attest.summary(config):
        tr.write_line(line)
    if state.error:
        tr.write_line(f"jux failed: {state.error}", red=True)
        if state.hint:
            tr.write_line(f"hint: {state.hint}")
        if state.settings.strict:
            tr.write_line("jux strict mode (--jux-strict): the session fails because of the error above",
                          red=True, bold=True)
        else:
            tr.write_line("the test outcome is unchanged (use --jux-strict to fail the session)")
