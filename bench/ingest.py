"""Ingest benchmark: CrashLens figures side by side with the ingest issue's targets, in one run.

Measures, on generated inputs (seeded, so every run sees the same bytes):

1. 1,000,000 JSON Lines log records (~150 bytes each): ``ingest_file`` into a fresh
   workspace (includes the final CHECKPOINT) vs DuckDB's own
   ``CREATE TABLE t AS SELECT * FROM read_json(..., format='newline_delimited')`` + CHECKPOINT
   into a fresh DuckDB file. Target: CrashLens within 2x of DuckDB's own load. The same file
   with every 100th line cut short shows what the reject pass (line numbers and reasons)
   costs; DuckDB's own load would refuse that file. 1M nginx access-log lines show the
   ``access`` format's rate (no target).
2. 1,000,000 physical plain-text lines (``2024-05-14T10:03:21.123Z INFO [checkout] ...``),
   2% of them continuation lines of Python/Java stack traces. Target: >= 250,000 lines/s.
3. Peak memory (max RSS) of each CrashLens run. Target: under 1 GB.

Each load runs in its own child process (``--child``) that reports its own ru_maxrss, so the
generator's memory is not counted. Inputs go to a temp dir under /tmp, deleted at the end
unless ``--keep DIR`` (kept, and reused next time). It reports, it does not assert: exit 0.

    .venv/bin/python bench/ingest.py [--keep DIR] [--lines N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVICES = ["checkout", "payments", "cart", "inventory", "auth", "search", "shipping", "gateway"]
LEVELS = ["INFO"] * 70 + ["DEBUG"] * 15 + ["WARN"] * 10 + ["ERROR"] * 5
PY_TRACE = ["Traceback (most recent call last):", '  File "/app/{svc}/handlers.py", line {n}, in handle',
            "    result = self.process(request)", '  File "/app/{svc}/core.py", line {m}, in process',
            "    raise ValueError(f\"bad order {{order_id}}\")", "ValueError: bad order {id}"]
JAVA_TRACE = ["java.lang.IllegalStateException: order {id} in state PENDING", "\tat com.shop.{svc}.OrderService.commit(OrderService.java:{n})",
              "\tat com.shop.{svc}.Controller.post(Controller.java:{m})", "\tat java.base/java.lang.Thread.run(Thread.java:833)",
              "Caused by: java.sql.SQLTimeoutException: timeout after {m} ms", "\tat org.postgresql.Driver.exec(Driver.java:{n})", "\t... 12 more"]


def _messages(rng: random.Random) -> str:
    k, n, m = rng.randrange(5), rng.randrange(1, 99999), rng.randrange(1, 2000)
    if k == 0:
        return f"order {n} placed for user u-{m} in {rng.randrange(1, 900)} ms"
    if k == 1:
        return f"GET /api/v1/items/{n} 200 {m}ms"
    if k == 2:
        return f"cache miss key=sku:{n} shard={m % 16}"
    if k == 3:
        return f"payment {rng.getrandbits(32):08x} retry {m % 5} of 5"
    return f"db pool in use {m % 64}/64 wait {n % 500} ms"


def _stamps(rng: random.Random):
    """Yield ISO timestamps with ms and Z, a few ms apart (strftime once per second)."""
    ms, cache = 1715680800_000, {}
    while True:
        ms += rng.randrange(0, 8)
        sec = ms // 1000
        if sec not in cache:
            cache = {sec: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))}
        yield f"{cache[sec]}.{ms % 1000:03d}Z"


def gen_jsonl(path: Path, n: int) -> None:
    rng, ts, parts = random.Random(1), _stamps(random.Random(2)), []
    for _ in range(n):
        svc = rng.choice(SERVICES)
        parts.append(f'{{"ts":"{next(ts)}","level":"{rng.choice(LEVELS)}","service":"{svc}","host":"{svc}-{rng.randrange(12):02d}",'
                     f'"msg":"{_messages(rng)}","trace_id":"{rng.getrandbits(64):016x}"}}\n')
    path.write_text("".join(parts))


def gen_jsonl_with_bad(good: Path, path: Path, every: int = 100) -> None:
    """The same records with every ``every``-th line broken (cut short): exercises the reject pass."""
    with open(good) as src, open(path, "w") as out:
        for n, line in enumerate(src, start=1):
            out.write(line[: len(line) // 2] + "\n" if n % every == 0 else line)


def gen_access(path: Path, n: int) -> None:
    """nginx Combined Log Format, 2% 5xx and 5% 4xx answers, a request time at the end."""
    rng, parts, sec = random.Random(5), [], 1715680800
    for k in range(n):
        sec += rng.randrange(0, 2)
        status = rng.choices((200, 304, 404, 502), weights=(88, 5, 5, 2))[0]
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(sec))
        parts.append(f'10.0.{rng.randrange(256)}.{rng.randrange(256)} - - [{stamp}] "GET /api/v1/items/{rng.randrange(99999)} HTTP/1.1" '
                     f'{status} {rng.randrange(100, 9000)} "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)" 0.{rng.randrange(999):03d}\n')
    path.write_text("".join(parts))


def gen_text(path: Path, n: int, trace_share: float = 0.02) -> None:
    """Write exactly n physical lines, trace_share of them stack-trace continuation lines."""
    rng, ts, parts, cont = random.Random(3), _stamps(random.Random(4)), [], 0
    while len(parts) < n:
        svc = rng.choice(SERVICES)
        if cont < trace_share * (len(parts) + 8):
            frames = rng.choice((PY_TRACE, JAVA_TRACE))
            parts.append(f"{next(ts)} ERROR [{svc}] request failed trace_id={rng.getrandbits(128):032x}\n")
            parts += [f.format(svc=svc, id=rng.randrange(99999), n=rng.randrange(10, 400), m=rng.randrange(10, 400)) + "\n"
                      for f in frames]
            cont += len(frames)
        else:
            parts.append(f"{next(ts)} {rng.choice(LEVELS)} [{svc}] {_messages(rng)}\n")
    del parts[n:]
    path.write_text("".join(parts))


def child(what: str, path: str, work: str) -> None:
    """Run one load in this (fresh) process and print its figures as JSON on the last line."""
    out: dict = {}
    if what == "duckdb":
        import duckdb

        con = duckdb.connect(str(Path(work) / "ref.duckdb"))
        t0 = time.perf_counter()
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{path}', format='newline_delimited')")
        con.execute("CHECKPOINT")
        out["seconds"] = time.perf_counter() - t0
        out["loaded"] = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
        con.close()
    else:
        from crashlens_core.config import Settings
        from crashlens_core.ingest.driver import ingest_file
        from crashlens_core.store.workspace import Workspace

        with Workspace.open(Path(work) / "ws") as ws:
            t0 = time.perf_counter()
            rep = ingest_file(ws, "logs", path, what, settings=Settings(ingest_block_mb=64))
            out["seconds"] = time.perf_counter() - t0
            out.update(loaded=rep.loaded, rejected=rep.rejected, report_seconds=rep.seconds)
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_child(what: str, path: Path, base: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"{what}-", dir=base))
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", what, str(path), str(work)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"child {what} failed:\n{proc.stderr}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["db_mb"] = sum(f.stat().st_size for f in work.rglob("*") if f.is_file()) / 2**20
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", metavar="DIR", help="keep (and reuse) the generated inputs in DIR")
    ap.add_argument("--lines", type=int, default=1_000_000, help="records / physical lines per input (default 1,000,000)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    if (args := ap.parse_args()).child:
        return child(*args.child)

    import duckdb

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"machine: nproc={os.cpu_count()} ({cpu}), python {platform.python_version()}, duckdb {duckdb.__version__}, "
          f"RAM {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GB, load avg {os.getloadavg()[0]:.2f}")
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="crashlens-bench-", dir="/tmp"))
    base.mkdir(parents=True, exist_ok=True)
    n = args.lines
    jsonl, text = base / f"logs-{n}.jsonl", base / f"logs-{n}.log"
    jsonl_bad = base / f"logs-{n}-1pct-bad.jsonl"
    access = base / f"access-{n}.log"
    try:
        t0 = time.perf_counter()
        _ = jsonl.exists() or gen_jsonl(jsonl, n)
        _ = text.exists() or gen_text(text, n)
        _ = jsonl_bad.exists() or gen_jsonl_with_bad(jsonl, jsonl_bad)
        _ = access.exists() or gen_access(access, n)
        with open(text, "rb") as fh:  # records = lines starting with a timestamp (also right when reused)
            records = sum(1 for ln in fh if ln[:2] == b"20")
        print(f"inputs in {base} ({time.perf_counter() - t0:.1f}s): {jsonl.name} {jsonl.stat().st_size / 2**20:.0f} MB "
              f"({jsonl.stat().st_size / n:.0f} B/record), {text.name} {text.stat().st_size / 2**20:.0f} MB "
              f"({n:,} lines, {records:,} records, {(n - records) / n:.1%} stack-trace continuation lines)\n")
        ref = run_child("duckdb", jsonl, base)
        print(f"duckdb read_json   : {ref['seconds']:.2f}s  {ref['loaded']:,} rows  maxrss {ref['maxrss_mb']:.0f} MB  db {ref['db_mb']:.0f} MB")
        cj = run_child("jsonl", jsonl, base)
        print(f"crashlens jsonl    : {cj['seconds']:.2f}s  {cj['loaded']:,} loaded  {cj['rejected']:,} rejected  "
              f"(report.seconds {cj['report_seconds']:.2f})  maxrss {cj['maxrss_mb']:.0f} MB  db {cj['db_mb']:.0f} MB")
        cb = run_child("jsonl", jsonl_bad, base)
        print(f"crashlens jsonl 1% : {cb['seconds']:.2f}s  {cb['loaded']:,} loaded  {cb['rejected']:,} rejected, each with its line "
              f"(every 100th line cut short)  maxrss {cb['maxrss_mb']:.0f} MB")
        ca = run_child("access", access, base)
        print(f"crashlens access   : {ca['seconds']:.2f}s  {ca['loaded']:,} loaded  {ca['rejected']:,} rejected  maxrss {ca['maxrss_mb']:.0f} MB")
        ct = run_child("text", text, base)
        print(f"crashlens text     : {ct['seconds']:.2f}s  {ct['loaded']:,} loaded (expected {records:,})  {ct['rejected']:,} rejected  "
              f"(report.seconds {ct['report_seconds']:.2f})  maxrss {ct['maxrss_mb']:.0f} MB  db {ct['db_mb']:.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    ratio, lps = cj["seconds"] / ref["seconds"], n / ct["seconds"]
    rows = [
        ("JSONL ingest time", f"{cj['seconds']:.2f}s", f"DuckDB read_json {ref['seconds']:.2f}s", f"ratio {ratio:.2f}x",
         "CrashLens within 2x of DuckDB's own load", ratio <= 2.0),
        ("JSONL, 1% malformed", f"{cb['seconds']:.2f}s", f"DuckDB read_json {ref['seconds']:.2f}s", f"ratio {cb['seconds'] / ref['seconds']:.2f}x",
         f"{cb['rejected']:,} rejects reported", cb["rejected"] == n // 100 and cb["loaded"] == n - n // 100),
        ("text lines/s", f"{lps:,.0f}", f"{ct['loaded']:,} records", f"{n:,} lines / {ct['seconds']:.2f}s",
         ">= 250,000 lines/s", lps >= 250_000),
        ("access log lines/s", f"{n / ca['seconds']:,.0f}", "nginx combined format", f"{n:,} lines / {ca['seconds']:.2f}s",
         "(no target; every line loaded)", ca["loaded"] == n and ca["rejected"] == 0),
        ("peak RSS jsonl", f"{cj['maxrss_mb']:.0f} MB", f"DuckDB {ref['maxrss_mb']:.0f} MB", "", "< 1 GB", cj["maxrss_mb"] < 1024),
        ("peak RSS text", f"{ct['maxrss_mb']:.0f} MB", "", "", "< 1 GB", ct["maxrss_mb"] < 1024),
    ]
    print("\nfigure               crashlens      reference                  detail                      target                                    result")
    for name, mine, refv, detail, target, ok in rows:
        print(f"{name:<20} {mine:<14} {refv:<26} {detail:<27} {target:<41} {'PASS' if ok else 'FAIL  <<<'}")
    if ratio > 2.0:
        print(f"\nFAIL: JSONL ingest is {ratio:.2f}x DuckDB's load; target 2x needs <= {2 * ref['seconds']:.2f}s "
              f"({cj['seconds'] - 2 * ref['seconds']:.2f}s over)")
    if lps < 250_000:
        print(f"FAIL: text ingest {lps:,.0f} lines/s is {1 - lps / 250_000:.0%} short of 250,000 lines/s "
              f"(needs <= {n / 250_000:.2f}s, took {ct['seconds']:.2f}s)")
    for label, r in (("jsonl", cj), ("text", ct)):
        if r["maxrss_mb"] >= 1024:
            print(f"FAIL: peak RSS of the {label} run is {r['maxrss_mb']:.0f} MB, {r['maxrss_mb'] - 1024:.0f} MB over 1 GB")


if __name__ == "__main__":
    main()
