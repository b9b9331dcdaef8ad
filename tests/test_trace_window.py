"""One reading of a window's traces: `traces summary --from --to` and the suspect ranking name the same origins."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from crashlens_core.signals.suspects import rank_suspect_services
from crashlens_core.signals.tracestats import window_summary, window_trace_stats
from crashlens_core.store import Workspace

from .conftest import run_cli
from .data_helpers import load_spans, span

T0 = datetime(2024, 5, 14, 10, 0, 0)


def _silent_callee_window(ws: Workspace, tmp_path) -> None:
    """The gateway's calls to payments time out and leave no payments span: the gateway only reports them."""
    records = []
    for k in range(4):
        base = T0 + timedelta(seconds=k)
        t = f"e{k}"
        records += [span(t, "top", None, "gateway", "POST /checkout", 0, 300, status="error", kind="server", base=base),
                    span(t, "call", "top", "gateway", "POST payments/charge", 10, 290, status="error", kind="client",
                         attrs={"peer.service": "payments"}, base=base)]
    # payments answers other requests, so it is a service of this system
    records += [span("p0", "s", None, "payments", "GET /health", 0, 5, kind="server", base=T0 - timedelta(minutes=5))]
    load_spans(ws, tmp_path, records)


def test_window_summary_names_the_blamed_service_like_the_ranking(ws, tmp_path):
    _silent_callee_window(ws, tmp_path)
    start, end = T0, T0 + timedelta(minutes=1)
    out = window_summary(ws, start, end)
    stats = window_trace_stats(ws, start, end)
    assert out["trace_count"] == 4 and out["span_count"] == 8 and out["error_traces"] == 4
    origin = out["error_origins"][0]
    assert (origin["service"], origin["why"], origin["via"], origin["count"]) == ("payments", "silent_callee", "gateway", 4)
    assert [(g["service"], g["name"], g["count"]) for g in out["error_origins"]] == [
        (g["service"], g["name"], g["count"]) for g in stats["origins"]]
    assert origin["examples"] == ["span:call"] * 3  # three of the four traces, as evidence ids
    ranking = rank_suspect_services(ws, start, end, T0 - timedelta(minutes=10), T0 - timedelta(minutes=1))
    assert ranking[0].service == origin["service"]
    # per-trace summaries still show where the error was seen
    assert out["traces"][0]["error_origin"]["service"] == "gateway" and len(out["traces"]) == 4
    assert window_summary(ws, start, end, limit=2)["traces"].__len__() == 2


def test_cli_window_summary_is_the_core_document(tmp_path):
    folder = tmp_path / "ws"
    with Workspace.open(folder) as ws:
        _silent_callee_window(ws, tmp_path)
        expect = window_summary(ws, T0, T0 + timedelta(minutes=1), limit=3)
    res = run_cli("traces", "summary", "--from", T0.isoformat(), "--to", (T0 + timedelta(minutes=1)).isoformat(),
                  "--limit", "3", "--json", workspace=folder)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out == json.loads(json.dumps(expect, default=str))
    # the shape scripts rely on, kept
    assert {"window", "trace_count", "span_count", "error_traces", "self_time_by_service", "error_origins", "traces"} <= set(out)
    assert out["error_origins"][0]["service"] == "payments"
    text = run_cli("traces", "summary", "--from", T0.isoformat(), "--to", (T0 + timedelta(minutes=1)).isoformat(),
                   workspace=folder)
    assert text.returncode == 0 and "payments POST payments/charge" in text.stdout and "silent_callee" in text.stdout
