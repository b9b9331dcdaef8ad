"""Signed bundles through their two faces: the `crashlens bundle` command and the RCA page's sections."""

from __future__ import annotations

import json
import tarfile

import pytest
from streamlit.testing.v1 import AppTest

from crashlens_core.bundle import export_bundle, public_key_pem, signing_key
from crashlens_core.store import Workspace
from tests.conftest import run_cli
from tests.data_helpers import seed


@pytest.fixture
def exported(tmp_path):
    folder = tmp_path / "src"
    with Workspace.open(folder) as ws:
        inc_id = seed(ws)
    return folder, inc_id


def test_cli_export_verify_import_and_key(exported, tmp_path):
    folder, inc_id = exported
    out = tmp_path / "inc.bundle.tar"
    r = run_cli("bundle", "export", inc_id[:8], "-o", str(out), "--json", workspace=folder)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["incident_id"] == inc_id and doc["path"] == str(out) and doc["runs"] == 1 and doc["artifacts"] == 4
    assert out.exists() and doc["bytes"] == out.stat().st_size

    r = run_cli("bundle", "verify", str(out), workspace=folder)  # pinned: the workspace's own key
    assert r.returncode == 0 and r.stdout.startswith("verified: ")

    pub = tmp_path / "src.pub.pem"
    r = run_cli("bundle", "key", "-o", str(pub), "--json", workspace=folder)
    assert r.returncode == 0 and json.loads(r.stdout)["public_key_pem"] == pub.read_text()
    assert run_cli("bundle", "key", workspace=folder).stdout == pub.read_text()

    with tarfile.open(out) as tf:
        at = tf.getmember("bundle.dsse.json").offset_data
    data = bytearray(out.read_bytes())
    data[at + 20] ^= 0x01  # inside the envelope's base64 payload
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    r = run_cli("bundle", "verify", str(bad), "--key", str(pub), "--json", workspace=tmp_path / "other")
    assert r.returncode == 2 and "bundle verification failed: " in r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["check"] in ("envelope", "signature") and doc["failure"].startswith(doc["check"] + ": ")
    assert f"{doc['check']}: " in r.stderr

    dst = tmp_path / "dst"
    r = run_cli("bundle", "import", str(out), workspace=dst)  # a fresh workspace has no key of its own
    assert r.returncode == 2 and "--key" in r.stderr
    r = run_cli("bundle", "import", str(out), "--key", str(pub), "--json", workspace=dst)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["incident_id"], doc["imported"], doc["runs"], doc["artifacts"]) == (inc_id, True, 1, 4)
    r = run_cli("incidents", "show", inc_id, "--json", workspace=dst)
    shown = json.loads(r.stdout)
    assert shown["read_only"] is True and shown["source"] == "imported"
    r = run_cli("bundle", "import", str(out), "--key", str(pub), workspace=dst)
    assert r.returncode == 0 and "already imported" in r.stdout


def test_cli_usage_errors_exit_2(tmp_path):
    r = run_cli("bundle", "export", "nope", "-o", str(tmp_path / "x.tar"), workspace=tmp_path / "ws")
    assert r.returncode == 2 and "no incident" in r.stderr
    r = run_cli("bundle", "verify", str(tmp_path / "missing.tar"), "--key", str(tmp_path / "k.pem"), workspace=tmp_path / "ws")
    assert r.returncode == 2 and "public key file not found" in r.stderr
    assert run_cli("bundle", "--help").returncode == 0


# ---------------------------------------------------------------- page sections (AppTest)
def _export_app(folder: str, incident_id: str) -> None:
    from pathlib import Path

    from pages import bundle_view
    from crashlens_core.config import Settings
    from crashlens_core.store import Workspace

    with Workspace.open(folder) as ws:
        bundle_view.render_export(ws, Settings(workspace=Path(folder)), incident_id)


def _verify_app(folder: str) -> None:
    from pathlib import Path

    from pages import bundle_view
    from crashlens_core.config import Settings
    from crashlens_core.store import Workspace

    with Workspace.open(folder) as ws:
        bundle_view.render_verify(ws, Settings(workspace=Path(folder)))


def test_page_export_offers_a_download(exported):
    folder, inc_id = exported
    at = AppTest.from_function(_export_app, args=(str(folder), inc_id), default_timeout=30).run()
    assert not at.exception
    at.button(key=f"bundle_prepare_{inc_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("1 RCA run(s), 4 artifact(s)" in t.value for t in at.text)
    assert at.get("download_button")


def test_page_verify_shows_verified_or_the_failed_check(exported, tmp_path):
    folder, inc_id = exported
    with Workspace.open(folder) as ws:
        export_bundle(ws, None, inc_id, tmp_path / "b.tar")
        pub = public_key_pem(signing_key(ws.folder).public_key()).encode()
    data = (tmp_path / "b.tar").read_bytes()
    other = tmp_path / "other"
    at = AppTest.from_function(_verify_app, args=(str(other),), default_timeout=30).run()
    at.file_uploader(key="bundle_verify_file").set_value(("b.tar", data, "application/x-tar"))
    at.file_uploader(key="bundle_verify_key").set_value(("src.pub.pem", pub, "application/x-pem-file"))
    at.run()
    assert not at.exception and [s.value for s in at.success] and not at.error
    assert any(inc_id in t.value for t in at.text)

    tampered = bytearray(data)
    tampered[1000] ^= 0x01
    at.file_uploader(key="bundle_verify_file").set_value(("b.tar", bytes(tampered), "application/x-tar"))
    at.run()
    assert not at.exception and at.error and not at.success
    assert any(t.value.startswith(("digest: ", "archive: ")) for t in at.text)

    at.file_uploader(key="bundle_verify_key").set_value(None)  # no key given and this workspace has none
    at.run()
    assert any("no bundle signing key" in e.value for e in at.error)
