"""Traffic against the baseline: load rises that precede a failure, as ``traffic:<service>`` evidence.

A surge (a newsletter, a sale, a client that started polling) is a cause no change makes: the code
and configuration are as they were, only the load is not. ``collect_traffic`` is an evidence
collector (see ``rca.evidence.COLLECTORS``): per service, the requests of the window in time bins
(``store.changes.request_bins``) against the baseline's rate, and one ``traffic:<service>`` item for
each service whose rate rose far above the baseline's. The item says when the rise began and
whether it came no later than the first errors: a load rise that precedes the saturation is its
trigger; one that follows the errors is their effect (clients retrying), and the change analysis
(``rca.changes``) and the offline analyzer only take a preceding one as the cause.

    >>> # [e.id for e in collect_traffic(ctx)]  → ['traffic:checkout']
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..models import Evidence
from ..store import changes as sql

__all__ = ["collect_traffic", "failing_services", "preceding_surges", "SURGE_MIN", "BIN_S"]

# Twice the usual requests: beyond day-to-day swings, and enough to exhaust what was sized for the
# usual load (pools, workers, rate limits). The same bar as the offline analyzer's window-wide ratio.
SURGE_MIN = 2.0
BIN_S = 10            # seconds per bin: fine enough to order a rise before errors a few seconds later
_MIN_REQUESTS = 30    # fewer requests in the window say nothing about load (a crash-looping host's boots)
_MIN_BASELINE_S = 30.0  # a baseline with less data than this gives no rate to compare with


def failing_services(window: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]],
                     ratio: float) -> dict[str, dict[str, Any]]:
    """The services of ``store.changes.service_error_stats`` whose errors are more than twice the
    baseline's (scaled by ``ratio``, window over baseline time) plus two: failing, not erring as usual."""
    return {s: v for s, v in window.items() if v["errors"] > 2 * baseline.get(s, {}).get("errors", 0) * ratio + 2}


def _rise(bins: list[tuple[datetime, int]], base_rate: float) -> tuple[datetime | None, float]:
    """(start of the first bin at SURGE_MIN x the baseline's rate, the peak rate per second)."""
    rise = next((b for b, n in bins if n / BIN_S >= SURGE_MIN * base_rate), None)
    return rise, max((n / BIN_S for _, n in bins), default=0.0)


def collect_traffic(ctx: Any) -> list[Evidence]:
    """Evidence collector: ``traffic:<service>`` for each service whose requests rose far above the baseline's rate."""
    ws, start, end, b_start, b_end = ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end
    active_b, active_w = sql.active_seconds(ws, b_start, b_end), sql.active_seconds(ws, start, end)
    if active_b < _MIN_BASELINE_S or active_w <= 0:
        return []
    base_bins = sql.request_bins(ws, b_start, b_end, BIN_S)
    win_bins = sql.request_bins(ws, start, end, BIN_S)
    failing = failing_services(sql.service_error_stats(ws, start, end), sql.service_error_stats(ws, b_start, b_end),
                               active_w / active_b)
    first_error = min((v["first_ts"] for v in failing.values() if v["first_ts"] is not None), default=None)
    items = []
    for service, bins in sorted(win_bins.items()):
        count, base_count = sum(n for _, n in bins), sum(n for _, n in base_bins.get(service, []))
        if count < _MIN_REQUESTS or base_count == 0:
            continue  # too little to speak of load, or a service new in the window (not a rise of anything)
        base_rate, rate = base_count / active_b, count / active_w
        expected = base_rate * active_w
        # far above: SURGE_MIN x the rate, and beyond what Poisson noise of the baseline's rate explains
        if rate < SURGE_MIN * base_rate or count - expected < 3 * math.sqrt(expected + 1):
            continue
        rise, peak = _rise(bins, base_rate)
        rise = max(rise, start) if rise is not None else None
        # the rise's bin starts no later than the first error: the load came first (same bin counts as first,
        # a saturation takes seconds to build); no failure at all: nothing to precede, the rise is only load
        precedes = rise is not None and (first_error is None or rise <= first_error)
        ratio = round(rate / base_rate, 2)
        when = rise.isoformat(timespec="seconds") if rise is not None else "?"
        order = ("before the first errors" if precedes and first_error is not None
                 else "after the first errors began (an effect: clients retrying)" if not precedes else "with no failure")
        items.append(Evidence(
            f"traffic:{service}", "traffic", f"Requests to {service} at {ratio}x the baseline's rate",
            f"{service} served {count} requests in the window ({rate:.2f}/s, peak {peak:.1f}/s in {BIN_S} s bins) against "
            f"{base_rate:.2f}/s in the baseline ({base_count} requests): {ratio}x. The rise began at {when}, {order}"
            + (f" ({first_error.isoformat(timespec='seconds')})." if first_error is not None else "."),
            2.5 if precedes else 1.0,
            {"signal": "traffic", "service": service, "ratio": ratio, "count": count, "baseline_count": base_count,
             "expected": round(expected, 1), "per_s": round(rate, 3), "baseline_per_s": round(base_rate, 3),
             "peak_per_s": round(peak, 2), "bin_s": BIN_S, "rise_ts": rise.isoformat() if rise is not None else None,
             "first_error_ts": first_error.isoformat() if first_error is not None else None,
             "precedes_errors": precedes, "failing": service in failing}))
    return items


def preceding_surges(items: Any) -> list[Evidence]:
    """The ``traffic:`` items whose rise came no later than the first errors, highest ratio first."""
    found = [e for e in items if e.data.get("signal") == "traffic" and e.data.get("precedes_errors")]
    return sorted(found, key=lambda e: (-float(e.data.get("ratio") or 0), e.id))
