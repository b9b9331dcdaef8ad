"""DeepTraLog Train-Ticket fault cases for bench/rca_eval.py: unpack, ground truth, conversion, ingest.

The data (../shared/data/rca-dev/deeptralog, FudanSELab DeepTraLog, ICSE'22) is four zips:
``F05.zip``, ``F06.zip`` (its folders are named ``F23-01`` … ``F23-05``), ``F08.zip`` with five
cases each, and ``normal_put_consign.zip`` (a fault-free run). A case folder holds the SkyWalking
span export of its traces (``*SpanData*.csv``: StartTime/EndTime in epoch ms, SpanId =
``segment.index``, ParentSpan ``-1`` for a root, SpanType Entry/Exit/Local, Peer, IsError
True/False) and the raw SkyWalking-pattern log (``*.log``; lines
``2021-08-07 19:10:41.655 [SW_CTX:[service,instance,traceId,segmentId,spanIndex]] [thread] LEVEL logger -message``,
stack traces joined onto the same line, times in the cluster's local time).

The data carries no root-cause label; DeepTraLog labels traces, not services. The fault types
(DeepTraLog's list, after the FudanSELab fault-replication study) say where to look:

- **F05** "the high load of a type of requests causes the timeout failure of another type of
  requests": the caller logs a read timeout; the faulty service is the one that is slow, found
  by following each timed-out call down the trace while a remote call covers ≥ 90% of its
  caller's time (F05-01: the travel → ticketinfo call is slow because station, two hops down,
  queues requests and takes 45 s each). When the callee never produced a span the slow service
  cannot be located and the case is left out.
- **F06** "endless recursive requests of a microservice are caused by SQL errors of another
  dependent microservice": the faulty service is the one whose own database calls fail
  (MongoTimeoutException in its log lines).
- **F08** "the key in the request of one microservice is not passed to its dependent
  microservice": the faulty service is the caller that omits the key; its callee answers 4xx
  (the callee's span is where the error shows, the defect is in the caller).

The raw logs go through the real ``ingest_files`` as they are, in the ``text`` format: it reads
the SW_CTX context (service, instance, trace id, span id = segment.index) and the logger layout,
and ``log_tz`` (the local-time offset, estimated from log lines matched to spans by span id)
turns their local times into UTC. The span export is rewritten before its ``--map`` ingest
(``IsError`` → ``Status``, ``SpanType`` → ``Kind``, ``ParentSpan`` ``-1`` → empty), a bridge
kept from before the span parser learnt those columns; the JSONL log copy that
``write_inputs`` also writes is what ``determine_truth`` reads.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from crashlens_core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "rca-dev" / "deeptralog"
NORMAL = "normal_put_consign"
FAULTS = {
    "F05": "high load of one request type times out another",
    "F06": "SQL errors in a dependency, endless retries",
    "F08": "key not passed to the dependent service",
}
SPAN_MAP = {"trace_id": "TraceId", "span_id": "SpanId", "parent_id": "ParentSpan", "service": "Service", "name": "URL",
            "start_ts": "StartTime", "end_ts": "EndTime", "status": "Status", "kind": "Kind"}
_KIND = {"Entry": "server", "Exit": "client", "Local": "internal"}
_SW_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}) \[SW_CTX:\[([^,\]]*),([^,\]]*),([^,\]]*),([^,\]]*),([^,\]]*)\]\] "
                      r"\[([^\]]*)\] (\w+)\s+(\S+)\s+-?(.*)$", re.S)
COVER = 0.9  # a remote call covering this share of its caller's time is where the caller's time went


@dataclass
class Case:
    name: str  # the folder, e.g. F05-01
    fault: str  # the DeepTraLog fault type (the zip it came from), e.g. F05
    folder: Path
    truth: str | None = None
    how: str = ""


def unpack(dest: Path) -> tuple[list[Case], Path]:
    """Extract every zip under ``dest``; the fault cases (sorted) and the normal run's folder."""
    cases: list[Case] = []
    for archive in sorted(DATA.glob("*.zip")):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():  # only plain relative names: never write outside dest
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ValueError(f"{archive.name}: unsafe member {member!r}")
            zf.extractall(dest)
            tops = sorted({Path(m).parts[0] for m in zf.namelist()})
        if archive.stem != NORMAL:
            cases += [Case(t, archive.stem, dest / t) for t in tops]
    return cases, dest / NORMAL


def read_spans(folder: Path) -> pd.DataFrame:
    """All span CSVs of a folder, one row per span (SUCCESS files repeat the ERROR file's spans)."""
    frames = [pd.read_csv(p, dtype=str) for p in sorted(folder.glob("*SpanData*.csv"))]
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["TraceId", "SpanId"])
    df["start"] = df["StartTime"].astype("int64")
    df["end"] = df["EndTime"].astype("int64")
    df["error"] = df["IsError"].str.lower() == "true"
    return df.reset_index(drop=True)


def read_logs(folder: Path) -> tuple[list[dict], int]:
    """SkyWalking-pattern log lines as dicts (local time, naive); and the count of lines that did not match."""
    rows, unmatched = [], 0
    for path in sorted(folder.glob("*.log")):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = _SW_LINE.match(line.rstrip("\r\n"))
                if not m:
                    unmatched += bool(line.strip())
                    continue
                ts, svc, inst, trace, segment, idx, thread, level, logger, msg = m.groups()
                rows.append({"local": datetime.strptime(ts, "%Y-%m-%d %H:%M:%S.%f"), "service": svc, "instance": inst,
                             "trace_id": trace if trace not in ("", "N/A") else None,
                             "span_id": f"{segment}.{idx}" if segment not in ("", "N/A") else None,
                             "thread": thread, "level": level, "logger": logger, "message": msg.rstrip()})
    return rows, unmatched


def local_offset(logs: list[dict], spans: pd.DataFrame) -> tuple[timedelta, int]:
    """Log time minus UTC, from log lines whose span is in the CSV (rounded to 15 min); (offset, lines used)."""
    starts = dict(zip(spans["SpanId"], spans["start"]))
    diffs = [(row["local"] - datetime(1970, 1, 1)).total_seconds() - starts[row["span_id"]] / 1000.0
             for row in logs if row["span_id"] in starts]
    if not diffs:
        return timedelta(0), 0
    median = sorted(diffs)[len(diffs) // 2]
    return timedelta(minutes=round(median / 900.0) * 15), len(diffs)


# ---------------------------------------------------------------- ground truth


def _truth_f05(spans: pd.DataFrame) -> tuple[str | None, str]:
    """Follow every timed-out remote call down its trace to where the time is spent; majority."""
    by_id = spans.set_index("SpanId")
    children = spans.groupby("ParentSpan")["SpanId"].apply(list).to_dict()
    dur = (spans["end"] - spans["start"]).to_dict()
    pos = {sid: i for i, sid in enumerate(spans["SpanId"])}
    votes: Counter = Counter()
    unseen: Counter = Counter()
    for sid in spans.loc[(spans["SpanType"] == "Exit") & spans["error"], "SpanId"]:
        peer = by_id.at[sid, "Peer"]
        while True:
            entries = [c for c in children.get(sid, []) if by_id.at[c, "SpanType"] == "Entry"]
            if not entries:  # the callee never produced a span: where its time went is unknown
                unseen[peer] += 1
                break
            entry = entries[0]
            exits = [c for c in children.get(entry, []) if by_id.at[c, "SpanType"] == "Exit"]
            longest = max(exits, key=lambda c: dur[pos[c]], default=None)
            if longest is None or dur[pos[longest]] < COVER * dur[pos[entry]]:
                votes[by_id.at[entry, "Service"]] += 1  # its own time: this service is the slow one
                break
            sid, peer = longest, by_id.at[longest, "Peer"]
    if not votes:
        callee = ", ".join(unseen) or "none"
        return None, f"the timed-out callee ({callee}) produced no span in any trace: the slow service cannot be located"
    svc, n = votes.most_common(1)[0]
    return svc, (f"slow service on the timed-out call path in {n} of {sum(votes.values())} traces where the callee "
                 f"produced spans ({sum(unseen.values())} traces without callee spans)")


def _truth_f06(logs: list[dict]) -> tuple[str | None, str]:
    owners = Counter(r["service"] for r in logs if "MongoTimeoutException" in r["message"])
    if len(owners) != 1:
        return None, f"database errors in {len(owners)} services: {dict(owners)}"
    svc, n = owners.most_common(1)[0]
    return svc, f"the only service whose own database calls fail (MongoTimeoutException in {n} of its log lines)"


def _truth_f08(spans: pd.DataFrame, logs: list[dict]) -> tuple[str | None, str]:
    """The caller of a rejected call: an erroring client span whose callee's server span errs with no failing child."""
    service = dict(zip(spans["SpanId"], spans["Service"]))
    failing_parents = set(spans.loc[spans["error"], "ParentSpan"])
    rejected = spans[(spans["SpanType"] == "Entry") & spans["error"] & ~spans["SpanId"].isin(failing_parents)]
    exits = set(spans.loc[(spans["SpanType"] == "Exit") & spans["error"], "SpanId"])
    calls = rejected[rejected["ParentSpan"].isin(exits)]
    callers = Counter(service[p] for p in calls["ParentSpan"])
    callees = Counter(calls["Service"])
    if len(callers) != 1:
        return None, f"rejected calls from {len(callers)} callers: {dict(callers)}"
    svc, n = callers.most_common(1)[0]
    codes = Counter(m.group(1) for r in logs if r["service"] == svc
                    for m in [re.search(r"HttpClientErrorException: (\d{3})", r["message"])] if m)
    answer = f"answers HTTP {', '.join(codes)}" if codes else "rejects them"
    return svc, f"caller of {n} rejected calls (its callee {', '.join(callees)} {answer}: the key is missing)"


def determine_truth(case: Case, spans: pd.DataFrame, logs: list[dict]) -> None:
    if case.fault == "F05":
        case.truth, case.how = _truth_f05(spans)
    elif case.fault == "F06":
        case.truth, case.how = _truth_f06(logs)
    elif case.fault == "F08":
        case.truth, case.how = _truth_f08(spans, logs)
    else:
        case.truth, case.how = None, f"fault type {case.fault} has no rule here"


# ---------------------------------------------------------------- conversion and ingest


def write_inputs(spans: pd.DataFrame, logs: list[dict], offset: timedelta, dest: Path, stem: str) -> tuple[Path, Path]:
    """One span CSV (original columns + Status, Kind; ParentSpan -1 → empty) and one JSONL log file."""
    dest.mkdir(parents=True, exist_ok=True)
    out = spans.drop(columns=["start", "end", "error"]).copy()
    out["Status"] = spans["error"].map({True: "error", False: "ok"})
    out["Kind"] = out["SpanType"].map(_KIND).fillna("")
    out.loc[out["ParentSpan"] == "-1", "ParentSpan"] = ""
    span_path = dest / f"{stem}-spans.csv"
    out.to_csv(span_path, index=False)
    tz = timezone(offset)
    log_path = dest / f"{stem}-logs.jsonl"
    with open(log_path, "w", encoding="utf-8") as fh:
        for r in logs:
            rec = {"ts": r["local"].replace(tzinfo=tz).isoformat(timespec="milliseconds"), "level": r["level"],
                   "service": r["service"], "instance": r["instance"], "trace_id": r["trace_id"], "span_id": r["span_id"],
                   "logger": r["logger"], "thread": r["thread"], "message": r["message"]}
            fh.write(json.dumps({k: v for k, v in rec.items() if v is not None}) + "\n")
    return span_path, log_path


def prepare(folder: Path, dest: Path) -> dict:
    """Read, convert and write one folder's data; what the ingest and the window need."""
    spans = read_spans(folder)
    logs, unmatched = read_logs(folder)
    offset, matched = local_offset(logs, spans)
    span_path, log_path = write_inputs(spans, logs, offset, dest, folder.name)
    epoch = datetime(1970, 1, 1)
    times = [epoch + timedelta(milliseconds=int(spans["start"].min())), epoch + timedelta(milliseconds=int(spans["end"].max()))]
    times += [r["local"] - offset for r in logs]
    # the window is all of the folder's data (a case holds only its fault period), end exclusive
    return {"spans": spans, "logs": logs, "unmatched": unmatched, "offset": offset, "matched": matched,
            "span_path": span_path, "log_path": log_path, "raw_logs": sorted(folder.glob("*.log")),
            "start": min(times), "end": max(times) + timedelta(seconds=1)}


def tz_of(offset: timedelta) -> str:
    """The estimated local-time offset as a ``log_tz`` setting: +08:00."""
    minutes = int(offset.total_seconds() // 60)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def ingest(ws, prepared: dict) -> tuple[int, int, list[str]]:
    """Both files through the real ingest path; (log lines loaded, spans loaded, problems)."""
    from crashlens_core.ingest import ingest_files

    # The raw SkyWalking logs as they are: the text format reads SW_CTX (service, instance,
    # trace and span ids) and the logger layout; log_tz reads their local times.
    logs = ingest_files(ws, "logs", [str(p) for p in prepared["raw_logs"]], "text",
                        settings=Settings(workspace=ws.folder, log_tz=tz_of(prepared["offset"])))
    spans = ingest_files(ws, "spans", [str(prepared["span_path"])], "csv", SPAN_MAP)
    problems = [f"{r.path}: {r.rejected} rejected ({'; '.join(e.reason for e in r.errors[:2])})"
                for r in logs + spans if r.rejected or r.errors]
    return sum(r.loaded for r in logs), sum(r.loaded for r in spans), problems


def raw_text_check(log_path: Path, folder: Path) -> str:
    """What the core's own ``text`` format, format detection included, makes of a raw SkyWalking log."""
    from crashlens_core.ingest import ingest_files
    from crashlens_core.store import Workspace

    with Workspace.open(folder) as ws:
        rep = ingest_files(ws, "logs", [str(log_path)])[0]
        n, svc, trace, span, level = ws.con.execute(
            "SELECT count(*), count(service), count(trace_id), count(span_id), count(level) FROM logs").fetchall()[0]
    return (f"{log_path.name} as-is (format {rep.format}): {n} records loaded, {svc} with a service, {trace} with a trace id, "
            f"{span} with a span id, {level} with a level")
