"""pytest-jux: sign, store and publish the JUnit XML report of every pytest run with juxsdk.

The plugin itself lives in :mod:`pytest_jux.plugin` (registered through the ``pytest11``
entry point ``jux``; imported in every pytest run, so it stays small) and
:mod:`pytest_jux.settings` and :mod:`pytest_jux._session` (imported only when the plugin is
enabled). It only translates pytest
options and ini keys into juxsdk's configuration and calls juxsdk's public API; signing,
configuration parsing and storage are juxsdk's.
"""

__version__ = "1.0.0"

__all__ = ["__version__"]
