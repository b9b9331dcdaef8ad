"""Aggregates over a window's traces: self and blamed time per service, presence, error origins grouped.

This module owns ``window_trace_stats``, the one reading of a window's traces that rankings
(``suspects``), the CLI and pages share, so they name the same error origins: it applies the
blame rules of ``store.traces.origin_blame`` (a slow or silent callee, a refused request)
on top of the per-trace error origins of ``tracetree``; and ``window_summary``, the same
figures plus the worst traces, as ``crashlens traces summary --from --to --json`` prints them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from ..store import Workspace
from ..store import traces as tstore
from .traces import origin_details, summaries_of
from .tracetree import VIRTUAL_ROOT, TraceBatch, load_batch

__all__ = ["window_trace_stats", "batch_stats", "window_summary"]


def window_trace_stats(ws: Workspace, window_start: datetime | None, window_end: datetime | None) -> dict[str, Any]:
    """Aggregates over a window's traces, for rankings and service-level views.

    Returns ``traces`` (count), ``error_traces``, ``mean_duration_ms``, ``self_ms`` and
    ``blame_ms`` ({service: total ms}; blame moves a wrapper's gap around a remote call to
    the callee), ``top_spans`` ({service: the 3 span ids with the most blamed self time}),
    ``presence`` ({service: traces it appears in}), and ``origins``: one row per
    (service, span name, exception, why) error origin with ``count`` and up to 5 example span
    ids. ``service`` is the service at fault: the span's own, unless ``why`` says otherwise
    (``silent_callee``, ``refused``: see ``store.traces.origin_blame``; ``via`` is then the
    span's own service); ``error_from`` says whether the origin errs by its status or by its
    ERROR log lines (``logs``: up to 5 of their evidence ids).
    """
    return batch_stats(ws, load_batch(ws, window_start=window_start, window_end=window_end))


def batch_stats(ws: Workspace, b: TraceBatch) -> dict[str, Any]:
    """``window_trace_stats`` of an already analysed batch."""
    ntr = len(b.trace_ids)
    out: dict[str, Any] = {"traces": ntr, "error_traces": 0, "mean_duration_ms": 0.0, "self_ms": {}, "blame_ms": {},
                           "top_spans": {}, "presence": {}, "origins": []}
    if not ntr:
        return out
    blame_code = b.blame_code
    if blame_code is None:  # load_batch always sets it; only a hand-built batch can lack it
        raise ValueError("batch_stats needs a batch from load_batch (blame_code is missing)")
    real = np.arange(b.n) < b.n_spans
    durations = (b.end[b.roots] - b.start[b.roots]) / 1000.0
    out["mean_duration_ms"] = float(durations.mean())
    out["error_traces"] = int((np.bincount(b.trace, weights=b.error, minlength=ntr) > 0).sum())
    for name, codes in (("self_ms", b.service_code), ("blame_ms", blame_code)):
        sums = np.bincount(codes[real], weights=b.self_us[real], minlength=len(b.services)) / 1000.0
        out[name] = {b.services[i]: float(v) for i, v in enumerate(sums) if b.services[i] != VIRTUAL_ROOT and v > 0}
    nsvc = len(b.services)
    # the three spans carrying the most (blamed) self time per service: latency evidence
    rr = np.flatnonzero(real)
    o = rr[np.lexsort((-b.self_us[rr], blame_code[rr]))]
    codes = blame_code[o]
    rank = np.arange(len(o)) - np.searchsorted(codes, codes, "left")
    top = o[rank < 3]
    out["top_spans"] = {}
    for r, sid in zip(top.tolist(), b.span_ids.take(top.tolist())):
        out["top_spans"].setdefault(b.services[blame_code[r]], []).append(sid)
    pres = np.unique(b.trace[real] * nsvc + b.service_code[real]) % nsvc
    out["presence"] = {b.services[i]: int(c) for i, c in enumerate(np.bincount(pres, minlength=nsvc)) if c}
    rows = [int(r) for r in b.origins.tolist() if r >= 0]
    keys = [(b.trace_ids[b.trace[r]], b.span_ids[r]) for r in rows]
    details = origin_details(ws, b, rows)  # an error known only from logs brings its log line's exception
    # an error that shows in one service but was caused by another (a silent callee, a refused request)
    blamed = tstore.origin_blame(ws, keys)
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r, span_key in zip(rows, keys):
        det = details.get(span_key, {})
        blame = blamed.get(span_key, {})
        key = (blame.get("service") or b.service_of(r), b.names[r], det.get("exception") or "", blame.get("why") or "")
        g = groups.setdefault(key, {"service": key[0], "name": key[1], "exception": key[2] or None, "count": 0,
                                    "examples": [], "hosts": {}, "why": key[3] or None, "via": blame.get("via"),
                                    "error_from": det.get("error_from"), "logs": []})
        g["count"] += 1
        if len(g["examples"]) < 5:
            g["examples"].append(b.span_ids[r])
        if det.get("error_log") and len(g["logs"]) < 5:
            g["logs"].append(det["error_log"])
        if det.get("host"):
            g["hosts"][det["host"]] = g["hosts"].get(det["host"], 0) + 1
    out["origins"] = sorted(groups.values(), key=lambda g: -g["count"])
    return out


def _by_value(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))}


def window_summary(ws: Workspace, window_start: datetime | None, window_end: datetime | None,
                   limit: int = 20) -> dict[str, Any]:
    """A window's traces in one document: counts, time per service, grouped error origins, the worst traces.

    The error origins are ``window_trace_stats``'s (blame rules applied, so they name the
    service the suspect ranking names), each with up to 3 ``span:`` evidence ids; ``traces``
    lists at most ``limit`` summaries, erroring traces first, then the slowest.

    >>> # window_summary(ws, t1, t2)["error_origins"][0]["service"]
    """
    b = load_batch(ws, window_start=window_start, window_end=window_end)
    stats = batch_stats(ws, b)
    summaries = summaries_of(ws, b)
    worst = sorted(summaries, key=lambda s: (s.error_origin is None, -s.duration_ms))[:limit]
    return {
        "window": {"start": window_start.isoformat() if window_start else None,
                   "end": window_end.isoformat() if window_end else None},
        "trace_count": stats["traces"],
        "span_count": b.n_spans,
        "error_traces": stats["error_traces"],
        "mean_duration_ms": round(stats["mean_duration_ms"], 3),
        "self_time_by_service": _by_value(stats["self_ms"]),
        "blame_ms_by_service": _by_value(stats["blame_ms"]),
        "error_origins": [{"service": g["service"], "name": g["name"], "exception": g["exception"], "count": g["count"],
                           "examples": [f"span:{sid}" for sid in g["examples"][:3]], "why": g["why"], "via": g["via"],
                           "hosts": g["hosts"], "error_from": g["error_from"], "logs": g["logs"][:3]}
                          for g in stats["origins"]],
        "traces": [s.to_json() for s in worst],
    }
