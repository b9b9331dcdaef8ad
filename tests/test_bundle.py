"""Signed bundles (issue 8): DSSE PAE, export, verification and its tamper checks, import.

Tampered bundles are built two ways: flipping bytes of the archive as written, and re-packing
valid archives (with Python's own tarfile) whose content was changed, so each check is reached
on its own. Forged statements are re-signed with the workspace key to test the checks that
come after the signature.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import tarfile
import tracemalloc
import uuid
from datetime import datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from crashlens_core.bundle import (BundleInvalid, export_bundle, import_bundle, keyid, open_bundle, pae, public_key_pem,
                                   signing_key, verify_bundle, workspace_public_key)
from crashlens_core.canonical import canonical_json, strict_loads
from crashlens_core.bundle.dsse import parse_envelope, sign_envelope
from crashlens_core.bundle.keys import key_path
from crashlens_core.errors import ConfigError, InputError, InvalidTransition
from crashlens_core.models import Evidence
from crashlens_core.store import Workspace

from .data_helpers import seed

# The DSSE specification's test vector (secure-systems-lab/dsse protocol.md v1.0.0, "Test Vectors"), copied here.
VECTOR_TYPE = "http://example.com/HelloWorld"
VECTOR_BODY = b"hello world"
VECTOR_PAE = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
VECTOR_X = 46950820868899156662930047687818585632848591499744589407958293238635476079160
VECTOR_Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
VECTOR_ENVELOPE = {"payload": "aGVsbG8gd29ybGQ=", "payloadType": "http://example.com/HelloWorld",
                   "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}

ENVELOPE = "bundle.dsse.json"
START = datetime(2024, 5, 14, 10, 0, 0)


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def src(tmp_path):
    with Workspace.open(tmp_path / "src") as ws:
        yield ws


@pytest.fixture
def bundle(src, tmp_path):
    inc_id = seed(src)
    path = tmp_path / "inc.bundle.tar"
    export_bundle(src, None, inc_id, path, exported_ts="2024-05-15T09:00:00")
    return path


def members(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]


def repack(items: list) -> bytes:
    """A tar written by Python's tarfile with the canonical header fields; items are
    (name, bytes) for files or a ready TarInfo for links and devices."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for item in items:
            if isinstance(item, tarfile.TarInfo):
                tf.addfile(item)
                continue
            name, data = item
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def resign(ws: Workspace, items: list, statement: dict | bytes) -> bytes:
    """Re-pack with a new statement signed by the workspace key (a signer who lies)."""
    key = signing_key(ws.folder)
    payload = statement if isinstance(statement, bytes) else canonical_json(statement)
    env = sign_envelope(payload, "application/vnd.in-toto+json", key, keyid(key.public_key()))
    return repack([i for i in items if not (isinstance(i, tuple) and i[0] == ENVELOPE)] + [(ENVELOPE, env)])


def statement_of(items: list) -> dict:
    env = json.loads(dict(items)[ENVELOPE])
    return json.loads(base64.b64decode(env["payload"]))


def check(ws: Workspace, data: bytes) -> str | None:
    return verify_bundle(data, workspace_public_key(ws.folder)).check


# ---------------------------------------------------------------- DSSE
def test_pae_matches_the_dsse_spec_vector_and_its_envelope_verifies():
    assert pae(VECTOR_TYPE, VECTOR_BODY) == VECTOR_PAE
    env = parse_envelope(canonical_json(VECTOR_ENVELOPE))
    assert (env.payload_type, env.payload) == (VECTOR_TYPE, VECTOR_BODY)
    # The vector's ECDSA P-256 signature is over exactly our PAE bytes.
    public = ec.EllipticCurvePublicNumbers(VECTOR_X, VECTOR_Y, ec.SECP256R1()).public_key()
    der = encode_dss_signature(int.from_bytes(env.sig[:32], "big"), int.from_bytes(env.sig[32:], "big"))
    public.verify(der, pae(env.payload_type, env.payload), ec.ECDSA(hashes.SHA256()))
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"  # lengths are in bytes, not characters


def test_strict_json_rejects_duplicate_keys_nan_and_truncation():
    for bad, why in ((b'{"a":1,"a":2}', "duplicate key"), (b'{"a":NaN}', "NaN"), (b'{"a":"x', "truncated"),
                     (b'{"a":\xff}', "UTF-8")):
        with pytest.raises(ValueError, match=why):
            strict_loads(bad)


# ---------------------------------------------------------------- export
def test_untouched_bundle_verifies_and_lists_every_file(src, bundle):
    result = verify_bundle(bundle, workspace_public_key(src.folder))
    assert result.ok and result.failure is None and result.check is None
    names = [n for n, _ in members(bundle.read_bytes())]
    assert names[-1] == ENVELOPE and names[:-1] == sorted(names[:-1])
    assert set(result.files) == set(names[:-1])
    st_ = result.statement
    assert st_["_type"] == "https://in-toto.io/Statement/v1" and st_["predicateType"].startswith("https://")
    pred = st_["predicate"]
    assert pred["engine"] == "groq" and pred["model"] == "llama-3.3-70b-versatile" and pred["tool"]["name"] == "crashlens"
    assert pred["incident"]["title"] == "checkout 500s after deploy" and pred["redaction"]["summary"] == {}
    kinds = {n.split("/")[0] for n in names}
    assert {"incident.json", "artifacts.json", "rca", "artifacts"} <= kinds
    assert sum(n.startswith("artifacts/") for n in names) == 4  # evidence, 2 responses, span payload
    with tarfile.open(bundle) as tf:  # any tar reads it; headers are fixed
        assert {(m.mode, m.mtime, m.uid, m.gid, m.uname, m.type) for m in tf} == {(0o644, 0, 0, 0, "", tarfile.REGTYPE)}


def test_export_is_deterministic_and_markdown_is_readable(src, tmp_path):
    inc_id = seed(src)
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    export_bundle(src, None, inc_id, a, exported_ts="2024-05-15T09:00:00")
    export_bundle(src, None, inc_id, b, exported_ts="2024-05-15T09:00:00")
    assert a.read_bytes() == b.read_bytes()
    md = open_bundle(a, workspace_public_key(src.folder)).markdown()
    assert "payments connection pool exhausted" in md and "`log:1234`" in md and "Restore pool size to 20" in md


def test_secrets_are_redacted_everywhere_and_counted(src, tmp_path):
    inc_id = seed(src, secret=True)
    path = tmp_path / "s.tar"
    res = export_bundle(src, None, inc_id, path)
    raw = path.read_bytes()
    for secret in (b"ops@example.com", b"hunter2secret", b"8.8.8.8"):
        assert secret not in raw
    summary = verify_bundle(path, workspace_public_key(src.folder)).statement["predicate"]["redaction"]["summary"]
    assert summary == res.redaction["summary"] and summary["email"] >= 1 and summary["password"] >= 1 and summary["ipv4"] >= 1
    b = open_bundle(path, workspace_public_key(src.folder))
    assert "[REDACTED:email#1]" in b.incident()["title"] and "[REDACTED:ipv4#1]" in b.report()["claims"][0]["text"]
    assert b"[REDACTED:password#1]" in b.evidence()
    assert len(res.redaction["unredacted_binary_artifacts"]) == 1  # the span payload: named, not silently passed
    # the bundle's run row points at the redacted evidence copy that is actually in the bundle
    assert b.run()["evidence_artifact"] in {a["digest"] for a in b.artifacts() if a["redacted"]}


# ---------------------------------------------------------------- tampering
def test_every_single_byte_change_of_the_archive_is_caught(src, bundle):
    data = bundle.read_bytes()
    key = workspace_public_key(src.folder)
    survivors = []
    for i in range(len(data)):
        for flip in (0x01, 0x80) if i % 97 == 0 else (0x01,):
            changed = bytearray(data)
            changed[i] ^= flip
            if verify_bundle(bytes(changed), key).ok:
                survivors.append((i, flip))
    assert survivors == []
    assert verify_bundle(data, key).ok


def test_every_byte_of_every_file_payload_and_signature_matters(src, bundle):
    """Valid archives with one file byte changed fail the digest check; a changed payload or
    signature byte (re-encoded canonically) fails the signature check."""
    items = members(bundle.read_bytes())
    for index, (name, content) in enumerate(items):
        if name == ENVELOPE:
            continue
        positions = range(len(content)) if len(content) <= 1024 else sorted({0, len(content) - 1, *range(0, len(content), 61)})
        for pos in positions:
            changed = bytearray(content)
            changed[pos] ^= 0x20
            assert check(src, repack(items[:index] + [(name, bytes(changed))] + items[index + 1:])) == "digest", (name, pos)
    env = json.loads(dict(items)[ENVELOPE])
    for field in ("payload", "sig"):
        holder = env if field == "payload" else env["signatures"][0]
        raw = base64.b64decode(holder[field])
        for pos in range(len(raw)):
            changed = bytearray(raw)
            changed[pos] ^= 0x01
            forged = json.loads(json.dumps(env))
            (forged if field == "payload" else forged["signatures"][0])[field] = base64.b64encode(bytes(changed)).decode()
            assert check(src, repack(items[:-1] + [(ENVELOPE, canonical_json(forged))])) == "signature", (field, pos)


def _symlink(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime, info.mode, info.uname, info.gname = kind, target, 0, 0o777, "", ""
    return info


@pytest.mark.parametrize("case, expected", [
    ("add a file", "extra"), ("remove a file", "missing"), ("rename a file", "missing"),
    ("member ../../x", "paths"), ("absolute member", "paths"), ("symlink member", "paths"), ("hardlink member", "paths"),
    ("device member", "paths"), ("duplicate member", "paths"), ("changed file and bad path", "paths"),
    ("duplicate keys in envelope", "envelope"), ("truncated envelope", "envelope"), ("envelope not last", "envelope"),
    ("two signatures", "envelope"), ("payload type", "payload_type"),
    ("signed ../../x subject", "paths"), ("signed absolute subject", "paths"), ("signed duplicate keys", "statement"),
    ("signed wrong _type", "statement"), ("signed non-canonical payload", "statement"), ("signed duplicate subject", "paths"),
    ("truncated archive", "archive"), ("truncated mid-member", "archive"), ("trailing bytes", "archive"),
    ("not a tar", "archive"), ("empty file", "archive"), ("gzipped", "archive"), ("non-canonical header", "archive"),
])
def test_tampering_is_caught_and_named(src, bundle, case, expected):
    data = bundle.read_bytes()
    items = members(data)
    files, env = items[:-1], items[-1]
    stmt = statement_of(items)
    art = next(i for i, (n, _) in enumerate(files) if n.startswith("artifacts/"))
    forged = {
        "add a file": lambda: repack(files + [("zz-extra.txt", b"extra")] + [env]),
        "remove a file": lambda: repack(files[:art] + files[art + 1:] + [env]),
        "rename a file": lambda: repack(files[:art] + [("artifacts/renamed", files[art][1])] + files[art + 1:] + [env]),
        "member ../../x": lambda: repack(files + [("../../x", b"pwned")] + [env]),
        "absolute member": lambda: repack(files + [("/tmp/x", b"pwned")] + [env]),
        "symlink member": lambda: repack(files + [_symlink("evil", "/etc/passwd")] + [env]),
        "hardlink member": lambda: repack(files + [_symlink("evil", "incident.json", tarfile.LNKTYPE)] + [env]),
        "device member": lambda: repack(files + [_symlink("evil", "", tarfile.CHRTYPE)] + [env]),
        "duplicate member": lambda: repack(files + [files[0]] + [env]),
        "changed file and bad path": lambda: repack([(files[0][0], files[0][1] + b" ")] + files[1:] + [("a/../b", b"")] + [env]),
        "duplicate keys in envelope": lambda: repack(files + [(ENVELOPE, env[1][:-1] + b',"payloadType":"x"}')]),
        "truncated envelope": lambda: repack(files + [(ENVELOPE, env[1][: len(env[1]) // 2])]),
        "envelope not last": lambda: repack([env] + files),
        "two signatures": lambda: repack(files + [(ENVELOPE, _two_sigs(env[1]))]),
        "payload type": lambda: repack(files + [(ENVELOPE, _retyped(src, env[1]))]),
        "signed ../../x subject": lambda: resign(src, items, dict(stmt, subject=stmt["subject"] + [
            {"name": "../../x", "digest": {"sha256": "0" * 64}}])),
        "signed absolute subject": lambda: resign(src, items, dict(stmt, subject=[
            {"name": "/etc/passwd", "digest": s["digest"]} if i == 0 else s for i, s in enumerate(stmt["subject"])])),
        "signed duplicate keys": lambda: resign(src, items, canonical_json(stmt)[:-1] + b',"_type":"x"}'),
        "signed wrong _type": lambda: resign(src, items, dict(stmt, _type="https://in-toto.io/Statement/v0.1")),
        "signed non-canonical payload": lambda: resign(src, items, json.dumps(stmt, indent=1).encode()),
        "signed duplicate subject": lambda: resign(src, items, dict(stmt, subject=stmt["subject"] + stmt["subject"][:1])),
        "truncated archive": lambda: data[: len(data) - 600],
        "truncated mid-member": lambda: data[:700],
        "trailing bytes": lambda: data + b"\0" * 512,
        "not a tar": lambda: b"this is not a bundle\n" * 100,
        "empty file": lambda: b"",
        "gzipped": lambda: __import__("gzip").compress(data, mtime=0),
        "non-canonical header": lambda: _with_mtime(files + [env]),
    }[case]()
    result = verify_bundle(forged, workspace_public_key(src.folder))
    assert not result.ok and result.check == expected, result.failure
    assert result.failure.startswith(f"{expected}: ") and len(result.failure) > len(expected) + 10
    with pytest.raises(BundleInvalid) as err:
        open_bundle(forged, workspace_public_key(src.folder))
    assert err.value.check == expected


def _two_sigs(env_bytes: bytes) -> bytes:
    env = json.loads(env_bytes)
    env["signatures"] = env["signatures"] * 2
    return canonical_json(env)


def _retyped(ws: Workspace, env_bytes: bytes) -> bytes:
    env = json.loads(env_bytes)
    key = signing_key(ws.folder)
    return sign_envelope(base64.b64decode(env["payload"]), "application/json", key, keyid(key.public_key()))


def _with_mtime(items: list) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, content in items:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 1_700_000_000, 0o644
            tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def test_a_different_key_fails_the_signature_and_a_bundled_key_is_never_trusted(src, bundle, tmp_path):
    other = Ed25519PrivateKey.generate()
    result = verify_bundle(bundle, public_key_pem(other.public_key()))
    assert result.check == "signature" and "pinned" in result.failure
    # An attacker re-signs a changed bundle with their own key and ships their public key inside it.
    items = members(bundle.read_bytes())
    stmt = statement_of(items)
    evil_items = items[:-1] + [("signer.pub.pem", public_key_pem(other.public_key()).encode())]
    stmt["subject"].append({"name": "signer.pub.pem", "digest": {"sha256": __import__("hashlib").sha256(evil_items[-1][1]).hexdigest()}})
    env = sign_envelope(canonical_json(stmt), "application/vnd.in-toto+json", other, keyid(other.public_key()))
    evil = repack(evil_items + [(ENVELOPE, env)])
    assert verify_bundle(evil, public_key_pem(other.public_key())).ok  # consistent in itself...
    assert check(src, evil) == "signature"  # ...but not signed by the key we pinned


def test_verified_reads_recheck_digests(src, bundle):
    b = open_bundle(bundle, workspace_public_key(src.folder))
    report_name = b.predicate["rca"][0]["report"]
    entry = b._entries[report_name]
    data = bytearray(bundle.read_bytes())
    data[entry.offset] ^= 0x01
    bundle.write_bytes(bytes(data))  # changed on disk after verification
    with pytest.raises(BundleInvalid, match="changed after verification"):
        b.report_bytes()


# ---------------------------------------------------------------- keys
def test_signing_key_is_private_and_checked(src, tmp_path):
    key = signing_key(src.folder)
    path = key_path(src.folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert keyid(signing_key(src.folder).public_key()) == keyid(key.public_key())  # created once, then reused
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="accessible by other users") as err:
        signing_key(src.folder)
    assert err.value.hint == f"run `chmod 600 {path}`"
    with pytest.raises(InputError, match="private key"):
        from crashlens_core.bundle import load_public_key
        load_public_key(path.read_bytes())


# ---------------------------------------------------------------- import
def test_export_import_keeps_the_report_byte_identical_read_only_and_idempotent(src, tmp_path):
    inc_id = seed(src, runs=2)
    path = tmp_path / "inc.bundle.tar"
    export_bundle(src, None, inc_id, path)
    pub = public_key_pem(workspace_public_key(src.folder))
    with Workspace.open(tmp_path / "dst") as dst:
        first = import_bundle(dst, path, pub)
        assert first.imported and first.runs == 2 and first.artifacts == 4
        inc = dst.get_incident(inc_id)
        assert inc.read_only and inc.source == "imported" and inc.title == "checkout 500s after deploy"
        assert inc.details == {"order_id": "A-1001", "eta_delta_hours": 4.5, "problem_type": "payment_failed"}
        q = "SELECT id, report, evidence_artifact, started_ts, finished_ts, cost_usd, completion_tokens, actor FROM rca_runs ORDER BY id"
        assert dst.con.execute(q).fetchall() == src.con.execute(q).fetchall()  # reports byte-identical
        q = "SELECT responses FROM rca_runs ORDER BY id"  # other JSON columns: the same value (keys may be reordered)
        assert [json.loads(r[0]) for r in dst.con.execute(q).fetchall()] == [json.loads(r[0]) for r in src.con.execute(q).fetchall()]
        for (digest,) in src.con.execute("SELECT digest FROM artifacts").fetchall():
            assert dst.read_artifact(digest) == src.read_artifact(digest)
        events = dst.incident_events(inc_id)
        assert [e["to_status"] for e in events] == ["open", "investigating", "investigating"]
        assert events[-1]["note"].startswith("imported from bundle sha256:")
        with pytest.raises(InvalidTransition, match="read-only"):
            dst.set_incident_status(inc_id, "resolved", actor="bob")
        before = dst.counts()
        again = import_bundle(dst, path, pub)
        assert not again.imported and dst.counts() == before and len(dst.incident_events(inc_id)) == len(events)
    with Workspace.open(tmp_path / "dst") as dst:
        with pytest.raises(BundleInvalid):
            import_bundle(dst, path, public_key_pem(Ed25519PrivateKey.generate().public_key()))
    with pytest.raises(InputError, match="local incident"):
        import_bundle(src, path, pub)  # never overwrites the original


def test_failed_verification_writes_nothing(src, bundle, tmp_path):
    data = bytearray(bundle.read_bytes())
    data[600] ^= 0x01
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    with Workspace.open(tmp_path / "dst") as dst:
        with pytest.raises(BundleInvalid):
            import_bundle(dst, bad, workspace_public_key(src.folder))
        assert dst.counts()["incidents"] == 0 and dst.counts()["artifacts"] == 0
        assert not any((tmp_path / "dst" / "artifacts").rglob("*"))


def test_big_artifacts_are_streamed_not_loaded(src, tmp_path):
    size = 24 << 20
    inc_id = seed(src, binary_size=1000)
    big = os.urandom(size)
    digest = src.put_artifact(big, "application/octet-stream", name="heap.dump").digest
    del big
    with src.transaction():
        src.con.execute("INSERT INTO spans (trace_id, span_id, incident_id, result_digest) VALUES ('t2', 's2', ?, ?)", [inc_id, digest])
    path = tmp_path / "big.tar"
    pub = signing_key(src.folder).public_key()
    tracemalloc.start()
    try:
        export_bundle(src, None, inc_id, path)
        _, peak_export = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert verify_bundle(path, pub).ok
        _, peak_verify = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with Workspace.open(tmp_path / "dst") as dst:
            import_bundle(dst, path, pub)
            _, peak_import = tracemalloc.get_traced_memory()
            assert dst.get_artifact(digest).length == size
    finally:
        tracemalloc.stop()
    assert max(peak_export, peak_verify, peak_import) < size // 4, (peak_export, peak_verify, peak_import)


def test_a_newer_bundle_refreshes_an_imported_incident(src, tmp_path):
    inc_id = seed(src)
    pub = signing_key(src.folder).public_key()
    export_bundle(src, None, inc_id, tmp_path / "v1.tar")
    src.set_incident_status(inc_id, "rca_ready", actor="alice", note="report reviewed")
    export_bundle(src, None, inc_id, tmp_path / "v2.tar")
    with Workspace.open(tmp_path / "dst") as dst:
        import_bundle(dst, tmp_path / "v1.tar", pub)
        second = import_bundle(dst, tmp_path / "v2.tar", pub)
        assert second.imported and second.runs == 0 and second.artifacts == 0  # same runs and artifacts: kept
        inc = dst.get_incident(inc_id)
        assert inc.status == "rca_ready" and inc.read_only
        notes = [e["note"] for e in dst.incident_events(inc_id)]
        assert "report reviewed" in notes and sum(n.startswith("imported from bundle") for n in notes) == 1
        assert dst.counts()["incidents"] == 1


def test_a_signed_but_hostile_artifact_list_writes_no_file(src, bundle, tmp_path):
    """Signed is not well-formed: an artifacts.json naming '../../x' never becomes a path."""
    items = members(bundle.read_bytes())
    files = dict(items[:-1])
    arts = json.loads(files["artifacts.json"])
    arts[0]["digest"] = "../../../escaped"
    files["artifacts.json"] = canonical_json(arts)
    stmt = statement_of(items)
    stmt["subject"] = [{"name": n, "digest": {"sha256": __import__("hashlib").sha256(c).hexdigest()}} for n, c in sorted(files.items())]
    hostile = tmp_path / "hostile.tar"
    hostile.write_bytes(resign(src, sorted(files.items()), stmt))
    with Workspace.open(tmp_path / "dst") as dst:
        with pytest.raises(InputError, match="not a bundled sha256"):
            import_bundle(dst, hostile, workspace_public_key(src.folder))
        assert dst.counts()["incidents"] == 0
    assert not list(tmp_path.rglob("escaped*"))


def test_an_incident_without_rca_runs_exports_and_imports(src, tmp_path):
    inc = src.create_incident("disk full on db-2", severity="sev3")
    path = tmp_path / "plain.tar"
    res = export_bundle(src, None, inc.id, path)
    assert res.runs == 0 and res.artifacts == 0
    b = open_bundle(path, workspace_public_key(src.folder))
    assert b.predicate["rca"] == [] and b.predicate["engine"] is None
    with pytest.raises(Exception, match="no RCA report"):
        b.report_bytes()
    with Workspace.open(tmp_path / "dst") as dst:
        assert import_bundle(dst, path, workspace_public_key(src.folder)).imported
        assert dst.get_incident(inc.id).title == "disk full on db-2"


def test_export_import_then_strict_replay_is_byte_identical(tmp_path):
    """The whole path with a real offline RCA run: export, import elsewhere, strict replay (from
    the imported workspace and straight from the bundle) rebuilds the recorded report exactly."""
    from datetime import timedelta

    from crashlens_core.config import Settings
    from crashlens_core.ingest import ingest_file
    from crashlens_core.rca.engine import run_rca
    from crashlens_core.bundle.replay import replay_bundle
    from crashlens_core.rca.replay import replay

    lines = []
    for i in range(240):
        svc = ("checkout", "payments")[i % 2]
        rec = {"ts": (START + timedelta(seconds=i)).isoformat() + "Z", "level": "INFO", "service": svc, "message": f"request {i} ok"}
        if i >= 120 and svc == "payments":
            rec.update(level="ERROR", message=f"charge for order o-{i} failed: connection pool exhausted, user ops@example.com")
        lines.append(json.dumps(rec))
    (tmp_path / "logs.jsonl").write_text("\n".join(lines) + "\n")
    with Workspace.open(tmp_path / "src") as ws:
        ingest_file(ws, "logs", str(tmp_path / "logs.jsonl"))
        inc = ws.create_incident("payments pool exhausted", window_start=START + timedelta(minutes=2),
                                 window_end=START + timedelta(minutes=4))
        run = run_rca(ws, Settings(workspace=ws.folder), inc.id, engine="offline")
        export_bundle(ws, None, inc.id, tmp_path / "b.tar")
        original = ws.con.execute("SELECT report FROM rca_runs WHERE id = ?", [run.run_id]).fetchall()[0][0]
        pub = signing_key(ws.folder).public_key()
    assert b"ops@example.com" not in (tmp_path / "b.tar").read_bytes()
    with Workspace.open(tmp_path / "dst") as dst:
        import_bundle(dst, tmp_path / "b.tar", pub)
        assert dst.con.execute("SELECT report FROM rca_runs WHERE id = ?", [run.run_id]).fetchall()[0][0] == original
        replayed = replay(dst, run.run_id, strict=True)
        assert replayed.identical and canonical_json(replayed.report.to_json()) == canonical_json(json.loads(original))
    from_bundle = replay_bundle(tmp_path / "b.tar", pub, strict=True)
    assert from_bundle.identical and from_bundle.run_id == run.run_id
