"""Strict replay: rebuild a recorded RCA from its recorded evidence and recorded LLM answers.

A run records, inside its report (``inputs``), the digest of every evidence item and of every
raw LLM answer, and the evidence set's digest. Replay loads the recorded inputs (from the
workspace or an exported record file; a signed bundle is opened by ``bundle.replay``, which
sits above rca and hands the same record to ``replay_record``), checks each against its digest and
re-runs ``engine.build_report`` — no network, no model. Strict mode fails on the first input
whose digest differs, naming it (``evidence item log:123``, ``LLM response #2``), and on any
difference between the replayed and the recorded report; the replayed report is byte-identical
(canonical JSON) when nothing changed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import CrashLensError, InputError, NotFound
from ..store import Workspace
from ..store import rca as sql
from .engine import build_report
from .evidence import EvidenceSet, item_digest
from .llm import Attempt
from .schema import RcaReport, canonical_json, sha256_hex

__all__ = ["ReplayMismatch", "ReplayResult", "replay", "replay_record", "replay_record_file", "export_record",
           "RECORD_SCHEMA"]

RECORD_SCHEMA = "crashlens.rca-record/v1"


class ReplayMismatch(CrashLensError):
    """A recorded input (or the replayed report) differs from what the run recorded."""


@dataclass
class ReplayResult:
    report: RcaReport
    identical: bool
    problems: list[str] = field(default_factory=list)
    source: str = ""
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "identical": self.identical, "problems": self.problems,
                "report": self.report.to_json()}


def _input_problems(report: Mapping[str, Any], evidence: Mapping[str, Any], bodies: Mapping[str, bytes | None]) -> list[str]:
    inputs = report.get("inputs") or {}
    recorded = dict(inputs.get("evidence") or {})
    problems = []
    try:
        es = EvidenceSet.from_json(dict(evidence))
    except (KeyError, TypeError, ValueError) as exc:
        return [f"the recorded evidence set cannot be read ({type(exc).__name__})"]
    seen = set()
    for item in es.items:
        seen.add(item.id)
        if item.id not in recorded:
            problems.append(f"evidence item {item.id} was not in the recorded run")
        elif item_digest(item) != recorded[item.id]:
            problems.append(f"evidence item {item.id} differs from the recorded run "
                            f"(digest {recorded[item.id][:12]}… now {item_digest(item)[:12]}…)")
    for missing in sorted(set(recorded) - seen):
        problems.append(f"evidence item {missing} is missing")
    if not problems and es.digest != report.get("evidence_digest"):
        problems.append("the evidence set differs from the recorded run (its window, budget or collector notes changed)")
    for i, a in enumerate(inputs.get("responses") or [], 1):
        digest = a.get("digest")
        if not digest:
            continue
        body = bodies.get(digest)
        if body is None:
            problems.append(f"LLM response #{i} ({digest[:12]}…) is missing")
        elif sha256_hex(body) != digest:
            problems.append(f"LLM response #{i} differs from the recorded run (digest {digest[:12]}… now {sha256_hex(body)[:12]}…)")
    return problems


def _first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    for key in sorted(set(a) | set(b)):
        if canonical_json(a.get(key)) != canonical_json(b.get(key)):
            return key
    return "(none)"


def replay_record(record: Mapping[str, Any], strict: bool = True, source: str = "record") -> ReplayResult:
    """Replay from ``{report, evidence, responses: {digest: bytes}}``; see the module docstring."""
    report = record.get("report")
    evidence = record.get("evidence")
    if not isinstance(report, dict) or not isinstance(evidence, dict) or "inputs" not in report:
        raise InputError("this is not a replayable RCA record (it needs a report with recorded inputs and the evidence set)",
                         hint="export one with `crashlens replay RUN_ID --export FILE`, or pass a signed bundle")
    bodies: dict[str, bytes | None] = dict(record.get("responses") or {})
    problems = _input_problems(report, evidence, bodies)
    if problems and strict:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ReplayMismatch(f"strict replay failed: {problems[0]}{more}",
                             hint="the recorded inputs were changed after the run; replay without --strict to see the result anyway")
    inputs = report["inputs"]
    es = EvidenceSet.from_json(dict(evidence))
    attempts = [Attempt(a.get("digest"), a.get("outcome", "unavailable"), a.get("error", "")) for a in inputs.get("responses") or []]
    usable = {d: b for d, b in bodies.items() if b is not None}
    if any(a.digest and a.digest not in usable for a in attempts):
        raise ReplayMismatch("cannot replay: a recorded LLM response is missing", hint="replay from the workspace or bundle that holds it")
    recorded_cost = float(report.get("cost_usd") or 0.0)
    rebuilt = build_report(es, inputs.get("title", ""), inputs.get("engine", "offline"), inputs.get("model", ""),
                           attempts, usable, lambda *_: recorded_cost)
    replayed = rebuilt.to_json()
    identical = canonical_json(replayed) == canonical_json(report)
    if not identical:
        problems.append(f"the replayed report differs from the recorded one in '{_first_difference(replayed, report)}'")
        if strict:
            raise ReplayMismatch(f"strict replay failed: {problems[-1]}",
                                 hint="the analyzer changed since the run; compare with `crashlens replay … --json` without --strict")
    return ReplayResult(rebuilt, identical, problems, source)


def replay(ws: Workspace, run_id: str, strict: bool = True) -> ReplayResult:
    """Replay a run recorded in this workspace."""
    run = sql.get_run(ws, run_id)
    if run is None:
        raise NotFound(f"no RCA run {run_id!r}", hint="`crashlens rca ID --json` prints run_id; the RCA page lists runs")
    record = _workspace_record(ws, run)
    result = replay_record(record, strict, source=f"workspace run {run['id']}")
    result.run_id = run["id"]
    return result


def _workspace_record(ws: Workspace, run: dict[str, Any]) -> dict[str, Any]:
    if run["status"] != "done" or not run["report"] or not run["evidence_artifact"]:
        raise InputError(f"RCA run {run['id'][:8]} did not finish, so it cannot be replayed", hint="run `crashlens rca` again")
    # Read without the artifact digest check: a changed file is reported by the evidence item it changed.
    evidence = json.loads(sql.read_artifact_unchecked(ws, run["evidence_artifact"]))
    bodies: dict[str, bytes | None] = {}
    for a in (run["report"].get("inputs") or {}).get("responses") or []:
        if a.get("digest"):
            try:
                bodies[a["digest"]] = sql.read_artifact_unchecked(ws, a["digest"])
            except (NotFound, OSError):
                bodies[a["digest"]] = None
    return {"report": run["report"], "evidence": evidence, "responses": bodies}


def export_record(ws: Workspace, run_id: str) -> dict[str, Any]:
    """A self-contained JSON record of a run (report, evidence set, raw answers in base64) for replay elsewhere."""
    run = sql.get_run(ws, run_id)
    if run is None:
        raise NotFound(f"no RCA run {run_id!r}", hint="`crashlens rca ID --json` prints run_id")
    record = _workspace_record(ws, run)
    return {"schema": RECORD_SCHEMA, "run_id": run["id"], "report": record["report"], "evidence": record["evidence"],
            "responses": {d: base64.b64encode(b).decode("ascii") for d, b in record["responses"].items() if b is not None}}


def replay_record_file(path: str | Path, strict: bool = True) -> ReplayResult:
    """Replay from an exported record file (JSON; see ``export_record``). Bundles: ``bundle.replay``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", hint="check the path") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not an RCA record (not UTF-8 JSON)", hint="pass an exported RCA record or a bundle") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise InputError(f"{path} is not valid JSON", hint="pass an exported RCA record or a bundle") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not an RCA record", hint="export one with `crashlens replay RUN_ID --export FILE`")
    try:
        responses = {d: base64.b64decode(b, validate=True) for d, b in (data.get("responses") or {}).items()}
    except (ValueError, TypeError, AttributeError):
        raise InputError(f"{path}: a recorded LLM response is not base64", hint="re-export the record") from None
    result = replay_record(dict(data, responses=responses), strict, source=str(path))
    result.run_id = data.get("run_id")
    return result
