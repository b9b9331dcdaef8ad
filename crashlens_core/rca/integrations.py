"""Adapters from other concerns' modules to RCA evidence: resolved frames and suspect commits,
trace suspects, baseline comparison, code and runbook search.

Each function is called by its collector in ``evidence`` and turns that module's results into ``Evidence`` items with DESIGN.md ids and the
facts the analyzers read in ``data`` (``data["signal"]`` says which adapter made it). A failure
here is recorded on the evidence set as ``failed: …`` and never stops the analysis.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..models import Evidence
from ..store import Workspace

__all__ = ["frames_evidence", "trace_suspects_evidence", "comparison_evidence", "knowledge_evidence", "search_evidence"]


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def frames_evidence(ctx: Any) -> list[Evidence]:
    """The crash site's source context (``code:…``) and the commits that last touched it (``commit:…``)."""
    from ..errors import InputError
    from ..knowledge.frames import analyze, split_prefixes
    from ..knowledge.sources import list_repos

    repos = list_repos(ctx.ws)
    if not repos:
        return []
    settings: Settings = ctx.settings
    stacked = [e for e in ctx.items if e.data.get("signal") in ("error_span", "error_log", "fingerprint") and e.data.get("frames")]
    stacked.sort(key=lambda e: (-e.score, e.id))
    out: list[Evidence] = []
    seen: set[str] = set()
    for item in stacked:
        if len(seen) >= 3:
            break
        location = item.data.get("location") or ""
        if location in seen:
            continue
        seen.add(location)
        try:
            report = analyze(item.text, repos, ctx.start, ctx.end, context_lines=getattr(settings, "frames_context_lines", 5),
                             in_app_include=split_prefixes(getattr(settings, "frames_in_app", "")),
                             in_app_exclude=split_prefixes(getattr(settings, "frames_not_in_app", "")), limit=5)
        except InputError:
            continue
        for rs in report.resolved[:1]:
            frames = [f for f in rs.resolved() if f.depth == 0]
            crash = next((f for f in frames if f.frame.in_app), frames[0] if frames else None)
            if crash is None or crash.evidence_id() is None:
                continue
            blame = crash.line_blame
            lines = "\n".join(f"{'>' if n == crash.frame.line else ' '} {n:5d}  {text}" for n, text in crash.context)
            text = (f"{crash.path}:{crash.frame.line} in {crash.frame.function} ({crash.repo} at {(crash.revision or 'working tree')[:12]}), "
                    f"the crash site of {item.id}.\n{lines}"
                    + (f"\nLast changed by commit {blame.commit[:12]} ({blame.author}, {blame.time:%Y-%m-%d}): {blame.summary}" if blame else ""))
            out.append(Evidence(crash.evidence_id(), "code", f"crash site {crash.path}:{crash.frame.line}", text[:2400],
                                round(item.score * 0.2, 4),
                                {"signal": "frame", "file": crash.path, "function": crash.frame.function, "line": crash.frame.line,
                                 "repo": crash.repo, "commit": blame.commit if blame else "", "from": item.id}))
        for c in report.commits[:2]:
            file = c.locations[0].rsplit(":", 1)[0] if c.locations else ""
            out.append(Evidence(f"commit:{c.commit[:12]}", "commit", f"suspect commit {c.commit[:12]}: {c.summary[:80]}",
                                f"Commit {c.commit} in {c.repo} by {c.author} at {c.time:%Y-%m-%d %H:%M} UTC: {c.summary}\n"
                                f"Touched {', '.join(c.locations[:5])}. Why suspect: {c.why}",
                                round(min(3.0, 1.0 + c.score), 4),
                                {"signal": "commit", "commit": c.commit, "file": file, "score": round(c.score, 4),
                                 "why": c.why[:300], "from": item.id}))
    return out


def trace_suspects_evidence(ctx: Any) -> list[Evidence]:
    """Services ranked by the trace and metric analysis (``signals.suspects.rank_suspect_services``)."""
    from ..signals.suspects import rank_suspect_services

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
    return out


def comparison_evidence(ctx: Any) -> list[Evidence]:
    """Dimensions the window's errors concentrate on against the baseline (``signals.compare``, BubbleUp-style)."""
    from ..signals.compare import compare_windows

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


def search_evidence(ws: Workspace, settings: Settings, query: str, k: int = 5) -> list[Evidence]:
    """Code chunks and runbook passages for a query (``knowledge.service.search``)."""
    from ..knowledge.service import search

    # Lexical only: loading the embedding model would cost seconds, and BM25 + literals rank
    # error text better (knowledge.index's measurements).
    hits = search(ws, settings, query, k=k, dense=False)
    out = []
    for h in list(hits)[:k]:
        eid = h.evidence_id if hasattr(h, "evidence_id") else None
        if not eid:
            continue
        kind = eid.split(":", 1)[0]
        where = f"{h.path}" + (f" p{h.page}" if h.page else "") + (f" L{h.start_line}-{h.end_line}" if h.start_line else "")
        out.append(Evidence(eid, kind, f"{'runbook' if kind == 'doc' else 'code'} {where}", str(h.text)[:1800],
                            round(float(h.score), 4), {"signal": "knowledge", "source": h.source, "path": h.path}))
    return out


def knowledge_evidence(ctx: Any) -> list[Evidence]:
    """Runbook passages and code retrieved with the top error's text."""
    top = sorted((e for e in ctx.items if e.data.get("signal") in ("error_span", "error_log", "latency", "stale_tool")),
                 key=lambda e: (-e.score, e.id))
    if not top:
        return []
    d = top[0].data
    query = " ".join(str(x) for x in (d.get("exc_type"), d.get("exception") or d.get("message"), d.get("name"),
                                      d.get("statement"), d.get("service")) if x)[:500]
    items = search_evidence(ctx.ws, ctx.settings, query, k=5)
    return [Evidence(e.id, e.kind, e.title, e.text, round(min(1.5, 0.2 + 0.1 * e.score), 4), e.data) for e in items]
