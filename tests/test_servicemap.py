"""Service map and per-edge change, and trace comparison, on a real workspace."""

from __future__ import annotations

from datetime import timedelta

from crashlens_core.signals.servicemap import service_map, service_map_change
from crashlens_core.signals.tracecompare import compare_trace

from .data_helpers import T0, load_spans, span


def _traffic(minute: int, n: int, *, fail_every: int = 0, slow_ms: float = 0.0, extra_peer: bool = False) -> list[dict]:
    out = []
    for k in range(n):
        t, base = f"m{minute}-{k}", minute * 60_000 + k * 100
        err = bool(fail_every) and k % fail_every == 0
        out += [span(t, "g", None, "gw", "GET /buy", base, base + 60 + slow_ms, status="error" if err else "ok", kind="server"),
                span(t, "c", "g", "gw", "call api", base + 1, base + 55 + slow_ms, kind="client"),
                span(t, "s", "c", "api", "POST /buy", base + 2, base + 50 + slow_ms, status="error" if err else "ok", kind="server"),
                span(t, "d", "s", "api", "POST card", base + 3, base + 20 + slow_ms, kind="client",
                     attrs={"peer.service": "card-gateway"})]
        if extra_peer:
            out.append(span(t, "x", "s", "api", "GET fraud", base + 21, base + 30, kind="client", attrs={"peer.service": "fraud"}))
    return out


def test_service_map_nodes_edges_and_external_peers(ws, tmp_path):
    load_spans(ws, tmp_path, _traffic(0, 20, fail_every=5))
    m = service_map(ws, T0, T0 + timedelta(minutes=1))
    edges = {(e.src, e.dst): e for e in m.edges}
    assert set(edges) == {("gw", "api"), ("api", "card-gateway")}
    assert edges[("gw", "api")].calls == 20 and edges[("gw", "api")].errors == 4 and edges[("gw", "api")].error_rate == 0.2
    assert edges[("gw", "api")].p50_ms == 48.0 and not edges[("gw", "api")].external
    assert edges[("api", "card-gateway")].external and edges[("api", "card-gateway")].p95_ms == 17.0
    nodes = {n.service: n for n in m.nodes}
    assert nodes["gw"].requests == 20 and nodes["api"].requests == 20 and nodes["gw"].spans == 40
    assert nodes["card-gateway"].external and nodes["api"].errors == 4
    assert service_map(ws, T0 + timedelta(minutes=5), T0 + timedelta(minutes=6)).edges == []


def test_edge_changes_against_a_baseline(ws, tmp_path):
    load_spans(ws, tmp_path, _traffic(0, 30) + _traffic(1, 30, fail_every=2, slow_ms=100, extra_peer=True))
    changes = service_map_change(ws, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0, T0 + timedelta(minutes=1))
    by = {(c.src, c.dst): c for c in changes}
    gw_api = by[("gw", "api")]
    assert gw_api.status == "changed" and gw_api.baseline_error_rate == 0 and gw_api.error_rate == 0.5
    assert gw_api.p95_ratio > 2 and gw_api.calls_per_min == gw_api.baseline_calls_per_min == 30
    assert by[("api", "fraud")].status == "new" and by[("api", "fraud")].baseline_calls_per_min == 0
    assert changes[0].status != "steady" and changes[-1].status in ("steady", "new", "changed")


def test_trace_comparison_new_missing_slower_erroring(ws, tmp_path):
    records = _traffic(0, 12)
    records += [span("odd", "g", None, "gw", "GET /buy", 90_000, 90_400, status="error", kind="server"),
                span("odd", "c", "g", "gw", "call api", 90_001, 90_390, kind="client"),
                span("odd", "s", "c", "api", "POST /buy", 90_002, 90_380, status="error", kind="server"),
                span("odd", "x", "s", "api", "GET fraud", 90_003, 90_370, kind="client")]  # instead of POST card
    load_spans(ws, tmp_path, records)
    c = compare_trace(ws, "odd")
    assert c.typical_traces == 12 and c.typical_duration_p50_ms == 60.0 and c.duration_ms == 400.0
    kinds = {(d.kind, d.name) for d in c.differences}
    assert ("erroring", "POST /buy") in kinds and ("erroring", "GET /buy") in kinds
    assert ("new", "GET fraud") in kinds and ("missing", "POST card") in kinds
    assert ("slower", "POST /buy") in kinds and ("slower", "call api") in kinds
    fraud = next(d for d in c.differences if d.name == "GET fraud")
    assert fraud.span_ids == ["x"] and fraud.path == "gw:GET /buy › gw:call api › api:POST /buy › api:GET fraud"
    assert c.differences[0].kind == "erroring"


def test_service_map_split_by_host_shows_the_bad_instance(tmp_path):
    """api runs on two hosts; only api-2 fails. Per service the edge is 50% errors; per host it is 0% and 100%."""
    import json

    from crashlens_core.store import Workspace

    from .conftest import run_cli

    recs = []
    for k in range(20):
        t, base, host = f"h{k}", k * 100, f"api-{k % 2 + 1}"
        err = host == "api-2"
        recs += [span(t, "g", None, "gw", "GET /buy", base, base + 60, status="error" if err else "ok", kind="server",
                      attrs={"host.name": "gw-1"}),
                 span(t, "s", "g", "api", "POST /buy", base + 2, base + 50, status="error" if err else "ok", kind="server",
                      attrs={"host.name": host}),
                 span(t, "d", "s", "api", "POST card", base + 3, base + 20, kind="client",
                      attrs={"peer.service": "card-gateway", "host.name": host})]
    end = T0 + timedelta(minutes=1)
    with Workspace.open(tmp_path / "ws") as ws:
        load_spans(ws, tmp_path, recs)
        assert {(e.src, e.dst, e.error_rate) for e in service_map(ws, T0, end).edges} == {
            ("gw", "api", 0.5), ("api", "card-gateway", 0.0)}
        m = service_map(ws, T0, end, by_host=True)
    by_host = {("gw @ gw-1", "api @ api-1", 10, 0.0), ("gw @ gw-1", "api @ api-2", 10, 1.0),
               ("api @ api-1", "card-gateway", 10, 0.0), ("api @ api-2", "card-gateway", 10, 0.0)}
    assert {(e.src, e.dst, e.calls, e.error_rate) for e in m.edges} == by_host
    nodes = {n.service: n for n in m.nodes}
    assert nodes["api @ api-2"].error_rate == 1.0 and nodes["api @ api-1"].error_rate == 0.0 and nodes["card-gateway"].external
    # the same through the command line
    res = run_cli("traces", "map", "--from", T0.isoformat(), "--to", end.isoformat(), "--by-host", "--json", workspace=tmp_path / "ws")
    assert res.returncode == 0, res.stderr
    assert {(e["src"], e["dst"], e["calls"], e["error_rate"]) for e in json.loads(res.stdout)["edges"]} == by_host
