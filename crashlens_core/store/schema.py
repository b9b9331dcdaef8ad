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
    template_id VARCHAR NOT NULL,   -- unique by construction (rows are replaced, never updated)
    template VARCHAR NOT NULL,      -- variables shown as <*>
    seq BIGINT NOT NULL,            -- publication order: the miner is restored in this order
    replaced_by VARCHAR,            -- a wider template took its place (rows were relabelled)
    count BIGINT NOT NULL,
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    example VARCHAR,                -- one real message (first line)
    example_log_id BIGINT,
    levels VARCHAR[],
    services VARCHAR[]
);
CREATE TABLE fingerprints (
    fingerprint VARCHAR NOT NULL,   -- unique by construction
    exc_type VARCHAR,
    title VARCHAR,                  -- "TypeError: unsupported operand…" of the first one seen
    culprit VARCHAR,                -- "function (file)" of the crashing in-app frame
    basis VARCHAR,                  -- in_app | all_frames | message
    language VARCHAR,
    frames JSON,                    -- normalized frames hashed: [{module, function, file}]
    count BIGINT NOT NULL,
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    services VARCHAR[],
    example_log_id BIGINT,
    example VARCHAR                 -- one full stack trace as logged
);
ALTER TABLE ingest_batches ADD COLUMN labelled_ts TIMESTAMP;   -- logs batches: templates/fingerprints done
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

# v3: knowledge. A source is a repo, a set of PDFs or the log templates; kn_files holds the
# Merkle leaves and folders (hash per path) that make re-sync incremental; kn_chunks are the
# searchable units (ids = FAISS ids); kn_vectors caches embeddings by content hash and model
# so nothing is embedded twice; kn_images are PDF images kept as artifacts.
_V3 = """
CREATE TABLE kn_sources (
    name VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,          -- repo | docs | logs
    origin VARCHAR NOT NULL,        -- url | path | archive | pdf | templates
    url_display VARCHAR,            -- credential-free, as shown
    location VARCHAR,               -- credential-free URL or absolute path, for re-sync
    root VARCHAR,                   -- working tree (repos) or stored files (docs)
    commit VARCHAR,
    merkle_root VARCHAR,
    files BIGINT DEFAULT 0,
    chunks BIGINT DEFAULT 0,
    added_ts TIMESTAMP,
    synced_ts TIMESTAMP,
    status VARCHAR,                 -- ready | failed
    error VARCHAR,
    details JSON
);
CREATE TABLE kn_files (
    source VARCHAR NOT NULL,
    path VARCHAR NOT NULL,          -- '' is the root folder
    is_dir BOOLEAN NOT NULL,
    hash VARCHAR NOT NULL,
    size BIGINT,
    mtime_ns BIGINT,
    chunks INTEGER,
    note VARCHAR                    -- why a file was skipped or refused
);
CREATE SEQUENCE kn_chunk_ids START 1;
CREATE TABLE kn_chunks (
    id BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,          -- code | doc | log
    path VARCHAR,
    commit VARCHAR,
    start_line INTEGER,
    end_line INTEGER,
    page INTEGER,
    symbol VARCHAR,                 -- qualified name, heading or template id
    header VARCHAR,                 -- enrichment line embedded with the text
    text VARCHAR NOT NULL,
    literals VARCHAR,               -- string literals and format strings, one per line
    content_hash VARCHAR NOT NULL
);
CREATE TABLE kn_vectors (
    content_hash VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    vec BLOB NOT NULL,              -- float32, normalized
    PRIMARY KEY (content_hash, model)
);
CREATE TABLE kn_images (
    source VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    page INTEGER,
    digest VARCHAR NOT NULL,        -- artifacts.digest
    near_text VARCHAR
);
CREATE TABLE kn_state (key VARCHAR PRIMARY KEY, value VARCHAR);
"""

# v7: a cheap content identity per batch (size + first/last MiB), so a new file is hashed in
# the same pass that reads it and only a possible re-ingest pays for a separate full hash.
_V7 = """
ALTER TABLE ingest_batches ADD COLUMN quick_id VARCHAR;
"""

# v15 (issue 15): change events (deploys, commits, flags, config…) and what each deploy shipped.
# changes.id is a content digest, so the same event from two files (or twice) is one row;
# change_commits ties a commit to the services that run it: a deploy ships every commit since
# that service's previous deploy.
_V15 = """
CREATE TABLE changes (
    id VARCHAR NOT NULL,            -- unique by construction (content digest, inserted once)
    ts TIMESTAMP NOT NULL,
    kind VARCHAR NOT NULL,          -- deploy | commit | flag | config | rollback | scale | infra | other
    service VARCHAR,
    commit VARCHAR,
    version VARCHAR,
    name VARCHAR,                   -- flag or config key
    change VARCHAR,                 -- e.g. off->on, v1->v2
    author VARCHAR,
    summary VARCHAR,
    files VARCHAR[],
    diff VARCHAR,
    attributes JSON,                -- everything else the record carried (parents of a commit, hosts, …)
    source_file VARCHAR,
    source_line BIGINT,
    batch_id BIGINT
);
CREATE TABLE change_commits (
    deploy_id VARCHAR NOT NULL,     -- changes.id of the deploy (or rollback) that shipped the commit
    service VARCHAR NOT NULL,
    commit VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL           -- when the deploy went out
);
"""

# v16 (issue 16): pull connectors. Named sources (Prometheus, ClickHouse) without credentials
# (those come from the environment or st.secrets, never the workspace), and one row per pull:
# what was asked of which source for which time range, the digest of the raw response (an
# artifact) and of the pull record (an artifact too), so a bundle carries both.
_V16 = """
CREATE TABLE pull_sources (
    name VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,          -- prometheus | clickhouse
    url VARCHAR NOT NULL,           -- never with user:password@ (refused when added)
    config JSON,                    -- selector / table + columns / sql, step, signal
    created_ts TIMESTAMP,
    updated_ts TIMESTAMP
);
CREATE TABLE pulls (
    id VARCHAR PRIMARY KEY,         -- the record artifact's digest
    source VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    signal VARCHAR NOT NULL,        -- metrics | logs | spans
    role VARCHAR,                   -- window | baseline | window+baseline
    query VARCHAR,
    from_ts TIMESTAMP NOT NULL,
    to_ts TIMESTAMP NOT NULL,
    rows BIGINT,
    loaded BIGINT,
    rejected BIGINT,
    response_digest VARCHAR,        -- artifacts.digest of the raw response bytes
    batch_id BIGINT,
    incident_id VARCHAR,
    pulled_ts TIMESTAMP
);
"""

# v19 (issue 19): who owns an incident, and a comment thread in its history. Comments, assignments
# and detail updates are ``incident_events`` rows like status changes (one history, one order, and
# bundles already carry and redact it); ``kind`` tells them apart. Rows written before v19 are
# status changes, except those that kept the status (detail updates from later alert deliveries).
_V19 = """
ALTER TABLE incidents ADD COLUMN owner VARCHAR;
ALTER TABLE incident_events ADD COLUMN kind VARCHAR DEFAULT 'status';   -- status | update | assign | comment
UPDATE incident_events SET kind = CASE WHEN from_status = to_status THEN 'update' ELSE 'status' END;
"""

# Version numbers are reserved per concern so parallel work never collides:
#   2 signals (templates, fingerprints)   3 knowledge (sources, chunks)   4 traces/metrics
#   5 rca and kpi                          6 bundles    15 change events (issue 15)
#   16 pull connectors (issue 16)         19 incident owner and comments (issue 19)
# A workspace applies every migration it has not seen, in list order.
MIGRATIONS: list[tuple[int, str, str]] = [  # (7: ingest quick identity)
    (1, "initial schema: batches, logs, spans, metrics, incidents, artifacts, rca_runs", _V1),
    (2, "log signals: templates and exception fingerprints", _V2),
    (3, "knowledge: sources, file hashes, chunks, embedding cache, document images", _V3),
    (5, "rca runs: status, notice, evidence time, window, recorded evidence and responses", _V5),
    (7, "ingest batches: quick content identity", _V7),
    (15, "change events: deploys, commits, flags, config; commits shipped per deploy", _V15),
    (16, "pull connectors: named sources without credentials, one row per pull", _V16),
    (19, "incidents: owner; history events get a kind (status, update, assign, comment)", _V19),
]
LATEST_VERSION = max(v for v, _, _ in MIGRATIONS)
