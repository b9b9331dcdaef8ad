"""Deleting an ingest batch: rows, counts and orphaned incidents go; everything else stays."""

from __future__ import annotations

import json

import pytest

from crashlens_core.errors import NotFound
from crashlens_core.ingest import ingest_file
from crashlens_core.signals.detect import detect_incidents
from crashlens_core.signals.labels import label_pending
from crashlens_core.store import Workspace
from crashlens_core.store.undo import delete_batch

from .conftest import run_cli


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def _quiet_then_burst(service, day, errors, error_text="payment gateway timeout after {} ms"):
    """An hour of INFO lines, then a minute of ERRORs: enough for detection to open an incident."""
    rows = [{"ts": f"{day}T10:{m:02d}:{s:02d}Z", "level": "info", "service": service, "msg": f"served request {m * 60 + s}"}
            for m in range(60) for s in range(0, 60, 10)]
    rows += [{"ts": f"{day}T11:00:{s:02d}Z", "level": "error", "service": service,
              "msg": error_text.format(s)} for s in range(errors)]
    return rows


def test_delete_batch_removes_its_rows_counts_and_only_its_incidents(tmp_path):
    keep = _jsonl(tmp_path / "keep.jsonl", _quiet_then_burst("cart", "2024-05-14", 40, "basket store unreachable, retry {}"))
    wrong = _jsonl(tmp_path / "wrong.jsonl", _quiet_then_burst("pay", "2024-05-15", 40))
    with Workspace.open(tmp_path / "ws") as ws:
        first = ingest_file(ws, "logs", keep)
        second = ingest_file(ws, "logs", wrong)
        label_pending(ws)
        detect_incidents(ws)
        before = {i.id: i for i in ws.list_incidents(limit=100)}
        manual = ws.create_incident("reported by a customer", services=["pay"])
        by_service = {svc: [i.id for i in before.values() if svc in i.services] for svc in ("cart", "pay")}
        assert by_service["cart"] and by_service["pay"]
        timeout_tpl = ws.con.execute(
            "SELECT DISTINCT template_id FROM logs WHERE message LIKE 'payment gateway timeout%' AND service = 'pay'").fetchall()
        batch_id = ws.con.execute("SELECT id FROM ingest_batches WHERE path = ?", [wrong]).fetchall()[0][0]

        out = delete_batch(ws, batch_id)

        assert out["removed"]["logs"] == second.loaded
        assert ws.con.execute("SELECT count(*) FROM logs").fetchall()[0][0] == first.loaded
        assert sorted(out["incidents_deleted"]) == sorted(by_service["pay"])
        left = {i.id for i in ws.list_incidents(limit=100)}
        assert set(by_service["cart"]) <= left  # the other file's incidents stay
        assert manual.id in left  # a person opened it: the batch did not produce it
        # the template both files share is recounted from what is left, not dropped
        served = ws.con.execute("SELECT count FROM templates WHERE template LIKE 'served request%'").fetchall()
        assert served == [(first.loaded - 40,)]
        # a template written only by the deleted file is gone
        assert timeout_tpl and not ws.con.execute(
            "SELECT count(*) FROM templates WHERE template_id = ? AND count > 0", [timeout_tpl[0][0]]).fetchall()[0][0]
        assert ws.con.execute("SELECT count(*) FROM ingest_batches WHERE id = ?", [batch_id]).fetchall()[0][0] == 0
        # the same file can be ingested again: undo means the workspace forgot it
        again = ingest_file(ws, "logs", wrong)
        assert again.loaded == second.loaded


def test_delete_of_an_unknown_batch_says_so(tmp_path):
    with Workspace.open(tmp_path / "ws") as ws:
        with pytest.raises(NotFound, match="no ingest batch 3"):
            delete_batch(ws, 3)


def test_cli_batches_list_and_delete(tmp_path):
    folder = tmp_path / "ws"
    path = _jsonl(tmp_path / "a.jsonl", _quiet_then_burst("pay", "2024-05-14", 5))
    assert run_cli("ingest", "logs", path, workspace=folder).returncode == 0
    listed = run_cli("batches", "list", "--json", workspace=folder)
    assert listed.returncode == 0, listed.stderr
    (batch,) = json.loads(listed.stdout)
    assert batch["path"] == path and batch["loaded"] == 365
    gone = run_cli("batches", "delete", str(batch["id"]), workspace=folder)
    assert gone.returncode == 0, gone.stderr
    assert "365 log lines" in gone.stdout
    again = run_cli("batches", "delete", str(batch["id"]), workspace=folder)
    assert again.returncode == 2 and "no ingest batch" in again.stderr


def test_overview_page_undoes_an_upload(app_env, tmp_path):
    from .helpers import run_page

    path = _jsonl(tmp_path / "wrong.jsonl", _quiet_then_burst("pay", "2024-05-14", 5))
    with Workspace.open(app_env) as ws:
        ingest_file(ws, "logs", path)
    at = run_page("overview")
    at.selectbox(key="ov_undo_batch").select(1).run()
    at.button(key="ov_undo_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Deleted batch 1: 365 log lines" in s.value for s in at.success), ([e.value for e in at.error], [m.value for m in at.metric], [s.value for s in at.selectbox])
    assert [m.value for m in at.metric][:1] == ["0"]
    with Workspace.open(app_env, read_only=True) as ws:
        assert ws.counts()["logs"] == 0


def test_overview_batches_name_files_by_their_path_in_the_workspace_else_folder_and_name(app_env, tmp_path):
    """The demo's scenarios each hold a logs.jsonl: the name alone does not tell batches apart, a
    full temp path pushes the other columns off the table."""
    from .helpers import run_page

    with Workspace.open(app_env) as ws:
        (app_env / "simulations" / "one").mkdir(parents=True)
        (tmp_path / "far" / "away").mkdir(parents=True)
        inside = _jsonl(app_env / "simulations" / "one" / "logs.jsonl", _quiet_then_burst("pay", "2024-05-14", 2))
        outside = _jsonl(tmp_path / "far" / "away" / "logs.jsonl", _quiet_then_burst("cart", "2024-05-15", 2))
        ingest_file(ws, "logs", inside)
        ingest_file(ws, "logs", outside)
    at = run_page("overview")
    table = next(d.value for d in at.dataframe if "finished_ts" in d.value.columns)
    assert list(table["path"]) == ["away/logs.jsonl", "simulations/one/logs.jsonl"]
    assert at.selectbox(key="ov_undo_batch").options[0].startswith("2 · logs · away/logs.jsonl · ")
