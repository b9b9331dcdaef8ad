"""Ranking what a stack trace points at: suspect commits and suspect locations.

- **Suspect commits** (``suspect_commits``): commits that last touched the frame lines,
  ranked by touching the exact frame line (more than its neighbours), the frame's rank
  (the crash site counts most), and recency relative to the incident window (a commit after
  the window cannot have caused it).
- **Suspect locations** (``rank_suspects``): the classes/modules most likely to hold the
  bug, from the trace alone (crash-site order, in-app, test frames demoted, the class a
  failing test is named after) and, when resolved, from recent changes on the frame lines.

Resolving frames to files and blame is ``knowledge.codemap``; this module only scores.

>>> from crashlens_core.signals.stacks import parse_stack
>>> st = parse_stack("boom\\njava.lang.NullPointerException\\n\\tat com.acme.Cart.total(Cart.java:12)\\n\\tat com.acme.CartTest.testTotal(CartTest.java:30)")
>>> [(s.name, s.function) for s in rank_suspects([st])][:2]
[('com.acme.Cart', 'total'), ('com.acme.CartTest', 'testTotal')]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from ..signals.stacks import Frame, StackTrace, looks_like_test
from .codemap import BlameLine, ResolvedFrame, ResolvedStack

__all__ = ["SuspectCommit", "Suspect", "Weights", "WEIGHTS", "suspect_commits", "rank_suspects"]

@dataclass
class SuspectCommit:
    commit: str
    repo: str
    author: str
    email: str
    time: datetime
    summary: str
    score: float
    why: str
    locations: list[str] = field(default_factory=list)  # "path:line" of the frame lines it touched

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "short": self.commit[:7], "repo": self.repo, "author": self.author,
                "email": self.email, "time": self.time.isoformat(timespec="seconds") + "Z", "summary": self.summary,
                "score": round(self.score, 4), "why": self.why, "locations": self.locations}


@dataclass
class Suspect:
    """A suspect location: the class (Java, .NET, Go receivers) or module that likely holds the bug."""

    name: str               # qualified class or module
    kind: str               # "class" | "module"
    function: str | None
    file: str | None
    line: int | None
    score: float
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {self.kind: self.name, "function": self.function, "file": self.file, "line": self.line,
                "score": round(self.score, 4), "why": self.why}


# --- suspect commits ------------------------------------------------------------------------

def _in_app_order(resolved: ResolvedStack) -> list[ResolvedFrame]:
    """In-app resolved frames, root cause first, each exception's innermost frame first."""
    frames = [rf for rf in resolved.frames if rf.frame.in_app and rf.path]
    return sorted(frames, key=lambda rf: (-rf.depth, rf.index))


def suspect_commits(resolved: ResolvedStack, window_start: datetime | None = None, window_end: datetime | None = None,
                    limit: int = 10) -> list[SuspectCommit]:
    """Commits that last touched the frames' lines, most suspicious first.

    Score = Σ over frames of (frame weight × touch) × time factor. Frame weight halves about
    every two frames away from the crash site; touch is 1 for the frame's own line and falls
    with distance for its neighbours; the time factor favours commits shortly before the
    incident window (or before the newest commit, without a window) and nearly zeroes
    commits made after the window ended.
    """
    per: dict[tuple[str, str], dict[str, Any]] = {}
    for rank, rf in enumerate(_in_app_order(resolved)):
        weight = 0.7 ** rank
        line = rf.frame.line or 0
        span = max((abs(k - line) for k in rf.blame), default=1) + 1
        best: dict[str, tuple[float, int]] = {}
        for k, kbl in rf.blame.items():
            touch = 1.0 if k == line else 0.35 * (1 - abs(k - line) / span)
            if touch > best.get(kbl.commit, (0.0, 0))[0]:
                best[kbl.commit] = (touch, k)
        for sha, (touch, k) in best.items():
            entry = per.setdefault((rf.repo or "", sha), {"blame": rf.blame[k], "score": 0.0, "exact": [], "near": []})
            entry["score"] += weight * touch
            (entry["exact"] if k == line else entry["near"]).append(f"{rf.path}:{line}")
    if not per:
        return []
    reference = window_start or max(e["blame"].time for e in per.values())
    out: list[SuspectCommit] = []
    for (repo, sha), e in per.items():
        bl: BlameLine = e["blame"]
        age_days = (reference - bl.time).total_seconds() / 86400
        if window_end is not None and bl.time > window_end:
            factor, when = 0.05, "committed after the incident window"
        elif age_days < 0:
            factor, when = 0.5, "committed during the incident window"
        else:
            factor = 0.3 + 0.7 * math.exp(-age_days / 14)
            when = f"{age_days:.1f} days before the {'incident' if window_start else 'newest change'}"
        if bl.boundary:
            factor *= 0.5
        parts = []
        if e["exact"]:
            parts.append("last changed the frame line" + ("s " if len(e["exact"]) > 1 else " ") + ", ".join(dict.fromkeys(e["exact"])))
        if e["near"]:
            parts.append("changed lines near " + ", ".join(dict.fromkeys(e["near"])))
        parts.append(when)
        out.append(SuspectCommit(sha, repo, bl.author, bl.email, bl.time, bl.summary, e["score"] * factor,
                                 "; ".join(parts), list(dict.fromkeys(e["exact"] + e["near"]))))
    out.sort(key=lambda c: (-c.score, c.commit))
    return out[:limit]


# --- suspect locations ----------------------------------------------------------------------

_TEST_NAME = re.compile(r"^(?:Test(?=[A-Z])(?P<a>\w+)|(?P<b>\w+?)(?:Tests?|TestCase|Spec|IT)(?:\d+)?)$")


def _unit(frame: Frame) -> tuple[str, str, str | None]:
    """(kind, name, file) of the location a frame belongs to: the top-level class, or the module
    in its file (Python and JS module names come from file names, which repeat across packages)."""
    if frame.class_ and frame.module is not None and "/" not in (frame.module or ""):
        top = frame.class_.split("$", 1)[0].split("+", 1)[0]
        return "class", f"{frame.module}.{top}" if frame.module else top, None
    if frame.class_:
        return "class", f"{frame.module}.{frame.class_}" if frame.module else frame.class_, None
    return "module", frame.module or frame.file or "?", frame.file


def _tested_unit(frame: Frame) -> tuple[str, str, None] | None:
    """The unit a test is named after: class ``FooTest`` → ``Foo`` in the same package,
    ``test_foo.py`` / ``foo.test.js`` → module ``foo``."""
    if frame.class_:
        m = _TEST_NAME.match(frame.class_.split("$", 1)[0])
        if m:
            name = m.group("a") or m.group("b")
            # tests often sit in a sub-package of the code they test (…/category/junit/FooTests)
            pkg = re.sub(r"\.(?:junit|tests?|unit|spec|it)$", "", frame.module or "")
            return "class", f"{pkg}.{name}" if pkg else name, None
    base = (frame.file or "").replace("\\", "/").rsplit("/", 1)[-1]
    m = re.fullmatch(r"test_(\w+)\.py|(\w+)_test\.py|(\w+)\.(?:test|spec)\.[cm]?[jt]sx?", base)
    if m:
        return "module", next(g for g in m.groups() if g), None
    return None


@dataclass(frozen=True)
class Weights:
    """The weights of ``rank_suspects``, one per general property of stack traces.

    The defaults were chosen by a grid search on the tune half of ``bench/frames.py``
    (Defects4J projects Chart, Codec, Gson, Jsoup) and are reported on the other half; none
    is per project. Tried there and left out: a bonus for the application frame a test calls
    directly (no gain); a boost for the crash site of exceptions the JVM raises at the faulting
    instruction (NPE, bad index, cast: +2 traces, -1 bug, i.e. noise).
    """

    # each call away from the crash site is weaker evidence: the innermost frame executed the
    # faulty statement or received the bad value; callers only passed it on
    step: float = 0.75
    # a cause is where the failure started; the exceptions wrapping it were raised by code that
    # only caught and re-threw (root cause over wrapper)
    depth: float = 0.6
    # test code is rarely what a fix changes: it is the observer, not the faulty unit
    test: float = 0.1
    # the class a failing test is named after is the unit under test (``FooTest`` -> ``Foo``);
    # for the outermost test frame (the test that ran) and for inner test helpers
    tested: float = 0.8
    tested_helper: float = 0.25
    # ... but a name is indirect evidence: when the exception was raised inside application
    # code (an in-app, non-test frame exists), the raising frames speak more directly than the
    # test's name, so the name bonus is scaled by this factor
    tested_with_app_frames: float = 0.5
    # a unit seen in several frames (recursion, several methods on the path) gains a little
    multi: float = 0.25
    # a precondition helper that raised (``Validate.notEmpty``): its weight, the caller moves up
    guard: float = 0.3


WEIGHTS = Weights()


# Precondition helpers (commons-lang/jsoup ``Validate.notEmpty``, Guava ``Preconditions.checkArgument``,
# Spring ``Assert.notNull``, ``Require``/``Ensure`` guards): the frame that raises only reports
# that its caller broke a contract, so the caller is the suspect. Matched by the class names such
# dedicated helpers share across libraries, not by any one project's class.
_GUARD_CLASS = re.compile(r"^(?:Validate|Preconditions?|Asserts?|Checks?|Guards?|Verify|Ensure|Requires?|Contracts?)$")


def _is_guard(frame: Frame) -> bool:
    return bool(_GUARD_CLASS.match((frame.class_ or "").split("$", 1)[0]))


_REFLECT = re.compile(r"(?:^|\.)reflect(?:\.|$)")


def _own_code(frames: Sequence[Frame]) -> list[Frame]:
    """When no frame is in-app (the project's own package is on the library list, as for a
    project named like a framework): the frames in the package of the test that ran.

    Relies on two general properties of JVM tests: runners call the test method through
    reflection (the frame printed just before the first ``*.reflect.*`` frame is the test),
    and a project's tests live in its own package hierarchy (its first two name parts).
    """
    for i, f in enumerate(frames[1:], 1):
        test_module = frames[i - 1].module
        if f.module and _REFLECT.search(f.module) and test_module and looks_like_test(frames[i - 1]):
            root = ".".join(test_module.split(".")[:2]) + "."
            own = [g for g in frames if g.module and (g.module + ".").startswith(root)]
            # tests in a package of their own (org.acmeusage for org.acme) say nothing about the
            # code: then every frame stays a candidate
            return own if any(not looks_like_test(g) for g in own) else []
    return []


def rank_suspects(stacks: StackTrace | Sequence[StackTrace], resolved: Sequence[ResolvedStack] = (),
                  limit: int = 10, weights: Weights = WEIGHTS) -> list[Suspect]:
    """Suspect classes/modules for one or several traces of the same failure, best first.

    From the traces: the crash site's unit first and callers after it (weight 0.75 per
    step; root causes before the exceptions wrapping them), in-app frames only (all frames
    when none is), test code demoted to a tenth, and the unit a failing test class is named
    after added (``FooTest`` → ``Foo``). From ``resolved`` stacks: a bonus for units whose
    frame lines were changed recently (blame). ``weights``: see ``Weights``.
    """
    w = weights
    stacks = [stacks] if isinstance(stacks, StackTrace) else list(stacks)
    units: dict[tuple[str, str, str | None], dict[str, Any]] = {}

    def unit(key: tuple[str, str, str | None]) -> dict[str, Any]:
        return units.setdefault(key, {"weights": [], "tested": 0.0, "frame": None, "best": 0.0, "reasons": []})

    def note(u: dict[str, Any], reason: str) -> None:
        if reason not in u["reasons"]:
            u["reasons"].append(reason)

    for st in stacks:
        for depth, exc in enumerate(reversed(st.chain())):  # root cause first
            frames = ([f for f in exc.frames if f.in_app and (f.function or f.file)] or _own_code(exc.frames)
                      or list(exc.frames))
            tests = [f for f in frames if looks_like_test(f)]
            test_ids = {id(f) for f in tests}
            app_raised = any(f.in_app and id(f) not in test_ids for f in exc.frames)
            name_factor = w.tested_with_app_frames if app_raised else 1.0
            step = 0
            for i, f in enumerate(frames):
                u = unit(_unit(f))
                test = id(f) in test_ids
                if w.guard != 1.0 and step == 0 and not test and i + 1 < len(frames) and _is_guard(f):
                    # the raising precondition helper: weak evidence, and its caller takes the crash site's place
                    u["weights"].append(w.guard * (w.depth ** depth))
                    u["frame"] = u["frame"] or f
                    note(u, "precondition helper that raised")
                    continue
                weight = (w.step ** step) * (w.depth ** depth) * (w.test if test else 1.0)
                u["weights"].append(weight)
                if weight > u["best"]:
                    u["frame"], u["best"] = f, weight
                if test:
                    note(u, "test code")
                    tested = _tested_unit(f)
                    if tested:
                        # the outermost test frame is the test that ran; inner ones are its helpers
                        t = unit(tested)
                        bonus_t = (w.tested if f is tests[-1] else w.tested_helper) * name_factor * (w.depth ** depth)
                        t["tested"] = max(t["tested"], bonus_t)
                        note(t, f"named by the failing test {f.class_ or f.file}")
                    continue
                note(u, "crash site (innermost in-app frame)" if step == 0 and depth == 0 else
                     "where the wrapping exception was raised" if step == 0 else f"caller #{step} of the crash site")
                step += 1
    # a tested class seen in the trace under another package is that class
    by_simple: dict[str, list[tuple[str, str, str | None]]] = {}
    for key, u in units.items():
        if u["frame"] is not None and not looks_like_test(u["frame"]):
            by_simple.setdefault(key[1].rsplit(".", 1)[-1], []).append(key)
    for key in [k for k, u in units.items() if u["frame"] is None]:
        same = [k for k in by_simple.get(key[1].rsplit(".", 1)[-1], ()) if k != key]
        if len(same) == 1:
            u = units.pop(key)
            units[same[0]]["tested"] = max(units[same[0]]["tested"], u["tested"])
            for r in u["reasons"]:
                note(units[same[0]], r)
    bonus: dict[tuple[str, str, str | None], tuple[float, str]] = {}
    newest = max((b.time for rs in resolved for rf in rs.frames for b in rf.blame.values()), default=None)
    for rs in resolved:
        for rf in rs.frames:
            bl = rf.line_blame
            if not bl or not rf.frame.in_app or newest is None:
                continue
            age = (newest - bl.time).total_seconds() / 86400
            b = 0.3 * math.exp(-age / 30)
            key = _unit(rf.frame)
            if b > bonus.get(key, (0.0, ""))[0]:
                bonus[key] = (b, f"line last changed by {bl.commit[:7]} ({bl.author}, {bl.time:%Y-%m-%d}: {bl.summary[:60]})")
    out: list[Suspect] = []
    for key, u in units.items():
        frame_weights = sorted(u["weights"], reverse=True) or [0.0]
        # frame evidence (the best frame, more frames add a little) plus the test-name evidence
        score = frame_weights[0] + w.multi * min(sum(frame_weights[1:]), 1.0) + u["tested"]
        reasons = list(u["reasons"])
        if key in bonus:
            score += bonus[key][0]
            reasons.append(bonus[key][1])
        if len(frame_weights) > 1:
            reasons.append(f"{len(frame_weights)} frames")
        f = u["frame"]
        out.append(Suspect(key[1], key[0], f.function if f else None, f.file if f else None, f.line if f else None,
                           score, "; ".join(reasons)))
    out.sort(key=lambda s: (-s.score, s.name))
    top = out[0].score if out else 1.0
    for s in out:
        s.score = s.score / top if top else 0.0
    return out[:limit]
