"""The service map of a time window, and how each call edge changed against a baseline window.

Nodes are services (requests = root spans and spans called from another service; errors
and latency percentiles of those entry spans). Edges are calls from one service to another
(a span whose child runs in another service) or to an external peer a client span names
(``peer.service``…): calls, errors, error rate and latency percentiles of the callee side.
All aggregation is DuckDB SQL in ``store.traces``; this module shapes and compares.

>>> # m = service_map(ws, t1, t2); [(e.src, e.dst, e.calls) for e in m.edges]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..store import Workspace
from ..store import traces as tstore

__all__ = ["ServiceNode", "ServiceEdge", "ServiceMap", "EdgeChange", "service_map", "service_map_change"]


@dataclass(frozen=True)
class ServiceNode:
    service: str
    spans: int
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    external: bool = False  # seen only as a peer named by client spans

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServiceEdge:
    src: str
    dst: str
    calls: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    external: bool
    example_span: str | None  # the slowest (erroring first) call: an evidence id `span:<id>`

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ServiceMap:
    start: datetime | None
    end: datetime | None
    nodes: list[ServiceNode] = field(default_factory=list)
    edges: list[ServiceEdge] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat() if self.start else None, "end": self.end.isoformat() if self.end else None,
                "nodes": [n.to_json() for n in self.nodes], "edges": [e.to_json() for e in self.edges]}


def _rate(errors: int, total: int) -> float:
    return round(errors / total, 4) if total else 0.0


def _ms(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def service_map(ws: Workspace, start: datetime | None = None, end: datetime | None = None, *,
                by_host: bool = False) -> ServiceMap:
    """Services and call edges of the spans starting in ``[start, end)`` (everything when open).

    ``by_host``: nodes are ``service @ host`` (host from the spans' ``host.name``), so one bad
    instance stands out from its healthy peers.
    """
    nodes = [ServiceNode(r["service"], int(r["spans"]), int(r["requests"]), int(r["errors"]),
                         _rate(int(r["errors"]), int(r["requests"])), _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["p99_ms"]))
             for r in tstore.service_stats(ws, start, end, by_host)]
    edges = [ServiceEdge(r["src"], r["dst"], int(r["calls"]), int(r["errors"]), _rate(int(r["errors"]), int(r["calls"])),
                         _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["p99_ms"]), bool(r["external"]), r["example_span"])
             for r in tstore.edge_stats(ws, start, end, by_host)]
    known = {n.service for n in nodes}
    for e in edges:
        if e.external and e.dst not in known:
            known.add(e.dst)
            nodes.append(ServiceNode(e.dst, 0, e.calls, e.errors, e.error_rate, e.p50_ms, e.p95_ms, e.p99_ms, external=True))
    return ServiceMap(start, end, nodes, edges)


@dataclass(frozen=True)
class EdgeChange:
    """One edge in the incident window against the baseline window (rates per minute)."""

    src: str
    dst: str
    external: bool
    calls_per_min: float
    baseline_calls_per_min: float
    error_rate: float
    baseline_error_rate: float
    p95_ms: float | None
    baseline_p95_ms: float | None
    p95_ratio: float | None
    status: str  # new | gone | changed | steady
    example_span: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _minutes(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return 1.0
    return max((end - start).total_seconds() / 60.0, 1e-9)


def service_map_change(ws: Workspace, start: datetime, end: datetime, baseline_start: datetime,
                       baseline_end: datetime, *, by_host: bool = False) -> list[EdgeChange]:
    """Every edge of either window, most changed first (error-rate rise, then p95 ratio, then traffic).

    An edge is ``changed`` when its error rate rose by 5 points or more, or its p95 grew by
    half or more, or its call rate halved or doubled; ``new``/``gone`` when it exists in one
    window only.
    """
    now = {(e.src, e.dst): e for e in service_map(ws, start, end, by_host=by_host).edges}
    base = {(e.src, e.dst): e for e in service_map(ws, baseline_start, baseline_end, by_host=by_host).edges}
    m_now, m_base = _minutes(start, end), _minutes(baseline_start, baseline_end)
    out = []
    for key in now.keys() | base.keys():
        e, b = now.get(key), base.get(key)
        either = e or b
        assert either is not None  # the key came from one of the two windows
        cpm = e.calls / m_now if e else 0.0
        bcpm = b.calls / m_base if b else 0.0
        ratio = None
        if e and b and e.p95_ms is not None and b.p95_ms:
            ratio = round(e.p95_ms / b.p95_ms, 3)
        if e is None:
            status = "gone"
        elif b is None:
            status = "new"
        elif ((e.error_rate - b.error_rate) >= 0.05 or (ratio is not None and ratio >= 1.5)
              or (bcpm and not 0.5 <= cpm / bcpm <= 2.0)):
            status = "changed"
        else:
            status = "steady"
        out.append(EdgeChange(key[0], key[1], bool(either.external), round(cpm, 3), round(bcpm, 3),
                              e.error_rate if e else 0.0, b.error_rate if b else 0.0, e.p95_ms if e else None,
                              b.p95_ms if b else None, ratio, status, either.example_span))
    out.sort(key=lambda c: (c.status == "steady", -(c.error_rate - c.baseline_error_rate), -(c.p95_ratio or 0.0),
                            -abs(c.calls_per_min - c.baseline_calls_per_min), c.src, c.dst))
    return out
