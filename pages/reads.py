"""The workspace reads that pages repeat on every rerun, kept per workspace version.

Each function here is the core call a page made before, wrapped by ``common.by_version``: the
same arguments on unchanged data answer from ``st.cache_data`` (a widget click, a page switch,
another browser tab), and any write to the workspace (an ingest, a status change, an RCA run,
a CLI command between two runs) changes ``Workspace.version()``, so the next call reads afresh.
Pages stay thin: ``reads.incidents(ws)`` where they wrote ``ws.list_incidents()``.

Only reads of the DuckDB file belong here (the version covers that file alone): not searches
over the knowledge indexes, not reads that depend on the clock or on files outside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from crashlens_core.config import Settings
from crashlens_core.kpi import compute_kpis
from crashlens_core.models import Incident
from crashlens_core.rca.engine import list_runs
from crashlens_core.signals import issues
from crashlens_core.signals.issues import Issue
from crashlens_core.signals.compare import Comparison, compare_windows
from crashlens_core.signals.metrics_anomaly import MetricAnomaly, metric_anomalies
from crashlens_core.signals.servicemap import EdgeChange, ServiceMap, service_map, service_map_change
from crashlens_core.signals.suspects import ServiceSuspect, rank_suspect_services
from crashlens_core.signals.tracecompare import TraceComparison, compare_trace
from crashlens_core.signals.traces import TraceSummary, summarize_trace
from crashlens_core.store import Workspace
from crashlens_core.store import changes as change_store
from crashlens_core.store import signals as signal_store
from crashlens_core.store import timerange
from crashlens_core.store import logquery
from crashlens_core.store import traces as trace_store
from pages.common import by_version

__all__ = ["counts", "extent", "incidents", "incident", "batches", "kpis", "log_volume",
           "changes_between", "window_issues", "comparison", "trace_bounds", "worst_traces", "trace_summary",
           "trace_comparison", "span_attributes", "suspect_services", "services", "services_change",
           "metric_anomalies_of", "metric_series", "runs", "log_facets", "log_attribute_keys", "log_histogram", "log_groups",
           "log_page"]


# ---------------------------------------------------------------- the workspace as a whole
@by_version
def counts(ws: Workspace) -> dict[str, int]:
    return ws.counts()


@by_version
def extent(ws: Workspace) -> tuple[datetime | None, datetime | None]:
    """The oldest and newest data time: the sidebar's time range counts back from it on every page."""
    return timerange.data_extent(ws)


@by_version
def batches(ws: Workspace, limit: int = 50) -> list[dict[str, Any]]:
    return ws.list_batches(limit=limit)


@by_version
def kpis(ws: Workspace, settings: Settings, days: int, now: datetime) -> dict[str, Any]:
    """``compute_kpis(...).to_json()``; the caller passes ``now`` (rounded, so reruns share it)."""
    return compute_kpis(ws, settings, now=now, days=days).to_json()


# ---------------------------------------------------------------- incidents
@by_version
def incidents(ws: Workspace, limit: int = 500) -> list[Incident]:
    return ws.list_incidents(limit=limit)


@by_version
def incident(ws: Workspace, id_or_prefix: str) -> Incident:
    """``ws.get_incident``; an unknown id raises as before (errors are not cached)."""
    return ws.get_incident(id_or_prefix)


@by_version
def log_volume(ws: Workspace, start: datetime, end: datetime, bin_s: int) -> list[tuple[datetime, str, int]]:
    return signal_store.log_volume(ws, start, end, bin_s)


@by_version
def changes_between(ws: Workspace, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
    return change_store.changes_between(ws, start, end)


@by_version
def window_issues(ws: Workspace, start: datetime, end: datetime) -> list[Issue]:
    return issues.window_issues(ws, start, end)


@by_version
def comparison(ws: Workspace, start: datetime, end: datetime, focus: str, settings: Settings,
               with_suspects: bool = False) -> Comparison:
    """``compare_windows`` against the default baseline (the same length just before)."""
    return compare_windows(ws, start, end, focus=focus, settings=settings, with_suspects=with_suspects)


@by_version
def runs(ws: Workspace, incident_id: str) -> list[dict[str, Any]]:
    """The incident's RCA runs, newest first (``rca.engine.list_runs``)."""
    return list_runs(ws, incident_id)


# ---------------------------------------------------------------- traces, services, metrics
@by_version
def trace_bounds(ws: Workspace) -> tuple[datetime | None, datetime | None, int]:
    return trace_store.trace_bounds(ws)


@by_version
def worst_traces(ws: Workspace, start: datetime | None, end: datetime | None, limit: int = 100) -> list[dict[str, Any]]:
    return trace_store.worst_traces(ws, start, end, limit=limit)


@by_version
def trace_summary(ws: Workspace, trace_id: str) -> TraceSummary:
    return summarize_trace(ws, trace_id)


@by_version
def trace_comparison(ws: Workspace, trace_id: str, typical: int) -> TraceComparison:
    return compare_trace(ws, trace_id, typical=typical)


@by_version
def span_attributes(ws: Workspace, trace_id: str, span_id: str) -> dict[str, Any] | None:
    return trace_store.span_attributes(ws, trace_id, span_id)


@by_version
def suspect_services(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                     settings: Settings) -> list[ServiceSuspect]:
    return rank_suspect_services(ws, start, end, b_start, b_end, settings)


@by_version
def services(ws: Workspace, start: datetime | None, end: datetime | None, by_host: bool) -> ServiceMap:
    return service_map(ws, start, end, by_host=by_host)


@by_version
def services_change(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                    by_host: bool) -> list[EdgeChange]:
    return service_map_change(ws, start, end, b_start, b_end, by_host=by_host)


@by_version
def metric_anomalies_of(ws: Workspace, start: datetime, end: datetime, b_start: datetime,
                        b_end: datetime) -> list[MetricAnomaly]:
    return metric_anomalies(ws, start, end, b_start, b_end)


@by_version
def metric_series(ws: Workspace, name: str, service: str | None, host: str | None, start: datetime,
                  end: datetime) -> list[tuple[datetime, str, float]]:
    return trace_store.metric_series(ws, name, service, host, start, end)


# ---------------------------------------------------------------- logs
@by_version
def log_facets(ws: Workspace) -> dict[str, Any]:
    return ws.log_facets()


@by_version
def log_attribute_keys(ws: Workspace, start: datetime | None, end: datetime | None) -> list[str]:
    return logquery.attribute_keys(ws, start=start, end=end)


@by_version
def log_histogram(ws: Workspace, query: logquery.LogQuery, start: datetime,
                  end: datetime) -> tuple[int, list[tuple[datetime, str, int]]]:
    return logquery.log_histogram(ws, query, start=start, end=end)


@by_version
def log_groups(ws: Workspace, query: logquery.LogQuery, by: Sequence[str], start: datetime | None,
               end: datetime | None, limit: int) -> dict[str, Any]:
    return logquery.group_logs(ws, query, by, start=start, end=end, limit=limit)


@by_version
def log_page(ws: Workspace, **filters: Any) -> tuple[Any, int]:
    """One page of ``ws.query_logs(**filters)``: (the rows as a DataFrame, the matching total)."""
    return ws.query_logs(**filters)
