"""The ``jux`` command-line interface (click), built only on juxsdk's public API.

Entry points (``[project.scripts]``): ``jux`` → :func:`main`; the aliases ``jux-keygen``,
``jux-sign``, ``jux-verify``, ``jux-inspect``, ``jux-cache``, ``jux-config`` and ``jux-publish`` run
the same commands as ``jux <command>``.

Exit codes: 0 ok, 1 verification failed, 2 usage or configuration error, 3 any other error,
4 partial success (see ``docs/reference/exit-codes.md``).

Module imports stay light (click and :mod:`juxsdk.errors` only) so ``jux --help`` is fast; each
command imports what it needs when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from juxsdk import __version__

from ._common import CONTEXT_SETTINGS, JuxGroup, global_options, load_lazy
from ._examples import examples
from .backends_cmd import backends
from .cache_cmd import cache
from .config_cmd import config
from .inspect_cmd import inspect
from .keygen_cmd import keygen
from .sign_cmd import sign
from .submit_cmd import submit
from .verify_cmd import verify

__all__ = [
    "cache_main",
    "cli",
    "config_main",
    "inspect_main",
    "keygen_main",
    "main",
    "publish_main",
    "sign_main",
    "verify_main",
]

#: Commands provided by other modules of this package, loaded only when present.
LAZY_COMMANDS: dict[str, str] = {
    "publish": "juxsdk.cli.publish:publish",
    "merge": "juxsdk.cli.merge_cmd:merge",
    "queue": "juxsdk.cli.publish:queue",
    "attest": "juxsdk.cli.attest_cmd:attest",
    "verify-attestation": "juxsdk.cli.attest_cmd:verify_attestation",
    "audit": "juxsdk.cli.audit_cmd:audit",
    "index": "juxsdk.cli.index_cmd:index",
    "query": "juxsdk.cli.index_cmd:query",
    "trends": "juxsdk.cli.trends_cmd:trends",
    "diff": "juxsdk.cli.trends_cmd:diff",
    "report": "juxsdk.cli.report_cmd:report",
    "doctor": "juxsdk.cli.doctor_cmd:doctor",
    "log": "juxsdk.cli.log_cmd:log",
}


@click.group(
    cls=JuxGroup,
    lazy_subcommands=LAZY_COMMANDS,
    context_settings=CONTEXT_SETTINGS,
    epilog=examples(""),
)
@click.version_option(__version__, "--version", prog_name="jux", message="%(prog)s (juxsdk) %(version)s")
@global_options
def cli() -> None:
    """Sign, verify, inspect, store and publish JUnit XML test reports (XMLDSig).

    \b
    Typical first run:
      jux keygen                       # dev key + self-signed certificate in the user config dir
      jux submit junit.xml             # sign (if configured), store, publish per configuration
      jux verify --cert CERT out.xml   # check a signed report against a pinned certificate

    Exit codes: 0 ok, 1 verification failed, 2 usage/configuration error, 3 other error,
    4 partial success. Shell completion: eval "$(_JUX_COMPLETE=bash_source jux)".
    """


for _command in (keygen, sign, verify, inspect, submit, cache, config, backends):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``jux`` (console script ``jux``)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="jux")


def _run(command: click.Command, prog_name: str, argv: Sequence[str] | None) -> None:
    command.main(args=list(argv) if argv is not None else None, prog_name=prog_name)


def keygen_main(argv: Sequence[str] | None = None) -> None:
    """Run ``jux keygen`` (console script ``jux-keygen``)."""
    _run(keygen, "jux-keygen", argv)


def sign_main(argv: Sequence[str] | None = None) -> None:
    """Run ``jux sign`` (console script ``jux-sign``)."""
    _run(sign, "jux-sign", argv)


def verify_main(argv: Sequence[str] | None = None) -> None:
    """Run ``jux verify`` (console script ``jux-verify``)."""
    _run(verify, "jux-verify", argv)


def inspect_main(argv: Sequence[str] | None = None) -> None:
    """Run ``jux inspect`` (console script ``jux-inspect``)."""
    _run(inspect, "jux-inspect", argv)


def cache_main(argv: Sequence[str] | None = None) -> None:
    """Run ``jux cache`` (console script ``jux-cache``)."""
    _run(cache, "jux-cache", argv)


def config_main(argv: Sequence[str] | None = None) -> None:
    """Run ``jux config`` (console script ``jux-config``)."""
    _run(config, "jux-config", argv)


def publish_main(argv: Sequence[str] | None = None) -> None:
    """Run ``jux publish`` (console script ``jux-publish``)."""
    command = load_lazy(LAZY_COMMANDS["publish"])
    if command is None:
        click.echo("error: the publish command is not available in this installation", err=True)
        click.echo("hint: reinstall juxsdk", err=True)
        sys.exit(2)
    _run(command, "jux-publish", argv)
