"""`crashlens kpi [--days N] [--at T] [--json]`: the investigation KPIs of a period."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import open_workspace, parse_time, print_json


def _stat_line(name: str, stat: dict[str, Any]) -> str:
    from ..kpi import human_duration

    if not stat["count"]:
        return f"{name:<22} —"
    def usd(v: float | None) -> str:
        return "—" if v is None else f"${v:,.4f}"

    def plain(v: float | None) -> str:
        return "—" if v is None else f"{v:,.0f} {stat['unit']}"

    fmt = human_duration if stat["unit"] == "s" else usd if stat["unit"] == "USD" else plain
    return f"{name:<22} median {fmt(stat['median'])}, p90 {fmt(stat['p90'])}  (n={stat['count']})"


def _text(k: dict[str, Any]) -> list[str]:
    inc, runs, err = k["incidents"], k["rca_runs"], k["error_rate"]
    counts = lambda d: ", ".join(f"{key} {n}" for key, n in d.items()) or "—"  # noqa: E731
    lines = [
        f"KPIs {k['period']['start'][:10]} … {k['period']['end'][:10]} ({k['period']['days']} days)",
        f"{'incidents':<22} {inc['total']} ({inc['historical']} opened from historical data)",
        f"{'  by status':<22} {counts(inc['by_status'])}",
        f"{'  by severity':<22} {counts(inc['by_severity'])}",
        f"{'  by service':<22} {counts(inc['by_service'])}",
        _stat_line("MTTD", k["mttd"]),
        _stat_line("evidence time", k["evidence_time"]),
        _stat_line("time to RCA", k["time_to_rca"]),
        _stat_line("MTTR", k["mttr"]),
        f"{'RCA runs':<22} {runs['total']} ({counts(runs['by_engine'])})",
        _stat_line("  run duration", runs["duration"]),
        _stat_line("cost per RCA", k["cost"]["per_rca"]),
        f"{'cost total':<22} ${k['cost']['total']:,.4f}",
        f"{'tokens':<22} {k['tokens']['prompt']:,} prompt + {k['tokens']['completion']:,} completion",
    ]
    if err["overall"] is None:
        lines.append(f"{'error rate':<22} — (no logs)")
    else:
        lines.append(f"{'error rate':<22} {err['overall']:.3f} errors/min ({err['errors']:,} of {err['logs']:,} logs, "
                     f"{err['window']['start'][:16]} … {err['window']['end'][:16]})")
        for svc, rate in list(err["by_service"].items())[:8]:
            lines.append(f"{'  ' + svc:<22} {rate:.3f} errors/min")
    return lines


def cmd_kpi(args: argparse.Namespace) -> int:
    from ..kpi import compute_kpis

    ws, settings = open_workspace(args)
    with ws:
        kpis = compute_kpis(ws, settings, now=parse_time(args.at), days=args.days).to_json()
    if args.json:
        print_json(kpis)
    else:
        print("\n".join(_text(kpis)))
    return 0


def register(sub, common):
    p = sub.add_parser("kpi", parents=[common], help="investigation KPIs: MTTD, MTTR, time to RCA, cost, error rates",
                       description="KPIs of the incidents opened and RCA runs started in the last --days days: evidence time, "
                                   "time to RCA, MTTD, MTTR (seconds: median, p90), token cost per RCA and per day (USD), "
                                   "incidents by status/severity/service, error rates (ERROR/FATAL per minute) and daily trends.")
    p.add_argument("--days", type=int, default=30, help="length of the period in days (default 30)")
    p.add_argument("--at", metavar="T", help="end of the period (ISO 8601, default now, UTC)")
    p.set_defaults(func=cmd_kpi)
