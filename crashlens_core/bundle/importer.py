"""Importing a verified bundle: the incident arrives read-only, with its events, runs and artifacts.

Verification comes first and nothing is written for a bundle that fails it. The incident keeps
its id, becomes ``source = 'imported'`` and ``read_only = true`` (its status cannot change
here), and gets one event naming the bundle's statement digest and signing key. Importing the
same bundle again changes nothing; a newer bundle of the same incident refreshes it. Artifact
files are streamed from the archive into the workspace, each checked against its digest.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..canonical import StrictJSONError, strict_loads
from ..errors import InputError
from ..store import Workspace
from ..store import bundle as sql
from .verify import Source, open_bundle

_HEX64 = re.compile(r"[0-9a-f]{64}")

__all__ = ["import_bundle", "ImportResult"]


@dataclass
class ImportResult:
    incident_id: str
    imported: bool          # False: this exact bundle was imported before, nothing changed
    runs: int
    artifacts: int
    events: int
    keyid: str
    statement_sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def import_bundle(ws: Workspace, path: Source, public_key: Ed25519PublicKey | bytes | str | Path) -> ImportResult:
    """Verify ``path`` against ``public_key``, then bring its incident into ``ws`` (idempotent).

    >>> # import_bundle(ws, "incident.bundle.tar", "alice.pub.pem").incident_id
    """
    bundle = open_bundle(path, public_key)
    incident = bundle.incident()
    inc_id = str(incident["id"])
    marker = f"imported from bundle sha256:{bundle.result.statement_sha256}"
    if sql.import_marker_exists(ws, inc_id, marker):
        return ImportResult(inc_id, False, 0, 0, 0, bundle.result.keyid, bundle.result.statement_sha256)
    sql.check_importable(ws, inc_id)
    artifacts = bundle.artifacts()
    # Signed is not the same as well-formed: a signer's records are checked before they name files.
    for art in artifacts:
        if not (isinstance(art, dict) and isinstance(art.get("digest"), str) and _HEX64.fullmatch(art["digest"])
                and f"artifacts/{art['digest']}" in bundle.files):
            raise InputError("the bundle's artifacts.json lists an artifact that is not a bundled sha256 digest",
                             hint="the bundle was not written by CrashLens; ask the sender to export it again")
    for art in artifacts:
        name = f"artifacts/{art['digest']}"

        def copy(sink: Any, name: str = name) -> None:
            for block in bundle.iter_chunks(name):
                sink.write(block)

        sql.store_artifact_stream(ws, art["digest"], copy)
    runs = []
    for entry in bundle.predicate.get("rca", []):
        row = bundle.json(entry["file"])
        row["report"] = bundle.read(entry["report"]).decode("utf-8") if entry.get("report") else None
        if row["report"] is not None:
            try:
                strict_loads(row["report"].encode("utf-8"))
            except StrictJSONError as exc:
                raise InputError(f"the report of RCA run {row.get('id')} is not valid JSON: {exc}",
                                 hint="the bundle was not written by CrashLens; ask the sender to export it again") from None
        runs.append(row)
    store_meta = [{k: v for k, v in a.items() if k not in ("redacted", "original_digest")} for a in artifacts]
    note = f"{marker} signed by key {bundle.result.keyid[:16]} (originally {incident.get('source', 'unknown')})"
    counts = sql.write_imported_incident(ws, incident, bundle.events(), runs, store_meta, note)
    return ImportResult(inc_id, True, counts["runs"], counts["artifacts"], counts["events"], bundle.result.keyid,
                        bundle.result.statement_sha256)
