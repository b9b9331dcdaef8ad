"""OTLP logs JSON: ids and times read as the span parser reads them, so logs join their spans; bad resources isolated."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from crashlens_core.ingest import ingest_file

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
TRACE_B64 = base64.b64encode(bytes.fromhex(TRACE_HEX)).decode()  # protobuf-JSON style ids
SPAN_B64 = base64.b64encode(bytes.fromhex(SPAN_HEX)).decode()
NS = "1715680800123456789"  # 2024-05-14T10:00:00.123456789Z


def _attr(key, value):
    return {"key": key, "value": {"stringValue": value}}


def _logs(*resources):
    return {"resourceLogs": list(resources)}


def _resource(service, *records):
    return {"resource": {"attributes": [_attr("service.name", service)]}, "scopeLogs": [{"logRecords": list(records)}]}


def _record(body, trace=None, span=None, ts=NS, level="ERROR", **extra):
    rec = {"timeUnixNano": ts, "severityText": level, "body": {"stringValue": body}, **extra}
    if trace is not None:
        rec["traceId"] = trace
    if span is not None:
        rec["spanId"] = span
    return rec


def _spans_doc(trace, span):
    return {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "cart")]}, "scopeSpans": [{"spans": [
        {"traceId": trace, "spanId": span, "name": "checkout", "startTimeUnixNano": NS,
         "endTimeUnixNano": "1715680800223456789"}]}]}]}


def test_base64_ids_decode_to_the_span_hex_and_logs_join_their_spans(ws, tmp_path):
    (tmp_path / "spans.json").write_text(json.dumps(_spans_doc(TRACE_B64, SPAN_B64)))
    (tmp_path / "logs.json").write_text(json.dumps(_logs(_resource("cart", _record("charge failed", TRACE_B64, SPAN_B64)))))
    assert ingest_file(ws, "spans", str(tmp_path / "spans.json")).loaded == 1
    report = ingest_file(ws, "logs", str(tmp_path / "logs.json"))
    assert (report.format, report.loaded, report.rejected) == ("otlp", 1, 0)
    assert ws.con.execute("SELECT trace_id, span_id FROM logs").fetchall() == [(TRACE_HEX, SPAN_HEX)]
    joined = ws.con.execute("SELECT count(*) FROM logs l JOIN spans s ON l.trace_id = s.trace_id AND l.span_id = s.span_id")
    assert joined.fetchall() == [(1,)]


def test_hex_ids_are_kept_lower_case_and_all_zero_ids_mean_no_trace(ws, tmp_path):
    (tmp_path / "logs.json").write_text(json.dumps(_logs(_resource(
        "cart", _record("a", TRACE_HEX.upper(), SPAN_HEX.upper()), _record("b", "0" * 32, "0" * 16)))))
    assert ingest_file(ws, "logs", str(tmp_path / "logs.json")).loaded == 2
    assert ws.con.execute("SELECT message, trace_id, span_id FROM logs ORDER BY message").fetchall() == [
        ("a", TRACE_HEX, SPAN_HEX), ("b", None, None)]


def test_nanosecond_times_keep_their_microseconds_and_observed_time_stands_in_for_zero(ws, tmp_path):
    (tmp_path / "logs.json").write_text(json.dumps(_logs(_resource(
        "cart", _record("exact"), _record("observed", ts="0", observedTimeUnixNano="1715680801000000999")))))
    assert ingest_file(ws, "logs", str(tmp_path / "logs.json")).loaded == 2
    got = dict(ws.con.execute("SELECT message, ts FROM logs").fetchall())
    assert got == {"exact": datetime(2024, 5, 14, 10, 0, 0, 123456), "observed": datetime(2024, 5, 14, 10, 0, 1, 0)}


def test_a_malformed_resource_is_reported_by_path_and_the_others_load(ws, tmp_path):
    doc = _logs(
        _resource("cart", _record("first")),
        "not a resource",
        {"resource": {"attributes": []}, "scopeLogs": {"logRecords": "nope"}},  # scopeLogs is not a list
        _resource("pay", _record("third"), "not a record", {"severityText": "INFO", "body": {"stringValue": "no time"}}),
    )
    (tmp_path / "logs.json").write_text(json.dumps(doc))
    report = ingest_file(ws, "logs", str(tmp_path / "logs.json"))
    assert (report.loaded, report.rejected) == (2, 4)
    reasons = [e.reason for e in report.errors]
    assert any(r.startswith("resourceLogs[1]") for r in reasons) and any(r.startswith("resourceLogs[2]") for r in reasons)
    assert "logRecord 1 of resourceLogs[3].scopeLogs[0]: not an object" in reasons
    assert "logRecord 2 of resourceLogs[3].scopeLogs[0]: missing or bad timeUnixNano" in reasons
    assert sorted(r[0] for r in ws.con.execute("SELECT service FROM logs").fetchall()) == ["cart", "pay"]


def test_json_lines_of_export_requests_report_file_lines(ws, tmp_path):
    # the collector's file exporter writes one export request per line
    lines = [_logs(_resource("cart", _record("one", TRACE_B64))), "{not json", _logs(_resource("cart", {"body": {}}))]
    (tmp_path / "logs.jsonl").write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    report = ingest_file(ws, "logs", str(tmp_path / "logs.jsonl"), "otlp")
    assert (report.loaded, report.rejected) == (1, 2)
    assert sorted(e.line for e in report.errors) == [2, 3]
    assert ws.con.execute("SELECT trace_id FROM logs").fetchall() == [(TRACE_HEX,)]


def test_records_of_one_document_get_ids_of_their_own(ws, tmp_path):
    # an OTLP JSON document holds every record on one line: ids must still be unique per record
    p = tmp_path / "logs.json"
    p.write_text(json.dumps(_logs(_resource("checkout", *(_record(f"event {i}") for i in range(50))))))
    first = ingest_file(ws, "logs", str(p))
    again = tmp_path / "more.jsonl"  # JSON Lines of documents: many records on each of its lines
    again.write_text("\n".join(json.dumps(_logs(_resource("pay", *(_record(f"more {k}.{i}") for i in range(5)))))
                               for k in range(3)) + "\n")
    second = ingest_file(ws, "logs", str(again))
    assert (first.loaded, second.loaded) == (50, 15)
    ids = [r[0] for r in ws.con.execute("SELECT id FROM logs").fetchall()]
    assert len(ids) == len(set(ids)) == 65
