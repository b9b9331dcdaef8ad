"""SQL for pull connectors: the named sources (without credentials) and the record of every pull.

A source row holds what is safe to keep in a workspace that may be shared or bundled: the
kind, the URL (refused with ``user:password@`` by the caller) and the query configuration.
Credentials are never written here. A pull row says what was asked of which source for which
time range, and points at two artifacts: the raw response and the pull record (JSON).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..errors import NotFound
from .files import utcnow
from .workspace import Workspace

__all__ = ["save_source", "delete_source", "get_source", "list_sources", "record_pull", "list_pulls", "pull_digests_for",
           "pull_record_digest"]

_PULL_COLUMNS = ("id", "source", "kind", "signal", "role", "query", "from_ts", "to_ts", "rows", "loaded", "rejected",
                 "response_digest", "batch_id", "incident_id", "pulled_ts")


def save_source(ws: Workspace, name: str, kind: str, url: str, config: dict[str, Any]) -> None:
    """Add or replace the source ``name`` (the caller has checked the URL and the config)."""
    ws.require_writable()
    now = utcnow()
    with ws.transaction():
        ws.con.execute(
            "INSERT INTO pull_sources VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "kind = excluded.kind, url = excluded.url, config = excluded.config, updated_ts = excluded.updated_ts",
            [name, kind, url, json.dumps(config, sort_keys=True), now, now])


def delete_source(ws: Workspace, name: str) -> None:
    ws.require_writable()
    get_source(ws, name)  # NotFound with the known names
    with ws.transaction():
        ws.con.execute("DELETE FROM pull_sources WHERE name = ?", [name])


def _source_row(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"name": row[0], "kind": row[1], "url": row[2], "config": json.loads(row[3]) if row[3] else {},
            "created_ts": row[4], "updated_ts": row[5]}


def get_source(ws: Workspace, name: str) -> dict[str, Any]:
    rows = ws.con.execute("SELECT name, kind, url, config, created_ts, updated_ts FROM pull_sources WHERE name = ?",
                          [name]).fetchall()
    if not rows:
        known = [r["name"] for r in list_sources(ws)]
        raise NotFound(f"no source named {name!r}",
                       hint=f"known sources: {', '.join(known)}" if known else "add one with `crashlens sources add NAME --kind … --url …`")
    return _source_row(rows[0])


def list_sources(ws: Workspace) -> list[dict[str, Any]]:
    rows = ws.con.execute("SELECT name, kind, url, config, created_ts, updated_ts FROM pull_sources ORDER BY name").fetchall()
    return [_source_row(r) for r in rows]


def record_pull(ws: Workspace, row: dict[str, Any]) -> None:
    """Insert one pull row (keys: ``_PULL_COLUMNS``); the same record twice is one row."""
    ws.require_writable()
    values = [row.get(c) for c in _PULL_COLUMNS]
    with ws.transaction():
        ws.con.execute(f"INSERT INTO pulls ({', '.join(_PULL_COLUMNS)}) VALUES ({', '.join('?' * len(_PULL_COLUMNS))}) "
                       "ON CONFLICT (id) DO NOTHING", values)


def list_pulls(ws: Workspace, source: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    where, params = ("WHERE source = ?", [source]) if source else ("", [])
    rows = ws.con.execute(f"SELECT {', '.join(_PULL_COLUMNS)} FROM pulls {where} ORDER BY pulled_ts DESC, id LIMIT ?",
                          [*params, limit]).fetchall()
    return [dict(zip(_PULL_COLUMNS, r)) for r in rows]


def pull_digests_for(ws: Workspace, incident_id: str, window_start: datetime | None, window_end: datetime | None) -> list[str]:
    """The artifacts (record and raw response) of the pulls behind an incident.

    A pull is behind the incident when it was made for it (``--incident``) or when its time
    range overlaps the incident's window or its default baseline (the same length just
    before, which compare and RCA read too): the rows it brought are then part of what the
    analysis read, so a bundle must say where they came from.
    """
    sql = "SELECT id, response_digest FROM pulls WHERE incident_id = ?"
    params: list[Any] = [incident_id]
    if window_start is not None and window_end is not None:
        sql += " OR (from_ts < ? AND to_ts > ?)"
        params += [window_end, window_start - (window_end - window_start)]
    found: set[str] = set()
    for record, response in ws.con.execute(sql, params).fetchall():
        found.update(d for d in (record, response) if d)
    return sorted(found)


def pull_record_digest(ws: Workspace, prefix: str) -> str:
    """The one pull-record artifact whose digest starts with ``prefix`` (records arrive with bundles too,
    without ``pulls`` rows, so artifacts are searched by their name: ``pull <source> <role> record``)."""
    prefix = prefix.strip().lower()
    rows = ws.con.execute("SELECT digest FROM artifacts WHERE starts_with(digest, ?) AND name LIKE 'pull % record' "
                          "ORDER BY digest LIMIT 2", [prefix]).fetchall() if len(prefix) >= 4 else []
    if len(rows) != 1:
        raise NotFound(f"{'no' if not rows else 'more than one'} pull record {prefix!r}",
                       hint="give at least 4 characters of a record_digest that `crashlens pull --json` printed")
    return rows[0][0]
