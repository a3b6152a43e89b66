"""``jux backends``: every registered backend and the distribution that provides it."""

from __future__ import annotations

import click

from ._common import CONTEXT_SETTINGS, JuxCommand, echo_json, get_state, global_options
from ._examples import examples


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS, epilog=examples("backends"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of backends.")
@global_options(hidden=True)
def backends(as_json: bool) -> None:
    """List the signer, store and publisher backends installed (built-ins and plugins).

    A backend is selected by its NAME in the configuration; its options live in
    [tool.jux.backends.NAME]. Listing imports no backend module (plugins announce their
    backends by name; a backend's module is imported only when it is used).
    """
    infos = get_state().registry().backends()
    rows = [
        {
            "kind": b.kind,
            "name": b.name,
            "distribution": b.distribution,
            "version": b.version,
            "plugin": b.plugin,
            "class": b.target.replace(":", "."),
            "summary": b.summary,
        }
        for b in infos
    ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no backends registered (is juxsdk installed? JUXSDK_DISABLE_PLUGIN_AUTOLOAD set?)", err=True)
        return
    click.echo(f"{'KIND':<10} {'NAME':<12} {'DISTRIBUTION':<24} SUMMARY")
    for r in rows:
        dist = f"{r['distribution'] or '?'} {r['version'] or ''}".strip()
        click.echo(f"{r['kind']:<10} {r['name']:<12} {dist:<24} {r['summary']}")
