"""Root-cause service ranking from traces and metrics, on synthetic incidents in a real workspace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crashlens_core.errors import InputError
from crashlens_core.ingest import ingest_file
from crashlens_core.signals.suspects import default_baseline, rank_suspect_services

from .data_helpers import T0, load_spans, span

W0, W1 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=8)


def _request(t: str, at_ms: float, *, db_error: bool = False, pay_ms: float = 20.0, declined: bool = False) -> list[dict]:
    """gw → shop → (db query, payments → card gateway); errors raise to the root."""
    err = db_error or declined
    st = "error" if err else "ok"
    end = at_ms + 40 + pay_ms
    out = [span(t, "g", None, "gw", "POST /order", at_ms, end, status=st, kind="server"),
           span(t, "c", "g", "gw", "call shop", at_ms + 1, end - 1, status=st, kind="client"),
           span(t, "s", "c", "shop", "POST /order", at_ms + 2, end - 2, status=st, kind="server"),
           span(t, "q", "s", "db", "SELECT stock", at_ms + 3, at_ms + 10, status="error" if db_error else "ok",
                attrs={"exception.type": "PoolTimeout"} if db_error else None),
           span(t, "p", "s", "payments", "charge", at_ms + 11, at_ms + 12 + pay_ms, status="error" if declined else "ok",
                attrs={"exception.type": "Declined"} if declined else None),
           span(t, "k", "p", "payments", "POST card", at_ms + 11.5, at_ms + 11.5 + pay_ms, kind="client",
                attrs={"peer.service": "card-gateway"})]
    return out


def _traffic(kind: str) -> list[dict]:
    records = []
    for k in range(160):  # one request every 3 s for 8 minutes; 1 in 20 cards declined all along
        at = k * 3000.0
        inside = at >= 300_000
        records += _request(f"r{k}", at, declined=k % 20 == 7,
                            db_error=(kind == "db" and inside and k % 2 == 0),
                            pay_ms=(400.0 if kind == "slow" and inside else 20.0))
    return records


def test_error_origin_ranks_the_service_where_errors_start(ws, tmp_path):
    load_spans(ws, tmp_path, _traffic("db"))
    ranking = rank_suspect_services(ws, W0, W1)  # default baseline: the 3 minutes before
    assert ranking[0].service == "db" and ranking[0].components["errors"] == 1.0
    assert "PoolTimeout in SELECT stock" in ranking[0].reasons[0]
    assert all(e.startswith("span:") for e in ranking[0].evidence) and ranking[0].evidence
    assert "payments" not in [s.service for s in ranking if s.components["errors"] > 0]  # declines are the baseline's
    assert ranking[0].to_json()["service"] == "db"
    assert [e.id for e in ranking[0].items] == ranking[0].evidence and ranking[0].items[0].kind == "span"


def test_latency_is_blamed_on_the_slow_service_with_metrics_as_support(ws, tmp_path):
    load_spans(ws, tmp_path, _traffic("slow"))
    p = tmp_path / "m.csv"
    p.write_text("ts,name,value,service,host\n" + "".join(
        f"{(T0 + timedelta(seconds=s)).isoformat()}Z,upstream_latency_p95_ms,{400 if s >= 300 else 20 + s % 3},card-gateway,h1\n"
        for s in range(0, 480, 10)))
    ingest_file(ws, "metrics", str(p))
    ranking = rank_suspect_services(ws, W0, W1, T0, W0)
    top = ranking[0]
    assert top.service == "payments" and top.components["latency"] > 0.9 and top.components["metrics"] > 0
    assert any("its dependency card-gateway" in r for r in top.reasons)
    assert "metric:card-gateway.upstream_latency_p95_ms@h1" in top.evidence
    assert {e.kind for e in top.items} == {"span", "metric"} and all(e.text for e in top.items)
    assert [s.service for s in ranking].count("card-gateway") == 0  # a peer's metric counts for its callers


def test_quiet_window_has_no_suspects_and_bad_windows_are_refused(ws, tmp_path):
    load_spans(ws, tmp_path, _traffic("none"))
    assert all(s.score < 0.1 for s in rank_suspect_services(ws, W0, W1))
    with pytest.raises(InputError):
        rank_suspect_services(ws, W1, W0)
    assert default_baseline(W0, W1) == (W0 - timedelta(minutes=3), W0)


def _calls(prefix: str, starts_ms: list[float], declined_every: int, pod: str = "payments") -> list[dict]:
    out = []
    for k, at in enumerate(starts_ms):
        bad = k % declined_every == declined_every - 1
        st = "error" if bad else "ok"
        out += [span(f"{prefix}{k}", "g", None, "gw", "POST /pay", at, at + 30, status=st, kind="server"),
                span(f"{prefix}{k}", "p", "g", pod, "charge", at + 2, at + 25, status=st,
                     attrs={"exception.type": "Declined"} if bad else None)]
    return out


def test_errors_are_expected_from_the_services_traffic_not_wall_time(ws, tmp_path):
    # baseline: 3 quiet minutes (30 calls); window: 1 busy minute (120 calls); 1 in 10 declined in both
    quiet = [k * 6000.0 for k in range(30)]
    busy = [180_000 + k * 500.0 for k in range(120)]
    load_spans(ws, tmp_path, _calls("b", quiet, 10) + _calls("w", busy, 10))
    window, baseline = (T0 + timedelta(minutes=3), T0 + timedelta(minutes=4)), (T0, T0 + timedelta(minutes=3))
    ranking = rank_suspect_services(ws, *window, *baseline)
    # wall time predicts 1 decline for the window (12 seen); 4x the traffic predicts 12: as usual
    assert all(s.components["errors"] == 0 for s in ranking)


def test_errors_beyond_the_traffic_still_count(ws, tmp_path):
    quiet = [k * 6000.0 for k in range(30)]
    busy = [180_000 + k * 500.0 for k in range(120)]
    load_spans(ws, tmp_path, _calls("b", quiet, 10) + _calls("w", busy, 2))  # 60 declines where 12 are usual
    ranking = rank_suspect_services(ws, T0 + timedelta(minutes=3), T0 + timedelta(minutes=4), T0, T0 + timedelta(minutes=3))
    assert ranking[0].service == "payments" and ranking[0].components["errors"] == 1.0


def _metric_rows(service: str, names: list[str], jump_at: int = 300) -> str:
    return "".join(f"{(T0 + timedelta(seconds=t)).isoformat()}Z,{name},{900 if t >= jump_at else 100 + t % 7},{service}\n"
                   for t in range(0, 480, 10) for name in names)


def test_workload_metrics_count_for_the_pods_the_spans_name(ws, tmp_path):
    pod = "payments-5dc8d4f9fd-llznp"
    load_spans(ws, tmp_path, _calls("b", [k * 3000.0 for k in range(160)], 1000, pod=pod))
    p = tmp_path / "m.csv"
    p.write_text("ts,name,value,service\n" + _metric_rows("payments", ["cpu_m", "cpu_rate", "server_latency_p99"]))
    ingest_file(ws, "metrics", str(p))
    ranking = rank_suspect_services(ws, W0, W1, T0, W0)
    assert [s.service for s in ranking] == [pod] and ranking[0].components["metrics"] > 0.9
    assert "metric:payments.cpu_m" in ranking[0].evidence and not any("dependency" in r for r in ranking[0].reasons)


def test_several_series_moving_together_outweigh_one_and_client_side_series_blame_no_one(ws, tmp_path):
    load_spans(ws, tmp_path, _calls("b", [k * 3000.0 for k in range(160)], 1000))
    p = tmp_path / "m.csv"
    p.write_text("ts,name,value,service\n" + _metric_rows("payments", ["cpu_m", "cpu_rate", "server_latency_p99"])
                 + _metric_rows("gw", ["server_latency_p99"]) + _metric_rows("gw", ["PodClientLatencyP99(s)", "http.client.duration"]))
    ingest_file(ws, "metrics", str(p))
    comp = {s.service: s.components["metrics"] for s in rank_suspect_services(ws, W0, W1, T0, W0)}
    # gw's two client-side series time its callees: only its own server latency counts, one series of three
    assert comp["payments"] > 0.9 and comp["gw"] == pytest.approx(comp["payments"] / 3, rel=0.05)


def test_a_few_unexpected_errors_in_a_busy_window_count_in_proportion(ws, tmp_path):
    busy = [180_000 + k * 500.0 for k in range(120)]
    load_spans(ws, tmp_path, _calls("b", [k * 6000.0 for k in range(30)], 1000) + _calls("w", busy, 30))
    ranking = rank_suspect_services(ws, T0 + timedelta(minutes=3), T0 + timedelta(minutes=4), T0, T0 + timedelta(minutes=3))
    # 4 new errors touch 4 of the window's 120 traces: 3.3% of the traffic, a sixth of ERRORS_FULL (20%)
    assert ranking[0].service == "payments" and ranking[0].components["errors"] == pytest.approx(4 / 120 / 0.2)


def test_rca_latency_items_weigh_the_time_they_added(ws, tmp_path):
    from crashlens_core.config import Settings
    from crashlens_core.rca.collectors import CollectorContext, collect_latency

    recs = []
    for k in range(40):  # baseline then window: "lookup" 10x slower by 2 ms; "charge" 3x slower by 400 ms
        at, slow = k * 9000.0, k >= 20
        recs += [span(f"t{k}", f"a{k}", None, "shop", "lookup", at, at + (2.2 if slow else 0.2)),
                 span(f"u{k}", f"b{k}", None, "pay", "charge", at + 5, at + 5 + (600 if slow else 200))]
    load_spans(ws, tmp_path, recs)
    ctx = CollectorContext(ws, Settings(), None, T0 + timedelta(seconds=180), T0 + timedelta(seconds=360), T0, T0 + timedelta(seconds=180))
    items = {i.data["name"]: i for i in collect_latency(ctx)}
    assert items["lookup"].data["ratio"] > items["charge"].data["ratio"]  # by ratio alone lookup would lead
    assert items["charge"].score > 5 * items["lookup"].score  # by time added it is a bystander
