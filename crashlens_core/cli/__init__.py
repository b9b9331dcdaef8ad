"""The ``crashlens`` command: a thin face over the core, as DESIGN.md's contract says.

Every subcommand has ``--help``; ``--json`` prints one JSON document (or JSON Lines where a
subcommand streams) on stdout; a ``CrashLensError`` becomes one line on stderr and exit 2.

One module per subcommand family, each with ``register(sub, common)`` adding its parser(s);
``COMMANDS`` below is the order they appear in ``--help``. Heavy imports stay inside the
command functions so ``crashlens --help`` loads no duckdb, arrow or torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .. import __version__
from ..errors import CrashLensError as _CrashLensError
from ._common import EXIT_USER_ERROR

__all__ = ["main", "build_parser", "EXIT_USER_ERROR", "COMMANDS"]

COMMANDS = ("ingest", "batches", "incidents", "templates", "compare", "logs", "simulate", "redact", "kpi", "bundle", "frames",
            "rca", "index", "search", "traces", "serve", "pull", "sources")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS,
                        help="workspace folder (default: $CRASHLENS_HOME or ./data/workspace)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output on stdout")

    parser = argparse.ArgumentParser(prog="crashlens", parents=[common],
                                     description="CrashLens: incidents and crashes, from logs, traces, metrics, code and runbooks to a cited RCA.")
    parser.add_argument("--version", action="version", version=f"crashlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USER_ERROR
    args.json = getattr(args, "json", False)
    try:
        return int(args.func(args) or 0)
    except _CrashLensError as exc:
        sys.stderr.write(f"crashlens: {exc.one_line()}\n")
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `crashlens … | head`: the reader has what it wanted
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("crashlens: interrupted; the current batch was rolled back\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
