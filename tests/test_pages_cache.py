"""The pages' per-version caches (``Workspace.version``, ``common.by_version``, ``pages/reads.py``):
a write is seen on the next run, whoever made it; unchanged data answers from the cache; the
Incidents page computes only the open tab."""

from __future__ import annotations

import json
from pathlib import Path

from crashlens_core.ingest import ingest_file
from crashlens_core.store import Workspace
from pages import common

from .conftest import run_cli
from .helpers import run_page


def _lines(path: Path, n: int, first: int = 0, level: str = "info") -> Path:
    path.write_text("".join(json.dumps({"ts": f"2024-05-14T10:{(first + i) // 60:02d}:{(first + i) % 60:02d}Z",
                                        "level": level, "service": "pay", "msg": f"request {first + i}"}) + "\n"
                            for i in range(n)))
    return path


def test_version_changes_with_every_write_and_stays_put_on_reads(tmp_path):
    folder = tmp_path / "ws"
    Workspace.open(folder).close()  # created (and migrated)
    with Workspace.open(folder) as ws:
        created = ws.version()
    with Workspace.open(folder) as ws:  # the app opens and closes the workspace on every run
        reopened = ws.version()
        ws.list_incidents()
        ws.counts()
        assert ws.version() == reopened
        inc = ws.create_incident("checkout errors")
        after_create = ws.version()
        ws.set_incident_status(inc.id, "investigating", actor="ana")
        after_status = ws.version()
    closed = Workspace.open(folder)
    closed_version = closed.version()
    closed.close()
    assert reopened == created
    assert len({reopened, after_create, after_status}) == 3
    assert closed_version != after_status  # the close checkpointed the WAL into the file
    # another process writing between two runs (the CLI): seen by the next version
    out = run_cli("ingest", "logs", str(_lines(tmp_path / "a.jsonl", 5)), "--json", workspace=folder)
    assert out.returncode == 0, out.stderr
    with Workspace.open(folder) as ws:
        assert ws.version() != closed_version


def _counted_read(ws: Workspace) -> int:
    _counted_read.calls += 1  # type: ignore[attr-defined]
    return ws.counts()["logs"]


_counted_read.calls = 0  # type: ignore[attr-defined]


def test_by_version_answers_unchanged_data_from_the_cache_and_reads_again_after_a_write(tmp_path):
    read = common.by_version(_counted_read)
    folder = tmp_path / "ws"
    with Workspace.open(folder) as ws:
        assert read(ws) == 0 and read(ws) == 0
        assert _counted_read.calls == 1  # the second call came from the cache
        ingest_file(ws, "logs", str(_lines(tmp_path / "a.jsonl", 7)))
        assert read(ws) == 7
        assert _counted_read.calls == 2
    with Workspace.open(tmp_path / "other") as other:  # another workspace never shares an answer
        assert read(other) == 0
        assert _counted_read.calls == 3


def test_an_ingest_after_a_cached_read_shows_on_the_next_run(app_env, tmp_path):
    with Workspace.open(app_env) as ws:
        ingest_file(ws, "logs", str(_lines(tmp_path / "a.jsonl", 30)))
    at = run_page()
    assert at.metric[0].value == "30"
    at = run_page("logs")
    assert len(at.dataframe[-1].value) == 30
    at.run()  # a rerun on unchanged data (from the cache) shows the same
    assert len(at.dataframe[-1].value) == 30
    # in this process, between two runs
    with Workspace.open(app_env) as ws:
        ingest_file(ws, "logs", str(_lines(tmp_path / "b.jsonl", 12, first=30, level="error")))
    at = run_page()
    assert at.metric[0].value == "42"
    # from another process (the CLI), between two runs of the same session
    out = run_cli("ingest", "logs", str(_lines(tmp_path / "c.jsonl", 8, first=42)), "--json", workspace=app_env)
    assert out.returncode == 0, out.stderr
    at.run()
    assert not at.exception
    assert at.metric[0].value == "50"
    at = run_page("logs")
    assert len(at.dataframe[-1].value) == 50
    assert at.dataframe[-1].value["message"].iloc[0] == "request 49"


def test_incidents_page_computes_only_the_open_tab(demo_copy, monkeypatch):
    monkeypatch.setenv("CRASHLENS_HOME", str(demo_copy))
    with Workspace.open(demo_copy) as ws:
        inc = min((i for i in ws.list_incidents() if i.window_start), key=lambda i: i.window_start)
    at = run_page("incidents", {"incident": inc.id}, timeout=120)
    charts = [c.proto.id for c in at.get("plotly_chart")]
    assert any("inc_timeline" in c for c in charts)
    assert not any("inc_cmp_chart" in c for c in charts)  # the comparison tab is closed: not computed
    assert not any("Elevated" in m.value for m in at.markdown)
    at.session_state["inc_tab"] = "Baseline comparison"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    charts = [c.proto.id for c in at.get("plotly_chart")]
    assert any("inc_cmp_chart" in c for c in charts)
    assert not any("inc_timeline" in c for c in charts)
    for tab in ("Changes", "Fingerprints", "New & elevated templates", "Comments & history", "Timeline"):  # each tab draws
        at.session_state["inc_tab"] = tab
        at.run()
        assert not at.exception and not at.error, (tab, [e.value for e in at.exception], [e.value for e in at.error])
    assert not any("Elevated" in m.value for m in at.markdown)  # closed again once another tab opened
    # a status change (a write) shows at once, though the incident was read from the cache before
    at.session_state["inc_tab"] = "Comments & history"
    at.button(key="inc_to_investigating").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric][:1] == ["investigating"]
    history = " ".join(c.value for c in at.caption)  # the thread: one caption per history entry
    assert "investigating" in history
