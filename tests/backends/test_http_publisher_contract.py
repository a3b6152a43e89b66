"""The HTTP publisher passes the shared PublisherContract against the reference server."""

from __future__ import annotations

import socket

import pytest

from juxsdk.config import Secret
from juxsdk.testing import PublisherContract
from juxsdk.testing.server import JuxApiServer
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions

TOKEN = "contract-token-8f1e2d"


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    with JuxApiServer(tokens={TOKEN}) as srv:
        yield srv


class TestHttpPublisherContract(PublisherContract):
    @pytest.fixture
    def publisher(self, server):
        pub = HttpApiPublisher(HttpApiPublisherOptions(url=server.url, token=Secret(value=TOKEN)))
        yield pub
        pub.close()

    @pytest.fixture
    def unreachable_publisher(self):
        pub = HttpApiPublisher(
            HttpApiPublisherOptions(
                url=f"http://127.0.0.1:{_dead_port()}/api/v1", token=Secret(value=TOKEN), max_attempts=1
            )
        )
        yield pub
        pub.close()

    @pytest.fixture
    def secret_values(self):
        return [TOKEN]
