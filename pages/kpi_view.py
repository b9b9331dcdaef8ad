"""The KPI panel: metric tiles and Plotly trends, drawn into whatever page calls it.

Not a page: the Overview page calls ``render_kpis(ws, settings)``. All figures come from
``crashlens_core.kpi.compute_kpis``; this module only lays them out, with units on every
tile and axis. Charts keep Streamlit's theme (light or dark) and transparent backgrounds.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from crashlens_core.config import Settings
from pages import common
from pages.reads import kpis as _cached_kpis
from crashlens_core.errors import CrashLensError
from crashlens_core.kpi import human_duration
from crashlens_core.store import utcnow

__all__ = ["render_kpis"]

_PERIODS = {"7 days": 7, "30 days": 30, "90 days": 90, "365 days": 365}


def _usd(v: float | None) -> str:
    return "—" if v is None else (f"${v:,.4f}" if v < 1 else f"${v:,.2f}")


def _layout(fig: Any, x_title: str, y_title: str, height: int = 300) -> Any:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), paper_bgcolor="rgba(0,0,0,0)",
                      plot_bgcolor="rgba(0,0,0,0)", legend=dict(orientation="h", y=1.12, x=0))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def _tiles(k: dict[str, Any]) -> None:
    inc = k["incidents"]
    row1 = st.columns(4)
    row1[0].metric("Incidents", f"{inc['total']:,}", help=f"opened in the last {k['period']['days']} days; "
                   f"{inc['historical']} opened from historical data (left out of MTTD)")
    row1[1].metric("MTTD (median)", human_duration(k["mttd"]["median"]),
                   help=f"incident start → incident opened; p90 {human_duration(k['mttd']['p90'])}, n={k['mttd']['count']}")
    row1[2].metric("Evidence time (median)", human_duration(k["evidence_time"]["median"]),
                   help=f"incident start → evidence assembled; p90 {human_duration(k['evidence_time']['p90'])}")
    row1[3].metric("Time to RCA (median)", human_duration(k["time_to_rca"]["median"]),
                   help=f"incident start → first finished RCA; p90 {human_duration(k['time_to_rca']['p90'])}")
    row2 = st.columns(4)
    row2[0].metric("MTTR (median)", human_duration(k["mttr"]["median"]),
                   help=f"incident start → resolved; p90 {human_duration(k['mttr']['p90'])}, n={k['mttr']['count']}")
    runs = k["rca_runs"]
    if k["cost"]["total"] or k["tokens"]["prompt"] or k["tokens"]["completion"]:
        row2[1].metric("Cost per RCA (median)", _usd(k["cost"]["per_rca"]["median"]),
                       help=f"USD per finished RCA run; p90 {_usd(k['cost']['per_rca']['p90'])}")
        row2[2].metric("LLM cost (period)", _usd(k["cost"]["total"]),
                       help=f"{k['tokens']['prompt']:,} prompt + {k['tokens']['completion']:,} completion tokens")
    else:  # offline engine only: nothing was paid for, so show the runs instead of $0 tiles
        engines = ", ".join(f"{n} {e}" for e, n in runs["by_engine"].items()) or "none yet"
        row2[1].metric("RCA runs", f"{runs['total']:,}", help=f"started in the period: {engines}")
        row2[2].metric("RCA run time (median)", human_duration(runs["duration"]["median"]),
                       help=f"start → report; p90 {human_duration(runs['duration']['p90'])}")
    rate = k["error_rate"]["overall"]
    row2[3].metric("Error rate", "—" if rate is None else f"{rate:,.2f}/min",
                   help="ERROR and FATAL log lines per minute over the last days of log data")


def _day_axis(fig: Any, days: list[str]) -> None:
    """Whole days on the axis, even when there is only one (plotly would zoom into milliseconds)."""
    from datetime import date, timedelta

    fig.update_xaxes(type="date", tickformat="%Y-%m-%d")
    fig.update_traces(width=86_400_000 * 0.6, selector=dict(type="bar"))  # bars a day wide, not a hairline
    if len(days) == 1:
        only = date.fromisoformat(days[0][:10])
        fig.update_xaxes(range=[str(only - timedelta(days=3)), str(only + timedelta(days=3))], dtick=86_400_000)


def _day_bars(days: list[dict[str, Any]], field: str, x_title: str, y_title: str, caption: str, key: str) -> None:
    import plotly.graph_objects as go

    x = [d["day"] for d in days]
    fig = go.Figure(go.Bar(x=x, y=[d[field] for d in days], name=y_title))
    _layout(fig, x_title, y_title)
    _day_axis(fig, x)
    st.caption(caption)
    st.plotly_chart(fig, width="stretch", key=key)


def _incidents_chart(k: dict[str, Any]) -> None:
    days = [d for d in k["trends"]["per_day"] if d.get("incidents_started")]
    if days:
        _day_bars(days, "incidents_started", "Day of the incident window (UTC)", "Incidents",
                  "Incidents per day, by when they happened (window start)", "kpi_trend_chart")


def _cost_chart(k: dict[str, Any]) -> None:
    """Only when an LLM was paid for: an offline workspace has no cost to chart."""
    days = [d for d in k["trends"]["per_day"] if d["cost_usd"] or d["rca_runs"]]
    if k["cost"]["total"] and days:
        _day_bars(days, "cost_usd", "Day (UTC)", "LLM cost (USD per day)", "LLM cost per day of RCA runs", "kpi_cost_chart")


def _error_chart(k: dict[str, Any]) -> None:
    import plotly.graph_objects as go

    series = k["error_rate"]["series"]
    points = series["points"]
    fig = go.Figure(go.Scatter(x=[p["ts"] for p in points], y=[p["errors_per_min"] for p in points],
                               mode="lines", name="errors/min", fill="tozeroy", line_shape="hv"))
    width = common.step_label(int(series["bucket_s"]))
    window = k["error_rate"]["window"]
    st.caption(f"Errors per minute, in {width} buckets, {window['start'][:16]} … {window['end'][:16]} (log time)")
    st.plotly_chart(_layout(fig, f"Log time (UTC), {width} buckets", "Errors per minute"), width="stretch",
                    key="kpi_error_chart")


def _bar(title: str, counts: dict[str, int], key: str) -> None:
    import plotly.graph_objects as go

    labels = [str(c).replace("_", " ") for c in counts]
    fig = go.Figure(go.Bar(x=labels, y=list(counts.values()), name=title))
    st.plotly_chart(_layout(fig, title, "Incidents", height=260), width="stretch", key=key)


def _breakdown_charts(k: dict[str, Any]) -> None:
    import plotly.graph_objects as go

    inc = k["incidents"]
    if inc["total"]:
        left, right = st.columns(2)
        with left:
            _bar("Status", inc["by_status"], "kpi_status_chart")
        with right:
            _bar("Severity", inc["by_severity"], "kpi_severity_chart")
    svc = dict(list(k["error_rate"]["by_service"].items())[:12])
    if svc:
        fig = go.Figure(go.Bar(x=list(svc.values()), y=list(svc), orientation="h", name="errors/min"))
        fig.update_yaxes(autorange="reversed")
        st.plotly_chart(_layout(fig, "Errors per minute", "Service", height=max(220, 28 * len(svc))), width="stretch",
                        key="kpi_service_chart")


def render_kpis(ws: Any, settings: Settings) -> None:
    """Draw the KPI tiles and trends of the workspace (period chosen with a selector)."""
    label = st.segmented_control("KPI period", list(_PERIODS), default="30 days", key="kpi_period")
    days = _PERIODS.get(label or "30 days", 30)
    # "now" to the minute: reruns within a minute share one computation, and the period's end
    # moves on with the clock at most a minute late
    now = utcnow().replace(second=0, microsecond=0)
    try:
        k = _cached_kpis(ws, settings, days, now)
    except CrashLensError as exc:
        common.show_error(exc)
        return
    _tiles(k)
    # The charts sit below the tiles, most of them below the fold: two tabs, and only the open
    # one is drawn (each switch is a rerun), so a page opening draws two Plotly figures, not five.
    trends, breakdown = st.tabs(["Trends", "By status, severity and service"], key="kpi_tab", on_change="rerun")
    with trends:
        if trends.open:
            _incidents_chart(k)
            _cost_chart(k)
            if k["error_rate"]["series"]["points"]:
                _error_chart(k)
    with breakdown:
        if breakdown.open and (k["incidents"]["total"] or k["error_rate"]["by_service"]):
            _breakdown_charts(k)
    if not (k["trends"]["per_day"] or k["error_rate"]["per_hour"]):
        st.caption("No incidents, RCA runs or logs in this period yet: the KPIs fill in as you investigate.")
