"""`crashlens ingest logs|spans|metrics|changes`: load files, one batch per file, with per-line reports."""

from __future__ import annotations

import argparse
import sys

from ._common import EXIT_USER_ERROR, print_json, open_workspace, progress_printer


def cmd_ingest(args: argparse.Namespace) -> int:
    if getattr(args, "follow", False):
        if getattr(args, "pattern", None) is not None:
            from ..errors import InputError

            raise InputError("--pattern is not read in --follow mode yet", hint="ingest the file with --pattern, or follow it "
                                                                                 "with a built-in --format")
        return cmd_follow(args)
    if any(getattr(args, k, None) for k in ("interval", "batch_lines", "from_end", "no_notify")):
        from ..errors import InputError

        raise InputError("--interval, --batch-lines, --from-end and --no-notify only apply to --follow", hint="add --follow")
    from ..ingest import ingest_files

    from ..ingest import parse_map

    mapping = parse_map(args.map)
    defaults = {k: v for k, v in (("service", args.service), ("host", args.host)) if v}
    ws, settings = open_workspace(args)
    with ws:
        reports = ingest_files(ws, args.kind, args.files, args.format, mapping, defaults=defaults, settings=settings,
                               progress=progress_printer(not args.json), pattern=getattr(args, "pattern", None))
        signals = None
        if args.kind in ("logs", "spans") and any(r.loaded for r in reports):
            from ..signals.refresh import refresh_signals

            signals = refresh_signals(ws, settings, detect=not args.no_detect)
    failed = [r for r in reports if r.note == "file not ingested"]
    if args.json:  # JSON Lines: one report per file, the same shape for one file or many
        for r in reports:
            print_json(r.to_json())
    else:
        for r in reports:
            if r in failed:
                continue
            if r.skipped:
                print(f"{r.path}: skipped, {r.note}")
                continue
            print(f"{r.path} [{r.format}]: {r.loaded:,} loaded, {r.rejected:,} rejected ({r.seconds:.2f} s)")
            for e in r.errors[:10]:
                print(f"  {r.path}:{e.line}: {e.reason}" if e.line is not None else f"  {r.path}: {e.reason}")
            if len(r.errors) > 10 or r.rejected > len(r.errors):
                print(f"  … {r.rejected - min(len(r.errors), 10):,} more rejected lines (use --json for the list)")
            if r.note:
                print(f"  note: {r.note}")
            for w in r.warnings:
                print(f"  warning: {w}")
    if signals is not None and not args.json:  # --json stdout stays one report per file
        print(signals.summary())
        for inc in (signals.detection.created if signals.detection else []):
            print(f"  new incident {inc.id[:8]} {inc.severity} {inc.title}")
    return _exit_code(failed, len(reports))


def cmd_ingest_changes(args: argparse.Namespace) -> int:
    """`ingest changes`: deploys, commits, flags, config changes (files, or a repository's history)."""
    from ..ingest.changes import ingest_changes, parse_change_map
    from ..knowledge.gitchanges import git_reader

    mapping = parse_change_map(args.map)
    defaults = {"service": args.service} if args.service else {}
    ws, _settings = open_workspace(args)
    with ws:
        reports = ingest_changes(ws, args.files, args.format, mapping, defaults=defaults,
                                 git_reader=git_reader(service=args.service, max_count=args.max_commits))
    failed = [r for r in reports if r.note == "file not ingested"]
    for r in reports:
        if args.json:
            print_json(r.to_json())
        elif r not in failed:
            print(f"{r.path}: skipped, {r.note}" if r.skipped else
                  f"{r.path} [{r.format}]: {r.loaded:,} change events, {r.rejected:,} rejected")
            for e in r.errors[:10]:
                print(f"  {r.path}:{e.line}: {e.reason}")
            if r.note and not r.skipped:
                print(f"  note: {r.note}")
    return _exit_code(failed, len(reports))


def cmd_follow(args: argparse.Namespace) -> int:
    """`ingest logs --follow`: keep ingesting appended lines, one output line per batch, until Ctrl-C."""
    import signal

    from ..ingest import parse_map
    from ..live.follow import Follower
    from ._common import settings_for

    settings = settings_for(args)
    defaults = {k: v for k, v in (("service", args.service), ("host", args.host)) if v}
    follower = Follower(args.files, settings, fmt=args.format, mapping=parse_map(args.map), defaults=defaults,
                        interval=args.interval, batch_lines=args.batch_lines, from_end=args.from_end,
                        detect=not args.no_detect, notify=not args.no_notify)
    # `kill` and `docker stop` send SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.stderr.write(f"following {len(follower.files)} file(s) into {settings.workspace}, a batch every "
                     f"{follower.interval:g} s or {follower.batch_lines:,} lines (Ctrl-C to stop)\n")

    def show(batch) -> None:
        if args.json:
            print_json(batch.to_json())
        else:
            from datetime import datetime

            print(f"{datetime.now():%H:%M:%S} {batch.summary()}")
        sys.stdout.flush()

    done = follower.run(show)
    sys.stderr.write(done.summary() + "\n")
    return 0


def register(sub, common):
    ingest = sub.add_parser("ingest", parents=[common], help="load logs, spans, metrics or change events into the workspace",
                            description="Load files into the workspace; each file is one batch, reported with its rejected lines.")
    ingest_sub = ingest.add_subparsers(dest="kind", metavar="KIND")
    ingest_sub.required = True
    from ..ingest.driver import FORMAT_CHOICES

    for kind, text in (("logs", "log files"), ("spans", "trace spans"), ("metrics", "metric samples")):
        p = ingest_sub.add_parser(kind, parents=[common], help=f"ingest {text}",
                                  description=f"Ingest {text}. Gzip files are read transparently; the same content twice adds nothing.")
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument("--format", default="auto", choices=("auto", *FORMAT_CHOICES[kind]), help="input format (default: detect)")
        p.add_argument("--map", action="append", metavar="COL=FIELD", help="map a CSV column to a field, e.g. --map TraceID=trace_id "
                       "(prefix the column with pod: to turn a Kubernetes pod name into its service)")
        if kind == "logs":
            p.add_argument("--pattern", metavar="REGEX|GROK",
                           help="your own line format: a regex with named groups (ts, level, service, host, message, "
                                "trace_id, span_id; others become attributes), e.g. '(?P<ts>\\S+ \\S+) (?P<level>\\w+) "
                                "(?P<message>.*)', or Grok as in Logstash, e.g. '%%{TIMESTAMP_ISO8601:ts} "
                                "%%{LOGLEVEL:level} %%{GREEDYDATA:message}'; lines that do not match join the record "
                                "before them (stack traces)")
        p.add_argument("--service", help="service name for records that carry none")
        p.add_argument("--host", help="host name for records that carry none")
        p.add_argument("--tz", metavar="ZONE", help="time zone of timestamps written without an offset, e.g. Europe/Paris or "
                       "+08:00 (default: setting log_tz, UTC)")
        p.add_argument("--no-detect", action="store_true", help="label templates and fingerprints but do not run incident detection")
        if kind == "logs":
            live = p.add_argument_group("live mode", "follow files as they grow, like tail -F (rotation and truncation "
                                        "handled); ingest appended lines in batches until Ctrl-C")
            live.add_argument("--follow", action="store_true", help="keep running and ingest lines appended to FILE...; "
                              "prints one line per batch (--json: one JSON object per batch). docker:CONTAINER needs the Docker SDK")
            live.add_argument("--interval", type=float, metavar="SECONDS", help="seconds appended lines gather before they are "
                              "ingested as one batch (default: setting follow_interval_s, 2)")
            live.add_argument("--batch-lines", type=int, metavar="N", help="ingest at once when N lines are waiting "
                              "(default: setting follow_batch_lines, 5000)")
            live.add_argument("--from-end", action="store_true", help="skip what the files hold now; only appended lines "
                              "(a file followed before resumes where it stopped either way)")
            live.add_argument("--no-notify", action="store_true", help="do not post new incidents to Slack "
                              "(posted when CRASHLENS_SLACK_WEBHOOK_URL is set)")
        p.set_defaults(func=cmd_ingest)
    from ..ingest.changes import CHANGE_FIELDS, CHANGE_FORMATS

    p = ingest_sub.add_parser("changes", parents=[common], help="ingest change events: deploys, commits, flags, config",
                              description="Ingest change events (JSON arrays, JSON Lines) or a git repository's history "
                                          "(--format git PATH). The same content twice adds nothing.")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON / JSON Lines files, or repository folders")
    p.add_argument("--format", default="auto", choices=("auto", *CHANGE_FORMATS), help="input format (default: detect; "
                   "a folder with .git is read as history)")
    p.add_argument("--map", action="append", metavar="COL=FIELD",
                   help=f"read a field from another key, e.g. --map deployed=ts (fields: {', '.join(CHANGE_FIELDS)})")
    p.add_argument("--service", help="service for events that name none (with --format git: the service the repository builds)")
    p.add_argument("--max-commits", type=int, default=2000, metavar="N", help="with --format git: newest N commits (default 2000)")
    p.set_defaults(func=cmd_ingest_changes)


def _exit_code(failed: list, total: int) -> int:
    """0, or 2 with one line naming each file that could not be ingested at all."""
    if not failed:
        return 0
    sys.stderr.write(f"crashlens: {len(failed)} of {total} files could not be ingested: "
                     + "; ".join(f"{r.path}: {r.errors[0].reason}" for r in failed) + "\n")
    return EXIT_USER_ERROR
