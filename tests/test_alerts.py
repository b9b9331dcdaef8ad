"""Alerts (issue 15): Alertmanager 0.25 / Grafana / plain payloads, the onset searched back, the incident."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from crashlens_core.errors import InputError
from crashlens_core.ingest import ingest_file
from crashlens_core.signals.alerts import metric_names_in_expr, parse_alert
from crashlens_core.signals.onset import find_onset, match_services, open_alert_incident
from tests.conftest import run_cli

T0 = datetime(2024, 5, 14, 10, 0)


def alertmanager_payload(starts: str = "2024-05-14T10:14:00.123456789Z", status: str = "firing") -> dict:
    """A webhook exactly as Alertmanager 0.25 posts it (version 4)."""
    labels = {"alertname": "CheckoutErrorRate", "service": "checkout", "severity": "critical", "namespace": "shop"}
    annotations = {"summary": "checkout 5xx above 5%", "description": "error ratio 0.12 for 2m"}
    return {
        "receiver": "crashlens",
        "status": status,
        "alerts": [{
            "status": status, "labels": labels, "annotations": annotations, "startsAt": starts,
            "endsAt": "2024-05-14T10:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus-0:9090/graph?g0.expr=sum%28rate%28http_requests_total%7Bcode%3D~%225..%22%2C"
                            "service%3D%22checkout%22%7D%5B2m%5D%29%29+%2F+sum%28rate%28http_requests_total%5B2m%5D%29%29"
                            "+%3E+0.05&g0.tab=1",
            "fingerprint": "5f0f1b5e0e1b6a5a",
        }],
        "groupLabels": {"alertname": "CheckoutErrorRate"},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager-0:9093",
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="CheckoutErrorRate"}',
        "truncatedAlerts": 0,
    }


def test_alertmanager_v4_payload_is_read_whole():
    alert = parse_alert(alertmanager_payload())
    assert (alert.source, alert.services, alert.severity, alert.status) == ("alertmanager", ["checkout"], "sev1", "firing")
    assert alert.fired_at == datetime(2024, 5, 14, 10, 14, 0, 123456) and alert.ends_at is None
    assert alert.metrics == ["http_requests_total"]  # from the rule's PromQL in generatorURL
    assert alert.title == "CheckoutErrorRate: checkout 5xx above 5%"
    d = alert.details
    assert d["receiver"] == "crashlens" and d["labels"]["namespace"] == "shop"
    assert d["annotations"]["description"] == "error ratio 0.12 for 2m"
    assert d["group_key"].endswith('{alertname="CheckoutErrorRate"}') and d["external_url"] == "http://alertmanager-0:9093"
    assert d["alerts"][0]["fingerprint"] == "5f0f1b5e0e1b6a5a"
    resolved = parse_alert(alertmanager_payload(status="resolved"))
    assert resolved.status == "resolved" and resolved.ends_at == datetime(2024, 5, 14, 10, 30)
    with pytest.raises(InputError, match="version"):
        parse_alert(dict(alertmanager_payload(), version="3"))
    with pytest.raises(InputError, match="no alerts"):
        parse_alert(dict(alertmanager_payload(), alerts=[]))


def test_grafana_and_plain_alerts():
    grafana = {
        "receiver": "crashlens", "status": "firing", "orgId": 1, "state": "alerting", "title": "[FIRING:1] Payments latency",
        "message": "**Firing**", "version": "1", "groupKey": "{}:{alertname=\"Payments latency\"}", "truncatedAlerts": 0,
        "externalURL": "https://grafana.example/", "groupLabels": {"alertname": "Payments latency"},
        "commonLabels": {"alertname": "Payments latency", "service_name": "payments", "grafana_folder": "shop"},
        "commonAnnotations": {"summary": "p95 above 800 ms"},
        "alerts": [{"status": "firing", "labels": {"alertname": "Payments latency", "service_name": "payments"},
                    "annotations": {"summary": "p95 above 800 ms"}, "startsAt": "2024-05-14T10:14:00+02:00",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "https://grafana.example/alerting/grafana/abc/view",
                    "fingerprint": "0a1b2c3d", "silenceURL": "https://grafana.example/alerting/silence/new",
                    "dashboardURL": "https://grafana.example/d/xyz", "panelURL": "https://grafana.example/d/xyz?viewPanel=2",
                    "values": {"B": 912.0}, "valueString": "[ var='B' labels={service_name=payments} value=912 ]"}],
    }
    alert = parse_alert(grafana)
    assert (alert.source, alert.services, alert.fired_at) == ("grafana", ["payments"], datetime(2024, 5, 14, 8, 14))
    assert alert.details["state"] == "alerting" and "value=912" in alert.details["alerts"][0]["valueString"]
    plain = parse_alert({"service": "checkout", "startsAt": "2024-05-14T10:14:00Z", "summary": "orders failing",
                         "severity": "high", "runbook": "https://runbooks/checkout"})
    assert (plain.source, plain.services, plain.severity, plain.title) == ("plain", ["checkout"], "sev2", "orders failing")
    assert plain.details["runbook"] == "https://runbooks/checkout"
    with pytest.raises(InputError, match="fired_at"):
        parse_alert({"service": "x", "summary": "no time"})


def test_metric_names_in_promql():
    assert metric_names_in_expr('histogram_quantile(0.95, sum by (le) (rate(http_server_duration_bucket{job="api"}[5m]))) > 0.8') \
        == ["http_server_duration_bucket"]
    assert metric_names_in_expr("process_up == 0 or absent(up)") == ["process_up", "up"]  # up is a metric too
    assert match_services(["Checkout-api", "payments"], ["checkout", "payments", "search"]) == ["checkout", "payments"]


def _logs(tmp_path, error_from: datetime | None) -> str:
    """20 minutes of checkout logs, one line every 2 s; from ``error_from`` on, errors every 3 s."""
    lines = []
    for s in range(0, 20 * 60, 2):
        ts = T0 + timedelta(seconds=s)
        lines.append({"ts": ts.isoformat() + "Z", "level": "INFO", "service": "checkout", "message": f"order o-{s} placed"})
        if error_from is not None and ts >= error_from and s % 3 == 0:
            lines.append({"ts": (ts + timedelta(milliseconds=500)).isoformat() + "Z", "level": "ERROR", "service": "checkout",
                          "message": f"POST /checkout failed for order o-{s}: upstream reset"})
    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return str(path)


def test_onset_is_searched_back_from_the_alert_and_the_incident_keeps_labels(ws, tmp_path):
    ingest_file(ws, "logs", _logs(tmp_path, T0 + timedelta(minutes=12)))
    onset = find_onset(ws, datetime(2024, 5, 14, 10, 14), ["checkout"])
    assert onset.method == "errors"
    assert abs((onset.onset - (T0 + timedelta(minutes=12))).total_seconds()) <= 15  # within one bin
    inc, created = open_alert_incident(ws, None, parse_alert(alertmanager_payload()))
    assert created and inc.source == "alert" and inc.services == ["checkout"] and inc.severity == "sev1"
    assert inc.window_start == onset.onset and inc.window_end > datetime(2024, 5, 14, 10, 14)
    assert inc.details["labels"]["alertname"] == "CheckoutErrorRate" and inc.details["onset"]["method"] == "errors"
    assert inc.details["onset_lead_s"] > 100  # the alert fired two minutes after the errors began
    again, created_again = open_alert_incident(ws, None, parse_alert(alertmanager_payload()))
    assert again.id == inc.id and not created_again


def test_no_departure_falls_back_to_five_minutes_before_the_alert(ws, tmp_path):
    ingest_file(ws, "logs", _logs(tmp_path, None))
    onset = find_onset(ws, datetime(2024, 5, 14, 10, 14), ["checkout"])
    assert onset.method == "none" and onset.onset == datetime(2024, 5, 14, 10, 9)


def test_cli_incidents_create_alert(tmp_path):
    folder = tmp_path / "ws"
    assert run_cli("ingest", "logs", _logs(tmp_path, T0 + timedelta(minutes=12)), "--no-detect", workspace=folder).returncode == 0
    payload = tmp_path / "alert.json"
    payload.write_text(json.dumps(alertmanager_payload()))
    out = run_cli("incidents", "create", "--alert", str(payload), "--json", workspace=folder)
    assert out.returncode == 0, out.stderr
    inc = json.loads(out.stdout)
    assert inc["id"] and inc["created"] is True and inc["window_start"].startswith("2024-05-14T10:1")
    assert inc["details"]["annotations"]["summary"] == "checkout 5xx above 5%"
    second = json.loads(run_cli("incidents", "create", "--alert", str(payload), "--json", workspace=folder).stdout)
    assert second["id"] == inc["id"] and second["created"] is False
    bad = tmp_path / "bad.json"
    bad.write_text('{"alerts": [], "version": "4"}')
    fail = run_cli("incidents", "create", "--alert", str(bad), "--json", workspace=folder)
    assert fail.returncode == 2 and "no alerts" in fail.stderr
