"""Jaeger JSON (the UI's export, ``/api/traces``) → span rows.

A document ``{"data": [trace…]}``, a bare list of traces or one trace, or JSON Lines of
those. Process tags are copied onto each span, typed tag values given as text are typed,
``CHILD_OF`` (else ``FOLLOWS_FROM``) gives the parent, logs are kept as events.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

from ..errors import InputError
from ..models import IngestError
from .records import json_records, to_int, us_to_dt
from .source import Source
from .spanrow import ends_before_start, guarded, iso_or_none, norm_id, span_kind, span_row, trimmed_into

__all__ = ["parse_jaeger_spans"]


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


def parse_jaeger_spans(source: Source, _mapping: Any = None) -> Iterator[dict | IngestError]:
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
                yield guarded(_jaeger_span, line, where, sp, trace.get("traceID"), processes, line, where)


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
    tid, span_id = norm_id(sp.get("traceID") or trace_id), norm_id(sp.get("spanID"))
    for key, value in (("traceID", tid), ("spanID", span_id), ("startTime", sp.get("startTime"))):
        if value in (None, ""):
            return IngestError(line, f"{where}: missing {key}")
    assert tid is not None and span_id is not None  # the loop above returned otherwise
    own, pid = sp.get("process"), sp.get("processID")
    process = own if isinstance(own, dict) else (processes.get(pid) if isinstance(pid, str) else None) or {}
    attrs = {**_jaeger_tags(process.get("tags")), **_jaeger_tags(sp.get("tags"))}
    start = us_to_dt(sp["startTime"])
    duration = to_int(sp["duration"]) if sp.get("duration") not in (None, "") else None
    if duration is not None and duration < 0:
        return ends_before_start(line, where)
    otel = str(attrs.get("otel.status_code", "")).upper()
    error = attrs.get("error") in (True, "true", "True", "TRUE", 1, "1") or otel == "ERROR"
    events = [{"ts": iso_or_none(us_to_dt, lg.get("timestamp")), "fields": _jaeger_tags(lg.get("fields"))}
              for lg in sp.get("logs") or [] if isinstance(lg, dict)]
    trimmed_into(events, attrs, "events")
    if sp.get("warnings"):
        attrs["jaeger.warnings"] = sp["warnings"]
    parent = norm_id(_jaeger_parent(sp, attrs))
    return span_row(trace_id=tid, span_id=span_id, parent_id=parent, service=process.get("serviceName"),
                name=sp.get("operationName") or "", start=start,
                end=None if duration is None else start + timedelta(microseconds=duration),
                status="error" if error else "ok" if otel == "OK" else "unset", kind=span_kind(attrs.get("span.kind")),
                attributes=attrs, line=line)

