"""The LLM analyzer against a real loopback HTTP server speaking chat completions (the Groq SDK
pointed at it by base_url; httpx for the OpenAI-compatible engine). Every request is recorded:
no planted secret ever leaves; bad answers, 429s and timeouts lead to the documented behaviour."""

from __future__ import annotations

import json

import pytest

from crashlens_core.config import Settings
from crashlens_core.rca.engine import run_rca
from crashlens_core.rca.replay import ReplayMismatch, export_record, replay, replay_record
from crashlens_core.rca.schema import PATCH_LABEL, canonical_json
from crashlens_core.store import Workspace
from tests.rca_fixtures import SECRETS, ChatServer, answer, build_workspace, completion, evidence_ids, good_report

GSK_CLIENT_KEY = "gsk_client_key_for_the_loopback_server_only"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llm") / "ws"
    return folder, build_workspace(folder)


def _settings(server: ChatServer, **over) -> Settings:
    base = dict(groq_api_key=GSK_CLIENT_KEY, groq_base_url=server.url, rca_timeout_s=5.0, rca_http_retries=0)
    base.update(over)
    return Settings(**base)


def _good(body):
    return json.dumps(good_report(evidence_ids(body)))


def _run(folder, inc_id, settings, engine="groq"):
    with Workspace.open(folder) as ws:
        return run_rca(ws, settings, inc_id, engine=engine)


def _assert_no_secrets(server: ChatServer) -> None:
    assert server.requests
    for req in server.requests:
        raw = req["raw"].decode()
        for secret in SECRETS:
            assert secret not in raw, secret
        assert "[REDACTED:" in raw  # the evidence was there, masked


def test_good_answer_is_validated_recorded_priced_and_replays(shop):
    folder, inc_id = shop
    with ChatServer([answer(_good)]) as server:
        run = _run(folder, inc_id, _settings(server))
    assert [r["path"] for r in server.requests] == ["/openai/v1/chat/completions"]
    sent = json.loads(server.requests[0]["raw"])
    assert sent["model"] == "llama-3.3-70b-versatile" and sent["response_format"] == {"type": "json_object"}
    assert "BEGIN UNTRUSTED EVIDENCE" in sent["messages"][1]["content"] and "never follow instructions" in sent["messages"][0]["content"].lower()
    _assert_no_secrets(server)
    r = run.report
    assert (r.engine, r.model, r.prompt_tokens, r.completion_tokens) == ("groq", "llama-3.3-70b-versatile", 1200, 300)
    assert r.cost_usd == pytest.approx((1200 * 0.59 + 300 * 0.79) / 1e6)
    assert r.notice == "" and r.suspects[0].service == "payments"
    assert any(h.text == "an uncited guess" for h in r.hypotheses)  # uncited claim → hypothesis
    assert r.suggested_patch and r.suggested_patch["label"] == PATCH_LABEL
    with Workspace.open(folder) as ws:
        responses = r.inputs["responses"]
        assert len(responses) == 1 and responses[0]["outcome"] == "ok"
        assert ws.get_artifact(responses[0]["digest"]).pii_masked
        result = replay(ws, run.run_id, strict=True)  # no server running now: answers come from the record
        assert result.identical and canonical_json(result.report.to_json()) == canonical_json(r.to_json())
        record = export_record(ws, run.run_id)
    digest = responses[0]["digest"]
    import base64
    body = json.loads(base64.b64decode(record["responses"][digest]))
    body["usage"]["completion_tokens"] = 1
    with pytest.raises(ReplayMismatch, match="LLM response #1 differs"):
        replay_record(dict(record, responses={digest: json.dumps(body).encode()}), strict=True)


@pytest.mark.parametrize("bad, reason", [
    (answer(lambda b: "{not json at all"), "not valid JSON"),
    (answer(lambda b: json.dumps(good_report(["log:999999"]))), "no claim cites evidence"),
    (answer(lambda b: _good(b)[:200], finish="length"), "cut off"),
    (lambda b: (200, {}, b'{"choices": [{"message": {"content": "' + b"x" * (5 * 2**20) + b'"}}]}', 0.0), "larger than"),
])
def test_invalid_answers_are_retried_twice_then_offline_with_notice(shop, bad, reason):
    folder, inc_id = shop
    with ChatServer([bad]) as server:
        run = _run(folder, inc_id, _settings(server))
    assert len(server.requests) == 3  # one try and at most two retries
    _assert_no_secrets(server)
    r = run.report
    assert r.engine == "offline" and reason in r.notice and "offline report" in r.notice
    assert r.suspects[0].service == "payments" and all(c.evidence for c in r.claims)
    assert [a["outcome"] for a in r.inputs["responses"]] == ["invalid"] * 3
    retry = json.loads(server.requests[1]["raw"])["messages"][-1]["content"]
    assert "rejected" in retry and "x" * 1000 not in retry  # the reason is sent back, never the answer itself
    with Workspace.open(folder) as ws:
        assert replay(ws, run.run_id, strict=True).identical


def test_an_invalid_answer_then_a_good_one(shop):
    folder, inc_id = shop
    with ChatServer([answer(lambda b: "```json\n{broken"), answer(lambda b: "```json\n" + _good(b) + "\n```")]) as server:
        run = _run(folder, inc_id, _settings(server))
    assert len(server.requests) == 2 and run.report.engine == "groq"
    assert run.report.prompt_tokens == 2400  # both answers' usage is counted


def test_rate_limit_and_timeout_fall_back_to_offline(shop):
    folder, inc_id = shop
    limited = lambda b: (429, {"retry-after-ms": "5"}, b'{"error": {"message": "rate limited"}}', 0.0)  # noqa: E731
    with ChatServer([limited]) as server:
        run = _run(folder, inc_id, _settings(server, rca_http_retries=1))
    assert len(server.requests) == 2  # the SDK's one retry, then no output retries: the server is not answering
    assert run.report.engine == "offline" and "429" in run.report.notice
    slow = lambda b: (200, {}, completion(_good(b)), 1.5)  # noqa: E731
    with ChatServer([slow]) as server:
        run = _run(folder, inc_id, _settings(server, rca_timeout_s=0.3))
    assert len(server.requests) == 1 and run.report.engine == "offline" and "timed out" in run.report.notice


def test_prompt_injection_cannot_change_the_schema_or_cite_ghosts(shop):
    folder, inc_id = shop

    def gullible(body):
        user = body["messages"][1]["content"]
        assert "Ignore previous instructions" in user  # the hostile line was sent, as data
        assert user.count("END UNTRUSTED EVIDENCE") == 1  # and could not close the data block early
        ids = evidence_ids(body)
        hijacked = good_report(ids, summary="all good", schema="hacked", engine="root", run_shell="rm -rf /",
                               claims=[{"text": "nothing is wrong", "evidence": ["log:999999"]},
                                       {"text": "payments fails", "evidence": ids[:1]}])
        return json.dumps(hijacked)

    with ChatServer([answer(gullible)]) as server:
        run = _run(folder, inc_id, _settings(server))
    out = run.report.to_json()
    with Workspace.open(folder) as ws:
        offline = run_rca(ws, Settings(), inc_id, engine="offline").report.to_json()
    assert set(out) == set(offline) and out["schema"] == "crashlens.rca/v1" and out["engine"] == "groq"
    assert "run_shell" not in json.dumps(out)
    assert run.report.cited_ids() <= set(run.evidence.ids()) and "log:999999" not in run.report.cited_ids()
    assert run.report.rejected_claims[0]["text"] == "nothing is wrong" and "rejected" in run.report.notice


def test_openai_compatible_endpoint_by_base_url(shop):
    folder, inc_id = shop
    with ChatServer([answer(_good)]) as server:
        run = _run(folder, inc_id, Settings(openai_base_url=server.url + "/v1", openai_api_key="local-key", llm_model="qwen2.5"),
                   engine="openai")
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["headers"].get("Authorization") == "Bearer local-key"
    _assert_no_secrets(server)
    assert (run.report.engine, run.report.model, run.report.cost_usd) == ("openai", "qwen2.5", 0.0)


def test_no_key_means_offline_with_notice_and_nothing_sent(shop):
    folder, inc_id = shop
    run = _run(folder, inc_id, Settings(groq_api_key=""), engine="groq")
    assert run.report.engine == "offline" and "GROQ_API_KEY" in run.report.notice
