"""Evidence assembly: everything that may explain an incident, as citable items under stable ids.

``assemble_evidence`` runs one collector per signal kind over the analysed window and its
baseline, redacts every item (when the redaction module is present), ranks the items and
trims the set to a token budget. An item is kept or dropped whole, never cut; what was
dropped is listed. Each item has a digest (sha256 of its canonical JSON) and so does the set:
strict replay checks them.

Collectors are plain functions ``collector(ctx) -> list[Evidence]`` in ``COLLECTORS``; a new
signal plugs in by adding one. Collectors built on modules other engineers own (frames and
suspect commits, trace suspects, baseline comparison, runbook/code search) import them lazily
and report ``skipped`` when the module is not there, so the set degrades instead of failing.
Every fact the analyzers use is in ``Evidence.data`` (``data["signal"]`` says which
collector made it), so an analysis can be re-run from a recorded set alone.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from ..config import Settings
from ..errors import InputError
from ..models import Evidence, Incident
from ..store import Workspace
from ..store import rca as sql
from ..store.traces import origin_blame
from .changes import collect_changes  # issue 15 hook
from .schema import canonical_json, sha256_hex

__all__ = ["EvidenceSet", "assemble_evidence", "resolve_window", "item_digest", "estimate_tokens", "parse_frames",
           "COLLECTORS", "EVIDENCE_SCHEMA"]

EVIDENCE_SCHEMA = "crashlens.evidence/v1"
_MAX_ITEM_CHARS = 2400
_FRAME_PY = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>[^\s]+)')
_FRAME_JAVA = re.compile(r"^\s*at (?P<function>[\w$.<>]+)\((?P<file>[\w$.-]+):(?P<line>\d+)\)", re.MULTILINE)
_FRAME_NODE = re.compile(r"^\s*at (?:(?P<function>[\w$.<>]+) \()?(?P<file>[^():\s]+):(?P<line>\d+):\d+\)?", re.MULTILINE)
_NOT_APP = ("site-packages", "dist-packages", "/lib/python", "<frozen", "node_modules", "java.", "sun.", "jdk.")


# ---------------------------------------------------------------- the set

def item_digest(item: Evidence) -> str:
    return sha256_hex(canonical_json(item.to_json()))


def estimate_tokens(item: Evidence) -> int:
    """About four characters per token, counted on what is sent: the item's JSON."""
    return max(1, math.ceil(len(canonical_json(item.to_json())) / 4))


@dataclass
class EvidenceSet:
    """The ranked, budgeted evidence of one analysis.

    >>> s = EvidenceSet([Evidence("log:1", "log", "t", "x", 1.0)])
    >>> s.ids(), len(s.digest)
    (['log:1'], 64)
    """

    items: list[Evidence]
    incident_id: str | None = None
    window: dict[str, str | None] = field(default_factory=dict)
    baseline: dict[str, str | None] = field(default_factory=dict)
    budget_tokens: int = 0
    used_tokens: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    collectors: dict[str, str] = field(default_factory=dict)
    redacted: bool = False
    redactions: dict[str, int] = field(default_factory=dict)

    def ids(self) -> list[str]:
        return [e.id for e in self.items]

    def get(self, evidence_id: str) -> Evidence | None:
        return next((e for e in self.items if e.id == evidence_id), None)

    def item_digests(self) -> dict[str, str]:
        return {e.id: item_digest(e) for e in self.items}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": EVIDENCE_SCHEMA, "incident_id": self.incident_id, "window": self.window, "baseline": self.baseline,
            "budget_tokens": self.budget_tokens, "used_tokens": self.used_tokens, "dropped": self.dropped,
            "collectors": self.collectors, "redacted": self.redacted, "redactions": self.redactions,
            "items": [dict(e.to_json(), digest=item_digest(e)) for e in self.items],
        }

    def canonical(self) -> bytes:
        return canonical_json(self.to_json())

    @property
    def digest(self) -> str:
        return sha256_hex(self.canonical())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "EvidenceSet":
        items = [Evidence(i["id"], i["kind"], i["title"], i["text"], i.get("score", 0.0), i.get("data") or {})
                 for i in data.get("items", [])]
        return cls(items, data.get("incident_id"), data.get("window") or {}, data.get("baseline") or {},
                   int(data.get("budget_tokens") or 0), int(data.get("used_tokens") or 0), list(data.get("dropped") or []),
                   dict(data.get("collectors") or {}), bool(data.get("redacted")), dict(data.get("redactions") or {}))


# ---------------------------------------------------------------- helpers shared by collectors

@dataclass
class _Ctx:
    ws: Workspace
    settings: Settings
    incident: Incident | None
    start: datetime
    end: datetime
    b_start: datetime
    b_end: datetime
    items: list[Evidence] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Window length over baseline length: scales a baseline count to an expected window count."""
        base = (self.b_end - self.b_start).total_seconds()
        return (self.end - self.start).total_seconds() / base if base > 0 else 1.0


def _iso(value: Any) -> str | None:
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


def parse_frames(text: str) -> list[dict[str, Any]]:
    """Stack frames (file, line, function, in_app) of a Python, Java or Node trace, outermost first."""
    frames = [{"file": m["file"], "line": int(m["line"]), "function": m["function"]} for m in _FRAME_PY.finditer(text or "")]
    if not frames:
        java = [{"file": m["file"], "line": int(m["line"]), "function": m["function"]} for m in _FRAME_JAVA.finditer(text or "")]
        frames = java[::-1]  # Java prints the raising frame first
    if not frames:
        node = [{"file": m["file"], "line": int(m["line"]), "function": m["function"] or "<anonymous>"}
                for m in _FRAME_NODE.finditer(text or "")]
        frames = node[::-1]
    for f in frames:
        f["in_app"] = not any(p in f["file"] or f["function"].startswith(p) for p in _NOT_APP)
    return frames


def _location(frames: list[dict[str, Any]]) -> str:
    """file:function:line of the innermost in-app frame (where the failure was raised)."""
    app = [f for f in frames if f["in_app"]] or frames
    if not app:
        return ""
    f = app[-1]
    return f"{f['file']}:{f['function']}:{f['line']}"


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


def _last_line(text: str) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def _first_line(text: str) -> str:
    return (text or "").split("\n", 1)[0].strip()


# ---------------------------------------------------------------- collectors (one per signal kind)

def collect_error_logs(ctx: _Ctx) -> list[Evidence]:
    """Error and fatal lines, grouped by service and shape, each with the lines that led up to it."""
    out = []
    lines = ctx.settings.rca_context_lines
    for g in sql.error_log_groups(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end):
        frames = parse_frames(g["message"])
        nov = novelty(g["n"], g["baseline_n"], ctx.ratio)
        context = sql.log_context(ctx.ws, g["example_id"], g["first_ts"], g["example_host"], lines)
        ctx_text = "".join(f"  {_iso(c['ts'])} {c['level'] or '-'} {c['service'] or '-'}: {c['message'][:200]}\n" for c in context)
        hosts = ", ".join(h for h in (g["host_list"] or []) if h)
        text = (f"{g['n']} {g['level']} lines from {g['service'] or '(no service)'} on {g['hosts']} host(s) ({hosts}) "
                f"between {_iso(g['first_ts'])} and {_iso(g['last_ts'])}; {g['baseline_n']} in the baseline window.\n"
                + (f"Lines before the first one on {g['example_host']}:\n{ctx_text}" if ctx_text else "")
                + f"First occurrence (log {g['example_id']}):\n{_clip(g['message'], 1600)}")
        exception = _last_line(g["message"]) if frames else ""
        out.append(Evidence(
            f"log:{g['example_id']}", "log", f"{g['level']} {g['service']}: {_first_line(g['message'])[:100]}", _clip(text),
            round(1.0 + nov * math.log2(1 + g["n"]), 4),
            {"signal": "error_log", "service": g["service"], "level": g["level"], "count": g["n"],
             "baseline_count": g["baseline_n"], "expected": _num(g["baseline_n"] * ctx.ratio), "novelty": _num(nov), "hosts": g["host_list"] or [],
             "first_ts": _iso(g["first_ts"]), "last_ts": _iso(g["last_ts"]), "exc_type": g["exc_type"],
             "exception": exception[:300], "location": _location(frames), "frames": frames[-8:], "trace_id": g["trace_id"],
             "context_ids": [f"log:{c['id']}" for c in context]}))
    return out


def collect_error_spans(ctx: _Ctx) -> list[Evidence]:
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
        frames = parse_frames(trace)
        location = _location(frames) or _code_location(attrs)
        nov = novelty(g["n"], g["baseline_n"], ctx.ratio)
        message = str(attrs.get("exception.message") or attrs.get("status.message") or "")
        host = attrs.get("host.name") or attrs.get("host") or ""
        version = attrs.get("service.version") or ""
        where = {"refused": f" Most answered the caller {blame_service} with a 4xx: its request was refused, so the "
                            f"fault is the caller's, not {g['service']}'s.",
                 "slow_callee": f" They are calls to {blame_service} that the caller gave up waiting for: {blame_service}'s "
                                f"span outlived the call, so the fault is {blame_service}'s; {g['service']} only reports it.",
                 "silent_callee": f" They are calls to {blame_service}, which left no span of its own (timed out or "
                                  f"unreachable): the fault is {blame_service}'s; {g['service']} only reports it."}.get(why or "", "")
        text = (f"{g['n']} failed spans '{g['name']}' in {g['service']} ({g['traces']} traces) with {g['exc_type']}"
                f"{': ' + message[:300] if message else ''}; no failed child span, so the failure starts here.{where} "
                f"{g['baseline_n']} in the baseline window. First at {_iso(g['first_ts'])}"
                + (f" on {host}" if host else "") + (f" (version {version})" if version else "") + "."
                + (f"\nStack trace:\n{_clip(trace, 1500)}" if trace else (f"\nCode: {location}" if location else "")))
        out.append(Evidence(
            f"span:{g['example_span']}", "span",
            f"error origin {g['service']}/{g['name']}: {g['exc_type']}" + (f" (fault: {blame_service}, {why})" if why else ""),
            _clip(text), round(1.5 + nov * math.log2(1 + g["n"]), 4),
            {"signal": "error_span", "service": blame_service or g["service"], "name": g["name"], "exc_type": g["exc_type"],
             "span_service": g["service"], "why": why,
             "message": message[:300], "count": g["n"], "traces": g["traces"], "baseline_count": g["baseline_n"],
             "expected": _num(g["baseline_n"] * ctx.ratio), "novelty": _num(nov), "location": "" if why else location, "frames": frames[-8:], "host": host, "version": version,
             "trace_id": g["trace_id"], "first_ts": _iso(g["first_ts"]), "last_ts": _iso(g["last_ts"])}))
    return out


def collect_latency(ctx: _Ctx) -> list[Evidence]:
    """Operations that got slower than in the baseline, with the code behind the slowest call."""
    out = []
    for r in sql.latency_shifts(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end):
        attrs = _attrs(r["attributes"])
        statement = str(attrs.get("db.statement") or "")
        peer = str(attrs.get("peer.service") or "")
        location = _code_location(attrs)
        ratio = float(r["ratio"])
        text = (f"'{r['name']}' in {r['service']}: mean {r['mean_ms']:.1f} ms over {r['n']} calls in the window against "
                f"{r['baseline_mean_ms']:.1f} ms over {r['baseline_n']} in the baseline ({ratio:.1f}x); p95 {r['p95_ms']:.1f} ms "
                f"(baseline {r['baseline_p95_ms']:.1f} ms); slowest {r['max_ms']:.1f} ms (span {r['span_id']})."
                + (f"\nStatement: {statement[:400]}" if statement else "") + (f"\nCalls: {peer or r['callee']}" if peer or r["callee"] else "")
                + (f"\nCode: {location}" if location else ""))
        out.append(Evidence(
            f"span:{r['span_id']}", "span", f"slower {r['service']}/{r['name']} ({ratio:.1f}x)", _clip(text),
            round(math.log2(ratio) * min(1.0, r["n"] / 10.0), 4),
            {"signal": "latency", "service": r["service"], "name": r["name"], "count": r["n"], "ratio": _num(ratio),
             "mean_ms": _num(r["mean_ms"]), "baseline_mean_ms": _num(r["baseline_mean_ms"]), "p95_ms": _num(r["p95_ms"]),
             "location": location, "statement": statement[:400], "peer": peer, "callee": r["callee"] or "",
             "trace_id": r["trace_id"],
             "db": bool(attrs.get("db.system"))}))
    return out


def collect_metrics(ctx: _Ctx) -> list[Evidence]:
    """Metric series whose mean in the window is far outside the baseline's spread."""
    out = []
    for r in sql.metric_shifts(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end):
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
             "direction": direction}))
    return out


def collect_dimensions(ctx: _Ctx) -> list[Evidence]:
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


def collect_incident_trace(ctx: _Ctx) -> list[Evidence]:
    """A business incident's own trace (details.trace_id): its tool calls, flagging results built on stale data."""
    details = (ctx.incident.details if ctx.incident else {}) or {}
    trace_id = details.get("trace_id")
    if not trace_id:
        return []
    from ..ingest.normalize import parse_ts

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
        lines.append(f"  {s['service']}/{s['name']} {s['duration_ms'] or 0:.1f} ms {s['status']}"
                     + (f" args={str(attrs.get('agent.args'))[:150]} result={str(attrs.get('agent.result'))[:250]}" if tool else ""))
        if not tool:
            continue
        result = _attrs(attrs.get("agent.result"))
        for key in _STALE_KEYS:
            stamp = parse_ts(str(result[key])) if result.get(key) else None
            if stamp is None or s["start_ts"] is None:
                continue
            age_h = (s["start_ts"] - stamp).total_seconds() / 3600
            if age_h < 1.0:
                continue
            child = next((c for c in by_parent.get(s["span_id"], []) if _attrs(c["attributes"]).get("code.filepath")), None)
            cattrs = _attrs(child["attributes"]) if child else {}
            location = _code_location(cattrs) or _code_location(attrs)
            peer = cattrs.get("peer.service") or ""
            text = (f"Tool call {tool} in {s['service']} (trace {trace_id}) returned data with {key}={result[key]}, "
                    f"{age_h:.1f} h older than the call at {_iso(s['start_ts'])}; the answer was built on it."
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


def collect_templates(ctx: _Ctx) -> list[Evidence]:
    """New or elevated log templates (from the mined ``templates`` table)."""
    out = []
    for r in sql.template_shifts(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end):
        nov = novelty(r["n"], r["baseline_n"], ctx.ratio)
        if nov < 1.0:
            continue
        state = "new" if r["baseline_n"] == 0 else "elevated"
        text = (f"Template {r['template_id']} ({state}): {r['n']} lines in the window, {r['baseline_n']} in the baseline; "
                f"services {', '.join(r['services'] or [])}; highest level {r['level']}.\n{_clip(r['template'], 600)}")
        out.append(Evidence(f"tpl:{r['template_id']}", "tpl", f"{state} template {r['template_id']}", text,
                            round(0.5 + 0.5 * nov, 4),
                            {"signal": "template", "services": r["services"] or [], "count": r["n"], "baseline_count": r["baseline_n"],
                             "expected": _num(r["baseline_n"] * ctx.ratio), "novelty": _num(nov), "level": r["level"], "state": state, "example_log": f"log:{r['example_id']}"}))
        if len(out) >= 15:
            break
    return out


def collect_fingerprints(ctx: _Ctx) -> list[Evidence]:
    """Exception fingerprints (from the mined ``fingerprints`` table) seen in the window."""
    out = []
    for r in sql.fingerprint_groups(ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end):
        nov = novelty(r["n"], r["baseline_n"], ctx.ratio)
        try:
            stored = json.loads(r["frames"]) if isinstance(r["frames"], str) else r["frames"]
        except ValueError:
            stored = None
        frames = parse_frames(r["example"] or "")
        location = _location(frames)
        if not location and isinstance(stored, list) and stored:
            last = stored[-1]
            location = f"{last.get('file', '?')}:{last.get('function', '?')}:?"
        text = (f"Exception {r['exc_type']} (fingerprint {r['fingerprint'][:12]}): {r['n']} in the window, {r['baseline_n']} in "
                f"the baseline; services {', '.join(r['services'] or [])}"
                + (f"; crashes in {r['culprit']}" if r.get("culprit") else "") + ".\n"
                f"{_clip(r['example'] or r['message'] or '', 1500)}")
        out.append(Evidence(f"fp:{r['fingerprint']}", "fp", f"exception {r['exc_type']}", _clip(text),
                            round(1.0 + nov * math.log2(1 + r["n"]), 4),
                            {"signal": "fingerprint", "exc_type": r["exc_type"], "services": r["services"] or [], "count": r["n"],
                             "baseline_count": r["baseline_n"], "expected": _num(r["baseline_n"] * ctx.ratio),
                             "novelty": _num(nov), "location": location, "frames": frames[-8:],
                             "first_ts": _iso(r["first_ts"])}))
    return out


def _optional(module: str) -> bool:
    """True when an optional module another engineer owns is importable (it may not have landed yet)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class _Skip(Exception):
    """A collector has nothing to work with (its module is missing): recorded, not an error."""


def collect_frames(ctx: _Ctx) -> list[Evidence]:
    """Stack frames resolved against indexed code, with the commits that last touched them."""
    if not _optional("crashlens_core.knowledge.frames"):
        raise _Skip("crashlens_core.knowledge.frames not available")
    from . import integrations

    return integrations.frames_evidence(ctx)


def collect_trace_suspects(ctx: _Ctx) -> list[Evidence]:
    """Services ranked by the trace analysis (error origin, critical path self time)."""
    if not _optional("crashlens_core.signals.suspects"):
        raise _Skip("crashlens_core.signals.suspects not available")
    from . import integrations

    return integrations.trace_suspects_evidence(ctx)


def collect_comparison(ctx: _Ctx) -> list[Evidence]:
    """Attributes whose distribution differs between the window and the baseline."""
    if not _optional("crashlens_core.signals.compare"):
        raise _Skip("crashlens_core.signals.compare not available")
    from . import integrations

    return integrations.comparison_evidence(ctx)


def collect_knowledge(ctx: _Ctx) -> list[Evidence]:
    """Runbook passages and code chunks retrieved with the error text."""
    if not _optional("crashlens_core.knowledge.service"):
        raise _Skip("crashlens_core.knowledge.service not available")
    from . import integrations

    return integrations.knowledge_evidence(ctx)


COLLECTORS: list[tuple[str, Callable[[_Ctx], list[Evidence]]]] = [
    ("error_logs", collect_error_logs),
    ("error_spans", collect_error_spans),
    ("latency", collect_latency),
    ("metrics", collect_metrics),
    ("dimensions", collect_dimensions),
    ("incident_trace", collect_incident_trace),
    ("templates", collect_templates),
    ("fingerprints", collect_fingerprints),
    ("frames", collect_frames),
    ("trace_suspects", collect_trace_suspects),
    ("comparison", collect_comparison),
    ("knowledge", collect_knowledge),
    ("changes", collect_changes),  # issue 15 hook: change events (rca/changes.py)
]


# ---------------------------------------------------------------- assembly

def resolve_window(incident: Incident | None, window_start: datetime | None, window_end: datetime | None,
                   baseline_start: datetime | None, baseline_end: datetime | None) -> tuple[datetime, datetime, datetime, datetime]:
    """The analysed window (explicit, else the incident's) and its baseline (explicit, else just before it)."""
    start = window_start or (incident.window_start if incident else None)
    end = window_end or (incident.window_end if incident else None)
    if incident is not None and (start is None or end is None) and incident.created_ts is not None:
        start = start or incident.created_ts - timedelta(minutes=15)
        end = end or incident.created_ts + timedelta(minutes=5)
    if start is None or end is None:
        raise InputError("no time window to analyse", hint="give an incident id, or --from T1 --to T2")
    if end <= start:
        raise InputError("the analysis window ends before it starts", hint="swap --from and --to")
    if (baseline_start is None) != (baseline_end is None):
        raise InputError("a baseline needs both ends", hint="give --baseline-from and --baseline-to together")
    if baseline_start is None:
        length = max(end - start, timedelta(minutes=5))
        baseline_start, baseline_end = start - length, start
    if baseline_end <= baseline_start:
        raise InputError("the baseline window ends before it starts", hint="swap --baseline-from and --baseline-to")
    return start, end, baseline_start, baseline_end


def _redact_items(items: list[Evidence], settings: Settings) -> tuple[list[Evidence], bool, dict[str, int]]:
    """Every string in every item through one Redactor (so placeholders number consistently)."""
    if not _optional("crashlens_core.redact"):
        return items, False, {}
    from ..redact import Redactor

    redactor = Redactor(settings)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return redactor.redact(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    # Ids too: a dimension id such as dim:host=<ip> would otherwise carry the value out.
    out = [Evidence(redactor.redact(e.id), e.kind, walk(e.title), walk(e.text), e.score, walk(e.data)) for e in items]
    summary = redactor.summary() if hasattr(redactor, "summary") else {}
    counts = {str(k): int(v) for k, v in summary.items()} if isinstance(summary, dict) else {}
    return out, True, counts


def assemble_evidence(ws: Workspace, settings: Settings | None = None, incident: Incident | str | None = None, *,
                      window_start: datetime | None = None, window_end: datetime | None = None,
                      baseline_start: datetime | None = None, baseline_end: datetime | None = None,
                      budget_tokens: int | None = None, collectors: Iterable[str] | None = None) -> EvidenceSet:
    """Collect, redact, rank and budget the evidence for an incident or a time window.

    >>> # assemble_evidence(ws, settings, "9891eb58")  → EvidenceSet with items like log:3173, span:…, dim:host=shop-2
    """
    settings = settings or Settings()
    if isinstance(incident, str):
        incident = ws.get_incident(incident)
    start, end, b_start, b_end = resolve_window(incident, window_start, window_end, baseline_start, baseline_end)
    ctx = _Ctx(ws, settings, incident, start, end, b_start, b_end)
    wanted = set(collectors) if collectors is not None else None
    status: dict[str, str] = {}
    for name, collector in COLLECTORS:
        if wanted is not None and name not in wanted:
            continue
        try:
            found = collector(ctx)
        except _Skip as exc:
            status[name] = f"skipped: {exc}"
            continue
        except Exception as exc:  # a broken optional signal must not cost the whole analysis
            if name in ("frames", "trace_suspects", "comparison", "knowledge", "changes"):  # issue 15 hook: + "changes"
                status[name] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
                continue
            raise
        seen = {e.id for e in ctx.items}
        fresh = []
        for e in found:  # first one wins: ids are unique in a set
            if e.id not in seen:
                seen.add(e.id)
                fresh.append(e)
        ctx.items.extend(fresh)
        status[name] = f"ok: {len(fresh)} items"
    items, redacted, counts = _redact_items(ctx.items, settings)
    budget = int(budget_tokens if budget_tokens is not None else settings.rca_evidence_tokens)
    kept, dropped, used = [], [], 0
    for item in sorted(items, key=lambda e: (-e.score, e.id)):
        cost = estimate_tokens(item)
        if used + cost <= budget:
            kept.append(item)
            used += cost
        else:
            dropped.append({"id": item.id, "score": item.score, "tokens": cost})
    return EvidenceSet(kept, incident.id if incident else None, {"start": _iso(start), "end": _iso(end)},
                       {"start": _iso(b_start), "end": _iso(b_end)}, budget, used, dropped, status, redacted, counts)
