"""Metric parsers: CSV (long or wide), OTLP JSON metrics and the Prometheus text format.

This module owns ``detect_metric_format`` / ``parse_metrics`` and the metric row: a dict
with exactly ``METRIC_ROW_KEYS`` — ``ts`` (naive UTC), ``name``, ``value`` (float; NaN and
±Inf are kept as floats), ``service``, ``host``, ``labels`` (dict of str → str) and ``line``.
Each malformed item becomes an ``IngestError(line, reason)`` and parsing goes on.

- ``csv``: long form has a name and a value column (``ts/timestamp/time``, ``name/metric/
  series``, ``value``, optional ``service`` and ``host``; every other column is a label).
  Without a name column the file is read in wide form: each column other than
  time/service/host whose first value is a number is a series named by its header; the
  other columns are labels. ``mapping`` is ``{field: column}`` as for span CSVs
  (``pod:`` prefix: pod name → workload).
- ``otlp``: gauge and sum points as they are; histograms as ``<name>_count``,
  ``<name>_sum`` and, with explicit bounds, ``<name>_p50`` / ``<name>_p95`` interpolated
  inside the bucket (clamped to min/max when given); exponential histograms as count and
  sum; summaries as count, sum and ``<name>_q<quantile>`` (``_q0.99``). ``service`` and
  ``host`` come from the resource's ``service.name`` and ``host.name``.
- ``prometheus``: text exposition / OpenMetrics. Samples without a timestamp get
  ``default_ts``, or else the file's modification time (UTC). ``service`` is the
  ``service`` or else ``job`` label, ``host`` the ``instance`` label; all labels are kept.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Iterator

from ..errors import InputError
from ..models import LOG_ALIASES, IngestError
from .normalize import epoch_to_dt, json_default, parse_ts, pod_to_service
from .source import Source
from .records import (as_list, as_object, csv_table, guarded_walk, json_keys_in, ns_to_dt, otlp_attributes, otlp_resources,
                      resolve_mapping)

__all__ = ["METRIC_FORMATS", "METRIC_ROW_KEYS", "detect_metric_format", "parse_metrics", "histogram_quantile"]

METRIC_FORMATS = ("csv", "otlp", "prometheus")
METRIC_ROW_KEYS = ("ts", "name", "value", "service", "host", "labels", "line")

METRIC_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "ts": (*LOG_ALIASES["ts"], "timeunixnano", "timestamp_ms", "epoch"),
    "name": ("name", "metric", "metric_name", "metricname", "series", "__name__"),
    "value": ("value", "val", "metric_value", "metricvalue"),
    "service": LOG_ALIASES["service"],
    "host": LOG_ALIASES["host"],
}
_FIELDS = tuple(METRIC_FIELD_ALIASES)
_PROM_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_PROM_LABEL = re.compile(r'\s*(?:([a-zA-Z_][a-zA-Z0-9_]*)|"((?:[^"\\]|\\.)*)")\s*(?:=\s*"((?:[^"\\]|\\.)*)")?\s*(,|\})')
_PROM_SAMPLE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+\S+(\s+-?[\d.eE+]+)?\s*(#.*)?$")
_ESCAPE = re.compile(r"\\(.)")


def _row(ts: datetime, name: str, value: float, service: Any, host: Any, labels: dict[str, str],
         line: int | None) -> dict[str, Any]:
    return {"ts": ts, "name": name, "value": value, "service": str(service) if service else None,
            "host": str(host) if host else None, "labels": labels, "line": line}


def _label_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=json_default)
    return "" if value is None else str(value)


# ============================================================== detection


def detect_metric_format(source: Source) -> str:
    """Tell the metric format from the file's head; InputError (with a hint) when unknown."""
    head = source.head().lstrip("\ufeff \t\r\n")
    if not head:
        raise InputError(f"{source.name}: empty file", hint="check the path")
    if head[0] in "[{":
        keys = json_keys_in(head)
        if "resourceMetrics" in keys:
            return "otlp"
        hint = ("ingest it with `crashlens ingest spans`" if "resourceSpans" in keys
                else "export metrics as CSV or OTLP JSON")
        raise InputError(f"{source.name}: JSON, but not OTLP metrics", hint=hint)
    lines = [ln.strip() for ln in head.splitlines()[:50] if ln.strip()]
    samples = [ln for ln in lines if not ln.startswith("#")]
    if any(ln.startswith(("# TYPE", "# HELP")) for ln in lines) or (
            samples and all(_PROM_SAMPLE.match(ln) for ln in samples[:10])):
        return "prometheus"
    if any(d in lines[0] for d in (",", "\t", ";", "|")):
        return "csv"
    raise InputError(f"{source.name}: not a metric format CrashLens knows",
                     hint=f"pass --format ({', '.join(METRIC_FORMATS)}); CSV needs a header row")


def parse_metrics(source: Source, fmt: str, mapping: dict[str, str] | None = None, *,
                  default_ts: datetime | None = None) -> Iterator[dict | IngestError]:
    """Metric rows (dicts with exactly ``METRIC_ROW_KEYS``) and rejects, streamed.

    ``default_ts`` is the time of Prometheus samples that carry none (default: file mtime).
    """
    if fmt not in METRIC_FORMATS:
        raise InputError(f"unknown metric format {fmt!r}", hint=f"use one of: {', '.join(METRIC_FORMATS)}")
    if mapping and fmt != "csv":
        raise InputError(f"--map does not apply to {fmt} metrics", hint="column mappings are for csv files")
    if fmt == "csv":
        return _parse_csv(source, mapping)
    if fmt == "otlp":
        return _parse_otlp(source)
    if default_ts is None:
        default_ts = datetime.fromtimestamp(source.path.stat().st_mtime, tz=timezone.utc).replace(tzinfo=None)
    return _parse_prometheus(source, default_ts)


# ============================================================== CSV


def _csv_columns(header: list[str], mapping: dict[str, str] | None, name: str) -> dict[str, tuple[int, bool]]:
    resolved = resolve_mapping(header, mapping, _FIELDS, METRIC_FIELD_ALIASES, name)
    cols = {f: (header.index(c.removeprefix("pod:")), c.startswith("pod:")) for f, c in resolved.items()}
    if "ts" not in cols:
        raise InputError(f"{name}: no timestamp column found",
                         hint=f"name it with --map COLUMN=ts; the header has: {', '.join(header)}")
    if "value" in cols and "name" not in cols and "value" not in (mapping or {}):
        del cols["value"]  # wide form: a column called "value" is just one more series
    if ("name" in cols) != ("value" in cols):
        missing = "value" if "name" in cols else "name"
        present = "name" if missing == "value" else "value"
        raise InputError(f"{name}: no {missing} column (needed with the {present} column)",
                         hint=f"name it with --map COLUMN={missing}; the header has: {', '.join(header)}")
    return cols


def _parse_csv(source: Source, mapping: dict[str, str] | None) -> Iterator[dict | IngestError]:
    header, records = csv_table(source)
    cols = _csv_columns(header, mapping, source.name)
    return _csv_rows(header, records, cols)


def _csv_rows(header: list[str], records: Iterator[tuple[int, Any]], cols: dict[str, tuple[int, bool]]
              ) -> Iterator[dict | IngestError]:
    used = {i for i, _ in cols.values()}
    series: dict[int, str] = {}  # wide form: column → series | label | time (decided by its first value)
    for line, cells in records:
        if isinstance(cells, IngestError):
            yield cells
            continue
        f = {field: cells[i].strip() for field, (i, _) in cols.items()}
        for field, (_, pod) in cols.items():
            if pod and f[field]:
                f[field] = pod_to_service(f[field])
        ts = parse_ts(f["ts"])
        if ts is None:
            yield IngestError(line, f"unparseable timestamp {f['ts'][:40]!r}")
            continue
        other = {i: cells[i].strip() for i in range(len(header)) if i not in used and cells[i].strip()}
        if "name" in cols:
            yield _long_row(f, ts, {header[i]: v for i, v in other.items()}, line)
        else:
            yield from _wide_rows(header, f, ts, other, series, line)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_time(text: str) -> bool:
    """A second clock column (a text time beside the mapped timestamp), e.g. Go's time.String()
    ``2023-01-30 11:39:52.948766709 +0000 UTC m=+0.125597034``: the date-time, then a zone name or
    a monotonic reading. Such a column is not a label: a label names a series, and a value that
    changes every sample would make each sample a series of its own (no baseline could exist)."""
    words = text.split()
    return any(parse_ts(" ".join(words[:n])) is not None for n in (len(words), 3, 2) if 2 <= n <= len(words))


def _long_row(f: dict[str, str], ts: datetime, labels: dict[str, str], line: int) -> dict | IngestError:
    if not f["name"]:
        return IngestError(line, "missing metric name")
    value = _number(f["value"])
    if value is None:
        return IngestError(line, f"value {f['value'][:40]!r} is not a number")
    return _row(ts, f["name"], value, f.get("service"), f.get("host"), labels, line)


def _wide_rows(header: list[str], f: dict[str, str], ts: datetime, other: dict[int, str],
               series: dict[int, str], line: int) -> Iterator[dict | IngestError]:
    for i, text in other.items():
        if i not in series:
            series[i] = "series" if _number(text) is not None else "time" if _is_time(text) else "label"
    labels = {header[i]: v for i, v in other.items() if series[i] == "label"}
    for i, text in other.items():
        if series[i] != "series":
            continue
        value = _number(text)
        if value is None:
            yield IngestError(line, f"column {header[i]!r}: {text[:40]!r} is not a number")
            continue
        yield _row(ts, header[i], value, f.get("service"), f.get("host"), dict(labels), line)


# ============================================================== OTLP


def _parse_otlp(source: Source) -> Iterator[dict | IngestError]:
    return otlp_resources(source, "resourceMetrics", "metrics", _otlp_resource)


def _otlp_resource(rm: Any, line: int | None, path: str) -> Iterator[dict | IngestError]:
    rm = as_object(rm, path)
    resource = otlp_attributes(as_object(rm.get("resource"), f"{path}.resource").get("attributes"))
    key = "scopeMetrics" if "scopeMetrics" in rm else "instrumentationLibraryMetrics"
    for si, sm in enumerate(as_list(rm.get(key), f"{path}.{key}")):
        metrics = as_list(as_object(sm, f"{path}.{key}[{si}]").get("metrics"), f"{path}.{key}[{si}].metrics")
        for mi, metric in enumerate(metrics):
            where = f"metric {mi} of {path}.{key}[{si}]"
            yield from guarded_walk(_otlp_metric(metric, resource, line, where), line, where)


_OTLP_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


def _otlp_metric(metric: Any, resource: dict[str, Any], line: int | None, where: str) -> Iterator[dict | IngestError]:
    if not isinstance(metric, dict) or not metric.get("name"):
        yield IngestError(line, f"{where}: missing name")
        return
    kind = next((k for k in _OTLP_KINDS if isinstance(metric.get(k), dict)), None)
    if kind is None:
        yield IngestError(line, f"{where}: no gauge, sum, histogram or summary data")
        return
    name, service, host = metric["name"], resource.get("service.name"), resource.get("host.name")
    for pi, point in enumerate(as_list(metric[kind].get("dataPoints"), "dataPoints")):
        here = f"{where} point {pi}"
        ts_raw = point.get("timeUnixNano") if isinstance(point, dict) else None
        if ts_raw in (None, "", "0", 0):
            yield IngestError(line, f"{here}: missing timeUnixNano")
            continue
        ts = ns_to_dt(ts_raw)
        labels = {k: _label_text(v) for k, v in otlp_attributes(point.get("attributes")).items()}
        values = list(_point_values(kind, name, point))
        if not values:
            yield IngestError(line, f"{here}: data point has no value")
        for series, value in values:
            yield _row(ts, series, value, service, host, dict(labels), line)


def _point_values(kind: str, name: str, point: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """(series name, value) pairs of one OTLP data point."""
    if kind in ("gauge", "sum"):
        raw = point.get("asDouble", point.get("asInt"))
        if raw is not None:
            yield name, float(raw)
        return
    if point.get("count") is not None:
        yield f"{name}_count", float(point["count"])
    if point.get("sum") is not None:
        yield f"{name}_sum", float(point["sum"])
    if kind == "histogram":
        bounds = [float(b) for b in point.get("explicitBounds") or []]
        counts = [float(c) for c in point.get("bucketCounts") or []]
        for q, suffix in ((0.5, "p50"), (0.95, "p95")):
            v = histogram_quantile(q, bounds, counts, point.get("min"), point.get("max"))
            if v is not None:
                yield f"{name}_{suffix}", v
    elif kind == "summary":
        for qv in point.get("quantileValues") or []:
            yield f"{name}_q{float(qv.get('quantile', 0)):g}", float(qv.get("value", 0.0))


def histogram_quantile(q: float, bounds: list[float], counts: list[float],
                       lo: Any = None, hi: Any = None) -> float | None:
    """Quantile of an explicit-bucket histogram, linearly interpolated inside its bucket.

    Bucket i holds values in (bounds[i-1], bounds[i]]; the first starts at ``lo`` (the
    point's min) or 0, the last (+Inf) ends at ``hi`` (max) or else the answer is the
    highest bound, as Prometheus' histogram_quantile does.

    >>> histogram_quantile(0.5, [1.0], [1, 1], 0, 2), histogram_quantile(0.95, [1.0], [1, 1], 0, 2)
    (1.0, 1.9)
    """
    if not bounds or len(counts) != len(bounds) + 1 or sum(counts) <= 0:
        return None
    rank, seen = q * sum(counts), 0.0
    for i, count in enumerate(counts):
        if count > 0 and seen + count >= rank:
            if i == len(bounds) and hi is None:
                return bounds[-1]
            lower = bounds[i - 1] if i > 0 else (float(lo) if lo is not None else min(0.0, bounds[0]))
            upper = bounds[i] if i < len(bounds) else float(hi)
            value = lower + (upper - lower) * (rank - seen) / count
            value = max(value, float(lo)) if lo is not None else value
            return round(min(value, float(hi)) if hi is not None else value, 12)
        seen += count
    return bounds[-1]


# ============================================================== Prometheus text


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def _prom_sample(text: str) -> tuple[str, dict[str, str], str] | str:
    """(name, labels, rest of the line), or the reason the line is not a sample."""
    m = _PROM_NAME.match(text)
    name, pos, labels = (m.group(0), m.end(), {}) if m else ("", 0, {})
    if pos < len(text) and text[pos] == "{":
        pos += 1
        while pos < len(text) and text[pos:].strip()[:1] != "}":
            lm = _PROM_LABEL.match(text, pos)
            if lm is None:
                return f"bad label set at column {pos + 1}"
            key, quoted, value = lm.group(1), lm.group(2), lm.group(3)
            if value is None and quoted is None:
                return f"label {key!r} has no value"
            if value is None:  # Prometheus 3 / OpenMetrics 2: a quoted metric name inside the braces
                name = _unescape(quoted)
            else:
                labels[key or _unescape(quoted)] = _unescape(value)
            pos = lm.end()
            if lm.group(4) == "}":
                break
        else:
            if "}" not in text[pos:]:
                return "unterminated label set"
            pos = text.index("}", pos) + 1
    if not name:
        return "no metric name"
    return name, labels, text[pos:]


def _parse_prometheus(source: Source, default_ts: datetime) -> Iterator[dict | IngestError]:
    for line, raw in source.lines():
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        sample = _prom_sample(text)
        if isinstance(sample, str):
            yield IngestError(line, f"not a Prometheus sample: {sample}")
            continue
        name, labels, rest = sample
        parts = rest.split("#", 1)[0].split()  # drop an OpenMetrics exemplar
        value = _number(parts[0]) if parts else None
        if value is None:
            yield IngestError(line, f"{name}: value {parts[0][:40] if parts else ''!r} is not a number")
            continue
        ts = default_ts
        if len(parts) > 1:
            stamp = _number(parts[1])
            if stamp is None or not math.isfinite(stamp):
                yield IngestError(line, f"{name}: timestamp {parts[1][:40]!r} is not a number")
                continue
            try:
                ts = epoch_to_dt(stamp)  # Prometheus text: ms; OpenMetrics: s (told apart by magnitude)
            except (OverflowError, OSError, ValueError):
                yield IngestError(line, f"{name}: timestamp {parts[1][:40]!r} is out of range")
                continue
        yield _row(ts, name, value, labels.get("service") or labels.get("job"), labels.get("instance"), labels, line)
