"""Spans without status: the error origin comes from ERROR log lines joined to spans by trace and span id."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from crashlens_core.ingest import ingest_file
from crashlens_core.signals.traces import summarize_trace, summarize_traces
from crashlens_core.signals.tracestats import window_summary, window_trace_stats
from crashlens_core.store import Workspace

T0 = datetime(2024, 5, 14, 10, 0, 0)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _span(trace, sid, parent, service, name, start_ms, end_ms, status=None):
    rec = {"trace_id": trace, "span_id": sid, "parent_id": parent, "service": service, "name": name,
           "start_ts": (T0 + timedelta(milliseconds=start_ms)).isoformat() + "Z",
           "end_ts": (T0 + timedelta(milliseconds=end_ms)).isoformat() + "Z"}
    if status:
        rec["status"] = status
    return rec


def _log(trace, sid, service, level, message, ms):
    return {"ts": (T0 + timedelta(milliseconds=ms)).isoformat() + "Z", "level": level, "service": service,
            "message": message, "trace_id": trace, "span_id": sid}


def _load(ws: Workspace, tmp_path, spans: list[dict], logs: list[dict]) -> None:
    (tmp_path / "spans.jsonl").write_text("".join(json.dumps(s) + "\n" for s in spans))
    (tmp_path / "app.jsonl").write_text("".join(json.dumps(x) + "\n" for x in logs))
    assert ingest_file(ws, "spans", str(tmp_path / "spans.jsonl"), "native").rejected == 0
    report = ingest_file(ws, "logs", str(tmp_path / "app.jsonl"), "jsonl")
    assert (report.loaded, report.rejected) == (len(logs), 0)


def _chain(trace, status=None):
    """gateway → orders → db, no status unless given (as Nezha / SkyWalking CSV exports and many OTLP SDKs)."""
    return [_span(trace, "aa01", None, "gateway", "POST /orders", 0, 100),
            _span(trace, "bb02", "aa01", "orders", "createOrder", 10, 90, status),
            _span(trace, "cc03", "bb02", "db", "INSERT orders", 20, 40)]


def test_the_deepest_span_with_an_error_log_is_the_origin_with_the_log_as_evidence(ws, tmp_path):
    _load(ws, tmp_path, _chain(TRACE), [
        _log(TRACE, "aa01", "gateway", "ERROR", "request failed: 500 from orders", 95),
        _log(TRACE.upper(), "BB02", "orders", "ERROR",
             "create failed: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available", 80),
        _log(TRACE, "cc03", "db", "INFO", "insert took 20 ms", 40),
    ])
    s = summarize_trace(ws, TRACE)
    o = s.error_origin
    assert (o["service"], o["span_id"], o["error_from"]) == ("orders", "bb02", "logs")
    assert o["exception"] == "java.sql.SQLTransientConnectionException" and "HikariPool-1" in o["message"]
    log_id = ws.con.execute("SELECT id FROM logs WHERE service = 'orders'").fetchall()[0][0]
    assert o["error_log"] == f"log:{log_id}" and o["path"] == ["bb02", "aa01"]
    assert s.error_count == 2  # gateway and orders logged errors; db only INFO
    rows = {r["span_id"]: r for r in s.spans}
    assert rows["bb02"]["error_from_logs"] and rows["bb02"]["error_origin"] and not rows["cc03"]["error"]


def test_a_trace_with_error_status_keeps_its_status_origin_and_ok_beats_a_log(ws, tmp_path):
    t_status, t_ok = "1" * 32, "2" * 32
    spans = _chain(t_status) + _chain(t_ok, status="ok")
    spans[2]["status"] = "error"  # the db span of the first trace says it failed
    _load(ws, tmp_path, spans, [
        _log(t_status, "bb02", "orders", "ERROR", "create failed", 80),
        _log(t_ok, "bb02", "orders", "ERROR", "retrying after a deadlock (handled)", 50),
    ])
    first = summarize_trace(ws, t_status).error_origin
    assert (first["service"], first["error_from"], first["error_log"]) == ("db", "status", None)
    # orders said ok: the logged error was handled; no other span of the trace errs
    assert summarize_trace(ws, t_ok).error_origin is None


def test_window_stats_and_summary_group_log_origins_with_their_log_evidence(ws, tmp_path):
    spans, logs = [], []
    for k in range(3):
        trace = f"{k + 1:032x}"
        spans += _chain(trace)
        logs.append(_log(trace, "cc03", "db", "FATAL", "disk full: java.io.IOException: No space left on device", 30))
    spans += _chain("f" * 32)  # a healthy trace: INFO only
    logs.append(_log("f" * 32, "cc03", "db", "INFO", "ok", 30))
    _load(ws, tmp_path, spans, logs)
    stats = window_trace_stats(ws, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    assert stats["traces"] == 4 and stats["error_traces"] == 3
    [g] = stats["origins"]
    assert (g["service"], g["exception"], g["count"], g["error_from"]) == ("db", "java.io.IOException", 3, "logs")
    assert len(g["logs"]) == 3 and all(x.startswith("log:") for x in g["logs"])
    out = window_summary(ws, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    assert out["error_traces"] == 3 and out["error_origins"][0]["service"] == "db"
    assert [s.error_origin["error_from"] if s.error_origin else None for s in summarize_traces(ws)].count("logs") == 3


def test_no_logs_no_change(ws, tmp_path):
    (tmp_path / "spans.jsonl").write_text("".join(json.dumps(s) + "\n" for s in _chain(TRACE)))
    ingest_file(ws, "spans", str(tmp_path / "spans.jsonl"), "native")
    s = summarize_trace(ws, TRACE)
    assert s.error_origin is None and s.error_count == 0
