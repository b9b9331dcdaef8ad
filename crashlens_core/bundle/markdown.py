"""The readable half of a bundle: an RCA report rendered as Markdown for people.

The JSON report is the record; this is a faithful, plain rendering of it (no HTML, every
report string escaped so it cannot change the document's structure), with the claims'
evidence ids kept so a reader can follow them into the evidence file.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["report_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!~])")


def _inline(text: Any) -> str:
    """One line of report text, inert in Markdown (no links, HTML, tables or headings)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text if text is not None else "").split()))


def _ids(ids: Any) -> str:
    return ", ".join(f"`{str(i).replace('`', '')}`" for i in (ids or [])) or "none"


def report_markdown(report: dict[str, Any], incident: dict[str, Any], run: dict[str, Any]) -> str:
    """Markdown for one run's report.

    >>> md = report_markdown({"root_cause": "pool exhausted", "claims": [{"text": "5xx rose", "evidence": ["log:1"]}]},
    ...                      {"id": "i1", "title": "checkout errors"}, {"id": "r1", "engine": "offline"})
    >>> "pool exhausted" in md and "`log:1`" in md
    True
    """
    out = [f"# RCA: {_inline(incident.get('title'))}", ""]
    meta = [("Incident", incident.get("id")), ("Severity", incident.get("severity")), ("Status", incident.get("status")),
            ("Window (UTC)", " to ".join(str(incident.get(k) or "?") for k in ("window_start", "window_end"))),
            ("Run", run.get("id")), ("Engine", report.get("engine") or run.get("engine")),
            ("Model", report.get("model") or run.get("model") or "-"),
            ("Tokens", f"{report.get('prompt_tokens', run.get('prompt_tokens', 0))} in / "
                       f"{report.get('completion_tokens', run.get('completion_tokens', 0))} out"),
            ("Cost (USD)", report.get("cost_usd", run.get("cost_usd", 0))),
            ("Confidence", report.get("confidence", "-"))]
    out += [f"- **{k}:** {_inline(v)}" for k, v in meta]
    if report.get("notice"):
        out += ["", f"> {_inline(report['notice'])}"]
    for title, key in (("Summary", "summary"), ("Root cause", "root_cause"), ("Impact", "impact")):
        if report.get(key):
            out += ["", f"## {title}", "", _inline(report[key])]
    if report.get("claims"):
        out += ["", "## Claims and their evidence", ""]
        out += [f"{i}. {_inline(c.get('text'))} (evidence: {_ids(c.get('evidence'))})"
                for i, c in enumerate(report["claims"], 1) if isinstance(c, dict)]
    if report.get("suspects"):
        out += ["", "## Suspects", "", "| # | Service | Component | Location | Score | Evidence |", "|---|---|---|---|---|---|"]
        for i, s in enumerate(report["suspects"], 1):
            if isinstance(s, dict):
                out.append(f"| {i} | {_inline(s.get('service'))} | {_inline(s.get('component'))} | {_inline(s.get('location'))} | "
                           f"{_inline(s.get('score'))} | {_ids(s.get('evidence'))} |")
    if report.get("timeline"):
        out += ["", "## Timeline", ""]
        out += [f"- {_inline(t.get('ts'))}: {_inline(t.get('event'))} (evidence: {_ids(t.get('evidence'))})"
                for t in report["timeline"] if isinstance(t, dict)]
    if report.get("remediation"):
        out += ["", "## Remediation", ""]
        items = report["remediation"] if isinstance(report["remediation"], list) else [report["remediation"]]
        out += [f"{i}. {_inline(r if not isinstance(r, dict) else r.get('text') or r.get('step') or r)}" for i, r in enumerate(items, 1)]
    if report.get("hypotheses"):
        out += ["", "## Hypotheses", ""]
        out += [f"- ({_inline(h.get('status'))}) {_inline(h.get('text'))}: {_inline(h.get('why'))}"
                for h in report["hypotheses"] if isinstance(h, dict)]
    patch = report.get("suggested_patch")
    if isinstance(patch, dict) and patch.get("diff"):
        fence = "~~~~" if "```" in patch["diff"] else "```"
        while fence in patch["diff"]:
            fence += "~"
        out += ["", f"## Suggested patch ({_inline(patch.get('label'))})", "", f"{fence}diff", patch["diff"].rstrip("\n"), fence]
    return "\n".join(out) + "\n"
