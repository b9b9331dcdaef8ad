"""Reading logs for browsing: table counts, the facets the filters offer, one page of logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from .connection import WorkspaceCore
from .files import time_window
from .logquery import LogQuery, where_clause

__all__ = ["LogViewMixin"]


class LogViewMixin(WorkspaceCore):
    """Counts, log facets and paged log queries (the Logs page and ``crashlens`` listings)."""

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("logs", "spans", "metrics", "incidents", "artifacts", "rca_runs", "ingest_batches"):
            out[table] = int(self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        return out

    def log_facets(self) -> dict[str, Any]:
        """What the log filters can offer, from one aggregate pass per dimension."""
        services = self.con.execute(
            "SELECT coalesce(service, '(none)'), count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC LIMIT 500").fetchall()
        levels = self.con.execute("SELECT coalesce(level, '(none)'), count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC").fetchall()
        lo, hi, total = self.con.execute("SELECT min(ts), max(ts), count(*) FROM logs").fetchall()[0]
        return {"services": services, "levels": levels, "min_ts": lo, "max_ts": hi, "total": total}

    def query_logs(
        self,
        *,
        levels: Sequence[str] = (),
        services: Sequence[str] = (),
        text: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        batch_id: int | None = None,
        query: LogQuery | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> tuple[Any, int]:
        """One page of logs (newest first) as a DataFrame, and the total matching count; ``query``
        (``logquery.parse_log_query``) narrows it further."""
        where: list[str] = ["true"]
        params: list[Any] = []
        if levels:
            where.append(f"coalesce(level, '(none)') IN ({', '.join('?' for _ in levels)})")
            params += list(levels)
        if services:
            where.append(f"coalesce(service, '(none)') IN ({', '.join('?' for _ in services)})")
            params += list(services)
        if text:
            where.append("contains(lower(message), lower(?))")
            params.append(text)
        window, window_params = time_window("ts", start, end)
        where.append(window)
        params += window_params
        if batch_id is not None:
            where.append("batch_id = ?")
            params.append(batch_id)
        if query is not None:
            q_clause, q_params = where_clause(query, None, None)
            where.append(q_clause)
            params += q_params
        clause = " AND ".join(where)
        total = self.con.execute(f"SELECT count(*) FROM logs WHERE {clause}", params).fetchall()[0][0]
        frame = self.con.execute(
            f"""SELECT id, ts, level, service, host, message, trace_id, span_id, source_file, source_line
                FROM logs WHERE {clause} ORDER BY ts DESC NULLS LAST, id DESC LIMIT ? OFFSET ?""",
            params + [int(limit), int(offset)],
        ).df()
        return frame, int(total)
