"""Zipkin v2 JSON (``/api/v2/traces``, ``/api/v2/spans``) → span rows, span parts merged as Zipkin merges them.

Zipkin v2 lets a tracer report one span in several parts: the same trace and span id, one
part carrying the timestamp, another only the duration, late annotations or tags (Brave's
``brave.flush``, a span finished in another thread, a proxy that adds tags). And B3
originally gave the client and the server of one RPC the same span id: the server half is
marked ``shared: true`` (or should be). A reader that takes each part as a span loses the
parts without a timestamp and sees the same id twice.

This module owns reading that format and merging it the way Zipkin itself does (zipkin2
``Trace.merge``, zipkin-lens ``span-cleaner``), per trace:

- ids are cleaned: lower-case, left-padded to 16 hex digits; a parent equal to the span's
  own id is dropped; a trace reported with both 64- and 128-bit ids (the 64-bit id is the
  low half) takes the 128-bit one; name ``""``/``"unknown"`` counts as no name;
- parts are ordered by span id, then non-shared before shared, then client before others,
  then by local endpoint; a part merges into the one before it when both have the same
  ``shared`` flag and their local endpoints do not contradict each other (service name,
  IPv4, IPv6, port). Merging keeps the first non-empty parent, kind, name, timestamp and
  duration, merges endpoint fields (first value wins), unions annotations (sorted by time
  and value, duplicates dropped), lets later tags add to and override earlier ones, and
  ORs ``debug`` and ``shared``;
- the two halves of a shared span stay two rows with one id: a server half after a client
  half with the same id is marked shared even when its tracer forgot, and a shared half
  without a parent takes the client half's parent (the tree puts the server half under the
  client half: ``signals.tracetree``).

A span that still has no timestamp after merging is kept (Zipkin keeps it too): its time
comes from its annotations when it has any; else it is placed at its earliest timed child
(spanning its timed children), else at its parent's start, else at the trace's earliest
time, with ``attributes["timestamp_source"]`` saying which and ``duration_unknown`` set when
its duration is not known. Only a trace in which no part has any time at all is rejected
("missing timestamp"): nothing places it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterator

from ..models import IngestError
from .records import json_records, to_int, us_to_dt
from .source import Source
from .spanrow import ends_before_start, guarded, iso_or_none, norm_id, span_kind, span_row, trimmed_into

__all__ = ["ZipkinPart", "merge_zipkin_parts", "parse_zipkin_spans"]

_ENDPOINT_KEYS = ("serviceName", "ipv4", "ipv6", "port")


@dataclass
class ZipkinPart:
    """One reported part of a Zipkin v2 span, cleaned (ids normalised, empty values as None)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str | None
    kind: str | None  # upper case, as Zipkin writes it
    timestamp: int | None  # epoch µs; None when absent or 0
    duration: int | None  # µs; None when absent or 0
    local: dict[str, Any]
    remote: dict[str, Any]
    annotations: list[dict[str, Any]]
    tags: dict[str, Any]
    debug: bool
    shared: bool
    line: int | None
    where: str
    parts: int = 1  # how many reported parts this span was merged from
    seq: int = 0  # position of its first part in the file: rows come out in the order they were reported
    extra: dict[str, Any] = field(default_factory=dict)


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


def _hex_id(value: Any, width: int) -> str | None:
    """A Zipkin id, lower case and left-padded with zeros to ``width`` (zipkin-lens ``clean``)."""
    text = norm_id(value)
    if text is None or not all(c in "0123456789abcdef" for c in text):
        return text
    return text.rjust(width, "0")


def _trace_id(value: Any) -> str | None:
    """zipkin-lens ``normalizeTraceId``: 16 or 32 digits; a 128-bit id whose high half is zero is 64-bit."""
    text = norm_id(value)
    if text is None or not all(c in "0123456789abcdef" for c in text):
        return text
    if len(text) > 16:
        text = text.rjust(32, "0")
        return text[16:] if text.startswith("0" * 16) else text
    return text.rjust(16, "0")


def _micros(value: Any, what: str) -> int | None:
    """Zipkin writes 0 or nothing for an unknown time; negative is malformed."""
    if value in (None, ""):
        return None
    number = to_int(value)
    if number < 0:
        raise ValueError(f"negative {what} {number}")
    return number or None


def _endpoint(value: Any) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v not in (None, "")} if isinstance(value, dict) else {}


def _clean(sp: Any, line: int | None, where: str) -> ZipkinPart | IngestError:
    if not isinstance(sp, dict):
        return IngestError(line, f"{where}: not an object")
    trace_id, span_id = _trace_id(sp.get("traceId")), _hex_id(sp.get("id"), 16)
    for key, value in (("traceId", trace_id), ("id", span_id)):
        if value is None:
            return IngestError(line, f"{where}: missing {key}")
    assert trace_id is not None and span_id is not None  # the loop above returned otherwise
    if sp.get("duration") not in (None, "") and to_int(sp["duration"]) < 0:
        return ends_before_start(line, where)
    parent = _hex_id(sp.get("parentId"), 16)
    name = sp.get("name")
    notes = [{"timestamp": _micros(a.get("timestamp"), "annotation timestamp"), "value": a.get("value")}
             for a in sp.get("annotations") or [] if isinstance(a, dict)]
    return ZipkinPart(
        trace_id=trace_id, span_id=span_id, parent_id=None if parent == span_id else parent,
        name=str(name) if name not in (None, "", "unknown") else None,
        kind=str(sp["kind"]).upper() if sp.get("kind") else None,
        timestamp=_micros(sp.get("timestamp"), "timestamp"), duration=_micros(sp.get("duration"), "duration"),
        local=_endpoint(sp.get("localEndpoint")), remote=_endpoint(sp.get("remoteEndpoint")),
        annotations=sorted(notes, key=_note_key), tags=dict(sp["tags"]) if isinstance(sp.get("tags"), dict) else {},
        debug=bool(sp.get("debug")), shared=bool(sp.get("shared")), line=line, where=where)


def _note_key(note: dict[str, Any]) -> tuple[int, str]:
    return (note["timestamp"] or 0, str(note["value"]))


# ------------------------------------------------------------------ merging (zipkin2 Trace.merge)


def _order(p: ZipkinPart) -> tuple[Any, ...]:
    """zipkin2 ``CLEANUP_COMPARATOR``: by id; non-shared first, then client first; then local endpoint."""
    shared_rank = 2 if p.shared else 0 if p.kind == "CLIENT" else 1
    ep = p.local
    # as text: a malformed endpoint value must not stop the merge of the whole file
    return (p.span_id, shared_rank, bool(ep), *(str(ep.get(k, "")) for k in _ENDPOINT_KEYS))


def _endpoints_agree(tracker: dict[str, Any], endpoint: dict[str, Any]) -> bool:
    """zipkin2 ``EndpointTracker.tryMerge``: no field set on both sides with different values; then fill."""
    if any(k in tracker and k in endpoint and tracker[k] != endpoint[k] for k in _ENDPOINT_KEYS):
        return False
    for k in _ENDPOINT_KEYS:
        if k not in tracker and k in endpoint:
            tracker[k] = endpoint[k]
    return True


def _absorb(into: ZipkinPart, part: ZipkinPart) -> None:
    """zipkin2 ``Span.Builder.merge``: the first non-empty value of each field wins; collections are unioned."""
    into.parent_id = into.parent_id or part.parent_id
    into.name = into.name or part.name
    into.kind = into.kind or part.kind
    into.timestamp = into.timestamp or part.timestamp
    into.duration = into.duration or part.duration
    for mine, theirs in ((into.local, part.local), (into.remote, part.remote)):
        for k, v in theirs.items():
            mine.setdefault(k, v)
    seen = {(n["timestamp"], str(n["value"])) for n in into.annotations}
    into.annotations.extend(n for n in part.annotations if (n["timestamp"], str(n["value"])) not in seen)
    into.annotations.sort(key=_note_key)
    into.tags.update(part.tags)
    into.debug |= part.debug
    into.shared |= part.shared
    into.parts += part.parts
    into.seq = min(into.seq, part.seq)


def merge_zipkin_parts(parts: list[ZipkinPart]) -> list[ZipkinPart]:
    """The spans of one trace with their reported parts merged (see the module doc); every span kept.

    >>> a = _clean({"traceId": "1", "id": "b", "kind": "CLIENT", "timestamp": 10}, None, "span 0")
    >>> b = _clean({"traceId": "1", "id": "b", "duration": 5, "tags": {"error": "x"}}, None, "span 1")
    >>> [(p.timestamp, p.duration, p.tags, p.parts) for p in merge_zipkin_parts([a, b])]
    [(10, 5, {'error': 'x'}, 2)]
    """
    longest = max((p.trace_id for p in parts), key=len, default="")
    ordered = sorted(parts, key=_order)  # stable: equal parts keep the order they were reported in
    out: list[ZipkinPart] = []
    tracker: dict[str, Any] = {}
    for part in ordered:
        if len(part.trace_id) != len(longest):
            part.trace_id = longest
        last = out[-1] if out else None
        if last is not None and last.span_id == part.span_id:
            if last.shared == part.shared and _endpoints_agree(tracker, part.local):
                _absorb(last, part)  # sent in several pieces: one span
                continue
            # the other half of a shared span: Zipkin orders client first, so fix what the server forgot
            if last.kind == "CLIENT" and part.kind == "SERVER":
                part.shared = True
            if part.shared and part.parent_id is None:
                part.parent_id = last.parent_id
        out.append(part)
        tracker = dict(part.local)
    return out


def _traces(parts: list[ZipkinPart]) -> list[list[ZipkinPart]]:
    """Parts grouped by trace; a 64-bit trace id joins the 128-bit id whose low half it is (Zipkin's lenient lookup)."""
    groups: dict[str, list[ZipkinPart]] = {}
    for p in parts:
        low_half = len(p.trace_id) == 32 and all(c in "0123456789abcdef" for c in p.trace_id)
        groups.setdefault(p.trace_id[16:] if low_half else p.trace_id, []).append(p)
    return list(groups.values())


def _place(spans: list[ZipkinPart]) -> None:
    """Give every span of a merged trace a time (see the module doc for the order of the fallbacks).

    Three passes, so the result does not depend on the order spans were reported in: a
    span's own annotations first, then its timed descendants, then (parents before children)
    its parent's time or the trace's earliest.
    """
    by_id: dict[str, ZipkinPart] = {}
    for sp in spans:
        by_id.setdefault(sp.span_id, sp)  # the client half of a shared span is the parent its children name
    children: dict[str, list[ZipkinPart]] = {}
    for sp in spans:
        if sp.parent_id:
            children.setdefault(sp.parent_id, []).append(sp)
    timed = [sp.timestamp for sp in spans if sp.timestamp]
    earliest = min(timed) if timed else None
    untimed = [sp for sp in spans if not sp.timestamp]
    for sp in untimed:
        marks = [n["timestamp"] for n in sp.annotations if n["timestamp"]]
        if marks:  # v1-style: a span's annotations fall within it
            sp.timestamp, sp.extra["timestamp_source"] = min(marks), "annotations"
            sp.duration = sp.duration or (max(marks) - min(marks)) or None
    for sp in untimed:
        kids = [(t, t + (k.duration or 0)) for k in _timed_below(sp, children) if (t := k.timestamp)]
        if not sp.timestamp and kids:  # a span encloses its children
            sp.timestamp, sp.extra["timestamp_source"] = min(a for a, _ in kids), "children"
            sp.duration = sp.duration or (max(b for _, b in kids) - sp.timestamp) or None
    for sp in sorted((s for s in untimed if not s.timestamp), key=lambda s: _depth(s, by_id)):
        parent = by_id.get(sp.parent_id) if sp.parent_id else None
        if parent is not None and parent.timestamp:
            sp.timestamp, sp.extra["timestamp_source"] = parent.timestamp, "parent"
        elif earliest is not None:
            sp.timestamp, sp.extra["timestamp_source"] = earliest, "trace"


def _depth(sp: ZipkinPart, by_id: dict[str, ZipkinPart]) -> int:
    """Ancestors of a span in its trace (a parent cycle stops the count)."""
    depth, seen, node = 0, {id(sp)}, sp
    while node.parent_id and node.parent_id in by_id and id(by_id[node.parent_id]) not in seen:
        node = by_id[node.parent_id]
        seen.add(id(node))
        depth += 1
    return depth


def _timed_below(sp: ZipkinPart, children: dict[str, list[ZipkinPart]]) -> list[ZipkinPart]:
    """The nearest timed descendants of a span (iterative; a parent cycle cannot loop)."""
    out: list[ZipkinPart] = []
    stack, seen = list(children.get(sp.span_id, [])), {id(sp)}
    while stack:
        kid = stack.pop()
        if id(kid) in seen:
            continue
        seen.add(id(kid))
        if kid.timestamp:
            out.append(kid)
        else:
            stack.extend(children.get(kid.span_id, []))
    return out


# ------------------------------------------------------------------ rows


def parse_zipkin_spans(source: Source, _mapping: Any = None) -> Iterator[dict | IngestError]:
    """Rows of a Zipkin v2 file, parts merged per trace. Parts are collected first: they may be anywhere."""
    parts: list[ZipkinPart] = []
    for line, doc in json_records(source):
        if isinstance(doc, IngestError):
            yield doc
            continue
        for where, sp in _zipkin_items(doc):
            got = guarded(_clean, line, where, sp, line, where)
            if isinstance(got, IngestError):
                yield got
            else:
                got.seq = len(parts)
                parts.append(got)
    for trace in _traces(parts):
        spans = merge_zipkin_parts(trace)
        _place(spans)
        for sp in sorted(spans, key=lambda s: s.seq):
            yield guarded(_zipkin_row, sp.line, sp.where, sp)


def _zipkin_row(sp: ZipkinPart) -> dict | IngestError:
    if not sp.timestamp:
        return IngestError(sp.line, f"{sp.where}: missing timestamp (no part of this span, nor of any span "
                                    f"of its trace, has a time)")
    attrs: dict[str, Any] = dict(sp.tags)
    if sp.local:
        attrs["zipkin.local_endpoint"] = sp.local
    if sp.remote:
        attrs["zipkin.remote_endpoint"] = sp.remote
        if sp.remote.get("serviceName"):
            attrs["peer.service"] = sp.remote["serviceName"]
    for flag in ("shared", "debug"):
        if getattr(sp, flag):
            attrs[f"zipkin.{flag}"] = True
    if sp.parts > 1:
        attrs["zipkin.parts"] = sp.parts
    attrs.update(sp.extra)
    if "timestamp_source" in sp.extra:
        attrs["timestamp_unknown"] = True
    notes = [{"ts": iso_or_none(us_to_dt, n["timestamp"]), "value": n["value"]} for n in sp.annotations]
    trimmed_into(notes, attrs, "annotations")
    http = str(sp.tags.get("http.status_code", ""))
    error = "error" in sp.tags or (http.isdigit() and int(http) >= 500)
    start = us_to_dt(sp.timestamp)
    return span_row(trace_id=sp.trace_id, span_id=sp.span_id, parent_id=sp.parent_id,
                    service=sp.local.get("serviceName"), name=sp.name or "", start=start,
                    end=None if sp.duration is None else start + timedelta(microseconds=sp.duration),
                    status="error" if error else "unset", kind=span_kind(sp.kind), attributes=attrs, line=sp.line)
