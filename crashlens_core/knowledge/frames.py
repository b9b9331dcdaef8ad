"""Stack frames to code: repo paths, source context, git blame, suspect commits and locations.

What Sentry does with a stack trace, offline:

- **Code mapping** (``map_frame``): a frame's path (``/app/shop/payments.py``, Java's
  ``com/acme/Shop.java`` from package + file, a bundle URL) is matched to a file of a known
  repository by the longest common path suffix, as Sentry's code mappings do without asking
  for the stack root.
- **Source context** (``resolve_frames``): ±N lines around every in-app frame, read at the
  revision that was running. When the trace carries its own source lines (Python does) and
  they differ from the working tree, the newest commit whose files match them is used, so
  a reverted or since-fixed bug is shown as it ran.
- **Blame**: one ``git blame --line-porcelain`` per file for all frame windows, honouring
  ``.git-blame-ignore-revs`` (mass reformatting commits are looked through).
- **Suspect commits** (``suspect_commits``): commits that last touched the frame lines,
  ranked by touching the exact frame line (more than its neighbours), the frame's rank
  (the crash site counts most), and recency relative to the incident window (a commit after
  the window cannot have caused it).
- **Suspect locations** (``rank_suspects``): the classes/modules most likely to hold the
  bug, from the trace alone (crash-site order, in-app, test frames demoted, the class a
  failing test is named after) and, when resolved, from recent changes on the frame lines.

Every git call goes through ``knowledge.gitrepo`` (GitPython in the ``gitsafe`` sandbox).

>>> from crashlens_core.signals.stacks import parse_stack
>>> st = parse_stack("boom\\njava.lang.NullPointerException\\n\\tat com.acme.Cart.total(Cart.java:12)\\n\\tat com.acme.CartTest.testTotal(CartTest.java:30)")
>>> [(s.name, s.function) for s in rank_suspects([st])][:2]
[('com.acme.Cart', 'total'), ('com.acme.CartTest', 'testTotal')]
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..signals.stacks import Frame, StackTrace, looks_like_test
from .gitrepo import BlameLine, blame as git_blame, head as git_head, log as git_log, show_file
from .gitsafe import GitError, check_rev

__all__ = ["RepoRef", "BlameLine", "ResolvedFrame", "ResolvedStack", "SuspectCommit", "Suspect",
           "FrameReport",
           "as_repos", "map_frame", "resolve_frames", "suspect_commits", "rank_suspects", "frame_path_hint", "analyze",
           "split_prefixes"]

_GENERIC_NAMES = frozenset(("__init__.py", "index.js", "index.ts", "main.go", "mod.rs", "main.py", "__main__.py",
                            "app.py", "utils.py", "Program.cs", "Startup.cs", "package-info.java"))
_JVM_EXT = (".java", ".kt", ".scala", ".groovy")
_MAX_FILE_BYTES = 4 * 2**20


@dataclass(frozen=True)
class RepoRef:
    """A repository to resolve frames against: a name and its working tree."""

    name: str
    root: Path


@dataclass
class ResolvedFrame:
    """A frame mapped to a repository file, with source context and blame of that context."""

    frame: Frame
    index: int        # position in its exception's frames (0 = innermost)
    depth: int        # 0 = the exception itself, 1 = its cause, …
    repo: str | None = None
    path: str | None = None       # repo-relative, '/'-separated
    revision: str | None = None   # the commit the context and blame were read at (None: working tree)
    context: list[tuple[int, str]] = field(default_factory=list)
    blame: dict[int, BlameLine] = field(default_factory=dict)
    source_matches: bool | None = None  # the trace's own source line equals the file's line
    commit: str | None = None     # the commit of the content shown: ``revision``, else HEAD

    @property
    def line_blame(self) -> BlameLine | None:
        return self.blame.get(self.frame.line) if self.frame.line else None

    def evidence_id(self) -> str | None:
        """``code:repo@commit:path#La-Lb`` (DESIGN.md's evidence ids)."""
        if not (self.repo and self.path and self.context):
            return None
        rev = (self.commit or "worktree")[:7]
        return f"code:{self.repo}@{rev}:{self.path}#L{self.context[0][0]}-L{self.context[-1][0]}"


@dataclass
class ResolvedStack:
    stack: StackTrace
    frames: list[ResolvedFrame]
    revisions: dict[str, str | None] = field(default_factory=dict)  # repo name -> commit used

    def resolved(self) -> list[ResolvedFrame]:
        return [f for f in self.frames if f.path]


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


# --- repositories and code mapping --------------------------------------------------------

def as_repos(repos: Iterable[Any]) -> list[RepoRef]:
    """RepoRefs from ``RepoSource`` objects (``.name``, ``.root``), paths or strings."""
    out = []
    for r in repos or ():
        if isinstance(r, RepoRef):
            out.append(r)
        elif not isinstance(r, (str, os.PathLike)) and hasattr(r, "root"):
            out.append(RepoRef(str(getattr(r, "name", Path(r.root).name)), Path(r.root)))
        else:
            p = Path(r).expanduser()
            out.append(RepoRef(p.resolve().name, p))
    return out


_FILE_CACHE: dict[tuple[str, float], dict[str, list[str]]] = {}


def _repo_index(root: Path) -> dict[str, list[str]]:
    """basename -> repo-relative paths, cached while the repo's index/tree is unchanged."""
    stamp_file = root / ".git" / "index"
    try:
        stamp = stamp_file.stat().st_mtime if stamp_file.exists() else root.stat().st_mtime
    except OSError:
        return {}
    key = (str(root.resolve()), stamp)
    hit = _FILE_CACHE.get(key)
    if hit is not None:
        return hit
    from .chunking import safe_list_files  # what git tracks (or a plain walk), as the indexer sees it

    files = safe_list_files(root)
    index: dict[str, list[str]] = {}
    for f in files:
        index.setdefault(f.rsplit("/", 1)[-1], []).append(f)
    if len(_FILE_CACHE) > 32:
        _FILE_CACHE.clear()
    _FILE_CACHE[key] = index
    return index


def frame_path_hint(frame: Frame) -> str | None:
    """The path a frame's code lives at, as well as the trace tells: JVM package + file, URL path …

    >>> frame_path_hint(Frame("com.acme.shop", "Cart$1", "run", "Cart.java", 3))
    'com/acme/shop/Cart.java'
    """
    f = frame.file
    if f and f.endswith(_JVM_EXT) and "/" not in f and "\\" not in f:
        return "/".join([*(frame.module or "").split("."), f]).lstrip("/") if frame.module else f
    if not f and frame.class_ and frame.module and "/" not in frame.module:
        return "/".join([*frame.module.split("."), frame.class_.split("$", 1)[0] + ".java"])
    if not f:
        return None
    p = f.replace("\\", "/")
    p = re.sub(r"^(?:webpack|file|https?|app)://+[^/]*", "", p)
    p = re.sub(r"^[A-Za-z]:", "", p).split("?", 1)[0]
    return p.lstrip("./") or None


def map_frame(frame: Frame, repos: Sequence[RepoRef]) -> tuple[RepoRef, str] | None:
    """The repository file of a frame, by longest common path suffix; None when unknown or ambiguous."""
    hint = frame_path_hint(frame)
    if not hint:
        return None
    parts = [p for p in hint.split("/") if p]
    base = parts[-1]
    best: list[tuple[int, int, RepoRef, str]] = []
    for repo in repos:
        for cand in _repo_index(repo.root).get(base, ()):
            cparts = cand.split("/")
            n = 0
            while n < min(len(parts), len(cparts)) and parts[-1 - n] == cparts[-1 - n]:
                n += 1
            test_penalty = 1 if re.search(r"(?:^|/)(?:tests?|src/test)/", cand) else 0
            best.append((n, -test_penalty, repo, cand))
    if not best:
        return None
    n = max(b[0] for b in best)
    ties = [b for b in best if b[0] == n]
    if len(ties) > 1:
        ties = [b for b in ties if b[1] == 0]  # several equally good: the one outside tests/, if unique
    if n == 0 or len(ties) != 1 or (n == 1 and base in _GENERIC_NAMES):
        return None  # nothing, or several files (or only a generic file name) agree
    _, _, repo, cand = ties[0]
    return repo, cand


# --- reading files and blame ---------------------------------------------------------------

def _read_lines(repo: RepoRef, path: str, revision: str | None, cache: dict) -> list[str] | None:
    key = (repo.name, revision, path)
    if key in cache:
        return cache[key]
    text: str | None = None
    if revision:
        text = show_file(repo.root, revision, path, max_bytes=_MAX_FILE_BYTES)
    else:
        full = (repo.root / path).resolve()
        try:
            if full.is_relative_to(repo.root.resolve()) and full.is_file() and full.stat().st_size <= _MAX_FILE_BYTES:
                text = full.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = None
    cache[key] = None if text is None else text.splitlines()
    return cache[key]


def _blame(repo: RepoRef, path: str, ranges: list[tuple[int, int]], revision: str | None) -> dict[int, BlameLine]:
    return git_blame(repo.root, path, ranges, revision, timeout=60)


def _head(repo: RepoRef) -> str | None:
    return git_head(repo.root)


def _find_revision(repo: RepoRef, frames: list[ResolvedFrame], before: datetime | None, cache: dict) -> str | None:
    """The newest commit whose files show the trace's own source lines at the frames' lines."""
    checks = [(rf.path, rf.frame.line, rf.frame.source) for rf in frames if rf.frame.source and rf.frame.line and rf.path]
    if not checks or not (repo.root / ".git").exists():
        return None
    try:
        commits = [c.sha for c in git_log(repo.root, paths=sorted({p for p, _, _ in checks}), max_count=60,
                                          before=before, files=False, timeout=30)]
    except GitError:
        return None
    best, best_hits = None, 0
    for sha in commits:
        hits = 0
        for path, line, source in checks:
            lines = _read_lines(repo, path, sha, cache)
            if lines and 0 < line <= len(lines) and lines[line - 1].strip() == source.strip():
                hits += 1
        if hits == len(checks):
            return sha
        if hits > best_hits:
            best, best_hits = sha, hits
    return best if best_hits * 2 > len(checks) else None


# --- resolution ---------------------------------------------------------------------------

def resolve_frames(stack: StackTrace, repos: Iterable[Any], window_start: datetime | None = None,
                   window_end: datetime | None = None, *, context_lines: int = 5, revision: str | None = None,
                   max_frames: int = 40, blame: bool = True) -> ResolvedStack:
    """Map every in-app frame of ``stack`` (and its causes) to a repo file; read context and blame.

    ``repos``: ``RepoSource`` objects (``knowledge.sources.list_repos``), ``RepoRef`` or paths.
    ``revision``: the commit or tag that was running (else the working tree, or the newest
    commit matching the trace's own source lines when the working tree does not).
    ``window_start`` bounds that search: code committed after the incident began did not run.

    >>> resolve_frames(StackTrace("python", "ValueError", "x", []), []).frames
    []
    """
    refs = as_repos(repos)
    cache: dict = {}
    frames: list[ResolvedFrame] = []
    seen: set[tuple] = set()
    for depth, st in enumerate(stack.chain()):
        for index, frame in enumerate(st.frames):
            rf = ResolvedFrame(frame, index, depth)
            key = (frame.file, frame.line, frame.function, frame.class_)
            if frame.in_app and refs and key not in seen and len(seen) < max_frames:
                seen.add(key)
                hit = map_frame(frame, refs)
                if hit:
                    rf.repo, rf.path = hit[0].name, hit[1]
            frames.append(rf)
    resolved = ResolvedStack(stack, frames)
    by_repo: dict[str, list[ResolvedFrame]] = {}
    for rf in frames:
        if rf.path:
            by_repo.setdefault(rf.repo, []).append(rf)
    for repo in refs:
        mine = by_repo.get(repo.name)
        if not mine:
            continue
        rev = check_rev(revision) if revision else None
        if rev is None:
            # does the working tree still hold the code that ran?
            stale = [rf for rf in mine if rf.frame.source and rf.frame.line
                     and not _line_is(_read_lines(repo, rf.path, None, cache), rf.frame.line, rf.frame.source)]
            if stale:
                rev = _find_revision(repo, mine, window_start, cache)
        resolved.revisions[repo.name] = rev
        shown = rev or _head(repo)
        ranges: dict[str, list[tuple[int, int]]] = {}
        for rf in mine:
            rf.revision, rf.commit = rev, shown
            lines = _read_lines(repo, rf.path, rev, cache)
            if not lines or not rf.frame.line or rf.frame.line > len(lines):
                continue
            a, b = max(1, rf.frame.line - context_lines), min(len(lines), rf.frame.line + context_lines)
            rf.context = [(k, lines[k - 1]) for k in range(a, b + 1)]
            if rf.frame.source:
                rf.source_matches = lines[rf.frame.line - 1].strip() == rf.frame.source.strip()
            ranges.setdefault(rf.path, []).append((a, b))
        if blame:
            for path, rs in ranges.items():
                got = _blame(repo, path, rs, rev)
                for rf in mine:
                    if rf.path == path and rf.context:
                        rf.blame = {k: got[k] for k, _ in rf.context if k in got}
    return resolved


def _line_is(lines: list[str] | None, line: int, source: str) -> bool:
    return bool(lines) and 0 < line <= len(lines) and lines[line - 1].strip() == source.strip()


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
        for k, bl in rf.blame.items():
            touch = 1.0 if k == line else 0.35 * (1 - abs(k - line) / span)
            if touch > best.get(bl.commit, (0.0, 0))[0]:
                best[bl.commit] = (touch, k)
        for sha, (touch, k) in best.items():
            bl = rf.blame[k]
            entry = per.setdefault((rf.repo, sha), {"blame": bl, "score": 0.0, "exact": [], "near": []})
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


def rank_suspects(stacks: StackTrace | Sequence[StackTrace], resolved: Sequence[ResolvedStack] = (),
                  limit: int = 10) -> list[Suspect]:
    """Suspect classes/modules for one or several traces of the same failure, best first.

    From the traces: the crash site's unit first and callers after it (weight 0.75 per
    step; root causes before the exceptions wrapping them), in-app frames only (all frames
    when none is), test code demoted to a tenth, and the unit a failing test class is named
    after added (``FooTest`` → ``Foo``). From ``resolved`` stacks: a bonus for units whose
    frame lines were changed recently (blame).
    """
    stacks = [stacks] if isinstance(stacks, StackTrace) else list(stacks)
    units: dict[tuple[str, str, str | None], dict[str, Any]] = {}

    def unit(key: tuple[str, str, str | None]) -> dict[str, Any]:
        return units.setdefault(key, {"weights": [], "tested": 0.0, "frame": None, "best": 0.0, "reasons": []})

    def note(u: dict[str, Any], reason: str) -> None:
        if reason not in u["reasons"]:
            u["reasons"].append(reason)

    for st in stacks:
        for depth, exc in enumerate(reversed(st.chain())):  # root cause first
            frames = [f for f in exc.frames if f.in_app and (f.function or f.file)] or list(exc.frames)
            tests = [f for f in frames if looks_like_test(f)]
            test_ids = {id(f) for f in tests}
            step = 0
            for f in frames:
                u = unit(_unit(f))
                test = id(f) in test_ids
                weight = (0.75 ** step) * (0.8 ** depth) * (0.1 if test else 1.0)
                u["weights"].append(weight)
                if weight > u["best"]:
                    u["frame"], u["best"] = f, weight
                if test:
                    note(u, "test code")
                    tested = _tested_unit(f)
                    if tested:
                        # the outermost test frame is the test that ran; inner ones are its helpers
                        t = unit(tested)
                        t["tested"] = max(t["tested"], (0.6 if f is tests[-1] else 0.25) * (0.8 ** depth))
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
        weights = sorted(u["weights"], reverse=True) or [0.0]
        # frame evidence (the best frame, more frames add a little) plus the test-name evidence
        score = weights[0] + 0.25 * min(sum(weights[1:]), 1.0) + u["tested"]
        reasons = list(u["reasons"])
        if key in bonus:
            score += bonus[key][0]
            reasons.append(bonus[key][1])
        if len(weights) > 1:
            reasons.append(f"{len(weights)} frames")
        f = u["frame"]
        out.append(Suspect(key[1], key[0], f.function if f else None, f.file if f else None, f.line if f else None,
                           score, "; ".join(reasons)))
    out.sort(key=lambda s: (-s.score, s.name))
    top = out[0].score if out else 1.0
    for s in out:
        s.score = s.score / top if top else 0.0
    return out[:limit]


# --- one call for the CLI and the pages -----------------------------------------------------

@dataclass
class FrameReport:
    """Everything ``crashlens frames`` and the stack view show for one input text."""

    stacks: list[StackTrace]
    resolved: list[ResolvedStack]
    suspects: list[Suspect]
    commits: list[SuspectCommit]

    @property
    def stack(self) -> StackTrace:
        return self.stacks[0]

    def to_json(self, commits: bool = False, chain: bool = False) -> dict[str, Any]:
        """The ``frames --json`` contract: language, exception, message, frames, suspects.

        ``commits`` adds the ranked suspect commits, ``chain`` the causes (``cause``, nested).
        """
        st = self.stack
        out: dict[str, Any] = {"language": st.language, "exception": st.exception, "message": st.message,
                               "frames": [f.to_dict() for f in st.frames],
                               "suspects": [s.to_dict() for s in self.suspects]}
        if commits:
            out["commits"] = [c.to_dict() for c in self.commits]
        if chain:
            out["cause"] = st.cause.to_dict() if st.cause else None
        return out


def split_prefixes(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Comma-separated (or listed) in-app prefixes, blanks dropped."""
    items = text.split(",") if isinstance(text, str) else list(text or ())
    return tuple(p.strip() for p in items if p and p.strip())


def analyze(text: str, repos: Iterable[Any] = (), window_start: datetime | None = None, window_end: datetime | None = None,
            *, revision: str | None = None, context_lines: int = 5, in_app_include: Sequence[str] = (),
            in_app_exclude: Sequence[str] = (), limit: int = 10) -> FrameReport:
    """Parse every trace in ``text``, resolve the first against ``repos``, rank suspects and commits.

    Suspect locations use all traces in the text (several failing tests of one bug agree);
    frames, context and commits are those of the first trace. Raises ``InputError`` when the
    text holds no stack trace.
    """
    from ..errors import InputError
    from ..signals.stacks import extract_stacks

    stacks = extract_stacks(text, in_app_include, in_app_exclude)
    if not stacks:
        raise InputError("no stack trace found in the input",
                         hint="give a Python, Java, JavaScript/Node, Go or .NET stack trace, e.g. `crashlens frames crash.txt`")
    refs = as_repos(repos)
    resolved = [resolve_frames(stacks[0], refs, window_start, window_end, context_lines=context_lines,
                               revision=revision)] if refs else []
    commits = suspect_commits(resolved[0], window_start, window_end, limit=limit) if resolved else []
    return FrameReport(stacks, resolved, rank_suspects(stacks, resolved, limit=limit), commits)
