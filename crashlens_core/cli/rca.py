"""`crashlens rca`, `crashlens replay`, `crashlens ask`: root-cause analysis, strict replay, questions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..config import ENGINES
from ._common import open_workspace, parse_time, print_json, progress_printer, require_argument, settings_for


def _print_report(out: dict[str, Any]) -> None:
    print(f"RCA {out.get('run_id', '')[:8]}  engine {out['engine']} · {out['model']}  confidence {out['confidence']:.2f}")
    if out.get("notice"):
        print(f"NOTICE: {out['notice']}")
    print(f"\nRoot cause: {out['root_cause']}\n\n{out['summary']}\nImpact: {out['impact']}\n\nSuspects:")
    for i, s in enumerate(out["suspects"][:5], 1):
        commit = f"  commit {s['commit'][:12]}" if s.get("commit") else ""
        print(f"  {i}. {s['score']:8.2f}  {s['service']:<14} {s['component'][:40]:<40} {s['location']}{commit}")
    if out.get("changes"):  # issue 15: what changed, ranked; the culprit or "no change"
        verdict = out.get("root_cause_change") or f"no change ({out.get('no_change_kind') or 'unknown'})"
        print(f"\nChanges: {verdict}; first failing service {out.get('first_failing_service') or '-'}; "
              f"blast radius {', '.join(out.get('blast_radius') or []) or '-'}; remediation {out.get('remediation_kind')}")
        for c in out["changes"][:5]:
            print(f"  {c['score']:6.2f}  {c['kind']:<8} {str(c.get('service') or '-'):<14} {c['ts']}  {c['why'][:90]}")
    print("\nClaims:")
    for c in out["claims"]:
        print(f"  - {c['text']}  [{', '.join(c['evidence'])}]")
    print("\nRemediation:")
    for i, step in enumerate(out["remediation"], 1):
        print(f"  {i}. {step}")
    if out.get("suggested_patch"):
        print(f"\nSuggested patch ({out['suggested_patch']['label']}):\n{out['suggested_patch']['diff']}")
    print(f"\ntokens {out['prompt_tokens']} in / {out['completion_tokens']} out · cost ${out['cost_usd']:.6f}"
          f" · evidence {out['evidence_digest'][:12]}")


def cmd_rca(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..rca.engine import run_rca

    start, end = parse_time(args.from_), parse_time(args.to)
    b_start, b_end = parse_time(args.baseline_from), parse_time(args.baseline_to)
    if args.id is None and (start is None or end is None):
        raise InputError("give an incident id, or a window with --from T1 --to T2", hint="crashlens incidents list")
    if (start is None) != (end is None):
        raise InputError("a window needs both --from and --to", hint="e.g. --from 2024-05-14T10:05 --to 2024-05-14T10:08")
    ws, settings = open_workspace(args)
    with ws:
        run = run_rca(ws, settings, args.id, window=(start, end) if start and end else None, engine=args.engine,
                      progress=progress_printer(not args.json), baseline=(b_start, b_end) if b_start or b_end else None,
                      actor=args.by)
        out = run.to_json()
    print_json(out) if args.json else _print_report(out)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from ..bundle.replay import replay_file
    from ..errors import NotFound
    from ..rca import replay as rp

    target = require_argument(args.target, "replay FILE|RUN_ID")
    if args.export:
        ws, _ = open_workspace(args)
        with ws:
            record = rp.export_record(ws, target)
        Path(args.export).write_text(json.dumps(record, sort_keys=True, ensure_ascii=False), encoding="utf-8")
        print_json({"run_id": record["run_id"], "export": args.export}) if args.json else print(f"wrote {args.export}")
        return 0
    if Path(target).is_file():
        key = args.key
        if key is None and not target.endswith(".json"):
            from ..bundle import workspace_public_key

            try:
                key = workspace_public_key(settings_for(args).workspace)
            except NotFound:  # no key in this workspace: replay_file says what to pass
                key = None
        result = replay_file(target, strict=args.strict, public_key=key, run_id=args.run)
    else:
        ws, _ = open_workspace(args)
        with ws:
            result = rp.replay(ws, target, strict=args.strict)
    if args.json:
        print_json(result.to_json())
    else:
        state = "byte-identical" if result.identical else "DIFFERENT"
        print(f"replayed {result.source}: report {state}; root cause: {result.report.root_cause}")
        for p in result.problems:
            print(f"  ! {p}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from ..rca.ask import ask

    question = " ".join(args.question or []).strip()
    ws, settings = open_workspace(args)
    with ws:
        around = None
        if args.incident:  # clock times in the question are read on the incident's day
            inc = ws.get_incident(args.incident)
            if inc.window_start and inc.window_end:
                around = (inc.window_start, inc.window_end)
        answer = ask(ws, settings, require_argument(question, "ask QUESTION"), engine=args.engine, k=args.k,
                     around=around)
    if args.json:
        print_json(answer.to_json())
        return 0
    print(answer.answer)
    if answer.notice:
        print(f"NOTICE: {answer.notice}")
    for e in answer.evidence:
        mark = "*" if e.id in answer.citations else " "
        print(f" {mark} [{e.id}] {e.text.splitlines()[0][:160] if e.text else e.title}")
    return 0


def register(sub, common):
    rca = sub.add_parser("rca", parents=[common], help="root-cause analysis of an incident or a time window",
                         description="Assemble the evidence, analyse it (offline by default, or with an LLM), validate that "
                                     "every claim cites evidence, record the run, and print the report.")
    rca.add_argument("id", nargs="?", help="incident id (a unique prefix is enough)")
    rca.add_argument("--from", dest="from_", metavar="T1", help="window start (ISO 8601), instead of an incident")
    rca.add_argument("--to", metavar="T2", help="window end (ISO 8601)")
    rca.add_argument("--baseline-from", metavar="T3", help="baseline start (default: a window just before)")
    rca.add_argument("--baseline-to", metavar="T4", help="baseline end")
    rca.add_argument("--engine", choices=ENGINES, help="offline (default without GROQ_API_KEY), groq, or openai (an OpenAI-compatible URL)")
    rca.add_argument("--by", help="who runs it (recorded with the run)")
    rca.set_defaults(func=cmd_rca)

    rp = sub.add_parser("replay", parents=[common], help="re-run a recorded RCA from its recorded evidence and LLM answers",
                        description="Replay an RCA run from the workspace (RUN_ID), an exported record (FILE.json) or a signed "
                                    "bundle. --strict fails, naming the item, if any recorded input's digest differs.")
    rp.add_argument("target", nargs="?", metavar="FILE|RUN_ID")
    rp.add_argument("--strict", action="store_true", help="fail on any changed input or any difference in the report")
    rp.add_argument("--key", metavar="PUB", help="the signer's public key, to verify a bundle (default: this workspace's)")
    rp.add_argument("--run", metavar="RUN_ID", help="with a bundle: which run (default: the latest with a report)")
    rp.add_argument("--export", metavar="FILE", help="write RUN_ID's record (report, evidence, answers) to FILE instead")
    rp.set_defaults(func=cmd_replay)

    ask = sub.add_parser("ask", parents=[common], help="ask a question over the workspace, answered with citations",
                         description='e.g. crashlens ask "what errors hit payments after 10:05?" — offline, the answer is the '
                                     "ranked evidence itself.")
    ask.add_argument("question", nargs="*", metavar="QUESTION")
    ask.add_argument("--engine", choices=ENGINES, help="offline (default without GROQ_API_KEY), groq or openai")
    ask.add_argument("--k", type=int, default=10, help="evidence items to retrieve (default 10)")
    ask.add_argument("--incident", metavar="ID", help="read times like 'after 15:05' on this incident's day")
    ask.set_defaults(func=cmd_ask)
