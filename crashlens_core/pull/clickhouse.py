"""ClickHouse over its HTTP interface: logs or spans of a time range as JSON Lines (``FORMAT JSONEachRow``).

Queries go out as GET, which ClickHouse runs read-only whatever the user may do, so a
source's SQL cannot change the cluster. The SQL is kept portable down to old servers
(Debian ships 18.16): ``toDateTime(text, 'UTC')`` for the window bounds, ``toString(col,
'UTC')`` for times, no DateTime64, no parameters syntax.

A table source selects its mapped columns under the names the ingest reads (``event_time AS
ts``), so the rows go through the same JSON Lines log ingest (or native span ingest) as a
file; a user SQL source returns its own columns, named as a file's would be.

>>> s = Source("ch", "clickhouse", "http://127.0.0.1:8123",
...            {"signal": "logs", "table": "app.logs", "columns": {"ts": "event_time", "message": "msg"}})
>>> print(build_sql(s, datetime(2024, 5, 1, 10), datetime(2024, 5, 1, 11)))
SELECT toString(event_time, 'UTC') AS ts, msg AS message FROM app.logs WHERE event_time >= toDateTime('2024-05-01 10:00:00', 'UTC') AND event_time < toDateTime('2024-05-01 11:00:00', 'UTC') ORDER BY event_time
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ..config import Settings
from ..errors import SourceError
from .http import Reply, request
from .sources import LOG_FIELDS, SPAN_FIELDS, Credentials, Source

__all__ = ["build_sql", "run_query", "check_clickhouse", "count_rows"]

_TIME_FIELDS = {"ts", "start_ts", "end_ts"}


def _literal(ts: datetime, up: bool) -> str:
    """A window bound as a portable ClickHouse DateTime (whole seconds: the start rounds down, the end up)."""
    if up and ts.microsecond:
        ts = ts.replace(microsecond=0) + timedelta(seconds=1)
    else:
        ts = ts.replace(microsecond=0)
    return f"toDateTime('{ts:%Y-%m-%d %H:%M:%S}', 'UTC')"


def build_sql(source: Source, start: datetime, end: datetime) -> str:
    """The SELECT a pull sends for [start, end): the table query of the mapping, or the user's SQL filled in."""
    config = source.config
    lo, hi = _literal(start, up=False), _literal(end, up=True)
    if config.get("sql"):
        sql = str(config["sql"])  # a SELECT, checked by make_source; sent as GET, which ClickHouse runs read-only
        return sql.replace("{from}", lo).replace("{to}", hi)
    fields = LOG_FIELDS if config.get("signal", "logs") == "logs" else SPAN_FIELDS
    columns: dict[str, str] = config["columns"]
    time_col = columns[fields[0]]
    parts = []
    for name in fields:  # in the field order, so the statement is the same for the same mapping
        col = columns.get(name)
        if col is None:
            continue
        parts.append(f"toString({col}, 'UTC') AS {name}" if name in _TIME_FIELDS else f"{col} AS {name}")
    return (f"SELECT {', '.join(parts)} FROM {config['table']} "
            f"WHERE {time_col} >= {lo} AND {time_col} < {hi} ORDER BY {time_col}")


def _auth(creds: Credentials) -> tuple[dict[str, str], Any]:
    if creds.token:  # ClickHouse has no bearer tokens of its own; a proxy in front of it may
        return {"Authorization": f"Bearer {creds.token}"}, None
    return {}, (creds.user, creds.password) if creds.user else None


def run_query(settings: Settings, source: Source, creds: Credentials, sql: str) -> Reply:
    """Run ``sql`` read-only and return the raw JSON Lines answer."""
    headers, auth = _auth(creds)
    return request(settings, source.name, "GET", source.url + "/", params={"query": f"{sql} FORMAT JSONEachRow"},
                   headers=headers, auth=auth)


def count_rows(body: bytes) -> int:
    """Rows of a JSONEachRow answer: its non-empty lines."""
    return sum(1 for line in body.split(b"\n") if line.strip())


def check_clickhouse(settings: Settings, source: Source, creds: Credentials) -> dict[str, Any]:
    """Reach the server, read its version and, for a table source, check the mapped columns exist."""
    reply = run_query(settings, source, creds, "SELECT version() AS version")
    try:
        version = str(json.loads(reply.body.split(b"\n", 1)[0]).get("version", ""))
    except (ValueError, AttributeError):
        raise SourceError(f"source {source.name}: the answer is not ClickHouse's JSON (is the URL its HTTP port, 8123?)",
                          hint="the URL is the HTTP interface's base, e.g. http://127.0.0.1:8123") from None
    out: dict[str, Any] = {"ok": True, "seconds": round(reply.seconds, 3), "version": version}
    table = source.config.get("table")
    if table:
        described = run_query(settings, source, creds, f"DESCRIBE TABLE {table}")
        have = {json.loads(line).get("name") for line in described.body.split(b"\n") if line.strip()}
        missing = sorted(c for c in source.config["columns"].values() if c not in have)
        if missing:
            raise SourceError(f"source {source.name}: table {table} has no column {', '.join(missing)}",
                              hint=f"its columns: {', '.join(sorted(str(h) for h in have))[:300]}")
        out["columns"] = len(have)
    return out
