"""What RCA keeps of a stack trace: the root cause's frames, its crash site and the exception chain.

Parsing is ``signals.stacks``'s (the one stack parser, also behind the Incidents page and
``crashlens frames``), with the ``frames_in_app`` / ``frames_not_in_app`` settings applied, so
RCA evidence names the same crash site the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..knowledge.frames import split_prefixes
from ..signals.stacks import Frame, looks_like_test, parse_stack

__all__ = ["StackFacts", "stack_facts"]


@dataclass
class StackFacts:
    """What RCA keeps of a stack trace: the root cause's frames and where the failure was raised.

    ``frames`` are the root cause's, innermost first, in the ``crashlens frames --json`` shape;
    ``location`` is ``file:function:line`` of its innermost in-app frame (the crash site the
    Incidents page shows); ``exception`` is the root cause's ``Type: message`` and ``chain`` the
    exception types from the outermost wrapper down to the root cause.
    """

    frames: list[dict[str, Any]] = field(default_factory=list)
    location: str = ""
    exc_type: str | None = None
    exception: str = ""
    chain: list[str] = field(default_factory=list)
    language: str | None = None


def stack_facts(text: str, settings: Settings) -> StackFacts:
    """Parse ``text`` with ``signals.stacks`` (the one stack parser), honouring the in-app settings.

    >>> f = stack_facts("boom\\njava.lang.RuntimeException: wrap\\n\\tat com.a.B.c(B.java:3)\\n"
    ...                 "Caused by: java.io.IOException: disk\\n\\tat com.a.D.e(D.java:9)", Settings())
    >>> f.exc_type, f.location, f.chain
    ('java.io.IOException', 'D.java:D.e:9', ['java.lang.RuntimeException', 'java.io.IOException'])
    """
    st = parse_stack(text or "", split_prefixes(settings.frames_in_app), split_prefixes(settings.frames_not_in_app))
    if st is None:
        return StackFacts()
    chain = st.chain()
    # The root cause is what broke; a wrapper only reports it. A cause printed without frames of
    # its own (Java's "... 3 more" is all copied) still names the failure; its frames then come
    # from the nearest wrapper that has some.
    root = chain[-1]
    framed = next((e for e in reversed(chain) if e.frames), root)
    frames = [f.to_dict() for f in framed.frames]
    return StackFacts(frames, _crash_site(framed.frames), root.exception,
                      f"{root.exception or ''}{': ' if root.exception and root.message else ''}{root.message or ''}".strip(),
                      [e.exception or "?" for e in chain], st.language)


def _crash_site(frames: list[Frame]) -> str:
    """``file:function:line`` of the innermost in-app frame that is not test code (as the
    Incidents page ranks the crash site), else the innermost in-app one, else the innermost."""
    app = [f for f in frames if f.in_app]
    pick = next((f for f in app if not looks_like_test(f)), None) or (app[0] if app else (frames[0] if frames else None))
    if pick is None:
        return ""
    function = ".".join(p for p in (pick.class_, pick.function) if p) or "?"
    return f"{pick.file or pick.module or '?'}:{function}:{pick.line if pick.line is not None else '?'}"
