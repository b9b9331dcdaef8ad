"""Stack view: a stack trace with source context, blame and suspects (not a page of its own).

The Incidents page calls ``render_stack`` for each fingerprint's example trace. Everything
from the trace or the repository (messages, code, commit summaries, author names) is shown
inert: st.code, st.text, st.dataframe, and markdown-escaped labels.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from crashlens_core.config import Settings
from crashlens_core.errors import CrashLensError
from crashlens_core.knowledge.chunking import LANGUAGES
from crashlens_core.knowledge.frames import FrameReport, analyze, split_prefixes
from crashlens_core.knowledge.sources import list_repos
from pages import common

__all__ = ["render_stack"]

def _language(path: str | None) -> str | None:
    """The highlighter language of a source file: the same extension map the indexer chunks by."""
    if not path or "." not in path:
        return None
    return LANGUAGES.get("." + path.rsplit(".", 1)[-1].lower())


def render_stack(ws, settings: Settings, stack_text: str, window_start: datetime | None = None,
                 window_end: datetime | None = None, key: str = "stack") -> FrameReport | None:
    """Draw the trace in ``stack_text``: exception, in-app frames with code and blame, suspects, commits.

    Repositories are the workspace's (``knowledge.sources.list_repos``); ``window_*`` is the
    incident window suspect commits are ranked against. Returns the report (None on error).
    """
    try:
        report = analyze(stack_text, list_repos(ws), window_start, window_end,
                         context_lines=settings.frames_context_lines,
                         in_app_include=split_prefixes(settings.frames_in_app),
                         in_app_exclude=split_prefixes(settings.frames_not_in_app))
    except CrashLensError as exc:
        common.show_error(exc)
        return None
    resolved = {(rf.depth, rf.index): rf for rs in report.resolved for rf in rs.frames}
    for depth, exc in enumerate(report.stack.chain()):
        st.caption(("Caused by · " if depth else "") + f"{exc.language} exception")
        st.code(f"{exc.exception or '(no exception type)'}: {exc.message}".rstrip(": "), language=None)
        library: list[str] = []
        for index, frame in enumerate(exc.frames):
            where = f"{frame.file or '?'}:{frame.line or '?'}"
            if not frame.in_app:
                library.append(f"{frame.qualified() or '?'}  ({where})")
                continue
            rf = resolved.get((depth, index))
            label = f"{frame.qualified() or '?'} · {where}"
            with st.expander(common.inert(label), expanded=index == 0 and depth == len(report.stack.chain()) - 1,
                             icon=":material/code:", key=f"{key}_frame_{depth}_{index}"):
                if rf is not None and rf.context:
                    width = len(str(rf.context[-1][0]))
                    code = "\n".join(f"{'>' if n == frame.line else ' '} {n:>{width}}  {text}" for n, text in rf.context)
                    st.code(code, language=_language(rf.path))
                    st.caption(common.inert(f"{rf.repo} · {rf.path}" + (f" at {rf.revision[:10]}" if rf.revision else " (working tree)")
                                      + (f" · evidence {rf.evidence_id()}" if rf.evidence_id() else "")))
                    bl = rf.line_blame
                    if bl is not None:
                        st.text(f"line {frame.line} last changed by {bl.commit[:10]} · {bl.author} · "
                                f"{bl.time:%Y-%m-%d %H:%M} UTC · {bl.summary}")
                elif frame.source:
                    st.code(frame.source, language=_language(frame.file))
                    st.caption("No repository file matches this frame: the line is the one the trace printed.")
                else:
                    st.caption("No repository file matches this frame; add the repository on the Knowledge page.")
        if library:
            with st.expander(f"{len(library)} library frames", icon=":material/layers:", key=f"{key}_library_{depth}"):
                st.text("\n".join(library))
    st.subheader("Suspects", anchor=False)
    st.dataframe([{"location": s.name, "function": s.function, "file": s.file, "line": s.line,
                   "score": round(s.score, 3), "why": s.why} for s in report.suspects],
                 hide_index=True, width="stretch", key=f"{key}_suspects")
    st.subheader("Suspect commits", anchor=False)
    if report.commits:
        st.dataframe([{"commit": c.commit[:10], "score": round(c.score, 3), "author": c.author,
                       "date": c.time.strftime("%Y-%m-%d"), "summary": c.summary, "why": c.why}
                      for c in report.commits], hide_index=True, width="stretch", key=f"{key}_commits")
    else:
        st.info("No repository matched the in-app frames, so there are no suspect commits.", icon=":material/info:")
    return report
