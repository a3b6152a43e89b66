"""OpenTelemetry: spans and metrics through the SDK's in-memory exporters, and what the real OTLP/HTTP
exporter sends from `jux submit`, decoded by a receiver on loopback."""

from __future__ import annotations

import gzip
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from juxsdk import telemetry
from juxsdk.testing.server import JuxApiServer

TOKEN = "otel-token-4410"


@pytest.fixture
def otel():
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    assert telemetry.enable(tracer_provider=tp, meter_provider=mp)
    yield spans, reader
    telemetry.disable()
    assert not telemetry.enabled()


def _metrics(reader) -> dict[str, list]:
    out: dict[str, list] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


def test_spans_and_metrics_of_the_whole_pipeline(otel, tmp_path, corpus_dir, ec_keys):
    from juxsdk import Jux, TrustedPublicKeys, verify_report
    from juxsdk.config import JuxConfig
    from juxsdk.evidence.runner import audit
    from juxsdk.registry import Registry

    spans, reader = otel
    with JuxApiServer(tokens={TOKEN}) as srv:
        os.environ["JUX_TEST_OTEL_TOKEN"] = TOKEN
        try:
            cfg = JuxConfig(project="otel-demo", signer="file", stores=["filesystem"], publishers=["http"], storage_mode="both",
                            backends={"file": {"key": str(ec_keys.key_path)},
                                      "filesystem": {"root": str(tmp_path / "store")},
                                      "http": {"url": srv.url, "token": {"env": "JUX_TEST_OTEL_TOKEN"}}})
            with Jux.from_config(cfg, registry=Registry(), metadata=False) as jux:
                data = (corpus_dir / "raw/generic/with-failures.xml").read_bytes()
                result = jux.submit(data)
                assert result.ok
        finally:
            del os.environ["JUX_TEST_OTEL_TOKEN"]
    verify_report(result.report.data, TrustedPublicKeys.from_pem_file(ec_keys.pubkey_path))
    audit([tmp_path / "store"], trust=TrustedPublicKeys.from_pem_file(ec_keys.pubkey_path), jobs=1)

    by_name: dict[str, list] = {}
    for span in spans.get_finished_spans():
        by_name.setdefault(span.name, []).append(span)
    for name in ("jux.parse", "jux.canonicalise", "jux.sign", "jux.store", "jux.publish", "jux.verify",
                 "jux.audit", "jux.submit"):
        assert name in by_name, sorted(by_name)
    chash = result.report.canonical_hash
    [sign] = by_name["jux.sign"]
    assert sign.attributes["jux.canonical_hash"] == chash
    assert sign.attributes["jux.outcome"] == "ok" and sign.attributes["jux.tests"] == result.report.summary.tests
    [store] = by_name["jux.store"]
    assert store.attributes["jux.backend"] == "filesystem" and store.attributes["jux.size"] == len(result.report.data)
    [publish] = by_name["jux.publish"]
    assert publish.attributes["jux.backend"] == "http" and publish.attributes["jux.outcome"] == "created"
    [submit] = by_name["jux.submit"]
    # sign, store and publish are children of submit
    for child in (sign, store, publish):
        assert child.parent is not None and child.parent.span_id == submit.context.span_id
    assert by_name["jux.audit"][0].attributes["jux.reports"] == 1
    assert TOKEN not in repr([dict(s.attributes) for s in spans.get_finished_spans()])

    m = _metrics(reader)
    assert sum(p.value for p in m["jux.reports.signed"]) == 1
    assert sum(p.value for p in m["jux.reports.stored"]) == 1
    assert sum(p.value for p in m["jux.reports.published"]) == 1
    assert sum(p.value for p in m["jux.reports.verified"]) >= 1
    assert any(p.attributes.get("jux.operation") == "sign" for p in m["jux.operation.duration"])
    assert sum(p.value for p in m["jux.report.bytes"] if p.attributes.get("jux.operation") == "store") == len(
        result.report.data)


def test_a_failure_is_an_error_span_and_a_failed_count(otel):
    from juxsdk.errors import ReportError
    from juxsdk.junit import parse_report

    spans, reader = otel
    with pytest.raises(ReportError):
        parse_report(b"<testsuite><unclosed></testsuite>")
    [span] = [s for s in spans.get_finished_spans() if s.name == "jux.parse"]
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "ReportParseError"
    failed = _metrics(reader)["jux.reports.failed"]
    assert sum(p.value for p in failed if p.attributes.get("jux.operation") == "parse") == 1


def test_disabled_means_no_span(tmp_path):
    from juxsdk import _telemetry

    assert not telemetry.enabled()
    assert _telemetry.operation("sign") is _telemetry.operation("store")  # the shared no-op


class _Receiver(http.server.BaseHTTPRequestHandler):
    store: dict[str, list[bytes]] = {}

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.setdefault(self.path, []).append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_otlp_http_exporter_from_the_cli(tmp_path, corpus_dir):
    """`jux submit` with JUX_OTEL=1 and the standard OTEL_* variables: what the real exporter sends."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    httpd.received = {}  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        wd = tmp_path / "work"
        wd.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update({"JUX_OTEL": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{httpd.server_address[1]}",
                    "OTEL_SERVICE_NAME": "ci-runner-7", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
                    "OTEL_METRIC_EXPORT_INTERVAL": "600000"})
        jux = [sys.executable, "-m", "juxsdk.cli"]
        subprocess.run([*jux, "keygen", "--type", "ec"], cwd=wd, env=env, check=True, capture_output=True)
        run = subprocess.run([*jux, "submit", str(corpus_dir / "raw/generic/basic.xml")], cwd=wd, env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    finally:
        httpd.shutdown()
    received: dict[str, list[bytes]] = httpd.received  # type: ignore[attr-defined]
    assert "/v1/traces" in received and "/v1/metrics" in received, sorted(received)
    names, attrs, resource = set(), {}, {}
    for body in received["/v1/traces"]:
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            resource.update({a.key: a.value.string_value for a in rs.resource.attributes})
            for ss in rs.scope_spans:
                assert ss.scope.name == "juxsdk"
                for span in ss.spans:
                    names.add(span.name)
                    attrs[span.name] = {a.key: a for a in span.attributes}
    assert {"jux.parse", "jux.canonicalise", "jux.sign", "jux.store", "jux.submit"} <= names, names
    assert resource["service.name"] == "ci-runner-7" and resource["deployment.environment"] == "test"
    assert attrs["jux.sign"]["jux.canonical_hash"].value.string_value.startswith("sha256:")
    assert attrs["jux.store"]["jux.backend"].value.string_value == "filesystem"
    metric_names = set()
    for body in received["/v1/metrics"]:
        req = ExportMetricsServiceRequest.FromString(body)
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                metric_names.update(m.name for m in sm.metrics)
    assert {"jux.reports.signed", "jux.reports.stored", "jux.operation.duration"} <= metric_names, metric_names


def test_jux_otel_without_the_sdk_says_how_to_install(tmp_path):
    """With the extra absent, JUX_OTEL=1 gives a one-line hint, and the command still works."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "opentelemetry").mkdir()
    (blocker / "opentelemetry" / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**os.environ, "JUX_OTEL": "1", "PYTHONPATH": str(blocker)}
    run = subprocess.run([sys.executable, "-m", "juxsdk.cli", "backends"], env=env, capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "pip install 'juxsdk[otel]'" in run.stderr and "Traceback" not in run.stderr
    assert Path(tmp_path).is_dir()
