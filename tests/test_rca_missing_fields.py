"""Files nobody prepared: logs, spans and metrics without service, host, trace or time still give
evidence from every collector, incident titles never say "in ?", and `crashlens rca` on a plain
Apache error log ends in a report, not a traceback (issue 18, item 1)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_files
from crashlens_core.rca.collectors import CollectorContext
from crashlens_core.rca.engine import run_rca
from crashlens_core.rca.evidence import COLLECTORS, resolve_window
from crashlens_core.signals.refresh import refresh_signals
from crashlens_core.store import Workspace
from tests.conftest import run_cli

T0 = datetime(2024, 7, 1, 3, 0, 0)
WINDOW = (T0 + timedelta(minutes=20), T0 + timedelta(minutes=24))
TRACE = ("worker {n} crashed\nTraceback (most recent call last):\n"
         '  File "/opt/jobs/run.py", line 12, in main\n    step(job)\n'
         '  File "/opt/jobs/steps.py", line 40, in step\n    return job["payload"]\n'
         "KeyError: 'payload'")


def _write_inputs(folder):
    """Logs with only a time, a level and a message (some not even a time); spans with only ids,
    a name and times (some without a trace id); metrics with only a time, a name and a value."""
    logs, spans, metrics = [], [], ["ts,name,value"]
    for i in range(24 * 30):
        ts = T0 + timedelta(seconds=2 * i)
        inside = WINDOW[0] <= ts < WINDOW[1]
        logs.append({"ts": ts.isoformat(), "level": "INFO", "message": f"job {i} done"})
        if inside and i % 2 == 0:
            logs.append({"ts": ts.isoformat(), "level": "ERROR", "message": f"mod_jk child workerEnv in error state {i % 7}"})
        if inside and i % 3 == 0:
            logs.append({"ts": ts.isoformat(), "level": "ERROR", "message": TRACE.format(n=i)})
        if i % 5 == 0:
            start = ts
            slow = inside
            span = {"trace_id": f"{i:032x}" if i % 25 else None, "span_id": f"{i:016x}", "name": "run job",
                    "start_ts": start.isoformat(), "end_ts": (start + timedelta(milliseconds=400 if slow else 20)).isoformat(),
                    "status": "error" if inside and i % 10 == 0 else "ok"}
            spans.append({k: v for k, v in span.items() if v is not None})
        metrics.append(f"{ts.isoformat()},queue_depth,{90 + i % 3 if inside else 10 + i % 3}")
    (folder / "app.log.jsonl").write_text("\n".join(json.dumps(r) for r in logs) + "\n")
    # Lines with no time at all (a text file without timestamps): stored without ts.
    (folder / "notes.log").write_text("".join(f"ERROR step {k} failed without a timestamp\n" for k in range(20)))
    (folder / "spans.jsonl").write_text("\n".join(json.dumps(r) for r in spans) + "\n")
    (folder / "metrics.csv").write_text("\n".join(metrics) + "\n")
    return spans


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bare")
    spans = _write_inputs(folder)
    trace_id = next(s["trace_id"] for s in spans if s["status"] == "error" and s.get("trace_id"))
    with Workspace.open(folder / "ws") as ws:
        for kind, name in (("logs", "app.log.jsonl"), ("logs", "notes.log"), ("spans", "spans.jsonl"), ("metrics", "metrics.csv")):
            report = ingest_files(ws, kind, [str(folder / name)])[0]
            assert report.loaded > 0 and report.rejected == 0, report.to_json()
        inc = ws.create_incident("bare incident", severity="sev3", services=[], window_start=WINDOW[0], window_end=WINDOW[1],
                                 details={"trace_id": trace_id})
        assert ws.con.execute("SELECT count(*) FROM logs WHERE ts IS NULL").fetchone()[0] == 20
        refresh_signals(ws, Settings(), detect=False)  # templates and fingerprints, as every face does after ingest
    return folder / "ws", inc.id


def test_every_collector_copes_with_rows_missing_every_optional_field(bare):
    folder, inc_id = bare
    with Workspace.open(folder) as ws:
        incident = ws.get_incident(inc_id)
        ctx = CollectorContext(ws, Settings(), incident, *resolve_window(incident, None, None, None, None))
        found = {}
        for name, collector in COLLECTORS:
            items = collector(ctx)
            ctx.items.extend(items)
            found[name] = items
    # The collectors whose signal is in these files found it (so the test is not vacuous) ...
    for name in ("error_logs", "error_spans", "latency", "metrics", "incident_trace", "templates", "fingerprints"):
        assert found[name], f"{name} found nothing"
    # ... and nothing prints a missing value as None or names a source "?"
    for item in ctx.items:
        assert "None" not in item.title and "None" not in item.text, (item.id, item.title, item.text)
        assert " in ?" not in item.title, item.title
    errors = [e for e in found["error_logs"] if e.data["signal"] == "error_log"]
    assert {e.data["service"] for e in errors} == {"app.log.jsonl"}
    assert {e.data["named_by"] for e in errors} == {"file"}
    assert all("file app.log.jsonl (the lines name no service or host)" in e.text for e in errors)
    crash = next(e for e in errors if e.data["exc_type"] == "KeyError")
    assert crash.data["location"] == "/opt/jobs/steps.py:step:40"
    assert all(t.data["services"] == ["app.log.jsonl"] for t in found["templates"] + found["fingerprints"])
    spans = found["error_spans"] + found["latency"]
    assert {e.data["named_by"] for e in spans} == {"none"} and all(e.data["name"] == "run job" for e in spans)


def test_rca_on_the_bare_workspace_reports_and_names_the_file(bare):
    folder, inc_id = bare
    with Workspace.open(folder) as ws:
        run = run_rca(ws, Settings(), inc_id, engine="offline")
    report = run.report.to_json()
    assert report["suspects"] and report["suspects"][0]["service"] == "app.log.jsonl"
    assert "None" not in report["root_cause"] and "file app.log.jsonl" in report["root_cause"]
    assert all(state.startswith("ok") for state in run.evidence.collectors.values()), run.evidence.collectors


def _lines_for(kind: str) -> list[str]:
    # A quiet hour, then one error template bursting (the shape that opened "… in ?" incidents).
    lines = []
    for m in range(60):
        t = T0 + timedelta(minutes=m)
        host = "web-1 " if kind == "host" else ""
        lines.append(json.dumps({"ts": t.isoformat(), "level": "INFO", "message": f"request {m} ok",
                                 **({"host": "web-1"} if host else {})}))
    for k in range(30):
        t = T0 + timedelta(minutes=50, seconds=2 * k)
        lines.append(json.dumps({"ts": t.isoformat(), "level": "ERROR", "message": f"worker pool exhausted ({k} waiting)",
                                 **({"host": "web-1"} if kind == "host" else {})}))
    return lines


@pytest.mark.parametrize("kind, expected", [("host", "on host web-1"), ("file", "in file worker.jsonl")])
def test_incident_titles_fall_back_to_host_then_file_never_question_mark(tmp_path, kind, expected):
    path = tmp_path / "worker.jsonl"
    path.write_text("\n".join(_lines_for(kind)) + "\n")
    with Workspace.open(tmp_path / "ws") as ws:
        ingest_files(ws, "logs", [str(path)])
        refresh_signals(ws, Settings())
        titles = [i.title for i in ws.list_incidents()]
    assert titles, "the burst opens an incident"
    assert all(" in ?" not in t for t in titles), titles
    assert any(t.endswith(expected) for t in titles), titles


def _apache_error_log(path):
    """The shape of a plain Apache error log: `[Sun Dec 04 04:47:44 2005] [error] message`."""
    start = datetime(2005, 12, 4, 4, 0, 0)
    lines = []
    for m in range(120):
        t = start + timedelta(minutes=m)
        lines.append(f"[{t:%a %b %d %H:%M:%S %Y}] [notice] jk2_init() Found child {6000 + m} in scoreboard slot {m % 10}")
        lines.append(f"[{t:%a %b %d %H:%M:%S %Y}] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties")
    for k in range(40):
        t = start + timedelta(minutes=90, seconds=3 * k)
        lines.append(f"[{t:%a %b %d %H:%M:%S %Y}] [error] mod_jk child workerEnv in error state {6 + k % 4}")
    lines.sort(key=lambda line: datetime.strptime(line[1:25], "%a %b %d %H:%M:%S %Y"))
    path.write_text("\n".join(lines) + "\n")


def test_cli_rca_on_an_apache_error_log_end_to_end(tmp_path):
    log = tmp_path / "error_log"
    _apache_error_log(log)
    ws = tmp_path / "ws"
    ingest = run_cli("ingest", "logs", str(log), "--json", workspace=ws)
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["loaded"] == 280
    detect = run_cli("incidents", "detect", "--json", workspace=ws)
    assert detect.returncode == 0, detect.stderr
    listed = run_cli("incidents", "list", "--json", workspace=ws)
    incidents = json.loads(listed.stdout)
    assert len(incidents) == 1
    assert incidents[0]["title"] == "mod_jk child workerEnv in error state <*> in file error_log"
    rca = run_cli("rca", incidents[0]["id"], "--json", workspace=ws)
    assert rca.returncode == 0, rca.stderr
    assert "Traceback" not in rca.stderr
    report = json.loads(rca.stdout)
    assert report["engine"] == "offline" and report["claims"]
    assert report["suspects"][0]["service"] == "error_log"
    assert "mod_jk child workerEnv in error state" in report["root_cause"] and "file error_log" in report["root_cause"]


def test_cli_rca_failures_are_one_line_with_a_hint(tmp_path):
    ws = tmp_path / "ws"
    missing = run_cli("rca", "no-such-incident", "--json", workspace=ws)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("crashlens: ") and "hint:" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
