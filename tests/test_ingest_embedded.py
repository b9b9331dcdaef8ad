"""Application lines inside JSON records: a record without a level takes level, ids, thread, logger
(and a timestamp it lacks) from its message, by the text format's rules, in every format that wraps lines."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from crashlens_core.ingest import ingest_file

TOMCAT = "16:42:22.382 ERROR o.a.c.c.C.[.[.[/].[dispatcherServlet] - Servlet.service() for servlet threw exception"
LOGBACK = "2024-05-14 10:00:01.250 [http-nio-8080-exec-1] WARN  c.f.PaymentClient - slow reply trace_id=4bf92f3577b34da6a3ce929d0e0e4736"
TRAIN_TICKET = ("19:50:59.971 INFO  t.s.TravelServiceImpl#457 TraceID: 2ffbc4a03bbc5600a45841d05e452454 "
                "SpanID: 04ba577c01a08838 [getTickets][Calculate distance]")


def _rows(ws, batch_id, cols="ts, level, trace_id, span_id, message, attributes"):
    return ws.con.execute(f"SELECT {cols} FROM logs WHERE batch_id = ? ORDER BY source_line", [batch_id]).fetchall()


def test_jsonl_records_whose_message_carries_the_level(ws, tmp_path):
    """Fluent Bit / Kubernetes: {"time", "message"} with the application's line in the message."""
    records = [
        {"time": "2024-05-14T10:00:00Z", "kubernetes": {"pod": "web-1"}, "message": TOMCAT},
        {"message": LOGBACK},  # no time in the record: the line's own full timestamp is used
        {"time": "2024-05-14T10:00:02Z", "message": TRAIN_TICKET},
        {"time": "2024-05-14T10:00:03Z", "message": "Error connecting to the database"},  # prose, not a level
        {"time": "2024-05-14T10:00:04Z", "message": "[checkout] cart saved"},             # a tag, not a service
        {"time": "2024-05-14T10:00:05Z", "level": "debug", "message": "ERROR is only a word here"},  # the record's level wins
        {"time": "2024-05-14T10:00:06Z", "message": "FATAL: out of memory"},               # capitals: a level
    ]
    p = tmp_path / "fluentbit.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("jsonl", 7, 0), r.errors
    got = _rows(ws, r.batch_id)
    assert [g[1] for g in got] == ["ERROR", "WARN", "INFO", None, None, "DEBUG", "FATAL"]
    assert got[1][0] == datetime(2024, 5, 14, 10, 0, 1, 250000)
    assert got[1][2] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert json.loads(got[1][5]) == {"thread": "http-nio-8080-exec-1", "logger": "c.f.PaymentClient"}
    assert got[2][2:4] == ("2ffbc4a03bbc5600a45841d05e452454", "04ba577c01a08838")
    assert got[0][0] == datetime(2024, 5, 14, 10, 0)  # a time of day does not replace the record's time
    assert [g[4] for g in got] == [rec["message"] for rec in records]  # the message stays as written
    assert json.loads(got[0][5]) == {"kubernetes": {"pod": "web-1"}}
    assert got[4][5] is None


def test_jsonl_without_any_time_is_still_rejected_with_its_line(ws, tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"message": "ERROR no time anywhere"}) + "\n"
                 + json.dumps({"time": "2024-05-14T10:00:00Z", "message": "INFO ok"}) + "\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.loaded, r.rejected) == (1, 1)
    assert r.errors[0].line == 1 and "no timestamp" in r.errors[0].reason


def test_docker_lines_with_a_time_of_day_or_no_time(ws, tmp_path):
    lines = [{"log": TRAIN_TICKET + "\n", "stream": "stdout", "time": "2024-05-14T10:00:00.5Z"},
             {"log": "WARN  pool exhausted\n", "stream": "stdout", "time": "2024-05-14T10:00:01Z"},
             {"log": "warning: lower case without a time is prose\n", "stream": "stdout", "time": "2024-05-14T10:00:02Z"}]
    p = tmp_path / "container-json.log"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("docker", 3, 0), r.errors
    got = _rows(ws, r.batch_id)
    assert [g[1] for g in got] == ["INFO", "WARN", None]
    assert got[0][0] == datetime(2024, 5, 14, 10, 0, 0, 500000)
    assert got[0][2:4] == ("2ffbc4a03bbc5600a45841d05e452454", "04ba577c01a08838")
    assert got[2][4] == "warning: lower case without a time is prose"


def test_csv_with_docker_lines_and_no_id_columns(ws, tmp_path):
    """A Nezha-shaped CSV: the ids come from the line when the CSV has no columns for them."""
    inner = {"log": TRAIN_TICKET.replace("INFO ", "WARN ") + "\n", "stream": "stdout", "time": "2023-01-30T11:50:59.971Z"}
    p = tmp_path / "11_51_log.csv"
    p.write_text("Timestamp,PodName,Log\n"
                 f"2023-01-30T11:50:59.971622667Z,ts-travel-service-64469b5b48-5rjvb,\"{json.dumps(inner).replace(chr(34), chr(34) * 2)}\"\n"
                 "2023-01-30T11:51:00Z,ts-travel-service-64469b5b48-5rjvb,plain line without a level\n")
    r = ingest_file(ws, "logs", str(p), "csv", {"ts": "Timestamp", "service": "pod:PodName", "message": "Log"})
    assert (r.loaded, r.rejected) == (2, 0), r.errors
    got = _rows(ws, r.batch_id, "service, level, trace_id, span_id, message")
    assert got[0][:4] == ("ts-travel-service", "WARN", "2ffbc4a03bbc5600a45841d05e452454", "04ba577c01a08838")
    assert got[0][4].startswith("19:50:59.971 WARN  t.s.TravelServiceImpl#457")
    assert got[1][1:4] == (None, None, None)


@pytest.mark.parametrize("severity, expected", [({}, "ERROR"), ({"severityText": "INFO"}, "INFO"),
                                                ({"severityNumber": 13}, "WARN")])
def test_otlp_bodies_without_severity(ws, tmp_path, severity, expected):
    """A collector that forwards raw lines leaves severity unset: the body's level is used, never over a severity."""
    rec = {"timeUnixNano": "1715680800000000000", "body": {"stringValue": LOGBACK.replace("WARN ", "ERROR")}, **severity}
    doc = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
                             "scopeLogs": [{"logRecords": [rec]}]}]}
    p = tmp_path / "otlp.json"
    p.write_text(json.dumps(doc))
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("otlp", 1, 0), r.errors
    ts, level, trace_id, _span, _msg, attrs = _rows(ws, r.batch_id)[0]
    assert level == expected and ts == datetime(2024, 5, 14, 10, 0)
    if not severity:
        assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and json.loads(attrs)["logger"] == "c.f.PaymentClient"
