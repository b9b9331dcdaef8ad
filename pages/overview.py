"""Overview: what the workspace holds, and how to fill it when it is empty."""

from pathlib import Path

import streamlit as st

from pages import common, reads
from crashlens_core.simulate.scenarios import demo_scenarios
from pages.kpi_view import render_kpis

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

st.title("Overview")
undo_done = st.session_state.pop("ov_undo_done", None)  # said after the rerun that shows the smaller workspace
ws = common.workspace()
counts = reads.counts(ws)

cols = st.columns(4)
cols[0].metric("Log records", f"{counts['logs']:,}")
cols[1].metric("Spans", f"{counts['spans']:,}")
cols[2].metric("Metric samples", f"{counts['metrics']:,}")
cols[3].metric("Incidents", f"{counts['incidents']:,}")

if not any(counts[k] for k in ("logs", "spans", "metrics")):
    if undo_done:  # the last batch was deleted: no batches list to say it under
        st.success(undo_done, icon=":material/check:")
    st.info(
        f"This workspace is empty. Load the demo — {len(demo_scenarios())} real fault scenarios of a sample shop service, "
        "run, ingested and analysed on this machine in about a minute — or upload your own logs, spans and metrics.",
        icon=":material/lightbulb:",
    )
    c1, c2 = st.columns(2)
    if c1.button("Load the demo", type="primary", icon=":material/science:", key="ov_demo", width="stretch"):
        from crashlens_core.errors import CrashLensError
        from crashlens_core.simulate.demo import build_demo

        bar = st.progress(0.0, text="starting…")
        try:
            build_demo(ws, common.settings(), progress=lambda f, msg: bar.progress(min(f, 1.0), text=msg[:120]))
            st.rerun()
        except CrashLensError as exc:
            common.show_error(exc)
    with c2:
        st.page_link("pages/logs.py", label="Upload your data", icon=":material/upload:")

    @st.fragment(run_every=common.settings().live_refresh_s or None)
    def wait_for_data() -> None:
        """Data ingested meanwhile (`crashlens ingest`, `--follow` in a terminal): show it without a reload."""
        with common.fragment_workspace():
            now = reads.counts(common.workspace())
        if any(now[k] for k in ("logs", "spans", "metrics")):
            st.rerun()

    wait_for_data()
else:
    @st.fragment(run_every=common.settings().live_refresh_s or None)
    def recent_incidents() -> None:
        """Redrawn on its own, so incidents found by `crashlens ingest logs --follow` appear without a reload."""
        with common.fragment_workspace():
            incidents = reads.incidents(common.workspace(), limit=20)
            total = reads.counts(common.workspace())["incidents"]
        if total != counts["incidents"]:  # new incidents: redraw the whole page, so the figures above agree
            st.rerun()
        if incidents:
            st.subheader("Recent incidents")
            st.page_link("pages/incidents.py", label="Open the incidents", icon=":material/crisis_alert:")
            picked = st.dataframe(
                [{"id": i.id[:8], "title": i.title, "status": i.status.replace("_", " "), "severity": i.severity,
                  "services": ", ".join(i.services) or "—", "window start (UTC)": i.window_start,
                  "source": i.source.replace("_", " ")} for i in incidents],
                hide_index=True, width="stretch", key="ov_incidents", on_select="rerun", selection_mode="single-row",
            )
            st.caption("Select a row to open the incident.")
            rows = picked.selection.rows if picked is not None else []
            if rows:  # a clickable table, as in Sentry's issue list: the row opens the incident page
                st.switch_page("pages/incidents.py", query_params={"incident": incidents[rows[0]].id})

    recent_incidents()
    st.subheader("Investigation KPIs")
    render_kpis(ws, common.settings())
    st.subheader("Recent ingest batches")
    if undo_done:  # here, where the person clicked Delete (the page keeps its scroll), not out of sight at the top
        st.success(undo_done, icon=":material/check:")
    batches = reads.batches(ws, limit=20)

    def short_path(path: str) -> str:
        """A batch's file as a person tells it apart: its path in the workspace, else its folder and name
        (the demo's scenarios all hold a logs.jsonl; a full temp path pushes the other columns off)."""
        p = Path(path)
        return str(p.relative_to(ws.folder)) if p.is_relative_to(ws.folder) else str(Path(*p.parts[-2:]))

    st.dataframe(
        [{**b, "path": short_path(b["path"])} for b in batches],
        hide_index=True,
        width="stretch",
        column_order=["id", "kind", "format", "path", "loaded", "rejected", "status", "finished_ts"],
        column_config={"id": "Batch", "kind": "Kind", "format": "Format", "path": "File",
                       "loaded": st.column_config.NumberColumn("Loaded", format="localized"),
                       "rejected": st.column_config.NumberColumn("Rejected", format="localized"), "status": "Status",
                       "finished_ts": st.column_config.DatetimeColumn("Ingested (UTC)", format="YYYY-MM-DD HH:mm:ss")},
    )
    if batches and not ws.read_only:
        with st.expander("Undo an upload", icon=":material/delete:"):
            labels = {b["id"]: f"{b['id']} · {b['kind']} · {short_path(b['path'])} · {b['loaded']:,} loaded" for b in batches}
            chosen = st.selectbox("Batch to delete", list(labels), format_func=labels.__getitem__, index=None,
                                  key="ov_undo_batch", placeholder="choose a batch")
            st.caption("Deletes the batch's rows, its share of the template and exception-group counts, and the "
                       "detected incidents only it produced. The file itself is not touched; it can be ingested again.")
            if chosen is not None and st.button(f"Delete batch {chosen}", type="primary", key="ov_undo_go"):
                from crashlens_core.errors import CrashLensError
                from crashlens_core.store.undo import delete_batch

                try:
                    out = delete_batch(ws, int(chosen))
                except CrashLensError as exc:
                    common.show_error(exc)
                else:
                    r = out["removed"]
                    st.session_state["ov_undo_done"] = (
                        f"Deleted batch {out['batch']}: {r['logs']:,} log lines, {r['spans']:,} spans, {r['metrics']:,} "
                        f"metric samples, {r['changes']:,} changes; {len(out['incidents_deleted'])} incidents only it "
                        "produced were removed.")
                    st.rerun()
