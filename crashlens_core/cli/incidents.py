"""`crashlens incidents detect|list|show|create|status|assign|comment`: finding incidents, their records, their
workflow, who owns them and their comment thread."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import print_json, open_workspace, need, parse_time, parse_details


def _incident_line(inc: Any) -> str:
    window = f"{inc.window_start:%Y-%m-%d %H:%M}…{inc.window_end:%H:%M}" if inc.window_start and inc.window_end else "-"
    owner = f"  (owner {inc.owner})" if inc.owner else ""
    return f"{inc.id[:8]}  {inc.status:<13} {inc.severity:<5} {window:<22} {','.join(inc.services)[:30]:<30} {inc.title}{owner}"


def cmd_incidents(args: argparse.Namespace) -> int:
    ws, settings = open_workspace(args)
    with ws:
        if args.action == "detect":
            from ..signals.detect import detect_incidents
            from ..signals.labels import label_pending

            label_pending(ws)  # logs ingested by an older CrashLens get their templates first
            report = detect_incidents(ws, settings, start=parse_time(args.from_), end=parse_time(args.to),
                                      dry_run=args.dry_run)
            if args.json:
                print_json(report.to_json())
            else:
                for inc in report.created:
                    print("new      " + _incident_line(inc))
                for inc_id, bursts in report.matched:
                    print(f"known    {inc_id[:8]}  ({len(bursts)} bursts already covered)")
                print(f"{len(report.bursts)} bursts, {len(report.created)} new incidents"
                      + (" (dry run: nothing opened)" if args.dry_run else ""))
        elif args.action == "list":
            incidents = ws.list_incidents(status=args.status)
            if args.json:
                print_json([i.to_json() for i in incidents])
            elif not incidents:
                print("no incidents (hint: `crashlens demo` builds a demo workspace)")
            else:
                for inc in incidents:
                    print(_incident_line(inc))
        elif args.action == "show":
            inc = ws.get_incident(need(args.id, "incidents show ID"))
            if args.json:
                out = inc.to_json()
                out["events"] = ws.incident_events(inc.id)
                print_json(out)
            else:
                for key, value in inc.to_json().items():
                    print(f"{key:>13}: {value}")
                from ..store.incidents import event_summary

                for ev in ws.incident_events(inc.id):
                    print(f"{ev['ts']:%Y-%m-%d %H:%M:%S}  {event_summary(ev)}")
        elif args.action == "create" and args.alert:
            from ..signals.alert_intake import apply_alert
            from ..signals.alerts import read_alert_file

            # the same call as the `crashlens serve` webhooks: a later delivery updates, never duplicates
            out = apply_alert(ws, settings, read_alert_file(args.alert), actor=args.by)
            inc = out.incident
            if args.json:
                print_json(dict(inc.to_json(), created=out.created, action=out.action))
            else:
                print(f"{'new' if out.created else out.action:<9}" + _incident_line(inc))
        elif args.action == "create":
            inc = ws.create_incident(
                need(args.title, "incidents create --title TEXT"), severity=args.severity, services=args.services or [],
                window_start=parse_time(args.from_), window_end=parse_time(args.to), details=parse_details(args.detail), actor=args.by)
            print_json(inc.to_json()) if args.json else print(_incident_line(inc))
        elif args.action == "status":
            inc = ws.set_incident_status(need(args.id, "incidents status ID STATUS"), need(args.status_to, "incidents status ID STATUS"),
                                         actor=args.by, note=args.note or "")
            print_json(inc.to_json()) if args.json else print(_incident_line(inc))
        elif args.action == "assign":
            inc_id = need(args.id, "incidents assign ID OWNER")
            owner = None if args.unassign else need(args.status_to, "incidents assign ID OWNER")
            inc = ws.assign_incident(inc_id, owner, actor=args.by)
            print_json(inc.to_json()) if args.json else print(f"{inc.id[:8]}  owner: {inc.owner or '(nobody)'}")
        elif args.action == "comment":
            entry = ws.comment_incident(need(args.id, "incidents comment ID TEXT"), need(args.status_to, "incidents comment ID TEXT"),
                                        actor=args.by)
            if args.json:
                print_json(entry)
            else:
                print(f"{entry['incident_id'][:8]}  comment by {entry['actor'] or 'someone'} at {entry['ts']:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def register(sub, common):
    inc = sub.add_parser("incidents", parents=[common], help="list, show, create incidents and move them along their workflow",
                         description="Incidents: `detect` opens them where errors or latency burst above their baseline; "
                                     "then open → investigating → rca_ready → approved → resolved. `assign ID OWNER` "
                                     "gives one an owner, `comment ID TEXT` adds to its thread; `show --json` lists "
                                     "both in its `events` (each with a `kind`: status, update, assign, comment).")
    inc.add_argument("action", choices=("detect", "list", "show", "create", "status", "assign", "comment"))
    inc.add_argument("id", nargs="?", help="incident id (a unique prefix is enough)")
    inc.add_argument("status_to", nargs="?", metavar="STATUS|OWNER|TEXT",
                     help="with `status`: the new status; with `assign`: the new owner; with `comment`: the comment "
                          "(quote it), kept in the incident's history")
    inc.add_argument("--status", help="with `list`: only incidents in this status")
    inc.add_argument("--title", help="with `create`: what is broken")
    inc.add_argument("--alert", metavar="FILE", help="with `create`: open the incident from an alert payload (Alertmanager "
                     "webhook v4, Grafana webhook, or {service, fired_at, summary, severity}); its window starts at the "
                     "onset found in the data before the alert. The same alert again updates that incident instead "
                     "(alerts that joined its group; a resolved alert is recorded), as the serve webhooks do")
    inc.add_argument("--severity", default="sev3", help="with `create`: sev1…sev4 (default sev3)")
    inc.add_argument("--services", nargs="*", help="with `create`: affected services")
    inc.add_argument("--from", dest="from_", metavar="T1", help="with `create`: window start; with `detect`: look from here (ISO 8601)")
    inc.add_argument("--to", metavar="T2", help="with `create`: window end; with `detect`: look until here (ISO 8601)")
    inc.add_argument("--detail", action="append", metavar="KEY=VALUE", help="with `create`: business detail (order_id, eta_delta_hours, problem_type…)")
    inc.add_argument("--dry-run", action="store_true", help="with `detect`: report bursts, open nothing")
    inc.add_argument("--unassign", action="store_true", help="with `assign`: the incident has no owner any more")
    inc.add_argument("--by", help="who does it (required to approve; with `assign` and `comment`: recorded in the history)")
    inc.add_argument("--note", help="with `status`: a note for the history")
    inc.set_defaults(func=cmd_incidents)
