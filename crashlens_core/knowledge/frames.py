"""One call from a stack-trace text to everything the frames view shows: ``analyze``.

Parses every trace in the text, resolves the first against the repositories
(``knowledge.codemap``: code mapping, source context, blame) and ranks suspect locations
and commits (``knowledge.suspects``). The names of both modules are re-exported here, the
import path the CLI, the pages and RCA use.

>>> from crashlens_core.signals.stacks import parse_stack
>>> st = parse_stack("boom\\njava.lang.NullPointerException\\n\\tat com.acme.Cart.total(Cart.java:12)\\n\\tat com.acme.CartTest.testTotal(CartTest.java:30)")
>>> [(s.name, s.function) for s in rank_suspects([st])][:2]
[('com.acme.Cart', 'total'), ('com.acme.CartTest', 'testTotal')]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

from ..signals.stacks import StackTrace
from .codemap import BlameLine, RepoRef, ResolvedFrame, ResolvedStack, as_repos, frame_path_hint, map_frame, resolve_frames
from .suspects import Suspect, SuspectCommit, rank_suspects, suspect_commits

__all__ = ["RepoRef", "BlameLine", "ResolvedFrame", "ResolvedStack", "SuspectCommit", "Suspect",
           "FrameReport",
           "as_repos", "map_frame", "resolve_frames", "suspect_commits", "rank_suspects", "frame_path_hint", "analyze",
           "split_prefixes"]

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
