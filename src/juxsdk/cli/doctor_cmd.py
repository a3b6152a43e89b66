"""``jux doctor``: check everything a run needs and say what to fix.

Exit codes: 0 healthy (warnings included), 1 a check failed, 2 the configuration is wrong
(cannot be loaded strictly, an unknown backend name, refused backend options).
"""

from __future__ import annotations

import click

from juxsdk.errors import ConfigError

from ._common import CONTEXT_SETTINGS, JuxCommand, echo_json, get_state, global_options, load_config
from ._examples import examples

__all__ = ["doctor"]

_MARK = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red"), "skip": ("skip", None)}


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS, epilog=examples("doctor"))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (healthy, exit_code, counts, checks).")
@global_options(hidden=True)
def doctor(as_json: bool) -> None:
    """Check the configuration, signer, stores, publishers, outbox and clock; one line per check with a hint.

    Nothing is signed for real, nothing is submitted: the signer makes a test signature, stores
    write and delete a probe, publishers are asked a read-only question. Backends installed as
    plugins contribute their own checks (the juxsdk_doctor_checks hook).

    Exit 0 healthy (warnings allowed), 1 a check failed, 2 configuration error.
    """
    from juxsdk.doctor import DoctorReport, Finding, diagnose

    state = get_state()

    def show(finding: Finding) -> None:
        if as_json:
            return
        label, colour = _MARK[finding.status]
        click.echo(click.style(f"{label:<5}", fg=colour) + f" {finding.check:<30} {finding.message}",
                   color=state.color)
        if finding.hint and finding.status in ("warn", "fail"):
            click.echo(f"{'':<36}hint: {finding.hint}")

    try:
        cfg = load_config()
    except ConfigError as exc:
        report = DoctorReport((Finding("config", "fail", exc.message, exc.hint, config_error=True),))
        show(report.findings[0])
    else:
        files = sorted({str(v) for v in cfg.sources.values() if v and not str(v).startswith(("env", "default"))})
        report = diagnose(cfg, state.registry(), sources=files, progress=show)
    if as_json:
        echo_json(report.to_dict())
    else:
        counts = report.counts()
        click.echo(f"{'healthy' if report.healthy else 'unhealthy'}: {counts['ok']} ok, {counts['warn']} warnings, "
                   f"{counts['fail']} failed, {counts['skip']} skipped")
    if report.exit_code:
        raise click.exceptions.Exit(report.exit_code)
