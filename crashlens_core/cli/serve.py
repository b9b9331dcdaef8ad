"""`crashlens serve`: the OTLP/HTTP receiver and the REST API over the workspace, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import settings_for


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve.server import serve

    settings = settings_for(args)
    # The token may come from the environment so that it stays out of `ps` output.
    token = args.token or os.environ.get("CRASHLENS_SERVE_TOKEN") or None
    serve(settings, host=args.host, port=args.port, token=token, say=lambda text: print(text, file=sys.stderr, flush=True),
          max_body_bytes=args.max_body_mb << 20, ack_wait_s=args.ack_wait, detect=not args.no_detect,
          rca_on_alert=args.rca_on_alert)
    return 0


def register(sub, common):
    p = sub.add_parser("serve", parents=[common], help="OTLP/HTTP receiver and REST API over the workspace",
                       description="Serve the workspace over HTTP: OTLP/HTTP at POST /v1/logs, /v1/traces, /v1/metrics "
                                   "(protobuf or JSON, gzip), alert webhooks at POST /alerts/alertmanager, /alerts/grafana and /alerts "
                                   "(a firing alert opens or updates its incident, a resolved one is recorded on it), "
                                   "trace files (any `ingest spans` format) at POST /spans, "
                                   "incidents and RCA under /incidents and /rca, OpenAPI at /docs. "
                                   "Every POST needs Authorization: Bearer TOKEN. Accepted requests are kept on disk before "
                                   "they are answered and written to the workspace in batches; the workspace is free "
                                   "between batches, so the app and the CLI keep working.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8600, help="TCP port (default 8600)")
    p.add_argument("--token", help="bearer token for writes (default: $CRASHLENS_SERVE_TOKEN, else the workspace's "
                                   "serve-token file, created with mode 0600 on first start)")
    p.add_argument("--max-body-mb", type=int, default=16, metavar="MB", help="largest request body, before and after gzip (default 16)")
    p.add_argument("--ack-wait", type=float, default=5.0, metavar="SECONDS", help="how long an OTLP request waits for its "
                   "batch to be written to answer per item; after that it is answered 202, safely spooled (default 5)")
    p.add_argument("--no-detect", action="store_true", help="label templates and fingerprints but do not open incidents")
    p.add_argument("--rca-on-alert", action="store_true", help="run the offline RCA of every incident an alert webhook "
                   "opens, after answering the webhook; its redacted summary is posted to Slack when "
                   "CRASHLENS_SLACK_WEBHOOK_URL is set")
    p.set_defaults(func=cmd_serve)
