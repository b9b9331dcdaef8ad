"""Behaviour change: calls and log templates that vanish or appear against a baseline, in a real workspace."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from crashlens_core.ingest import ingest_file
from crashlens_core.signals.behaviour import behaviour_changes
from crashlens_core.signals.refresh import refresh_signals
from crashlens_core.signals.suspects import rank_suspect_services

T0 = datetime(2024, 5, 14, 10, 0, 0)
BASE = (T0, T0 + timedelta(minutes=5))
WINDOW = (T0 + timedelta(minutes=5), T0 + timedelta(minutes=8))


def _iso(ms: float) -> str:
    return (T0 + timedelta(milliseconds=ms)).isoformat() + "Z"


def _request(k: int, at_ms: float, *, notify: bool, status: str = "ok", id_in_name: bool = False) -> list[dict]:
    """checkout → (inventory reserve, notifications send → mail relay call); one trace."""
    t = f"{k:032x}"
    name = f"POST /orders/{k}" if id_in_name else "POST /orders"
    spans = [
        {"trace_id": t, "span_id": f"{k:08x}a", "parent_id": None, "service": "checkout", "name": name,
         "start_ts": _iso(at_ms), "end_ts": _iso(at_ms + (31 if notify else 11)), "status": status, "kind": "server"},
        {"trace_id": t, "span_id": f"{k:08x}b", "parent_id": f"{k:08x}a", "service": "inventory", "name": "reserve",
         "start_ts": _iso(at_ms + 1), "end_ts": _iso(at_ms + 10), "status": "ok"},
    ]
    if notify:
        spans += [
            {"trace_id": t, "span_id": f"{k:08x}c", "parent_id": f"{k:08x}a", "service": "notifications", "name": "send",
             "start_ts": _iso(at_ms + 11), "end_ts": _iso(at_ms + 30), "status": "ok"},
            {"trace_id": t, "span_id": f"{k:08x}d", "parent_id": f"{k:08x}c", "service": "notifications",
             "name": "POST mail-relay", "start_ts": _iso(at_ms + 12), "end_ts": _iso(at_ms + 29), "status": "ok",
             "kind": "client"},
        ]
    return spans


def _load(ws, tmp_path, records: list[dict], name: str = "spans.jsonl") -> None:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = ingest_file(ws, "spans", str(path), "native")
    assert report.rejected == 0, report.errors


def _traffic(*, skip_in_window: bool, busier_window: bool = False, fail_in_window: bool = False,
             id_in_name: bool = False) -> list[dict]:
    records = []
    k = 0
    for second in range(0, 8 * 60, 2):  # one request every 2 s for 8 minutes
        inside = second >= 300
        for _ in range(3 if (busier_window and inside) else 1):
            k += 1
            records += _request(k, second * 1000.0 + k % 7, notify=not (skip_in_window and inside),
                                status="error" if (fail_in_window and inside) else "ok", id_in_name=id_in_name)
    return records


def test_a_call_that_stops_is_blamed_on_the_service_whose_code_stopped(ws, tmp_path):
    _load(ws, tmp_path, _traffic(skip_in_window=True))
    changes = behaviour_changes(ws, WINDOW, BASE)
    calls = [c for c in changes if c.kind == "call"]
    # only the highest change: the relay call below `send` vanished too, but per call of `send` nothing changed
    assert [(c.service, c.what, c.direction) for c in calls] == [("notifications", "send", "vanished")]
    assert calls[0].observed == 0
    assert calls[0].expected == 90
    assert "notifications send called 0 times under checkout POST /orders" in calls[0].describe()
    ranking = rank_suspect_services(ws, *WINDOW, *BASE)
    assert ranking[0].service == "notifications"
    assert ranking[0].components["behaviour"] == 1.0
    assert ranking[0].evidence


def test_more_traffic_is_not_a_behaviour_change(ws, tmp_path):
    _load(ws, tmp_path, _traffic(skip_in_window=False, busier_window=True))
    assert behaviour_changes(ws, WINDOW, BASE) == []


def test_failed_parents_do_not_count(ws, tmp_path):
    # a checkout that fails stops calling what follows: that is its error's story, not behaviour
    _load(ws, tmp_path, _traffic(skip_in_window=True, fail_in_window=True))
    assert [c for c in behaviour_changes(ws, WINDOW, BASE) if c.kind == "call"] == []


def test_operation_names_are_compared_by_shape(ws, tmp_path):
    _load(ws, tmp_path, _traffic(skip_in_window=True, id_in_name=True))
    calls = [c for c in behaviour_changes(ws, WINDOW, BASE) if c.kind == "call"]
    assert [(c.service, c.parent) for c in calls] == [("notifications", "checkout POST /orders/<*>")]


def test_a_template_that_vanishes_from_a_services_mix(ws, tmp_path):
    lines = []
    for second in range(0, 8 * 60, 2):
        ts = (T0 + timedelta(seconds=second)).isoformat() + "Z"
        lines.append({"ts": ts, "level": "INFO", "service": "payments", "message": f"charge request for order o-{second}"})
        if second < 300:  # the gateway call's confirmation stops in the window
            lines.append({"ts": ts, "level": "INFO", "service": "payments", "message": f"charged {second} EUR for order o-{second}"})
        lines.append({"ts": ts, "level": "INFO", "service": "checkout", "message": f"order o-{second} placed"})
    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    ingest_file(ws, "logs", str(path))
    refresh_signals(ws, detect=False)
    changes = behaviour_changes(ws, WINDOW, BASE)
    assert [(c.kind, c.service, c.direction) for c in changes] == [("template", "payments", "vanished")]
    assert changes[0].what.startswith("charged <*>")
    assert changes[0].evidence_id().startswith("behaviour:payments:template:charged")
    assert "log:" in changes[0].to_evidence().text  # an example line of the vanished template
