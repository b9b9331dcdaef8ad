"""Traces benchmark: the figures issue 5 asks for, side by side with its targets, in one run.

1. Every file in ../shared/data/traces/ is ingested (``ingest_files(ws, "spans", [path], "auto", {})``,
   OTLP metrics/logs files as what they are) into a fresh workspace and summarized: per file
   the spans loaded, traces, max depth, critical-path length (spans and ms), and any error.
2. Throughput: N synthetic spans (default 1,000,000) in N/20 traces (random trees, 8 services,
   1% erroring spans, some orphans and clock skew) appended straight into a workspace, then
   ``summarize_traces`` over all of them. Target: >= 200,000 spans/s.
3. Nezha Train-Ticket (../shared/data/rca-dev/nezha-trainticket, one day of faults): logs and
   traces ingested through the generic CSV mappings, ``rank_suspect_services`` for the 5 minutes
   after each injection vs the day before it; the rank of the injected pod's service, how many
   of the window's error origins come from span status and how many from ERROR log lines (the
   spans of this export carry no status), and top-1 / top-3 per half of the day (tune: faults
   injected before 13:00 UTC, report: after; nothing in this module is tuned on them) next to
   a naive reference: the service whose mean self time per trace grew most.

It reports, it does not assert: exit 0.

    .venv/bin/python bench/traces.py [--spans N] [--skip-throughput]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from crashlens_core.ingest.driver import ingest_files  # noqa: E402
from crashlens_core.signals.suspects import rank_suspect_services  # noqa: E402
from crashlens_core.signals.traces import summarize_traces  # noqa: E402
from crashlens_core.signals.tracestats import window_trace_stats  # noqa: E402
from crashlens_core.store import Workspace  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
TRACES = SHARED / "traces"
NEZHA = SHARED / "rca-dev" / "nezha-trainticket"
NEZHA_SPAN_MAP = {"trace_id": "TraceID", "span_id": "SpanID", "parent_id": "ParentID", "service": "pod:PodName",
                  "name": "OperationName", "start_ts": "StartTimeUnixNano", "end_ts": "EndTimeUnixNano"}
NEZHA_LOG_MAP = {"ts": "Timestamp", "service": "pod:PodName", "host": "Node", "trace_id": "TraceID",
                 "span_id": "SpanID", "message": "Log"}


# ---------------------------------------------------------------- 1. shared trace files

def _kind_for(path: Path) -> str:
    """OTLP files say what they hold by their top-level key; everything else here is spans."""
    head = path.read_text(errors="replace")[:4096]
    if '"resourceMetrics"' in head:
        return "metrics"
    if '"resourceLogs"' in head:
        return "logs"
    return "spans"


def shared_files(base: Path) -> None:
    files = sorted(p for p in TRACES.rglob("*") if p.is_file() and p.suffix == ".json")
    print(f"\n1. ../shared/data/traces: {len(files)} JSON files (READMEs skipped)")
    print(f"   {'file':<82} {'kind':<7} {'loaded':>6} {'traces':>6} {'depth':>5} {'cp spans':>8} {'cp ms':>10}  errors")
    failures = 0
    for path in files:
        kind = _kind_for(path)
        with Workspace.open(Path(tempfile.mkdtemp(dir=base))) as ws:
            rep = ingest_files(ws, kind, [str(path)], "auto", {})[0]
            problem = "; ".join(e.reason for e in rep.errors[:2]) if rep.errors else ""
            traces = depth = cp_spans = 0
            cp_ms = 0.0
            if kind == "spans" and rep.loaded:
                try:
                    summaries = summarize_traces(ws)
                    traces = len(summaries)
                    depth = max(s.depth for s in summaries)
                    cp_spans = max(s.critical_path_spans for s in summaries)
                    cp_ms = max(s.critical_path_ms for s in summaries)
                except Exception as exc:  # report, never stop: this is what the figure is about
                    problem = f"SUMMARY FAILED: {type(exc).__name__}: {exc}"
            failures += problem.startswith("SUMMARY FAILED") or (rep.loaded == 0 and kind == "spans")
        rel = str(path.relative_to(TRACES))
        print(f"   {rel[:82]:<82} {kind:<7} {rep.loaded:>6} {traces:>6} {depth:>5} {cp_spans:>8} {cp_ms:>10.3f}  "
              f"{rep.rejected} rejected{(': ' + problem[:80]) if problem else ''}")
    print(f"   summary failures: {failures} (target 0)")


# ---------------------------------------------------------------- 2. throughput

def synthetic_spans(n_traces: int, per_trace: int, seed: int = 7) -> pa.Table:
    """Random trees: span k's parent is a random earlier span; children nest inside parents."""
    rng = np.random.default_rng(seed)
    n = n_traces * per_trace
    tr = np.repeat(np.arange(n_traces), per_trace)
    pos = np.tile(np.arange(per_trace), n_traces)
    parent_pos = np.where(pos > 0, (rng.random(n) * np.maximum(pos, 1)).astype(np.int64), -1)
    start = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    base = 1_715_680_800_000_000 + np.arange(n_traces, dtype=np.int64) * 20_000  # a trace every 20 ms
    for k in range(per_trace):
        rows = np.flatnonzero(pos == k)
        if k == 0:
            start[rows] = base
            end[rows] = base + rng.integers(5_000, 900_000, len(rows))
            continue
        prow = rows - k + parent_pos[rows]
        ps, pe = start[prow], end[prow]
        s = ps + (rng.random(len(rows)) * 0.6 * (pe - ps)).astype(np.int64)
        e = s + (rng.random(len(rows)) * (pe - s)).astype(np.int64)
        start[rows], end[rows] = s, e
    skew = rng.random(n) < 0.01  # 1% of spans shifted by up to ±50 ms (clock skew)
    start[skew] += rng.integers(-50_000, 50_000, skew.sum())
    end[skew] = np.maximum(end[skew], start[skew])
    services = np.array(["gateway", "checkout", "payments", "cart", "inventory", "auth", "search", "shipping"])
    svc = services[(tr * 3 + parent_pos.clip(0) + pos // 4) % len(services)]
    trace_ids = np.char.mod("%032x", (tr.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(1 << 62))
    span_ids = np.char.mod("%016x", (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) % np.uint64(1 << 62) + np.uint64(1))
    parent_rows = np.where(parent_pos >= 0, np.arange(n) - pos + parent_pos, -1)
    parent_ids = np.where(parent_rows >= 0, span_ids[parent_rows.clip(0)], None)
    orphan = (rng.random(n) < 0.002) & (pos > 0)
    parent_ids[orphan] = "ffffffffffffffff"
    status = np.where(rng.random(n) < 0.01, "error", "ok")
    return pa.table({
        "trace_id": pa.array(trace_ids.tolist()), "span_id": pa.array(span_ids.tolist()),
        "parent_id": pa.array(parent_ids.tolist(), pa.string()), "service": pa.array(svc.tolist()),
        "name": pa.array(np.char.add("op-", (pos % 7).astype(str)).tolist()),
        "kind": pa.array(np.where(pos % 2 == 0, "server", "client").tolist()),
        "start_ts": pa.array(start, pa.timestamp("us")), "end_ts": pa.array(end, pa.timestamp("us")),
        "duration_ms": pa.array((end - start) / 1000.0), "status": pa.array(status.tolist()),
    })


def throughput(base: Path, n_spans: int) -> None:
    per_trace = 20
    n_traces = max(n_spans // per_trace, 1)
    print(f"\n2. throughput: {n_traces * per_trace:,} synthetic spans in {n_traces:,} traces")
    t0 = time.perf_counter()
    tbl = synthetic_spans(n_traces, per_trace)
    with Workspace.open(base / "synthetic") as ws:
        ws.append_rows("spans", tbl)
        ws.checkpoint()
        print(f"   generated and stored in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        summaries = summarize_traces(ws)
        seconds = time.perf_counter() - t0
    rate = n_traces * per_trace / seconds
    print(f"   summarize_traces: {len(summaries):,} traces in {seconds:.2f} s = {rate:,.0f} spans/s   "
          f"(target >= 200,000 spans/s: {'met' if rate >= 200_000 else 'NOT met'})")
    errs = sum(1 for s in summaries if s.error_origin)
    print(f"   traces with an error origin: {errs:,}; with a synthetic root: "
          f"{sum(1 for s in summaries if s.issues.get('missing_root')):,}")


# ---------------------------------------------------------------- 3. Nezha RCA rank

def nezha(base: Path) -> None:
    day = NEZHA / "rca_data" / "2023-01-30"
    faults = json.loads((day / "2023-01-30-fault_list.json").read_text())
    print(f"\n3. Nezha Train-Ticket {day.name}")
    with Workspace.open(base / "nezha") as ws:
        t0 = time.perf_counter()
        loaded = {}
        for kind, folder, mapping in (("spans", "trace", NEZHA_SPAN_MAP), ("logs", "log", NEZHA_LOG_MAP),
                                      ("metrics", "metric", None)):
            paths = sorted(str(p) for p in (day / folder).glob("*.csv")) if (day / folder).is_dir() else []
            reps = ingest_files(ws, kind, paths, "csv", mapping) if paths else []
            loaded[kind] = (sum(r.loaded for r in reps), sum(r.rejected for r in reps))
        print(f"   ingested in {time.perf_counter() - t0:.1f} s: " + ", ".join(
            f"{k} {v[0]:,} loaded / {v[1]:,} rejected" for k, v in loaded.items())
              + ("" if loaded["metrics"][0] else "  (this fault window ships no metric files)"))
        lo, hi = ws.con.execute("SELECT min(start_ts), max(start_ts) FROM spans").fetchall()[0]
        results: list[tuple[str, int | None, int | None]] = []
        for hour in sorted(faults):
            for fault in faults[hour]:
                # inject_timestamp is Unix seconds (inject_time prints the same instant in UTC)
                inject_utc = datetime(1970, 1, 1) + timedelta(seconds=int(fault["inject_timestamp"]))
                if not (lo <= inject_utc <= hi):
                    continue
                from crashlens_core.ingest.normalize import pod_to_service

                truth = pod_to_service(fault["inject_pod"])
                start, end = inject_utc, min(hi + timedelta(seconds=1), inject_utc + timedelta(minutes=5))
                t1 = time.perf_counter()
                ranking = rank_suspect_services(ws, start, end, lo, inject_utc)
                seconds = time.perf_counter() - t1
                names = [s.service for s in ranking]
                rank = names.index(truth) + 1 if truth in names else None
                now, before = window_trace_stats(ws, start, end), window_trace_stats(ws, lo, inject_utc)
                naive = _naive_rank(now, before, truth)
                half = "tune" if inject_utc.hour < 13 else "report"
                results.append((half, rank, naive))
                by_source = {}
                for g in now["origins"]:
                    by_source[g.get("error_from") or "status"] = by_source.get(g.get("error_from") or "status", 0) + g["count"]
                print(f"   fault {fault['inject_type']} on {fault['inject_pod']} at {inject_utc} UTC "
                      f"(baseline {lo:%H:%M:%S}…{inject_utc:%H:%M:%S}, window …{end:%H:%M:%S}):")
                print(f"   rank of {truth}: {rank} of {len(names)}  ({seconds:.2f} s)   naive rank {naive}   "
                      f"error origins by source: {by_source or '-'}")
                for i, s in enumerate(ranking[:5], 1):
                    print(f"     {i}. {s.service:<32} {s.score:.3f}  {'; '.join(s.reasons)[:110]}")
        _halves(results)


def _naive_rank(now: dict, before: dict, truth: str) -> int | None:
    """Rank of ``truth`` when services are ordered by the growth of their mean self time per trace."""
    if not now["traces"] or not before["traces"]:
        return None
    growth = {s: v / now["traces"] - before["self_ms"].get(s, 0.0) / before["traces"] for s, v in now["self_ms"].items()}
    names = sorted(growth, key=lambda s: -growth[s])
    return names.index(truth) + 1 if truth in names else None


def _halves(results: list[tuple[str, int | None, int | None]]) -> None:
    for half in ("tune", "report"):
        rows = [r for r in results if r[0] == half]
        if not rows:
            continue
        def top(k: int, i: int) -> int:
            return sum(1 for r in rows if r[i] is not None and r[i] <= k)
        print(f"   {half:<6} half: {len(rows)} faults  top-1 {top(1, 1)}/{len(rows)}  top-3 {top(3, 1)}/{len(rows)}   "
              f"naive (self-time growth) top-1 {top(1, 2)}/{len(rows)}  top-3 {top(3, 2)}/{len(rows)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=1_000_000, help="synthetic spans for the throughput run")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    import duckdb

    print(f"machine: nproc={os.cpu_count()}, python {platform.python_version()}, duckdb {duckdb.__version__}")
    with tempfile.TemporaryDirectory(prefix="bench-traces-") as tmp:
        base = Path(tmp)
        if TRACES.is_dir():
            shared_files(base)
        if not args.skip_throughput:
            throughput(base, args.spans)
        if NEZHA.is_dir():
            nezha(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
