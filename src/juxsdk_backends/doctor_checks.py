"""``jux doctor`` checks of the built-in backends (contributed through ``juxsdk_doctor_checks``).

* ``filesystem`` store: the root exists or can be created, is writable (a probe file is created
  and removed), private (owned by us, not writable by others: the store's own
  ``root_warnings``), and the disk has free space;
* ``s3`` store: the bucket is reachable (``HeadBucket``) and writable with a **conditional**
  ``PutObject`` (``If-None-Match: *``) of a probe object under ``<prefix>/.jux-doctor/``, which
  is then deleted;
* ``http`` publisher: the endpoint is reachable, TLS verifies, and the token is accepted — by a
  ``GET {url}/test_runs?per_page=1`` (Jux API v1), never a submission; the answer's ``Date``
  header feeds the doctor's clock check;
* ``pkcs11`` signer: the PIN secret (``{env = …}`` or ``{file = …}``) resolves.

Signers' certificates, test signatures (the backends' ``check()``) and circuits are the core's
generic checks (:mod:`juxsdk.doctor`).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from typing import Any

from juxsdk.doctor import Check, CheckResult, fail, ok, skip, warn
from juxsdk.errors import JuxError

__all__ = ["checks_for"]

#: Free space under which a store root is a warning / a failure, bytes.
LOW_SPACE = 512 * 1024 * 1024
NO_SPACE = 16 * 1024 * 1024


def checks_for(kind: str, backend: Any, config: Any) -> list[Check] | None:
    """The checks of one built-in backend, or None for a backend this package does not know.

    Args:
        kind: ``"signer"``, ``"store"`` or ``"publisher"``.
        backend: The backend instance.
        config: The loaded configuration (unused by the built-ins).
    """
    name = getattr(backend, "name", None)
    if kind == "store" and name == "filesystem":
        return filesystem_checks(backend)
    if kind == "store" and name == "s3":
        return s3_checks(backend)
    if kind == "publisher" and name == "http":
        return http_checks(backend)
    if kind == "signer" and name == "pkcs11":
        return pkcs11_checks(backend)
    return None


# --- filesystem ----------------------------------------------------------------------------------


def filesystem_checks(store: Any) -> list[Check]:
    """``store.filesystem.root``, ``.writable``, ``.permissions`` and ``.space``."""
    root = store.root

    def existing_ancestor() -> Any:
        path = root
        while not path.exists() and path != path.parent:
            path = path.parent
        return path

    def exists() -> CheckResult:
        if root.is_dir():
            return ok(f"{root} exists")
        if root.exists() or root.is_symlink():
            return fail(f"{root} is not a directory", "point [backends.filesystem] root at a directory")
        base = existing_ancestor()
        if not base.is_dir():
            return fail(f"{root} cannot be created: {base} is not a directory",
                        "point [backends.filesystem] root at a directory")
        if os.access(base, os.W_OK | os.X_OK):
            return ok(f"{root} does not exist yet; it is created on the first store (under {base})")
        return fail(f"{root} does not exist and {base} is not writable",
                    f"create {root} (mode 700), or configure another root")

    def writable() -> CheckResult:
        if not root.is_dir():
            return skip(f"{root} does not exist yet")
        probe = root / f".tmp-doctor-{uuid.uuid4().hex}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                os.write(fd, b"jux doctor probe\n")
            finally:
                os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return fail(f"cannot write in {root}: {exc.strerror or type(exc).__name__}",
                        f"fix the ownership/permissions of {root} (the user running jux must write there)")
        return ok(f"a probe file was written in {root} and removed")

    def permissions() -> CheckResult:
        lines = [str(x) for x in store.check()]
        problems = [x.removeprefix("warning: ") for x in lines if x.startswith("warning: ")]
        if problems:
            return warn("; ".join(problems), f"chmod 700 {root} and make sure you own it and its parents")
        return ok("private (only this user can change it)")

    def space() -> CheckResult:
        usage = shutil.disk_usage(existing_ancestor())
        free = usage.free
        message = f"{free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB"
        if free < NO_SPACE:
            return fail(message, "free disk space, or run `jux cache clean --days N`", free_bytes=free)
        if free < LOW_SPACE:
            return warn(message, "free disk space soon, or run `jux cache clean --days N`", free_bytes=free)
        return ok(message, free_bytes=free)

    return [Check("store.filesystem.root", exists), Check("store.filesystem.writable", writable),
            Check("store.filesystem.permissions", permissions), Check("store.filesystem.space", space)]


# --- s3 ------------------------------------------------------------------------------------------


def s3_checks(store: Any) -> list[Check]:
    """``store.s3.bucket`` (reachable) and ``store.s3.write`` (conditional put of a probe, then delete)."""
    where = f"s3://{store.bucket}"

    def bucket() -> CheckResult:
        store._call("check bucket", None, store._client().head_bucket, Bucket=store.bucket)
        return ok(f"{where} is reachable" + (f" at {store.options.endpoint_url}" if store.options.endpoint_url else ""))

    def write() -> CheckResult:
        prefix = store.options.prefix
        key = f"{prefix}/.jux-doctor/{uuid.uuid4().hex}" if prefix else f".jux-doctor/{uuid.uuid4().hex}"
        etag = store._put_if(key, b"jux doctor probe\n", "text/plain", "write probe", if_match=None)
        if etag is None:
            return fail(f"the conditional put of {where}/{key} was refused",
                        "the bucket must support If-None-Match on PutObject (AWS S3 since 2024, MinIO, moto)")
        store._call("delete probe", key, store._client().delete_object, Bucket=store.bucket, Key=key)
        return ok(f"conditional put (If-None-Match: *) of a probe object in {where} and its delete succeeded")

    return [Check("store.s3.bucket", bucket), Check("store.s3.write", write)]


# --- http ----------------------------------------------------------------------------------------


def http_checks(publisher: Any) -> list[Check]:
    """``publisher.http.endpoint``: reachable, TLS valid, token accepted (``GET {url}/test_runs``)."""
    from ._http_transport import TransportFailure, exchange

    def endpoint() -> CheckResult:
        o = publisher.options
        if o.token is not None:
            o.token.get()  # ConfigError naming the variable when unset
        url = publisher.base_url.rstrip("/") + "/test_runs?per_page=1"
        session = publisher._get_session()
        started = time.monotonic()
        deadline = started + min(o.total_deadline, 30.0)
        try:
            raw = exchange(session, url, data=None, headers={}, timeout=(o.timeout_connect, o.timeout_read),
                           deadline=deadline, cap=64 * 1024, method="GET")
        except TransportFailure as exc:
            if exc.kind == "tls":
                return fail(f"TLS verification of {publisher.base_url} failed",
                            "set ca_bundle to the server's CA certificates")
            if exc.kind == "timeout":
                return fail(f"{publisher.base_url} did not answer within {time.monotonic() - started:.1f} s",
                            "is the server up? check url, proxies and timeout_connect")
            return fail(f"cannot reach {publisher.base_url}: {exc.reason}",
                        "is the server running? check url and the network; reports are queued meanwhile")
        ms = round((time.monotonic() - started) * 1000, 1)
        details: dict[str, Any] = {"status": raw.status, "ms": ms}
        date = raw.headers.get("Date") if raw.headers is not None else None
        if isinstance(date, str):
            details["server_date"] = date
        tls = "TLS verified, " if publisher.target.scheme == "https" else ""
        if raw.status in (401, 403):
            what = "no token was sent" if o.token is None else "the token was refused"
            return fail(f"{publisher.base_url} answered HTTP {raw.status}: {what}",
                        "set token = { env = \"JUX_API_TOKEN\" } to a valid API token", **details)
        if 200 <= raw.status < 300:
            auth = "token accepted" if o.token is not None else "no token needed"
            return ok(f"{publisher.base_url} reachable ({tls}{auth}, {ms:.0f} ms)", **details)
        if raw.status in (404, 405):
            return warn(f"{publisher.base_url} reachable ({tls}HTTP {raw.status} to GET test_runs: token not checked)",
                        "check that url ends with the API root, e.g. https://jux.example.com/api/v1", **details)
        if raw.status >= 500 or raw.status == 429:
            return fail(f"{publisher.base_url} answered HTTP {raw.status}",
                        "the server is unwell; reports are queued in cache mode meanwhile", **details)
        return warn(f"{publisher.base_url} answered HTTP {raw.status}", "check url", **details)

    return [Check("publisher.http.endpoint", endpoint)]


# --- pkcs11 --------------------------------------------------------------------------------------


def pkcs11_checks(signer: Any) -> list[Check]:
    """``signer.pkcs11.pin``: the PIN secret resolves (the token and key are the signature check)."""

    def pin() -> CheckResult:
        secret = signer.options.pin
        if secret is None:
            return skip("no pin configured (token without login, or a PIN pad)")
        try:
            secret.get()
        except JuxError as exc:
            return fail(exc.message, exc.hint or "export the PIN variable named in [backends.pkcs11] pin")
        return ok(f"the PIN secret {secret.masked()} resolves")

    return [Check("signer.pkcs11.pin", pin)]
