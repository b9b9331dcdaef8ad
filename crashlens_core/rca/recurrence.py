"""A routine recurrence as evidence: the incident's error repeats on a schedule.

Detection folds an error key that bursts on a fixed period at its usual size (a cron job, log
rotation, a nightly backup) into one incident (``signals.detect.fold_recurrences``) and records the
schedule in ``details.detected.recurrence``. Compared with a baseline that holds earlier runs,
such a window shows nothing elevated, and an analysis that only looks for what is new reports
noise. ``collect_recurrence`` turns the schedule into one ``recur:<key>`` evidence item, so the
offline analyzer can say what it is: a job that fails the same way on every run, not a new failure.

    >>> # [e.id for e in collect_recurrence(ctx)]  → ['recur:tpl:Tb96b3e7a']
"""

from __future__ import annotations

from typing import Any

from ..models import Evidence
from ..store import signals as sig
from ..signals.naming import schedule_phrase, source_name, where_phrase

__all__ = ["collect_recurrence"]


def collect_recurrence(ctx: Any) -> list[Evidence]:
    """Evidence collector: ``recur:<key>`` when the incident stands for a routine recurrence."""
    inc = ctx.incident
    detected = ((inc.details or {}).get("detected") or {}) if inc is not None else {}
    rec = detected.get("recurrence")
    if not rec:
        return []
    bursts = [b for b in detected.get("bursts") or [] if b.get("recurrence")] or detected.get("bursts") or [{}]
    top = bursts[0]
    key = str(top.get("key") or "")
    name, basis = source_name((top.get("services") or [None])[0], top.get("hosts") or (), top.get("files") or ())
    what = sig.error_key_text(ctx.ws, key) or key
    when = schedule_phrase(int(rec["period_s"]), str(rec["last"]))
    text = (f"'{what}' {where_phrase(name, basis)} recurs {when}: {rec['occurrences']} runs from {rec['first']} to "
            f"{rec['last']}, {rec.get('errors', '?')} error lines in all, each run about the same size. Earlier runs are "
            f"in the baseline, so the window looks usual against it: the failure is routine, not new.")
    return [Evidence(f"recur:{key}", "recurrence", f"'{what[:60]}' recurs {when}", text, 1.0, {
        "signal": "recurrence", "service": name, "named_by": basis, "name": what, "key": key,
        "period_s": int(rec["period_s"]), "schedule": when, "occurrences": int(rec["occurrences"]),
        "first_ts": rec["first"], "last_ts": rec["last"], "count": int(rec.get("errors") or 0)})]

