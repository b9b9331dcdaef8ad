"""Verifying a bundle against a pinned public key, and reading a verified bundle's files.

Checks run in a fixed order and the first failure is named (``VerifyResult.check``):

0. ``archive``      the archive is complete and in canonical form (truncation is caught here)
1. ``envelope``     the last member is ``bundle.dsse.json``, a canonical DSSE envelope
2. ``payload_type`` the payload is an in-toto statement (``application/vnd.in-toto+json``)
3. ``signature``    Ed25519 over the DSSE PAE, by the pinned key — never a key from the bundle
4. ``statement``    in-toto Statement v1 with CrashLens' predicate type, canonical JSON
5. ``paths``        every name is a safe relative path, every member a regular file, no duplicates
6. ``digest``       every file's sha256 equals the signed one
7. ``missing``      every signed file is present
8. ``extra``        no file is present that was not signed

Nothing is extracted: members are read in place by offset, and ``VerifiedBundle`` re-checks a
file's sha256 each time it reads it (the file on disk may change after verification).

>>> # verify_bundle("incident.bundle.tar", workspace_public_key(ws.folder)).ok
"""

from __future__ import annotations

import hashlib
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..canonical import StrictJSONError, canonical_json, strict_loads
from ..errors import InputError, NotFound
from .archive import CHUNK, ArchiveError, Entry, hash_member, path_problem, read_member, scan
from .dsse import EnvelopeError, parse_envelope, verify_signature
from .export import ENVELOPE_NAME, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE
from .keys import keyid, load_public_key

__all__ = ["verify_bundle", "open_bundle", "VerifyResult", "VerifiedBundle", "BundleInvalid", "CHECKS"]

CHECKS = ("archive", "envelope", "payload_type", "signature", "statement", "paths", "digest", "missing", "extra")
_MAX_ENVELOPE = 64 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
Source = str | Path | bytes | BinaryIO


class BundleInvalid(InputError):
    """A bundle failed verification; ``check`` names the failed check."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"bundle verification failed: {check}: {message}",
                         hint="do not trust this bundle; ask the sender for the original file and their public key")
        self.check = check


class _Fail(Exception):
    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


@dataclass
class VerifyResult:
    """``ok`` and, when not ok, ``failure`` = ``"<check>: <reason>"``; ``files`` = name → sha256."""

    ok: bool
    failure: str | None
    statement: dict[str, Any] | None
    files: dict[str, str] = field(default_factory=dict)
    check: str | None = None
    keyid: str = ""
    statement_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        pred = (self.statement or {}).get("predicate") or {}
        return {"ok": self.ok, "check": self.check, "failure": self.failure, "keyid": self.keyid,
                "statement_sha256": self.statement_sha256, "files": len(self.files),
                "incident_id": (pred.get("incident") or {}).get("id"), "predicate_type": (self.statement or {}).get("predicateType")}


@contextmanager
def _reader(source: Source) -> Iterator[BinaryIO]:
    """A seekable binary reader over a path, bytes, or a caller's file object (left open)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif isinstance(source, (str, Path)):
        try:
            fh = open(source, "rb")
        except FileNotFoundError:
            raise NotFound(f"no bundle at {source}", hint="check the path") from None
        except IsADirectoryError:
            raise InputError(f"{source} is a folder, not a bundle file", hint="pass the .tar file") from None
        with fh:
            yield fh
    else:
        yield source


def _check_statement(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise _Fail("statement", "the payload is not a JSON object")
    if doc.get("_type") != STATEMENT_TYPE:
        raise _Fail("statement", f"_type must be {STATEMENT_TYPE}")
    if doc.get("predicateType") != PREDICATE_TYPE:
        raise _Fail("statement", f"predicateType {doc.get('predicateType')!r} is not {PREDICATE_TYPE}")
    extra = set(doc) - {"_type", "subject", "predicateType", "predicate"}
    if extra:
        raise _Fail("statement", f"unknown statement fields {sorted(extra)}")
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise _Fail("statement", "subject must be a non-empty list")
    for i, s in enumerate(subjects):
        if not (isinstance(s, dict) and set(s) == {"name", "digest"} and isinstance(s["name"], str)
                and isinstance(s["digest"], dict) and set(s["digest"]) == {"sha256"}
                and isinstance(s["digest"]["sha256"], str) and _HEX64.fullmatch(s["digest"]["sha256"])):
            raise _Fail("statement", f"subject[{i}] must be {{name, digest: {{sha256: 64 hex digits}}}}")
    pred = doc.get("predicate")
    if not (isinstance(pred, dict) and isinstance(pred.get("incident"), dict) and isinstance(pred["incident"].get("id"), str)
            and isinstance(pred.get("rca"), list) and isinstance(pred.get("redaction"), dict) and isinstance(pred.get("tool"), dict)):
        raise _Fail("statement", "the predicate must have incident.id, rca, redaction and tool")


def _verify(fh: BinaryIO, key: Ed25519PublicKey, result: VerifyResult) -> dict[str, Entry]:
    try:
        entries = scan(fh)
    except ArchiveError as exc:
        raise _Fail("archive", str(exc)) from None
    # 1-3: the envelope
    if not entries:
        raise _Fail("envelope", "the archive is empty")
    last = entries[-1]
    if last.name != ENVELOPE_NAME or not last.is_file:
        raise _Fail("envelope", f"the archive does not end with {ENVELOPE_NAME} (not a CrashLens bundle, or damaged)")
    try:
        env = parse_envelope(read_member(fh, last, _MAX_ENVELOPE))
    except ArchiveError as exc:
        raise _Fail("envelope", str(exc)) from None
    except EnvelopeError as exc:
        raise _Fail(exc.check, str(exc)) from None
    if env.payload_type != PAYLOAD_TYPE:
        raise _Fail("payload_type", f"payloadType is {env.payload_type!r}, expected {PAYLOAD_TYPE}")
    try:
        verify_signature(env, key, result.keyid)
    except EnvelopeError as exc:
        raise _Fail(exc.check, str(exc)) from None
    result.statement_sha256 = hashlib.sha256(env.payload).hexdigest()
    # 4: the statement
    try:
        doc = strict_loads(env.payload)
    except StrictJSONError as exc:
        raise _Fail("statement", f"the payload is not valid JSON: {exc}") from None
    if canonical_json(doc) != env.payload:
        raise _Fail("statement", "the payload is not canonical JSON")
    _check_statement(doc)
    result.statement = doc
    signed = {s["name"]: s["digest"]["sha256"] for s in doc["subject"]}
    # 5: paths, in the statement and in the archive
    if len(signed) != len(doc["subject"]):
        raise _Fail("paths", "the statement lists a file twice")
    for name in signed:
        problem = path_problem(name) or (f"{name!r} is the envelope's own name" if name == ENVELOPE_NAME else None)
        if problem:
            raise _Fail("paths", f"signed file {problem}")
    present: dict[str, Entry] = {}
    for entry in entries[:-1]:
        problem = path_problem(entry.name) or (f"{entry.name!r} is the envelope's own name" if entry.name == ENVELOPE_NAME else None)
        if problem:
            raise _Fail("paths", f"archive member {problem}")
        if not entry.is_file:
            raise _Fail("paths", f"archive member {entry.name!r} is {entry.kind}; bundles contain only regular files")
        if entry.name in present:
            raise _Fail("paths", f"archive member {entry.name!r} appears twice")
        present[entry.name] = entry
    # 6: digests (one streamed read of every signed file)
    buf = bytearray(CHUNK)
    for name, entry in present.items():
        if name in signed:
            try:
                digest = hash_member(fh, entry, buf)
            except ArchiveError as exc:
                raise _Fail("archive", str(exc)) from None
            if digest != signed[name]:
                raise _Fail("digest", f"{name!r} does not match its signed sha256 (changed after signing)")
    # 7-8: completeness
    missing = sorted(set(signed) - set(present))
    if missing:
        raise _Fail("missing", f"{len(missing)} signed file(s) absent from the archive: {', '.join(missing[:5])}")
    extra = sorted(set(present) - set(signed))
    if extra:
        raise _Fail("extra", f"{len(extra)} file(s) in the archive that were not signed: {', '.join(extra[:5])}")
    result.files = signed
    return present


def _run(path: Source, public_key: Ed25519PublicKey | bytes | str | Path) -> tuple[VerifyResult, dict[str, Entry]]:
    key = load_public_key(public_key)
    result = VerifyResult(ok=False, failure=None, statement=None, keyid=keyid(key))
    with _reader(path) as fh:
        try:
            entries = _verify(fh, key, result)
        except _Fail as fail:
            result.check = fail.check
            result.failure = f"{fail.check}: {fail}"
            result.files = {}
            return result, {}
    result.ok = True
    return result, entries


def verify_bundle(path: Source, public_key: Ed25519PublicKey | bytes | str | Path) -> VerifyResult:
    """Verify a bundle (path, bytes or seekable binary file) against a pinned public key.

    Never raises for a bad bundle: the result says which check failed and why. Raises only
    for unusable arguments (no such file, not a public key).
    """
    return _run(path, public_key)[0]


class VerifiedBundle:
    """Read access to a bundle that verified; every read re-checks the file's sha256."""

    def __init__(self, source: Source, result: VerifyResult, entries: dict[str, Entry]) -> None:
        self._source = source
        self.result = result
        self.statement: dict[str, Any] = result.statement or {}
        self.predicate: dict[str, Any] = self.statement.get("predicate", {})
        self.files: dict[str, str] = dict(result.files)
        self._entries = entries

    def iter_chunks(self, name: str) -> Iterator[bytes]:
        """A signed file's bytes in 1 MiB chunks; raises if they differ from the signed digest."""
        if name not in self.files:
            raise NotFound(f"{name!r} is not in the bundle", hint="see the bundle's statement for its files")
        entry = self._entries[name]
        h = hashlib.sha256()
        with _reader(self._source) as fh:
            fh.seek(entry.offset)
            left = entry.size
            while left:
                block = fh.read(min(CHUNK, left))
                if not block:
                    raise BundleInvalid("digest", f"{name!r} is truncated")
                h.update(block)
                left -= len(block)
                if not left and h.hexdigest() != self.files[name]:
                    raise BundleInvalid("digest", f"{name!r} changed after verification")
                yield block

    def read(self, name: str) -> bytes:
        return b"".join(self.iter_chunks(name))

    def json(self, name: str) -> Any:
        return strict_loads(self.read(name))

    # ---- the bundle's records
    def incident(self) -> dict[str, Any]:
        return self.json("incident.json")["incident"]

    def events(self) -> list[dict[str, Any]]:
        return self.json("incident.json")["events"]

    def artifacts(self) -> list[dict[str, Any]]:
        return self.json("artifacts.json")

    def runs(self) -> list[dict[str, Any]]:
        """The RCA run rows (without reports), oldest first."""
        return [self.json(r["file"]) for r in self.predicate.get("rca", [])]

    def _run_entry(self, run_id: str | None) -> dict[str, Any]:
        index = self.predicate.get("rca", [])
        if run_id is None:
            done = [r for r in index if r.get("report")]
            if not done:
                raise NotFound("the bundle has no RCA report", hint="export the incident again after running `crashlens rca ID`")
            return done[-1]
        for r in index:
            if r["run_id"] == run_id or (len(run_id) >= 4 and str(r["run_id"]).startswith(run_id)):
                return r
        raise NotFound(f"the bundle has no RCA run {run_id!r}", hint="see the bundle's predicate.rca for its runs")

    def run(self, run_id: str | None = None) -> dict[str, Any]:
        """One run row (default: the latest with a report)."""
        return self.json(self._run_entry(run_id)["file"])

    def report_bytes(self, run_id: str | None = None) -> bytes:
        """The report JSON exactly as bundled (default: the latest run with a report)."""
        entry = self._run_entry(run_id)
        if not entry.get("report"):
            raise NotFound(f"RCA run {entry['run_id']} has no report", hint="it did not finish")
        return self.read(entry["report"])

    def report(self, run_id: str | None = None) -> dict[str, Any]:
        return strict_loads(self.report_bytes(run_id))

    def markdown(self, run_id: str | None = None) -> str:
        return self.read(self._run_entry(run_id)["markdown"]).decode("utf-8")

    def artifact(self, digest: str) -> bytes:
        """An artifact's bytes by the digest the bundle's run rows use."""
        return self.read(f"artifacts/{digest}")

    def evidence(self, run_id: str | None = None) -> bytes:
        """The run's recorded evidence set (the evidence artifact's bytes)."""
        digest = self.run(run_id).get("evidence_artifact")
        if not digest:
            raise NotFound("the run has no recorded evidence", hint="it was made before evidence was recorded")
        return self.artifact(digest)

    def response(self, digest: str) -> bytes:
        """A recorded LLM response by digest."""
        return self.artifact(digest)


def open_bundle(path: Source, public_key: Ed25519PublicKey | bytes | str | Path) -> VerifiedBundle:
    """Verify, then give access to the bundle's files; raises ``BundleInvalid`` naming the failed check.

    This is what replay uses: ``b = open_bundle(path, key); b.report_bytes(); b.evidence(); b.response(d)``.
    """
    result, entries = _run(path, public_key)
    if not result.ok:
        raise BundleInvalid(result.check or "archive", (result.failure or "").split(": ", 1)[-1])
    return VerifiedBundle(path, result, entries)
