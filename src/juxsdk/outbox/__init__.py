"""The outbox: a durable, crash-safe queue of reports waiting to be published.

When a publish fails in ``cache`` storage mode (see :mod:`juxsdk.storage_mode`), the report's
exact bytes are kept here, one entry per ``(canonical hash, publisher name)``: queued for
``jux publish --queue`` (:meth:`Outbox.drain`), or dead-lettered when the server rejected the
report itself. It is one SQLite database, ``<outbox dir>/outbox.sqlite3`` (default
``<user data dir>/outbox``; schema in :mod:`juxsdk.outbox.db`).

Guarantees:

* **Private**: the directory is ``0700``, the database and its WAL files ``0600``, whatever the
  umask (a queued report and its server answers are as private as the store's copy).
* **Atomic**: every change is one SQLite transaction (WAL mode, ``BEGIN IMMEDIATE``,
  ``synchronous=FULL``); an entry exists completely or not at all.
* **Crash safety**: an entry leaves the queue only in the transaction that records its
  publisher's receipt. A drain killed at any point (even SIGKILL) loses nothing; at worst the
  next drain re-sends a report the server already has, which the idempotency key and the
  server's dedupe by canonical hash turn into "already there" (no duplicate run).
* **Concurrency**: a drain claims each entry (a transaction that writes its claim) before
  sending it, so two drains — threads or processes — never send the same entry; a claim lapses
  when its drain's process is gone or after :attr:`Outbox.lease` seconds. ``enqueue``,
  ``retry`` and ``drop`` are single transactions that never lose a drain's result.
* **No bad entry stops a drain**: a row that cannot be decoded is dead-lettered with the reason
  (its bytes kept); bytes that are missing or changed are dead-lettered ("SHA-256 mismatch");
  an entry that fails unexpectedly is reported (:attr:`DrainResult.broken`) and stays queued.
* **Backoff**: a failed entry waits ``min(backoff_base * 2**(attempts-1), backoff_max)`` seconds
  (80-100 % of it, jittered), or longer when the server asked (``Retry-After``, at most a day;
  kept apart as ``retry_after_until``); after ``max_attempts`` transient failures it is
  dead-lettered. Permanent rejections of the report (HTTP 400/413/422) are dead-lettered at
  once; permanent *configuration* problems (401, 403, 404/405/415) keep the entry queued
  (:mod:`juxsdk.outbox.policy`). Those numbers come from :class:`juxsdk.config.OutboxConfig`
  (``[outbox]``), the one set of defaults.
* **Drain modes** (:class:`DrainMode`): an automatic drain (the default) waits out both the
  backoff and a server's ``Retry-After``; a drain a person asked for (``jux publish --queue``,
  ``mode="manual"``) tries every entry our backoff delayed and honours only the server's
  ``Retry-After``; ``mode="now"`` (``--now``) tries every queued entry. Dead letters wait for
  :meth:`Outbox.retry`. Entries left alone are reported with the reason (:class:`SkippedEntry`).
* **Upgrades**: a directory outbox written by an older juxsdk is imported on first open, in one
  transaction, and kept aside as ``legacy-<time>/`` (:mod:`juxsdk.outbox.legacy`).

Modules: :mod:`.entries` (values), :mod:`.policy` (what a failure means), :mod:`.db` (schema,
connection, rows, claims), :mod:`.legacy` (the import), :mod:`.core` (:class:`Outbox`),
:mod:`.drain` (one drain).
"""

from __future__ import annotations

from .core import Outbox, default_outbox_dir
from .entries import BrokenEntry, DrainResult, PublishState, QueueEntry, SkippedEntry
from .policy import DEAD_LETTER_STATUSES, KEEP_QUEUED_STATUSES, MAX_RETRY_AFTER, DrainMode

__all__ = [
    "DEAD_LETTER_STATUSES",
    "KEEP_QUEUED_STATUSES",
    "MAX_RETRY_AFTER",
    "BrokenEntry",
    "DrainMode",
    "DrainResult",
    "Outbox",
    "PublishState",
    "QueueEntry",
    "SkippedEntry",
    "default_outbox_dir",
]
