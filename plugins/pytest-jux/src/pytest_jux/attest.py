"""``--jux-attest PATH``: write an in-toto test-result attestation beside the signed report.

After the plugin has submitted the report (signed by the configured signer), the attestation
is made by :meth:`juxsdk.Jux.attest` with the same signer: an in-toto Statement v1 with the
test-result predicate in a DSSE envelope, naming the signed report's canonical hash. It is
written to PATH and kept by every configured store next to the report (``jux cache show``).
The pytest configuration file (``pytest.ini``, ``pyproject.toml``…) is recorded as the run's
configuration, together with the CI pipeline file when one is detected.

Precedence: ``--jux-attest`` (relative to the invocation directory) > ``JUX_ATTEST`` >
ini ``jux_attest`` (relative to the ini file). Only pytest and the standard library are
imported here at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["addoption", "attestation_path", "run", "summary"]

INI_KEY = "jux_attest"
ENV_VAR = "JUX_ATTEST"
_DONE = pytest.StashKey[tuple[Path, Any]]()


def addoption(parser: pytest.Parser, group: Any) -> None:
    """Register ``--jux-attest PATH`` and the ini key ``jux_attest``."""
    group.addoption(
        "--jux-attest",
        dest="jux_attest",
        default=None,
        metavar="PATH",
        help="write an in-toto test-result attestation (DSSE) of the signed report to PATH "
        f"[ini: {INI_KEY}; env: {ENV_VAR}]",
    )
    parser.addini(INI_KEY, "write the report's in-toto attestation here (relative to the ini file)", default=None)


def attestation_path(config: pytest.Config, environ: Any = None) -> Path | None:
    """Where to write the attestation, or None when none is asked for."""
    env = os.environ if environ is None else environ
    cli = config.getoption("jux_attest", default=None)
    if cli:
        return (Path(config.invocation_params.dir) / Path(cli).expanduser()).resolve()
    if env.get(ENV_VAR, "").strip():
        return (Path(config.invocation_params.dir) / Path(env[ENV_VAR].strip()).expanduser()).resolve()
    try:
        value = config.getini(INI_KEY)
    except ValueError:
        return None
    if not value or not str(value).strip():
        return None
    inipath = getattr(config, "inipath", None)
    base = Path(inipath).parent if inipath else Path(config.rootpath)
    return (base / Path(str(value).strip()).expanduser()).resolve()


def run(config: pytest.Config, jux: Any, report: Any, write: Callable[[Path, bytes], None], root: Path) -> None:
    """Attest the submitted report and write the envelope (when ``--jux-attest`` asks for it).

    ``root`` is the project directory the provenance came from
    (:func:`pytest_jux.settings.project_root`).

    Raises:
        juxsdk.errors.JuxError: no signer, no subject (the report names no git commit), or
            signing failed; the plugin reports it like any other jux failure.
    """
    path = attestation_path(config)
    if path is None:
        return
    inipath = getattr(config, "inipath", None)
    configuration = [Path(inipath)] if inipath and Path(inipath).is_file() else []
    made = jux.attest(report, source=report.source, configuration=configuration, root=root)
    write(path, made.attestation.envelope)
    config.stash[_DONE] = (path, made)


def summary(config: pytest.Config) -> list[str]:
    """Terminal-summary lines about the attestation (none when it was not asked for)."""
    done = config.stash.get(_DONE, None)
    if done is None:
        return []
    path, made = done
    tests = made.attestation.to_dict()["tests"]
    lines = [
        f"attestation: {path} (in-toto test-result {made.attestation.result}: {tests['passed']} passed, "
        f"{tests['warned']} warned, {tests['failed']} failed)"
    ]
    lines += [f"attestation kept in {o.store}: {o.attachment.location}" for o in made.attached if o.ok]
    return lines
