"""Alert payloads: what fired, for which service, when (``crashlens incidents create --alert FILE``).

Three shapes are read:

- the Alertmanager webhook (``version: "4"``, as Alertmanager 0.25 posts it: ``receiver``,
  ``status``, ``alerts[{status, labels, annotations, startsAt, endsAt, generatorURL,
  fingerprint}]``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL``,
  ``groupKey``, ``truncatedAlerts``);
- the Grafana alerting webhook (the same alert list plus ``orgId``, ``state``, ``title``,
  ``message``, and per alert ``values`` / ``valueString``, ``dashboardURL``, ``panelURL``);
- a plain object ``{service, fired_at | startsAt, summary, severity, …}``.

``parse_alert`` turns any of them into one ``Alert``: the firing alerts of a group are one
incident (Alertmanager groups alerts that belong together). The metric an alert watches is
read from its labels or from the PromQL expression in ``generatorURL`` (Prometheus puts the rule
there as ``g0.expr``); labels and annotations are kept whole for the incident's ``details``.
Nothing here touches the workspace.

>>> a = parse_alert({"service": "checkout", "fired_at": "2024-05-14T10:05:00Z", "summary": "5xx up"})
>>> a.services, a.fired_at.isoformat()
(['checkout'], '2024-05-14T10:05:00')
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import InputError
from ..ingest.normalize import parse_ts
from ..models import SEVERITIES

__all__ = ["Alert", "SHAPES", "alert_key", "parse_alert", "read_alert_file", "metric_names_in_expr"]

SHAPES = ("alertmanager", "grafana", "plain")

# Labels that name the service an alert is about, most specific first (Prometheus / Kubernetes
# conventions: `service`, `app`, `app.kubernetes.io/name` sanitised, then the scrape job).
_SERVICE_LABELS = ("service", "service_name", "app", "application", "app_kubernetes_io_name", "container",
                   "deployment", "job")
_METRIC_LABELS = ("metric", "__name__", "metric_name")
# PromQL words that are not metric names.
_PROMQL_WORDS = frozenset({
    "sum", "rate", "irate", "increase", "avg", "min", "max", "count", "by", "without", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "offset", "bool", "histogram_quantile", "quantile", "topk", "bottomk",
    "abs", "delta", "deriv", "absent", "clamp_max", "clamp_min", "avg_over_time", "max_over_time", "min_over_time",
    "sum_over_time", "count_over_time", "le", "vector", "scalar", "time", "label_replace", "stddev", "stdvar"})
_SEVERITY_WORDS = {"critical": "sev1", "page": "sev1", "high": "sev2", "error": "sev2", "major": "sev2",
                   "warning": "sev3", "warn": "sev3", "medium": "sev3", "minor": "sev4", "info": "sev4", "low": "sev4"}


@dataclass
class Alert:
    """One alert (or a group of firing alerts) as CrashLens reads it."""

    source: str                      # alertmanager | grafana | plain
    title: str
    fired_at: datetime               # earliest startsAt of the firing alerts (naive UTC)
    services: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    severity: str = "sev3"
    status: str = "firing"
    ends_at: datetime | None = None  # set when resolved
    fingerprint: str = ""            # stable identity: the same alert posted twice opens one incident
    details: dict[str, Any] = field(default_factory=dict)


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def alert_key(alert: dict[str, Any]) -> str:
    """One alert's identity across deliveries: its fingerprint (Alertmanager's hash of the labels,
    or the sorted labels themselves) and when it started. Alertmanager re-sends an alert with the
    same startsAt until it resolves; the same labels firing again later are a new occurrence.

    >>> alert_key({"fingerprint": "5f0f", "startsAt": "2024-05-14T10:14:00Z"})
    '5f0f|2024-05-14T10:14:00'
    """
    ident = str(alert.get("fingerprint") or json.dumps(_labels(alert.get("labels")), sort_keys=True))
    start = parse_ts(alert.get("startsAt"))
    return f"{ident}|{start.isoformat() if start else ''}"


def metric_names_in_expr(expr: str) -> list[str]:
    """Metric names in a PromQL expression, in order.

    >>> metric_names_in_expr('sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05')
    ['http_requests_total']
    """
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)      # label values are not names
    expr = re.sub(r"\{[^}]*\}", "", expr)               # nor label names
    expr = re.sub(r"\[[^\]]*\]", "", expr)               # nor ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    out: list[str] = []
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()", expr):
        name = m.group(1)
        if name.lower() not in _PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]?", name) and name not in out:
            out.append(name)
    return out


def _expr_of(url: str) -> str | None:
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    for key in ("g0.expr", "expr", "query"):
        if query.get(key):
            return query[key][0]
    return None


def _severity(labels: dict[str, str]) -> str:
    word = (labels.get("severity") or labels.get("priority") or "").lower()
    if word in SEVERITIES:
        return word
    if re.fullmatch(r"p[1-4]", word):
        return f"sev{word[1]}"
    return _SEVERITY_WORDS.get(word, "sev3")


def _service(labels: dict[str, str]) -> str | None:
    for key in _SERVICE_LABELS:
        if labels.get(key):
            return labels[key]
    return None


def _group(payload: dict[str, Any], source: str) -> Alert:
    alerts = [a for a in payload.get("alerts") or [] if isinstance(a, dict)]
    if not alerts:
        raise InputError("the alert payload lists no alerts", hint="Alertmanager posts at least one alert in `alerts`")
    firing = [a for a in alerts if a.get("status", "firing") == "firing"] or alerts
    common = _labels(payload.get("commonLabels"))
    starts = [t for t in (parse_ts(a.get("startsAt")) for a in firing) if t is not None]
    if not starts:
        raise InputError("no alert in the payload has a readable startsAt", hint="startsAt is an RFC 3339 time")
    services: list[str] = []
    metrics: list[str] = []
    for a in firing:
        labels = _labels(a.get("labels"))
        svc = _service(labels) or _service(common)
        if svc and svc not in services:
            services.append(svc)
        for key in _METRIC_LABELS:
            if labels.get(key) and labels[key] not in metrics:
                metrics.append(labels[key])
        expr = _expr_of(str(a.get("generatorURL") or ""))
        for name in metric_names_in_expr(expr) if expr else []:
            if name not in metrics:
                metrics.append(name)
    ends = [parse_ts(a.get("endsAt")) for a in alerts]
    resolved = payload.get("status") == "resolved"
    # Alertmanager sends endsAt 0001-01-01 for firing alerts: only a resolved group has an end.
    end = max((t for t in ends if t is not None and t.year > 1), default=None) if resolved else None
    first = firing[0]
    annotations = _labels(first.get("annotations")) or _labels(payload.get("commonAnnotations"))
    name = common.get("alertname") or _labels(first.get("labels")).get("alertname") or str(payload.get("title") or "alert")
    text = annotations.get("summary") or annotations.get("description") or str(payload.get("message") or "").strip()
    title = f"{name}: {text}" if text and text != name else name
    key = payload.get("groupKey") or json.dumps(sorted(str(a.get("fingerprint") or a.get("labels")) for a in firing))
    fingerprint = "alert:" + hashlib.sha256(f"{key}|{min(starts).isoformat()}".encode()).hexdigest()[:16]
    details = {
        "alert_source": source, "receiver": payload.get("receiver"), "status": payload.get("status"),
        "group_key": payload.get("groupKey"), "group_labels": _labels(payload.get("groupLabels")),
        "labels": common or _labels(first.get("labels")),
        "annotations": _labels(payload.get("commonAnnotations")) or annotations,
        "external_url": payload.get("externalURL"), "truncated_alerts": payload.get("truncatedAlerts", 0),
        "alert_keys": sorted({alert_key(a) for a in alerts}),
        "alerts": [{"key": alert_key(a), "status": a.get("status"), "labels": _labels(a.get("labels")), "annotations": _labels(a.get("annotations")),
                    "startsAt": a.get("startsAt"), "endsAt": a.get("endsAt"), "generatorURL": a.get("generatorURL"),
                    "fingerprint": a.get("fingerprint"),
                    **({"valueString": a["valueString"]} if a.get("valueString") else {})} for a in alerts[:50]],
    }
    if source == "grafana":
        details.update({"org_id": payload.get("orgId"), "state": payload.get("state"), "grafana_title": payload.get("title")})
    severity = min((_severity(_labels(a.get("labels")) or common) for a in firing), default="sev3")
    return Alert(source, title[:300], min(starts), services, metrics, severity, "resolved" if resolved else "firing", end,
                 fingerprint, {k: v for k, v in details.items() if v not in (None, "", {}, [])})


def _plain(payload: dict[str, Any]) -> Alert:
    fired = parse_ts(payload.get("fired_at") or payload.get("startsAt") or payload.get("ts") or payload.get("timestamp"))
    if fired is None:
        raise InputError("the alert has no readable fired_at (or startsAt)", hint='e.g. "fired_at": "2024-05-14T10:05:00Z"')
    labels = _labels(payload.get("labels"))
    service = payload.get("service") or _service(labels)
    services = [str(s) for s in service] if isinstance(service, list) else [str(service)] if service else []
    metric = payload.get("metric") or labels.get("metric")
    summary = str(payload.get("summary") or payload.get("title") or payload.get("message") or "alert").strip()
    sev = str(payload.get("severity") or labels.get("severity") or "sev3").lower()
    severity = sev if sev in SEVERITIES else _SEVERITY_WORDS.get(sev, "sev3")
    fingerprint = "alert:" + hashlib.sha256(json.dumps([services, summary, fired.isoformat()]).encode()).hexdigest()[:16]
    details = {"alert_source": "plain", **{k: v for k, v in payload.items() if k not in ("fired_at", "startsAt")}}
    ends = parse_ts(payload.get("resolved_at") or payload.get("endsAt"))
    # resolved when it says so, or when it names the time it ended (a plain alert has no other state)
    resolved = str(payload.get("status") or "").lower() == "resolved" or (ends is not None and ends.year > 1)
    return Alert("plain", f"{summary}"[:300], fired, services, [str(metric)] if metric else [], severity,
                 "resolved" if resolved else "firing", ends if ends is not None and ends.year > 1 else None,
                 fingerprint, details)


def parse_alert(payload: Any, shape: str | None = None) -> Alert:
    """An Alertmanager v4, Grafana or plain alert payload as an ``Alert``; ``InputError`` says what is missing.

    ``shape`` (one of ``SHAPES``) says which one the caller expects (a webhook route does);
    without it the shape is told from the payload.
    """
    if not isinstance(payload, dict):
        raise InputError("an alert payload is a JSON object", hint="Alertmanager webhook, Grafana webhook, or {service, fired_at, summary}")
    if shape is not None and shape not in SHAPES:
        raise InputError(f"unknown alert shape {shape!r}", hint=f"use one of {', '.join(SHAPES)}")
    if shape in ("alertmanager", "grafana") and not isinstance(payload.get("alerts"), list):
        raise InputError(f"a {shape} webhook has an `alerts` list", hint="post the webhook body as the sender sends it")
    if shape == "grafana":
        return _group(payload, "grafana")
    if shape == "plain":
        return _plain(payload)
    if isinstance(payload.get("alerts"), list):
        grafana = "orgId" in payload or "state" in payload or any(
            isinstance(a, dict) and ("valueString" in a or "dashboardURL" in a) for a in payload["alerts"])
        grafana = grafana and shape != "alertmanager"
        if not grafana and str(payload.get("version", "4")) != "4":
            raise InputError(f"Alertmanager webhook version {payload.get('version')!r} is not read",
                             hint='CrashLens reads version "4" (Alertmanager 0.16 and later)')
        return _group(payload, "grafana" if grafana else "alertmanager")
    return _plain(payload)


def read_alert_file(path: str) -> Alert:
    from ..ingest.source import Source

    return parse_alert(Source.from_path(path).read_json_document())
