"""When did it start? The onset of an alert, searched backwards in the data, and the incident it opens.

An alert fires late: a rule's ``for:`` clause, scrape and evaluation intervals and a human
threshold sit between the moment a service left its normal and the page. ``find_onset`` walks
back from the alert time over fixed bins of the alerting services' error count, span latency
(p95) and the metrics the alert names, while they stay above their baseline (the earliest
bins of the look-back, robust median + MAD), and returns where that run began. The window runs
from the onset to where the run ends (or the alert's end when it resolved).

``open_alert_incident`` is what ``crashlens incidents create --alert`` and the webhook call:
the same alert posted twice opens one incident (its fingerprint), labels and annotations go to
``details`` with how the onset was found.

>>> # inc, created = open_alert_incident(ws, settings, parse_alert(payload)); inc.window_start → the onset
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from ..config import Settings
from ..models import Incident
from ..store import Workspace
from ..store import changes as sql
from .alerts import Alert

__all__ = ["Onset", "find_onset", "match_services", "open_alert_incident", "LOOKBACK", "BIN"]

LOOKBACK = timedelta(minutes=60)   # alert rules rarely wait longer than this before firing
BIN = timedelta(seconds=15)        # finer than a scrape interval, coarse enough to hold a few events
_GAP_BINS = 2                      # errors come in bursts: a short quiet stretch does not end a run
_FALLBACK = timedelta(minutes=5)   # no signal left its baseline: the usual `for: 5m` before a page
NEW_KIND_WINDOW = timedelta(minutes=10)  # a new kind of error this close before the alert is what it is about


@dataclass
class Onset:
    onset: datetime
    end: datetime
    method: str                     # errors | latency | metric:<name> | none
    signals: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"onset": self.onset.isoformat(), "end": self.end.isoformat(), "method": self.method, "signals": self.signals}


def match_services(wanted: Sequence[str], known: Sequence[str]) -> list[str]:
    """The workspace's services an alert's service labels name (exact, then case-blind, then prefix:
    a Kubernetes workload label like ``checkout-api`` or a pod name names service ``checkout``)."""
    out: list[str] = []
    lower = {k.lower(): k for k in known}
    for w in wanted:
        w_l = w.lower()
        hit = lower.get(w_l) or next((k for k in known if w_l.startswith(k.lower() + "-") or k.lower().startswith(w_l + "-")), None)
        if hit and hit not in out:
            out.append(hit)
    return out


def _hot_flags(values: list[float | None], base_n: int, floor_rel: float, floor_abs: float) -> list[bool]:
    """Bins above the baseline, each a departure on three counts: above median + 3 robust sigmas,
    above a relative and an absolute floor (a flat baseline, MAD 0, must not call every wiggle a
    departure), and above every baseline sample (a noisy baseline's own peaks are normal). A bin
    is kept when the bins around it agree (two of three), so one blip neither starts nor ends a run.
    """
    base = [v for v in values[:base_n] if v is not None]
    if not base:
        return [False] * len(values)
    med = statistics.median(base)
    mad = statistics.median(abs(v - med) for v in base)
    limit = max(med + 3 * 1.4826 * mad, med + floor_rel * abs(med), med + floor_abs, max(base))
    raw = [v is not None and v > limit for v in values]

    def at(i: int) -> bool:
        return 0 <= i < len(raw) and raw[i]

    return [sum((at(i - 1), at(i), at(i + 1))) >= 2 for i in range(len(raw))]


def _run_around(hot: list[bool], at: int) -> tuple[int, int] | None:
    """(first, last) bin of the hot run holding bin ``at`` (or ending shortly before it), gaps of a few bins allowed."""
    start = next((i for i in range(min(at, len(hot) - 1), max(-1, at - 4 * _GAP_BINS - 1), -1) if hot[i]), None)
    if start is None:
        return None
    return _extend(hot, start, -1), _extend(hot, start, 1)


def _extend(hot: list[bool], start: int, step: int) -> int:
    """The farthest hot bin from ``start`` in direction ``step``, across gaps of at most ``_GAP_BINS``."""
    edge, gap, i = start, 0, start + step
    while 0 <= i < len(hot):
        if hot[i]:
            edge, gap = i, 0
        else:
            gap += 1
            if gap > _GAP_BINS:
                break
        i += step
    return edge


def find_onset(ws: Workspace, fired_at: datetime, services: Sequence[str] | None, metrics: Sequence[str] = (),
               *, lookback: timedelta = LOOKBACK, bin_width: timedelta = BIN, after: timedelta = timedelta(minutes=15)) -> Onset:
    """The onset before ``fired_at``: where the services' errors, latency or named metric left their baseline."""
    bin_s = int(bin_width.total_seconds())
    start, end = fired_at - lookback, fired_at + after
    n = int((end - start) / bin_width) + 1
    epoch = datetime(1970, 1, 1)
    origin = epoch + timedelta(seconds=(start - epoch).total_seconds() // bin_s * bin_s)  # bins align as time_bucket's

    def index(b: datetime) -> int:
        return int((b - origin).total_seconds() // bin_s)

    series: dict[str, list[float | None]] = {}
    errors: list[float | None] = [None] * n
    latency: list[float | None] = [None] * n
    for b, errs, spans, p95 in sql.health_bins(ws, services or None, start, end, bin_s):
        i = index(b)
        if 0 <= i < n:
            errors[i] = float(errs)
            latency[i] = float(p95) if p95 is not None else None
    first_data = next((i for i, v in enumerate(errors) if v is not None), None)
    if first_data is not None:  # a bin with activity and no error counts as zero errors
        errors = [0.0 if (v is None and i >= first_data) else v for i, v in enumerate(errors)]
    series["errors"], series["latency"] = errors, latency
    known = set(sql.metric_names(ws))
    for name in metrics:
        if name in known:
            vals: list[float | None] = [None] * n
            for b, v in sql.metric_bins(ws, name, services or None, start, end, bin_s):
                i = index(b)
                if 0 <= i < n and v is not None:
                    vals[i] = float(v)
            series[f"metric:{name}"] = vals
    at = index(fired_at)
    found: list[tuple[int, int, str]] = []
    for name, values in series.items():
        present = [i for i, v in enumerate(values) if v is not None and i < at]
        if len(present) < 4:
            continue
        # the baseline: the earliest half of what the look-back holds before the alert
        base_n = present[len(present) // 2]
        shifted = values[present[0]:]
        floors = {"errors": (1.0, 1.0), "latency": (0.5, 1.0)}.get(name, (0.2, 0.0))
        hot = _hot_flags(shifted, max(3, base_n - present[0]), *floors)
        run = _run_around(hot, at - present[0])
        if run is not None:
            found.append((run[0] + present[0], run[1] + present[0], name))
    if not found:
        # No count left its baseline (a crash loop logs a line per restart): the first error of a
        # kind the look-back had not logged before, repeated, in the minutes before the alert.
        fresh = [(k, t, c) for k, t, c in sql.new_error_kinds(ws, services or None, start, fired_at - NEW_KIND_WINDOW,
                                                              fired_at + bin_width) if c >= 2]
        if fresh:
            key, first_ts, count = fresh[0]
            return Onset(first_ts, fired_at + bin_width, "new_errors",
                         {"new_errors": {"onset": first_ts.isoformat(), "count": count, "kind": key[:200]}})
        return Onset(fired_at - _FALLBACK, fired_at + bin_width, "none",
                     {"note": "no error, latency or named metric left its baseline in the look-back; "
                              f"the window starts {int(_FALLBACK.total_seconds() // 60)} min before the alert"})
    first, last, method = min(found, key=lambda f: (f[0], f[2]))
    run_end = max(f[1] for f in found)
    onset = origin + first * bin_width
    window_end = max(origin + (run_end + 1) * bin_width, fired_at + bin_width)
    return Onset(onset, window_end, method, {name: {"onset": (origin + a * bin_width).isoformat(),
                                                    "until": (origin + (b + 1) * bin_width).isoformat()}
                                             for a, b, name in sorted(found)})


def open_alert_incident(ws: Workspace, settings: Settings | None, alert: Alert, *, actor: str | None = None) -> tuple[Incident, bool]:
    """(the incident for ``alert``, whether it was opened now); an alert seen before returns its incident."""
    earlier = sql.incident_by_fingerprint(ws, alert.fingerprint)
    if earlier is not None:
        return ws.get_incident(earlier), False
    known = sql.known_services(ws)
    services = match_services(alert.services, known)
    onset = find_onset(ws, alert.fired_at, services, alert.metrics)
    if onset.method == "none" and services:
        # the alerting service may show only the symptom, late: the whole fleet's errors show the start
        fleet = find_onset(ws, alert.fired_at, None, alert.metrics)
        if fleet.method != "none":
            onset = fleet
            onset.signals["scope"] = "all services (the alerting services showed no departure)"
    end = alert.ends_at if alert.ends_at and alert.ends_at > onset.onset else onset.end
    details = dict(alert.details)
    details.update({"alert_fired_at": alert.fired_at.isoformat(), "alert_services": alert.services,
                    "alert_metrics": alert.metrics, "onset": onset.to_json(),
                    "onset_lead_s": round((alert.fired_at - onset.onset).total_seconds(), 1)})
    inc = ws.create_incident(alert.title, severity=alert.severity, services=services or alert.services,
                             window_start=onset.onset, window_end=end, fingerprint=alert.fingerprint, details=details,
                             source="alert", actor=actor)
    return inc, True
