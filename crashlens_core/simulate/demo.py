"""The demo workspace: every demo simulator scenario (``ScenarioSpec.in_demo``) run for real, then ingested and analysed.

``build_demo`` is what ``crashlens demo`` and the first ``make run`` call. Incidents are not
copied from the ground truth: after ingest, the log signals are labelled and incident
detection runs over each scenario's time range, exactly as for real data. The one fault no
signal can show (the agent fed stale carrier data: nothing fails and nothing slows down) is
filed the way AgentOps users get such incidents, as a business report carrying order_id,
eta_delta_hours and problem_type. It is idempotent: the simulator is deterministic, ingest
skips content it has seen, and detected incidents have ids derived from what was detected.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import Settings
from ..ingest import ingest_file
from ..models import IngestReport
from ..store import Workspace, utcnow

__all__ = ["DemoSummary", "build_demo", "ingest_simulation", "load_simulation", "DEMO_SEED"]

DEMO_SEED = 0
_NS = uuid.UUID("6f1c2b1e-9d1a-4c53-9a57-1d2b7c1e5a10")  # namespace for stable scenario incident ids

# What each simulator output is, for ingest. app.log repeats events that logs.jsonl holds,
# and agent_spans.jsonl (the AgentOps view) repeats spans that spans.otlp.json holds, digests
# included: both stay in the simulation folder for people to try, and are not ingested twice.
_INGEST_PLAN = (("logs", "logs", "jsonl"), ("spans", "spans", "otlp"), ("metrics", "metrics", "csv"))


@dataclass
class DemoSummary:
    scenarios: list[str] = field(default_factory=list)
    reports: list[IngestReport] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    repo_dir: Path | None = None
    runbook: Path | None = None
    knowledge: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"scenarios": self.scenarios, "incidents": self.incidents, "repo_dir": str(self.repo_dir),
                "runbook": str(self.runbook), "ingest": [r.to_json() for r in self.reports]}


# File names the simulator writes, by role (see simulate/driver.py).
from .export import OUTPUT_NAMES as _OUTPUT_FILES  # noqa: E402 - one list of names (changes and alert included)


def load_simulation(out_dir: Path) -> Any:
    """A SimulationResult read back from a folder the simulator wrote (to ingest it later)."""
    from ..errors import InputError
    from .driver import SimulationResult

    out_dir = Path(out_dir)
    truth_path = out_dir / _OUTPUT_FILES["ground_truth"]
    if not truth_path.exists():
        raise InputError(f"{out_dir} holds no simulation (no ground_truth.json)", hint="run the scenario first")
    truth = json.loads(truth_path.read_text())
    files = {role: out_dir / name for role, name in _OUTPUT_FILES.items() if (out_dir / name).exists()}
    return SimulationResult(scenario=truth.get("scenario", out_dir.name), out_dir=out_dir, files=files, ground_truth=truth)


def scenario_incident_id(scenario: str, seed: int) -> str:
    return str(uuid.uuid5(_NS, f"{scenario}:{seed}"))


def ingest_simulation(ws: Workspace, result: Any, settings: Settings | None = None, *, seed: int = DEMO_SEED,
                      open_incidents: bool = True) -> tuple[list[IngestReport], list[str]]:
    """Ingest one simulation's outputs, label its logs, detect its incidents.

    Returns the ingest reports and the ids of the incidents that cover the injected fault
    (detected ones, or the business report for a fault no signal shows).
    """
    from ..signals.labels import label_pending

    reports = []
    for key, kind, fmt in _INGEST_PLAN:
        path = result.files.get(key)
        if path is not None and Path(path).exists():
            reports.append(ingest_file(ws, kind, str(path), fmt, settings=settings))
    changes = result.files.get("changes")
    if changes is not None and Path(changes).exists():  # issue 15: deploys, flags, config, decoys included
        from ..ingest.changes import ingest_change_file

        reports.append(ingest_change_file(ws, str(changes)))
    label_pending(ws)
    ids: list[str] = []
    if open_incidents:
        ids = _incidents_for(ws, result.scenario, result.ground_truth, settings or Settings(), seed,
                             alert=result.files.get("alert"))
    return reports, ids


def _incidents_for(ws: Workspace, scenario: str, truth: dict[str, Any], settings: Settings, seed: int,
                   alert: Any = None) -> list[str]:
    from datetime import timedelta

    from ..ingest.normalize import parse_ts
    from ..signals.detect import detect_incidents

    fault = truth.get("fault_window") or {}
    base = truth.get("baseline_window") or {}
    f_start, f_end = parse_ts(fault.get("start")), parse_ts(fault.get("end"))
    start = parse_ts(base.get("start")) or f_start
    if start is None or f_end is None:
        return []
    detect_incidents(ws, settings, start=start, end=f_end + timedelta(minutes=10), actor="detector")
    # a fault file without its own start is taken to start with the run (a TypeError before)
    fault_start = f_start or start
    covering = [i.id for i in ws.list_incidents(limit=100_000)
                if i.window_start and i.window_end and i.window_start < f_end and i.window_end > fault_start]
    if not covering and alert is not None and Path(alert).exists():
        # nothing burst past the detector, but the SLO alert fired: it opens the incident
        from ..signals.alerts import read_alert_file
        from ..signals.onset import open_alert_incident

        return [open_alert_incident(ws, settings, read_alert_file(str(alert)), actor="alertmanager")[0].id]
    if covering or not truth.get("incident_details"):
        return covering
    return [_file_business_report(ws, scenario, truth, seed)]


def _file_business_report(ws: Workspace, scenario: str, truth: dict[str, Any], seed: int) -> str:
    """A customer-facing problem reported by the business (AgentOps' incident shape)."""
    from ..errors import NotFound
    from ..ingest.normalize import parse_ts

    inc_id = scenario_incident_id(scenario, seed)
    try:
        return ws.get_incident(inc_id).id
    except NotFound:
        pass
    details = dict(truth.get("incident_details") or {})
    window = truth.get("fault_window") or {}
    # A report names the feature people saw fail when it can (the ETA agent); a report of a
    # wrong result ("no confirmation e-mail") may name none: then "service" is in details as None.
    service = details.pop("service") if "service" in details else (truth.get("root_cause") or {}).get("service")
    problem = str(details.get("problem_type") or "problem").replace("_", " ")
    title = f"{problem} on order {details['order_id']}" if details.get("order_id") else f"{problem} reported"
    if details.get("eta_delta_hours") is not None:
        title += f": ETA off by {details['eta_delta_hours']} h"
    ws.create_incident(title, severity="sev3", services=[service] if service else [],
                       window_start=parse_ts(window.get("start")), window_end=parse_ts(window.get("end")),
                       details=details, source="reported", incident_id=inc_id, actor="customer support")
    return inc_id


def build_demo(ws: Workspace, settings: Settings | None = None, *, seed: int = DEMO_SEED,
               progress: Callable[[float, str], None] | None = None) -> DemoSummary:
    """Run every demo scenario into ``<workspace>/simulations`` and ingest what they produced."""
    from . import build_runbook_pdf, run_scenario
    from .scenarios import demo_scenarios

    settings = settings or Settings()
    summary = DemoSummary()
    root = ws.folder / "simulations"
    summary.repo_dir = ws.folder / "demo-repo"
    scenarios = demo_scenarios()
    for i, scenario in enumerate(scenarios):
        def sub(frac: float, msg: str, i: int = i) -> None:
            if progress:
                progress((i + frac * 0.8) / (len(scenarios) + 1), f"{scenario.name}: {msg}")

        result = run_scenario(scenario.name, root / f"{scenario.name}-seed{seed}", seed=seed,
                              repo_dir=summary.repo_dir, progress=sub)
        if progress:
            progress((i + 0.85) / (len(scenarios) + 1), f"{scenario.name}: ingesting")
        reports, incident_ids = ingest_simulation(ws, result, settings, seed=seed)
        summary.scenarios.append(scenario.name)
        summary.reports.extend(reports)
        summary.incidents.extend(i for i in incident_ids if i not in summary.incidents)
    summary.runbook = build_runbook_pdf(ws.folder / "docs" / "runbook-shop.pdf")
    # The sample repo and the runbook become searchable knowledge: stack frames resolve to
    # source lines and suspect commits, the RCA cites code and runbook pages.
    from ..knowledge.service import index_demo_sources

    if progress:
        progress(len(scenarios) / (len(scenarios) + 1), "indexing the sample repository and the runbook")
    summary.knowledge = index_demo_sources(
        ws, settings, summary.repo_dir, [summary.runbook],
        progress=(lambda f, msg: progress((len(scenarios) + f) / (len(scenarios) + 1), msg)) if progress else None)
    (ws.folder / "demo.json").write_text(json.dumps({"built": utcnow().isoformat(), "seed": seed,
                                                     "scenarios": summary.scenarios}, indent=2))
    if progress:
        progress(1.0, f"demo ready: {len(summary.scenarios)} scenarios, {len(summary.incidents)} incidents")
    return summary
