"""Turn juxsdk's OpenTelemetry spans and metrics on or off (the optional extra ``juxsdk[otel]``).

A program that configured its own OpenTelemetry providers calls :func:`enable` (optionally
with its providers); the ``jux`` CLI and the pytest plugin call :func:`setup_from_environment`,
which honours ``JUX_OTEL`` and the standard ``OTEL_*`` variables. Without the extra, or while
disabled, instrumentation costs one flag test per step (``benchmarks/bench_ops.py``). The spans,
attributes and metrics are listed in ``docs/reference/telemetry.md``; the mechanism lives in
:mod:`juxsdk._telemetry`.
"""

from __future__ import annotations

from ._telemetry import disable, enable, enabled, observe, otel_available, setup_from_environment

__all__ = ["disable", "enable", "enabled", "observe", "otel_available", "setup_from_environment"]
