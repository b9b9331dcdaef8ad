"""Data builders shared by several test files (test files never import each other).

Bundles: ``seed`` makes an incident with events, artifacts, recorded responses and RCA runs.

Spans: ``span`` builds one native span record, ``load_spans`` ingests a list of them.
Repositories: ``git`` runs git with a clean identity, ``make_repo`` commits files into a new repo.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from crashlens_core.canonical import canonical_json
from crashlens_core.ingest import ingest_file
from crashlens_core.models import Evidence
from crashlens_core.store import Workspace

T0 = datetime(2024, 5, 14, 10, 0, 0)


def span(trace, sid, parent, service, name, start_ms, end_ms, status="ok", kind=None, attrs=None, base=T0):
    """One native span record; times are ms after ``base``."""
    rec = {"trace_id": trace, "span_id": sid, "parent_id": parent, "service": service, "name": name,
           "start_ts": (base + timedelta(milliseconds=start_ms)).isoformat() + "Z",
           "end_ts": (base + timedelta(milliseconds=end_ms)).isoformat() + "Z", "status": status}
    if kind:
        rec["kind"] = kind
    if attrs:
        rec["attributes"] = attrs
    return rec


def load_spans(ws: Workspace, tmp_path: Path, records: list[dict], name: str = "spans.jsonl") -> None:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = ingest_file(ws, "spans", str(path), "native")
    assert report.rejected == 0, report.errors
    assert report.loaded == len(records)


def git(cwd: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


START = datetime(2024, 5, 14, 10, 0, 0)


def seed(ws: Workspace, *, secret: bool = False, binary_size: int = 300, runs: int = 1) -> str:
    """An incident with events, an evidence artifact, recorded responses, a span payload and RCA runs."""
    title = "checkout 500s reported by ops@example.com" if secret else "checkout 500s after deploy"
    inc = ws.create_incident(title, severity="sev2", services=["payments", "cart"], window_start=START,
                             window_end=START.replace(minute=30), details={"order_id": "A-1001", "eta_delta_hours": 4.5,
                                                                           "problem_type": "payment_failed"}, actor="alice")
    ws.set_incident_status(inc.id, "investigating", actor="alice", note="paging payments on-call")
    items = [Evidence("log:1234", "log", "pool exhausted", "ERROR payments: connection pool exhausted (size=10)"
                      + (" password=hunter2secret" if secret else ""), 0.9, {"service": "payments"}),
             Evidence("tpl:T17", "tpl", "template", "connection pool exhausted (size=<*>)", 0.8, {"count": 212}),
             Evidence("span:4bf92f3577b34da6", "span", "charge failed", "payments.charge status=error 5003 ms", 0.7, {})]
    evidence = canonical_json({"incident_id": inc.id, "items": [e.to_json() for e in items]})
    ev_art = ws.put_artifact(evidence, "application/json", name="evidence.json")
    responses = []
    for attempt in (1, 2):
        body = json.dumps({"id": f"chatcmpl-{attempt}", "model": "llama-3.3-70b-versatile", "choices": [{"index": 0, "message": {
            "role": "assistant", "content": json.dumps({"root_cause": "pool exhausted", "attempt": attempt})}}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 300}}).encode()
        responses.append({"digest": ws.put_artifact(body, "application/json", name=f"response-{attempt}.json").digest, "attempt": attempt})
    blob = ws.put_artifact(bytes((i * 7 + 3) % 256 for i in range(binary_size)), "application/octet-stream", name="core.bin")
    with ws.transaction():
        ws.con.execute("INSERT INTO spans (trace_id, span_id, service, name, status, args_digest, incident_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "payments", "charge", "error", blob.digest, inc.id])
    for n in range(runs):
        report = {
            "schema": "crashlens.rca/v1", "summary": "Checkout failed because the payments DB pool ran dry.",
            "root_cause": "payments connection pool exhausted after the 14:02 deploy halved its size", "confidence": 0.82,
            "impact": "12% of checkouts failed for 28 minutes",
            "timeline": [{"ts": "2024-05-14T10:02:00", "event": "deploy of payments 3f2a1c", "evidence": ["span:4bf92f3577b34da6"]}],
            "claims": [{"text": "Pool exhaustion errors start with the deploy", "evidence": ["log:1234", "tpl:T17"]},
                       {"text": "Charge spans time out at 5 s", "evidence": ["span:4bf92f3577b34da6"]}],
            "suspects": [{"service": "payments", "component": "db pool", "location": "payments/db.py:get_conn:40", "score": 0.91,
                          "evidence": ["log:1234"], "commit": "3f2a1c", "why": "pool size changed"}],
            "remediation": ["Restore pool size to 20", "Alert on pool wait time"], "hypotheses": [], "rejected_claims": [],
            "suggested_patch": None, "engine": "groq", "model": "llama-3.3-70b-versatile", "prompt_tokens": 2400,
            "completion_tokens": 600 + n, "cost_usd": 0.001890, "notice": "", "incident_id": inc.id,
            "window": {"start": "2024-05-14T10:00:00", "end": "2024-05-14T10:30:00"}, "baseline": {},
            "evidence_digest": ev_art.digest, "inputs": {"evidence": {e.id: "0" * 64 for e in items}, "responses": responses},
        }
        if secret:
            report["claims"][0]["text"] += " (seen from 8.8.8.8)"
        with ws.transaction():
            ws.con.execute(
                """INSERT INTO rca_runs (id, incident_id, engine, model, started_ts, finished_ts, prompt_tokens, completion_tokens,
                       cost_usd, evidence_digest, report, status, notice, evidence_ts, window_start, window_end, evidence_artifact,
                       responses, actor) VALUES (?, ?, 'groq', 'llama-3.3-70b-versatile', ?, ?, 2400, ?, 0.00189, ?, ?, 'done', '', ?, ?, ?, ?, ?, 'alice')""",
                [str(uuid.uuid4()), inc.id, START.replace(hour=11, minute=n), START.replace(hour=11, minute=n, second=40), 600 + n,
                 ev_art.digest, json.dumps(report, sort_keys=True), START.replace(hour=11), START, START.replace(minute=30),
                 ev_art.digest, json.dumps(responses)])
    return inc.id
