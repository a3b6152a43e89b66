"""``jux config``: show (with sources, secrets masked), check and init the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from juxsdk.errors import EXIT_ERROR, ConfigError, JuxError

from ._common import (
    CONTEXT_SETTINGS,
    JuxGroup,
    echo_json,
    get_state,
    global_options,
    hint_of,
    load_config,
    options_classes,
)
from ._examples import examples


@click.group(cls=JuxGroup, context_settings=CONTEXT_SETTINGS, epilog=examples("config"))
@global_options(hidden=True)
def config() -> None:
    """Show, check and create the configuration."""


@config.command("show", epilog=examples("config show"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of {key, value, source}.")
@global_options(hidden=True)
def show(as_json: bool) -> None:
    """Print every effective setting with where it came from; secrets are masked.

    Values are shown as TOML; a source is "default", a file path, "env JUX_…" or "command line".
    """
    from juxsdk import config as _config

    cfg = load_config()
    rows = [
        {"key": key, "value": value, "source": source}
        for key, value, source in _config.dump_config(cfg, options_classes=options_classes())
    ]
    if as_json:
        echo_json({"files": [str(f) for f in cfg.files], "settings": rows})
        return
    if cfg.files:
        click.echo("# files read (lowest precedence first): " + ", ".join(str(f) for f in cfg.files))
    else:
        click.echo("# no configuration file found: built-in defaults, environment and flags only")
    width = min(max((len(r["key"]) for r in rows), default=10), 40)
    for r in rows:
        source = f"  # {r['source']}" if r["source"] else ""
        click.echo(f"{r['key']:<{width}} = {r['value']}{source}")


@config.command("check", epilog=examples("config check"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options(hidden=True)
def check(as_json: bool) -> None:
    """Load the configuration strictly, build every selected backend, and test reachability.

    Backends offering a reachability check (a check() method, or check_reachability(options)
    in their module, e.g. PKCS#11 logging in to the token) are called; the others are only
    instantiated. Exit 0 when all is well, 2 for configuration errors (including a backend whose
    options or files are wrong), 3 when a backend check failed otherwise.
    """
    import importlib

    cfg = load_config()
    registry = get_state().registry()
    selected: list[tuple[str, str]] = []
    if cfg.active_signer:
        selected.append(("signer", cfg.active_signer))
    mode = str(getattr(cfg.storage_mode, "value", cfg.storage_mode))
    if mode != "api":
        selected += [("store", n) for n in cfg.stores]
    if mode != "local":
        selected += [("publisher", n) for n in cfg.publishers]
    results: list[dict[str, Any]] = []
    failed = False
    code = 0
    for kind, name in selected:
        info = registry.get(kind, name)  # unknown name: ConfigError (exit 2)
        options = registry.options(kind, name, cfg)  # bad options: ConfigError (exit 2)
        entry: dict[str, Any] = {"kind": kind, "name": name, "distribution": info.distribution}
        backend: Any = None
        try:
            backend = info.cls(options)
            checker = getattr(backend, "check", None)
            module_check = getattr(importlib.import_module(info.cls.__module__), "check_reachability", None)
            if callable(checker):
                detail: Any = checker()
            elif callable(module_check):
                detail = module_check(options)
            else:
                detail = None
                entry["detail"] = "configured (no reachability check)"
            if detail is not None:
                lines = [str(x) for x in detail] if isinstance(detail, list | tuple) else [str(detail)]
                entry["detail"] = "; ".join(lines) or "reachable"
            entry["status"] = "ok"
        except JuxError as exc:
            failed = True
            code = max(code, exc.exit_code)
            entry.update(status="failed", detail=exc.message, hint=hint_of(exc))
        finally:
            close = getattr(backend, "close", None)
            if callable(close):
                close()
        results.append(entry)
    if as_json:
        echo_json({"ok": not failed, "backends": results})
    else:
        click.echo("configuration: " + ("ok" if not failed else "loaded, but some backends failed"))
        if not results:
            click.echo("no backend selected (nothing is signed, stored or published)")
        for r in results:
            click.echo(f"{r['kind']:<9} {r['name']:<12} {r['status']:<6} {r['detail']}")
            if r.get("hint"):
                click.echo(f"{'':<29}hint: {r['hint']}")
    if failed:
        raise click.exceptions.Exit(code or EXIT_ERROR)


@config.command("list", epilog="""\b
Examples:
  jux config list                       # every option: type, default, description
  jux config list --json | jq '.[] | select(.key | startswith("outbox."))'
""")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of {key, type, default, description, …}.")
@global_options(hidden=True)
def list_options(as_json: bool) -> None:
    """List every configuration option with its type, default and description.

    The core options ([metadata], [outbox], [index] included), then the options of every
    installed backend as backends.<name>.<option>. Types and defaults come from the
    configuration model and each backend's Options class, the descriptions from their
    documentation; a default computed on each machine (a path under the user's directories)
    is shown with <user config dir>, <user data dir> or ~. `jux config show` gives the values
    in effect here.
    """
    from juxsdk import config as _config

    get_state()
    docs = _config.describe_options(options_classes())
    if as_json:
        echo_json([d.to_dict() for d in docs])
        return
    import textwrap

    for d in docs:
        if d.required:
            default = "REQUIRED"
        elif d.secret and d.default is None:
            default = 'unset; a secret reference such as { env = "VAR" }'
        elif d.default is None:
            default = "unset"
        else:
            default = f"default {d.default}" + (" on each machine" if d.computed else "")
        click.echo(f"{click.style(d.key, bold=True)}  ({d.type}; {default})")
        for line in textwrap.wrap(d.description, 92, break_on_hyphens=False):
            click.echo(f"    {line}")


@config.command("init", epilog=examples("config init"))
@click.option(
    "--path",
    "path",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=Path("jux.toml"),
    show_default=True,
    help="File to write ('-' prints it).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {path, text} (with --path -: the text only).")
@global_options(hidden=True)
def init(path: Path, force: bool, as_json: bool) -> None:
    """Write a commented starter configuration file (jux.toml), or print it with --path -.

    With --path pyproject.toml the [tool.jux] tables are appended to that file (refused when it
    already has a [tool.jux] table).
    """
    from juxsdk import config as _config
    from juxsdk.keys import write_private_file

    get_state()
    pyproject = path.name == "pyproject.toml"
    text = _config.init_config_text(options_classes=options_classes(), pyproject=pyproject)
    if str(path) == "-":
        if as_json:
            echo_json({"path": None, "text": text})
        else:
            click.echo(text, nl=False)
        return
    if pyproject and path.exists():
        try:
            current = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise JuxError(f"cannot read {path}: {exc.strerror}") from exc
        if "[tool.jux" in current:
            raise ConfigError(
                f"{path} already has a [tool.jux] table",
                hint="edit it by hand, or print a template with `jux config init --path -`",
            )
        text = current + ("" if current.endswith("\n") else "\n") + "\n" + text
        force = True
    write_private_file(path, text.encode("utf-8"), overwrite=force, mode=0o644)
    if as_json:
        echo_json({"path": str(path), "text": text})
    else:
        click.echo(f"wrote {path}", err=True)
