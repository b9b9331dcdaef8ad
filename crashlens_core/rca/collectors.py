"""The evidence collectors over the workspace's own records: error lines, error and slow spans,
metric shifts, error concentrations, an incident's own trace, templates and fingerprints.

Each collector is ``collector(ctx: CollectorContext) -> list[Evidence]``: it reads its rows from
``store.rca`` for the analysed window and its baseline, and writes every fact the analyzers use
into ``Evidence.data`` (``data["signal"]`` names the collector), so an analysis can be re-run
from a recorded set alone. ``evidence.COLLECTORS`` lists them in order.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ..config import Settings
from ..ingest.normalize import parse_ts
from ..models import Evidence, Incident
from ..signals.naming import source_name
from ..signals.metrics_anomaly import MIN_BASELINE_SAMPLES
from ..signals.suspects import client_side_metric
from ..store import Workspace
from ..store import rca as sql
from ..store.changes import active_seconds
from ..store.traces import origin_blame
from .stack_facts import stack_facts

__all__ = ["CollectorContext", "novelty", "iso", "collect_error_logs", "collect_error_spans", "collect_latency",
           "collect_metrics", "collect_dimensions", "collect_incident_trace", "collect_stale_tools", "collect_templates",
           "collect_fingerprints", "STALE_MIN_HOURS"]

_MAX_ITEM_CHARS = 2400


@dataclass
class CollectorContext:
    """What every collector gets: the workspace, settings, incident, analysed window and baseline,
    and the items collected so far (later collectors build on earlier ones, e.g. frames on errors)."""

    ws: Workspace
    settings: Settings
    incident: Incident | None
    start: datetime
    end: datetime
    b_start: datetime
    b_end: datetime
    items: list[Evidence] = field(default_factory=list)

    @cached_property
    def ratio(self) -> float:
        """Window length over baseline length: scales a baseline count to an expected window count.

        Measured over the time each period holds data (first to last log or span): a baseline a
        user or the default picks often covers a stretch only partly recorded (the minute of
        data before an incident in a five-minute default baseline), and its counts predict the
        window's only per second of data. Wall time when the baseline holds too little data.
        """
        base = (self.b_end - self.b_start).total_seconds()
        wall = (self.end - self.start).total_seconds() / base if base > 0 else 1.0
        active_b = active_seconds(self.ws, self.b_start, self.b_end)
        active_w = active_seconds(self.ws, self.start, self.end)
        if active_b < MIN_ACTIVE_S or active_w <= 0:
            return wall
        return active_w / active_b


# A baseline with less data than this gives no rate to compare with (as rca.traffic).
MIN_ACTIVE_S = 30.0


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return str(value)


def _num(value: Any, digits: int = 4) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _clip(text: str, limit: int = _MAX_ITEM_CHARS) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 20] + "\n… (truncated)"


def novelty(count: int, baseline_count: int, ratio: float) -> float:
    """log2 of how much more often something happens than the baseline predicts (0 = as usual)."""
    expected = baseline_count * ratio
    return max(0.0, math.log2((count + 1.0) / (expected + 1.0)))


def _code_location(attrs: dict[str, Any]) -> str:
    if attrs.get("code.filepath"):
        return f"{attrs['code.filepath']}:{attrs.get('code.function') or '?'}:{attrs.get('code.lineno') or '?'}"
    return ""


def _attrs(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _stacktrace(attrs: dict[str, Any]) -> str:
    if attrs.get("exception.stacktrace"):
        return str(attrs["exception.stacktrace"])
    for event in attrs.get("events") or []:
        ev = (event or {}).get("attributes") or {}
        if ev.get("exception.stacktrace"):
            return str(ev["exception.stacktrace"])
    return ""


def _first_line(text: str) -> str:
    return (text or "").split("\n", 1)[0].strip()


def _who(name: str, basis: str) -> str:
    """The source named in an item's text, saying what the name is when it is not a service."""
    return {"service": name, "host": f"host {name} (the lines name no service)",
            "file": f"file {name} (the lines name no service or host)"}.get(basis, "an unnamed source (no service, host or file)")


# ---------------------------------------------------------------- collectors (one per signal kind)

def collect_error_logs(ctx: CollectorContext) -> list[Evidence]:
    """Error and fatal lines, grouped by service and shape, each with the lines that led up to it."""
    out = []
    lines = ctx.settings.rca_context_lines
    for g in sql.error_log_groups(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end):
        stack = stack_facts(g["message"], ctx.settings)
        nov = novelty(g["n"], g["baseline_n"], ctx.ratio)
        context = sql.log_context(ctx.ws, g["example_id"], g["first_ts"], g["example_host"], lines)
        ctx_text = "".join(f"  {iso(c['ts'])} {c['level'] or '-'} {c['service'] or '-'}: {(c['message'] or '')[:200]}\n"
                           for c in context)
        host_list = [h for h in (g["host_list"] or []) if h]
        # Lines without a service are named by their one host, else by their file (signals.naming).
        name, basis = source_name(g["service"] or None, host_list if len(host_list) == 1 else (), [g["example_file"]])
        on_hosts = f" on {len(host_list)} host(s) ({', '.join(host_list)})" if host_list else ""
        text = (f"{g['n']} {g['level']} lines from {_who(name, basis)}{on_hosts} "
                f"between {iso(g['first_ts'])} and {iso(g['last_ts'])}; {g['baseline_n']} in the baseline window.\n"
                + (f"Lines before the first one{' on ' + g['example_host'] if g['example_host'] else ''}:\n{ctx_text}" if ctx_text else "")
                + f"First occurrence (log {g['example_id']}):\n{_clip(g['message'], 1600)}")
        out.append(Evidence(
            f"log:{g['example_id']}", "log", f"{g['level']} {name}: {_first_line(g['message'])[:100]}", _clip(text),
            round(1.0 + nov * math.log2(1 + g["n"]), 4),
            {"signal": "error_log", "service": name, "named_by": basis, "level": g["level"], "count": g["n"],
             "message": _first_line(g["message"])[:200],
             "baseline_count": g["baseline_n"], "expected": _num(g["baseline_n"] * ctx.ratio), "novelty": _num(nov), "hosts": host_list,
             "first_ts": iso(g["first_ts"]), "last_ts": iso(g["last_ts"]), "exc_type": stack.exc_type or g["exc_type"],
             "exception": stack.exception[:300], "chain": stack.chain, "location": stack.location, "frames": stack.frames[:8],
             "trace_id": g["trace_id"],
             "context_ids": [f"log:{c['id']}" for c in context]}))
    return out


def collect_error_spans(ctx: CollectorContext) -> list[Evidence]:
    """Where failures start in traces: failed spans with no failed child, by service, operation, exception."""
    out = []
    groups = sql.error_span_groups(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end)
    blamed = origin_blame(ctx.ws, [tuple(k) for g in groups for k in g["sample"] or []])
    for g in groups:
        # An error that shows here but was caused elsewhere (a silent callee, a refused
        # request): the group goes to the service at fault when most of its sample says so.
        votes = Counter((blamed[tuple(k)]["service"], blamed[tuple(k)]["why"]) for k in g["sample"] or [] if tuple(k) in blamed)
        (blame_service, why), n_votes = votes.most_common(1)[0] if votes else ((None, None), 0)
        if 2 * n_votes <= len(g["sample"] or []):
            blame_service, why = None, None
        attrs = _attrs(g["attributes"])
        trace = _stacktrace(attrs)
        stack = stack_facts(trace, ctx.settings)
        location = stack.location or _code_location(attrs)
        nov = novelty(g["n"], g["baseline_n"], ctx.ratio)
        message = str(attrs.get("exception.message") or attrs.get("status.message") or "")
        host = str(attrs.get("host.name") or attrs.get("host") or "")
        version = attrs.get("service.version") or ""
        # A span without a service is named by its host, as log lines are (signals.naming).
        span_service, basis = source_name(g["service"] or None, [host])
        op = g["name"] or "(unnamed span)"
        where = {"refused": f" Most answered the caller {blame_service} with a 4xx: its request was refused, so the "
                            f"fault is the caller's, not {span_service}'s.",
                 "slow_callee": f" They are calls to {blame_service} that the caller gave up waiting for: {blame_service}'s "
                                f"span outlived the call, so the fault is {blame_service}'s; {span_service} only reports it.",
                 "silent_callee": f" They are calls to {blame_service}, which left no span of its own (timed out or "
                                  f"unreachable): the fault is {blame_service}'s; {span_service} only reports it."}.get(why or "", "")
        text = (f"{g['n']} failed spans '{op}' in {span_service} ({g['traces']} traces) with {g['exc_type']}"
                f"{': ' + message[:300] if message else ''}; no failed child span, so the failure starts here.{where} "
                f"{g['baseline_n']} in the baseline window. First at {iso(g['first_ts'])}"
                + (f" on {host}" if host else "") + (f" (version {version})" if version else "") + "."
                + (f"\nStack trace:\n{_clip(trace, 1500)}" if trace else (f"\nCode: {location}" if location else "")))
        out.append(Evidence(
            f"span:{g['example_span']}", "span",
            f"error origin {span_service}/{op}: {g['exc_type']}" + (f" (fault: {blame_service}, {why})" if why else ""),
            _clip(text), round(1.5 + nov * math.log2(1 + g["n"]), 4),
            {"signal": "error_span", "service": blame_service or span_service, "named_by": "service" if blame_service else basis,
             "name": op, "exc_type": g["exc_type"], "span_service": span_service, "why": why,
             "message": message[:300], "count": g["n"], "traces": g["traces"], "baseline_count": g["baseline_n"],
             "expected": _num(g["baseline_n"] * ctx.ratio), "novelty": _num(nov), "location": "" if why else location, "frames": stack.frames[:8], "chain": stack.chain, "host": host, "version": version,
             "trace_id": g["trace_id"], "first_ts": iso(g["first_ts"]), "last_ts": iso(g["last_ts"])}))
    return out


# A slowdown counts fully when it added at least this share of the time the window's largest
# slowdown added: the time an incident costs is spent somewhere, and a shift that explains a
# hundredth of it is a bystander's noise (a query whose mean moved with one stray slow call).
ADDED_SHARE = 0.1


def collect_latency(ctx: CollectorContext) -> list[Evidence]:
    """Operations that got slower than in the baseline, with the code behind the slowest call.

    An item weighs log2 of its slowdown, scaled down when few calls back it and when the time
    it added (calls × extra mean) is a small part of the largest addition among the window's
    shifts (``ADDED_SHARE``): a query 10x slower by 3 ms is not where an incident's seconds went.
    """
    out = []
    shifts = sql.latency_shifts(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end)
    added = {id(r): r["n"] * (float(r["mean_ms"]) - float(r["baseline_mean_ms"])) for r in shifts}
    most = max(added.values(), default=0.0)
    # The share of an operation's slowdown spent in its own spans, outside their children: a
    # caller is as slow as the callee it waits for, so its slowdown is the callee's symptom
    # (the callee's own spans, or the client span's wait on the wire, carry it). It damps the
    # callers, so one slow leaf does not make every operation above it a suspect.
    own = {id(r): min(1.0, max(0.0, (float(r["self_ms"] or 0.0) - float(r["baseline_self_ms"] or 0.0))
                               / max(float(r["mean_ms"]) - float(r["baseline_mean_ms"]), 1e-9))) for r in shifts}
    for r in shifts:
        attrs = _attrs(r["attributes"])
        statement = str(attrs.get("db.statement") or "")
        peer = str(attrs.get("peer.service") or "")
        location = _code_location(attrs)
        ratio = float(r["ratio"])
        service, basis = source_name(r["service"] or None, [str(attrs.get("host.name") or attrs.get("host") or "")])
        op = r["name"] or "(unnamed span)"
        text = (f"'{op}' in {service}: mean {r['mean_ms']:.1f} ms over {r['n']} calls in the window against "
                f"{r['baseline_mean_ms']:.1f} ms over {r['baseline_n']} in the baseline ({ratio:.1f}x); p95 {r['p95_ms']:.1f} ms "
                f"(baseline {r['baseline_p95_ms']:.1f} ms); slowest {r['max_ms']:.1f} ms (span {r['span_id']})."
                + (f"\nStatement: {statement[:400]}" if statement else "") + (f"\nCalls: {peer or r['callee']}" if peer or r["callee"] else "")
                + (f"\nCode: {location}" if location else ""))
        out.append(Evidence(
            f"span:{r['span_id']}", "span", f"slower {service}/{op} ({ratio:.1f}x)", _clip(text),
            round(math.log2(ratio) * min(1.0, r["n"] / 10.0) * own[id(r)] * min(1.0, added[id(r)] / max(ADDED_SHARE * most, 1e-9)), 4),
            {"signal": "latency", "service": service, "named_by": basis, "name": op, "count": r["n"], "ratio": _num(ratio),
             "mean_ms": _num(r["mean_ms"]), "baseline_mean_ms": _num(r["baseline_mean_ms"]), "p95_ms": _num(r["p95_ms"]),
             "own_share": _num(own[id(r)], 3),
             "location": location, "statement": statement[:400], "peer": peer, "callee": r["callee"] or "",
             "trace_id": r["trace_id"],
             "db": bool(attrs.get("db.system"))}))
    return out


def collect_metrics(ctx: CollectorContext) -> list[Evidence]:
    """Metric series whose mean in the window is far outside the baseline's spread.

    Only series with ``MIN_BASELINE_SAMPLES`` in the baseline: one or two samples have no spread, so
    a one-minute baseline of a series scraped every minute would make any wobble of its level a
    shift of "1000 deviations" (the same rule as ``signals.metrics_anomaly``)."""
    out = []
    for r in sql.metric_shifts(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end, min_baseline=MIN_BASELINE_SAMPLES):
        scope = r["service"] + (f"@{r['host']}" if r["host"] else "")
        direction = "up" if r["mean"] > r["baseline_mean"] else "down"
        text = (f"{r['name']} for {scope or '(all)'} went {direction}: mean {r['mean']:.4g} (peak {r['peak']:.4g}, low {r['low']:.4g}) "
                f"over {r['n']} samples in the window against {r['baseline_mean']:.4g} ± {r['baseline_sd']:.3g} in the baseline "
                f"({r['z']:.1f} baseline deviations).")
        # The id follows signals.metrics_anomaly: metric:<service>.<name>[@<host>]
        mid = (f"metric:{r['service']}.{r['name']}" if r["service"] else f"metric:{r['name']}") + (f"@{r['host']}" if r["host"] else "")
        out.append(Evidence(
            mid, "metric", f"{r['name']} {direction} ({scope or 'all'})", text,
            round(min(3.0, math.log2(1 + float(r["z"])) / 2), 4),
            {"signal": "metric", "name": r["name"], "service": r["service"], "host": r["host"], "mean": _num(r["mean"]),
             "baseline_mean": _num(r["baseline_mean"]), "peak": _num(r["peak"]), "low": _num(r["low"]), "z": _num(r["z"], 2),
             "direction": direction, "client_side": client_side_metric(r["name"])}))
    return out


def collect_dimensions(ctx: CollectorContext) -> list[Evidence]:
    """Hosts or versions that carry most of the window's errors but not most of its traffic."""
    out = []
    for r in sql.error_dimensions(ctx.ws, ctx.start, ctx.end):
        if r["values_n"] < 2 or r["all_errors"] < 3 or not r["lines"]:
            continue
        share = r["errors"] / r["all_errors"]
        traffic = r["lines"] / r["all_lines"]
        lift = share / traffic if traffic else 0.0
        if share < 0.6 or lift < 1.5:
            continue
        text = (f"{r['errors']} of the window's {r['all_errors']} error lines ({share:.0%}) come from {r['dim']} {r['value']}, "
                f"which wrote {traffic:.0%} of all lines ({r['lines']} of {r['all_lines']}); errors are {lift:.1f}x over-represented there.")
        out.append(Evidence(
            f"dim:{r['dim']}={r['value']}", "dim", f"errors concentrated on {r['dim']} {r['value']}", text,
            round(1.0 + min(3.0, lift) * share, 4),
            {"signal": "dimension", "dim": r["dim"], "value": r["value"], "errors": r["errors"], "all_errors": r["all_errors"],
             "lines": r["lines"], "all_lines": r["all_lines"], "share": _num(share), "lift": _num(lift)}))
    return out


_STALE_KEYS = ("as_of", "asof", "fetched_at", "updated_at", "generated_at", "cached_at", "last_updated", "data_as_of")
STALE_MIN_HOURS = 1.0  # a tool result whose freshness stamp is this much older than the call is stale data


def _tool_source(by_parent: dict[str, list[dict[str, Any]]], span: dict[str, Any], attrs: dict[str, Any]) -> tuple[str, str]:
    """Where a tool call's data comes from: the code location and peer service of its child span that carries
    code attributes (the client call the tool makes), else the tool span's own code location."""
    child = next((c for c in by_parent.get(span["span_id"], []) if _attrs(c["attributes"]).get("code.filepath")), None)
    cattrs = _attrs(child["attributes"]) if child else {}
    return _code_location(cattrs) or _code_location(attrs), str(cattrs.get("peer.service") or "")


def collect_incident_trace(ctx: CollectorContext) -> list[Evidence]:
    """A business incident's own trace (details.trace_id): its tool calls, flagging results built on stale data."""
    details = (ctx.incident.details if ctx.incident else {}) or {}
    trace_id = details.get("trace_id")
    if not trace_id:
        return []
    spans = sql.trace_spans(ctx.ws, str(trace_id))
    if not spans:
        return []
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_parent.setdefault(s["parent_id"] or "", []).append(s)
    out = []
    lines = []
    for s in spans:
        attrs = _attrs(s["attributes"])
        tool = attrs.get("agent.tool")
        lines.append(f"  {s['service'] or '-'}/{s['name'] or '-'} {s['duration_ms'] or 0:.1f} ms {s['status'] or '-'}"
                     + (f" args={str(attrs.get('agent.args'))[:150]} result={str(attrs.get('agent.result'))[:250]}" if tool else ""))
        if not tool:
            continue
        result = _attrs(attrs.get("agent.result"))
        for key in _STALE_KEYS:
            stamp = parse_ts(str(result[key])) if result.get(key) else None
            if stamp is None or s["start_ts"] is None:
                continue
            age_h = (s["start_ts"] - stamp).total_seconds() / 3600
            if age_h < STALE_MIN_HOURS:
                continue
            location, peer = _tool_source(by_parent, s, attrs)
            text = (f"Tool call {tool} in {s['service'] or '(no service)'} (trace {trace_id}) returned data with {key}={result[key]}, "
                    f"{age_h:.1f} h older than the call at {iso(s['start_ts'])}; the answer was built on it."
                    + (f"\nSource: {peer}" if peer else "") + (f"\nCode: {location}" if location else "")
                    + f"\nArguments: {str(attrs.get('agent.args'))[:300]}\nResult: {str(attrs.get('agent.result'))[:600]}")
            out.append(Evidence(
                f"span:{s['span_id']}", "span", f"stale data from tool {tool} ({age_h:.0f} h old)", _clip(text), 6.0,
                {"signal": "stale_tool", "service": s["service"], "name": tool, "location": location, "peer": peer,
                 "age_hours": _num(age_h, 2), "field": key, "trace_id": trace_id}))
            break
    facts = ", ".join(f"{k}={details[k]}" for k in sorted(details) if k not in ("description",) and details[k] is not None)
    out.append(Evidence(
        f"trace:{trace_id}", "trace", f"the incident's trace {str(trace_id)[:12]}", _clip(f"Incident facts: {facts}\nSpans:\n" + "\n".join(lines)),
        2.0, {"signal": "incident_trace", "trace_id": trace_id, "spans": len(spans)}))
    return out


def collect_stale_tools(ctx: CollectorContext) -> list[Evidence]:
    """Tool calls across the window that returned stale data, per service and tool, beyond what the
    baseline's calls did (``stale:<service>:<tool>``).

    A dependency that serves old data fails no span and slows nothing; an incident's own trace shows
    it for one answer (``collect_incident_trace``), this shows it for the window when there is no
    such trace, or for the tools that trace did not call. A group counts when its stale calls exceed
    the baseline's stale share, scaled to the window's calls, by about two Poisson deviations."""
    seen = {(e.data.get("service"), e.data.get("name")) for e in ctx.items if e.data.get("signal") == "stale_tool"}
    out = []
    for r in sql.stale_tool_calls(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end, _STALE_KEYS, STALE_MIN_HOURS):
        service, tool, stale, calls = r["service"], r["tool"], int(r["stale"]), int(r["calls"])
        if not service or (service, tool) in seen:
            continue
        b_calls, b_stale = int(r["baseline_calls"]), int(r["baseline_stale"])
        expected = b_stale * calls / b_calls if b_calls else 0.0
        if stale < 3 or stale - expected < 2 * math.sqrt(expected + 1):
            continue
        spans = sql.trace_spans(ctx.ws, str(r["trace_id"])) if r["trace_id"] else []
        by_parent: dict[str, list[dict[str, Any]]] = {}
        for s in spans:
            by_parent.setdefault(s["parent_id"] or "", []).append(s)
        example = next((s for s in spans if s["span_id"] == r["span_id"]), None)
        location, peer = _tool_source(by_parent, example, _attrs(example["attributes"])) if example else ("", "")
        age_h = float(r["max_age_hours"])
        text = (f"{stale} of the {calls} calls of tool {tool} in {service} in the window returned data with a {r['field']} "
                f"at least {STALE_MIN_HOURS:g} h older than the call (up to {age_h:.1f} h; baseline: {b_stale} of {b_calls}); "
                f"the answers were built on it. Stalest call: span {r['span_id']} of trace {r['trace_id']}."
                + (f"\nSource: {peer}" if peer else "") + (f"\nCode: {location}" if location else ""))
        out.append(Evidence(
            f"stale:{service}:{tool}", "span", f"stale data from tool {tool} in {stale} of {calls} calls ({age_h:.0f} h old)",
            _clip(text), round(6.0 * stale / max(1, calls), 4),
            {"signal": "stale_tool", "service": service, "name": tool, "location": location, "peer": peer,
             "age_hours": _num(age_h, 2), "field": r["field"], "trace_id": r["trace_id"], "span_id": r["span_id"],
             "count": stale, "calls": calls, "baseline_count": b_stale, "baseline_calls": b_calls,
             "expected": _num(expected, 2), "novelty": _num(novelty(stale, b_stale, calls / b_calls if b_calls else 0.0), 3)}))
    return out


def _services_or_source(r: dict[str, Any]) -> tuple[list[str], str]:
    """A template's or fingerprint's services and how the text names them; lines without a service
    are named by their one host, else their file, as error lines are (so the items agree)."""
    services = [x for x in (r["services"] or []) if x]
    if services:
        return services, f"services {', '.join(services)}"
    hosts = [h for h in (r.get("hosts") or []) if h]
    name, basis = source_name(None, hosts if len(hosts) == 1 else (), r.get("files") or [])
    return ([name] if basis != "none" else []), f"from {_who(name, basis)}"


def collect_templates(ctx: CollectorContext) -> list[Evidence]:
    """New or elevated log templates (from the mined ``templates`` table)."""
    out = []
    for r in sql.template_shifts(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end):
        nov = novelty(r["n"], r["baseline_n"], ctx.ratio)
        if nov < 1.0:
            continue
        state = "new" if r["baseline_n"] == 0 else "elevated"
        services, source = _services_or_source(r)
        text = (f"Template {r['template_id']} ({state}): {r['n']} lines in the window, {r['baseline_n']} in the baseline; "
                f"{source}; highest level {r['level'] or '-'}.\n{_clip(r['template'], 600)}")
        out.append(Evidence(f"tpl:{r['template_id']}", "tpl", f"{state} template {r['template_id']}", text,
                            round(0.5 + 0.5 * nov, 4),
                            {"signal": "template", "services": services, "count": r["n"], "baseline_count": r["baseline_n"],
                             "expected": _num(r["baseline_n"] * ctx.ratio), "novelty": _num(nov), "level": r["level"], "state": state, "example_log": f"log:{r['example_id']}"}))
        if len(out) >= 15:
            break
    return out


def collect_fingerprints(ctx: CollectorContext) -> list[Evidence]:
    """Exception fingerprints (from the mined ``fingerprints`` table) seen in the window."""
    out = []
    for r in sql.fingerprint_groups(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end):
        nov = novelty(r["n"], r["baseline_n"], ctx.ratio)
        try:
            stored = json.loads(r["frames"]) if isinstance(r["frames"], str) else r["frames"]
        except ValueError:
            stored = None
        stack = stack_facts(r["example"] or "", ctx.settings)
        location = stack.location
        if not location and isinstance(stored, list) and stored:
            inner = stored[0]  # signals.fingerprints stores frames innermost first, as signals.stacks orders them
            location = f"{inner.get('file') or '?'}:{inner.get('function') or '?'}:?"
        services, source = _services_or_source(r)
        exc_type = r["exc_type"] or "exception"
        text = (f"Exception {exc_type} (fingerprint {r['fingerprint'][:12]}): {r['n']} in the window, {r['baseline_n']} in "
                f"the baseline; {source}"
                + (f"; crashes in {r['culprit']}" if r.get("culprit") else "") + ".\n"
                f"{_clip(r['example'] or r['message'] or '', 1500)}")
        out.append(Evidence(f"fp:{r['fingerprint']}", "fp", f"exception {exc_type}", _clip(text),
                            round(1.0 + nov * math.log2(1 + r["n"]), 4),
                            {"signal": "fingerprint", "exc_type": exc_type, "services": services, "count": r["n"],
                             "baseline_count": r["baseline_n"], "expected": _num(r["baseline_n"] * ctx.ratio),
                             "novelty": _num(nov), "location": location, "frames": stack.frames[:8], "chain": stack.chain,
                             "first_ts": iso(r["first_ts"])}))
    return out
