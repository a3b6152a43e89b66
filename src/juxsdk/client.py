"""The :class:`Jux` facade: the configured pipeline sign → store → publish.

::

    import juxsdk

    with juxsdk.Jux.from_config() as jux:          # [tool.jux] / jux.toml / env / defaults
        result = jux.submit(Path("junit.xml"))
        print(result.report.canonical_hash, result.ok)

Or with explicit backends, no configuration at all::

    jux = juxsdk.Jux(signer=my_signer, stores=[my_store])

Storage modes (``storage_mode``, :class:`juxsdk.config.StorageMode`): ``local`` store only;
``api`` publish only, a failure is an error; ``both`` store and publish, failures reported;
``cache`` store, publish, and keep whatever fails in the outbox for ``jux publish --queue``.
Publishing goes through the one publish step, :func:`juxsdk.storage_mode.publish_with_mode`.
The outcome types (:class:`StoreOutcome`, :class:`PublishOutcome`, :class:`SubmitResult`) live in
:mod:`juxsdk.models` and are re-exported here.

Submitting is idempotent: the same input with the same configuration (signing key, project and
explicit properties) is signed and stored once. A second :meth:`Jux.submit` finds the record
stored the first time through its idempotency key (:func:`juxsdk.store_rules.idempotency_key`)
and reports it (:attr:`SubmitResult.already_stored`) instead of signing and storing the input
again; ``replace=True`` (CLI ``--force``) signs and stores it anew.
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
from .models import PublishOutcome, Report, SignedReport, StoredReport, StoreOutcome, SubmitResult, VerifiedReport
from .protocols import Publisher, Signer, Store
from .storage_mode import StorageMode, publish_with_mode

if TYPE_CHECKING:  # pragma: no cover
    from .config import JuxConfig
    from .outbox import Outbox
    from .registry import Registry
    from .trust import TrustPolicy

__all__ = ["Jux", "PublishOutcome", "StoreOutcome", "SubmitResult"]

log = logging.getLogger("juxsdk.pipeline")


class Jux:
    """The pipeline: optional metadata → sign → store(s) → publish(er)s per storage mode.

    Args:
        signer: Signer backend, or None to not sign.
        stores: Store backends, in order.
        publishers: Publisher backends, in order.
        storage_mode: A :class:`~juxsdk.config.StorageMode` (or its value).
        project: Explicit ``project`` property (beats a detected one and the report's own).
        properties: Extra properties to add before signing (explicit; they win).
        metadata: Provenance collection: False (none), True (defaults), or a mapping of
            keyword arguments for :func:`juxsdk.metadata.collect_metadata`.
        outbox: Durable publish queue (:class:`juxsdk.outbox.Outbox`), written in ``cache`` mode
            and where receipts are recorded (:meth:`from_config` gives the configured one in every
            mode that publishes); default in ``cache`` mode: ``Outbox()`` (the
            :class:`~juxsdk.config.OutboxConfig` defaults, in the user data directory).
        registry: Registry used for metadata hooks.
        index: Evidence index (path or :class:`~juxsdk.Index`) that records each report this
            pipeline signs, or None.
        trust: Trust policy for reports that arrive already signed and are kept as is: they
            must verify against it (:func:`juxsdk.verify_report`) before they are stored. None
            (the default) stores them unverified, and :attr:`SubmitResult.verified` says so.
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
        storage_mode: StorageMode | str = StorageMode.LOCAL,
        project: str | None = None,
        properties: Mapping[str, str] | None = None,
        metadata: bool | Mapping[str, Any] = False,
        outbox: Outbox | None = None,
        registry: Any = None,
        index: Any = None,
        trust: TrustPolicy | None = None,
        signing_log: Any = None,
    ) -> None:
        mode = StorageMode.parse(storage_mode)
        if mode.publishes and not publishers:
            raise ConfigError(
                f"storage_mode {mode.value!r} publishes reports, but no publisher is configured",
                hint='add publishers = ["http"] and [tool.jux.backends.http] url = …, or use storage_mode = "local"',
            )
        if mode.stores and not stores:
            raise ConfigError(
                f"storage_mode {mode.value!r} stores reports, but no store is configured",
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
        self.trust = trust
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
                ones), backend options that do not fit, or a ``[trust]`` file that cannot be
                loaded.
            juxsdk.errors.PluginError: a selected backend's plugin cannot be loaded.
            juxsdk.errors.JuxError: a backend refused its options (e.g. an unreadable key).
        """
        from .config import load_config
        from .registry import Registry

        if config is None:
            config = load_config(**load_kwargs)
        if registry is None:
            registry = Registry()
        mode = StorageMode.parse(config.storage_mode)
        built: list[Signer | Store | Publisher] = []

        def make(kind: str, name: str) -> Any:
            obj = registry.create(kind, name, config)
            built.append(obj)
            return obj

        try:
            signer_name = config.active_signer
            signer: Signer | None = make("signer", signer_name) if signer_name else None
            stores: list[Store] = [make("store", n) for n in config.stores] if mode.stores else []
            publishers: list[Publisher] = (
                [make("publisher", n) for n in config.publishers] if mode.publishes else []
            )
            outbox = None
            if mode.publishes:  # the configured outbox: the queue of cache mode, receipts in every mode
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
                trust=config.trust.policy(),
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

        An unsigned report gets provenance properties and is signed. The same input submitted
        again with the same configuration (signing key, project, explicit properties) is not
        signed or stored again: the record stored the first time is returned
        (:attr:`SubmitResult.already_stored`; its stored bytes are published again per storage
        mode, which the Jux API answers as a duplicate). A report that arrives signed is kept
        as is; it must verify against :attr:`trust` when one is configured.

        Args:
            report: A Report/SignedReport, the document bytes, or a path to a file.
            source: File name to record (defaults to the path).
            properties: Extra properties for this report (added before signing).
            replace: Sign and store anew even when the same input was stored before; re-sign a
                report that is already signed (else it passes through as is); and let it
                replace different bytes stored under its canonical hash (never an unsigned
                report over a signed one: see :func:`juxsdk.store_rules.decide_put`).

        Returns:
            A :class:`SubmitResult` with one outcome per store and publisher.

        Raises:
            juxsdk.errors.ReportError: unreadable or malformed report.
            juxsdk.errors.SigningError / ConfigError: signing failed.
            juxsdk.errors.VerificationError: the report came signed and does not verify
                against the configured trust policy; nothing was stored or published.
            juxsdk.errors.PublishError: in ``api`` mode, when a publisher fails.
        """
        with _telemetry.operation("submit", log, storage_mode=self.storage_mode,
                                  backend=self.signer.name if self.signer is not None else None) as op:
            loaded = self._load(report, source)
            signed_here = False
            verified: VerifiedReport | None = None
            if isinstance(loaded, Report) and self.signer is not None and (not loaded.signed or replace):
                input_hash = loaded.canonical_hash
                key = self._idempotency_key(input_hash, properties)
                if not replace:
                    earlier = self._resubmitted(key)
                    if earlier is not None:
                        return earlier
                if not loaded.signed:
                    loaded = self._provenance(loaded, properties)
                loaded = attrs.evolve(self.sign(loaded, replace=replace), input_hash=input_hash, idempotency_key=key)
                signed_here = True
            elif loaded.signed and self.trust is not None:
                from .xmldsig import verify_report

                verified = verify_report(loaded.data, self.trust, source=loaded.source)
            op.set(canonical_hash=loaded.canonical_hash, size=len(loaded.data), tests=loaded.summary.tests,
                   signed=bool(loaded.signed))
            stored = self._store(loaded, replace=replace, check_duplicate=not signed_here and not replace)
            if signed_here and self._index is not None and isinstance(loaded, SignedReport):
                from .evidence.submitted import record_submitted

                self._index = record_submitted(self._index, loaded, self.signer, stored)
            published = self._publish(loaded)
            result = SubmitResult(loaded, tuple(stored), tuple(published), self.storage_mode, verified)
            op.set(outcome="ok" if result.ok else "partial")
            return result

    def _idempotency_key(self, input_hash: str, properties: Mapping[str, str] | None) -> str:
        """The idempotency key of submitting ``input_hash`` with this pipeline's configuration."""
        from .store_rules import idempotency_key
        from .trust import key_fingerprint

        assert self.signer is not None
        explicit: dict[str, str] = {"project": self.project} if self.project else {}
        explicit.update(self.properties)
        explicit.update(properties or {})
        return idempotency_key(input_hash, key_fingerprint(self.signer.public_key()), explicit)

    def _resubmitted(self, key: str) -> SubmitResult | None:
        """The result of submitting again what a store already holds under ``key``, or None.

        The stored bytes are read back from the first store that holds the submission and
        verified against this pipeline's own signing key (the key is part of the idempotency
        key; a copy that does not verify is passed over), kept in the stores that lack it (a
        store that failed the first time) and published per storage mode; nothing is signed.
        """
        from .store_rules import find_submission
        from .trust import TrustedPublicKeys
        from .xmldsig import verify_report

        assert self.signer is not None
        own_key = TrustedPublicKeys([self.signer.public_key()])

        found: dict[int, StoredReport] = {}
        for i, store in enumerate(self.stores if self.storage_mode.stores else ()):
            try:
                record = find_submission(store, key)
            except JuxError:
                continue  # this store is reported when the report is put
            if record is not None:
                found[i] = record
        for i, record in found.items():
            try:
                data = self.stores[i].get(record.canonical_hash)
                proof = verify_report(data, own_key, source=record.source)
            except JuxError:
                continue
            if proof.canonical_hash != record.canonical_hash:
                continue
            earlier = SignedReport(
                data, proof.canonical_hash, proof.summary, proof.properties, proof.signature, record.source,
                input_hash=record.input_hash, idempotency_key=key,
            )
            stored: list[StoreOutcome] = []
            for j, store in enumerate(self.stores):
                if j in found:
                    stored.append(StoreOutcome(store.name, found[j], duplicate=True))
                else:
                    stored.extend(self._store(earlier, stores=(store,)))
            published = self._publish(earlier)
            return SubmitResult(earlier, tuple(stored), tuple(published), self.storage_mode)
        return None

    def _store(
        self,
        report: Report | SignedReport,
        *,
        replace: bool = False,
        check_duplicate: bool = False,
        stores: Sequence[Store] | None = None,
    ) -> list[StoreOutcome]:
        """Put ``report`` into each store (default: all); one outcome per store.

        A store whose ``put`` returns another report's record found the same submission
        stored earlier (the ``"duplicate"`` decision of :func:`juxsdk.store_rules.decide_put`,
        e.g. a concurrent submit of the same input won). With ``check_duplicate`` (a report
        this pipeline did not sign), a report whose same-signedness copy was already stored
        under its canonical hash is reported as a duplicate too.
        """
        if not self.storage_mode.stores:
            return []
        out: list[StoreOutcome] = []
        signature = getattr(report, "signature", None)
        for store in self.stores if stores is None else stores:
            try:
                before = _stored_record(store, report.canonical_hash) if check_duplicate else None
                with _telemetry.operation("store", log, backend=store.name, canonical_hash=report.canonical_hash,
                                          size=len(report.data)):
                    # replace only when asked, so stores written before put() had it keep working
                    record = store.put(report, replace=True) if replace else store.put(report)
                duplicate = record.canonical_hash != report.canonical_hash or (
                    before is not None and before.signed == report.signed
                )
                out.append(StoreOutcome(store.name, record, duplicate=duplicate))
                outcome, detail = ("duplicate" if duplicate else "ok"), None
            except JuxError as exc:
                out.append(StoreOutcome(store.name, error=exc))
                outcome, detail = "failed", type(exc).__name__
            if self.signing_log is not None:
                self.signing_log.record("store", canonical_hash=report.canonical_hash, signature=signature,
                                        backend=store.name, outcome=outcome, detail=detail)
        return out

    @property
    def outbox(self) -> Outbox:
        """The durable publish queue: the one given (``from_config`` gives the configured one),
        else ``Outbox()`` with the :class:`~juxsdk.config.OutboxConfig` defaults (created on
        first use)."""
        if self._outbox is None:
            from .outbox import Outbox

            self._outbox = Outbox()
        return self._outbox

    def _publish(self, report: Report | SignedReport) -> list[PublishOutcome]:
        """Publish per the storage mode, through the one publish step (:func:`juxsdk.storage_mode.publish_with_mode`).

        In ``cache`` mode whatever goes wrong after the report was stored leaves it in the
        outbox (queued, or dead-lettered when the server rejected it); in ``api`` mode the first
        failure is raised once every publisher was tried.
        """
        if not self.storage_mode.publishes:
            return []
        outbox = self.outbox if self.storage_mode is StorageMode.CACHE else self._outbox
        return publish_with_mode(report, list(self.publishers), self.storage_mode, outbox)

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
        """Close every backend and the outbox's database connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        close_index = getattr(self._index, "close", None)
        if callable(close_index):
            close_index()
        for backend in (self.signer, *self.stores, *self.publishers):
            if backend is not None:
                backend.close()
        if self._outbox is not None:
            self._outbox.close()  # its database connection (it reopens if used again)

    def __enter__(self) -> Jux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stored_record(store: Store, canonical_hash: str) -> StoredReport | None:
    """The record ``store`` holds under ``canonical_hash`` (None: nothing, or a corrupt sidecar)."""
    from .errors import CorruptSidecarError, ReportNotFoundError

    try:
        return store.metadata(canonical_hash) if store.exists(canonical_hash) else None
    except (ReportNotFoundError, CorruptSidecarError):
        return None


def _submit_index(config: Any) -> Any:
    """The evidence index path ``submit`` records signed reports in (``[index]``), or None."""
    section = getattr(config, "index", None)
    if section is None or not getattr(section, "on_submit", False):
        return None
    return section.resolved_path()
