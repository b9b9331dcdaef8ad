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
from ..errors import ConfigError, InputError
from ..models import Incident, IngestReport
from ..store import Workspace, utcnow
from ..store import pulls as sql
from .sources import Credentials, Source, make_source

__all__ = ["PullRange", "PullOutcome", "PullResult", "pull_ranges", "pull_source", "load_source", "check_source"]


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
    rows: int = 0
    response_digest: str = ""
    response_bytes: int = 0
    record_digest: str = ""
    seconds: float = 0.0
    report: IngestReport | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"role": self.role, "from": self.start.isoformat(), "to": self.end.isoformat(), "query": self.query,
               "rows": self.rows, "response_digest": self.response_digest, "response_bytes": self.response_bytes,
               "record_digest": self.record_digest, "seconds": round(self.seconds, 3)}
        out["ingest"] = self.report.to_json() if self.report else None
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
        return sum(o.report.loaded for o in self.ranges if o.report)

    @property
    def rejected(self) -> int:
        return sum(o.report.rejected for o in self.ranges if o.report)

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
           services: list[str]) -> tuple[str, bytes, str, bytes, str, int, dict[str, Any]]:
    """(query, raw answer, its mime, the answer as an ingestible file, that file's format, rows, extras)."""
    if source.kind == "prometheus":
        from .prometheus import exposition, query_range, selector_for, step_for

        query = selector_for(source, services)
        step = step_for(source, rng.start, rng.end, settings)
        reply, data = query_range(settings, source, creds, query, rng.start, rng.end, step)
        text, rows = exposition(data, source.name, source.config.get("service_label", "service"))
        return query, reply.body, "application/json", text, "prometheus", rows, {"step_s": step}
    from .clickhouse import build_sql, count_rows, run_query

    query = build_sql(source, rng.start, rng.end)
    reply = run_query(settings, source, creds, query)
    fmt = "jsonl" if source.signal == "logs" else "native"
    return query, reply.body, "application/x-ndjson", reply.body, fmt, count_rows(reply.body), {}


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
        query, raw, mime, content, fmt, rows, extras = _fetch(settings, source, creds, rng, names)
        raw_art = ws.put_artifact(raw, mime, name=f"pull {source.name} {rng.role} response")
        outcome = PullOutcome(rng.role, rng.start, rng.end, query, rows, raw_art.digest, len(raw))
        if rows:
            outcome.report = _ingest(ws, settings, source, rng, content, fmt, raw_art.digest)
        else:
            outcome.report = IngestReport(path=f"pull:{source.name} {rng.role}", format=fmt, kind=source.signal,
                                          note="the source returned no rows for this range")
        outcome.seconds = time.perf_counter() - started
        record = {"crashlens": __version__, "source": source.name, "kind": source.kind, "url": source.url,
                  "signal": source.signal, "config": source.config, "role": rng.role, "from": rng.start.isoformat(),
                  "to": rng.end.isoformat(), "query": query, **extras, "rows": rows, "loaded": outcome.report.loaded,
                  "rejected": outcome.report.rejected, "response_digest": raw_art.digest, "response_bytes": len(raw),
                  "response_mime": mime, "batch_id": outcome.report.batch_id,
                  "incident_id": result.incident_id, "pulled_ts": utcnow().isoformat(), "credentials": creds.describe()}
        art = ws.put_artifact(json.dumps(record, sort_keys=True, indent=1).encode("utf-8"), "application/json",
                              name=f"pull {source.name} {rng.role} record")
        outcome.record_digest = art.digest
        sql.record_pull(ws, {"id": art.digest, "source": source.name, "kind": source.kind, "signal": source.signal,
                             "role": rng.role, "query": query, "from_ts": rng.start, "to_ts": rng.end, "rows": rows,
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
