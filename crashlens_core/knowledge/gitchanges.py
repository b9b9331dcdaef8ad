"""A repository's history as change events (``crashlens ingest changes --format git PATH``).

Reads commits (sha, parents, author, time, summary, files) and each commit's diff through
``gitrepo`` (GitPython in the ``gitsafe`` sandbox: scrubbed environment, no hooks, no external
diff or textconv, GitPython's unsafe-option guards on) and hands them to ``ingest.changes`` as
records of kind ``commit``. The content identity of a history is its path and HEAD: the same
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

from ..errors import InputError
from . import gitrepo

__all__ = ["read_git_changes", "git_reader"]

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
