"""One failure, one group: exception fingerprints that are the same failure seen by two services.

When a service fails, its caller often logs the error it received: the same exception type with
the callee's frames and then its own (an in-process call, or an RPC layer that carries the remote
traceback), or its own exception whose message quotes the callee's. Fingerprints keep those apart
(different frames are a different hash, and fingerprint ids are stable evidence ids that must not
change), so a person sees the one failure twice, once per service. An **issue** groups them, as a
Sentry user expects: one entry naming every service that logged the failure, led by the
fingerprint where it starts (the callee), each member linked to its own lines.

Two fingerprints are linked when a service of the caller is not one of the callee's and either
- **frames**: same exception type, and the callee's normalized frames (innermost first) are the
  start of the caller's: the caller's stack is the callee's plus the frames that called it; or
- **frames + traces**: same exception type and the same crashing frame, the rest of the stacks
  differing (the callee logs its own entry frames, the caller its own), and most of their lines
  are in the same traces (``MIN_SHARED_TRACES`` of the rarer one's): one request saw both. The
  one seen first is the callee (it logs before its caller receives the error); or
- **message**: the caller's message contains the callee's (both with variables masked), the
  quoted message is specific (at least ``MIN_QUOTED_WORDS`` literal words, so "timeout" quotes
  nothing), the two are not merely the same error raised at two places (same type and the same
  message), and they happen together in time (the caller logs while the callee fails).
Same type and message from different code paths in different requests stays two issues: two
services exhausting one database pool are two places to fix, as Sentry shows them.

>>> rows = [{"fingerprint": "a1", "exc_type": "KeyError", "title": "KeyError: 'amount'", "services": ["payments"],
...          "count": 3, "frames": [{"module": "pay", "function": "charge", "file": "shop/pay.py"}]},
...         {"fingerprint": "b2", "exc_type": "KeyError", "title": "KeyError: 'amount'", "services": ["checkout"],
...          "count": 3, "frames": [{"module": "pay", "function": "charge", "file": "shop/pay.py"},
...                                 {"module": "checkout", "function": "place", "file": "shop/checkout.py"}]}]
>>> [(i.id, i.services, i.count) for i in group_fingerprints(rows)]
[('a1', ['payments', 'checkout'], 6)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .fingerprints import normalize_message

if TYPE_CHECKING:
    from ..store import Workspace

__all__ = ["Issue", "group_fingerprints", "window_issues", "MIN_QUOTED_WORDS", "QUOTE_SLACK", "MIN_SHARED_TRACES"]

# A quote must carry this many literal words (variables masked) to identify one failure: a short
# generic message ("timed out", "KeyError: <*>") is quoted by unrelated errors everywhere.
MIN_QUOTED_WORDS = 3
# A caller logs the error it received while its request is still open: within its timeout of the
# callee's failure. One minute covers common client timeouts without joining unrelated hours.
QUOTE_SLACK = timedelta(seconds=60)
# A caller logs the error of every request it sent that failed, so when trace ids are logged most
# of the rarer fingerprint's traces hold the other one too; a shared library frame hit by unrelated
# requests shares few or none. Half leaves room for sampling and lines logged without a trace id.
MIN_SHARED_TRACES = 0.5
_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass
class Issue:
    """Fingerprints that are one failure. ``id`` is the lead fingerprint's (where the failure starts);
    ``members``: each fingerprint with ``role`` (origin | caller), ``link`` (frames | traces | message:
    how it joined, None for the origin), ``via`` (the fingerprint it quotes or extends) and
    ``shared_traces`` (traces holding lines of both, when known)."""

    id: str
    title: str
    exc_type: str
    culprit: str
    services: list[str]
    count: int
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    example: str = ""
    members: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fingerprints(self) -> list[str]:
        return [m["fingerprint"] for m in self.members]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "exc_type": self.exc_type, "culprit": self.culprit,
                "services": list(self.services), "count": self.count,
                "first_ts": self.first_ts.isoformat() if self.first_ts else None,
                "last_ts": self.last_ts.isoformat() if self.last_ts else None, "fingerprints": self.fingerprints,
                "members": [{k: v for k, v in m.items() if k not in ("frames", "example")} for m in self.members]}


def _message(row: Mapping[str, Any]) -> str:
    """The exception's message with variables masked (the title is "Type: message")."""
    title, exc = str(row.get("title") or ""), str(row.get("exc_type") or "")
    text = title[len(exc) + 1:].strip() if exc and title.startswith(exc + ":") else title
    return normalize_message(text)


def _first(row: Mapping[str, Any]) -> datetime | None:
    return row.get("first_in_window") or row.get("first_ts")


def _last(row: Mapping[str, Any]) -> datetime | None:
    return row.get("last_in_window") or row.get("last_ts")


def _together(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    a0, a1, b0, b1 = _first(a), _last(a), _first(b), _last(b)
    if None in (a0, a1, b0, b1):
        return True  # no times to tell: the quote alone decides
    return a0 <= b1 + QUOTE_SLACK and b0 <= a1 + QUOTE_SLACK  # type: ignore[operator]


def _traced_together(a: str, b: str, traces: Mapping[tuple[str, str], int]) -> bool:
    shared = traces.get((min(a, b), max(a, b)), 0)
    rarer = min(traces.get((a, a), 0), traces.get((b, b), 0))
    return rarer > 0 and shared >= MIN_SHARED_TRACES * rarer


def _seen_first(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    ta, tb = _first(a), _first(b)
    return ta is None or tb is None or (ta, str(a["fingerprint"])) <= (tb, str(b["fingerprint"]))


def _link(callee: Mapping[str, Any], caller: Mapping[str, Any], traces: Mapping[tuple[str, str], int]) -> str | None:
    """How ``caller`` logs the failure ``callee`` raised ("frames" | "traces" | "message"), or None."""
    if not set(caller.get("services") or []) - set(callee.get("services") or []):
        return None  # one service's own fingerprints are its own issues (Sentry keeps them apart too)
    same_type = (callee.get("exc_type") or "") == (caller.get("exc_type") or "")
    inner, outer = list(callee.get("frames") or []), list(caller.get("frames") or [])
    if same_type and inner and len(outer) > len(inner) and outer[:len(inner)] == inner:
        return "frames"
    if (same_type and inner and outer and inner[0] == outer[0] and _seen_first(callee, caller)
            and _traced_together(str(callee["fingerprint"]), str(caller["fingerprint"]), traces)):
        return "traces"
    quoted, quoting = _message(callee), _message(caller)
    if (len(_WORD.findall(quoted.replace("<*>", " "))) >= MIN_QUOTED_WORDS and quoted in quoting
            and not (same_type and quoted == quoting) and _together(callee, caller)):
        return "message"
    return None


def group_fingerprints(rows: Sequence[Mapping[str, Any]],
                       shared_traces: Mapping[tuple[str, str], int] | None = None) -> list[Issue]:
    """Group fingerprint rows (``fingerprint, exc_type, title, culprit, frames, services, count``, and
    first/last times as ``first_in_window``/``last_in_window`` or ``first_ts``/``last_ts``) into issues,
    most events first. ``shared_traces``: ``store.signals.fingerprint_trace_links`` of the same lines
    (without it, only the frames and message links apply). A fingerprint linked to none stays an
    issue of its own; fingerprint ids never change."""
    by_id = {str(r["fingerprint"]): r for r in rows}
    ids = list(by_id)
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    links: dict[str, tuple[str, str]] = {}  # caller -> (callee, how)
    for a in ids:
        for b in ids:
            if a == b or b in links:
                continue
            how = _link(by_id[a], by_id[b], shared_traces or {})
            if how:
                links[b] = (a, how)
                parent[root(b)] = root(a)
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(root(i), []).append(i)

    def count(i: str) -> int:
        return int(by_id[i].get("count") or 0)

    issues = []
    for members in groups.values():
        # the origin: a member that calls no other member (where the failure starts); the busiest if several
        origins = [m for m in members if m not in links] or members
        lead = max(origins, key=lambda m: (count(m), m))
        ordered = [lead] + sorted((m for m in members if m != lead), key=lambda m: (-count(m), m))
        services: list[str] = []
        for m in ordered:
            services += [s for s in by_id[m].get("services") or [] if s and s not in services]
        out = []
        for m in ordered:
            via, how = links.get(m, (None, None)) if m != lead else (None, None)
            traces = None
            if shared_traces is not None and via:
                traces = shared_traces.get((min(m, via), max(m, via)), 0)
            out.append({"fingerprint": m, "role": "origin" if m == lead else "caller", "link": how, "via": via,
                        "services": list(by_id[m].get("services") or []), "count": count(m),
                        "shared_traces": traces, "title": by_id[m].get("title") or "",
                        "culprit": by_id[m].get("culprit") or "", "example": by_id[m].get("example") or ""})
        firsts = [t for t in (_first(by_id[m]) for m in members) if t is not None]
        lasts = [t for t in (_last(by_id[m]) for m in members) if t is not None]
        head = by_id[lead]
        issues.append(Issue(lead, str(head.get("title") or head.get("exc_type") or lead), str(head.get("exc_type") or ""),
                            str(head.get("culprit") or ""), services, sum(count(m) for m in members),
                            min(firsts) if firsts else None, max(lasts) if lasts else None,
                            str(head.get("example") or ""), out))
    issues.sort(key=lambda i: (-i.count, i.id))
    return issues


def window_issues(ws: Workspace, start: datetime, end: datetime, limit: int = 10) -> list[Issue]:
    """The issues of ``[start, end)``: its exception fingerprints (``store.signals.window_fingerprints``)
    grouped into one entry per failure, most events first.

    Fingerprints are grouped among the window's 4 × ``limit`` busiest, so a caller's group is found
    even when the callee is less frequent than the issues shown.
    """
    from ..store import signals as sql

    rows = sql.window_fingerprints(ws, start, end, limit=limit * 4)
    links = sql.fingerprint_trace_links(ws, start, end, [r["fingerprint"] for r in rows])
    return group_fingerprints(rows, links)[:limit]
