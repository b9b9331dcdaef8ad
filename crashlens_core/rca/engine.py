"""Running an RCA: evidence → analysis → validation, recorded in ``rca_runs`` so it can be replayed.

``run_rca`` assembles the evidence set, stores it as an artifact, runs the offline analyzer and
(for ``groq`` / ``openai``) the LLM analyzer, checks the report is grounded, records the run
(engine, model, tokens, cost, evidence digest and artifact, every raw LLM answer by digest,
notice, evidence time) and moves the incident to ``rca_ready``.

``build_report`` is the deterministic half: given an evidence set and the recorded answers it
always produces the same report, which is what strict replay relies on.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, replace
from functools import partial
from datetime import datetime
from typing import Any, Callable, Mapping

from ..config import ENGINES, Settings
from ..errors import CrashLensError, InputError
from ..redact import Redactor
from ..store import Workspace, utcnow
from ..store import rca as sql
from .changes import apply_changes
from .claims import curate_claims
from .evidence import AnalysisFailed, EvidenceSet, assemble_evidence
from .llm import Attempt, LlmUnavailable, report_from_attempts, run_llm, transport_for
from .offline import analyze_offline, focus_services
from .pricing import cost_usd
from .schema import RcaReport, ReportInvalid

__all__ = ["RcaRun", "run_rca", "build_report", "check_grounded", "redact_title", "list_runs", "load_run", "OFFLINE_MODEL"]

OFFLINE_MODEL = "crashlens-offline-1"
Progress = Callable[[float, str], None]


@dataclass
class RcaRun:
    """One recorded analysis: its id, the report, and the evidence it was built from."""

    run_id: str
    incident_id: str | None
    engine: str
    report: RcaReport
    evidence: EvidenceSet
    status: str
    seconds: float
    evidence_seconds: float

    def to_json(self) -> dict[str, Any]:
        out = self.report.to_json()
        out["run_id"] = self.run_id
        out["seconds"] = round(self.seconds, 3)
        return out


def redact_title(title: str, settings: Settings) -> str:
    return Redactor(settings).redact(title) if title else title


def check_grounded(report: RcaReport, es: EvidenceSet) -> None:
    """Every id any part of the report cites is in the evidence set (the validator's promise, re-checked)."""
    unknown = sorted(report.cited_ids() - set(es.ids()))
    if unknown:
        raise ReportInvalid(f"the report cites evidence not in the set: {', '.join(unknown[:5])}", hint="this is a bug; please report it")


def _one_rollback(report: RcaReport, es: EvidenceSet) -> list[str]:
    """The remediation without the offline step that rolls back the culprit deploy's version a second time."""
    culprit = es.get(report.root_cause_change) if report.root_cause_change else None
    version = culprit.data.get("version") if culprit is not None and culprit.data.get("kind") == "deploy" else None
    if not version:
        return list(report.remediation)
    return [s for s in report.remediation if not s.startswith(f"Roll back version {version} ")]


def _no_change_keep(report: RcaReport, es: EvidenceSet) -> list[str]:
    """The items a "no change" verdict rests on, kept among the claims: the profile, and for a surge its traffic items."""
    if report.no_change_kind in (None, "unknown"):
        return []
    surges = [i for i in es.ids() if i.startswith("traffic:")] if report.no_change_kind == "traffic_surge" else []
    return ["failure:profile"] + surges


def build_report(es: EvidenceSet, title: str, engine: str, model: str, attempts: list[Attempt],
                 bodies: Mapping[str, bytes], cost: Callable[[str, int, int], float]) -> RcaReport:
    """The report of a run, from its evidence set and recorded answers alone (deterministic)."""
    offline = analyze_offline(es, title=title)
    if engine == "offline":
        report = replace(offline, model=OFFLINE_MODEL)
    else:
        report = report_from_attempts(es, replace(offline, model=OFFLINE_MODEL), attempts, bodies, engine, model, cost)
    report = apply_changes(report, es)  # issue 15 hook: the change verdict, from the evidence set alone
    # Once more over everything asserted (the change verdict joins here; an LLM's claims too): said once, heaviest first.
    claims, more = curate_claims(report.claims + report.more_claims, es.items,
                                 report.suspects[0].evidence if report.suspects else (),
                                 by_subject=report.engine == "offline", lead=report.root_cause_change,
                                 keep=_no_change_keep(report, es),
                                 focus=focus_services(es, report.suspects))
    report = replace(report, claims=claims, more_claims=more, remediation=_one_rollback(report, es))
    check_grounded(report, es)
    return replace(report, incident_id=es.incident_id, window=dict(es.window), baseline=dict(es.baseline),
                   evidence_digest=es.digest,
                   inputs={"title": title, "engine": engine, "model": model, "evidence": es.item_digests(),
                           "responses": [a.to_json() for a in attempts]})


def run_rca(ws: Workspace, settings: Settings, incident_id: str | None = None,
            window: tuple[datetime, datetime] | None = None, engine: str | None = None, progress: Progress | None = None,
            *, baseline: tuple[datetime | None, datetime | None] | None = None, actor: str | None = None, transport: Any = None) -> RcaRun:
    """Analyse an incident (or a time window) and record the run.

    >>> # run = run_rca(ws, settings, "9891eb58"); run.report.suspects[0].service → 'checkout'
    """
    engine = engine or settings.active_engine
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}", hint=f"use one of {', '.join(ENGINES)}")
    if incident_id is None and window is None:
        raise InputError("nothing to analyse", hint="give an incident id, or --from T1 --to T2")
    report_progress = progress or (lambda frac, msg: None)
    started = time.perf_counter()
    incident = ws.get_incident(incident_id) if incident_id else None
    model = OFFLINE_MODEL if engine == "offline" else settings.llm_model
    run_id = str(uuid.uuid4())
    w_start, w_end = window or (None, None)
    b_start, b_end = baseline or (None, None)
    sql.insert_run(ws, run_id, incident.id if incident else None, engine, model,
                   w_start or (incident.window_start if incident else None), w_end or (incident.window_end if incident else None), actor)
    responses: list[dict[str, Any]] = []
    try:
        report_progress(0.05, "evidence: collecting logs, traces, metrics and knowledge")
        es = assemble_evidence(ws, settings, incident, window_start=w_start, window_end=w_end,
                               baseline_start=b_start, baseline_end=b_end)
        # Analyse exactly what is recorded (JSON round trip), so a replay sees the same values.
        es = EvidenceSet.from_json(json.loads(es.canonical()))
        evidence_ts = utcnow()
        evidence_seconds = time.perf_counter() - started
        artifact = ws.put_artifact(es.canonical(), "application/json", pii_masked=es.redacted, name=f"rca-evidence-{run_id}.json")
        report_progress(0.35, f"evidence: {len(es.items)} items ({es.used_tokens} of {es.budget_tokens} tokens)")
        title = redact_title(incident.title if incident else "", settings)
        attempts: list[Attempt] = []
        bodies: dict[str, bytes] = {}
        if engine != "offline":
            report_progress(0.4, f"analysis: {engine} · {model}")

            def record(body: bytes) -> str:
                digest = ws.put_artifact(body, "application/json", pii_masked=True, name=f"rca-response-{run_id}.json").digest
                bodies[digest] = body
                return digest

            try:
                if not es.redacted:
                    raise LlmUnavailable("the evidence set was not redacted, so nothing is sent to a model")
                chosen = transport or transport_for(settings, engine)
                attempts = run_llm(es, analyze_offline(es, title=title), settings, chosen, record, title,
                                   progress=lambda msg: report_progress(0.5, f"analysis: {msg}"))
            except LlmUnavailable as exc:
                attempts = [Attempt(None, "unavailable", str(exc))]
        else:
            report_progress(0.5, "analysis: offline")
        report_progress(0.85, "validation: every claim cites evidence in the set")
        report = build_report(es, title, engine, model, attempts, bodies, partial(cost_usd, settings))
        responses = [a.to_json() for a in attempts]
        sql.finish_run(ws, run_id, status="done", report=report.to_json(), engine=report.engine, model=report.model,
                       prompt_tokens=report.prompt_tokens, completion_tokens=report.completion_tokens, cost_usd=report.cost_usd,
                       evidence_digest=es.digest, evidence_artifact=artifact.digest, evidence_ts=evidence_ts,
                       responses=responses, notice=report.notice)
    except BaseException as exc:
        message = exc.one_line() if hasattr(exc, "one_line") else f"{type(exc).__name__}: {exc}"
        try:
            sql.finish_run(ws, run_id, status="failed", report=None, engine=engine, model=model, prompt_tokens=0,
                           completion_tokens=0, cost_usd=0.0, evidence_digest=None, evidence_artifact=None, evidence_ts=None,
                           responses=responses, notice=message[:500])
        except Exception:
            pass  # the original error matters more than the bookkeeping
        if isinstance(exc, Exception) and not isinstance(exc, CrashLensError):
            # Every face (CLI, page, server) shows a CrashLensError as one line with a hint,
            # never a traceback; the cause stays chained for a debugger.
            raise AnalysisFailed(f"the analysis failed: {message[:300]}",
                                 hint=f"this is a CrashLens bug, not a problem with your data; run {run_id[:8]} is "
                                      "recorded as failed; please report it with a few lines of the input") from exc
        raise
    if incident is not None and incident.status in ("open", "investigating") and not incident.read_only:
        ws.set_incident_status(incident.id, "rca_ready", actor=actor or "crashlens", note=f"RCA {run_id[:8]} ({report.engine})")
    report_progress(1.0, f"done: {report.engine} report with {len(report.claims)} cited claims")
    return RcaRun(run_id, incident.id if incident else None, engine, report, es, "done", time.perf_counter() - started, evidence_seconds)


def list_runs(ws: Workspace, incident_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Recorded runs, newest first (each with its report JSON, status, notice, tokens, cost)."""
    return sql.list_runs(ws, incident_id, limit)


def load_run(ws: Workspace, run_id: str) -> tuple[dict[str, Any], RcaReport | None, EvidenceSet | None]:
    """A recorded run's row, its report and its evidence set (None where the run did not finish)."""
    from ..errors import NotFound

    run = sql.get_run(ws, run_id)
    if run is None:
        raise NotFound(f"no RCA run {run_id!r}", hint="the RCA page lists the runs of each incident")
    report = RcaReport.from_json(run["report"]) if run.get("report") else None
    evidence = None
    if run.get("evidence_artifact"):
        evidence = EvidenceSet.from_json(json.loads(ws.read_artifact(run["evidence_artifact"])))
    return run, report, evidence
