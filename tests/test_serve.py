"""`crashlens serve`: tokens, caps, the REST API, and durability (kill -9 after a 2xx loses nothing).

Real parts: the server runs as the `crashlens serve` command in a child process on a free
loopback port; another real process holds the workspace where a test needs it busy; the
workspace is a real DuckDB file, read back with the core's own calls.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import time
from datetime import datetime

import httpx
import pytest

from crashlens_core.config import Settings
from crashlens_core.serve.server import workspace_token
from crashlens_core.serve.spool import Spool, ingest_batch
from crashlens_core.store import Workspace

from .serve_support import hold_workspace, release, start_server

T0 = 1715680800  # 2024-05-14 10:00:00 UTC

# httpx waits 5 s by default; the first write of a fresh workspace on a loaded 2-core machine can take longer
TIMEOUT = 60.0


def otlp_logs(messages: list[str], service: str = "checkout", start: int = T0, bad: int = 0) -> dict:
    """An OTLP JSON logs export request; ``bad`` records without a time are added at the end."""
    records = [{"timeUnixNano": str((start + i) * 10**9), "severityText": "ERROR" if "fail" in m else "INFO",
                "body": {"stringValue": m}, "attributes": [{"key": "order", "value": {"intValue": str(i)}}]}
               for i, m in enumerate(messages)]
    records += [{"body": {"stringValue": f"no time {k}"}} for k in range(bad)]
    return {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                              "scopeLogs": [{"logRecords": records}]}]}


def log_messages(folder) -> list[tuple[str, str]]:
    with Workspace.open(folder, read_only=True) as ws:
        return ws.con.execute("SELECT service, message FROM logs ORDER BY ts, message").fetchall()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve") / "ws"
    with Workspace.open(folder) as ws:
        ws.create_incident("checkout errors", severity="sev2", services=["checkout"],
                           window_start=datetime(2024, 5, 14, 10, 0), window_end=datetime(2024, 5, 14, 10, 5))
    srv = start_server(folder)
    yield srv
    srv.stop()


# ---------------------------------------------------------------- guards

def test_writes_need_the_bearer_token_and_reads_do_not(server):
    body = json.dumps(otlp_logs(["hello"])).encode()
    headers = {"Content-Type": "application/json"}
    assert httpx.post(timeout=TIMEOUT, url=server.url + "/v1/logs", content=body, headers=headers).status_code == 401
    wrong = httpx.post(timeout=TIMEOUT, url=server.url + "/v1/logs", content=body, headers={**headers, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert "hint" in wrong.json()
    assert httpx.post(timeout=TIMEOUT, url=server.url + "/incidents/x/status", json={"status": "resolved"}).status_code == 401
    assert httpx.get(timeout=TIMEOUT, url=server.url + "/incidents").status_code == 200
    assert server.token not in server.log.read_text()  # never logged


def test_a_host_other_than_the_loopback_is_refused(server):
    r = httpx.get(timeout=TIMEOUT, url=server.url + "/incidents", headers={"Host": "attacker.example:8600"})
    assert r.status_code == 421
    assert httpx.get(timeout=TIMEOUT, url=server.url + "/incidents", headers={"Host": "localhost"}).status_code == 200


def test_undecodable_bodies_are_refused_and_nothing_is_kept(server):
    for body, ctype, enc, why in ((b"\xff\x00garbage", "application/x-protobuf", None, "protobuf"),
                                  (b"{not json", "application/json", None, "JSON"),
                                  (b"\x1f\x8b\x08\x00rest", "application/json", "gzip", "gzip"),
                                  (b'{"resourceSpans": []}'[:-1], "text/plain", None, "Content-Type")):
        headers = {**server.auth, "Content-Type": ctype, **({"Content-Encoding": enc} if enc else {})}
        r = httpx.post(timeout=TIMEOUT, url=server.url + "/v1/logs", content=body, headers=headers)
        assert r.status_code == 400, (why, r.text)
        assert why in r.json()["error"]
    assert not list((server.workspace / "spool").glob("req-*"))


def test_a_body_over_the_cap_is_refused_before_and_after_gzip(tmp_path):
    srv = start_server(tmp_path / "ws", "--max-body-mb", "1")
    try:
        big = json.dumps(otlp_logs(["x" * 1000] * 1200)).encode()
        assert len(big) > 1 << 20
        headers = {**srv.auth, "Content-Type": "application/json"}
        assert httpx.post(timeout=TIMEOUT, url=srv.url + "/v1/logs", content=big, headers=headers).status_code == 413
        # a small gzip body that inflates past the cap (a zip bomb) is refused too
        small = gzip.compress(big)
        assert len(small) < 1 << 20
        r = httpx.post(timeout=TIMEOUT, url=srv.url + "/v1/logs", content=small, headers={**headers, "Content-Encoding": "gzip"})
        assert r.status_code == 413 and "inflates" in r.json()["error"]
    finally:
        srv.stop()


def test_the_generated_token_file_is_private_and_reused(tmp_path):
    token, path, created = workspace_token(tmp_path)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600 and len(token) >= 32
    assert workspace_token(tmp_path) == (token, path, False)
    os.chmod(path, 0o644)
    with pytest.raises(Exception, match="can be read by other users"):
        workspace_token(tmp_path)


def test_start_up_mistakes_are_one_line_user_errors(tmp_path):
    import socket
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "crashlens_core", "serve", "--workspace", str(tmp_path / "ws"), *args],
                              capture_output=True, text=True, timeout=120)

    short = run("--token", "abc", "--port", "0")
    assert short.returncode == 2 and "too short" in short.stderr and len(short.stderr.strip().splitlines()) == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run("--port", str(taken.getsockname()[1]))
    assert busy.returncode == 2 and "cannot listen on 127.0.0.1" in busy.stderr and "--port" in busy.stderr


# ---------------------------------------------------------------- OTLP JSON answered per item

def test_json_logs_are_ingested_and_rejects_answered_per_item(server):
    doc = otlp_logs(["payment failed for order", "order placed"], service="payments", bad=1)
    r = httpx.post(timeout=TIMEOUT, url=server.url + "/v1/logs", json=doc, headers=server.auth)
    assert r.status_code == 200, r.text
    part = r.json()["partialSuccess"]
    assert part["rejectedLogRecords"] == "1"
    assert part["errorMessage"] == "logRecord 2 of resourceLogs[0].scopeLogs[0]: missing or bad timeUnixNano"
    rows = [m for m in log_messages_while_serving(server) if m[0] == "payments"]
    assert rows == [("payments", "payment failed for order"), ("payments", "order placed")]
    deadline = time.monotonic() + 30  # templates follow the write, as after `crashlens ingest`
    while server.health()["signals_due"] and time.monotonic() < deadline:
        time.sleep(0.1)
    with Workspace.open(server.workspace, read_only=True) as ws:
        unlabelled = ws.con.execute("SELECT count(*) FROM logs WHERE template_id IS NULL").fetchone()[0]
    assert unlabelled == 0


def log_messages_while_serving(server) -> list[tuple[str, str]]:
    """Reading the workspace from another process while the server runs: it is free between batches."""
    return log_messages(server.workspace)


def test_errors_of_merged_requests_go_back_to_the_request_they_came_from(tmp_path):
    """Two requests in one batch: each hears only its own rejected item, with its own resource index."""
    spool = Spool(tmp_path / "ws" / "spool")
    a, b = spool.new_id(), spool.new_id()
    spool.put(a, "logs", otlp_logs(["a fine"], bad=1))
    two = otlp_logs(["b fine"], service="other")
    two["resourceLogs"] += otlp_logs([], service="third", bad=2)["resourceLogs"]
    spool.put(b, "logs", two)
    batch = spool.make_batch("logs", spool.pending("logs"))
    with Workspace.open(tmp_path / "ws") as ws:
        report, results = ingest_batch(ws, batch, Settings(workspace=tmp_path / "ws"))
    assert (report.loaded, report.rejected) == (2, 3)
    assert [(r.request_id, r.items, r.rejected) for r in results] == [(a, 2, 1), (b, 3, 2)]
    assert results[0].errors == ["logRecord 1 of resourceLogs[0].scopeLogs[0]: missing or bad timeUnixNano"]
    assert results[1].errors == [f"logRecord {k} of resourceLogs[1].scopeLogs[0]: missing or bad timeUnixNano" for k in (0, 1)]


# ---------------------------------------------------------------- durability

def test_a_batch_left_by_a_crash_is_written_once(tmp_path):
    """Crash after the batch file was written, then again after its commit: the records land once."""
    folder = tmp_path / "ws"
    spool = Spool(folder / "spool")
    for text in ("one", "two"):
        spool.put(spool.new_id(), "logs", otlp_logs([text]))
    batch = spool.make_batch("logs", spool.pending("logs"))
    assert not spool.pending() and batch.path.exists()
    with Workspace.open(folder) as ws:  # committed, then "crashed" before the batch file was removed
        ingest_batch(ws, batch, Settings(workspace=folder))
    again = Spool(folder / "spool").recover()
    assert [b.requests for b in again] == [batch.requests]
    with Workspace.open(folder) as ws:
        report, _ = ingest_batch(ws, again[0], Settings(workspace=folder))
    assert report.skipped and report.loaded == 0
    assert log_messages(folder) == [("checkout", "one"), ("checkout", "two")]


def test_kill_9_after_a_2xx_loses_nothing(tmp_path):
    """The workspace is busy (another process writes it), so the server only spools; kill -9; restart."""
    folder = tmp_path / "ws"
    with Workspace.open(folder):
        pass
    srv = start_server(folder, "--ack-wait", "0.3")
    holder = hold_workspace(folder)
    try:
        answers = [httpx.post(timeout=TIMEOUT, url=srv.url + "/v1/logs", json=otlp_logs([f"kept {i}"], start=T0 + i), headers=srv.auth)
                   for i in range(3)]
        assert [r.status_code for r in answers] == [202, 202, 202]
        assert srv.health()["writer"]["batches"] == 0
        srv.kill9()
    finally:
        release(holder)
    assert log_messages(folder) == []  # nothing was written before the kill
    srv = start_server(folder)
    try:
        srv.wait_written()
    finally:
        srv.stop()
    assert log_messages(folder) == [("checkout", f"kept {i}") for i in range(3)]
    assert not list((folder / "spool").glob("*.json"))


def test_a_full_queue_answers_429_with_retry_after(tmp_path):
    from fastapi.testclient import TestClient

    from crashlens_core.serve.app import ServeOptions, create_app

    folder = tmp_path / "ws"
    with Workspace.open(folder):
        pass
    holder = hold_workspace(folder)
    try:
        app = create_app(Settings(workspace=folder, lock_timeout_s=0.1),
                         ServeOptions(token="t" * 20, max_queue_requests=2, ack_wait_s=0.05))
        with TestClient(app.state.asgi, base_url="http://127.0.0.1") as client:
            auth = {"Authorization": "Bearer " + "t" * 20}
            codes = [client.post("/v1/logs", json=otlp_logs([f"m{i}"]), headers=auth) for i in range(3)]
            assert [r.status_code for r in codes] == [202, 202, 429]
            assert codes[2].headers["retry-after"] == "2"
    finally:
        release(holder)
    assert len(list((folder / "spool").glob("req-*.json"))) == 2  # the two accepted wait for the next start


# ---------------------------------------------------------------- REST over the core calls

def test_incidents_status_and_rca_over_rest(server):
    listed = httpx.get(timeout=TIMEOUT, url=server.url + "/incidents").json()
    assert [i["title"] for i in listed] == ["checkout errors"]
    inc_id = listed[0]["id"]
    shown = httpx.get(timeout=TIMEOUT, url=server.url + f"/incidents/{inc_id[:8]}").json()
    assert shown["id"] == inc_id and isinstance(shown["events"], list)
    assert httpx.get(timeout=TIMEOUT, url=server.url + "/incidents/ffffffff").status_code == 404

    moved = httpx.post(timeout=TIMEOUT, url=server.url + f"/incidents/{inc_id}/status", json={"status": "investigating", "by": "ana"},
                       headers=server.auth)
    assert moved.status_code == 200 and moved.json()["status"] == "investigating"
    refused = httpx.post(timeout=TIMEOUT, url=server.url + f"/incidents/{inc_id}/status", json={"status": "approved"}, headers=server.auth)
    assert refused.status_code == 409 and refused.json()["hint"]

    assert httpx.get(timeout=TIMEOUT, url=server.url + f"/rca/{inc_id}").status_code == 404  # no run yet
    run = httpx.post(server.url + f"/rca/{inc_id}", json={"by": "ana"}, headers=server.auth, timeout=120)
    assert run.status_code == 200, run.text
    report = run.json()
    assert report["engine"] == "offline" and report["root_cause"] and "claims" in report
    got = httpx.get(timeout=TIMEOUT, url=server.url + f"/rca/{inc_id}").json()
    assert got["id"] == report["run_id"] and got["report"]["root_cause"] == report["root_cause"]
    assert httpx.get(timeout=TIMEOUT, url=server.url + f"/rca/{report['run_id']}").json()["id"] == report["run_id"]


def test_openapi_lists_the_routes(server):
    spec = httpx.get(timeout=TIMEOUT, url=server.url + "/openapi.json").json()
    assert {"/v1/logs", "/v1/traces", "/v1/metrics", "/incidents", "/incidents/{incident_id}",
            "/incidents/{incident_id}/status", "/rca/{incident_id}"} <= set(spec["paths"])
    assert httpx.get(timeout=TIMEOUT, url=server.url + "/docs").status_code == 200


@pytest.mark.parametrize("extra", [(), ("--ack-wait", "0")], ids=["answered-when-written", "answered-when-spooled"])
def test_the_cli_and_app_keep_the_workspace_under_sustained_load(tmp_path, extra):
    """While clients post without pause, another process opens the workspace again and again."""
    import subprocess
    import sys
    import threading

    folder = tmp_path / "ws"
    srv = start_server(folder, *extra)
    stop = threading.Event()
    sent = []

    def flood() -> None:
        with httpx.Client(headers=srv.auth, timeout=60) as client:
            i = 0
            while not stop.is_set():
                r = client.post(srv.url + "/v1/logs", json=otlp_logs([f"load {i}.{k}" for k in range(200)], start=T0 + i))
                sent.append(r.status_code)
                if r.status_code == 429:  # as an exporter does: wait as told
                    time.sleep(float(r.headers["retry-after"]))
                i += 1

    threads = [threading.Thread(target=flood) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        code = ("import sys, time\n"
                "from crashlens_core.store import Workspace\n"
                "for _ in range(5):\n"
                f"    with Workspace.open({str(folder)!r}, read_only=True, lock_timeout=3.0) as ws:\n"
                "        ws.list_incidents()\n"
                "    time.sleep(0.2)\n"
                "print('ok')\n")
        reader = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        srv.stop()
    assert reader.returncode == 0 and reader.stdout.strip() == "ok", reader.stderr[-1500:]
    acknowledged = [c for c in sent if c in (200, 202)]
    assert len(acknowledged) >= 3 and set(sent) <= {200, 202, 429}
    with Workspace.open(folder, read_only=True) as ws:
        assert ws.con.execute("SELECT count(*) FROM logs").fetchone()[0] == 200 * len(acknowledged)
