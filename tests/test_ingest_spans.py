"""Span parsers (native, OTLP, Jaeger, Zipkin, CSV) and span-graph flags, on real files in tmp_path."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from crashlens_core.errors import InputError
from crashlens_core.ingest.normalize import canonical_digest
from crashlens_core.ingest.source import Source
from crashlens_core.ingest.spangraph import span_depths, span_graph_flags
from crashlens_core.ingest.normalize import pod_to_service
from crashlens_core.ingest.spanrow import SPAN_ROW_KEYS
from crashlens_core.ingest.spans import detect_span_format, parse_spans
from crashlens_core.models import IngestError

T0 = datetime(2024, 5, 14, 10, 0, 0)
T0_NS = int((T0 - datetime(1970, 1, 1)).total_seconds()) * 10**9
T0_US = T0_NS // 1000


def _source(tmp_path: Path, name: str, content: str | object, gz: bool = False) -> Source:
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    path = tmp_path / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return Source.from_path(path)


def _parse(source: Source, fmt: str | None = None, mapping: dict | None = None):
    items = list(parse_spans(source, fmt or detect_span_format(source), mapping))
    rows = [x for x in items if isinstance(x, dict)]
    errors = [x for x in items if isinstance(x, IngestError)]
    assert len(rows) + len(errors) == len(items)
    for row in rows:
        assert tuple(row) == SPAN_ROW_KEYS
        assert row["end_ts"] >= row["start_ts"]
        assert row["status"] in ("ok", "error", "unset")
        json.dumps(row["attributes"], allow_nan=False)
    return rows, errors


# ------------------------------------------------------------------ native (AgentOps)


def test_native_json_array_with_digests_and_a_bad_item(tmp_path):
    args = {"order_id": "A-17", "eta": 3}
    doc = [
        {"span_id": "s1", "tool": "plan", "start_ts": "2024-05-14T10:00:00Z", "end_ts": "2024-05-14T10:00:02Z",
         "status": "success", "incident_id": "inc-1", "attributes": {"model": "llama"}},
        {"span_id": "s2", "parent_id": "s1", "tool": "lookup_order", "start_ts": 1715680800.5, "duration_ms": 250,
         "status": "failed", "args": args, "result": {"found": False}, "incident_id": "inc-1",
         "attributes": '{"retry": 1}', "service": "agent"},
        {"tool": "no id", "start_ts": "2024-05-14T10:00:03Z"},
        {"span_id": "s4", "parent_id": "root", "tool": "x", "start_ts": "2024-05-14T10:00:05Z",
         "end_ts": "2024-05-14T10:00:04Z"},
    ]
    rows, errors = _parse(_source(tmp_path, "spans.json", doc))
    assert [r["span_id"] for r in rows] == ["s1", "s2"]
    root, child = rows
    assert root["trace_id"] == "inc-1" and root["parent_id"] is None and root["status"] == "ok"
    assert root["name"] == "plan" and root["attributes"] == {"model": "llama"} and root["line"] is None
    assert child["parent_id"] == "s1" and child["status"] == "error" and child["service"] == "agent"
    assert child["end_ts"] - child["start_ts"] == timedelta(milliseconds=250)
    assert child["args_digest"] == canonical_digest(args) and child["attributes"]["args"] == args
    assert child["result_digest"] == canonical_digest({"found": False}) and child["attributes"]["retry"] == 1
    assert [(e.line, e.reason) for e in errors] == [(None, "item 2: missing span_id"), (None, "item 3: ends before it starts")]


def test_native_jsonl_reports_lines_and_keeps_going(tmp_path):
    lines = [
        {"span_id": "a", "trace_id": "AB1", "tool": "search", "start_ts": "2024-05-14T10:00:00", "end_ts": "2024-05-14T10:00:01"},
        "{not json",
        {"span_id": "b", "trace_id": "AB1", "parent_id": "a", "tool": "fetch", "end_ts": "2024-05-14T10:00:01"},
        {"span_id": "c", "parent_id": "a", "name": "summarise", "start_ts": "2024-05-14T10:00:01"},
    ]
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    source = _source(tmp_path, "spans.jsonl", text)
    assert detect_span_format(source) == "native"
    rows, errors = _parse(source)
    assert [(r["span_id"], r["line"]) for r in rows] == [("a", 1), ("c", 4)]
    assert rows[0]["trace_id"] == "ab1"  # hex-looking ids are lower-cased
    assert rows[1]["trace_id"] == "agentops" and rows[1]["attributes"]["duration_unknown"] is True
    assert [e.line for e in errors] == [2, 3]
    assert "not valid JSON" in errors[0].reason and "start_ts" in errors[1].reason


def test_native_spans_object_big_args_kept_out_of_attributes(tmp_path):
    big = {"blob": "x" * 5000}
    doc = {"spans": [{"span_id": 1, "trace_id": "t", "tool": "upload", "start_ts": "2024-05-14T10:00:00Z",
                      "end_ts": "2024-05-14T10:00:00.5Z", "args": big, "args_digest": "given"}]}
    rows, errors = _parse(_source(tmp_path, "s.json", doc))
    assert not errors and rows[0]["span_id"] == "1"
    assert rows[0]["args_digest"] == "given" and "args" not in rows[0]["attributes"]


def test_native_csv_is_detected_and_parsed(tmp_path):
    text = ("span_id,trace_id,parent_id,tool,start_ts,end_ts,status,args_digest,result_digest,incident_id,note\n"
            "s1,t1,,plan,2024-05-14T10:00:00Z,2024-05-14T10:00:01Z,ok,ad,rd,inc-9,first\n"
            "s2,t1,s1,call,2024-05-14T10:00:00.2Z,2024-05-14T10:00:00.9Z,error,,,inc-9,\n")
    source = _source(tmp_path, "agentops.csv", text)
    assert detect_span_format(source) == "native"
    rows, errors = _parse(source)
    assert not errors
    assert rows[0]["args_digest"] == "ad" and rows[0]["incident_id"] == "inc-9" and rows[0]["attributes"] == {"note": "first"}
    assert rows[1]["parent_id"] == "s1" and rows[1]["status"] == "error" and rows[1]["line"] == 3


# ------------------------------------------------------------------ OTLP


def _kv(key, **value):
    return {"key": key, "value": value}


def _otlp_doc():
    b64_trace = base64.b64encode(bytes.fromhex("0af7651916cd43dd8448eb211c80319c")).decode()
    b64_span = base64.b64encode(bytes.fromhex("b7ad6b7169203331")).decode()
    return {"resourceSpans": [
        {"resource": {"attributes": [_kv("service.name", stringValue="checkout"), _kv("host.name", stringValue="node-1")]},
         "scopeSpans": [{"scope": {"name": "io.opentelemetry.http", "version": "1.2"}, "spans": [
             {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174", "parentSpanId": "",
              "name": "POST /pay", "startTimeUnixNano": str(T0_NS), "endTimeUnixNano": str(T0_NS + 1_500_000_000),
              "kind": 2, "status": {"code": 1},
              "attributes": [_kv("http.status_code", intValue="200"), _kv("host.name", stringValue="pod-7"),
                             _kv("tags", arrayValue={"values": [{"stringValue": "a"}, {"boolValue": True}]}),
                             _kv("ratio", doubleValue=0.5), _kv("meta", kvlistValue={"values": [_kv("k", intValue="3")]})]},
             {"traceId": "5b8efff798038103d269b633813fc60c", "name": "no span id", "startTimeUnixNano": T0_NS},
             {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "1111111111111111",
              "parentSpanId": "EEE19B7EC3C1B174", "name": "charge card", "kind": "SPAN_KIND_CLIENT",
              "startTimeUnixNano": T0_NS + 100_000_000, "endTimeUnixNano": T0_NS + 900_000_000,
              "events": [{"name": "exception", "timeUnixNano": str(T0_NS + 800_000_000), "attributes": [
                  _kv("exception.type", stringValue="CardDeclined"), _kv("exception.message", stringValue="declined"),
                  _kv("exception.stacktrace", stringValue="at pay()")]}]},
         ]}]},
        {"resource": {"attributes": [_kv("service.name", stringValue="legacy")]},
         "instrumentationLibrarySpans": [{"instrumentationLibrary": {"name": "old"}, "spans": [
             {"traceId": b64_trace, "spanId": b64_span, "parentSpanId": "0000000000000000", "name": "old span",
              "startTimeUnixNano": T0_NS, "endTimeUnixNano": T0_NS + 10, "kind": "SPAN_KIND_INTERNAL",
              "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}}]}]},
    ]}


def test_otlp_document(tmp_path):
    source = _source(tmp_path, "trace.json", _otlp_doc())
    assert detect_span_format(source) == "otlp"
    rows, errors = _parse(source)
    assert [(e.line, e.reason) for e in errors] == [(None, "span 1 of resourceSpans[0].scopeSpans[0]: missing spanId")]
    server, client, legacy = rows
    assert server["trace_id"] == "5b8efff798038103d269b633813fc60c" and server["span_id"] == "eee19b7ec3c1b174"
    assert server["parent_id"] is None and server["kind"] == "server" and server["status"] == "ok"
    assert server["service"] == "checkout" and server["start_ts"] == T0 and server["end_ts"] == T0 + timedelta(seconds=1.5)
    attrs = server["attributes"]
    assert attrs["http.status_code"] == 200 and attrs["host.name"] == "pod-7"  # the span's attribute wins
    assert attrs["tags"] == ["a", True] and attrs["ratio"] == 0.5 and attrs["meta"] == {"k": 3}
    assert attrs["otel.scope.name"] == "io.opentelemetry.http"
    assert client["parent_id"] == "eee19b7ec3c1b174" and client["kind"] == "client"
    assert client["status"] == "error" and client["attributes"]["exception.type"] == "CardDeclined"
    assert client["attributes"]["exception.stacktrace"] == "at pay()" and client["attributes"]["events"][0]["name"] == "exception"
    assert legacy["trace_id"] == "0af7651916cd43dd8448eb211c80319c" and legacy["span_id"] == "b7ad6b7169203331"
    assert legacy["parent_id"] is None and legacy["status"] == "error" and legacy["kind"] == "internal"
    assert legacy["attributes"]["status.message"] == "boom" and legacy["service"] == "legacy"


def test_otlp_json_lines_gzip(tmp_path):
    doc = _otlp_doc()
    one = {"resourceSpans": [doc["resourceSpans"][1]]}
    text = json.dumps(one) + "\n" + '{"resourceSpans": [\n' + json.dumps(one) + "\n" + '{"other": 1}\n'
    source = _source(tmp_path, "export.jsonl", text, gz=True)
    assert detect_span_format(source) == "otlp"
    rows, errors = _parse(source)
    assert [r["line"] for r in rows] == [1, 3]
    assert [e.line for e in errors] == [2, 4]


# ------------------------------------------------------------------ Jaeger


def _jaeger_trace():
    def span(sid, op, start, dur, refs=(), tags=(), pid="p1", **extra):
        return {"traceID": "ABC123", "spanID": sid, "operationName": op, "startTime": T0_US + start, "duration": dur,
                "references": [{"refType": r, "traceID": "ABC123", "spanID": p} for r, p in refs],
                "tags": list(tags), "logs": extra.pop("logs", []), "processID": pid, "warnings": None, **extra}
    logs = [{"timestamp": T0_US + i, "fields": [{"key": "event", "type": "string", "value": f"e{i}"}]} for i in range(25)]
    return {"traceID": "ABC123", "processes": {"p1": {"serviceName": "frontend", "tags": [{"key": "hostname", "type": "string", "value": "h1"}]},
                                               "p2": {"serviceName": "db", "tags": []}},
            "spans": [
                span("span-1", "GET /", 0, 1000, tags=[{"key": "span.kind", "type": "string", "value": "server"}]),
                span("span-2", "query", 100, 200, refs=[("CHILD_OF", "span-1")], pid="p2", logs=logs,
                     tags=[{"key": "error", "type": "bool", "value": "true"}, {"key": "span.kind", "type": "string", "value": "client"}]),
                span("span-3", "async", 400, 50, refs=[("FOLLOWS_FROM", "span-1")],
                     tags=[{"key": "otel.status_code", "type": "string", "value": "OK"}, {"key": "n", "type": "int64", "value": "7"}]),
                {"traceID": "ABC123", "operationName": "no id", "startTime": T0_US},
            ]}


def test_jaeger_api_response(tmp_path):
    source = _source(tmp_path, "jaeger.json", {"data": [_jaeger_trace()], "total": 0, "errors": None})
    assert detect_span_format(source) == "jaeger"
    rows, errors = _parse(source)
    assert [e.reason for e in errors] == ["span 3 of data[0]: missing spanID"]
    root, query, follows = rows
    assert root["trace_id"] == "abc123" and root["span_id"] == "span-1" and root["parent_id"] is None
    assert root["service"] == "frontend" and root["kind"] == "server" and root["attributes"]["hostname"] == "h1"
    assert root["start_ts"] == T0 and root["end_ts"] == T0 + timedelta(milliseconds=1)
    assert query["parent_id"] == "span-1" and query["status"] == "error" and query["service"] == "db"
    assert len(query["attributes"]["events"]) == 20 and query["attributes"]["events_dropped"] == 5
    assert follows["parent_id"] == "span-1" and follows["attributes"]["jaeger.ref_type"] == "follows_from"
    assert follows["status"] == "ok" and follows["attributes"]["n"] == 7


@pytest.mark.parametrize("wrap", [lambda t: t, lambda t: {"data": t, "id": "abc123", "state": "FETCH_DONE"}])
def test_jaeger_single_trace_and_ui_wrapper(tmp_path, wrap):
    trace = _jaeger_trace()
    trace["spans"] = trace["spans"][:3]
    source = _source(tmp_path, "t.json", wrap(trace))
    assert detect_span_format(source) == "jaeger"
    rows, errors = _parse(source)
    assert len(rows) == 3 and not errors


# ------------------------------------------------------------------ Zipkin


def _zipkin_spans():
    base = {"traceId": "1E223FF1F80F1C69", "timestamp": T0_US}
    return [
        {**base, "id": "bf396325699c84bf", "kind": "SERVER", "name": "get", "duration": 99411,
         "localEndpoint": {"serviceName": "servicea", "ipv4": "127.0.0.1"}},
        {**base, "parentId": "bf396325699c84bf", "id": "74280ae0c10d8062", "kind": "CLIENT", "name": "post",
         "duration": 94539, "localEndpoint": {"serviceName": "servicea"}, "remoteEndpoint": {"serviceName": "serviceb"},
         "tags": {"http.status_code": "503"}, "annotations": [{"timestamp": T0_US + 5, "value": "ws"}]},
        {**base, "parentId": "bf396325699c84bf", "id": "74280ae0c10d8062", "kind": "SERVER", "name": "post",
         "duration": 93577, "localEndpoint": {"serviceName": "serviceb"}, "shared": True, "tags": {"error": ""}},
        {"traceId": "1e223ff1f80f1c69", "id": "43210ae0c10d1234", "name": "no timestamp"},
    ]


def test_zipkin_array_shared_span_kept_twice(tmp_path):
    source = _source(tmp_path, "zipkin.json", _zipkin_spans())
    assert detect_span_format(source) == "zipkin"
    rows, errors = _parse(source)
    assert not errors  # a span without a time of its own is kept (zipkin_spans places it), not rejected
    root, client, server, untimed = rows
    assert untimed["start_ts"] == root["start_ts"] and untimed["attributes"]["timestamp_source"] == "trace"
    assert root["trace_id"] == "1e223ff1f80f1c69" and root["parent_id"] is None and root["kind"] == "server"
    assert root["end_ts"] - root["start_ts"] == timedelta(microseconds=99411) and root["status"] == "unset"
    assert client["status"] == "error" and client["attributes"]["peer.service"] == "serviceb"
    assert client["attributes"]["annotations"][0]["value"] == "ws"
    assert server["span_id"] == client["span_id"] and server["attributes"]["zipkin.shared"] is True
    assert server["status"] == "error" and server["service"] == "serviceb"
    flags = span_graph_flags((r["trace_id"], r["span_id"], r["parent_id"]) for r in rows)
    assert flags == {("1e223ff1f80f1c69", "74280ae0c10d8062"): {"duplicate_id"}}


def test_zipkin_single_span_object_and_list_of_traces(tmp_path):
    one = _zipkin_spans()[1]
    rows, errors = _parse(_source(tmp_path, "one.json", one))
    assert len(rows) == 1 and not errors and rows[0]["kind"] == "client"
    rows, errors = _parse(_source(tmp_path, "traces.json", [_zipkin_spans()[:2], _zipkin_spans()[2:3]]), "zipkin")
    assert len(rows) == 3 and not errors


# ------------------------------------------------------------------ CSV

NEZHA_HEADER = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
NEZHA_MAP = {"trace_id": "TraceID", "span_id": "SpanID", "parent_id": "ParentID", "service": "pod:PodName",
             "name": "OperationName", "start_ts": "StartTimeUnixNano", "end_ts": "EndTimeUnixNano"}


def _nezha_csv() -> str:
    return NEZHA_HEADER + "".join([
        f"aa00265193e2a75b,dd8e061dd1813199,root,ts-gateway-service-6f6cfc45b-d9pnv,/*,{T0_NS},{T0_NS + 383364930},383364\n",
        f"aa00265193e2a75b,4c5ac49c546e61ca,dd8e061dd1813199,ts-travel-service-64469b5b48-5rjvb,GET,{T0_NS + 841732},{T0_NS + 382220748},382379\n",
        "aa00265193e2a75b,5d,4c5ac49c546e61ca,ts-travel-service-64469b5b48-5rjvb,bad,not-a-time,1,1\n",
        "aa00265193e2a75b,too,few\n",
        f"aa00265193e2a75b,6e6e,4c5ac49c546e61ca,ts-travel-service-64469b5b48-5rjvb,late,{T0_NS + 900},{T0_NS},0\n",
    ])


@pytest.mark.parametrize("mapping", [NEZHA_MAP, None])
def test_csv_nezha_with_and_without_mapping(tmp_path, mapping):
    source = _source(tmp_path, "trace.csv", _nezha_csv())
    assert detect_span_format(source) == "csv"
    rows, errors = _parse(source, "csv", mapping)
    assert [(r["span_id"], r["line"]) for r in rows] == [("dd8e061dd1813199", 2), ("4c5ac49c546e61ca", 3)]
    root, child = rows
    assert root["parent_id"] is None and child["parent_id"] == "dd8e061dd1813199"
    assert root["service"] == "ts-gateway-service" and child["service"] == "ts-travel-service"
    assert child["attributes"] == {"k8s.pod.name": "ts-travel-service-64469b5b48-5rjvb"}  # Duration is ignored
    assert root["start_ts"] == T0 and abs(root["end_ts"] - T0 - timedelta(microseconds=383365)) <= timedelta(microseconds=1)
    assert [e.line for e in errors] == [4, 5, 6]
    assert "start_ts" in errors[0].reason and "expected 8 columns" in errors[1].reason and "ends before" in errors[2].reason


def test_csv_aliases_units_and_extra_columns(tmp_path):
    text = ("trace id\tspan id\tparent span id\tservice name\toperation\tstart time\tduration_ms\tregion\n"
            "t1\ts1\t\tapi\tGET /\t2024-05-14T10:00:00Z\t12.5\teu\n")
    rows, errors = _parse(_source(tmp_path, "spans.tsv", text))
    assert not errors
    (row,) = rows
    assert (row["trace_id"], row["span_id"], row["parent_id"], row["service"]) == ("t1", "s1", None, "api")
    assert row["end_ts"] - row["start_ts"] == timedelta(milliseconds=12.5) and row["attributes"] == {"region": "eu"}


def test_csv_mapping_errors(tmp_path):
    source = _source(tmp_path, "trace.csv", _nezha_csv())
    with pytest.raises(InputError) as exc:
        list(parse_spans(source, "csv", {**NEZHA_MAP, "service": "pod:Pod"}))
    assert "'Pod'" in exc.value.message and "PodName" in exc.value.hint and "TraceID" in exc.value.hint
    with pytest.raises(InputError):
        list(parse_spans(source, "csv", {"colour": "TraceID"}))
    unitless = "trace,span,name,start,Duration\nt,s,n,2024-05-14T10:00:00Z,5\n"
    with pytest.raises(InputError, match="without a unit"):
        list(parse_spans(_source(tmp_path, "u.csv", unitless), "csv"))
    rows, _ = _parse(_source(tmp_path, "u2.csv", unitless), "csv", {"duration_us": "Duration"})
    assert rows[0]["end_ts"] - rows[0]["start_ts"] == timedelta(microseconds=5)
    with pytest.raises(InputError):
        list(parse_spans(_source(tmp_path, "z.json", _zipkin_spans()), "zipkin", {"name": "x"}))


def test_pod_to_service():
    assert pod_to_service("ts-travel-service-64469b5b48-5rjvb") == "ts-travel-service"


# ------------------------------------------------------------------ detection


def test_detect_refuses_what_is_not_spans(tmp_path):
    logs = {"resourceLogs": [{"scopeLogs": []}]}
    with pytest.raises(InputError, match="logs") as exc:
        detect_span_format(_source(tmp_path, "logs.json", logs))
    assert "ingest logs" in exc.value.hint
    with pytest.raises(InputError):
        detect_span_format(_source(tmp_path, "readme.md", "# Title\n\nSome words here.\n"))
    with pytest.raises(InputError):
        detect_span_format(_source(tmp_path, "other.json", {"hello": "world"}))
    with pytest.raises(InputError):
        list(parse_spans(_source(tmp_path, "broken.json", '{\n "resourceSpans": [\n'), "otlp"))


# ------------------------------------------------------------------ span graph


def _chain(n: int, trace: str = "t") -> list[tuple[str, str, str | None]]:
    return [(trace, "0", None)] + [(trace, str(i), str(i - 1)) for i in range(1, n)]


def test_graph_depth_1000_and_100000_without_recursion():
    flags = span_graph_flags(_chain(1002))
    assert flags == {("t", "1001"): {"too_deep"}}
    flags = span_graph_flags(_chain(100_000), max_depth=1000)
    assert len(flags) == 100_000 - 1001 and flags[("t", "99999")] == {"too_deep"}
    assert ("t", "1000") not in flags
    assert span_depths(_chain(100_000))[("t", "99999")] == 99_999


def test_graph_cycle_duplicate_orphan():
    edges = [("t", "a", None), ("t", "b", "a"),
             ("t", "p", "r"), ("t", "q", "p"), ("t", "r", "q"), ("t", "below", "p"),  # a 3-cycle, one span under it
             ("t", "self", "self"),
             ("t", "b", "a"), ("u", "b", None),  # b twice in t; once in u is fine
             ("t", "lost", "nowhere"), ("t", "under-lost", "lost")]
    flags = span_graph_flags(edges)
    assert flags == {("t", "p"): {"cycle"}, ("t", "q"): {"cycle"}, ("t", "r"): {"cycle"}, ("t", "self"): {"cycle"},
                     ("t", "b"): {"duplicate_id"}, ("t", "lost"): {"orphan"}}
    depths = span_depths(edges)
    assert depths[("t", "under-lost")] == 1 and ("t", "below") not in depths and depths[("t", "b")] == 1


def test_native_mapping_renames_keys(tmp_path):
    doc = [{"sid": "s1", "op": "plan", "at": "2024-05-14T10:00:00Z", "tool": "ignored-name-alias"}]
    rows, errors = _parse(_source(tmp_path, "m.json", doc), "native", {"span_id": "sid", "name": "op", "start_ts": "at"})
    assert not errors and rows[0]["name"] == "plan" and rows[0]["attributes"] == {"tool": "ignored-name-alias", "duration_unknown": True}
    with pytest.raises(InputError):
        parse_spans(_source(tmp_path, "m2.json", doc), "native", {"colour": "sid"})


def test_skywalking_style_csv_error_flags_root_parents_and_span_types(ws, tmp_path):
    """SkyWalking exports: IsError True/False, ParentSpan -1 for a root, SpanType Entry/Exit/Local."""
    p = tmp_path / "sw.csv"
    p.write_text("TraceId,SpanId,ParentSpan,ServiceName,OperationName,StartTime,EndTime,IsError,SpanType\n"
                 "t1,s0,-1,ts-order,POST /order,1715680800000,1715680800900,False,Entry\n"
                 "t1,s1,s0,ts-order,GET /station,1715680800100,1715680800800,True,Exit\n"
                 "t1,s2,s0,ts-order,compute,1715680800100,1715680800150,false,Local\n")
    from crashlens_core.ingest import ingest_file

    report = ingest_file(ws, "spans", str(p), "csv")
    assert (report.loaded, report.rejected) == (3, 0), report.to_json()
    rows = dict((r[0], r[1:]) for r in ws.con.execute(
        "SELECT span_id, parent_id, status, kind, flags FROM spans ORDER BY span_id").fetchall())
    assert rows["s0"][:3] == (None, "ok", "server") and not rows["s0"][3]  # a root, not an orphan
    assert rows["s1"][:3] == ("s0", "error", "client")
    assert rows["s2"][:3] == ("s0", "ok", "internal")
