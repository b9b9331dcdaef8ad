"""`crashlens pull SOURCE --from T1 --to T2`: an incident's window and baseline from Prometheus or ClickHouse.

The source is one added with `crashlens sources add`; its credentials come from the
environment (CRASHLENS_SOURCE_<NAME>_TOKEN, or _USER and _PASSWORD), never from the workspace.
"""

from __future__ import annotations

import argparse
import os

from ._common import need, open_workspace, parse_time, print_json, progress_printer


def cmd_pull(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..pull import credentials_from, load_source, pull_source

    if args.replay:
        return _replay(args)
    if not args.source:
        raise InputError("missing argument for `crashlens pull SOURCE --from T1 --to T2`", hint="crashlens sources list")
    if args.no_baseline and (args.baseline_from or args.baseline_to):
        raise InputError("--no-baseline and --baseline-from/--baseline-to contradict each other", hint="give one of them")
    ws, settings = open_workspace(args)
    with ws:
        source = load_source(ws, args.source, settings)
        if args.selector:
            if source.kind != "prometheus":
                raise InputError("--selector is for Prometheus sources", hint="a ClickHouse source's table or SQL is set with "
                                                                             "`crashlens sources add`")
            from ..pull import make_source

            source = make_source(source.name, source.kind, source.url, {**source.config, "selector": args.selector}, settings)
        incident = ws.get_incident(args.incident) if args.incident else None
        start, end = parse_time(args.from_), parse_time(args.to)
        if incident is not None:
            start, end = start or incident.window_start, end or incident.window_end
        start = need(start, "pull SOURCE --from T1 --to T2 (or --incident ID)")
        end = need(end, "pull SOURCE --from T1 --to T2 (or --incident ID)")
        baseline = None
        if not args.no_baseline:
            from ..signals.compare import default_baseline

            b0, b1 = default_baseline(start, end)
            baseline = (parse_time(args.baseline_from) or b0, parse_time(args.baseline_to) or b1)
        result = pull_source(ws, settings, source, start, end, credentials=credentials_from(source.name, os.environ),
                             baseline=baseline, incident=incident, services=args.service, detect=not args.no_detect,
                             progress=progress_printer(not args.json))
    if args.json:
        print_json(result.to_json())
        return 0
    for o in result.ranges:
        _print_outcome(result.source, o)
    if result.signals:
        print(result.signals)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ..pull import replay_pull
    from ..store.pulls import pull_record_digest

    ws, settings = open_workspace(args)
    with ws:
        outcomes = [replay_pull(ws, settings, pull_record_digest(ws, d)) for d in args.replay]
    if args.json:
        print_json([o.to_json() for o in outcomes])
        return 0
    for o in outcomes:
        _print_outcome("replayed", o)
    return 0


def _print_outcome(source: str, o) -> None:
    r = o.report
    print(f"{source} {o.role} {o.start:%Y-%m-%d %H:%M:%S} → {o.end:%Y-%m-%d %H:%M:%S}: {o.rows:,} rows, "
          f"{r.loaded:,} loaded, {r.rejected:,} rejected ({o.seconds:.2f} s), record {o.record_digest[:12]}")
    for e in r.errors[:10]:
        print(f"  line {e.line}: {e.reason}" if e.line is not None else f"  {e.reason}")
    if r.note:
        print(f"  note: {r.note}")


def register(sub, common):
    p = sub.add_parser("pull", parents=[common], help="pull a window (and its baseline) from a Prometheus or ClickHouse source",
                       description="Ask a source added with `crashlens sources add` for the window and its baseline (default: "
                                   "the same length just before), ingest the answer as one batch per range through the same "
                                   "parsers as files, and record each pull (source, query, range, rows, digest of the raw "
                                   "answer) as an artifact that `bundle export` includes. Credentials come from "
                                   "CRASHLENS_SOURCE_<NAME>_TOKEN or _USER/_PASSWORD; hosts must be on "
                                   "CRASHLENS_PULL_ALLOWED_HOSTS (loopback by default).")
    p.add_argument("source", metavar="SOURCE", nargs="?", help="the source's name (see `crashlens sources list`)")
    p.add_argument("--from", dest="from_", metavar="T1", help="window start (ISO 8601; naive = UTC)")
    p.add_argument("--to", metavar="T2", help="window end (ISO 8601)")
    p.add_argument("--baseline-from", metavar="T3", help="baseline start (default: the window's length before it)")
    p.add_argument("--baseline-to", metavar="T4", help="baseline end (default: the window start)")
    p.add_argument("--no-baseline", action="store_true", help="pull the window only")
    p.add_argument("--incident", metavar="ID", help="pull for this incident: its window (unless --from/--to) and services; "
                                                    "the pull goes into its bundle")
    p.add_argument("--service", action="append", metavar="NAME", help="a service the selector's {services} stands for (repeatable)")
    p.add_argument("--selector", metavar="PROMQL", help="this pull's PromQL instead of the source's (Prometheus sources)")
    p.add_argument("--no-detect", action="store_true", help="label templates and fingerprints but do not open incidents")
    p.add_argument("--replay", nargs="+", metavar="RECORD", help="instead of asking a source, ingest recorded pulls again "
                   "from their raw answers (record digests or prefixes, e.g. after `bundle import`), offline")
    p.set_defaults(func=cmd_pull)
