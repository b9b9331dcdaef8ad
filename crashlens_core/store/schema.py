"""The workspace schema as an ordered list of migrations.

A migration is applied once, inside a transaction, and recorded in ``schema_migrations``.
Never edit a shipped migration: append a new one. Workspaces written by an older
CrashLens are upgraded the next time they are opened for writing.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "LATEST_VERSION"]

_V1 = """
CREATE TABLE ingest_batches (
    id BIGINT PRIMARY KEY,
    kind VARCHAR NOT NULL,          -- logs | spans | metrics
    path VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    digest VARCHAR NOT NULL,        -- sha256 of the file as given: the re-ingest identity
    size BIGINT,
    started_ts TIMESTAMP NOT NULL,
    finished_ts TIMESTAMP,
    loaded BIGINT DEFAULT 0,
    rejected BIGINT DEFAULT 0,
    status VARCHAR NOT NULL         -- running | done | failed
);
CREATE TABLE ingest_errors (batch_id BIGINT, line BIGINT, reason VARCHAR);

-- No primary keys or indexes on the signal tables: they are appended to in bulk and read by
-- scans; DuckDB's zone maps on ts do the pruning. ids are unique by construction.
CREATE TABLE logs (
    id BIGINT NOT NULL,
    ts TIMESTAMP,
    service VARCHAR,
    host VARCHAR,
    level VARCHAR,
    message VARCHAR,
    template_id VARCHAR,
    fingerprint VARCHAR,
    trace_id VARCHAR,
    span_id VARCHAR,
    attributes JSON,
    source_file VARCHAR,
    source_line BIGINT,
    batch_id BIGINT
);
CREATE TABLE spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_id VARCHAR,
    service VARCHAR,
    name VARCHAR,                   -- AgentOps calls it `tool`
    kind VARCHAR,
    start_ts TIMESTAMP,
    end_ts TIMESTAMP,
    duration_ms DOUBLE,
    status VARCHAR,                 -- ok | error | unset
    args_digest VARCHAR,
    result_digest VARCHAR,
    attributes JSON,
    incident_id VARCHAR,
    flags VARCHAR[],                -- orphan, duplicate_id, cycle, too_deep
    source_file VARCHAR,
    source_line BIGINT,
    batch_id BIGINT
);
CREATE TABLE metrics (
    ts TIMESTAMP NOT NULL,
    name VARCHAR NOT NULL,
    value DOUBLE,
    service VARCHAR,
    host VARCHAR,
    labels JSON,
    source_file VARCHAR,
    source_line BIGINT,
    batch_id BIGINT
);
CREATE TABLE incidents (
    id VARCHAR PRIMARY KEY,
    title VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    services VARCHAR[],
    window_start TIMESTAMP,
    window_end TIMESTAMP,
    fingerprint VARCHAR,
    created_ts TIMESTAMP NOT NULL,
    updated_ts TIMESTAMP NOT NULL,
    resolved_ts TIMESTAMP,
    approved_by VARCHAR,
    approved_ts TIMESTAMP,
    details JSON,
    source VARCHAR NOT NULL,
    read_only BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE incident_events (
    incident_id VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    from_status VARCHAR,
    to_status VARCHAR NOT NULL,
    actor VARCHAR,
    note VARCHAR
);
CREATE TABLE artifacts (
    digest VARCHAR PRIMARY KEY,
    mime VARCHAR NOT NULL,
    length BIGINT NOT NULL,
    pii_masked BOOLEAN NOT NULL,
    created_ts TIMESTAMP NOT NULL,
    name VARCHAR
);
CREATE TABLE rca_runs (
    id VARCHAR PRIMARY KEY,
    incident_id VARCHAR,
    engine VARCHAR NOT NULL,
    model VARCHAR,
    started_ts TIMESTAMP NOT NULL,
    finished_ts TIMESTAMP,
    prompt_tokens BIGINT DEFAULT 0,
    completion_tokens BIGINT DEFAULT 0,
    cost_usd DOUBLE DEFAULT 0,
    evidence_digest VARCHAR,
    report JSON
);
"""

# v2: the log signals. templates: one row per mined template (workspace-wide ids, stable across
# batches); fingerprints: one row per exception group (type + normalized in-app frames).
# logs.template_id / logs.fingerprint point at them.
_V2 = """
CREATE TABLE templates (
    template_id VARCHAR PRIMARY KEY,
    template VARCHAR NOT NULL,      -- variables shown as <*>
    count BIGINT NOT NULL,
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    example VARCHAR,                -- one real message
    example_log_id BIGINT,
    levels VARCHAR[],
    services VARCHAR[]
);
CREATE TABLE fingerprints (
    fingerprint VARCHAR PRIMARY KEY,
    exc_type VARCHAR,
    message VARCHAR,                -- the first message seen (variables kept)
    language VARCHAR,
    frames JSON,                    -- normalized in-app frames: [{module, function, file}]
    count BIGINT NOT NULL,
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    services VARCHAR[],
    example_log_id BIGINT,
    example VARCHAR                 -- one full stack trace as logged
);
"""

# v5: what an RCA run needs for KPIs and strict replay. The evidence set and every LLM
# response are stored as artifacts (by digest); the run row points at them.
_V5 = """
ALTER TABLE rca_runs ADD COLUMN status VARCHAR DEFAULT 'done';          -- running | done | failed
ALTER TABLE rca_runs ADD COLUMN notice VARCHAR;                         -- e.g. "LLM failed: …; offline report shown"
ALTER TABLE rca_runs ADD COLUMN evidence_ts TIMESTAMP;                  -- when the evidence set was assembled
ALTER TABLE rca_runs ADD COLUMN window_start TIMESTAMP;                 -- the analysed window (incident or --from/--to)
ALTER TABLE rca_runs ADD COLUMN window_end TIMESTAMP;
ALTER TABLE rca_runs ADD COLUMN evidence_artifact VARCHAR;              -- digest of the canonical evidence JSON
ALTER TABLE rca_runs ADD COLUMN responses JSON;                         -- digests of recorded LLM responses, in order
ALTER TABLE rca_runs ADD COLUMN actor VARCHAR;
"""

# Version numbers are reserved per concern so parallel work never collides:
#   2 signals (templates, fingerprints)   3 knowledge (sources, chunks)   4 traces/metrics
#   5 rca and kpi                          6 bundles
# A workspace applies every migration it has not seen, in list order.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial schema: batches, logs, spans, metrics, incidents, artifacts, rca_runs", _V1),
    (2, "log signals: templates and exception fingerprints", _V2),
    (5, "rca runs: status, notice, evidence time, window, recorded evidence and responses", _V5),
]
LATEST_VERSION = max(v for v, _, _ in MIGRATIONS)
