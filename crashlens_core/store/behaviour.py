"""SQL for behaviour comparison: who calls what how often, and which log templates each service writes.

``signals.behaviour`` compares two windows with these counts. Operation names are compared by
shape (``op_shape``): runs of digits and long hex ids are masked, because a span named
``GET /orders/1234`` is one operation however many orders there are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .files import time_window
from .workspace import Workspace

__all__ = ["op_shape_sql", "call_counts", "template_counts"]


def op_shape_sql(col: str) -> str:
    """SQL for the shape of an operation name: hex ids of 8+ and digit runs become ``<*>``."""
    return f"regexp_replace(regexp_replace(coalesce({col}, ''), '[0-9a-fA-F]{{8,}}', '<*>', 'g'), '[0-9]+', '<*>', 'g')"


def call_counts(ws: Workspace, start: datetime, end: datetime) -> tuple[dict[tuple[str, str], int],
                                                                          dict[tuple[str, str, str, str], int]]:
    """(calls per operation, children per parent operation and child operation) in ``[start, end)``.

    Only parents that did not fail count: a failed call stops doing its work, so what it did
    not call says nothing new (its error is evidence of its own). Children are counted under
    the parent that started in the window, wherever they start.
    """
    clause, params = time_window("start_ts", start, end)
    parents = ws.con.execute(f"""
        SELECT coalesce(service, ''), {op_shape_sql('name')}, count(*) FROM spans
        WHERE {clause} AND coalesce(status, 'unset') <> 'error' GROUP BY ALL""", params).fetchall()
    children = ws.con.execute(f"""
        WITH p AS (SELECT trace_id, span_id, coalesce(service, '') AS service, {op_shape_sql('name')} AS op FROM spans
                   WHERE {clause} AND coalesce(status, 'unset') <> 'error')
        SELECT p.service, p.op, coalesce(c.service, ''), {op_shape_sql('c.name')}, count(*)
        FROM p JOIN spans c ON c.trace_id = p.trace_id AND c.parent_id = p.span_id
        GROUP BY ALL""", params).fetchall()
    return ({(s, o): int(n) for s, o, n in parents},
            {(ps, po, cs, co): int(n) for ps, po, cs, co, n in children})


def template_counts(ws: Workspace, start: datetime, end: datetime) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (service, template id): lines in ``[start, end)``, with the template's text."""
    clause, params = time_window("l.ts", start, end)
    rows = ws.con.execute(f"""
        SELECT coalesce(l.service, ''), l.template_id, count(*), any_value(t.template), max(l.id)
        FROM logs l LEFT JOIN templates t ON t.template_id = l.template_id
        WHERE {clause} AND l.template_id IS NOT NULL AND coalesce(l.level, '') NOT IN ('ERROR', 'FATAL')
        GROUP BY ALL""", params).fetchall()
    return {(s, tid): {"count": int(n), "template": tpl, "example": ex} for s, tid, n, tpl, ex in rows}
