"""`POST /spans` on `crashlens serve` (issue 16): a trace file uploaded whole, ingested as `crashlens ingest spans`.

Real parts: the `crashlens serve` command on a free loopback port over a fresh DuckDB workspace;
an OTLP JSON file made by the real OpenTelemetry SDK (its OTLP encoder, the bytes its exporter
would send, written as OTLP JSON); a Zipkin v2 file; answers compared with `ingest_file` (the
call `crashlens ingest spans --json` makes) on a second workspace, and with the workspace's rows.
"""

from __future__ import annotations

import base64
import gzip
import json
import time

import httpx
import pytest

from crashlens_core.ingest import ingest_file
from crashlens_core.store import Workspace

from .serve_support import hold_workspace, release, start_server

TIMEOUT = 120.0  # the first write of a fresh workspace on a loaded 2-core machine can take a while
T0_US = 1_715_680_800_000_000  # 2024-05-14T10:00:00Z


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("spans") / "ws", "--ack-wait", "60")
    yield srv
    srv.stop()


def upload(server, body: bytes, auth: bool = True, headers: dict[str, str] | None = None, **params) -> httpx.Response:
    return httpx.post(server.url + "/spans", content=body, params=params, timeout=TIMEOUT,
                      headers={**(server.auth if auth else {}), **(headers or {})})


def span_rows(workspace, trace_id: str) -> list[tuple]:
    with Workspace.open(workspace, read_only=True) as ws:
        return ws.con.execute("SELECT span_id, parent_id, service, name, status FROM spans WHERE trace_id = ? "
                              "ORDER BY start_ts, span_id", [trace_id]).fetchall()


def zipkin_file() -> bytes:
    """A Zipkin v2 JSON array (as /api/v2/spans returns it): a client call and the server side of it, one error."""
    base = {"traceId": "1e223ff1f80f1c69", "timestamp": T0_US}
    spans = [
        {**base, "id": "bf396325699c84bf", "kind": "SERVER", "name": "get /cart", "duration": 99411,
         "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"}},
        {**base, "timestamp": T0_US + 100, "parentId": "bf396325699c84bf", "id": "74280ae0c10d8062", "kind": "CLIENT",
         "name": "post /charge", "duration": 94539, "localEndpoint": {"serviceName": "frontend"},
         "remoteEndpoint": {"serviceName": "payments"}, "tags": {"http.status_code": "503", "error": "503"}},
        {**base, "timestamp": T0_US + 200, "parentId": "74280ae0c10d8062", "id": "5c1de2f0aa3e4b21", "kind": "SERVER",
         "name": "charge", "duration": 93000, "localEndpoint": {"serviceName": "payments"}, "tags": {"error": "timeout"}},
    ]
    return json.dumps(spans).encode()


def _b64_ids_to_hex(value):
    """Protobuf's JSON mapping writes bytes as base64; OTLP JSON files write trace and span ids as hex."""
    if isinstance(value, dict):
        return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str) else
                    _b64_ids_to_hex(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_b64_ids_to_hex(v) for v in value]
    return value


def sdk_otlp_file() -> tuple[bytes, str]:
    """Two spans recorded by the OpenTelemetry SDK, encoded by its OTLP encoder, as an OTLP JSON file."""
    pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is a dev dependency (pyproject)")
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test.upload")
    with tracer.start_as_current_span("POST /checkout") as root:
        with tracer.start_as_current_span("reserve stock") as child:
            child.set_status(Status(StatusCode.ERROR, "out of stock"))
    provider.shutdown()
    doc = _b64_ids_to_hex(MessageToDict(encode_spans(exporter.get_finished_spans()), use_integers_for_enums=True))
    return json.dumps(doc).encode(), format(root.get_span_context().trace_id, "032x")


def test_a_zipkin_file_lands_as_the_cli_would_load_it_and_twice_adds_nothing(server, tmp_path):
    body = zipkin_file()
    assert upload(server, body, auth=False, format="zipkin").status_code == 401
    answer = upload(server, body, format="zipkin", name="zipkin2-client.json")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["format"] == "zipkin" and report["kind"] == "spans" and report["path"].endswith("zipkin2-client.json")
    assert report["loaded"] == 3 and report["rejected"] == 0 and report["errors"] == [] and report["skipped"] is False

    # the same file through the CLI's call, into another workspace: the same rows
    path = tmp_path / "zipkin.json"
    path.write_bytes(body)
    with Workspace.open(tmp_path / "ws2") as ws:
        filed = ingest_file(ws, "spans", str(path), "auto")
    assert (filed.format, filed.loaded, filed.rejected) == ("zipkin", 3, 0)
    pushed = span_rows(server.workspace, "1e223ff1f80f1c69")
    assert pushed == span_rows(tmp_path / "ws2", "1e223ff1f80f1c69") and len(pushed) == 3
    assert ("5c1de2f0aa3e4b21", "74280ae0c10d8062", "payments", "charge", "error") in pushed

    again = upload(server, body, format="auto")
    assert again.status_code == 200 and again.json()["skipped"] is True and again.json()["loaded"] == 0
    assert span_rows(server.workspace, "1e223ff1f80f1c69") == pushed  # nothing added


def test_an_otlp_json_file_from_the_sdk_gzip_auto_detected(server):
    body, trace_id = sdk_otlp_file()
    answer = upload(server, gzip.compress(body), headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["format"] == "otlp" and answer.json()["loaded"] == 2
    rows = span_rows(server.workspace, trace_id)
    assert [(r[2], r[3], r[4]) for r in rows] == [("checkout", "POST /checkout", "unset"), ("checkout", "reserve stock", "error")]
    assert rows[1][1] == rows[0][0]  # the child's parent is the root
    # a .gz file's own bytes, sent as they are, read the same way (and are the same content: nothing added)
    assert upload(server, gzip.compress(body), format="otlp").json()["skipped"] is True


def test_a_malformed_line_is_reported_with_its_number_while_good_spans_load(server):
    good = {"trace_id": "ab12", "start_ts": "2024-05-14T10:00:00Z", "end_ts": "2024-05-14T10:00:01Z"}
    lines = [json.dumps({**good, "span_id": "a1", "name": "search"}), "{not json",
             json.dumps({**good, "span_id": "a2", "parent_id": "a1", "name": "fetch"}),
             json.dumps({**good, "span_id": "a3", "parent_id": "a1", "name": "rank", "start_ts": "yesterday"})]
    answer = upload(server, ("\n".join(lines) + "\n").encode(), format="native", service="agent", name="agent.jsonl")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["loaded"] == 2 and report["rejected"] == 2
    assert [e["line"] for e in report["errors"]] == [2, 4] and "JSON" in report["errors"][0]["reason"]
    assert [(r[0], r[2]) for r in span_rows(server.workspace, "ab12")] == [("a1", "agent"), ("a2", "agent")]


def test_bad_uploads_are_refused_with_a_reason(server):
    assert upload(server, zipkin_file(), format="parquet").status_code == 400
    bad_map = upload(server, zipkin_file(), map="no-equals-sign")
    assert bad_map.status_code == 400 and bad_map.json()["error"]
    assert upload(server, b"").status_code == 400
    refused = upload(server, b"just some words, not a trace\n", format="auto")
    assert refused.status_code == 422, refused.text
    assert refused.json()["note"] == "file not ingested" and refused.json()["errors"][0]["line"] is None
    failed = server.workspace / "spool" / "failed"
    assert any(p.name.endswith(".data") for p in failed.iterdir())  # refused, but kept with its reason


def test_oversize_is_413_before_and_after_gzip(server):
    cap = 16 << 20  # the server's default --max-body-mb
    big = b"x" * (cap + 1)
    assert upload(server, big).status_code == 413
    bomb = gzip.compress(b"\n" * (cap + 1))  # ~16 kB on the wire, past the cap once inflated
    assert upload(server, bomb, headers={"Content-Encoding": "gzip"}).status_code == 413
    assert upload(server, bomb).status_code == 413  # a .gz file's own compression is capped too


def test_listed_in_the_openapi_docs(server):
    spec = httpx.get(server.url + "/openapi.json", timeout=TIMEOUT).json()
    op = spec["paths"]["/spans"]["post"]
    assert {p["name"] for p in op["parameters"]} >= {"format", "map", "service", "name"}
    assert "<code>/spans</code>" in httpx.get(server.url + "/docs", timeout=TIMEOUT).text


def test_an_upload_answered_202_survives_kill_9(tmp_path):
    """Spooled before the answer: the workspace is held elsewhere, the server is killed, the next start writes it."""
    workspace = tmp_path / "ws"
    srv = start_server(workspace, "--ack-wait", "0.5")
    holder = None
    try:
        assert httpx.get(srv.url + "/healthz", timeout=TIMEOUT).status_code == 200
        holder = hold_workspace(workspace)
        answer = upload(srv, zipkin_file(), format="zipkin")
        assert answer.status_code == 202, answer.text
        assert answer.json()["spooled"] == answer.headers["x-crashlens-spooled"]
        srv.kill9()
    finally:
        if holder is not None:
            release(holder)
        srv.stop()
    srv = start_server(workspace)
    try:
        deadline = time.monotonic() + 60
        while srv.health()["jobs_waiting"] or any((workspace / "spool").glob("upload-*")):
            assert time.monotonic() < deadline, srv.health()
            time.sleep(0.1)
    finally:
        srv.stop()
    assert len(span_rows(workspace, "1e223ff1f80f1c69")) == 3
