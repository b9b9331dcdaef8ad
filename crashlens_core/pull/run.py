"""A pull: the window (and its baseline) from a named source into the workspace, recorded for the bundle.

For each time range: ask the source, keep the raw answer as an artifact, turn it into the
file format the ingest already reads (Prometheus text exposition, JSON Lines), ingest it as
one batch through ``ingest.ingest_file`` (per-row errors reported as for files), then write
the pull record (source, URL, query, range, rows, digest of the raw answer, batch) as a JSON
artifact and a ``pulls`` row. ``bundle export`` carries both artifacts of every pull behind
an incident, so what the analysis read can be traced to the query that brought it, offline.

The same answer pulled twice is ingested once (the ingest skips identical content).

>>> # pull_source(ws, settings, get_source(ws, "prom"), t1, t2, credentials=creds, incident=inc)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from .. import __version__
from ..config import Settings
from ..errors import ConfigError, InputError, NotFound
from ..models import Incident, IngestReport
from ..store import Workspace, utcnow
from ..store import pulls as sql
from .sources import Credentials, Source, make_source

__all__ = ["PullRange", "PullOutcome", "PullResult", "pull_ranges", "pull_source", "replay_pull", "load_source", "check_source"]


@dataclass(frozen=True)
class PullRange:
    role: str  # window | baseline | baseline+window
    start: datetime
    end: datetime


@dataclass
class PullOutcome:
    """One range of one pull: what was asked and what the ingest made of the answer."""

    role: str
    start: datetime
    end: datetime
    query: str
    report: IngestReport
    rows: int = 0
    response_digest: str = ""
    response_bytes: int = 0
    record_digest: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = {"role": self.role, "from": self.start.isoformat(), "to": self.end.isoformat(), "query": self.query,
               "rows": self.rows, "response_digest": self.response_digest, "response_bytes": self.response_bytes,
               "record_digest": self.record_digest, "seconds": round(self.seconds, 3)}
        out["ingest"] = self.report.to_json()
        return out


@dataclass
class PullResult:
    source: str
    kind: str
    signal: str
    incident_id: str | None
    ranges: list[PullOutcome] = field(default_factory=list)
    signals: str = ""

    @property
    def loaded(self) -> int:
        return sum(o.report.loaded for o in self.ranges)

    @property
    def rejected(self) -> int:
        return sum(o.report.rejected for o in self.ranges)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "signal": self.signal, "incident_id": self.incident_id,
                "loaded": self.loaded, "rejected": self.rejected, "ranges": [o.to_json() for o in self.ranges],
                "signals": self.signals}


def load_source(ws: Workspace, name: str, settings: Settings) -> Source:
    """The stored source ``name``, re-checked against today's settings (the allow-list may have changed)."""
    row = sql.get_source(ws, name)
    return make_source(row["name"], row["kind"], row["url"], row["config"], settings)


def pull_ranges(start: datetime, end: datetime, baseline: tuple[datetime, datetime] | None) -> list[PullRange]:
    """The ranges to ask for: the window and the baseline, as one range when they touch or overlap.

    >>> [r.role for r in pull_ranges(datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 2), (datetime(2024, 1, 1), datetime(2024, 1, 1, 1)))]
    ['baseline+window']
    """
    if end <= start:
        raise InputError("the window ends before it starts", hint="give --from earlier than --to")
    if baseline is None:
        return [PullRange("window", start, end)]
    b0, b1 = baseline
    if b1 <= b0:
        raise InputError("the baseline ends before it starts", hint="give --baseline-from earlier than --baseline-to")
    if b0 <= end and start <= b1:  # touching or overlapping: one query, no point asked twice
        return [PullRange("baseline+window", min(b0, start), max(b1, end))]
    return [PullRange("baseline", b0, b1), PullRange("window", start, end)]


def _services(incident: Incident | None, services: list[str] | None) -> list[str]:
    return sorted(set(services or []) | set(incident.services if incident else []))


def _fetch(settings: Settings, source: Source, creds: Credentials, rng: PullRange,
           services: list[str]) -> tuple[str, bytes, str, dict[str, Any]]:
    """(query, raw answer, its mime, extras for the record) of one range."""
    if source.kind == "prometheus":
        from .prometheus import query_range, selector_for, step_for

        query = selector_for(source, services)
        step = step_for(source, rng.start, rng.end, settings)
        reply, _data = query_range(settings, source, creds, query, rng.start, rng.end, step)
        return query, reply.body, "application/json", {"step_s": step}
    from .clickhouse import build_sql, run_query

    query = build_sql(source, rng.start, rng.end)
    return query, run_query(settings, source, creds, query).body, "application/x-ndjson", {}


def _convert(source: Source, raw: bytes) -> tuple[bytes, str, int]:
    """The raw answer as a file the ingest reads: (content, its format, rows)."""
    if source.kind == "prometheus":
        from .prometheus import exposition

        text, rows = exposition(json.loads(raw).get("data") or {}, source.name, source.config.get("service_label", "service"))
        return text, "prometheus", rows
    from .clickhouse import count_rows

    return raw, "jsonl" if source.signal == "logs" else "native", count_rows(raw)


def _ingest(ws: Workspace, settings: Settings, source: Source, rng: PullRange, content: bytes, fmt: str,
            digest: str) -> IngestReport:
    from ..ingest import ingest_file

    folder = ws.folder / "pulls"
    folder.mkdir(exist_ok=True)
    path = folder / f".{digest[:16]}-{os.getpid()}.{'prom' if fmt == 'prometheus' else 'jsonl'}"
    path.write_bytes(content)
    # The connectors render every time in UTC (Prometheus epochs; toString(col, 'UTC')); a user
    # SQL source's times are the server's, read in the log time zone as a file's would be.
    zone = settings if source.kind == "clickhouse" and source.config.get("sql") else settings.replace(log_tz="UTC")
    try:
        return ingest_file(ws, source.signal, str(path), fmt, settings=zone,
                           display_name=f"pull:{source.name} {rng.role} {rng.start.isoformat()}..{rng.end.isoformat()}")
    finally:
        path.unlink(missing_ok=True)


def _land(ws: Workspace, settings: Settings, source: Source, rng: PullRange, query: str, raw: bytes,
          digest: str) -> PullOutcome:
    """Ingest one raw answer (fresh from the source, or recorded) and say what it made."""
    content, fmt, rows = _convert(source, raw)
    if rows:
        report = _ingest(ws, settings, source, rng, content, fmt, digest)
    else:
        report = IngestReport(path=f"pull:{source.name} {rng.role}", format=fmt, kind=source.signal,
                              note="the source returned no rows for this range")
    return PullOutcome(rng.role, rng.start, rng.end, query, report, rows, digest, len(raw))


def replay_pull(ws: Workspace, settings: Settings, record_digest: str) -> PullOutcome:
    """Ingest a recorded pull again from its raw answer, offline: the source is not asked.

    For a workspace that holds the record and the answer, e.g. from ``bundle import``: the
    rows land exactly as they did when the pull was made (the same bytes through the same
    parser; in a workspace that has them already, the ingest skips them).
    """
    try:
        record = json.loads(ws.read_artifact(record_digest))
        if not isinstance(record, dict) or "response_digest" not in record or "source" not in record:
            raise ValueError(record_digest)
    except ValueError:
        raise InputError(f"artifact {record_digest[:12]} is not a pull record",
                         hint="give the record digest `crashlens pull --json` printed (record_digest)") from None
    try:
        raw = ws.read_artifact(record["response_digest"])
    except NotFound:
        raise NotFound(f"the raw answer of pull record {record_digest[:12]} is not in this workspace",
                       hint="a bundle carries a redacted copy instead when the answer held secrets; pull from the source again") from None
    # rebuilt as recorded, not re-checked: nothing is sent to the URL, so the allow-list has no say
    source = Source(record["source"], record["kind"], record["url"], dict(record.get("config") or {}))
    rng = PullRange(str(record.get("role") or "window"), datetime.fromisoformat(record["from"]), datetime.fromisoformat(record["to"]))
    started = time.perf_counter()
    outcome = _land(ws, settings, source, rng, str(record.get("query") or ""), raw, record["response_digest"])
    outcome.record_digest = record_digest
    outcome.seconds = time.perf_counter() - started
    if source.signal in ("logs", "spans") and outcome.report.loaded:
        from ..signals.refresh import refresh_signals

        refresh_signals(ws, settings)
    return outcome


def pull_source(ws: Workspace, settings: Settings, source: Source, start: datetime, end: datetime, *,
                credentials: Credentials | None = None, baseline: tuple[datetime, datetime] | None = None,
                incident: Incident | None = None, services: list[str] | None = None, detect: bool = True,
                progress: Callable[[float, str], None] | None = None) -> PullResult:
    """Pull [start, end) and ``baseline`` from ``source`` into ``ws``; one ingest batch and one record per range.

    A source error (unreachable, refused, too big, too slow) raises ``SourceError`` before
    anything of that range is written; ranges already pulled stay pulled and recorded.
    """
    creds = credentials or Credentials()
    result = PullResult(source.name, source.kind, source.signal, incident.id if incident else None)
    names = _services(incident, services)
    ranges = pull_ranges(start, end, baseline)
    for i, rng in enumerate(ranges):
        if progress:
            progress(i / len(ranges), f"{source.name}: {rng.role} {rng.start:%Y-%m-%d %H:%M}..{rng.end:%H:%M}")
        started = time.perf_counter()
        query, raw, mime, extras = _fetch(settings, source, creds, rng, names)
        raw_art = ws.put_artifact(raw, mime, name=f"pull {source.name} {rng.role} response")
        outcome = _land(ws, settings, source, rng, query, raw, raw_art.digest)
        outcome.seconds = time.perf_counter() - started
        record = {"crashlens": __version__, "source": source.name, "kind": source.kind, "url": source.url,
                  "signal": source.signal, "config": source.config, "role": rng.role, "from": rng.start.isoformat(),
                  "to": rng.end.isoformat(), "query": query, **extras, "rows": outcome.rows, "loaded": outcome.report.loaded,
                  "rejected": outcome.report.rejected, "response_digest": raw_art.digest, "response_bytes": len(raw),
                  "response_mime": mime, "batch_id": outcome.report.batch_id,
                  "incident_id": result.incident_id, "pulled_ts": utcnow().isoformat(), "credentials": creds.describe()}
        art = ws.put_artifact(json.dumps(record, sort_keys=True, indent=1).encode("utf-8"), "application/json",
                              name=f"pull {source.name} {rng.role} record")
        outcome.record_digest = art.digest
        sql.record_pull(ws, {"id": art.digest, "source": source.name, "kind": source.kind, "signal": source.signal,
                             "role": rng.role, "query": query, "from_ts": rng.start, "to_ts": rng.end, "rows": outcome.rows,
                             "loaded": outcome.report.loaded, "rejected": outcome.report.rejected,
                             "response_digest": raw_art.digest, "batch_id": outcome.report.batch_id,
                             "incident_id": result.incident_id, "pulled_ts": utcnow()})
        result.ranges.append(outcome)
    if source.signal in ("logs", "spans") and result.loaded:
        from ..signals.refresh import refresh_signals

        result.signals = refresh_signals(ws, settings, detect=detect).summary()
    if progress:
        progress(1.0, f"{source.name}: {result.loaded:,} {source.signal} loaded")
    return result


def check_source(settings: Settings, source: Source, credentials: Credentials | None = None) -> dict[str, Any]:
    """Reach the source and run its smallest query: ``{ok, seconds, version, …}``; SourceError says why not."""
    creds = credentials or Credentials()
    if source.kind == "prometheus":
        from .prometheus import check_prometheus

        out = check_prometheus(settings, source, creds)
    elif source.kind == "clickhouse":
        from .clickhouse import check_clickhouse

        out = check_clickhouse(settings, source, creds)
    else:  # make_source refuses other kinds; a row edited by hand still gets a clear answer
        raise ConfigError(f"unknown source kind {source.kind!r}", hint="re-add the source")
    return {"source": source.name, "kind": source.kind, "url": source.url, "credentials": creds.describe(), **out}
