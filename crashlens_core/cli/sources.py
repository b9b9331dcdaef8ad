"""`crashlens sources add|list|test|remove`: the named Prometheus / ClickHouse sources `crashlens pull` reads.

The workspace keeps a source's kind, URL and query settings; its credentials stay in the
environment (CRASHLENS_SOURCE_<NAME>_TOKEN, or _USER and _PASSWORD).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._common import open_workspace, print_json


def _config(args: argparse.Namespace) -> dict:
    from ..pull.sources import parse_settings

    config = parse_settings(args.set)
    for key in ("selector", "service_label", "step_s", "signal", "table", "sql"):
        value = getattr(args, key, None)
        if value not in (None, ""):
            config[key] = value
    if args.column:
        config.setdefault("columns", {}).update(parse_settings(args.column).get("columns", {}))
        unknown = [c for c in args.column if c.partition("=")[0].removeprefix("col.") not in config["columns"]]
        if unknown:
            from ..errors import InputError
            from ..pull.sources import LOG_FIELDS, SPAN_FIELDS

            raise InputError(f"--column {unknown[0]!r} names no log or span field",
                             hint=f"FIELD=COLUMN with FIELD one of {', '.join(dict.fromkeys(LOG_FIELDS + SPAN_FIELDS))}")
    return config


def cmd_sources(args: argparse.Namespace) -> int:
    from ..pull import credentials_from, load_source, make_source, check_source
    from ..pull.sources import credential_names
    from ..store import pulls

    action = args.action
    out: Any
    # writable even to list or test: opening applies the workspace's pending migrations (the sources table)
    ws, settings = open_workspace(args)
    with ws:
        if action == "add":
            source = make_source(args.name, args.kind, args.url, _config(args), settings)
            pulls.save_source(ws, source.name, source.kind, source.url, source.config)
            out = source.to_json()
        elif action == "remove":
            pulls.delete_source(ws, args.name)
            out = {"removed": args.name}
        elif action == "list":
            out = [dict(row, credentials_from=credential_names(row["name"]),
                        credentials_set=credentials_from(row["name"], os.environ).given) for row in pulls.list_sources(ws)]
        else:
            source = load_source(ws, args.name, settings)
            out = check_source(settings, source, credentials_from(source.name, os.environ))
    if args.json:
        print_json(out)
        return 0
    if action == "add":
        print(f"source {out['name']} ({out['kind']}) {out['url']} saved; credentials, if it needs any, from "
              f"{out['credentials_from'][0]} or {out['credentials_from'][1]}/_PASSWORD")
    elif action == "remove":
        print(f"source {args.name} removed")
    elif action == "list":
        for row in out:
            what = row["config"].get("selector") or row["config"].get("table") or row["config"].get("sql") or "default selector"
            print(f"{row['name']:<16} {row['kind']:<11} {row['url']:<32} {str(what)[:60]}  "
                  f"credentials: {'set' if row['credentials_set'] else 'none'}")
        if not out:
            print("no sources; add one with `crashlens sources add NAME --kind prometheus --url http://127.0.0.1:9090`")
    else:
        version = f", version {out['version']}" if out.get("version") else ""
        print(f"source {out['source']}: ok in {out['seconds']:.3f} s{version}, credentials: {out['credentials']}")
    return 0


def register(sub, common):
    s = sub.add_parser("sources", parents=[common], help="named Prometheus / ClickHouse sources for `crashlens pull`",
                       description="Add, list, test and remove the sources `crashlens pull` reads. The workspace keeps a "
                                   "source's kind, URL and query, never its credentials.")
    actions = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="add or replace a source")
    add.add_argument("name", metavar="NAME", help="letters, digits, '.', '-', '_' (its credentials: CRASHLENS_SOURCE_<NAME>_…)")
    add.add_argument("--kind", required=True, choices=("prometheus", "clickhouse"), help="the server's kind")
    add.add_argument("--url", required=True, help="base URL without credentials, e.g. http://127.0.0.1:9090 or :8123")
    add.add_argument("--selector", help="Prometheus: PromQL; {services} becomes the incident's services "
                                        "(default {service=~\"{services}\"} over --service-label)")
    add.add_argument("--service-label", dest="service_label", help="Prometheus: the label that names a service (default service)")
    add.add_argument("--step", dest="step_s", type=float, metavar="SECONDS", help="Prometheus: query_range step (default 15)")
    add.add_argument("--signal", choices=("logs", "spans"), help="ClickHouse: what the table or SQL holds (default logs)")
    add.add_argument("--table", help="ClickHouse: db.table to read, with --column mappings")
    add.add_argument("--column", action="append", metavar="FIELD=COLUMN",
                     help="ClickHouse table: the column of a field, e.g. ts=event_time message=body (repeatable)")
    add.add_argument("--sql", help="ClickHouse: your SELECT with {from} and {to} where the window goes")
    add.add_argument("--set", action="append", metavar="KEY=VALUE", help="any source setting as key=value (repeatable)")
    add.set_defaults(func=cmd_sources)
    for name, text in (("list", "the sources, and whether their credentials are set"),
                       ("test", "reach a source and run its smallest query"), ("remove", "forget a source")):
        a = actions.add_parser(name, parents=[common], help=text)
        if name != "list":
            a.add_argument("name", metavar="NAME")
        a.set_defaults(func=cmd_sources)
