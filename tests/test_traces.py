"""Span trees, critical path, self time, error origin, the `traces` CLI and the Traces page, on real workspaces."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crashlens_core.errors import NotFound
from crashlens_core.ingest import ingest_file
from crashlens_core.signals.traces import error_origin, summarize_trace, summarize_traces
from crashlens_core.signals.tracetree import VIRTUAL_ROOT
from crashlens_core.store import Workspace

from .conftest import run_cli
from .data_helpers import T0, load_spans, span

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _sections(summary):
    return [(c["name"], c["start_ms"], c["end_ms"]) for c in summary.critical_path]


def test_critical_path_follows_last_finishing_children_as_jaeger(ws, tmp_path):
    load_spans(ws, tmp_path, [
        span("t1", "a", None, "api", "A", 0, 100), span("t1", "b", "a", "api", "B", 10, 40),
        span("t1", "c", "a", "db", "C", 50, 90),
    ])
    s = summarize_trace(ws, "t1")
    assert _sections(s) == [("A", 0, 10), ("B", 10, 40), ("A", 40, 50), ("C", 50, 90), ("A", 90, 100)]
    assert s.critical_path_ms == 100 and s.critical_path_spans == 3
    assert s.self_time_by_service == {"api": 60.0, "db": 40.0}  # A 30 + B 30, C 40
    assert s.depth == 1 and s.span_count == 3 and s.error_origin is None and not s.issues


def test_overlapping_children_count_once_and_only_the_last_finisher_is_critical(ws, tmp_path):
    load_spans(ws, tmp_path, [
        span("t2", "a", None, "api", "A", 0, 100), span("t2", "b", "a", "api", "B", 10, 60),
        span("t2", "c", "a", "api", "C", 40, 80),
    ])
    s = summarize_trace(ws, "t2")
    assert _sections(s) == [("A", 0, 40), ("C", 40, 80), ("A", 80, 100)]
    rows = {r["name"]: r for r in s.spans}
    assert rows["A"]["self_ms"] == 30  # 100 minus the union 10..80, not minus 50 + 40
    assert rows["B"]["critical_ms"] == 0 and rows["C"]["critical_ms"] == 40


def test_child_longer_than_parent_is_clipped_not_shifted(ws, tmp_path):
    load_spans(ws, tmp_path, [
        span("t3", "a", None, "api", "A", 0, 50), span("t3", "b", "a", "api", "B", 10, 90),  # async work, same service
        span("t3", "c", "a", "api", "late", 60, 70),  # starts after the parent ended: dropped from the critical path
    ])
    s = summarize_trace(ws, "t3")
    rows = {r["name"]: r for r in s.spans}
    assert rows["B"]["start_ms"] == 10 and rows["B"]["duration_ms"] == 80
    assert "longer_than_parent" in rows["B"]["flags"] and "clipped" in rows["B"]["flags"]
    assert "dropped" in rows["late"]["flags"]
    assert _sections(s) == [("A", 0, 10), ("B", 10, 50)]
    assert rows["A"]["self_ms"] == 10


def test_a_messaging_trace_lasts_until_its_consumer_ends(ws, tmp_path):
    """A producer root that ends at once, and consumers running after it: the trace's duration is
    the whole extent, as Zipkin's UI draws it, while the critical path stays within the root."""
    load_spans(ws, tmp_path, [
        span("t9", "p", None, "orders", "send order", 0, 1, kind="producer"),
        span("t9", "c", "p", "billing", "receive order", 100, 640, kind="consumer"),
    ])
    s = summarize_trace(ws, "t9")
    assert s.duration_ms == 640
    assert s.critical_path_ms == 1
    assert s.issues == {"dropped": 1, "longer_than_parent": 1}


def test_clock_skew_of_a_remote_server_span_is_corrected_with_its_subtree(ws, tmp_path):
    load_spans(ws, tmp_path, [
        span("t4", "r", None, "gw", "GET /x", 0, 300, kind="server"),
        span("t4", "p", "r", "gw", "call api", 100, 200, kind="client"),
        span("t4", "s", "p", "api", "GET /x", 60, 150, kind="server"),  # its host's clock is 45 ms behind
        span("t4", "q", "s", "api", "SELECT", 70, 80, kind="client"),
    ])
    rows = {r["span_id"]: r for r in summarize_trace(ws, "t4").spans}
    assert rows["s"]["start_ms"] == 105 and rows["s"]["duration_ms"] == 90 and "skew_adjusted" in rows["s"]["flags"]
    assert rows["q"]["start_ms"] == 115 and rows["q"]["duration_ms"] == 10  # moved with its parent
    assert rows["p"]["self_ms"] == 10  # 100 ms call minus the 90 ms server span now inside it


def test_orphans_missing_roots_duplicates_and_cycles_are_repaired(ws, tmp_path):
    load_spans(ws, tmp_path, [
        # an orphan under a trace that has its root: adopted by the root
        span("o1", "top", None, "gw", "GET /", 0, 100), span("o1", "kid", "top", "api", "work", 10, 40),
        span("o1", "lost", "gone", "db", "SELECT", 50, 60),
        # no root at all: two orphans under a synthetic root
        span("o2", "x", "missing", "api", "first", 0, 30), span("o2", "y", "missing2", "api", "second", 20, 80),
        # a Zipkin-style shared id: the server half becomes a child of the client half
        span("o3", "k", None, "a", "call", 0, 100, kind="client"), span("o3", "k", None, "b", "serve", 10, 90, kind="server"),
        # a parent cycle a → b → a with c under b
        span("o4", "a", "b", "svc", "A", 0, 50), span("o4", "b", "a", "svc", "B", 5, 40), span("o4", "c", "b", "svc", "C", 10, 20),
    ])
    s1 = summarize_trace(ws, "o1")
    lost = next(r for r in s1.spans if r["span_id"] == "lost")
    assert lost["parent_id"] == "top" and "orphan" in lost["flags"] and s1.issues["orphan"] == 1
    assert s1.root_name == "GET /" and not s1.issues.get("missing_root")

    s2 = summarize_trace(ws, "o2")
    assert s2.root_service == VIRTUAL_ROOT and s2.issues["missing_root"] and s2.span_count == 2
    # "second" finished last; "first" overlaps its start, so the gap before it is the missing root's own
    assert s2.duration_ms == 80 and _sections(s2) == [(VIRTUAL_ROOT, 0, 20), ("second", 20, 80)] and s2.critical_path_spans == 1

    s3 = summarize_trace(ws, "o3")
    served = [r for r in s3.spans if r["name"] == "serve"][0]
    assert served["depth"] == 1 and "duplicate_id" in served["flags"] and s3.self_time_by_service == {"a": 20.0, "b": 80.0}

    s4 = summarize_trace(ws, "o4")
    assert s4.span_count == 3 and s4.issues["cycle"] == 1
    assert [r["name"] for r in s4.spans] == ["A", "B", "C"]  # cut at the earliest span of the cycle


def test_error_origin_is_the_deepest_error_on_the_chain_to_the_root(ws, tmp_path):
    load_spans(ws, tmp_path, [
        span("e1", "r", None, "gw", "POST /pay", 0, 100, status="error", attrs={"exception.type": "KeyError"}),
        span("e1", "m", "r", "pay", "charge", 10, 90, status="error", attrs={"exception.type": "KeyError"}),
        span("e1", "l", "m", "pay", "parse", 20, 30, status="error",
             attrs={"exception.type": "KeyError", "exception.message": "'amount'"}),
        span("e1", "ok", "m", "pay", "POST gateway", 30, 80),
        # a deeper error that was handled (its parent succeeded): not the origin
        span("e1", "h1", "r", "gw", "cache", 1, 9), span("e1", "h2", "h1", "gw", "cache get", 2, 8),
        span("e1", "h3", "h2", "redis", "GET", 3, 7, status="error"),
    ])
    origin = error_origin(ws, "e1")
    assert origin["span_id"] == "l" and origin["service"] == "pay" and origin["exception"] == "KeyError"
    assert origin["message"] == "'amount'" and origin["path"] == ["l", "m", "r"]
    rows = {r["span_id"]: r for r in summarize_trace(ws, "e1").spans}
    assert rows["l"]["error_origin"] and not rows["h3"]["error_origin"]


def test_a_zipkin_error_tag_is_the_origins_message(ws, tmp_path):
    """Zipkin records why a span failed in its `error` tag: the origin says so instead of None."""
    t0 = 1_715_698_800_000_000  # µs
    spans = [
        {"traceId": "a1b2c3d4e5f60718", "id": "0000000000000001", "name": "get /cart", "timestamp": t0, "duration": 9000,
         "localEndpoint": {"serviceName": "web"}, "kind": "SERVER", "tags": {"error": "true"}},
        {"traceId": "a1b2c3d4e5f60718", "id": "0000000000000002", "parentId": "0000000000000001", "name": "query",
         "timestamp": t0 + 1000, "duration": 5000, "localEndpoint": {"serviceName": "cart-db"}, "kind": "CLIENT",
         "tags": {"error": "Connection refused: cart-db:5432"}},
    ]
    path = tmp_path / "zipkin.json"
    path.write_text(json.dumps(spans))
    assert ingest_file(ws, "spans", str(path), "zipkin").loaded == 2
    origin = error_origin(ws, "a1b2c3d4e5f60718")
    assert origin["span_id"] == "0000000000000002"
    assert origin["message"] == "Connection refused: cart-db:5432"


def test_handled_error_is_the_origin_when_nothing_propagated(ws, tmp_path):
    load_spans(ws, tmp_path, [span("e2", "r", None, "gw", "GET", 0, 10), span("e2", "c", "r", "db", "q", 1, 5, status="error")])
    assert error_origin(ws, "e2")["span_id"] == "c"


def test_a_very_deep_trace_needs_no_recursion(ws, tmp_path):
    depth = 3000
    load_spans(ws, tmp_path, [span("deep", f"s{i}", f"s{i - 1}" if i else None, "svc", f"op{i}", i * 0.01, 100 - i * 0.01)
                              for i in range(depth)])
    s = summarize_trace(ws, "deep")
    assert s.depth == depth - 1 and s.critical_path_spans == depth and s.critical_path_ms == pytest.approx(100, abs=0.01)


def test_summarize_traces_selects_by_window_and_limit(ws, tmp_path):
    records = []
    for k in range(6):
        records += [span(f"w{k}", "r", None, "gw", "GET", k * 60_000, k * 60_000 + 50),
                    span(f"w{k}", "c", "r", "api", "work", k * 60_000 + 5, k * 60_000 + 45, status="error" if k == 3 else "ok")]
    load_spans(ws, tmp_path, records)
    all_ = summarize_traces(ws)
    assert [s.trace_id for s in all_] == [f"w{k}" for k in range(6)]  # earliest first
    window = summarize_traces(ws, T0 + timedelta(minutes=2), T0 + timedelta(minutes=4))
    assert [s.trace_id for s in window] == ["w2", "w3"]
    assert [s.error_origin["service"] if s.error_origin else None for s in window] == [None, "api"]
    assert len(summarize_traces(ws, limit=4)) == 4
    with pytest.raises(NotFound):
        summarize_trace(ws, "nope")


def test_cli_traces_summary_json(tmp_path):
    folder = tmp_path / "ws"
    with Workspace.open(folder) as ws:
        load_spans(ws, tmp_path, [span("c1", "a", None, "api", "A", 0, 100), span("c1", "b", "a", "db", "B", 10, 40, status="error")])
    res = run_cli("traces", "summary", "--trace", "c1", "--json", workspace=folder)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["trace_id"] == "c1" and out["error_origin"]["span_id"] == "b"
    assert out["self_time_by_service"] == {"api": 70.0, "db": 30.0} and out["critical_path_ms"] == 100
    assert {"critical_path", "depth", "span_count", "issues"} <= set(out)
    res = run_cli("traces", "summary", "--from", "2024-05-14T09:59:00", "--to", "2024-05-14T10:01:00", "--json", workspace=folder)
    out = json.loads(res.stdout)
    assert out["trace_count"] == 1 and out["error_origins"][0]["examples"] == ["span:b"]
    res = run_cli("traces", "summary", "--trace", "missing", "--json", workspace=folder)
    assert res.returncode == 2 and "no trace 'missing'" in res.stderr and "hint" in res.stderr
    assert run_cli("traces", "--help").returncode == 0


# ---------------------------------------------------------------- the page


def _page(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/traces.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_traces_page_on_an_empty_workspace(app_env):
    at = _page()
    assert any("No spans or metrics yet" in i.value for i in at.info)


def test_traces_page_shows_a_trace_its_origin_comparison_and_incident_window(app_env, tmp_path):
    records = []
    for k in range(8):  # typical traces, then one erroring
        records += [span(f"p{k}", "r", None, "gw", "POST /pay", k * 1000, k * 1000 + 50),
                    span(f"p{k}", "c", "r", "pay", "charge", k * 1000 + 5, k * 1000 + 40)]
    records += [span("bad", "r", None, "gw", "POST /pay", 9000, 9400, status="error"),
                span("bad", "c", "r", "pay", "charge", 9005, 9390, status="error", attrs={"exception.type": "Timeout"}),
                span("bad", "n", "c", "pay", "<b>retry</b>", 9010, 9380)]
    metrics = tmp_path / "m.csv"
    metrics.write_text("ts,name,value,service,host\n" + "".join(
        f"{(T0 + timedelta(seconds=s)).isoformat()}Z,latency_ms,{900 if s >= 9 else 40 + s % 3},pay,h1\n" for s in range(0, 12)))
    with Workspace.open(app_env) as ws:
        load_spans(ws, tmp_path, records)
        assert ingest_file(ws, "metrics", str(metrics)).loaded == 12
        inc = ws.create_incident("pay timeouts", window_start=T0 + timedelta(seconds=8.5), window_end=T0 + timedelta(seconds=11))
    at = _page({"trace": "bad"})
    assert at.text_input(key="tr_typed").value == "bad"
    assert [m.value for m in at.metric][:2] == ["400.0 ms", "3"]
    frames = [d.value for d in at.dataframe]
    assert frames[0]["service"].iloc[0] == "pay" and frames[0]["exception"].iloc[0] == "Timeout"
    compare = next(d.value for d in at.dataframe if "operation" in d.value.columns)
    assert set(compare["kind"]) >= {"erroring", "new", "slower"}
    assert "<b>retry</b>" in " ".join(compare["operation"])  # shown as text
    at.selectbox(key="tr_span").set_value("n").run()
    assert not at.exception

    at = _page({"incident": inc.id[:8]})
    assert at.selectbox(key="tr_incident").value == inc.id
    assert at.selectbox(key="tr_pick").value == "bad"  # the incident's worst trace comes first
    suspects = next(d.value for d in at.dataframe if "why" in d.value.columns)
    assert suspects["service"].iloc[0] == "pay"
    edges = next(d.value for d in at.dataframe if "p95_ratio" in d.value.columns)
    assert set(edges["dst"]) == {"pay"}
    at.toggle(key="tr_by_host").set_value(True).run()  # these spans carry no host: the nodes stay services
    assert not at.exception
    assert set(next(d.value for d in at.dataframe if "p95_ratio" in d.value.columns)["dst"]) == {"pay"}
