"""RCA benchmark: the offline analyzer's rank of the true root cause, and time to RCA, in one run.

1. Every simulator scenario (the demo workspace: one incident per scenario, ground truth in
   ``simulations/*/ground_truth.json``): rank of the true root-cause service, file, function
   and commit among the offline analyzer's suspects, and time to RCA (evidence → validated,
   recorded report). Targets (issue 7): service top-1 on all scenarios, file top-3 on all
   code-fault scenarios. With ``--more-workspaces`` (demo workspaces of other seeds, built with
   ``crashlens demo --seed N``) their scenarios are scored too. Then the confidence calibration:
   stated confidence against observed top-1 accuracy (the true service; and the true service and
   file), per bucket and as the Brier score, on the tune half (catalogue positions 0, 2, 4, …:
   the confidence formula was set on these only) and the report half.
2. ``--nezha``: the Nezha Train-Ticket day in ../shared/data/rca-dev (logs, traces and metrics as
   CSV; the injected pod is in the fault list): rank of the true root-cause service in each of
   the day's fault windows, baseline = the day's normal period, tune half (before 13:00) and
   report half, per fault kind, next to the naive "most error lines" reference.
   Reference: the Nezha paper reports service-level top-1 of 86.7% on Train-Ticket with logs,
   traces and metrics; log-only baselines reach 15-18%. ``--baselines [MODE...]`` scores the same
   windows under the baseline choices a user makes (``NEZHA_BASELINES``: the normal period, the
   ~1 min before the injection, the minute before the farthest fault window, none given), with
   the true service's margin over the best wrong one per tune case (near-misses show); the report
   half is printed as aggregates only.
3. ``--deeptralog``: the DeepTraLog Train-Ticket fault cases in ../shared/data/rca-dev (SkyWalking
   logs and span CSVs; ground truth and conversion in ``bench/deeptralog.py``): per case with a
   determinable faulty service, a fresh workspace with the case's and the normal run's data, and
   the rank of the true service among the offline analyzer's suspects (fault window = the case's
   data, baseline = the normal run) and in ``rank_suspect_services``; top-1, top-3, mean rank.
4. ``--scale N``: time to RCA of the offline analyzer on an incident in a workspace with N
   generated log lines (target: under 3 s at 1,000,000).

It reports, it does not assert: exit 0.

    .venv/bin/python bench/rca_eval.py [--workspace DIR [--more-workspaces DIR...]] [--nezha [--baselines [MODE...]]] [--deeptralog] [--scale 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crashlens_core.config import Settings  # noqa: E402
from crashlens_core.store import Workspace  # noqa: E402

CODE_FAULTS = ("code_bug", "bad_deploy", "config_error")
NEZHA = ROOT.parent / "shared" / "data" / "rca-dev" / "nezha-trainticket"


def _rank(suspects: list, match) -> int | None:
    return next((i for i, s in enumerate(suspects, 1) if match(s)), None)


def _fmt(rank: int | None) -> str:
    return "-" if rank is None else str(rank)


def _same_file(location: str, truth: str) -> bool:
    path = location.split(":", 1)[0].lstrip("/")
    return bool(path) and (path.endswith(truth.lstrip("/")) or truth.lstrip("/").endswith(path))


def _incident_for(ws: Workspace, truth: dict, simulated_id: str) -> str | None:
    """The scenario's incident: the simulator's own id, else the detected incident overlapping the fault window most."""
    from crashlens_core.errors import NotFound
    from crashlens_core.ingest.normalize import parse_ts

    try:
        return ws.get_incident(simulated_id).id
    except NotFound:
        pass
    lo, hi = parse_ts(truth["fault_window"]["start"]), parse_ts(truth["fault_window"]["end"])
    best, overlap = None, 0.0
    for inc in ws.list_incidents():
        if inc.window_start is None or inc.window_end is None:
            continue
        o = (min(hi, inc.window_end) - max(lo, inc.window_start)).total_seconds()
        if o > overlap:
            best, overlap = inc.id, o
    return best


# Calibration split (fixed, stated, by scenario, as bench/changes.py): catalogue positions 0, 2, 4, …
# tune the confidence formula (rca/offline.py ``_confidence``), 1, 3, 5, … only report.
CAL_BUCKETS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


def _halves() -> dict[str, str]:
    from crashlens_core.simulate import list_scenarios

    return {sc.name: ("tune" if i % 2 == 0 else "report") for i, sc in enumerate(list_scenarios())}


def calibration(rows: list[dict]) -> None:
    """Stated confidence against observed top-1 accuracy, per bucket and per half, with the Brier score.

    A row: {scenario, half, confidence, service_ok, location_ok}. Observed = the top suspect is the
    true service (the report's root cause names it); location = also the true file when the truth has one.
    """
    if not rows:
        return
    print("\n== Confidence calibration (stated vs observed top-1 accuracy; Brier = mean (stated - outcome)^2, lower is better)")
    for half in ("tune", "report", "all"):
        sub = [r for r in rows if half == "all" or r["half"] == half]
        if not sub:
            continue
        for key, label in (("service_ok", "service"), ("location_ok", "service+file")):
            brier = sum((r["confidence"] - r[key]) ** 2 for r in sub) / len(sub)
            cells = []
            for lo, hi in zip(CAL_BUCKETS, CAL_BUCKETS[1:]):
                b = [r for r in sub if lo <= r["confidence"] < hi]
                if b:
                    cells.append(f"[{lo:.1f},{min(hi, 1.0):.1f}) n={len(b)} stated {sum(r['confidence'] for r in b) / len(b):.2f} "
                                 f"observed {sum(r[key] for r in b) / len(b):.2f}")
            acc = sum(r[key] for r in sub) / len(sub)
            mean = sum(r["confidence"] for r in sub) / len(sub)
            print(f"   {half:<6} {label:<13} n={len(sub):<3} accuracy {acc:.2f}, mean stated {mean:.2f}, Brier {brier:.3f}")
            print("          " + " | ".join(cells))


def scenarios(ws_dir: Path, cal_rows: list[dict] | None = None) -> None:
    from crashlens_core.rca.engine import run_rca
    from crashlens_core.simulate.demo import scenario_incident_id

    settings = Settings(workspace=ws_dir)
    if not (ws_dir / "crashlens.duckdb").exists():
        from crashlens_core.simulate.demo import build_demo

        print(f"building the demo workspace in {ws_dir} …", flush=True)
        with Workspace.open(ws_dir) as ws:
            build_demo(ws, settings)
    truths = sorted((ws_dir / "simulations").glob("*/ground_truth.json"))
    print(f"\n== Simulator scenarios ({len(truths)}), offline analyzer, workspace {ws_dir}")
    print(f"{'scenario':<26} {'kind':<18} {'service':>7} {'file':>5} {'func':>5} {'commit':>7} {'t_rca s':>8}  top suspect")
    totals = {"service1": 0, "file3": 0, "code": 0, "n": 0}
    times = []
    per_kind: dict[str, list] = {}
    with Workspace.open(ws_dir) as ws:
        for path in truths:
            truth = json.loads(path.read_text())
            rc = truth["root_cause"]
            inc = _incident_for(ws, truth, scenario_incident_id(truth["scenario"], truth.get("seed", 0)))
            if inc is None:
                print(f"{truth['scenario']:<26} {truth['kind']:<18} no incident overlaps the fault window")
                continue
            run = run_rca(ws, settings, inc, engine="offline", actor="bench")
            sus = run.report.suspects
            r_service = _rank(sus, lambda s: s.service == rc["service"])
            r_file = _rank(sus, lambda s: _same_file(s.location, rc["file"]))
            r_func = _rank(sus, lambda s: _same_file(s.location, rc["file"]) and s.location.split(":")[1:2] == [rc["function"]])
            r_commit = _rank(sus, lambda s: bool(s.commit) and rc.get("commit") and rc["commit"].startswith(s.commit[:7])) \
                if rc.get("commit") else None
            times.append(run.seconds)
            per_kind.setdefault(truth["kind"], []).append(r_service)
            totals["n"] += 1
            totals["service1"] += r_service == 1
            if truth["kind"] in CODE_FAULTS:
                totals["code"] += 1
                totals["file3"] += bool(r_file and r_file <= 3)
            if cal_rows is not None:
                halves = _halves()
                cal_rows.append({"scenario": truth["scenario"], "half": halves.get(truth["scenario"], "report"),
                                 "confidence": run.report.confidence, "service_ok": int(r_service == 1),
                                 "location_ok": int(r_service == 1 and (not rc.get("file") or r_file == 1)),
                                 "claims": len(run.report.claims), "more": len(run.report.more_claims)})
            top = f"{sus[0].service} {sus[0].location}" if sus else "(none)"
            commit = _fmt(r_commit) if rc.get("commit") else "n/a"
            print(f"{truth['scenario']:<26} {truth['kind']:<18} {_fmt(r_service):>7} {_fmt(r_file):>5} {_fmt(r_func):>5} "
                  f"{commit:>7} {run.seconds:8.3f}  {top}  (confidence {run.report.confidence:.2f}, "
                  f"{len(run.report.claims)} claims + {len(run.report.more_claims)} more)")
    print(f"\nservice top-1: {totals['service1']}/{totals['n']}   (target: all {totals['n']})")
    print("per fault kind (service top-1): " + ", ".join(f"{k} {sum(r == 1 for r in v)}/{len(v)}" for k, v in sorted(per_kind.items())))
    print(f"file top-3 on code-fault scenarios ({', '.join(CODE_FAULTS)}): {totals['file3']}/{totals['code']}   (target: all)")
    print(f"time to RCA (offline, evidence → recorded report): median {sorted(times)[len(times) // 2]:.3f} s, max {max(times):.3f} s")
    print("commit: rank of the true commit when the scenario has one; it needs the code indexed "
          "(`crashlens index repo`), else suspects carry no commit.")


NEZHA_LOG_MAP = {"ts": "Timestamp", "service": "PodName", "trace_id": "TraceID", "span_id": "SpanID", "message": "Log"}
NEZHA_SPAN_MAP = {"trace_id": "TraceID", "span_id": "SpanID", "parent_id": "ParentID", "service": "PodName",
                  "name": "OperationName", "start_ts": "StartTimeUnixNano", "end_ts": "EndTimeUnixNano"}
NEZHA_METRIC_MAP = {"ts": "TimeStamp", "service": "pod:PodName"}
# The tune/report split of the Nezha day is by time, fixed before looking at results: faults
# injected before 13:00 tune, the rest report (9 and 8 of the 17 windows with logs).
NEZHA_REPORT_FROM = "13:00"


def _pod_service(name: str) -> str:
    """ts-basic-service-5dc8d4f9fd-llznp -> ts-basic-service; a workload name stays as it is (metrics name workloads)."""
    from crashlens_core.ingest.normalize import pod_to_service

    return pod_to_service(name)


def _naive_rank(ws: Workspace, window: tuple[datetime, datetime], service: str) -> int | None:
    """The log-keyword reference (Log Insight's error filter): services by ERROR/FATAL lines in the window, then by lines."""
    rows = ws.con.execute(
        "SELECT service, count(*) FILTER (WHERE level IN ('ERROR', 'FATAL')) AS e, count(*) AS n FROM logs "
        "WHERE ts >= ? AND ts < ? AND service IS NOT NULL GROUP BY service ORDER BY e DESC, n DESC, service", list(window)).fetchall()
    names: list[str] = []
    for name, _, _ in rows:
        if _pod_service(name) not in names:
            names.append(_pod_service(name))
    return next((i for i, s in enumerate(names, 1) if s == service), None)


# Baseline choices a user makes (``--baselines``), each a function of the fault's injection time:
# ``normal`` the day's normal period (construct_data, one minute, 12 min to 2.5 h before the faults);
# ``short`` the stretch of about a minute just before the injection (the fault window's own files);
# ``far`` the stretch before the injection of the fault window farthest away in time (an hour or
# more away, another traffic mix; it holds no fault, only the minute before one);
# ``auto`` no baseline given (what ``crashlens rca --from --to`` does on its own).
NEZHA_BASELINES = ("normal", "short", "far", "auto")


def _service_scores(suspects: list) -> dict[str, float]:
    """The best suspect score per service (pods folded into their workload)."""
    out: dict[str, float] = {}
    for s in suspects:
        name = _pod_service(s.service or "")
        out[name] = max(out.get(name, float("-inf")), float(s.score))
    return out


def _margin(scores: dict[str, float], service: str) -> str:
    """The true service's score over the best wrong one, absolute and as a share of the larger (negative: a miss)."""
    best_wrong = max((v for k, v in scores.items() if k != service), default=0.0)
    mine = scores.get(service, 0.0)
    return f"{mine - best_wrong:+7.2f} ({(mine - best_wrong) / max(abs(mine), abs(best_wrong), 1e-9):+.2f})"


def _pre_injection(ws: Workspace, at: datetime) -> tuple[datetime, datetime]:
    """The data just before an injection: from the first span of the fault window's files up to the injection."""
    first = ws.con.execute("SELECT min(start_ts) FROM spans WHERE start_ts >= ? AND start_ts < ?",
                           [at - timedelta(minutes=2), at]).fetchone()[0]
    return (first or at - timedelta(minutes=1)), at


def nezha(keep: Path | None = None, halves: tuple[str, ...] = ("tune", "report"),
          modes: tuple[str, ...] = ("normal",)) -> None:
    """The Nezha Train-Ticket day: every fault window with logs, per baseline choice; tune and report halves.

    Tune cases are printed one per line with the margin of the true service over the best wrong one;
    report cases only as aggregates (they are never looked at one by one).
    ``keep``: build the workspace there once and reuse it on later runs (ingest takes minutes).
    """
    from crashlens_core.ingest import ingest_files
    from crashlens_core.rca.engine import run_rca

    day = next((NEZHA / "rca_data").iterdir())
    normal_dir = NEZHA / "construct_data" / day.name
    faults = json.loads((day / f"{day.name}-fault_list.json").read_text())
    with tempfile.TemporaryDirectory(prefix="rca-nezha-") as tmp:
        folder = keep or Path(tmp) / "ws"
        reuse = (folder / "crashlens.duckdb").exists()
        settings = Settings(workspace=folder)
        started = time.perf_counter()
        with Workspace.open(folder) as ws:
            logs, spans, metrics = [], [], []
            for d in () if reuse else (normal_dir, day):
                logs += ingest_files(ws, "logs", sorted(str(p) for p in (d / "log").glob("*.csv")), "csv", NEZHA_LOG_MAP,
                                     settings=settings)
                spans += ingest_files(ws, "spans", sorted(str(p) for p in (d / "trace").glob("*.csv")), "csv", NEZHA_SPAN_MAP,
                                      settings=settings)
                metrics += ingest_files(ws, "metrics", sorted(str(p) for p in (d / "metric").glob("*.csv")), "csv",
                                        NEZHA_METRIC_MAP, settings=settings)  # the same files in both folders: read once
            from crashlens_core.signals.refresh import refresh_signals

            if not reuse:
                refresh_signals(ws, settings)
            n_level = ws.con.execute("SELECT count(*) FILTER (WHERE level IS NOT NULL), count(*) FROM logs").fetchone()
            normal = ws.con.execute("SELECT min(start_ts), max(end_ts) FROM spans WHERE batch_id IN "
                                    "(SELECT id FROM ingest_batches WHERE path LIKE ?)", ["%construct_data%"]).fetchone()
            lo, hi = ws.con.execute("SELECT min(start_ts), max(start_ts) FROM spans").fetchone()
            n_spans = ws.con.execute("SELECT count(*) FROM spans").fetchone()[0]
            n_metrics = ws.con.execute("SELECT count(*) FROM metrics").fetchone()[0]
            print(f"\n== Nezha Train-Ticket, the whole day {day.name}: {n_level[1]:,} log lines "
                  f"({n_level[0]:,} with a level), {n_spans:,} spans, "
                  f"{n_metrics:,} metric points; data {lo} … {hi}; ingest {time.perf_counter() - started:.0f} s")
            print(f"   window = injection + 3 min; tune = faults before {NEZHA_REPORT_FROM}, report = the rest (aggregates only)")
            print(f"   baselines: normal = the day's normal period (construct_data) {normal[0]:%H:%M:%S} … {normal[1]:%H:%M:%S}; "
                  "short = the ~1 min just before the injection; far = the ~1 min before the injection of the fault window "
                  "farthest away in time; auto = none given")
            cases = []
            for hour in faults.values():
                for f in hour:
                    at = datetime.strptime(f["inject_time"], "%Y-%m-%d %H:%M:%S")
                    if lo <= at <= hi:
                        cases.append((at, f))
            injections = [at for at, _ in cases]
            summary: list[str] = []
            for mode in modes:
                print(f"\n   -- baseline: {mode}")
                print(f"   {'half':<6} {'kind':<15} {'true service':<30} {'at':<9} {'rca':>4} {'naive':>5} {'margin':>15}  rca top 3")
                rows = []
                for at, f in cases:
                    service = _pod_service(f["inject_pod"])
                    window = (at, min(hi, at + timedelta(minutes=3)))
                    half = "report" if f"{at:%H:%M}" >= NEZHA_REPORT_FROM else "tune"
                    if half not in halves:
                        continue
                    baseline: tuple[datetime, datetime] | None
                    if mode == "normal":
                        baseline = (normal[0], normal[1])
                    elif mode == "short":
                        baseline = _pre_injection(ws, at)
                    elif mode == "far":
                        baseline = _pre_injection(ws, max(injections, key=lambda t: abs((t - at).total_seconds())))
                    else:
                        baseline = None
                    scores: dict[str, float] = {}
                    try:
                        run = run_rca(ws, settings, window=window, baseline=baseline, engine="offline", actor="bench")
                        scores = _service_scores(run.report.suspects)
                        svcs = sorted(scores, key=lambda k: -scores[k])
                        rank = next((i for i, s in enumerate(svcs, 1) if s == service), None)
                    except Exception as exc:  # a bench reports, it does not stop: the failure is a finding
                        svcs, rank = [f"failed: {type(exc).__name__}: {exc}"[:80]], None
                    naive = _naive_rank(ws, window, service)
                    rows.append((half, f["inject_type"], rank, naive))
                    if half == "tune":
                        print(f"   {half:<6} {f['inject_type']:<15} {service:<30} {at:%H:%M:%S} {_fmt(rank):>4} {_fmt(naive):>5} "
                              f"{_margin(scores, service):>15}  {', '.join(svcs[:3]) or '(none)'}")

                def score(sub: list, idx: int) -> str:
                    n = len(sub)
                    top1 = sum(1 for r in sub if r[idx] == 1)
                    top3 = sum(1 for r in sub if r[idx] is not None and r[idx] <= 3)
                    return f"top-1 {top1}/{n}, top-3 {top3}/{n}"

                for half in halves:
                    sub = [r for r in rows if r[0] == half]
                    line = f"{half:<6}: offline RCA {score(sub, 2)};  naive (most error lines) {score(sub, 3)}"
                    print(f"   {line}")
                    summary.append(f"{mode:<7} {line}")
                    for kind in sorted({r[1] for r in sub}):
                        ks = [r for r in sub if r[1] == kind]
                        print(f"           {kind:<15} offline RCA {score(ks, 2)};  naive {score(ks, 3)}")
            if len(modes) > 1:
                print("\n   per baseline:")
                for line in summary:
                    print(f"   {line}")
    print("   reference: Nezha paper, service top-1 86.7% with logs+traces+metrics; log-only baselines 15-18%")


def deeptralog() -> None:
    """DeepTraLog cases: one workspace each (case + normal run), offline RCA and trace ranking, rank of the true service."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import deeptralog as dtl
    from crashlens_core.rca.engine import run_rca
    from crashlens_core.signals.refresh import refresh_signals
    from crashlens_core.signals.suspects import rank_suspect_services

    with tempfile.TemporaryDirectory(prefix="rca-deeptralog-") as tmp:
        cases, normal_dir = dtl.unpack(Path(tmp) / "raw")
        normal = dtl.prepare(normal_dir, Path(tmp) / "in")
        base = (normal["start"], normal["end"])
        print(f"\n== DeepTraLog Train-Ticket ({dtl.DATA}): {len(cases)} fault cases; baseline = the normal run "
              f"{normal_dir.name} ({len(normal['logs'])} log lines, {len(normal['spans'])} spans, {base[0]:%Y-%m-%d %H:%M:%S} "
              f"+{(base[1] - base[0]).total_seconds():.0f} s, fault-free, services {', '.join(sorted(set(normal['spans']['Service'])))})")
        print("   core text format on a raw log: " + dtl.raw_text_check(sorted(cases[0].folder.glob("*.log"))[0], Path(tmp) / "ws-raw"))
        print("   so logs go in as they are (format text; log_tz = the local-time offset, estimated from log lines matched to spans) and "
              "spans as the CSV export with a --map (see bench/deeptralog.py)")
        print("   ranks are among distinct services: rca = offline analyzer (run_rca, baseline = normal run); rca/nb = the same "
              "with the default baseline (the equal window before: empty); traces = rank_suspect_services (baseline = normal run); "
              "'-' = not among the suspects")
        print(f"   {'case':<7} {'fault':<5} {'true service':<28} {'logs':>6} {'spans':>6} {'window':>7} {'rca':>4} {'rca/nb':>6} "
              f"{'traces':>6} {'s':>5}  rca top 3")
        rows, skipped, offsets = [], [], {str(normal["offset"])}
        for case in cases:
            prep = dtl.prepare(case.folder, Path(tmp) / "in")
            offsets.add(str(prep["offset"]))
            dtl.determine_truth(case, prep["spans"], prep["logs"])
            if case.truth is None:
                skipped.append(case)
                continue
            started = time.perf_counter()
            folder = Path(tmp) / "ws" / case.name
            settings = Settings(workspace=folder)
            with Workspace.open(folder) as ws:
                n_logs, n_spans, problems = dtl.ingest(ws, prep)
                dtl.ingest(ws, normal)
                refresh_signals(ws, settings)
                window = (prep["start"], prep["end"])
                run = run_rca(ws, settings, window=window, baseline=base, engine="offline", actor="bench")
                bare = run_rca(ws, settings, window=window, engine="offline", actor="bench")
                ranked = rank_suspect_services(ws, window[0], window[1], base[0], base[1], settings)
            services = list(dict.fromkeys(s.service for s in run.report.suspects))
            r_rca = _rank(services, lambda s: s == case.truth)
            r_bare = _rank(list(dict.fromkeys(s.service for s in bare.report.suspects)), lambda s: s == case.truth)
            r_tr = _rank(ranked, lambda s: s.service == case.truth)
            rows.append((case, r_rca, r_bare, r_tr))
            top = ", ".join(services[:3]) or "(none)"
            minutes = (window[1] - window[0]).total_seconds() / 60
            print(f"   {case.name:<7} {case.fault:<5} {case.truth:<28} {n_logs:>6} {n_spans:>6} {minutes:>5.0f} m {_fmt(r_rca):>4} "
                  f"{_fmt(r_bare):>6} {_fmt(r_tr):>6} {time.perf_counter() - started:>5.1f}  {top}")
            for p in problems + ([f"{prep['unmatched']} log lines not in the SkyWalking pattern, left out"] if prep["unmatched"] else []):
                print(f"           ingest: {p}")
        print("\n   how the true service was determined:")
        for case, *_ in rows:
            print(f"   {case.name}: {case.truth}: {case.how}")
        for case in skipped:
            print(f"   {case.name}: LEFT OUT: {case.how}")

        def totals(label: str, idx: int, subset: list) -> str:
            ranks = [r[idx] for r in subset]
            found = [r for r in ranks if r is not None]
            n = len(ranks)
            mean = f"{sum(found) / len(found):.2f} over the {len(found)} ranked" if found else "n/a"
            return (f"{label}: top-1 {sum(r == 1 for r in found)}/{n} ({100 * sum(r == 1 for r in found) / n:.0f}%), "
                    f"top-3 {sum(r <= 3 for r in found)}/{n} ({100 * sum(r <= 3 for r in found) / n:.0f}%), "
                    f"mean rank {mean}, not ranked {n - len(found)}")

        print(f"\n   log time = UTC + {', '.join(sorted(offsets))} (every folder, from log lines matched to spans by span id)")
        print(f"   usable cases: {len(rows)} of {len(cases)} (faulty service determinable)")
        if rows:
            for label, idx in (("offline RCA (baseline: normal run)", 1), ("offline RCA (default baseline)", 2),
                               ("rank_suspect_services (traces)", 3)):
                print("   " + totals(label, idx, rows))
            for fault in dtl.FAULTS:
                sub = [r for r in rows if r[0].fault == fault]
                if sub:
                    print(f"     {fault} ({dtl.FAULTS[fault]}): " + totals("offline RCA", 1, sub))
    print("   reference: Nezha paper, service top-1 86.7% (top-3 97.8%) on Train-Ticket with logs+traces+metrics; "
          "log-only baselines 15-18%. (Different data: Nezha's own fault injections, not these cases.)")


def scale(n: int) -> None:
    """Time to RCA on an incident in a workspace of ``n`` generated log lines (an error burst in one service)."""
    from crashlens_core.ingest import ingest_files
    from crashlens_core.rca.engine import run_rca

    rng = random.Random(7)
    t0 = datetime(2024, 5, 14, 0, 0, 0)
    step = 86400 / n
    fault = (t0 + timedelta(hours=15), t0 + timedelta(hours=15, minutes=10))
    with tempfile.TemporaryDirectory(prefix="rca-scale-") as tmp:
        path = Path(tmp) / "logs.jsonl"
        with open(path, "w") as fh:
            for i in range(n):
                ts = t0 + timedelta(seconds=i * step)
                svc = ("checkout", "payments", "inventory", "search", "auth")[i % 5]
                if fault[0] <= ts < fault[1] and svc == "payments" and rng.random() < 0.3:
                    msg = (f"charge for order o-{i} failed\nTraceback (most recent call last):\n  File \"/app/shop/payments.py\", "
                           f"line 64, in _charge\n    captured = reply[\"amount_captured\"]\nKeyError: 'amount_captured'")
                    level = "ERROR"
                else:
                    msg = f"request {rng.randrange(10**6)} served in {rng.randrange(5, 900)} ms for user u-{rng.randrange(5000)}"
                    level = "WARN" if rng.random() < 0.01 else "INFO"
                fh.write(json.dumps({"ts": ts.isoformat() + "Z", "level": level, "service": svc, "host": f"h-{i % 7}",
                                     "message": msg}) + "\n")
        folder = Path(tmp) / "ws"
        with Workspace.open(folder) as ws:
            started = time.perf_counter()
            ingest_files(ws, "logs", [str(path)])
            ingest_s = time.perf_counter() - started
            inc = ws.create_incident("payments errors", window_start=fault[0], window_end=fault[1]).id
            times = []
            for _ in range(3):
                run = run_rca(ws, Settings(workspace=folder), inc, engine="offline")
                times.append(run.seconds)
            print(f"\n== Scale: {n:,} log lines (ingest {ingest_s:.1f} s)")
            print(f"time to RCA (offline), 3 runs: {', '.join(f'{t:.3f}' for t in times)} s; evidence part "
                  f"{run.evidence_seconds:.3f} s   (target: under 3 s at 1,000,000 lines)")
            print(f"top suspect: {run.report.suspects[0].service} {run.report.suspects[0].location}" if run.report.suspects else "no suspect")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, help="a demo workspace (default: build one in a temp dir)")
    ap.add_argument("--nezha", action="store_true", help="also the Nezha Train-Ticket window from ../shared/data/rca-dev")
    ap.add_argument("--deeptralog", action="store_true", help="also the DeepTraLog Train-Ticket cases from ../shared/data/rca-dev")
    ap.add_argument("--scale", type=int, default=0, metavar="N", help="also time to RCA with N generated log lines")
    ap.add_argument("--nezha-keep", type=Path, metavar="DIR", help="build the Nezha workspace in DIR once and reuse it")
    ap.add_argument("--tune-only", action="store_true", help="Nezha: only the tune half (while choosing methods)")
    ap.add_argument("--baselines", nargs="*", choices=NEZHA_BASELINES, metavar="MODE",
                    help=f"Nezha robustness: score under these baseline choices ({', '.join(NEZHA_BASELINES)}; "
                         "none named: all of them); default: the normal period only")
    ap.add_argument("--no-scenarios", action="store_true", help="skip the simulator scenarios (only the data sets asked for)")
    ap.add_argument("--more-workspaces", type=Path, nargs="*", default=[], metavar="DIR",
                    help="more demo workspaces (other seeds: `crashlens demo --seed N`) scored and calibrated with the first")
    args = ap.parse_args()
    cal_rows: list[dict] = []
    if args.no_scenarios:
        pass
    elif args.workspace:
        scenarios(args.workspace, cal_rows)
    else:
        with tempfile.TemporaryDirectory(prefix="rca-demo-") as tmp:
            scenarios(Path(tmp) / "ws", cal_rows)
    for extra in args.more_workspaces:
        scenarios(extra, cal_rows)
    calibration(cal_rows)
    if args.nezha:
        modes = ("normal",) if args.baselines is None else tuple(args.baselines) or NEZHA_BASELINES
        nezha(args.nezha_keep, ("tune",) if args.tune_only else ("tune", "report"), modes)
    if args.deeptralog:
        deeptralog()
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
