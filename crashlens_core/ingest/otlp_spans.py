"""OTLP JSON traces (``resourceSpans``) → span rows.

One document or JSON Lines of export requests; a malformed resource, scope or span becomes
an ``IngestError`` naming it by path (``span 3 of resourceSpans[0].scopeSpans[0]: …``) and
the rest loads. Resource and scope attributes are copied onto each span; events are kept
(an ``exception`` event marks an unset status as error); AgentOps digests carried as
attributes are lifted into their columns.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..models import IngestError
from .records import as_object, ns_to_dt, otlp_attributes, otlp_resources, otlp_scopes
from .source import Source
from .spanrow import ends_before_start, guarded, iso_or_none, otlp_id, span_kind, span_row, trimmed_into

__all__ = ["parse_otlp_spans"]


def parse_otlp_spans(source: Source, _mapping: Any = None) -> Iterator[dict | IngestError]:
    return otlp_resources(source, "resourceSpans", "traces", _otlp_resource)


def _otlp_resource(rs: Any, line: int | None, path: str) -> Iterator[dict | IngestError]:
    for entry in otlp_scopes(rs, line, path, "Spans", "spans"):
        if isinstance(entry, IngestError):
            yield entry
            continue
        resource, ss, spans, scope_path = entry
        scope = as_object(ss.get("scope") or ss.get("instrumentationLibrary"), f"{scope_path}.scope")
        base = dict(resource)
        if scope.get("name"):
            base["otel.scope.name"] = scope["name"]
        if scope.get("version"):
            base["otel.scope.version"] = scope["version"]
        for i, sp in enumerate(spans):
            where = f"span {i} of {scope_path}"
            yield guarded(_otlp_span, line, where, sp, base, line, where)


def _otlp_span(sp: Any, base: dict[str, Any], line: int | None, where: str) -> dict | IngestError:
    if not isinstance(sp, dict):
        return IngestError(line, f"{where}: not an object")
    trace_id, span_id = otlp_id(sp.get("traceId")), otlp_id(sp.get("spanId"))
    for key, value in (("traceId", trace_id), ("spanId", span_id), ("startTimeUnixNano", sp.get("startTimeUnixNano"))):
        if value in (None, "", "0", 0):
            return IngestError(line, f"{where}: missing {key}")
    assert trace_id is not None and span_id is not None  # the loop above returned otherwise
    start = ns_to_dt(sp["startTimeUnixNano"])
    end = ns_to_dt(sp["endTimeUnixNano"]) if sp.get("endTimeUnixNano") not in (None, "", "0", 0) else None
    if end is not None and end < start:
        return ends_before_start(line, where)
    attrs = {**base, **otlp_attributes(sp.get("attributes"))}
    status = as_object(sp.get("status"), "status")
    code = str(status.get("code", "")).upper().removeprefix("STATUS_CODE_")
    state = "error" if code in ("2", "ERROR") else "ok" if code in ("1", "OK") else "unset"
    if status.get("message"):
        attrs["status.message"] = status["message"]
    if _otlp_events(sp.get("events"), attrs) and state == "unset":
        state = "error"
    links = [{"trace_id": otlp_id(lk.get("traceId")), "span_id": otlp_id(lk.get("spanId"))}
             for lk in sp.get("links") or [] if isinstance(lk, dict)]
    trimmed_into(links, attrs, "links")
    if sp.get("traceState"):
        attrs["trace_state"] = sp["traceState"]
    # AgentOps tool-call digests travel as span attributes in OTLP: lift them into their columns.
    digests = [attrs.pop(key, None) or attrs.pop(f"agentops.{key}", None) for key in ("args_digest", "result_digest")]
    return span_row(trace_id=trace_id, span_id=span_id, parent_id=otlp_id(sp.get("parentSpanId")),
                service=base.get("service.name"), name=sp.get("name") or "", start=start, end=end, status=state,
                kind=span_kind(sp.get("kind")), attributes=attrs, line=line, args_digest=digests[0], result_digest=digests[1])


def _otlp_events(events: Any, attrs: dict[str, Any]) -> bool:
    """Keep events in ``attrs["events"]``; copy the last exception's details. True if one."""
    kept, exception = [], False
    for ev in events if isinstance(events, list) else []:
        if not isinstance(ev, dict):
            continue
        ev_attrs = otlp_attributes(ev.get("attributes"))
        ts = iso_or_none(ns_to_dt, ev.get("timeUnixNano"))
        kept.append({"name": ev.get("name"), "ts": ts, "attributes": ev_attrs})
        if ev.get("name") == "exception":
            exception = True
            attrs.update({k: v for k, v in ev_attrs.items() if k.startswith("exception.")})
    trimmed_into(kept, attrs, "events")
    return exception

