"""RCA with changes (issue 15): the culprit among decoys, a flag-caused fault, a fault no change caused."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_file
from crashlens_core.ingest.changes import ingest_change_file
from crashlens_core.rca.engine import run_rca
from crashlens_core.rca.replay import replay
from crashlens_core.signals.labels import label_pending
from tests.conftest import run_cli
from tests.data_helpers import load_spans, span

T0 = datetime(2024, 5, 14, 10, 0)
FAULT = T0 + timedelta(minutes=10)


def _iso(t: datetime) -> str:
    return t.isoformat() + "Z"


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _traffic(version_after: dict[str, str], error: dict[str, str] | None, versions: dict[str, str]) -> list[dict]:
    """15 minutes of checkout → payments → billing traffic, a request every 2 s; from FAULT on,
    ``error`` {service: message} fails every request, ``version_after`` the versions running then."""
    rows = []
    for s in range(0, 15 * 60, 2):
        ts = T0 + timedelta(seconds=s)
        run = version_after if ts >= FAULT else {}
        for svc in ("checkout", "payments", "billing"):
            v = run.get(svc, versions[svc])
            rows.append({"ts": _iso(ts + timedelta(milliseconds=10)), "level": "INFO", "service": svc, "version": v,
                         "message": f"{svc} handled request r-{s}"})
            if error and ts >= FAULT and svc in error:
                # the caller (checkout) logs its failure after the service it called failed
                delay = 30 if svc == "checkout" else 20
                rows.append({"ts": _iso(ts + timedelta(milliseconds=delay)), "level": "ERROR", "service": svc, "version": v,
                             "message": error[svc].replace("{n}", str(s))})
    return rows


VERSIONS = {"checkout": "3.1.0", "payments": "1.4.0", "billing": "2.0.0"}
KEYERROR = ("charge failed for request r-{n}\nTraceback (most recent call last):\n"
            '  File "/app/payments/api.py", line 30, in handle\n    return charge(order)\n'
            '  File "/app/payments/charge.py", line 12, in charge\n    return resp["amount_captured"]\n'
            "KeyError: 'amount_captured'")
DECOYS = [
    {"ts": _iso(FAULT + timedelta(seconds=40)), "kind": "deploy", "service": "search", "version": "2.14.0", "commit": "5e1a2b3c4d",
     "files": ["search/ranking.py"], "diff": "+    boost = 1.2 if item.in_stock else 1.0\n"},
    {"ts": _iso(FAULT - timedelta(seconds=30)), "kind": "flag", "service": "checkout", "flag": "gift_wrap_option",
     "from": "off", "to": "on"},
    {"ts": _iso(FAULT - timedelta(minutes=12)), "kind": "config", "service": "billing", "key": "PDF_THEME", "change": "classic->spring"},
]


def _workspace(ws, tmp_path, logs, changes):
    ingest_file(ws, "logs", _write(tmp_path / "logs.jsonl", logs))
    label_pending(ws)
    assert ingest_change_file(ws, _write(tmp_path / "changes.jsonl", changes)).rejected == 0


def _ids(ws):
    return {(r[0], r[1]): "change:" + r[2] for r in ws.con.execute("SELECT kind, coalesce(name, service), id FROM changes").fetchall()}


def test_the_culprit_deploy_is_named_and_the_decoys_are_ruled_out(ws, tmp_path):
    culprit = {"ts": _iso(FAULT), "kind": "deploy", "service": "payments", "version": "1.5.0", "commit": "c0ffee1234567890",
               "files": ["payments/charge.py"], "summary": "read captured amount",
               "diff": "--- a/payments/charge.py\n+++ b/payments/charge.py\n@@ -10,3 +10,3 @@\n"
                       "-    return resp['amount']\n+    return resp['amount_captured']\n"}
    # a canary: 1.5.0 runs on one of two payments instances, whose records are the failing ones
    logs = _traffic({"payments": "1.5.0"}, {"payments": KEYERROR, "checkout": "payment for request r-{n} failed: 502"}, VERSIONS)
    logs += [{"ts": r["ts"], "level": "INFO", "service": "payments", "version": "1.4.0", "message": "payments handled request (b)"}
             for r in logs if r["service"] == "payments" and r["level"] == "INFO"]
    _workspace(ws, tmp_path, logs, [culprit] + DECOYS)
    ids = _ids(ws)
    run = run_rca(ws, Settings(), window=(FAULT, FAULT + timedelta(minutes=5)), engine="offline")
    r = run.report
    assert r.root_cause_change == ids[("deploy", "payments")] and r.root_cause_commit == "c0ffee1234567890"
    assert r.remediation_kind == "rollback" and r.no_change_kind is None
    assert r.first_failing_service == "payments" and r.blast_radius == ["checkout", "payments"]
    assert r.changes[0]["id"] == ids[("deploy", "payments")] and r.changes[0]["evidence"][0] == r.changes[0]["id"]
    assert set(r.changes[0]) >= {"id", "kind", "service", "ts", "commit", "score", "why", "evidence"}
    assert "payments/charge.py" in r.changes[0]["why"] and "amount_captured" in r.changes[0]["why"]
    decoy_ids = {ids[("deploy", "search")], ids[("flag", "gift_wrap_option")], ids[("config", "PDF_THEME")]}
    rejected = {h.evidence[0] for h in r.hypotheses if h.status == "rejected" and h.evidence}
    assert decoy_ids <= rejected
    assert any(ids[("deploy", "payments")] in c.evidence for c in r.claims) and r.remediation[0].startswith("Roll back")
    # the verdict is rebuilt from the recorded evidence alone: strict replay agrees
    result = replay(ws, run.run_id, strict=True)
    assert result.identical, result.problems


def test_a_flag_caused_fault_names_the_flag_even_next_to_a_deploy_of_the_same_service(ws, tmp_path):
    flag = {"ts": _iso(FAULT), "kind": "flag", "service": "billing", "flag": "new_tax_engine", "from": "off", "to": "on",
            "actor": "ann"}
    same_service_deploy = {"ts": _iso(FAULT - timedelta(seconds=50)), "kind": "deploy", "service": "billing",
                           "version": "2.0.1", "commit": "beef5678", "files": ["billing/invoice_pdf.py"],
                           "diff": "+    footer = render_footer(invoice)\n"}
    logs = _traffic({"billing": "2.0.1"}, {"billing": "tax calculation failed for request r-{n}: new_tax_engine returned "
                                                      "no rate for region EU"}, VERSIONS)
    _workspace(ws, tmp_path, logs, [flag, same_service_deploy] + DECOYS)
    ids = _ids(ws)
    r = run_rca(ws, Settings(), window=(FAULT, FAULT + timedelta(minutes=5)), engine="offline").report
    assert r.root_cause_change == ids[("flag", "new_tax_engine")]
    assert r.remediation_kind == "feature-flag-disable" and r.root_cause_commit is None
    assert r.first_failing_service == "billing"
    ranked = [c["id"] for c in r.changes]
    assert ranked.index(ids[("flag", "new_tax_engine")]) < ranked.index(ids[("deploy", "billing")])


def test_no_change_is_an_answer_when_the_evidence_points_elsewhere(ws, tmp_path):
    # the card gateway times out; a payments deploy just before it touched unrelated code
    decoy_deploy = {"ts": _iso(FAULT - timedelta(seconds=20)), "kind": "deploy", "service": "payments", "version": "1.4.1",
                    "commit": "abad1dea", "files": ["payments/refunds.py"], "diff": "+    refund.reason = reason.strip()\n"}
    logs = _traffic({"payments": "1.4.1"}, {"payments": "charge for request r-{n} failed: card gateway timeout after 2500 ms "
                                                        "(pay.gateway.example)"}, VERSIONS)
    _workspace(ws, tmp_path, logs, [decoy_deploy] + DECOYS)
    r = run_rca(ws, Settings(), window=(FAULT, FAULT + timedelta(minutes=5)), engine="offline").report
    assert r.root_cause_change is None and r.root_cause_commit is None
    assert r.no_change_kind == "upstream_outage" and r.remediation_kind == "failover"
    assert r.changes and all(c["score"] < 1.6 for c in r.changes)
    assert any("No change" in c.text for c in r.claims)


def test_rca_json_has_the_change_fields(tmp_path):
    folder = tmp_path / "ws"
    logs = _traffic({}, {"payments": KEYERROR}, VERSIONS)
    assert run_cli("ingest", "logs", _write(tmp_path / "l.jsonl", logs), workspace=folder).returncode == 0
    assert run_cli("ingest", "changes", _write(tmp_path / "c.jsonl", DECOYS), workspace=folder).returncode == 0
    out = run_cli("rca", "--from", _iso(FAULT), "--to", _iso(FAULT + timedelta(minutes=5)), "--json", workspace=folder)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("root_cause_commit", "changes", "first_failing_service", "blast_radius", "remediation_kind"):
        assert key in report
    assert report["first_failing_service"] == "payments" and report["root_cause_commit"] is None
    assert all(c["id"].startswith("change:") for c in report["changes"]) and len(report["changes"]) == 3



SURGE = T0 + timedelta(minutes=5)


def _surge_spans(rise_s: int, errors_from_s: int) -> list[dict]:
    """Five minutes of baseline and three of window after SURGE: checkout serves a request every 2 s,
    4 a second (8x) from ``rise_s`` after SURGE on; from ``errors_from_s`` one request in three fails.
    search serves a steady 10 a second throughout, so the window-wide traffic stays under 2x the
    baseline's and only checkout's own rate shows the surge."""
    rows, n = [], 0
    for ms in range(0, 8 * 60_000, 50):
        after_s = ms / 1000 - 5 * 60  # seconds after SURGE
        if ms % 100 == 0:
            rows.append(span(f"{n:032x}", f"{n:016x}", None, "search", "GET /search", ms, ms + 30, kind="server"))
            n += 1
        if ms % (250 if after_s >= rise_s else 2000) == 0:
            failed = after_s >= errors_from_s and n % 3 == 0
            rows.append(span(f"{n:032x}", f"{n:016x}", None, "checkout", "POST /checkout", ms, ms + (1000 if failed else 80),
                             status="error" if failed else "ok", kind="server"))
            n += 1
    return rows


POOL_ERRORS = [{"ts": _iso(SURGE + timedelta(seconds=s)), "level": "ERROR", "service": "checkout",
                "message": f"checkout r-{s} failed: PoolTimeout: no database connection free after 1000 ms (pool size 4, all in use)"}
               for s in range(20, 170, 2)]
SURGE_DECOYS = [
    {"ts": _iso(SURGE - timedelta(minutes=3)), "kind": "deploy", "service": "checkout", "version": "3.1.1", "commit": "decaf00d",
     "files": ["checkout/gift_wrap.py"], "diff": "+    wrap = order.gift_wrap or None\n"},
    {"ts": _iso(SURGE - timedelta(seconds=75)), "kind": "flag", "service": "checkout", "flag": "gift_wrap_option",
     "from": "off", "to": "on"},
]


def test_a_traffic_surge_before_the_errors_is_the_cause_when_no_change_has_a_link(ws, tmp_path):
    # checkout's requests rise 8x at SURGE, its pool runs dry 20 s later; a deploy and a flag flip of
    # checkout land just before, neither touching the failing path
    load_spans(ws, tmp_path, _surge_spans(rise_s=0, errors_from_s=20))
    _workspace(ws, tmp_path, POOL_ERRORS, SURGE_DECOYS)
    run = run_rca(ws, Settings(), window=(SURGE, SURGE + timedelta(minutes=3)), engine="offline")
    es, r = run.evidence, run.report
    surge = es.get("traffic:checkout")
    assert surge is not None and es.get("traffic:search") is None  # steady traffic is no surge
    assert surge.data["precedes_errors"] and 7.0 <= surge.data["ratio"] <= 9.0
    assert surge.data["rise_ts"] <= surge.data["first_error_ts"]
    profile = es.get("failure:profile")
    assert profile.data["traffic_ratio"] < 2.0 and profile.data["surges"] == ["traffic:checkout"]
    assert r.root_cause_change is None and r.no_change_kind == "traffic_surge" and r.remediation_kind == "scale"
    verdict = next(c for c in r.claims if c.text.startswith("No change"))
    assert "traffic:checkout" in verdict.evidence and "checkout rose to" in verdict.text
    assert r.remediation[0].startswith("Scale out checkout") and "traffic:checkout" in r.remediation[0]
    assert {c["id"] for c in r.changes} == set(_ids(ws).values())  # both decoys weighed and ruled out


def test_a_load_rise_after_the_errors_is_their_effect_not_the_cause(ws, tmp_path):
    # the errors start at SURGE; clients retrying raise checkout's requests only a minute later
    load_spans(ws, tmp_path, _surge_spans(rise_s=60, errors_from_s=0))
    _workspace(ws, tmp_path, [dict(e, ts=_iso(SURGE + timedelta(seconds=s))) for s, e in zip(range(0, 150, 2), POOL_ERRORS)],
               SURGE_DECOYS)
    run = run_rca(ws, Settings(), window=(SURGE, SURGE + timedelta(minutes=3)), engine="offline")
    surge = run.evidence.get("traffic:checkout")
    assert surge is not None and not surge.data["precedes_errors"]
    assert surge.data["rise_ts"] > surge.data["first_error_ts"]
    assert run.report.no_change_kind == "saturation"  # what the messages say, not a surge
    assert not any("traffic:checkout" in c.evidence for c in run.report.claims + run.report.more_claims)


def test_without_spans_the_requests_are_counted_by_log_lines(ws, tmp_path):
    # logs only: checkout logs one line per request, a line every 2 s, then 4 a second from SURGE on
    logs = [{"ts": _iso(T0 + timedelta(milliseconds=ms)), "level": "INFO", "service": "checkout", "message": f"handled r-{ms}"}
            for ms in range(0, 8 * 60_000, 250) if ms >= 5 * 60_000 or ms % 2000 == 0]
    _workspace(ws, tmp_path, logs + POOL_ERRORS, SURGE_DECOYS)
    run = run_rca(ws, Settings(), window=(SURGE, SURGE + timedelta(minutes=3)), engine="offline")
    surge = run.evidence.get("traffic:checkout")
    assert surge is not None and surge.data["precedes_errors"] and surge.data["ratio"] >= 7.0
    assert run.report.no_change_kind == "traffic_surge" and run.report.remediation_kind == "scale"


QUIET = T0 + timedelta(minutes=5)  # five minutes of baseline before, three of window after
QUIET_LOGS = [{"ts": _iso(T0 + timedelta(seconds=s)), "level": "INFO", "service": "checkout", "message": f"handled r-{s}"}
              for s in range(0, 8 * 60, 2)]
QUIET_DECOYS = [
    {"ts": _iso(QUIET - timedelta(minutes=2)), "kind": "deploy", "service": "search", "version": "2.14.0", "commit": "5e1a2b3c4d",
     "files": ["search/ranking.py"], "diff": "+    boost = 1.2 if item.in_stock else 1.0\n"},
    {"ts": _iso(QUIET - timedelta(seconds=40)), "kind": "flag", "service": "checkout", "flag": "gift_wrap_option",
     "from": "off", "to": "on"},
]


def _agent_spans(stale_from_s: float) -> list[dict]:
    """The order-ETA agent answers a question every 2 s: its run span, a carrier_api tool call whose
    result carries ``as_of``, and under it the client call to carrier-api (code attributes, peer).
    From ``stale_from_s`` after QUIET on, carrier-api serves records cached six hours ago.
    checkout serves a request every 2 s throughout and nothing fails anywhere."""
    rows, n = [], 0
    for ms in range(0, 8 * 60_000, 2000):
        at = T0 + timedelta(milliseconds=ms)
        stale = ms / 1000 - 5 * 60 >= stale_from_s
        as_of = at - (timedelta(hours=6) if stale else timedelta(seconds=90))
        trace, run, tool, call = f"{n:032x}", f"{n:014x}01", f"{n:014x}02", f"{n:014x}03"
        result = json.dumps({"carrier": "ParcelPro", "status": "in_transit", "as_of": _iso(as_of)})
        rows += [span(trace, run, None, "eta-agent", "eta_agent.run", ms, ms + 150, kind="server"),
                 span(trace, tool, run, "eta-agent", "carrier_api", ms + 5, ms + 60,
                      attrs={"agent.tool": "carrier_api", "agent.args": json.dumps({"order_id": f"o-{n}"}), "agent.result": result}),
                 span(trace, call, tool, "eta-agent", "GET carrier-api /track", ms + 6, ms + 58, kind="client",
                      attrs={"peer.service": "carrier-api", "code.filepath": "shop/agent/tools.py", "code.function": "carrier_api",
                             "code.lineno": 86}),
                 span(f"{n:030x}ff", f"{n:014x}04", None, "checkout", "POST /checkout", ms, ms + 80, kind="server")]
        n += 1
    return rows


def test_stale_data_from_a_dependency_names_where_it_enters_and_an_upstream_outage(ws, tmp_path):
    # nothing fails and nothing slows: only the tool's results are six hours old from QUIET on; a
    # caller-side metric names carrier-api, which writes no spans or logs of its own
    load_spans(ws, tmp_path, _agent_spans(stale_from_s=0))
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("ts,name,value,service,host\n" + "".join(
        f"{_iso(T0 + timedelta(seconds=s))},upstream_latency_p95_ms,{40 + s % 7},carrier-api,shop-1\n" for s in range(0, 8 * 60, 10)))
    assert ingest_file(ws, "metrics", str(metrics)).rejected == 0
    _workspace(ws, tmp_path, QUIET_LOGS, QUIET_DECOYS)
    run = run_rca(ws, Settings(), window=(QUIET, QUIET + timedelta(minutes=3)), engine="offline")
    es, r = run.evidence, run.report
    stale = es.get("stale:eta-agent:carrier_api")
    assert stale is not None and stale.data["signal"] == "stale_tool" and stale.data["peer"] == "carrier-api"
    assert stale.data["count"] == stale.data["calls"] == 90 and stale.data["baseline_count"] == 0
    assert 5.9 <= stale.data["age_hours"] <= 6.1 and stale.data["location"].startswith("shop/agent/tools.py:carrier_api")
    assert r.first_failing_service == "eta-agent" and r.blast_radius == ["eta-agent"]
    assert es.get("failure:profile").data["external_origins"] == {"carrier-api": 90}
    assert r.root_cause_change is None and r.no_change_kind == "upstream_outage" and r.remediation_kind == "failover"
    assert r.suspects[0].service == "eta-agent" and "tools.py" in r.suspects[0].location
    assert replay(ws, run.run_id, strict=True).identical


def test_fresh_tool_results_are_no_stale_data(ws, tmp_path):
    load_spans(ws, tmp_path, _agent_spans(stale_from_s=10_000))  # never stale
    _workspace(ws, tmp_path, QUIET_LOGS, QUIET_DECOYS)
    run = run_rca(ws, Settings(), window=(QUIET, QUIET + timedelta(minutes=3)), engine="offline")
    assert not [e for e in run.evidence.items if e.data.get("signal") == "stale_tool"]
    assert run.report.first_failing_service is None and run.report.no_change_kind == "unknown"


def _payment_spans(skip_gateway_from_s: float) -> list[dict]:
    """checkout → payments.charge → the client call to card-gateway, a request every 2 s; from
    ``skip_gateway_from_s`` after QUIET on, charge returns at its entry and never calls the gateway."""
    rows = []
    for n, ms in enumerate(range(0, 8 * 60_000, 2000)):
        trace, root, charge = f"{n:032x}", f"{n:014x}01", f"{n:014x}02"
        rows += [span(trace, root, None, "checkout", "checkout.place_order", ms, ms + 120, kind="server"),
                 span(trace, charge, root, "payments", "payments.charge", ms + 5, ms + 90)]
        if ms / 1000 - 5 * 60 < skip_gateway_from_s:
            rows.append(span(trace, f"{n:014x}03", charge, "payments", "POST card-gateway", ms + 6, ms + 80, kind="client",
                             attrs={"peer.service": "card-gateway"}))
    return rows


def test_a_fault_that_raises_nothing_starts_where_the_work_vanished(ws, tmp_path):
    # a wrong return value: payments stops calling the gateway, nothing errs and the requests get faster
    load_spans(ws, tmp_path, _payment_spans(skip_gateway_from_s=0))
    _workspace(ws, tmp_path, QUIET_LOGS, QUIET_DECOYS)
    run = run_rca(ws, Settings(), window=(QUIET, QUIET + timedelta(minutes=3)), engine="offline")
    changed = [e for e in run.evidence.items if e.data.get("signal") == "behaviour"]
    assert changed and changed[0].data["service"] == "payments" and changed[0].data["direction"] == "vanished"
    r = run.report
    assert r.first_failing_service == "payments" and "payments" in r.blast_radius
    assert r.root_cause_change is None and r.no_change_kind == "unknown"  # an unsure kind beats a wrong one
