"""Alerts as they keep arriving: open, update or resolve the incident each alert belongs to.

Alertmanager re-sends a group at every ``group_interval`` while it changes and every
``repeat_interval`` while it fires, and once more when it resolves (``send_resolved``); Grafana
does the same. ``apply_alert`` turns those deliveries into one incident, and it is the one call
behind both ``crashlens incidents create --alert`` and the ``crashlens serve`` webhooks:

- an alert that no incident holds yet opens one (``onset.open_alert_incident``: the window is
  found from the data);
- a delivery that brings alerts the incident does not hold yet (the group grew) adds them to
  its ``details``, with a line in its history;
- a resolved alert is recorded: ``alert_status: resolved`` and ``alert_ends_at`` in
  ``details``, the alert's own entry gets its ``endsAt``, and a line goes in the history. The
  workflow status stays the analyst's: an alert that stopped firing is not an analysed incident;
- a re-delivery that brings nothing new changes nothing.

``read_alert_payload`` splits a webhook body into the alerts it can read and per-alert errors
(as ingest reports rejected lines), so one bad alert in a group does not lose the others.

>>> batch = read_alert_payload({"service": "checkout", "fired_at": "2024-05-14T10:05:00Z"}, "plain")
>>> batch.received, len(batch.items), batch.errors
(1, 1, [])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..errors import CrashLensError, InputError
from ..ingest.normalize import parse_ts
from ..models import Incident
from ..store import Workspace
from ..store import changes as sql
from .alerts import Alert, alert_key, parse_alert
from .onset import open_alert_incident

__all__ = ["AlertOutcome", "AlertBatch", "apply_alert", "read_alert_payload", "apply_alert_batch"]

_MAX_ENTRIES = 200   # alert entries kept in an incident's details (the keys are all kept)
_STATUSES = ("firing", "resolved")


@dataclass
class AlertOutcome:
    """What one delivery did to its incident: ``opened`` | ``added`` | ``resolved`` | ``known``, per alert too."""

    incident: Incident
    created: bool
    action: str
    actions: dict[str, str] = field(default_factory=dict)  # alert key -> action


def _keys(alert: Alert) -> list[str]:
    return list(alert.details.get("alert_keys") or []) or [alert.fingerprint]


def apply_alert(ws: Workspace, settings: Settings | None, alert: Alert, *, actor: str | None = None) -> AlertOutcome:
    """Open the incident for ``alert``, or record on the one it belongs to what this delivery adds.

    >>> # out = apply_alert(ws, settings, parse_alert(payload)); out.action → 'opened', then 'known' on re-delivery
    """
    keys = _keys(alert)
    found = sql.incident_by_fingerprint(ws, alert.fingerprint) or ws.incident_by_alert_keys(keys)
    if found is None:
        inc, created = open_alert_incident(ws, settings, alert, actor=actor)
        if alert.status == "resolved":  # the firing delivery never came (the server was down): both at once
            inc, _ = _record(ws, inc, alert, actor)
        return AlertOutcome(inc, created, "opened", {k: "opened" for k in keys})
    inc, actions = _record(ws, ws.get_incident(found), alert, actor)
    values = set(actions.values())
    action = "resolved" if "resolved" in values else "added" if "added" in values else "known"
    return AlertOutcome(inc, False, action, actions)


def _record(ws: Workspace, inc: Incident, alert: Alert, actor: str | None) -> tuple[Incident, dict[str, str]]:
    """Merge a later delivery of ``alert`` into ``inc``'s details; one history line when anything changed."""
    details = dict(inc.details)
    held_keys = list(details.get("alert_keys") or [])
    entries = [dict(e) for e in details.get("alerts") or [] if isinstance(e, dict)]
    by_key = {e.get("key"): e for e in entries}
    actions: dict[str, str] = {}
    notes: list[str] = []
    incoming = {e.get("key"): e for e in alert.details.get("alerts") or [] if isinstance(e, dict)}
    for key in _keys(alert):
        entry = incoming.get(key)
        if key not in held_keys and key != alert.fingerprint:
            held_keys.append(key)
            if entry is not None and len(entries) < _MAX_ENTRIES:
                entries.append(dict(entry))
            actions[key] = "added"
        elif entry is not None and entry.get("status") == "resolved" and by_key.get(key, {}).get("status") != "resolved":
            if key in by_key:
                by_key[key].update(status="resolved", endsAt=entry.get("endsAt"))
            actions[key] = "resolved"
        else:
            actions[key] = "known"
    added = [k for k, a in actions.items() if a == "added"]
    if added:
        names = sorted({str((incoming.get(k) or {}).get("labels", {}).get("alertname") or "alert") for k in added})
        notes.append(f"alert: {len(added)} more firing ({', '.join(names)[:200]})")
    one_resolved = [k for k, a in actions.items() if a == "resolved"]
    if one_resolved and alert.status != "resolved":
        notes.append(f"alert: {len(one_resolved)} of the group resolved")
    if alert.status == "resolved" and details.get("alert_status") != "resolved":
        ends = alert.ends_at.isoformat() if alert.ends_at else None
        details.update(alert_status="resolved", alert_ends_at=ends, status="resolved")
        actions = {k: ("resolved" if a == "known" else a) for k, a in actions.items()}
        notes.append(f"alert resolved (ended {ends or 'at an unstated time'})")
    elif alert.status == "firing" and details.get("alert_status") == "resolved":
        details.update(alert_status="firing", status="firing")
        details.pop("alert_ends_at", None)
        notes.append("alert firing again")
    if not notes:
        return inc, actions
    details["alert_keys"] = held_keys
    if entries:
        details["alerts"] = entries
    return ws.record_incident_details(inc.id, details, "; ".join(notes), actor=actor or "alert"), actions


# ---------------------------------------------------------------- webhook bodies

@dataclass
class AlertBatch:
    """A webhook body read: the alerts to apply (each with its items: index, status, key) and the rejected ones."""

    source: str
    received: int
    items: list[tuple[Alert, list[tuple[int, str, str]]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _alert_problem(a: Any) -> str | None:
    if not isinstance(a, dict):
        return "an alert is a JSON object"
    if a.get("status", "firing") not in _STATUSES:
        return f"status {a.get('status')!r} is neither firing nor resolved"
    if "labels" in a and not isinstance(a["labels"], dict):
        return "labels is not an object"
    if parse_ts(a.get("startsAt")) is None:
        return f"startsAt {a.get('startsAt')!r} is not an RFC 3339 time"
    return None


def read_alert_payload(payload: Any, shape: str | None = None) -> AlertBatch:
    """The alerts of a webhook body (an Alertmanager / Grafana group, a plain alert, or a list of plain
    alerts); ``InputError`` when none of them can be read, naming the first reason."""
    if isinstance(payload, list) and shape in (None, "plain"):
        batch = AlertBatch("plain", len(payload))
        for i, one in enumerate(payload):
            try:
                alert = parse_alert(one, "plain" if isinstance(one, dict) and "alerts" not in one else shape)
            except InputError as exc:
                batch.errors.append({"alert": i, "reason": exc.message})
                continue
            batch.items.append((alert, [(i, alert.status, alert.fingerprint)]))
    elif isinstance(payload, dict) and isinstance(payload.get("alerts"), list) and shape != "plain":
        alerts = payload["alerts"]
        batch = AlertBatch(shape or "alertmanager", len(alerts))
        good: list[tuple[int, dict[str, Any]]] = []
        for i, a in enumerate(alerts):
            problem = _alert_problem(a)
            if problem:
                batch.errors.append({"alert": i, "reason": f"alerts[{i}]: {problem}"})
            else:
                good.append((i, a))
        if good:
            alert = parse_alert({**payload, "alerts": [a for _, a in good]}, shape)
            batch.source = alert.source
            batch.items.append((alert, [(i, str(a.get("status", "firing")), alert_key(a)) for i, a in good]))
    else:
        alert = parse_alert(payload, shape)  # says what is wrong with a single object
        batch = AlertBatch(alert.source, 1, [(alert, [(0, alert.status, alert.fingerprint)])])
    if not batch.items:
        first = batch.errors[0]["reason"] if batch.errors else "the payload lists no alerts"
        more = f" (and {len(batch.errors) - 1} more)" if len(batch.errors) > 1 else ""
        raise InputError(f"no alert in the payload can be read: {first}{more}",
                         hint="each alert needs an RFC 3339 startsAt (or fired_at) and status firing or resolved")
    return batch


def apply_alert_batch(ws: Workspace, settings: Settings | None, batch: AlertBatch, *,
                      actor: str | None = None) -> tuple[dict[str, Any], list[AlertOutcome]]:
    """Apply every alert of ``batch``; the per-alert report (as ingest reports items) and the outcomes."""
    results: list[dict[str, Any]] = []
    errors = list(batch.errors)
    outcomes: list[AlertOutcome] = []
    for alert, items in batch.items:
        try:
            out = apply_alert(ws, settings, alert, actor=actor)
        except CrashLensError as exc:  # this group only: the others are still applied
            errors += [{"alert": i, "reason": exc.message} for i, _, _ in items]
            continue
        outcomes.append(out)
        for i, status, key in items:
            results.append({"alert": i, "status": status, "key": key, "incident_id": out.incident.id,
                            "action": "opened" if out.created else out.actions.get(key, out.action)})
    results.sort(key=lambda r: r["alert"])
    errors.sort(key=lambda e: e["alert"])
    incidents = [{"id": o.incident.id, "title": o.incident.title, "status": o.incident.status, "created": o.created,
                  "action": o.action, "window_start": o.incident.window_start, "window_end": o.incident.window_end,
                  "alert_status": o.incident.details.get("alert_status", "firing")} for o in outcomes]
    report = {"source": batch.source, "received": batch.received, "accepted": len(results), "rejected": len(errors),
              "errors": errors, "alerts": results, "incidents": incidents}
    return report, outcomes
