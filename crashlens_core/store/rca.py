"""SQL for root-cause analysis: the evidence queries over logs, spans and metrics, and ``rca_runs``.

Every evidence query compares an analysed window ``[start, end)`` with a baseline window
``[b_start, b_end)`` in one pass per signal (DuckDB prunes by ``ts`` zone maps), and returns
plain Python rows; ranking and wording live in ``crashlens_core.rca``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Sequence

from .files import time_window
from .workspace import Workspace, utcnow

__all__ = [
    "error_log_groups", "log_context", "error_dimensions", "error_span_groups", "latency_shifts", "metric_shifts",
    "template_shifts", "fingerprint_groups", "trace_spans", "stale_tool_calls", "search_logs", "data_extent",
    "insert_run", "finish_run", "get_run", "list_runs", "read_artifact_unchecked",
]

_ERROR_LEVELS = "('ERROR', 'FATAL')"
# The group key of an error line: its first and last lines with digits folded, so "POST /x failed"
# with different exceptions below stays apart while request ids and counts do not split groups.
# Where a group of log lines was seen: up to five services, hosts and files each (a file or host
# names the place for logs that carry no service).
_WHERE_SEEN = ("list(DISTINCT service ORDER BY service) FILTER (service IS NOT NULL)[:5] AS services, "
               "list(DISTINCT host ORDER BY host) FILTER (host IS NOT NULL)[:5] AS hosts, "
               "list(DISTINCT source_file ORDER BY source_file) FILTER (source_file IS NOT NULL)[:5] AS files")
_LOG_KEY = ("regexp_replace(split_part(message, chr(10), 1), '[0-9]+', '#', 'g') || ' | ' || "
            "regexp_replace(regexp_extract(message, '[^\\n]*$'), '[0-9]+', '#', 'g')")


def _rows(ws: Workspace, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = ws.con.execute(sql, list(params))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def data_extent(ws: Workspace) -> tuple[datetime | None, datetime | None]:
    """First and last log/span time in the workspace (a default window when nothing is given)."""
    row = ws.con.execute(
        "SELECT least(min(l.lo), min(s.lo)), greatest(max(l.hi), max(s.hi)) FROM "
        "(SELECT min(ts) lo, max(ts) hi FROM logs) l, (SELECT min(start_ts) lo, max(start_ts) hi FROM spans) s").fetchall()[0]
    return row[0], row[1]


def error_log_groups(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                     limit: int = 30) -> list[dict[str, Any]]:
    """Error lines in the window grouped by service and shape, with their baseline count and earliest example."""
    return _rows(ws, f"""
        WITH w AS (
            SELECT id, ts, service, host, level, message, trace_id, {_LOG_KEY} AS k,
                   json_extract_string(attributes, '$.exc_type') AS exc_type
            FROM logs WHERE ts >= ? AND ts < ? AND level IN {_ERROR_LEVELS}),
        g AS (
            SELECT coalesce(service, '') AS service, k, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts,
                   arg_min(id, (ts, id)) AS example_id, count(DISTINCT host) AS hosts,
                   list(DISTINCT host ORDER BY host)[:5] AS host_list, max(level) AS level, any_value(exc_type) AS exc_type
            FROM w GROUP BY ALL),
        b AS (
            SELECT coalesce(service, '') AS service, {_LOG_KEY} AS k, count(*) AS n
            FROM logs WHERE ts >= ? AND ts < ? AND level IN {_ERROR_LEVELS} GROUP BY ALL)
        SELECT g.*, coalesce(b.n, 0) AS baseline_n, l.message, l.trace_id, l.span_id, l.host AS example_host,
               l.source_file AS example_file
        FROM g LEFT JOIN b USING (service, k) JOIN logs l ON l.id = g.example_id AND l.ts = g.first_ts
        ORDER BY g.n DESC, g.service, g.k LIMIT ?""", [start, end, b_start, b_end, limit])


def log_context(ws: Workspace, log_id: int, ts: datetime, host: str | None, lines: int,
                seconds: float = 60.0) -> list[dict[str, Any]]:
    """The ``lines`` log lines just before one line on the same host (oldest first)."""
    if lines <= 0:
        return []
    rows = _rows(ws, """
        SELECT id, ts, service, level, split_part(message, chr(10), 1) AS message FROM logs
        WHERE ts >= ? AND ts <= ? AND id <> ? AND host IS NOT DISTINCT FROM ? AND (ts < ? OR id < ?)
        ORDER BY ts DESC, id DESC LIMIT ?""", [ts - timedelta(seconds=seconds), ts, log_id, host, ts, log_id, lines])
    return rows[::-1]


def error_dimensions(ws: Workspace, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Error share per host and per version in the window against the share of all lines."""
    return _rows(ws, f"""
        WITH w AS (
            SELECT host, coalesce(json_extract_string(attributes, '$.version'),
                                  json_extract_string(attributes, '$."service.version"')) AS version,
                   level IN {_ERROR_LEVELS} AS is_err
            FROM logs WHERE ts >= ? AND ts < ?),
        d AS (
            SELECT 'host' AS dim, host AS value, count(*) FILTER (WHERE is_err) AS errors, count(*) AS lines FROM w
            WHERE host IS NOT NULL GROUP BY ALL
            UNION ALL
            SELECT 'version', version, count(*) FILTER (WHERE is_err), count(*) FROM w
            WHERE version IS NOT NULL GROUP BY ALL)
        SELECT dim, value, errors, lines, sum(errors) OVER (PARTITION BY dim) AS all_errors,
               sum(lines) OVER (PARTITION BY dim) AS all_lines, count(*) OVER (PARTITION BY dim) AS values_n
        FROM d ORDER BY dim, errors DESC, value""", [start, end])


def error_span_groups(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                      limit: int = 20) -> list[dict[str, Any]]:
    """Where errors start: failed spans with no failed child, grouped by service, operation and exception type
    (``sample``: the first five spans of a group, as [trace_id, span_id])."""
    inner = """
        SELECT s.trace_id, s.span_id, s.service, s.name, s.start_ts, s.attributes,
               coalesce(json_extract_string(s.attributes, '$."exception.type"'), 'error') AS exc_type
        FROM spans s WHERE s.start_ts >= ? AND s.start_ts < ? AND s.status = 'error'
          AND NOT EXISTS (SELECT 1 FROM spans c WHERE c.trace_id = s.trace_id AND c.parent_id = s.span_id
                          AND c.status = 'error' AND c.start_ts >= ? - INTERVAL 1 HOUR AND c.start_ts < ? + INTERVAL 1 HOUR)"""
    return _rows(ws, f"""
        WITH w AS ({inner}), b AS ({inner}),
        g AS (SELECT coalesce(service, '') AS service, name, exc_type, count(*) AS n, count(DISTINCT trace_id) AS traces,
                     min(start_ts) AS first_ts, max(start_ts) AS last_ts, arg_min(span_id, (start_ts, span_id)) AS example_span,
                     list([trace_id, span_id] ORDER BY start_ts, span_id)[1:5] AS sample
              FROM w GROUP BY ALL),
        bg AS (SELECT coalesce(service, '') AS service, name, exc_type, count(*) AS n FROM b GROUP BY ALL)
        SELECT g.*, coalesce(bg.n, 0) AS baseline_n, w.trace_id, w.attributes
        FROM g LEFT JOIN bg USING (service, name, exc_type) JOIN w ON w.span_id = g.example_span AND w.start_ts = g.first_ts
        ORDER BY g.n DESC, g.service, g.name LIMIT ?""", [start, end, start, end, b_start, b_end, b_start, b_end, limit])


def latency_shifts(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                   min_count: int = 3, limit: int = 15) -> list[dict[str, Any]]:
    """Operations whose mean duration grew against the baseline, with the slowest span of the window and the
    service it called (a child span in another service), if any; ``self_ms`` / ``baseline_self_ms``: the
    mean time its spans spent in their own service, i.e. outside the calls their service made to other
    services (the spans of another service below a chain of its own; a client span's wait on the wire
    counts as its own)."""
    return _rows(ws, """
        WITH RECURSIVE sp AS (
                 SELECT trace_id, span_id, parent_id, service, name, start_ts, duration_ms FROM spans
                 WHERE ((start_ts >= ? AND start_ts < ?) OR (start_ts >= ? AND start_ts < ?)) AND duration_ms IS NOT NULL),
             -- a span whose parent runs in another service is a remote call: its time is not the parent's
             -- own; and the parent (the client side of the call, wire time included) is not the own time
             -- of the ancestors of its service above it
             direct AS (SELECT p.trace_id, p.span_id, sum(r.duration_ms) AS dur
                        FROM sp r JOIN sp p ON p.trace_id = r.trace_id AND p.span_id = r.parent_id
                        WHERE r.service IS DISTINCT FROM p.service GROUP BY ALL),
             calls AS (SELECT sp.trace_id, sp.span_id, sp.parent_id, sp.service, sp.duration_ms
                       FROM sp JOIN direct USING (trace_id, span_id)),
             up(trace_id, anc, anc_parent, svc, dur) AS (
                 SELECT c.trace_id, a.span_id, a.parent_id, c.service, c.duration_ms
                 FROM calls c JOIN sp a ON a.trace_id = c.trace_id AND a.span_id = c.parent_id
                 WHERE a.service IS NOT DISTINCT FROM c.service
                 UNION ALL
                 SELECT u.trace_id, a.span_id, a.parent_id, u.svc, u.dur
                 FROM up u JOIN sp a ON a.trace_id = u.trace_id AND a.span_id = u.anc_parent
                 WHERE a.service IS NOT DISTINCT FROM u.svc),
             remote AS (SELECT trace_id, span_id, sum(dur) AS remote_ms FROM
                          (SELECT trace_id, span_id, dur FROM direct UNION ALL SELECT trace_id, anc, dur FROM up)
                        GROUP BY ALL),
             -- a client operation ("HTTP GET") is one operation per service it calls: each call
             -- slows with its own callee, so they are compared apart
             callee AS (SELECT p.trace_id, p.span_id, min(r.service) AS callee
                        FROM sp r JOIN sp p ON p.trace_id = r.trace_id AND p.span_id = r.parent_id
                        WHERE r.service IS DISTINCT FROM p.service GROUP BY ALL),
             own AS (SELECT sp.*, greatest(sp.duration_ms - coalesce(remote.remote_ms, 0), 0) AS self_ms,
                            coalesce(callee.callee, '') AS callee
                     FROM sp LEFT JOIN remote USING (trace_id, span_id) LEFT JOIN callee USING (trace_id, span_id)),
             w AS (SELECT coalesce(service, '') AS service, name, callee, count(*) AS n, avg(duration_ms) AS mean_ms,
                          quantile_cont(duration_ms, 0.95) AS p95_ms, arg_max(span_id, (duration_ms, span_id)) AS slow_span,
                          max(duration_ms) AS max_ms, avg(self_ms) AS self_ms
                   FROM own WHERE start_ts >= ? AND start_ts < ? GROUP BY ALL),
             b AS (SELECT coalesce(service, '') AS service, name, callee, count(*) AS n, avg(duration_ms) AS mean_ms,
                          quantile_cont(duration_ms, 0.95) AS p95_ms, avg(self_ms) AS self_ms
                   FROM own WHERE start_ts >= ? AND start_ts < ? GROUP BY ALL)
        SELECT w.service, w.name, w.n, w.mean_ms, w.p95_ms, w.max_ms, b.n AS baseline_n, b.mean_ms AS baseline_mean_ms,
               b.p95_ms AS baseline_p95_ms, w.mean_ms / greatest(b.mean_ms, 0.001) AS ratio, s.trace_id, s.span_id, s.attributes,
               w.self_ms, b.self_ms AS baseline_self_ms, nullif(w.callee, '') AS callee
        FROM w JOIN b USING (service, name, callee)
        JOIN spans s ON s.span_id = w.slow_span AND s.start_ts >= ? AND s.start_ts < ?
        WHERE w.n >= ? AND b.n >= ? AND w.mean_ms > b.mean_ms * 1.5 AND w.mean_ms - b.mean_ms > 1.0
        ORDER BY ratio DESC, w.service, w.name LIMIT ?""",
        [start, end, b_start, b_end, start, end, b_start, b_end, start, end, min_count, min_count, limit])


def metric_shifts(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                  limit: int = 15, min_baseline: int = 1) -> list[dict[str, Any]]:
    """Metric series whose window mean left the baseline's range, by distance in baseline deviations.

    Series with fewer than ``min_baseline`` baseline samples are left out (no spread to measure against)."""
    return _rows(ws, """
        WITH w AS (SELECT name, coalesce(service, '') AS service, coalesce(host, '') AS host, count(*) AS n,
                          avg(value) AS mean, max(value) AS peak, min(value) AS low
                   FROM metrics WHERE ts >= ? AND ts < ? AND isfinite(value) GROUP BY ALL),
             b AS (SELECT name, coalesce(service, '') AS service, coalesce(host, '') AS host, count(*) AS n,
                          avg(value) AS mean, coalesce(stddev_samp(value), 0) AS sd
                   FROM metrics WHERE ts >= ? AND ts < ? AND isfinite(value) GROUP BY ALL)
        SELECT w.*, b.mean AS baseline_mean, b.sd AS baseline_sd, b.n AS baseline_n,
               least(abs(w.mean - b.mean) / greatest(b.sd, abs(b.mean) * 0.05, abs(w.mean) * 0.05, 1e-9), 1000) AS z
        FROM w JOIN b USING (name, service, host)
        WHERE abs(w.mean - b.mean) / greatest(b.sd, abs(b.mean) * 0.05, abs(w.mean) * 0.05, 1e-9) >= 3 AND b.n >= ?
        ORDER BY z DESC, w.name, w.service, w.host LIMIT ?""", [start, end, b_start, b_end, min_baseline, limit])


def template_shifts(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                    limit: int = 20) -> list[dict[str, Any]]:
    """Templates seen in the window, new or more frequent than in the baseline (needs mined templates)."""
    return _rows(ws, f"""
        WITH w AS (SELECT template_id, count(*) AS n, arg_min(id, (ts, id)) AS example_id,
                          {_WHERE_SEEN},
                          max(level) AS level
                   FROM logs WHERE ts >= ? AND ts < ? AND template_id IS NOT NULL GROUP BY ALL),
             b AS (SELECT template_id, count(*) AS n FROM logs WHERE ts >= ? AND ts < ? AND template_id IS NOT NULL GROUP BY ALL)
        SELECT w.*, coalesce(b.n, 0) AS baseline_n, t.template
        FROM w LEFT JOIN b USING (template_id) JOIN templates t USING (template_id)
        ORDER BY (w.n + 1.0) / (coalesce(b.n, 0) + 1.0) DESC, w.n DESC, w.template_id LIMIT ?""",
        [start, end, b_start, b_end, limit * 3])


def fingerprint_groups(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                       limit: int = 15) -> list[dict[str, Any]]:
    """Exception fingerprints seen in the window with their baseline count (needs mined fingerprints)."""
    return _rows(ws, f"""
        WITH w AS (SELECT fingerprint, count(*) AS n, arg_min(id, (ts, id)) AS example_id,
                          {_WHERE_SEEN},
                          min(ts) AS first_ts
                   FROM logs WHERE ts >= ? AND ts < ? AND fingerprint IS NOT NULL GROUP BY ALL),
             b AS (SELECT fingerprint, count(*) AS n FROM logs WHERE ts >= ? AND ts < ? AND fingerprint IS NOT NULL GROUP BY ALL)
        SELECT w.*, coalesce(b.n, 0) AS baseline_n, f.exc_type, f.title AS message, f.culprit, f.frames, f.example
        FROM w LEFT JOIN b USING (fingerprint) JOIN fingerprints f USING (fingerprint)
        ORDER BY w.n DESC, w.fingerprint LIMIT ?""", [start, end, b_start, b_end, limit])


def trace_spans(ws: Workspace, trace_id: str, limit: int = 200) -> list[dict[str, Any]]:
    return _rows(ws, """
        SELECT span_id, parent_id, service, name, start_ts, duration_ms, status, attributes
        FROM spans WHERE trace_id = ? ORDER BY start_ts, span_id LIMIT ?""", [trace_id, limit])


def stale_tool_calls(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                     keys: Sequence[str], min_hours: float, limit: int = 20) -> list[dict[str, Any]]:
    """Agent tool calls (spans with an ``agent.tool`` attribute) per service and tool, in the window and
    in the baseline: how many, and how many returned data whose freshness stamp (the first of ``keys``
    the JSON ``agent.result`` holds) is at least ``min_hours`` older than the call; for the stale ones
    of the window, the field, the largest age and the span and trace of the stalest call.
    Only groups with a stale call in the window are returned, most stale calls first."""
    paths = [f"$.{k}" for k in keys]
    pick = " ".join("WHEN json_extract_string(result, ?) IS NOT NULL THEN ?" for _ in keys)
    stamp = "coalesce(" + ", ".join("json_extract_string(result, ?)" for _ in keys) + ")"
    params: list[Any] = [start, end, b_start, b_end] + [v for p in paths for v in (p, p[2:])] + paths + [start, end]
    params += [min_hours] * 6 + [limit]
    return _rows(ws, f"""
        WITH t AS (
            SELECT service, json_extract_string(attributes, '$."agent.tool"') AS tool, start_ts, span_id, trace_id,
                   CASE WHEN json_valid(json_extract_string(attributes, '$."agent.result"'))
                        THEN json_extract_string(attributes, '$."agent.result"') END AS result
            FROM spans
            WHERE ((start_ts >= ? AND start_ts < ?) OR (start_ts >= ? AND start_ts < ?))
              AND json_extract_string(attributes, '$."agent.tool"') IS NOT NULL
            -- one call ingested twice (the agent's own span file and an OTLP export) counts once, with its service
            QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY service NULLS LAST) = 1),
        s AS (
            SELECT service, tool, span_id, trace_id, CASE {pick} END AS field,
                   (epoch(start_ts) - epoch(try_cast({stamp} AS TIMESTAMPTZ))) / 3600.0 AS age_h,
                   start_ts >= ? AND start_ts < ? AS in_w
            FROM t)
        SELECT service, tool,
               count(*) FILTER (WHERE in_w) AS calls,
               count(*) FILTER (WHERE in_w AND age_h >= ?) AS stale,
               count(*) FILTER (WHERE NOT in_w) AS baseline_calls,
               count(*) FILTER (WHERE NOT in_w AND age_h >= ?) AS baseline_stale,
               max(age_h) FILTER (WHERE in_w AND age_h >= ?) AS max_age_hours,
               arg_max(field, age_h) FILTER (WHERE in_w AND age_h >= ?) AS field,
               arg_max(span_id, age_h) FILTER (WHERE in_w AND age_h >= ?) AS span_id,
               arg_max(trace_id, age_h) FILTER (WHERE in_w AND age_h >= ?) AS trace_id
        FROM s GROUP BY service, tool HAVING stale > 0
        ORDER BY stale DESC, service, tool LIMIT ?""", params)


def search_logs(ws: Workspace, terms: Sequence[str], start: datetime | None, end: datetime | None,
                services: Sequence[str], limit: int = 20, errors_match: bool = False) -> list[dict[str, Any]]:
    """Lines matching any of ``terms`` (case-insensitive), errors first, then by how many terms they hit.

    With ``errors_match`` an ERROR/FATAL line matches even when it holds none of the terms: a
    question about errors is answered by the lines logged as errors, whatever their words."""
    window, params = time_window("ts", start, end)
    where = [window]
    if services:
        where.append(f"lower(service) IN ({', '.join('?' for _ in services)})")
        params += [s.lower() for s in services]
    hits = " + ".join("CAST(contains(lower(message), ?) AS INTEGER)" for _ in terms) or "0"
    return _rows(ws, f"""
        SELECT id, ts, service, host, level, message, hits FROM (
            SELECT id, ts, service, host, level, message, {hits} AS hits FROM logs WHERE {' AND '.join(where)})
        WHERE hits > 0 OR {'false' if terms else 'true'} OR ({'true' if errors_match else 'false'} AND level IN {_ERROR_LEVELS})
        ORDER BY (level IN {_ERROR_LEVELS}) DESC, hits DESC, ts, id LIMIT ?""",
        [t.lower() for t in terms] + params + [limit])


# ---------------------------------------------------------------- rca_runs

_RUN_COLS = ("id", "incident_id", "engine", "model", "started_ts", "finished_ts", "prompt_tokens", "completion_tokens",
             "cost_usd", "evidence_digest", "report", "status", "notice", "evidence_ts", "window_start", "window_end",
             "evidence_artifact", "responses", "actor")


def insert_run(ws: Workspace, run_id: str, incident_id: str | None, engine: str, model: str, window_start: datetime | None,
               window_end: datetime | None, actor: str | None) -> None:
    with ws.transaction():
        ws.con.execute(
            """INSERT INTO rca_runs (id, incident_id, engine, model, started_ts, status, window_start, window_end, actor)
               VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)""",
            [run_id, incident_id, engine, model, utcnow(), window_start, window_end, actor])


def finish_run(ws: Workspace, run_id: str, *, status: str, report: dict[str, Any] | None, engine: str, model: str,
               prompt_tokens: int, completion_tokens: int, cost_usd: float, evidence_digest: str | None,
               evidence_artifact: str | None, evidence_ts: datetime | None, responses: list[dict[str, Any]], notice: str) -> None:
    with ws.transaction():
        ws.con.execute(
            """UPDATE rca_runs SET finished_ts = ?, status = ?, report = ?, engine = ?, model = ?, prompt_tokens = ?,
                   completion_tokens = ?, cost_usd = ?, evidence_digest = ?, evidence_artifact = ?, evidence_ts = ?,
                   responses = ?, notice = ? WHERE id = ?""",
            [utcnow(), status, None if report is None else json.dumps(report, sort_keys=True), engine, model, prompt_tokens,
             completion_tokens, cost_usd, evidence_digest, evidence_artifact, evidence_ts, json.dumps(responses), notice, run_id])


def _run_dict(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(_RUN_COLS, row))
    for key in ("report", "responses"):
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


def get_run(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    rows = ws.con.execute(f"SELECT {', '.join(_RUN_COLS)} FROM rca_runs WHERE id = ?", [run_id]).fetchall()
    if not rows and len(run_id) >= 4:
        rows = ws.con.execute(f"SELECT {', '.join(_RUN_COLS)} FROM rca_runs WHERE starts_with(id, ?)", [run_id]).fetchall()
        rows = rows if len(rows) == 1 else []
    return _run_dict(rows[0]) if rows else None


def list_runs(ws: Workspace, incident_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    where, params = ("WHERE incident_id = ?", [incident_id]) if incident_id else ("", [])
    rows = ws.con.execute(f"SELECT {', '.join(_RUN_COLS)} FROM rca_runs {where} ORDER BY started_ts DESC, id LIMIT ?",
                          params + [limit]).fetchall()
    return [_run_dict(r) for r in rows]


def read_artifact_unchecked(ws: Workspace, digest: str) -> bytes:
    """An artifact's bytes even when they no longer match its digest, so strict replay can name
    the evidence item that changed instead of only the damaged file."""
    ws.get_artifact(digest)  # NotFound for an unknown digest
    return ws.artifact_path(digest).read_bytes()
