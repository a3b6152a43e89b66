"""Options and helpers shared by the evidence commands (audit, index, query, trends, diff, report)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from juxsdk.errors import JuxError

from ._common import get_state, load_config, make_backend, parse_datetime

F = TypeVar("F", bound=Callable[..., Any])

_PEM = click.Path(path_type=Path, dir_okay=False, exists=True)


def trust_options(func: F) -> F:
    """``--cert``, ``--pubkey``, ``--ca``, ``--unsafe-accept-any-key`` and ``--at`` (as `jux verify`)."""
    for decorator in reversed(
        (
            click.option("--cert", "certs", type=_PEM, multiple=True,
                         help="Trust this signing certificate (PEM; repeatable)."),
            click.option("--pubkey", "pubkeys", type=_PEM, multiple=True,
                         help="Trust this public key (PEM public key or certificate; repeatable)."),
            click.option("--ca", "cas", type=_PEM, multiple=True,
                         help="Trust certificates that chain to this CA bundle (PEM; repeatable)."),
            click.option("--unsafe-accept-any-key", "unsafe", is_flag=True,
                         help="Accept ANY key: integrity only, not who signed."),
            click.option("--at", "at", metavar="ISO8601",
                         help="Check certificate validity at this time instead of now."),
        )
    ):
        func = decorator(func)
    return func


def build_trust(certs: tuple[Path, ...], pubkeys: tuple[Path, ...], cas: tuple[Path, ...], unsafe: bool,
                *, required: bool) -> Any:
    """The trust policy the options name, or None when none is given and ``required`` is False.

    Raises:
        click.UsageError: several kinds given, or none when ``required`` (exit code 2).
        juxsdk.errors.ConfigError: a file cannot be loaded (exit code 2).
    """
    kinds = sum(bool(x) for x in (certs, pubkeys, cas, unsafe))
    if kinds > 1 or (required and kinds == 0):
        raise click.UsageError(
            "give exactly one trust policy: --cert PEM (pinned certificate), --pubkey PEM (pinned key), "
            "--ca BUNDLE (CA bundle) or --unsafe-accept-any-key"
        )
    if kinds == 0:
        return None
    from juxsdk import trust

    if unsafe:
        return trust.UnsafeAcceptAnyKey()
    return trust.policy_from_files(certs=certs, pubkeys=pubkeys, cas=cas)


def at_option(value: str | None) -> Any:
    """``--at`` as a timezone-aware datetime, or None."""
    return parse_datetime(value, option="--at") if value else None


def index_option(func: F) -> F:
    """``--index FILE``: the evidence index to use instead of the configured one."""
    return click.option(
        "--index",
        "index_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Evidence index file (default: [index] path in the configuration, else "
        "<user data dir>/index.sqlite3).",
    )(func)


def filter_options(func: F) -> F:
    """``--project``, ``--branch``, ``--since``, ``--until``."""
    for decorator in reversed(
        (
            click.option("--project", help="Only this project (verified `project`; * ? [] globs allowed)."),
            click.option("--branch", help="Only this branch (verified `git:branch`; globs allowed)."),
            click.option("--since", metavar="DATE", help="Only runs at or after this ISO 8601 date/time."),
            click.option("--until", metavar="DATE", help="Only runs before this ISO 8601 date/time."),
        )
    ):
        func = decorator(func)
    return func


def dates(since: str | None, until: str | None) -> tuple[Any, Any]:
    """``--since``/``--until`` as datetimes (None when not given)."""
    return (
        parse_datetime(since, option="--since") if since else None,
        parse_datetime(until, option="--until") if until else None,
    )


def open_index(index_path: Path | None, config: Any = None) -> Any:
    """Open the evidence index (``--index``, else the configured one).

    Raises:
        juxsdk.errors.EvidenceIndexError: it cannot be opened.
        juxsdk.errors.ConfigError: invalid configuration.
    """
    from juxsdk.evidence.index import Index

    if index_path is not None:
        return Index(index_path)
    return Index.from_config(config if config is not None else load_config())


def resolve_sources(args: tuple[str, ...], config: Any) -> tuple[list[Any], list[Any]]:
    """Turn ``STORE-NAME|DIR|GLOB…`` into audit sources.

    An argument that exists on disk is a file or directory; else a store backend name (its
    options from the configuration); else a glob pattern. No argument: the configured stores.

    Returns:
        ``(sources, stores)``: everything to audit, and the store objects to close afterwards.

    Raises:
        click.UsageError: an argument is none of these (exit code 2).
        juxsdk.errors.ConfigError: no argument and no configured store, or bad store options.
    """
    from juxsdk.discovery import expand_report_arg, is_pattern

    registry = get_state().registry()
    store_names = {b.name for b in registry.backends() if b.kind == "store"}
    sources: list[Any] = []
    stores: list[Any] = []
    try:
        if not args:
            names = list(getattr(config, "stores", None) or [])
            if not names:
                from juxsdk.errors import ConfigError

                raise ConfigError("no store is configured and no report given",
                                  hint="name stores, directories or globs, or set stores = [...] in the configuration")
            for name in names:
                stores.append(make_backend(config, "store", name))
            return stores[:], stores
        for arg in args:
            if os.path.exists(arg):
                sources.append(arg)
            elif arg in store_names:
                store = make_backend(config, "store", arg)
                stores.append(store)
                sources.append(store)
            elif is_pattern(arg):
                try:
                    expand_report_arg(arg)
                except JuxError as exc:
                    raise click.UsageError(exc.message) from None
                sources.append(arg)
            else:
                raise click.UsageError(
                    f"{arg!r} is not a file, directory, glob pattern or store backend "
                    f"(stores: {', '.join(sorted(store_names)) or 'none'})"
                )
        return sources, stores
    except BaseException:
        close_all(stores)
        raise


def close_all(objects: list[Any]) -> None:
    """Close each object that has a ``close`` method."""
    for obj in objects:
        close = getattr(obj, "close", None)
        if callable(close):
            close()


def table(rows: list[list[str]], headers: list[str], *, right: frozenset[int] = frozenset()) -> None:
    """Print a plain-text table with a header row (columns padded to the widest cell)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                         enumerate(zip(cells, widths, strict=True))).rstrip()

    click.echo(line(headers))
    for r in rows:
        click.echo(line(r))
