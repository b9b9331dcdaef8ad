"""What changed? Change events as RCA evidence: the suspect changes, the decoys, or "no change".

``collect_changes`` is an evidence collector (see ``rca.evidence.COLLECTORS``). It describes the
failure once (``failure:profile``: the first failing service, the blast radius, the versions
and messages of the failing records, traffic against the baseline) and every change of the
look-back before the onset as a ``change:<id>`` item whose ``data`` holds the facts it was
weighed on and the resulting score:

- time from the change to the onset (a soft decay: delayed onsets exist, a change after the
  onset cannot have caused it);
- where the change lands: on the first failing service (or on the process whose version the
  failing records carry), only on a service downstream of it, or elsewhere;
- whether its files or diff (for a deploy: of the commits it shipped) touch the code in the
  failing stacks or the failing operation;
- whether identifiers of its diff, or its flag / config key and value, appear in the failing
  messages (fields, tables, flag keys, hosts that the baseline did not log).

``apply_changes`` turns those items into the report's ``root_cause_commit``, ``changes``
(ranked), ``first_failing_service``, ``blast_radius`` and ``remediation_kind``, and into a cited
claim and rejected hypotheses for the decoys. It reads only the evidence set, so a replay of a
recorded run gives the same answer. "No change" is an answer: when no change has a specific
link to the failure, the report says which kind of cause the evidence points to instead.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ..config import Settings
from ..models import Evidence
from ..store import changes as sql
from ..store import Workspace
from ..store.traces import origin_blame
from .schema import Claim, Hypothesis, RcaReport
from .stack_facts import stack_facts
from .traffic import failing_services, preceding_surges

__all__ = ["collect_changes", "apply_changes", "describe_changes", "score_change", "LOOKBACK", "WEIGHTS", "REMEDIATION_BY_KIND",
           "NO_CHANGE_REMEDIATION"]

LOOKBACK = timedelta(hours=6)      # changes older than a shift rarely start an incident without an earlier sign
ONSET_SKEW = timedelta(seconds=30)  # the onset is found on bins and clocks differ: a change just after it still counts
# Weights of the links, set by hand from one property and checked on the tune half of the
# simulator scenarios only (bench/changes.py; the features, not these numbers, changed there): a
# specific link (code, identifiers, a key, errors concentrated on the new version) outweighs time
# and place, because decoys are as close in time as culprits and often land on the failing service.
# Time + landing on the origin alone (0.6 + 0.8) stays below CULPRIT_MIN: proximity is not proof.
WEIGHTS = {"time": 0.6, "origin": 0.8, "downstream": 0.25, "elsewhere": -0.6, "version": 1.2, "code": 1.0,
           "operation": 0.4, "identifiers": 0.5, "key": 1.5}
CULPRIT_MIN = 1.6       # below it no change is named: an unsure answer beats a confident wrong one
TIME_SCALE_MIN = 20.0   # half weight at 20 minutes before the onset
REMEDIATION_BY_KIND = {"deploy": "rollback", "commit": "rollback", "flag": "feature-flag-disable", "config": "config-revert",
                       "rollback": "roll-forward", "scale": "scale", "infra": "roll-forward", "other": "other"}
_MAX_ITEMS = 12
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{3,}")
# Words of code and of log prose that name nothing specific: they match everywhere.
_COMMON = frozenset("""self none true false null return import from class def elif else with pass raise lambda yield
async await print this that then than when where what have been with from into over under error errors exception failed
failure info warn warning debug message value values data item items request response order orders string object list
dict type name time count total self.assert assert function module file line lines http https json true false
""".split())


def _tokens(text: str) -> set[str]:
    out: set[str] = set()
    for m in _IDENT.findall(text or ""):
        t = m.strip(".-").lower()
        if len(t) >= 4 and t not in _COMMON and not t.isdigit():
            out.add(t)
    return out


def _words(text: str) -> set[str]:
    """Lower-case words of identifiers and prose, camelCase and snake_case split (FraudSuspected → fraud, suspected)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text or "")
    return {w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if len(w) >= 4 and w not in _COMMON and not w.isdigit()}


def _diff_tokens(diff: str) -> set[str]:
    """Identifiers on the lines a diff added or removed (not its context, not its headers)."""
    lines = [ln[1:] for ln in (diff or "").splitlines()
             if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return _tokens("\n".join(lines))


def _stack_files(messages: list[dict[str, Any]], settings: Settings) -> set[str]:
    """Files in the stack traces of the failing messages (the one stack parser, the in-app settings)."""
    files: set[str] = set()
    for m in messages:
        for f in stack_facts(m.get("example") or "", settings).frames:
            if f.get("file"):
                files.add(str(f["file"]))
    return files


def _path_match(changed: str, stack_file: str) -> bool:
    """Same file: equal paths, or one ends with the other from a folder boundary (deploy prefixes differ)."""
    a, b = changed.strip("/"), stack_file.strip("/")
    return a == b or b.endswith("/" + a) or a.endswith("/" + b)


def _profile(ctx: Any) -> dict[str, Any]:
    ws, start, end, b_start, b_end = ctx.ws, ctx.start, ctx.end, ctx.b_start, ctx.b_end
    win = sql.service_error_stats(ws, start, end)
    base = sql.service_error_stats(ws, b_start, b_end)
    # window over baseline by the time each holds data (a baseline cut by the start of the data
    # must not make the window's everyday errors look like a surge)
    active_b = sql.active_seconds(ws, b_start, b_end)
    ratio = sql.active_seconds(ws, start, end) / active_b if active_b >= 30 else ctx.ratio
    failing = failing_services(win, base, ratio)
    lat_w, lat_b = sql.service_latency(ws, start, end), sql.service_latency(ws, b_start, b_end)
    slow = {s: round(q / lat_b[s][1], 2) for s, (n, q) in lat_w.items()
            if s in lat_b and n >= 3 and lat_b[s][1] > 0 and q > 2 * lat_b[s][1] + 5}
    known = set(sql.known_services(ws))
    origins, origin_count, external = _origins(ws, start, end, known)
    _, base_origins, _ = _origins(ws, b_start, b_end, known)
    req_w, req_b = sql.service_request_counts(ws, start, end), sql.service_request_counts(ws, b_start, b_end)
    traffic = round(sum(req_w.values()) / max(1.0, sum(req_b.values()) * ratio), 2) if req_b else None
    # only origins that rose above the baseline's own (card declines fail every day), scaled by the
    # traffic when it rose: errors that grow only as fast as the requests (more declines in a surge)
    # are the everyday error rate, not where this failure starts
    load = max(1.0, traffic or 1.0)
    origin_count = {s: n for s, n in origin_count.items() if n > 2 * base_origins.get(s, 0) * ratio * load + 2}
    messages = sql.failing_messages(ws, start, end, b_start, b_end, ratio=ratio)
    slow_ops = sql.slow_operations(ws, start, end, b_start, b_end)
    stale, changed = _quiet_signs(ctx.items)
    # a tool fed old data by a source that writes no spans or logs of its own (a caller's metric of
    # it is no telemetry from it): the failure starts at a dependency outside the workspace's services
    own = set(sql.known_services(ws, ("logs", "spans"))) if stale else set()
    for e in stale:
        peer = e.data.get("peer")
        if peer and peer not in own:
            external[peer] = external.get(peer, 0) + int(e.data.get("count") or 1)
    # The first failing service: where most failing traces' errors start (after re-attributing
    # timeouts and refusals to the service at fault); without traces, the earliest to fail.
    first = None
    if origin_count:
        first = sorted(origin_count.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    elif failing:
        first = sorted(failing.items(), key=lambda kv: (kv[1]["first_ts"], -kv[1]["errors"], kv[0]))[0][0]
    elif slow_ops:
        first = slow_ops[0]["service"]
    elif slow:
        first = sorted(slow.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    elif stale:
        # Nothing failed and nothing slowed, but a tool returned old data: the failure enters the
        # workspace's services where that data is consumed (the answers are built on it there).
        first = str(stale[0].data["service"])
    elif changed:
        # Nothing failed, slowed or went stale: a fault that raises nothing (a method returning a
        # wrong value, a skipped branch) shows only as work a service stopped or started doing; the
        # behaviour signal blames the code that stopped (or started) running, so the service whose
        # behaviour moved furthest from its baseline is where the failure starts.
        first = changed[0]
    blast = sorted(set(failing) | set(slow) | ({first} if first else set()))
    text = "\n".join(m["example"][:2000] for m in messages[:20])
    for op in slow_ops:
        text += "\n" + op["name"] + " " + " ".join(str(v) for v in op["attributes"].values())
    first_error = min([v["first_ts"] for s, v in failing.items() if v["first_ts"] is not None]
                      + [m["first_ts"] for m in messages if m.get("first_ts") is not None], default=None)
    # services whose load rose far above the baseline's before the first errors (rca.traffic)
    path = set(blast) | ({first} if first else set())
    surges = [e for e in preceding_surges(ctx.items) if e.data.get("service") in path]  # on the failing path only
    return {"first_failing_service": first, "surges": surges, "first_error_ts": first_error, "co_versioned": {}, "blast_radius": blast, "origin_counts": origin_count,
            "external_origins": external, "failing": {s: v["errors"] for s, v in failing.items()}, "slow": slow,
            "versions": sql.failing_versions(ws, start, end), "version_mix": sql.version_mix(ws, start, end),
            "version_errors": sql.version_mix(ws, start, end, errors_only=True), "messages": messages, "slow_ops": slow_ops,
            "traffic_ratio": traffic, "stack_files": sorted(_stack_files(messages, ctx.settings)),
            "operations": sorted({o["name"] for o in origins if o.get("name")} | {o["name"] for o in slow_ops})[:30],
            "failing_text": text}


def _quiet_signs(items: list[Evidence]) -> tuple[list[Evidence], list[str]]:
    """The signs of a failure that raises no error and adds no latency, from the items collected
    before: stale tool results (most stale calls first) and the services whose behaviour changed
    (vanished or new calls and log lines), largest summed change first."""
    stale = sorted((e for e in items if e.data.get("signal") == "stale_tool" and e.data.get("service")),
                   key=lambda e: (-int(e.data.get("count") or 1), -e.score, e.id))
    moved: dict[str, float] = {}
    for e in items:
        if e.data.get("signal") == "behaviour" and e.data.get("service"):
            moved[str(e.data["service"])] = moved.get(str(e.data["service"]), 0.0) + e.score
    return stale, [s for s, _ in sorted(moved.items(), key=lambda kv: (-kv[1], kv[0]))]


def _origins(ws: Workspace, start: datetime, end: datetime, known: set[str]) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """Error-origin spans, the count per service at fault (timeouts and refusals re-attributed), and
    the count per service at fault that the workspace has no telemetry of (an external dependency)."""
    origins = sql.error_origin_spans(ws, start, end)
    blamed = origin_blame(ws, [(o["trace_id"], o["span_id"]) for o in origins[:500]]) if origins else {}
    counts: dict[str, int] = {}
    external: dict[str, int] = {}
    for o in origins:
        b = blamed.get((o["trace_id"], o["span_id"]))
        svc = b["service"] if b else o["service"]
        if svc:
            counts[svc] = counts.get(svc, 0) + 1
            if b and svc not in known:
                external[svc] = external.get(svc, 0) + 1
    return origins, counts, external


def _reach(change: dict[str, Any], profile: dict[str, Any]) -> set[str]:
    """The services a change lands on: its own, the services whose failing records carry its
    version (a process hosts several services), and for a commit the services that run it."""
    out = {s for s in [change.get("service")] + list(change.get("shipped_to") or []) if s}
    for s in list(out):
        out.update(profile["co_versioned"].get(s, []))
    version = change.get("version")
    if version and version in profile["versions"]:
        out.update(profile["versions"][version]["services"])
    return out


def score_change(change: dict[str, Any], profile: dict[str, Any], onset: datetime, content: dict[str, Any] | None = None) -> dict[str, Any]:
    """The facts a change is weighed on, its score and the reasons, as plain data."""
    content = content or {}
    dt_min = (onset - change["ts"]).total_seconds() / 60
    facts: dict[str, Any] = {"minutes_before_onset": round(dt_min, 1)}
    why: list[str] = []
    if change["ts"] > onset + ONSET_SKEW:
        return {"score": 0.0, "facts": facts, "why": ["after the onset: cannot have caused it"], "links": []}
    score = WEIGHTS["time"] / (1 + max(0.0, dt_min) / TIME_SCALE_MIN)
    links: list[str] = []
    first, blast = profile["first_failing_service"], set(profile["blast_radius"])
    reach = _reach(change, profile)
    if first and first in reach:
        score += WEIGHTS["origin"]
        facts["lands_on"] = "origin"
        why.append(f"lands on {first}, where the failure starts")
    elif reach & blast:
        score += WEIGHTS["downstream"]
        facts["lands_on"] = "downstream"
        why.append(f"lands on {', '.join(sorted(reach & blast))}, affected but not where the failure starts")
    elif reach and first:
        score += WEIGHTS["elsewhere"]
        facts["lands_on"] = "elsewhere"
        why.append(f"lands on {', '.join(sorted(reach))}, which is not failing")
    version = change.get("version")
    on = {s for s, v in profile["version_mix"] if v == version}  # the services that run the version
    errs = {sv: n for sv, n in profile["version_errors"].items() if sv[0] in on}
    recs = {sv: n for sv, n in profile["version_mix"].items() if sv[0] in on}
    if version and errs and recs:
        share = sum(n for (s, v), n in errs.items() if v == version) / sum(errs.values())
        # Errors concentrated on the new version beyond its share of those services' records (a
        # canary, a partial rollout): a link. A version everything runs (a finished rollout) tells nothing.
        lift = share / max(1e-9, sum(n for (s, v), n in recs.items() if v == version) / sum(recs.values()))
        facts["version_share"], facts["version_lift"] = round(share, 3), round(lift, 2)
        if share >= 0.5 and lift >= 1.5:
            score += WEIGHTS["version"] * share
            links.append("version")
            why.append(f"{share:.0%} of the failing records of {', '.join(sorted(on))[:60]} were written by version "
                       f"{version} ({lift:.1f}x its share of their records)")
    files = list(change.get("files") or []) + list(content.get("files") or [])
    diff = (change.get("diff") or "") + "\n" + (content.get("diff") or "")
    touched = sorted({f for f in files for s in profile["stack_files"] if _path_match(f, s)})
    if touched:
        score += WEIGHTS["code"]
        links.append("code")
        facts["touches_stack"] = touched[:10]
        why.append(f"changes {', '.join(touched[:3])}, in the failing stack")
    failing_tokens = _tokens(profile["failing_text"])
    op_tokens = {t for op in profile["operations"] for t in _tokens(op.replace(".", " ").replace("/", " "))}
    file_stems = {re.sub(r"\.\w+$", "", f.rsplit("/", 1)[-1]).lower() for f in files}
    # a file named for the failing operation or service (payments.py for payments.charge): the
    # usual way code is laid out, weaker than a frame of the stack itself
    if not touched and file_stems & (op_tokens | {s.lower() for s in blast}):
        score += WEIGHTS["operation"]
        links.append("operation")
        why.append(f"changes code of the failing operation ({', '.join(sorted(file_stems & (op_tokens | {s.lower() for s in blast}))[:3])})")
    shared = sorted(_diff_tokens(diff) & failing_tokens)
    if shared:
        score += WEIGHTS["identifiers"] * min(3, len(shared))
        links.append("identifiers")
        facts["identifiers_in_failures"] = shared[:10]
        why.append(f"its diff names {', '.join(shared[:4])}, which the failing messages name")
    name = (change.get("name") or "").lower()
    if name and name in profile["failing_text"].lower():
        score += WEIGHTS["key"]
        links.append("key")
        why.append(f"the failing messages name {change.get('name')}")
    elif name:
        # a key's words (fraud_max_orders_per_hour) in the failing messages (FraudSuspected, "orders in
        # the last hour"): the messages speak of what the key controls; weighed by the share found
        words = _words(name)
        found = sorted(words & _words(profile["failing_text"]))
        if words and len(found) * 2 >= len(words):
            score += WEIGHTS["key"] * len(found) / len(words)
            links.append("key_words")
            facts["key_words_in_failures"] = found
            why.append(f"the failing messages speak of {', '.join(found)} ({change.get('name')})")
    facts["links"] = links
    return {"score": round(score, 4), "facts": facts, "why": why or ["close in time only"], "links": links}


def _link_strength(commit: dict[str, Any], profile: dict[str, Any]) -> float:
    files = commit.get("files") or []
    touched = any(_path_match(f, s) for f in files for s in profile["stack_files"])
    shared = _diff_tokens(commit.get("diff") or "") & _tokens(profile["failing_text"])
    return WEIGHTS["code"] * touched + WEIGHTS["identifiers"] * min(3, len(shared))


def _label(c: dict[str, Any]) -> str:
    what = {"deploy": "deploy", "rollback": "rollback", "commit": "commit", "flag": "flag", "config": "config change"}.get(c["kind"], c["kind"])
    parts = [what]
    if c.get("name"):
        parts.append(str(c["name"]))
    if c.get("change"):
        parts.append(str(c["change"]))
    if c.get("service"):
        parts.append(f"of {c['service']}")
    if c.get("version"):
        parts.append(f"v{c['version']}")
    if c.get("commit") and c["kind"] in ("commit", "deploy"):
        parts.append(f"@{str(c['commit'])[:10]}")
    return " ".join(parts)


def _no_change_kind(profile: dict[str, Any]) -> str:
    """What the evidence points to when no change explains the failure (each test is a general symptom)."""
    text = profile["failing_text"].lower()
    if "certificate" in text and ("expired" in text or "not valid after" in text):
        return "expired_certificate"
    if profile["external_origins"] or re.search(r"\b(gateway|upstream|dependency)\b.*\b(timeout|timed out|unavailable|refused)", text) \
            or re.search(r"(timeout|timed out|unavailable|refused)\b.*\b(gateway|upstream|dependency)", text):
        return "upstream_outage"
    if profile["traffic_ratio"] is not None and profile["traffic_ratio"] >= 2.0:
        return "traffic_surge"
    # a load rise before the first errors on a service of the failing path: the trigger of a saturation
    # there, even when the other services' steady traffic keeps the window-wide ratio below the bar
    if profile["surges"]:
        return "traffic_surge"
    if re.search(r"\b(pool|exhausted|saturat|out of memory|oom|no space left|too many connections)", text):
        return "saturation"
    return "unknown"


_NO_CHANGE_TEXT = {"expired_certificate": "an expired certificate", "upstream_outage": "an outage of a dependency",
                   "traffic_surge": "a traffic surge", "saturation": "a saturated resource"}
NO_CHANGE_REMEDIATION = {"expired_certificate": "other", "upstream_outage": "failover", "traffic_surge": "scale",
                          "saturation": "scale", "unknown": "other"}


def collect_changes(ctx: Any) -> list[Evidence]:
    """Evidence collector: ``failure:profile`` and the ``change:`` items of the look-back before the onset."""
    if sql.count_changes(ctx.ws) == 0:
        return []
    profile = _profile(ctx)
    # The window may open before the first failure (a guessed onset, a wide burst): a change
    # between the window start and the first failing record can still have caused it.
    onset = max(ctx.start, profile["first_error_ts"] or ctx.start)
    changes = sql.changes_between(ctx.ws, onset - LOOKBACK, ctx.end)
    for service in sorted({c["service"] for c in changes if c.get("service")}):
        profile["co_versioned"][service] = sql.co_versioned_services(ctx.ws, service, ctx.b_start, ctx.end)
    content = sql.shipped_content(ctx.ws, [c["id"] for c in changes if c["kind"] in ("deploy", "rollback")])
    scored = []
    for c in changes:
        s = score_change(c, profile, onset, content.get(c["id"]))
        shipped = content.get(c["id"], {}).get("per_commit") or []
        if shipped and s["links"]:
            # the commit of a deploy to blame: the shipped one with the most specific links to the failure
            # (it runs where the deploy runs, so only its code and identifiers tell the commits apart)
            best = max(shipped, key=lambda sc: (_link_strength(sc, profile), sc["ts"] or datetime.min, sc["commit"]))
            if _link_strength(best, profile) > 0:
                s["facts"]["culprit_commit"] = best["commit"]
        scored.append((c, s))
    scored.sort(key=lambda cs: (-cs[1]["score"], cs[0]["ts"], cs[0]["id"]))
    kind = _no_change_kind(profile)
    items = [Evidence("failure:profile", "failure", "Where the failure starts and how far it reaches",
                      f"first failing service: {profile['first_failing_service'] or 'unknown'}; blast radius: "
                      f"{', '.join(profile['blast_radius']) or 'none'}; traffic x{profile['traffic_ratio']}; "
                      f"{len(changes)} changes in the {int(LOOKBACK.total_seconds() // 3600)} h before the onset",
                      3.0, {"signal": "changes", "first_failing_service": profile["first_failing_service"],
                            "blast_radius": profile["blast_radius"], "origin_counts": profile["origin_counts"],
                            "external_origins": profile["external_origins"], "traffic_ratio": profile["traffic_ratio"],
                            "stack_files": profile["stack_files"][:20], "no_change_kind": kind,
                            "surges": [e.id for e in profile["surges"]],
                            "changes_considered": len(changes), "onset": onset.isoformat()})]
    for c, s in scored[:_MAX_ITEMS]:
        shipped = content.get(c["id"], {})
        diff = (c.get("diff") or shipped.get("diff") or "")[:1500]
        items.append(Evidence(
            f"change:{c['id']}", "change", _label(c),
            f"{c['ts'].isoformat()} {_label(c)}: {c.get('summary') or ''}\nwhy: {'; '.join(s['why'])}\n{diff}".strip(),
            2.0 + min(1.0, s["score"] / 4),
            {"signal": "changes", "kind": c["kind"], "ts": c["ts"].isoformat(), "service": c.get("service"),
             "commit": c.get("commit"), "version": c.get("version"), "name": c.get("name"), "change": c.get("change"),
             "author": c.get("author"), "summary": (c.get("summary") or "")[:300], "files": (c.get("files") or [])[:20],
             "ships": (c.get("ships") or shipped.get("commits") or [])[:20], "score": s["score"], "why": s["why"],
             "links": s["links"], "facts": s["facts"], "label": _label(c)}))
    return items


def apply_changes(report: RcaReport, es: Any) -> RcaReport:
    """The report with the change verdict from the evidence set's ``change:`` items (unchanged when there are none)."""
    profile = next((e for e in es.items if e.id == "failure:profile"), None)
    if profile is None:
        return report
    ranked = sorted((e for e in es.items if e.kind == "change"), key=lambda e: (-e.data.get("score", 0), e.data.get("ts", ""), e.id))
    changes = [{"id": e.id, "kind": e.data.get("kind"), "service": e.data.get("service"), "ts": e.data.get("ts"),
                "commit": e.data.get("commit"), "version": e.data.get("version"), "name": e.data.get("name"), "score": e.data.get("score", 0.0), "why": "; ".join(e.data.get("why") or []),
                "evidence": [e.id, profile.id]} for e in ranked]
    top = ranked[0] if ranked else None
    culprit = top if top is not None and top.data.get("score", 0) >= CULPRIT_MIN and top.data.get("links") else None
    claims, hypotheses, remediation = list(report.claims), list(report.hypotheses), list(report.remediation)
    kind = profile.data.get("no_change_kind", "unknown")
    if culprit is not None:
        d = culprit.data
        commit = d.get("commit") if d.get("kind") in ("deploy", "commit", "rollback") else None
        commit = (d.get("facts") or {}).get("culprit_commit") or commit
        remediation_kind = REMEDIATION_BY_KIND.get(d.get("kind"), "other")
        claims.insert(0, Claim(f"The failure follows {d.get('label')} at {d.get('ts')}: {'; '.join(d.get('why') or [])}.",
                               [culprit.id, profile.id]))
        step = {"rollback": f"Roll back {d.get('label')}", "feature-flag-disable": f"Turn flag {d.get('name')} back off",
                "config-revert": f"Revert {d.get('name')} to its previous value",
                "roll-forward": f"Roll forward past {d.get('label')}"}.get(remediation_kind, f"Undo {d.get('label')}")
        remediation.insert(0, f"{step} ({culprit.id}).")
        root_cause = report.root_cause
        if report.engine == "offline":
            root_cause = f"{d.get('label')} ({culprit.id}): {root_cause}"
    else:
        commit, remediation_kind, root_cause = None, NO_CHANGE_REMEDIATION.get(kind, "other"), report.root_cause
        considered = profile.data.get("changes_considered")
        looked = f"none of the {considered} changes" if considered else "no change"
        points = "" if kind == "unknown" else f"; the evidence points to {_NO_CHANGE_TEXT.get(kind, kind.replace('_', ' '))}"
        cited = [profile.id]
        if kind == "traffic_surge":
            # the surge items the profile weighed: which service's load rose, by how much, before the errors
            surges = [e for e in (es.get(i) for i in profile.data.get("surges") or []) if e is not None]
            if surges:
                points += ": " + ", ".join(f"requests to {e.data['service']} rose to {e.data['ratio']}x the baseline's rate"
                                           for e in surges[:3]) + " before the first errors"
                cited += [e.id for e in surges[:3]]
        claims.append(Claim(f"No change in the look-back explains the failure ({looked} of the "
                            f"{int(LOOKBACK.total_seconds() // 3600)} h before the onset has a link to it){points}.", cited))
    for e in ranked[:5]:
        if culprit is not None and e.id == culprit.id:
            continue
        hypotheses.append(Hypothesis(f"{e.data.get('label')} caused it", "rejected",
                                     "; ".join(e.data.get("why") or []) + f" (score {e.data.get('score', 0):.2f})", [e.id]))
    return replace(report, claims=claims, hypotheses=hypotheses, remediation=remediation, root_cause=root_cause,
                   root_cause_commit=commit, changes=changes, first_failing_service=profile.data.get("first_failing_service"),
                   blast_radius=list(profile.data.get("blast_radius") or []), remediation_kind=remediation_kind,
                   root_cause_change=culprit.id if culprit is not None else None, no_change_kind=None if culprit else kind)


# What each "no change" kind rests on, in words a reader checks against the evidence.
_NO_CHANGE_WHY = {
    "expired_certificate": "the failing messages say a certificate expired: time, not a change, broke it",
    "upstream_outage": "the failure starts at a dependency outside the workspace's services (its errors, or old data "
                       "it served to a tool; or the messages say an upstream timed out or was unavailable)",
    "traffic_surge": "the traffic is {traffic}x the baseline's: load, not a change",
    "saturation": "the failing messages say a pool, memory, disk or connection limit was exhausted",
    "unknown": "the evidence does not say which other kind of cause it is",
}


def describe_changes(report: RcaReport, evidence: Any) -> dict[str, Any]:
    """The change verdict of a finished report, as the RCA page shows it: read from the report and
    the evidence recorded with it (no new analysis), so a replayed run reads the same.

    Returns ``{"verdict": "culprit" | "no_change" | "none", "headline", "why", "rows"}``; ``rows``
    are the ranked changes with the reasons each was weighed on (time to onset, where it lands,
    files in the stack, identifiers in the failing messages) and whether it was named or ruled out.

    >>> describe_changes(RcaReport(root_cause="x", summary=""), [])["verdict"]
    'none'
    """
    items = list(getattr(evidence, "items", evidence) or [])
    by_id = {e.id: e for e in items}
    profile = by_id.get("failure:profile")
    if profile is None and not report.changes:
        return {"verdict": "none", "headline": "No change events were weighed in this analysis", "why": "", "rows": []}
    rows = []
    for n, c in enumerate(report.changes, 1):
        e = by_id.get(c["id"])
        d = e.data if e is not None else {}
        facts = d.get("facts") or {}
        rows.append({"rank": n, "change": d.get("label") or c.get("kind"), "kind": c.get("kind"), "service": c.get("service"),
                     "ts": c.get("ts"), "minutes_before_onset": facts.get("minutes_before_onset"),
                     "lands_on": facts.get("lands_on") or "", "files_in_stack": ", ".join(facts.get("touches_stack") or []),
                     "identifiers_in_failures": ", ".join(facts.get("identifiers_in_failures")
                                                          or facts.get("key_words_in_failures") or []),
                     "score": c.get("score"), "verdict": "culprit" if c["id"] == report.root_cause_change else "ruled out",
                     "why": c.get("why") or "", "evidence": c["id"]})
    if report.root_cause_change:
        top = next((r for r in rows if r["evidence"] == report.root_cause_change), None)
        label = top["change"] if top else report.root_cause_change
        why = (f"{top['why'] if top else ''}; score {top['score'] if top else 0:.2f} with a specific link to the failure "
               f"(at least {CULPRIT_MIN} is needed)").strip("; ")
        commit = f", commit {report.root_cause_commit}" if report.root_cause_commit else ""
        return {"verdict": "culprit", "headline": f"Caused by {label}{commit} ({report.root_cause_change}); "
                                                  f"remediation: {report.remediation_kind or 'other'}",
                "why": why, "rows": rows}
    kind = report.no_change_kind or (profile.data.get("no_change_kind") if profile is not None else None) or "unknown"
    traffic = profile.data.get("traffic_ratio") if profile is not None else None
    because = _NO_CHANGE_WHY.get(kind, _NO_CHANGE_WHY["unknown"]).format(traffic=traffic)
    surges = [by_id[i] for i in (profile.data.get("surges") or [] if profile is not None else []) if i in by_id]
    if kind == "traffic_surge" and surges:
        because = "; ".join(f"requests to {e.data['service']} rose to {e.data['ratio']}x the baseline's rate before the first "
                            f"errors ({e.id})" for e in surges[:3]) + ": load, not a change"
    if rows:
        best = rows[0]
        ruled = (f"The closest change, {best['change']}, scores {best['score'] or 0:.2f} ({best['why']}): without a "
                 f"specific link (its code in the stack, its identifiers or key in the failing messages, errors on its "
                 f"version) and a score of at least {CULPRIT_MIN}, nearness in time and place is not proof.")
    else:
        ruled = f"No change in the {int(LOOKBACK.total_seconds() // 3600)} h before the onset."
    return {"verdict": "no_change", "headline": f"No change caused this: the evidence points to {kind.replace('_', ' ')}",
            "why": f"{because}. {ruled}", "rows": rows}
