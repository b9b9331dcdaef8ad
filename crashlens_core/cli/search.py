"""`crashlens search QUERY... | --stdin --jsonl [--k 10] [--kind code|doc|log]`: hybrid search over the knowledge."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Iterator

from ._common import open_workspace


def cmd_search(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..knowledge.service import search

    queries: Iterator[str]
    if args.stdin:
        queries = (line.strip() for line in sys.stdin)
    elif args.query:
        queries = iter([" ".join(args.query)])
    else:
        raise InputError("no query given", hint="crashlens search 'connection reset by peer', or --stdin with one query per line")
    ws, settings = open_workspace(args)
    as_json = args.jsonl or args.json
    with ws:
        for query in queries:
            if not query:
                continue
            hits = search(ws, settings, query, k=args.k, kind=args.kind, source=args.source,
                          dense=False if args.lexical else None)
            if as_json:
                sys.stdout.write(json.dumps({"query": query, "hits": [h.to_json() for h in hits]}, ensure_ascii=False) + "\n")
                sys.stdout.flush()
                continue
            print(f"== {query}")
            if not hits:
                print("   no hits (hint: `crashlens index list` shows what is indexed)")
            for i, h in enumerate(hits, 1):
                where = f"p{h.page}" if h.page else (f"L{h.start_line}-L{h.end_line}" if h.start_line else "")
                print(f"{i:>3}. {h.score:.4f}  {h.kind:<4} {h.evidence_id}  {h.symbol}  {where if h.kind == 'log' else ''}".rstrip())
    return 0


def register(sub, common):
    p = sub.add_parser("search", parents=[common], help="hybrid search over code, runbooks and log templates",
                       description="Find the code, runbook page and log template behind an error text or a question. "
                                   "BM25 + string-literal matching + MiniLM embeddings, fused. With --jsonl: one line per "
                                   "query, {query, hits: [{kind, source, path, start_line, end_line, page, score, text}]}.")
    p.add_argument("query", nargs="*", metavar="QUERY", help="the query (words are joined)")
    p.add_argument("--stdin", action="store_true", help="read one query per line from stdin")
    p.add_argument("--jsonl", action="store_true", help="JSON Lines output, one line per query")
    p.add_argument("--k", type=int, default=10, help="hits per query (default 10)")
    p.add_argument("--kind", choices=("code", "doc", "log"), help="only this kind of hit")
    p.add_argument("--source", help="only hits from this source (a repo or PDF name)")
    p.add_argument("--lexical", action="store_true", help="BM25 and literal matching only (no model load)")
    p.set_defaults(func=cmd_search)
