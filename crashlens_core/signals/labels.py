"""Give every ingested log its template id and, where it carries an exception, its fingerprint.

Runs after ingest, once per logs batch (``ingest_batches.labelled_ts`` says which are done), so
an interrupted run is caught up by the next one. Per-row work stays in SQL (masking, the
label UPDATEs, the statistics); Python sees one row per distinct masked message (templates) or
per distinct digit-masked error message (stack parsing and fingerprinting).

The template miner is restored from the ``templates`` table before each batch, so known shapes
keep their ids across batches, files and sessions; a shape that widens an older template gets
the wider template's id and the older rows are relabelled (``TemplateMiner.replacements``).

>>> # after ingest_files(ws, "logs", paths):
>>> # report = label_pending(ws)   # LabelReport(batches=1, logs=..., templates=..., fingerprints=...)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ..store import signals as sql
from ..store import Workspace
from .fingerprints import fingerprint
from .stacks import extract_stacks
from .templates import Template, TemplateMiner

__all__ = ["LabelReport", "label_pending", "label_batch"]

Progress = Callable[[float, str], None]


@dataclass
class LabelReport:
    batches: int = 0
    logs: int = 0               # rows given a template id
    templates_new: int = 0
    exceptions: int = 0         # rows given a fingerprint
    fingerprints_new: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def label_pending(ws: Workspace, progress: Progress | None = None) -> LabelReport:
    """Label every logs batch not labelled yet; one transaction per batch."""
    started = time.perf_counter()
    total = LabelReport()
    batches = sql.unlabelled_log_batches(ws)
    for i, batch_id in enumerate(batches):
        if progress:
            progress(i / len(batches), f"templates and fingerprints: batch {batch_id}")
        with ws.transaction():
            one = label_batch(ws, batch_id)
            sql.mark_labelled(ws, batch_id, _now())
        total.batches += 1
        total.logs += one.logs
        total.templates_new += one.templates_new
        total.exceptions += one.exceptions
        total.fingerprints_new += one.fingerprints_new
    if batches:
        ws.checkpoint()
    total.seconds = time.perf_counter() - started
    if progress:
        progress(1.0, f"{total.logs:,} logs labelled, {total.templates_new} new templates, "
                      f"{total.fingerprints_new} new fingerprints")
    return total


def label_batch(ws: Workspace, batch_id: int) -> LabelReport:
    """Template ids and fingerprints for one batch (inside the caller's transaction)."""
    report = LabelReport(batches=1)
    report.logs, report.templates_new = _label_templates(ws, batch_id)
    report.exceptions, report.fingerprints_new = _label_exceptions(ws, batch_id)
    return report


def _label_templates(ws: Workspace, batch_id: int) -> tuple[int, int]:
    miner = TemplateMiner()
    stored = sql.stored_templates(ws)
    miner.restore(Template(tid, text, count, example, replaced_by) for tid, text, count, example, replaced_by in stored)
    known_ids = {t[0] for t in stored}
    before = miner.replacements()
    rows = sql.batch_masked_messages(ws, batch_id, miner.masks)
    if not rows:
        return 0, 0
    masked = [r[0] for r in rows]
    slots = miner.add_masked(masked, counts=[r[1] for r in rows], examples=[r[3] for r in rows])
    labelled = sql.label_templates(ws, batch_id, miner.masks,
                                   dict(zip(masked, (miner.templates[k].id for k in slots.tolist()))))
    widened = {old: new for old, new in miner.replacements().items() if before.get(old) != new}
    if widened:
        sql.relabel(ws, widened)
    touched = {miner.templates[k].id for k in slots.tolist()} | set(widened) | set(widened.values())
    seq_of = {t.id: i for i, t in enumerate(miner.templates)}
    meta = [(t.id, t.template, seq_of[t.id], t.replaced_by) for t in miner.templates if t.id in touched]
    sql.save_templates(ws, meta)
    return labelled, len(touched - known_ids)


def _label_exceptions(ws: Workspace, batch_id: int) -> tuple[int, int]:
    ids: list[int] = []
    fps: list[str] = []
    meta: dict[str, dict[str, Any]] = {}
    for message, log_ids in sql.exception_candidates(ws, batch_id):
        stacks = extract_stacks(message)
        if not stacks:
            continue
        stack = stacks[0]
        fp = fingerprint(stack)
        ids.extend(log_ids)
        fps.extend([fp.id] * len(log_ids))
        if fp.id not in meta:
            meta[fp.id] = {"id": fp.id, "exc_type": fp.exc_type, "title": fp.title, "culprit": fp.culprit,
                           "basis": fp.basis, "language": stack.language, "frames": fp.frames}
    if not ids:
        return 0, 0
    existing = set(sql.known_fingerprints(ws, list(meta)))
    labelled = sql.set_fingerprints(ws, ids, fps)
    sql.save_fingerprints(ws, list(meta.values()))
    return labelled, len(set(meta) - existing)
