"""The DuckDB workspace: migrations, incidents workflow, artifacts, locking, readers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from crashlens_core.errors import InputError, InvalidTransition, NotFound, WorkspaceError, WorkspaceInUse
from crashlens_core.store import Workspace
from crashlens_core.store.schema import LATEST_VERSION


def test_migrations_applied_once_and_recorded(tmp_path):
    with Workspace.open(tmp_path / "w") as ws:
        assert ws.schema_version() == LATEST_VERSION
        tables = {r[0] for r in ws.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"logs", "spans", "metrics", "incidents", "artifacts", "rca_runs", "ingest_batches"} <= tables
    with Workspace.open(tmp_path / "w") as ws:  # reopening applies nothing twice
        assert ws.con.execute("SELECT count(*) FROM schema_migrations").fetchall()[0][0] == len(
            __import__("crashlens_core.store.schema", fromlist=["MIGRATIONS"]).MIGRATIONS)


def test_read_only_open_of_missing_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(WorkspaceError, match="no workspace"):
        Workspace.open(tmp_path / "nothing", read_only=True)


def test_incident_workflow_records_approver_and_history(ws):
    inc = ws.create_incident("ETA late for order", severity="sev2", services=["eta-agent"],
                             details={"order_id": "A-1001", "eta_delta_hours": 6.5, "problem_type": "stale_data"})
    assert inc.status == "open" and inc.details["eta_delta_hours"] == 6.5
    ws.set_incident_status(inc.id, "investigating", actor="bob")
    ws.set_incident_status(inc.id, "rca_ready")
    with pytest.raises(InputError, match="approver"):
        ws.set_incident_status(inc.id, "approved")
    approved = ws.set_incident_status(inc.id, "approved", actor="alice")
    assert approved.approved_by == "alice" and approved.approved_ts is not None
    resolved = ws.set_incident_status(inc.id, "resolved", actor="alice")
    assert resolved.resolved_ts is not None
    assert [e["to_status"] for e in ws.incident_events(inc.id)] == ["open", "investigating", "rca_ready", "approved", "resolved"]
    # a unique prefix finds it; an unknown id is NotFound
    assert ws.get_incident(inc.id[:8]).id == inc.id
    with pytest.raises(NotFound):
        ws.get_incident("does-not-exist")


def test_get_incident_takes_a_unique_prefix_and_says_why_it_cannot(ws):
    a = ws.create_incident("a", incident_id="abcd1234-0000")
    b = ws.create_incident("b", incident_id="abcd9999-0000")
    assert ws.get_incident("abcd1").id == a.id
    assert ws.get_incident(" abcd9 ").id == b.id  # pasted with spaces
    assert ws.get_incident(a.id).title == "a"
    with pytest.raises(InputError, match="matches more than one incident: abcd1234-0000, abcd9999-0000") as err:
        ws.get_incident("abcd")
    assert "more characters" in err.value.hint
    with pytest.raises(NotFound, match="no incident 'abc'") as err:
        ws.get_incident("abc")  # too short to be a prefix, even though two ids start with it
    assert "at least 4" in err.value.hint
    with pytest.raises(NotFound, match="no incident 'ffff'"):
        ws.get_incident("ffff")


def test_disallowed_transition_names_the_allowed_ones(ws):
    inc = ws.create_incident("x")
    with pytest.raises(InvalidTransition) as err:
        ws.set_incident_status(inc.id, "approved", actor="a")
    assert "investigating" in err.value.hint


def test_incident_input_validation(ws):
    with pytest.raises(InputError):
        ws.create_incident("   ")
    with pytest.raises(InputError):
        ws.create_incident("x", severity="critical!")


def test_artifacts_are_content_addressed_and_deduplicated(ws):
    a = ws.put_artifact(b"hello", "text/plain", name="a.txt")
    b = ws.put_artifact(b"hello", "text/plain", name="b.txt")
    assert a.digest == b.digest == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert ws.counts()["artifacts"] == 1
    assert ws.read_artifact(a.digest) == b"hello"
    # a damaged file is an error, never silently served
    path = ws.folder / "artifacts" / a.digest[:2] / a.digest
    path.write_bytes(b"hellO")
    with pytest.raises(WorkspaceError, match="damaged"):
        ws.read_artifact(a.digest)


def test_second_writer_process_gets_workspace_in_use(tmp_path):
    folder = tmp_path / "w"
    Workspace.open(folder).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from crashlens_core.store import Workspace
            ws = Workspace.open({str(folder)!r})
            print("held", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkspaceInUse) as err:
            Workspace.open(folder, lock_timeout=0.3)
        assert "in use" in err.value.message and err.value.hint
    finally:
        holder.communicate("\n", timeout=30)
    Workspace.open(folder, lock_timeout=0.3).close()  # free again once the holder is gone


def test_reader_threads_use_cursors_while_writer_works(ws):
    ws.create_incident("one")
    results, errors = [], []

    def reader():
        try:
            cur = ws.cursor()
            for _ in range(20):
                results.append(cur.execute("SELECT count(*) FROM incidents").fetchall()[0][0])
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(5):
        ws.create_incident(f"more {i}")
    for t in threads:
        t.join()
    assert not errors and len(results) == 60 and all(1 <= r <= 6 for r in results)
