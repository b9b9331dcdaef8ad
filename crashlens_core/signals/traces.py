"""Trace summaries: one trace read for a person (waterfall rows, critical path, error origin), or many in bulk.

This module owns ``TraceSummary`` and the calls that build it (``summarize_trace``,
``summarize_traces``, ``error_origin``) on top of the bulk analysis in ``tracetree``: names,
exception details and the path by which an error rose to the root, per-service self time,
the repairs made to each tree (``issues``), and per-span rows for a waterfall.

>>> # summarize_trace(ws, "4bf92f3577b34da6a3ce929d0e0e4736").critical_path[0]["service"]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import NotFound
from ..store import Workspace
from ..store import traces as tstore
from .tracetree import FLAG_BITS, TraceBatch, load_batch, strings_of

__all__ = ["TraceSummary", "origin_details", "summaries_of", "summarize_trace", "summarize_traces", "error_origin"]


# ====================================================================== records


@dataclass
class TraceSummary:
    """One trace, read: its shape, critical path, self time per service and error origin.

    ``critical_path`` holds Jaeger-style sections ``{span_id, service, name, start_ms, end_ms,
    ms}`` in time order (ms offsets from the trace start); ``error_origin`` is None for a
    trace without errors, else ``{span_id, service, name, exception, message, path, error_from,
    error_log}`` with ``path`` the span ids from the origin up to the root, ``error_from``
    "status" or "logs" (the span errs by an ERROR log line carrying its ids: its trace has no
    error status) and ``error_log`` that line's evidence id (``log:ID``) or None. ``spans`` (per-span rows for a
    waterfall) is filled by ``summarize_trace`` only.
    """

    trace_id: str
    root_service: str
    root_name: str
    start: datetime
    duration_ms: float
    span_count: int
    depth: int
    services: list[str]
    error_count: int
    critical_path_ms: float
    critical_path_spans: int
    self_time_by_service: dict[str, float]
    error_origin: dict[str, Any] | None
    issues: dict[str, Any]
    spans: list[dict[str, Any]] | None = None
    # The sections are built on first use: most bulk callers never look at them.
    _sections: Callable[[], list[dict[str, Any]]] | None = field(default=None, repr=False, compare=False)
    _critical_path: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def critical_path(self) -> list[dict[str, Any]]:
        if self._critical_path is None:
            self._critical_path = self._sections() if self._sections else []
        return self._critical_path

    def to_json(self, with_spans: bool = False) -> dict[str, Any]:
        out = {
            "trace_id": self.trace_id,
            "root": {"service": self.root_service, "name": self.root_name},
            "start": self.start.isoformat(),
            "duration_ms": round(self.duration_ms, 3),
            "span_count": self.span_count,
            "depth": self.depth,
            "services": self.services,
            "error_count": self.error_count,
            "critical_path": self.critical_path,
            "critical_path_ms": self.critical_path_ms,
            "critical_path_spans": self.critical_path_spans,
            "self_time_by_service": self.self_time_by_service,
            "error_origin": self.error_origin,
            "issues": self.issues,
        }
        if with_spans and self.spans is not None:
            out["spans"] = self.spans
        return out


# ====================================================================== summaries


def origin_details(ws: Workspace, b: TraceBatch, rows: list[int]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per error-origin row, keyed ``(trace_id, span_id)``: exception, message and host of the span; for an
    error known from logs (``error_from == "logs"``) the first ERROR line's exception and message fill
    what the span lacks, and ``error_log`` is its evidence id."""
    keys = [(b.trace_ids[b.trace[r]], sid) for r, sid in zip(rows, b.span_ids.take(rows))]
    details = tstore.span_details(ws, keys)
    logged_rows = {k for r, k in zip(rows, keys) if b.from_logs is not None and b.from_logs[r]}
    logged = tstore.span_error_logs(ws, sorted(logged_rows))
    out = {}
    for key in keys:
        det = dict(details.get(key, {}))
        line = logged.get(key)
        det["error_from"] = "logs" if key in logged_rows else "status"
        det["error_log"] = f"log:{line['log_id']}" if line else None
        if line:
            det["exception"] = det.get("exception") or line["exception"]
            det["message"] = det.get("message") or det.get("status_message") or line["message"]
        out[key] = det
    return out


def _origin_info(ws: Workspace, b: TraceBatch, rows: list[int]) -> dict[int, dict[str, Any]]:
    """Error-origin records for the given span rows: names, exception details (one query), path to the root."""
    ids = b.span_ids.take(rows)
    names = b.names.take(rows)
    details = origin_details(ws, b, rows)
    parent = b.parent
    paths = []
    for r in rows:
        path_rows: list[int] = []
        node = r
        while node >= 0 and len(path_rows) <= b.n:
            if node < b.n_spans:
                path_rows.append(node)
            node = int(parent[node])
        paths.append(path_rows)
    flat = b.span_ids.take([r for p in paths for r in p])
    out, at = {}, 0
    for r, sid, name, path_rows in zip(rows, ids, names, paths):
        det = details.get((b.trace_ids[b.trace[r]], sid), {})
        out[r] = {"span_id": sid, "service": b.service_of(r), "name": name, "exception": det.get("exception"),
                  "message": det.get("message") or det.get("status_message"), "host": det.get("host"),
                  "depth": int(b.depth[r]), "path": flat[at:at + len(path_rows)],
                  "error_from": det.get("error_from"), "error_log": det.get("error_log")}
        at += len(path_rows)
    return out


def summaries_of(ws: Workspace, b: TraceBatch, with_spans: bool = False) -> list[TraceSummary]:
    """One ``TraceSummary`` per trace of an analysed batch, earliest first (``with_spans``: waterfall rows too)."""
    n, ntr = b.n, len(b.trace_ids)
    if not ntr:
        return []
    real = np.arange(n) < b.n_spans
    tr_real = b.trace[real]
    span_count = np.bincount(tr_real, minlength=ntr).tolist()
    errors = np.bincount(tr_real, weights=b.error[real], minlength=ntr).astype(int).tolist()
    depth_max = np.maximum.reduceat(b.depth[:b.n_spans], b.offsets).tolist()  # stored rows are grouped by trace
    # A trace lasts until its last span ends, as Zipkin and Jaeger draw it: in a messaging trace the
    # root (a producer) ends at once and the consumers run after it, outside the root's time.
    last_end = np.maximum.reduceat(b.end[:b.n_spans], b.offsets).tolist()
    cp_ms = np.round(np.bincount(b.trace, weights=b.crit_us, minlength=ntr) / 1000.0, 3).tolist()
    cp_spans = np.bincount(tr_real, weights=b.crit_us[real] > 0, minlength=ntr).astype(int).tolist()
    # issues: per-flag counts, built only for the traces that have any
    issue_counts = {name: np.bincount(b.trace, weights=(b.flags & bit) > 0, minlength=ntr).astype(int).tolist()
                    for name, bit in FLAG_BITS.items()}
    missing_arr = (b.roots >= b.n_spans) | ((b.flags[b.roots] & FLAG_BITS["orphan"]) > 0)
    troubled = set(np.flatnonzero(missing_arr | (np.bincount(b.trace, weights=b.flags > 0, minlength=ntr) > 0)).tolist())
    missing = missing_arr.tolist()
    # self time per (trace, service)
    nsvc = max(len(b.services), 1)
    ukey, inv = np.unique(tr_real * nsvc + b.service_code[real], return_inverse=True)
    sums = np.round(np.bincount(inv, weights=b.self_us[real]) / 1000.0, 3).tolist()
    per_trace: list[dict[str, float]] = [{} for _ in range(ntr)]
    services = b.services
    for k, v in zip(ukey.tolist(), sums):
        per_trace[k // nsvc][services[k % nsvc]] = v
    origins = _origin_info(ws, b, [r for r in b.origins.tolist() if r >= 0])
    roots = b.roots.tolist()
    root_names = b.names.take(roots)
    root_services = [services[c] for c in b.service_code[b.roots].tolist()]
    starts, ends = b.start[b.roots].tolist(), b.end[b.roots].tolist()
    start_dts = b.start[b.roots].astype("datetime64[us]").tolist()  # one conversion, not one per trace
    origin_rows = b.origins.tolist()
    out = []
    for t in range(ntr):
        t0 = starts[t]
        issues: dict[str, Any] = {}
        if t in troubled:
            issues = {k: v[t] for k, v in issue_counts.items() if v[t]}
            if missing[t]:
                issues["missing_root"] = True
        out.append(TraceSummary(
            trace_id=b.trace_ids[t], root_service=root_services[t], root_name=root_names[t],
            start=start_dts[t], duration_ms=round((max(ends[t], last_end[t]) - t0) / 1000.0, 3), span_count=span_count[t],
            depth=depth_max[t], services=sorted(per_trace[t]), error_count=errors[t],
            critical_path_ms=cp_ms[t], critical_path_spans=cp_spans[t],
            self_time_by_service=per_trace[t], error_origin=origins.get(origin_rows[t]), issues=issues,
            _sections=functools.partial(_sections, b, t, t0)))
    if with_spans:
        for t, summ in enumerate(out):
            summ.spans = _span_rows(b, t)
    out.sort(key=lambda s: (s.start, s.trace_id))
    return out


def _sections(b: TraceBatch, t: int, t0: int) -> list[dict[str, Any]]:
    rows = [r for r, _, _ in b.paths[t]]
    ids, names = b.span_ids.take(rows), b.names.take(rows)
    return [{"span_id": sid, "service": b.service_of(r), "name": name,
             "start_ms": round((a - t0) / 1000.0, 3), "end_ms": round((z - t0) / 1000.0, 3), "ms": round((z - a) / 1000.0, 3)}
            for (r, a, z), sid, name in zip(b.paths[t], ids, names)]


def _span_rows(b: TraceBatch, t: int) -> list[dict[str, Any]]:
    """Per-span rows of one trace for a waterfall, in tree (depth-first) order."""
    rows = np.flatnonzero(b.trace == t)
    root = int(b.roots[t])
    t0 = int(b.start[root])
    children: dict[int, list[int]] = {}
    for r in sorted(rows.tolist(), key=lambda r: (b.start[r], r)):
        children.setdefault(int(b.parent[r]), []).append(r)
    order, stack = [], [root]
    while stack:
        r = stack.pop()
        order.append(r)
        stack.extend(reversed(children.get(r, [])))
    ids = dict(zip(order, b.span_ids.take(order)))
    names = dict(zip(order, b.names.take(order)))
    kinds = dict(zip(order, strings_of(b.kinds, None).take(order)))
    out = []
    for r in order:
        p = int(b.parent[r])
        out.append({
            "span_id": ids[r], "parent_id": ids.get(p) if p >= 0 else None,
            "service": b.services[b.service_code[r]], "name": names[r], "kind": kinds[r],
            "start_ms": round((int(b.start[r]) - t0) / 1000.0, 3), "duration_ms": round((int(b.end[r]) - int(b.start[r])) / 1000.0, 3),
            "self_ms": round(int(b.self_us[r]) / 1000.0, 3), "critical_ms": round(int(b.crit_us[r]) / 1000.0, 3),
            "depth": int(b.depth[r]), "error": bool(b.error[r]), "error_origin": bool(b.origin[r]),
            "error_from_logs": bool(b.from_logs is not None and b.from_logs[r]),
            "flags": [k for k, bit in FLAG_BITS.items() if b.flags[r] & bit],
        })
    return out


def summarize_trace(ws: Workspace, trace_id: str) -> TraceSummary:
    """One trace with per-span rows (``.spans``) for a waterfall.

    >>> # s = summarize_trace(ws, tid); s.error_origin["service"], s.critical_path_ms
    """
    b = load_batch(ws, trace_ids=[trace_id])
    if not b.trace_ids:
        raise NotFound(f"no trace {trace_id!r}", hint="`crashlens traces summary --json` lists the traces of a window")
    return summaries_of(ws, b, with_spans=True)[0]


def summarize_traces(ws: Workspace, window_start: datetime | None = None, window_end: datetime | None = None,
                     limit: int | None = None, trace_ids: Sequence[str] | None = None) -> list[TraceSummary]:
    """Every trace starting in ``[window_start, window_end)`` (earliest first, at most ``limit``), summarized in bulk."""
    return summaries_of(ws, load_batch(ws, trace_ids=trace_ids, window_start=window_start, window_end=window_end,
                                     limit=limit), with_spans=False)


def error_origin(ws: Workspace, trace_id: str) -> dict[str, Any] | None:
    """The error origin of one trace (None when nothing in it errs); see ``TraceSummary.error_origin``."""
    return summarize_trace(ws, trace_id).error_origin
