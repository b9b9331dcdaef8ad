"""Undoing an ingest batch: its rows, what they counted for, and the incidents only it produced.

A wrong upload (the wrong file, the wrong time zone, a test file) must be removable without
rebuilding the workspace. Deleting batch N removes, in one transaction:

- its rows in ``logs``, ``spans``, ``metrics`` and ``changes`` (and the commits its deploys
  shipped), and its rejected-line report;
- its share of the template and exception-group counts: counts, first and last seen are
  recomputed from the rows that remain; a template or group left with no rows is dropped,
  unless another template names it as ``replaced_by`` (the miner restores that chain);
- the incidents only it produced: incidents that detection opened (``source = 'detected'``)
  over a window in which, once the batch is gone, none of their services has a log line or a
  span. Incidents opened by a person, an alert or an import stay: the batch did not make them.
- the batch row itself, so the same file can be ingested again (re-ingest is keyed on it).
"""

from __future__ import annotations

from typing import Any

from ..errors import NotFound
from .workspace import Workspace

__all__ = ["delete_batch"]

# Tables whose rows carry the batch that loaded them.
_ROW_TABLES = ("logs", "spans", "metrics", "changes")


def _orphaned_incidents(ws: Workspace, batch_id: int) -> list[str]:
    """Detected incidents whose window holds rows of this batch and of no other, for their services."""
    rows = ws.con.execute(
        """SELECT i.id FROM incidents i
           WHERE i.source = 'detected' AND i.window_start IS NOT NULL AND i.window_end IS NOT NULL
             AND EXISTS (SELECT 1 FROM logs l WHERE l.batch_id = ? AND l.ts BETWEEN i.window_start AND i.window_end
                           AND (len(i.services) = 0 OR list_contains(i.services, coalesce(l.service, '')))
                         UNION ALL
                         SELECT 1 FROM spans s WHERE s.batch_id = ? AND s.start_ts BETWEEN i.window_start AND i.window_end
                           AND (len(i.services) = 0 OR list_contains(i.services, coalesce(s.service, ''))))
             AND NOT EXISTS (SELECT 1 FROM logs l WHERE l.batch_id IS DISTINCT FROM ?
                               AND l.ts BETWEEN i.window_start AND i.window_end
                               AND (len(i.services) = 0 OR list_contains(i.services, coalesce(l.service, '')))
                             UNION ALL
                             SELECT 1 FROM spans s WHERE s.batch_id IS DISTINCT FROM ?
                               AND s.start_ts BETWEEN i.window_start AND i.window_end
                               AND (len(i.services) = 0 OR list_contains(i.services, coalesce(s.service, ''))))
           ORDER BY i.id""",
        [batch_id, batch_id, batch_id, batch_id],
    ).fetchall()
    return [r[0] for r in rows]


def _recount(ws: Workspace, table: str, key: str, ids: list[str]) -> int:
    """Recompute count / first_ts / last_ts of ``ids`` in ``table`` from the logs left; drop the empty ones.

    Returns how many were dropped."""
    if not ids:
        return 0
    ws.con.execute(
        f"""UPDATE {table} SET count = coalesce(c.n, 0), first_ts = c.first_ts, last_ts = c.last_ts
            FROM (SELECT k.id, count(l.id) AS n, min(l.ts) AS first_ts, max(l.ts) AS last_ts
                  FROM unnest(?::VARCHAR[]) AS k(id) LEFT JOIN logs l ON l.{key} = k.id GROUP BY k.id) c
            WHERE {table}.{key} = c.id""",
        [ids],
    )
    keep_chain = "AND template_id NOT IN (SELECT replaced_by FROM templates WHERE replaced_by IS NOT NULL)" \
        if table == "templates" else ""
    dropped = ws.con.execute(
        f"DELETE FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[])) AND count = 0 {keep_chain}", [ids]
    ).fetchall()
    return int(dropped[0][0]) if dropped else 0


def delete_batch(ws: Workspace, batch_id: int) -> dict[str, Any]:
    """Remove ingest batch ``batch_id`` and everything only it brought; returns what was removed.

    >>> import tempfile
    >>> from crashlens_core.store import Workspace
    >>> with Workspace.open(tempfile.mkdtemp()) as ws:
    ...     delete_batch(ws, 7)
    Traceback (most recent call last):
    crashlens_core.errors.NotFound: no ingest batch 7
    """
    ws.require_writable()
    found = ws.con.execute("SELECT kind, path FROM ingest_batches WHERE id = ?", [batch_id]).fetchall()
    if not found:
        raise NotFound(f"no ingest batch {batch_id}", hint="`crashlens batches list` shows the batches")
    kind, path = found[0]
    with ws.transaction():
        templates = [r[0] for r in ws.con.execute(
            "SELECT DISTINCT template_id FROM logs WHERE batch_id = ? AND template_id IS NOT NULL", [batch_id]).fetchall()]
        fingerprints = [r[0] for r in ws.con.execute(
            "SELECT DISTINCT fingerprint FROM logs WHERE batch_id = ? AND fingerprint IS NOT NULL", [batch_id]).fetchall()]
        incidents = _orphaned_incidents(ws, batch_id)
        removed: dict[str, int] = {}
        ws.con.execute("DELETE FROM change_commits WHERE deploy_id IN (SELECT id FROM changes WHERE batch_id = ?)", [batch_id])
        for table in _ROW_TABLES:
            n = ws.con.execute(f"DELETE FROM {table} WHERE batch_id = ?", [batch_id]).fetchall()
            removed[table] = int(n[0][0]) if n else 0
        removed["templates_dropped"] = _recount(ws, "templates", "template_id", templates)
        removed["fingerprints_dropped"] = _recount(ws, "fingerprints", "fingerprint", fingerprints)
        if incidents:
            for table, col in (("incident_events", "incident_id"), ("rca_runs", "incident_id"), ("incidents", "id")):
                ws.con.execute(f"DELETE FROM {table} WHERE {col} IN (SELECT unnest(?::VARCHAR[]))", [incidents])
        ws.con.execute("DELETE FROM ingest_errors WHERE batch_id = ?", [batch_id])
        ws.con.execute("DELETE FROM ingest_batches WHERE id = ?", [batch_id])
    return {"batch": batch_id, "kind": kind, "path": path, "removed": removed,
            "templates_recounted": len(templates), "fingerprints_recounted": len(fingerprints),
            "incidents_deleted": incidents}
