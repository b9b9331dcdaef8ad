"""The ``crashlens`` command: a thin face over the core, as DESIGN.md's contract says.

Every subcommand has ``--help``; ``--json`` prints one JSON document (or JSON Lines where a
subcommand streams) on stdout; a ``CrashLensError`` becomes one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from .config import Settings
from .errors import CrashLensError, InputError

__all__ = ["main", "build_parser"]

EXIT_USER_ERROR = 2


def _print_json(value: Any) -> None:
    from .ingest.normalize import json_default  # lazily: --help stays free of duckdb and arrow

    sys.stdout.write(json.dumps(value, default=json_default, ensure_ascii=False) + "\n")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "workspace", None):
        settings = settings.replace(workspace=Path(args.workspace))
    return settings


def _open(args: argparse.Namespace, read_only: bool = False):
    from .store import Workspace

    settings = _settings(args)
    return Workspace.open(settings.workspace, read_only=read_only, lock_timeout=settings.lock_timeout_s), settings


def _progress_printer(enabled: bool) -> Callable[[float, str], None] | None:
    if not enabled or not sys.stderr.isatty():
        return None

    def show(frac: float, msg: str) -> None:
        sys.stderr.write(f"\r{frac:6.1%}  {msg[:100]:<100}")
        sys.stderr.flush()
        if frac >= 1.0:
            sys.stderr.write("\n")

    return show


# ---------------------------------------------------------------- ingest

def cmd_ingest(args: argparse.Namespace) -> int:
    from .ingest import ingest_files

    from .ingest import parse_map

    mapping = parse_map(args.map)
    defaults = {k: v for k, v in (("service", args.service), ("host", args.host)) if v}
    ws, settings = _open(args)
    with ws:
        reports = ingest_files(ws, args.kind, args.files, args.format, mapping, defaults=defaults, settings=settings,
                               progress=_progress_printer(not args.json))
    failed = [r for r in reports if r.note == "file not ingested"]
    if args.json:  # JSON Lines: one report per file, the same shape for one file or many
        for r in reports:
            _print_json(r.to_json())
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
    if failed:
        sys.stderr.write(f"crashlens: {len(failed)} of {len(reports)} files could not be ingested: "
                         + "; ".join(f"{r.path}: {r.errors[0].reason}" for r in failed) + "\n")
        return EXIT_USER_ERROR
    return 0


# ---------------------------------------------------------------- incidents

def _incident_line(inc: Any) -> str:
    window = f"{inc.window_start:%Y-%m-%d %H:%M}…{inc.window_end:%H:%M}" if inc.window_start and inc.window_end else "-"
    return f"{inc.id[:8]}  {inc.status:<13} {inc.severity:<5} {window:<22} {','.join(inc.services)[:30]:<30} {inc.title}"


def cmd_incidents(args: argparse.Namespace) -> int:
    ws, _ = _open(args)
    with ws:
        if args.action == "list":
            incidents = ws.list_incidents(status=args.status)
            if args.json:
                _print_json([i.to_json() for i in incidents])
            elif not incidents:
                print("no incidents (hint: `crashlens demo` builds a demo workspace)")
            else:
                for inc in incidents:
                    print(_incident_line(inc))
        elif args.action == "show":
            inc = ws.get_incident(_need(args.id, "incidents show ID"))
            if args.json:
                out = inc.to_json()
                out["events"] = ws.incident_events(inc.id)
                _print_json(out)
            else:
                for key, value in inc.to_json().items():
                    print(f"{key:>13}: {value}")
        elif args.action == "create":
            inc = ws.create_incident(
                _need(args.title, "incidents create --title TEXT"), severity=args.severity, services=args.services or [],
                window_start=_time(args.from_), window_end=_time(args.to), details=_details(args.detail), actor=args.by)
            _print_json(inc.to_json()) if args.json else print(_incident_line(inc))
        elif args.action == "status":
            inc = ws.set_incident_status(_need(args.id, "incidents status ID STATUS"), _need(args.status_to, "incidents status ID STATUS"),
                                         actor=args.by, note=args.note or "")
            _print_json(inc.to_json()) if args.json else print(_incident_line(inc))
    return 0


def _need(value: Any, usage: str) -> Any:
    if value in (None, ""):
        raise InputError(f"missing argument for `crashlens {usage}`", hint=f"crashlens {usage.split()[0]} --help")
    return value


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    from .ingest.normalize import parse_ts

    ts = parse_ts(text)
    if ts is None:
        raise InputError(f"not an ISO 8601 time: {text!r}", hint="e.g. 2024-05-14T10:00:00Z (naive times are UTC)")
    return ts


def _details(items: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--detail {item!r} is not KEY=VALUE", hint="e.g. --detail order_id=A-1001")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


# ---------------------------------------------------------------- templates

def cmd_templates(args: argparse.Namespace) -> int:
    from .signals.templates import templates_jsonl

    if args.file in (None, "-"):
        lines = sys.stdin
        for row in templates_jsonl(line.rstrip("\r\n") for line in lines):
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    from .ingest.source import Source

    source = Source.from_path(args.file)
    for row in templates_jsonl(text for _, text in source.lines()):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


# ---------------------------------------------------------------- simulate / demo

def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import list_scenarios, run_scenario

    if args.list or not args.scenario:
        scenarios = list_scenarios()
        if args.json:
            _print_json([{"name": s.name, "kind": s.kind, "description": s.description} for s in scenarios])
        else:
            width = max(len(s.name) for s in scenarios)
            for s in scenarios:
                print(f"{s.name:<{width}}  {s.kind:<18} {s.description}")
            if not args.list:
                print("\n(run one with --scenario NAME)")
        return 0
    settings = _settings(args)
    out = Path(args.out) if args.out else settings.workspace / "simulations" / f"{args.scenario}-seed{args.seed}"
    result = run_scenario(args.scenario, out, seed=args.seed, progress=_progress_printer(not args.json))
    payload = {"scenario": result.scenario, "out_dir": str(result.out_dir),
               "files": {k: str(v) for k, v in result.files.items()}, "ground_truth": result.ground_truth}
    if args.ingest:
        from .simulate.demo import ingest_simulation

        ws, settings = _open(args)
        with ws:
            reports, incident_id = ingest_simulation(ws, result, settings, seed=args.seed)
        payload["ingest"] = [r.to_json() for r in reports]
        payload["incident_id"] = incident_id
    if args.json:
        _print_json(payload)
    else:
        print(f"{result.scenario}: wrote {len(result.files)} files to {result.out_dir}")
        rc = result.ground_truth.get("root_cause") or {}
        print(f"  root cause: {rc.get('service')} {rc.get('file')}:{rc.get('line')} in {rc.get('function')}"
              + (f" (commit {rc['commit'][:10]})" if rc.get("commit") else ""))
        for r in payload.get("ingest", []):
            print(f"  ingested {r['path']}: {r['loaded']:,} loaded, {r['rejected']:,} rejected")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .simulate.demo import build_demo

    ws, settings = _open(args)
    with ws:
        summary = build_demo(ws, settings, seed=args.seed, progress=_progress_printer(not args.json))
        counts = ws.counts()
    if args.json:
        out = summary.to_json()
        out["counts"] = counts
        _print_json(out)
    else:
        print(f"demo workspace ready in {settings.workspace}: {len(summary.scenarios)} scenarios, "
              f"{counts['logs']:,} log records, {counts['spans']:,} spans, {counts['metrics']:,} metric samples, "
              f"{counts['incidents']} incidents")
        print(f"  sample repository: {summary.repo_dir}\n  runbook: {summary.runbook}")
    return 0


# ---------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS,
                        help="workspace folder (default: $CRASHLENS_HOME or ./data/workspace)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output on stdout")

    parser = argparse.ArgumentParser(prog="crashlens", parents=[common],
                                     description="CrashLens: incidents and crashes, from logs, traces, metrics, code and runbooks to a cited RCA.")
    parser.add_argument("--version", action="version", version=f"crashlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ingest = sub.add_parser("ingest", parents=[common], help="load logs, spans or metrics files into the workspace",
                            description="Load files into the workspace; each file is one batch, reported with its rejected lines.")
    ingest_sub = ingest.add_subparsers(dest="kind", metavar="KIND")
    ingest_sub.required = True
    from .ingest.driver import FORMAT_CHOICES

    for kind, text in (("logs", "log files"), ("spans", "trace spans"), ("metrics", "metric samples")):
        p = ingest_sub.add_parser(kind, parents=[common], help=f"ingest {text}",
                                  description=f"Ingest {text}. Gzip files are read transparently; the same content twice adds nothing.")
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument("--format", default="auto", choices=("auto", *FORMAT_CHOICES[kind]), help="input format (default: detect)")
        p.add_argument("--map", action="append", metavar="COL=FIELD", help="map a CSV column to a field, e.g. --map TraceID=trace_id "
                       "(prefix the column with pod: to turn a Kubernetes pod name into its service)")
        p.add_argument("--service", help="service name for records that carry none")
        p.add_argument("--host", help="host name for records that carry none")
        p.set_defaults(func=cmd_ingest)

    inc = sub.add_parser("incidents", parents=[common], help="list, show, create incidents and move them along their workflow",
                         description="Incidents: open → investigating → rca_ready → approved → resolved.")
    inc.add_argument("action", choices=("list", "show", "create", "status"))
    inc.add_argument("id", nargs="?", help="incident id (a unique prefix is enough)")
    inc.add_argument("status_to", nargs="?", metavar="STATUS", help="with `status`: the new status")
    inc.add_argument("--status", help="with `list`: only incidents in this status")
    inc.add_argument("--title", help="with `create`: what is broken")
    inc.add_argument("--severity", default="sev3", help="with `create`: sev1…sev4 (default sev3)")
    inc.add_argument("--services", nargs="*", help="with `create`: affected services")
    inc.add_argument("--from", dest="from_", metavar="T1", help="with `create`: window start (ISO 8601)")
    inc.add_argument("--to", metavar="T2", help="with `create`: window end (ISO 8601)")
    inc.add_argument("--detail", action="append", metavar="KEY=VALUE", help="with `create`: business detail (order_id, eta_delta_hours, problem_type…)")
    inc.add_argument("--by", help="who does it (required to approve)")
    inc.add_argument("--note", help="with `status`: a note for the history")
    inc.set_defaults(func=cmd_incidents)

    tpl = sub.add_parser("templates", parents=[common], help="mine log templates from messages, one per input line",
                         description="Read one log message per line (a file, gzip welcome, or - for stdin) and print, "
                                     "for each input line in order, {\"template_id\", \"template\"} as JSON Lines.")
    tpl.add_argument("file", nargs="?", metavar="FILE|-", help="input file; - or nothing reads stdin")
    tpl.add_argument("--jsonl", action="store_true", help="JSON Lines output (the only output form; accepted for the contract)")
    tpl.set_defaults(func=cmd_templates)

    sim = sub.add_parser("simulate", parents=[common], help="run the sample service with an injected fault",
                         description="Run the sample shop service under load with one injected fault, for real, and write "
                                     "its logs, spans, metrics and ground_truth.json.")
    sim.add_argument("--list", action="store_true", help="list the scenarios")
    sim.add_argument("--scenario", metavar="NAME", help="scenario to run (see --list)")
    sim.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives byte-identical files (default 0)")
    sim.add_argument("--out", metavar="DIR", help="output folder (default: <workspace>/simulations/NAME-seedN)")
    sim.add_argument("--ingest", action="store_true", help="also ingest the outputs into the workspace and open its incident")
    sim.set_defaults(func=cmd_simulate)

    demo = sub.add_parser("demo", parents=[common], help="build the demo workspace from data/demo",
                          description="Run every simulator scenario and ingest the results: the workspace `make run` opens. "
                                      "Safe to run again: nothing is added twice.")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=cmd_demo)
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
    except CrashLensError as exc:
        sys.stderr.write(f"crashlens: {exc.one_line()}\n")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("crashlens: interrupted; the current batch was rolled back\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
