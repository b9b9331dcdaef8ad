"""`crashlens simulate` and `crashlens demo`: the crash simulator and the demo workspace."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import print_json, settings_for, open_workspace, progress_printer


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..simulate import list_scenarios, run_scenario

    if args.list or not args.scenario:
        scenarios = list_scenarios()
        if args.json:
            print_json([{"name": s.name, "kind": s.kind, "description": s.description} for s in scenarios])
        else:
            width = max(len(s.name) for s in scenarios)
            for s in scenarios:
                print(f"{s.name:<{width}}  {s.kind:<18} {s.description}")
            if not args.list:
                print("\n(run one with --scenario NAME)")
        return 0
    settings = settings_for(args)
    out = Path(args.out) if args.out else settings.workspace / "simulations" / f"{args.scenario}-seed{args.seed}"
    result = run_scenario(args.scenario, out, seed=args.seed, progress=progress_printer(not args.json))
    payload: dict[str, Any] = {"scenario": result.scenario, "out_dir": str(result.out_dir),
               "files": {k: str(v) for k, v in result.files.items()}, "ground_truth": result.ground_truth}
    if args.ingest:
        from ..simulate.demo import ingest_simulation

        ws, settings = open_workspace(args)
        with ws:
            reports, incident_ids = ingest_simulation(ws, result, settings, seed=args.seed)
        payload["ingest"] = [r.to_json() for r in reports]
        payload["incident_ids"] = incident_ids
    if args.json:
        print_json(payload)
    else:
        print(f"{result.scenario}: wrote {len(result.files)} files to {result.out_dir}")
        rc = result.ground_truth.get("root_cause") or {}
        print(f"  root cause: {rc.get('service')} {rc.get('file')}:{rc.get('line')} in {rc.get('function')}"
              + (f" (commit {rc['commit'][:10]})" if rc.get("commit") else ""))
        for r in payload.get("ingest", []):
            print(f"  ingested {r['path']}: {r['loaded']:,} loaded, {r['rejected']:,} rejected")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..simulate.demo import build_demo

    ws, settings = open_workspace(args)
    with ws:
        summary = build_demo(ws, settings, seed=args.seed, progress=progress_printer(not args.json))
        counts = ws.counts()
    if args.json:
        out = summary.to_json()
        out["counts"] = counts
        print_json(out)
    else:
        print(f"demo workspace ready in {settings.workspace}: {len(summary.scenarios)} scenarios, "
              f"{counts['logs']:,} log records, {counts['spans']:,} spans, {counts['metrics']:,} metric samples, "
              f"{counts['incidents']} incidents")
        print(f"  sample repository: {summary.repo_dir}\n  runbook: {summary.runbook}")
    return 0




def register(sub, common):
    sim = sub.add_parser("simulate", parents=[common], help="run the sample service with an injected fault",
                         description="Run the sample shop service under load with one injected fault, for real, and write "
                                     "its logs, spans, metrics and ground_truth.json.")
    sim.add_argument("--list", action="store_true", help="list the scenarios")
    sim.add_argument("--scenario", metavar="NAME", help="scenario to run (see --list)")
    sim.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives byte-identical files (default 0)")
    sim.add_argument("--out", metavar="DIR", help="output folder (default: <workspace>/simulations/NAME-seedN)")
    sim.add_argument("--ingest", action="store_true", help="also ingest the outputs into the workspace and detect its incidents")
    sim.set_defaults(func=cmd_simulate)

    demo = sub.add_parser("demo", parents=[common], help="build the demo workspace from data/demo",
                          description="Run every simulator scenario and ingest the results: the workspace `make run` opens. "
                                      "Safe to run again: nothing is added twice.")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=cmd_demo)
