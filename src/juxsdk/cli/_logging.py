"""Where the CLI sends log records: ``--log-format json|text`` and ``--log-level``.

The library only emits records (:mod:`logging`, loggers under ``juxsdk``); the CLI is a program,
so it decides. Without ``--log-format``/``--log-level`` (or ``JUX_LOG_FORMAT``/``JUX_LOG_LEVEL``)
nothing is configured and Python's last-resort handler prints warnings as before. With them,
one handler on the root logger writes to stderr:

* ``text``: ``2025-06-01T12:00:00.123Z INFO juxsdk.pipeline: submit ok backend=file sha256:… 12.3 ms``;
* ``json``: one JSON object per line with stable field names — ``timestamp`` (UTC, RFC 3339),
  ``level`` (``debug``, ``info``, ``warning``, ``error``, ``critical``), ``logger``, ``event``
  (``submit``, ``store``, ``publish``, ``breaker.open``…, or ``log`` for a plain message),
  ``message``, and when known ``canonical_hash``, ``backend``, ``duration`` (seconds),
  ``outcome``, ``error_class``, ``size`` (bytes), ``tests`` — and ``exception`` (a scrubbed
  traceback) when a record carries one.

``--log-level`` applies to juxsdk's loggers; other libraries' records (urllib3, botocore) are
shown from WARNING, or from DEBUG with ``-v``. Every message and string field goes through
:func:`juxsdk.scrub.process_scrubber` (every secret value this process resolved is masked),
the same boundary the publisher applies to server answers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

from juxsdk.scrub import process_scrubber

__all__ = ["FORMATS", "LEVELS", "JsonFormatter", "TextFormatter", "configure_logging", "reset_logging"]

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error", "critical")

#: Record fields copied into the JSON object, in this order, when the record's ``jux`` has them.
_FIELDS = ("canonical_hash", "backend", "duration", "outcome", "error_class", "size", "tests")


def _timestamp(record: logging.LogRecord) -> str:
    when = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return process_scrubber().mask(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return process_scrubber().mask(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "jux", None)
        fields = fields if isinstance(fields, dict) else {}
        obj: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": str(fields.get("event") or "log"),
            "message": _clean(record.getMessage()),
        }
        for key in _FIELDS:
            if fields.get(key) is not None:
                obj[key] = _clean(fields[key])
        for key, value in fields.items():
            if key not in obj and key != "event" and value is not None:
                obj[key] = _clean(value)
        if record.exc_info and record.exc_info[1] is not None:
            obj.setdefault("error_class", type(record.exc_info[1]).__name__)
            obj["exception"] = _clean(self.formatException(record.exc_info))
        return json.dumps(obj, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``<timestamp> <LEVEL> <logger>: <message>``, scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + self.formatException(record.exc_info)
        return process_scrubber().mask(text)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (click's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(fmt: str | None, level: str | None, *, verbose: bool = False) -> None:
    """Install (or replace) the CLI's log handler.

    Args:
        fmt: ``"text"`` or ``"json"`` (None: ``text``).
        level: A level name of :data:`LEVELS` for juxsdk's loggers (None: ``warning``, or
            ``debug`` with ``verbose``).
        verbose: ``-v``: debug for every logger.
    """
    root = logging.getLogger()
    saved = _remove_handler()
    handler = _StderrHandler()
    handler._jux_cli = saved or (root.level, logging.getLogger("juxsdk").level)  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    chosen = getattr(logging, (level or ("debug" if verbose else "warning")).upper())
    root.setLevel(logging.DEBUG if verbose else min(logging.WARNING, chosen))
    logging.getLogger("juxsdk").setLevel(chosen)
    if not verbose:
        # other libraries stay at WARNING whatever juxsdk's level is
        handler.addFilter(lambda r: r.name.startswith(("juxsdk", "pytest_jux")) or r.levelno >= logging.WARNING)


def _remove_handler() -> tuple[int, int] | None:
    """Remove the CLI's handler; return the (root, juxsdk) levels it saved, if there was one."""
    root = logging.getLogger()
    saved = None
    for handler in list(root.handlers):
        levels = getattr(handler, "_jux_cli", None)
        if levels:
            root.removeHandler(handler)
            saved = levels
    return saved


def reset_logging() -> None:
    """Undo :func:`configure_logging` (at the end of an invocation: a program that runs ``jux``
    in-process, e.g. click's test runner, gets its logging back as it was)."""
    saved = _remove_handler()
    if saved is not None:
        logging.getLogger().setLevel(saved[0])
        logging.getLogger("juxsdk").setLevel(saved[1])
