"""The offline analyzer (the default; no network): rank root-cause suspects from the evidence and write a cited report.

It reads only an ``EvidenceSet`` (never the workspace), so a recorded set replays to the same
report byte for byte. Each evidence item's ``data["signal"]`` says what it is; signals vote for
suspects keyed by (service, code location), with weights that reflect how directly they point
at a cause:

- ``error_span`` — a failed span with no failed child: where the failure starts (strongest);
- ``stale_tool`` — a tool call of the incident's own trace that returned stale data;
- ``latency`` — an operation much slower than in the baseline, with the code behind it;
- ``error_log`` / ``fingerprint`` — error lines and exception groups (the logging service may be
  a caller, so they weigh less than the span origin but carry the stack's location);
- ``suspect_service`` / ``frame`` / ``commit`` — other engineers' signals, when present;
- ``metric`` / ``template`` — service-level support only.

Only what is new or elevated against the baseline votes; what happens as often as usual is
reported as a rejected hypothesis, with the numbers. Every claim cites evidence ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..models import Evidence
from .evidence import EvidenceSet
from .claims import curate_claims, norm_dim as _norm_dim
from .schema import Claim, Hypothesis, RcaReport, Suspect, TimelineEvent
from .traffic import preceding_surges

__all__ = ["analyze_offline", "rank_suspects", "focus_services", "ELEVATED"]

ELEVATED = 0.8  # novelty (log2 of observed / expected) below this is "as usual"
# recurrence: the incident is a schedule's failure (detection folded its runs); the job's source is
# the suspect, above whatever else happens to log in the latest run's minute.
_WEIGHTS = {"recurrence": 3.0, "error_span": 1.0, "stale_tool": 2.0, "latency": 1.2, "error_log": 0.5, "suspect_service": 1.0}
# Signals that name a file, not a service (an exception group spans its callers): they support
# the suspects at that file and lend them a commit.
_ATTACH = {"fingerprint": 0.3, "frame": 0.0, "commit": 0.0}
# behaviour: already weighed inside suspect_service; listed so its items are the suspect's evidence.
_SERVICE_SUPPORT = {"metric": 0.3, "template": 0.3, "error_log": 0.1, "latency": 0.1, "behaviour": 0.0}


@dataclass
class _Cand:
    service: str
    location: str
    component: str = ""
    score: float = 0.0
    evidence: list[str] = field(default_factory=list)
    commit: str = ""
    reasons: list[str] = field(default_factory=list)


def _file_of(location: str) -> str:
    return location.split(":", 1)[0] if location else ""


def _elevated(item: Evidence) -> bool:
    """More often than the baseline predicts, by a margin small counts cannot fake (about two Poisson deviations)."""
    nov = item.data.get("novelty")
    if nov is None:
        return True
    expected = float(item.data.get("expected") or 0.0)
    count = float(item.data.get("count") or 0)
    return float(nov) >= ELEVATED and count - expected >= 2 * math.sqrt(expected + 1)


def rank_suspects(es: EvidenceSet) -> list[Suspect]:
    """Root-cause suspects (service, component, location, commit), best first, each with its evidence ids."""
    cands: dict[tuple[str, str], _Cand] = {}
    support: dict[str, float] = {}
    support_ids: dict[str, list[str]] = {}
    fan_in, fan_out = _slow_call_fans(es)
    for item in es.items:
        d = item.data
        signal = d.get("signal", "")
        services = [d["service"]] if d.get("service") else list(d.get("services") or [])
        # A client-side metric times the service's calls out (its callees and the network to them):
        # their symptom, no support for the service that waits (as in signals.suspects).
        if signal in _SERVICE_SUPPORT and services and (signal != "error_log" or _elevated(item)) \
                and not (signal == "metric" and d.get("client_side")):
            for svc in services[:1]:
                support[svc] = support.get(svc, 0.0) + _SERVICE_SUPPORT[signal] * item.score
                support_ids.setdefault(svc, []).append(item.id)
        if signal not in _WEIGHTS or not services or not _elevated(item):
            continue
        if signal == "latency" and float(d.get("ratio") or 0) < 2.0:
            continue
        service = services[0]
        location = d.get("location") or ""
        if signal == "latency" and d.get("callee") and not location and \
                len(fan_in.get(str(d["callee"]), ())) >= len(fan_out.get(service, ())):
            # A call that got slower while its caller's own code did not: the time went to the
            # callee or the network to it, so the callee is the suspect (the caller only waits).
            # Unless the caller's calls to more services got slower than the callee's calls from
            # more callers: a slow caller (starved of CPU, its threads stalled) slows every call
            # it makes whoever answers, a slow callee or its link slows every caller of it; the
            # fault sits where the slowed calls meet.
            service, location = str(d["callee"]), ""
        key = (service, location or f"{service}/{d.get('name') or d.get('exc_type') or signal}")
        cand = cands.setdefault(key, _Cand(service, location))
        cand.score += _WEIGHTS[signal] * item.score
        cand.evidence.append(item.id)
        component = d.get("exc_type") or d.get("name") or ""
        if component and not cand.component:
            cand.component = str(component)
        if d.get("commit") and not cand.commit:
            cand.commit = str(d["commit"])
    # Resolved frames and suspect commits name a file: lend them (and the commit) to the suspects at that file.
    for item in es.items:
        d = item.data
        file = d.get("file") or _file_of(d.get("location") or "")
        if d.get("signal") not in _ATTACH or not file or (d.get("signal") == "fingerprint" and not _elevated(item)):
            continue
        for cand in cands.values():
            if cand.location and _same_file(_file_of(cand.location), file):
                cand.score += _ATTACH[d["signal"]] * item.score
                if d.get("commit") and not cand.commit:
                    cand.commit = str(d["commit"])
                if item.id not in cand.evidence:
                    cand.evidence.append(item.id)
    for svc, value in support.items():
        located = [c for c in cands.values() if c.service == svc]
        if not located:
            cands[(svc, f"{svc}/*")] = _Cand(svc, "", "service", 0.0, [])
            located = [cands[(svc, f"{svc}/*")]]
        for cand in located:
            cand.score += value
            cand.evidence.extend(i for i in support_ids[svc][:3] if i not in cand.evidence)
    ranked = sorted(cands.values(), key=lambda c: (-c.score, c.service, c.location))
    return [Suspect(c.service, c.component or "service", c.location, round(c.score, 4), c.evidence[:8], c.commit)
            for c in ranked if c.evidence][:10]


def _slow_call_fans(es: EvidenceSet) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Among the calls that got at least twice slower: per callee the callers, per caller the callees."""
    fan_in: dict[str, set[str]] = {}
    fan_out: dict[str, set[str]] = {}
    for item in es.items:
        d = item.data
        if d.get("signal") == "latency" and d.get("callee") and d.get("service") and float(d.get("ratio") or 0) >= 2.0:
            fan_in.setdefault(str(d["callee"]), set()).add(str(d["service"]))
            fan_out.setdefault(str(d["service"]), set()).add(str(d["callee"]))
    return fan_in, fan_out


def _same_file(a: str, b: str) -> bool:
    a, b = a.lstrip("/"), b.lstrip("/")
    return bool(a and b) and (a.endswith(b) or b.endswith(a))


def _named_by(es: EvidenceSet, s: Suspect) -> str:
    """What the suspect's name is: a service, or (for lines that carry none) a host or a file."""
    for eid in s.evidence:
        item = es.get(eid)
        if item is not None and item.data.get("named_by"):
            return str(item.data["named_by"])
    return "service"


def _where(s: Suspect, es: EvidenceSet) -> str:
    kind = {"host": "host", "file": "file", "none": "source"}.get(_named_by(es, s), "service")
    if not s.location:
        return f"{kind} {s.service}"
    parts = s.location.rsplit(":", 2)
    if len(parts) == 3:
        return f"{parts[1]}() at {parts[0]}:{parts[2]} in {kind} {s.service}"
    return f"{s.location} in {kind} {s.service}"


def _items_by_signal(es: EvidenceSet, *signals: str) -> list[Evidence]:
    return [e for e in es.items if e.data.get("signal") in signals]


# Confidence = the chance that the top suspect is the right service *and* the right code (the
# report's job is to say what to fix). Set on the tune half of the simulator scenarios only
# (bench/rca_eval.py: catalogue positions 0, 2, 4, …, seeds 0-2): every suspect with a code
# location was right to the file (15/15), every one without was right only to the service (0/3 to
# the file). The levels are those rates shrunk towards the middle (Laplace, (k+1)/(n+2): 0.94 and
# 0.2) and lowered a little more because real systems are harder than the simulator (Nezha
# service top-1 ≈ 75%); within a group, the margin over the best *different* answer orders them.
_CONF_LOCATED = (0.66, 0.24)     # base, + margin share: 0.66 … 0.90
_CONF_SERVICE_ONLY = (0.12, 0.2)  # 0.12 … 0.32


def _alternative(suspects: list[Suspect]) -> float:
    """The score of the best suspect that is a different answer: another code location (the same
    location seen from its caller is the same answer: callers log their callee's exception), or,
    for a suspect without a location, another service."""
    top = suspects[0]
    where = top.location.rsplit(":", 1)[0] if top.location else ""
    for s in suspects[1:]:
        if where and s.location and s.location.rsplit(":", 1)[0] == where:
            continue
        if not where and s.service == top.service:
            continue
        return s.score
    return 0.0


def _confidence(suspects: list[Suspect]) -> float:
    if not suspects or suspects[0].score <= 0:
        return 0.1
    top = suspects[0]
    margin = max(0.0, (top.score - _alternative(suspects)) / top.score)
    base, span = _CONF_LOCATED if top.location else _CONF_SERVICE_ONLY
    return round(base + span * margin, 3)


def _failure_files(es: EvidenceSet, suspects: list[Suspect]) -> tuple[set[str], str]:
    """The files of the failure (the top suspect's and those of suspects raising the same exception) and its exception."""
    if not suspects:
        return set(), ""
    top = suspects[0]
    comp = top.component if top.location else ""
    files = {_file_of(s.location) for s in suspects if s.location and (s is top or (comp and s.component == comp))}
    return {f for f in files if f}, comp


def _of_failure(es: EvidenceSet, item: Evidence, files: set[str], exc: str) -> bool:
    """A frame or commit belongs to the failure when its file is a failure file and the stack it came from raised
    the failure's exception (everyday errors' stacks lend the same files their own, unrelated commits)."""
    file = item.data.get("file") or ""
    if not file or not any(_same_file(file, f) for f in files):
        return False
    origin = es.get(str(item.data.get("from") or ""))
    return origin is None or not exc or str(origin.data.get("exc_type") or "") == exc


def _traffic(es: EvidenceSet) -> Evidence | None:
    """The failure profile when the window's traffic is a multiple of the baseline's (a surge is a trigger)."""
    profile = es.get("failure:profile")
    ratio = profile.data.get("traffic_ratio") if profile is not None else None
    # Twice the usual requests: beyond day-to-day swings, enough to exhaust what was sized for the usual load.
    return profile if profile is not None and ratio is not None and float(ratio) >= 2.0 else None


def _surges(es: EvidenceSet, suspects: list[Suspect]) -> list[Evidence]:
    """``traffic:`` items of a load rise no later than the first errors, on a failing service (a rise on a
    service that did not fail is load it absorbed, not the trigger of this failure)."""
    focus = focus_services(es, suspects)
    return [e for e in preceding_surges(es.items) if e.data.get("failing") or e.data.get("service") in focus]


def _surge_text(surges: list[Evidence]) -> str:
    """'checkout (7.1x), inventory (5.9x)': the surging services and how far each rose."""
    return ", ".join(f"{e.data['service']} ({e.data['ratio']}x)" for e in surges[:3])


def _beyond_traffic(item: Evidence, ratio: float) -> bool:
    """Elevated even once the baseline is scaled by the traffic: errors that grow only as fast as the
    requests (card declines in a sale) are the everyday error rate, not the failure."""
    if ratio <= 1.0 or item.data.get("novelty") is None:
        return True
    expected = float(item.data.get("expected") or 0.0) * ratio
    count = float(item.data.get("count") or 0)
    return count - expected >= 2 * math.sqrt(expected + 1)


def _root_item(es: EvidenceSet, top: Suspect) -> str:
    """The id of the item the root-cause sentence is built from (``_root_text``'s choice), '' for the top suspect's component."""
    items = [e for e in (es.get(i) for i in top.evidence) if e is not None]
    signals = {e.data.get("signal") for e in items}
    for signal, unless in (("stale_tool", ()), ("latency", ("error_span",)), ("behaviour", ("error_span", "error_log"))):
        hit = next((e for e in items if e.data.get("signal") == signal), None)
        if hit is not None and not signals & set(unless):
            return hit.id
    return ""


def focus_services(es: EvidenceSet, suspects: list[Suspect]) -> set[str]:
    """The failing services: the top suspect's, those raising the same exception, and where the failure starts."""
    if not suspects:
        return set()
    top = suspects[0]
    out = {top.service} | {s.service for s in suspects if top.location and s.location and s.component == top.component}
    profile = es.get("failure:profile")
    if profile is not None and profile.data.get("first_failing_service"):
        out.add(str(profile.data["first_failing_service"]))
    return out


def _metric_claims(es: EvidenceSet, top_ids: set[str]) -> list[Claim]:
    """One claim per metric, service and direction, naming every host it moved on."""
    groups: dict[tuple[str, str, str], list[Evidence]] = {}
    for item in _items_by_signal(es, "metric"):
        d = item.data
        groups.setdefault((str(d["name"]), str(d["service"]), str(d["direction"])), []).append(item)
    out = []
    for (name, service, direction), items in groups.items():
        hosts = [str(i.data["host"]) for i in items if i.data.get("host")]
        lo = ", ".join(f"{i.data['baseline_mean']} → {i.data['mean']}" for i in items[:3])
        weight = max(i.score * (2.0 if i.id in top_ids else 1.0) for i in items)
        out.append(Claim(f"{name} of {service} went {direction}" + (f" on {', '.join(hosts[:5])}" if hosts else "")
                         + f": {lo}{' …' if len(items) > 3 else ''} (up to {max(float(i.data['z']) for i in items)} baseline deviations).",
                         [i.id for i in items], round(weight, 4)))
    return out


def _claims(es: EvidenceSet, suspects: list[Suspect]) -> list[Claim]:
    """One candidate claim per evidence item that asserts something, weighed by that item's score
    (``claims.curate_claims`` then merges, orders and caps them)."""
    claims: list[Claim] = []
    top_ids = set(suspects[0].evidence) if suspects else set()
    top_services = {suspects[0].service} if suspects else set()
    files, exc = _failure_files(es, suspects)
    surge = _traffic(es)
    ratio = float(surge.data["traffic_ratio"]) if surge is not None else 1.0
    root_id = _root_item(es, suspects[0]) if suspects else ""

    by_dim = {(_norm_dim(str(e.data.get("dim"))), str(e.data.get("value"))) for e in _items_by_signal(es, "dimension")}

    def traffic_checked(d: dict[str, Any]) -> bool:
        return (_norm_dim(str(d.get("dim"))), str(d.get("value"))) in by_dim

    def add(text: str, item: Evidence) -> None:
        w = item.score * (2.0 if item.id in top_ids else 1.0)
        claims.append(Claim(text, [item.id], round(w, 4)))

    for item in es.items:
        d = item.data
        signal = d.get("signal")
        if signal in ("error_span", "error_log", "fingerprint", "template") and not _beyond_traffic(item, ratio):
            continue
        if signal == "error_span" and (_elevated(item) or item.id in top_ids):
            add(f"{d['count']} '{d['name']}' spans in {d['service']} failed with {d['exc_type']} in the window "
                f"(baseline {d['baseline_count']}), with no failed child span: the failure starts there"
                + (f", raised at {d['location']}" if d.get("location") else "") + ".", item)
        elif signal == "error_log" and _elevated(item):
            add(f"{d['service']} logged {d['count']} {d['level']} lines of this shape (baseline {d['baseline_count']})"
                + (f": {d['exception']}" if d.get("exception") else "") + ".", item)
        elif signal == "latency" and float(d.get("ratio") or 0) >= 2.0:
            add(f"'{d['name']}' in {d['service']} got {d['ratio']:.0f}x slower than in the baseline "
                f"({d['baseline_mean_ms']} ms → {d['mean_ms']} ms)" + (f", code {d['location']}" if d.get("location") else "") + ".",
                item)
        elif signal == "recurrence":
            add(f"'{d['name'][:90]}' recurs {d['schedule']}: {d['occurrences']} runs from {d['first_ts'][:16]} to "
                f"{d['last_ts'][:16]}, about the same size each time, so the window matches its baseline.", item)
        elif signal == "stale_tool":
            whose = (f"in {d['count']} of its {d['calls']} calls in the window (baseline: {d.get('baseline_count')} of "
                     f"{d.get('baseline_calls')})" if d.get("calls") is not None else "to the answer of the incident's trace")
            add(f"Tool {d['name']} returned data {'up to ' if d.get('calls') is not None else ''}{d['age_hours']} h old "
                f"({d['field']}) {whose}"
                + (f"; it comes from {d['peer']}" if d.get("peer") else "") + ".", item)
        elif signal == "dimension":
            add(f"{d['errors']} of {d['all_errors']} error lines come from {d['dim']} {d['value']}, which wrote only "
                f"{d['lines']} of {d['all_lines']} lines.", item)
        elif signal == "comparison" and _norm_dim(str(d.get("dim"))) in ("host", "version") and not traffic_checked(d):
            continue  # the traffic-aware check of hosts and versions found no concentration: everything runs it
        elif signal == "comparison":
            base = d.get("baseline_share")
            add(f"{float(d.get('share') or 0):.0%} of the window's errors have {d['dim']}={d['value']}"
                + (f", against {float(base):.0%} of the baseline's." if base is not None else "."), item)
        elif signal == "fingerprint" and _elevated(item):
            add(f"{item.title}: {d.get('count')} in the window, {d.get('baseline_count')} in the baseline.", item)
        elif signal == "template" and _elevated(item):
            pattern = item.text.rsplit("\n", 1)[-1].strip()[:160] if "\n" in item.text else ""
            where = ", ".join(str(s) for s in (d.get("services") or [])[:3])
            add(f"{'New' if d.get('state') == 'new' else 'More'} {d.get('level') or ''} log lines "
                + (f"'{pattern}'" if pattern else item.id) + (f" from {where}" if where else "")
                + f": {d.get('count')} in the window, {d.get('baseline_count')} in the baseline.", item)
        elif signal == "behaviour" and d.get("service") in {s.service for s in suspects[:3]}:
            add(item.text.split(" An example line")[0], item)
        elif signal == "suspect_service" and d.get("service") in top_services and item.score > 0:
            # The other analysis agreeing on the top suspect supports it; its other ranks are
            # alternatives (the hypotheses), not findings.
            add(f"The trace and metric analysis also ranks {d['service']} first.", item)
        elif signal in ("frame", "commit") and _of_failure(es, item, files, exc):
            if signal == "frame":
                add(item.title + ".", item)
            else:
                add(f"Commit {str(d['commit'])[:12]} last changed the failing code ({d.get('why') or d.get('file')}): "
                    f"{item.title.split(': ', 1)[-1]}.", item)
    claims.extend(_metric_claims(es, top_ids))
    if root_id:  # the finding the root cause is stated from leads the claims (a vanished call, a slowdown, stale data)
        heaviest = max((c.weight for c in claims), default=0.0)
        claims = [Claim(c.text, c.evidence, round(heaviest + 0.5, 4)) if c.evidence == [root_id] else c for c in claims]
    surges = _surges(es, suspects)
    if surges and suspects:
        # A load rise that precedes a saturation failure is its trigger: weighed with the top suspect it explains.
        d = surges[0].data
        claims.append(Claim(f"Requests rose far above the baseline's rate before the first errors: {_surge_text(surges)}; "
                            f"{d['service']} went from {d['baseline_per_s']}/s to {d['per_s']}/s (peak {d['peak_per_s']}/s) from "
                            f"{str(d['rise_ts'])[11:19]}. The surge is the likely trigger of {suspects[0].component or 'the failure'} "
                            f"in {suspects[0].service}.", [e.id for e in surges[:3]],
                            round(0.5 * suspects[0].score, 4)))
    elif surge is not None and suspects:
        # A surge before a saturation failure is its trigger: weighed with the top suspect it explains.
        claims.append(Claim(f"Traffic in the window was {surge.data['traffic_ratio']}x the baseline's: the surge is the likely "
                            f"trigger of {suspects[0].component or 'the failure'} in {suspects[0].service}.",
                            [surge.id], round(0.5 * suspects[0].score, 4)))
    return claims


def _hypotheses(es: EvidenceSet, suspects: list[Suspect]) -> list[Hypothesis]:
    out: list[Hypothesis] = []
    for i, s in enumerate(suspects[:4]):
        if i == 0:
            out.append(Hypothesis(f"The fault is in {_where(s, es)}.", "kept", f"strongest combined evidence (score {s.score:.1f})", s.evidence[:3]))
        else:
            out.append(Hypothesis(f"The fault is in {_where(s, es)}.", "rejected",
                                  f"weaker evidence (score {s.score:.1f} against {suspects[0].score:.1f}); "
                                  "possibly a consequence of the top suspect", s.evidence[:3]))
    for item in _items_by_signal(es, "error_span", "error_log", "fingerprint"):
        if not _elevated(item):
            d = item.data
            what = d.get("exc_type") or d.get("exception") or item.title
            out.append(Hypothesis(f"{what} in {d.get('service') or ', '.join(d.get('services') or [])} causes the incident.", "rejected",
                                  f"it happens as usual: {d.get('count')} in the window, {d.get('baseline_count')} in the baseline",
                                  [item.id]))
    return out[:12]


def _remediation(es: EvidenceSet, suspects: list[Suspect]) -> list[str]:
    steps: list[str] = []
    if not suspects:
        return ["Widen the window or ingest traces and metrics for it: no signal stands out from the baseline."]
    top = suspects[0]
    comp = top.component.lower()
    top_items = [es.get(i) for i in top.evidence]
    recur = _recurrence_of(es, top)
    if recur is not None:
        steps.append(f"Find the scheduled job behind it (cron, a systemd timer, log rotation, a backup) of {_where(top, es)}, running "
                     f"{recur.data['schedule']}, and fix what it fails on, or stop it logging a routine outcome as an error "
                     f"({recur.id}).")
    surges = _surges(es, suspects)
    if surges:
        # load, not code, started it: first take the load off (the specific fix of a surge), then the rest
        steps.append(f"Scale out {', '.join(e.data['service'] for e in surges[:3])} (more hosts or workers, pools sized for "
                     f"the peak) or shed or queue the excess at the entry point until the surge passes: requests rose far above the "
                     f"baseline's rate before the errors, {_surge_text(surges)} ({', '.join(e.id for e in surges[:3])}).")
    stale = [e for e in top_items if e is not None and e.data.get("signal") == "stale_tool"]
    slow = [e for e in top_items if e is not None and e.data.get("signal") == "latency"]
    for item in _items_by_signal(es, "dimension"):
        d = item.data
        if d["dim"] == "version":
            steps.append(f"Roll back version {d['value']} where it runs, then redeploy once the fix is tested.")
        elif d["dim"] == "host":
            steps.append(f"Take host {d['value']} out of rotation and compare its configuration and version with the healthy hosts.")
    if stale:
        d = stale[0].data
        steps.append(f"Refresh or bypass the cached data behind {d['name']}" + (f" ({d['peer']})" if d.get("peer") else "")
                     + f", and reject results whose {d['field']} is older than the freshness the answer needs.")
    elif slow and slow[0].data.get("db"):
        steps.append(f"Check the query plan of {slow[0].data.get('statement') or slow[0].data['name']} (a dropped or missing index?) "
                     "and restore the index or rewrite the query.")
    elif "pool" in comp:
        # Before "timeout": a pool timeout is a wait for a free slot of this process's own pool, not a slow dependency.
        surge = _traffic(es)
        steps.append("Release database connections before slow outbound calls (a request must not hold one while it waits "
                     "on another service), and size the pool for peak traffic"
                     + (f": the window's traffic was {surge.data['traffic_ratio']}x the baseline's." if surge is not None else "."))
        if surge is not None and not surges:
            steps.append("Until then, shed or queue the excess load (rate-limit the surging entry point) or scale out, "
                         "so the pool's waiters time out less often.")
    elif "timeout" in comp:
        steps.append(f"Check the dependency {top.service} calls (its latency and status); keep the client timeout and add a "
                     "circuit breaker or retry with backoff rather than failing every request.")
    elif "config" in comp:
        steps.append("Revert the configuration change that the start-up validation rejects, then restart the affected hosts.")
    if top.location:
        steps.append(f"Fix the code at {top.location} and add a regression test that reproduces {top.component}.")
    if top.commit:
        steps.append(f"Review commit {top.commit[:12]}, the last change to the failing lines.")
    steps.append("Watch the error rate and latency of the affected services until they are back at the baseline.")
    return steps


def _timeline(es: EvidenceSet) -> list[TimelineEvent]:
    events = []
    for item in es.items:
        d = item.data
        if d.get("first_ts") and (d.get("signal") in ("error_span", "error_log", "fingerprint")) and _elevated(item):
            events.append(TimelineEvent(d["first_ts"], f"first {item.title}", [item.id]))
    events.sort(key=lambda t: (t.ts, t.event))
    return events[:8]


def _recurrence_of(es: EvidenceSet, top: Suspect) -> Evidence | None:
    """The schedule the incident stands for, when the top suspect is its source (its error lines
    may rank as a suspect of their own beside it: the schedule still explains them)."""
    return next((e for e in _items_by_signal(es, "recurrence") if e.data.get("service") == top.service), None)


def _root_text(es: EvidenceSet, top: Suspect) -> str:
    items = [e for e in (es.get(i) for i in top.evidence) if e is not None]
    recur = _recurrence_of(es, top)
    if recur is not None:
        d = recur.data
        return (f"a scheduled job of {_where(top, es)} fails the same way on every run: '{d['name'][:90]}' recurs "
                f"{d['schedule']} ({d['occurrences']} runs since {d['first_ts'][:10]}); routine, not a new failure")
    stale = next((e for e in items if e.data.get("signal") == "stale_tool"), None)
    if stale is not None:
        d = stale.data
        return (f"tool {d['name']} served data {d['age_hours']} h old ({d['field']})"
                + (f" from {d['peer']}" if d.get("peer") else "") + f" to {_where(top, es)}, and the answer was built on it")
    slow = next((e for e in items if e.data.get("signal") == "latency"), None)
    if slow is not None and not any(e.data.get("signal") == "error_span" for e in items):
        d = slow.data
        return f"'{d['name']}' became {d['ratio']:.0f}x slower ({d['baseline_mean_ms']} → {d['mean_ms']} ms) in {_where(top, es)}"
    changed = next((e for e in items if e.data.get("signal") == "behaviour"), None)
    if changed is not None and not any(e.data.get("signal") in ("error_span", "error_log") for e in items):
        # Nothing failed and nothing slowed: what the service stopped (or started) doing is the finding.
        d = changed.data
        what = (f"'{d['what']}' calls under {d['parent']}" if d["kind"] == "call" else f"log lines '{d['what'][:80]}'")
        return (f"{d['service']} changed behaviour without raising: {what} {d['direction']} "
                f"({d['observed']} in the window where the baseline predicts {d['expected']:.0f})")
    errors = next((e for e in items if e.data.get("signal") == "error_log"), None)
    if errors is not None and not top.location and top.component == "service":
        # Error lines without an exception: what they say is the best name of the failure.
        d = errors.data
        return f"{d['count']} {d['level']} lines '{d.get('message') or errors.title}' in {_where(top, es)}"
    return f"{top.component} raised in {_where(top, es)}"


def analyze_offline(es: EvidenceSet, *, title: str = "") -> RcaReport:
    """The offline report: ranked suspects and claims built only from the evidence set, each claim cited.

    >>> # analyze_offline(assemble_evidence(ws, settings, incident_id)).suspects[0].service
    """
    suspects = rank_suspects(es)
    claims, more = curate_claims(_claims(es, suspects), es.items, suspects[0].evidence if suspects else (),
                                 focus=focus_services(es, suspects))
    if suspects:
        top = suspects[0]
        extra = []
        for item in _items_by_signal(es, "dimension"):
            extra.append(f"{item.data['dim']} {item.data['value']}")
        surge, surges = _traffic(es), _surges(es, suspects)
        load = (f", under {surge.data['traffic_ratio']}x the baseline's traffic" if surge is not None
                else f", under a surge of requests to {_surge_text(surges)}" if surges else "")
        root = _root_text(es, top) + (f", concentrated on {' and '.join(extra)}" if extra else "") + load + "."
        if top.commit:
            root = root[:-1] + f"; last changed in commit {top.commit[:12]}."
    else:
        root = "No signal in the window stands out from the baseline."
    errors = sum(int(e.data.get("count") or 0) for e in _items_by_signal(es, "error_log") if _elevated(e))
    span_fail = sum(int(e.data.get("traces") or 0) for e in _items_by_signal(es, "error_span") if _elevated(e))
    services = sorted({str(e.data.get("service")) for e in _items_by_signal(es, "error_log", "error_span", "latency", "stale_tool")
                       if e.data.get("service") and (_elevated(e))})
    impact = (f"{errors} elevated error lines and {span_fail} failed traces in the window"
              + (f"; services involved: {', '.join(services)}" if services else "") + ".")
    summary = ((title + ": ") if title else "") + (
        f"the evidence points at {_where(suspects[0], es)} ({suspects[0].component})." if suspects
        else "no root-cause suspect stands out; see the evidence.")
    if not claims:
        # Even an inconclusive report must say what it looked at, citing it.
        claims = [Claim(f"Looked at {len(es.items)} evidence items; none is elevated against the baseline.", es.ids()[:5])] if es.items else []
    return RcaReport(
        summary=summary, root_cause=root, confidence=_confidence(suspects), impact=impact, timeline=_timeline(es),
        claims=claims, more_claims=more, suspects=suspects, remediation=_remediation(es, suspects), hypotheses=_hypotheses(es, suspects),
        engine="offline", model="crashlens-offline-1", notice="",
    )
