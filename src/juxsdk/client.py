"""The :class:`Jux` facade: the configured pipeline sign → store → publish.

::

    import juxsdk

    with juxsdk.Jux.from_config() as jux:          # [tool.jux] / jux.toml / env / defaults
        result = jux.submit(Path("junit.xml"))
        print(result.report.canonical_hash, result.ok)

Or with explicit backends, no configuration at all::

    jux = juxsdk.Jux(signer=my_signer, stores=[my_store])

Storage modes (``storage_mode``): ``local`` store only; ``api`` publish only, a failure is an
error; ``both`` store and publish, failures reported; ``cache`` store, publish, and on a
transient publish failure queue the report in the outbox for ``jux publish --queue``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from . import _telemetry
from .errors import ConfigError, JuxError
from .junit import add_properties, parse_report
from .limits import read_bounded
from .models import PublishReceipt, Report, SignedReport, StoredReport
from .protocols import Publisher, Signer, Store

if TYPE_CHECKING:  # pragma: no cover
    from .config import JuxConfig
    from .registry import Registry

__all__ = ["STORAGE_MODES", "Jux", "PublishOutcome", "StoreOutcome", "SubmitResult"]

log = logging.getLogger("juxsdk.pipeline")

#: Valid storage modes.
STORAGE_MODES = ("local", "api", "both", "cache")


@attrs.frozen
class StoreOutcome:
    """What one store did with a report.

    Attributes:
        store: Store backend name.
        record: The stored record, when it worked.
        error: The error, when it did not.
    """

    store: str
    record: StoredReport | None = None
    error: JuxError | None = None

    @property
    def ok(self) -> bool:
        """True when the report is stored."""
        return self.error is None


@attrs.frozen
class PublishOutcome:
    """What one publisher did with a report.

    Attributes:
        publisher: Publisher backend name.
        receipt: The receipt, when published (or already there).
        error: The error, when it failed.
        queued: True when the report was queued in the outbox for a later retry.
        dead: True when the report was kept in the outbox as a dead letter (the server
            rejected it; ``jux queue list`` shows why, ``jux queue retry`` sends it again).
    """

    publisher: str
    receipt: PublishReceipt | None = None
    error: JuxError | None = None
    queued: bool = False
    dead: bool = False

    @property
    def ok(self) -> bool:
        """True when published (or already on the server)."""
        return self.error is None and self.receipt is not None


@attrs.frozen
class SubmitResult:
    """Result of :meth:`Jux.submit`.

    Attributes:
        report: The signed report (exact bytes in ``.data``), or the unsigned report when no
            signer is configured.
        stored: One outcome per configured store.
        published: One outcome per configured publisher.
        storage_mode: The mode that was applied.
    """

    report: SignedReport | Report
    stored: tuple[StoreOutcome, ...] = ()
    published: tuple[PublishOutcome, ...] = ()
    storage_mode: str = "local"

    @property
    def ok(self) -> bool:
        """True when every store worked and every publish succeeded (or was queued in cache mode)."""
        return all(o.ok for o in self.stored) and all(o.ok or o.queued for o in self.published)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no document bytes)."""
        sig = getattr(self.report, "signature", None)
        return {
            "source": self.report.source,
            "canonical_hash": self.report.canonical_hash,
            "signed": bool(self.report.signed),
            "signature": sig.to_dict() if sig is not None else None,
            "summary": self.report.summary.to_dict(),
            "storage_mode": self.storage_mode,
            "stored": [
                {
                    "store": o.store,
                    "ok": o.ok,
                    "location": o.record.location if o.record else None,
                    "error": str(o.error) if o.error else None,
                }
                for o in self.stored
            ],
            "published": [
                {
                    "publisher": o.publisher,
                    "ok": o.ok,
                    "queued": o.queued,
                    "dead": o.dead,
                    "receipt": o.receipt.to_dict() if o.receipt else None,
                    "error": str(o.error) if o.error else None,
                }
                for o in self.published
            ],
            "ok": self.ok,
        }


class Jux:
    """The pipeline: optional metadata → sign → store(s) → publish(er)s per storage mode.

    Args:
        signer: Signer backend, or None to not sign.
        stores: Store backends, in order.
        publishers: Publisher backends, in order.
        storage_mode: One of :data:`STORAGE_MODES`.
        project: Explicit ``project`` property (beats a detected one and the report's own).
        properties: Extra properties to add before signing (explicit; they win).
        metadata: Provenance collection: False (none), True (defaults), or a mapping of
            keyword arguments for :func:`juxsdk.metadata.collect_metadata`.
        outbox: Durable publish queue (used in ``cache`` mode); default: the user outbox.
        registry: Registry used for metadata hooks.
        index: Evidence index (path or :class:`~juxsdk.Index`) that records each report this
            pipeline signs, or None.
        signing_log: :class:`~juxsdk.signing_log.SigningLog` recording each sign and store
            (publish outcomes are recorded by the publishers built from configuration), or None.

    Raises:
        ConfigError: unknown storage mode, or a mode that needs a backend that is missing.
    """

    def __init__(
        self,
        *,
        signer: Signer | None = None,
        stores: Sequence[Store] = (),
        publishers: Sequence[Publisher] = (),
        storage_mode: str = "local",
        project: str | None = None,
        properties: Mapping[str, str] | None = None,
        metadata: bool | Mapping[str, Any] = False,
        outbox: Any = None,
        registry: Any = None,
        index: Any = None,
        signing_log: Any = None,
    ) -> None:
        mode = str(getattr(storage_mode, "value", storage_mode))
        if mode not in STORAGE_MODES:
            raise ConfigError(
                f"unknown storage_mode {mode!r}", hint="use one of " + ", ".join(STORAGE_MODES)
            )
        if mode in ("api", "both", "cache") and not publishers:
            raise ConfigError(
                f"storage_mode {mode!r} publishes reports, but no publisher is configured",
                hint='add publishers = ["http"] and [tool.jux.backends.http] url = …, or use storage_mode = "local"',
            )
        if mode in ("local", "both", "cache") and not stores:
            raise ConfigError(
                f"storage_mode {mode!r} stores reports, but no store is configured",
                hint='add stores = ["filesystem"]',
            )
        self.signer = signer
        self.stores = tuple(stores)
        self.publishers = tuple(publishers)
        self.storage_mode = mode
        self.project = project
        self.properties = dict(properties or {})
        self.metadata = metadata
        self._outbox = outbox
        self.registry = registry
        self._index = index
        self.signing_log = signing_log
        self._closed = False

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        config: JuxConfig | None = None,
        *,
        registry: Registry | None = None,
        metadata: bool | None = None,
        **load_kwargs: Any,
    ) -> Jux:
        """Build the pipeline named by configuration.

        Every backend is built by :meth:`juxsdk.registry.Registry.create`; only the selected
        backends' modules are imported.

        Args:
            config: A :class:`juxsdk.config.JuxConfig`; default ``load_config(**load_kwargs)``.
            registry: A :class:`juxsdk.registry.Registry`; default: a fresh one.
            metadata: Override whether provenance metadata is collected (default: True).
            **load_kwargs: Passed to :func:`juxsdk.config.load_config` when ``config`` is None.

        Returns:
            A ready :class:`Jux`.

        Raises:
            ConfigError: invalid configuration, unknown backend name (lists the available
                ones), or backend options that do not fit.
            juxsdk.errors.PluginError: a selected backend's plugin cannot be loaded.
            juxsdk.errors.JuxError: a backend refused its options (e.g. an unreadable key).
        """
        from .config import load_config
        from .registry import Registry

        if config is None:
            config = load_config(**load_kwargs)
        if registry is None:
            registry = Registry()
        mode = str(getattr(config.storage_mode, "value", config.storage_mode))
        built: list[Signer | Store | Publisher] = []

        def make(kind: str, name: str) -> Any:
            obj = registry.create(kind, name, config)
            built.append(obj)
            return obj

        try:
            signer_name = config.active_signer
            signer: Signer | None = make("signer", signer_name) if signer_name else None
            stores: list[Store] = [make("store", n) for n in config.stores] if mode != "api" else []
            publishers: list[Publisher] = (
                [make("publisher", n) for n in config.publishers] if mode != "local" else []
            )
            outbox = None
            if mode == "cache":
                from .outbox import Outbox

                outbox = Outbox.from_config(config)
                if _telemetry.enabled():
                    _telemetry.observe("jux.outbox.depth", outbox.__len__)
            from .signing_log import SigningLog

            md = config.metadata
            metadata_kwargs: dict[str, Any] | bool = False
            if metadata is None or metadata:
                metadata_kwargs = {
                    "env_allowlist": tuple(md.env_allowlist),
                    "include_username": md.include_username,
                    "git": md.git,
                }
            return cls(
                signer=signer,
                stores=stores,
                publishers=publishers,
                storage_mode=mode,
                project=config.project,
                properties=dict(md.properties),
                metadata=metadata_kwargs,
                outbox=outbox,
                registry=registry,
                index=_submit_index(config),
                signing_log=SigningLog.from_config(config),
            )
        except BaseException:
            for obj in built:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001, S110 - best-effort cleanup on a failed build
                    pass
            raise

    # -- pipeline -------------------------------------------------------------------------

    def _load(self, report: Report | SignedReport | bytes | str | os.PathLike[str], source: str | None) -> Any:
        if isinstance(report, Report | SignedReport):
            return report
        if isinstance(report, str | os.PathLike):
            return parse_report(read_bounded(report), source=source or str(report))
        return parse_report(bytes(report), source=source)

    def _provenance(self, report: Report, properties: Mapping[str, str] | None) -> Report:
        collected: dict[str, str] = {}
        if self.metadata:
            from .metadata import collect_metadata

            kwargs = dict(self.metadata) if isinstance(self.metadata, Mapping) else {}
            kwargs.setdefault("registry", self.registry)
            if report.project and not self.project:
                kwargs.setdefault("project", report.project)
            collected = dict(collect_metadata(**kwargs))
        explicit: dict[str, str] = {}
        if self.project:
            explicit["project"] = self.project
        explicit.update(self.properties)
        explicit.update(properties or {})
        # one serialisation for both: detected values never override the report's own
        return add_properties(report, explicit, replace=True, defaults=collected)

    def sign(self, report: Report | bytes, *, replace: bool = False, source: str | None = None) -> SignedReport:
        """Sign with the configured signer.

        Raises:
            ConfigError: no signer is configured.
            juxsdk.errors.AlreadySignedError, juxsdk.errors.SigningError: see
                :func:`juxsdk.sign_report`.
        """
        from .xmldsig import sign_report

        if self.signer is None:
            raise ConfigError("no signer is configured", hint='set signer = "file" (and run `jux keygen`)')
        try:
            signed = sign_report(report, self.signer, replace=replace, source=source)
        except JuxError as exc:
            if self.signing_log is not None:
                self.signing_log.record("sign", canonical_hash=getattr(report, "canonical_hash", None),
                                        backend=self.signer.name, outcome="failed", detail=type(exc).__name__)
            raise
        if self.signing_log is not None:
            self.signing_log.record("sign", canonical_hash=signed.canonical_hash, signature=signed.signature,
                                    backend=self.signer.name)
        return signed

    def submit(
        self,
        report: Report | SignedReport | bytes | str | os.PathLike[str],
        *,
        source: str | None = None,
        properties: Mapping[str, str] | None = None,
        replace: bool = False,
    ) -> SubmitResult:
        """Run the pipeline on one report.

        Args:
            report: A Report/SignedReport, the document bytes, or a path to a file.
            source: File name to record (defaults to the path).
            properties: Extra properties for this report (added before signing).
            replace: Re-sign a report that is already signed (else it passes through as is),
                and let it replace different bytes stored under its canonical hash (never an
                unsigned report over a signed one: see :func:`juxsdk.store_rules.decide_put`).

        Returns:
            A :class:`SubmitResult` with one outcome per store and publisher.

        Raises:
            juxsdk.errors.ReportError: unreadable or malformed report.
            juxsdk.errors.SigningError / ConfigError: signing failed.
            juxsdk.errors.PublishError: in ``api`` mode, when a publisher fails.
        """
        with _telemetry.operation("submit", log, storage_mode=self.storage_mode,
                                  backend=self.signer.name if self.signer is not None else None) as op:
            loaded = self._load(report, source)
            signed_here = False
            if isinstance(loaded, Report) and (not loaded.signed or replace):
                if self.signer is not None and not loaded.signed:
                    loaded = self._provenance(loaded, properties)
                if self.signer is not None:
                    loaded = self.sign(loaded, replace=replace)
                    signed_here = True
            op.set(canonical_hash=loaded.canonical_hash, size=len(loaded.data), tests=loaded.summary.tests,
                   signed=bool(loaded.signed))
            stored = self._store(loaded, replace=replace)
            if signed_here and self._index is not None and isinstance(loaded, SignedReport):
                from .evidence.submitted import record_submitted

                self._index = record_submitted(self._index, loaded, self.signer, stored)
            published = self._publish(loaded)
            result = SubmitResult(loaded, tuple(stored), tuple(published), self.storage_mode)
            op.set(outcome="ok" if result.ok else "partial")
            return result

    def _store(self, report: Report | SignedReport, *, replace: bool = False) -> list[StoreOutcome]:
        if self.storage_mode == "api":
            return []
        out: list[StoreOutcome] = []
        signature = getattr(report, "signature", None)
        for store in self.stores:
            try:
                with _telemetry.operation("store", log, backend=store.name, canonical_hash=report.canonical_hash,
                                          size=len(report.data)):
                    # replace only when asked, so stores written before put() had it keep working
                    record = store.put(report, replace=True) if replace else store.put(report)
                out.append(StoreOutcome(store.name, record))
                outcome, detail = "ok", None
            except JuxError as exc:
                out.append(StoreOutcome(store.name, error=exc))
                outcome, detail = "failed", type(exc).__name__
            if self.signing_log is not None:
                self.signing_log.record("store", canonical_hash=report.canonical_hash, signature=signature,
                                        backend=store.name, outcome=outcome, detail=detail)
        return out

    @property
    def outbox(self) -> Any:
        """The durable publish queue (created on first use)."""
        if self._outbox is None:
            from .outbox import Outbox

            self._outbox = Outbox()
        return self._outbox

    def _publish(self, report: Report | SignedReport) -> list[PublishOutcome]:
        """Publish per the storage mode, through the one publish step (:func:`juxsdk.outbox.publish_with_mode`).

        In ``cache`` mode whatever goes wrong after the report was stored leaves it in the
        outbox (queued, or dead-lettered when the server rejected it); in ``api`` mode the first
        failure is raised once every publisher was tried.
        """
        if self.storage_mode == "local":
            return []
        from .outbox import publish_with_mode

        outbox = self.outbox if self.storage_mode == "cache" else self._outbox
        out = publish_with_mode(report, list(self.publishers), self.storage_mode, outbox)
        if self.storage_mode == "api":
            for outcome in out:
                if outcome.error is not None:
                    raise outcome.error
        return out

    def attest(
        self,
        report: Report | SignedReport | bytes | str | os.PathLike[str],
        *,
        source: str | None = None,
        **options: Any,
    ) -> Any:
        """Attest a report with the configured signer and keep the attestation in the stores.

        An unsigned report is submitted first (:meth:`submit`: provenance, sign, store,
        publish per storage mode). Then :func:`juxsdk.attest` builds the in-toto test-result
        attestation from the signed report, and every store that keeps attachments and holds
        the report keeps it too (kind ``intoto.json``, see :mod:`juxsdk.attachments`).

        Args:
            report: A Report/SignedReport, the document bytes, or a path to a file.
            source: File name to record (defaults to the path).
            **options: Keyword arguments of :func:`juxsdk.attest` (``subjects``, ``commit``,
                ``url``, ``configuration``, ``trust``…).

        Returns:
            A :class:`juxsdk.attestation.AttestResult` (attestation, submit result, one
            outcome per store).

        Raises:
            ConfigError: no signer is configured. Otherwise as :meth:`submit` and
                :func:`juxsdk.attest`.
        """
        from .attestation import attest_with

        return attest_with(self, self._load(report, source), source=source, **options)

    def submit_many(
        self, reports: Iterable[Report | SignedReport | bytes | str | os.PathLike[str]]
    ) -> list[SubmitResult | JuxError]:
        """Submit several reports; a failing one yields its error and does not stop the others."""
        results: list[SubmitResult | JuxError] = []
        for item in reports:
            try:
                results.append(self.submit(item))
            except JuxError as exc:
                results.append(exc)
        return results

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close every backend. Idempotent."""
        if self._closed:
            return
        self._closed = True
        close_index = getattr(self._index, "close", None)
        if callable(close_index):
            close_index()
        for backend in (self.signer, *self.stores, *self.publishers):
            if backend is not None:
                backend.close()

    def __enter__(self) -> Jux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _submit_index(config: Any) -> Any:
    """The evidence index path ``submit`` records signed reports in (``[index]``), or None."""
    section = getattr(config, "index", None)
    if section is None or not getattr(section, "on_submit", False):
        return None
    return section.resolved_path()
