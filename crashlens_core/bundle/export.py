"""Exporting an incident as a signed bundle: one deterministic archive anyone can verify.

Layout (every file listed, with its sha256, in the signed statement)::

    incident.json               the incident and its events (redacted)
    rca/<run>.json              each RCA run: engine, model, times, tokens, cost, digests
    rca/<run>.report.json       the run's report JSON (redacted; the exact stored bytes if clean)
    rca/<run>.report.md         the same report, readable
    artifacts.json              what each artifact is (mime, name, whether redacted, original digest)
    artifacts/<sha256>          the artifacts: evidence set, recorded LLM responses, span payloads
    bundle.dsse.json            last: the DSSE envelope of the in-toto Statement v1

Artifacts are streamed from the workspace into the archive (hashed as they are copied, never
held in memory); only artifacts that redaction changes pass through a temporary file first.

>>> # export_bundle(ws, settings, "3f2a1c…", "incident.bundle.tar").files
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..canonical import canonical_json
from ..config import Settings
from ..errors import InputError, WorkspaceError
from ..store import Workspace
from ..store import bundle as sql
from ..store.files import file_sha256
from .archive import TarWriter, path_problem
from .dsse import sign_envelope
from .keys import keyid, signing_key
from .markdown import report_markdown
from .redaction import BundleRedactor

__all__ = ["export_bundle", "ExportResult", "ENVELOPE_NAME", "PAYLOAD_TYPE", "STATEMENT_TYPE", "PREDICATE_TYPE"]

ENVELOPE_NAME = "bundle.dsse.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://crashlens.dev/attestation/incident-bundle/v1"


@dataclass
class ExportResult:
    path: str
    incident_id: str
    files: int
    bytes: int
    runs: int
    artifacts: int
    keyid: str
    statement_sha256: str
    redaction: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _run_stem(run_id: str, index: int) -> str:
    stem = f"rca/{run_id}"
    if path_problem(stem + ".report.json") is None and len(run_id) <= 64:
        return stem
    return f"rca/run-{index:03d}-{hashlib.sha256(run_id.encode()).hexdigest()[:16]}"


def _remap(value: Any, mapping: dict[str, str]) -> Any:
    """Point digests at the redacted copies that are actually in the bundle."""
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [_remap(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _remap(v, mapping) for k, v in value.items()}
    return value


def _iso_now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


def export_bundle(ws: Workspace, settings: Settings | None, incident_id: str, out_path: str | Path, *,
                  exported_ts: str | None = None) -> ExportResult:
    """Write the incident's signed bundle to ``out_path`` (atomically) and describe it.

    The workspace signing key is created on first use. ``exported_ts`` fixes the export time
    recorded in the predicate (two exports of the same data at the same time are identical).
    """
    inc = ws.get_incident(incident_id)
    out_path = Path(out_path)
    if out_path.is_dir():
        raise InputError(f"{out_path} is a folder", hint="give a file name, e.g. -o incident.bundle.tar")
    if not out_path.parent.exists():
        raise InputError(f"folder {out_path.parent} does not exist", hint="create it first or choose another -o path")
    key = signing_key(ws.folder)
    kid = keyid(key.public_key())
    red = BundleRedactor(settings)

    raw_incident = {"incident": sql.incident_record(ws, inc.id), "events": sql.incident_event_rows(ws, inc.id)}
    masked_incident = red.value(raw_incident)
    incident = masked_incident["incident"]
    if masked_incident != raw_incident:
        red.redacted_files.append("incident.json")
    runs = sql.rca_run_rows(ws, inc.id)
    digests = sql.linked_digests(ws, inc.id, runs)
    arts = sql.artifact_rows(ws, digests)

    with tempfile.TemporaryDirectory(prefix=".crashlens-export-", dir=out_path.parent) as tmp_dir:
        tmp = Path(tmp_dir)
        # name -> bytes, or (path, expected sha256 or None)
        files: dict[str, Any] = {}
        mapping: dict[str, str] = {}
        art_meta = []
        for art in arts:
            digest = art["digest"]
            src = sql.artifact_file(ws, digest)
            if not src.exists():
                raise WorkspaceError(f"artifact {digest} is registered but its file is missing", hint="re-run the analysis that produced it")
            redacted = tmp / digest
            changed = red.artifact(src, redacted, art.get("mime") or "", f"artifacts/{digest}")
            if changed:
                new = file_sha256(redacted)
                mapping[digest] = new
                red.redacted_files.append(f"artifacts/{new}")
                files[f"artifacts/{new}"] = (redacted, new)
            else:
                files[f"artifacts/{digest}"] = (src, digest)
            meta = dict(art, digest=mapping.get(digest, digest), redacted=bool(changed), original_digest=digest,
                        pii_masked=bool(art.get("pii_masked")) or bool(changed))
            meta["length"] = files[f"artifacts/{meta['digest']}"][0].stat().st_size
            art_meta.append(meta)

        run_index = []
        for i, run in enumerate(runs, 1):
            stem = _run_stem(str(run["id"]), i)
            raw_report = run.pop("report")
            row = _remap(red.value(run), mapping)
            entry = {"run_id": run["id"], "engine": run.get("engine"), "model": run.get("model"), "status": run.get("status"),
                     "started_ts": run.get("started_ts"), "finished_ts": run.get("finished_ts"), "file": f"{stem}.json",
                     "evidence_artifact": row.get("evidence_artifact"), "report": None, "markdown": None}
            files[f"{stem}.json"] = canonical_json(row)
            if raw_report is not None:
                report_text = red.json_text(raw_report)
                if report_text != raw_report:
                    red.redacted_files.append(f"{stem}.report.json")
                files[f"{stem}.report.json"] = report_text.encode("utf-8")
                md = red.text(report_markdown(json.loads(report_text), incident, row))
                files[f"{stem}.report.md"] = md.encode("utf-8")
                entry.update(report=f"{stem}.report.json", markdown=f"{stem}.report.md")
            run_index.append(entry)
        files["incident.json"] = canonical_json(masked_incident)
        files["artifacts.json"] = canonical_json(art_meta)

        fd, part = tempfile.mkstemp(prefix=".bundle-", suffix=".part", dir=out_path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                writer = TarWriter(fh)
                subjects = []
                for name in sorted(files):
                    item = files[name]
                    if isinstance(item, bytes):
                        _, digest = writer.add_bytes(name, item)
                    else:
                        _, digest = writer.add_file(name, item[0])
                        if digest != item[1]:
                            raise WorkspaceError(f"artifact {item[1]} is damaged (its content no longer matches its digest)",
                                                 hint="re-run the analysis that produced it; nothing was exported")
                    subjects.append({"name": name, "digest": {"sha256": digest}})
                latest = next((r for r in reversed(run_index) if r["report"]), run_index[-1] if run_index else {})
                predicate: dict[str, Any] = {
                    "incident": {k: incident.get(k) for k in ("id", "title", "status", "severity", "services", "source",
                                                              "window_start", "window_end", "created_ts")},
                    "rca": run_index,
                    "engine": latest.get("engine"),
                    "model": latest.get("model"),
                    "redaction": {"summary": red.summary(), "redacted_files": sorted(red.redacted_files),
                                  "unredacted_binary_artifacts": sorted(red.unredacted_binary)},
                    "tool": {"name": "crashlens", "version": __version__},
                    "exported_ts": exported_ts or _iso_now(),
                }
                payload = canonical_json({"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": PREDICATE_TYPE,
                                          "predicate": predicate})
                writer.add_bytes(ENVELOPE_NAME, sign_envelope(payload, PAYLOAD_TYPE, key, kid))
                writer.close()
                size = fh.tell()
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(part, 0o644)
            os.replace(part, out_path)
        except ValueError as exc:  # e.g. a member over ustar's 8 GiB limit
            Path(part).unlink(missing_ok=True)
            raise InputError(f"cannot write the bundle: {exc}", hint="bundles hold files up to 8 GiB each") from None
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    return ExportResult(path=str(out_path), incident_id=inc.id, files=len(files), bytes=size, runs=len(runs),
                        artifacts=len(art_meta), keyid=kid, statement_sha256=hashlib.sha256(payload).hexdigest(),
                        redaction=predicate["redaction"])

