"""Evidence from CrashLens's other rankings: the suspect services of the trace and metric analysis
(``signals.suspects``) and the dimensions the window's errors concentrate on against the baseline
(``signals.compare``, BubbleUp-style).

Each function turns that ranking into ``Evidence`` items (``svc:…``, ``dim:…``) with the facts the
analyzers read in ``data`` (``data["signal"]`` says which made it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models import Evidence
from ..signals.compare import compare_windows
from ..signals.suspects import rank_suspect_services

if TYPE_CHECKING:
    from .collectors import CollectorContext

__all__ = ["trace_suspects_evidence", "comparison_evidence"]


def trace_suspects_evidence(ctx: CollectorContext) -> list[Evidence]:
    """Services ranked by the trace and metric analysis (``signals.suspects.rank_suspect_services``)."""
    ranked = rank_suspect_services(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end, settings=ctx.settings)
    out = []
    for i, s in enumerate(ranked[:5]):
        if s.score <= 0:
            continue
        reasons = "; ".join(s.reasons)[:1200]
        out.append(Evidence(f"svc:{s.service}", "svc", f"trace and metric analysis ranks {s.service} #{i + 1}",
                            f"{s.service} is suspect #{i + 1} of the trace and metric analysis (score {s.score:.2f}: "
                            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(s.components.items())) + f"). {reasons}"
                            + (f"\nIts evidence: {', '.join(s.evidence[:8])}" if s.evidence else ""),
                            # Its score is a share in [0, 1]; scaled to weigh like one strong error group.
                            round(10.0 * s.score, 4),
                            {"signal": "suspect_service", "service": s.service, "rank": i + 1, "share": round(s.score, 4),
                             "components": {k: round(v, 4) for k, v in s.components.items()}, "cites": s.evidence[:8]}))
        # Behaviour changes have no span or log of their own to point at: they become evidence here.
        out.extend(item for item in s.items if item.data.get("signal") == "behaviour")
    return out


def comparison_evidence(ctx: CollectorContext) -> list[Evidence]:
    """Dimensions the window's errors concentrate on against the baseline (``signals.compare``, BubbleUp-style)."""
    cmp = compare_windows(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end, focus="errors", settings=ctx.settings,
                          with_suspects=False)
    out = []
    for d in cmp.dimensions:
        if d.dimension in ("template", "fingerprint", "level", "status", "span.status") or d.score < 0.3 or not d.values:
            continue  # templates and fingerprints have their own evidence; "errors are errors" says nothing
        v = d.values[0]
        if v.value is None or v.incident_share < 0.5 or (v.lift is not None and v.lift < 1.5):
            continue
        lift = "new (not in the baseline)" if v.lift is None else f"{v.lift:.1f}x the baseline share"
        out.append(Evidence(f"dim:{d.dimension}={v.value}", "dim", f"errors concentrate on {d.dimension}={v.value}",
                            f"{v.incident_share:.0%} of the window's errors ({v.incident_count}) have {d.dimension}={v.value} "
                            f"({v.label or ''}) against {v.baseline_share:.0%} of the baseline ({v.baseline_count}): {lift}; "
                            f"the {d.source} dimension {d.dimension} differs by {d.score:.2f} (total variation).",
                            round(min(3.0, 1.0 + 2.0 * d.score), 4),
                            {"signal": "comparison", "dim": d.dimension, "value": v.value, "score": round(d.score, 4),
                             "share": round(v.incident_share, 4), "baseline_share": round(v.baseline_share, 4)}))
        if len(out) >= 5:
            break
    return out
