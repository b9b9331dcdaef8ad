"""A repository's history as change events (``crashlens ingest changes --format git PATH``).

Reads commits (sha, parents, author, time, summary, files) and each commit's diff through
``gitrepo`` (GitPython in the ``gitsafe`` sandbox: scrubbed environment, no hooks, no external
diff or textconv, GitPython's unsafe-option guards on) and hands them to ``ingest.changes`` as
records of kind ``commit``. ``record_history`` is what ``crashlens index repo`` (and ``index sync``)
call after indexing a tree with history: the same records through the same ingest, so suspect
commits come from one table however the repository arrived. The content identity of a history is its path and HEAD: the same
history twice adds nothing, new commits make a new batch (old events are not stored twice).

>>> import tempfile
>>> read_git_changes(tempfile.mkdtemp())
Traceback (most recent call last):
...
crashlens_core.errors.InputError: ... is not a git working tree (no .git)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..errors import CrashLensError, InputError
from ..ingest.changes import ingest_change_file
from ..store import Workspace
from . import gitrepo

__all__ = ["read_git_changes", "git_reader", "record_history"]

DEFAULT_MAX_COMMITS = 2000  # a deploy window is hours or days; older history adds noise, not evidence


def read_git_changes(path: str, *, service: str | None = None, max_count: int = DEFAULT_MAX_COMMITS,
                     rev: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(content identity, commit records newest first) of the repository at ``path``."""
    root = Path(path).resolve()
    if not (root / ".git").exists():
        raise InputError(f"{path} is not a git working tree (no .git)", hint="give the folder a `git clone` made")
    head = gitrepo.head(root)
    if head is None:
        return hashlib.sha256(f"git:{root}:empty".encode()).hexdigest(), []
    commits = gitrepo.log(root, rev, max_count=max_count)
    diffs = gitrepo.log_diffs(root, rev, max_count=max_count)
    records = []
    for c in commits:
        records.append({"ts": c.time.isoformat() + "Z", "kind": "commit", "commit": c.sha, "author": c.author,
                        "email": c.email, "summary": c.summary, "files": list(c.files), "diff": diffs.get(c.sha) or None,
                        "parents": list(c.parents), "repository": root.name,
                        **({"service": service} if service else {})})
    identity = hashlib.sha256(f"git:{root}:{rev or 'HEAD'}:{head}:{service or ''}:{max_count}".encode()).hexdigest()
    return identity, records


def git_reader(service: str | None = None, max_count: int = DEFAULT_MAX_COMMITS):
    """A ``GitReader`` for ``ingest.changes`` (path → identity and records)."""
    def read(path: str) -> tuple[str, list[dict[str, Any]]]:
        return read_git_changes(path, service=service, max_count=max_count)

    return read


def record_history(ws: Workspace, root: Path, *, max_count: int = DEFAULT_MAX_COMMITS) -> dict[str, Any]:
    """Record the history of the working tree at ``root`` as commit change events, as
    ``crashlens ingest changes --format git`` does; the same HEAD again adds nothing.

    Returns ``{loaded, added_note, skipped, batch_id}``; a history that cannot be read is
    reported as ``{"error": …}`` instead of raised (the index itself is already stored).
    """
    try:
        report = ingest_change_file(ws, str(root), "git", git_reader=git_reader(max_count=max_count))
    except CrashLensError as exc:
        return {"loaded": 0, "skipped": False, "batch_id": None, "error": exc.one_line()}
    return {"loaded": report.loaded, "skipped": report.skipped, "batch_id": report.batch_id, "note": report.note}
