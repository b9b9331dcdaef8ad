"""One trace against the typical traces of the same root operation: what is new, missing, slower, erroring.

Typical traces are error-free traces whose root span has the same service and name, taken
nearest in time before the trace (then after). Spans are matched by their *operation path*:
the (service, name) chain from the root down, so "payments › POST card-gateway" under
checkout is one key however many times it is called. Per key the typical side gives how
often traces contain it, its median count, its duration percentiles and error rate.

A key is **new** when under 10% of typical traces have it, **missing** when at least half
of them have it and this trace does not, **slower** when its slowest call here exceeds both
twice the typical median and the typical p95 by at least 1 ms, **erroring** when it errs
here and errs in under half of the typical traces.

>>> # c = compare_trace(ws, tid); [d.path for d in c.differences if d.kind == "slower"]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import NotFound
from ..store import Workspace
from ..store import traces as tstore
from .tracetree import VIRTUAL_ROOT, TraceBatch, load_batch

__all__ = ["SpanDifference", "TraceComparison", "compare_trace"]

SEP = " › "


@dataclass(frozen=True)
class SpanDifference:
    kind: str                    # new | missing | slower | erroring
    path: str                    # "service:name › service:name › …"
    service: str
    name: str
    count: int                   # calls in this trace
    typical_presence: float      # share of typical traces that have it
    typical_count: float         # median calls per typical trace (0 when absent)
    duration_ms: float | None    # slowest call here
    typical_p50_ms: float | None
    typical_p95_ms: float | None
    typical_error_rate: float
    span_ids: list[str]          # this trace's spans for the key (evidence `span:<id>`)
    score: float                 # how strong the difference is, for ordering

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TraceComparison:
    trace_id: str
    root_service: str
    root_name: str
    duration_ms: float
    typical_traces: int
    typical_duration_p50_ms: float | None
    differences: list[SpanDifference] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["differences"] = [d.to_json() for d in self.differences]
        return out


def _paths(b: TraceBatch) -> list[str]:
    """The operation path of every row, parents first (rows are processed in depth order)."""
    names = b.names.take(list(range(b.n)))
    label = [f"{b.services[c]}:{nm}" for c, nm in zip(b.service_code.tolist(), names)]
    path = [""] * b.n
    for r in np.argsort(b.depth, kind="stable").tolist():
        p = int(b.parent[r])
        if r >= b.n_spans:
            path[r] = VIRTUAL_ROOT
        else:
            path[r] = label[r] if p < 0 else f"{path[p]}{SEP}{label[r]}"
    return path


def _by_key(b: TraceBatch) -> dict[tuple[int, str], list[int]]:
    """(trace index, operation path) → the rows, for the stored spans."""
    out: dict[tuple[int, str], list[int]] = {}
    paths = _paths(b)
    for r in range(b.n_spans):
        out.setdefault((int(b.trace[r]), paths[r]), []).append(r)
    return out


def compare_trace(ws: Workspace, trace_id: str, typical: int = 50) -> TraceComparison:
    """Compare ``trace_id`` with up to ``typical`` error-free traces of the same root operation."""
    root = tstore.trace_root(ws, trace_id)
    if root is None:
        raise NotFound(f"no trace {trace_id!r}", hint="`crashlens traces summary --json` lists the traces of a window")
    ids = tstore.typical_trace_ids(ws, root["service"], root["name"], exclude=trace_id, before=root["start_ts"],
                                   limit=typical)
    b = load_batch(ws, trace_ids=[trace_id, *ids])
    ti = b.trace_ids.index(trace_id)
    dur = (b.end[b.roots] - b.start[b.roots]) / 1000.0
    others = [t for t in range(len(b.trace_ids)) if t != ti]
    result = TraceComparison(trace_id, root["service"], root["name"], round(float(dur[ti]), 3), len(others),
                             round(float(np.median(dur[others])), 3) if others else None)
    if not others:
        return result
    groups = _by_key(b)
    mine = {k[1]: rows for k, rows in groups.items() if k[0] == ti}
    theirs: dict[str, list[list[int]]] = {}
    for (t, key), rows in groups.items():
        if t != ti:
            theirs.setdefault(key, []).append(rows)
    n_typ = len(others)
    ms = (b.end - b.start) / 1000.0
    diffs: list[SpanDifference] = []
    for key in mine.keys() | theirs.keys():
        rows = mine.get(key, [])
        typ_lists = theirs.get(key, [])
        presence = len(typ_lists) / n_typ
        typ_rows = [r for rs in typ_lists for r in rs]
        typ_ms = ms[typ_rows] if typ_rows else np.zeros(0)
        p50 = float(np.median(typ_ms)) if len(typ_ms) else None
        p95 = float(np.percentile(typ_ms, 95)) if len(typ_ms) else None
        typ_err = float(np.mean(b.error[typ_rows])) if typ_rows else 0.0
        typ_count = float(np.median([len(rs) for rs in typ_lists] + [0] * (n_typ - len(typ_lists))))
        here_ms = float(ms[rows].max()) if rows else None
        last = key.rsplit(SEP, 1)[-1]
        service, _, name = last.partition(":")
        base = dict(path=key, service=service, name=name, count=len(rows), typical_presence=round(presence, 3),
                    typical_count=typ_count, duration_ms=None if here_ms is None else round(here_ms, 3),
                    typical_p50_ms=None if p50 is None else round(p50, 3),
                    typical_p95_ms=None if p95 is None else round(p95, 3), typical_error_rate=round(typ_err, 3),
                    span_ids=b.span_ids.take(rows[:10]))
        if rows and presence < 0.1:
            diffs.append(SpanDifference("new", score=1.0 - presence, **base))
        if not rows and presence >= 0.5:
            diffs.append(SpanDifference("missing", score=presence, **base))
        if rows and p50 is not None and here_ms is not None and here_ms > max(2 * p50, p95 or 0.0) and here_ms - (p95 or 0.0) >= 1.0:
            diffs.append(SpanDifference("slower", score=round(here_ms / max(p50, 1e-3), 3), **base))
        if rows and bool(b.error[rows].any()) and typ_err < 0.5:
            diffs.append(SpanDifference("erroring", score=round(1.0 - typ_err + 0.1 * (b.origin[rows].any()), 3), **base))
    order = {"erroring": 0, "slower": 1, "new": 2, "missing": 3}
    diffs.sort(key=lambda d: (order[d.kind], -d.score, d.path))
    result.differences = diffs
    return result
