"""Root-cause service ranking from traces and metrics, each suspect with the evidence ids behind it.

Four signals, each turned into a share in [0, 1] per service, then weighted:

- **errors** (``W_ERRORS``): error origins in the window (``tracestats.window_trace_stats``),
  grouped by (service, operation, exception), minus what the baseline's rate predicts for
  the window's traffic of that service (its traces, ``_traffic_ratio``), plus three Poisson
  standard deviations, so ordinary noise such as card declines does not count; at least
  ``settings.suspect_min_new_errors`` beyond that; a service's share of all the excess,
  damped when the excess touches few of the window's traces (``ERRORS_FULL``).
- **latency** (``W_LATENCY``): extra self time per trace, window vs baseline, with the gap a
  wrapper span spends around a remote call blamed on the callee (a slow network or server
  shows up on the service that is slow, not on its caller); a service's share of all the
  extra time, damped when traces did not get noticeably slower overall.
- **metrics** (``W_METRICS``): the mean of the ``METRIC_SERIES`` strongest BARO robust
  deviations among the service's series (``metrics_anomaly``; client-side series excluded), on a log scale from ``settings.metric_noise_score`` (10: noise)
  to 200 (certain). A series of
  an external peer (``peer.service`` of client spans, e.g. a card gateway) counts for the
  services that call it.

- **behaviour** (``W_BEHAVIOUR``): calls and log templates a service stopped (or started)
  making against the baseline, normalised for traffic (``signals.behaviour``): the only sign
  of a fault that raises nothing and slows nothing, such as a method returning a wrong value.

Evidence ids follow DESIGN.md: ``span:<span_id>`` (error origins, slowest spans) and
``metric:<service>.<name>[@host]``.

>>> # rank_suspect_services(ws, t1, t2)[0].to_json()  → {"service": "payments", "score": 0.71, ...}
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..config import Settings
from ..errors import InputError
from ..ingest.normalize import pod_to_service
from ..models import Evidence
from ..store import Workspace
from .behaviour import behaviour_changes, behaviour_shares
from .metrics_anomaly import metric_anomalies
from .servicemap import service_map
from .tracestats import window_trace_stats

__all__ = ["ServiceSuspect", "rank_suspect_services", "default_baseline", "client_side_metric", "W_ERRORS", "W_LATENCY", "W_METRICS",
           "W_BEHAVIOUR"]

W_ERRORS, W_LATENCY, W_METRICS, W_BEHAVIOUR = 0.5, 0.3, 0.2, 0.3
METRIC_SERIES = 3  # the strongest series of a service that its metric signal averages
METRIC_SURE = 200.0  # robust deviations at which a metric anomaly counts fully (noise: settings.metric_noise_score)
SLOWDOWN_FULL = 0.2  # traces 20% slower per trace → the latency signal counts fully
ERRORS_FULL = 0.2  # unexpected erroring traces in 20% of the window's traces → the error signal counts fully


@dataclass
class ServiceSuspect:
    service: str
    score: float
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    components: dict[str, float] = field(default_factory=dict)
    # one Evidence record per cited id (span:…, metric:…), so an RCA can put them in its evidence set
    items: list[Evidence] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "score": round(self.score, 4), "reasons": self.reasons,
                "evidence": self.evidence, "components": {k: round(v, 4) for k, v in self.components.items()}}

    def to_evidence(self) -> Evidence:
        return Evidence(id=f"svc:{self.service}", kind="svc", title=f"suspect service {self.service}",
                        text="; ".join(self.reasons), score=round(self.score, 4), data=self.to_json())


def default_baseline(window_start: datetime, window_end: datetime) -> tuple[datetime, datetime]:
    """The same-length window just before ``window_start``."""
    return window_start - (window_end - window_start), window_start


def _traffic_ratio(now: dict[str, Any], base: dict[str, Any], service: str, ratio: float) -> float:
    """How much more of ``service``'s traffic the window holds than the baseline: traces it is in.

    Errors of a service scale with the requests it serves, not with wall time: a baseline taken
    under another traffic mix (hours away, a short normal period) predicts the window's errors
    from the service's own trace counts. Without traces of it in both, the time ratio.
    """
    n_now, n_base = now["presence"].get(service, 0), base["presence"].get(service, 0)
    return n_now / n_base if n_now and n_base else ratio


def _error_shares(now: dict[str, Any], base: dict[str, Any], ratio: float, min_new: int) -> tuple[dict[str, float], dict[str, list], dict[str, list]]:
    """Excess error origins per service; (shares, reasons, evidence)."""
    base_counts = {(g["service"], g["name"], g["exception"], g.get("why")): g["count"] for g in base["origins"]}
    excess: dict[str, float] = {}
    reasons: dict[str, list] = {}
    evidence: dict[str, list] = {}
    for g in now["origins"]:
        # the traffic of the service whose span erred (the caller, for a blamed silent callee)
        scale = _traffic_ratio(now, base, g.get("via") or g["service"], ratio)
        expected = base_counts.get((g["service"], g["name"], g["exception"], g.get("why")), 0) * scale
        extra = g["count"] - (expected + 3.0 * math.sqrt(expected))
        if extra < min_new:
            continue
        svc = g["service"]
        excess[svc] = excess.get(svc, 0.0) + extra
        what = f"{g['exception']} in {g['name']}" if g["exception"] else f"errors in {g['name']}"
        hosts = g.get("hosts") or {}
        on = ""
        if hosts and len(hosts) < 4 and g.get("why") != "slow_callee" and g.get("why") != "silent_callee":  # hosts of the span, not of the callee
            on = " on " + ", ".join(f"{h} ({c})" for h, c in sorted(hosts.items(), key=lambda kv: -kv[1]))
        if g.get("why") == "refused":
            text = (f"sent the requests of {g['count']} erroring traces that {g['via']} refused with a 4xx answer ({what}): "
                    f"the request is at fault, not {g['via']}; {expected:.1f} expected from the baseline")
        elif g.get("why") == "slow_callee":
            text = (f"callee of {g['count']} failed calls from {g['via']} ({what}) that gave up waiting: its span outlived "
                    f"the call{on}; {expected:.1f} expected from the baseline")
        elif g.get("why") == "silent_callee":
            text = (f"callee of {g['count']} failed calls from {g['via']} ({what}) that left no span of its own "
                    f"(timed out or unreachable){on}; {expected:.1f} expected from the baseline")
        else:
            text = f"origin of {g['count']} erroring traces ({what}){on}, {expected:.1f} expected from the baseline"
        reasons.setdefault(svc, []).append(text)
        title = {"refused": f"request refused (4xx) by {g.get('via')}: sent by {svc}",
                 "silent_callee": f"silent callee: {svc}, called from {g.get('via')} {g['name']}",
                 "slow_callee": f"slow callee: {svc}, called from {g.get('via')} {g['name']}"}.get(
                     g.get("why") or "", f"error origin: {svc} {g['name']}")
        evidence.setdefault(svc, []).extend(
            Evidence(f"span:{sid}", "span", title,
                     f"Span {sid} ({g.get('via') or svc} {g['name']}) is where one of these errors started; {svc}: {text}.", float(extra),
                     {"service": svc, "name": g["name"], "exception": g["exception"], "count": g["count"]})
            for sid in g["examples"][:3])
    total = sum(excess.values())
    # Damped like the latency signal: a share says where the excess errors are, not whether
    # they matter. A few unexpected errors in a busy window (a discovery blip, one bad request)
    # count in proportion to the traffic they touch, fully once they reach ERRORS_FULL of it.
    damp = min(1.0, total / max(ERRORS_FULL * now["traces"], 1e-9)) if now["traces"] else 1.0
    return ({s: damp * v / total for s, v in excess.items()} if total else {}), reasons, evidence


def _latency_shares(now: dict[str, Any], base: dict[str, Any]) -> tuple[dict[str, float], dict[str, list], dict[str, list]]:
    if not now["traces"] or not base["traces"]:
        return {}, {}, {}
    per_now = {s: v / now["traces"] for s, v in now["blame_ms"].items()}
    per_base = {s: v / base["traces"] for s, v in base["blame_ms"].items()}
    delta = {s: per_now.get(s, 0.0) - per_base.get(s, 0.0) for s in per_now.keys() | per_base.keys()}
    pos = {s: d for s, d in delta.items() if d > 0}
    total = sum(pos.values())
    if total <= 0:
        return {}, {}, {}
    slowdown = total / max(base["mean_duration_ms"], 1e-9)
    damp = min(1.0, slowdown / SLOWDOWN_FULL)
    shares = {s: damp * d / total for s, d in pos.items()}
    reasons = {s: [f"+{d:.1f} ms self time per trace ({per_base.get(s, 0.0):.1f} → {per_now.get(s, 0.0):.1f} ms), "
                   f"{100 * d / total:.0f}% of the added time"] for s, d in pos.items() if shares[s] >= 0.05}
    evidence = {s: [Evidence(f"span:{sid}", "span", f"slow span of {s}",
                             f"Span {sid} is among the spans carrying the most self time of {s} in the window; {reasons[s][0]}.",
                             round(shares[s], 4), {"service": s})
                    for sid in now["top_spans"].get(s, [])[:3]] for s in reasons}
    return shares, reasons, evidence


_CLIENT = re.compile(r"(?:^|[^A-Za-z]|(?<=[a-z]))[Cc]lient(?![a-z])")


def client_side_metric(name: str) -> bool:
    """A series measured on the client side of the service's outbound calls (``http.client.duration``,
    ``grpc_client_handled_total``, ``PodClientLatencyP95``): it times the callees and the network
    to them, so it is their symptom, not evidence against the service that waits (the trace
    latency signal blames the callee with the span tree)."""
    return bool(_CLIENT.search(name))


def _metric_shares(anomalies: list, peers: dict[str, set[str]], services: set[str], noise: float) -> tuple[dict[str, float], dict[str, list], dict[str, list]]:
    strengths: dict[str, list[float]] = {}
    reasons: dict[str, list] = {}
    evidence: dict[str, list] = {}
    lo, hi = math.log10(1 + noise), math.log10(1 + max(METRIC_SURE, 2 * noise))
    # Kubernetes names one workload two ways: metrics per workload ("ts-basic-service"), spans and
    # logs often per pod ("ts-basic-service-5dc8d4f9fd-llznp", workload-replicaset-pod). A metric
    # of a workload no span names belongs to that workload's pods.
    pods: dict[str, set[str]] = {}
    for name in services:
        if pod_to_service(name) != name:
            pods.setdefault(pod_to_service(name), set()).add(name)
    for a in anomalies:
        strength = min(1.0, max(0.0, (math.log10(1 + a.score) - lo) / (hi - lo)))
        if strength <= 0 or client_side_metric(a.name):
            continue
        svc = a.service or ""
        if svc in services:
            owners = [svc]
        elif svc in pods:
            owners = sorted(pods[svc])
        else:
            owners = sorted(peers[svc]) if peers.get(svc) else [svc]
        for owner in owners:
            if not owner:
                continue
            strengths.setdefault(owner, []).append(strength)
            if len(reasons.get(owner, [])) < 3:
                via = "" if svc in (owner, pod_to_service(owner)) else f" (its dependency {svc})"
                reasons.setdefault(owner, []).append(a.describe() + via)
                evidence.setdefault(owner, []).append(a.to_evidence())
    # A fault moves several series of its service together (CPU with latency, a latency's p90
    # with its p99); one series alone past its narrow baseline spread is as often a noisy
    # percentile. A service's metric signal is the mean of its METRIC_SERIES strongest.
    best = {o: sum(sorted(v, reverse=True)[:METRIC_SERIES]) / METRIC_SERIES for o, v in strengths.items()}
    return best, reasons, evidence


def rank_suspect_services(ws: Workspace, window_start: datetime, window_end: datetime, baseline_start: datetime | None = None,
                          baseline_end: datetime | None = None, settings: Settings | None = None) -> list[ServiceSuspect]:
    """Services ranked by how likely they are where the incident in ``[window_start, window_end)`` began.

    The baseline defaults to the same-length window just before. Services with no signal at
    all are left out; an empty list means traces and metrics show nothing for the window.
    """
    if window_start is None or window_end is None or window_end <= window_start:
        raise InputError("the suspect ranking needs a window with start before end", hint="pass --from T1 --to T2")
    if baseline_start is None or baseline_end is None:
        baseline_start, baseline_end = default_baseline(window_start, window_end)
    now = window_trace_stats(ws, window_start, window_end)
    base = window_trace_stats(ws, baseline_start, baseline_end)
    ratio = (window_end - window_start).total_seconds() / max((baseline_end - baseline_start).total_seconds(), 1e-9)
    settings = settings or Settings()
    e_share, e_reasons, e_evidence = _error_shares(now, base, ratio, settings.suspect_min_new_errors)
    l_share, l_reasons, l_evidence = _latency_shares(now, base)
    span_services = set(now["presence"]) | set(base["presence"])
    peers: dict[str, set[str]] = {}
    for edge in service_map(ws, window_start, window_end).edges:
        if edge.external:
            peers.setdefault(edge.dst, set()).add(edge.src)
    anomalies = metric_anomalies(ws, window_start, window_end, baseline_start, baseline_end)
    m_share, m_reasons, m_evidence = _metric_shares(anomalies, peers, span_services, settings.metric_noise_score)
    changes = behaviour_changes(ws, (window_start, window_end), (baseline_start, baseline_end))
    b_share = behaviour_shares(changes)
    b_reasons: dict[str, list] = {}
    b_evidence: dict[str, list] = {}
    for change in changes:
        if len(b_reasons.get(change.service, [])) < 3:
            b_reasons.setdefault(change.service, []).append(change.describe())
            b_evidence.setdefault(change.service, []).append(change.to_evidence())
    out = []
    for svc in e_share.keys() | l_share.keys() | m_share.keys() | b_share.keys():
        comp = {"errors": e_share.get(svc, 0.0), "latency": l_share.get(svc, 0.0), "metrics": m_share.get(svc, 0.0),
                "behaviour": b_share.get(svc, 0.0)}
        score = (W_ERRORS * comp["errors"] + W_LATENCY * comp["latency"] + W_METRICS * comp["metrics"]
                 + W_BEHAVIOUR * comp["behaviour"])
        if score <= 0:
            continue
        reasons = e_reasons.get(svc, []) + l_reasons.get(svc, []) + m_reasons.get(svc, []) + b_reasons.get(svc, [])
        first: dict[str, Evidence] = {}
        for item in (e_evidence.get(svc, []) + l_evidence.get(svc, []) + m_evidence.get(svc, [])
                     + b_evidence.get(svc, [])):
            first.setdefault(item.id, item)
        items = list(first.values())
        out.append(ServiceSuspect(svc, score, reasons, [e.id for e in items], comp, items))
    out.sort(key=lambda s: (-s.score, s.service))
    return out
