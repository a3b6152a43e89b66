"""Shared AWS test plumbing: moto's standalone server on 127.0.0.1 (S3 and KMS), raw clients, S3Store factory."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import boto3

from juxsdk.config import Secret
from juxsdk_backends.s3 import S3Store


def start_moto_server() -> tuple[Any, str]:
    """Start a ThreadedMotoServer (every AWS service moto speaks) on a free loopback port; return (server, url)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def start_moto(bucket: str, access_key: str, secret_key: str) -> tuple[Any, str]:
    """Start a ThreadedMotoServer on a free loopback port with ``bucket``; return (server, url)."""
    server, url = start_moto_server()
    s3_client(url, access_key, secret_key).create_bucket(Bucket=bucket)
    return server, url


def kms_client(endpoint: str, access_key: str, secret_key: str) -> Any:
    """A plain boto3 KMS client (to create, disable or delete keys behind the signer's back)."""
    return boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


def s3_client(endpoint: str, access_key: str, secret_key: str) -> Any:
    """A plain boto3 client, to look behind the store's back."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


def make_s3_store(
    endpoint: str, *, access_key: str, secret_key: str, prefix_root: str, **overrides: Any
) -> S3Store:
    """An S3Store on ``endpoint`` under a fresh ``<prefix_root>/<uuid>`` prefix (``bucket`` and
    any other option come in ``overrides``)."""
    options: dict[str, Any] = {
        "prefix": f"{prefix_root}/{uuid.uuid4().hex}",
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "addressing_style": "path",
        "access_key_id": Secret(value=access_key),
        "secret_access_key": Secret(value=secret_key),
        "max_attempts": 2,
    }
    options.update(overrides)
    return S3Store(S3Store.Options(**options))
