"""Every configuration option described (``jux config list``) and the starter file (``jux config init``).

One source of truth: an option's type and default come from the attrs field of the model
(:class:`~juxsdk.config.JuxConfig` and its sections) or of a backend's ``Options`` class, and its
description from the field's ``metadata["help"]``, else from the ``Attributes:`` section of that
class's Google-style docstring.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .convert import _env_backend_key, _resolved_fields, _secret_fields
from .model import IndexConfig, JuxConfig, MetadataConfig, OutboxConfig, StorageMode
from .paths import user_config_dir, user_data_dir
from .problems import _describe
from .render import _field_default, _render, _toml_key
from .secret import Secret, is_secret_ref, toml_str

__all__ = ["OptionDoc", "describe_options", "init_config_text"]

#: The sections of :class:`JuxConfig` that are tables of their own.
_SECTIONS: dict[str, type[Any]] = {"metadata": MetadataConfig, "outbox": OutboxConfig, "index": IndexConfig}
#: Fields of :class:`JuxConfig` that are not options (bookkeeping, or the backend tables).
_NOT_OPTIONS = {"backends", "sources", "files"}
_WIDTH = 96


@attrs.frozen
class OptionDoc:
    """One configuration option, described.

    Attributes:
        key: Dotted key path (``"storage_mode"``, ``"outbox.max_attempts"``,
            ``"backends.file.key"``).
        type: What the value must be, in TOML words (``"an integer"``).
        default: The default as a TOML value; ``None`` when the option has none (unset or
            required). A default computed on the machine (a path under the user's directories)
            is shown with ``<user config dir>``, ``<user data dir>`` or ``~`` in place of them.
        computed: The default depends on the machine (see ``default``).
        required: The option must be set (a backend option without a default).
        secret: The option takes a secret reference (``{env = "VAR"}`` or ``{file = "path"}``).
        description: What the option does (one paragraph).
    """

    key: str
    type: str
    default: str | None
    computed: bool
    required: bool
    secret: bool
    description: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{key, type, default, computed, required, secret, description}``."""
        return attrs.asdict(self)


def _clean(text: str) -> str:
    """Docstring markup to plain text: ``:class:`~a.B``` → ``B``, double backquotes → single."""
    text = re.sub(r":[\w:]+:`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = text.replace("``None``", "unset")  # TOML has no None: an unset option
    return " ".join(text.replace("``", "`").split())


def attribute_docs(cls: type[Any]) -> dict[str, str]:
    """The ``Attributes:`` section of ``cls``'s Google-style docstring: name → description."""
    docs: dict[str, str] = {}
    inside = False
    current: str | None = None
    for line in (inspect.getdoc(cls) or "").splitlines():
        if not inside:
            inside = line.strip() == "Attributes:"
            continue
        if line and not line[0].isspace():
            break  # the next section
        match = re.match(r"^ {4}(\w+)(?: \([^)]*\))?: ?(.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2)
        elif current is not None and line.strip():
            docs[current] += " " + line.strip()
    return {name: _clean(text) for name, text in docs.items()}


def _portable(value: Any) -> tuple[Any, bool]:
    """``value`` with the user's directories replaced by placeholders; True when it had any."""
    if not isinstance(value, Path | str) or not Path(value).is_absolute():
        return value, False
    path = Path(value)
    for base, label in ((user_config_dir(), "<user config dir>"), (user_data_dir(), "<user data dir>"),
                        (Path.home(), "~")):
        try:
            return f"{label}/{path.relative_to(base).as_posix()}", True
        except ValueError:
            continue
    return value, False


def _docs_of(cls: type[Any], prefix: str, *, backend: bool) -> Iterable[OptionDoc]:
    described = attribute_docs(cls)
    secrets = _secret_fields(cls) if backend else set()
    for f in _resolved_fields(cls):
        if f.name in _NOT_OPTIONS or f.name in _SECTIONS:
            continue
        has_default, value = _field_default(f)
        computed = False
        if has_default and value is not None:
            value, computed = _portable(value)
        yield OptionDoc(
            key=f"{prefix}{f.name}",
            type=_describe(f.type),
            default=_render(value) if has_default and value is not None else None,
            computed=computed,
            required=backend and not has_default,
            secret=f.name in secrets,
            description=_clean(str(f.metadata.get("help") or described.get(f.name, ""))),
        )


def describe_options(options_classes: Mapping[str, type[Any]] | None = None) -> list[OptionDoc]:
    """Describe every configuration option: the core ones, then each backend's.

    Args:
        options_classes: Backend name → ``Options`` class (e.g. the registry's
            ``options_classes()``); their options are listed as ``backends.<name>.<option>``,
            backends in name order.

    Returns:
        The options in the order of the model: top-level keys, ``[metadata]``, ``[outbox]``,
        ``[index]``, then ``[backends.<name>]``.
    """
    docs = list(_docs_of(JuxConfig, "", backend=False))
    for section, cls in _SECTIONS.items():
        docs += _docs_of(cls, f"{section}.", backend=False)
    for name, cls in sorted((options_classes or {}).items()):
        if cls is not None and attrs.has(cls):
            docs += _docs_of(cls, f"backends.{name}.", backend=True)
    return docs


def _note(text: str) -> list[str]:
    return [f"## {line}" for line in textwrap.wrap(text, _WIDTH, break_on_hyphens=False)] if text else []


def _setting(doc: OptionDoc, name: str, *, env_var: str | None = None) -> list[str]:
    """The note and the commented-out line of one option at its default.

    A line ``# key = value`` is valid TOML once its ``# `` is removed; an option whose default
    cannot be written that way (none, required, or computed on this machine) gets a ``##`` note.
    """
    key = _toml_key(name)
    lines = _note(doc.description)
    if doc.secret:
        lines.append(f"# {key} = {{ env = {toml_str(env_var or 'VAR')} }}")
    elif doc.required:
        lines.append(f"## {key} = …    REQUIRED: {doc.type}")
    elif doc.default is None:
        lines.append(f"## {key}: unset by default; {doc.type}")
    elif doc.computed:
        lines.append(f"## {key}: default {doc.default} on each machine; {doc.type}")
    else:
        lines.append(f"# {key} = {doc.default}")
    return lines


def init_config_text(
    *,
    project: str | None = None,
    signer: str | None = "file",
    stores: Sequence[str] = ("filesystem",),
    publishers: Sequence[str] = (),
    storage_mode: StorageMode | str = StorageMode.LOCAL,
    options_classes: Mapping[str, type[Any]] | None = None,
    values: Mapping[str, Mapping[str, Any]] | None = None,
    pyproject: bool = False,
) -> str:
    """Produce a commented starter configuration (for ``jux config init``).

    Lines starting ``## `` are notes. A line ``# key = value`` is an option at its default:
    removing its ``# `` gives valid TOML that :func:`load_config` accepts, so a file with every
    such line uncommented still loads. Options whose default cannot be written so (unset,
    required, or a path computed on this machine) are described in a ``##`` note instead; the
    text holds no path of the machine it was made on. Every selected backend whose ``Options``
    class is known gets a ``[backends.<name>]`` table: options given in ``values`` are written,
    the others described. Secret options are suggested as ``{ env = "JUX_<BACKEND>_<OPTION>" }``.

    Args:
        project: Project name (commented out when ``None``).
        signer: Signer backend name, or ``None`` for ``sign = false``.
        stores: Store backend names.
        publishers: Publisher backend names.
        storage_mode: One of :class:`StorageMode`.
        options_classes: Backend name → ``Options`` class (e.g. from the registry).
        values: Backend name → option values to write (plain values; secrets must be
            :class:`Secret` references, plain-text secrets are refused).
        pyproject: Write ``[tool.jux]`` tables to paste into ``pyproject.toml``.

    Returns:
        TOML text that :func:`load_config` accepts, also with every ``# `` setting uncommented.

    Raises:
        ValueError: ``storage_mode`` is not a storage mode, or a plain-text secret is in ``values``.
    """
    mode = StorageMode(storage_mode)
    root = "tool.jux" if pyproject else ""
    core = {d.key: d for d in describe_options()}
    out: list[str] = [
        "## juxsdk configuration (TOML). Precedence, lowest first: defaults < /etc/jux/config.toml",
        "## < user config.toml < this file < JUX_* environment < command-line flags / API arguments.",
        "## A line '# key = value' is an option at its default: remove the '# ' to set it.",
        "## Every option with its type and default: `jux config list`. Reference: docs/reference/configuration.md",
    ]
    if root:
        out.append(f"[{root}]")
    out += _note(core["project"].description)
    out.append(f"project = {toml_str(project)}" if project else '# project = "my-project"')
    out += _note(core["signer"].description)
    out.append(f"signer = {toml_str(signer)}" if signer else "sign = false")
    out += [*_note(core["stores"].description), f"stores = {_render(list(stores))}"]
    out += [*_note(core["publishers"].description), f"publishers = {_render(list(publishers))}"]
    out += [*_note(core["storage_mode"].description), f"storage_mode = {toml_str(mode.value)}"]
    for section in _SECTIONS:
        out += ["", f"[{'.'.join(p for p in (root, section) if p)}]"]
        for option in core.values():
            if option.key.startswith(f"{section}."):
                out += _setting(option, option.key.partition(".")[2])
    classes = options_classes or {}
    given = values or {}
    selected = [n for n in (signer, *stores, *publishers) if n]
    for name in dict.fromkeys([*selected, *given]):
        cls = classes.get(name)
        opts = dict(given.get(name, {}))
        if cls is None and not opts:
            continue
        out += ["", f"[{'.'.join(p for p in (root, 'backends', _toml_key(name)) if p)}]"]
        docs = {d.key.rpartition(".")[2]: d for d in _docs_of(cls, "", backend=True)} if cls is not None else {}
        for key in [*docs, *(k for k in opts if k not in docs)]:
            doc = docs.get(key)
            if key in opts:
                value = opts[key]
                if ((doc is not None and doc.secret) or isinstance(value, Secret)) and not (
                        isinstance(value, Secret) and value.value is None) and not is_secret_ref(value):
                    raise ValueError(f"option {key!r} of backend {name!r} is a secret: pass a "
                                     "Secret(env=…) or Secret(file=…) reference, not its value")
                if doc is not None:
                    out += _note(doc.description)
                out.append(f"{_toml_key(key)} = {_render(value)}")
            elif doc is not None:
                out += _setting(doc, key, env_var=f"JUX_{_env_backend_key(name).upper()}_{key.upper()}")
    return "\n".join(out) + "\n"
