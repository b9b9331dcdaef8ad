"""Alert webhooks on `crashlens serve` (issue 16): a real server, a real Alertmanager, a loopback Slack.

The server runs as the `crashlens serve` command on a free loopback port; the Alertmanager
tests run Debian's `prometheus-alertmanager` routing to it (tests/alertmanager_support.py),
and Slack is a real loopback HTTP server that records what it was sent. Waits poll the
server's API; nothing asserts on time.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import pytest

from crashlens_core.signals.alert_intake import apply_alert
from crashlens_core.signals.alerts import parse_alert
from tests.alertmanager_support import start_alertmanager, wait_for
from tests.conftest import run_cli
from tests.test_alerts import alertmanager_payload
from tests.test_slack import PLANTED, _Hook

from .serve_support import hold_workspace, release, start_server

T0 = datetime(2024, 5, 14, 10, 0)
TIMEOUT = 60.0


def checkout_logs(tmp_path, error_from: datetime, secret: str = "") -> str:
    """20 minutes of checkout logs every 2 s; errors every 3 s from ``error_from`` (carrying ``secret``)."""
    lines = []
    for s in range(0, 20 * 60, 2):
        ts = T0 + timedelta(seconds=s)
        lines.append({"ts": ts.isoformat() + "Z", "level": "INFO", "service": "checkout", "message": f"order o-{s} placed"})
        if ts >= error_from and s % 3 == 0:
            lines.append({"ts": (ts + timedelta(milliseconds=500)).isoformat() + "Z", "level": "ERROR", "service": "checkout",
                          "message": f"POST /checkout failed for order o-{s}: payments refused key {secret}".strip()})
    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return str(path)


def post(server, path: str, body, **kw) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **server.auth, **kw.pop("headers", {})}
    return httpx.post(server.url + path, content=content, headers=headers, timeout=TIMEOUT, **kw)


def incident(server, incident_id: str) -> dict:
    return httpx.get(f"{server.url}/incidents/{incident_id}", timeout=TIMEOUT).json()


def incidents(server) -> list[dict]:
    return httpx.get(server.url + "/incidents", timeout=TIMEOUT).json()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alerts")
    folder = tmp / "ws"
    assert run_cli("ingest", "logs", checkout_logs(tmp, T0 + timedelta(minutes=12)), "--no-detect", workspace=folder).returncode == 0
    srv = start_server(folder)
    yield srv
    srv.stop()


def second_alert(payload: dict) -> dict:
    """The same group, grown by a second alert (another pod), as Alertmanager re-sends it."""
    extra = json.loads(json.dumps(payload["alerts"][0]))
    extra["labels"]["pod"] = "checkout-7d9f-2"
    extra["fingerprint"] = "6a1c2d3e4f5a6b7c"
    extra["startsAt"] = "2024-05-14T10:15:30Z"
    return {**payload, "alerts": payload["alerts"] + [extra]}


# ---------------------------------------------------------------- guards and bad input

def test_webhooks_need_the_token_and_refuse_bad_bodies_in_one_line(server):
    for path in ("/alerts/alertmanager", "/alerts/grafana", "/alerts"):
        r = httpx.post(server.url + path, json=alertmanager_payload(), timeout=TIMEOUT)
        assert r.status_code == 401, path
    r = post(server, "/alerts/alertmanager", b'{"alerts": [\n  {"status": "firing",,}]}')
    assert r.status_code == 400 and "not JSON at line 2 column" in r.json()["error"]
    r = post(server, "/alerts/alertmanager", {"version": "4", "alerts": []})
    assert r.status_code == 422 and "no alerts" in r.json()["error"] and "\n" not in r.json()["error"]
    r = post(server, "/alerts/alertmanager", {"receiver": "x", "status": "firing"})
    assert r.status_code == 422 and "`alerts` list" in r.json()["error"]
    r = post(server, "/alerts", {"service": "checkout", "summary": "no time"})
    assert r.status_code == 422 and "fired_at" in r.json()["error"]
    big = json.dumps({**alertmanager_payload(), "pad": "x" * (1 << 20)}).encode()
    r = post(server, "/alerts/alertmanager", big)
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    assert incidents(server) == []  # nothing was opened by any of them
    spec = httpx.get(server.url + "/openapi.json", timeout=TIMEOUT).json()
    assert {"/alerts/alertmanager", "/alerts/grafana", "/alerts"} <= set(spec["paths"])
    assert not spec["paths"]["/alerts"]["post"].get("parameters")  # the shape is the route's, not a query parameter


# ---------------------------------------------------------------- open, re-deliver, grow, resolve

def test_a_firing_alert_opens_one_incident_and_re_deliveries_add_nothing(server):
    payload = alertmanager_payload()
    first = post(server, "/alerts/alertmanager", payload)
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["source"], report["received"], report["accepted"], report["rejected"]) == ("alertmanager", 1, 1, 0)
    (one,) = report["alerts"]
    assert one["action"] == "opened" and one["status"] == "firing" and one["key"].startswith("5f0f1b5e0e1b6a5a|")
    inc = incident(server, one["incident_id"])
    # the window found from the data: errors start at 10:12, the alert fired at 10:14
    assert inc["source"] == "alert" and inc["window_start"].startswith("2024-05-14T10:1")
    assert inc["details"]["onset"]["method"] == "errors" and inc["details"]["labels"]["alertname"] == "CheckoutErrorRate"
    for _ in range(3):  # Alertmanager re-sends the group every repeat_interval while it fires
        again = post(server, "/alerts/alertmanager", payload).json()
        assert again["alerts"][0]["incident_id"] == inc["id"] and again["alerts"][0]["action"] == "known"
    assert len([i for i in incidents(server) if i["source"] == "alert"]) == 1
    assert len(incident(server, inc["id"])["events"]) == 1  # just "created"

    grown = post(server, "/alerts/alertmanager", second_alert(payload)).json()
    assert [a["action"] for a in grown["alerts"]] == ["known", "added"]
    assert {a["incident_id"] for a in grown["alerts"]} == {inc["id"]}
    after = incident(server, inc["id"])
    assert len(after["details"]["alert_keys"]) == 2 and "1 more firing" in after["events"][-1]["note"]

    resolved = alertmanager_payload(status="resolved")
    done = post(server, "/alerts/alertmanager", second_alert(resolved) | {"status": "resolved"}).json()
    assert {a["action"] for a in done["alerts"]} == {"resolved"} and done["incidents"][0]["alert_status"] == "resolved"
    final = incident(server, inc["id"])
    assert final["status"] == inc["status"]  # the workflow status stays the analyst's
    assert final["details"]["alert_status"] == "resolved" and final["details"]["alert_ends_at"] == "2024-05-14T10:30:00"
    assert [a["endsAt"] for a in final["details"]["alerts"]][0] == "2024-05-14T10:30:00Z"
    assert final["events"][-1]["note"].startswith("alert resolved (ended 2024-05-14T10:30:00")
    # the same resolution delivered again records nothing more
    post(server, "/alerts/alertmanager", second_alert(resolved) | {"status": "resolved"})
    assert len(incident(server, inc["id"])["events"]) == len(final["events"])


def test_the_cli_and_the_webhook_make_the_same_incident(server, tmp_path):
    payload = alertmanager_payload(starts="2024-05-14T10:13:00Z")
    payload["groupKey"] = '{}:{alertname="CheckoutLatency"}'
    hooked = post(server, "/alerts/alertmanager", payload).json()["alerts"][0]
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(payload))
    # the server holds the workspace only while it writes, so the CLI gets in meanwhile
    out = run_cli("incidents", "create", "--alert", str(path), "--json", workspace=server.workspace)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    assert cli["id"] == hooked["incident_id"] and cli["created"] is False and cli["action"] == "known"
    resolved = {**payload, "status": "resolved",
                "alerts": [dict(payload["alerts"][0], status="resolved", endsAt="2024-05-14T10:25:00Z")]}
    path.write_text(json.dumps(resolved))
    out = run_cli("incidents", "create", "--alert", str(path), "--json", workspace=server.workspace)
    assert json.loads(out.stdout)["action"] == "resolved", out.stderr
    assert incident(server, cli["id"])["details"]["alert_ends_at"] == "2024-05-14T10:25:00"


def test_one_bad_alert_is_answered_per_alert_and_the_rest_are_kept(server):
    payload = alertmanager_payload(starts="2024-05-14T10:16:00Z")
    payload["groupKey"] = '{}:{alertname="CheckoutPartial"}'
    bad = dict(payload["alerts"][0], startsAt="yesterday-ish", fingerprint="0000000000000bad")
    payload["alerts"] = [bad, payload["alerts"][0], "not an object"]
    report = post(server, "/alerts/alertmanager", payload).json()
    assert (report["received"], report["accepted"], report["rejected"]) == (3, 1, 2)
    assert report["errors"] == [{"alert": 0, "reason": "alerts[0]: startsAt 'yesterday-ish' is not an RFC 3339 time"},
                                {"alert": 2, "reason": "alerts[2]: an alert is a JSON object"}]
    assert report["alerts"][0]["alert"] == 1 and report["alerts"][0]["action"] == "opened"


def test_grafana_and_plain_alerts(server):
    grafana = {"receiver": "crashlens", "status": "firing", "orgId": 1, "state": "alerting", "title": "[FIRING:1] Payments",
               "message": "payments failing", "version": "1", "groupKey": '{}:{alertname="PaymentsErrors"}',
               "alerts": [{"status": "firing", "labels": {"alertname": "PaymentsErrors", "service": "payments"},
                           "annotations": {"summary": "payments errors"}, "startsAt": "2024-05-14T10:15:00Z",
                           "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "9f8e7d6c5b4a3f2e", "valueString": "[ var='A' value=7 ]"}]}
    g = post(server, "/alerts/grafana", grafana).json()
    assert g["source"] == "grafana" and g["alerts"][0]["action"] == "opened"
    plain = [{"service": "checkout", "fired_at": "2024-05-14T10:14:30Z", "summary": "orders stuck", "severity": "high"},
             {"service": "checkout", "summary": "no time at all"}]
    p = post(server, "/alerts", plain).json()
    assert (p["accepted"], p["rejected"]) == (1, 1) and p["errors"][0]["alert"] == 1
    inc_id = p["alerts"][0]["incident_id"]
    r = post(server, "/alerts", dict(plain[0], status="resolved", resolved_at="2024-05-14T10:40:00Z")).json()
    assert r["alerts"][0] == {"alert": 0, "status": "resolved", "key": r["alerts"][0]["key"], "incident_id": inc_id,
                              "action": "resolved"}
    assert incident(server, inc_id)["details"]["alert_ends_at"] == "2024-05-14T10:40:00"


def test_a_group_whose_first_alert_resolved_stays_one_incident(ws):
    """Without a groupKey the group's identity is its firing alerts: when the earliest one resolves
    while another still fires, the alerts' own keys still find the incident."""
    payload = second_alert(alertmanager_payload())
    del payload["groupKey"]
    first = apply_alert(ws, None, parse_alert(payload))
    assert first.created and first.action == "opened"
    payload["alerts"][0].update(status="resolved", endsAt="2024-05-14T10:20:00Z")
    later = apply_alert(ws, None, parse_alert(payload))
    assert later.incident.id == first.incident.id and not later.created
    assert sorted(later.actions.values()) == ["known", "resolved"]
    assert ws.incident_events(first.incident.id)[-1]["note"] == "alert: 1 of the group resolved"
    assert later.incident.details.get("alert_status", "firing") == "firing"  # the group still fires
    assert len(ws.list_incidents()) == 1


def test_a_busy_workspace_answers_503_and_the_retry_opens_the_incident(server):
    holder = hold_workspace(server.workspace)
    payload = alertmanager_payload(starts="2024-05-14T10:17:00Z")
    payload["groupKey"] = '{}:{alertname="CheckoutBusy"}'
    try:
        busy = post(server, "/alerts/alertmanager", payload)
    finally:
        release(holder)
    assert busy.status_code == 503 and busy.headers["retry-after"] and "in use" in busy.json()["error"]
    again = post(server, "/alerts/alertmanager", payload)  # Alertmanager retries a 5xx delivery
    assert again.status_code == 200 and again.json()["alerts"][0]["action"] == "opened"


# ---------------------------------------------------------------- RCA on alert, posted to Slack redacted

def test_rca_on_alert_runs_after_the_answer_and_posts_a_redacted_summary(tmp_path):
    folder = tmp_path / "ws"
    logs = checkout_logs(tmp_path, T0 + timedelta(minutes=12), secret=PLANTED)
    assert run_cli("ingest", "logs", logs, "--no-detect", workspace=folder).returncode == 0
    hook = _Hook()
    srv = start_server(folder, "--rca-on-alert", env={"CRASHLENS_SLACK_WEBHOOK_URL": hook.url})
    try:
        payload = alertmanager_payload()
        payload["commonAnnotations"]["summary"] = f"checkout 5xx, payments key {PLANTED}"
        report = post(srv, "/alerts/alertmanager", payload).json()
        assert report["incidents"][0]["rca"] == "queued"
        inc_id = report["alerts"][0]["incident_id"]

        def rca_done():
            r = httpx.get(f"{srv.url}/rca/{inc_id}", timeout=TIMEOUT)
            return r.json() if r.status_code == 200 and r.json().get("status") == "done" else None

        run = wait_for(rca_done, 120, "the offline RCA of the alert's incident")
        assert run["engine"] == "offline" and run["incident_id"] == inc_id
        assert incident(srv, inc_id)["status"] == "rca_ready"
        wait_for(lambda: hook.requests, 60, "the Slack post")
        raw = hook.requests[0]["body"].decode("utf-8")
        assert PLANTED not in raw and "gsk_" not in raw and "[REDACTED:groq_key" in raw
        assert "CheckoutErrorRate" in json.loads(raw)["text"]
        health = srv.health()["alerts"]
        assert (health["rca_done"], health["slack_posted"], health["slack_failed"]) == (1, 1, 0)
        # a re-delivery neither runs the analysis again nor posts again
        assert "rca" not in post(srv, "/alerts/alertmanager", payload).json()["incidents"][0]
        assert srv.health()["alerts"]["rca_queued"] == 1
        assert hook.url not in srv.log.read_text()  # the webhook URL is a credential: never logged
    finally:
        srv.stop()
        hook.close()


# ---------------------------------------------------------------- a real Alertmanager

def test_a_real_alertmanager_opens_and_resolves_an_incident(tmp_path):
    folder = tmp_path / "ws"
    assert run_cli("ingest", "logs", checkout_logs(tmp_path, T0 + timedelta(minutes=12)), "--no-detect",
                   workspace=folder).returncode == 0
    srv = start_server(folder)
    am = None
    try:
        am = start_alertmanager(tmp_path / "am", srv.url, srv.token)
        alert = {"labels": {"alertname": "CheckoutErrorRate", "service": "checkout", "severity": "critical"},
                 "annotations": {"summary": "checkout 5xx above 5%"}, "startsAt": "2024-05-14T10:14:00Z",
                 "generatorURL": "http://prometheus:9090/graph?g0.expr=sum%28rate%28http_requests_total%5B2m%5D%29%29+%3E+1"}
        am.post_alerts([alert])
        found = wait_for(lambda: [i for i in incidents(srv) if i["source"] == "alert"], 60, "the incident from Alertmanager")
        assert len(found) == 1
        inc = incident(srv, found[0]["id"])
        assert inc["details"]["alert_source"] == "alertmanager" and inc["details"]["receiver"] == "crashlens"
        assert inc["details"]["onset"]["method"] == "errors" and inc["window_start"] < "2024-05-14T10:14"
        assert inc["details"]["alert_metrics"] == ["http_requests_total"]

        am.post_alerts([dict(alert, endsAt="2024-05-14T10:31:00Z")])

        def resolved():
            now = incident(srv, inc["id"])
            return now if now["details"].get("alert_status") == "resolved" else None

        done = wait_for(resolved, 60, "the resolved notification from Alertmanager")
        assert done["details"]["alert_ends_at"] == "2024-05-14T10:31:00"
        assert done["events"][-1]["actor"] == "alert" and "alert resolved" in done["events"][-1]["note"]
        assert len([i for i in incidents(srv) if i["source"] == "alert"]) == 1
    finally:
        if am is not None:
            am.stop()
        srv.stop()
