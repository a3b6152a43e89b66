"""The enabled plugin's run: build the pipeline at start-up, submit after the session, report.

Imported by :func:`pytest_jux.plugin.pytest_configure` only when the plugin is enabled, on the
xdist controller (or a run without xdist). :func:`start` loads juxsdk's configuration and builds
the pipeline, points pytest's junitxml plugin at a file, and registers a :class:`JuxSession`
(plugin name ``jux-session``) that holds the hooks of the rest of the run.

Only public pytest API is used: ``config.option.xmlpath`` (the destination of ``--junitxml``,
read with ``config.getoption``), ``config.add_cleanup``, ``config.pluginmanager.register``,
``pytest.hookimpl(wrapper=True)`` and the terminal reporter's ``write_sep``/``write_line``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import attest as _attest
from .settings import JuxSettings

if TYPE_CHECKING:  # pragma: no cover
    from juxsdk.client import Jux, SubmitResult
    from juxsdk.config import JuxConfig
    from juxsdk.models import Report, SignedReport
    from juxsdk.registry import Registry

__all__ = ["FALLBACK_DIR", "PLUGIN_NAME", "JuxSession", "keep_unsubmitted", "start"]

#: Name of the registered :class:`JuxSession` (``config.pluginmanager.get_plugin(PLUGIN_NAME)``).
PLUGIN_NAME = "jux-session"
#: Directory (below the project root) where a report that failed to be submitted is kept when
#: there was no ``--junitxml`` file to hold it (see :func:`keep_unsubmitted`).
FALLBACK_DIR = "jux-unsubmitted"

#: The plugin's records (and juxsdk's, under ``juxsdk.*``) go to pytest's logging plugin like any
#: other library's: ``--log-cli-level=INFO`` shows them live, ``--log-file`` keeps them; the plugin
#: never configures logging itself.
log = logging.getLogger("pytest_jux")

_PROCESS_EXIT_CODES = {int(pytest.ExitCode.OK), int(pytest.ExitCode.TESTS_FAILED),
                       int(pytest.ExitCode.NO_TESTS_COLLECTED)}


def start(config: pytest.Config, settings: JuxSettings) -> None:
    """Build the pipeline and register the hooks of an enabled run.

    Args:
        config: The pytest configuration (xdist controller or a plain run).
        settings: What the options, ini keys and environment say.

    Raises:
        pytest.UsageError: pytest's junitxml plugin is disabled (``-p no:junitxml``), or juxsdk
            refused the configuration (invalid file, unknown backend, unreadable key…).
    """
    if not config.pluginmanager.has_plugin("junitxml"):
        raise pytest.UsageError(
            "pytest-jux: pytest's junitxml plugin is disabled (-p no:junitxml), but pytest-jux signs "
            "the JUnit XML report that plugin writes; remove -p no:junitxml or run without --jux"
        )
    from juxsdk.telemetry import setup_from_environment

    said = setup_from_environment()  # JUX_OTEL and the standard OTEL_* variables
    if said is not None:
        log.info("pytest-jux: %s", said)
    try:
        sdk_config, registry, jux = _load(settings)
    except Exception as exc:
        from juxsdk.errors import JuxError

        if isinstance(exc, JuxError):
            raise pytest.UsageError(f"pytest-jux: {exc}") from exc
        raise
    session = JuxSession(settings, sdk_config, registry, jux)
    config.add_cleanup(session.close)
    xmlpath = config.getoption("xmlpath", default=None)  # --junitxml
    if xmlpath:
        # The same normalisation as pytest's junitxml plugin.
        expanded = os.path.expanduser(os.path.expandvars(xmlpath))
        session.xmlpath = session.report_path = Path(os.path.normpath(os.path.abspath(expanded)))
    else:
        # No --junitxml: pytest's junitxml plugin (configured after this tryfirst hook) writes
        # the report to a temporary file, in its own format, honouring every junit_* ini key
        # and record_testsuite_property.
        session.tmpdir = Path(tempfile.mkdtemp(prefix="pytest-jux-"))
        session.report_path = session.tmpdir / "junit.xml"
        config.option.xmlpath = str(session.report_path)
    config.pluginmanager.register(session, PLUGIN_NAME)


def _load(settings: JuxSettings) -> tuple[JuxConfig, Registry, Jux]:
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


class JuxSession:
    """The hooks and state of one enabled run (registered by :func:`start`).

    Attributes:
        settings: What the options, ini keys and environment said.
        sdk_config: The loaded juxsdk configuration.
        registry: The backend registry the pipeline was built from.
        jux: The pipeline.
        report_path: Where pytest's junitxml plugin writes the report.
        xmlpath: The user's ``--junitxml`` file, replaced by the signed bytes; None without it.
        tmpdir: The temporary directory of pytest's report when there was no ``--junitxml``.
        result: What :meth:`juxsdk.Jux.submit` returned, once it ran.
        error, hint: The jux failure to report, if any.
        skipped: Why the report was not submitted, if it was not.
        replaced: True once ``xmlpath`` holds the signed bytes.
        pending: The report being submitted (signed once signing worked), for the fallback.
        kept: Where the report was kept after a failure without ``--junitxml``
            (:func:`keep_unsubmitted`), if it was.
        lost: Why a report that failed without ``--junitxml`` could not be kept, if so.
    """

    def __init__(self, settings: JuxSettings, sdk_config: JuxConfig, registry: Registry, jux: Jux) -> None:
        self.settings = settings
        self.sdk_config = sdk_config
        self.registry = registry
        self.jux = jux
        self.report_path = Path("junit.xml")
        self.xmlpath: Path | None = None
        self.tmpdir: Path | None = None
        self.result: SubmitResult | None = None
        self.error: str | None = None
        self.hint: str | None = None
        self.skipped: str | None = None
        self.replaced = False
        self.pending: Report | SignedReport | None = None
        self.kept: Path | None = None
        self.lost: str | None = None

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        # trylast: the innermost wrapper, so this runs after junitxml has written its file and
        # before the terminal reporter prints the summary.
        result = yield
        if int(exitstatus) not in _PROCESS_EXIT_CODES:
            self.skipped = f"session ended with exit status {int(exitstatus)}; the report was not submitted"
            return result
        try:
            _process(session.config, self)
        except Exception as exc:  # noqa: BLE001 - a jux failure must never break the test run
            from juxsdk.errors import JuxError

            if isinstance(exc, JuxError):
                self.error, self.hint = exc.message, exc.hint
            else:  # a bug or an unexpected library error: report it, never break the run
                self.error = f"unexpected {type(exc).__name__}: {exc}"
        if self.error:
            keep_unsubmitted(self)
        # A jux failure changes the outcome only in strict mode, or when the report is lost
        # (not stored, not published, and not even kept in the fallback directory).
        if self.error and (self.settings.strict or self.lost) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return result

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        _summary(terminalreporter, self)

    def close(self) -> None:
        """Remove the temporary report directory and close the backends (a ``config`` cleanup)."""
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        with contextlib.suppress(Exception):
            self.jux.close()


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
    from juxsdk.files import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode=None)  # an ordinary file, like the one pytest wrote


def _process(config: pytest.Config, state: JuxSession) -> None:
    from juxsdk.errors import ReportError
    from juxsdk.junit import add_properties, parse_report
    from juxsdk.limits import read_bounded
    from juxsdk.metadata import collect_metadata

    path = state.report_path
    if not path.is_file():
        raise ReportError(f"no JUnit XML report was written ({path})",
                          hint="did another plugin change --junitxml (config.option.xmlpath)?")
    # The user's --junitxml path is a useful source; our temporary file is not.
    source = str(path) if state.xmlpath is not None else None
    # read like every other input: a report over the size cap is refused while it is read
    report = parse_report(read_bounded(path, name=source or path.name), source=source)
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
    state.pending = report
    state.result = state.jux.submit(report, source=source)
    state.pending = state.result.report
    log.info("pytest-jux: report %s %s (%d tests)", state.result.report.canonical_hash,
             "submitted" if state.result.ok else "submitted with failures", report.summary.tests,
             extra={"jux": {"event": "pytest_jux.submit", "canonical_hash": state.result.report.canonical_hash,
                            "outcome": "ok" if state.result.ok else "failed", "tests": report.summary.tests}})
    if state.xmlpath is not None:
        _write_atomically(state.xmlpath, state.result.report.data)
        state.replaced = True
    _attest.run(config, state.jux, state.result.report, _write_atomically, state.settings.root)
    if not state.result.ok:
        state.error = _first_failure(state.result)


def keep_unsubmitted(state: JuxSession) -> None:
    """Without ``--junitxml``, keep a report that was not fully submitted in :data:`FALLBACK_DIR`.

    Called after a jux failure. The report kept is the signed one when signing worked (else the
    report pytest wrote, with its provenance properties, unsigned), written as
    ``<root>/jux-unsubmitted/<canonical hex>.xml`` (mode 0666 less the umask), so that it can be
    submitted later with ``jux submit jux-unsubmitted/`` (idempotent: a report stored meanwhile is
    not stored twice). Sets :attr:`JuxSession.kept`, or :attr:`JuxSession.lost` when even this
    write failed; never raises.

    Args:
        state: The run's session state, after :meth:`juxsdk.Jux.submit` failed or returned a
            result that is not ``ok``.
    """
    report = state.pending
    if state.xmlpath is not None or report is None or (state.result is not None and state.result.ok):
        return
    from juxsdk.models import canonical_hex

    path = state.settings.root / FALLBACK_DIR / f"{canonical_hex(report.canonical_hash)}.xml"
    try:
        _write_atomically(path, report.data)
    except OSError as exc:
        state.lost = f"the report could not be kept at {path}: {exc.strerror or exc}"
        return
    state.kept = path


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


def _summary(tr: pytest.TerminalReporter, state: JuxSession) -> None:
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
        elif state.tmpdir is not None and state.kept is None:
            tr.write_line("report: not kept (no --junitxml: pytest wrote a temporary file, removed at exit)")
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
    for line in _attest.summary(tr.config):
        tr.write_line(line)
    if state.error:
        tr.write_line(f"jux failed: {state.error}", red=True)
        if state.hint:
            tr.write_line(f"hint: {state.hint}")
        if state.kept is not None:
            signed = "signed " if getattr(state.pending, "signed", False) else "unsigned "
            tr.write_line(f"{signed}report kept at {state.kept} (no --junitxml); submit it later with "
                          f"`jux submit {state.kept}`", red=True, bold=True)
        elif state.lost is not None:
            tr.write_line(f"report LOST: {state.lost}; the session fails", red=True, bold=True)
        if state.settings.strict:
            tr.write_line("jux strict mode (--jux-strict): the session fails because of the error above",
                          red=True, bold=True)
        elif state.lost is None:
            tr.write_line("the test outcome is unchanged (use --jux-strict to fail the session)")
