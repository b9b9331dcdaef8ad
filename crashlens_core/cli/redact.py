"""`crashlens redact [FILE|-]`: the text with secrets and PII masked, exactly one output line per input line."""

from __future__ import annotations

import argparse
import io
import json
import sys


def cmd_redact(args: argparse.Namespace) -> int:
    from ..redact import Redactor, redact_lines
    from ._common import settings_for

    redactor = Redactor(settings_for(args))
    if args.file in (None, "-"):
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="")
        lines = (line.rstrip("\r\n") for line in stream)
    else:
        from ..ingest.source import Source

        lines = (text for _, text in Source.from_path(args.file).lines())
    out = sys.stdout
    for line in redact_lines(lines, redactor):
        out.write(line + "\n")
    out.flush()
    if args.json:
        # stdout is the redacted text, line for line; the summary goes beside it, never into it.
        sys.stderr.write(json.dumps({"redacted": redactor.summary(), "total": sum(redactor.summary().values())}) + "\n")
    return 0


def register(sub, common):
    p = sub.add_parser("redact", parents=[common], help="mask secrets and PII in text, line for line",
                       description="Read text (a file, gzip welcome, or - for stdin) and write it with secrets "
                                   "(cloud keys, tokens, private keys, passwords, JWTs...) and PII (emails, public IPs, "
                                   "card numbers, phone numbers...) replaced by typed placeholders like "
                                   "[REDACTED:aws_key#1]: exactly one output line per input line. With --json, a "
                                   "summary {redacted: {type: count}, total} is written to stderr.")
    p.add_argument("file", nargs="?", metavar="FILE|-", help="input file; - or nothing reads stdin")
    p.set_defaults(func=cmd_redact)
