"""Evidence assembly: everything that may explain an incident, as citable items under stable ids.

``assemble_evidence`` runs one collector per signal kind over the analysed window and its
baseline, redacts every item, ranks the items and trims the set to a token budget. An item is kept or dropped whole, never cut; what was
dropped is listed. Each item has a digest (sha256 of its canonical JSON) and so does the set:
strict replay checks them.

Collectors are plain functions ``collector(ctx) -> list[Evidence]`` in ``COLLECTORS`` (those
over the workspace's own records in ``collectors``, those built on other analyses in
``code_evidence`` and ``ranking_evidence``); a new signal plugs in by adding one. A collector built on another analysis (frames and suspect
commits, trace suspects, baseline comparison, runbook/code search) that raises is recorded as
``failed: …`` on the set, so the rest of the evidence still reaches the analyzer.
Every fact the analyzers use is in ``Evidence.data`` (``data["signal"]`` says which
collector made it), so an analysis can be re-run from a recorded set alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from ..config import Settings
from ..errors import CrashLensError, InputError
from ..models import Evidence, Incident
from ..redact import Redactor
from ..store import Workspace
from . import code_evidence, ranking_evidence
from .collectors import (CollectorContext, collect_dimensions, collect_error_logs, collect_error_spans, collect_fingerprints,
                         collect_incident_trace, collect_latency, collect_metrics, collect_stale_tools, collect_templates, iso)
from .changes import collect_changes
from .recurrence import collect_recurrence
from .traffic import collect_traffic
from .schema import canonical_json, sha256_hex

__all__ = ["AnalysisFailed", "EvidenceSet", "assemble_evidence", "resolve_window", "item_digest", "estimate_tokens", "COLLECTORS", "EVIDENCE_SCHEMA"]

EVIDENCE_SCHEMA = "crashlens.evidence/v1"
# Collectors that build on other analyses (their failure is recorded on the set, the rest goes on).
_BUILT_ON_OTHERS = ("frames", "trace_suspects", "comparison", "knowledge", "changes")
_FRAMING = ("failure:profile",)
_FRAMING_PREFIXES = ("traffic:",)  # one small item per surging service: a cause when no change is, so never trimmed
_BUG_HINT = ("this is a CrashLens bug, not a problem with your data; the run is recorded as failed "
             "(`crashlens rca --json` lists it); please report it with a few lines of the input")


class AnalysisFailed(CrashLensError):
    """An RCA step failed for a reason that is not the user's input (a bug): said in one line, with what to do."""


# ---------------------------------------------------------------- the set

def item_digest(item: Evidence) -> str:
    return sha256_hex(canonical_json(item.to_json()))


def estimate_tokens(item: Evidence) -> int:
    """About four characters per token, counted on what is sent: the item's JSON."""
    return max(1, math.ceil(len(canonical_json(item.to_json())) / 4))


@dataclass
class EvidenceSet:
    """The ranked, budgeted evidence of one analysis.

    >>> s = EvidenceSet([Evidence("log:1", "log", "t", "x", 1.0)])
    >>> s.ids(), len(s.digest)
    (['log:1'], 64)
    """

    items: list[Evidence]
    incident_id: str | None = None
    window: dict[str, str | None] = field(default_factory=dict)
    baseline: dict[str, str | None] = field(default_factory=dict)
    budget_tokens: int = 0
    used_tokens: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    collectors: dict[str, str] = field(default_factory=dict)
    redacted: bool = False
    redactions: dict[str, int] = field(default_factory=dict)

    def ids(self) -> list[str]:
        return [e.id for e in self.items]

    def get(self, evidence_id: str) -> Evidence | None:
        return next((e for e in self.items if e.id == evidence_id), None)

    def item_digests(self) -> dict[str, str]:
        return {e.id: item_digest(e) for e in self.items}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": EVIDENCE_SCHEMA, "incident_id": self.incident_id, "window": self.window, "baseline": self.baseline,
            "budget_tokens": self.budget_tokens, "used_tokens": self.used_tokens, "dropped": self.dropped,
            "collectors": self.collectors, "redacted": self.redacted, "redactions": self.redactions,
            "items": [dict(e.to_json(), digest=item_digest(e)) for e in self.items],
        }

    def canonical(self) -> bytes:
        return canonical_json(self.to_json())

    @property
    def digest(self) -> str:
        return sha256_hex(self.canonical())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "EvidenceSet":
        items = [Evidence(i["id"], i["kind"], i["title"], i["text"], i.get("score", 0.0), i.get("data") or {})
                 for i in data.get("items", [])]
        return cls(items, data.get("incident_id"), data.get("window") or {}, data.get("baseline") or {},
                   int(data.get("budget_tokens") or 0), int(data.get("used_tokens") or 0), list(data.get("dropped") or []),
                   dict(data.get("collectors") or {}), bool(data.get("redacted")), dict(data.get("redactions") or {}))


# ---------------------------------------------------------------- the collectors, in order

# Later collectors read what earlier ones found (frames and knowledge start from the error items).
COLLECTORS: list[tuple[str, Callable[[CollectorContext], list[Evidence]]]] = [
    ("recurrence", collect_recurrence),  # an incident that stands for a schedule says so before anything else
    ("error_logs", collect_error_logs),
    ("error_spans", collect_error_spans),
    ("latency", collect_latency),
    ("metrics", collect_metrics),
    ("dimensions", collect_dimensions),
    ("incident_trace", collect_incident_trace),
    ("stale_tools", collect_stale_tools),  # after incident_trace: the tools its trace already showed stale are not repeated
    ("templates", collect_templates),
    ("fingerprints", collect_fingerprints),
    ("frames", code_evidence.frames_evidence),
    ("trace_suspects", ranking_evidence.trace_suspects_evidence),
    ("comparison", ranking_evidence.comparison_evidence),
    ("knowledge", code_evidence.knowledge_evidence),
    ("traffic", collect_traffic),  # before changes: the change verdict weighs a surge against the changes
    ("changes", collect_changes),
]


# ---------------------------------------------------------------- assembly

def resolve_window(incident: Incident | None, window_start: datetime | None, window_end: datetime | None,
                   baseline_start: datetime | None, baseline_end: datetime | None) -> tuple[datetime, datetime, datetime, datetime]:
    """The analysed window (explicit, else the incident's) and its baseline (explicit, else just before it)."""
    start = window_start or (incident.window_start if incident else None)
    end = window_end or (incident.window_end if incident else None)
    if incident is not None and (start is None or end is None) and incident.created_ts is not None:
        start = start or incident.created_ts - timedelta(minutes=15)
        end = end or incident.created_ts + timedelta(minutes=5)
    if start is None or end is None:
        raise InputError("no time window to analyse", hint="give an incident id, or --from T1 --to T2")
    if end <= start:
        raise InputError("the analysis window ends before it starts", hint="swap --from and --to")
    if (baseline_start is None) != (baseline_end is None):
        raise InputError("a baseline needs both ends", hint="give --baseline-from and --baseline-to together")
    if baseline_start is None or baseline_end is None:  # both None: checked just above
        length = max(end - start, timedelta(minutes=5))
        baseline_start, baseline_end = start - length, start
    if baseline_end <= baseline_start:
        raise InputError("the baseline window ends before it starts", hint="swap --baseline-from and --baseline-to")
    return start, end, baseline_start, baseline_end


def _redact_items(items: list[Evidence], settings: Settings) -> tuple[list[Evidence], bool, dict[str, int]]:
    """Every string in every item through one Redactor (so placeholders number consistently)."""
    redactor = Redactor(settings)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return redactor.redact(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    # Ids too: a dimension id such as dim:host=<ip> would otherwise carry the value out.
    out = [Evidence(redactor.redact(e.id), e.kind, walk(e.title), walk(e.text), e.score, walk(e.data)) for e in items]
    counts = {str(k): int(v) for k, v in redactor.summary().items()}
    return out, True, counts


def assemble_evidence(ws: Workspace, settings: Settings | None = None, incident: Incident | str | None = None, *,
                      window_start: datetime | None = None, window_end: datetime | None = None,
                      baseline_start: datetime | None = None, baseline_end: datetime | None = None,
                      budget_tokens: int | None = None, collectors: Iterable[str] | None = None) -> EvidenceSet:
    """Collect, redact, rank and budget the evidence for an incident or a time window.

    >>> # assemble_evidence(ws, settings, "9891eb58")  → EvidenceSet with items like log:3173, span:…, dim:host=shop-2
    """
    settings = settings or Settings()
    if isinstance(incident, str):
        incident = ws.get_incident(incident)
    start, end, b_start, b_end = resolve_window(incident, window_start, window_end, baseline_start, baseline_end)
    ctx = CollectorContext(ws, settings, incident, start, end, b_start, b_end)
    wanted = set(collectors) if collectors is not None else None
    status: dict[str, str] = {}
    for name, collector in COLLECTORS:
        if wanted is not None and name not in wanted:
            continue
        try:
            found = collector(ctx)
        except Exception as exc:
            if name in _BUILT_ON_OTHERS:  # a broken other analysis (or a missing index) must not cost the whole analysis
                status[name] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
                continue
            if isinstance(exc, CrashLensError):
                raise  # already says what went wrong and what to do
            raise AnalysisFailed(f"the {name} evidence collector failed: {type(exc).__name__}: {str(exc)[:300]}",
                                 hint=_BUG_HINT) from exc
        seen = {e.id for e in ctx.items}
        fresh = []
        for e in found:  # first one wins: ids are unique in a set
            if e.id not in seen:
                seen.add(e.id)
                fresh.append(e)
        ctx.items.extend(fresh)
        status[name] = f"ok: {len(fresh)} items"
    items, redacted, counts = _redact_items(ctx.items, settings)
    budget = int(budget_tokens if budget_tokens is not None else settings.rca_evidence_tokens)
    kept, dropped, used = [], [], 0
    # The failure's profile (one small item: where it starts, how far it reaches, traffic against
    # the baseline) is budgeted first: it frames every other item, and strong error groups would
    # otherwise spend the whole budget on restating one failure.
    for item in sorted(items, key=lambda e: (e.id not in _FRAMING and not e.id.startswith(_FRAMING_PREFIXES), -e.score, e.id)):
        cost = estimate_tokens(item)
        if used + cost <= budget:
            kept.append(item)
            used += cost
        else:
            dropped.append({"id": item.id, "score": item.score, "tokens": cost})
    return EvidenceSet(kept, incident.id if incident else None, {"start": iso(start), "end": iso(end)},
                       {"start": iso(b_start), "end": iso(b_end)}, budget, used, dropped, status, redacted, counts)
