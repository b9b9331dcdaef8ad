"""OTLP/HTTP into `crashlens serve`: the real OpenTelemetry SDK exports, and pushed equals filed.

1. The OpenTelemetry Python SDK, with its OTLP/HTTP exporters (protobuf, gzip), sends logs,
   spans and metrics to a running server; the records are read back from the workspace.
2. The same export request posted as protobuf and ingested as an OTLP JSON file lands as the
   same rows: the receiver has no mapping of its own.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging

import httpx
import pytest

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_file
from crashlens_core.store import Workspace

from .serve_support import start_server

otel = pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is a dev dependency (pyproject)")

# httpx waits 5 s by default; the first write of a fresh workspace on a loaded 2-core machine can take longer
TIMEOUT = 60.0


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path / "ws")
    yield srv
    srv.stop()


@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")  # the SDK's own handler, still shipped
def test_the_opentelemetry_sdk_exports_logs_spans_and_metrics(server):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    resource = Resource.create({"service.name": "checkout", "host.name": "web-1"})
    kw = {"headers": server.auth, "compression": Compression.Gzip, "timeout": 30}
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.url + "/v1/traces", **kw)))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=server.url + "/v1/logs", **kw)))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=server.url + "/v1/metrics", **kw),
                                           export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])

    pylog = logging.getLogger("test.serve.sdk")
    pylog.propagate = False
    pylog.setLevel(logging.INFO)
    pylog.addHandler(LoggingHandler(logger_provider=logger_provider))
    tracer = tracer_provider.get_tracer("test")
    counter = meter_provider.get_meter("test").create_counter("orders_total")
    try:
        with tracer.start_as_current_span("POST /checkout") as root:
            with tracer.start_as_current_span("charge card") as child:
                pylog.error("payment gateway timeout for order %s", "A-17")
                child.set_status(Status(StatusCode.ERROR, "timeout"))
            counter.add(3, {"route": "/checkout"})
        trace_id = format(root.get_span_context().trace_id, "032x")
        child_id = format(child.get_span_context().span_id, "016x")
        root_id = format(root.get_span_context().span_id, "016x")
        assert meter_provider.force_flush(30_000)
    finally:
        logger_provider.shutdown()
        tracer_provider.shutdown()
        meter_provider.shutdown()
        pylog.handlers.clear()
    health = server.wait_written()
    assert health["writer"]["rejected"] == 0 and health["writer"]["batches"] >= 4, health
    server.stop()  # read the workspace as a user would afterwards

    with Workspace.open(server.workspace, read_only=True) as ws:
        logs = ws.con.execute("SELECT service, host, level, message, trace_id, span_id FROM logs").fetchall()
        spans = ws.con.execute("SELECT name, service, trace_id, span_id, parent_id, status FROM spans ORDER BY start_ts").fetchall()
        metrics = ws.con.execute("SELECT name, value, service FROM metrics").fetchall()
    assert logs == [("checkout", "web-1", "ERROR", "payment gateway timeout for order A-17", trace_id, child_id)]
    assert spans == [("POST /checkout", "checkout", trace_id, root_id, None, "unset"),
                     ("charge card", "checkout", trace_id, child_id, root_id, "error")]
    assert ("orders_total", 3.0, "checkout") in metrics


# ---------------------------------------------------------------- pushed equals filed

def _hex_to_b64(doc):
    """OTLP JSON writes ids as hex; protobuf's JSON parser wants bytes as base64."""
    if isinstance(doc, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId", "parentSpanId") and v else
                    _hex_to_b64(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_hex_to_b64(v) for v in doc]
    return doc


TRACE = "5b8efff798038103d269b633813fc60c"
DOCS = {
    "logs": {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}},
                                                           {"key": "k8s.pod.name", "value": {"stringValue": "cart-7d9"}}]},
                               "scopeLogs": [{"logRecords": [
                                   {"timeUnixNano": "1715680800123456789", "severityNumber": 17, "traceId": TRACE,
                                    "spanId": "eee19b7ec3c1b174", "body": {"stringValue": "cart lookup failed: redis down"},
                                    "attributes": [{"key": "retry", "value": {"intValue": "2"}},
                                                   {"key": "ok", "value": {"boolValue": False}}]},
                                   {"timeUnixNano": "1715680801000000000", "severityText": "INFO",
                                    "body": {"kvlistValue": {"values": [{"key": "event", "value": {"stringValue": "added"}}]}}}]}]}]},
    "traces": {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
                                  "scopeSpans": [{"spans": [
                                      {"traceId": TRACE, "spanId": "eee19b7ec3c1b173", "name": "GET /cart", "kind": 2,
                                       "startTimeUnixNano": "1715680800000000000", "endTimeUnixNano": "1715680800250000000"},
                                      {"traceId": TRACE, "spanId": "eee19b7ec3c1b174", "parentSpanId": "eee19b7ec3c1b173",
                                       "name": "redis GET", "kind": 3, "status": {"code": 2, "message": "down"},
                                       "startTimeUnixNano": "1715680800010000000", "endTimeUnixNano": "1715680800200000000",
                                       "events": [{"name": "exception", "timeUnixNano": "1715680800190000000",
                                                   "attributes": [{"key": "exception.type", "value": {"stringValue": "ConnectionError"}}]}]}]}]}]},
    "metrics": {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
                                     "scopeMetrics": [{"metrics": [
                                         {"name": "queue_depth", "gauge": {"dataPoints": [
                                             {"timeUnixNano": "1715680800000000000", "asDouble": 12.5,
                                              "attributes": [{"key": "queue", "value": {"stringValue": "orders"}}]}]}},
                                         {"name": "requests", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
                                                                      "dataPoints": [{"timeUnixNano": "1715680800000000000",
                                                                                      "asInt": "42"}]}},
                                         {"name": "latency", "histogram": {"aggregationTemporality": 2, "dataPoints": [
                                             {"timeUnixNano": "1715680800000000000", "count": "4", "sum": 1.2,
                                              "bucketCounts": ["1", "2", "1"], "explicitBounds": [0.1, 0.5]}]}}]}]}]},
}
KIND = {"logs": "logs", "traces": "spans", "metrics": "metrics"}
COLUMNS = {
    "logs": "ts, service, host, level, message, trace_id, span_id, attributes",
    "spans": "trace_id, span_id, parent_id, service, name, start_ts, end_ts, status, duration_ms, attributes",
    "metrics": "ts, name, value, service, labels",
}


def _rows(folder, kind):
    with Workspace.open(folder, read_only=True) as ws:
        return ws.con.execute(f"SELECT {COLUMNS[kind]} FROM {kind} ORDER BY ALL").fetchall()


@pytest.mark.parametrize("signal", ["logs", "traces", "metrics"])
def test_a_protobuf_push_lands_as_the_same_rows_as_the_json_file(signal, server, tmp_path):
    from google.protobuf.json_format import ParseDict

    from crashlens_core.serve.otlp import request_class  # the message classes the receiver decodes with

    message = ParseDict(_hex_to_b64(DOCS[signal]), request_class(signal)())
    r = httpx.post(timeout=TIMEOUT, url=f"{server.url}/v1/{signal}", content=gzip.compress(message.SerializeToString()),
                   headers={**server.auth, "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    assert r.content == b""  # an ExportServiceResponse with no partial success: everything accepted
    server.wait_written()
    server.stop()

    path = tmp_path / f"{signal}.json"
    path.write_text(json.dumps(DOCS[signal]))
    filed = tmp_path / "filed"
    with Workspace.open(filed) as ws:
        report = ingest_file(ws, KIND[signal], str(path), "otlp", settings=Settings(workspace=filed))
    assert report.rejected == 0 and report.loaded >= 2
    pushed = _rows(server.workspace, KIND[signal])
    assert pushed == _rows(filed, KIND[signal]) and len(pushed) == report.loaded


def test_a_protobuf_request_hears_its_rejects_in_the_protobuf_response(server):
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

    from crashlens_core.serve.otlp import request_class

    doc = json.loads(json.dumps(DOCS["logs"]))
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"].append({"body": {"stringValue": "when?"}})
    message = ParseDict(_hex_to_b64(doc), request_class("logs")())
    r = httpx.post(timeout=TIMEOUT, url=f"{server.url}/v1/logs", content=message.SerializeToString(),
                   headers={**server.auth, "Content-Type": "application/x-protobuf"})
    assert r.status_code == 200
    answer = ExportLogsServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_log_records == 1
    assert answer.partial_success.error_message == "logRecord 2 of resourceLogs[0].scopeLogs[0]: missing or bad timeUnixNano"
