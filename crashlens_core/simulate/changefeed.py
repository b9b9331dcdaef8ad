"""What changed around each simulated incident: the change feed, the decoys, the alert, the truth.

Every scenario gets a ``changes.jsonl`` as a deploy tool, a flag service and a config pipeline
would have written it: the fleet's previous deploy (a day before, so a deploy ships only its
own commits), the scenario's own changes (deploys with the release commit, config rollouts,
flag flips, schema migrations; for a delayed onset the release that landed well before the
recorded data, with innocent deploys of other services in between), and seeded **innocent** changes near the fault: deploys of
services that are not failing, flag flips and config edits on services that are, some of
them after the onset and before the alert (the trap of "blame the newest deploy"). Scenarios
whose cause is no change (an upstream outage, a traffic surge, stale data from a partner)
get the decoys only; ground truth says so (``culprit_change: null`` and the kind of cause).

``alert.json`` is the Alertmanager 0.25 webhook the shop's checkout SLO alert would post about
a minute after the onset (a rule with ``for: 1m``); faults no signal shows raise no alert.

Which change is the culprit follows from the scenario's events by rule (the deploy of the
culprit version, the rollout of a config or flag, the migration), never by scenario name.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from .scenarios import ScenarioSpec
from .world import FLEET_ENV, iso_us

__all__ = ["build_feed", "alert_payload", "write_feed", "NO_CHANGE_KINDS"]

_MIN_US = 60_000_000
# The kind of cause of a fault no change made, by the event that injects it.
NO_CHANGE_KINDS = {"gateway_degraded": "upstream_outage", "carrier_stale": "upstream_outage", "": "traffic_surge",
                   "method_return": "unknown"}
# Innocent changes, as a busy platform makes them every hour: (kind, service, fields). Services
# are both ones the shop does not call and ones that fail in every scenario (checkout).
_DECOYS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("deploy", "search", {"version": "2.14.0", "summary": "ranking: boost in-stock items", "files": ["search/ranking.py"],
                          "diff": "--- a/search/ranking.py\n+++ b/search/ranking.py\n@@ -40,3 +40,4 @@ def score(item):\n"
                                  "-    return item.relevance\n+    boost = 1.2 if item.in_stock else 1.0\n"
                                  "+    return item.relevance * boost\n"}),
    ("deploy", "admin-ui", {"version": "0.31.2", "summary": "admin: sortable refund table", "files": ["web/admin/Refunds.tsx"],
                            "diff": "+  const [sortKey, setSortKey] = useState('created');\n"}),
    ("flag", "checkout", {"name": "gift_wrap_option", "change": "off->on", "summary": "show gift wrap at checkout (10%)"}),
    ("flag", "catalog", {"name": "recommendations_v2", "change": "off->on", "summary": "new recommendations widget"}),
    ("config", "notifications", {"name": "MAIL_TEMPLATE_THEME", "change": "classic->spring", "summary": "seasonal mail theme"}),
    ("scale", "search", {"change": "3->5", "summary": "search replicas for the evening peak"}),
    ("deploy", "reporting", {"version": "5.2.0", "summary": "nightly export: add VAT column", "files": ["reporting/export.py"],
                             "diff": "+        row['vat_cents'] = order.vat_cents\n"}),
)


def _event(ts_us: int, kind: str, service: str, **fields: Any) -> dict[str, Any]:
    record = {"ts": iso_us(ts_us), "kind": kind, "service": service}
    record.update({k: v for k, v in fields.items() if v not in (None, "", [])})
    return record


def build_feed(spec: ScenarioSpec, seed: int, start_us: int, fault_us: int, commits: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the change events oldest first, the ground truth about changes) of one scenario run.

    ``commits`` maps each version that ran to its release commit.
    """
    rng = random.Random(f"{spec.scenario.name}:{seed}:changes")
    day_us = 24 * 60 * _MIN_US
    culprit: dict[str, Any] | None = None
    if spec.prior_release is None:
        events = [_event(start_us - day_us, "deploy", "shop", version=spec.base_version, commit=commits.get(spec.base_version),
                         author="deploy-bot", summary=f"release {spec.base_version} to the fleet", hosts=list(spec.hosts))]
    else:  # a delayed onset: the running version was released shortly before the recorded data
        previous, ago_s = spec.prior_release
        released_us = fault_us - ago_s * 1_000_000
        # the version it replaced had run for a week: a day before, its deploy would land among the
        # other scenarios' fleet deploys when the demo puts every scenario in one workspace, and be
        # taken as the previous deploy of theirs (their deploys would ship commits they never shipped)
        events = [_event(released_us - 7 * day_us, "deploy", "shop", version=previous, commit=commits.get(previous),
                         author="deploy-bot", summary=f"release {previous} to the fleet", hosts=list(spec.hosts)),
                  _event(released_us, "deploy", "shop", version=spec.base_version, commit=commits.get(spec.base_version),
                         author="deploy-bot", summary=f"release {spec.base_version} to the fleet", hosts=list(spec.hosts))]
        if spec.base_version == spec.culprit_version:
            culprit = {"kind": "deploy", "service": "shop", "version": spec.base_version}
    flag_done = False
    for e in spec.events:
        at = fault_us + int(e.at_s * 1_000_000)
        if e.action == "deploy":
            events.append(_event(at, "deploy", "shop", version=e.version, commit=commits.get(e.version or ""), author="deploy-bot",
                                 summary=f"deploy {e.version} to {e.host}", hosts=[e.host]))
            if e.version == spec.culprit_version:
                culprit = culprit or {"kind": "deploy", "service": "shop", "version": e.version}
        elif e.action == "restart" and e.args.get("env"):
            if spec.flag is not None:  # the flag service flips once; the restarts deliver it
                if not flag_done:
                    events.append(_event(at, "flag", "shop", name=spec.flag[0], change=spec.flag[1], author="flags-ui",
                                         summary=f"flag {spec.flag[0]} {spec.flag[1]}"))
                    culprit = {"kind": "flag", "service": "shop", "name": spec.flag[0]}
                    flag_done = True
                continue
            for key, value in sorted(e.args["env"].items()):
                events.append(_event(at, "config", "shop", name=key, change=f"{FLEET_ENV.get(key, '')}->{value}",
                                     author="config-pipeline", summary=f"set {key}={value} on {e.host}", hosts=[e.host]))
                culprit = culprit or {"kind": "config", "service": "shop", "name": key}
        elif e.action == "drop_index":
            index = e.args["index"]
            events.append(_event(at, "infra", "shop", name=index, change="present->dropped", author="db-migrations",
                                 summary=f"migration 0042: rebuild orders table (drops {index})",
                                 diff=f"-CREATE INDEX {index} ON orders (customer_id, created_at);\n"))
            culprit = {"kind": "infra", "service": "shop", "name": index}
    # Decoys: one well before, one just before and one after the onset (before the alert).
    picks = rng.sample(range(len(_DECOYS)), 3)
    offsets = [-rng.randint(3 * 60, 25 * 60), -rng.randint(10, 90), rng.randint(8, 45)]
    for index, offset in zip(picks, offsets):
        kind, service, fields = _DECOYS[index]
        sha = hashlib.sha1(f"{spec.scenario.name}:{seed}:{service}:{index}".encode()).hexdigest()
        events.append(_event(fault_us + offset * 1_000_000, kind, service, author="team-" + service,
                             commit=sha if kind == "deploy" else None, **fields))
    decoys = len(picks)
    if spec.prior_release is not None and spec.decoys_between:
        # deploys of other services spread between the release and the onset (drawn after the
        # decoys above, so the other scenarios' feeds stay as they were)
        deploys = [i for i, d in enumerate(_DECOYS) if d[0] == "deploy"]
        span_s = spec.prior_release[1]
        for n, index in enumerate(rng.sample(deploys, min(spec.decoys_between, len(deploys))), start=1):
            kind, service, fields = _DECOYS[index]
            at_s = span_s * n // (spec.decoys_between + 1) + rng.randint(-60, 60)
            sha = hashlib.sha1(f"{spec.scenario.name}:{seed}:{service}:{index}:between".encode()).hexdigest()
            events.append(_event(fault_us - at_s * 1_000_000, kind, service, author="team-" + service, commit=sha, **fields))
            decoys += 1
    for kind, service, before_s in spec.decoys_before:
        # a scenario's own innocent changes just before the onset (a deploy, a flag flip on the
        # failing service): the nearest changes in time, none of them the cause; no draw of the
        # generator, so the seeded decoys above stay the same
        index, (_, _, fields) = next((i, d) for i, d in enumerate(_DECOYS) if d[0] == kind and d[1] == service)
        sha = hashlib.sha1(f"{spec.scenario.name}:{seed}:{service}:{index}:before".encode()).hexdigest()
        events.append(_event(fault_us - before_s * 1_000_000, kind, service, author="team-" + service,
                             commit=sha if kind == "deploy" else None, **fields))
        decoys += 1
    events.sort(key=lambda r: (r["ts"], r["kind"], r["service"]))
    first_action = spec.events[0].action if spec.events else ""
    from ..rca.changes import NO_CHANGE_REMEDIATION, REMEDIATION_BY_KIND  # here: importing the simulator stays light

    no_change = None if culprit else NO_CHANGE_KINDS.get(first_action, "unknown")
    # the first remedy an SRE reaches for: undo the culprit (by its kind), or for no change the one
    # its kind calls for (scale out of a surge, fail over from an outage)
    remedy = REMEDIATION_BY_KIND.get(culprit["kind"], "other") if culprit else NO_CHANGE_REMEDIATION.get(str(no_change), "other")
    truth = {"culprit_change": culprit, "decoys": decoys, "no_change_kind": no_change, "remediation_kind": remedy}
    return events, truth


def alert_payload(spec: ScenarioSpec, fault_us: int, latency: bool) -> dict[str, Any]:
    """The Alertmanager 0.25 webhook of the checkout SLO alert, one minute after the onset."""
    name = "CheckoutLatencyHigh" if latency else "CheckoutErrorRateHigh"
    expr = ("histogram_quantile(0.95, sum by (le) (rate(latency_p95_ms{service=\"checkout\"}[1m]))) > 800" if latency
            else "error_rate{service=\"checkout\"} > 0.05")
    labels = {"alertname": name, "service": "checkout", "severity": "critical", "team": "shop"}
    from urllib.parse import quote_plus

    fired = fault_us + _MIN_US
    fp = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    summary = "checkout p95 latency above 800 ms" if latency else "checkout error rate above 5%"
    alert = {"status": "firing", "labels": labels, "annotations": {"summary": summary, "runbook_url": "https://runbooks.example/shop"},
             "startsAt": iso_us(fired), "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": f"http://prometheus:9090/graph?g0.expr={quote_plus(expr)}&g0.tab=1", "fingerprint": fp}
    return {"receiver": "crashlens", "status": "firing", "alerts": [alert], "groupLabels": {"alertname": name},
            "commonLabels": labels, "commonAnnotations": alert["annotations"], "externalURL": "http://alertmanager:9093",
            "version": "4", "groupKey": f"{{}}:{{alertname=\"{name}\"}}", "truncatedAlerts": 0}


def write_feed(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n" for e in events),
                    encoding="utf-8", newline="\n")
    return path
