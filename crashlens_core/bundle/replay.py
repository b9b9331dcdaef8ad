"""Replay from a signed bundle: verify it against the pinned key, then rebuild its recorded RCA.

The bundle side of strict replay: ``rca.replay`` rebuilds a report from a record (report,
evidence set, raw answers); this module opens and verifies a bundle and hands its record over,
so rca never reaches up into bundle. ``replay_file`` accepts either an exported record (JSON)
or a bundle.

>>> # replay_file("inc.bundle.tar", strict=True, public_key="alice.pub.pem").identical  → True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError, NotFound
from ..rca.replay import ReplayResult, replay_record, replay_record_file
from .verify import open_bundle

__all__ = ["replay_bundle", "replay_file"]


def replay_bundle(path: str | Path, public_key: Any, run_id: str | None = None, strict: bool = True) -> ReplayResult:
    """Replay a run from a signed bundle (verified first against the pinned public key)."""
    vb = open_bundle(path, public_key)
    report = vb.report(run_id)
    row = vb.run(run_id)
    evidence = json.loads(vb.evidence(run_id))
    recorded = (report.get("inputs") or {}).get("responses") or []
    # The bundle's run row lists the answers under the digests it stores them by (a bundle may
    # re-redact an artifact); pair them with the report's record by position.
    stored = row.get("responses") or []
    if isinstance(stored, str):
        stored = json.loads(stored)
    bodies: dict[str, bytes | None] = {}
    for i, a in enumerate(recorded):
        if not a.get("digest"):
            continue
        where = (stored[i] or {}).get("digest") if i < len(stored) and isinstance(stored[i], dict) else a["digest"]
        try:
            bodies[a["digest"]] = vb.response(where or a["digest"])
        except NotFound:
            bodies[a["digest"]] = None
    result = replay_record({"report": report, "evidence": evidence, "responses": bodies}, strict, source=f"bundle {path}")
    result.run_id = row.get("id") or row.get("run_id")
    return result


def replay_file(path: str | Path, strict: bool = True, public_key: Any = None, run_id: str | None = None) -> ReplayResult:
    """Replay from a file: an exported record (JSON) or a signed bundle."""
    path = Path(path)
    try:
        head = path.read_bytes()[:1]
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", hint="check the path") from None
    if head == b"{":
        return replay_record_file(path, strict)
    if public_key is None:
        raise InputError("replaying a bundle needs the signer's public key", hint="pass --key PUB (the sender's public key file)")
    return replay_bundle(path, public_key, run_id, strict)
