"""`crashlens templates [FILE|-] --jsonl`: mine log templates from one message per line."""

from __future__ import annotations

import argparse
import json
import sys


def cmd_templates(args: argparse.Namespace) -> int:
    from ..signals.templates import templates_jsonl

    if args.file in (None, "-"):
        lines = sys.stdin
        for row in templates_jsonl(line.rstrip("\r\n") for line in lines):
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    from ..ingest.source import Source

    source = Source.from_path(args.file)
    for row in templates_jsonl(text for _, text in source.lines()):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0




def register(sub, common):
    tpl = sub.add_parser("templates", parents=[common], help="mine log templates from messages, one per input line",
                         description="Read one log message per line (a file, gzip welcome, or - for stdin) and print, "
                                     "for each input line in order, {\"template_id\", \"template\"} as JSON Lines.")
    tpl.add_argument("file", nargs="?", metavar="FILE|-", help="input file; - or nothing reads stdin")
    tpl.add_argument("--jsonl", action="store_true", help="JSON Lines output (the only output form; accepted for the contract)")
    tpl.set_defaults(func=cmd_templates)
