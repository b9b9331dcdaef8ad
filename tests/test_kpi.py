"""KPIs over a real DuckDB workspace: incidents, RCA runs and logs written with SQL, figures
checked against what those rows imply; the price table; the CLI; the Streamlit panel."""

from __future__ import annotations

import json
import statistics
from datetime import datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from crashlens_core.config import Settings
from crashlens_core.errors import ConfigError, InputError
from crashlens_core.kpi import compute_kpis, cost_usd, human_duration, parse_prices
from crashlens_core.store import Workspace

from .conftest import run_cli

NOW = datetime(2024, 6, 1, 12, 0, 0)
T0 = datetime(2024, 5, 20, 9, 0, 0)


def _incident(ws, title, *, start, opened, resolved=None, status="open", severity="sev3", services=("pay",), source="detected"):
    inc = ws.create_incident(title, severity=severity, services=list(services), window_start=start,
                             window_end=start + timedelta(minutes=10) if start else None, source=source)
    ws.con.execute("UPDATE incidents SET created_ts = ?, resolved_ts = ?, status = ? WHERE id = ?",
                   [opened, resolved, status, inc.id])
    return inc.id


def _run(ws, run_id, incident_id, *, started, evidence_s, finished_s, status="done", engine="groq",
         model="llama-3.3-70b-versatile", prompt=0, completion=0, cost=0.0):
    with ws.transaction():
        ws.con.execute(
            """INSERT INTO rca_runs (id, incident_id, engine, model, started_ts, finished_ts, prompt_tokens, completion_tokens,
                                     cost_usd, status, evidence_ts)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [run_id, incident_id, engine, model, started,
             None if finished_s is None else started + timedelta(seconds=finished_s), prompt, completion, cost, status,
             None if evidence_s is None else started + timedelta(seconds=evidence_s)])


def _logs(ws, rows):
    with ws.transaction():
        ws.con.executemany("INSERT INTO logs (id, ts, service, level, message) VALUES (?, ?, ?, ?, ?)",
                           [[i, ts, svc, lvl, "m"] for i, (ts, svc, lvl) in enumerate(rows)])


@pytest.fixture
def seeded(tmp_path):
    """Three live incidents (MTTD 60 s, 120 s, 600 s), one historical, runs and two hours of logs."""
    folder = tmp_path / "ws"
    with Workspace.open(folder) as ws:
        a = _incident(ws, "a", start=T0, opened=T0 + timedelta(seconds=60), resolved=T0 + timedelta(hours=1),
                      status="resolved", severity="sev1", services=("pay", "cart"))
        b = _incident(ws, "b", start=T0 + timedelta(days=1), opened=T0 + timedelta(days=1, seconds=120),
                      resolved=T0 + timedelta(days=1, hours=3), status="resolved", severity="sev2")
        c = _incident(ws, "c", start=T0 + timedelta(days=2), opened=T0 + timedelta(days=2, seconds=600), status="rca_ready")
        # Opened from a replayed log two years later: its clock starts when it was opened.
        d = _incident(ws, "d", start=datetime(2022, 1, 1), opened=T0 + timedelta(days=3), status="investigating",
                      services=("search",), source="simulated")
        _incident(ws, "too old", start=NOW - timedelta(days=90), opened=NOW - timedelta(days=90, seconds=-5))
        # a: offline run first (evidence at +300 s), then a groq run; first report at +300+30 s
        _run(ws, "r1", a, started=T0 + timedelta(seconds=300), evidence_s=5, finished_s=30, engine="offline", model="")
        _run(ws, "r2", a, started=T0 + timedelta(seconds=900), evidence_s=4, finished_s=20, prompt=9000, completion=1000, cost=0.006)
        # b: a failed run, then a good one
        _run(ws, "r3", b, started=T0 + timedelta(days=1, seconds=200), evidence_s=10, finished_s=40, status="failed",
             prompt=5000, completion=0, cost=0.003)
        _run(ws, "r4", b, started=T0 + timedelta(days=1, seconds=400), evidence_s=8, finished_s=50, prompt=7000,
             completion=900, cost=0.005)
        _run(ws, "r5", d, started=T0 + timedelta(days=3, seconds=60), evidence_s=2, finished_s=None, status="running")
        _run(ws, "r6", None, started=T0 + timedelta(days=4), evidence_s=3, finished_s=12, engine="offline", model="")
        logs = []
        for minute in range(120):  # 10:00–11:59, one log per 10 s
            for s in range(0, 60, 10):
                ts = datetime(2024, 5, 20, 10, 0) + timedelta(minutes=minute, seconds=s)
                svc = "pay" if s < 30 else "cart"
                lvl = "ERROR" if (svc == "pay" and minute < 60 and s == 0) else ("FATAL" if svc == "cart" and s == 50 and minute % 10 == 0 else "INFO")
                logs.append((ts, svc, lvl))
        _logs(ws, logs)
    return folder, {"a": a, "b": b, "c": c, "d": d}


def test_empty_workspace_gives_a_valid_all_empty_result(ws):
    k = compute_kpis(ws, Settings(), now=NOW)
    out = json.loads(json.dumps(k.to_json()))
    assert out["incidents"] == {"total": 0, "historical": 0, "by_status": {}, "by_severity": {}, "by_service": {}}
    for key in ("evidence_time", "time_to_rca", "mttd", "mttr"):
        assert out[key] == {"unit": "s", "count": 0, "median": None, "p90": None, "mean": None, "total": 0.0}
    assert out["cost"]["total"] == 0 and out["cost"]["per_rca"]["unit"] == "USD"
    assert out["error_rate"]["overall"] is None and out["error_rate"]["unit"] == "errors/min"
    assert out["trends"]["per_day"] == [] and out["rca_runs"]["total"] == 0
    with pytest.raises(InputError):
        compute_kpis(ws, Settings(), now=NOW, days=0)


def test_incident_figures(seeded):
    folder, ids = seeded
    with Workspace.open(folder) as ws:
        out = compute_kpis(ws, Settings(), now=NOW, days=30).to_json()
    inc = out["incidents"]
    assert inc["total"] == 4 and inc["historical"] == 1  # "too old" is outside the 30 days
    assert inc["by_status"] == {"resolved": 2, "rca_ready": 1, "investigating": 1}
    assert inc["by_severity"] == {"sev1": 1, "sev2": 1, "sev3": 2}
    assert inc["by_service"] == {"pay": 3, "cart": 1, "search": 1}
    mttd = [60, 120, 600]
    assert out["mttd"]["count"] == 3 and out["mttd"]["median"] == statistics.median(mttd)
    assert out["mttd"]["p90"] == pytest.approx(statistics.quantiles(mttd, n=10, method="inclusive")[-1])
    # evidence time: a 300+5, b 200+10, d (clock from opening) 60+2
    assert out["evidence_time"]["count"] == 3 and out["evidence_time"]["median"] == 210
    # time to RCA: first *finished, done* run — a 300+30, b 400+50 (the failed run does not count)
    assert out["time_to_rca"]["count"] == 2 and out["time_to_rca"]["mean"] == (330 + 450) / 2
    assert out["mttr"]["count"] == 2 and out["mttr"]["median"] == (3600 + 3 * 3600) / 2


def test_runs_cost_and_trends(seeded):
    folder, _ = seeded
    with Workspace.open(folder) as ws:
        out = compute_kpis(ws, Settings(), now=NOW, days=30).to_json()
    runs = out["rca_runs"]
    assert runs["total"] == 6 and runs["by_status"] == {"done": 4, "failed": 1, "running": 1}
    assert runs["by_engine"] == {"groq": 4, "offline": 2}
    assert runs["duration"]["count"] == 5 and runs["duration"]["median"] == 30
    cost = out["cost"]
    assert cost["total"] == pytest.approx(0.014) and cost["per_rca"]["count"] == 5
    assert cost["per_rca"]["median"] == pytest.approx(0.003)
    assert out["tokens"]["prompt"] == 21000 and out["tokens"]["completion"] == 1900
    per_day = {d["day"]: d for d in out["trends"]["per_day"]}
    assert per_day["2024-05-20"]["incidents_opened"] == 1 and per_day["2024-05-20"]["rca_runs"] == 2
    assert per_day["2024-05-20"]["cost_usd"] == pytest.approx(0.006) and per_day["2024-05-20"]["incidents_resolved"] == 1
    assert per_day["2024-05-21"]["tokens"] == 12900
    assert [d["day"] for d in out["cost"]["per_day"]] == sorted(per_day)


def test_error_rates(seeded):
    folder, _ = seeded
    with Workspace.open(folder) as ws:
        out = compute_kpis(ws, Settings(), now=NOW).to_json()["error_rate"]
    # 60 pay ERRORs in the first hour, 12 cart FATALs over two hours; logs span 10:00:00–11:59:50
    minutes = (119 * 60 + 50) / 60
    assert out["errors"] == 72 and out["logs"] == 720
    assert out["overall"] == pytest.approx(72 / minutes, rel=1e-5)
    assert out["by_service"]["pay"] == pytest.approx(60 / minutes, rel=1e-5)
    assert out["by_service"]["cart"] == pytest.approx(12 / minutes, rel=1e-5)
    first, second = out["per_hour"]
    assert first["hour"] == "2024-05-20T10:00:00" and first["errors"] == 66 and first["errors_per_min"] == pytest.approx(66 / 60)
    assert second["errors"] == 6 and second["error_share"] == pytest.approx(6 / 360, abs=1e-6)


def test_prices():
    s = Settings()
    assert cost_usd(s, "llama-3.3-70b-versatile", 1_000_000, 0) == pytest.approx(0.59)
    assert cost_usd(s, "llama-3.3-70b-versatile", 0, 1_000_000) == pytest.approx(0.79)
    assert cost_usd(s, "groq/llama-3.1-8b-instant", 2_000_000, 1_000_000) == pytest.approx(0.18)
    assert cost_usd(s, "my-local-llama", 10**6, 10**6) == 0.0
    custom = Settings.from_env({"CRASHLENS_LLM_PRICES": "m1=1/2, vendor/m2=0.5/0.25"})
    assert parse_prices(custom.llm_prices) == {"m1": (1.0, 2.0), "vendor/m2": (0.5, 0.25)}
    assert cost_usd(custom, "m1", 500_000, 250_000) == pytest.approx(1.0)
    assert cost_usd(custom, "m2", 10**6, 10**6) == pytest.approx(0.75)
    for bad in ("m1=1", "m1=a/b", "=1/2", "m1=-1/2"):
        with pytest.raises(ConfigError, match="bad LLM price"):
            cost_usd(Settings(llm_prices=bad), "m1", 1, 1)


def test_human_duration():
    assert [human_duration(v) for v in (None, 4.25, 42, 252, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == \
        ["—", "4.2 s", "42 s", "4 min 12 s", "3 h 05 min", "2 d 4 h"]


def test_cli_kpi_json_and_text(seeded):
    folder, _ = seeded
    done = run_cli("kpi", "--json", "--at", NOW.isoformat(), workspace=folder)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["incidents"]["total"] == 4 and out["mttd"]["median"] == 120 and out["period"]["days"] == 30
    text = run_cli("kpi", "--at", NOW.isoformat(), "--days", "30", workspace=folder)
    assert text.returncode == 0 and "MTTD" in text.stdout and "median 2 min 0 s" in text.stdout
    assert "errors/min" in text.stdout
    bad = run_cli("kpi", "--days", "0", workspace=folder)
    assert bad.returncode == 2 and "days" in bad.stderr


def _panel(folder: str) -> None:
    from pages.kpi_view import render_kpis
    from crashlens_core.config import Settings
    from crashlens_core.store import Workspace

    with Workspace.open(folder) as ws:
        render_kpis(ws, Settings(workspace=folder))


def test_panel_draws_tiles_and_charts(tmp_path):
    from crashlens_core.store import utcnow

    folder = tmp_path / "ws"
    now = utcnow()
    with Workspace.open(folder) as ws:  # the panel's period ends now: seed recent rows
        inc = _incident(ws, "recent", start=now - timedelta(days=2), opened=now - timedelta(days=2) + timedelta(seconds=90),
                        resolved=now - timedelta(days=1), status="resolved")
        _run(ws, "r1", inc, started=now - timedelta(days=2) + timedelta(seconds=200), evidence_s=3, finished_s=25,
             prompt=4000, completion=500, cost=0.0028)
        _logs(ws, [(now - timedelta(minutes=m), "pay", "ERROR" if m % 4 == 0 else "INFO") for m in range(180)])
    at = AppTest.from_function(_panel, args=(str(folder),), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    values = {m.label: m.value for m in at.metric}
    assert values["Incidents"] == "1" and values["MTTD (median)"] == "1 min 30 s"
    assert values["Time to RCA (median)"] == "3 min 45 s" and values["Cost per RCA (median)"] == "$0.0028"
    assert values["Error rate"].endswith("/min")

    def axes() -> dict:
        figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        return {f["layout"]["xaxis"]["title"]["text"]: f["layout"]["yaxis"]["title"]["text"] for f in figs}

    trends = axes()
    assert trends["Day of the incident window (UTC)"] == "Incidents"
    assert trends["Day (UTC)"] == "LLM cost (USD per day)"
    assert trends["Log time (UTC), 1 min buckets"] == "Errors per minute"
    assert "Status" not in trends  # the breakdown tab is closed: not drawn
    at.session_state["kpi_tab"] = "By status, severity and service"
    at.run()
    breakdown = axes()
    assert breakdown["Status"] == "Incidents" and breakdown["Severity"] == "Incidents"  # two charts, not one mixed axis
    assert "Errors per minute" in breakdown and "Day (UTC)" not in breakdown
    at.segmented_control(key="kpi_period").set_value("7 days").run()
    assert not at.exception, [e.value for e in at.exception]


def test_panel_on_an_empty_workspace(tmp_path):
    at = AppTest.from_function(_panel, args=(str(tmp_path / "empty"),), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Incidents"] == "0"
    assert any("fill in as you investigate" in c.value for c in at.caption)


def test_error_series_shows_a_short_burst(tmp_path):
    """A day of quiet logs with a 3-minute burst: the series keeps the burst as its own peak."""
    t0 = datetime(2024, 5, 20, 0, 0, 0)
    rows = [(t0 + timedelta(minutes=m), "pay", "INFO") for m in range(24 * 60)]
    burst = t0 + timedelta(hours=15, minutes=4)
    rows += [(burst + timedelta(seconds=s), "pay", "ERROR") for s in range(0, 180, 2)]  # 90 errors in 3 min
    with Workspace.open(tmp_path / "ws") as ws:
        _logs(ws, rows)
        out = compute_kpis(ws, Settings(), now=t0 + timedelta(days=2)).to_json()["error_rate"]
    series = out["series"]
    assert series["bucket_s"] == 60  # a day of log time in at most 1,440 points
    peak = max(series["points"], key=lambda p: p["errors_per_min"])
    assert peak["ts"].startswith("2024-05-20T15:0")
    assert peak["errors_per_min"] == pytest.approx(30.0)  # 30 errors per 1-minute bucket: the burst's own rate
    assert sum(p["errors"] for p in series["points"]) == 90
    assert max(h["errors_per_min"] for h in out["per_hour"]) == pytest.approx(1.5)  # the hourly view flattens it 20x


def test_incidents_per_day_by_window_time(tmp_path):
    """Incidents found in old data are charted on the day they happened, not the day detection ran."""
    with Workspace.open(tmp_path / "ws") as ws:
        _incident(ws, "old", start=datetime(2024, 5, 1, 3, 0), opened=NOW - timedelta(hours=1))
        _incident(ws, "older", start=datetime(2024, 4, 28, 9, 0), opened=NOW - timedelta(hours=1))
        out = compute_kpis(ws, Settings(), now=NOW).to_json()
    per_day = {d["day"]: d for d in out["trends"]["per_day"]}
    assert per_day["2024-05-01"]["incidents_started"] == 1 and per_day["2024-04-28"]["incidents_started"] == 1
    assert per_day["2024-06-01"]["incidents_opened"] == 2 and per_day["2024-06-01"]["incidents_started"] == 0


def test_panel_offline_only_shows_runs_not_cost(tmp_path):
    from crashlens_core.store import utcnow

    folder = tmp_path / "ws"
    now = utcnow()
    with Workspace.open(folder) as ws:
        inc = _incident(ws, "recent", start=now - timedelta(hours=3), opened=now - timedelta(hours=3))
        _run(ws, "r1", inc, started=now - timedelta(hours=2), evidence_s=2, finished_s=12, engine="offline", model="")
    at = AppTest.from_function(_panel, args=(str(folder),), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    values = {m.label: m.value for m in at.metric}
    assert "LLM cost (period)" not in values and "Cost per RCA (median)" not in values
    assert values["RCA runs"] == "1" and values["RCA run time (median)"] == "12 s"
    titles = [json.loads(c.proto.spec)["layout"]["yaxis"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "LLM cost (USD per day)" not in titles
