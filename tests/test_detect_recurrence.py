"""Detection folds a routine recurrence (a job failing on schedule) into one incident, and keeps
what is not routine: a real burst the same week, and a run far larger than usual on schedule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_file
from crashlens_core.signals.detect import Burst, detect_incidents, fold_recurrences
from crashlens_core.signals.labels import label_pending
from crashlens_core.store import Workspace

from .conftest import run_cli

DAY0 = datetime(2024, 6, 3, 4, 2)
# the start of each day's cron run drifts by minutes, as cron.daily's does
DRIFT_MIN = [0, 7, 3, 11, 5, 2, 9]


def _syslog(path: Path, big_day: int | None = None) -> None:
    """A week of JSON Lines from one host: routine INFO every 10 minutes; a backup job that fails
    with 6 ERROR lines every night at ~04:0x; on day 3 at 15:20 a burst of 40 disk errors."""
    rows = []
    for day in range(7):
        for minute in range(0, 24 * 60, 10):
            ts = datetime(2024, 6, 3) + timedelta(days=day, minutes=minute)
            rows.append({"ts": ts.isoformat() + "Z", "level": "INFO", "host": "db-1", "service": "ops",
                         "message": f"heartbeat ok seq={day * 1000 + minute}"})
        run = DAY0 + timedelta(days=day, minutes=DRIFT_MIN[day])
        for k in range(30 if day == big_day else 6):
            rows.append({"ts": (run + timedelta(seconds=k)).isoformat() + "Z", "level": "ERROR", "host": "db-1",
                         "service": "ops", "message": f"backup job exited abnormally with code {k % 3 + 1}"})
    burst = datetime(2024, 6, 6, 15, 20)
    for k in range(40):
        rows.append({"ts": (burst + timedelta(seconds=4 * k)).isoformat() + "Z", "level": "ERROR", "host": "db-1",
                     "service": "ops", "message": f"I/O error on device sdb sector {1000 + k}"})
    rows.sort(key=lambda r: r["ts"])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _detect(tmp_path: Path, name: str, settings: Settings, big_day: int | None = None):
    log = tmp_path / f"{name}.jsonl"
    _syslog(log, big_day)
    ws = Workspace.open(tmp_path / name)
    ingest_file(ws, "logs", str(log), "auto")
    label_pending(ws)
    ws.con.execute("DELETE FROM incidents")  # ingest may already detect: start from nothing, then detect once
    return ws, detect_incidents(ws, settings)


def test_a_nightly_job_failing_on_schedule_is_one_incident_beside_the_real_burst(tmp_path):
    ws, report = _detect(tmp_path, "fold", Settings())
    with ws:
        titles = sorted(i.title for i in report.created)
        assert len(titles) == 2, titles
        recurring = next(i for i in report.created if "recurs" in i.title)
        assert "recurs daily at 04:" in recurring.title and "7 times" in recurring.title, recurring.title
        assert "backup job exited abnormally" in recurring.title
        rec = recurring.details["detected"]["recurrence"]
        assert rec["period_s"] == 86_400 and rec["occurrences"] == 7
        assert recurring.severity == "sev3"  # routine: not a page
        # the window is the latest run, so an analyst opening it sees the newest failure
        assert recurring.window_start.date() == (DAY0 + timedelta(days=6)).date()
        burst = next(i for i in report.created if i is not recurring)
        assert "I/O error" in burst.title and burst.window_start.date() == datetime(2024, 6, 6).date()
        # detecting again opens nothing: the recurrence keeps its id
        again = detect_incidents(ws, Settings())
        assert again.created == [] and {m[0] for m in again.matched} >= {recurring.id}


def test_without_folding_every_run_is_an_incident(tmp_path):
    ws, report = _detect(tmp_path, "plain", Settings(detect_fold_recurrences=False))
    with ws:
        assert len(report.created) == 8  # 7 nightly runs + the burst
        assert not any("recurs" in i.title for i in report.created)


def test_a_run_far_larger_than_usual_on_schedule_stays_its_own_incident(tmp_path):
    ws, report = _detect(tmp_path, "big", Settings(), big_day=4)
    with ws:
        recurring = [i for i in report.created if "recurs" in i.title]
        assert len(recurring) == 1 and "6 times" in recurring[0].title, [i.title for i in report.created]
        big = [i for i in report.created if "backup job" in i.title and "recurs" not in i.title]
        assert len(big) == 1 and big[0].window_start.date() == (DAY0 + timedelta(days=4)).date()


def test_the_setting_reads_from_the_environment(tmp_path):
    assert Settings.from_env({"CRASHLENS_DETECT_FOLD_RECURRENCES": "false"}).detect_fold_recurrences is False
    assert Settings.from_env({"CRASHLENS_DETECT_FOLD_RECURRENCES": "1"}).detect_fold_recurrences is True
    done = run_cli("incidents", "list", "--json", workspace=tmp_path / "w", env={"CRASHLENS_DETECT_FOLD_RECURRENCES": "maybe"})
    assert done.returncode == 2 and "detect_fold_recurrences" in done.stderr + done.stdout


def _burst(start: datetime, count: int = 2) -> Burst:
    return Burst("errors", "tpl:t", start, start + timedelta(minutes=1), count, 0.0, count)


def test_irregular_or_close_bursts_are_not_a_schedule():
    t = datetime(2024, 6, 3, 4, 0)
    irregular = [_burst(t + timedelta(hours=h)) for h in (0, 5, 7, 19, 30)]
    assert all(b.recurrence is None for b in fold_recurrences(irregular, 60))
    flapping = [_burst(t + timedelta(minutes=2 * k)) for k in range(6)]  # minutes apart: one flapping fault
    assert all(b.recurrence is None for b in fold_recurrences(flapping, 60))
    two = [_burst(t), _burst(t + timedelta(days=1))]  # one gap is a coincidence
    assert all(b.recurrence is None for b in fold_recurrences(two, 60))
    skipped = [_burst(t + timedelta(days=d)) for d in (0, 1, 3, 4, 5)]  # a skipped night is the same schedule
    folded = fold_recurrences(skipped, 60)
    assert len(folded) == 1 and folded[0].recurrence["occurrences"] == 5


def test_the_rca_of_a_recurring_incident_names_the_schedule_not_the_latest_minute(tmp_path):
    """Against a baseline holding earlier runs the window looks usual: the report must say the
    failure is a schedule's, cite it, and point at the job's source first."""
    from crashlens_core.rca.engine import run_rca

    ws, report = _detect(tmp_path, "rca", Settings())
    with ws:
        recurring = next(i for i in report.created if "recurs" in i.title)
        run = run_rca(ws, Settings(), recurring.id, engine="offline")
        rpt = run.report
        recur_ids = [e.id for e in run.evidence.items if e.kind == "recurrence"]
        assert len(recur_ids) == 1
        assert "scheduled job" in rpt.root_cause and "daily at 04:" in rpt.root_cause and "7 runs" in rpt.root_cause
        assert rpt.suspects[0].service == "ops"
        assert any(recur_ids[0] in s.evidence for s in rpt.suspects if s.service == "ops")
        assert any(recur_ids[0] in c.evidence for c in rpt.claims)
        assert "scheduled job" in rpt.remediation[0]
        # the real burst of the same week is analysed as before: no schedule is claimed for it
        burst = next(i for i in report.created if i is not recurring)
        other = run_rca(ws, Settings(), burst.id, engine="offline")
        assert not any(e.kind == "recurrence" for e in other.evidence.items)
        assert "scheduled job" not in other.report.root_cause
