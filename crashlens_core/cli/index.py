"""`crashlens index repo|docs|list|sync|remove|embed`: the knowledge sources of a workspace."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import need, open_workspace, print_json, progress_printer


def _embed(ws, settings, args) -> dict | None:
    if args.no_embed:
        return None
    from ..knowledge.service import embed_pending

    return embed_pending(ws, settings, progress=progress_printer(not args.json))


def _print_history(changes: dict | None) -> None:
    """One line on the commits recorded as change events (or why the history could not be read)."""
    if not changes:
        return
    if changes.get("error"):
        sys.stderr.write(f"crashlens: history not recorded as change events: {changes['error']}\n")
    elif changes.get("skipped"):
        print("  history: already recorded as change events, nothing added")
    else:
        print(f"  history: {changes['loaded']} commits recorded as change events" + (f" ({changes['note']})" if changes.get("note") else ""))


def cmd_index(args: argparse.Namespace) -> int:
    from ..knowledge import sources

    ws, settings = open_workspace(args)
    show = progress_printer(not args.json)
    with ws:
        if args.action == "repo":
            summary = sources.add_repo(ws, settings, need(args.target[0] if args.target else None, "index repo URL|PATH"),
                                       name=args.name, progress=show)
            summary["embeddings"] = _embed(ws, settings, args)
            if args.json:
                print_json(summary)
            else:
                print(f"{summary['source']}: {summary['files']} files, {summary['chunks']} chunks"
                      + (f" at {summary['commit'][:12]}" if summary["commit"] else "")
                      + (f", {summary['embeddings']['embedded']} embedded" if summary["embeddings"] else " (embeddings pending: `crashlens index embed`)"))
                _print_history(summary.get("changes"))
            return 0
        if args.action == "docs":
            paths = [Path(p) for p in args.target]
            need(paths or None, "index docs PDF...")
            results = sources.add_pdfs(ws, settings, paths, progress=show)
            embedded = _embed(ws, settings, args) if any(r["status"] == "indexed" for r in results) else None
            if args.json:
                print_json({"documents": results, "embeddings": embedded})
            else:
                for r in results:
                    if r["status"] == "refused":
                        continue
                    print(f"{r['name']}: {r['status']}, {r.get('pages', 0)} pages, {r.get('chunks', 0)} chunks, {r.get('images', 0)} images")
            refused = [r for r in results if r["status"] == "refused"]
            for r in refused:
                sys.stderr.write(f"crashlens: refused {r['reason']}" + (f" (hint: {r['hint']})" if r.get("hint") else "") + "\n")
            return 2 if refused else 0
        if args.action == "list":
            rows = sources.list_sources(ws)
            if args.json:
                print_json(rows)
            elif not rows:
                print("no knowledge sources (hint: `crashlens index repo PATH` or `crashlens index docs FILE.pdf`)")
            else:
                for r in rows:
                    when = f"{r['last_sync']:%Y-%m-%d %H:%M}" if r["last_sync"] else "-"
                    print(f"{r['name']:<28} {r['kind']:<5} {r['files'] or 0:>6} files {r['chunks']:>7} chunks "
                          f"{r['embedded']:>7} embedded  {(r['commit'] or '')[:10]:<10} {when}  {r['url'] or ''}")
            return 0
        if args.action == "sync":
            names = args.target or [r["name"] for r in sources.list_sources(ws)]
            out = [sources.sync_source(ws, settings, n, progress=show) for n in names]
            embedded = _embed(ws, settings, args)
            if args.json:
                print_json({"sources": out, "embeddings": embedded})
            else:
                for r in out:
                    print(f"{r.get('source') or r.get('name')}: {r.get('chunks', 0)} chunks"
                          + (f", {r['rechunked']} files re-chunked, {r['deleted']} removed" if "rechunked" in r else ""))
            return 0
        if args.action == "remove":
            for n in need(args.target or None, "index remove NAME..."):
                sources.remove_source(ws, n)
            print_json({"removed": args.target}) if args.json else print(f"removed {', '.join(args.target)}")
            return 0
        if args.action == "embed":
            args.no_embed = False
            stats = _embed(ws, settings, args)
            assert stats is not None  # no_embed is off just above
            print_json(stats) if args.json else print(f"{stats['embedded']} chunks embedded, {stats['vectors']} vectors in the index")
            return 0
    return 2


def register(sub, common):
    p = sub.add_parser("index", parents=[common], help="add, sync, list and remove code repos and PDF runbooks",
                       description="Knowledge sources. `index repo URL|PATH [--name N]`: an https/ssh URL on the allow-list "
                                   "(knowledge_allowed_hosts), a local folder or a zip/tar archive. `index docs PDF...`: runbooks "
                                   "(encrypted or unreadable PDFs are refused with the reason, exit 2). `index list`, "
                                   "`index sync [NAME...]` (incremental), `index remove NAME...`, `index embed` (fill in pending "
                                   "embeddings). Sources are searchable with BM25 at once; embeddings follow.")
    p.add_argument("action", choices=("repo", "docs", "list", "sync", "remove", "embed"))
    p.add_argument("target", nargs="*", metavar="URL|PATH|PDF|NAME", help="what to add, sync or remove")
    p.add_argument("--name", help="with `repo`: the source name (default: from the URL or folder)")
    p.add_argument("--no-embed", action="store_true", help="store chunks only; embed later with `crashlens index embed`")
    p.set_defaults(func=cmd_index)
