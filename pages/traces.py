"""Traces: pick a trace (or an incident's worst traces), see its waterfall with the critical path and
the error origin, its spans' attributes, the window's service map and suspects, the trace against
typical ones, and the metrics around the window. Links: ?trace=ID and ?incident=ID."""

from __future__ import annotations

import html
from datetime import timedelta

import plotly.graph_objects as go
import streamlit as st

from crashlens_core.errors import CrashLensError
from crashlens_core.signals.suspects import default_baseline
from crashlens_core.signals.tracetree import repair_text
from pages import common, reads
from pages.map_view import map_layout


common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

def _or_dash(value: float | None) -> str:
    """A figure for a table cell: one type per column (Arrow), and a dash where there is none."""
    return "—" if value is None else f"{value:,.1f}"


st.title("Traces")
ws = common.workspace()
lo, hi, n_spans = reads.trace_bounds(ws)
n_metrics = reads.counts(ws)["metrics"]
if not n_spans and not n_metrics:
    st.info("No spans or metrics yet. Ingest them on the Logs page (`crashlens ingest spans FILE`), or run `crashlens demo`.",
            icon=":material/lightbulb:")
    st.stop()

# ---------------------------------------------------------------- the window: an incident or everything
incidents = [i for i in reads.incidents(ws) if i.window_start and i.window_end]
labels = {"": "All spans of the time range"} | {i.id: f"{i.title[:70]} · {i.window_start:%Y-%m-%d %H:%M}" for i in incidents}
wanted = common.incident_in_url()
inc_id = st.selectbox("Incident", list(labels), index=list(labels).index(wanted) if wanted in labels else 0,
                      format_func=labels.get, key="tr_incident")
incident = next((i for i in incidents if i.id == inc_id), None)
if incident:
    start, end = incident.window_start, incident.window_end
    st.query_params["incident"] = incident.id
else:
    rng = common.time_range()  # the sidebar's range; "all data" is every span
    start, end = ((rng.start, rng.end) if rng.bounded and not rng.is_everything
                  else (lo, (hi + timedelta(microseconds=1)) if hi else None))
    st.query_params.pop("incident", None)

# ---------------------------------------------------------------- pick a trace
worst = reads.worst_traces(ws, start, end, limit=100) if n_spans else []
options = {w["trace_id"]: (f"{'ERROR ' if w['errors'] else ''}{w['duration_ms']:.1f} ms · {w['root_service']} "
                           f"{w['root_name']} · {w['spans']} spans · {w['trace_id'][:16]}") for w in worst}
c1, c2 = st.columns([3, 2])
picked = c1.selectbox("Worst traces of the window (erroring first, then slowest)", list(options) or [""],
                      format_func=lambda t: options.get(t, "no traces in this window"), key="tr_pick")
typed = c2.text_input("…or a trace id", value=st.query_params.get("trace", ""), key="tr_typed").strip()
trace_id = typed or picked

summary = None
if trace_id:
    try:
        summary = reads.trace_summary(ws, trace_id)
        st.query_params["trace"] = trace_id
    except CrashLensError as exc:
        common.show_error(exc)

if summary is not None:
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Duration", f"{summary.duration_ms:,.1f} ms")
    m2.metric("Spans", summary.span_count)
    m3.metric("Depth", summary.depth)
    m4.metric("Critical path", f"{summary.critical_path_ms:,.1f} ms")
    m5.metric("Erroring spans", summary.error_count)
    if summary.issues:
        st.caption("Repaired while reading: " + "; ".join(repair_text(k, v) for k, v in summary.issues.items()))
    origin = summary.error_origin
    if origin:
        st.subheader("Error origin", divider="red")
        st.dataframe([{"service": origin["service"], "span": origin["name"], "exception": origin["exception"],
                       "message": origin["message"], "host": origin["host"], "span id": origin["span_id"]}],
                     hide_index=True, width="stretch")
        names = {sp["span_id"]: f'{sp["service"]}: {sp["name"]}' for sp in summary.spans or []}
        st.caption("Propagated up through: " + " → ".join(names.get(sid, sid) for sid in origin["path"]))

    # waterfall: one bar per span, critical sections overlaid, the error origin marked
    spans = summary.spans or []
    ylab = [f"{i:>3} {'  ' * min(s['depth'], 12)}{s['service']}: {s['name'][:60]}" for i, s in enumerate(spans)]
    row_of = {s["span_id"]: ylab[i] for i, s in enumerate(spans)}
    services = sorted({s["service"] for s in spans})
    fig = go.Figure()
    for svc in services:
        idx = [i for i, s in enumerate(spans) if s["service"] == svc]
        fig.add_bar(y=[ylab[i] for i in idx], x=[max(spans[i]["duration_ms"], 1e-3) for i in idx],
                    base=[spans[i]["start_ms"] for i in idx], orientation="h", name=html.escape(svc), opacity=0.55,
                    hovertext=[html.escape(f"{spans[i]['name']} · {spans[i]['duration_ms']} ms (self {spans[i]['self_ms']} ms)"
                                           + (" · ERROR" if spans[i]["error"] else "")) for i in idx], hoverinfo="text")
    cp = summary.critical_path
    fig.add_bar(y=[row_of.get(c["span_id"], ylab[0] if ylab else "") for c in cp], x=[max(c["ms"], 1e-3) for c in cp],
                base=[c["start_ms"] for c in cp], orientation="h", name="critical path", width=0.3,
                marker_color="#f5b700", hoverinfo="skip")
    if origin and origin["span_id"] in row_of:
        o = next(s for s in spans if s["span_id"] == origin["span_id"])
        fig.add_scatter(y=[row_of[origin["span_id"]]], x=[o["start_ms"] + o["duration_ms"]], mode="markers",
                        marker=dict(symbol="x", size=14, color="red"), name="error origin")
    fig.update_layout(barmode="overlay", height=max(260, 22 * len(spans) + 120), xaxis_title="ms from trace start",
                      yaxis=dict(autorange="reversed", type="category", categoryorder="array", categoryarray=ylab),
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=1.02, yanchor="bottom"))
    st.plotly_chart(fig, width="stretch", key="tr_waterfall")

    st.subheader("Span attributes")
    chosen = st.selectbox("Span", [s["span_id"] for s in spans], key="tr_span",
                          format_func=lambda sid: row_of.get(sid, sid).strip())
    detail = reads.span_attributes(ws, summary.trace_id, chosen) if chosen else None
    if detail:
        row = next(s for s in spans if s["span_id"] == chosen)
        st.dataframe([{k: row[k] for k in ("duration_ms", "self_ms", "critical_ms", "depth", "error", "error_origin")}
                      | {"flags": ", ".join(row["flags"]) or "-"}], hide_index=True, width="stretch")
        st.json(detail["attributes"] if isinstance(detail["attributes"], dict) else {"attributes": str(detail["attributes"])},
                expanded=False)

    with st.expander("Against typical traces of the same root operation", icon=":material/compare_arrows:",
                     expanded=bool(origin)):
        try:
            comp = reads.trace_comparison(ws, summary.trace_id, common.settings().trace_compare_typical)
            if comp.typical_traces and comp.typical_duration_p50_ms is not None:
                st.caption(f"{comp.typical_traces} error-free traces of {comp.root_service} {comp.root_name}; "
                           f"typical duration p50 {comp.typical_duration_p50_ms:,.1f} ms, this one {comp.duration_ms:,.1f} ms")
            else:
                st.caption(f"No error-free trace of {comp.root_service} {comp.root_name} to compare with: every "
                           "operation below is listed as it is here.")
            if comp.differences:
                st.dataframe([{"kind": d.kind, "operation": d.path, "here ms": _or_dash(d.duration_ms),
                               "typical p50 ms": _or_dash(d.typical_p50_ms), "typical p95 ms": _or_dash(d.typical_p95_ms),
                               "typical presence": d.typical_presence,
                               "typical error rate": d.typical_error_rate} for d in comp.differences],
                             hide_index=True, width="stretch", key="tr_compare")
            elif comp.typical_traces:
                st.success("Nothing new, missing, slower or erroring compared with typical traces.")
        except CrashLensError as exc:
            common.show_error(exc)

# ---------------------------------------------------------------- the window: suspects, service map, metrics
if start is not None and end is not None:
    b_start, b_end = default_baseline(start, end)
    st.subheader("Window", divider="gray")
    st.caption(f"{start:%Y-%m-%d %H:%M:%S} – {end:%Y-%m-%d %H:%M:%S} UTC"
               + ("; baseline: the same length before it" if incident else "; pick an incident for suspects and changes"))
    suspects = []
    if incident:  # a ranking needs an incident window and the minutes before it
        try:
            suspects = reads.suspect_services(ws, start, end, b_start, b_end, common.settings())
        except CrashLensError as exc:
            common.show_error(exc)
    if suspects:
        st.markdown("**Suspect services**")
        st.dataframe([{"service": s.service, "score": round(s.score, 3), "why": "; ".join(s.reasons),
                       "evidence": ", ".join(s.evidence[:6])} for s in suspects], hide_index=True, width="stretch",
                     key="tr_suspects")
    by_host = st.toggle("Split services by host", key="tr_by_host",
                        help="One node per service and host (the spans' host.name): a bad instance stands out from its peers")
    smap = reads.services(ws, start, end, by_host)
    if smap.edges:
        pos = map_layout([n.service for n in smap.nodes], [(e.src, e.dst) for e in smap.edges])
        names = list(pos)
        net = go.Figure()
        for e in smap.edges:
            (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
            net.add_scatter(x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip", showlegend=False,
                            line=dict(width=1 + 4 * min(e.calls / max(x.calls for x in smap.edges), 1.0),
                                      color="crimson" if e.error_rate >= 0.05 else "gray"))
            net.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                               arrowhead=3, arrowwidth=1, opacity=0.6, text="")
        err = {n.service: n.error_rate for n in smap.nodes}
        net.add_scatter(x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
                        text=[html.escape(n) for n in names], textposition="middle right", showlegend=False,
                        marker=dict(size=18, color=[err[n] for n in names], colorscale="Reds", cmin=0, cmax=0.5,
                                    line=dict(width=1, color="black")), hoverinfo="text",
                        hovertext=[html.escape(f"{n}: error rate {err[n]:.1%}") for n in names])
        rows = max((sum(1 for q in pos.values() if q[0] == x) for x, _ in pos.values()), default=1)
        depth = max((x for x, _ in pos.values()), default=0)
        # room to the right of the last column for its labels (service @ host names are long)
        net.update_xaxes(range=[-0.3, depth + 1.2])
        net.update_layout(height=max(320, 60 + 46 * rows), xaxis=dict(visible=False), yaxis=dict(visible=False),
                          margin=dict(l=10, r=10, t=10, b=10))
        st.markdown("**Service map**")
        st.plotly_chart(net, width="stretch", key="tr_map")
    if smap.edges and incident:
        changes = reads.services_change(ws, start, end, b_start, b_end, by_host)
        st.dataframe([c.to_json() for c in changes], hide_index=True, width="stretch", key="tr_edges",
                     # the caller and callee columns hold "service @ host" when split by host: never cut off
                     column_config={"src": st.column_config.TextColumn("caller", width="medium"),
                                    "dst": st.column_config.TextColumn("callee", width="medium")},
                     column_order=["status", "src", "dst", "calls_per_min", "baseline_calls_per_min", "error_rate",
                                   "baseline_error_rate", "p95_ms", "baseline_p95_ms", "p95_ratio", "external"])
    if n_metrics and incident:
        anomalies = reads.metric_anomalies_of(ws, start, end, b_start, b_end)[:4]
        if anomalies:
            st.markdown("**Metrics around the window** (most anomalous series; the window is shaded)")
            pad = end - start
            # one figure of up to 2x2 panels, not four figures: a browser lays out and draws each
            # Plotly figure on its own, and the page counts as drawn only after the last one
            from plotly.subplots import make_subplots

            rows = -(-len(anomalies) // 2)
            grid = make_subplots(rows=rows, cols=2, horizontal_spacing=0.08, vertical_spacing=0.22 / rows,
                                 subplot_titles=[html.escape(f"{a.evidence_id} · score {a.score:.1f}") for a in anomalies])
            for i, a in enumerate(anomalies):
                pts = reads.metric_series(ws, a.name, a.service or "", a.host, start - 2 * pad, end + pad)
                for label in sorted({p[1] for p in pts}):
                    xs = [p for p in pts if p[1] == label]
                    grid.add_scatter(x=[p[0] for p in xs], y=[p[2] for p in xs], mode="lines", name=html.escape(label),
                                     row=i // 2 + 1, col=i % 2 + 1)
                grid.add_vrect(x0=start, x1=end, fillcolor="red", opacity=0.12, line_width=0, row=i // 2 + 1, col=i % 2 + 1)
            grid.update_annotations(font_size=12)
            grid.update_layout(height=260 * rows, margin=dict(l=10, r=10, t=40, b=10), showlegend=False)
            st.plotly_chart(grid, width="stretch", key="tr_metrics")
