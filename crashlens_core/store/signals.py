"""SQL of the log signals: the templates and fingerprints tables and the labels on ``logs``.

Rows of ``templates`` and ``fingerprints`` are never updated in place: a touched id is deleted
and inserted again with its statistics recomputed from ``logs`` (count, first/last seen,
levels, services, example). That keeps them exact after relabelling and avoids DuckDB's
index-update corner cases; the tables hold one row per distinct shape, so it is cheap.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from .files import registered
from .masksql import assign_template_ids, masked_messages_for_batch, relabel_templates

if TYPE_CHECKING:  # for annotations only: the runtime imports stay as they were
    from .workspace import Workspace

__all__ = [
    "unlabelled_log_batches", "mark_labelled", "stored_templates", "batch_masked_messages", "label_templates",
    "relabel", "save_templates", "exception_candidates", "set_fingerprints", "save_fingerprints", "known_fingerprints",
    "fingerprint_meta", "template_text", "error_key_text", "business_fields", "log_volume", "window_fingerprints",
    "fingerprint_trace_links",
]


def unlabelled_log_batches(ws: Workspace) -> list[int]:
    rows = ws.con.execute(
        "SELECT id FROM ingest_batches WHERE kind = 'logs' AND status = 'done' AND labelled_ts IS NULL "
        "AND loaded > 0 ORDER BY id").fetchall()
    return [int(r[0]) for r in rows]


def mark_labelled(ws: Workspace, batch_id: int, when: datetime) -> None:
    ws.con.execute("UPDATE ingest_batches SET labelled_ts = ? WHERE id = ?", [when, int(batch_id)])


# ---------------------------------------------------------------- templates

def stored_templates(ws: Workspace) -> list[tuple[str, str, int, str, str | None]]:
    """``(id, template, count, example, replaced_by)`` in publication order (to restore a miner)."""
    rows = ws.con.execute(
        "SELECT template_id, template, count, coalesce(example, ''), replaced_by FROM templates ORDER BY seq").fetchall()
    return [(str(a), str(b), int(c), str(d), e) for a, b, c, d, e in rows]


def batch_masked_messages(ws: Workspace, batch_id: int, masks: Sequence[Sequence[str | None]]) -> list[tuple[str, int, int, str]]:
    return masked_messages_for_batch(ws.con, batch_id, masks)


def label_templates(ws: Workspace, batch_id: int, masks: Sequence[Sequence[str | None]], masked_to_id: dict[str, str]) -> int:
    return assign_template_ids(ws.con, batch_id, masks, masked_to_id)


def relabel(ws: Workspace, mapping: dict[str, str]) -> int:
    return relabel_templates(ws.con, mapping)


_TEMPLATE_STATS = """
    SELECT template_id AS id, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts,
           split_part(arg_min(message, id), chr(10), 1) AS example, min(id) AS example_log_id,
           list_sort(list(DISTINCT level) FILTER (level IS NOT NULL)) AS levels,
           list_sort(list(DISTINCT service) FILTER (service IS NOT NULL)) AS services
    FROM logs WHERE template_id IN (SELECT id FROM cl_tpl_meta) GROUP BY template_id"""


def save_templates(ws: Workspace, meta: Sequence[tuple[str, str, int, str | None]]) -> None:
    """Rewrite the rows of the given templates ``(id, template, seq, replaced_by)`` with their
    statistics from ``logs`` (a replaced template keeps its row, with count 0 once relabelled)."""
    if not meta:
        return
    tbl = pa.table({"id": pa.array([m[0] for m in meta], pa.string()),
                    "template": pa.array([m[1] for m in meta], pa.string()),
                    "seq": pa.array([m[2] for m in meta], pa.int64()),
                    "replaced_by": pa.array([m[3] for m in meta], pa.string())})
    con = ws.con
    with registered(con, "cl_tpl_meta", tbl):
        con.execute("DELETE FROM templates WHERE template_id IN (SELECT id FROM cl_tpl_meta)")
        con.execute(f"""
            INSERT INTO templates
            SELECT m.id, m.template, m.seq, m.replaced_by, coalesce(s.n, 0), s.first_ts, s.last_ts,
                   s.example, s.example_log_id, s.levels, s.services
            FROM cl_tpl_meta m LEFT JOIN ({_TEMPLATE_STATS}) s ON s.id = m.id""")


# ---------------------------------------------------------------- fingerprints

# A log can carry an exception when it is an error with a stack (several lines) or names an
# exception on its one line. Messages equal up to their digits share one parse.
_CANDIDATES = r"""
    SELECT regexp_replace(message, '[0-9]+', '0', 'g') AS k, arg_min(message, id) AS example, list(id) AS ids
    FROM logs
    WHERE batch_id = ? AND message IS NOT NULL
      AND ((level IN ('WARN', 'ERROR', 'FATAL') AND contains(message, chr(10)))
           OR (level IN ('ERROR', 'FATAL')
               AND regexp_matches(message, '(Error|Exception|Timeout|panic|Fault)\b')))
    GROUP BY k"""


def exception_candidates(ws: Workspace, batch_id: int) -> list[tuple[str, list[int]]]:
    """``(example message, log ids)`` per distinct digit-masked message of one batch that may hold an exception."""
    rows = ws.con.execute(_CANDIDATES, [int(batch_id)]).fetchall()
    return [(str(ex), [int(i) for i in ids]) for _, ex, ids in rows]


def set_fingerprints(ws: Workspace, ids: Sequence[int], fingerprints: Sequence[str]) -> int:
    if not ids:
        return 0
    tbl = pa.table({"id": pa.array(ids, pa.int64()), "fp": pa.array(fingerprints, pa.string())})
    with registered(ws.con, "cl_fp_rows", tbl):
        res = ws.con.execute("UPDATE logs SET fingerprint = m.fp FROM cl_fp_rows m WHERE logs.id = m.id").fetchall()
    return int(res[0][0]) if res else 0


_FP_STATS = """
    SELECT fingerprint AS id, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts, min(id) AS example_log_id,
           arg_min(message, id) AS example,
           list_sort(list(DISTINCT service) FILTER (service IS NOT NULL)) AS services
    FROM logs WHERE fingerprint IN (SELECT id FROM cl_fp_meta) GROUP BY fingerprint"""


def save_fingerprints(ws: Workspace, meta: Sequence[dict[str, Any]]) -> None:
    """Rewrite the rows of the given fingerprints with statistics from ``logs``. ``meta``: one dict
    per fingerprint (id, exc_type, title, culprit, basis, language, frames); a fingerprint seen
    before keeps its first title and example."""
    if not meta:
        return
    cols = ("id", "exc_type", "title", "culprit", "basis", "language")
    data = {c: pa.array([m.get(c) for m in meta], pa.string()) for c in cols}
    data["frames"] = pa.array([json.dumps(m.get("frames") or []) for m in meta], pa.string())
    con = ws.con
    with registered(con, "cl_fp_meta", pa.table(data)):
        con.execute("CREATE OR REPLACE TEMP TABLE cl_fp_old AS "
                    "SELECT * FROM fingerprints WHERE fingerprint IN (SELECT id FROM cl_fp_meta)")
        con.execute("DELETE FROM fingerprints WHERE fingerprint IN (SELECT id FROM cl_fp_meta)")
        con.execute(f"""
            INSERT INTO fingerprints
            SELECT m.id, coalesce(o.exc_type, m.exc_type), coalesce(o.title, m.title), coalesce(o.culprit, m.culprit),
                   coalesce(o.basis, m.basis), coalesce(o.language, m.language), coalesce(o.frames, m.frames::JSON),
                   s.n, s.first_ts, s.last_ts, s.services,
                   coalesce(o.example_log_id, s.example_log_id), coalesce(o.example, s.example)
            FROM cl_fp_meta m JOIN ({_FP_STATS}) s ON s.id = m.id LEFT JOIN cl_fp_old o ON o.fingerprint = m.id""")
        con.execute("DROP TABLE cl_fp_old")


def known_fingerprints(ws: Workspace, ids: Sequence[str]) -> list[str]:
    if not ids:
        return []
    rows = ws.con.execute("SELECT fingerprint FROM fingerprints WHERE list_contains(?, fingerprint)", [list(ids)]).fetchall()
    return [r[0] for r in rows]


def fingerprint_meta(ws: Workspace, fp: str) -> dict[str, Any] | None:
    rows = ws.con.execute("SELECT exc_type, title, culprit, count FROM fingerprints WHERE fingerprint = ?", [fp]).fetchall()
    if not rows:
        return None
    exc, title, culprit, count = rows[0]
    return {"exc_type": exc, "title": title, "culprit": culprit, "count": count}


def template_text(ws: Workspace, template_id: str) -> str | None:
    rows = ws.con.execute("SELECT template FROM templates WHERE template_id = ?", [template_id]).fetchall()
    return rows[0][0] if rows else None


def error_key_text(ws: Workspace, key: str) -> str | None:
    """What a detection key (``fp:<id>`` | ``tpl:<id>``) names: the exception type of the
    fingerprint ("exception" when unknown), the template's text (the key when unknown); else None."""
    if key.startswith("fp:"):
        return str((fingerprint_meta(ws, key[3:]) or {}).get("exc_type") or "exception")
    if key.startswith("tpl:"):
        return template_text(ws, key[4:]) or key
    return None


# Business fields an incident keeps (the AgentOps incident shape), read off log attributes.
BUSINESS_KEYS = ("order_id", "eta_delta_hours", "problem_type")


def business_fields(ws: Workspace, start: datetime, end: datetime, services: Sequence[str]) -> dict[str, Any]:
    """The most frequent value of each business key among the window's WARN+ logs of these services,
    when the logs speak of a business problem at all (an order id alone is just any order)."""
    out: dict[str, Any] = {}
    for key in BUSINESS_KEYS:
        rows = ws.con.execute(
            f"""SELECT v, count(*) n FROM (
                  SELECT CASE WHEN json_valid(attributes) THEN json_extract_string(attributes, '$.{key}') END AS v
                  FROM logs WHERE ts >= ? AND ts < ? AND attributes IS NOT NULL
                    AND level IN ('WARN', 'ERROR', 'FATAL') AND list_contains(?, service))
                WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT 1""",
            [start, end, list(services)]).fetchall()
        if rows:
            out[key] = rows[0][0]
    return out if set(out) - {"order_id"} else {}


def log_volume(ws: Workspace, start: datetime, end: datetime, bin_s: int) -> list[tuple[datetime, str, int]]:
    """``(bin start, level, count)`` of logs in ``[start, end)``: the incident timeline."""
    return ws.con.execute(
        f"""SELECT time_bucket(to_seconds({int(bin_s)}), ts) AS b, coalesce(level, 'INFO'), count(*)
            FROM logs WHERE ts >= ? AND ts < ? GROUP BY ALL ORDER BY b""", [start, end]).fetchall()


def window_fingerprints(ws: Workspace, start: datetime, end: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """Exception fingerprints seen in ``[start, end)``, most frequent first, with one example each."""
    rows = ws.con.execute(
        f"""SELECT l.fingerprint, count(*) AS n, list(DISTINCT l.service ORDER BY l.service), min(l.ts), max(l.ts),
                   f.exc_type, f.title, f.culprit, f.count, f.first_ts, arg_min(l.message, l.id), f.frames, f.basis
            FROM logs l LEFT JOIN fingerprints f ON f.fingerprint = l.fingerprint
            WHERE l.ts >= ? AND l.ts < ? AND l.fingerprint IS NOT NULL
            GROUP BY l.fingerprint, f.exc_type, f.title, f.culprit, f.count, f.first_ts, f.frames, f.basis
            ORDER BY n DESC, l.fingerprint LIMIT {int(limit)}""", [start, end]).fetchall()
    keys = ("fingerprint", "count", "services", "first_in_window", "last_in_window", "exc_type", "title", "culprit",
            "total", "first_seen", "example", "frames", "basis")
    out = [dict(zip(keys, r)) for r in rows]
    for row in out:
        row["frames"] = json.loads(row["frames"]) if isinstance(row["frames"], str) else (row["frames"] or [])
    return out


def fingerprint_trace_links(ws: Workspace, start: datetime | None, end: datetime | None,
                            fingerprints: Sequence[str]) -> dict[tuple[str, str], int]:
    """``{(fp_a, fp_b): traces}``: how many traces hold lines of both fingerprints (``fp_a < fp_b``),
    in ``[start, end)`` (None: unbounded), and ``(fp, fp)``: how many traces hold lines of ``fp``.
    What links a caller's logged error to its callee's."""
    if not fingerprints:
        return {}
    rows = ws.con.execute(
        """WITH p AS (SELECT DISTINCT fingerprint, trace_id FROM logs
                      WHERE list_contains(?, fingerprint) AND trace_id IS NOT NULL AND trace_id <> ''
                        AND (?::TIMESTAMP IS NULL OR ts >= ?) AND (?::TIMESTAMP IS NULL OR ts < ?))
           SELECT a.fingerprint, b.fingerprint, count(*) FROM p a JOIN p b ON a.trace_id = b.trace_id
           WHERE a.fingerprint <= b.fingerprint GROUP BY ALL""",
        [list(fingerprints), start, start, end, end]).fetchall()
    return {(a, b): int(n) for a, b, n in rows}
