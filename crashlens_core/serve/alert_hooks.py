"""The alert webhooks of ``crashlens serve``: ``POST /alerts/alertmanager``, ``/alerts/grafana``, ``/alerts``.

A body is capped (``max_alert_bytes``; an Alertmanager group is a few kB), read as JSON (a
syntax error is answered 400 with its line and column), split into readable alerts and
per-alert errors (``signals.alert_intake.read_alert_payload``: nothing readable is 422), then
applied under the workspace lock through ``apply_alert_batch``, the same call as
``crashlens incidents create --alert``. The lock is held only for that write; a delivery that
waits for it longer than ``alert_lock_wait_s`` (the batch writer is busy) is answered 503.

With ``rca_on_alert`` an incident an alert opened gets its offline RCA as a job of the batch
writer (``Batcher.submit``): the webhook is answered first, the analysis runs in the writer's
next round, and its redacted summary goes to Slack (``slack.post_slack``) after the workspace is
let go, when ``settings.slack_webhook_url`` is set. A workspace held by another process
answers 503 with Retry-After: Alertmanager retries the delivery, so no alert is lost.

>>> # hooks = AlertHooks(state); status, doc = hooks.receive("alertmanager", body)
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CrashLensError, InputError, WorkspaceInUse
from ..signals.alert_intake import AlertOutcome, apply_alert_batch, read_alert_payload
from ..store import Workspace
from .otlp import BodyTooLarge

if TYPE_CHECKING:
    from .app import ServerState

__all__ = ["AlertHooks", "AlertStats", "ALERT_ROUTES", "alertmanager_config"]

log = logging.getLogger("crashlens.serve")

# (path, the shape it expects or None to tell it from the body, what it takes)
ALERT_ROUTES = (
    ("/alerts/alertmanager", "alertmanager", "an Alertmanager webhook (version 4, as Alertmanager 0.25 posts it)"),
    ("/alerts/grafana", "grafana", "a Grafana alerting webhook"),
    ("/alerts", None, "a plain alert {service, fired_at | startsAt, summary, severity, status, resolved_at}, "
                      "a JSON array of them, or either webhook body"),
)


@dataclass
class AlertStats:
    """Counters since start, for /healthz and the benchmark."""

    deliveries: int = 0
    refused: int = 0
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    rejected_alerts: int = 0
    rca_queued: int = 0
    rca_done: int = 0
    rca_failed: int = 0
    slack_posted: int = 0
    slack_failed: int = 0
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class AlertHooks:
    """Receives alert webhooks for one server (its options, lock, workspace and batch writer)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.stats = AlertStats()
        self._stats_lock = threading.Lock()

    def _count(self, **add: int) -> None:
        with self._stats_lock:
            for name, n in add.items():
                setattr(self.stats, name, getattr(self.stats, name) + n)

    def receive(self, shape: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one webhook delivery."""
        cap = self.state.options.max_alert_bytes
        if len(body) > cap:
            self._count(refused=1)
            raise BodyTooLarge(f"alert body of {len(body):,} bytes is larger than {cap:,}",
                               hint="an alert group is a few kB; Alertmanager's max_alerts limits a webhook")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            self._count(refused=1)
            where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            return 400, {"error": f"the alert body is not JSON{where}: {getattr(exc, 'msg', exc)}",
                         "hint": "post the webhook body as JSON (Content-Type: application/json)"}
        try:
            batch = read_alert_payload(payload, shape)
        except InputError as exc:
            self._count(refused=1)
            return 422, {"error": exc.message, "hint": exc.hint}
        settings = self.state.settings
        wait = self.state.options.alert_lock_wait_s
        if not self.state.lock.acquire(timeout=wait):  # the writer thread holds it (a batch, an RCA)
            self._count(refused=1)
            raise WorkspaceInUse(f"the workspace stayed busy with this server's writes for {wait:g} s",
                                 hint="the sender retries (Alertmanager does after a 5xx)")
        try:  # held only while the incidents are written
            with Workspace.open(settings.workspace, lock_timeout=settings.lock_timeout_s) as ws:
                report, outcomes = apply_alert_batch(ws, settings, batch, actor="alert")
        finally:
            self.state.lock.release()
        self._count(deliveries=1, rejected_alerts=len(report["errors"]),
                    opened=sum(o.created for o in outcomes),
                    updated=sum(o.action == "added" for o in outcomes),
                    resolved=sum(o.action == "resolved" or (o.created and o.incident.details.get("alert_status") == "resolved")
                                 for o in outcomes))
        for entry, out in zip(report["incidents"], outcomes):
            if out.created and self.state.options.rca_on_alert:
                self._queue_rca(out)
                entry["rca"] = "queued"
        return 200, report

    # ------------------------------------------------------------ RCA and Slack, off the request
    def _queue_rca(self, out: AlertOutcome) -> None:
        settings = self.state.settings
        incident_id, title = out.incident.id, out.incident.title

        def work(ws: Workspace) -> dict[str, Any]:
            from ..rca.engine import run_rca

            try:
                run = run_rca(ws, settings, incident_id, engine="offline", actor="alert")
            except CrashLensError as exc:
                self._count(rca_failed=1)
                self.stats.last_error = exc.one_line()
                raise
            self._count(rca_done=1)
            return dict(run.to_json(), title=title, incident_id=incident_id)

        def share(summary: dict[str, Any]) -> None:
            if not settings.slack_webhook_url:
                return
            from ..slack import post_slack

            try:  # slack_payload redacts every string and strips links before it leaves the machine
                post_slack(settings.slack_webhook_url, summary)
            except CrashLensError as exc:
                self._count(slack_failed=1)
                self.stats.last_error = exc.one_line()  # never the URL: post_slack names only the host
                log.warning("alert RCA for %s not posted to Slack: %s", incident_id, exc.one_line())
                return
            self._count(slack_posted=1)

        self._count(rca_queued=1)
        self.state.batcher.submit(work, after=share)


def alertmanager_config(server_url: str, token_file: str, group_wait: str = "1s") -> str:
    """An Alertmanager configuration that routes every alert to ``crashlens serve`` at ``server_url``.

    The bearer token is read by Alertmanager from ``token_file`` (the workspace's 0600 token file
    will do), so it never sits in the YAML. Resolved alerts are sent too: the incident records them.

    >>> print(alertmanager_config("http://127.0.0.1:8600", "/ws/serve.token").splitlines()[9])
          - url: http://127.0.0.1:8600/alerts/alertmanager
    """
    return f"""route:
  receiver: crashlens
  group_by: [alertname, service]
  group_wait: {group_wait}
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: crashlens
    webhook_configs:
      - url: {server_url.rstrip("/")}/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token_file}
"""
