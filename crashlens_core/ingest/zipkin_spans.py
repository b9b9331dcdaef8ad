"""Zipkin v2 JSON (``/api/v2/traces``, ``/api/v2/spans``) → span rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

from ..models import IngestError
from .records import json_records, to_int, us_to_dt
from .source import Source
from .spanrow import ends_before_start, guarded, iso_or_none, norm_id, span_kind, span_row, trimmed_into

__all__ = ["parse_zipkin_spans"]


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


def parse_zipkin_spans(source: Source, _mapping: Any = None) -> Iterator[dict | IngestError]:
    for line, doc in json_records(source):
        if isinstance(doc, IngestError):
            yield doc
            continue
        for where, sp in _zipkin_items(doc):
            yield guarded(_zipkin_span, line, where, sp, line, where)


def _zipkin_span(sp: Any, line: int | None, where: str) -> dict | IngestError:
    if not isinstance(sp, dict):
        return IngestError(line, f"{where}: not an object")
    trace_id, span_id = norm_id(sp.get("traceId")), norm_id(sp.get("id"))
    for key, value in (("traceId", trace_id), ("id", span_id), ("timestamp", sp.get("timestamp"))):
        if value in (None, "", 0):
            return IngestError(line, f"{where}: missing {key}")
    duration = to_int(sp["duration"]) if sp.get("duration") not in (None, "") else None
    if duration is not None and duration < 0:
        return ends_before_start(line, where)
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
    notes = [{"ts": iso_or_none(us_to_dt, a.get("timestamp")), "value": a.get("value")}
             for a in sp.get("annotations") or [] if isinstance(a, dict)]
    trimmed_into(notes, attrs, "annotations")
    http = str(tags.get("http.status_code", ""))
    error = "error" in tags or (http.isdigit() and int(http) >= 500)
    start = us_to_dt(sp["timestamp"])
    return span_row(trace_id=trace_id, span_id=span_id, parent_id=norm_id(sp.get("parentId")),
                service=local.get("serviceName"), name=sp.get("name") or "", start=start,
                end=None if duration is None else start + timedelta(microseconds=duration),
                status="error" if error else "unset", kind=span_kind(sp.get("kind")), attributes=attrs, line=line)
