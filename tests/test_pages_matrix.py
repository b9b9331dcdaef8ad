"""Every page with AppTest on three workspaces: empty, the demo, and one fed broken input.

A page may say "nothing here yet" or report a rejected line, but it never raises and never
shows an error box for data it was given.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crashlens_core.errors import InputError
from crashlens_core.ingest import ingest_file
from crashlens_core.store import Workspace

from .helpers import run_page
PAGES = ["overview", "incidents", "traces", "rca", "knowledge", "logs", "sources", "simulate", "settings"]


def _broken(folder: Path, tmp_path: Path) -> Path:
    """Malformed log lines among good ones, a truncated trace file, a metrics file of garbage,
    an incident without a window and one whose window holds no data."""
    logs = tmp_path / "mixed.jsonl"
    good = [json.dumps({"ts": f"2024-05-14T10:00:{i:02d}Z", "level": "ERROR" if i % 3 else "INFO", "service": "api",
                        "msg": f"boom {i} <b>not html</b>"}) for i in range(50)]
    logs.write_text("\n".join(good[:25] + ["{broken", "", "not json at all"] + good[25:]) + "\n")
    spans = tmp_path / "spans.json"
    spans.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab", "spanId": "01", "name": "x"')
    metrics = tmp_path / "m.csv"
    metrics.write_text("timestamp,name,value\nyesterday,cpu,high\n")
    with Workspace.open(folder) as ws:
        assert ingest_file(ws, "logs", str(logs)).rejected == 2  # the blank line is no record
        with pytest.raises(InputError, match="not valid JSON"):  # a truncated document is refused whole
            ingest_file(ws, "spans", str(spans))
        report = ingest_file(ws, "metrics", str(metrics))  # a bad row is reported, the file kept going
        assert (report.loaded, report.rejected) == (0, 1)
        ws.create_incident("reported by phone, no window")
        from datetime import datetime

        ws.create_incident("empty window", window_start=datetime(2030, 1, 1), window_end=datetime(2030, 1, 1, 0, 5))
    return folder


@pytest.fixture(params=["empty", "demo", "broken"])
def workspace_kind(request, tmp_path, monkeypatch):
    if request.param == "empty":
        folder = tmp_path / "empty"
    elif request.param == "demo":
        folder = request.getfixturevalue("demo_copy")
    else:
        folder = _broken(tmp_path / "broken", tmp_path)
    for key in ("GROQ_API_KEY", "CRASHLENS_ENGINE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CRASHLENS_HOME", str(folder))
    return request.param, folder


def test_every_page_renders_on_every_kind_of_workspace(workspace_kind):
    kind, folder = workspace_kind
    incident = None
    if kind != "empty":
        with Workspace.open(folder) as ws:
            incident = ws.list_incidents()[0].id
    for page in PAGES:
        query = {"incident": incident} if incident and page in ("incidents", "traces", "rca", "sources") else None
        at = run_page(page, query, timeout=120)  # fails on any exception
        assert not at.error, (kind, page, [e.value for e in at.error])
        assert len(at.title) == 1, (kind, page)
        assert at.title[0].value, (kind, page)
