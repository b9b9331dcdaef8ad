"""Baselines a user picks: counts are compared per second of data, not per second of wall time.

A five-minute baseline hours before the window that holds one minute of records (the default
baseline before a freshly started system, an export cut short) must predict the window's counts
from that minute: a service writing at its usual rate is not elevated, a new template still is.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_files
from crashlens_core.rca.collectors import CollectorContext
from crashlens_core.rca.evidence import assemble_evidence
from crashlens_core.signals.refresh import refresh_signals
from crashlens_core.store import Workspace

T0 = datetime(2024, 5, 14, 8, 0, 0)
BASELINE = (T0, T0 + timedelta(minutes=5))           # only its last minute holds records
WINDOW = (T0 + timedelta(hours=3), T0 + timedelta(hours=3, minutes=3))


def _line(ts: datetime, service: str, message: str, level: str = "INFO") -> str:
    return json.dumps({"ts": ts.isoformat() + "Z", "level": level, "service": service, "message": message})


def _workspace(tmp_path: Path, baseline_seconds: int) -> tuple[Workspace, Settings]:
    lines = []
    # the busy service writes 2 lines a second, the quiet one 1 every 2 seconds, in both periods
    for start, seconds in ((BASELINE[1] - timedelta(seconds=baseline_seconds), baseline_seconds), (WINDOW[0], 180)):
        for i in range(seconds * 2):
            ts = start + timedelta(milliseconds=500 * i)
            lines.append(_line(ts, "search", f"query {i} served in {5 + i % 9} ms for user u-{i % 50}"))
            if i % 4 == 0:
                lines.append(_line(ts, "inventory", f"stock level read for sku-{i % 30}: {i % 7} left"))
    # the fault: a template the quiet service never wrote before
    for i in range(40):
        lines.append(_line(WINDOW[0] + timedelta(seconds=60 + i), "inventory",
                           f"reservation {i} skipped: cached quantity used for sku-{i % 5}", "WARN"))
    path = tmp_path / "logs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    folder = tmp_path / "ws"
    settings = Settings(workspace=folder)
    ws = Workspace.open(folder)
    ingest_files(ws, "logs", [str(path)], settings=settings)
    refresh_signals(ws, settings)
    return ws, settings


def test_ratio_counts_the_seconds_that_hold_data(tmp_path):
    ws, settings = _workspace(tmp_path, baseline_seconds=60)
    with ws:
        ctx = CollectorContext(ws, settings, None, WINDOW[0], WINDOW[1], BASELINE[0], BASELINE[1])
        # 180 s of window data over 60 s of baseline data (wall time would say 180 / 300)
        assert ctx.ratio == pytest.approx(180 / 60, rel=0.03)


def test_a_usual_rate_is_not_elevated_a_new_template_is(tmp_path):
    ws, settings = _workspace(tmp_path, baseline_seconds=60)
    with ws:
        es = assemble_evidence(ws, settings, window_start=WINDOW[0], window_end=WINDOW[1], baseline_start=BASELINE[0],
                               baseline_end=BASELINE[1], collectors=["templates"])
        templates = [e for e in es.items if e.data.get("signal") == "template"]
        flagged = {s for e in templates for s in e.data["services"]}
        assert "search" not in flagged  # busy as usual: with wall time its lines looked 5x elevated
        new = [e for e in templates if e.data["state"] == "new"]
        assert [e.data["services"] for e in new] == [["inventory"]]
        assert "skipped" in new[0].text


def test_a_baseline_with_too_little_data_falls_back_to_wall_time(tmp_path):
    ws, settings = _workspace(tmp_path, baseline_seconds=10)
    with ws:
        ctx = CollectorContext(ws, settings, None, WINDOW[0], WINDOW[1], BASELINE[0], BASELINE[1])
        assert ctx.ratio == pytest.approx(180 / 300)


# ------------------------------------------------------------- slow calls: where they meet

from crashlens_core.rca.engine import run_rca  # noqa: E402
from crashlens_core.signals.traces import summarize_trace  # noqa: E402

from .data_helpers import load_spans, span  # noqa: E402

S0 = datetime(2024, 5, 14, 10, 0, 0)
S_BASE = (S0, S0 + timedelta(minutes=2))
S_WIN = (S0 + timedelta(hours=2), S0 + timedelta(hours=2, minutes=2))


def _request(i: int, base: datetime, wire_ms: float, cpu_ms: float) -> list[dict]:
    """gateway → travel → basic → (station, price, train): ``wire_ms`` on the link into basic (its
    server span unchanged), ``cpu_ms`` added to each of basic's outbound calls (basic starved, the
    callees' server spans unchanged). The gateway's handler span runs beside its client call."""
    t, out = f"t{base:%H}{i}", []
    out += [span(t, f"{t}g", None, "gateway", "/*", 0, 0, base=base)]
    out.append(span(t, f"{t}h", f"{t}g", "gateway", "FilteringWebHandler.handle", 0.5, 0, base=base))
    out.append(span(t, f"{t}gc", f"{t}g", "gateway", "HTTP POST", 1, 0, base=base))
    out.append(span(t, f"{t}ts", f"{t}gc", "travel", "/api/travel", 2, 0, base=base))
    out.append(span(t, f"{t}tm", f"{t}ts", "travel", "TravelController.query", 3, 0, base=base))
    out.append(span(t, f"{t}tc", f"{t}tm", "travel", "HTTP POST", 4, 0, base=base))
    out.append(span(t, f"{t}bs", f"{t}tc", "basic", "/api/basic", 5, 0, base=base))
    at = 6.0
    for callee in ("station", "price", "train"):
        out.append(span(t, f"{t}b{callee}", f"{t}bs", "basic", "HTTP GET", at, at + 6 + cpu_ms, base=base))
        out.append(span(t, f"{t}{callee}", f"{t}b{callee}", callee, f"/api/{callee}", at + 1, at + 5, base=base))
        at += 7 + cpu_ms
    basic_end = at + 1
    ends = {f"{t}bs": basic_end, f"{t}tc": basic_end + 1 + wire_ms, f"{t}tm": basic_end + 2 + wire_ms,
            f"{t}ts": basic_end + 3 + wire_ms, f"{t}gc": basic_end + 4 + wire_ms, f"{t}h": basic_end + 4.5 + wire_ms,
            f"{t}g": basic_end + 5 + wire_ms}
    for rec in out:
        if rec["span_id"] in ends:
            rec["end_ts"] = (base + timedelta(milliseconds=ends[rec["span_id"]])).isoformat() + "Z"
    return out


def _slow_workspace(ws, tmp_path, wire_ms: float, cpu_ms: float) -> None:
    records = []
    for i in range(30):  # a short baseline two hours before, under the same mix
        records += _request(i, S_BASE[0] + timedelta(seconds=4 * i), 0, 0)
    for i in range(40):
        records += _request(i, S_WIN[0] + timedelta(seconds=3 * i), wire_ms, cpu_ms)
    load_spans(ws, tmp_path, records)


def _services(run) -> list[str]:
    return list(dict.fromkeys(s.service for s in run.report.suspects))


def test_a_handler_span_beside_the_call_is_not_the_gateways_own_time(ws, tmp_path):
    load_spans(ws, tmp_path, _request(0, S_WIN[0], 400, 0))
    s = summarize_trace(ws, "t120")
    rows = {(r["service"], r["name"]): r for r in s.spans}
    handler = rows[("gateway", "FilteringWebHandler.handle")]
    assert handler["duration_ms"] > 400 and handler["self_ms"] <= 1.5  # covered by the client call beside it
    assert s.self_time_by_service.get("gateway", 0) < 5


def test_a_slow_link_into_a_callee_blames_the_callee_not_its_callers(ws, tmp_path):
    _slow_workspace(ws, tmp_path, wire_ms=400, cpu_ms=0)
    run = run_rca(ws, Settings(workspace=tmp_path / "ws"), window=S_WIN, baseline=S_BASE, engine="offline")
    assert _services(run)[0] == "basic"
    caller = [e for e in run.evidence.items if e.data.get("signal") == "latency" and e.data.get("name") == "TravelController.query"]
    assert all(e.data["own_share"] < 0.1 for e in caller)  # travel only waited for the call


def test_a_starved_caller_that_slows_all_its_calls_is_the_suspect_not_its_callees(ws, tmp_path):
    _slow_workspace(ws, tmp_path, wire_ms=0, cpu_ms=60)
    run = run_rca(ws, Settings(workspace=tmp_path / "ws"), window=S_WIN, baseline=S_BASE, engine="offline")
    services = _services(run)
    assert services[0] == "basic", services
    assert not {"station", "price", "train"} & set(services[:1])


def test_a_client_side_metric_lends_no_support_to_the_service_that_waits(ws, tmp_path):
    # "waiter" times its calls out (client side): they got slow because "busy" (its callee) is
    # starved of CPU; the client-side series is busy's symptom, not evidence against waiter
    import random

    from crashlens_core.ingest import ingest_file

    from .data_helpers import T0

    rng = random.Random(11)
    lines = []
    for s in range(0, 600, 10):
        hot = s >= 480
        for name, svc, base, fault in (("PodClientLatencyP95(s)", "waiter", 0.05, 5.0), ("CpuUsage(m)", "busy", 20.0, 60.0)):
            value = (fault if hot else base) * (1 + rng.uniform(-0.05, 0.05))
            lines.append(f"{(T0 + timedelta(seconds=s)).isoformat()}Z,{name},{value},{svc},h1\n")
    path = tmp_path / "metrics.csv"
    path.write_text("ts,name,value,service,host\n" + "".join(lines))
    assert ingest_file(ws, "metrics", str(path)).rejected == 0
    window, baseline = (T0 + timedelta(seconds=480), T0 + timedelta(seconds=600)), (T0, T0 + timedelta(seconds=480))
    run = run_rca(ws, Settings(workspace=tmp_path / "ws"), window=window, baseline=baseline, engine="offline")
    metrics = {e.data["service"]: e for e in run.evidence.items if e.data.get("signal") == "metric"}
    assert metrics["waiter"].data["client_side"] is True and metrics["busy"].data["client_side"] is False
    assert metrics["waiter"].score >= metrics["busy"].score  # the waiter's series moved at least as far ...
    assert _services(run)[:1] == ["busy"] and "waiter" not in _services(run)  # ... but blames no one


def test_a_metric_with_too_few_baseline_samples_is_no_evidence(ws, tmp_path):
    # scraped once a minute: a one-minute baseline holds one sample of each series, no spread
    from crashlens_core.ingest import ingest_file
    from crashlens_core.signals.metrics_anomaly import MIN_BASELINE_SAMPLES

    from .data_helpers import T0

    lines = [f"{(T0 + timedelta(minutes=m)).isoformat()}Z,CpuUsage(m),{20.0 + (m % 3) if m < 30 else 90.0},busy,h1\n"
             for m in range(33)]
    path = tmp_path / "metrics.csv"
    path.write_text("ts,name,value,service,host\n" + "".join(lines))
    assert ingest_file(ws, "metrics", str(path)).rejected == 0
    settings = Settings(workspace=tmp_path / "ws")
    window = (T0 + timedelta(minutes=30), T0 + timedelta(minutes=33))

    def metric_items(b_start):
        run = run_rca(ws, settings, window=window, baseline=(b_start, window[0]), engine="offline")
        return [e for e in run.evidence.items if e.data.get("signal") == "metric"]

    assert metric_items(T0 + timedelta(minutes=30 - MIN_BASELINE_SAMPLES + 1)) == []  # one sample short
    found = metric_items(T0 + timedelta(minutes=30 - MIN_BASELINE_SAMPLES))
    assert [e.data["service"] for e in found] == ["busy"] and found[0].data["direction"] == "up"
