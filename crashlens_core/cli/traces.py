"""`crashlens traces summary|suspects|map|compare|metrics`: what the spans and metrics of a window say.

``summary --trace ID --json`` prints one trace's summary (critical path, error origin,
self time per service); without ``--trace`` it summarizes every trace starting in
``[--from, --to)`` with ``signals.tracestats.window_summary``: counts, self time per service,
error origins (with the blame rules the suspect ranking uses, so both name the same
service), and the worst traces.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import need, open_workspace, parse_time, print_json


def _print_summary(s: Any) -> None:
    print(f"trace {s.trace_id}  {s.root_service} {s.root_name}  {s.duration_ms:.1f} ms  {s.span_count} spans  depth {s.depth}")
    print(f"  critical path: {s.critical_path_ms:.1f} ms over {s.critical_path_spans} spans")
    for sec in s.critical_path[:20]:
        print(f"    {sec['start_ms']:>10.1f} +{sec['ms']:<9.1f} {sec['service']:<16} {sec['name']}")
    print("  self time: " + ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(s.self_time_by_service.items(), key=lambda kv: -kv[1])))
    if s.error_origin:
        o = s.error_origin
        print(f"  error origin: {o['service']} {o['name']} span:{o['span_id']} {o['exception'] or ''} {o['message'] or ''}".rstrip())
    if s.issues:
        from ..signals.tracetree import repair_text

        print("  repaired: " + "; ".join(repair_text(k, v) for k, v in s.issues.items()))


def cmd_traces(args: argparse.Namespace) -> int:
    ws, settings = open_workspace(args, read_only=False)
    start, end = parse_time(args.from_), parse_time(args.to)
    b_start, b_end = parse_time(args.baseline_from), parse_time(args.baseline_to)
    with ws:
        if args.action == "summary":
            from ..signals.traces import summarize_trace

            if args.trace:
                s = summarize_trace(ws, args.trace)
                print_json(s.to_json(with_spans=args.spans)) if args.json else _print_summary(s)
                return 0
            from ..signals.tracestats import window_summary

            out = window_summary(ws, start, end, args.limit)
            if args.json:
                print_json(out)
            else:
                print(f"{out['trace_count']:,} traces, {out['span_count']:,} spans, {out['error_traces']:,} with errors")
                for g in out["error_origins"][:10]:
                    why = f" ({g['why']}, seen in {g['via']})" if g["why"] else ""
                    print(f"  {g['count']:>6}  {g['service']} {g['name']} {g['exception'] or ''}{why}")
                for svc, ms in list(out["self_time_by_service"].items())[:10]:
                    print(f"  self time {svc:<20} {ms:,.1f} ms")
        elif args.action == "suspects":
            from ..signals.suspects import rank_suspect_services

            ranking = rank_suspect_services(ws, need(start, "traces suspects --from T1 --to T2"), need(end, "traces suspects --from T1 --to T2"),
                                            b_start, b_end, settings)
            if args.json:
                print_json([s.to_json() for s in ranking])
            else:
                for i, suspect in enumerate(ranking, 1):
                    print(f"{i:>3}. {suspect.service:<24} {suspect.score:.3f}  {'; '.join(suspect.reasons)[:150]}")
        elif args.action == "map":
            from ..signals.servicemap import service_map, service_map_change

            if b_start and b_end:
                changes = service_map_change(ws, need(start, "traces map --from T1 --to T2"), need(end, "traces map --from T1 --to T2"),
                                             b_start, b_end, by_host=args.by_host)
                print_json([c.to_json() for c in changes]) if args.json else [
                    print(f"{c.status:<8} {c.src} → {c.dst}: err {c.baseline_error_rate:.1%} → {c.error_rate:.1%}, p95 {c.baseline_p95_ms} → {c.p95_ms} ms")
                    for c in changes]
            else:
                m = service_map(ws, start, end, by_host=args.by_host)
                print_json(m.to_json()) if args.json else [
                    print(f"{e.src} → {e.dst}: {e.calls} calls, {e.error_rate:.1%} errors, p95 {e.p95_ms} ms") for e in m.edges]
        elif args.action == "compare":
            from ..signals.tracecompare import compare_trace

            c = compare_trace(ws, need(args.trace, "traces compare --trace ID"), typical=settings.trace_compare_typical)
            if args.json:
                print_json(c.to_json())
            else:
                print(f"trace {c.trace_id} ({c.duration_ms:.1f} ms) vs {c.typical_traces} typical (p50 {c.typical_duration_p50_ms} ms)")
                for d in c.differences:
                    print(f"  {d.kind:<9} {d.path}  here {d.duration_ms} ms, typical p50 {d.typical_p50_ms} ms")
        elif args.action == "metrics":
            from ..signals.metrics_anomaly import metric_anomalies
            from ..signals.suspects import default_baseline

            w_start, w_end = need(start, "traces metrics --from T1 --to T2"), need(end, "traces metrics --from T1 --to T2")
            if not (b_start and b_end):
                b_start, b_end = default_baseline(w_start, w_end)
            found = metric_anomalies(ws, w_start, w_end, b_start, b_end)
            print_json([a.to_json() for a in found[:args.limit]]) if args.json else [
                print(f"{a.score:>8.1f}  {a.evidence_id:<50} {a.describe()}") for a in found[:args.limit]]
    return 0


def register(sub, common):
    p = sub.add_parser("traces", parents=[common], help="trace summaries, suspect services, service map, trace comparison, metric anomalies",
                       description="summary: critical path, error origin and self time per service of one trace (--trace) or of "
                                   "every trace starting in [--from, --to). suspects: root-cause services for the window. map: "
                                   "services and call edges (with --baseline-*: the change per edge). compare: a trace against "
                                   "typical traces of its root operation. metrics: metric series ranked by anomaly.")
    p.add_argument("action", choices=("summary", "suspects", "map", "compare", "metrics"))
    p.add_argument("--trace", metavar="ID", help="trace id (summary, compare)")
    p.add_argument("--from", dest="from_", metavar="T1", help="window start, ISO 8601 (naive = UTC)")
    p.add_argument("--to", metavar="T2", help="window end, ISO 8601 (exclusive)")
    p.add_argument("--baseline-from", metavar="T3", help="baseline start (default: the same-length window before --from)")
    p.add_argument("--baseline-to", metavar="T4", help="baseline end")
    p.add_argument("--by-host", action="store_true", help="map: one node per service and host (host.name of the spans)")
    p.add_argument("--limit", type=int, default=20, help="traces / series listed (default 20)")
    p.add_argument("--spans", action="store_true", help="with summary --trace: include every span's row")
    p.set_defaults(func=cmd_traces)
