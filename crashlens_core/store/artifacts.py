"""Artifacts: content-addressed files of the workspace (``artifacts/ab/abcd…``), registered by sha256.

The same bytes stored twice are one artifact; reading checks the bytes against their digest,
so a damaged file is an error, not data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import NotFound, WorkspaceError
from ..models import Artifact
from .connection import WorkspaceCore
from .files import atomic_write_bytes, utcnow

__all__ = ["ArtifactsMixin"]


class ArtifactsMixin(WorkspaceCore):
    """Store, describe and read artifacts."""

    def artifact_path(self, digest: str) -> Path:
        """Where the content of artifact ``digest`` lives (``artifacts/ab/abcd…``), whether or not it exists."""
        return self.folder / "artifacts" / digest[:2] / digest

    def put_artifact(self, content: bytes, mime: str = "application/octet-stream", *, pii_masked: bool = False, name: str = "") -> Artifact:
        """Store content by its sha256; storing the same bytes again returns the existing artifact."""
        self.require_writable()
        digest = hashlib.sha256(content).hexdigest()
        path = self.artifact_path(digest)
        if not path.exists():
            atomic_write_bytes(path, content)
        with self.transaction():
            self.con.execute(
                "INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                [digest, mime, len(content), pii_masked, utcnow(), name],
            )
        return self.get_artifact(digest)

    def get_artifact(self, digest: str) -> Artifact:
        row = self.con.execute("SELECT digest, mime, length, pii_masked, created_ts, name FROM artifacts WHERE digest = ?", [digest]).fetchall()
        row = row[0] if row else None
        if row is None:
            raise NotFound(f"no artifact {digest}", hint="artifacts are addressed by the sha256 of their content")
        return Artifact(row[0], row[1], row[2], row[3], row[4], name=row[5] or "")

    def read_artifact(self, digest: str) -> bytes:
        """The artifact's bytes, checked against its digest (a damaged file is an error, not data)."""
        art = self.get_artifact(digest)
        try:
            data = self.artifact_path(art.digest).read_bytes()
        except FileNotFoundError:
            raise WorkspaceError(f"artifact {digest} is registered but its file is missing", hint="re-import the source") from None
        if hashlib.sha256(data).hexdigest() != art.digest:
            raise WorkspaceError(f"artifact {digest} is damaged (content does not match its digest)", hint="re-import the source")
        return data
