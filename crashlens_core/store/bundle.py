"""SQL for signed bundles: reading an incident with its runs and artifacts, writing an imported one.

Rows travel as plain dicts keyed by column name, read generically (``SELECT *``), so columns
other concerns add to ``incidents`` or ``rca_runs`` travel in bundles without changes here;
an import writes the columns both sides know. JSON columns travel as JSON values, timestamps
as ISO 8601 text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Callable

import duckdb

from ..errors import InputError, WorkspaceError
from .pulls import pull_digests_for
from .workspace import Workspace, utcnow

__all__ = ["incident_record", "incident_event_rows", "rca_run_rows", "artifact_rows", "linked_digests", "artifact_file",
           "store_artifact_stream", "import_marker_exists", "check_importable", "write_imported_incident"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _columns(ws: Workspace, table: str) -> dict[str, str]:
    rows = ws.con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall()
    return {name: kind for name, kind in rows}


def _to_json_row(cols: dict[str, str], row: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (name, kind), value in zip(cols.items(), row):
        if isinstance(value, datetime):
            value = value.isoformat()
        elif kind == "JSON" and isinstance(value, str) and name != "report":
            value = json.loads(value)
        out[name] = value
    return out


def _select(ws: Workspace, table: str, where: str, params: list[Any], order: str = "") -> list[dict[str, Any]]:
    cols = _columns(ws, table)
    names = ", ".join(f'"{c}"' for c in cols)
    rows = ws.con.execute(f"SELECT {names} FROM {table} WHERE {where} {order}", params).fetchall()
    return [_to_json_row(cols, r) for r in rows]


def incident_record(ws: Workspace, incident_id: str) -> dict[str, Any]:
    """Every column of one incident (the id must be exact; resolve prefixes with ws.get_incident)."""
    return _select(ws, "incidents", "id = ?", [incident_id])[0]


def incident_event_rows(ws: Workspace, incident_id: str) -> list[dict[str, Any]]:
    return _select(ws, "incident_events", "incident_id = ?", [incident_id], "ORDER BY ts, to_status")


def rca_run_rows(ws: Workspace, incident_id: str) -> list[dict[str, Any]]:
    """The incident's RCA runs, oldest first; ``report`` stays the exact stored text."""
    return _select(ws, "rca_runs", "incident_id = ?", [incident_id], "ORDER BY started_ts, id")


def linked_digests(ws: Workspace, incident_id: str, runs: list[dict[str, Any]]) -> list[str]:
    """Artifacts the incident points at: whatever its runs reference (evidence, recorded
    responses), its spans' argument/result digests and the records and raw responses of the
    pulls behind it (``pulls.pull_digests_for``) — only those the workspace holds."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if _HEX64.fullmatch(value):
                found.add(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    for run in runs:
        walk({k: v for k, v in run.items() if k != "report"})
    for a, b in ws.con.execute("SELECT args_digest, result_digest FROM spans WHERE incident_id = ?", [incident_id]).fetchall():
        walk([a, b])
    window = ws.con.execute("SELECT window_start, window_end FROM incidents WHERE id = ?", [incident_id]).fetchall()
    walk(pull_digests_for(ws, incident_id, *(window[0] if window else (None, None))))
    if not found:
        return []
    held = ws.con.execute("SELECT digest FROM artifacts WHERE list_contains(?, digest)", [sorted(found)]).fetchall()
    return sorted(r[0] for r in held)


def artifact_rows(ws: Workspace, digests: list[str]) -> list[dict[str, Any]]:
    if not digests:
        return []
    return _select(ws, "artifacts", "list_contains(?, digest)", [digests], "ORDER BY digest")


def artifact_file(ws: Workspace, digest: str) -> Path:
    return ws.artifact_path(digest)


def store_artifact_stream(ws: Workspace, digest: str, write_to: Callable[[BinaryIO], None]) -> None:
    """Put an artifact's file in place from a writer callback, checking its sha256 on the way.

    The file lands under its digest only when the bytes match, so a reader never sees a
    wrong or half-written artifact. The database row is written separately (in the import's
    transaction); a file without a row is harmless (content-addressed, re-used next time).
    """
    path = ws.artifact_path(digest)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")

    class _Hashing:
        def __init__(self, fh: BinaryIO) -> None:
            self.fh, self.h = fh, hashlib.sha256()

        def write(self, data: Any) -> int:
            self.h.update(data)
            return self.fh.write(data)

    try:
        with open(tmp, "wb") as fh:
            sink = _Hashing(fh)
            write_to(sink)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        if sink.h.hexdigest() != digest:
            raise WorkspaceError(f"artifact {digest} changed while it was imported", hint="verify the bundle again and retry")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def import_marker_exists(ws: Workspace, incident_id: str, marker: str) -> bool:
    rows = ws.con.execute("SELECT count(*) FROM incident_events WHERE incident_id = ? AND starts_with(note, ?)",
                          [incident_id, marker]).fetchall()
    return rows[0][0] > 0


def _insert(ws: Workspace, table: str, cols: dict[str, str], row: dict[str, Any], conflict: str = "") -> None:
    names = [c for c in cols if c in row]
    values = []
    for c in names:
        v = row[c]
        if cols[c] == "JSON" and v is not None and not isinstance(v, str):
            v = json.dumps(v, sort_keys=True)
        values.append(v)
    quoted = ", ".join(f'"{c}"' for c in names)
    ws.con.execute(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' for _ in names)}) {conflict}", values)


def check_importable(ws: Workspace, incident_id: str) -> bool:
    """True if the incident was imported before (it will be refreshed), False if it is new;
    ``InputError`` if a local incident has that id."""
    existing = ws.con.execute("SELECT source, read_only FROM incidents WHERE id = ?", [incident_id]).fetchall()
    if existing and not (existing[0][0] == "imported" and existing[0][1]):
        raise InputError(f"incident {incident_id} already exists in this workspace as a local incident",
                         hint="a bundle never overwrites local work: import it into another workspace (--workspace DIR)")
    return bool(existing)


def write_imported_incident(ws: Workspace, incident: dict[str, Any], events: list[dict[str, Any]], runs: list[dict[str, Any]],
                            artifacts: list[dict[str, Any]], note: str) -> dict[str, int]:
    """Write (or refresh) an imported incident: read-only, source 'imported', in one transaction.

    A local incident with the same id is never overwritten. Runs and artifacts already present
    are kept as they are (ids and digests name the same content); events are replaced by the
    bundle's, followed by one event recording the import.
    """
    existing = check_importable(ws, incident["id"])
    now = utcnow()
    row = dict(incident, source="imported", read_only=True, updated_ts=now)
    try:
        return _write(ws, row, existing, events, runs, artifacts, note, now)
    except duckdb.Error as exc:
        raise InputError(f"the bundle's records do not fit this workspace: {exc}",
                         hint="import it with the CrashLens version that exported it") from None


def _write(ws: Workspace, row: dict[str, Any], existing: bool, events: list[dict[str, Any]], runs: list[dict[str, Any]],
           artifacts: list[dict[str, Any]], note: str, now: datetime) -> dict[str, int]:
    inc_id = row["id"]
    inc_cols, ev_cols = _columns(ws, "incidents"), _columns(ws, "incident_events")
    run_cols, art_cols = _columns(ws, "rca_runs"), _columns(ws, "artifacts")
    counts = {"events": 0, "runs": 0, "artifacts": 0}
    with ws.transaction():
        if existing:
            ws.con.execute("DELETE FROM incidents WHERE id = ?", [inc_id])
            ws.con.execute("DELETE FROM incident_events WHERE incident_id = ?", [inc_id])
        _insert(ws, "incidents", inc_cols, row)
        for ev in events:
            _insert(ws, "incident_events", ev_cols, dict(ev, incident_id=inc_id))
            counts["events"] += 1
        _insert(ws, "incident_events", ev_cols, {"incident_id": inc_id, "ts": now, "from_status": None,
                                                 "to_status": row.get("status", "open"), "actor": None, "note": note})
        for run in runs:
            before = ws.con.execute("SELECT count(*) FROM rca_runs WHERE id = ?", [run["id"]]).fetchall()[0][0]
            if not before:
                _insert(ws, "rca_runs", run_cols, dict(run, incident_id=inc_id))
                counts["runs"] += 1
        for art in artifacts:
            before = ws.con.execute("SELECT count(*) FROM artifacts WHERE digest = ?", [art["digest"]]).fetchall()[0][0]
            if not before:
                _insert(ws, "artifacts", art_cols, art)
                counts["artifacts"] += 1
    return counts
