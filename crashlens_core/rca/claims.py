"""Claims: what a report asserts, each said once, heaviest first, no more than the evidence carries.

``curate_claims`` is the last step of every report (offline or LLM): claims that say the same
thing are merged into one that cites all their evidence, filler is dropped, the rest is ordered
by weight and capped; what the cap leaves out is kept, visibly, in ``more_claims``.

"The same thing" is decided on the evidence, not on the wording, so it holds for any engine:

- two claims citing the same evidence set are one claim;
- two claims whose evidence names the same *subject* (an exception raised at one code site, one
  metric of one service moving one way, one value of one dimension, one service, one commit…)
  are one claim (``subject_keys``). The evidence of one failure arrives through several
  collectors (the failing span, the exception group, the error lines of caller and callee, their
  log template, the crash site's source): a reader needs it once, with every citation.

A claim's weight is the strongest evidence it cites (the collectors' scores already rank how
directly an item points at a cause), doubled when it supports the top suspect; a claim an
analyzer weighed itself (``Claim.weight``) keeps that weight.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from ..models import Evidence
from .schema import Claim

__all__ = ["curate_claims", "subject_keys", "is_filler", "norm_dim", "MAX_CLAIMS", "MIN_SHARE"]

MAX_CLAIMS = 8      # a report a person reads in one screen; the rest is one click away in more_claims
MIN_SHARE = 0.03    # a claim weighing under 3% of the heaviest says little next to it: left for "more"
_MAX_MORE = 30
# A bucket of a continuous value ("100-500 ms", "1-5 s", "<10", ">= 2 KB"): where errors fall in a
# range the comparison chose says nothing a latency or size claim would not say better.
_BUCKET = re.compile(r"^\s*(?:[<>]=?\s*\d[\d.,]*|\d[\d.,]*\s*[a-zA-Zµ%]*\s*(?:-\s*\d[\d.,]*|\+))\s*[a-zA-Zµ%]*\s*$")
# Dimensions that restate the error itself (its outcome, its level, the logger that writes error
# lines): errors concentrate on them by definition.
_OUTCOME = re.compile(r"(^|[._])(status|status_code|level|severity|severity_text|outcome|error|error\.type|logger|log\.logger)$")
_CONTINUOUS = re.compile(r"(^|[._])(latency|duration|elapsed|size|bytes|length|time)(_ms|_s)?$")
_ERROR_GROUPS = ("error_span", "error_log", "fingerprint")
_DIM_PREFIX = re.compile(r"^(attr|span|resource|log|tag)\.")


def norm_dim(dim: str) -> str:
    """attr.version, span.version, resource.version → version: one dimension however it was read."""
    d = str(dim)
    while _DIM_PREFIX.match(d):
        d = _DIM_PREFIX.sub("", d, count=1)
    return {"service.name": "service", "service.version": "version", "host.name": "host"}.get(d, d)


def _site(location: str) -> str:
    """/app/shop/payments.py:_charge:64 and shop/payments.py + 64 → 'shop/payments.py:64' (deploy prefixes differ)."""
    parts = str(location).split(":")
    path = parts[0].strip("/").split("/")
    line = parts[-1] if len(parts) > 1 and parts[-1].isdigit() else ""
    return "/".join(path[-2:]) + (f":{line}" if line else "")


def subject_keys(item: Evidence, es_items: dict[str, Evidence] | None = None) -> set[tuple[str, ...]]:
    """What an evidence item is about, as keys two claims share when they say the same thing."""
    d = item.data
    signal = d.get("signal")
    keys: set[tuple[str, ...]] = set()
    if signal in ("error_span", "error_log", "fingerprint") and d.get("exc_type"):
        keys.add(("failure", str(d["exc_type"]), _site(d.get("location") or "")))
        if d.get("location"):
            keys.add(("site", _site(d["location"])))
    elif signal == "template" and es_items is not None and d.get("example_log") in es_items and d.get("example_log") != item.id:
        # a log template is the shape of its lines: when its example is an error group's line, it is that group
        keys |= subject_keys(es_items[d["example_log"]], None)
    elif signal == "frame" and d.get("file"):
        keys.add(("site", _site(f"{d['file']}:{d.get('line') or ''}")))
    elif signal == "metric":
        keys.add(("metric", str(d.get("service")), str(d.get("name")), str(d.get("direction"))))
    elif signal in ("dimension", "comparison") and d.get("dim"):
        dim = norm_dim(d["dim"])
        keys.add(("service", str(d.get("value"))) if dim == "service" else ("dim", dim, str(d.get("value"))))
    elif signal == "suspect_service" and d.get("service"):
        keys.add(("service", str(d["service"])))
    elif signal == "commit" and d.get("commit"):
        keys.add(("commit", str(d["commit"])[:12]))
    elif signal == "changes" and item.kind == "change":
        if "version" in (d.get("links") or []) and d.get("version"):
            keys.add(("dim", "version", str(d["version"])))  # the deploy claim already says the errors sit on its version
        if d.get("commit"):
            keys.add(("commit", str(d["commit"])[:12]))
    elif signal == "latency":
        keys.add(("latency", str(d.get("service")), str(d.get("name"))))
    elif signal == "behaviour":
        keys.add(("behaviour", str(d.get("service")), str(d.get("kind")), str(d.get("what"))))
    elif signal == "stale_tool":
        keys.add(("stale", str(d.get("name"))))
    return keys


def is_filler(item: Evidence) -> str:
    """Why an item is no claim on its own ('' when it is one): a dimension that is not distinctive, a bucket, an outcome."""
    d = item.data
    if d.get("signal") not in ("comparison", "dimension"):
        return ""
    dim, value = norm_dim(str(d.get("dim") or "")), str(d.get("value") or "")
    if _BUCKET.match(value) or _CONTINUOUS.search(dim):
        return "a bucket of a continuous value"
    if _OUTCOME.search(dim):
        return "it restates the error (its outcome, level or logger)"
    share = float(d.get("share") or 0.0)
    base = d.get("baseline_share")
    if d.get("signal") == "comparison" and base is not None:
        # Distinctive: most of the window's errors, and at least twice the baseline's share (new counts).
        if share < 0.5 or (float(base) > 0 and share / float(base) < 2.0):
            return "not distinctive against the baseline"
    return ""


def _services(ids: Iterable[str], by_id: dict[str, Evidence]) -> list[str]:
    out: list[str] = []
    for eid in ids:
        item = by_id.get(eid)
        if item is None:
            continue
        if item.data.get("signal") == "changes":
            continue  # a change names where it lands and the profile every failing service: not where this claim's failure shows
        names = [item.data["service"]] if item.data.get("service") else list(item.data.get("services") or [])
        for s in names:
            if s and str(s) not in out:
                out.append(str(s))
    return out


def _weight(claim: Claim, by_id: dict[str, Evidence], top_ids: set[str]) -> float:
    if claim.weight:
        return float(claim.weight)
    scores = [by_id[e].score for e in claim.evidence if e in by_id]
    return (max(scores) if scores else 0.0) * (2.0 if set(claim.evidence) & top_ids else 1.0)


def curate_claims(claims: list[Claim], items: list[Evidence], top_ids: Iterable[str] = (), *, by_subject: bool = True,
                  lead: str | None = None, keep: Iterable[str] = (), focus: Iterable[str] = (),
                  cap: int = MAX_CLAIMS) -> tuple[list[Claim], list[Claim]]:
    """(claims, more_claims): merged by meaning, filler dropped, heaviest first, at most ``cap``.

    ``by_subject`` merges claims whose evidence names the same subject (on for the offline
    analyzer, whose claims are one per evidence item; an LLM's claims are merged only when they
    cite the same evidence, as two sentences over one item may say two things). A claim citing
    ``lead`` (the verdict: the culprit change) comes first whatever its weight; a claim citing one of
    ``keep`` (a verdict that no change is at fault) is kept in its place by weight. With ``focus`` (the
    failing services), a claim whose evidence names only other services (a metric, a template, a
    slowdown elsewhere) is not about this failure: it goes to ``more_claims`` whatever its weight;
    error groups new in the window stay claims wherever they are.

    >>> from crashlens_core.models import Evidence
    >>> ev = [Evidence("fp:1", "fp", "t", "x", 5.0, {"signal": "fingerprint", "exc_type": "KeyError", "location": "a.py:f:3"}),
    ...       Evidence("fp:2", "fp", "t", "x", 4.0, {"signal": "fingerprint", "exc_type": "KeyError", "location": "a.py:f:3"})]
    >>> kept, more = curate_claims([Claim("KeyError: 3", ["fp:1"]), Claim("KeyError: 3", ["fp:2"])], ev)
    >>> [(c.text, c.evidence) for c in kept]
    [('KeyError: 3', ['fp:1', 'fp:2'])]
    """
    by_id = {e.id: e for e in items}
    tops = set(top_ids)
    pool: list[tuple[float, int, Claim]] = []
    for n, c in enumerate(claims):
        cited = [by_id[e] for e in c.evidence if e in by_id]
        if cited and all(is_filler(e) for e in cited):
            continue  # still in the evidence set; not something to assert
        pool.append((_weight(c, by_id, tops), n, c))
    # Union-find over claims that share an evidence set, a sentence or a subject.
    parent = list(range(len(pool)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[Any, int] = {}
    for i, (_, _, c) in enumerate(pool):
        marks: list[Any] = [("ids", tuple(sorted(c.evidence))), ("text", " ".join(c.text.lower().split()))]
        if by_subject:
            for eid in c.evidence:
                if eid in by_id:
                    marks.extend(subject_keys(by_id[eid], by_id))
        for m in marks:
            if m in seen:
                a, b = find(seen[m]), find(i)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                seen[m] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(pool)):
        groups.setdefault(find(i), []).append(i)
    merged: list[tuple[float, int, Claim]] = []
    for members in groups.values():
        # the verdict's sentence heads its group; otherwise the heaviest claim's
        members.sort(key=lambda i: (not (lead and lead in pool[i][2].evidence), -pool[i][0], pool[i][1]))
        w, n, head = pool[members[0]]
        ids = list(head.evidence)
        for i in members[1:]:
            ids.extend(e for e in pool[i][2].evidence if e not in ids)
        text = head.text
        also = [s for s in _services(ids, by_id) if s not in _services(head.evidence, by_id) and s not in text]
        if len(members) > 1 and also:
            text = text.rstrip() + f" The same failure also shows in {', '.join(also[:5])}."
        merged.append((w, n, Claim(text, ids, round(w, 4))))
    if lead:
        heaviest = max((w for w, _, _ in merged), default=0.0)
        merged = [(heaviest + 1.0, n, Claim(c.text, c.evidence, round(heaviest + 1.0, 4))) if lead in c.evidence else (w, n, c)
                  for w, n, c in merged]
    merged.sort(key=lambda t: (-t[0], t[1]))
    floor = MIN_SHARE * max((w for w, _, _ in merged), default=0.0)
    focused = set(focus)

    def about_failure(c: Claim) -> bool:
        # A change names the service it lands on, which may be the whole deployment: its link to the
        # failure is weighed by rca.changes, not by its service.
        named = _services(c.evidence, by_id)
        if lead and lead in c.evidence:
            return True
        if any(by_id[e].data.get("signal") in _ERROR_GROUPS for e in c.evidence if e in by_id):
            return True  # errors new in the window are part of what happened, wherever they are
        return not focused or not named or bool(focused & set(named))

    forced = set(keep) | ({lead} if lead else set())
    room = cap - sum(1 for _, _, c in merged if set(c.evidence) & forced)
    kept: list[Claim] = []
    for w, _, c in merged:
        if set(c.evidence) & forced:
            kept.append(c)
        elif room > 0 and w >= floor and about_failure(c):
            kept.append(c)
            room -= 1
    more = [c for _, _, c in merged if all(c is not k for k in kept)][:_MAX_MORE]
    return kept, more
