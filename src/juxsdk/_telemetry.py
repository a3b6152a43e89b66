"""The one instrumentation mechanism: structured log events, OpenTelemetry spans and metrics.

Every instrumented step of juxsdk (parse, canonicalise, sign, store, publish, verify, audit,
submit) goes through :func:`operation` (a context manager) or :func:`traced` (a decorator around
a pure function). On exit an operation

* logs one event through :mod:`logging` (never configured here: the library only emits
  records; the CLI and the pytest plugin decide where they go) when its logger is enabled for
  the event's level. The record carries the stable fields in its ``jux`` attribute:
  ``event``, ``outcome``, ``duration`` (seconds), ``canonical_hash``, ``backend``,
  ``error_class``, ``size`` (bytes), ``tests``…;
* when OpenTelemetry is **enabled**, ends a span ``jux.<name>`` (attributes ``jux.*`` and
  ``error.type``) and records metrics: ``jux.reports.signed|stored|published|verified``,
  ``jux.reports.failed``, ``jux.report.bytes``, ``jux.operation.duration`` (histogram,
  seconds), and the observable gauge ``jux.outbox.depth``.

Cost: with OpenTelemetry disabled and the event's level off, :func:`operation` returns a shared
no-op object (two attribute reads and a dictionary); :func:`traced` adds one function call and
the same test. ``benchmarks/bench_ops.py`` measures both.

OpenTelemetry is enabled when the ``opentelemetry-api`` package is importable **and** either
:func:`enable` was called (a program that configured its own providers) or
:func:`setup_from_environment` found ``JUX_OTEL`` set to a true value and ``OTEL_SDK_DISABLED``
not true (the CLI and the pytest plugin call it). Only this module imports ``opentelemetry``.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

__all__ = [
    "Operation",
    "disable",
    "enable",
    "enabled",
    "event",
    "observe",
    "operation",
    "otel_available",
    "setup_from_environment",
    "traced",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Operations that count reports, and the counter each one adds to on success.
_COUNTERS = {
    "sign": "jux.reports.signed",
    "store": "jux.reports.stored",
    "publish": "jux.reports.published",
    "verify": "jux.reports.verified",
}
#: Fields of an operation that become metric attributes (bounded cardinality: never a hash).
_METRIC_FIELDS = ("backend", "outcome")
_TRUE = frozenset({"1", "true", "yes", "on"})
_INFO = logging.INFO


class _State:
    """Process-wide switch and OpenTelemetry handles (created when enabled)."""

    def __init__(self) -> None:
        self.on = False
        self.tracer: Any = None
        self.meter: Any = None
        self.instruments: dict[str, Any] = {}
        self.gauges: dict[str, list[Callable[[], float | int | None]]] = {}
        self.lock = threading.Lock()
        self.available: bool | None = None
        self.shutdown: list[Callable[[], Any]] = []


_state = _State()


def otel_available() -> bool:
    """True when ``opentelemetry-api`` can be imported (looked up once)."""
    if _state.available is None:
        try:
            _state.available = importlib.util.find_spec("opentelemetry.trace") is not None
        except (ImportError, ValueError):
            _state.available = False
    return _state.available


def enabled() -> bool:
    """True when spans and metrics are sent to OpenTelemetry."""
    return _state.on


def enable(*, tracer_provider: Any = None, meter_provider: Any = None) -> bool:
    """Send spans and metrics to OpenTelemetry.

    Args:
        tracer_provider: Provider to take the ``juxsdk`` tracer from (default: the global one,
            ``opentelemetry.trace.get_tracer_provider()``).
        meter_provider: Provider to take the ``juxsdk`` meter from (default: the global one).

    Returns:
        True when enabled; False when ``opentelemetry-api`` is not installed.
    """
    if not otel_available():
        return False
    from opentelemetry import metrics, trace

    from . import __version__

    with _state.lock:
        tp = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        mp = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        _state.tracer = tp.get_tracer("juxsdk", __version__)
        _state.meter = mp.get_meter("juxsdk", __version__)
        _state.instruments = _instruments(_state.meter)
        for name, callbacks in _state.gauges.items():
            _register_gauge(name, callbacks)
        _state.on = True
    return True


def disable() -> None:
    """Stop sending spans and metrics (shutting down the providers :func:`setup_from_environment` made)."""
    with _state.lock:
        _state.on = False
        _state.tracer = _state.meter = None
        _state.instruments = {}
        _state.gauges = {}
        pending, _state.shutdown = _state.shutdown, []
    for shutdown in pending:
        try:
            shutdown()
        except Exception:  # noqa: BLE001, S110 - an exporter failing at exit must not fail the program
            pass


def _instruments(meter: Any) -> dict[str, Any]:
    made: dict[str, Any] = {
        name: meter.create_counter(name, unit="{report}", description=f"Reports: {op} succeeded")
        for op, name in _COUNTERS.items()
    }
    made["jux.reports.failed"] = meter.create_counter(
        "jux.reports.failed", unit="{report}", description="Reports an operation failed on (jux.operation)")
    made["jux.report.bytes"] = meter.create_counter(
        "jux.report.bytes", unit="By", description="Report bytes processed, by operation")
    made["jux.operation.duration"] = meter.create_histogram(
        "jux.operation.duration", unit="s", description="Duration of juxsdk operations")
    return made


def _register_gauge(name: str, callbacks: list[Callable[[], float | int | None]]) -> None:
    from opentelemetry.metrics import Observation

    def observe_all(_options: Any) -> Iterable[Any]:
        for fn in list(callbacks):
            try:
                value = fn()
            except Exception:  # noqa: BLE001, S112 - a gauge that cannot be read is skipped, not fatal
                continue
            if value is not None:
                yield Observation(value)

    _state.meter.create_observable_gauge(name, callbacks=[observe_all], unit="{report}",
                                         description="Reports waiting in the outbox")


def observe(name: str, callback: Callable[[], float | int | None]) -> None:
    """Report ``callback()`` as the observable gauge ``name`` while OpenTelemetry is enabled.

    Read only when the metric reader collects (e.g. every ``OTEL_METRIC_EXPORT_INTERVAL``), so
    an expensive reading (``len(outbox)``) costs nothing per report. A callback that raises or
    returns None is skipped.

    Args:
        name: Gauge name, e.g. ``"jux.outbox.depth"``.
        callback: Returns the current value.
    """
    with _state.lock:
        callbacks = _state.gauges.get(name)
        if callbacks is None:
            callbacks = _state.gauges[name] = []
            if _state.on:
                _register_gauge(name, callbacks)
        callbacks.append(callback)


# --- operations --------------------------------------------------------------------------------


def _otel_attributes(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None or key == "duration":
            continue
        if key == "error_class":
            out["error.type"] = value
        elif isinstance(value, bool | int | float | str):
            out[f"jux.{key}"] = value
        elif isinstance(value, list | tuple):
            out[f"jux.{key}"] = [str(v) for v in value]
        else:
            out[f"jux.{key}"] = str(value)
    return out


class Operation:
    """One instrumented step (returned by :func:`operation`; use it as a context manager).

    Attributes:
        name: The operation (``"sign"``, ``"store"``…).
        fields: What is known about it so far (``backend``, ``canonical_hash``…).
    """

    __slots__ = ("_span", "_start", "_token", "fields", "level", "logger", "name")

    def __init__(self, name: str, logger: logging.Logger | None, level: int, fields: dict[str, Any]) -> None:
        self.name = name
        self.logger = logger
        self.level = level
        self.fields = fields
        self._span: Any = None
        self._token: Any = None
        self._start = 0.0

    def __enter__(self) -> Operation:
        if _state.on and _state.tracer is not None:
            from opentelemetry import context, trace

            self._span = _state.tracer.start_span(f"jux.{self.name}", attributes=_otel_attributes(self.fields))
            self._token = context.attach(trace.set_span_in_context(self._span))
        self._start = time.perf_counter()
        return self

    def set(self, **fields: Any) -> None:
        """Add what became known (``canonical_hash=``, ``outcome=``, ``size=``…)."""
        self.fields.update(fields)
        if self._span is not None:
            self._span.set_attributes(_otel_attributes(fields))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> None:
        duration = time.perf_counter() - self._start
        fields = self.fields
        if exc is not None:
            fields["outcome"] = fields.get("outcome") or "error"  # an outcome set before raising wins
            fields["error_class"] = type(exc).__name__
        else:
            fields.setdefault("outcome", "ok")
        fields["duration"] = duration
        if self._span is not None:
            self._end_span(exc)
        if _state.on:
            _record_metrics(self.name, fields, duration)
        if self.logger is not None and self.logger.isEnabledFor(self.level):
            _log(self.logger, self.level, self.name, fields, exc)

    def _end_span(self, exc: BaseException | None) -> None:
        from opentelemetry import context, trace

        span, self._span = self._span, None
        try:
            span.set_attribute("jux.outcome", self.fields["outcome"])
            if exc is not None:
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(trace.Status(trace.StatusCode.ERROR, _error_text(exc)))
            span.end()
        finally:
            if self._token is not None:
                context.detach(self._token)
                self._token = None


class _NoOperation:
    """What :func:`operation` returns when nobody listens: every method does nothing."""

    __slots__ = ()
    fields: Mapping[str, Any] = {}

    def __enter__(self) -> _NoOperation:
        return self

    def set(self, **fields: Any) -> None:
        """Nothing to record."""

    def __exit__(self, *exc: object) -> None:
        return None


_NOOP = _NoOperation()


def operation(name: str, logger: logging.Logger | None = None, level: int = _INFO,
              **fields: Any) -> Operation | _NoOperation:
    """Instrument one step: a span, metrics and a log event (see the module docstring).

    Example::

        with _telemetry.operation("store", log, backend=store.name, canonical_hash=h) as op:
            record = store.put(report)
            op.set(outcome="stored")

    Args:
        name: Operation name (``"parse"``, ``"canonicalise"``, ``"sign"``, ``"store"``,
            ``"publish"``, ``"verify"``, ``"audit"``, ``"submit"``…).
        logger: Logger of the event (None: no log event).
        level: Level of the event.
        **fields: Known attributes (``backend``, ``canonical_hash``, ``size``, ``tests``…).

    Returns:
        A context manager with ``set(**fields)``; a shared no-op one when OpenTelemetry is
        disabled and ``logger`` is not enabled for ``level``.
    """
    if not _state.on and (logger is None or not logger.isEnabledFor(level)):
        return _NOOP
    return Operation(name, logger, level, fields)


def traced(name: str, logger: logging.Logger, *, level: int = logging.DEBUG,
           result: Callable[[Any], Mapping[str, Any]] | None = None) -> Callable[[F], F]:
    """Decorate a function so each call is an :func:`operation`.

    Args:
        name: Operation name.
        logger: Logger of the event.
        level: Level of the event (default DEBUG: the pure functions are chatty).
        result: Maps the return value to fields (``canonical_hash``, ``tests``…); never raises.

    Returns:
        The decorator; the wrapped function keeps its signature and docstring.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not _state.on and not logger.isEnabledFor(level):
                return fn(*args, **kwargs)
            with Operation(name, logger, level, {}) as op:
                value = fn(*args, **kwargs)
                if result is not None:
                    op.set(**result(value))
                return value

        return wrapper  # type: ignore[return-value]

    return decorate


def _record_metrics(name: str, fields: Mapping[str, Any], duration: float) -> None:
    instruments = _state.instruments
    if not instruments:
        return
    attrs: dict[str, Any] = {"jux.operation": name}
    for key in _METRIC_FIELDS:
        value = fields.get(key)
        if value is not None:
            attrs[f"jux.{key}"] = str(value)
    error = fields.get("error_class")
    if error is not None:
        attrs["error.type"] = error
    instruments["jux.operation.duration"].record(duration, attrs)
    size = fields.get("size")
    if isinstance(size, int) and fields.get("outcome") != "error":
        instruments["jux.report.bytes"].add(size, {"jux.operation": name})
    if error is not None or fields.get("outcome") in ("error", "failed", "dead"):
        instruments["jux.reports.failed"].add(1, attrs)
    elif name in _COUNTERS and fields.get("outcome") not in ("queued", "skipped"):
        instruments[_COUNTERS[name]].add(1, attrs)


def _error_text(exc: BaseException) -> str:
    from .errors import JuxError
    from .scrub import process_scrubber

    if isinstance(exc, JuxError):
        return process_scrubber().text(f"{type(exc).__name__}: {exc.message}")
    return type(exc).__name__


# --- log events -----------------------------------------------------------------------------------


def _log(logger: logging.Logger, level: int, name: str, fields: dict[str, Any], exc: BaseException | None) -> None:
    record = {"event": name, **fields}
    parts = [name, str(fields.get("outcome", ""))]
    if fields.get("backend"):
        parts.append(f"backend={fields['backend']}")
    if fields.get("canonical_hash"):
        parts.append(str(fields["canonical_hash"]))
    parts.append(f"{fields['duration'] * 1000:.1f} ms")
    if exc is not None:
        parts.append(f"({_error_text(exc)})")
    logger.log(level, " ".join(parts), extra={"jux": record})


def event(logger: logging.Logger, level: int, name: str, message: str, *args: Any, **fields: Any) -> None:
    """Log one structured event (no span): ``message % args`` with ``fields`` in the record's ``jux``.

    Args:
        logger: The logger.
        level: The level.
        name: The event name (``"breaker.open"``…), the record's ``jux["event"]``.
        message: %-format message.
        *args: Its arguments.
        **fields: Stable fields (``backend``, ``canonical_hash``, ``error_class``…).
    """
    if logger.isEnabledFor(level):
        logger.log(level, message, *args, extra={"jux": {"event": name, **fields}})


# --- the SDK, from the standard OTEL_* environment -----------------------------------------------


def setup_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """Enable OpenTelemetry when ``JUX_OTEL`` says so, building providers from ``OTEL_*`` if needed.

    Used by the CLI and the pytest plugin (a library caller configures its own providers and
    calls :func:`enable`). When ``JUX_OTEL`` is true and ``OTEL_SDK_DISABLED`` is not:

    * if a program already installed SDK providers, they are used as they are;
    * else a ``TracerProvider`` (resource from ``OTEL_SERVICE_NAME`` — default ``jux`` — and
      ``OTEL_RESOURCE_ATTRIBUTES``; batch processor tuned by ``OTEL_BSP_*``) and a
      ``MeterProvider`` (periodic reader, ``OTEL_METRIC_EXPORT_INTERVAL``) are installed as the
      global providers, exporting as ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` say:
      ``otlp`` (default: OTLP over HTTP/protobuf, endpoint, headers, timeout, compression and
      certificates from ``OTEL_EXPORTER_OTLP_*``), ``console`` or ``none``. They are flushed
      and shut down at exit.

    Args:
        environ: Environment to read (default :data:`os.environ`).

    Returns:
        None when OpenTelemetry stays off; else a one-line description of what was set up,
        or of why it could not be (the SDK or the exporter is not installed: the hint names
        ``pip install 'juxsdk[otel]'``).
    """
    env = os.environ if environ is None else environ
    if env.get("JUX_OTEL", "").strip().lower() not in _TRUE:
        return None
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if not otel_available():
        return "JUX_OTEL is set but opentelemetry is not installed: pip install 'juxsdk[otel]'"
    from opentelemetry import metrics, trace

    made: list[str] = []
    try:
        if not _is_sdk(trace.get_tracer_provider()):
            made.append(_make_tracer_provider(env))
        if not _is_sdk(metrics.get_meter_provider()):
            made.append(_make_meter_provider(env))
    except ImportError as exc:
        return f"JUX_OTEL is set but {exc.name or 'an OpenTelemetry package'} is not installed: " \
               "pip install 'juxsdk[otel]'"
    enable()
    return "OpenTelemetry on: " + ("; ".join(made) if made else "using the program's providers")


def _is_sdk(provider: Any) -> bool:
    return type(provider).__module__.startswith("opentelemetry.sdk")


def _exporter_name(env: Mapping[str, str], var: str) -> str:
    return (env.get(var) or "otlp").split(",")[0].strip().lower()


def _resource(env: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    from . import __version__

    defaults = {"service.version": __version__}
    if not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        defaults[SERVICE_NAME] = "jux"
    return Resource.create(defaults)


def _make_tracer_provider(env: Mapping[str, str]) -> str:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=_resource(env))
    name = _exporter_name(env, "OTEL_TRACES_EXPORTER")
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _at_exit(provider.shutdown)
    return f"traces -> {name}"


def _make_meter_provider(env: Mapping[str, str]) -> str:
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    name = _exporter_name(env, "OTEL_METRICS_EXPORTER")
    readers: list[Any] = []
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    elif name == "console":
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    provider = MeterProvider(resource=_resource(env), metric_readers=readers)
    metrics.set_meter_provider(provider)
    _at_exit(provider.shutdown)
    return f"metrics -> {name}"


def _at_exit(shutdown: Callable[[], Any]) -> None:
    with _state.lock:
        if not _state.shutdown:
            atexit.register(disable)
        _state.shutdown.append(shutdown)
