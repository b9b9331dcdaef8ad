"""SQL of the baseline comparison: value counts per dimension in two windows, template rates.

One scan per source table: every dimension is a branch of one UNION ALL over the rows of the
two windows, grouped once. Attribute keys come from the JSON attributes themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: the runtime imports stay as they were
    from .workspace import Workspace

__all__ = ["log_dimension_counts", "span_dimension_counts", "template_window_counts"]

_LOG_DIMS = {
    "service": "service",
    "host": "host",
    "level": "level",
    "template": "template_id",
    "fingerprint": "fingerprint",
}


def _sides(col: str) -> str:
    return (f"CASE WHEN {col} >= $w0 AND {col} < $w1 THEN 'i' WHEN {col} >= $b0 AND {col} < $b1 THEN 'b' END")


def log_dimension_counts(ws: Workspace, w0: datetime, w1: datetime, b0: datetime, b1: datetime, *,
                         errors_only: bool = False, max_keys: int = 40) -> list[tuple[str, str | None, int, int]]:
    """``(dimension, value, incident count, baseline count)`` for every log dimension and
    attribute key. ``errors_only``: the incident side keeps ERROR/FATAL logs only (BubbleUp's
    "selection vs everything else"); the baseline side keeps all logs."""
    focus = "AND (side = 'b' OR level IN ('ERROR', 'FATAL'))" if errors_only else ""
    fixed = " UNION ALL ".join(f"SELECT '{name}' AS dim, {col}::VARCHAR AS v, side FROM w" for name, col in _LOG_DIMS.items())
    sql = f"""
        WITH w0 AS (SELECT *, {_sides('ts')} AS side FROM logs
                    WHERE (ts >= $w0 AND ts < $w1) OR (ts >= $b0 AND ts < $b1)),
             w AS (SELECT * FROM w0 WHERE side IS NOT NULL {focus}),
             a AS (SELECT side, attributes FROM w WHERE attributes IS NOT NULL AND json_valid(attributes)
                     AND json_type(attributes) = 'OBJECT'),
             keys AS (SELECT k FROM (SELECT unnest(json_keys(attributes)) AS k FROM a)
                      GROUP BY k ORDER BY count(*) DESC LIMIT {int(max_keys)})
        SELECT dim, v, count(*) FILTER (side = 'i'), count(*) FILTER (side = 'b') FROM (
            {fixed}
            UNION ALL
            SELECT 'attr.' || k, json_extract_string(a.attributes, '$."' || replace(k, '"', '') || '"'), side
            FROM a, keys WHERE json_exists(a.attributes, '$."' || replace(k, '"', '') || '"')
        ) GROUP BY dim, v"""
    rows = ws.con.execute(sql, {"w0": w0, "w1": w1, "b0": b0, "b1": b1}).fetchall()
    return [(str(d), v, int(i), int(b)) for d, v, i, b in rows]


def span_dimension_counts(ws: Workspace, w0: datetime, w1: datetime, b0: datetime, b1: datetime, *,
                          errors_only: bool = False) -> list[tuple[str, str | None, int, int]]:
    """The same for spans: service, operation (service: name), status, latency bucket."""
    focus = "AND (side = 'b' OR status = 'error')" if errors_only else ""
    sql = f"""
        WITH w0 AS (SELECT *, {_sides('start_ts')} AS side FROM spans
                    WHERE (start_ts >= $w0 AND start_ts < $w1) OR (start_ts >= $b0 AND start_ts < $b1)),
             w AS (SELECT * FROM w0 WHERE side IS NOT NULL {focus})
        SELECT dim, v, count(*) FILTER (side = 'i'), count(*) FILTER (side = 'b') FROM (
            SELECT 'span.service' AS dim, service AS v, side FROM w
            UNION ALL SELECT 'span.operation', service || ': ' || name, side FROM w
            UNION ALL SELECT 'span.status', status, side FROM w
            UNION ALL SELECT 'span.latency',
                CASE WHEN duration_ms IS NULL THEN NULL
                     WHEN duration_ms < 10 THEN '<10 ms' WHEN duration_ms < 100 THEN '10-100 ms'
                     WHEN duration_ms < 500 THEN '100-500 ms' WHEN duration_ms < 1000 THEN '0.5-1 s'
                     WHEN duration_ms < 5000 THEN '1-5 s' ELSE '>=5 s' END, side FROM w
        ) GROUP BY dim, v"""
    rows = ws.con.execute(sql, {"w0": w0, "w1": w1, "b0": b0, "b1": b1}).fetchall()
    return [(str(d), v, int(i), int(b)) for d, v, i, b in rows]


def template_window_counts(ws: Workspace, w0: datetime, w1: datetime, b0: datetime, b1: datetime,
                           limit: int = 200) -> list[tuple]:
    """``(template_id, template, incident count, baseline count, first_ts, levels, services, example)``
    for templates seen in the incident window, busiest first."""
    return ws.con.execute(
        f"""WITH c AS (
              SELECT template_id, count(*) FILTER (ts >= $w0 AND ts < $w1) AS i,
                     count(*) FILTER (ts >= $b0 AND ts < $b1) AS b
              FROM logs WHERE template_id IS NOT NULL AND ((ts >= $w0 AND ts < $w1) OR (ts >= $b0 AND ts < $b1))
              GROUP BY template_id HAVING count(*) FILTER (ts >= $w0 AND ts < $w1) > 0)
            SELECT c.template_id, t.template, c.i, c.b, t.first_ts, t.levels, t.services, t.example
            FROM c LEFT JOIN templates t ON t.template_id = c.template_id
            ORDER BY c.i DESC LIMIT {int(limit)}""",
        {"w0": w0, "w1": w1, "b0": b0, "b1": b1}).fetchall()
