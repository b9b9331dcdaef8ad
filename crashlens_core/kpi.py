"""The KPIs of the investigation: how fast incidents are detected, explained and fixed, what
the analysis costs, and how often the system errs.

Owns the definitions (every figure carries its unit):

- evidence time — incident start → the first evidence set assembled for it (``rca_runs.evidence_ts``)
- time to RCA — incident start → the first RCA run that finished with a report
- MTTD — incident start (``window_start``) → incident opened (``created_ts``)
- MTTR — incident start → resolved (``resolved_ts``)
- run latency — per run, start → evidence assembled and start → finished (machine time)
- token cost per RCA and per day, from ``rca_runs.cost_usd`` and the token counts
- incidents by status, severity and service; error rate (ERROR/FATAL logs per minute),
  overall, per service and per hour; trends per day.

"Incident start" is ``window_start`` for incidents opened while they happened. An incident
opened from historical data (a replayed log, the simulator) starts long before anyone could
have seen it: when it was opened more than ``LIVE_GAP`` after its window began, its clock
starts at ``created_ts`` and it is left out of MTTD (counted under ``incidents.historical``).

Also the price table, re-exported from ``rca.pricing`` (where the analyzers that spend tokens use it):
``cost_usd(settings, model, prompt_tokens, completion_tokens)``.

>>> k = Kpis.empty(datetime(2024, 5, 1), datetime(2024, 5, 31), 30)
>>> k.to_json()["mttd"]["median"] is None
True
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable

from .config import Settings
from .rca.pricing import cost_usd, parse_prices

if TYPE_CHECKING:  # for annotations only: the runtime imports stay as they were
    from .store import Workspace

__all__ = ["Kpis", "Stat", "compute_kpis", "cost_usd", "parse_prices", "human_duration", "LIVE_GAP"]

LIVE_GAP = timedelta(hours=24)


# ---------------------------------------------------------------- figures

def _quantile(values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile of sorted values (the numpy default)."""
    if not values:
        return None
    pos = (len(values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


@dataclass
class Stat:
    """A distribution summarised: count, median, p90, mean, total, in ``unit``."""

    unit: str
    count: int = 0
    median: float | None = None
    p90: float | None = None
    mean: float | None = None
    total: float = 0.0

    @classmethod
    def of(cls, values: Iterable[float], unit: str) -> "Stat":
        vals = sorted(float(v) for v in values)
        if not vals:
            return cls(unit)
        return cls(unit, len(vals), _round(_quantile(vals, 0.5)), _round(_quantile(vals, 0.9)),
                   _round(sum(vals) / len(vals)), _round(sum(vals)) or 0.0)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


@dataclass
class Kpis:
    """Every KPI of a period; ``to_json()`` is the shape of ``crashlens kpi --json``."""

    period_start: datetime
    period_end: datetime
    days: int
    incidents_total: int = 0
    incidents_historical: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    by_service: dict[str, int] = field(default_factory=dict)
    evidence_time: Stat = field(default_factory=lambda: Stat("s"))
    time_to_rca: Stat = field(default_factory=lambda: Stat("s"))
    mttd: Stat = field(default_factory=lambda: Stat("s"))
    mttr: Stat = field(default_factory=lambda: Stat("s"))
    runs_total: int = 0
    runs_by_status: dict[str, int] = field(default_factory=dict)
    runs_by_engine: dict[str, int] = field(default_factory=dict)
    run_evidence: Stat = field(default_factory=lambda: Stat("s"))
    run_duration: Stat = field(default_factory=lambda: Stat("s"))
    cost_per_rca: Stat = field(default_factory=lambda: Stat("USD"))
    tokens_per_rca: Stat = field(default_factory=lambda: Stat("tokens"))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error_window_start: datetime | None = None
    error_window_end: datetime | None = None
    errors_total: int = 0
    logs_total: int = 0
    error_rate: float | None = None          # errors per minute over the error window
    error_rate_by_service: dict[str, float] = field(default_factory=dict)
    error_rate_per_hour: list[dict[str, Any]] = field(default_factory=list)
    error_bucket_s: int = 0
    error_rate_series: list[dict[str, Any]] = field(default_factory=list)
    trends: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def empty(cls, start: datetime, end: datetime, days: int) -> "Kpis":
        return cls(period_start=start, period_end=end, days=days)

    def to_json(self) -> dict[str, Any]:
        def iso(ts: datetime | None) -> str | None:
            return ts.isoformat() if ts else None

        return {
            "period": {"start": iso(self.period_start), "end": iso(self.period_end), "days": self.days},
            "incidents": {"total": self.incidents_total, "historical": self.incidents_historical,
                          "by_status": self.by_status, "by_severity": self.by_severity, "by_service": self.by_service},
            "evidence_time": asdict(self.evidence_time),
            "time_to_rca": asdict(self.time_to_rca),
            "mttd": asdict(self.mttd),
            "mttr": asdict(self.mttr),
            "rca_runs": {"total": self.runs_total, "by_status": self.runs_by_status, "by_engine": self.runs_by_engine,
                         "evidence_latency": asdict(self.run_evidence), "duration": asdict(self.run_duration)},
            "cost": {"unit": "USD", "total": round(self.cost_per_rca.total, 6), "per_rca": asdict(self.cost_per_rca),
                     "per_day": [{"day": t["day"], "usd": t["cost_usd"]} for t in self.trends]},
            "tokens": {"unit": "tokens", "prompt": self.prompt_tokens, "completion": self.completion_tokens,
                       "per_rca": asdict(self.tokens_per_rca)},
            "error_rate": {"unit": "errors/min", "levels": ["ERROR", "FATAL"],
                           "window": {"start": iso(self.error_window_start), "end": iso(self.error_window_end)},
                           "errors": self.errors_total, "logs": self.logs_total, "overall": self.error_rate,
                           "by_service": self.error_rate_by_service, "per_hour": self.error_rate_per_hour,
                           "series": {"bucket_s": self.error_bucket_s, "points": self.error_rate_series}},
            "trends": {"unit": {"incidents_opened": "incidents", "incidents_started": "incidents", "incidents_resolved": "incidents", "rca_runs": "runs",
                                "cost_usd": "USD", "tokens": "tokens"},
                       "per_day": self.trends},
        }


def human_duration(seconds: float | None) -> str:
    """A duration for people: ``"—"``, ``"42 s"``, ``"4 min 12 s"``, ``"3 h 05 min"``, ``"2 d 4 h"``.

    >>> human_duration(252)
    '4 min 12 s'
    """
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    """b - a in seconds; None when either is missing or b is before a (clock skew, bad data)."""
    if a is None or b is None:
        return None
    s = (b - a).total_seconds()
    return s if s >= 0 else None


def _clock_start(inc: dict[str, Any]) -> tuple[datetime | None, bool]:
    """(when the incident's clock starts, whether it was opened live)."""
    start, created = inc["window_start"], inc["created_ts"]
    if start is not None and created is not None and timedelta(0) <= created - start <= LIVE_GAP:
        return start, True
    return created, False


def _per_minute(count: int, start: datetime, end: datetime) -> float:
    minutes = max((end - start).total_seconds() / 60.0, 1.0)
    return round(count / minutes, 6)


def compute_kpis(ws: Workspace, settings: Settings | None = None, now: datetime | None = None, days: int = 30) -> Kpis:
    """KPIs of the incidents opened and RCA runs started in the ``days`` before ``now`` (UTC),
    and the error rates of the last ``days`` days of log data.

    >>> import tempfile
    >>> from crashlens_core.store import Workspace
    >>> with Workspace.open(tempfile.mkdtemp()) as ws:
    ...     compute_kpis(ws).to_json()["incidents"]["total"]
    0
    """
    from .store import kpi as sql
    from .store import utcnow

    if days < 1:
        from .errors import InputError

        raise InputError(f"days must be at least 1, got {days}", hint="e.g. --days 30")
    end = now or utcnow()
    start = end - timedelta(days=days)
    k = Kpis.empty(start, end, days)
    incidents = sql.incident_rows(ws, start, end)
    runs = sql.run_rows(ws, start, end)
    _incident_figures(k, incidents, runs)
    _run_figures(k, runs, start, end)
    _error_figures(k, sql.error_counts(ws, days))
    _error_series(k, ws)
    _trends(k, incidents, runs, start, end)
    return k


def _incident_figures(k: Kpis, incidents: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    k.incidents_total = len(incidents)
    k.by_status = dict(Counter(i["status"] for i in incidents).most_common())
    k.by_severity = dict(sorted(Counter(i["severity"] for i in incidents).items()))
    k.by_service = dict(Counter(s for i in incidents for s in (i["services"] or ["(none)"])).most_common())
    first_evidence: dict[str, datetime] = {}
    first_report: dict[str, datetime] = {}
    for r in runs:
        inc = r["incident_id"]
        if inc is None:
            continue
        if r["evidence_ts"] is not None and (inc not in first_evidence or r["evidence_ts"] < first_evidence[inc]):
            first_evidence[inc] = r["evidence_ts"]
        if r["status"] == "done" and r["finished_ts"] is not None and (inc not in first_report or r["finished_ts"] < first_report[inc]):
            first_report[inc] = r["finished_ts"]
    evidence, to_rca, mttd, mttr = [], [], [], []
    for inc in incidents:
        t0, live = _clock_start(inc)
        if live:
            mttd.append(_seconds(inc["window_start"], inc["created_ts"]))
        else:
            k.incidents_historical += 1
        evidence.append(_seconds(t0, first_evidence.get(inc["id"])))
        to_rca.append(_seconds(t0, first_report.get(inc["id"])))
        mttr.append(_seconds(t0, inc["resolved_ts"]))
    k.evidence_time = Stat.of((v for v in evidence if v is not None), "s")
    k.time_to_rca = Stat.of((v for v in to_rca if v is not None), "s")
    k.mttd = Stat.of((v for v in mttd if v is not None), "s")
    k.mttr = Stat.of((v for v in mttr if v is not None), "s")


def _run_figures(k: Kpis, runs: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    in_period = [r for r in runs if start <= r["started_ts"] < end]
    k.runs_total = len(in_period)
    k.runs_by_status = dict(Counter(r["status"] or "done" for r in in_period).most_common())
    k.runs_by_engine = dict(Counter(r["engine"] for r in in_period).most_common())
    k.run_evidence = Stat.of((s for r in in_period if (s := _seconds(r["started_ts"], r["evidence_ts"])) is not None), "s")
    k.run_duration = Stat.of((s for r in in_period if (s := _seconds(r["started_ts"], r["finished_ts"])) is not None), "s")
    finished = [r for r in in_period if r["finished_ts"] is not None]
    # Every finished run is an RCA that was paid for, whether its report was kept or not.
    k.cost_per_rca = Stat.of((float(r["cost_usd"] or 0) for r in finished), "USD")
    k.tokens_per_rca = Stat.of((int(r["prompt_tokens"] or 0) + int(r["completion_tokens"] or 0) for r in finished), "tokens")
    k.prompt_tokens = sum(int(r["prompt_tokens"] or 0) for r in in_period)
    k.completion_tokens = sum(int(r["completion_tokens"] or 0) for r in in_period)


def _error_figures(k: Kpis, counts: dict[str, Any]) -> None:
    first, last = counts["start"], counts["end"]
    k.error_window_start, k.error_window_end = first, last
    k.errors_total, k.logs_total = counts["errors"], counts["logs"]
    if first is None:
        return
    k.error_rate = _per_minute(k.errors_total, first, last)
    k.error_rate_by_service = {svc: _per_minute(err, first, last) for svc, err, _ in counts["by_service"]}
    per_hour = []
    for hour, errors, logs in counts["per_hour"]:
        # The first and last hours are partial: divide by the minutes the data covers.
        lo, hi = max(hour, first), min(hour + timedelta(hours=1), last)
        per_hour.append({"hour": hour.isoformat(), "errors": errors, "logs": logs,
                         "errors_per_min": _per_minute(errors, lo, hi),
                         "error_share": round(errors / logs, 6) if logs else 0.0})
    k.error_rate_per_hour = per_hour


# Nice bucket widths for the error-rate series, in seconds.
_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
# At most this many points: a day of log time gets 1-minute buckets (a week 10-minute ones), so a
# burst of a few minutes stays a visible peak instead of being averaged into an hourly point.
MAX_POINTS = 1440


def error_bucket_seconds(first: datetime, last: datetime, max_points: int = MAX_POINTS) -> int:
    """The smallest nice bucket width that covers [first, last] in at most ``max_points`` buckets.

    >>> from datetime import datetime, timedelta
    >>> t = datetime(2024, 1, 1)
    >>> error_bucket_seconds(t, t + timedelta(hours=3)), error_bucket_seconds(t, t + timedelta(days=2))
    (60, 120)
    >>> error_bucket_seconds(t, t + timedelta(days=30))
    1800
    """
    span = max((last - first).total_seconds(), 0.0)
    for width in _BUCKETS:
        if span / width <= max_points:
            return width
    return _BUCKETS[-1]


def _error_series(k: Kpis, ws: Workspace) -> None:
    from .store import kpi as sql

    first, last = k.error_window_start, k.error_window_end
    if first is None or last is None:
        return
    width = error_bucket_seconds(first, last)
    k.error_bucket_s = width
    minutes = width / 60.0
    k.error_rate_series = [
        {"ts": b.isoformat(), "errors": errors, "logs": logs, "errors_per_min": round(errors / minutes, 6)}
        for b, errors, logs in sql.error_series(ws, first, width)
    ]


def _trends(k: Kpis, incidents: list[dict[str, Any]], runs: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"incidents_opened": 0, "incidents_started": 0,
                                                           "incidents_resolved": 0, "rca_runs": 0,
                                                           "cost_usd": 0.0, "tokens": 0})
    for inc in incidents:
        rows[inc["created_ts"].date().isoformat()]["incidents_opened"] += 1
        # When the incident happened (its window), which for incidents found in historical
        # data is long before detection ran; the day it was opened stays in incidents_opened.
        rows[(inc["window_start"] or inc["created_ts"]).date().isoformat()]["incidents_started"] += 1
        if inc["resolved_ts"] is not None and start <= inc["resolved_ts"] < end:
            rows[inc["resolved_ts"].date().isoformat()]["incidents_resolved"] += 1
    for r in runs:
        if not start <= r["started_ts"] < end:
            continue
        row = rows[r["started_ts"].date().isoformat()]
        row["rca_runs"] += 1
        row["cost_usd"] = round(row["cost_usd"] + float(r["cost_usd"] or 0), 6)
        row["tokens"] += int(r["prompt_tokens"] or 0) + int(r["completion_tokens"] or 0)
    k.trends = [{"day": day, **rows[day]} for day in sorted(rows)]
