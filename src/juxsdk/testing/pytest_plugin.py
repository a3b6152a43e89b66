"""pytest plugin ``juxsdk-testing`` (entry point group ``pytest11``), loaded automatically.

Its only job is to make sure :mod:`juxsdk.testing.contracts` is registered for assertion
rewriting before any test module imports it: importing :mod:`juxsdk.testing` does the
registration, and pytest loads ``pytest11`` plugins before collecting test modules. It adds
no options, fixtures or hooks, so it costs one small import.
"""

from __future__ import annotations

import juxsdk.testing as _testing  # registers juxsdk.testing.contracts for assertion rewriting

__all__: list[str] = []

del _testing
