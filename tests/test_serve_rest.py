"""The rest of the REST API on `crashlens serve` (issue 16): create/approve, artifacts, replay, bundles, logs, /docs.

Real parts: the server is the `crashlens serve` command on a free loopback port over a real
DuckDB workspace built here (420 generated log lines and an incident); a bundle exported over
HTTP is verified with the same core the CLI's `bundle verify` uses; answers are compared with
the core's own calls on the same workspace.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crashlens_core.bundle import public_key_pem, verify_bundle, workspace_public_key
from crashlens_core.store import Workspace
from crashlens_core.store.logquery import group_logs, parse_log_query

from .rca_fixtures import build_workspace
from .serve_support import start_server

TIMEOUT = 120.0  # the first RCA / export of a fresh workspace on a loaded 2-core machine can take a while
NOTE = "a plain-text note kept as an artifact\n".encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rest") / "ws"
    inc_id = build_workspace(folder)
    with Workspace.open(folder) as ws:
        ws.put_artifact(NOTE, "text/plain", name="note.txt")
    srv = start_server(folder)
    srv.incident_id = inc_id  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def post(server, path: str, auth: bool = True, **kw) -> httpx.Response:
    return httpx.post(server.url + path, headers={**(server.auth if auth else {}), **kw.pop("headers", {})},
                      timeout=TIMEOUT, **kw)


def get(server, path: str, **kw) -> httpx.Response:
    return httpx.get(server.url + path, timeout=TIMEOUT, **kw)


# ---------------------------------------------------------------- incidents

def test_create_an_incident_over_rest(server):
    body = {"title": "cart slow", "severity": "sev2", "services": ["cart"], "from": "2024-05-14T10:00:00Z",
            "to": "2024-05-14T10:05:00Z", "details": {"order_id": "A-7"}, "by": "ana"}
    assert post(server, "/incidents", auth=False, json=body).status_code == 401
    made = post(server, "/incidents", json=body)
    assert made.status_code == 201, made.text
    inc = made.json()
    assert inc["title"] == "cart slow" and inc["severity"] == "sev2" and inc["services"] == ["cart"]
    assert inc["details"] == {"order_id": "A-7"} and inc["window_start"].startswith("2024-05-14T10:00")
    assert get(server, f"/incidents/{inc['id']}").json()["title"] == "cart slow"  # it is in the workspace

    assert post(server, "/incidents", json={"severity": "sev2"}).status_code == 422  # no title
    bad_time = post(server, "/incidents", json={"title": "x", "from": "yesterday-ish"})
    assert bad_time.status_code == 400 and "from" in bad_time.json()["error"]


def test_approve_needs_a_name_and_the_right_status(server):
    made = post(server, "/incidents", json={"title": "to approve", "by": "ana"}).json()
    assert post(server, f"/incidents/{made['id']}/approve", json={}).status_code == 422  # `by` is required
    assert post(server, f"/incidents/{made['id']}/approve", auth=False, json={"by": "bo"}).status_code == 401
    assert post(server, "/incidents/ffffffff/approve", json={"by": "bo"}).status_code == 404
    assert post(server, f"/incidents/{made['id']}/approve", json={"by": "bo"}).status_code == 409  # still open
    for status in ("investigating", "rca_ready"):
        assert post(server, f"/incidents/{made['id']}/status", json={"status": status, "by": "ana"}).status_code == 200
    approved = post(server, f"/incidents/{made['id']}/approve", json={"by": "bo", "note": "looks right"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    events = get(server, f"/incidents/{made['id']}").json()["events"]
    assert any("bo" in json.dumps(e) and "approved" in json.dumps(e) for e in events)


# ---------------------------------------------------------------- artifacts

def test_artifacts_by_digest(server):
    digest = hashlib.sha256(NOTE).hexdigest()
    got = get(server, f"/artifacts/{digest}")
    assert got.status_code == 200 and got.content == NOTE
    assert got.headers["content-type"].startswith("text/plain")
    assert get(server, f"/artifacts/{'0' * 64}").status_code == 404
    assert get(server, "/artifacts/not-a-digest").status_code == 422
    assert get(server, f"/artifacts/{digest.upper()}").status_code == 422


# ---------------------------------------------------------------- RCA replay and bundles

@pytest.fixture(scope="module")
def run_id(server):
    run = post(server, f"/rca/{server.incident_id}", json={"by": "ana"})
    assert run.status_code == 200, run.text
    return run.json()["run_id"]


def test_strict_replay_over_rest(server, run_id):
    assert post(server, f"/rca/{run_id}/replay", auth=False).status_code == 401
    replayed = post(server, f"/rca/{run_id}/replay")
    assert replayed.status_code == 200, replayed.text
    out = replayed.json()
    assert out["ok"] is True and out["diff"] == [] and out["identical"] is True and out["run_id"] == run_id
    assert out["report"]["root_cause"]
    assert post(server, "/rca/ffffffff-not-a-run/replay").status_code == 404


def test_a_bundle_exported_over_http_verifies_with_the_cli_core(server, run_id, tmp_path):
    assert post(server, f"/incidents/{server.incident_id}/bundle", auth=False).status_code == 401
    assert post(server, "/incidents/ffffffff/bundle").status_code == 404
    exported = post(server, f"/incidents/{server.incident_id}/bundle")
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/x-tar"
    assert re.search(r'attachment; filename="incident-[0-9a-f-]+\.bundle\.tar"', exported.headers["content-disposition"])
    summary = json.loads(exported.headers["x-crashlens-export"])
    assert summary["incident_id"] == server.incident_id and summary["runs"] >= 1
    path = tmp_path / "over-http.bundle.tar"
    path.write_bytes(exported.content)

    key = workspace_public_key(server.workspace)
    verified = verify_bundle(str(path), key)  # the call `crashlens bundle verify FILE` makes
    assert verified.ok, verified.failure
    assert verified.to_json()["incident_id"] == server.incident_id

    # and over HTTP: the workspace's own key by default, a pinned key in the header
    answer = post(server, "/bundles/verify", content=exported.content, headers={"Content-Type": "application/x-tar"})
    assert answer.status_code == 200 and answer.json() == verified.to_json()
    pem = base64.b64encode(public_key_pem(key).encode()).decode()
    assert post(server, "/bundles/verify", content=exported.content, headers={"X-CrashLens-Public-Key": pem}).json()["ok"]
    stranger = base64.b64encode(public_key_pem(Ed25519PrivateKey.generate().public_key()).encode()).decode()
    wrong_key = post(server, "/bundles/verify", content=exported.content, headers={"X-CrashLens-Public-Key": stranger}).json()
    assert wrong_key["ok"] is False and wrong_key["check"]
    damaged = bytearray(exported.content)
    damaged[len(damaged) // 2] ^= 0xFF
    assert post(server, "/bundles/verify", content=bytes(damaged)).json()["ok"] is False

    assert post(server, "/bundles/verify", auth=False, content=exported.content).status_code == 401
    assert post(server, "/bundles/verify", content=b"").status_code == 400
    assert post(server, "/bundles/verify", content=exported.content, headers={"X-CrashLens-Public-Key": "%%%"}).status_code == 400


# ---------------------------------------------------------------- logs

def test_log_search_and_stats_answer_what_the_core_counts(server):
    with Workspace.open(server.workspace, read_only=True) as ws:
        expected = group_logs(ws, parse_log_query("level=ERROR"), ("service",))
    stats = get(server, "/logs/stats", params={"query": "level=ERROR", "by": "service"})
    assert stats.status_code == 200, stats.text
    doc = stats.json()
    assert doc["total"] == expected["total"] > 0 and doc["groups"] == expected["groups"] and doc["by"] == ["service"]

    found = get(server, "/logs/search", params={"q": "level=ERROR", "service": "payments", "limit": 5,
                                                "from": "2024-05-14T10:00:00Z", "to": "2024-05-14T11:00:00Z"}).json()
    assert len(found["lines"]) == 5 and found["truncated"] is True
    assert {r["service"] for r in found["lines"]} == {"payments"} and {r["level"] for r in found["lines"]} == {"ERROR"}
    payments = next(g["count"] for g in expected["groups"] if g["service"] == "payments")
    assert found["total"] == payments

    assert get(server, "/logs/search", params={"q": "level=ERROR", "limit": 0}).status_code == 422
    assert get(server, "/logs/search", params={"from": "2024-05-14T11:00:00Z", "to": "2024-05-14T10:00:00Z"}).status_code == 400
    assert get(server, "/logs/stats", params={"query": 'message="unclosed'}).status_code == 400


# ---------------------------------------------------------------- docs

def test_docs_are_self_contained_and_list_every_route(server):
    page = get(server, "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)  # nothing fetched from elsewhere
    assert "<script" not in text.lower()
    spec = get(server, "/openapi.json").json()
    for path in ("/incidents", "/incidents/{incident_id}/approve", "/artifacts/{digest}", "/rca/{run_id}/replay",
                 "/incidents/{incident_id}/bundle", "/bundles/verify", "/logs/search", "/logs/stats"):
        assert path in spec["paths"] and f"<code>{path}</code>" in text
    assert "strict replay" in text and "/redoc" not in spec["paths"]
    assert get(server, "/redoc").status_code == 404


def test_strict_replay_answers_the_difference_when_a_recorded_input_changed(server, run_id):
    """Last in this module: it edits the run's recorded evidence on disk (and puts it back)."""
    run = get(server, f"/rca/{run_id}").json()
    with Workspace.open(server.workspace, read_only=True) as ws:
        path = ws.artifact_path(run["evidence_artifact"])
    original = path.read_bytes()
    evidence = json.loads(original)
    item = evidence["items"][0]
    item["text"] = item["text"] + " (edited after the run)"
    try:
        path.write_bytes(json.dumps(evidence).encode())
        out = post(server, f"/rca/{run_id}/replay")
        assert out.status_code == 200, out.text
        doc = out.json()
        assert doc["ok"] is False and doc["identical"] is False
        assert any(item["id"] in d and "differs" in d for d in doc["diff"]), doc
    finally:
        path.write_bytes(original)
    assert post(server, f"/rca/{run_id}/replay").json()["ok"] is True
