"""Incident owner and comment thread (issue 19): store, CLI, REST, bundle and the Incidents page.

Real parts: DuckDB workspaces in tmp_path, the CLI through the same ``main()`` the installed
command calls, a real `crashlens serve` process (tests/serve_support), a signed bundle exported,
verified, imported and replayed, and the page through AppTest.
"""

from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime, timedelta

import duckdb
import httpx
import pytest

from crashlens_core.cli import main
from crashlens_core.errors import InputError, InvalidTransition
from crashlens_core.store import Workspace
from crashlens_core.store.schema import MIGRATIONS

from .helpers import run_page
from .serve_support import start_server

START = datetime(2024, 5, 14, 10, 0, 0)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- store

def test_assign_and_comment_are_history_rows_in_order(ws):
    inc = ws.create_incident("checkout 500s", actor="ana")
    ws.set_incident_status(inc.id, "investigating", actor="ana", note="paging")
    assert ws.assign_incident(inc.id, "  bo   lee ", actor="ana").owner == "bo lee"  # one line, as tables show it
    ws.comment_incident(inc.id, "pool exhausted on db-2\nrolling back", actor="bo lee")
    assert ws.assign_incident(inc.id, "bo lee").owner == "bo lee"  # the same owner again: nothing to record
    assert ws.assign_incident(inc.id, None, actor="bo lee").owner is None
    events = ws.incident_events(inc.id)
    assert [e["kind"] for e in events] == ["status", "status", "assign", "comment", "assign"]
    assert [e["note"] for e in events[2:]] == ["bo lee", "pool exhausted on db-2\nrolling back", ""]
    assert all(e["to_status"] == "investigating" for e in events[2:])  # the status is untouched
    assert [e["note"] for e in ws.incident_events(inc.id, kind="comment")] == ["pool exhausted on db-2\nrolling back"]
    with pytest.raises(InputError):
        ws.comment_incident(inc.id, "   ")
    with pytest.raises(InputError):
        ws.comment_incident(inc.id, "x" * (ws.MAX_COMMENT + 1))
    with pytest.raises(InputError):
        ws.incident_events(inc.id, kind="chat")


def test_an_older_workspace_is_upgraded_with_kinds_for_its_history(tmp_path):
    """A workspace written before v19 (history rows without a kind) opens with its rows kept and told apart."""
    folder = tmp_path / "old"
    folder.mkdir()
    con = duckdb.connect(str(folder / "crashlens.duckdb"))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_ts TIMESTAMP)")
    for version, name, sql in MIGRATIONS:
        if version < 19:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, START])
    con.execute("INSERT INTO incidents (id, title, status, severity, created_ts, updated_ts, source) "
                "VALUES ('inc-old-1', 'old one', 'investigating', 'sev3', ?, ?, 'manual')", [START, START])
    con.execute("INSERT INTO incident_events VALUES ('inc-old-1', ?, NULL, 'open', 'ana', 'created (manual)'), "
                "('inc-old-1', ?, 'open', 'investigating', 'ana', ''), "
                "('inc-old-1', ?, 'investigating', 'investigating', NULL, 'alert: 1 of the group resolved')",
                [START, START + timedelta(minutes=1), START + timedelta(minutes=2)])
    con.close()
    with Workspace.open(folder) as ws:
        assert ws.schema_version() >= 19
        inc = ws.get_incident("inc-old-1")
        assert inc.owner is None
        assert [e["kind"] for e in ws.incident_events(inc.id)] == ["status", "status", "update"]
        ws.comment_incident(inc.id, "picked up after the upgrade", actor="ana")
        assert ws.incident_events(inc.id)[-1]["kind"] == "comment"


# ---------------------------------------------------------------- CLI

def test_assign_and_comment_through_the_cli(tmp_path, capsys, monkeypatch):
    for key in ("CRASHLENS_HOME", "CRASHLENS_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    w = ["--workspace", str(tmp_path / "ws")]
    code, out, _ = cli(capsys, "incidents", "create", "--title", "cart slow", "--json", *w)
    assert code == 0
    inc_id = json.loads(out)["id"]
    code, out, _ = cli(capsys, "incidents", "assign", inc_id[:8], "alice", "--by", "bob", "--json", *w)
    assert code == 0 and json.loads(out)["owner"] == "alice"
    code, out, _ = cli(capsys, "incidents", "comment", inc_id[:8], "cache node 3 evicting hot keys", "--by", "alice", "--json", *w)
    entry = json.loads(out)
    assert code == 0 and entry["kind"] == "comment" and entry["actor"] == "alice" and entry["incident_id"] == inc_id

    code, out, _ = cli(capsys, "incidents", "show", inc_id, "--json", *w)
    shown = json.loads(out)
    assert shown["owner"] == "alice"
    assert [(e["kind"], e["actor"], e["note"]) for e in shown["events"][1:]] == [
        ("assign", "bob", "alice"), ("comment", "alice", "cache node 3 evicting hot keys")]
    code, out, _ = cli(capsys, "incidents", "list", "--json", *w)
    assert [(i["id"], i["owner"]) for i in json.loads(out)] == [(inc_id, "alice")]
    code, out, _ = cli(capsys, "incidents", "show", inc_id[:8], *w)
    assert "bob assigned it to alice" in out and "alice commented: cache node 3 evicting hot keys" in out

    code, out, _ = cli(capsys, "incidents", "assign", inc_id, "--unassign", "--json", *w)
    assert code == 0 and json.loads(out)["owner"] is None
    # user errors: one line on stderr, exit 2
    code, _, err = cli(capsys, "incidents", "assign", inc_id, *w)
    assert code == 2 and "incidents assign ID OWNER" in err
    code, _, err = cli(capsys, "incidents", "comment", "zzzzzzzz", "hello", *w)
    assert code == 2 and "no incident" in err
    code, _, err = cli(capsys, "incidents", "comment", inc_id, "   ", *w)
    assert code == 2 and "needs some text" in err
    for action in ("assign", "comment"):
        with pytest.raises(SystemExit) as done:
            main(["incidents", action, "--help"])
        assert done.value.code == 0
        said = " ".join(capsys.readouterr().out.split())  # argparse wraps the description
        assert "`assign ID OWNER`" in said and "`comment ID TEXT`" in said


# ---------------------------------------------------------------- REST

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("owner-rest") / "ws"
    with Workspace.open(folder) as ws:
        inc_id = ws.create_incident("payments timeouts", severity="sev2", services=["payments"]).id
    srv = start_server(folder)
    srv.incident_id = inc_id  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def test_assign_and_comment_over_rest(server):
    inc_id, url = server.incident_id, server.url
    assert httpx.post(f"{url}/incidents/{inc_id}/assign", json={"owner": "carol"}, timeout=60).status_code == 401
    assert httpx.post(f"{url}/incidents/{inc_id}/comment", json={"text": "x"}, timeout=60).status_code == 401
    done = httpx.post(f"{url}/incidents/{inc_id}/assign", json={"owner": "carol", "by": "dan"}, headers=server.auth, timeout=60)
    assert done.status_code == 200, done.text
    assert done.json()["owner"] == "carol"
    said = httpx.post(f"{url}/incidents/{inc_id[:8]}/comment", json={"text": "gateway p99 at 2.5 s", "by": "carol"},
                      headers=server.auth, timeout=60)
    assert said.status_code == 201, said.text
    assert said.json()["kind"] == "comment" and said.json()["incident_id"] == inc_id

    shown = httpx.get(f"{url}/incidents/{inc_id}", timeout=60).json()
    assert shown["owner"] == "carol"
    assert [(e["kind"], e["actor"], e["note"]) for e in shown["events"][1:]] == [
        ("assign", "dan", "carol"), ("comment", "carol", "gateway p99 at 2.5 s")]
    assert [i["owner"] for i in httpx.get(f"{url}/incidents", timeout=60).json() if i["id"] == inc_id] == ["carol"]

    missing = httpx.post(f"{url}/incidents/zzzzzzzz/comment", json={"text": "hi"}, headers=server.auth, timeout=60)
    assert missing.status_code == 404 and missing.json()["error"]
    blank = httpx.post(f"{url}/incidents/{inc_id}/comment", json={"text": "   "}, headers=server.auth, timeout=60)
    assert blank.status_code in (400, 422) and "text" in blank.json()["error"]
    paths = httpx.get(f"{url}/openapi.json", timeout=60).json()["paths"]
    assert {"/incidents/{incident_id}/assign", "/incidents/{incident_id}/comment"} <= set(paths)


# ---------------------------------------------------------------- bundles

def test_comments_travel_in_the_bundle_redacted_and_it_still_verifies_imports_and_replays(tmp_path):
    from crashlens_core.bundle import export_bundle, import_bundle, signing_key, verify_bundle
    from crashlens_core.bundle.replay import replay_bundle
    from crashlens_core.config import Settings
    from crashlens_core.ingest import ingest_file
    from crashlens_core.rca.engine import run_rca

    lines = []
    for i in range(120):
        svc = ("checkout", "payments")[i % 2]
        rec = {"ts": (START + timedelta(seconds=i)).isoformat() + "Z", "level": "INFO", "service": svc, "message": f"request {i} ok"}
        if i >= 60 and svc == "payments":
            rec.update(level="ERROR", message=f"charge for order o-{i} failed: connection pool exhausted")
        lines.append(json.dumps(rec))
    (tmp_path / "logs.jsonl").write_text("\n".join(lines) + "\n")
    secret = "password=hunter2secretvalue"
    with Workspace.open(tmp_path / "src") as ws:
        ingest_file(ws, "logs", str(tmp_path / "logs.jsonl"))
        inc = ws.create_incident("payments pool exhausted", window_start=START + timedelta(minutes=1),
                                 window_end=START + timedelta(minutes=2))
        run = run_rca(ws, Settings(workspace=ws.folder), inc.id, engine="offline")
        ws.assign_incident(inc.id, "oncall@example.com", actor="ana")
        ws.comment_incident(inc.id, f"the DB login was pasted here by mistake: {secret}", actor="ana")
        result = export_bundle(ws, None, inc.id, tmp_path / "b.tar")
        pub = signing_key(ws.folder).public_key()
    data = (tmp_path / "b.tar").read_bytes()
    assert b"hunter2secretvalue" not in data and b"oncall@example.com" not in data
    assert "incident.json" in result.to_json()["redaction"]["redacted_files"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        incident = json.loads(tf.extractfile("incident.json").read())
    comment = [e for e in incident["events"] if e["kind"] == "comment"]
    assert len(comment) == 1 and comment[0]["note"].startswith("the DB login was pasted here by mistake: ")
    assert "[REDACTED:" in comment[0]["note"] and "[REDACTED:" in incident["incident"]["owner"]

    assert verify_bundle(data, pub).ok
    with Workspace.open(tmp_path / "dst") as dst:
        assert import_bundle(dst, tmp_path / "b.tar", pub).imported
        got = dst.get_incident(inc.id)
        assert got.owner == incident["incident"]["owner"]
        kinds = [e["kind"] for e in dst.incident_events(inc.id)]
        assert kinds.count("comment") == 1 and kinds.count("assign") == 1
        with pytest.raises(InvalidTransition):
            dst.comment_incident(inc.id, "from the importing side")
        with pytest.raises(InvalidTransition):
            dst.assign_incident(inc.id, "someone")
    replayed = replay_bundle(tmp_path / "b.tar", pub, strict=True)
    assert replayed.identical and replayed.run_id == run.run_id


# ---------------------------------------------------------------- page

def test_incidents_page_assigns_comments_and_shows_the_thread_inert(app_env):
    with Workspace.open(app_env) as ws:
        inc = ws.create_incident("checkout 500s", services=["checkout"], window_start=START, window_end=START + timedelta(minutes=5))
    at = run_page("incidents", query={"incident": inc.id})
    at.session_state["inc_tab"] = "Comments & history"  # only the open tab is drawn
    at.run()
    labels = {w.label for w in at.text_input} | {w.label for w in at.text_area}
    assert {"Owner", "Comment", "Your name"} <= labels
    assert [m.value for m in at.metric if m.label == "Owner"] == ["nobody"]

    at.text_input(key="inc_actor").input("ana")
    at.text_input(key="inc_owner").input("bo")
    at.button(key="FormSubmitter:inc_assign_form-Assign").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric if m.label == "Owner"] == ["bo"]

    hostile = "<img src=x onerror=alert(1)> **not bold** [link](javascript:alert(2))\nsecond line"
    at.text_area(key="inc_comment").input(hostile)
    at.button(key="FormSubmitter:inc_comment_form-Add comment").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert hostile in [t.value for t in at.text]  # st.text: shown as written, never interpreted
    assert not any("onerror" in m.value for m in at.markdown)
    with Workspace.open(app_env, read_only=True) as ws:
        events = ws.incident_events(inc.id)
    assert [(e["kind"], e["actor"], e["note"]) for e in events[1:]] == [("assign", "ana", "bo"), ("comment", "ana", hostile)]
    captions = " ".join(c.value for c in at.caption)
    assert "ana assigned it to bo" in captions and "1 comment" in captions
