"""Incidents: the list (filter, select), and for the selected one its timeline, exception
fingerprints, new and elevated templates, baseline comparison, status workflow, owner and comment thread.

The selection lives in the URL (``?incident=ID``) so a link to an incident can be shared.
Every figure comes from an aggregated core call; log text is shown inert (st.code, tables).
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta

import plotly.graph_objects as go
import streamlit as st

from pages import common, reads
from pages.frames_view import render_stack
from pages.thread_view import render_thread
from crashlens_core.errors import CrashLensError
from crashlens_core.models import INCIDENT_STATUSES, SEVERITIES, STATUS_TRANSITIONS
from crashlens_core.rca.changes import LOOKBACK
from crashlens_core.signals.detect import detect_incidents
from crashlens_core.store import changes as change_store

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

LEVEL_COLORS = common.LEVEL_COLORS
# One colour and symbol per change kind (deploys blue, flags purple, config orange…), as Grafana colours annotations.
CHANGE_STYLE = {"deploy": ("#1e88e5", "triangle-down"), "rollback": ("#43a047", "triangle-up"), "flag": ("#8e24aa", "diamond"),
                "config": ("#fb8c00", "square"), "commit": ("#8d6e63", "circle"), "scale": ("#00897b", "star"),
                "infra": ("#546e7a", "hexagon"), "other": ("#9e9e9e", "x")}
ACTIONS = {"investigating": "Investigate", "rca_ready": "Mark RCA ready", "approved": "Approve", "resolved": "Resolve",
           "open": "Re-open"}

st.title("Incidents")
ws = common.workspace()
settings = common.settings()

# ------------------------------------------------------------------ list
@st.fragment(run_every=settings.live_refresh_s or None)
def incident_list() -> None:
    """Redrawn on its own, so incidents found by `crashlens ingest logs --follow` appear without a reload."""
    context = common.fragment_workspace()
    alone = not isinstance(context, nullcontext)  # this fragment's own rerun, not the whole page's
    with context:
        ws = common.workspace()
        incidents = reads.incidents(ws, limit=1000)
        top = st.columns([3, 3, 2, 2])
        f_status = top[0].multiselect("Status", INCIDENT_STATUSES, key="inc_f_status")
        all_services = sorted({s for i in incidents for s in i.services})
        f_services = top[1].multiselect("Service", all_services, key="inc_f_services")
        f_sev = top[2].multiselect("Severity", SEVERITIES, key="inc_f_sev")
        with top[3]:
            st.write("")
            if st.button("Detect incidents", key="inc_detect", icon=":material/radar:", width="stretch",
                         help="Look for error and latency bursts in everything ingested and open an incident per burst group"):
                try:
                    with st.spinner("Looking for bursts…"):
                        report = detect_incidents(ws, common.settings(), actor="analyst")
                    st.toast(f"{len(report.bursts)} bursts, {len(report.created)} new incidents")
                    incidents = reads.incidents(ws, limit=1000)
                except CrashLensError as exc:
                    common.show_error(exc)

    shown = [i for i in incidents
             if (not f_status or i.status in f_status) and (not f_sev or i.severity in f_sev)
             and (not f_services or set(i.services) & set(f_services))]

    if not incidents:
        st.info("No incidents yet. Ingest logs and spans (Logs page) — detection runs after every ingest — or build the "
                "demo workspace with `crashlens demo`.", icon=":material/lightbulb:")
        st.stop()

    rows = [{"id": i.id[:8], "title": i.title, "status": i.status, "severity": i.severity, "owner": i.owner or "",
             "services": ", ".join(i.services),
             "window start (UTC)": i.window_start, "minutes": round((i.window_end - i.window_start).total_seconds() / 60, 1)
             if i.window_start and i.window_end else None, "source": i.source} for i in shown]
    ids = [i.id for i in shown]
    if ids != st.session_state.get("_inc_shown_ids") or "inc_table" not in st.session_state:
        # The rows moved (new incidents on top, filters) or the table is new: a selection is a row
        # index, so point it at the incident in the URL again.
        current = st.query_params.get("incident")
        st.session_state["inc_table"] = {"selection": {"rows": [ids.index(current)] if current in ids else [],
                                                       "columns": [], "cells": []}}
    st.session_state["_inc_shown_ids"] = ids
    # Up to 15 incidents show without scrolling inside the table (35 px a row, plus the header).
    event = st.dataframe(rows, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key="inc_table", height=38 + 35 * min(max(len(rows), 1), 15))
    picked = event.selection.rows if event and event.selection else []
    if picked and shown[picked[0]].id != st.query_params.get("incident"):
        st.query_params["incident"] = shown[picked[0]].id
        if alone:  # a pick in this fragment's own rerun: the incident below is drawn by the whole page
            st.rerun()


incident_list()
selected_id = st.query_params.get("incident")
if not selected_id:
    st.caption("Select an incident in the table to see its timeline, fingerprints, templates and baseline comparison.")
    st.stop()
try:
    inc = reads.incident(ws, selected_id)
except CrashLensError as exc:
    common.show_error(exc)
    st.stop()

# ------------------------------------------------------------------ the incident
st.divider()
st.subheader(common.inert(inc.title), anchor=False)  # a title quotes log text: shown as written
meta = st.columns([1.6, 1, 1.6, 4])
meta[0].metric("Status", inc.status)
meta[1].metric("Severity", inc.severity)
meta[2].metric("Owner", inc.owner or "nobody", help="Assign it in the Comments & history tab")
window = (f"{inc.window_start:%Y-%m-%d %H:%M:%S} – {inc.window_end:%H:%M:%S} UTC"
          if inc.window_start and inc.window_end else "no window")
with meta[3]:
    st.text(f"Window    {window}\nServices  {', '.join(inc.services) or '–'}\n"
            f"Source    {inc.source}, created {inc.created_ts:%Y-%m-%d %H:%M} UTC\nId        {inc.id}")
business = {k: inc.details[k] for k in ("order_id", "eta_delta_hours", "problem_type") if k in inc.details}
if business:
    st.caption("Business details: " + ", ".join(f"{k} = {v}" for k, v in business.items()))

links = st.columns(3)
links[0].page_link("pages/rca.py", label="Root-cause analysis", icon=":material/psychology:",
                   query_params={"incident": inc.id})
links[1].page_link("pages/traces.py", label="Traces of this incident", icon=":material/account_tree:",
                   query_params={"incident": inc.id})

# status workflow
moves = [s for s in STATUS_TRANSITIONS.get(inc.status, ()) if not inc.read_only]
cols = st.columns([2, 2] + [1] * max(len(moves), 1))
actor = cols[0].text_input("Your name", key="inc_actor", placeholder="who does it (needed to approve)")
note = cols[1].text_input("Note", key="inc_note", placeholder="optional, kept in the history")
for col, status in zip(cols[2:], moves):
    with col:
        st.write("")
        if st.button(ACTIONS.get(status, status), key=f"inc_to_{status}", width="stretch"):
            try:
                ws.set_incident_status(inc.id, status, actor=actor or None, note=note)
                st.rerun()
            except CrashLensError as exc:
                common.show_error(exc)
if inc.read_only:
    st.caption("Imported from a bundle: read-only.")

if not (inc.window_start and inc.window_end):
    st.info("This incident has no time window, so there is nothing to compare.", icon=":material/info:")
    st.markdown("**Comments & history**")
    render_thread(ws, inc, actor or None)
    st.stop()

start, end = inc.window_start, inc.window_end
length = max(end - start, timedelta(minutes=1))
view_start, view_end = start - 2 * length, end + length

# Only the open tab is computed and sent (each switch is a rerun): the others cost a comparison,
# stack resolution with blame, or a diff each, and a browser waits for every element it is sent.
tab_time, tab_chg, tab_fp, tab_tpl, tab_cmp, tab_hist = st.tabs(
    ["Timeline", "Changes", "Fingerprints", "New & elevated templates", "Baseline comparison", "Comments & history"],
    key="inc_tab", on_change="rerun")


def _what(c: dict) -> str:
    """The identifier a change is known by: its version, commit or flag / config key."""
    if c.get("name"):
        return f"{c['kind']} {c['name']}"
    if c.get("version"):
        return f"version {c['version']}"
    return f"commit {str(c['commit'])[:12]}" if c.get("commit") else ""


def add_change_markers(fig: go.Figure, changes: list[dict]) -> None:
    """Change events as markers along the top of the chart (one trace per kind, so the legend names
    the kinds), on an axis of their own; deploys, flags and config changes also get a dotted line."""
    fig.update_layout(yaxis2=dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True))
    for kind, (color, symbol) in CHANGE_STYLE.items():
        own = [c for c in changes if c["kind"] == kind]
        if not own:
            continue
        data = [[common.plotly_text(v) for v in (c["kind"], c.get("service"), _what(c), c.get("change"), c.get("author"),
                                                 c.get("summary"))] for c in own]
        fig.add_scatter(x=[c["ts"] for c in own], y=[0.97] * len(own), yaxis="y2", mode="markers", name=f"{kind} (change)",
                        marker=dict(color=color, symbol=symbol, size=12, line=dict(width=1, color="#ffffff")),
                        customdata=data,
                        hovertemplate="<b>%{customdata[0]}</b> %{x|%H:%M:%S}<br>service %{customdata[1]}<br>"
                                      "%{customdata[2]}<br>change %{customdata[3]}<br>author %{customdata[4]}<br>"
                                      "%{customdata[5]}<extra></extra>")
        if kind != "commit":  # commits come by the hundred from a history: markers only
            for c in own:
                fig.add_vline(x=c["ts"], line=dict(color=color, width=1, dash="dot"), opacity=0.6)


with tab_time:
    if tab_time.open:
        span_s = (view_end - view_start).total_seconds()
        bin_s = max(5, int(span_s / 120))  # about 120 bars, whatever the window
        volume = reads.log_volume(ws, view_start, view_end, bin_s)
        if not volume:
            st.info("No logs around this window.", icon=":material/info:")
        else:
            fig = go.Figure()
            for level in ("DEBUG", "TRACE", "INFO", "WARN", "ERROR", "FATAL"):
                pts = [(b, n) for b, lv, n in volume if lv == level]
                if pts:
                    fig.add_bar(x=[p[0] for p in pts], y=[p[1] for p in pts], name=level, marker_color=LEVEL_COLORS[level])
            fig.add_vrect(x0=start, x1=end, fillcolor="#ef5350", opacity=0.12, line_width=0,
                          annotation_text="incident window", annotation_position="top left")
            changes = reads.changes_between(ws, view_start, view_end)
            add_change_markers(fig, changes)
            fig.update_layout(barmode="stack", height=340, margin=dict(l=10, r=10, t=30, b=10), legend_title_text="level / change",
                              xaxis_title="time (UTC)", yaxis_title=f"log records per {bin_s} s")
            st.plotly_chart(fig, width="stretch", key="inc_timeline")
            if changes:
                st.caption(f"{len(changes)} change events in view (markers along the top; hover for details, the Changes "
                           "tab lists them with their diffs).")

with tab_chg:
    if tab_chg.open:
        # What an RCA weighs: every change of the look-back before the window (rca.changes.LOOKBACK) up to its end.
        recent = reads.changes_between(ws, start - LOOKBACK, end)
        st.caption(f"Change events from {start - LOOKBACK:%Y-%m-%d %H:%M} to {end:%H:%M:%S} UTC "
                   f"({int(LOOKBACK.total_seconds() // 3600)} h before the window, as the root-cause analysis weighs them).")
        if not recent:
            st.info("No change events in this period. Upload deploys, flags or config changes on the Logs page, or run "
                    "`crashlens ingest changes FILE` / `crashlens index repo PATH`.", icon=":material/info:")
        else:
            recent = recent[::-1]  # newest first
            st.dataframe([{"time (UTC)": c["ts"], "kind": c["kind"], "service": c.get("service"), "what": _what(c),
                           "change": c.get("change"), "author": c.get("author"), "summary": c.get("summary"),
                           "files": len(c.get("files") or []), "ships": len(c.get("ships") or [])} for c in recent],
                         hide_index=True, width="stretch", key="inc_changes")
            pick = st.selectbox("Diff of", range(len(recent)), key="inc_change_pick",
                                format_func=lambda i: f"{recent[i]['ts']:%Y-%m-%d %H:%M:%S}  {recent[i]['kind']}  "
                                                      f"{recent[i].get('service') or ''}  {_what(recent[i])}")
            chosen = recent[pick]
            shipped = change_store.shipped_content(ws, [chosen["id"]]).get(chosen["id"], {})
            diff = chosen.get("diff") or shipped.get("diff") or ""
            files = sorted(set(chosen.get("files") or []) | set(shipped.get("files") or []))
            if shipped.get("commits"):
                st.caption(f"Ships {len(shipped['commits'])} commits: " + ", ".join(c[:10] for c in shipped["commits"][:20]))
            if files:
                st.text("Files: " + ", ".join(files[:50]))
            if diff.strip():
                st.code(diff[:60_000], language="diff")
            else:
                st.caption("No diff recorded for this change.")

with tab_fp:
    if tab_fp.open:
        # One entry per failure: a caller that logs the error its callee raised joins the callee's issue
        # (signals.issues); each fingerprint keeps its own id and lines.
        issues = reads.window_issues(ws, start, end)
        if not issues:
            st.info("No exception in this window (errors without a stack trace are grouped by template).",
                    icon=":material/info:")
        for k, issue in enumerate(issues):
            many = len(issue.services) > 1
            label = f"{issue.count:,}×  {issue.title}" + (f"  ·  {', '.join(issue.services)}" if many else "")
            with st.expander(common.inert(label), expanded=k == 0):
                st.caption(common.inert(f"{issue.culprit or issue.exc_type} · services {', '.join(issue.services) or '–'} · "
                                        f"first in the window {issue.first_ts:%Y-%m-%d %H:%M:%S} UTC"
                                        if issue.first_ts else f"{issue.culprit or issue.exc_type}"))
                if len(issue.members) > 1:
                    st.markdown(f"**One failure, logged by {len(issue.services)} services**: raised in "
                                f"{common.inert(', '.join(issue.members[0]['services']))}, then logged by its callers.")
                    st.dataframe([{"service": ", ".join(m["services"]), "role": "raised it" if m["role"] == "origin" else "logged it",
                                   "lines": m["count"],
                                   "linked by": "" if m["role"] == "origin" else
                                   ("its stack extends the origin's" if m["link"] == "frames" else "its message quotes the origin's"),
                                   "shared traces": "" if m["shared_traces"] is None else f"{m['shared_traces']:,}",
                                   "fingerprint": m["fingerprint"]} for m in issue.members],
                                 hide_index=True, width="stretch", key=f"inc_issue_{k}")
                else:
                    st.caption(f"fingerprint {issue.id}")
                st.page_link("pages/logs.py", label="Lines of this issue" + (" (every service)" if many else ""),
                             icon=":material/list:", query_params={"q": "fingerprint=" + ",".join(issue.fingerprints)})
                st.code(issue.example or "", language=None)
                if st.toggle("Source context and suspect commits", key=f"inc_fp_src_{k}", value=k == 0):
                    render_stack(ws, settings, issue.example or "", start, end, key=f"inc_fp_{k}")

with tab_tpl:
    if tab_tpl.open:
        cmp = reads.comparison(ws, start, end, "errors" if inc.details.get("detected", {}).get("error_count") else "all",
                               settings)
        st.caption(f"Window {start:%H:%M:%S}–{end:%H:%M:%S} against the baseline "
                   f"{cmp.baseline[0]:%H:%M:%S}–{cmp.baseline[1]:%H:%M:%S} (UTC, same length just before).")
        left, right = st.columns(2)
        with left:
            st.markdown("**New** (not in the baseline)")
            st.dataframe([{"count": t.incident_count, "levels": ", ".join(t.levels), "template": t.template}
                          for t in cmp.new_templates], hide_index=True, width="stretch")
        with right:
            st.markdown("**Elevated** (rate per minute vs baseline)")
            st.dataframe([{"×": round(t.rate_ratio, 1), "count": t.incident_count, "baseline": t.baseline_count,
                           "template": t.template} for t in cmp.elevated_templates], hide_index=True, width="stretch")

with tab_cmp:
    if tab_cmp.open:
        focus = st.segmented_control("Compare", ["errors", "all"], default="errors", key="inc_cmp_focus",
                                     help="errors: the window's errors against everything in the baseline; all: every record")
        cmp = reads.comparison(ws, start, end, focus or "errors", settings)
        dims = [d for d in cmp.dimensions if d.values][:12]
        if not dims:
            st.info("Nothing to compare: the baseline window holds no data.", icon=":material/info:")
        else:
            labels = []
            for d in dims:
                v = d.values[0]
                labels.append(f"{d.dimension} = {(v.label or str(v.value))[:40]}")
            fig = go.Figure(go.Bar(x=[d.score for d in dims][::-1], y=labels[::-1], orientation="h",
                                   marker_color="#7e57c2",
                                   customdata=[[d.values[0].incident_share * 100, d.values[0].baseline_share * 100] for d in dims][::-1],
                                   hovertemplate="%{y}<br>score %{x:.2f}<br>%{customdata[0]:.1f}% in incident vs "
                                                 "%{customdata[1]:.1f}% in baseline<extra></extra>"))
            fig.update_layout(height=60 + 28 * len(dims), margin=dict(l=10, r=10, t=10, b=10),
                              xaxis_title="how differently the dimension is distributed (0 = same, 1 = disjoint)")
            st.plotly_chart(fig, width="stretch", key="inc_cmp_chart")
            pick = st.selectbox("Dimension", [d.dimension for d in dims], key="inc_cmp_dim")
            chosen = next(d for d in dims if d.dimension == pick)
            st.dataframe([{"value": v.label or v.value, "in incident": f"{v.incident_share:.1%}",
                           "in baseline": f"{v.baseline_share:.1%}", "lift": "new" if v.lift is None else round(v.lift, 2),
                           "incident count": v.incident_count, "baseline count": v.baseline_count} for v in chosen.values],
                         hide_index=True, width="stretch")
        if cmp.skipped:
            st.caption("Identifier-like dimensions skipped: " + ", ".join(cmp.skipped))

with tab_hist:
    if tab_hist.open:
        render_thread(ws, inc, actor or None)
