"""Trace span files: format detection, the dispatch to each format's parser, and native / CSV spans.

This module owns:

- ``detect_span_format`` / ``parse_spans``, the contract the ingest driver consumes: span
  rows (dicts with exactly ``spanrow.SPAN_ROW_KEYS``, built by the rules in ``spanrow``)
  and rejects, streamed;
- the native (AgentOps) and CSV parsers, and the field aliases their records and headers
  are read with. OTLP, Jaeger and Zipkin v2 have their own modules (``otlp_spans``,
  ``jaeger_spans``, ``zipkin_spans``).

Parsers stream: each malformed item becomes an ``IngestError(line, reason)`` and parsing
goes on. ``line`` is the file line for JSON Lines and CSV, None inside a JSON document,
where the reason names the item by its path with 0-based indexes instead, e.g.
``span 3 of resourceSpans[0].scopeSpans[0]: missing spanId``. A file that cannot be
parsed at all raises ``InputError`` — from the call (bad format, mapping or CSV header) or
while iterating (invalid JSON document).

CSV mapping: ``{field: column}``; a column prefixed ``pod:`` (``{"service": "pod:PodName"}``)
is a Kubernetes pod name turned into its workload with ``pod_to_service`` (the raw pod name
is kept in ``attributes["k8s.pod.name"]``). Without a service column, a ``pod``/``PodName``
column is used that way automatically. Graph checks (orphans, cycles, depth) live in
``spangraph``; storage lives in the ingest driver.
"""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from typing import Any, Callable, Iterable, Iterator

from ..errors import InputError
from ..models import LOG_ALIASES, IngestError
from .jaeger_spans import parse_jaeger_spans
from .normalize import canonical_digest, json_default, parse_ts, pod_to_service
from .otlp_spans import parse_otlp_spans
from .records import csv_table, json_keys_in, json_records, resolve_mapping, sniff_delimiter
from .source import Source
from .spanrow import MAX_INLINE_JSON, ends_before_start, guarded, norm_id, norm_key, span_kind, span_row, status_of
from .zipkin_spans import parse_zipkin_spans

__all__ = ["SPAN_FORMATS", "SPAN_FIELD_ALIASES", "detect_span_format", "parse_spans"]

SPAN_FORMATS = ("native", "otlp", "jaeger", "zipkin", "csv")

# Field → accepted names for native records and CSV headers, compared case-insensitively
# after dropping everything but letters and digits ("Parent_Span_ID" ≡ "parentspanid").
SPAN_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "trace_id": (*LOG_ALIASES["trace_id"], "trace"),
    "span_id": (*LOG_ALIASES["span_id"], "span", "id"),
    "parent_id": ("parent_id", "parentid", "parent_span_id", "parentspanid", "parent", "parentspan", "parent_span"),
    "service": ("service", "servicename", "service_name", "service.name", "pod:podname", "pod:pod", "pod:pod_name"),
    "name": ("tool", "name", "operation", "operationname", "operation_name", "span_name", "spanname", "tool_name"),
    "start_ts": ("start_ts", "start", "starttime", "start_time", "starttimeunixnano", "started_at", "startts",
                 "timestamp", "ts"),
    "end_ts": ("end_ts", "end", "endtime", "end_time", "endtimeunixnano", "ended_at", "finished_at", "endts"),
    "duration_ms": ("duration_ms", "durationms", "latency_ms", "elapsed_ms"),
    "duration_us": ("duration_us", "durationus", "duration_micros", "durationmicros"),
    "duration_ns": ("duration_ns", "durationns", "duration_nanos", "durationnanos"),
    "duration_s": ("duration_s", "duration_sec", "duration_seconds", "durationseconds"),
    "status": ("status", "status_code", "statuscode", "state", "outcome"),
    "error": ("error", "iserror", "is_error", "haserror", "has_error", "failed"),   # a boolean flag (SkyWalking IsError)
    "kind": ("kind", "span_kind", "spankind", "spantype", "span_type"),
    "args_digest": ("args_digest", "argsdigest"),
    "result_digest": ("result_digest", "resultdigest"),
    "attributes": ("attributes", "attrs"),
    "incident_id": ("incident_id", "incidentid"),
    "args": ("args", "arguments"),
    "result": ("result",),
}
_SPAN_FIELDS = tuple(SPAN_FIELD_ALIASES)
_DURATION_UNITS = {"duration_ms": 1e3, "duration_us": 1.0, "duration_ns": 1e-3, "duration_s": 1e6}  # → µs
_ALIAS_RANK = {norm_key(a.removeprefix("pod:")): (field, rank)
               for field, names in SPAN_FIELD_ALIASES.items() for rank, a in enumerate(names)
               if not a.startswith("pod:")}


# ============================================================== detection


def detect_span_format(source: Source) -> str:
    """Tell the span format from the file's head; InputError (with a hint) when unknown."""
    head = source.head().lstrip("\ufeff \t\r\n")
    if not head:
        raise InputError(f"{source.name}: empty file", hint="check the path")
    if head[0] in "[{":
        return _detect_json(json_keys_in(head), source.name)
    first = head.splitlines()[0]
    delimiter = sniff_delimiter(first)
    if delimiter:
        names = {norm_key(h) for h in next(csv.reader([first], delimiter=delimiter))}
        return "native" if names & {"tool", "argsdigest", "resultdigest"} else "csv"
    raise InputError(f"{source.name}: not a span format CrashLens knows",
                     hint=f"pass --format ({', '.join(SPAN_FORMATS)}); CSV needs a header row")


def _detect_json(keys: set[str], name: str) -> str:
    if "resourceSpans" in keys:
        return "otlp"
    if "resourceLogs" in keys:
        raise InputError(f"{name}: OTLP logs, not spans", hint="ingest it with `crashlens ingest logs`")
    if "resourceMetrics" in keys:
        raise InputError(f"{name}: OTLP metrics, not spans", hint="ingest it with `crashlens ingest metrics`")
    if "traceID" in keys and keys & {"spanID", "operationName"}:
        return "jaeger"
    if "binaryAnnotations" in keys:
        raise InputError(f"{name}: Zipkin v1 JSON is not supported", hint="export Zipkin v2 (/api/v2/traces)")
    if "traceId" in keys and keys & {"id", "localEndpoint"} and "spanId" not in keys:
        return "zipkin"
    if {norm_key(k) for k in keys} & {"spanid", "tool", "span"}:
        return "native"
    raise InputError(f"{name}: JSON, but not a span format CrashLens knows",
                     hint=f"pass --format ({', '.join(SPAN_FORMATS)})")


def parse_spans(source: Source, fmt: str, mapping: dict[str, str] | None = None) -> Iterator[dict | IngestError]:
    """Span rows (dicts with exactly ``SPAN_ROW_KEYS``) and rejects, streamed."""
    if fmt not in SPAN_FORMATS:
        raise InputError(f"unknown span format {fmt!r}", hint=f"use one of: {', '.join(SPAN_FORMATS)}")
    if mapping and fmt not in ("native", "csv"):
        raise InputError(f"--map does not apply to {fmt} spans", hint="column mappings are for native and csv files")
    for field in mapping or {}:
        if field not in _SPAN_FIELDS:
            raise InputError(f"unknown field {field!r} in --map", hint=f"map columns to: {', '.join(_SPAN_FIELDS)}")
    if fmt == "csv" or (fmt == "native" and source.head().lstrip("\ufeff \t\r\n")[:1] not in ("[", "{")):
        return _parse_csv(source, mapping)
    parsers: dict[str, Callable[[Source, dict[str, str] | None], Iterator[dict | IngestError]]] = {
        "native": _parse_native, "otlp": parse_otlp_spans, "jaeger": parse_jaeger_spans, "zipkin": parse_zipkin_spans}
    return parsers[fmt](source, mapping)


# ============================================================== native and CSV


def _span_from_fields(f: dict[str, Any], extra: dict[str, Any], line: int | None, where: str) -> dict | IngestError:
    """The native / CSV rules: one record's fields (our names) and its other values."""
    span_id = norm_id(f.get("span_id"))
    if span_id is None:
        return IngestError(line, f"{where}: missing span_id")
    name = f.get("name")
    if name is None or name == "":
        return IngestError(line, f"{where}: missing name (tool)")
    start = parse_ts(f.get("start_ts"))
    if start is None:
        return IngestError(line, f"{where}: missing or unparseable start_ts {f.get('start_ts')!r}")
    end = parse_ts(f.get("end_ts")) if f.get("end_ts") not in (None, "") else None
    if f.get("end_ts") not in (None, "") and end is None:
        return IngestError(line, f"{where}: unparseable end_ts {f.get('end_ts')!r}")
    for unit, to_us in _DURATION_UNITS.items():
        if end is None and f.get(unit) not in (None, ""):
            try:
                end = start + timedelta(microseconds=float(f[unit]) * to_us)
            except (TypeError, ValueError, OverflowError):
                return IngestError(line, f"{where}: {unit} {f[unit]!r} is not a number")
    if end is not None and end < start:
        return ends_before_start(line, where)
    attrs = {**extra, **_attributes_value(f.get("attributes"))}
    digests = [f.get("args_digest"), f.get("result_digest")]
    for i, key in enumerate(("args", "result")):
        if f.get(key) is not None:
            digests[i] = digests[i] or canonical_digest(f[key])
            if len(json.dumps(f[key], default=json_default)) < MAX_INLINE_JSON:
                attrs[key] = f[key]
    trace_id = norm_id(f.get("trace_id")) or norm_id(f.get("incident_id")) or "agentops"
    return span_row(trace_id=trace_id, span_id=span_id, parent_id=norm_id(f.get("parent_id")), service=f.get("service"),
                name=name, start=start, end=end, status=status_of(f.get("status"), f.get("error")), kind=span_kind(f.get("kind")),
                attributes=attrs, line=line, args_digest=digests[0], result_digest=digests[1],
                incident_id=f.get("incident_id"))


def _attributes_value(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"attributes.raw": value}
    return value if isinstance(value, dict) else {"attributes.value": value}


def _native_fields(rec: dict[str, Any], mapping: dict[str, str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a native record into our fields (mapped key, else best-ranked alias) and the rest."""
    mapping = mapping or {}
    fields = {field: rec.get(key) for field, key in mapping.items()}
    taken = set(mapping.values())
    best: dict[str, tuple[int, str]] = {}
    for key, value in rec.items():
        hit = None if key in taken else _ALIAS_RANK.get(norm_key(key))
        if hit and hit[0] not in mapping and value not in (None, "") and hit[1] < best.get(hit[0], (99, ""))[0]:
            best[hit[0]] = (hit[1], key)
    fields.update({field: rec[key] for field, (_, key) in best.items()})
    chosen = taken | {key for _, key in best.values()}
    extra = {k: v for k, v in rec.items()
             if k not in chosen and not (v in (None, "") and norm_key(k) in _ALIAS_RANK)}
    return fields, extra


def _native_span(rec: Any, mapping: dict[str, str] | None, line: int | None, where: str) -> dict | IngestError:
    if not isinstance(rec, dict):
        return IngestError(line, f"{where}: not a JSON object")
    return _span_from_fields(*_native_fields(rec, mapping), line, where)


def _native_items(doc: Any) -> tuple[list[Any], str]:
    if isinstance(doc, list):
        return doc, "item {i}"
    if isinstance(doc, dict) and isinstance(doc.get("spans"), list):
        return doc["spans"], "span {i} of spans"
    return [doc], "record"


def _parse_native(source: Source, mapping: dict[str, str] | None) -> Iterator[dict | IngestError]:
    for line, doc in json_records(source):
        if isinstance(doc, IngestError):
            yield doc
            continue
        items, label = _native_items(doc)
        for i, rec in enumerate(items):
            where = label.format(i=i)
            yield guarded(_native_span, line, where, rec, mapping, line, where)


def _csv_columns(header: list[str], mapping: dict[str, str] | None,
                 name: str) -> tuple[dict[str, tuple[int, bool]], set[int]]:
    """field → (column index, is a pod name); plus the columns that are not attributes."""
    resolved = resolve_mapping(header, mapping, _SPAN_FIELDS, SPAN_FIELD_ALIASES, name)
    cols = {f: (header.index(c.removeprefix("pod:")), c.startswith("pod:")) for f, c in resolved.items()}
    norm = [norm_key(h) for h in header]
    for field, names in SPAN_FIELD_ALIASES.items():  # looser match: "Parent Span ID", pod columns
        taken = {i for i, _ in cols.values()}
        for alias in names if field not in cols else ():
            key = norm_key(alias.removeprefix("pod:"))
            if key in norm and norm.index(key) not in taken:
                cols[field] = (norm.index(key), alias.startswith("pod:"))
                break
    dropped = {i for i, n in enumerate(norm) if n == "duration"}
    if dropped and "end_ts" not in cols and not any(u in cols for u in _DURATION_UNITS):
        column = header[min(dropped)]
        raise InputError(f"{name}: column {column!r} is a duration without a unit",
                         hint=f"map it: --map {column}=duration_us (or duration_ms, duration_ns, duration_s)")
    for required in ("span_id", "name", "start_ts"):
        if required not in cols:
            raise InputError(f"{name}: no {required} column found",
                             hint=f"name it with --map COLUMN={required}; the header has: {', '.join(header)}")
    return cols, dropped | {i for i, _ in cols.values()}


def _parse_csv(source: Source, mapping: dict[str, str] | None) -> Iterator[dict | IngestError]:
    header, records = csv_table(source)
    cols, used = _csv_columns(header, mapping, source.name)
    return _csv_spans(header, records, cols, used)


def _csv_spans(header: list[str], records: Iterable[tuple[int, list[str] | IngestError]],
               cols: dict[str, tuple[int, bool]], used: set[int]) -> Iterator[dict | IngestError]:
    for line, cells in records:
        if isinstance(cells, IngestError):
            yield cells
            continue
        fields = {f: (cells[i].strip() or None) for f, (i, _) in cols.items()}
        extra = {header[i]: v for i, v in enumerate(cells) if i not in used and v != ""}
        for f, (i, pod) in cols.items():
            pod_name = fields[f]
            if pod and pod_name:
                extra["k8s.pod.name"] = pod_name
                fields[f] = pod_to_service(pod_name)
        yield guarded(_span_from_fields, line, f"row at line {line}", fields, extra, line, f"row at line {line}")
