"""`crashlens compare`: an incident window against its baseline, dimension by dimension."""

from __future__ import annotations

import argparse

from ._common import need, open_workspace, parse_time, print_json


def cmd_compare(args: argparse.Namespace) -> int:
    from ..signals.compare import compare_windows

    ws, settings = open_workspace(args)
    with ws:
        start, end = parse_time(args.from_), parse_time(args.to)
        if args.incident:
            inc = ws.get_incident(args.incident)
            start, end = start or inc.window_start, end or inc.window_end
        start = need(start, "compare --from T1 --to T2 (or --incident ID)")
        end = need(end, "compare --from T1 --to T2 (or --incident ID)")
        cmp = compare_windows(ws, start, end, parse_time(args.baseline_from), parse_time(args.baseline_to),
                              focus=args.focus, top_values=args.top, settings=settings)
    if args.json:
        print_json(cmp.to_json())
        return 0
    print(f"window {cmp.window[0]:%Y-%m-%d %H:%M:%S} → {cmp.window[1]:%H:%M:%S}   "
          f"baseline {cmp.baseline[0]:%Y-%m-%d %H:%M:%S} → {cmp.baseline[1]:%H:%M:%S}   focus: {cmp.focus}")
    for d in cmp.dimensions[:args.dimensions]:
        print(f"\n{d.dimension} ({d.source})  score {d.score:.2f}")
        for v in d.values[:5]:
            lift = "new" if v.lift is None else f"x{v.lift:.1f}"
            label = (v.label or str(v.value))[:70]
            print(f"  {label:<70} {v.incident_share:6.1%} vs {v.baseline_share:6.1%}  {lift}")
    for title, items in (("new templates", cmp.new_templates), ("elevated templates", cmp.elevated_templates)):
        if items:
            print(f"\n{title}:")
            for t in items[:8]:
                print(f"  {t.incident_count:>6} (baseline {t.baseline_count:>5})  x{t.rate_ratio:<6.1f} {t.template[:90]}")
    if cmp.suspects:
        print("\nsuspect services (traces and metrics):")
        for s in cmp.suspects[:5]:
            print(f"  {s.get('service')}  score {s.get('score', 0):.2f}")
    return 0


def register(sub, common):
    p = sub.add_parser("compare", parents=[common], help="what differs in a window from its baseline (BubbleUp-style)",
                       description="Rank every dimension (service, host, level, template, fingerprint, each JSON attribute; "
                                   "span operation, status and latency) by how differently its values are distributed in "
                                   "the window than in the baseline (default: the same length just before), and list new "
                                   "and elevated templates.")
    p.add_argument("--from", dest="from_", metavar="T1", help="window start (ISO 8601; naive = UTC)")
    p.add_argument("--to", metavar="T2", help="window end (ISO 8601)")
    p.add_argument("--baseline-from", metavar="T3", help="baseline start (default: the window's length before it)")
    p.add_argument("--baseline-to", metavar="T4", help="baseline end (default: the window start)")
    p.add_argument("--incident", metavar="ID", help="use this incident's window (a unique id prefix is enough)")
    p.add_argument("--focus", choices=("all", "errors"), default="all",
                   help="errors: compare the window's ERROR/FATAL logs and error spans with everything in the baseline")
    p.add_argument("--top", type=int, default=8, help="values listed per dimension (default 8)")
    p.add_argument("--dimensions", type=int, default=8, help="dimensions printed in text form (default 8)")
    p.set_defaults(func=cmd_compare)
