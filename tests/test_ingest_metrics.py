"""Metric parsers (CSV long and wide, OTLP JSON, Prometheus text), on real files in tmp_path."""

from __future__ import annotations

import gzip
import json
import math
import os
from datetime import datetime
from pathlib import Path

import pytest

from crashlens_core.errors import InputError
from crashlens_core.ingest.metrics import METRIC_ROW_KEYS, detect_metric_format, histogram_quantile, parse_metrics
from crashlens_core.ingest.source import Source
from crashlens_core.models import IngestError

T0 = datetime(2024, 5, 14, 10, 0, 0)
T0_NS = int((T0 - datetime(1970, 1, 1)).total_seconds()) * 10**9


def _source(tmp_path: Path, name: str, content: str | object, gz: bool = False) -> Source:
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    path = tmp_path / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return Source.from_path(path)


def _parse(source: Source, fmt: str | None = None, mapping: dict | None = None, **kw):
    items = list(parse_metrics(source, fmt or detect_metric_format(source), mapping, **kw))
    rows = [x for x in items if isinstance(x, dict)]
    errors = [x for x in items if isinstance(x, IngestError)]
    assert len(rows) + len(errors) == len(items)
    for row in rows:
        assert tuple(row) == METRIC_ROW_KEYS and isinstance(row["value"], float)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in row["labels"].items())
    return rows, errors


# ------------------------------------------------------------------ CSV


def test_csv_long_form_with_labels_and_rejects(tmp_path):
    text = ("timestamp,metric,value,service,host,region\n"
            "2024-05-14T10:00:00Z,cpu,0.5,checkout,node-1,eu\n"
            "2024-05-14T10:00:10Z,cpu,oops,checkout,node-1,eu\n"
            "yesterday,cpu,0.7,checkout,node-1,eu\n"
            "1715680820,latency_p95,NaN,checkout,,\n")
    source = _source(tmp_path, "m.csv", text)
    assert detect_metric_format(source) == "csv"
    rows, errors = _parse(source)
    assert [(r["name"], r["line"]) for r in rows] == [("cpu", 2), ("latency_p95", 5)]
    assert rows[0] == {"ts": T0, "name": "cpu", "value": 0.5, "service": "checkout", "host": "node-1",
                       "labels": {"region": "eu"}, "line": 2}
    assert math.isnan(rows[1]["value"]) and rows[1]["host"] is None and rows[1]["ts"] == datetime(2024, 5, 14, 10, 0, 20)
    assert [(e.line, e.reason) for e in errors] == [(3, "value 'oops' is not a number"),
                                                    (4, "unparseable timestamp 'yesterday'")]


def test_csv_wide_form(tmp_path):
    text = ("time,host,cpu,mem_mb,zone\n"
            "2024-05-14 10:00:00,n1,0.25,512,a\n"
            "2024-05-14 10:00:05,n1,,600,a\n"
            "2024-05-14 10:00:10,n2,high,700,b\n")
    rows, errors = _parse(_source(tmp_path, "wide.csv", text))
    assert [(r["name"], r["value"], r["host"], r["labels"]) for r in rows] == [
        ("cpu", 0.25, "n1", {"zone": "a"}), ("mem_mb", 512.0, "n1", {"zone": "a"}),
        ("mem_mb", 600.0, "n1", {"zone": "a"}), ("mem_mb", 700.0, "n2", {"zone": "b"})]
    assert [(e.line, e.reason) for e in errors] == [(4, "column 'cpu': 'high' is not a number")]


def test_csv_wide_form_second_clock_column_is_not_a_label(tmp_path):
    # the Nezha metric export's shape: a Go time.String() column beside the epoch timestamp
    text = ("Time,TimeStamp,PodName,CpuUsage(m)\n"
            "2023-01-30 11:39:52.948766709 +0000 UTC m=+0.125597034,1675078792,ts-basic-service-5dc8d4f9fd-llznp,12\n"
            "2023-01-30 11:40:52.952426426 +0000 UTC m=+60.129256737,1675078852,ts-basic-service-5dc8d4f9fd-llznp,14\n")
    rows, errors = _parse(_source(tmp_path, "pod_metric.csv", text), "csv", {"ts": "TimeStamp", "service": "pod:PodName"})
    assert not errors and [(r["name"], r["value"], r["service"], r["labels"]) for r in rows] == [
        ("CpuUsage(m)", 12.0, "ts-basic-service", {}), ("CpuUsage(m)", 14.0, "ts-basic-service", {})]


def test_csv_mapping(tmp_path):
    text = "When;Pod;Series;Reading\n2024-05-14T10:00:00Z;ts-travel-service-64469b5b48-5rjvb;rps;12\n"
    source = _source(tmp_path, "m.csv", text)
    mapping = {"ts": "When", "service": "pod:Pod", "name": "Series", "value": "Reading"}
    rows, errors = _parse(source, "csv", mapping)
    assert not errors and rows[0]["service"] == "ts-travel-service" and rows[0]["value"] == 12.0
    with pytest.raises(InputError) as exc:
        list(parse_metrics(source, "csv", {**mapping, "value": "Nope"}))
    assert "'Nope'" in exc.value.message and "Reading" in exc.value.hint
    with pytest.raises(InputError, match="no value column"):
        list(parse_metrics(_source(tmp_path, "n.csv", "ts,name,v\n1,a,2\n"), "csv", {"name": "name"}))


# ------------------------------------------------------------------ OTLP


def _kv(key, **value):
    return {"key": key, "value": value}


def _otlp_doc():
    point = {"timeUnixNano": str(T0_NS), "attributes": [_kv("route", stringValue="/pay"), _kv("ok", boolValue=True)]}
    return {"resourceMetrics": [{
        "resource": {"attributes": [_kv("service.name", stringValue="checkout"), _kv("host.name", stringValue="node-1")]},
        "scopeMetrics": [{"metrics": [
            {"name": "requests", "sum": {"isMonotonic": True, "dataPoints": [{**point, "asInt": "42"}]}},
            {"name": "cpu", "gauge": {"dataPoints": [{**point, "asDouble": 0.75}, {"asDouble": 1.0}]}},
            {"name": "latency", "histogram": {"dataPoints": [{**point, "count": "10", "sum": 2.5,
                                                              "bucketCounts": ["5", "4", "1"], "explicitBounds": [0.1, 0.5]}]}},
            {"name": "size", "summary": {"dataPoints": [{**point, "count": "3", "sum": 30,
                                                         "quantileValues": [{"quantile": 0.5, "value": 9}, {"quantile": 0.99, "value": 12}]}]}},
            {"name": "mystery", "description": "no data"},
        ]}]}]}


def test_otlp_metrics(tmp_path):
    source = _source(tmp_path, "metrics.json", _otlp_doc())
    assert detect_metric_format(source) == "otlp"
    rows, errors = _parse(source)
    values = {r["name"]: r["value"] for r in rows}
    assert values == {"requests": 42.0, "cpu": 0.75, "latency_count": 10.0, "latency_sum": 2.5, "latency_p50": 0.1,
                      "latency_p95": pytest.approx(0.5), "size_count": 3.0, "size_sum": 30.0, "size_q0.5": 9.0,
                      "size_q0.99": 12.0}
    assert all(r["service"] == "checkout" and r["host"] == "node-1" and r["ts"] == T0 for r in rows)
    assert rows[0]["labels"] == {"route": "/pay", "ok": "true"} and rows[0]["line"] is None
    assert [e.reason for e in errors] == ["metric 1 of resourceMetrics[0].scopeMetrics[0] point 1: missing timeUnixNano",
                                          "metric 4 of resourceMetrics[0].scopeMetrics[0]: no gauge, sum, histogram or summary data"]


def test_otlp_metrics_json_lines(tmp_path):
    line = json.dumps(_otlp_doc())
    source = _source(tmp_path, "metrics.jsonl", line + "\n" + line + "\n")
    rows, _ = _parse(source)
    assert {r["line"] for r in rows} == {1, 2} and len(rows) == 20


def test_histogram_quantile():
    assert histogram_quantile(0.5, [1.0], [1, 1], 0, 2) == 1.0
    assert histogram_quantile(0.95, [1.0], [1, 1], 0, 2) == 1.9
    assert histogram_quantile(0.99, [1.0, 2.0], [0, 0, 5]) == 2.0  # in +Inf with no max: the highest bound
    assert histogram_quantile(0.5, [], [3]) is None and histogram_quantile(0.5, [1.0], [0, 0]) is None


# ------------------------------------------------------------------ Prometheus

PROM = """# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200",job="api",instance="10.0.0.1:9090"} 1027 1715680800000
http_requests_total{method="post",code="400",service="checkout"}    3 1715680800000
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9
something_weird{problem="division by zero"} +Inf
nothing_here NaN
broken{le=} 1
also_broken{a="b"} twelve

http_request_duration_seconds_bucket{le="0.05"} 24054 # {trace_id="KOO5S4vxi0o"} 0.04
"""


def test_prometheus_text(tmp_path):
    source = _source(tmp_path, "metrics.prom", PROM, gz=True)
    assert detect_metric_format(source) == "prometheus"
    rows, errors = _parse(source, default_ts=T0)
    assert [r["name"] for r in rows] == ["http_requests_total", "http_requests_total", "msdos_file_access_time_seconds",
                                         "something_weird", "nothing_here", "http_request_duration_seconds_bucket"]
    first, second, msdos, weird, nan, bucket = rows
    assert first["ts"] == T0 and first["service"] == "api" and first["host"] == "10.0.0.1:9090" and first["line"] == 3
    assert first["labels"] == {"method": "post", "code": "200", "job": "api", "instance": "10.0.0.1:9090"}
    assert second["service"] == "checkout"
    assert msdos["labels"] == {"path": "C:\\DIR\\FILE.TXT", "error": 'Cannot find file:\n"FILE.TXT"'}
    assert msdos["ts"] == T0  # no timestamp: default_ts
    assert weird["value"] == math.inf and math.isnan(nan["value"])
    assert bucket["value"] == 24054.0 and bucket["labels"] == {"le": "0.05"}
    assert [e.line for e in errors] == [8, 9]


def test_prometheus_without_timestamp_uses_file_mtime(tmp_path):
    source = _source(tmp_path, "m.txt", "up 1\n")
    os.utime(source.path, (1715680800, 1715680800))
    rows, _ = _parse(source, "prometheus")
    assert rows[0]["ts"] == T0


def test_detect_metric_refusals(tmp_path):
    with pytest.raises(InputError, match="not OTLP metrics") as exc:
        detect_metric_format(_source(tmp_path, "spans.json", {"resourceSpans": []}))
    assert "ingest spans" in exc.value.hint
    with pytest.raises(InputError):
        detect_metric_format(_source(tmp_path, "words.txt", "just some words\nand more\n"))
    with pytest.raises(InputError):
        parse_metrics(_source(tmp_path, "x.prom", "up 1\n"), "prometheus", {"name": "x"})


def test_detect_prometheus_without_help_lines_and_csv_headers(tmp_path):
    prom = 'http_requests_total{method="post",code="200"} 1027\nup{job="x"} 1\n'
    assert detect_metric_format(_source(tmp_path, "a.txt", prom)) == "prometheus"
    tsv = "time\tvalue\n2024-05-14 10:00:00\t5\n"
    source = _source(tmp_path, "b.tsv", tsv)
    assert detect_metric_format(source) == "csv"
    rows, errors = _parse(source)
    assert [(r["name"], r["value"]) for r in rows] == [("value", 5.0)] and not errors
