"""The demo workspace: every simulator scenario run for real, then ingested.

``build_demo`` is what ``crashlens demo`` and the first ``make run`` call. It is idempotent:
the simulator is deterministic, so a second run produces the same bytes, which ingest
recognises and skips, and incidents have ids derived from their scenario.
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

    def to_json(self) -> dict[str, Any]:
        return {"scenarios": self.scenarios, "incidents": self.incidents, "repo_dir": str(self.repo_dir),
                "runbook": str(self.runbook), "ingest": [r.to_json() for r in self.reports]}


# File names the simulator writes, by role (see simulate/driver.py).
_OUTPUT_FILES = {"logs": "logs.jsonl", "text_logs": "app.log", "spans": "spans.otlp.json",
                 "agent_spans": "agent_spans.jsonl", "metrics": "metrics.csv", "ground_truth": "ground_truth.json"}


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
                      open_incident: bool = True) -> tuple[list[IngestReport], str | None]:
    """Ingest one simulation's outputs; open an incident for its injected fault (once)."""
    reports = []
    for key, kind, fmt in _INGEST_PLAN:
        path = result.files.get(key)
        if path is not None and Path(path).exists():
            reports.append(ingest_file(ws, kind, str(path), fmt, settings=settings))
    incident_id = None
    if open_incident:
        incident_id = _open_incident(ws, result.scenario, result.ground_truth, seed)
    return reports, incident_id


def _open_incident(ws: Workspace, scenario: str, truth: dict[str, Any], seed: int) -> str:
    from ..errors import NotFound
    from ..ingest.normalize import parse_ts

    inc_id = scenario_incident_id(scenario, seed)
    try:
        return ws.get_incident(inc_id).id
    except NotFound:
        pass
    root = truth.get("root_cause") or {}
    window = truth.get("fault_window") or {}
    details = dict(truth.get("incident_details") or {})
    details.update({"scenario": scenario, "fault_kind": truth.get("kind"), "seed": seed,
                    "description": truth.get("description") or ""})
    what = truth.get("expected_exception") or str(truth.get("kind") or "fault").replace("_", " ")
    where = root.get("service") or "the shop"
    ws.create_incident(
        f"{what} in {where}" + (f" on {root['host']}" if root.get("host") else ""),
        severity="sev2",
        services=[root["service"]] if root.get("service") else [],
        window_start=parse_ts(window.get("start")),
        window_end=parse_ts(window.get("end")),
        details=details,
        source="simulated",
        incident_id=inc_id,
        actor="simulator",
    )
    return inc_id


def build_demo(ws: Workspace, settings: Settings | None = None, *, seed: int = DEMO_SEED,
               progress: Callable[[float, str], None] | None = None) -> DemoSummary:
    """Run every scenario into ``<workspace>/simulations`` and ingest what they produced."""
    from . import build_runbook_pdf, list_scenarios, run_scenario

    settings = settings or Settings()
    summary = DemoSummary()
    root = ws.folder / "simulations"
    summary.repo_dir = ws.folder / "demo-repo"
    scenarios = list_scenarios()
    for i, scenario in enumerate(scenarios):
        def sub(frac: float, msg: str, i: int = i) -> None:
            if progress:
                progress((i + frac * 0.8) / (len(scenarios) + 1), f"{scenario.name}: {msg}")

        result = run_scenario(scenario.name, root / f"{scenario.name}-seed{seed}", seed=seed,
                              repo_dir=summary.repo_dir, progress=sub)
        if progress:
            progress((i + 0.85) / (len(scenarios) + 1), f"{scenario.name}: ingesting")
        reports, incident_id = ingest_simulation(ws, result, settings, seed=seed)
        summary.scenarios.append(scenario.name)
        summary.reports.extend(reports)
        if incident_id:
            summary.incidents.append(incident_id)
    summary.runbook = build_runbook_pdf(ws.folder / "docs" / "runbook-shop.pdf")
    (ws.folder / "demo.json").write_text(json.dumps({"built": utcnow().isoformat(), "seed": seed,
                                                     "scenarios": summary.scenarios}, indent=2))
    if progress:
        progress(1.0, f"demo ready: {len(summary.scenarios)} scenarios, {len(summary.incidents)} incidents")
    return summary
