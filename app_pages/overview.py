"""Overview: what the workspace holds, and how to fill it when it is empty."""

import streamlit as st

from app_pages import common
from app_pages.kpi_view import render_kpis

st.title("Overview")
ws = common.workspace()
counts = ws.counts()

cols = st.columns(4)
cols[0].metric("Log records", f"{counts['logs']:,}")
cols[1].metric("Spans", f"{counts['spans']:,}")
cols[2].metric("Metric samples", f"{counts['metrics']:,}")
cols[3].metric("Incidents", f"{counts['incidents']:,}")

if not any(counts[k] for k in ("logs", "spans", "metrics")):
    st.info(
        "This workspace is empty. Build the demo workspace with `crashlens demo` "
        "(or `make run` on a fresh checkout), or upload your own logs, spans and metrics on the Logs page.",
        icon=":material/lightbulb:",
    )
    st.page_link("app_pages/logs.py", label="Upload data", icon=":material/upload:")
else:
    incidents = ws.list_incidents(limit=20)
    if incidents:
        st.subheader("Recent incidents")
        st.page_link("app_pages/incidents.py", label="Open the incidents", icon=":material/crisis_alert:")
        st.dataframe(
            [{"id": i.id[:8], "title": i.title, "status": i.status, "severity": i.severity, "services": ", ".join(i.services),
              "window start (UTC)": i.window_start, "source": i.source} for i in incidents],
            hide_index=True, width="stretch",
        )
    st.subheader("Investigation KPIs")
    render_kpis(ws, common.settings())
    st.subheader("Recent ingest batches")
    st.dataframe(
        ws.list_batches(limit=20),
        hide_index=True,
        width="stretch",
        column_order=["id", "kind", "format", "path", "loaded", "rejected", "status", "finished_ts"],
        column_config={"id": "Batch", "kind": "Kind", "format": "Format", "path": "File", "loaded": "Loaded",
                       "rejected": "Rejected", "status": "Status",
                       "finished_ts": st.column_config.DatetimeColumn("Ingested (UTC)", format="YYYY-MM-DD HH:mm:ss")},
    )
