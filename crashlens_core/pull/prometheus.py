"""Prometheus (and VictoriaMetrics, Thanos, Mimir): ``/api/v1/query_range`` into the metrics table.

The answer's matrix is written as Prometheus text exposition with millisecond timestamps
and ingested by the metrics file parser (``ingest.metrics``, format ``prometheus``), so a
pulled series lands exactly as the same series exported to a file would: ``service`` from
the ``service`` (or ``job``) label, ``host`` from ``instance``, every label kept.

>>> exposition({"resultType": "matrix", "result": [{"metric": {"__name__": "up", "job": "api"},
...             "values": [[1700000000, "1"]]}]}, "prom", "service")[0]
b'up{job="api"} 1 1700000000000\\n'
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from ..config import Settings
from ..errors import ConfigError, SourceError
from .http import Reply, request
from .sources import Credentials, Source

__all__ = ["MAX_POINTS", "selector_for", "step_for", "query_range", "exposition", "check_prometheus"]

# Prometheus refuses a query_range whose series would have more points than this
# ("exceeded maximum resolution of 11,000 points per timeseries").
MAX_POINTS = 11_000
_METRIC_NAME = re.compile(r"[^a-zA-Z0-9_:]")


def _promql_string(text: str) -> str:
    """``text`` inside a PromQL double-quoted string (backslash and quote escaped, as Go strings)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selector_for(source: Source, services: list[str]) -> str:
    """The PromQL a pull asks: the source's selector with ``{services}`` filled in, or the default.

    >>> s = Source("p", "prometheus", "http://127.0.0.1:9090", {"service_label": "job", "selector": ""})
    >>> selector_for(s, ["checkout", "pay.v2"])
    '{job=~"checkout|pay\\\\\\\\.v2"}'
    """
    selector = source.config.get("selector") or '{%s=~"{services}"}' % source.config.get("service_label", "service")
    if "{services}" in selector:
        if not services:
            raise ConfigError(f"source {source.name}: the selector needs the incident's services and there are none",
                              hint="pass --incident ID (an incident with services), --service NAME, or --selector")
        # RE2 (Prometheus' regex engine) accepts a backslash before any punctuation, as re.escape writes it
        alternation = "|".join(re.escape(s) for s in sorted(set(services)))
        selector = selector.replace("{services}", _promql_string(alternation))
    return selector


def step_for(source: Source, start: datetime, end: datetime, settings: Settings) -> float:
    """The query_range step: the source's or the setting's, raised so that no series exceeds ``MAX_POINTS``."""
    step = float(source.config.get("step_s") or settings.pull_step_s)
    span = (end - start).total_seconds()
    return max(step, math.ceil(span / (MAX_POINTS - 1)))


def _epoch(ts: datetime) -> str:
    return f"{ts.replace(tzinfo=timezone.utc).timestamp():.3f}"


def _auth(creds: Credentials) -> tuple[dict[str, str], Any]:
    if creds.token:
        return {"Authorization": f"Bearer {creds.token}"}, None
    return {}, (creds.user, creds.password) if creds.user else None


def _decode(reply: Reply, source: str) -> dict[str, Any]:
    try:
        doc = json.loads(reply.body)
    except ValueError:
        raise SourceError(f"source {source}: the answer is not JSON (is the URL a Prometheus API?)",
                          hint="the URL is the server's base, e.g. http://127.0.0.1:9090, without /api/v1") from None
    if not isinstance(doc, dict) or doc.get("status") != "success":
        error = doc.get("error") if isinstance(doc, dict) else None
        raise SourceError(f"source {source}: Prometheus refused the query: {error or 'no status'}",
                          hint="check the selector (PromQL)")
    return doc


def query_range(settings: Settings, source: Source, creds: Credentials, query: str, start: datetime, end: datetime,
                step: float) -> tuple[Reply, dict[str, Any]]:
    """The raw answer and its ``data`` object for one query_range call."""
    headers, auth = _auth(creds)
    params = {"query": query, "start": _epoch(start), "end": _epoch(end), "step": f"{step:g}"}
    reply = request(settings, source.name, "GET", source.url + "/api/v1/query_range", params=params, headers=headers, auth=auth)
    data = _decode(reply, source.name).get("data") or {}
    if data.get("resultType") != "matrix":
        raise SourceError(f"source {source.name}: the query gives a {data.get('resultType') or 'missing'} result, not series",
                          hint="give a selector or an expression over series, e.g. rate(http_requests_total[1m])")
    return reply, data


def _label_value(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(data: dict[str, Any], source_name: str, service_label: str) -> tuple[bytes, int]:
    """The matrix as text exposition lines (one per point) and the number of points.

    A series without ``__name__`` (an expression such as ``rate(...)``) is named after the
    source (``<source>_value``). When the service is in another label than ``service``/``job``
    (``service_label=app``), a ``service`` label is added with its value, so the ingest puts
    the point on that service like any other.
    """
    out: list[str] = []
    fallback = _METRIC_NAME.sub("_", f"{source_name}_value")
    for series in data.get("result") or []:
        labels = dict(series.get("metric") or {})
        name = str(labels.pop("__name__", "") or fallback)
        if service_label not in ("service", "job") and labels.get(service_label) and "service" not in labels:
            labels["service"] = labels[service_label]
        text = ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(labels.items()))
        head = f"{name}{{{text}}}" if text else name
        for stamp, value in series.get("values") or []:
            out.append(f"{head} {value} {round(float(stamp) * 1000)}\n")
    return "".join(out).encode("utf-8"), len(out)


def check_prometheus(settings: Settings, source: Source, creds: Credentials) -> dict[str, Any]:
    """Reach the server and run the smallest query (``1``): proves the URL, the API and the credentials."""
    headers, auth = _auth(creds)
    reply = request(settings, source.name, "GET", source.url + "/api/v1/query", params={"query": "1"}, headers=headers, auth=auth)
    _decode(reply, source.name)
    version = ""
    try:
        info = request(settings, source.name, "GET", source.url + "/api/v1/status/buildinfo", headers=headers, auth=auth)
        version = str((json.loads(info.body).get("data") or {}).get("version") or "")
    except (SourceError, ValueError, AttributeError):
        pass  # VictoriaMetrics and older servers have no buildinfo: reachability is what matters
    return {"ok": True, "seconds": round(reply.seconds, 3), "version": version}
