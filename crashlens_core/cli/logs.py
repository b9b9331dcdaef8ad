"""`crashlens logs query QUERY [--by KEYS] [--from T1 --to T2 | --range 1h] [--json]`: Honeycomb-style counts."""

from __future__ import annotations

import argparse

from ._common import open_workspace, parse_time, print_json


def cmd_logs_query(args: argparse.Namespace) -> int:
    from ..store.logquery import group_logs, parse_group_by, parse_log_query, search_logs
    from ..store.timerange import data_extent, resolve_range

    query, by = parse_log_query(args.query or ""), parse_group_by(args.by)
    ws, _ = open_workspace(args, read_only=True)
    with ws:
        start, end = parse_time(args.from_), parse_time(args.to)
        if args.range:
            rng = resolve_range(args.range, *data_extent(ws))
            start, end = rng.start, rng.end
        elif start is not None and end is not None:
            resolve_range("custom", None, None, start=start, end=end)  # says so when it ends before it starts
        out = group_logs(ws, query, by, start=start, end=end, limit=args.limit)
        lines = [] if by else search_logs(ws, query, start=start, end=end, limit=args.limit).to_dict("records")
    doc = {"query": query.to_json(), "from": start, "to": end, **out}
    if not by:
        doc["lines"] = [{k: (None if v != v else v) for k, v in r.items()} for r in lines]  # NaN → null
    if args.json:
        print_json(doc)
        return 0
    print(f"{out['total']:,} matching lines" + (f" from {start:%Y-%m-%d %H:%M:%S}" if start else "")
          + (f" to {end:%Y-%m-%d %H:%M:%S}" if end else ""))
    for g in out["groups"]:
        print(f"{g['count']:>9,}  " + "  ".join(f"{k}={g[k]}" for k in out["by"]))
    for r in doc.get("lines", []):
        print(f"{r['ts']:%Y-%m-%d %H:%M:%S}  {r['level'] or '-':<5} {r['service'] or '-':<16} {str(r['message'])[:120]}")
    if out["truncated"]:
        print(f"(the {args.limit} busiest groups; --limit for more)")
    return 0


def register(sub, common):
    lg = sub.add_parser("logs", parents=[common], help="query logs: filters, and counts grouped by any field or attribute",
                        description="Filter the logs (FIELD=V, FIELD!=V, A,B for any of, KEY=V on a JSON attribute, words or "
                                    "\"phrases\" in the message) and count them per value of --by (Honeycomb-style).")
    lsub = lg.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    q = lsub.add_parser("query", parents=[common], help="count (or list) the lines a query matches",
                        description='e.g. crashlens logs query "level=ERROR" --by service,host --range 1h')
    q.add_argument("query", nargs="?", default="", help='terms joined by AND, e.g. \'service=pay level=ERROR "timed out"\'')
    q.add_argument("--by", action="append", metavar="KEYS",
                   help="group by these (comma-separated or repeated): service, host, level, template, fingerprint, "
                        "trace_id, span_id or any attribute key")
    q.add_argument("--from", dest="from_", metavar="T1", help="range start (ISO 8601; naive = UTC)")
    q.add_argument("--to", metavar="T2", help="range end, excluded (ISO 8601)")
    q.add_argument("--range", choices=("15m", "1h", "6h", "24h", "7d", "all"),
                   help="a preset counted back from the newest data in the workspace (instead of --from/--to)")
    q.add_argument("--limit", type=int, default=50, help="at most this many groups or lines (default 50)")
    q.set_defaults(func=cmd_logs_query)
