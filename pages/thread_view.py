"""An incident's owner and comment thread on the Incidents page: assign, comment, read the history.

Not a page of its own: the Incidents page calls ``render_thread``. Comments, names and notes are
typed by people (or arrive over the REST API): shown with ``st.text`` and escaped captions, never
as Markdown or HTML.
"""

from __future__ import annotations

import streamlit as st

from pages import common
from crashlens_core.errors import CrashLensError
from crashlens_core.models import Incident
from crashlens_core.store import Workspace
from crashlens_core.store.incidents import event_summary

__all__ = ["render_thread"]


def render_thread(ws: Workspace, inc: Incident, actor: str | None) -> None:
    """The assign and comment forms (``actor``: the "Your name" given above), then the history, oldest first."""
    left, right = st.columns(2)
    with left.form("inc_assign_form", border=True):
        owner = st.text_input("Owner", value=inc.owner or "", key="inc_owner",
                              placeholder="who works on it (empty: nobody)", disabled=inc.read_only)
        if st.form_submit_button("Assign", icon=":material/person:", disabled=inc.read_only):
            try:
                ws.assign_incident(inc.id, owner, actor=actor)
                st.rerun()
            except CrashLensError as exc:
                common.show_error(exc)
    with right.form("inc_comment_form", border=True, clear_on_submit=True):
        text = st.text_area("Comment", key="inc_comment", height=90, disabled=inc.read_only,
                            placeholder="what you found or did; kept in the history (and in the signed bundle, redacted)")
        if st.form_submit_button("Add comment", icon=":material/chat:", disabled=inc.read_only):
            try:
                ws.comment_incident(inc.id, text, actor=actor)
                st.rerun()
            except CrashLensError as exc:
                common.show_error(exc)
    if inc.read_only:
        st.caption("Imported from a bundle: read-only; comment in the workspace it came from.")

    events = ws.incident_events(inc.id)
    comments = sum(1 for e in events if e.get("kind") == "comment")
    st.caption(f"{comments} comment{'s' if comments != 1 else ''} · {len(events)} history entries, oldest first")
    for ev in events:
        when = f"{ev['ts']:%Y-%m-%d %H:%M:%S} UTC"
        if ev.get("kind") == "comment":
            with st.container(border=True):
                st.caption(common.inert(f"{ev.get('actor') or 'someone'} commented · {when}"))
                st.text(ev.get("note") or "")
        else:
            st.caption(common.inert(f"{when} · {event_summary(ev)}"))
