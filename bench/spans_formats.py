"""Parse every trace file in ../shared/data/traces (and the Nezha trace CSVs) and print figures.

Per file: the detected format, spans parsed, rejects, seconds, and the span-graph flags
(orphan / duplicate_id / cycle / too_deep). Files that are not spans (OTLP logs, READMEs)
print why detection refused them; OTLP metrics files are parsed as metrics instead.

Zipkin fragments: every Zipkin file is also re-reported the way a tracer may send it (each
span as two parts, one with the timestamp, one with duration, tags and annotations, in a
shuffled order); the merged rows must equal the rows of the original file. The naive
reference takes each part as a span (and loses every part without a timestamp).

    .venv/bin/python bench/spans_formats.py
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crashlens_core.errors import InputError  # noqa: E402
from crashlens_core.ingest.metrics import detect_metric_format, parse_metrics  # noqa: E402
from crashlens_core.ingest.source import Source  # noqa: E402
from crashlens_core.ingest.spangraph import span_graph_flags  # noqa: E402
from crashlens_core.ingest.spans import detect_span_format, parse_spans  # noqa: E402

SHARED = ROOT.parent / "shared"
TRACES = SHARED / "data" / "traces"
NEZHA = SHARED / "data" / "rca-dev" / "nezha-trainticket" / "rca_data" / "2023-01-30" / "trace"
NEZHA_MAPPING = {
    "trace_id": "TraceID", "span_id": "SpanID", "parent_id": "ParentID", "service": "pod:PodName",
    "name": "OperationName", "start_ts": "StartTimeUnixNano", "end_ts": "EndTimeUnixNano",
}


def _split(items: list) -> tuple[list[dict], list]:
    rows = [x for x in items if isinstance(x, dict)]
    return rows, [x for x in items if not isinstance(x, dict)]


def _spans(path: Path, mapping: dict[str, str] | None = None) -> str:
    source = Source.from_path(path)
    fmt = "csv" if mapping else detect_span_format(source)
    started = time.perf_counter()
    rows, rejects = _split(list(parse_spans(source, fmt, mapping)))
    seconds = time.perf_counter() - started
    flags = Counter(f for fs in span_graph_flags((r["trace_id"], r["span_id"], r["parent_id"]) for r in rows).values()
                    for f in fs)
    extra = {
        "traces": len({r["trace_id"] for r in rows}),
        "services": len({r["service"] for r in rows if r["service"]}),
        "errors": sum(r["status"] == "error" for r in rows),
    }
    first_reject = f"  first reject: {rejects[0].line}: {rejects[0].reason}" if rejects else ""
    return (f"{fmt:<8} spans={len(rows):<6} rejects={len(rejects):<4} {extra} flags={dict(flags) or '-'} "
            f"{seconds * 1000:.1f} ms{first_reject}")


def _metrics(path: Path) -> str:
    source = Source.from_path(path)
    fmt = detect_metric_format(source)
    rows, rejects = _split(list(parse_metrics(source, fmt)))
    return f"metrics {fmt}: points={len(rows)} rejects={len(rejects)} series={sorted({r['name'] for r in rows})}"


def _one(path: Path, mapping: dict[str, str] | None = None) -> str:
    try:
        return _spans(path, mapping)
    except InputError as exc:
        if "metrics" in exc.message:
            return _metrics(path)
        return f"not spans: {exc.one_line()}"


def _fragmented(spans: list[dict]) -> list[dict]:
    """Each span as a timed part (ids, kind, endpoint, timestamp) and a part with everything else."""
    parts = []
    for sp in spans:
        timed = {k: sp[k] for k in ("traceId", "id", "kind", "timestamp", "localEndpoint", "shared") if k in sp}
        parts += [timed, {k: v for k, v in sp.items() if k != "timestamp"}]
    random.Random(7).shuffle(parts)
    return parts


def _row_key(r: dict) -> tuple:
    return (r["trace_id"], r["span_id"], r["service"] or "", r["name"], r["start_ts"], r["end_ts"], r["status"],
            r["kind"] or "", r["parent_id"] or "")


def zipkin_fragments() -> None:
    files = sorted((TRACES / "zipkin").glob("*.json"))
    print(f"\nZipkin parts merged (each span re-reported as 2 shuffled parts; naive = a part is a span)")
    total = {"spans": 0, "parts": 0, "kept": 0, "naive": 0, "same": 0}
    with tempfile.TemporaryDirectory(prefix="bench-zipkin-") as tmp:
        for path in files:
            doc = json.loads(path.read_text())
            spans = [s for item in (doc if isinstance(doc, list) else [doc])
                     for s in (item if isinstance(item, list) else [item])]
            whole, _ = _split(list(parse_spans(Source.from_path(path), "zipkin")))
            frag_path = Path(tmp) / path.name
            parts = _fragmented(spans)
            frag_path.write_text(json.dumps(parts))
            merged, rejects = _split(list(parse_spans(Source.from_path(frag_path), "zipkin")))
            naive = sum(1 for p in parts if p.get("timestamp"))  # the pre-merge parser kept only timed parts
            same = sorted(map(_row_key, merged)) == sorted(map(_row_key, whole))
            shared = sum(1 for r in merged if r["attributes"].get("zipkin.shared"))
            print(f"  {path.name:<24} spans={len(spans):<4} parts={len(parts):<4} merged rows={len(merged):<4} "
                  f"rejects={len(rejects)} shared halves={shared} naive kept={naive} same rows as unfragmented: {same}")
            for key, value in (("spans", len(spans)), ("parts", len(parts)), ("kept", len(merged)), ("naive", naive),
                               ("same", int(same))):
                total[key] += value
    print(f"  all Zipkin files: {total['spans']} spans sent as {total['parts']} parts -> {total['kept']} rows kept "
          f"(naive: {total['naive']} rows without their duration, tags or annotations, and "
          f"{total['parts'] - total['naive']} parts rejected 'missing timestamp'); "
          f"rows identical to the unfragmented file in {total['same']}/{len(files)} files")


def main() -> int:
    if not TRACES.is_dir():
        print(f"no shared data at {TRACES}")
        return 1
    files = sorted(p for p in TRACES.rglob("*") if p.is_file())
    width = max(len(str(p.relative_to(TRACES))) for p in files)
    for path in files:
        print(f"{str(path.relative_to(TRACES)):<{width}}  {_one(path)}")
    zipkin_fragments()
    print(f"\nNezha Train-Ticket trace CSVs (mapping {NEZHA_MAPPING})")
    for path in sorted(NEZHA.glob("*.csv")):
        print(f"{path.name:<{width}}  {_one(path, NEZHA_MAPPING)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
