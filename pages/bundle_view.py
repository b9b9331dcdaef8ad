"""Signed bundles on the RCA page: export one (download button), verify an uploaded one.

Not a page of its own: the RCA page calls ``render_export`` and ``render_verify``. Everything
a bundle says is untrusted until verified, and even then shown as plain text.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from pages import common
from crashlens_core.bundle import export_bundle, load_public_key, verify_bundle, workspace_public_key
from crashlens_core.config import Settings
from crashlens_core.errors import CrashLensError
from crashlens_core.store import Workspace

__all__ = ["render_export", "render_verify"]


def render_export(ws: Workspace, settings: Settings, incident_id: str) -> None:
    """A button that signs and exports the incident, then a download button for the bundle."""
    st.subheader("Signed bundle")
    st.caption("One archive with the incident, its redacted evidence, the RCA reports (JSON and Markdown) and the artifacts, "
               "signed with this workspace's key. Anyone holding the public key can verify it.")
    state_key = f"bundle_export_{incident_id}"
    if st.button("Prepare signed bundle", key=f"bundle_prepare_{incident_id}", icon=":material/verified:"):
        try:
            with tempfile.TemporaryDirectory() as tmp:
                result = export_bundle(ws, settings, incident_id, Path(tmp) / "bundle.tar")
                data = Path(result.path).read_bytes()
        except CrashLensError as exc:
            common.show_error(exc)
            return
        st.session_state[state_key] = (result, data)
    prepared = st.session_state.get(state_key)
    if prepared:
        result, data = prepared
        masked = sum(result.redaction["summary"].values())
        st.text(f"{result.files} files, {result.runs} RCA run(s), {result.artifacts} artifact(s), {result.bytes:,} bytes; "
                f"{masked} value(s) redacted; key {result.keyid[:16]}")
        if result.redaction["unredacted_binary_artifacts"]:
            st.warning(f"{len(result.redaction['unredacted_binary_artifacts'])} binary artifact(s) could not be redacted "
                       "and are included as they are.", icon=":material/warning:")
        st.download_button("Download bundle", data, file_name=f"incident-{result.incident_id[:8]}.bundle.tar",
                           mime="application/x-tar", key=f"bundle_download_{incident_id}", icon=":material/download:")


def render_verify(ws: Workspace, settings: Settings) -> None:
    """Upload a bundle (and optionally the signer's public key) and see verified or failed, and why."""
    st.subheader("Verify a bundle")
    upload = st.file_uploader("Bundle (.tar)", type=["tar"], key="bundle_verify_file")
    pub = st.file_uploader("Signer's public key (PEM); leave empty to use this workspace's key", type=["pem", "pub"],
                           key="bundle_verify_key")
    if upload is None:
        st.caption("The bundle is checked against a public key you trust, never against a key it carries.")
        return
    try:
        key = load_public_key(pub.getvalue()) if pub is not None else workspace_public_key(ws.folder)
        result = verify_bundle(upload.getvalue(), key)
    except CrashLensError as exc:
        common.show_error(exc)
        return
    if result.ok:
        pred = (result.statement or {}).get("predicate", {})
        inc = pred.get("incident", {})
        st.success("Verified: every file matches the signed statement.", icon=":material/verified:")
        st.text(f"incident {inc.get('id')}: {inc.get('title')}\n"
                f"engine {pred.get('engine')}, model {pred.get('model')}; signed by key {result.keyid[:16]}\n"
                f"exported {pred.get('exported_ts')} by {pred.get('tool', {}).get('name')} {pred.get('tool', {}).get('version')}")
        st.dataframe([{"file": name, "sha256": digest} for name, digest in sorted(result.files.items())],
                     hide_index=True, width="stretch")
    else:
        st.error("Verification failed: do not trust this bundle.", icon=":material/gpp_bad:")
        st.text(result.failure)
