"""All SQL of the traces-and-metrics signals: span pulls in bulk, service-map edges, trace lists, metric windows.

Every function takes a ``Workspace`` and returns Arrow tables or plain rows; the algorithms
(trees, critical path, error origin, rankings) live in ``crashlens_core.signals``. Queries
aggregate in DuckDB so a page or a ranking never loads a whole table into pandas.

Windows are half-open ``[start, end)`` on naive UTC timestamps. A trace belongs to a window
when its earliest span starts in it; a span or a metric sample when its own time does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

import pyarrow as pa

from .files import registered, time_window
from .workspace import Workspace

__all__ = [
    "span_table",
    "span_details",
    "span_error_logs",
    "origin_blame",
    "span_attributes",
    "trace_bounds",
    "worst_traces",
    "trace_root",
    "typical_trace_ids",
    "trace_ids_by_start",
    "edge_stats",
    "service_stats",
    "metric_window_stats",
    "metric_series",
    "incident_trace_ids",
]


# Where a client span writes down whom it called: OTel, older OTel, SkyWalking's export, databases.
_PEER_KEYS = ("peer.service", "server.address", "net.peer.name", "Peer", "db.system")


def _peer(alias: str) -> str:
    """SQL: the peer a span of ``alias`` names, or NULL."""
    return "coalesce(" + ", ".join(f"json_extract_string({alias}.attributes, '$.\"{k}\"')" for k in _PEER_KEYS) + ")"


def _node(alias: str, by_host: bool) -> str:
    """SQL: the map node of a span of ``alias``: its service, or ``service @ host`` when split by host."""
    if not by_host:
        return f"{alias}.service"
    host = (f"coalesce(json_extract_string({alias}.attributes, '$.\"host.name\"'), "
            f"json_extract_string({alias}.attributes, '$.host'))")
    return f"CASE WHEN {host} IS NULL THEN {alias}.service ELSE {alias}.service || ' @ ' || {host} END"


def _selection(trace_ids: Sequence[str] | None, start: datetime | None, end: datetime | None,
               limit: int | None) -> tuple[str, list[Any]]:
    """A CTE body listing the selected trace ids (column ``trace_id``)."""
    if trace_ids is not None:
        return "SELECT DISTINCT unnest(?::VARCHAR[]) AS trace_id", [list(trace_ids)]
    clause, params = time_window("t0", start, end)
    lim = f"LIMIT {int(limit)}" if limit is not None else ""
    return (f"SELECT trace_id FROM (SELECT trace_id, min(start_ts) AS t0 FROM spans GROUP BY trace_id) "
            f"WHERE {clause} ORDER BY t0, trace_id {lim}"), params


def span_table(ws: Workspace, *, trace_ids: Sequence[str] | None = None, start: datetime | None = None,
               end: datetime | None = None, limit: int | None = None) -> pa.Table:
    """The selected traces' spans in one Arrow table, grouped by trace and ordered by start time.

    Spans are matched to parents by 64-bit hashes, not strings (the join is then a numpy
    sort, about five times faster than DuckDB joining on two string columns): ``tk`` hashes
    the trace id, ``k`` the (trace, span) pair, ``pk`` the (trace, parent) pair (NULL for a
    root). Traces are grouped by ``tk`` (then id), so their order is not alphabetical.
    """
    params: list[Any]
    if trace_ids is None and start is None and end is None and limit is None:
        source, params = "spans sp", []
    else:
        sel, params = _selection(trace_ids, start, end, limit)
        source = f"spans sp SEMI JOIN ({sel}) sel ON sp.trace_id = sel.trace_id"
    # the join costs ~30% of the pull even with no logs: made only when an ERROR line names a span
    probe = f"SELECT count(*) FROM ({_ERROR_LOG_SPANS} LIMIT 1)"
    if ws.con.execute(probe).fetchall()[0][0]:
        log_error = "(coalesce(sp.status, 'unset') = 'unset' AND le.span_id IS NOT NULL)"
        source += f" LEFT JOIN ({_ERROR_LOG_SPANS}) le ON le.trace_id = sp.trace_id AND le.span_id = sp.span_id"
    else:
        log_error = "false"
    sql = f"""
    SELECT sp.trace_id, sp.span_id, hash(sp.trace_id) AS tk, hash(sp.trace_id, sp.span_id) AS k,
           CASE WHEN sp.parent_id IS NULL THEN NULL ELSE hash(sp.trace_id, sp.parent_id) END AS pk,
           coalesce(sp.service, '(unknown)') AS service, coalesce(sp.name, '') AS name, sp.kind,
           epoch_us(sp.start_ts) AS start_us, epoch_us(coalesce(sp.end_ts, sp.start_ts)) AS end_us,
           (sp.status = 'error' OR (coalesce(sp.status, 'unset') <> 'ok' AND sp.attributes IS NOT NULL
               AND contains(CAST(sp.attributes AS VARCHAR), '"exception.type"'))) AS is_error,
           {log_error} AS log_error
    FROM {source}
    WHERE sp.start_ts IS NOT NULL
    ORDER BY tk, sp.trace_id, sp.start_ts, sp.span_id, sp.end_ts
    """
    return ws.con.sql(sql, params=params).to_arrow_table()


# The spans an ERROR/FATAL log line names by trace and span id (ids compared lower-case: log
# parsers lower-case them, span parsers keep hex ids lower-case).
_ERROR_LOG_SPANS = """SELECT DISTINCT lower(trace_id) AS trace_id, lower(span_id) AS span_id FROM logs
                      WHERE level IN ('ERROR', 'FATAL') AND trace_id IS NOT NULL AND span_id IS NOT NULL"""

# An exception class named in a log line: dotted or not, ending in Exception or Error (the
# naming convention of Java, Python, .NET and JavaScript error classes).
_EXCEPTION_IN_TEXT = r"((?:[A-Za-z_$][\w$]*\.)*[A-Z][\w$]*(?:Exception|Error))\b"


def span_error_logs(ws: Workspace, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The first ERROR/FATAL log line of each given span ``(trace_id, span_id)``: ``log_id``, ``message``, ``exception``.

    ``exception`` is the line's ``exception.type`` attribute, else the first exception class
    name in its message (``…Exception`` / ``…Error``), else None.
    """
    if not keys:
        return {}
    tbl = pa.table({"trace_id": [k[0] for k in keys], "span_id": [k[1] for k in keys]})
    with registered(ws.con, "cl_log_span_keys", tbl):
        rows = ws.con.execute(f"""
            SELECT k.trace_id, k.span_id, arg_min(l.id, (l.ts, l.id)), arg_min(l.message, (l.ts, l.id)),
                   arg_min(coalesce(json_extract_string(l.attributes, '$."exception.type"'),
                                    nullif(regexp_extract(l.message, {_q(_EXCEPTION_IN_TEXT)}, 1), '')), (l.ts, l.id))
            FROM logs l JOIN cl_log_span_keys k ON lower(l.trace_id) = k.trace_id AND lower(l.span_id) = k.span_id
            WHERE l.level IN ('ERROR', 'FATAL')
            GROUP BY k.trace_id, k.span_id""").fetchall()
    return {(r[0], r[1]): {"log_id": r[2], "message": r[3], "exception": r[4]} for r in rows}


def span_details(ws: Workspace, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Exception type/message, status message and host of the given spans (first occurrence each)."""
    if not keys:
        return {}
    tbl = pa.table({"trace_id": [k[0] for k in keys], "span_id": [k[1] for k in keys]})
    with registered(ws.con, "cl_span_keys", tbl):
        rows = ws.con.execute("""
            SELECT s.trace_id, s.span_id,
                   any_value(json_extract_string(s.attributes, '$."exception.type"')),
                   any_value(json_extract_string(s.attributes, '$."exception.message"')),
                   any_value(coalesce(json_extract_string(s.attributes, '$."status.message"'),
                                      json_extract_string(s.attributes, '$."error.message"'),
                                      json_extract_string(s.attributes, '$."otel.status_description"'),
                                      -- Zipkin and OpenTracing put the reason in the `error` tag itself
                                      -- ("error": "Connection refused"); a bare flag says nothing
                                      nullif(CASE WHEN lower(json_extract_string(s.attributes, '$.error'))
                                                       IN ('true', 'false', '1', '0', 'yes', 'no') THEN NULL
                                                  ELSE json_extract_string(s.attributes, '$.error') END, ''))),
                   any_value(coalesce(json_extract_string(s.attributes, '$."host.name"'),
                                      json_extract_string(s.attributes, '$.host')))
            FROM spans s SEMI JOIN cl_span_keys k ON s.trace_id = k.trace_id AND s.span_id = k.span_id
            GROUP BY s.trace_id, s.span_id""").fetchall()
    keys_out = ("exception", "message", "status_message", "host")
    return {(r[0], r[1]): dict(zip(keys_out, r[2:])) for r in rows}


# A 4xx answer in a log line, the code in group 1: after Spring's HttpClientErrorException,
# "status code 403" (axios, Go), "HTTP/1.1 404"; or before "Client Error" (Python requests)
# or a reason phrase. A bare number ("took 403 ms") is not one.
_CLIENT_ERROR_RES = (
    r"(?i)(?:HttpClientErrorException(?:\$\w+)?:?\s*|status(?:[ _]?code)?[\s:=]+|HTTP/\d(?:\.\d)?\s+)(4\d\d)\b",
    r"(?i)\b(4\d\d)\s+(?:Client Error|Bad Request|Unauthorized|Forbidden|Not Found|Conflict|Unprocessable)",
)


def origin_blame(ws: Workspace, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    """For error-origin spans ``(trace_id, span_id)``: the service at fault when it is not the span's own.

    Three cases, where an error shows in one service but was caused by another:

    * ``slow_callee``: a client span that failed (none of its children did, and it was not
      answered 4xx) while its callee's span, in another service, was still running at its end
      (2% of the call's time, at most 50 ms, allowed for clock skew): the caller gave up
      waiting (a timeout). Blame: the callee.
    * ``silent_callee``: a client span that failed and has no child span, whose peer attribute
      names a service seen in the workspace. A call that timed out or could not connect
      leaves no span on the callee's side; the caller only reports it. Blame: the peer.
    * ``refused``: a span below a span of another service that answered 4xx, told by an HTTP
      status attribute on either span or by a 4xx logged by the caller's service in the same
      trace, in the calling span or the one that made the call when the log line has a span
      id (408 and 429, timeout and rate limit, are not the request's fault). A 4xx says the
      request was wrong. Blame: the caller.

    Returns ``{key: {"service", "why", "via"}}`` (``via``: the span's own service) for the
    re-attributed spans only.
    """
    if not keys:
        return {}

    def status(alias: str) -> str:
        return (f"try_cast(coalesce(json_extract_string({alias}.attributes, '$.\"http.response.status_code\"'), "
                f"json_extract_string({alias}.attributes, '$.\"http.status_code\"')) AS INTEGER)")

    with registered(ws.con, "cl_origin_keys", pa.Table.from_pydict({"trace_id": [k[0] for k in keys], "span_id": [k[1] for k in keys]})):
        rows = ws.con.execute(f"""
            WITH o AS (
              SELECT s.trace_id, s.span_id, s.service, s.kind, {_peer('s')} AS peer, {status('s')} AS code,
                     p.service AS caller, {status('p')} AS caller_code, p.span_id AS caller_span, p.parent_id AS caller_parent,
                     EXISTS (SELECT 1 FROM spans c WHERE c.trace_id = s.trace_id AND c.parent_id = s.span_id) AS has_child,
                     -- still running when the call ended (a little clock skew allowed: 2% of the call, at most 50 ms)
                     (SELECT arg_max(c.service, c.end_ts) FROM spans c
                      WHERE c.trace_id = s.trace_id AND c.parent_id = s.span_id AND c.service IS DISTINCT FROM s.service
                        AND c.end_ts >= s.end_ts - least(INTERVAL 50 MILLISECOND,
                                                         to_microseconds(CAST(0.02 * coalesce(s.duration_ms, 0) * 1000 AS BIGINT)))
                     ) AS outlived_by
              FROM spans s SEMI JOIN cl_origin_keys k ON s.trace_id = k.trace_id AND s.span_id = k.span_id
              LEFT JOIN spans p ON p.trace_id = s.trace_id AND p.span_id = s.parent_id),
            known AS (SELECT DISTINCT service FROM spans WHERE service IS NOT NULL),
            logged AS (SELECT DISTINCT l.trace_id, l.service, l.span_id FROM logs l SEMI JOIN o ON l.trace_id = o.trace_id
                       WHERE l.level IN ('ERROR', 'WARN', 'FATAL')
                         AND coalesce(nullif(regexp_extract(l.message, {_q(_CLIENT_ERROR_RES[0])}, 1), ''),
                                      regexp_extract(l.message, {_q(_CLIENT_ERROR_RES[1])}, 1)) NOT IN ('', '408', '429'))
            SELECT o.trace_id, o.span_id, o.service,
                   -- a call answered 4xx did not time out: the request was refused, the caller's own doing
                   CASE WHEN o.kind = 'client' AND NOT coalesce(o.code BETWEEN 400 AND 499, false) THEN o.outlived_by END AS slow_callee,
                   CASE WHEN o.kind = 'client' AND NOT o.has_child AND NOT coalesce(o.code BETWEEN 400 AND 499, false) THEN
                          (SELECT min(k.service) FROM known k
                           WHERE k.service IS DISTINCT FROM o.service
                             AND k.service IN (o.peer, split_part(o.peer, ':', 1), split_part(split_part(o.peer, ':', 1), '.', 1)))
                   END AS callee,
                   CASE WHEN o.caller IS NOT NULL AND o.caller IS DISTINCT FROM o.service
                             AND (coalesce(o.code BETWEEN 400 AND 499 AND o.code NOT IN (408, 429), false)
                                  OR coalesce(o.caller_code BETWEEN 400 AND 499 AND o.caller_code NOT IN (408, 429), false)
                                  -- logged by the caller around this call: in its client span or the span
                                  -- that made it (a log line without a span id counts for the whole trace)
                                  OR EXISTS (SELECT 1 FROM logged g WHERE g.trace_id = o.trace_id AND g.service = o.caller
                                             AND (g.span_id IS NULL
                                                  OR g.span_id IN (lower(o.caller_span), lower(o.caller_parent)))))
                        THEN o.caller END AS refused_by
            FROM o""").fetchall()
    out: dict[tuple[str, str], dict[str, str]] = {}
    for trace_id, span_id, service, slow, callee, caller in rows:
        if slow:
            out[(trace_id, span_id)] = {"service": slow, "why": "slow_callee", "via": service or ""}
        elif callee:
            out[(trace_id, span_id)] = {"service": callee, "why": "silent_callee", "via": service or ""}
        elif caller:
            out[(trace_id, span_id)] = {"service": caller, "why": "refused", "via": service or ""}
    return out


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def span_attributes(ws: Workspace, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """Every stored column of one span (attributes parsed), or None."""
    import json

    cur = ws.con.execute(
        """SELECT trace_id, span_id, parent_id, service, name, kind, start_ts, end_ts, duration_ms, status,
                  args_digest, result_digest, attributes, incident_id, flags, source_file, source_line
           FROM spans WHERE trace_id = ? AND span_id = ? ORDER BY start_ts LIMIT 1""", [trace_id, span_id])
    rows = cur.fetchall()
    if not rows:
        return None
    out = dict(zip([d[0] for d in cur.description], rows[0]))
    try:
        out["attributes"] = json.loads(out["attributes"]) if out["attributes"] else {}
    except (TypeError, ValueError):
        pass
    return out


def trace_bounds(ws: Workspace) -> tuple[datetime | None, datetime | None, int]:
    """Earliest and latest span start, and the number of spans."""
    lo, hi, n = ws.con.execute("SELECT min(start_ts), max(start_ts), count(*) FROM spans").fetchall()[0]
    return lo, hi, int(n)


_TRACE_AGG = """
    SELECT trace_id, min(start_ts) AS start_ts,
           (epoch_us(max(coalesce(end_ts, start_ts))) - epoch_us(min(start_ts))) / 1000.0 AS duration_ms,
           count(*) AS spans, count(*) FILTER (WHERE status = 'error') AS errors,
           arg_min(service, CASE WHEN parent_id IS NULL THEN 0 ELSE 1 END * 1e18 + epoch_us(start_ts)) AS root_service,
           arg_min(name, CASE WHEN parent_id IS NULL THEN 0 ELSE 1 END * 1e18 + epoch_us(start_ts)) AS root_name,
           list_sort(list_distinct(list(service))) AS services
    FROM spans WHERE {where} GROUP BY trace_id
"""


def worst_traces(ws: Workspace, start: datetime | None = None, end: datetime | None = None, limit: int = 50,
                 incident_id: str | None = None) -> list[dict[str, Any]]:
    """Traces of a window (or tagged with an incident), erroring first, then slowest."""
    if incident_id is not None:
        where, params = "trace_id IN (SELECT trace_id FROM spans WHERE incident_id = ?)", [incident_id]
    else:
        clause, params = time_window("t0", start, end)
        where = f"trace_id IN (SELECT trace_id FROM (SELECT trace_id, min(start_ts) AS t0 FROM spans GROUP BY trace_id) WHERE {clause})"
    cur = ws.con.execute(f"SELECT * FROM ({_TRACE_AGG.format(where=where)}) ORDER BY errors > 0 DESC, duration_ms DESC, trace_id LIMIT ?",
                         params + [int(limit)])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def incident_trace_ids(ws: Workspace, incident_id: str) -> list[str]:
    return [r[0] for r in ws.con.execute(
        "SELECT DISTINCT trace_id FROM spans WHERE incident_id = ? ORDER BY trace_id", [incident_id]).fetchall()]


def trace_root(ws: Workspace, trace_id: str) -> dict[str, Any] | None:
    """The root operation of a trace: service, name, start, whether any span errs."""
    rows = ws.con.execute(_TRACE_AGG.format(where="trace_id = ?"), [trace_id]).fetchall()
    if not rows:
        return None
    r = rows[0]
    return {"trace_id": r[0], "start_ts": r[1], "duration_ms": r[2], "spans": r[3], "errors": r[4],
            "service": r[5], "name": r[6], "services": r[7]}


def typical_trace_ids(ws: Workspace, service: str, name: str, *, exclude: str, before: datetime | None,
                      limit: int = 50) -> list[str]:
    """Error-free traces whose root has this service and name, nearest in time (before ``before`` first)."""
    rows = ws.con.execute(
        """WITH roots AS (
               SELECT trace_id, start_ts FROM spans
               WHERE parent_id IS NULL AND service IS NOT DISTINCT FROM ? AND name IS NOT DISTINCT FROM ? AND trace_id <> ?),
           bad AS (SELECT DISTINCT trace_id FROM spans WHERE status = 'error'
                   AND trace_id IN (SELECT trace_id FROM roots))
           SELECT trace_id FROM roots ANTI JOIN bad USING (trace_id)
           ORDER BY (CASE WHEN ?::TIMESTAMP IS NULL OR start_ts < ?::TIMESTAMP THEN 0 ELSE 1 END),
                    abs(epoch_us(start_ts) - epoch_us(coalesce(?::TIMESTAMP, start_ts))), trace_id
           LIMIT ?""",
        [service, name, exclude, before, before, before, int(limit)]).fetchall()
    return [r[0] for r in rows]


def trace_ids_by_start(ws: Workspace, start: datetime | None, end: datetime | None, limit: int | None = None) -> list[str]:
    sel, params = _selection(None, start, end, limit)
    return [r[0] for r in ws.con.execute(sel, params).fetchall()]


# ---------------------------------------------------------------- service map



def edge_stats(ws: Workspace, start: datetime | None, end: datetime | None, by_host: bool = False) -> list[dict[str, Any]]:
    """Call edges of a window: caller service → callee service (or external peer).

    An edge is a parent span whose child runs in another service (the child's duration is
    the call's latency as the callee saw it), or a client span with no child in another
    service that names its peer (``_PEER_KEYS``: ``peer.service``, ``server.address``,
    ``net.peer.name``, SkyWalking's ``Peer``, ``db.system``): an edge to that peer, measured by
    the client span. An edge is external when none of its calls reached a span of the callee.
    ``by_host``: both ends are ``service @ host`` (an external peer has no host).
    """
    clause, params = time_window("c.start_ts", start, end)
    sql = f"""
    WITH c AS (SELECT trace_id, span_id, parent_id, service, kind, status, start_ts, duration_ms, attributes
               FROM spans c WHERE {clause}),
    remote AS (
        SELECT {_node('p', by_host)} AS src, {_node('c', by_host)} AS dst, false AS external, c.status, c.duration_ms, c.span_id,
               p.span_id AS parent_span
        FROM c JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_id
        WHERE p.service IS DISTINCT FROM c.service
    ),
    peers AS (
        SELECT {_node('c', by_host)} AS src, {_peer('c')} AS dst, true AS external, c.status, c.duration_ms, c.span_id, NULL AS parent_span
        FROM c WHERE c.kind = 'client'
          AND c.span_id NOT IN (SELECT parent_span FROM remote)
    ),
    e AS (SELECT * FROM remote UNION ALL SELECT * FROM peers WHERE dst IS NOT NULL AND dst IS DISTINCT FROM src)
    SELECT coalesce(src, '(unknown)') AS src, coalesce(dst, '(unknown)') AS dst, bool_and(external) AS external,
           count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors,
           quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms,
           quantile_cont(duration_ms, 0.99) AS p99_ms,
           arg_max(span_id, CASE WHEN status = 'error' THEN 1e15 ELSE 0 END + coalesce(duration_ms, 0)) AS example_span
    FROM e GROUP BY ALL ORDER BY calls DESC
    """
    cur = ws.con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def service_stats(ws: Workspace, start: datetime | None, end: datetime | None, by_host: bool = False) -> list[dict[str, Any]]:
    """Per service (``by_host``: per ``service @ host``): spans, entry spans (requests: roots and spans called
    from another service), errors, latency."""
    clause, params = time_window("c.start_ts", start, end)
    sql = f"""
    WITH c AS (SELECT trace_id, span_id, parent_id, service, status, duration_ms, {_node('c', by_host)} AS node
               FROM spans c WHERE {clause}),
    entry AS (
        SELECT c.*, (c.parent_id IS NULL OR p.span_id IS NULL OR p.service IS DISTINCT FROM c.service) AS is_entry
        FROM c LEFT JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_id
    )
    SELECT coalesce(node, '(unknown)') AS service, count(*) AS spans,
           count(*) FILTER (WHERE is_entry) AS requests,
           count(*) FILTER (WHERE is_entry AND status = 'error') AS errors,
           count(*) FILTER (WHERE status = 'error') AS error_spans,
           quantile_cont(duration_ms, 0.5) FILTER (WHERE is_entry) AS p50_ms,
           quantile_cont(duration_ms, 0.95) FILTER (WHERE is_entry) AS p95_ms,
           quantile_cont(duration_ms, 0.99) FILTER (WHERE is_entry) AS p99_ms
    FROM entry GROUP BY ALL ORDER BY requests DESC, service
    """
    cur = ws.con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


# ---------------------------------------------------------------- metrics

_SERIES = "name, coalesce(service, '') AS service, coalesce(host, '') AS host, coalesce(CAST(labels AS VARCHAR), '') AS labels"


def metric_window_stats(ws: Workspace, start: datetime, end: datetime, baseline_start: datetime,
                        baseline_end: datetime, exclude: list[tuple[datetime, datetime]] | None = None) -> list[dict[str, Any]]:
    """Per metric series (name, service, host, labels): robust baseline statistics and the window's values.

    ``window_values`` is the list of the window's samples (bounded per series), so the scorer
    can take BARO's maximum robust deviation without a second query. Baseline samples inside
    any ``exclude`` interval (other incidents' windows) are left out.
    """
    skip = "".join(" AND NOT (ts >= ? AND ts < ?)" for _ in exclude or ())
    sql = f"""
    WITH b AS (
        SELECT {_SERIES}, count(*) AS b_n, median(value) AS b_median, mad(value) AS b_mad,
               quantile_cont(value, 0.75) - quantile_cont(value, 0.25) AS b_iqr, stddev_samp(value) AS b_std,
               avg(value) AS b_mean
        FROM metrics WHERE ts >= ? AND ts < ?{skip} AND value IS NOT NULL AND isfinite(value) GROUP BY ALL),
    w AS (
        SELECT {_SERIES}, count(*) AS w_n, median(value) AS w_median, avg(value) AS w_mean,
               min(value) AS w_min, max(value) AS w_max,
               list(value ORDER BY ts)[1:5000] AS window_values
        FROM metrics WHERE ts >= ? AND ts < ? AND value IS NOT NULL AND isfinite(value) GROUP BY ALL)
    SELECT w.name, w.service, w.host, w.labels, b.b_n, b.b_median, b.b_mad, b.b_iqr, b.b_std, b.b_mean,
           w.w_n, w.w_median, w.w_mean, w.w_min, w.w_max, w.window_values
    FROM w LEFT JOIN b ON b.name = w.name AND b.service = w.service AND b.host = w.host AND b.labels = w.labels
    """
    cur = ws.con.execute(sql, [baseline_start, baseline_end, *[t for iv in exclude or () for t in iv], start, end])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def metric_series(ws: Workspace, name: str, service: str | None, host: str | None, start: datetime, end: datetime,
                  bucket_s: float = 0) -> list[tuple[datetime, str, float]]:
    """Samples of one metric (all hosts unless ``host``), averaged per ``bucket_s`` seconds when > 0.

    Returns (ts, series label, value) rows; the label names the host (and labels) so each
    host draws its own line.
    """
    where = ["name = ?", "ts >= ?", "ts < ?"]
    params: list[Any] = [name, start, end]
    if service is not None:
        where.append("coalesce(service, '') = ?")
        params.append(service)
    if host:
        where.append("host = ?")
        params.append(host)
    label = "concat_ws(' ', coalesce(host, ''), coalesce(CAST(labels AS VARCHAR), ''))"
    ts = f"time_bucket(INTERVAL '{int(bucket_s * 1e6)} microseconds', ts)" if bucket_s > 0 else "ts"
    rows = ws.con.execute(
        f"SELECT {ts} AS t, {label} AS series, avg(value) FROM metrics WHERE {' AND '.join(where)} "
        f"GROUP BY ALL ORDER BY series, t", params).fetchall()
    return [(r[0], r[1].strip() or name, r[2]) for r in rows]
