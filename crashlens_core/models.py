"""Plain typed records shared by every layer: what CrashLens knows, with no behaviour.

Times are naive ``datetime`` values in UTC throughout (DESIGN.md: naive times are UTC).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "LOG_LEVELS",
    "LOG_ALIASES",
    "LEVEL_WORDS",
    "INCIDENT_STATUSES",
    "STATUS_TRANSITIONS",
    "SEVERITIES",
    "EVENT_KINDS",
    "IngestError",
    "IngestReport",
    "Incident",
    "Artifact",
    "Evidence",
]

# Canonical levels, lowest to highest; parsers map every dialect onto these.
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

# Field → accepted keys, first match wins. Keys are compared case-sensitively, as JSON is.
LOG_ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "@timestamp", "time", "datetime", "date", "t", "asctime"),
    "level": ("level", "severity", "lvl", "levelname", "log.level", "loglevel", "severityText"),
    "message": ("message", "msg", "log", "text", "body", "event", "@message"),
    "service": ("service", "app", "service.name", "service_name", "application", "component", "logger_service"),
    "host": ("host", "hostname", "host.name", "node", "instance", "pod"),
    "trace_id": ("trace_id", "traceId", "traceid", "trace.id", "TraceID", "dd.trace_id"),
    "span_id": ("span_id", "spanId", "spanid", "span.id", "SpanID", "dd.span_id"),
}

# Level spellings of common loggers → canonical level (numbers are handled by the parsers).
LEVEL_WORDS: dict[str, str] = {
    "TRACE": "TRACE", "FINEST": "TRACE", "FINER": "TRACE",
    "DEBUG": "DEBUG", "FINE": "DEBUG", "DBG": "DEBUG", "VERBOSE": "DEBUG",
    "INFO": "INFO", "INFORMATION": "INFO", "INFORMATIONAL": "INFO", "NOTICE": "INFO", "CONFIG": "INFO",
    "WARN": "WARN", "WARNING": "WARN",
    "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR", "FAIL": "ERROR", "FAILURE": "ERROR",
    "CRITICAL": "FATAL", "CRIT": "FATAL", "FATAL": "FATAL", "PANIC": "FATAL", "EMERG": "FATAL",
    "EMERGENCY": "FATAL", "ALERT": "FATAL",
}

# The AgentOps workflow: open → investigating → rca_ready → approved → resolved.
INCIDENT_STATUSES = ("open", "investigating", "rca_ready", "approved", "resolved")
# Allowed moves. Skipping ahead is allowed where a person may reasonably do it (resolve an
# obvious incident without an RCA); going back only to re-open an investigation.
STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("investigating", "rca_ready", "resolved"),
    "investigating": ("rca_ready", "open", "resolved"),
    "rca_ready": ("approved", "investigating", "resolved"),
    "approved": ("resolved", "investigating"),
    "resolved": ("investigating",),
}
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
# What an incident history row records: a status change (creation included), an update that kept
# the status (e.g. a later alert delivery), an assignment (the note is the new owner, empty when
# unassigned), a comment (the note is its text).
EVENT_KINDS = ("status", "update", "assign", "comment")


@dataclass(frozen=True)
class IngestError:
    """One rejected input line (``line`` is None for whole-document formats' items)."""

    line: int | None
    reason: str


@dataclass
class IngestReport:
    """What happened to one input file; the shape of ``crashlens ingest --json``."""

    path: str
    format: str
    kind: str
    loaded: int = 0
    rejected: int = 0
    errors: list[IngestError] = field(default_factory=list)
    skipped: bool = False  # the same content was ingested before: nothing added
    note: str = ""
    batch_id: int | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # loaded, but not as the user will want (e.g. no times)

    def to_json(self) -> dict[str, Any]:
        out = {
            "path": self.path,
            "format": self.format,
            "kind": self.kind,
            "loaded": self.loaded,
            "rejected": self.rejected,
            "errors": [{"line": e.line, "reason": e.reason} for e in self.errors],
            "skipped": self.skipped,
            "batch_id": self.batch_id,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Incident:
    id: str
    title: str
    status: str = "open"
    severity: str = "sev3"
    services: list[str] = field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None
    fingerprint: str | None = None
    created_ts: datetime | None = None
    resolved_ts: datetime | None = None
    approved_by: str | None = None
    approved_ts: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    source: str = "manual"  # manual | detected | simulated | imported
    read_only: bool = False
    owner: str | None = None  # who works on it (assignee); None: nobody yet

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


@dataclass(frozen=True)
class Artifact:
    digest: str  # sha256 hex of the content
    mime: str
    length: int
    pii_masked: bool
    created_ts: datetime
    name: str = ""


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence an RCA may cite, under its stable id (DESIGN.md "Evidence ids").

    ``id`` is human-readable and stable across runs (``log:1234``, ``tpl:T17``, ``fp:9c1e…``,
    ``span:4bf9…``, ``metric:checkout.latency_p95``, ``code:shop@3f2a1c:pay.py#L40-L62``,
    ``commit:3f2a1c``, ``doc:runbook.pdf#p3``); ``kind`` is the prefix before the colon.
    ``text`` is what a reader (or a model) sees; ``data`` keeps the structured facts behind it;
    ``score`` orders evidence within an RCA (higher = more relevant).
    """

    id: str
    kind: str
    title: str
    text: str
    score: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "title": self.title, "text": self.text,
                "score": self.score, "data": self.data}
