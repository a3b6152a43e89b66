"""The configuration model: :class:`JuxConfig` and its sections (attrs, frozen)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

# The one definition of the modes lives with the publish step; re-exported here (config's API).
from ..storage_mode import StorageMode
from .convert import (
    STRUCTURE,
    _env_backend_key,
    _rename_backend,
    structure_backend_tables,
    structure_options,
)
from .numbers import ATTEMPTS, POSITIVE_SECONDS, Range
from .paths import user_data_dir
from .problems import OMIT
from .secret import MASK, Secret, is_secret_ref

__all__ = [
    "CircuitBreakerConfig",
    "IndexConfig",
    "JuxConfig",
    "MetadataConfig",
    "OutboxConfig",
    "SigningLogConfig",
    "StorageMode",
    "TrustConfig",
]

T = TypeVar("T")


@attrs.frozen
class MetadataConfig:
    """``[metadata]``: which provenance properties are added to reports.

    Attributes:
        env_allowlist: Environment variable names copied as ``env:<NAME>`` properties (nothing
            else from the environment is ever copied).
        include_username: Add the local user name.
        properties: Extra user properties ``name = "value"`` added to every report.
        git: Add ``git:*`` properties (commit, branch, dirty state, remote).
    """

    env_allowlist: tuple[str, ...] = ()
    include_username: bool = False
    properties: dict[str, str] = attrs.field(factory=dict)
    git: bool = True


@attrs.frozen
class OutboxConfig:
    """``[outbox]``: the durable publish queue used by ``storage_mode = "cache"``.

    :class:`juxsdk.outbox.Outbox` takes this object, so these are the only defaults of the
    outbox, whether it is built from configuration, by :class:`juxsdk.Jux` or directly.

    Attributes:
        path: Outbox directory (it holds the database ``outbox.sqlite3``); ``None`` means
            ``<user data dir>/outbox``.
        max_attempts: Publish attempts before an entry becomes a dead letter
            (:data:`~juxsdk.config.numbers.ATTEMPTS`: 1 … 1000).
        backoff_base: Delay before the first retry, in seconds; doubles each attempt
            (:data:`~juxsdk.config.numbers.POSITIVE_SECONDS`: more than 0, at most one week).
        backoff_max: Upper bound of the retry delay, in seconds (``POSITIVE_SECONDS``, and
            ≥ ``backoff_base``).
    """

    path: Path | None = None
    max_attempts: int = attrs.field(default=8, validator=ATTEMPTS)
    backoff_base: float = attrs.field(default=2.0, validator=POSITIVE_SECONDS)
    backoff_max: float = attrs.field(default=3600.0, validator=POSITIVE_SECONDS)

    def resolved_path(self, environ: Mapping[str, str] | None = None) -> Path:
        """Return ``path``, or ``<user data dir>/outbox`` when it is not set.

        Args:
            environ: Environment for :func:`user_data_dir` (default :data:`os.environ`).
        """
        return self.path if self.path is not None else user_data_dir(environ) / "outbox"


@attrs.frozen
class IndexConfig:
    """``[index]``: the evidence index (``jux audit``, ``jux query``, ``jux report``…).

    Attributes:
        path: The SQLite file; ``None`` means ``<user data dir>/index.sqlite3``.
        on_submit: Record each report ``submit`` signs (verified against the signer's own key)
            in the index.
    """

    path: Path | None = None
    on_submit: bool = True

    def resolved_path(self, environ: Mapping[str, str] | None = None) -> Path:
        """Return ``path``, or ``<user data dir>/index.sqlite3`` when it is not set.

        Args:
            environ: Environment for :func:`user_data_dir` (default :data:`os.environ`).
        """
        return self.path if self.path is not None else user_data_dir(environ) / "index.sqlite3"


@attrs.frozen
class TrustConfig:
    """``[trust]``: who may have signed a report that arrives already signed.

    ``jux submit`` (and :meth:`juxsdk.Jux.submit`) keeps a signed report's signature; with a
    trust anchor configured here the report must verify against it before it is stored, without
    one it is stored unverified (and the result says so). Give one kind of anchor, as with
    ``jux verify --cert/--pubkey/--ca``; relative paths are relative to the configuration file.

    Attributes:
        certificates: Pinned signing certificates (PEM files; a file may hold several).
        public_keys: Pinned public keys (PEM public keys or certificates).
        ca_bundles: CA bundles (PEM): certificates that chain to one of their roots.
    """

    certificates: tuple[Path, ...] = ()
    public_keys: tuple[Path, ...] = ()
    ca_bundles: tuple[Path, ...] = ()

    @property
    def configured(self) -> bool:
        """True when some trust anchor is configured."""
        return bool(self.certificates or self.public_keys or self.ca_bundles)

    def policy(self) -> Any:
        """The :class:`juxsdk.trust.TrustPolicy` these anchors make, or None when none is configured.

        Raises:
            ConfigError: several kinds of anchor are configured, or a file cannot be loaded.
        """
        if not self.configured:
            return None
        from ..errors import ConfigError
        from ..trust import policy_from_files

        try:
            return policy_from_files(certs=self.certificates, pubkeys=self.public_keys, cas=self.ca_bundles)
        except ConfigError as exc:
            raise ConfigError(
                f"[trust]: {exc.message}",
                hint="check the paths under [trust] (PEM files, relative to the configuration file), and give "
                "one kind of anchor: certificates, public_keys or ca_bundles",
            ) from exc


@attrs.frozen
class SigningLogConfig:
    """``[signing_log]``: the tamper-evident log of what was signed, stored, published, deleted
    and verified (:mod:`juxsdk.signing_log`, ``jux log show|verify``).

    Attributes:
        enabled: Append a line for every sign, store, publish, delete and verification decision.
        path: The current log file; ``None`` means ``<user data dir>/signing-log.jsonl``.
            Rotated files sit next to it.
        include_user: Record the local user name in every line (off by default: personal data).
        max_bytes: Size at which the file is rotated, bytes (the chain continues in the next file).
        fsync: ``fsync`` every line (survives a power cut; costs a disk flush per line).
    """

    enabled: bool = True
    path: Path | None = None
    include_user: bool = False
    max_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=Range(4096, 2**40, unit="bytes"))
    fsync: bool = False

    def resolved_path(self, environ: Mapping[str, str] | None = None) -> Path:
        """Return ``path``, or ``<user data dir>/signing-log.jsonl`` when it is not set.

        Args:
            environ: Environment for :func:`user_data_dir` (default :data:`os.environ`).
        """
        return self.path if self.path is not None else user_data_dir(environ) / "signing-log.jsonl"


@attrs.frozen
class CircuitBreakerConfig:
    """``[circuit_breaker]``: stop waiting on a publisher endpoint that keeps failing
    (:mod:`juxsdk.breaker`).

    Attributes:
        enabled: Guard every configured publisher with a circuit breaker.
        failure_threshold: Consecutive transient failures to one endpoint that open the circuit
            (:data:`~juxsdk.config.numbers.ATTEMPTS`: 1 … 1000).
        cooldown: Seconds the circuit stays open (publishes fail at once, as transient errors,
            so cache mode queues them) before one probe is let through.
    """

    enabled: bool = True
    failure_threshold: int = attrs.field(default=5, validator=ATTEMPTS)
    cooldown: float = attrs.field(default=30.0, validator=POSITIVE_SECONDS)


def _repr_backends(backends: Mapping[str, Mapping[str, Any]]) -> str:
    # repr() never shows option strings: a plain-text secret may be among them.
    return repr({name: {k: _masked_python(v) for k, v in opts.items()} for name, opts in backends.items()})


def _masked_python(value: Any) -> Any:
    if isinstance(value, Secret):
        return value
    if is_secret_ref(value):
        return Secret(**{str(k): str(v) for k, v in value.items()})
    if isinstance(value, str):
        return MASK
    if isinstance(value, Mapping):
        return {k: _masked_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_python(v) for v in value]
    return value


@attrs.frozen
class JuxConfig:
    """The effective configuration (see :func:`load_config`).

    Attributes:
        project: Project name recorded in reports and sent to the Jux API.
        signer: Signer backend name; ``None`` (or ``sign = false``) means reports are not signed.
        sign: Sign reports at all.
        stores: Store backend names, in order.
        publishers: Publisher backend names, in order.
        storage_mode: What ``submit`` does: store, publish, both, or cache (see
            :class:`StorageMode`).
        metadata: Provenance properties (:class:`MetadataConfig`).
        outbox: The publish queue (:class:`OutboxConfig`).
        index: The evidence index (:class:`IndexConfig`).
        trust: Trust anchors for reports that arrive signed (:class:`TrustConfig`).
        signing_log: The tamper-evident signing log (:class:`SigningLogConfig`).
        circuit_breaker: The publishers' circuit breaker (:class:`CircuitBreakerConfig`).
        backends: Raw option tables keyed by backend name, as merged from all layers (treat as
            read-only); turn one into the backend's ``Options`` with :meth:`backend_options`.
            String values are masked in ``repr``.
        sources: For each dotted key path (``"storage_mode"``, ``"backends.http.url"``), where
            its value came from: ``"default"``, a config file's absolute path, ``"env JUX_…"``
            or ``"argument"``.
        files: The configuration files that were read, lowest precedence first.
    """

    project: str | None = None
    signer: str | None = "file"
    sign: bool = True
    stores: tuple[str, ...] = ("filesystem",)
    publishers: tuple[str, ...] = ()
    storage_mode: StorageMode = StorageMode.LOCAL
    metadata: MetadataConfig = attrs.field(factory=MetadataConfig)
    outbox: OutboxConfig = attrs.field(factory=OutboxConfig)
    index: IndexConfig = attrs.field(factory=IndexConfig)
    trust: TrustConfig = attrs.field(factory=TrustConfig)
    signing_log: SigningLogConfig = attrs.field(factory=SigningLogConfig)
    circuit_breaker: CircuitBreakerConfig = attrs.field(factory=CircuitBreakerConfig)
    backends: Mapping[str, Mapping[str, Any]] = attrs.field(
        factory=dict, repr=_repr_backends, metadata={STRUCTURE: structure_backend_tables})
    sources: Mapping[str, str] = attrs.field(factory=dict, eq=False, metadata={OMIT: True})
    files: tuple[Path, ...] = attrs.field(default=(), eq=False, metadata={OMIT: True})

    @property
    def active_signer(self) -> str | None:
        """The signer backend to use: ``signer`` when ``sign`` is true, else ``None``."""
        return self.signer if self.sign and self.signer else None

    def backend_options(self, name: str, options_cls: type[T]) -> T:
        """Structure ``backends[name]`` strictly into the backend's attrs ``Options`` class.

        See :func:`structure_options` for the rules (secrets, paths, environment values).

        Args:
            name: Backend name (the key of its ``[backends.<name>]`` table).
            options_cls: The backend's attrs ``Options`` class.

        Returns:
            An instance of ``options_cls``.

        Raises:
            ConfigError: unknown option, wrong type, bad value or missing required option; the
                message names ``backends.<name>.<option>`` and where the value came from.
        """
        key = name if name in self.backends else _env_backend_key(name)
        raw = self.backends.get(key, {})
        sources = self.sources
        if key != name:
            sources = {_rename_backend(k, key, name): v for k, v in sources.items()}
        return structure_options(options_cls, raw, backend=name, sources=sources)
