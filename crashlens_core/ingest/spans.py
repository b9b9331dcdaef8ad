"""Trace span parsers: native (AgentOps), OTLP JSON, Jaeger, Zipkin v2 and CSV → span rows.

This module owns:

- ``detect_span_format`` / ``parse_spans``, the contract the ingest driver consumes;
- the span row (``SPAN_ROW_KEYS``) and the rules every format is mapped onto: ids are
  lower-case hex where they are hex (OTLP base64 ids are decoded), roots have
  ``parent_id`` None ("", "root", "null" and all-zero ids count as none), ``status`` is
  ok|error|unset, ``kind`` is server|client|internal|producer|consumer or None, times are
  naive UTC and ``end_ts >= start_ts`` (a span ending before it starts is rejected; a span
  with no end or duration gets ``end_ts = start_ts`` and ``attributes["duration_unknown"]``);
- helpers ``metrics`` shares: ``json_records`` (one JSON document or JSON Lines),
  OTLP ``otlp_value`` / ``otlp_attributes``, exact-unit ``ns_to_dt`` / ``us_to_dt``,
  ``csv_table`` (a CSV header plus its rows, delimiter sniffed) and the JSON-walking guards
  ``as_list`` / ``as_object`` / ``guarded_walk``.

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

import base64
import binascii
import csv
import json
import re
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator

from ..errors import InputError
from ..models import LOG_ALIASES, IngestError
from .normalize import canonical_digest, json_default, parse_ts, pod_to_service
from .records import (MALFORMED, otlp_resources, as_list, as_object, csv_table, json_keys_in, json_records, ns_to_dt,
                      otlp_attributes, resolve_mapping, sniff_delimiter, to_int, us_to_dt)
from .source import Source

__all__ = [
    "SPAN_FORMATS",
    "SPAN_ROW_KEYS",
    "detect_span_format",
    "parse_spans",
    "pod_to_service",
]

SPAN_FORMATS = ("native", "otlp", "jaeger", "zipkin", "csv")
SPAN_ROW_KEYS = ("trace_id", "span_id", "parent_id", "service", "name", "start_ts", "end_ts", "status", "kind",
                 "args_digest", "result_digest", "attributes", "incident_id", "line")
MAX_EVENTS = 20  # events / logs / annotations kept per span
MAX_INLINE_JSON = 4 << 10  # args/result kept in attributes only below this size

_HEX = re.compile(r"[0-9a-fA-F]+")
_KINDS = ("internal", "server", "client", "producer", "consumer")  # OTLP SpanKind 1..5
_NO_PARENT = {"", "root", "null", "none", "nil", "-1"}  # -1: SkyWalking's ParentSpan of a root
_ERROR_WORDS = {"error", "err", "failed", "fail", "failure", "exception", "timeout", "timedout", "aborted",
                "crashed", "fatal", "statuscodeerror"}
_OK_WORDS = {"ok", "success", "succeeded", "successful", "completed", "complete", "done", "passed", "pass",
             "statuscodeok"}

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


def _norm_key(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


_ALIAS_RANK = {_norm_key(a.removeprefix("pod:")): (field, rank)
               for field, names in SPAN_FIELD_ALIASES.items() for rank, a in enumerate(names)
               if not a.startswith("pod:")}


# ============================================================== ids, status, kind, rows


def _norm_id(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.lower() if _HEX.fullmatch(text) else text


def _otlp_id(value: Any) -> str | None:
    """OTLP ids are hex in OTLP JSON; some exporters write protobuf-JSON base64 instead."""
    text = _norm_id(value)
    if text is None or _HEX.fullmatch(text):
        return text
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text
    return raw.hex() if len(raw) in (8, 16) else text


def _parent(value: str | None) -> str | None:
    if value is None or value.lower() in _NO_PARENT or (_HEX.fullmatch(value) and not value.strip("0")):
        return None
    return value


def _status(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "unset"
    word = _norm_key(str(value))
    return "error" if word in _ERROR_WORDS else "ok" if word in _OK_WORDS else "unset"


_TRUE_WORDS = {"true", "1", "yes", "y", "t"}
_FALSE_WORDS = {"false", "0", "no", "n", "f"}
# SkyWalking span types, mapped onto OTLP kinds
_KIND_WORDS = {"entry": "server", "exit": "client", "local": "internal"}


def _status_of(status: Any, error_flag: Any) -> str:
    """``status`` when it says something, else a boolean error flag (True/False, 1/0, yes/no)."""
    state = _status(status)
    if state != "unset" or error_flag in (None, ""):
        return state
    word = str(error_flag).strip().lower()
    return "error" if error_flag is True or word in _TRUE_WORDS else "ok" if error_flag is False or word in _FALSE_WORDS else state


def _kind(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return _KINDS[value - 1] if 1 <= value <= 5 else None
    if not isinstance(value, str):
        return None
    word = value.strip().lower().removeprefix("span_kind_")
    if word.isdigit():
        return _kind(int(word))
    return word if word in _KINDS else _KIND_WORDS.get(word)


def _iso_or_none(convert: Callable[[Any], datetime], value: Any) -> str | None:
    """An event's time as ISO text for attributes; None when absent or unreadable."""
    try:
        return convert(value).isoformat() if value not in (None, "", 0, "0") else None
    except (ValueError, TypeError, OverflowError):
        return None


def _row(*, trace_id: str, span_id: str, parent_id: str | None, service: Any, name: str, start: datetime,
         end: datetime | None, status: str, kind: str | None, attributes: dict[str, Any], line: int | None,
         args_digest: Any = None, result_digest: Any = None, incident_id: Any = None) -> dict[str, Any]:
    if end is None:
        end = start
        attributes["duration_unknown"] = True
    return {
        "trace_id": trace_id, "span_id": span_id, "parent_id": _parent(parent_id),
        "service": str(service) if service not in (None, "") else None, "name": str(name),
        "start_ts": start, "end_ts": end, "status": status, "kind": kind,
        "args_digest": str(args_digest) if args_digest else None,
        "result_digest": str(result_digest) if result_digest else None,
        "attributes": attributes, "incident_id": str(incident_id) if incident_id not in (None, "") else None,
        "line": line,
    }


def _guarded(build: Callable[..., dict | IngestError], line: int | None, where: str,
             *args: Any) -> dict | IngestError:
    """Run one item's builder; anything unexpected in the item becomes an IngestError."""
    try:
        return build(*args)
    except MALFORMED as exc:
        return IngestError(line, f"{where}: malformed ({type(exc).__name__}: {exc})")


def _err_end(line: int | None, where: str) -> IngestError:
    return IngestError(line, f"{where}: ends before it starts")


def _trimmed(items: list[Any], attrs: dict[str, Any], key: str) -> None:
    if items:
        attrs[key] = items[:MAX_EVENTS]
        if len(items) > MAX_EVENTS:
            attrs[f"{key}_dropped"] = len(items) - MAX_EVENTS


# ============================================================== detection


def detect_span_format(source: Source) -> str:
    """Tell the span format from the file's head; InputError (with a hint) when unknown."""
    head = source.head().lstrip("\ufeff \t\r\n")
    if not head:
        raise InputError(f"{source.name}: empty file", hint="check the path")
    if head[0] in "[{":
        return _detect_json(json_keys_in(head), source.name)
    first = head.splitlines()[0]
    if sniff_delimiter(first):
        names = {_norm_key(h) for h in next(csv.reader([first], delimiter=sniff_delimiter(first)))}
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
    if {_norm_key(k) for k in keys} & {"spanid", "tool", "span"}:
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
    return {"native": _parse_native, "otlp": _parse_otlp, "jaeger": _parse_jaeger, "zipkin": _parse_zipkin}[fmt](
        source, mapping)


# ============================================================== native and CSV


def _span_from_fields(f: dict[str, Any], extra: dict[str, Any], line: int | None, where: str) -> dict | IngestError:
    """The native / CSV rules: one record's fields (our names) and its other values."""
    span_id = _norm_id(f.get("span_id"))
    if span_id is None:
        return IngestError(line, f"{where}: missing span_id")
    name = f.get("name")
    if name in (None, ""):
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
        return _err_end(line, where)
    attrs = {**extra, **_attributes_value(f.get("attributes"))}
    digests = [f.get("args_digest"), f.get("result_digest")]
    for i, key in enumerate(("args", "result")):
        if f.get(key) is not None:
            digests[i] = digests[i] or canonical_digest(f[key])
            if len(json.dumps(f[key], default=json_default)) < MAX_INLINE_JSON:
                attrs[key] = f[key]
    trace_id = _norm_id(f.get("trace_id")) or _norm_id(f.get("incident_id")) or "agentops"
    return _row(trace_id=trace_id, span_id=span_id, parent_id=_norm_id(f.get("parent_id")), service=f.get("service"),
                name=name, start=start, end=end, status=_status_of(f.get("status"), f.get("error")), kind=_kind(f.get("kind")),
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
        hit = None if key in taken else _ALIAS_RANK.get(_norm_key(key))
        if hit and hit[0] not in mapping and value not in (None, "") and hit[1] < best.get(hit[0], (99, ""))[0]:
            best[hit[0]] = (hit[1], key)
    fields.update({field: rec[key] for field, (_, key) in best.items()})
    chosen = taken | {key for _, key in best.values()}
    extra = {k: v for k, v in rec.items()
             if k not in chosen and not (v in (None, "") and _norm_key(k) in _ALIAS_RANK)}
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
            yield _guarded(_native_span, line, where, rec, mapping, line, where)


def _csv_columns(header: list[str], mapping: dict[str, str] | None,
                 name: str) -> tuple[dict[str, tuple[int, bool]], set[int]]:
    """field → (column index, is a pod name); plus the columns that are not attributes."""
    resolved = resolve_mapping(header, mapping, _SPAN_FIELDS, SPAN_FIELD_ALIASES, name)
    cols = {f: (header.index(c.removeprefix("pod:")), c.startswith("pod:")) for f, c in resolved.items()}
    norm = [_norm_key(h) for h in header]
    for field, names in SPAN_FIELD_ALIASES.items():  # looser match: "Parent Span ID", pod columns
        taken = {i for i, _ in cols.values()}
        for alias in names if field not in cols else ():
            key = _norm_key(alias.removeprefix("pod:"))
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
        if len(cells) != len(header):
            yield IngestError(line, f"expected {len(header)} columns, found {len(cells)}")
            continue
        fields = {f: (cells[i].strip() or None) for f, (i, _) in cols.items()}
        extra = {header[i]: v for i, v in enumerate(cells) if i not in used and v != ""}
        for f, (i, pod) in cols.items():
            if pod and fields[f]:
                extra["k8s.pod.name"] = fields[f]
                fields[f] = pod_to_service(fields[f])
        yield _guarded(_span_from_fields, line, f"row at line {line}", fields, extra, line, f"row at line {line}")


# ============================================================== OTLP


def _parse_otlp(source: Source, _mapping: Any = None) -> Iterator[dict | IngestError]:
    return otlp_resources(source, "resourceSpans", "traces", _otlp_resource)


def _otlp_resource(rs: Any, line: int | None, path: str) -> Iterator[dict | IngestError]:
    rs = as_object(rs, path)
    resource = otlp_attributes(as_object(rs.get("resource"), f"{path}.resource").get("attributes"))
    key = "scopeSpans" if "scopeSpans" in rs else "instrumentationLibrarySpans"
    for si, ss in enumerate(as_list(rs.get(key), f"{path}.{key}")):
        if not isinstance(ss, dict):
            yield IngestError(line, f"{path}.{key}[{si}]: not an object")
            continue
        scope = as_object(ss.get("scope") or ss.get("instrumentationLibrary"), f"{path}.{key}[{si}].scope")
        base = dict(resource)
        if scope.get("name"):
            base["otel.scope.name"] = scope["name"]
        if scope.get("version"):
            base["otel.scope.version"] = scope["version"]
        for i, sp in enumerate(as_list(ss.get("spans"), f"{path}.{key}[{si}].spans")):
            where = f"span {i} of {path}.{key}[{si}]"
            yield _guarded(_otlp_span, line, where, sp, base, line, where)


def _otlp_span(sp: Any, base: dict[str, Any], line: int | None, where: str) -> dict | IngestError:
    if not isinstance(sp, dict):
        return IngestError(line, f"{where}: not an object")
    trace_id, span_id = _otlp_id(sp.get("traceId")), _otlp_id(sp.get("spanId"))
    for key, value in (("traceId", trace_id), ("spanId", span_id), ("startTimeUnixNano", sp.get("startTimeUnixNano"))):
        if value in (None, "", "0", 0):
            return IngestError(line, f"{where}: missing {key}")
    start = ns_to_dt(sp["startTimeUnixNano"])
    end = ns_to_dt(sp["endTimeUnixNano"]) if sp.get("endTimeUnixNano") not in (None, "", "0", 0) else None
    if end is not None and end < start:
        return _err_end(line, where)
    attrs = {**base, **otlp_attributes(sp.get("attributes"))}
    status = as_object(sp.get("status"), "status")
    code = str(status.get("code", "")).upper().removeprefix("STATUS_CODE_")
    state = "error" if code in ("2", "ERROR") else "ok" if code in ("1", "OK") else "unset"
    if status.get("message"):
        attrs["status.message"] = status["message"]
    if _otlp_events(sp.get("events"), attrs) and state == "unset":
        state = "error"
    links = [{"trace_id": _otlp_id(lk.get("traceId")), "span_id": _otlp_id(lk.get("spanId"))}
             for lk in sp.get("links") or [] if isinstance(lk, dict)]
    _trimmed(links, attrs, "links")
    if sp.get("traceState"):
        attrs["trace_state"] = sp["traceState"]
    # AgentOps tool-call digests travel as span attributes in OTLP: lift them into their columns.
    digests = [attrs.pop(key, None) or attrs.pop(f"agentops.{key}", None) for key in ("args_digest", "result_digest")]
    return _row(trace_id=trace_id, span_id=span_id, parent_id=_otlp_id(sp.get("parentSpanId")),
                service=base.get("service.name"), name=sp.get("name") or "", start=start, end=end, status=state,
                kind=_kind(sp.get("kind")), attributes=attrs, line=line, args_digest=digests[0], result_digest=digests[1])


def _otlp_events(events: Any, attrs: dict[str, Any]) -> bool:
    """Keep events in ``attrs["events"]``; copy the last exception's details. True if one."""
    kept, exception = [], False
    for ev in events if isinstance(events, list) else []:
        if not isinstance(ev, dict):
            continue
        ev_attrs = otlp_attributes(ev.get("attributes"))
        ts = _iso_or_none(ns_to_dt, ev.get("timeUnixNano"))
        kept.append({"name": ev.get("name"), "ts": ts, "attributes": ev_attrs})
        if ev.get("name") == "exception":
            exception = True
            attrs.update({k: v for k, v in ev_attrs.items() if k.startswith("exception.")})
    _trimmed(kept, attrs, "events")
    return exception


# ============================================================== Jaeger


def _jaeger_traces(doc: Any) -> list[tuple[str, Any]] | None:
    """(label, trace) pairs of a Jaeger export; None when the value is not one."""
    if isinstance(doc, list):
        return [(f"[{i}]", t) for i, t in enumerate(doc)]
    if isinstance(doc, dict):
        data = doc.get("data")
        if isinstance(data, list):
            return [(f"data[{i}]", t) for i, t in enumerate(data)]
        if isinstance(data, dict):
            return [("data", data)]
        if "spans" in doc:
            return [("trace", doc)]
    return None


def _parse_jaeger(source: Source, _mapping: Any = None) -> Iterator[dict | IngestError]:
    for line, doc in json_records(source):
        if isinstance(doc, IngestError):
            yield doc
            continue
        traces = _jaeger_traces(doc)
        if traces is None:
            if line is None:
                raise InputError(f"{source.name}: not a Jaeger trace export (no data/spans)",
                                 hint="export from the Jaeger UI or /api/traces")
            yield IngestError(line, "not a Jaeger trace (no data/spans)")
            continue
        for label, trace in traces:
            if not isinstance(trace, dict) or not isinstance(trace.get("spans"), list):
                yield IngestError(line, f"{label}: not a trace with spans")
                continue
            processes = trace.get("processes") if isinstance(trace.get("processes"), dict) else {}
            for i, sp in enumerate(trace["spans"]):
                where = f"span {i} of {label}"
                yield _guarded(_jaeger_span, line, where, sp, trace.get("traceID"), processes, line, where)


def _jaeger_tags(tags: Any) -> dict[str, Any]:
    """Jaeger ``[{key, type, value}]`` → dict; bool/int64/float64 values given as text are typed."""
    out: dict[str, Any] = {}
    for tag in tags if isinstance(tags, list) else []:
        if not isinstance(tag, dict) or "key" not in tag:
            continue
        value, kind = tag.get("value"), str(tag.get("type", "")).lower()
        if isinstance(value, str) and kind == "bool":
            value = value.lower() == "true"
        elif isinstance(value, str) and kind in ("int64", "float64"):
            try:
                value = int(value) if kind == "int64" else float(value)
            except ValueError:
                pass
        out[str(tag["key"])] = value
    return out


def _jaeger_parent(sp: dict[str, Any], attrs: dict[str, Any]) -> Any:
    refs = [r for r in sp.get("references") or [] if isinstance(r, dict)]
    for ref_type in ("CHILD_OF", "FOLLOWS_FROM"):
        ref = next((r for r in refs if str(r.get("refType", "")).upper() == ref_type), None)
        if ref is not None:
            if ref_type == "FOLLOWS_FROM":
                attrs["jaeger.ref_type"] = "follows_from"
            return ref.get("spanID")
    return sp.get("parentSpanID")


def _jaeger_span(sp: Any, trace_id: Any, processes: dict[str, Any], line: int | None, where: str) -> dict | IngestError:
    if not isinstance(sp, dict):
        return IngestError(line, f"{where}: not an object")
    tid, span_id = _norm_id(sp.get("traceID") or trace_id), _norm_id(sp.get("spanID"))
    for key, value in (("traceID", tid), ("spanID", span_id), ("startTime", sp.get("startTime"))):
        if value in (None, ""):
            return IngestError(line, f"{where}: missing {key}")
    process = sp.get("process") if isinstance(sp.get("process"), dict) else processes.get(sp.get("processID")) or {}
    attrs = {**_jaeger_tags(process.get("tags")), **_jaeger_tags(sp.get("tags"))}
    start = us_to_dt(sp["startTime"])
    duration = to_int(sp["duration"]) if sp.get("duration") not in (None, "") else None
    if duration is not None and duration < 0:
        return _err_end(line, where)
    otel = str(attrs.get("otel.status_code", "")).upper()
    error = attrs.get("error") in (True, "true", "True", "TRUE", 1, "1") or otel == "ERROR"
    events = [{"ts": _iso_or_none(us_to_dt, lg.get("timestamp")), "fields": _jaeger_tags(lg.get("fields"))}
              for lg in sp.get("logs") or [] if isinstance(lg, dict)]
    _trimmed(events, attrs, "events")
    if sp.get("warnings"):
        attrs["jaeger.warnings"] = sp["warnings"]
    parent = _norm_id(_jaeger_parent(sp, attrs))
    return _row(trace_id=tid, span_id=span_id, parent_id=parent, service=process.get("serviceName"),
                name=sp.get("operationName") or "", start=start,
                end=None if duration is None else start + timedelta(microseconds=duration),
                status="error" if error else "ok" if otel == "OK" else "unset", kind=_kind(attrs.get("span.kind")),
                attributes=attrs, line=line)


# ============================================================== Zipkin v2


def _zipkin_items(doc: Any) -> list[tuple[str, Any]]:
    if isinstance(doc, dict):
        return [("span", doc)]
    if not isinstance(doc, list):
        return []
    out: list[tuple[str, Any]] = []
    for i, item in enumerate(doc):  # /api/v2/traces returns a list of traces (lists of spans)
        if isinstance(item, list):
            out.extend((f"span {j} of trace {i}", sp) for j, sp in enumerate(item))
        else:
            out.append((f"span {i}", item))
    return out


def _parse_zipkin(source: Source, _mapping: Any = None) -> Iterator[dict | IngestError]:
    for line, doc in json_records(source):
        if isinstance(doc, IngestError):
            yield doc
            continue
        for where, sp in _zipkin_items(doc):
            yield _guarded(_zipkin_span, line, where, sp, line, where)


def _zipkin_span(sp: Any, line: int | None, where: str) -> dict | IngestError:
    if not isinstance(sp, dict):
        return IngestError(line, f"{where}: not an object")
    trace_id, span_id = _norm_id(sp.get("traceId")), _norm_id(sp.get("id"))
    for key, value in (("traceId", trace_id), ("id", span_id), ("timestamp", sp.get("timestamp"))):
        if value in (None, "", 0):
            return IngestError(line, f"{where}: missing {key}")
    duration = to_int(sp["duration"]) if sp.get("duration") not in (None, "") else None
    if duration is not None and duration < 0:
        return _err_end(line, where)
    tags = sp.get("tags") if isinstance(sp.get("tags"), dict) else {}
    attrs: dict[str, Any] = dict(tags)
    local = sp.get("localEndpoint") if isinstance(sp.get("localEndpoint"), dict) else {}
    remote = sp.get("remoteEndpoint") if isinstance(sp.get("remoteEndpoint"), dict) else {}
    if local:
        attrs["zipkin.local_endpoint"] = local
    if remote:
        attrs["zipkin.remote_endpoint"] = remote
        if remote.get("serviceName"):
            attrs["peer.service"] = remote["serviceName"]
    for flag in ("shared", "debug"):
        if sp.get(flag):
            attrs[f"zipkin.{flag}"] = True
    notes = [{"ts": _iso_or_none(us_to_dt, a.get("timestamp")), "value": a.get("value")}
             for a in sp.get("annotations") or [] if isinstance(a, dict)]
    _trimmed(notes, attrs, "annotations")
    http = str(tags.get("http.status_code", ""))
    error = "error" in tags or (http.isdigit() and int(http) >= 500)
    start = us_to_dt(sp["timestamp"])
    return _row(trace_id=trace_id, span_id=span_id, parent_id=_norm_id(sp.get("parentId")),
                service=local.get("serviceName"), name=sp.get("name") or "", start=start,
                end=None if duration is None else start + timedelta(microseconds=duration),
                status="error" if error else "unset", kind=_kind(sp.get("kind")), attributes=attrs, line=line)
