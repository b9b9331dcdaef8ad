"""Errors that show in one service but were caused by another: slow and silent callees, refused requests.

Each case is real traffic in a real workspace: a fault-free baseline, then a window where the
fault hits every other request. The error shows at the caller (timeouts) or at the callee
(a 4xx); the ranking and the offline RCA must both name the service at fault.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_file
from crashlens_core.rca.engine import run_rca
from crashlens_core.signals.suspects import rank_suspect_services
from crashlens_core.store.traces import origin_blame

from .data_helpers import T0, load_spans, span

W0, W1 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)


def _request(t: str, at: float, fault: str | None) -> list[dict]:
    """web → orders (→ pricing over HTTP); the fault decides what goes wrong."""
    if fault == "refused":  # orders forgets the key: pricing answers 403, the error shows in pricing's span
        return [span(t, "a", None, "web", "GET /cart", at, at + 30, "error", "server"),
                span(t, "b", "a", "orders", "GET /price", at + 1, at + 29, "error", "client", {"peer.service": "pricing"}),
                span(t, "c", "b", "pricing", "GET /price", at + 2, at + 28, "error", "server", {"http.status_code": 403})]
    if fault == "slow":  # pricing hangs: orders gives up after 3 s, pricing's own span ends later and is fine
        return [span(t, "a", None, "web", "GET /cart", at, at + 3010, "error", "server"),
                span(t, "b", "a", "orders", "GET /price", at + 1, at + 3001, "error", "client", {"peer.service": "pricing"}),
                span(t, "c", "b", "pricing", "GET /price", at + 2, at + 4500, "ok", "server")]
    if fault == "silent":  # pricing is unreachable: no span of its own at all
        return [span(t, "a", None, "web", "GET /cart", at, at + 3010, "error", "server"),
                span(t, "b", "a", "orders", "GET /price", at + 1, at + 3001, "error", "client",
                     {"peer.service": "pricing:8080"})]
    return [span(t, "a", None, "web", "GET /cart", at, at + 30, "ok", "server"),
            span(t, "b", "a", "orders", "GET /price", at + 1, at + 29, "ok", "client", {"peer.service": "pricing"}),
            span(t, "c", "b", "pricing", "GET /price", at + 2, at + 28, "ok", "server")]


def _load(ws, tmp_path, fault: str) -> None:
    records = []
    for k in range(200):  # a request every 3 s for 10 minutes; the fault hits every other one after 5 minutes
        at = k * 3000.0
        records += _request(f"t{k}", at, fault if at >= 300_000 and k % 2 == 0 else None)
    load_spans(ws, tmp_path, records)


@pytest.mark.parametrize("fault, at_fault, why, shows_in", [
    ("slow", "pricing", "slow_callee", "orders"),
    ("silent", "pricing", "silent_callee", "orders"),
    ("refused", "orders", "refused", "pricing"),
])
def test_ranking_and_rca_name_the_service_at_fault_not_where_the_error_shows(ws, tmp_path, fault, at_fault, why, shows_in):
    _load(ws, tmp_path, fault)
    ranking = rank_suspect_services(ws, W0, W1, T0, W0)
    assert ranking[0].service == at_fault, [(s.service, s.reasons) for s in ranking]
    assert shows_in in ranking[0].reasons[0]
    assert {"slow_callee": "gave up waiting", "silent_callee": "left no span", "refused": "4xx"}[why] in ranking[0].reasons[0]

    run = run_rca(ws, Settings(workspace=ws.folder), window=(W0, W1), baseline=(T0, W0), engine="offline", actor="test")
    assert run.report.suspects[0].service == at_fault
    origin = next(e for e in run.evidence.items if e.data.get("signal") == "error_span")
    assert (origin.data["service"], origin.data["why"], origin.data["span_service"]) == (at_fault, why, shows_in)
    assert origin.data["location"] == ""  # the span's code location is not the faulty service's


def test_a_4xx_logged_by_the_caller_counts_and_408_429_do_not(ws, tmp_path):
    """Without a status attribute (SkyWalking's export has none), the caller's own log line tells the 4xx."""
    recs = [span("x1", "a", None, "orders", "GET /cart", 0, 30, "error", "server"),
            span("x1", "b", "a", "orders", "GET /price", 1, 29, "error", "client"),
            span("x1", "c", "b", "pricing", "GET /price", 2, 28, "error", "server"),
            span("x2", "a", None, "orders", "GET /cart", 0, 30, "error", "server"),
            span("x2", "b", "a", "orders", "GET /price", 1, 29, "error", "client"),
            span("x2", "c", "b", "pricing", "GET /price", 2, 28, "error", "server")]
    load_spans(ws, tmp_path, recs)
    logs = tmp_path / "orders.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in [
        {"ts": "2024-05-14T10:00:00.010Z", "level": "ERROR", "service": "orders", "trace_id": "x1",
         "msg": "price denied: org.springframework.web.client.HttpClientErrorException: 403 null"},
        {"ts": "2024-05-14T10:00:00.010Z", "level": "ERROR", "service": "orders", "trace_id": "x2",
         "msg": "price failed: Request failed with status code 429"},
        {"ts": "2024-05-14T10:00:00.020Z", "level": "ERROR", "service": "orders", "trace_id": "x2",
         "msg": "took 403 ms"}]))
    assert ingest_file(ws, "logs", str(logs)).loaded == 3
    got = origin_blame(ws, [("x1", "c"), ("x2", "c")])
    assert got == {("x1", "c"): {"service": "orders", "why": "refused", "via": "pricing"}}


def test_a_peer_that_is_not_a_known_service_keeps_the_blame_at_home(ws, tmp_path):
    load_spans(ws, tmp_path, [span("y", "a", None, "orders", "GET /cart", 0, 3010, "error", "server"),
                              span("y", "b", "a", "orders", "POST card", 1, 3001, "error", "client",
                                   {"peer.service": "card-gateway.example.com:443"})])
    assert origin_blame(ws, [("y", "b")]) == {}


def test_a_call_that_failed_after_its_callee_answered_is_not_a_timeout(ws, tmp_path):
    """The callee's span ended well before the caller's call did (a client-side failure), or the
    call was answered 4xx (as OpenTelemetry records it: on the client span): no callee is blamed."""
    load_spans(ws, tmp_path, [
        span("r1", "a", None, "orders", "GET /cart", 0, 30, "error", "server"),
        span("r1", "b", "a", "orders", "GET /price", 1, 29, "error", "client", {"peer.service": "pricing", "http.status_code": 403}),
        span("r1", "c", "b", "pricing", "GET /price", 2, 29, "ok", "server"),
        span("r2", "a", None, "orders", "GET /cart", 0, 30, "error", "server"),
        span("r2", "b", "a", "orders", "GET /price", 1, 29, "error", "client", {"peer.service": "pricing"}),
        span("r2", "c", "b", "pricing", "GET /price", 2, 10, "ok", "server"),
        span("r3", "a", None, "orders", "GET /cart", 0, 3010, "error", "server"),
        span("r3", "b", "a", "orders", "GET /price", 1, 3001, "error", "client", {"peer.service": "pricing"}),
        span("r3", "c", "b", "pricing", "GET /price", 2, 2990, "ok", "server")])  # ended 11 ms early: clock skew, still a timeout
    got = origin_blame(ws, [("r1", "b"), ("r2", "b"), ("r3", "b")])
    assert got == {("r3", "b"): {"service": "pricing", "why": "slow_callee", "via": "orders"}}


def test_a_4xx_logged_in_another_span_of_the_caller_does_not_count(ws, tmp_path):
    """With span ids on the log lines, only the calling span (or the one that made the call) counts."""
    load_spans(ws, tmp_path, [span("z1", "a", None, "orders", "GET /cart", 0, 60, "error", "server"),
                              span("z1", "b", "a", "orders", "GET /price", 1, 29, "error", "client"),
                              span("z1", "c", "b", "pricing", "GET /price", 2, 28, "error", "server"),
                              span("z1", "d", "a", "orders", "GET /stock", 30, 59, "ok", "client"),
                              span("z2", "a", None, "orders", "GET /cart", 0, 30, "error", "server"),
                              span("z2", "b", "a", "orders", "GET /price", 1, 29, "error", "client"),
                              span("z2", "c", "b", "pricing", "GET /price", 2, 28, "error", "server")])
    logs = tmp_path / "orders.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in [
        {"ts": "2024-05-14T10:00:00.040Z", "level": "WARN", "service": "orders", "trace_id": "z1", "span_id": "d",
         "msg": "stock check: status code 404"},  # another call of the same request
        {"ts": "2024-05-14T10:00:00.020Z", "level": "ERROR", "service": "orders", "trace_id": "z2", "span_id": "a",
         "msg": "price denied: HttpClientErrorException: 403 null"}]))  # the span that made the call
    assert ingest_file(ws, "logs", str(logs)).loaded == 2
    assert origin_blame(ws, [("z1", "c"), ("z2", "c")]) == {("z2", "c"): {"service": "orders", "why": "refused", "via": "pricing"}}
