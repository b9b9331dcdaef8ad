"""Incidents: opening one, finding it by id or unique prefix, listing, moving it along its workflow,
assigning it and commenting on it.

The workflow (open → investigating → rca_ready → approved → resolved, see
``models.STATUS_TRANSITIONS``) is enforced here, and every change is an ``incident_events``
row with who and why; assignments and comments are rows of the same history (``kind``, see
``models.EVENT_KINDS``), so one ordered thread tells what happened to an incident.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Sequence

from ..errors import InputError, InvalidTransition, NotFound
from ..models import EVENT_KINDS, INCIDENT_STATUSES, SEVERITIES, STATUS_TRANSITIONS, Incident
from .connection import WorkspaceCore
from .files import utcnow

__all__ = ["IncidentsMixin", "event_summary"]


class IncidentsMixin(WorkspaceCore):
    """Create, find, list and move incidents; their event history."""

    _INCIDENT_COLS = ("id", "title", "status", "severity", "services", "window_start", "window_end", "fingerprint",
                      "created_ts", "resolved_ts", "approved_by", "approved_ts", "details", "source", "read_only", "owner")
    _EVENT_COLS = ("ts", "kind", "from_status", "to_status", "actor", "note")
    MAX_COMMENT = 20_000  # characters: a comment is a person's note, not a place to paste a whole log
    MAX_OWNER = 200

    def _row_to_incident(self, row: Sequence[Any]) -> Incident:
        values = dict(zip(self._INCIDENT_COLS, row))
        values["services"] = list(values["services"] or [])
        values["details"] = json.loads(values["details"]) if values["details"] else {}
        return Incident(**values)

    def create_incident(
        self,
        title: str,
        *,
        severity: str = "sev3",
        services: Sequence[str] = (),
        window_start: datetime | None = None,
        window_end: datetime | None = None,
        fingerprint: str | None = None,
        details: dict[str, Any] | None = None,
        source: str = "manual",
        incident_id: str | None = None,
        actor: str | None = None,
    ) -> Incident:
        """Open an incident. ``details`` keeps business fields (order_id, eta_delta_hours, problem_type)."""
        self.require_writable()
        if not title.strip():
            raise InputError("an incident needs a title", hint="describe what is broken, e.g. 'checkout 500s'")
        if severity not in SEVERITIES:
            raise InputError(f"unknown severity {severity!r}", hint=f"use one of {', '.join(SEVERITIES)}")
        if window_start and window_end and window_end < window_start:
            raise InputError("incident window ends before it starts", hint="swap --from and --to")
        now = utcnow()
        inc_id = incident_id or str(uuid.uuid4())
        with self.transaction():
            self.con.execute(
                """INSERT INTO incidents (id, title, status, severity, services, window_start, window_end, fingerprint,
                                          created_ts, updated_ts, details, source, read_only)
                   VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, false)""",
                [inc_id, title.strip(), severity, list(services), window_start, window_end, fingerprint, now, now,
                 json.dumps(details or {}, sort_keys=True, default=str), source],
            )
            self._add_event(inc_id, now, "status", None, "open", actor, f"created ({source})")
        return self.get_incident(inc_id)

    MIN_ID_PREFIX = 4  # shorter prefixes would match by accident as incidents accumulate

    def get_incident(self, id_or_prefix: str) -> Incident:
        """The incident with this id, or the only one whose id starts with it (at least 4 characters,
        as the pages and ``crashlens incidents show`` accept from a shortened link or listing).

        Raises ``NotFound`` when nothing matches and ``InputError`` when the prefix is ambiguous,
        naming the candidates so the next try can be exact.
        """
        wanted = (id_or_prefix or "").strip()
        cols = ", ".join(self._INCIDENT_COLS)
        row = self.con.execute(f"SELECT {cols} FROM incidents WHERE id = ?", [wanted]).fetchall()
        if row:
            return self._row_to_incident(row[0])
        if len(wanted) < self.MIN_ID_PREFIX:
            raise NotFound(f"no incident {wanted!r}",
                           hint=f"give the full id or at least {self.MIN_ID_PREFIX} of its first characters; "
                                "`crashlens incidents list` shows the ids")
        # one more than shown, to say whether the list was cut
        matches = self.con.execute(f"SELECT {cols} FROM incidents WHERE starts_with(id, ?) ORDER BY id LIMIT 6",
                                   [wanted]).fetchall()
        if len(matches) == 1:
            return self._row_to_incident(matches[0])
        if not matches:
            raise NotFound(f"no incident {wanted!r}", hint="`crashlens incidents list` shows the ids")
        shown = ", ".join(r[0] for r in matches[:5]) + (", …" if len(matches) > 5 else "")
        raise InputError(f"incident id prefix {wanted!r} matches more than one incident: {shown}",
                         hint="give more characters of the id")

    def list_incidents(self, status: str | None = None, limit: int = 500) -> list[Incident]:
        cols = ", ".join(self._INCIDENT_COLS)
        if status is not None and status not in INCIDENT_STATUSES:
            raise InputError(f"unknown status {status!r}", hint=f"use one of {', '.join(INCIDENT_STATUSES)}")
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self.con.execute(
            f"SELECT {cols} FROM incidents {where} ORDER BY coalesce(window_start, created_ts) DESC LIMIT ?", params + [limit]
        ).fetchall()
        return [self._row_to_incident(r) for r in rows]

    def set_incident_status(self, incident_id: str, status: str, actor: str | None = None, note: str = "") -> Incident:
        """Move an incident along its workflow; approving records who and when."""
        self.require_writable()
        inc = self._writable_incident(incident_id)
        if status not in INCIDENT_STATUSES:
            raise InputError(f"unknown status {status!r}", hint=f"use one of {', '.join(INCIDENT_STATUSES)}")
        if status == inc.status:
            return inc
        if status not in STATUS_TRANSITIONS[inc.status]:
            allowed = ", ".join(STATUS_TRANSITIONS[inc.status])
            raise InvalidTransition(f"cannot move incident from {inc.status} to {status}", hint=f"from {inc.status} it can go to: {allowed}")
        if status == "approved" and not (actor or "").strip():
            raise InputError("approving needs the approver's name", hint="pass --by NAME")
        now = utcnow()
        sets = ["status = ?", "updated_ts = ?"]
        params: list[Any] = [status, now]
        if status == "approved":
            sets += ["approved_by = ?", "approved_ts = ?"]
            params += [actor, now]
        if status == "resolved":
            sets.append("resolved_ts = ?")
            params.append(now)
        elif inc.status == "resolved":
            sets.append("resolved_ts = NULL")
        with self.transaction():
            self.con.execute(f"UPDATE incidents SET {', '.join(sets)} WHERE id = ?", params + [inc.id])
            self._add_event(inc.id, now, "status", inc.status, status, actor, note)
        return self.get_incident(inc.id)

    def record_incident_details(self, incident_id: str, details: dict[str, Any], note: str, actor: str | None = None) -> Incident:
        """Replace an incident's ``details`` and say why in its history (the status stays as it is):
        what a later alert delivery adds, e.g. more alerts of the group, or that the alert resolved."""
        self.require_writable()
        inc = self._writable_incident(incident_id)
        now = utcnow()
        with self.transaction():
            self.con.execute("UPDATE incidents SET details = ?, updated_ts = ? WHERE id = ?",
                             [json.dumps(details, sort_keys=True, default=str), now, inc.id])
            self._add_event(inc.id, now, "update", inc.status, inc.status, actor, note)
        return self.get_incident(inc.id)

    def incident_by_alert_keys(self, keys: Sequence[str]) -> str | None:
        """The oldest alert incident that already holds one of these alerts (``signals.alerts.alert_key``)."""
        if not keys:
            return None
        row = self.con.execute("SELECT id FROM incidents WHERE source = 'alert' AND "
                               "list_has_any(json_extract_string(details, '$.alert_keys[*]'), ?::VARCHAR[]) "
                               "ORDER BY created_ts LIMIT 1", [list(keys)]).fetchall()
        return str(row[0][0]) if row else None

    def assign_incident(self, incident_id: str, owner: str | None, actor: str | None = None) -> Incident:
        """Give the incident an owner (``None`` or blank: nobody); recorded in its history.

        >>> import tempfile
        >>> from crashlens_core.store import Workspace
        >>> with Workspace.open(tempfile.mkdtemp()) as ws:
        ...     inc = ws.assign_incident(ws.create_incident("checkout 500s").id, "alice", actor="bob")
        ...     _ = ws.comment_incident(inc.id, "rolled back pay v2", actor="alice")
        ...     inc.owner, [e["kind"] for e in ws.incident_events(inc.id)]
        ('alice', ['status', 'assign', 'comment'])
        """
        self.require_writable()
        inc = self._writable_incident(incident_id)
        name = " ".join((owner or "").split())  # one line: an owner is shown in tables and headers
        if len(name) > self.MAX_OWNER:
            raise InputError(f"owner name is {len(name)} characters long", hint=f"give a name of at most {self.MAX_OWNER}")
        if (name or None) == inc.owner:
            return inc
        now = utcnow()
        with self.transaction():
            self.con.execute("UPDATE incidents SET owner = ?, updated_ts = ? WHERE id = ?", [name or None, now, inc.id])
            self._add_event(inc.id, now, "assign", inc.status, inc.status, actor, name)
        return self.get_incident(inc.id)

    def comment_incident(self, incident_id: str, text: str, actor: str | None = None) -> dict[str, Any]:
        """Add a comment to the incident's thread; returns the history row it became."""
        self.require_writable()
        inc = self._writable_incident(incident_id)
        body = (text or "").strip()
        if not body:
            raise InputError("a comment needs some text", hint="say what you found or did, e.g. 'rolled back pay v2'")
        if len(body) > self.MAX_COMMENT:
            raise InputError(f"comment is {len(body):,} characters long",
                             hint=f"keep it under {self.MAX_COMMENT:,}; attach long output to the RCA or a bundle instead")
        now, who = utcnow(), (actor or "").strip() or None
        with self.transaction():
            self.con.execute("UPDATE incidents SET updated_ts = ? WHERE id = ?", [now, inc.id])
            self._add_event(inc.id, now, "comment", inc.status, inc.status, who, body)
        return {"incident_id": inc.id, "ts": now, "kind": "comment", "from_status": inc.status, "to_status": inc.status,
                "actor": who, "note": body}

    def incident_events(self, incident_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The incident's history, oldest first: ``{ts, kind, from_status, to_status, actor, note}``;
        ``kind`` keeps one kind (e.g. ``"comment"``: the thread)."""
        where, params = "incident_id = ?", [incident_id]
        if kind is not None:
            if kind not in EVENT_KINDS:
                raise InputError(f"unknown event kind {kind!r}", hint=f"use one of {', '.join(EVENT_KINDS)}")
            where, params = where + " AND kind = ?", params + [kind]
        cols = ", ".join(self._EVENT_COLS)
        # rowid breaks ties between events written in the same microsecond, in the order they were written
        rows = self.con.execute(f"SELECT {cols} FROM incident_events WHERE {where} ORDER BY ts, rowid", params).fetchall()
        return [dict(zip(self._EVENT_COLS, r)) for r in rows]

    def _writable_incident(self, incident_id: str) -> Incident:
        inc = self.get_incident(incident_id)
        if inc.read_only:
            raise InvalidTransition(f"incident {inc.id} was imported from a bundle and is read-only",
                                    hint="it cannot change here; change it in the workspace it came from")
        return inc

    def _add_event(self, incident_id: str, ts: datetime, kind: str, from_status: str | None, to_status: str,
                   actor: str | None, note: str) -> None:
        actor = (actor or "").strip() or None
        self.con.execute("INSERT INTO incident_events (incident_id, ts, kind, from_status, to_status, actor, note) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", [incident_id, ts, kind, from_status, to_status, actor, note])


def event_summary(ev: dict[str, Any]) -> str:
    """One history row (``incident_events``) as a person reads it: who did what, on one line.

    >>> event_summary({"kind": "assign", "actor": "bob", "note": "alice"})
    'bob assigned it to alice'
    >>> event_summary({"kind": "status", "actor": None, "from_status": "open", "to_status": "investigating", "note": ""})
    'someone: open → investigating'
    """
    who = ev.get("actor") or "someone"
    kind = ev.get("kind") or "status"
    if kind == "comment":
        return f"{who} commented: " + " ".join(str(ev.get("note") or "").split())
    if kind == "assign":
        return f"{who} assigned it to {ev['note']}" if ev.get("note") else f"{who} unassigned it"
    if kind == "status" and ev.get("from_status") != ev.get("to_status"):
        if not ev.get("from_status"):
            return f"{who} opened it" + (f" · {ev['note']}" if ev.get("note") else "")
        return f"{who}: {ev['from_status']} → {ev['to_status']}" + (f" · {ev['note']}" if ev.get("note") else "")
    return f"{who}: {ev.get('note') or ''}"
