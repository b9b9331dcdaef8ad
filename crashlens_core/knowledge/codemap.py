"""Stack frames to code: repo paths, source context at the revision that ran, and blame.

What Sentry does with a stack trace, offline:

- **Code mapping** (``map_frame``): a frame's path (``/app/shop/payments.py``, Java's
  ``com/acme/Shop.java`` from package + file, a bundle URL) is matched to a file of a known
  repository by the longest common path suffix, as Sentry's code mappings do without asking
  for the stack root.
- **Source context** (``resolve_frames``): ±N lines around every in-app frame, read at the
  revision that was running. When the trace carries its own source lines (Python does) and
  they differ from the working tree, the newest commit whose files match them is used, so
  a reverted or since-fixed bug is shown as it ran.
- **Blame**: one blame per file for all frame windows, honouring ``.git-blame-ignore-revs``
  (mass reformatting commits are looked through).

Every git call goes through ``knowledge.gitrepo`` (GitPython in the ``gitsafe`` sandbox).
Ranking what was resolved is ``knowledge.suspects``.

>>> frame_path_hint(Frame("com.acme.shop", "Cart$1", "run", "Cart.java", 3))
'com/acme/shop/Cart.java'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..signals.stacks import Frame, StackTrace
from .gitrepo import BlameLine, blame as git_blame, head as git_head, log as git_log, show_file
from .gitsafe import GitError, check_rev

__all__ = ["RepoRef", "BlameLine", "ResolvedFrame", "ResolvedStack", "as_repos", "frame_path_hint", "map_frame",
           "resolve_frames"]

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
        if rf.path and rf.repo:  # map_frame sets both or neither
            by_repo.setdefault(rf.repo, []).append(rf)
    for repo in refs:
        mine = by_repo.get(repo.name)
        if not mine:
            continue
        rev = check_rev(revision) if revision else None
        if rev is None:
            # does the working tree still hold the code that ran?
            stale = [rf for rf in mine if rf.path and rf.frame.source and rf.frame.line
                     and not _line_is(_read_lines(repo, rf.path, None, cache), rf.frame.line, rf.frame.source)]
            if stale:
                rev = _find_revision(repo, mine, window_start, cache)
        resolved.revisions[repo.name] = rev
        shown = rev or _head(repo)
        ranges: dict[str, list[tuple[int, int]]] = {}
        for rf in mine:
            rf.revision, rf.commit = rev, shown
            if rf.path is None:  # never: by_repo holds only frames mapped to a file
                continue
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
    return lines is not None and 0 < line <= len(lines) and lines[line - 1].strip() == source.strip()
