"""Incident detection: bursts of errors (by fingerprint or template) and of span latency.

Per key (an exception fingerprint, else the template of an ERROR/FATAL line) the counts per
time bin come from SQL. A bin is *hot* when its count exceeds ``detect_threshold`` times the
key's usual count per bin (the median over the active bins of the files it came from, so a burst does not
raise its own baseline; plus a Poisson margin). Consecutive hot bins form a run; a run is a
burst when it holds at least ``detect_min_count`` errors (any FATAL counts) and its mean rate is
``detect_threshold`` times the key's mean rate outside it, so sporadic errors that happen to
line up stay quiet. Latency bursts: a service's p95 at its entry spans (parent in another
service, or none) reaching ``detect_latency_factor`` times its median p95 and
``detect_latency_min_ms`` above it, two bins in a row.

A routine recurrence — the same error key bursting on a fixed period at its usual size, as a cron
job, a log rotation or a nightly backup that fails the same way every run — is folded into one
incident ("recurs daily at 04:05, 29 times") instead of one per run (``fold_recurrences``).

Related bursts — overlapping in time (within ``detect_merge_gap_s``) or sharing trace ids —
merge into one incident with window, services, severity and top fingerprints. Ids are derived
from the top burst and the window start, so detecting twice opens nothing twice; an open
incident already covering the window and a service (say, filed by hand) is matched, not doubled.

>>> # report = detect_incidents(ws, settings)        # crashlens incidents detect
>>> # [i.title for i in report.created]  -> ['TypeError in checkout', ...]
"""

from __future__ import annotations

import math
import statistics
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Sequence

from ..config import Settings
from ..models import Incident
from ..store import detect as sql
from ..store import Workspace
from .naming import schedule_phrase, source_name, where_phrase

__all__ = ["Burst", "DetectReport", "find_error_bursts", "find_latency_bursts", "fold_recurrences", "group_bursts",
           "detect_incidents"]

_NS = uuid.UUID("6f1d0c52-7e0b-4b8e-9c55-2f3c1a9d7e10")


@dataclass
class Burst:
    kind: str                   # errors | latency
    key: str                    # fp:<id> | tpl:<id> | latency:<service>
    start: datetime
    end: datetime               # exclusive: the end of the last hot bin
    count: int                  # errors in the run, or spans for latency
    baseline_per_bin: float     # the key's usual errors per bin (or usual p95 ms for latency)
    peak: float                 # most errors in one bin (or highest p95 ms)
    fatal: int = 0
    services: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # the source files of its lines (names it when nothing else does)
    # set when this burst stands for a routine recurrence (fold_recurrences): period_s, occurrences,
    # first and last start; the burst itself is the latest occurrence
    recurrence: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "key": self.key, "start": self.start.isoformat(), "end": self.end.isoformat(),
               "count": self.count, "baseline_per_bin": round(self.baseline_per_bin, 3), "peak": round(self.peak, 3),
               "fatal": self.fatal, "services": self.services, "hosts": self.hosts, "trace_ids": self.trace_ids[:10],
               "files": self.files}
        if self.recurrence:
            out["recurrence"] = self.recurrence
        return out


@dataclass
class DetectReport:
    created: list[Incident] = field(default_factory=list)
    matched: list[tuple[str, list[Burst]]] = field(default_factory=list)  # (existing incident id, bursts)
    bursts: list[Burst] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"created": [i.to_json() for i in self.created],
                "matched": [{"incident_id": i, "bursts": [b.to_json() for b in bs]} for i, bs in self.matched],
                "bursts": [b.to_json() for b in self.bursts]}


def _runs(bins: Sequence[datetime], hot: Sequence[bool], step: timedelta) -> list[tuple[int, int]]:
    """Index ranges [i, j] of consecutive hot bins (bins are sorted, only active ones listed)."""
    out, i = [], None
    for k, is_hot in enumerate(hot):
        if is_hot and i is not None and bins[k] - bins[k - 1] <= step:
            continue
        if i is not None:
            out.append((i, k - 1))
            i = None
        if is_hot:
            i = k
    if i is not None:
        out.append((i, len(hot) - 1))
    return out


def find_error_bursts(rows: Sequence[tuple], active_bins: int, settings: Settings,
                      active_by_key: dict[str, int] | None = None) -> list[Burst]:
    """Bursts from ``store.detect.error_bins`` rows (sorted by key, bin).

    A key's usual rate counts the bins in which its own files were written (``active_by_key``,
    ``store.detect.active_bins_by_key``), else every active bin of the workspace: an Apache error
    log from 2005 beside an app log of today is not quiet for the 2005 error in every minute of today.
    """
    step = timedelta(seconds=settings.detect_bin_s)
    out: list[Burst] = []
    by_key: dict[str, list[tuple]] = {}
    for row in rows:
        by_key.setdefault(row[0], []).append(row)
    for key, items in by_key.items():
        active = max((active_by_key or {}).get(key, active_bins), len(items), 1)
        counts = [int(r[2]) for r in items]
        total = sum(counts)
        # the median over all active bins, zeros included: 0 unless the key is in most bins
        zeros = active - len(counts)
        median = statistics.median(counts + [0] * max(zeros, 0)) if zeros < len(counts) else 0.0
        bar = max(settings.detect_threshold * median, median + 3 * math.sqrt(median), 1.0)
        hot = [c >= bar for c in counts]
        for i, j in _runs([r[1] for r in items], hot, step):
            run = items[i:j + 1]
            n = sum(int(r[2]) for r in run)
            fatal = sum(int(r[3]) for r in run)
            length = j - i + 1
            outside_rate = (total - n) / max(active - length, 1)
            if n < settings.detect_min_count and not fatal:
                continue
            if n / length < settings.detect_threshold * outside_rate:
                continue
            out.append(Burst(
                "errors", key, run[0][1], run[-1][1] + step, n, median, max(int(r[2]) for r in run), fatal,
                services=sorted({s for r in run for s in (r[4] or [])}),
                hosts=sorted({h for r in run for h in (r[6] or [])}),
                trace_ids=sorted({t for r in run for t in (r[5] or [])})[:50],
                files=sorted({f for r in run for f in (r[7] or [])})[:5]))
    return out


def find_latency_bursts(rows: Sequence[tuple], settings: Settings, min_spans: int = 3) -> list[Burst]:
    """Bursts from ``store.detect.latency_bins`` rows (sorted by service, operation, bin)."""
    step = timedelta(seconds=settings.detect_bin_s)
    by_op: dict[tuple[str, str], list[tuple]] = {}
    for row in rows:
        if int(row[3]) >= min_spans and row[4] is not None:
            by_op.setdefault((row[0], row[1]), []).append(row)
    out: list[Burst] = []
    for (service, op), items in by_op.items():
        if len(items) < 5:  # too little history to know what is usual
            continue
        usual = statistics.median(float(r[4]) for r in items)
        hot = [float(r[4]) >= settings.detect_latency_factor * usual
               and float(r[4]) - usual >= settings.detect_latency_min_ms for r in items]
        for i, j in _runs([r[2] for r in items], hot, step):
            if j == i:
                continue  # one slow bin is a blip
            run = items[i:j + 1]
            out.append(Burst("latency", f"latency:{service}:{op}", run[0][2], run[-1][2] + step,
                             sum(int(r[3]) for r in run), usual, max(float(r[4]) for r in run),
                             services=[service], trace_ids=sorted({t for r in run for t in (r[5] or [])})[:50]))
    return out


# A recurrence needs this many runs: two gaps that agree are a period, one gap is a coincidence.
_RECUR_MIN = 3
# Share of a key's gaps that must be whole multiples of the period (a skipped run is still the
# same schedule; one odd burst among many regular ones is kept apart, not allowed to break it).
_RECUR_REGULAR = 0.8
# Start jitter allowed, as a share of the period: a scheduler starts a job within minutes of its
# time (logrotate from cron.daily drifts by ~20 min in a day, ~1.5%); a fault does not keep time.
_RECUR_JITTER = 0.03
# A run's size may differ from the key's median run by this factor: a routine job fails the same
# way every time; a run far larger than usual is news even on schedule, and stays its own incident.
_RECUR_SIZE = 3.0


def fold_recurrences(bursts: Sequence[Burst], bin_s: int) -> list[Burst]:
    """Error bursts with routine recurrences folded: per key, when ``_RECUR_MIN`` or more bursts
    start on one period (at least 5 bins long, starts within ``_RECUR_JITTER`` of it) at about
    the same size, they become one burst, the latest run, carrying ``recurrence``. Runs of another
    size, latency bursts and keys without a period pass through unchanged.

    >>> t0 = datetime(2024, 5, 1, 4, 5)
    >>> runs = [Burst("errors", "tpl:x", t0 + timedelta(days=d, minutes=m), t0 + timedelta(days=d, minutes=m + 1), 1, 0, 1, 1)
    ...         for d, m in [(0, 0), (1, 9), (2, -2), (4, 3)]]
    >>> [(b.start.day, b.recurrence["occurrences"], b.recurrence["period_s"]) for b in fold_recurrences(runs, 60)]
    [(5, 4, 86400)]
    """
    by_key: dict[str, list[Burst]] = {}
    out: list[Burst] = []
    for b in bursts:
        if b.kind == "errors":
            by_key.setdefault(b.key, []).append(b)
        else:
            out.append(b)
    for key, runs in by_key.items():
        runs.sort(key=lambda b: b.start)
        sizes = [b.count for b in runs]
        usual = statistics.median(sizes)
        members = [b for b in runs if usual / _RECUR_SIZE <= b.count <= usual * _RECUR_SIZE]
        period = _period([(b2.start - b1.start).total_seconds() for b1, b2 in zip(members, members[1:])], bin_s)
        if len(members) < _RECUR_MIN or period is None:
            out.extend(runs)
            continue
        last, kept = members[-1], {id(b) for b in members}
        out.append(replace(last, recurrence={
            "period_s": period, "occurrences": len(members), "first": members[0].start.isoformat(),
            "last": last.start.isoformat(), "errors": sum(b.count for b in members)}))
        out.extend(b for b in runs if id(b) not in kept)
    return out


def _period(gaps: Sequence[float], bin_s: int) -> int | None:
    """The schedule's period in seconds (the median gap, rounded to a bin), when at least
    ``_RECUR_REGULAR`` of the gaps are whole multiples of it within the jitter; else None."""
    if len(gaps) < _RECUR_MIN - 1:
        return None
    period = statistics.median(gaps)
    if period < 5 * bin_s:  # bursts minutes apart are one flapping fault, not a schedule
        return None
    tol = max(2 * bin_s, _RECUR_JITTER * period)
    regular = sum(1 for g in gaps if round(g / period) >= 1 and abs(g - round(g / period) * period) <= tol)
    if regular < _RECUR_REGULAR * len(gaps):
        return None
    # Schedules are set in whole hours or minutes (cron): the jittered median snaps to the nearest.
    unit = 3_600 if period >= 3_600 else 60
    snapped = round(period / unit) * unit
    return int(snapped if abs(period - snapped) <= tol else round(period / bin_s) * bin_s)


def _period_phrase(rec: dict[str, Any]) -> str:
    """``recurs daily at 04:05, 29 times`` (the schedule worded as rca.recurrence words it)."""
    return f"recurs {schedule_phrase(int(rec['period_s']), str(rec['last']))}, {rec['occurrences']} times"


def group_bursts(bursts: Sequence[Burst], merge_gap: timedelta) -> list[list[Burst]]:
    """Related bursts together: overlapping in time (within ``merge_gap``) or sharing a trace id."""
    parent = list(range(len(bursts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(bursts)), key=lambda k: bursts[k].start)
    reach_end, reach_idx = None, 0  # reach_idx is read only once reach_end is set
    for k in order:  # sweep: each burst joins the group still open when it starts
        b = bursts[k]
        if reach_end is not None and b.start <= reach_end + merge_gap:
            parent[find(k)] = find(reach_idx)
            reach_end = max(reach_end, b.end)
        else:
            reach_end, reach_idx = b.end, k
    owner: dict[str, int] = {}
    for k, b in enumerate(bursts):
        for t in b.trace_ids:
            if t in owner:
                parent[find(k)] = find(owner[t])
            else:
                owner[t] = k
    groups: dict[int, list[Burst]] = {}
    for k in order:
        groups.setdefault(find(k), []).append(bursts[k])
    return list(groups.values())


def _severity(group: Sequence[Burst]) -> str:
    if all(b.recurrence for b in group):
        return "sev3"  # a routine failure on schedule: worth fixing, not paging for
    errors = sum(b.count for b in group if b.kind == "errors")
    services = {s for b in group for s in b.services}
    if any(b.fatal for b in group) or errors >= 500 or len(services) >= 3:
        return "sev1"
    if errors >= 50 or any(b.kind == "latency" and b.peak >= 5 * max(b.baseline_per_bin, 1.0) for b in group):
        return "sev2"
    return "sev3"


def _top(group: Sequence[Burst]) -> Burst:
    """The burst that names the incident: errors before latency, then by count."""
    return max(group, key=lambda b: (b.kind == "errors", b.fatal > 0, b.count))


def _title(ws: Workspace, top: Burst, group: Sequence[Burst]) -> str:
    title = _base_title(ws, top, group)
    return f"{title}: {_period_phrase(top.recurrence)}" if top.recurrence else title


def _base_title(ws: Workspace, top: Burst, group: Sequence[Burst]) -> str:
    from ..store import signals as sig

    # Lines without a service (a plain Apache or syslog file) are named by their host, else by
    # their file: the title says which ("on host web-1", "in file error_log"), never "in ?".
    name, basis = source_name(top.services[0] if top.services else None, top.hosts if len(top.hosts) == 1 else (), top.files)
    where = where_phrase(name, basis)
    on = (f" on {top.hosts[0]}" if basis == "service" and len(top.hosts) == 1
          and len({h for b in group for h in b.hosts}) == 1 else "")
    text = sig.error_key_text(ws, top.key)
    if text is not None:
        return f"{text[:90]} {where}{on}"
    if top.kind == "latency":
        op = top.key.split(":", 2)[-1]
        return f"slow {op} {where}: p95 {top.peak:,.0f} ms (usual {top.baseline_per_bin:,.0f} ms)"
    return f"errors {where}{on}"


def detect_incidents(ws: Workspace, settings: Settings | None = None, start: datetime | None = None,
                     end: datetime | None = None, dry_run: bool = False, actor: str = "detector") -> DetectReport:
    """Find bursts in ``[start, end)`` (default: everything) and open one incident per related group."""
    from ..store import signals as sig

    settings = settings or Settings()
    bin_s = settings.detect_bin_s
    active = sql.active_bins(ws, bin_s, start, end)
    bursts = find_error_bursts(sql.error_bins(ws, bin_s, start, end), active, settings,
                               sql.active_bins_by_key(ws, bin_s, start, end))
    if settings.detect_fold_recurrences:
        bursts = fold_recurrences(bursts, bin_s)
    bursts += find_latency_bursts(sql.latency_bins(ws, bin_s, start, end), settings)
    report = DetectReport(bursts=bursts)
    existing = [i for i in ws.list_incidents(limit=100_000) if i.window_start and i.window_end]
    for group in group_bursts(bursts, timedelta(seconds=settings.detect_merge_gap_s)):
        top = _top(group)
        w_start, w_end = min(b.start for b in group), max(b.end for b in group)
        # a recurrence keeps its id as new runs arrive: detecting again matches it, opens nothing
        inc_id = str(uuid.uuid5(_NS, f"{top.key}@recurs/{top.recurrence['period_s']}" if top.recurrence
                                else f"{top.key}@{w_start.isoformat()}"))
        services = _services_by_weight(group)
        same = next((i for i in existing if i.id == inc_id or (
            i.status != "resolved" and i.window_start and i.window_end  # both set: `existing` keeps only those
            and i.window_start < w_end and i.window_end > w_start and set(i.services) & set(services))), None)
        if same is not None:
            report.matched.append((same.id, group))
            continue
        if dry_run:
            continue
        fps = [b.key[3:] for b in sorted(group, key=lambda b: -b.count) if b.key.startswith("fp:")]
        details = {
            "detected": {
                "bursts": [b.to_json() for b in group],
                "error_count": sum(b.count for b in group if b.kind == "errors"),
                "top_fingerprints": fps[:5],
                "top_templates": [b.key[4:] for b in sorted(group, key=lambda b: -b.count) if b.key.startswith("tpl:")][:5],
                "trace_ids": sorted({t for b in group for t in b.trace_ids})[:20],
            },
        }
        if top.recurrence:
            details["detected"]["recurrence"] = top.recurrence
        details.update(sig.business_fields(ws, w_start, w_end, services))
        inc = ws.create_incident(_title(ws, top, group), severity=_severity(group), services=services,
                                 window_start=w_start, window_end=w_end, fingerprint=fps[0] if fps else None,
                                 details=details, source="detected", incident_id=inc_id, actor=actor)
        report.created.append(inc)
        existing.append(inc)
    return report


def _services_by_weight(group: Sequence[Burst]) -> list[str]:
    weight: dict[str, float] = {}
    for b in group:
        for s in b.services:
            weight[s] = weight.get(s, 0) + (b.count if b.kind == "errors" else 0.5)
    return sorted(weight, key=lambda s: (-weight[s], s))
