"""Behaviour change per service: work a service stops doing, or starts doing, against a baseline.

A fault that raises nothing — a method that returns a wrong value, a branch that is skipped, a
flag that short-cuts a call — shows only as changed behaviour (Nezha, FSE'23, mines the same
kind of event patterns against a normal period). Two kinds of change are measured here, each
normalised for traffic so that a busier window is not a suspect:

- **calls**: for every parent operation that did not fail, the children it makes per call
  (fan-out). Comparing per parent call means only the *highest* change counts: when a method
  stops calling B, B's own children vanish too, but per call of B nothing changed. The change
  is blamed on the service of the child span: that is the code that stopped (or started)
  running — the in-process method that returned at its entry, or the client span of the
  service that no longer makes the call.
- **templates**: log templates at levels below ERROR (errors are weighed by the error signal
  with its blame rules) per service, against that service's own volume in each window
  (median of ratios, ``_template_scales``).

A change counts when it is beyond Poisson noise (``Z_MIN`` standard deviations) *and* large
(at least ``MIN_RELATIVE`` of the expected count): a busy edge that moves by 10% is traffic,
not behaviour.

>>> # behaviour_changes(ws, (t1, t2), (b1, b2))[0].describe()
>>> # 'notifications.send_confirmation called 0 times per 100 checkout.place_order (usual 100)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ..models import Evidence
from ..store import Workspace
from ..store.behaviour import call_counts, template_counts

__all__ = ["BehaviourChange", "behaviour_changes", "behaviour_shares", "Z_MIN", "MIN_RELATIVE", "MIN_EXPECTED"]

Z_MIN = 4.0  # standard deviations of a Poisson count: beyond what minute-to-minute noise does
MIN_RELATIVE = 0.5  # the count moves by at least half of what the baseline predicts
MIN_EXPECTED = 5.0  # a vanished call or template must have been expected at least this often
Z_CAP = 12.0  # one change counts at most this much: many small changes outweigh one huge one only together


@dataclass
class BehaviourChange:
    kind: str  # call | template
    service: str  # the service blamed
    what: str  # the operation or template
    parent: str  # calls: the parent operation ("service op"); templates: ""
    expected: float  # from the baseline, scaled to the window's traffic
    observed: int
    z: float
    example: str | None = None  # templates: a log id

    @property
    def direction(self) -> str:
        return "vanished" if self.observed < self.expected else "appeared"

    def describe(self) -> str:
        if self.kind == "call":
            return (f"{self.service} {self.what} called {self.observed} times under {self.parent} where the baseline "
                    f"predicts {self.expected:.0f} ({self.direction})")
        return (f"template '{self.what[:80]}' of {self.service} written {self.observed} times where the baseline "
                f"predicts {self.expected:.0f} ({self.direction})")

    def evidence_id(self) -> str:
        return f"behaviour:{self.service}:{self.kind}:{self.what[:60]}"

    def to_evidence(self) -> Evidence:
        text = self.describe() + "." + (f" An example line: log:{self.example}." if self.example else "")
        return Evidence(self.evidence_id(), "behaviour", f"behaviour change in {self.service}: {self.what[:60]} {self.direction}",
                        text, round(min(abs(self.z), Z_CAP) / Z_CAP, 4),
                        {"signal": "behaviour", "service": self.service, "kind": self.kind, "what": self.what,
                         "parent": self.parent, "expected": round(self.expected, 2), "observed": self.observed,
                         "direction": self.direction, "example_log": self.example})


def _z(observed: float, expected: float) -> float:
    """Signed deviation of a count from its expectation, symmetric for vanish and appear."""
    return (observed - expected) / math.sqrt((observed + expected) / 2.0 + 1.0)


def _significant(observed: float, expected: float) -> bool:
    if max(observed, expected) < MIN_EXPECTED:
        return False
    return abs(_z(observed, expected)) >= Z_MIN and abs(observed - expected) >= MIN_RELATIVE * max(expected, 1.0)


def _template_scales(t_now: dict, t_base: dict) -> dict[str, float]:
    """Per service, how much more it writes in the window than in the baseline, robustly.

    The median of the per-template ratios over templates seen in both windows (the
    median-of-ratios normalisation of DESeq): a busier or quieter service scales all its
    templates together, while a behaviour change moves a few, which the median ignores. A
    service silent in one window has no scale: that is left to the call signal (or errors).
    """
    ratios: dict[str, list[float]] = {}
    for key, base in t_base.items():
        now = t_now.get(key)
        if now and base["count"] >= MIN_EXPECTED:
            ratios.setdefault(key[0], []).append(now["count"] / base["count"])
    out = {}
    for svc, values in ratios.items():
        values.sort()
        mid = len(values) // 2
        out[svc] = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return out


def behaviour_changes(ws: Workspace, window: tuple[datetime, datetime],
                      baseline: tuple[datetime, datetime]) -> list[BehaviourChange]:
    """Significant changes of calls and templates, strongest first."""
    out: list[BehaviourChange] = []
    p_now, e_now = call_counts(ws, *window)
    p_base, e_base = call_counts(ws, *baseline)
    for key in e_now.keys() | e_base.keys():
        ps, po, cs, co = key
        calls_now, calls_base = p_now.get((ps, po), 0), p_base.get((ps, po), 0)
        if calls_now < MIN_EXPECTED or calls_base < MIN_EXPECTED:
            continue  # the parent is rare in one window: that is the traffic mix, not behaviour
        expected = e_base.get(key, 0) / calls_base * calls_now
        observed = e_now.get(key, 0)
        if _significant(observed, expected):
            out.append(BehaviourChange("call", cs, co, f"{ps} {po}", expected, observed, _z(observed, expected)))
    t_now, t_base = template_counts(ws, *window), template_counts(ws, *baseline)
    scale = _template_scales(t_now, t_base)
    for tkey in t_now.keys() | t_base.keys():
        svc = tkey[0]
        if not svc or svc not in scale:
            continue
        now, base = t_now.get(tkey), t_base.get(tkey)
        expected = (base["count"] if base else 0) * scale[svc]
        observed = now["count"] if now else 0
        if _significant(observed, expected):
            info = now or base or {}
            out.append(BehaviourChange("template", svc, str(info.get("template") or tkey[1]), "", expected, observed,
                                       _z(observed, expected), str(info.get("example")) if info.get("example") else None))
    out.sort(key=lambda c: (-abs(c.z), c.service, c.what))
    return out


def behaviour_shares(changes: list[BehaviourChange]) -> dict[str, float]:
    """Each service's share of all behaviour change (capped deviations summed)."""
    per: dict[str, float] = {}
    for c in changes:
        per[c.service] = per.get(c.service, 0.0) + min(abs(c.z), Z_CAP)
    total = sum(per.values())
    return {s: v / total for s, v in per.items()} if total else {}
