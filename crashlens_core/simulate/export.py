"""Writing a run's telemetry in the formats CrashLens ingests.

``logs.jsonl`` (structured logs), ``app.log`` (plain text of one service on one
host, with multi-line tracebacks), ``spans.otlp.json`` (OTLP/JSON),
``agent_spans.jsonl`` (AgentOps native span schema), ``metrics.csv`` (10-second
samples) and ``ground_truth.json``. Every writer orders its rows explicitly so
the same run always produces the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from .runtime import LogEntry, SpanRecord
from .world import iso_us

__all__ = ["write_logs", "write_text_log", "write_otlp", "write_agent_spans", "write_metrics",
           "write_json", "BUCKET_US", "OUTPUT_NAMES"]

BUCKET_US = 10_000_000
# File name of each output, by the role SimulationResult.files uses as key.
OUTPUT_NAMES = {"logs": "logs.jsonl", "text_logs": "app.log", "spans": "spans.otlp.json",
                "agent_spans": "agent_spans.jsonl", "metrics": "metrics.csv",
                "changes": "changes.jsonl", "alert": "alert.json", "ground_truth": "ground_truth.json"}
_KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def write_json(path: Path, document: Any) -> Path:
    return _write(path, json.dumps(document, indent=2) + "\n")


def _sorted_logs(entries: Iterable[LogEntry]) -> list[LogEntry]:
    return sorted(entries, key=lambda e: (e.ts_us, e.seq))


def write_logs(path: Path, entries: Iterable[LogEntry]) -> Path:
    lines = []
    for e in _sorted_logs(entries):
        record: dict[str, Any] = {
            "ts": iso_us(e.ts_us), "level": e.level, "service": e.service, "host": e.host,
            "version": e.version, "logger": e.logger,
            "message": e.message if e.traceback is None else f"{e.message}\n{e.traceback}",
            "trace_id": e.trace_id, "span_id": e.span_id,
        }
        for key, value in e.extra.items():
            record.setdefault(key, value)
        if e.exc_type is not None:
            record["exc_type"] = e.exc_type
        lines.append(json.dumps(record, separators=(",", ":")))
    return _write(path, "\n".join(lines) + "\n")


def write_text_log(path: Path, entries: Iterable[LogEntry], service: str, host: str) -> Path:
    """The service's log file on one host, as its stderr handler would have written it."""
    out = []
    for e in _sorted_logs(entries):
        if e.service != service or e.host != host:
            continue
        out.append(f"{iso_us(e.ts_us)} {e.level} [{e.service}] {e.message} "
                   f"trace_id={e.trace_id} span_id={e.span_id}")
        if e.traceback is not None:
            out.append(e.traceback)
    return _write(path, "\n".join(out) + "\n")


def _value(value: Any) -> dict[str, Any]:
    # OTLP/JSON: 64-bit integers are strings (protobuf JSON mapping), doubles are numbers.
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in attrs.items()]


def _otlp_span(span: SpanRecord) -> dict[str, Any]:
    status: dict[str, Any] = {"code": 2, "message": span.status_message} if span.status == "error" \
        else {"code": 1}
    return {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "parentSpanId": span.parent_id or "",
        "name": span.name,
        "kind": _KINDS[span.kind],
        "startTimeUnixNano": str(span.start_us * 1000),
        "endTimeUnixNano": str(span.end_us * 1000),
        "attributes": _attributes(span.attributes),
        "events": [{"timeUnixNano": str(event["time_us"] * 1000), "name": event["name"],
                    "attributes": _attributes(event["attributes"])} for event in span.events],
        "status": status,
    }


def write_otlp(path: Path, spans: Iterable[SpanRecord]) -> Path:
    groups: dict[tuple[str, str, str], list[SpanRecord]] = defaultdict(list)
    for span in spans:
        groups[(span.service, span.host, span.version)].append(span)
    resource_spans = []
    for (service, host, version) in sorted(groups):
        members = sorted(groups[(service, host, version)], key=lambda s: (s.start_us, s.span_id))
        resource_spans.append({
            "resource": {"attributes": _attributes({
                "service.name": service, "host.name": host, "service.version": version,
                "deployment.environment": "production"})},
            "scopeSpans": [{"scope": {"name": "shop.telemetry", "version": version},
                            "spans": [_otlp_span(s) for s in members]}],
        })
    return _write(path, json.dumps({"resourceSpans": resource_spans}, separators=(",", ":")) + "\n")


def write_agent_spans(path: Path, spans: Iterable[SpanRecord]) -> Path:
    """The agent's own spans (the run and its tool calls) in the AgentOps schema."""
    lines = []
    for span in sorted(spans, key=lambda s: (s.start_us, s.span_id)):
        attrs = dict(span.attributes)
        args_digest = attrs.pop("args_digest", None)
        result_digest = attrs.pop("result_digest", None)
        attrs.update({"service": span.service, "host": span.host, "version": span.version})
        if span.status == "error":
            attrs["error"] = span.status_message
        lines.append(json.dumps({
            "span_id": span.span_id, "trace_id": span.trace_id, "parent_id": span.parent_id,
            "tool": span.name, "start_ts": iso_us(span.start_us), "end_ts": iso_us(span.end_us),
            "status": span.status, "args_digest": args_digest, "result_digest": result_digest,
            "attributes": attrs, "incident_id": None,
        }, separators=(",", ":")))
    return _write(path, "\n".join(lines) + "\n")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]  # nearest rank


def _num(value: float) -> str:
    """Shortest fixed-point form: 4.7, 0.125, 12."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def write_metrics(path: Path, spans: list[SpanRecord], pool_events: list[tuple[int, str, str, float]],
                  host_states: list[tuple[int, str, bool]], window: tuple[int, int],
                  rng: random.Random) -> Path:
    """Per-10-second samples per service and host, derived from what actually ran."""
    start, end = window
    buckets = range(start, end, BUCKET_US)
    by_id = {s.span_id: s for s in spans}

    def bucket(us: int) -> int:
        return start + (us - start) // BUCKET_US * BUCKET_US

    calls: dict[tuple[int, str, str], list[SpanRecord]] = defaultdict(list)
    queries: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    upstream: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    served: dict[tuple[int, str], int] = defaultdict(int)
    pairs: set[tuple[str, str]] = set()
    for span in spans:
        b = bucket(span.start_us)
        ms = (span.end_us - span.start_us) / 1000
        parent = by_id.get(span.parent_id) if span.parent_id else None
        if span.service != "shop" and (parent is None or parent.service != span.service):
            calls[(b, span.service, span.host)].append(span)
            pairs.add((span.service, span.host))
        if span.kind == "SERVER":
            served[(b, span.host)] += 1
        if "db.system" in span.attributes:
            queries[(b, span.service, span.host)].append(ms)
        elif "peer.service" in span.attributes:
            upstream[(b, span.attributes["peer.service"], span.host)].append(ms)

    rows: list[tuple[int, str, str, str, str]] = []
    for b in buckets:
        for service, host in sorted(pairs):
            group = calls.get((b, service, host), [])
            rows.append((b, "requests_per_sec", _num(round(len(group) / 10, 3)), service, host))
            if group:
                errors = sum(1 for s in group if s.status == "error")
                rows.append((b, "error_rate", _num(round(errors / len(group), 3)), service, host))
                rows.append((b, "latency_p95_ms", _num(round(_p95(
                    [(s.end_us - s.start_us) / 1000 for s in group]), 1)), service, host))
    for (b, service, host), values in queries.items():
        rows.append((b, "db_query_p95_ms", _num(round(_p95(values), 2)), service, host))
    for (b, peer, host), values in upstream.items():
        rows.append((b, "upstream_latency_p95_ms", _num(round(_p95(values), 1)), peer, host))

    hosts = sorted({h for _, h, _ in host_states})
    in_use = _pool_in_use(pool_events, hosts, start, end)
    for host in hosts:
        changes = sorted((t, up) for t, h, up in host_states if h == host)
        for b in buckets:
            up = False
            for t, state in changes:
                if t >= b + BUCKET_US:
                    break
                up = state
            rate = served.get((b, host), 0) / 10
            cpu = (4.0 + 1.2 * rate if up else 0.6) + rng.gauss(0.0, 0.6)
            rows.append((b, "cpu_percent", _num(round(min(100.0, max(0.2, cpu)), 1)), "shop", host))
            rows.append((b, "process_up", "1" if up else "0", "shop", host))
            rows.append((b, "db_pool_in_use", _num(in_use.get((b, host), 0)), "shop", host))

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["ts", "name", "value", "service", "host"])
    for b, name, value, service, host in sorted(rows, key=lambda r: (r[0], r[1], r[3], r[4])):
        writer.writerow([iso_us(b), name, value, service, host])
    return _write(path, buffer.getvalue())


def _pool_in_use(events: list[tuple[int, str, str, float]], hosts: list[str], start: int,
                 end: int) -> dict[tuple[int, str], float]:
    """Peak connections leased per host and bucket, from the pool's up/down counter."""
    peak: dict[tuple[int, str], float] = {}
    for host in hosts:
        level = 0.0
        series = sorted((t, delta) for t, h, name, delta in events if h == host and name == "db.pool.in_use")
        index = 0
        for b in range(start, end, BUCKET_US):
            top = level
            while index < len(series) and series[index][0] < b + BUCKET_US:
                level += series[index][1]
                top = max(top, level)
                index += 1
            peak[(b, host)] = top
    return peak
