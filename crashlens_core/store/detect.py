"""SQL of incident detection: per-bin error counts by kind and per-bin span latency by service.

Everything is aggregated in DuckDB; Python receives one row per (key, bin) with activity.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .files import time_window

if TYPE_CHECKING:  # for annotations only: the runtime imports stay as they were
    from .workspace import Workspace

__all__ = ["active_bins", "active_bins_by_key", "error_bins", "latency_bins"]


def _range(start: datetime | None, end: datetime | None, col: str = "ts") -> tuple[str, list[Any]]:
    return time_window(col, start, end)


def active_bins(ws: Workspace, bin_s: int, start: datetime | None = None, end: datetime | None = None) -> int:
    """Bins with any log or span: the denominator of a baseline rate (idle gaps don't dilute it)."""
    w1, p1 = _range(start, end)
    w2, p2 = _range(start, end, "start_ts")
    row = ws.con.execute(
        f"""SELECT count(*) FROM (
              SELECT time_bucket(to_seconds({int(bin_s)}), ts) b FROM logs WHERE ts IS NOT NULL AND {w1}
              UNION
              SELECT time_bucket(to_seconds({int(bin_s)}), start_ts) FROM spans WHERE start_ts IS NOT NULL AND {w2})""",
        p1 + p2).fetchall()
    return int(row[0][0])


def active_bins_by_key(ws: Workspace, bin_s: int, start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
    """Per error key (as ``error_bins`` names it): the bins in which the files its lines came from
    logged anything. A file only shows a key while it was being written, so this is the key's
    denominator; keys whose lines name no file are left out (the workspace's ``active_bins`` then)."""
    w, p = _range(start, end)
    rows = ws.con.execute(
        f"""WITH keyed AS (
              SELECT DISTINCT coalesce('fp:' || fingerprint, 'tpl:' || template_id, 'msg:' || left(message, 80)) AS key,
                     source_file
              FROM logs WHERE level IN ('ERROR', 'FATAL') AND ts IS NOT NULL AND source_file IS NOT NULL AND {w}),
            file_bins AS (
              SELECT DISTINCT source_file, time_bucket(to_seconds({int(bin_s)}), ts) AS b
              FROM logs WHERE ts IS NOT NULL AND source_file IS NOT NULL
                AND source_file IN (SELECT source_file FROM keyed) AND {w})
            SELECT k.key, count(DISTINCT f.b) FROM keyed k JOIN file_bins f USING (source_file) GROUP BY k.key""",
        p + p).fetchall()
    return {key: int(n) for key, n in rows}


def error_bins(ws: Workspace, bin_s: int, start: datetime | None = None, end: datetime | None = None) -> list[tuple]:
    """``(key, bin, count, fatal, services, trace_ids, hosts, files)`` for ERROR/FATAL logs, keyed by
    ``fp:<fingerprint>`` when the log carries an exception, else ``tpl:<template id>``."""
    w, p = _range(start, end)
    return ws.con.execute(
        f"""SELECT coalesce('fp:' || fingerprint, 'tpl:' || template_id, 'msg:' || left(message, 80)) AS key,
                   time_bucket(to_seconds({int(bin_s)}), ts) AS b, count(*) AS n,
                   count(*) FILTER (level = 'FATAL') AS fatal,
                   list_sort(list(DISTINCT service) FILTER (service IS NOT NULL)),
                   list(DISTINCT trace_id) FILTER (trace_id IS NOT NULL)[1:50],
                   list_sort(list(DISTINCT host) FILTER (host IS NOT NULL)),
                   list_sort(list(DISTINCT source_file) FILTER (source_file IS NOT NULL))[1:5]
            FROM logs WHERE level IN ('ERROR', 'FATAL') AND ts IS NOT NULL AND {w}
            GROUP BY ALL ORDER BY key, b""", p).fetchall()


def latency_bins(ws: Workspace, bin_s: int, start: datetime | None = None, end: datetime | None = None) -> list[tuple]:
    """``(service, operation, bin, spans, p95_ms, trace_ids)`` per span operation and bin: a slow
    query shows as its own operation even when the request it sits in is dominated by others."""
    w, p = _range(start, end, "start_ts")
    return ws.con.execute(
        f"""SELECT service, name, time_bucket(to_seconds({int(bin_s)}), start_ts) AS b, count(*) AS n,
                   quantile_cont(duration_ms, 0.95) AS p95, list(DISTINCT trace_id)[1:50]
            FROM spans
            WHERE duration_ms IS NOT NULL AND start_ts IS NOT NULL AND service IS NOT NULL AND {w}
            GROUP BY ALL ORDER BY service, name, b""", p).fetchall()
