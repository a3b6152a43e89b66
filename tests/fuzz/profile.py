"""Hypothesis profiles of the fuzz suite: a bounded, deterministic CI run and a long release run.

``JUX_FUZZ_PROFILE`` picks the profile (default ``ci``); each test states its CI budget with
:func:`fuzz` and the profile scales it:

* ``ci`` — the budget as written (the whole suite in about a minute on a 2-core machine),
  ``derandomize=True`` (every run tries the same examples, so a red CI run is reproduced by
  running the test again) and no example database (nothing written into the work tree);
* ``release`` — 25 times the budget, random examples, failures kept in Hypothesis' example
  database (``.hypothesis/``, git-ignored) and replayed first on the next run;
  ``JUX_FUZZ_PROFILE=release pytest tests/fuzz`` (see docs/how-to/run-the-fuzz-suite.md).

No deadline in either: timings on a shared CI machine are noise, and the suite's cost is bounded
by the example counts. The per-example cost limits of the library (juxsdk.limits) are tested in
tests/security, not here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, settings

_COMMON: dict[str, Any] = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,  # the fixtures used are the same for every example
        HealthCheck.too_slow,  # examples sign, verify and talk to servers: slow by design
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}

PROFILES: dict[str, dict[str, Any]] = {
    "ci": {**_COMMON, "derandomize": True, "database": None},
    "release": {**_COMMON, "derandomize": False},
}
#: How much each profile multiplies a test's CI budget.
SCALE: dict[str, float] = {"ci": 1.0, "release": 25.0}

for _name, _values in PROFILES.items():
    settings.register_profile(f"jux-fuzz-{_name}", **_values)


def profile_name() -> str:
    """The profile ``JUX_FUZZ_PROFILE`` selects (``ci`` when unset)."""
    name = os.environ.get("JUX_FUZZ_PROFILE", "ci").strip() or "ci"
    if name not in PROFILES:
        raise RuntimeError(f"JUX_FUZZ_PROFILE={name!r}: known profiles are {', '.join(PROFILES)}")
    return name


def fuzz(examples: int, *, shrink: bool = True) -> Callable[[Any], Any]:
    """Settings of one fuzz test: ``examples`` in CI, scaled by the selected profile.

    Args:
        examples: Number of examples in the ``ci`` profile.
        shrink: Shrink a failing example (off for tests whose examples are slow processes).
    """
    name = profile_name()
    extra: dict[str, Any] = {}
    if not shrink:
        extra["phases"] = [p for p in Phase if p is not Phase.shrink]
    return settings(
        settings.get_profile(f"jux-fuzz-{name}"),
        max_examples=max(1, round(examples * SCALE[name])),
        **extra,
    )
