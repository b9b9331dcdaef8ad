"""`crashlens batches list | delete ID [--json]`: what was ingested, and undoing one ingest."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import open_workspace, print_json


def _row(b: dict[str, Any]) -> str:
    when = b["finished_ts"].isoformat(sep=" ", timespec="seconds") if b["finished_ts"] else "—"
    return f"{b['id']:>5}  {b['kind']:<8} {b['format']:<8} {b['loaded']:>9,} loaded {b['rejected']:>7,} rejected  {when}  {b['path']}"


def cmd_batches_list(args: argparse.Namespace) -> int:
    ws, _ = open_workspace(args, read_only=True)
    with ws:
        batches = ws.list_batches(limit=args.limit)
    if args.json:
        print_json(batches)
        return 0
    if not batches:
        print("no ingest batches yet")
    for b in batches:
        print(_row(b))
    return 0


def cmd_batches_delete(args: argparse.Namespace) -> int:
    from ..store.undo import delete_batch

    ws, _ = open_workspace(args)
    with ws:
        out = delete_batch(ws, args.id)
    if args.json:
        print_json(out)
        return 0
    r = out["removed"]
    print(f"deleted batch {out['batch']} ({out['kind']}, {out['path']}): {r['logs']:,} log lines, {r['spans']:,} spans, "
          f"{r['metrics']:,} metric samples, {r['changes']:,} changes; {r['templates_dropped']} templates and "
          f"{r['fingerprints_dropped']} exception groups left with no lines were dropped; "
          f"{len(out['incidents_deleted'])} incidents only it produced were deleted")
    return 0


def register(sub, common):
    b = sub.add_parser("batches", parents=[common], help="list ingest batches, or delete one (undo an upload)",
                       description="List what was ingested (newest first), or delete one batch: its rows, its share of the "
                                   "template and exception-group counts, and the detected incidents only it produced.")
    bsub = b.add_subparsers(dest="batches_command", metavar="ACTION", required=True)
    ls = bsub.add_parser("list", parents=[common], help="the ingest batches, newest first")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.set_defaults(func=cmd_batches_list)
    rm = bsub.add_parser("delete", parents=[common], help="delete one batch and what only it brought")
    rm.add_argument("id", type=int, metavar="ID", help="the batch id (`crashlens batches list`)")
    rm.set_defaults(func=cmd_batches_delete)
