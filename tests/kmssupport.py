"""KMS test plumbing: moto's standalone server as the KMS endpoint, keys, and an HTTP fault proxy.

moto speaks the AWS KMS protocol over HTTP on loopback; the signer reaches it through boto3's
standard chain (``AWS_ENDPOINT_URL_KMS``, ``AWS_ACCESS_KEY_ID``…), exactly as it reaches AWS.

What moto cannot produce on demand (throttling, access denied, expired credentials, and AWS's
refusal to ``Sign`` with a disabled key) is injected by :class:`FaultProxy`: a real HTTP server
between the signer and moto that answers chosen KMS actions with the AWS JSON error AWS sends
(``{"__type": "ThrottlingException", "message": …}``, HTTP 400), so botocore's own retry and
error parsing run, and forwards everything else to moto. It also counts requests per action.
"""

from __future__ import annotations

import atexit
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.s3support import kms_client, start_moto_server

ACCESS_KEY = "AKIAJUXKMSTESTKEY01"
SECRET_KEY = "jux-kms-test-secret-DO-NOT-PRINT-0123456789"
SESSION_TOKEN = "jux-kms-test-session-token-DO-NOT-PRINT"
SECRETS = (SECRET_KEY, SESSION_TOKEN)

#: name -> KMS key spec of the keys every test session creates
SPECS = {"rsa2048": "RSA_2048", "rsa4096": "RSA_4096", "p256": "ECC_NIST_P256", "p384": "ECC_NIST_P384"}


@dataclass
class KmsKey:
    name: str
    spec: str
    key_id: str
    arn: str
    alias: str


@dataclass
class KmsServer:
    """A moto server with the :data:`SPECS` keys (aliases ``alias/jux-<name>``)."""

    server: Any
    url: str
    client: Any
    keys: dict[str, KmsKey] = field(default_factory=dict)

    def create_key(self, spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY", alias: str | None = None) -> KmsKey:
        meta = self.client.create_key(KeyUsage=usage, KeySpec=spec)["KeyMetadata"]
        if alias is not None:
            self.client.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        return KmsKey(name=alias or meta["KeyId"], spec=spec, key_id=meta["KeyId"], arn=meta["Arn"], alias=alias or "")

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """Environment of the standard AWS chain pointing at this server (or ``endpoint``)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_KMS": endpoint or self.url,
            "AWS_CONFIG_FILE": "/nonexistent/jux-test-aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/jux-test-aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


_SERVER: KmsServer | None = None


def kms_server() -> KmsServer:
    """The per-process moto KMS server and its keys (started once)."""
    global _SERVER
    if _SERVER is None:
        server, url = start_moto_server()
        atexit.register(server.stop)
        client = kms_client(url, ACCESS_KEY, SECRET_KEY)
        env = KmsServer(server=server, url=url, client=client)
        for name, spec in SPECS.items():
            key = env.create_key(spec, alias=f"alias/jux-{name}")
            env.keys[name] = KmsKey(name=name, spec=spec, key_id=key.key_id, arn=key.arn, alias=key.alias)
        _SERVER = env
    return _SERVER


class FaultProxy:
    """HTTP proxy to ``upstream`` that fails chosen KMS actions with AWS JSON errors, and counts calls.

    ``fail(action, code, times=n)`` answers the next ``n`` requests for ``action`` (the part
    after ``TrentService.`` in ``X-Amz-Target``; ``"*"`` for any) with HTTP 400 and
    ``{"__type": code}``; ``times=None`` fails them all.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
                fault = proxy._take(action)
                if fault is not None:
                    payload = json.dumps({"__type": fault, "message": f"injected {fault}"}).encode()
                    self._answer(400, {"Content-Type": "application/x-amz-json-1.1"}, payload)
                    return
                request = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST")
                for name in ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._answer(response.status, dict(response.headers), response.read())
                except urllib.error.HTTPError as exc:
                    self._answer(exc.code, dict(exc.headers), exc.read())

            def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "application/x-amz-json-1.1"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def fail(self, action: str, code: str, *, times: int | None = None) -> None:
        with self._lock:
            self._faults[action] = [code, times]

    def _take(self, action: str) -> str | None:
        with self._lock:
            self.calls[action] += 1
            for name in (action, "*"):
                fault = self._faults.get(name)
                if fault is None:
                    continue
                code, times = fault
                if times is not None:
                    if times <= 0:
                        continue
                    fault[1] = times - 1
                return str(code)
            return None

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
