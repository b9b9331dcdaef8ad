"""SQL of change events and of what change and alert analysis read from the signals.

Owns the ``changes`` and ``change_commits`` tables (schema v15): appending change events once
(their id is a content digest), the deploy → commits mapping, and the queries the change
collector (``rca.changes``) and the alert onset search (``signals.onset``) run: per-service
error and latency bins, the failing messages of a window, error-origin spans and a metric's bins.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from .files import registered, time_window

if TYPE_CHECKING:  # for annotations only: the runtime imports stay as they were
    from .workspace import Workspace

__all__ = ["CHANGE_COLUMNS", "insert_changes", "change_graph", "replace_change_commits", "changes_between",
           "count_changes", "services_of_commits", "service_error_stats", "failing_messages", "error_origin_spans",
           "health_bins", "metric_bins", "metric_names", "known_services", "incident_by_fingerprint",
           "service_request_counts", "request_bins", "co_versioned_services", "active_seconds", "new_error_kinds", "failing_versions", "version_mix", "service_latency", "slow_operations", "shipped_content"]

CHANGE_COLUMNS = ("id", "ts", "kind", "service", "commit", "version", "name", "change", "author", "summary", "files",
                  "diff", "attributes", "source_file", "source_line", "batch_id")
_TYPES = {"ts": pa.timestamp("us"), "files": pa.list_(pa.string()), "source_line": pa.int64(), "batch_id": pa.int64()}


def insert_changes(ws: Workspace, rows: Sequence[dict[str, Any]]) -> int:
    """Append change events whose id is not stored yet (the same event twice is one row); returns rows added."""
    ws.require_writable()
    seen: set[str] = set()
    unique = []
    for r in rows:
        if r["id"] not in seen:
            seen.add(r["id"])
            unique.append(r)
    if not unique:
        return 0
    cols = {}
    for name in CHANGE_COLUMNS:
        values = [r.get(name) for r in unique]
        if name == "attributes":
            values = [json.dumps(v, sort_keys=True, default=str) if v else None for v in values]
        cols[name] = pa.array(values, type=_TYPES.get(name, pa.string()))
    with registered(ws.con, "cl_changes", pa.table(cols)):
        names = ", ".join(CHANGE_COLUMNS)
        res = ws.con.execute(f"INSERT INTO changes ({names}) SELECT {names} FROM cl_changes n "
                             "WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.id = n.id)").fetchall()
    return int(res[0][0]) if res else 0


def change_graph(ws: Workspace) -> tuple[list[dict[str, Any]], dict[str, tuple[datetime, list[str]]]]:
    """(deploys and rollbacks oldest first, {commit sha: (time, parents)} of the commit events)."""
    deploys = [dict(zip(("id", "ts", "service", "commit", "kind"), r)) for r in ws.con.execute(
        "SELECT id, ts, service, commit, kind FROM changes WHERE kind IN ('deploy', 'rollback') AND service IS NOT NULL "
        "ORDER BY service, ts, id").fetchall()]
    commits: dict[str, tuple[datetime, list[str]]] = {}
    for sha, ts, attrs in ws.con.execute(
            "SELECT commit, ts, attributes FROM changes WHERE kind = 'commit' AND commit IS NOT NULL").fetchall():
        parents = (json.loads(attrs) or {}).get("parents") if attrs else None
        commits[str(sha)] = (ts, [str(p) for p in parents or []])
    return deploys, commits


def replace_change_commits(ws: Workspace, rows: Sequence[tuple[str, str, str, datetime]]) -> None:
    """The whole deploy → commit mapping, recomputed (deploys are few; recomputing keeps it exact)."""
    ws.con.execute("DELETE FROM change_commits")
    if rows:
        tbl = pa.table({"deploy_id": [r[0] for r in rows], "service": [r[1] for r in rows],
                        "commit": [r[2] for r in rows], "ts": pa.array([r[3] for r in rows], pa.timestamp("us"))})
        with registered(ws.con, "cl_cc", tbl):
            ws.con.execute("INSERT INTO change_commits SELECT deploy_id, service, commit, ts FROM cl_cc")


def changes_between(ws: Workspace, start: datetime | None, end: datetime | None, limit: int = 500) -> list[dict[str, Any]]:
    """Change events with ``start <= ts < end``, oldest first, each with ``shipped_by`` (deploys of a commit)."""
    where, params = time_window("c.ts", start, end)
    rows = ws.con.execute(
        f"""SELECT c.id, c.ts, c.kind, c.service, c.commit, c.version, c.name, c.change, c.author, c.summary, c.files,
                   c.diff, c.attributes,
                   (SELECT list_sort(list(DISTINCT cc.service)) FROM change_commits cc
                     WHERE c.kind = 'commit' AND cc.commit = c.commit) AS shipped_to,
                   (SELECT list(cc.commit ORDER BY cc.commit) FROM change_commits cc WHERE cc.deploy_id = c.id) AS ships
            FROM changes c WHERE {where} ORDER BY c.ts, c.id LIMIT ?""", params + [int(limit)]).fetchall()
    out = []
    for r in rows:
        d = dict(zip(("id", "ts", "kind", "service", "commit", "version", "name", "change", "author", "summary", "files",
                      "diff", "attributes", "shipped_to", "ships"), r))
        d["files"] = list(d["files"] or [])
        d["attributes"] = json.loads(d["attributes"]) if d["attributes"] else {}
        d["shipped_to"] = list(d["shipped_to"] or [])
        d["ships"] = list(d["ships"] or [])
        out.append(d)
    return out


def count_changes(ws: Workspace) -> int:
    return int(ws.con.execute("SELECT count(*) FROM changes").fetchall()[0][0])


def services_of_commits(ws: Workspace, commits: Sequence[str]) -> dict[str, list[str]]:
    if not commits:
        return {}
    rows = ws.con.execute("SELECT commit, list_sort(list(DISTINCT service)) FROM change_commits "
                          "WHERE list_contains(?, commit) GROUP BY commit", [list(commits)]).fetchall()
    return {str(c): list(s) for c, s in rows}


# ---------------------------------------------------------------- what failed, where, first

def service_error_stats(ws: Workspace, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """Per service: error logs and error spans in [start, end) and the time of the first one."""
    w1, p1 = time_window("ts", start, end)
    w2, p2 = time_window("start_ts", start, end)
    rows = ws.con.execute(
        f"""SELECT service, sum(n)::BIGINT, min(first_ts) FROM (
              SELECT service, count(*) n, min(ts) first_ts FROM logs
               WHERE level IN ('ERROR', 'FATAL') AND service IS NOT NULL AND {w1} GROUP BY service
              UNION ALL
              SELECT service, count(*), min(start_ts) FROM spans
               WHERE status = 'error' AND service IS NOT NULL AND {w2} GROUP BY service)
            GROUP BY service""", p1 + p2).fetchall()
    return {str(s): {"errors": int(n), "first_ts": t} for s, n, t in rows}


def service_request_counts(ws: Workspace, start: datetime, end: datetime) -> dict[str, int]:
    """Entry (root or server) spans per service in [start, end): the traffic each one served."""
    w, p = time_window("start_ts", start, end)
    rows = ws.con.execute(f"SELECT service, count(*) FROM spans WHERE service IS NOT NULL AND {w} "
                          "AND (parent_id IS NULL OR parent_id = '' OR kind IN ('server', 'SERVER', '2')) GROUP BY service",
                          p).fetchall()
    return {str(s): int(n) for s, n in rows}


def request_bins(ws: Workspace, start: datetime, end: datetime, bin_s: int) -> dict[str, list[tuple[datetime, int]]]:
    """Per service, ``(bin start, requests)`` of every bin of [start, end) with requests, oldest first.

    Requests are entry spans (root or server, as ``service_request_counts``): a service that only runs
    inside another's request (no entry span of its own) serves none. A service with no span at all in
    the period (logs only) is counted by its log lines instead (a request logs about as many lines every time).
    """
    w1, p1 = time_window("start_ts", start, end)
    w2, p2 = time_window("ts", start, end)
    rows = ws.con.execute(
        f"""WITH s AS (SELECT service, time_bucket(to_seconds({int(bin_s)}), start_ts) b, count(*) n FROM spans
                       WHERE service IS NOT NULL AND {w1}
                         AND (parent_id IS NULL OR parent_id = '' OR kind IN ('server', 'SERVER', '2')) GROUP BY ALL),
                 l AS (SELECT service, time_bucket(to_seconds({int(bin_s)}), ts) b, count(*) n FROM logs
                       WHERE service IS NOT NULL AND ts IS NOT NULL AND {w2}
                         AND service NOT IN (SELECT service FROM spans WHERE service IS NOT NULL AND {w1}) GROUP BY ALL)
            SELECT service, b, n FROM s UNION ALL SELECT service, b, n FROM l ORDER BY service, b""", p1 + p2 + p1).fetchall()
    out: dict[str, list[tuple[datetime, int]]] = {}
    for service, b, n in rows:
        out.setdefault(str(service), []).append((b, int(n)))
    return out


def failing_messages(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                     limit: int = 40, ratio: float = 1.0) -> list[dict[str, Any]]:
    """Warning and error messages the window logs far more often than the baseline did (more than
    3x the baseline's count scaled by ``ratio``, window over baseline length, plus 2), most frequent
    first: new templates and surging ones. One row per template (or message when untemplated):
    count, baseline count, services, one full example.
    """
    w, p = time_window("ts", start, end)
    bw, bp = time_window("ts", b_start, b_end)
    rows = ws.con.execute(
        f"""WITH win AS (
              SELECT coalesce(template_id, left(message, 200)) AS k, service, message, id, ts
              FROM logs WHERE level IN ('ERROR', 'FATAL', 'WARN') AND message IS NOT NULL AND {w}),
            base AS (SELECT coalesce(template_id, left(message, 200)) AS k, count(*) AS n FROM logs
                     WHERE level IN ('ERROR', 'FATAL', 'WARN') AND message IS NOT NULL AND {bw} GROUP BY k)
            SELECT win.k, count(*) AS n, any_value(coalesce(base.n, 0)),
                   list_sort(list(DISTINCT service) FILTER (service IS NOT NULL)), arg_min(message, id), min(id), min(ts)
            FROM win LEFT JOIN base ON base.k = win.k
            GROUP BY win.k HAVING count(*) > 3 * any_value(coalesce(base.n, 0)) * ? + 2
            ORDER BY n DESC, win.k LIMIT ?""", p + bp + [float(ratio), int(limit)]).fetchall()
    return [{"key": str(k), "count": int(n), "baseline": int(b), "services": list(s or []), "example": str(ex), "log_id": int(i),
             "first_ts": t} for k, n, b, s, ex, i, t in rows]


def active_seconds(ws: Workspace, start: datetime, end: datetime) -> float:
    """Seconds between the first and the last log or span in [start, end): how much of a period holds data."""
    w1, p1 = time_window("ts", start, end)
    w2, p2 = time_window("start_ts", start, end)
    row = ws.con.execute(f"""SELECT min(t), max(t) FROM (SELECT ts t FROM logs WHERE {w1}
                             UNION ALL SELECT start_ts FROM spans WHERE {w2})""", p1 + p2).fetchall()[0]
    return (row[1] - row[0]).total_seconds() if row[0] is not None and row[1] is not None else 0.0


def co_versioned_services(ws: Workspace, service: str, start: datetime, end: datetime) -> list[str]:
    """Services whose records carry a version that ``service``'s own records carry: the parts of one
    deployable (a process hosting several services logs one version for all of them)."""
    w, p = time_window("ts", start, end)
    rows = ws.con.execute(
        f"""WITH v AS (SELECT service, json_extract_string(attributes, '$.version') AS version FROM logs
                       WHERE {w} AND attributes IS NOT NULL)
            SELECT DISTINCT service FROM v WHERE service IS NOT NULL AND version IN
              (SELECT version FROM v WHERE service = ? AND version IS NOT NULL) ORDER BY service""", p + [service]).fetchall()
    return [str(r[0]) for r in rows]


def error_origin_spans(ws: Workspace, start: datetime, end: datetime, limit: int = 2000) -> list[dict[str, Any]]:
    """Error spans of the window none of whose children failed: where each failing trace's error starts."""
    w, p = time_window("s.start_ts", start, end)
    rows = ws.con.execute(
        f"""SELECT s.trace_id, s.span_id, s.service, s.name, s.start_ts, s.attributes FROM spans s
            WHERE s.status = 'error' AND {w}
              AND NOT EXISTS (SELECT 1 FROM spans c WHERE c.trace_id = s.trace_id AND c.parent_id = s.span_id
                              AND c.status = 'error')
            ORDER BY s.start_ts, s.span_id LIMIT ?""", p + [int(limit)]).fetchall()
    return [{"trace_id": t, "span_id": sid, "service": svc, "name": name, "start_ts": ts,
             "attributes": json.loads(a) if a else {}} for t, sid, svc, name, ts, a in rows]


def health_bins(ws: Workspace, services: Sequence[str] | None, start: datetime, end: datetime, bin_s: int) -> list[tuple]:
    """``(bin, errors, spans, p95_ms)`` of the given services (all when None) per bin with any log or span
    (a bin with records and no error is a bin of zero errors, not a missing one)."""
    w1, p1 = time_window("ts", start, end)
    w2, p2 = time_window("start_ts", start, end)
    svc = "list_contains(?, service)" if services else "true"
    sp = [list(services)] if services else []
    return ws.con.execute(
        f"""WITH e AS (SELECT time_bucket(to_seconds({int(bin_s)}), ts) b, count(*) FILTER (level IN ('ERROR', 'FATAL')) n
                       FROM logs WHERE ts IS NOT NULL AND {svc} AND {w1} GROUP BY b),
                 s AS (SELECT time_bucket(to_seconds({int(bin_s)}), start_ts) b, count(*) n,
                              count(*) FILTER (status = 'error') errs, quantile_cont(duration_ms, 0.95) p95
                       FROM spans WHERE {svc} AND {w2} GROUP BY b)
            SELECT coalesce(e.b, s.b) AS b, coalesce(e.n, 0) + coalesce(s.errs, 0), coalesce(s.n, 0), s.p95
            FROM e FULL OUTER JOIN s ON e.b = s.b ORDER BY b""", sp + p1 + sp + p2).fetchall()


def metric_names(ws: Workspace) -> list[str]:
    return [str(r[0]) for r in ws.con.execute("SELECT DISTINCT name FROM metrics ORDER BY name").fetchall()]


def metric_bins(ws: Workspace, name: str, services: Sequence[str] | None, start: datetime, end: datetime, bin_s: int) -> list[tuple]:
    """``(bin, mean value)`` of one metric (of the given services, all when None or when none match)."""
    w, p = time_window("ts", start, end)
    svc, sp = ("list_contains(?, service)", [list(services)]) if services else ("true", [])
    sql = (f"SELECT time_bucket(to_seconds({int(bin_s)}), ts) b, avg(value) FROM metrics WHERE name = ? AND {{svc}} AND {w} "
           "GROUP BY b ORDER BY b")
    rows = ws.con.execute(sql.format(svc=svc), [name] + sp + p).fetchall()
    if not rows and services:
        rows = ws.con.execute(sql.format(svc="true"), [name] + p).fetchall()
    return rows


_SERVICE_TABLES = ("logs", "spans", "metrics", "changes")


def known_services(ws: Workspace, tables: Sequence[str] = _SERVICE_TABLES) -> list[str]:
    """The services the workspace's records name, from ``tables`` (all by default; ``("logs", "spans")``:
    the services that write telemetry of their own, not those only a caller's metric or a change names)."""
    picked = [t for t in _SERVICE_TABLES if t in tables]
    union = " UNION ALL ".join(f"SELECT service FROM {t}" for t in picked)
    rows = ws.con.execute(f"SELECT DISTINCT service FROM ({union}) "
                          "WHERE service IS NOT NULL ORDER BY service").fetchall()
    return [str(r[0]) for r in rows]


def incident_by_fingerprint(ws: Workspace, fingerprint: str) -> str | None:
    row = ws.con.execute("SELECT id FROM incidents WHERE fingerprint = ? ORDER BY created_ts LIMIT 1", [fingerprint]).fetchall()
    return str(row[0][0]) if row else None


def failing_versions(ws: Workspace, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """Per version written on the window's failing records (logs ``version``, spans ``service.version``):
    how many error records carry it, and on which services and hosts."""
    w1, p1 = time_window("ts", start, end)
    w2, p2 = time_window("start_ts", start, end)
    rows = ws.con.execute(
        f"""SELECT v, count(*), list_sort(list(DISTINCT service) FILTER (service IS NOT NULL)),
                   list_sort(list(DISTINCT host) FILTER (host IS NOT NULL)) FROM (
              SELECT json_extract_string(attributes, '$.version') v, service, host FROM logs
               WHERE level IN ('ERROR', 'FATAL') AND {w1}
              UNION ALL
              SELECT json_extract_string(attributes, '$."service.version"'), service,
                     json_extract_string(attributes, '$."host.name"') FROM spans WHERE status = 'error' AND {w2})
            GROUP BY v""", p1 + p2).fetchall()
    return {str(v): {"count": int(n), "services": list(s or []), "hosts": list(h or [])} for v, n, s, h in rows}


def version_mix(ws: Workspace, start: datetime, end: datetime, errors_only: bool = False) -> dict[tuple[str, str], int]:
    """Records (logs and spans; only the failing ones with ``errors_only``) per (service, version written on them)."""
    w1, p1 = time_window("ts", start, end)
    w2, p2 = time_window("start_ts", start, end)
    f1, f2 = ("level IN ('ERROR', 'FATAL') AND", "status = 'error' AND") if errors_only else ("", "")
    rows = ws.con.execute(
        f"""SELECT service, v, count(*) FROM (
              SELECT service, json_extract_string(attributes, '$.version') v FROM logs WHERE {f1} {w1}
              UNION ALL SELECT service, json_extract_string(attributes, '$."service.version"') FROM spans WHERE {f2} {w2})
            WHERE v IS NOT NULL AND service IS NOT NULL GROUP BY service, v""", p1 + p2).fetchall()
    return {(str(s), str(v)): int(n) for s, v, n in rows}


def service_latency(ws: Workspace, start: datetime, end: datetime) -> dict[str, tuple[int, float]]:
    """Per service: spans and p95 duration (ms) in [start, end)."""
    w, p = time_window("start_ts", start, end)
    rows = ws.con.execute(f"SELECT service, count(*), quantile_cont(duration_ms, 0.95) FROM spans "
                          f"WHERE service IS NOT NULL AND duration_ms IS NOT NULL AND {w} GROUP BY service", p).fetchall()
    return {str(s): (int(n), float(q)) for s, n, q in rows}


def slow_operations(ws: Workspace, start: datetime, end: datetime, b_start: datetime, b_end: datetime,
                    limit: int = 10) -> list[dict[str, Any]]:
    """Operations whose p95 grew most against the baseline, with a statement or code location of one slow span."""
    w, p = time_window("start_ts", start, end)
    bw, bp = time_window("start_ts", b_start, b_end)
    rows = ws.con.execute(
        f"""WITH win AS (SELECT service, name, count(*) n, quantile_cont(duration_ms, 0.95) p95,
                                arg_max(attributes, duration_ms) attrs
                         FROM spans WHERE duration_ms IS NOT NULL AND {w} GROUP BY service, name),
                 base AS (SELECT service, name, quantile_cont(duration_ms, 0.95) p95 FROM spans
                          WHERE duration_ms IS NOT NULL AND {bw} GROUP BY service, name)
            SELECT win.service, win.name, win.n, win.p95, base.p95, win.attrs FROM win JOIN base USING (service, name)
            WHERE win.n >= 3 AND win.p95 > 2 * base.p95 + 5
            ORDER BY win.p95 / greatest(base.p95, 0.001) DESC, win.service, win.name LIMIT ?""", p + bp + [int(limit)]).fetchall()
    return [{"service": s, "name": n, "spans": int(c), "p95_ms": float(q), "baseline_p95_ms": float(b),
             "attributes": json.loads(a) if a else {}} for s, n, c, q, b, a in rows]


def shipped_content(ws: Workspace, deploy_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per deploy: the commit events it shipped (``change_commits``), newest first, each with files and diff."""
    if not deploy_ids:
        return {}
    rows = ws.con.execute(
        """SELECT cc.deploy_id, c.commit, any_value(c.ts), any_value(c.files), any_value(c.diff), any_value(c.summary)
           FROM change_commits cc JOIN changes c ON c.kind = 'commit' AND c.commit = cc.commit
           WHERE list_contains(?, cc.deploy_id) GROUP BY cc.deploy_id, c.commit
           ORDER BY cc.deploy_id, any_value(c.ts) DESC, c.commit""", [list(deploy_ids)]).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for d, sha, ts, files, diff, summary in rows:
        entry = out.setdefault(str(d), {"commits": [], "files": set(), "diff": [], "per_commit": []})
        entry["commits"].append(str(sha))
        entry["files"].update(files or [])
        entry["diff"].append(diff or "")
        entry["per_commit"].append({"commit": str(sha), "ts": ts, "files": list(files or []), "diff": diff or "",
                                    "summary": summary or "", "kind": "commit"})
    for entry in out.values():
        entry["files"] = sorted(entry["files"])
        entry["diff"] = "\n".join(entry["diff"])
    return out


def new_error_kinds(ws: Workspace, services: Sequence[str] | None, start: datetime, split: datetime, end: datetime) -> list[tuple[str, datetime, int]]:
    """``(template or message, first time, count)`` of error kinds logged in [split, end) and never in [start, split)."""
    w, p = time_window("ts", start, end)
    svc, sp = ("list_contains(?, service) AND", [list(services)]) if services else ("", [])
    rows = ws.con.execute(
        f"""SELECT coalesce(template_id, left(message, 200)) AS k, min(ts), count(*) FILTER (ts >= ?) FROM logs
            WHERE level IN ('ERROR', 'FATAL') AND {svc} {w} GROUP BY k HAVING min(ts) >= ? ORDER BY min(ts), k""",
        [split] + sp + p + [split]).fetchall()
    return [(str(k), t, int(n)) for k, t, n in rows]
