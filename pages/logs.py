"""Logs: upload logs, spans and metrics; see each file's ingest report; browse the logs."""

import streamlit as st

from crashlens_core.errors import CrashLensError, UnreadableFile
from crashlens_core.ingest import FORMAT_CHOICES, discard_upload, ingest_file, parse_map, save_upload
from crashlens_core.signals.refresh import refresh_signals
from pages import common

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

PAGE_SIZE = 200
NEW_INCIDENT_LINKS = 8  # more than a screenful of links hides the Browse table; the rest are one click away

st.title("Logs")
ws = common.workspace()

# Open on an empty workspace, and after an upload in this session (the next file goes the same way)
_form_open = ws.counts()["logs"] == 0 or "last_reports" in st.session_state
with st.expander("Upload logs, spans or metrics", icon=":material/upload:", expanded=_form_open):
    with st.form("upload", clear_on_submit=False):
        kind = st.segmented_control("What the files hold", ["logs", "spans", "metrics"], default="logs", key="upload_kind")
        files = st.file_uploader("Files (gzip welcome)", accept_multiple_files=True, key="upload_files")
        c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
        fmt = c1.selectbox("Format", ["auto", *sorted({f for fs in FORMAT_CHOICES.values() for f in fs})],
                           help="auto detects the format from the first lines")
        mapping_text = c2.text_input("Column mapping (CSV)", placeholder="TraceID=trace_id, pod:PodName=service",
                                     help="COLUMN=FIELD pairs, comma-separated")
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
        elif fmt != "auto" and fmt not in FORMAT_CHOICES[kind]:
            st.error(f"{fmt} is not a {kind} format. Use one of: auto, {', '.join(FORMAT_CHOICES[kind])}.")
        else:
            bar = st.progress(0.0, text="starting…")
            reports = []
            for i, up in enumerate(files):
                path = None
                try:
                    mapping = parse_map([m for m in mapping_text.split(",") if m.strip()])
                    settings = common.settings().replace(log_tz=tz.strip() or "UTC")
                    path = save_upload(ws, up.name, up.getvalue())
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

st.subheader("Browse")
facets = ws.log_facets()
if facets["total"] == 0:
    st.info("No log records yet. Upload files above, or run `crashlens demo`.", icon=":material/lightbulb:")
    st.stop()

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
frame, total = ws.query_logs(levels=levels, services=services, text=text, batch_id=batch_id, limit=PAGE_SIZE,
                             offset=PAGE_SIZE * (st.session_state.get("f_page", 1) - 1))
pages = max(1, -(-total // PAGE_SIZE))
c1, c2 = st.columns([4, 1])
c1.caption(f"{total:,} matching records" + (f" of {uploaded[batch_id]}" if batch_id is not None else "")
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
