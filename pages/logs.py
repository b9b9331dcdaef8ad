"""Logs: upload logs, spans, metrics and change events; see each file's ingest report; explore
the logs of the sidebar's time range (volume by level, a query with group-by counts, the range
against the one before it); browse the lines."""

import html
from datetime import timedelta

import plotly.graph_objects as go
import streamlit as st

from crashlens_core.errors import CrashLensError, UnreadableFile
from crashlens_core.ingest import FORMAT_CHOICES, discard_upload, ingest_file, parse_map, save_upload
from crashlens_core.ingest.normalize import parse_ts
from crashlens_core.store.logquery import LOG_FIELDS, parse_log_query
from crashlens_core.ingest.changes import CHANGE_FORMATS, ingest_change_file, parse_change_map
from crashlens_core.signals.refresh import refresh_signals
from pages import common, reads

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

PAGE_SIZE = 200
NEW_INCIDENT_LINKS = 8  # more than a screenful of links hides the Browse table; the rest are one click away
# What an upload can hold: the telemetry kinds, and change events as files (a repository's history
# comes through `crashlens ingest changes --format git` or `index repo`, not an upload).
UPLOAD_FORMATS = {**FORMAT_CHOICES, "changes": tuple(f for f in CHANGE_FORMATS if f != "git")}
# group-by columns headed as the Browse table heads the same fields (attribute keys stay as typed)
_GROUP_LABELS = {"service": "Service", "host": "Host", "level": "Level", "template": "Template",
                 "fingerprint": "Fingerprint", "trace_id": "Trace", "span_id": "Span"}


st.title("Logs")
ws = common.workspace()

# Open on an empty workspace, and after an upload in this session (the next file goes the same way)
_form_open = reads.counts(ws)["logs"] == 0 or "last_reports" in st.session_state
with st.expander("Upload logs, spans, metrics or change events", icon=":material/upload:", expanded=_form_open):
    with st.form("upload", clear_on_submit=False):
        kind = st.segmented_control("What the files hold", ["logs", "spans", "metrics", "changes"], default="logs",
                                    key="upload_kind",
                                    help="changes: deploys, commits, feature flags, config changes as JSON or JSON Lines "
                                         "(ts, kind, service, version, commit, name, change, author, summary, files, diff)")
        files = st.file_uploader("Files (gzip welcome)", accept_multiple_files=True, key="upload_files")
        c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
        fmt = c1.selectbox("Format", ["auto", *sorted({f for fs in UPLOAD_FORMATS.values() for f in fs})],
                           help="auto detects the format from the first lines")
        mapping_text = c2.text_input("Column mapping (CSV)", placeholder="TraceID=trace_id, pod:PodName=service",
                                     help="COLUMN=FIELD pairs, comma-separated (for changes: deployed_at=ts, app=service)")
        service = c3.text_input("Default service", help="Service name for records that carry none")
        tz = c4.text_input("Time zone", value=common.settings().log_tz, key="upload_tz",
                           help="Zone of timestamps written without an offset, e.g. Europe/Paris or +08:00; "
                                "timestamps with Z or an offset are exact whatever this says")
        pattern = st.text_input(
            "Line pattern (logs, optional)", key="upload_pattern",
            placeholder="%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{GREEDYDATA:message}",
            help="Your own line format when no built-in one fits: a regular expression with named groups (ts, level, "
                 "service, host, message, trace_id, span_id; others become attributes) or Grok as in Logstash. Lines "
                 "that do not match join the record before them (stack traces).")
        submitted = st.form_submit_button("Ingest", type="primary", icon=":material/input:")
    if submitted:
        kind = kind or "logs"
        if not files:
            st.warning("Choose at least one file first.")
        elif fmt != "auto" and fmt not in UPLOAD_FORMATS[kind]:
            st.error(f"{fmt} is not a {kind} format. Use one of: auto, {', '.join(UPLOAD_FORMATS[kind])}.")
        elif kind == "changes" and pattern.strip():
            st.error("A line pattern reads log lines only; change events are JSON or JSON Lines. Clear the pattern.")
        else:
            bar = st.progress(0.0, text="starting…")
            reports = []
            for i, up in enumerate(files):
                path = None
                try:
                    pairs = [m for m in mapping_text.split(",") if m.strip()]
                    path = save_upload(ws, up.name, up.getvalue())
                    if kind == "changes":  # the call `crashlens ingest changes` makes, per-line errors included
                        reports.append(ingest_change_file(ws, str(path), fmt, parse_change_map(pairs),
                                                          defaults={"service": service} if service else None,
                                                          display_name=up.name))
                        continue
                    mapping = parse_map(pairs)
                    settings = common.settings().replace(log_tz=tz.strip() or "UTC")
                    report = ingest_file(
                        ws, kind, str(path), fmt, mapping, defaults={"service": service} if service else None,
                        settings=settings, display_name=up.name, pattern=pattern.strip() or None,
                        progress=lambda f, msg, i=i: bar.progress(min((i + f) / len(files), 1.0), text=msg[:120]),
                    )
                    reports.append(report)
                except CrashLensError as exc:
                    if isinstance(exc, UnreadableFile) and path is not None:
                        discard_upload(path)
                    st.error(f"{up.name}: {exc.message}" + (f"  \n**Next step:** {exc.hint}" if exc.hint else ""))
            st.session_state["last_signals"] = None
            if kind in ("logs", "spans") and any(r.loaded for r in reports):
                bar.progress(1.0, text="templates, fingerprints and incident detection…")
                try:
                    signals = refresh_signals(ws, common.settings())
                    st.session_state["last_signals"] = {
                        "summary": signals.summary(),
                        "incidents": [(i.id, i.severity, i.title) for i in (signals.detection.created if signals.detection else [])]}
                except CrashLensError as exc:
                    common.show_error(exc)
            bar.progress(1.0, text="done")
            st.session_state["last_reports"] = [r.to_json() for r in reports]
            if kind == "logs":
                # Browse opens on what was just uploaded (a re-uploaded file: the batch that already holds it)
                st.session_state["browse_batches"] = (str(ws.folder), {r.batch_id: r.path for r in reports
                                                                     if r.batch_id is not None and (r.loaded or r.skipped)})
                for key in ("f_batch", "f_page"):  # the new upload's default choice, from its first page
                    st.session_state.pop(key, None)

for rep in st.session_state.get("last_reports", []):
    if rep["skipped"]:
        st.info(f"**{rep['path']}**: {rep.get('note', 'skipped')}", icon=":material/content_copy:")
        continue
    ok = rep["rejected"] == 0
    text = f"**{rep['path']}** ({rep['format']}): {rep['loaded']:,} loaded, {rep['rejected']:,} rejected"
    (st.success if ok else st.warning)(text, icon=":material/check_circle:" if ok else ":material/warning:")
    if rep["errors"]:
        with st.expander(f"Rejected lines of {rep['path']}"):
            st.dataframe(rep["errors"], hide_index=True, column_config={"line": "Line", "reason": "Reason"})
    if rep.get("note"):
        st.caption(rep["note"])
    for warning in rep.get("warnings") or []:
        st.text(warning)  # plain text: it quotes a line of the file

signals_done = st.session_state.get("last_signals")
if signals_done:
    st.caption(signals_done["summary"])
    new_incidents = signals_done["incidents"]
    for inc_id, severity, title in new_incidents[:NEW_INCIDENT_LINKS]:
        st.page_link("pages/incidents.py", label=f"New incident ({severity}): {common.inert(title)}", icon=":material/crisis_alert:",
                     query_params={"incident": inc_id})
    if len(new_incidents) > NEW_INCIDENT_LINKS:
        st.page_link("pages/incidents.py", icon=":material/crisis_alert:",
                     label=f"… and {len(new_incidents) - NEW_INCIDENT_LINKS} more new incidents on the Incidents page")

st.subheader("Explore")
facets = reads.log_facets(ws)
if facets["total"] == 0:
    st.info("No log records yet. Upload files above, or run `crashlens demo`.", icon=":material/lightbulb:")
    st.stop()

rng = common.time_range()
# "All data" stays unbounded in the queries: lines uploaded in this very run are older or newer than
# the extent the sidebar read before the upload
q_start, q_end = (None, None) if rng.is_everything else (rng.start, rng.end)
h_start, h_end = ((facets["min_ts"], facets["max_ts"] + timedelta(microseconds=1)) if rng.is_everything
                  else (rng.start, rng.end))
q_col, by_col = st.columns([3, 2])
if st.query_params.get("q"):  # a link from another page (e.g. an issue's lines): the query it opens with, once
    st.session_state["lq_query"] = st.query_params.pop("q")
query_text = q_col.text_input(
    "Query", key="lq_query", placeholder='service=payments level=ERROR,FATAL host!=web-3 "timed out" user.tier=gold',
    help="Terms joined by AND: FIELD=VALUE or FIELD!=VALUE on service, host, level, template, fingerprint, trace_id, "
         "span_id (A,B: any of them); any other KEY=VALUE compares that JSON attribute; a word or a \"quoted phrase\" "
         "must occur in the message.")
try:
    query = parse_log_query(query_text)
except CrashLensError as exc:
    common.show_error(exc)
    query = None
attr_keys = reads.log_attribute_keys(ws, q_start, q_end)
by = by_col.multiselect("Group by", [*LOG_FIELDS, *attr_keys], key="lq_by", accept_new_options=True,
                        help="Count the matching lines per value (several keys: per combination); type any attribute key")
if query is not None and h_start is not None and h_end is not None:
    step, volume = reads.log_histogram(ws, query, h_start, h_end)
    order = [lv for lv in common.LEVEL_COLORS if any(v[1] == lv for v in volume)]
    order += sorted({v[1] for v in volume} - set(order))
    fig = go.Figure()
    for level in order:
        pts = [(b, n) for b, lv, n in volume if lv == level]
        fig.add_bar(x=[p[0] + timedelta(seconds=step / 2) for p in pts], y=[p[1] for p in pts], width=step * 1000 * 0.9,
                    name=html.escape(level), marker_color=common.LEVEL_COLORS.get(level, "#9575cd"))
    fig.update_layout(barmode="stack", height=260, margin=dict(l=10, r=10, t=10, b=10), dragmode="select",
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", title_text=""), selectdirection="h",
                      xaxis=dict(title_text="time (UTC)", range=[h_start, h_end]),
                      yaxis_title=f"lines per {common.step_label(step)}")
    event = st.plotly_chart(fig, width="stretch", key=f"lq_hist_{h_start:%Y%m%d%H%M%S%f}_{h_end:%Y%m%d%H%M%S%f}",
                            on_select="rerun", selection_mode="box", config={"displaylogo": False})
    st.caption("Drag across the chart to zoom the time range to it (the sidebar's range shows it; pick a preset to go back).")
    box = (event.selection.box or [{}])[0] if event else {}
    xs = [parse_ts(str(x)) for x in box.get("x", [])]
    if len(xs) == 2 and all(xs) and xs[0] != xs[1]:
        common.set_time_range(min(xs), max(xs))
        st.rerun()

if query is not None:
    grouped = reads.log_groups(ws, query, by, q_start, q_end, 200)
    st.markdown(f"**{grouped['total']:,}** matching lines · {rng.label}")
    if grouped["by"]:
        rows = [{**{k: ("(none)" if g[k] is None else g[k]) for k in grouped["by"]}, "count": g["count"],
                 "share": g["count"] / grouped["total"] if grouped["total"] else 0.0} for g in grouped["groups"]]
        st.dataframe(rows, hide_index=True, width="stretch", key="lq_groups",
                     column_config={**{k: _GROUP_LABELS.get(k, k) for k in grouped["by"]},
                                    "count": st.column_config.NumberColumn("Count", format="%d"),
                                    "share": st.column_config.ProgressColumn("Share", format="percent", min_value=0, max_value=1)})
        if grouped["truncated"]:
            st.caption("The 200 busiest groups are shown.")

with st.expander("Compare this range with the one just before it", icon=":material/compare_arrows:"):
    if not rng.bounded or rng.is_everything:
        st.info("Pick a time range in the sidebar (or drag across the chart): the comparison needs a baseline before it.",
                icon=":material/info:")
    elif st.toggle("Compare", key="lq_compare",
                   help="Which services, hosts, levels, templates and attributes differ from the same length just before"):
        focus = st.segmented_control("Lines compared", ["errors", "all"], default="errors", key="lq_cmp_focus")
        try:
            cmp = reads.comparison(ws, rng.start, rng.end, focus or "errors", common.settings())
            st.caption(f"Baseline {cmp.baseline[0]:%Y-%m-%d %H:%M:%S} – {cmp.baseline[1]:%H:%M:%S} UTC")
            dims = [d for d in cmp.dimensions if d.values][:12]
            if not dims:
                st.info("Nothing to compare: the baseline holds no data.", icon=":material/info:")
            else:
                st.dataframe([{"dimension": d.dimension, "score": round(d.score, 3),
                               "top value": d.values[0].label or d.values[0].value,
                               "in range": f"{d.values[0].incident_share:.1%}",
                               "in baseline": f"{d.values[0].baseline_share:.1%}"} for d in dims],
                             hide_index=True, width="stretch", key="lq_cmp")
            if dims and cmp.new_templates:  # with an empty baseline every template would read as new
                st.markdown("**New templates** (not in the baseline)")
                st.dataframe([{"count": t.incident_count, "template": t.template} for t in cmp.new_templates],
                             hide_index=True, width="stretch")
        except CrashLensError as exc:
            common.show_error(exc)

st.subheader("Browse")

where, uploaded = st.session_state.get("browse_batches") or ("", {})
if where != str(ws.folder):  # batch ids of another workspace (switched on the Settings page) mean nothing here
    uploaded = {}
batch_id = None
if uploaded:
    everything = "All records of the workspace"
    choices = {**{b: f"Just uploaded: {name} (batch {b})" for b, name in uploaded.items()}, "all": everything}
    shown = st.selectbox("Showing", list(choices), format_func=choices.get, key="f_batch",
                         help=f"Pick '{everything}' to browse everything again")
    batch_id = None if shown == "all" else shown
f1, f2, f3 = st.columns([1, 2, 2])
levels = f1.multiselect("Level", [lvl for lvl, _ in facets["levels"]], key="f_levels")
services = f2.multiselect("Service", [svc for svc, _ in facets["services"]], key="f_services")
text = f3.text_input("Message contains", key="f_text")
frame, total = reads.log_page(ws, levels=levels, services=services, text=text, batch_id=batch_id, query=query,
                             start=q_start, end=q_end, limit=PAGE_SIZE,
                             offset=PAGE_SIZE * (st.session_state.get("f_page", 1) - 1))
pages = max(1, -(-total // PAGE_SIZE))
c1, c2 = st.columns([4, 1])
c1.caption(f"{total:,} matching records" + (f" of {uploaded[batch_id]}" if batch_id is not None else "")
           + f" · {rng.label}" + (" · the query above" if query and (query.filters or query.text) else "")
           + f" · newest first · {PAGE_SIZE} per page")
c2.number_input("Page", min_value=1, max_value=pages, step=1, key="f_page", label_visibility="collapsed")
# st.dataframe renders cell text as text: log content is never interpreted as HTML or Markdown.
st.dataframe(
    frame,
    hide_index=True,
    width="stretch",
    column_order=["ts", "level", "service", "host", "message", "trace_id", "span_id", "source_file", "source_line", "id"],
    column_config={
        "ts": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS"),
        "level": st.column_config.TextColumn("Level", width="small"),
        "service": "Service",
        "host": "Host",
        "message": st.column_config.TextColumn("Message", width="large"),
        "trace_id": "Trace",
        "span_id": "Span",
        "source_file": "Source file",
        "source_line": st.column_config.NumberColumn("Line", format="%d"),
        "id": st.column_config.NumberColumn("Id", format="%d"),
    },
)
