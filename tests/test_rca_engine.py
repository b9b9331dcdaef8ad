"""RCA without a network: evidence assembly (ids, digests, budget, redaction), the offline analyzer,
recorded runs, strict replay, the CLI (rca, replay, ask)."""

from __future__ import annotations

import json

import pytest

from crashlens_core.config import Settings
from crashlens_core.errors import InputError
from crashlens_core.rca.engine import load_run, run_rca
from crashlens_core.rca.evidence import assemble_evidence, estimate_tokens
from crashlens_core.rca.replay import ReplayMismatch, export_record, replay, replay_record
from crashlens_core.rca.schema import ReportInvalid, canonical_json, validate_report
from crashlens_core.store import Workspace
from tests.conftest import run_cli
from tests.rca_fixtures import INJECTION, SECRETS, WINDOW, build_workspace


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rca") / "ws"
    return folder, build_workspace(folder)


def test_evidence_ids_and_digests_are_stable_and_redacted(shop):
    folder, inc_id = shop
    with Workspace.open(folder) as ws:
        a = assemble_evidence(ws, Settings(), inc_id)
        b = assemble_evidence(ws, Settings(), inc_id)
    assert a.ids() == b.ids() and a.digest == b.digest and a.item_digests() == b.item_digests()
    kinds = {i.split(":", 1)[0] for i in a.ids()}
    assert {"log", "dim"} <= kinds, a.ids()
    first_error = next(e for e in a.items if e.data.get("signal") == "error_log" and e.data["service"] == "payments")
    assert first_error.data["location"].endswith("payments.py:_charge:64")
    assert first_error.data["context_ids"], "the error line comes with the lines before it"
    assert a.redacted and a.redactions.get("groq_key", 0) >= 1
    blob = a.canonical().decode()
    for secret in SECRETS:
        assert secret not in blob
    assert "[REDACTED:groq_key#1]" in blob
    # every collector runs (no import guard turns a missing module into a quiet skip)
    assert {name: state.split(":")[0] for name, state in a.collectors.items()} == {name: "ok" for name in a.collectors}
    from crashlens_core.rca.evidence import COLLECTORS

    assert list(a.collectors) == [name for name, _ in COLLECTORS]


def test_budget_drops_whole_items_never_cuts(shop):
    folder, inc_id = shop
    with Workspace.open(folder) as ws:
        full = assemble_evidence(ws, Settings(), inc_id, budget_tokens=100_000)
        small = assemble_evidence(ws, Settings(), inc_id, budget_tokens=600)
    assert small.used_tokens <= 600 and small.dropped
    by_id = {e.id: e for e in full.items}
    for item in small.items:  # kept items are byte-for-byte the full items
        assert canonical_json(item.to_json()) == canonical_json(by_id[item.id].to_json())
    assert {d["id"] for d in small.dropped} | set(small.ids()) == set(full.ids())
    assert sum(estimate_tokens(e) for e in small.items) == small.used_tokens


def test_window_errors_are_clear(shop):
    folder, _ = shop
    with Workspace.open(folder) as ws, pytest.raises(InputError, match="ends before"):
        assemble_evidence(ws, Settings(), window_start=WINDOW[1], window_end=WINDOW[0])


def test_validator_rejects_unknown_ids_and_demotes_uncited_claims():
    data = {"summary": "s", "root_cause": "r", "confidence": 3, "remediation": ["x"],
            "claims": [{"text": "good", "evidence": ["log:1"]}, {"text": "invented", "evidence": ["log:999"]}, {"text": "bare"}],
            "suspects": [{"service": "a", "evidence": ["log:999"]}, {"service": "b", "evidence": ["log:1", "log:2"]}]}
    report = validate_report(data, ["log:1", "log:2"])
    assert [c.text for c in report.claims] == ["good"] and report.confidence == 1.0
    assert report.rejected_claims[0]["text"] == "invented"
    assert any(h.text == "bare" for h in report.hypotheses)
    assert [s.service for s in report.suspects] == ["b"]
    with pytest.raises(ReportInvalid):
        validate_report(dict(data, claims=[{"text": "invented", "evidence": ["log:999"]}]), ["log:1"])
    with pytest.raises(ReportInvalid):
        validate_report(dict(data, summary=7), ["log:1"])


def test_offline_run_is_cited_recorded_and_replays_byte_identical(shop):
    folder, inc_id = shop
    with Workspace.open(folder) as ws:
        run = run_rca(ws, Settings(), inc_id, engine="offline")
        report = run.report
        assert report.engine == "offline" and report.suspects[0].service == "payments"
        assert "payments.py" in report.suspects[0].location
        assert report.claims and all(set(c.evidence) <= set(run.evidence.ids()) for c in report.claims)
        assert report.cited_ids() <= set(run.evidence.ids())
        assert any(h.status == "rejected" for h in report.hypotheses) or len(report.suspects) == 1
        assert ws.get_incident(inc_id).status == "rca_ready"
        row, stored, evidence = load_run(ws, run.run_id)
        assert row["status"] == "done" and row["evidence_digest"] == run.evidence.digest and row["evidence_ts"] is not None
        assert canonical_json(stored.to_json()) == canonical_json(report.to_json())
        assert ws.get_artifact(row["evidence_artifact"]).pii_masked
        result = replay(ws, run.run_id, strict=True)
        assert result.identical and canonical_json(result.report.to_json()) == canonical_json(report.to_json())


def test_strict_replay_names_a_tampered_item(shop):
    folder, inc_id = shop
    with Workspace.open(folder) as ws:
        run = run_rca(ws, Settings(), inc_id, engine="offline")
        record = export_record(ws, run.run_id)
        victim = record["evidence"]["items"][1]["id"]
        record["evidence"]["items"][1]["text"] += " (edited)"
        with pytest.raises(ReplayMismatch, match=f"evidence item {victim} differs"):
            replay_record(record, strict=True)
        loose = replay_record(record, strict=False)
        assert any(victim in p for p in loose.problems)
        # The same through the workspace: the evidence artifact's file is changed on disk.
        digest = load_run(ws, run.run_id)[0]["evidence_artifact"]
        path = folder / "artifacts" / digest[:2] / digest
        original = path.read_bytes()
        data = json.loads(original)
        victim = data["items"][0]["id"]
        data["items"][0]["score"] = 999.0
        path.write_bytes(json.dumps(data).encode())
        try:
            with pytest.raises(ReplayMismatch, match=f"evidence item {victim} differs"):
                replay(ws, run.run_id, strict=True)
        finally:
            path.write_bytes(original)  # content-addressed: later runs of the same evidence reuse this file


def test_prompt_injection_line_is_just_evidence_offline(shop):
    folder, inc_id = shop
    with Workspace.open(folder) as ws:
        run = run_rca(ws, Settings(), inc_id, engine="offline")
    texts = " ".join(e.text for e in run.evidence.items)
    assert "Ignore previous instructions" in texts  # it is data, and shown as data
    assert "log:999999" not in run.report.cited_ids()
    assert run.report.to_json()["schema"] == "crashlens.rca/v1"
    assert INJECTION[:20] not in run.report.root_cause


def test_cli_rca_replay_ask(shop, tmp_path):
    folder, inc_id = shop
    res = run_cli("rca", inc_id[:8], "--json", workspace=folder)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in ("root_cause", "suspects", "claims", "remediation", "engine", "model", "prompt_tokens", "completion_tokens", "cost_usd"):
        assert key in out
    assert out["suspects"][0]["service"] == "payments" and set(out["suspects"][0]) >= {"service", "component", "location", "score", "evidence"}
    res = run_cli("replay", out["run_id"], "--strict", "--json", workspace=folder)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["identical"] is True
    record = tmp_path / "run.json"
    assert run_cli("replay", out["run_id"], "--export", str(record), workspace=folder).returncode == 0
    data = json.loads(record.read_text())
    data["evidence"]["items"][0]["text"] = "changed"
    record.write_text(json.dumps(data))
    res = run_cli("replay", str(record), "--strict", workspace=folder)
    assert res.returncode == 2 and f"evidence item {data['evidence']['items'][0]['id']}" in res.stderr
    res = run_cli("rca", "--from", "2024-05-14T10:08:00", "--to", "2024-05-14T10:05:00", workspace=folder)
    assert res.returncode == 2 and "hint" in res.stderr
    res = run_cli("ask", "what errors hit payments after 10:06?", "--json", workspace=folder)
    assert res.returncode == 0, res.stderr
    ans = json.loads(res.stdout)
    assert ans["citations"] and all(c.startswith("log:") for c in ans["citations"])
    assert all(e["data"]["service"] == "payments" and e["data"]["ts"] >= "2024-05-14T10:06" for e in ans["evidence"])
    for cmd in ("rca", "replay", "ask"):
        assert run_cli(cmd, "--help").returncode == 0


def test_replay_from_a_signed_bundle(shop, tmp_path):
    from crashlens_core.bundle import export_bundle, workspace_public_key
    from crashlens_core.bundle.replay import replay_bundle

    folder, inc_id = shop
    with Workspace.open(folder) as ws:
        run = run_rca(ws, Settings(), inc_id, engine="offline")
        export_bundle(ws, Settings(), inc_id, tmp_path / "inc.bundle.tar")
    key = workspace_public_key(folder)
    result = replay_bundle(tmp_path / "inc.bundle.tar", key, run_id=run.run_id, strict=True)
    assert result.identical and result.report.root_cause == run.report.root_cause


def test_ask_reads_clock_times_on_the_incident_day_and_refuses_unknown_services(tmp_path):
    """Two days of data: 'after 10:06' means the incident's day, and a service nobody has is said to be unknown."""
    import json as _json

    from crashlens_core.config import Settings
    from crashlens_core.ingest import ingest_file
    from crashlens_core.rca.ask import ask
    from crashlens_core.store import Workspace

    rows = []
    for day in ("2024-05-14", "2024-05-15"):
        rows += [{"ts": f"{day}T10:{m:02d}:00Z", "level": "error", "service": "payments",
                  "msg": f"charge declined on {day} minute {m}"} for m in range(0, 12)]
        rows += [{"ts": f"{day}T10:{m:02d}:00Z", "level": "error", "service": "payments",
                  "msg": "charge declined on retry"} for m in range(0, 12)]  # one line repeated: cited once
    path = tmp_path / "two-days.jsonl"
    path.write_text("\n".join(_json.dumps(r) for r in rows) + "\n")
    from datetime import datetime

    with Workspace.open(tmp_path / "ws") as ws:
        ingest_file(ws, "logs", str(path))
        window = (datetime(2024, 5, 15, 10, 0), datetime(2024, 5, 15, 10, 15))
        answer = ask(ws, Settings(), "what errors hit payments after 10:06?", around=window, k=30)
        assert answer.filters["start"] == "2024-05-15T10:06:00"
        days = {e.data["ts"][:10] for e in answer.evidence if e.kind == "log"}
        assert days == {"2024-05-15"}
        texts = [e.text.split(": ", 1)[1] for e in answer.evidence if e.kind == "log"]
        assert len(texts) == len(set(texts)) and "charge declined on retry" in texts
        unknown = ask(ws, Settings(), "what errors hit billing after 10:06?", around=window)
        assert unknown.evidence == [] and "'billing'" in unknown.answer and "payments" in unknown.answer
        keyword = ask(ws, Settings(), "errors in charge handling", around=window)  # a word the logs carry: a keyword
        assert keyword.evidence
