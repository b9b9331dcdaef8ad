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
