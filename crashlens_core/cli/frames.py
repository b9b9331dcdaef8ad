"""`crashlens frames [FILE|-] --json`: parse a stack trace, resolve frames to code, rank suspects."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import open_workspace, parse_time, print_json, settings_for


def _repos_for(args: argparse.Namespace, settings) -> list:
    """--repo paths, else the workspace's registered repositories (none when there is no workspace)."""
    from ..errors import InputError

    if args.repo:
        for p in args.repo:
            if not Path(p).expanduser().is_dir():
                raise InputError(f"--repo {p}: no such folder", hint="give the path of a repository's working tree")
        return list(args.repo)
    from ..store.workspace import DB_FILE

    if not (Path(settings.workspace) / DB_FILE).exists():
        return []
    from ..knowledge.sources import list_repos

    ws, _ = open_workspace(args)  # writable: an older workspace is migrated, as every command does
    with ws:
        return list_repos(ws)


def _read_input(name: str | None) -> str:
    from ..errors import InputError

    if name is None or name == "-":
        return sys.stdin.read()
    path = Path(name)
    if not path.is_file():
        raise InputError(f"no such file: {name}", hint="give a file holding a stack trace, or - to read stdin")
    return path.read_text(encoding="utf-8", errors="replace")


def cmd_frames(args: argparse.Namespace) -> int:
    from ..knowledge.frames import analyze, split_prefixes

    settings = settings_for(args)
    text = _read_input(args.file)
    report = analyze(text, _repos_for(args, settings), parse_time(args.from_), parse_time(args.to),
                     revision=args.revision,
                     context_lines=args.context if args.context is not None else settings.frames_context_lines,
                     in_app_include=split_prefixes(settings.frames_in_app) + tuple(args.in_app or ()),
                     in_app_exclude=split_prefixes(settings.frames_not_in_app) + tuple(args.not_in_app or ()),
                     limit=args.limit)
    if args.json:
        print_json(report.to_json(commits=args.commits, chain=args.chain))
        return 0
    _print_text(report, args.commits)
    return 0


def _print_text(report, with_commits: bool) -> None:
    for depth, st in enumerate(report.stack.chain()):
        label = "caused by " if depth else ""
        print(f"{label}{st.exception or '(no exception type)'}: {st.message.splitlines()[0] if st.message else ''}  [{st.language}]")
        for f in st.frames:
            mark = "*" if f.in_app else " "
            where = f"{f.file}:{f.line}" if f.file else "?"
            print(f"  {mark} {f.qualified() or '?'}  ({where})")
    resolved = {(rf.frame.file, rf.frame.line): rf for rs in report.resolved for rf in rs.frames if rf.path}
    if resolved:
        print("\nsource:")
        for rf in resolved.values():
            print(f"  {rf.repo}:{rf.path}:{rf.frame.line}")
            for k, text in rf.context:
                bl = rf.blame.get(k)
                who = f"{bl.commit[:7]} {bl.author[:14]:<14}" if bl else " " * 22
                print(f"    {'>' if k == rf.frame.line else ' '}{k:5d} {who} {text}")
    print("\nsuspects:")
    for i, s in enumerate(report.suspects, 1):
        print(f"  {i:2d}. {s.score:.2f}  {s.name}.{s.function or '?'}  ({s.file or '?'}:{s.line or '?'})  {s.why}")
    if with_commits or report.commits:
        print("\nsuspect commits:")
        if not report.commits:
            print("  none (no repository matched the frames; add one with --repo PATH or `crashlens index repo`)")
        for i, c in enumerate(report.commits, 1):
            print(f"  {i:2d}. {c.score:.2f}  {c.commit[:10]}  {c.time:%Y-%m-%d}  {c.author}: {c.summary}  ({c.why})")


def register(sub, common):
    p = sub.add_parser("frames", parents=[common], help="parse a stack trace, resolve frames to code, rank suspects",
                       description="Parse the Python, Java, JavaScript/Node, Go or .NET stack trace(s) in FILE (or stdin), "
                                   "map in-app frames to files of the given repositories (default: the workspace's repos), "
                                   "show source context and git blame, and rank suspect locations and commits. "
                                   "--json prints {language, exception, message, frames: [{module, class, function, file, "
                                   "line, in_app}], suspects: [{class or module, function, file, line, score, why}]}, "
                                   "frames innermost first, suspects best first.")
    p.add_argument("file", nargs="?", metavar="FILE|-", help="text holding a stack trace; - or nothing reads stdin")
    p.add_argument("--repo", action="append", metavar="PATH", help="a repository working tree to resolve frames in (repeatable); "
                   "default: the repositories registered in the workspace")
    p.add_argument("--from", dest="from_", metavar="T1", help="incident window start (ISO 8601): commits shortly before it rank higher")
    p.add_argument("--to", metavar="T2", help="incident window end (ISO 8601): commits after it are not suspects")
    p.add_argument("--revision", metavar="REV", help="commit or tag that was running (default: the working tree, or the "
                   "newest commit matching the trace's own source lines)")
    p.add_argument("--context", type=int, metavar="N", help="source lines around each frame (default: setting frames_context_lines)")
    p.add_argument("--in-app", action="append", metavar="PREFIX", help="module/package/path prefix that is your code (repeatable)")
    p.add_argument("--not-in-app", action="append", metavar="PREFIX", help="module/package/path prefix that is not your code (repeatable)")
    p.add_argument("--limit", type=int, default=10, help="suspects and commits listed (default 10)")
    p.add_argument("--commits", action="store_true", help="with --json: add \"commits\", the ranked suspect commits")
    p.add_argument("--chain", action="store_true", help="with --json: add \"cause\", the exception chain (Caused by, inner exceptions)")
    p.set_defaults(func=cmd_frames)
