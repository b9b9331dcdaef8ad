"""How far each metric series departs from its baseline in an incident window, ranked (BARO-style).

For every series (metric name + service + host + labels) with samples in the window:
the baseline's median and robust scale (its IQR, else 1.4826·MAD, else its standard deviation, else
a small fraction of the values' size, so a flat baseline still has a scale), then the BARO score: the largest
absolute deviation from the baseline median in the window, in units of that scale. The
window's samples are smoothed by a 3-sample rolling median first, so one stray sample is
not an anomaly. Series that exist only in the window are scored ``NEW_SERIES_SCORE``.

A baseline the user points at may be too short for a metric: a one-minute normal period holds
no sample of a series scraped every minute. A series with fewer than ``MIN_BASELINE_SAMPLES``
baseline samples is then compared with the stretch just before the window instead
(``FALLBACK_WINDOWS`` window lengths, BARO's own pre-anomaly period), leaving out the windows of
other incidents stored in the workspace; its anomaly says so (``auto_baseline``).

(BARO: Pham, Ha, Zhang, "BARO: Robust Root Cause Analysis for Microservices via
Multivariate Bayesian Online Change Point Detection", FSE 2024 — its RCA step ranks
metrics by exactly this robust deviation against the pre-anomaly period.)

>>> # metric_anomalies(ws, t1, t2, t0, t1)[0].evidence_id  → 'metric:checkout.latency_p95_ms@shop-2'
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from statistics import median
from typing import Any, Sequence

from ..models import Evidence
from ..store import Workspace
from ..store import traces as tstore

__all__ = ["MetricAnomaly", "metric_anomalies", "metric_evidence_id", "baro_score", "robust_scale", "NEW_SERIES_SCORE",
           "MIN_BASELINE_SAMPLES", "FALLBACK_WINDOWS"]

NEW_SERIES_SCORE = 3.0
# A median and a quartile spread from fewer samples than this do not estimate a series' normal
# level and noise (with 4 samples the IQR is set by two of them).
MIN_BASELINE_SAMPLES = 5
# The automatic metric baseline: this many window lengths just before the window, so it holds
# several times the window's samples whatever the scrape interval (BARO: the pre-anomaly period).
FALLBACK_WINDOWS = 10
SCORE_CAP = 1000.0  # a flat baseline makes any change "infinitely" anomalous; keep numbers readable


def metric_evidence_id(name: str, service: str | None = None, host: str | None = None) -> str:
    """``metric:<service>.<name>`` (``metric:<name>`` without a service), ``@<host>`` when per host.

    >>> metric_evidence_id("latency_p95_ms", "checkout", "shop-2")
    'metric:checkout.latency_p95_ms@shop-2'
    """
    base = f"metric:{service}.{name}" if service else f"metric:{name}"
    return f"{base}@{host}" if host else base


@dataclass(frozen=True)
class MetricAnomaly:
    name: str
    service: str | None
    host: str | None
    labels: str | None
    score: float            # BARO robust deviation (scale units); higher = more anomalous
    direction: str          # up | down | new
    baseline_median: float | None
    baseline_scale: float | None
    window_median: float
    window_peak: float      # the (smoothed) window value farthest from the baseline median
    samples: int
    baseline_samples: int
    auto_baseline: bool = False  # compared with the stretch before the window (the given baseline had too few samples)

    @property
    def evidence_id(self) -> str:
        return metric_evidence_id(self.name, self.service, self.host)

    def describe(self) -> str:
        where = " ".join(x for x in (self.service or "", f"on {self.host}" if self.host else "") if x)
        if self.direction == "new":
            return f"{self.name} {where}: appears only in the window (median {self.window_median:.4g})".replace("  ", " ")
        auto = " before the window" if self.auto_baseline else ""
        return (f"{self.name} {where}: {self.direction} to {self.window_peak:.4g} vs baseline median{auto} "
                f"{self.baseline_median:.4g} ({self.score:.1f} robust deviations)").replace("  ", " ")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["evidence_id"] = self.evidence_id
        out["score"] = round(self.score, 3)
        return out

    def to_evidence(self) -> Evidence:
        return Evidence(id=self.evidence_id, kind="metric", title=f"{self.name} anomaly", text=self.describe(),
                        score=round(self.score, 3), data=self.to_json())


def robust_scale(b_iqr: float | None, b_mad: float | None, b_std: float | None, b_median: float | None,
                 window_values: Sequence[float]) -> float:
    """IQR, else 1.4826·MAD, else the standard deviation (a mostly-flat series with rare spikes, such as
    an error rate, has IQR and MAD 0 but not std), else 1% of the larger of |median| and the window's
    values (never 0)."""
    for candidate in (b_iqr, 1.4826 * b_mad if b_mad is not None else None, b_std):
        if candidate is not None and candidate > 1e-12 and math.isfinite(candidate):
            return float(candidate)
    size = max(abs(b_median or 0.0), max((abs(v) for v in window_values), default=0.0))
    return max(0.01 * size, 1e-9)


def _smoothed(values: Sequence[float]) -> list[float]:
    if len(values) < 3:
        return list(values)
    return [median(values[max(0, i - 1):i + 2]) for i in range(len(values))]


def baro_score(values: Sequence[float], b_median: float, scale: float) -> tuple[float, float]:
    """(score, peak): the largest |x - median| / scale over the smoothed window values, and that x.

    >>> score, peak = baro_score([1.0, 1.1, 9.0, 9.2, 9.1], 1.0, 0.5)
    >>> score, round(peak, 2)
    (16.3, 9.15)
    """
    smooth = _smoothed(values)
    peak = max(smooth, key=lambda v: abs(v - b_median))
    return round(min(abs(peak - b_median) / scale, SCORE_CAP), 6), peak


def metric_anomalies(ws: Workspace, window_start: datetime, window_end: datetime, baseline_start: datetime,
                     baseline_end: datetime, min_score: float = 0.0) -> list[MetricAnomaly]:
    """Every series with samples in the window, most anomalous first (score ≥ ``min_score``).

    A series with fewer than ``MIN_BASELINE_SAMPLES`` samples in ``[baseline_start, baseline_end)``
    is compared with the automatic baseline (``auto_baseline``) when that one has more.
    """
    rows = tstore.metric_window_stats(ws, window_start, window_end, baseline_start, baseline_end)
    if any((r["b_n"] or 0) < MIN_BASELINE_SAMPLES for r in rows):
        rows = _with_auto_baseline(ws, rows, window_start, window_end)
    out = []
    for r in rows:
        values = [float(v) for v in (r["window_values"] or []) if v is not None]
        if not values:
            continue
        service, host, labels = r["service"] or None, r["host"] or None, r["labels"] or None
        if not r["b_n"]:
            out.append(MetricAnomaly(r["name"], service, host, labels, NEW_SERIES_SCORE, "new", None, None,
                                     float(r["w_median"]), float(r["w_median"]), int(r["w_n"]), 0))
            continue
        b_median = float(r["b_median"])
        scale = robust_scale(r["b_iqr"], r["b_mad"], r["b_std"], b_median, values)
        score, peak = baro_score(values, b_median, scale)
        out.append(MetricAnomaly(r["name"], service, host, labels, score, "up" if peak >= b_median else "down",
                                 b_median, scale, float(r["w_median"]), peak, int(r["w_n"]), int(r["b_n"]),
                                 bool(r.get("auto_baseline"))))
    out = [a for a in out if a.score >= min_score]
    out.sort(key=lambda a: (-a.score, a.name, a.service or "", a.host or ""))
    return out


def _series_key(r: dict[str, Any]) -> tuple[str, str, str, str]:
    return r["name"], r["service"], r["host"], r["labels"]


def _with_auto_baseline(ws: Workspace, rows: list[dict[str, Any]], window_start: datetime,
                        window_end: datetime) -> list[dict[str, Any]]:
    """``rows`` with the thin-baseline series' statistics taken from the stretch before the window.

    Other incidents' windows in that stretch are left out: their samples are another fault's,
    not normal behaviour (issue 14.4). The window's own incident (one overlapping the window)
    is not another incident.
    """
    start = window_start - FALLBACK_WINDOWS * (window_end - window_start)
    skip = [(i.window_start, i.window_end) for i in ws.list_incidents()
            if i.window_start is not None and i.window_end is not None and i.window_start < window_start
            and i.window_end > start and not (i.window_start < window_end and i.window_end > window_start)]
    auto = {_series_key(r): r for r in tstore.metric_window_stats(ws, window_start, window_end, start, window_start, skip)}
    out = []
    for r in rows:
        alt = auto.get(_series_key(r))
        if (r["b_n"] or 0) < MIN_BASELINE_SAMPLES and alt is not None and (alt["b_n"] or 0) > (r["b_n"] or 0):
            r = {**alt, "auto_baseline": True}
        out.append(r)
    return out
