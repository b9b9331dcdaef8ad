"""Evidence from the code and runbook knowledge: the crash site's source and the commits that last
touched it (``knowledge.frames``), and code chunks and runbook passages found with the error's
text (``knowledge.service`` search).

Each function turns that module's results into ``Evidence`` items with DESIGN.md ids
(``code:…``, ``commit:…``, ``doc:…``) and the facts the analyzers read in ``data``
(``data["signal"]`` says which made it). The knowledge modules are imported inside the functions:
search may load an index, and ``import crashlens_core.rca`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from ..models import Evidence
from ..store import Workspace

if TYPE_CHECKING:
    from .collectors import CollectorContext

__all__ = ["frames_evidence", "knowledge_evidence", "search_evidence"]


def frames_evidence(ctx: CollectorContext) -> list[Evidence]:
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
            report = analyze(item.text, repos, ctx.start, ctx.end, context_lines=settings.frames_context_lines,
                             in_app_include=split_prefixes(settings.frames_in_app),
                             in_app_exclude=split_prefixes(settings.frames_not_in_app), limit=5)
        except InputError:
            continue
        for rs in report.resolved[:1]:
            frames = [f for f in rs.resolved() if f.depth == 0]
            crash = next((f for f in frames if f.frame.in_app), frames[0] if frames else None)
            eid = crash.evidence_id() if crash is not None else None
            if crash is None or eid is None:
                continue
            blame = crash.line_blame
            lines = "\n".join(f"{'>' if n == crash.frame.line else ' '} {n:5d}  {text}" for n, text in crash.context)
            text = (f"{crash.path}:{crash.frame.line} in {crash.frame.function} ({crash.repo} at {(crash.revision or 'working tree')[:12]}), "
                    f"the crash site of {item.id}.\n{lines}"
                    + (f"\nLast changed by commit {blame.commit[:12]} ({blame.author}, {blame.time:%Y-%m-%d}): {blame.summary}" if blame else ""))
            out.append(Evidence(eid, "code", f"crash site {crash.path}:{crash.frame.line}", text[:2400],
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


def search_evidence(ws: Workspace, settings: Settings, query: str, k: int = 5) -> list[Evidence]:
    """Code chunks and runbook passages for a query (``knowledge.service.search``)."""
    from ..knowledge.service import search

    # Lexical only: loading the embedding model would cost seconds, and BM25 + literals rank
    # error text better (knowledge.index's measurements).
    hits = search(ws, settings, query, k=k, dense=False)
    out = []
    for h in list(hits)[:k]:
        eid = h.evidence_id
        if not eid:
            continue
        kind = eid.split(":", 1)[0]
        where = f"{h.path}" + (f" p{h.page}" if h.page else "") + (f" L{h.start_line}-{h.end_line}" if h.start_line else "")
        out.append(Evidence(eid, kind, f"{'runbook' if kind == 'doc' else 'code'} {where}", str(h.text)[:1800],
                            round(float(h.score), 4), {"signal": "knowledge", "source": h.source, "path": h.path}))
    return out


def knowledge_evidence(ctx: CollectorContext) -> list[Evidence]:
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
