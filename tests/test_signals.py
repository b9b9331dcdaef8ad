"""Log signals end to end on generated data: labels at ingest, fingerprints, detection,
baseline comparison, the CLI and the Incidents page."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_file
from crashlens_core.signals.compare import compare_windows
from crashlens_core.signals.detect import detect_incidents
from crashlens_core.signals.labels import label_pending
from crashlens_core.store import Workspace

from .conftest import run_cli

APP = str(Path(__file__).resolve().parents[1] / "app.py")
T0 = datetime(2024, 6, 1, 9, 0)
BURST = (T0 + timedelta(minutes=40), T0 + timedelta(minutes=43))
SLOW = (T0 + timedelta(minutes=20), T0 + timedelta(minutes=23))


def _trace(req: int, line: int, func: str = "apply_discount") -> str:
    return ("checkout failed\nTraceback (most recent call last):\n"
            f'  File "/app/shop/checkout.py", line {line}, in place_order\n    total = {func}(cart, code)\n'
            f'  File "/app/shop/discounts.py", line {line + 7}, in {func}\n    return cart.total * rate[code]\n'
            f"TypeError: 'NoneType' object is not subscriptable (request {req})")


def _write_logs(path: Path, seed: int = 1) -> None:
    rnd = random.Random(seed)
    lines = []
    for s in range(0, 60 * 60, 2):  # one hour, a record every 2 s per host
        ts = T0 + timedelta(seconds=s)
        for host in ("h1", "h2", "h3"):
            rec = {"ts": ts.isoformat() + "Z", "level": "INFO", "service": "checkout", "host": host,
                   "msg": f"order o-{rnd.randint(1000, 9999)} placed in {rnd.randint(5, 90)} ms",
                   "version": "2.0.1" if host == "h2" and ts >= BURST[0] else "2.0.0",
                   "request_id": f"r-{rnd.getrandbits(40):x}"}
            if s % 400 == 0 and host == "h1":  # sporadic, steady errors: never an incident
                rec.update(level="ERROR", msg=f"retrying payment {rnd.randint(1, 99)} after gateway hiccup")
            if BURST[0] <= ts < BURST[1] and host == "h2":
                rec.update(level="ERROR", msg=_trace(s, 40 + rnd.randint(0, 3)), trace_id=f"{s:032x}")
            lines.append(json.dumps(rec))
    # a second code path with the same exception type: its own fingerprint
    for k in range(6):
        ts = BURST[0] + timedelta(seconds=20 * k + 1)
        lines.append(json.dumps({"ts": ts.isoformat() + "Z", "level": "ERROR", "service": "checkout", "host": "h2",
                                 "msg": _trace(k, 12, func="loyalty_points"), "trace_id": f"{k:032x}"}))
    path.write_text("\n".join(lines) + "\n")


def _write_spans(path: Path) -> None:
    """A database call that is ~2 ms every minute, and ~800 ms during SLOW."""
    rows = []
    for s in range(0, 60 * 60, 5):
        ts = T0 + timedelta(seconds=s)
        ms = 800 + s % 50 if SLOW[0] <= ts < SLOW[1] else 2 + s % 3
        tid = f"{s + 10**6:032x}"
        rows.append({"trace_id": tid, "span_id": f"{s:016x}", "parent_id": None, "service": "orders-db", "tool": "SELECT orders",
                     "start_ts": ts.isoformat() + "Z", "end_ts": (ts + timedelta(milliseconds=ms)).isoformat() + "Z",
                     "status": "ok"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _workspace(tmp_path: Path) -> Path:
    logs, spans = tmp_path / "app.jsonl", tmp_path / "spans.jsonl"
    _write_logs(logs)
    _write_spans(spans)
    folder = tmp_path / "ws"
    with Workspace.open(folder) as ws:
        assert ingest_file(ws, "logs", str(logs)).rejected == 0
        assert ingest_file(ws, "spans", str(spans), "native").rejected == 0
    return folder


def test_labels_templates_and_fingerprints(tmp_path):
    with Workspace.open(_workspace(tmp_path)) as ws:
        report = label_pending(ws)
        assert report.batches == 1 and report.logs == ws.counts()["logs"]
        con = ws.con
        assert con.execute("SELECT count(*) FROM logs WHERE template_id IS NULL").fetchall()[0][0] == 0
        # the order lines are one template whatever their ids and durations
        (tpl, n), = con.execute("SELECT template, count FROM templates WHERE template LIKE 'order %'").fetchall()
        assert tpl == "order <*> placed in <*> ms" and n == con.execute(
            "SELECT count(*) FROM logs WHERE message LIKE 'order %'").fetchall()[0][0]
        assert con.execute("SELECT sum(count) FROM templates").fetchall()[0][0] == ws.counts()["logs"]
        # 90 tracebacks from two code paths: two fingerprints, line numbers and request ids ignored
        fps = con.execute("SELECT fingerprint, exc_type, count, services FROM fingerprints ORDER BY count DESC").fetchall()
        assert [(f[1], f[2], f[3]) for f in fps] == [("TypeError", 90, ["checkout"]), ("TypeError", 6, ["checkout"])]
        assert con.execute("SELECT count(*) FROM logs WHERE fingerprint IS NOT NULL").fetchall()[0][0] == 96
        # labelling is done once; a second file with known shapes reuses the template ids
        assert label_pending(ws).batches == 0
        more = tmp_path / "more.jsonl"
        more.write_text(json.dumps({"ts": "2024-06-01T11:00:00Z", "level": "INFO", "msg": "order o-1 placed in 3 ms"}) + "\n")
        ingest_file(ws, "logs", str(more))
        label_pending(ws)
        ids = con.execute("SELECT DISTINCT template_id FROM logs WHERE message LIKE 'order %'").fetchall()
        assert len(ids) == 1


def test_detection_finds_the_bursts_and_nothing_else(tmp_path):
    with Workspace.open(_workspace(tmp_path)) as ws:
        label_pending(ws)
        report = detect_incidents(ws, Settings())
        by_start = sorted(report.created, key=lambda i: i.window_start)
        assert [(i.window_start, i.window_end) for i in by_start] == [SLOW, BURST]
        slow, burst = by_start
        assert slow.title.startswith("slow SELECT orders in orders-db") and slow.services == ["orders-db"]
        assert burst.title == "TypeError in checkout on h2" and burst.services == ["checkout"]
        assert burst.fingerprint == burst.details["detected"]["top_fingerprints"][0]
        assert burst.details["detected"]["error_count"] == 96 and burst.severity == "sev2"
        # idempotent: the same bursts open nothing twice
        again = detect_incidents(ws, Settings())
        assert again.created == [] and len(again.matched) == 2
        # a stricter threshold still finds the burst; a huge minimum count finds no error burst
        none = detect_incidents(ws, Settings(detect_min_count=10_000), dry_run=True)
        assert all(b.kind == "latency" for b in none.bursts)


def test_comparison_points_at_the_host_and_version(tmp_path):
    with Workspace.open(_workspace(tmp_path)) as ws:
        label_pending(ws)
        cmp = compare_windows(ws, *BURST, focus="errors", with_suspects=False)
        dims = {d.dimension: d for d in cmp.dimensions}
        # 96 of the window's 97 errors are on h2 (one steady h1 retry error falls inside it)
        assert dims["host"].values[0].value == "h2" and dims["host"].values[0].incident_count == 96
        assert round(dims["host"].values[0].incident_share, 3) == round(96 / 97, 3)
        assert dims["attr.version"].values[0].value == "2.0.1" and dims["attr.version"].values[0].lift is None
        assert "attr.request_id" in cmp.skipped  # identifiers say nothing about what changed
        assert cmp.baseline == (BURST[0] - (BURST[1] - BURST[0]), BURST[0])
        assert [t.template for t in cmp.new_templates][:1] == ["checkout failed"]
        everything = compare_windows(ws, *BURST, focus="all", with_suspects=False)
        host_all = next(d for d in everything.dimensions if d.dimension == "host")
        assert host_all.score < dims["host"].score


def test_cli_detect_and_compare(tmp_path):
    folder = _workspace(tmp_path)
    out = run_cli("incidents", "detect", "--json", workspace=folder)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["created"]) == 2
    out = run_cli("compare", "--from", BURST[0].isoformat(), "--to", BURST[1].isoformat(), "--focus", "errors", "--json",
                  workspace=folder)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert {"window", "baseline", "dimensions", "templates", "suspects"} <= set(doc)
    assert {"value", "incident_share", "baseline_share", "lift"} <= set(doc["dimensions"][0]["values"][0])
    bad = run_cli("compare", "--from", BURST[1].isoformat(), "--to", BURST[0].isoformat(), workspace=folder)
    assert bad.returncode == 2 and "ends before it starts" in bad.stderr


def test_incidents_page_lists_selects_and_moves_status(tmp_path, monkeypatch):
    folder = _workspace(tmp_path)
    with Workspace.open(folder) as ws:
        label_pending(ws)
        burst = next(i for i in detect_incidents(ws).created if "TypeError" in i.title)
    monkeypatch.setenv("CRASHLENS_HOME", str(folder))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/incidents.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) == 2
    at.query_params["incident"] = burst.id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any(m.value == "open" for m in at.metric)
    at.session_state["inc_tab"] = "Fingerprints"  # only the open tab is computed
    at.run()
    assert any("TypeError" in e.label for e in at.expander)
    at.button(key="inc_to_investigating").click().run()
    assert not at.exception
    with Workspace.open(folder) as ws:
        assert ws.get_incident(burst.id).status == "investigating"


def test_upload_on_the_logs_page_labels_and_detects(tmp_path, monkeypatch):
    logs = tmp_path / "app.jsonl"
    _write_logs(logs)
    monkeypatch.setenv("CRASHLENS_HOME", str(tmp_path / "ws"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/logs.py").run()
    at.file_uploader(key="upload_files").set_value([("app.jsonl", logs.read_bytes(), "application/json")])
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    done = at.session_state["last_signals"]
    assert [title for _, _, title in done["incidents"]] == ["TypeError in checkout on h2"]
    assert "new exception fingerprints" in done["summary"]


def test_a_steady_error_of_an_old_file_stays_quiet_beside_newer_files(ws, tmp_path):
    """A key's usual rate counts the minutes its own file was written: an Apache error log from 2005
    whose error comes every minute opens nothing alone, and still nothing once a log of 2024 (hours of
    minutes the old file never saw) shares the workspace (issue 18: one incident per minute of 2005)."""
    old = tmp_path / "error_log"
    start = datetime(2005, 12, 4, 4, 0)
    old.write_text("".join(f"[{start + timedelta(minutes=m):%a %b %d %H:%M:%S %Y}] [error] mod_jk child workerEnv in error state {m % 7}\n"
                           f"[{start + timedelta(minutes=m, seconds=20):%a %b %d %H:%M:%S %Y}] [notice] workerEnv.init() ok\n"
                           for m in range(120)))
    new = tmp_path / "app.jsonl"
    new.write_text("".join(json.dumps({"ts": (datetime(2024, 5, 14) + timedelta(minutes=m)).isoformat() + "Z",
                                       "level": "info", "service": "api", "msg": f"request {m} ok"}) + "\n" for m in range(600)))
    ingest_file(ws, "logs", str(old))
    label_pending(ws)
    assert detect_incidents(ws, Settings()).bursts == []
    ingest_file(ws, "logs", str(new))
    label_pending(ws)
    assert detect_incidents(ws, Settings()).bursts == []
