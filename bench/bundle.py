"""Benchmark signed bundles: export and verify time for an incident with ~100 MB of artifacts,
side by side with `sha256sum` over the same artifact files (target: verify < 2x sha256sum).

Usage: python bench/bundle.py [--mb 100] [--files 10] [--text-mb 8] [--repeat 3] [--keep DIR]

The artifacts are binary payloads (bundled as they are, hashed while copied) plus real log
text from ../shared/data/loghub-2k (OpenSSH, with its IPs and user names), which goes through
redaction on export. Times are the best of --repeat runs with a warm page cache (the reference
`sha256sum` reads from the same cache), measured in this process with time.perf_counter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crashlens_core.bundle import export_bundle, import_bundle, signing_key, verify_bundle  # noqa: E402
from crashlens_core.bundle.redaction import BundleRedactor  # noqa: E402
from crashlens_core.store import Workspace, utcnow  # noqa: E402
from crashlens_core.store.bundle import artifact_file  # noqa: E402

LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub-2k" / "OpenSSH" / "OpenSSH_2k.log"


def build(ws: Workspace, mb: int, files: int, text_mb: int) -> tuple[str, list[Path], Path | None]:
    inc = ws.create_incident("sshd brute force then payments outage", severity="sev2", services=["payments", "sshd"])
    digests, text_path = [], None
    per = mb * (1 << 20) // files
    for i in range(files):
        digests.append(ws.put_artifact(os.urandom(per), "application/octet-stream", name=f"heap-{i}.dump").digest)
    if text_mb:
        lines = LOGHUB.read_bytes()
        text = (lines * (text_mb * (1 << 20) // len(lines) + 1))[: text_mb * (1 << 20)]
        text = text[: text.rfind(b"\n") + 1]
        digests.append(ws.put_artifact(text, "text/plain", name="sshd.log").digest)
        text_path = artifact_file(ws, digests[-1])
    evidence = json.dumps({"items": [{"id": "log:1", "kind": "log", "title": "t", "text": "ERROR pool exhausted", "score": 1.0,
                                      "data": {}}]}, sort_keys=True, separators=(",", ":")).encode()
    ev = ws.put_artifact(evidence, "application/json", name="evidence.json").digest
    report = {"schema": "crashlens.rca/v1", "summary": "s", "root_cause": "pool exhausted", "confidence": 0.8,
              "claims": [{"text": "errors rose", "evidence": ["log:1"]}], "suspects": [], "remediation": ["raise the pool"],
              "engine": "offline", "model": "", "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    with ws.transaction():
        for i, d in enumerate(digests):
            ws.con.execute("INSERT INTO spans (trace_id, span_id, service, name, result_digest, incident_id) VALUES (?, ?, 'payments', 'dump', ?, ?)",
                           [f"t{i}", f"s{i}", d, inc.id])
        ws.con.execute("""INSERT INTO rca_runs (id, incident_id, engine, model, started_ts, finished_ts, report, status, evidence_artifact, responses)
                          VALUES (?, ?, 'offline', '', ?, ?, ?, 'done', ?, '[]')""",
                       [str(uuid.uuid4()), inc.id, utcnow(), utcnow(), json.dumps(report, sort_keys=True), ev])
    return inc.id, [artifact_file(ws, d) for d in digests + [ev]], text_path


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="megabytes of binary artifacts")
    parser.add_argument("--files", type=int, default=10, help="number of binary artifacts")
    parser.add_argument("--text-mb", type=int, default=8, help="megabytes of real log text (redacted on export)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work here instead of a temporary directory")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="crashlens-bench-bundle-"))
    try:
        with Workspace.open(root / "ws") as ws:
            inc_id, paths, text_path = build(ws, args.mb, args.files, args.text_mb)
            signing_key(ws.folder)
            out = root / "incident.bundle.tar"
            total_mb = sum(p.stat().st_size for p in paths) / (1 << 20)
            export_s, res = best(lambda: export_bundle(ws, None, inc_id, out), args.repeat)
        pub = signing_key(root / "ws").public_key()
        verify_s, vres = best(lambda: verify_bundle(out, pub), args.repeat)
        assert vres.ok, vres.failure
        sums_s, _ = best(lambda: subprocess.run(["sha256sum", *map(str, paths)], check=True, capture_output=True), args.repeat)
        sum_bundle_s, _ = best(lambda: subprocess.run(["sha256sum", str(out)], check=True, capture_output=True), args.repeat)

        def fresh_import():
            shutil.rmtree(root / "dst", ignore_errors=True)
            with Workspace.open(root / "dst") as dst:
                return import_bundle(dst, out, pub)

        import_s, _ = best(fresh_import, args.repeat)
        redact_s = 0.0
        if text_path:  # the share of export spent masking the log text (the rest is streaming + hashing)
            redact_s, _ = best(lambda: BundleRedactor().artifact(text_path, root / "redacted.tmp", "text/plain", "t"), args.repeat)
        print(f"artifacts: {len(paths)} files, {total_mb:.1f} MB ({args.mb} MB binary in {args.files} files, "
              f"{args.text_mb} MB log text redacted: {sum(res.redaction['summary'].values())} values masked)")
        print(f"bundle:    {res.bytes / (1 << 20):.1f} MB, {res.files} files")
        print(f"{'sha256sum of the artifact files':34s} {sums_s:7.3f} s   (reference)")
        print(f"{'sha256sum of the bundle file':34s} {sum_bundle_s:7.3f} s")
        print(f"{'verify_bundle':34s} {verify_s:7.3f} s   {verify_s / sums_s:5.2f}x sha256sum   (target < 2x)")
        print(f"{'export_bundle (incl. redaction)':34s} {export_s:7.3f} s   {export_s / sums_s:5.2f}x sha256sum")
        if text_path:
            print(f"{'  of which redacting the log text':34s} {redact_s:7.3f} s   ({args.text_mb / redact_s:.1f} MB/s)")
        print(f"{'import_bundle (verify + copy)':34s} {import_s:7.3f} s   {import_s / sums_s:5.2f}x sha256sum")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
