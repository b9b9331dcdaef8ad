"""Reading a repository's history through GitPython: log, blame, file contents, diffs, HEAD.

The one place the knowledge code asks git about history. Every call opens the working tree
with ``gitsafe.open_repo`` (GitPython's ``Repo`` whose children run in the sandbox: scrubbed
environment, no hooks, time and output limits) and keeps GitPython's unsafe-option guards on.
Revisions from users are checked with ``gitsafe.check_rev``; paths go after ``--``.

- ``log``: commits (sha, author, time, summary, parents, files) newest first, one git call for
  any number of commits, so whole histories can be read;
- ``blame``: the last commit of every line in some line ranges of a file (``git blame
  --incremental`` parsed by GitPython), looking through ``.git-blame-ignore-revs``;
- ``show_file`` / ``commit_diff`` / ``head``;
- ``log_diffs``: the unified diff of every commit of a history in one git call (change events).

>>> import tempfile
>>> log(Path(tempfile.mkdtemp()))
[]
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from .gitsafe import GitError, check_rev, open_repo, translate_errors

__all__ = ["CommitInfo", "BlameLine", "log", "blame", "show_file", "commit_diff", "log_diffs", "head", "ignore_revs"]

_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?")
_RS, _US = "\x1e", "\x1f"
_LOG_FORMAT = f"{_RS}%H{_US}%P{_US}%an{_US}%ae{_US}%at{_US}%s"


@dataclass(frozen=True)
class CommitInfo:
    """One commit as ``log`` reads it: ``time`` is the author time, naive UTC."""

    sha: str
    author: str
    email: str
    time: datetime
    summary: str
    parents: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "author": self.author, "email": self.email,
                "time": self.time.isoformat(timespec="seconds") + "Z", "summary": self.summary,
                "parents": list(self.parents), "files": list(self.files)}


@dataclass(frozen=True)
class BlameLine:
    """The commit that last changed one line; ``boundary``: the history ends there (root or shallow)."""

    commit: str
    author: str
    email: str
    time: datetime  # naive UTC
    summary: str
    boundary: bool = False


def _utc(ts: int | float) -> datetime:
    return datetime.fromtimestamp(int(ts), timezone.utc).replace(tzinfo=None)


def _has_git(root: Path) -> bool:
    return (Path(root) / ".git").exists()


def log(root: Path, rev: str | None = None, paths: Sequence[str] = (), *, max_count: int | None = None,
        before: datetime | None = None, after: datetime | None = None, files: bool = True,
        timeout: float = 60) -> list[CommitInfo]:
    """Commits reachable from ``rev`` (HEAD) touching ``paths`` (all), newest first; [] without history.

    ``before``/``after`` bound the commit time (naive = UTC); ``files`` lists the paths each
    commit changed (merges list none, as ``git log`` shows them).
    """
    if not _has_git(root):
        return []
    args: list[str] = ["-z", f"--format={_LOG_FORMAT}"]
    if files:
        args.append("--name-only")
    if max_count is not None:
        args.append(f"--max-count={int(max_count)}")
    if before is not None:
        args.append(f"--before={_iso(before)}")
    if after is not None:
        args.append(f"--after={_iso(after)}")
    if rev:
        args.append(check_rev(rev))
    args += ["--", *paths]
    repo = open_repo(root, timeout=timeout)
    try:
        with translate_errors(repo.git):
            out = repo.git.log(*args)
    except GitError as exc:
        if "does not have any commits" in exc.message or "bad default revision" in exc.message:
            return []  # an empty repository has no history, which is not an error
        raise
    finally:
        repo.close()
    return _parse_log(out)


def _iso(t: datetime) -> str:
    return (t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t).isoformat(timespec="seconds") + "Z"


def _parse_log(out: str) -> list[CommitInfo]:
    commits = []
    for record in out.split(_RS)[1:]:
        head, _, rest = record.partition("\0")
        fields = head.split(_US)
        if len(fields) != 6:
            continue
        sha, parents, author, email, ts, summary = fields
        names = tuple(p.strip("\n") for p in rest.split("\0") if p.strip("\n"))
        commits.append(CommitInfo(sha, author, email, _utc(int(ts or 0)), summary, tuple(parents.split()), names))
    return commits


def ignore_revs(root: Path) -> list[str]:
    """The well-formed commit ids of the repo's ``.git-blame-ignore-revs``.

    git refuses the whole blame on one malformed line, so only full hex ids are passed on.
    """
    f = Path(root) / ".git-blame-ignore-revs"
    if not f.is_file():
        return []
    return [ln.strip() for ln in f.read_text(encoding="utf-8", errors="replace").splitlines()
            if _FULL_SHA.fullmatch(ln.strip())]


def blame(root: Path, path: str, ranges: Iterable[tuple[int, int]], rev: str | None = None, *,
          timeout: float = 60) -> dict[int, BlameLine]:
    """line number -> the commit that last changed it, for the lines in ``ranges`` of ``path``.

    Commits listed in ``.git-blame-ignore-revs`` are looked through (passed as
    ``blame.ignoreRevsFile``). ``{}`` when the file, revision or history is missing.
    """
    merged = merge_ranges(list(ranges))
    if not merged or not _has_git(root):
        return {}
    kwargs: dict[str, Any] = {"L": [f"{a},{b}" for a, b in merged]}
    skip = ignore_revs(root)
    config: list[tuple[str, str]] = []
    tmp = None
    if skip:
        # GitPython's guard refuses --ignore-rev(s-file) (a file option can read any file); our
        # own file of checked ids goes in as command-scope config instead, the guard stays on
        fd, tmp = tempfile.mkstemp(prefix="crashlens-ignore-revs-")
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(skip) + "\n")
        config.append(("blame.ignoreRevsFile", tmp))
    repo = open_repo(root, timeout=timeout, extra_config=config)
    result: dict[int, BlameLine] = {}
    try:
        with translate_errors(repo.git):
            entries = list(repo.blame_incremental(check_rev(rev) if rev else None, path, **kwargs))
        boundary: dict[str, bool] = {}
        for entry in entries:
            c = entry.commit
            sha = c.hexsha
            if sha not in boundary:
                # a commit without parents is where the history (or a shallow clone) ends:
                # it "touched" every line it contains
                boundary[sha] = not c.parents
            bl = BlameLine(sha, c.author.name or "", (c.author.email or "").strip("<>"), _utc(c.authored_date),
                           c.summary if isinstance(c.summary, str) else c.summary.decode("utf-8", "replace"),
                           boundary[sha])
            for k in entry.linenos:
                result[k] = bl
    except GitError:
        return {}
    finally:
        repo.close()
        if tmp:
            os.unlink(tmp)
    return result


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching line ranges merged, sorted.

    >>> merge_ranges([(8, 10), (1, 5), (4, 7)])
    [(1, 10)]
    """
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def show_file(root: Path, rev: str, path: str, *, max_bytes: int = 4 * 2**20, timeout: float = 30) -> str | None:
    """The text of ``path`` at ``rev``; None when it is not there or larger than ``max_bytes``.

    Read as a blob through GitPython's object database (``git cat-file --batch``): the raw
    bytes of the commit, no textconv or filter a repository could configure.
    """
    if not _has_git(root):
        return None
    import git

    repo = open_repo(root, timeout=timeout)
    try:
        with translate_errors(repo.git):
            obj = repo.commit(check_rev(rev)).tree / path
            if obj.type != "blob" or obj.size > max_bytes:
                return None
            return obj.data_stream.read().decode("utf-8", "replace")
    except (GitError, KeyError, ValueError, git.BadName, git.BadObject):
        return None
    finally:
        repo.close()


def commit_diff(root: Path, sha: str, paths: Sequence[str] = (), *, max_bytes: int = 2**20, timeout: float = 30) -> str:
    """The unified diff a commit made (to ``paths`` only, when given)."""
    repo = open_repo(root, timeout=timeout, max_output=max_bytes)
    try:
        with translate_errors(repo.git):
            return repo.git.show(check_rev(sha), "--format=", "--patch", "--no-color", "--no-ext-diff", "--", *paths)
    finally:
        repo.close()


def log_diffs(root: Path, rev: str | None = None, *, max_count: int | None = None, max_chars: int = 20_000,
              max_output: int = 64 * 2**20, timeout: float = 120) -> dict[str, str]:
    """sha -> the unified diff the commit made (merges: none, as `git log -p` shows them), for the commits ``log``
    lists with the same ``rev``/``max_count``; each diff cut at ``max_chars`` (a mass rename
    must not drown a history). One ``git log --patch`` call, no external diff or textconv
    (a repository could configure one to run a program). ``{}`` without history.
    """
    if not _has_git(root):
        return {}
    args: list[str] = [f"--format={_RS}%H", "--patch", "--no-color", "--no-ext-diff", "--no-textconv"]
    if max_count is not None:
        args.append(f"--max-count={int(max_count)}")
    if rev:
        args.append(check_rev(rev))
    args.append("--")
    repo = open_repo(root, timeout=timeout, max_output=max_output)
    try:
        with translate_errors(repo.git):
            out = repo.git.log(*args)
    except GitError as exc:
        if "does not have any commits" in exc.message or "bad default revision" in exc.message:
            return {}
        raise
    finally:
        repo.close()
    diffs: dict[str, str] = {}
    for record in out.split(_RS)[1:]:
        sha, _, diff = record.partition("\n")
        diff = diff.strip("\n")
        diffs[sha.strip()] = diff if len(diff) <= max_chars else diff[:max_chars] + "\n… (diff cut)"
    return diffs


def head(root: Path, *, timeout: float = 30) -> str | None:
    """The commit checked out in ``root``, or None when it has no git history."""
    if not _has_git(root):
        return None
    try:
        repo = open_repo(root, timeout=timeout)
    except GitError:
        return None
    try:
        with translate_errors(repo.git):
            return repo.git.rev_parse("--verify", "-q", "HEAD^{commit}").strip() or None
    except GitError:
        return None
    finally:
        repo.close()
