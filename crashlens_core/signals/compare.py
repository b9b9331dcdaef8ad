"""Baseline comparison (as Honeycomb BubbleUp) and new/elevated templates (as Grafana Sift).

For an incident window against a baseline window (default: the same length just before), every
dimension — service, host, level, template, fingerprint, each key of the JSON attributes, and
for spans the operation, status and latency bucket — is ranked by how differently its values
are distributed (total variation distance between the two share vectors, 0 = same, 1 =
disjoint). Each value reports its share in the incident, its share in the baseline and the
lift. Identifier-like dimensions (almost every value distinct: request ids, trace ids) say
nothing about *what* changed and are skipped.

Templates: *new* ones were not seen in the baseline window;
*elevated* ones occur at a higher rate per minute than in the baseline, ranked by the ratio
(with a +1 smoothing so a template going from 0 to 3 does not outrank one going 10 → 400).

>>> # cmp = compare_windows(ws, t0, t1)   # crashlens compare --from T1 --to T2 --json
>>> # cmp.dimensions[0].dimension, cmp.dimensions[0].values[0].value  -> ('host', 'shop-2')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config import Settings
from ..errors import InputError
from ..store import compare as sql
from ..store import Workspace

__all__ = ["ValueShift", "DimensionShift", "TemplateShift", "Comparison", "compare_windows", "template_shifts",
           "default_baseline"]


@dataclass
class ValueShift:
    value: str | None           # for template and fingerprint: the id (label: its text)
    incident_share: float
    baseline_share: float
    lift: float | None          # incident share / baseline share; None when the baseline has none
    incident_count: int
    baseline_count: int
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "label": self.label, "incident_share": round(self.incident_share, 4),
                "baseline_share": round(self.baseline_share, 4),
                "lift": None if self.lift is None else round(self.lift, 3),
                "incident_count": self.incident_count, "baseline_count": self.baseline_count}


@dataclass
class DimensionShift:
    dimension: str
    source: str                 # logs | spans
    score: float                # total variation distance, 0…1
    values: list[ValueShift] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "source": self.source, "score": round(self.score, 4),
                "values": [v.to_json() for v in self.values]}


@dataclass
class TemplateShift:
    template_id: str
    template: str
    incident_count: int
    baseline_count: int
    rate_ratio: float           # per-minute rate in the window / in the baseline (+1 smoothed)
    new: bool
    levels: list[str]
    services: list[str]
    example: str

    def to_json(self) -> dict[str, Any]:
        return {"template_id": self.template_id, "template": self.template, "incident_count": self.incident_count,
                "baseline_count": self.baseline_count, "rate_ratio": round(self.rate_ratio, 3), "new": self.new,
                "levels": self.levels, "services": self.services, "example": self.example}


@dataclass
class Comparison:
    window: tuple[datetime, datetime]
    baseline: tuple[datetime, datetime]
    focus: str
    dimensions: list[DimensionShift]
    new_templates: list[TemplateShift]
    elevated_templates: list[TemplateShift]
    skipped: list[str] = field(default_factory=list)   # identifier-like dimensions
    suspects: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"window": {"from": self.window[0].isoformat(), "to": self.window[1].isoformat()},
                "baseline": {"from": self.baseline[0].isoformat(), "to": self.baseline[1].isoformat()},
                "focus": self.focus,
                "dimensions": [d.to_json() for d in self.dimensions],
                "templates": {"new": [t.to_json() for t in self.new_templates],
                              "elevated": [t.to_json() for t in self.elevated_templates]},
                "skipped_dimensions": self.skipped,
                "suspects": self.suspects}


def default_baseline(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The same length just before the window."""
    return start - (end - start), start


def _check(start: datetime, end: datetime, b0: datetime, b1: datetime) -> None:
    if end <= start:
        raise InputError("the window ends before it starts", hint="give --from earlier than --to")
    if b1 <= b0:
        raise InputError("the baseline window ends before it starts", hint="give --baseline-from earlier than --baseline-to")


def _dimensions(rows: list[tuple[str, str | None, int, int]], source: str, top: int,
                skipped: list[str]) -> list[DimensionShift]:
    by_dim: dict[str, list[tuple[str | None, int, int]]] = {}
    for dim, value, a, b in rows:
        by_dim.setdefault(dim, []).append((value, a, b))
    out = []
    for dim, items in by_dim.items():
        n_i = sum(a for _, a, _ in items)
        n_b = sum(b for _, _, b in items)
        if n_i == 0 or n_b == 0:
            continue
        distinct = len(items)
        if distinct > 200 or (distinct > 20 and distinct > 0.5 * (n_i + n_b)):
            skipped.append(dim)
            continue
        if distinct < 2 and items[0][0] is not None:
            continue  # one value on both sides: nothing to compare
        values = []
        for value, a, b in items:
            p, q = a / n_i, b / n_b
            values.append(ValueShift(value, p, q, (p / q) if q else None, a, b))
        # total variation distance, shrunk for small samples: three errors on one host are a
        # perfect split by chance, three hundred are not
        tvd = 0.5 * sum(abs(v.incident_share - v.baseline_share) for v in values)
        score = tvd * (n_i / (n_i + 20)) * (n_b / (n_b + 20))
        values.sort(key=lambda v: (-(v.incident_share - v.baseline_share), str(v.value)))
        out.append(DimensionShift(dim, source, score, values[:top]))
    return out


def template_shifts(ws: Workspace, start: datetime, end: datetime, b0: datetime, b1: datetime,
                    limit: int = 20) -> tuple[list[TemplateShift], list[TemplateShift]]:
    """New and elevated templates of the window against the baseline."""
    minutes_i = max((end - start).total_seconds() / 60, 1e-9)
    minutes_b = max((b1 - b0).total_seconds() / 60, 1e-9)
    new, elevated = [], []
    for tid, text, a, b, first_ts, levels, services, example in sql.template_window_counts(ws, start, end, b0, b1):
        ratio = ((a + 1) / minutes_i) / ((b + 1) / minutes_b)
        shift = TemplateShift(tid, text or tid, int(a), int(b), ratio, b == 0,
                              list(levels or []), list(services or []), example or "")
        if shift.new:
            new.append(shift)
        elif ratio > 1.5:
            elevated.append(shift)
    level_rank = {"FATAL": 0, "ERROR": 1, "WARN": 2}

    def worst(t: TemplateShift) -> int:
        return min((level_rank.get(lv, 3) for lv in t.levels), default=3)

    new.sort(key=lambda t: (worst(t), -t.incident_count))
    elevated.sort(key=lambda t: (-t.rate_ratio, worst(t)))
    return new[:limit], elevated[:limit]


def compare_windows(ws: Workspace, start: datetime, end: datetime, baseline_start: datetime | None = None,
                    baseline_end: datetime | None = None, *, focus: str = "all", top_values: int = 8,
                    settings: Settings | None = None, with_suspects: bool = True) -> Comparison:
    """Rank dimensions and templates by how the window differs from its baseline.

    ``focus="errors"`` compares the window's ERROR/FATAL logs (and error spans) with
    everything in the baseline: which hosts, versions, templates the failures concentrate on.
    """
    if focus not in ("all", "errors"):
        raise InputError(f"unknown focus {focus!r}", hint="use all or errors")
    b0, b1 = (baseline_start, baseline_end) if baseline_start and baseline_end else default_baseline(start, end)
    _check(start, end, b0, b1)
    skipped: list[str] = []
    errors_only = focus == "errors"
    dims = _dimensions(sql.log_dimension_counts(ws, start, end, b0, b1, errors_only=errors_only), "logs", top_values, skipped)
    dims += _dimensions(sql.span_dimension_counts(ws, start, end, b0, b1, errors_only=errors_only), "spans", top_values, skipped)
    dims.sort(key=lambda d: (-d.score, d.dimension))
    _label(ws, dims)
    new, elevated = template_shifts(ws, start, end, b0, b1)
    suspects: list[dict[str, Any]] = []
    if with_suspects:
        suspects = _service_suspects(ws, start, end, b0, b1, settings)
    return Comparison((start, end), (b0, b1), focus, dims, new, elevated, sorted(set(skipped)), suspects)


def _label(ws: Workspace, dims: list[DimensionShift]) -> None:
    """Template and fingerprint values are ids; give them their text."""
    from ..store import signals as sig

    for d in dims:
        for v in d.values:
            if v.value and d.dimension == "template":
                v.label = sig.template_text(ws, v.value)
            elif v.value and d.dimension == "fingerprint":
                v.label = (sig.fingerprint_meta(ws, v.value) or {}).get("title")


def _service_suspects(ws: Workspace, start: datetime, end: datetime, b0: datetime, b1: datetime,
                      settings: Settings | None) -> list[dict[str, Any]]:
    """The traces-and-metrics ranking of suspect services (signals.suspects)."""
    from .suspects import rank_suspect_services

    return [s.to_json() for s in rank_suspect_services(ws, start, end, b0, b1, settings=settings)]
