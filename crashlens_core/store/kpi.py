"""SQL behind the KPIs: incidents and RCA runs of a period, and error rates over the logs.

Returns plain rows; ``crashlens_core.kpi`` turns them into figures. The log queries are
aggregates pushed into DuckDB (one pass per question), so a workspace with millions of
log lines answers in well under a second.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence

from .workspace import Workspace

__all__ = ["incident_rows", "run_rows", "log_extent", "error_counts", "error_series"]

# ERROR and FATAL are the canonical levels parsers map every dialect onto (models.LOG_LEVELS).
_ERROR_LEVELS = ("ERROR", "FATAL")


def _dicts(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(cols, r)) for r in rows]


def incident_rows(ws: Workspace, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Incidents opened in [since, until)."""
    cols = ("id", "status", "severity", "services", "window_start", "created_ts", "resolved_ts", "source")
    rows = ws.con.execute(
        f"SELECT {', '.join(cols)} FROM incidents WHERE created_ts >= ? AND created_ts < ? ORDER BY created_ts",
        [since, until],
    ).fetchall()
    out = _dicts(cols, rows)
    for row in out:
        row["services"] = list(row["services"] or [])
    return out


def run_rows(ws: Workspace, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """RCA runs started in [since, until), plus every run of the incidents opened then."""
    cols = ("id", "incident_id", "engine", "model", "status", "started_ts", "finished_ts", "evidence_ts",
            "prompt_tokens", "completion_tokens", "cost_usd")
    rows = ws.con.execute(
        f"""SELECT {', '.join(cols)} FROM rca_runs
            WHERE (started_ts >= ? AND started_ts < ?)
               OR incident_id IN (SELECT id FROM incidents WHERE created_ts >= ? AND created_ts < ?)
            ORDER BY started_ts, id""",
        [since, until, since, until],
    ).fetchall()
    return _dicts(cols, rows)


def log_extent(ws: Workspace) -> tuple[datetime | None, datetime | None]:
    """First and last log timestamp: logs carry their own clock (often a past one)."""
    row = ws.con.execute("SELECT min(ts), max(ts) FROM logs").fetchall()[0]
    return row[0], row[1]


def error_counts(ws: Workspace, days: int) -> dict[str, Any]:
    """ERROR/FATAL counts over the last ``days`` days of log data: per hour and per service.

    Returns ``{"start", "end", "errors", "logs", "per_hour": [(hour, errors, logs)],
    "by_service": [(service, errors, logs)]}``; start/end are None when there are no logs.
    """
    _, last = log_extent(ws)
    if last is None:
        return {"start": None, "end": None, "errors": 0, "logs": 0, "per_hour": [], "by_service": []}
    since = last - timedelta(days=days)
    first = ws.con.execute("SELECT min(ts) FROM logs WHERE ts >= ?", [since]).fetchall()[0][0]
    levels = ", ".join(f"'{lvl}'" for lvl in _ERROR_LEVELS)
    per_hour = ws.con.execute(
        f"""SELECT date_trunc('hour', ts) AS hour, count(*) FILTER (WHERE level IN ({levels})) AS errors, count(*) AS logs
            FROM logs WHERE ts >= ? GROUP BY hour ORDER BY hour""",
        [since],
    ).fetchall()
    by_service = ws.con.execute(
        f"""SELECT coalesce(service, '(none)') AS svc, count(*) FILTER (WHERE level IN ({levels})) AS errors, count(*) AS logs
            FROM logs WHERE ts >= ? GROUP BY svc ORDER BY errors DESC, svc""",
        [since],
    ).fetchall()
    return {
        "start": first,
        "end": last,
        "errors": sum(int(r[1]) for r in per_hour),
        "logs": sum(int(r[2]) for r in per_hour),
        "per_hour": [(r[0], int(r[1]), int(r[2])) for r in per_hour],
        "by_service": [(r[0], int(r[1]), int(r[2])) for r in by_service],
    }


def error_series(ws: Workspace, since: datetime, bucket_s: int) -> list[tuple[datetime, int, int]]:
    """(bucket start, errors, logs) per ``bucket_s`` seconds of log time from ``since``, oldest first.

    Buckets are aligned on the epoch (``time_bucket``), so the same data gives the same points
    whatever the window; empty buckets are left out (the chart draws them as gaps, not zeros).
    """
    levels = ", ".join(f"'{lvl}'" for lvl in _ERROR_LEVELS)
    rows = ws.con.execute(
        f"""SELECT time_bucket(to_seconds(?), ts) AS b, count(*) FILTER (WHERE level IN ({levels})), count(*)
            FROM logs WHERE ts >= ? GROUP BY b ORDER BY b""",
        [bucket_s, since],
    ).fetchall()
    return [(r[0], int(r[1]), int(r[2])) for r in rows]
