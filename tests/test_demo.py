"""The demo workspace and the Simulate page: real scenarios, ingested, idempotent."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest

from crashlens_core.simulate import list_scenarios
from crashlens_core.simulate.scenarios import demo_scenarios
from crashlens_core.simulate.demo import build_demo, scenario_incident_id
from crashlens_core.store import Workspace

from .conftest import run_cli

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_demo_builds_every_scenario_detects_its_faults_and_a_second_run_adds_nothing(demo_build, tmp_path):
    # the session's build (build_demo on a fresh workspace, as here before) is the first run
    folder, summary = demo_build
    with Workspace.open(folder, read_only=True) as ws:
        first = ws.counts()
        names = [s.name for s in demo_scenarios()]
        assert summary["scenarios"] == names
        # a scenario for the benchmarks only (the traffic surge) stays out of the demo
        assert set(names) < {s.name for s in list_scenarios()} and "newsletter-traffic-surge" not in names
        assert first["logs"] > 10_000 and first["spans"] > 10_000 and first["metrics"] > 1_000
        assert all(r["rejected"] == 0 for r in summary["ingest"]), [r for r in summary["ingest"] if r["rejected"]]
        incidents = ws.list_incidents()
        # every injected fault window is covered by an incident naming the root-cause service ...
        for name in names:
            truth = json.loads((folder / "simulations" / f"{name}-seed0" / "ground_truth.json").read_text())
            start, end = (datetime.fromisoformat(truth["fault_window"][k].replace("Z", "")) for k in ("start", "end"))
            covering = [i for i in incidents if i.window_start < end and i.window_end > start]
            assert len(covering) == 1, (name, [i.title for i in covering])
            reported = truth.get("incident_details") or {}
            if "service" in reported and reported["service"] is None:
                # a wrong result is reported by its symptom: the report names no service
                assert covering[0].services == [], (name, covering[0].services)
            else:
                assert truth["root_cause"]["service"] in covering[0].services, (name, covering[0].services)
            # ... found by detection, except the silent data fault, which the business reports, and a fault the
            # shop answers with 4xx (no error logged), which the detector does not see and the SLO alert opens
            expected = "reported" if truth.get("incident_details") else "alert" if truth.get("handled_exception") else "detected"
            assert covering[0].source == expected, name
        # ... and there is no incident where no fault was injected
        assert len(incidents) == len(names)
        agent = ws.get_incident(scenario_incident_id("agent-stale-carrier-data", 0))
        assert {"order_id", "eta_delta_hours", "problem_type"} <= set(agent.details)
        code_bug = next(i for i in incidents if "TypeError" in i.title)
        assert code_bug.fingerprint and code_bug.details["detected"]["top_fingerprints"][0] == code_bug.fingerprint
        assert ws.con.execute("SELECT count(*) FROM logs WHERE template_id IS NULL").fetchall()[0][0] == 0
    assert Path(summary["runbook"]).exists() and (Path(summary["repo_dir"]) / ".git").exists()
    # the second run, on a copy at another path (the shared build stays as it is): adds nothing
    shutil.copytree(folder, tmp_path / "ws")
    with Workspace.open(tmp_path / "ws") as ws:
        build_demo(ws)
        assert ws.counts() == first


def test_simulate_cli_lists_and_writes_ground_truth(tmp_path):
    listed = run_cli("simulate", "--list", "--json")
    assert listed.returncode == 0
    scenarios = json.loads(listed.stdout)
    assert len(scenarios) >= 6 and all({"name", "description"} <= set(s) for s in scenarios)
    out = run_cli("simulate", "--scenario", "bad-canary-deploy", "--seed", "3", "--out", str(tmp_path / "sim"), "--json",
                  workspace=tmp_path / "ws")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert (tmp_path / "sim" / "ground_truth.json").exists() and payload["ground_truth"]["root_cause"]["host"] == "shop-2"
    bad = run_cli("simulate", "--scenario", "no-such-thing", workspace=tmp_path / "ws")
    assert bad.returncode == 2 and "unknown scenario" in bad.stderr and "--list" in bad.stderr


def test_simulate_page_runs_and_ingests_a_scenario(tmp_path, monkeypatch):
    monkeypatch.setenv("CRASHLENS_HOME", str(tmp_path / "ws"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/simulate.py").run()
    at.selectbox(key="sim_scenario").set_value("bad-canary-deploy").run()
    at.button(key="sim_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "shop-2" in json.dumps(at.session_state["sim_result"]["ground_truth"])
    assert any(m.value == "payments" for m in at.metric)
    at.button(key="sim_ingest").click().run()
    assert not at.exception
    assert any("Ingested" in s.value for s in at.success)
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.counts()["logs"] > 1000 and ws.counts()["incidents"] == 1
