"""The DuckDB workspace: connection, locking, migrations, batches, incidents, artifacts, queries.

One DuckDB file per workspace folder (``crashlens.duckdb``), beside a content-addressed
``artifacts/`` folder. DuckDB allows one writing process per file: connections here are
short-lived (open, work, close) so the app and the CLI take turns, and a process that
cannot get the lock in ``lock_timeout`` seconds gets ``WorkspaceInUse``. Threads of one
process share a Workspace through ``cursor()``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb

from ..errors import ConfigError, InvalidTransition, InputError, NotFound, WorkspaceError, WorkspaceInUse
from ..models import INCIDENT_STATUSES, SEVERITIES, STATUS_TRANSITIONS, Artifact, Incident
from . import linesql
from .files import atomic_write_bytes, registered, time_window
from .schema import LATEST_VERSION, MIGRATIONS

__all__ = ["Workspace", "DB_FILE", "utcnow"]

DB_FILE = "crashlens.duckdb"
_LOCK_PATTERNS = ("could not set lock", "conflicting lock", "lock on file")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Workspace:
    """A workspace folder and an open connection to its database.

    >>> import tempfile
    >>> with Workspace.open(tempfile.mkdtemp()) as ws:
    ...     ws.create_incident("checkout errors").status
    'open'
    """

    def __init__(self, folder: Path, con: Any, read_only: bool) -> None:
        self.folder = folder
        self.con = con
        self.read_only = read_only
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, folder: str | Path, read_only: bool = False, lock_timeout: float = 3.0,
             memory_limit_mb: int = 768) -> "Workspace":
        # absolute from here on: git and the PDF parser run in child processes with other cwds,
        # and `make run`'s default workspace is the relative data/workspace
        folder = Path(folder).expanduser().absolute()
        db = folder / DB_FILE
        if read_only and not db.exists():
            raise WorkspaceError(f"no workspace at {folder}", hint="run `crashlens demo` or ingest some data first")
        if not read_only:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(f"cannot create workspace folder {folder}: {exc.strerror}", hint="choose another --workspace") from None
        con = cls._connect(db, read_only, lock_timeout)
        # DuckDB would otherwise cache up to 80% of RAM; a workbench shares the laptop.
        con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
        # Bulk appends need not keep the staging order (every read orders explicitly); this
        # lets DuckDB insert in parallel with less memory.
        con.execute("SET preserve_insertion_order = false")
        ws = cls(folder, con, read_only)
        try:
            ws._prepare()
        except Exception:
            con.close()
            raise
        return ws

    @staticmethod
    def _connect(db: Path, read_only: bool, lock_timeout: float) -> Any:
        deadline = time.monotonic() + max(lock_timeout, 0.0)
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(db), read_only=read_only)
                # Naive timestamps in text are UTC (DESIGN.md), whatever the machine's zone.
                con.execute("SET TimeZone = 'UTC'")
                return con
            except duckdb.IOException as exc:
                text = str(exc).lower()
                if not any(p in text for p in _LOCK_PATTERNS):
                    raise WorkspaceError(f"cannot open workspace database {db}: {exc}", hint="check the file is a CrashLens workspace") from None
                if time.monotonic() >= deadline:
                    pid = re.search(r"pid (\d+)", text)
                    who = f" (process {pid.group(1)})" if pid else ""
                    raise WorkspaceInUse(
                        f"workspace {db.parent} is in use by another CrashLens process{who}",
                        hint="wait for it to finish (an ingest, or the app's current action), or use another --workspace",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:
                raise WorkspaceError(f"cannot open workspace database {db}: {exc}", hint="check the file is a CrashLens workspace") from None

    def _prepare(self) -> None:
        linesql.create_macros(self.con)
        if self.read_only:
            version = self.schema_version()
            if version < LATEST_VERSION:
                raise WorkspaceError(
                    f"workspace {self.folder} has schema v{version}, this CrashLens needs v{LATEST_VERSION}",
                    hint="open it once for writing (e.g. `crashlens incidents list`) to upgrade it",
                )
            return
        self.con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_ts TIMESTAMP)")
        done = {row[0] for row in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utcnow()])
        (self.folder / "artifacts").mkdir(exist_ok=True)

    def schema_version(self) -> int:
        try:
            return self.con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0]
        except duckdb.CatalogException:
            return 0

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cursor(self) -> Any:
        """A cursor for another thread of this process (DuckDB forbids sharing one connection)."""
        cur = self.con.cursor()
        linesql.create_macros(cur)
        return cur

    def require_writable(self) -> None:
        """Raise ``WorkspaceError`` unless this workspace may be changed (every writer calls it first)."""
        if self.read_only:
            raise WorkspaceError("workspace was opened read-only", hint="open it without read_only to change it")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; a failure rolls everything in it back."""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    @contextmanager
    def naive_timezone(self, name: str) -> Iterator[None]:
        """Meanwhile, SQL parsing reads timestamp text without an offset as times in zone ``name``.

        The session TimeZone decides how such text casts to TIMESTAMPTZ (``linesql`` cl_ts); it is
        UTC at all other times.
        """
        if name == "UTC":
            yield
            return
        try:
            self.con.execute("SET TimeZone = " + "'" + name.replace("'", "''") + "'")
        except duckdb.Error:
            raise ConfigError(f"time zone {name!r} is not one DuckDB knows",
                              hint="use an IANA name such as Europe/Paris, or an offset such as +08:00") from None
        try:
            yield
        finally:
            self.con.execute("SET TimeZone = 'UTC'")

    def interrupt(self) -> None:
        """Stop the statement running on this workspace's connection (from another thread)."""
        self.con.interrupt()

    def checkpoint(self) -> None:
        self.con.execute("CHECKPOINT")

    # ---------------------------------------------------------------- ingest batches
    def find_batch(self, kind: str, digest: str) -> dict[str, Any] | None:
        row = self.con.execute(
            "SELECT id, path, loaded, rejected FROM ingest_batches WHERE kind = ? AND digest = ? AND status = 'done' LIMIT 1",
            [kind, digest],
        ).fetchall()
        row = row[0] if row else None
        return None if row is None else {"id": row[0], "path": row[1], "loaded": row[2], "rejected": row[3]}

    def batches_with_quick_id(self, kind: str, quick_id: str) -> list[dict[str, Any]]:
        """Finished batches whose file had this quick identity (size + first/last MiB)."""
        rows = self.con.execute(
            "SELECT id, path, loaded, rejected, digest FROM ingest_batches WHERE kind = ? AND quick_id = ? AND status = 'done'",
            [kind, quick_id]).fetchall()
        return [{"id": r[0], "path": r[1], "loaded": r[2], "rejected": r[3], "digest": r[4]} for r in rows]

    def begin_batch(self, kind: str, path: str, fmt: str, digest: str, size: int, quick_id: str | None = None) -> int:
        """Register a batch; call inside the batch's transaction so a failure leaves no trace.
        ``digest`` may be a placeholder that ``finish_batch(digest=…)`` replaces."""
        self.require_writable()
        batch_id = self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM ingest_batches").fetchall()[0][0]
        self.con.execute(
            "INSERT INTO ingest_batches (id, kind, path, format, digest, size, started_ts, status, quick_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)",
            [batch_id, kind, path, fmt, digest, size, utcnow(), quick_id],
        )
        return batch_id

    def finish_batch(self, batch_id: int, loaded: int, rejected: int, errors: Sequence[tuple[int | None, str]],
                     digest: str | None = None) -> None:
        self.con.execute(
            "UPDATE ingest_batches SET finished_ts = ?, loaded = ?, rejected = ?, status = 'done', "
            "digest = coalesce(?, digest) WHERE id = ?",
            [utcnow(), loaded, rejected, digest, batch_id],
        )
        if errors:
            # Two list parameters unnested in one statement: executemany costs ~25 µs a row.
            self.con.execute("INSERT INTO ingest_errors SELECT ?, unnest(?::BIGINT[]), unnest(?::VARCHAR[])",
                             [batch_id, [line for line, _ in errors], [reason for _, reason in errors]])

    def log_id_base(self) -> int:
        """The id base for a new batch: every id the batch assigns (base + line) is above all existing ids."""
        return int(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM logs").fetchall()[0][0])

    def load_log_lines(self, table: Any, fmt: str, ctx: dict[str, Any], cap: int, is_last: bool) -> linesql.LineChunkResult:
        """Parse an Arrow table ``(line_no, raw)`` of one line format into ``logs`` (SQL fast path)."""
        self.require_writable()
        with registered(self.con, "cl_stage", table):
            if fmt == "text" and "no_timestamps" not in ctx:
                ctx["no_timestamps"] = not linesql.sniff_text_has_timestamps(self.con)
            return linesql.load_log_chunk(self.con, fmt, ctx, cap, is_last)

    def sample_jsonl_keys(self, table: Any) -> set[str]:
        """Top-level keys of the JSON objects among an Arrow ``(line_no, raw)`` table's lines."""
        with registered(self.con, "cl_stage", table):
            return linesql.sample_jsonl_keys(self.con)

    def insert_jsonl_stream(self, reader: Any, ctx: dict[str, Any], present: set[str]) -> int:
        """Append the records of a stream of ``(line_no, raw)`` batches of JSON Lines in one INSERT.

        One statement for the whole file lets DuckDB pull the batches as it parses, so reading
        and parsing overlap, and write full row groups; lines that hold no record are left
        for ``jsonl_rejects``. Returns the rows added.
        """
        self.require_writable()
        with registered(self.con, "cl_stage", reader):
            return linesql.insert_jsonl(self.con, ctx, present)

    def jsonl_rejects(self, table: Any, cap: int, batch_id: int) -> tuple[int, list[tuple[int, str]]]:
        """(count, first ``cap`` (line, reason)) of the lines of an Arrow ``(line_no, raw)`` table that batch ``batch_id`` holds no record of."""
        with registered(self.con, "cl_stage", table):
            return linesql.jsonl_rejects(self.con, cap, batch_id)

    def append_rows(self, table_name: str, table: Any) -> int:
        """Append an Arrow table whose columns are a subset of ``table_name``'s (Python parsers)."""
        self.require_writable()
        if table_name not in ("logs", "spans", "metrics"):
            raise ValueError(table_name)
        with registered(self.con, "cl_rows", table):
            cols = ", ".join(table.column_names)
            return self.con.execute(f"INSERT INTO {table_name} ({cols}) SELECT {cols} FROM cl_rows").fetchall()[0][0]

    def span_edges(self, batch_id: int) -> list[tuple[str, str, str | None]]:
        """(trace, span, parent) for every trace the batch touched, including earlier batches' spans."""
        return self.con.execute(
            """SELECT trace_id, span_id, parent_id FROM spans
               WHERE trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE batch_id = ?)""",
            [batch_id],
        ).fetchall()

    def set_span_flags(self, flags: dict[tuple[str, str], set[str]], batch_id: int) -> None:
        """Replace the graph flags of the traces touched by ``batch_id`` with ``flags``."""
        self.con.execute(
            "UPDATE spans SET flags = NULL WHERE trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE batch_id = ?)", [batch_id]
        )
        if not flags:
            return
        import pyarrow as pa

        keys = list(flags)
        tbl = pa.table({
            "trace_id": [k[0] for k in keys],
            "span_id": [k[1] for k in keys],
            "flags": [sorted(flags[k]) for k in keys],
        })
        with registered(self.con, "cl_flags", tbl):
            self.con.execute(
                "UPDATE spans SET flags = f.flags FROM cl_flags f WHERE spans.trace_id = f.trace_id AND spans.span_id = f.span_id"
            )

    def list_batches(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.con.execute(
            """SELECT id, kind, path, format, loaded, rejected, status, started_ts, finished_ts
               FROM ingest_batches ORDER BY id DESC LIMIT ?""",
            [limit],
        ).fetchall()
        keys = ("id", "kind", "path", "format", "loaded", "rejected", "status", "started_ts", "finished_ts")
        return [dict(zip(keys, r)) for r in rows]

    def batch_errors(self, batch_id: int, limit: int = 1000) -> list[tuple[int | None, str]]:
        return [tuple(r) for r in self.con.execute(
            "SELECT line, reason FROM ingest_errors WHERE batch_id = ? ORDER BY line LIMIT ?", [batch_id, limit]
        ).fetchall()]

    # ---------------------------------------------------------------- reading signals
    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("logs", "spans", "metrics", "incidents", "artifacts", "rca_runs", "ingest_batches"):
            out[table] = int(self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        return out

    def log_facets(self) -> dict[str, Any]:
        """What the log filters can offer, from one aggregate pass per dimension."""
        services = self.con.execute(
            "SELECT coalesce(service, '(none)'), count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC LIMIT 500").fetchall()
        levels = self.con.execute("SELECT coalesce(level, '(none)'), count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC").fetchall()
        lo, hi, total = self.con.execute("SELECT min(ts), max(ts), count(*) FROM logs").fetchall()[0]
        return {"services": services, "levels": levels, "min_ts": lo, "max_ts": hi, "total": total}

    def query_logs(
        self,
        *,
        levels: Sequence[str] = (),
        services: Sequence[str] = (),
        text: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        batch_id: int | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> tuple[Any, int]:
        """One page of logs (newest first) as a DataFrame, and the total matching count."""
        where, params = ["true"], []
        if levels:
            where.append(f"coalesce(level, '(none)') IN ({', '.join('?' for _ in levels)})")
            params += list(levels)
        if services:
            where.append(f"coalesce(service, '(none)') IN ({', '.join('?' for _ in services)})")
            params += list(services)
        if text:
            where.append("contains(lower(message), lower(?))")
            params.append(text)
        window, window_params = time_window("ts", start, end)
        where.append(window)
        params += window_params
        if batch_id is not None:
            where.append("batch_id = ?")
            params.append(batch_id)
        clause = " AND ".join(where)
        total = self.con.execute(f"SELECT count(*) FROM logs WHERE {clause}", params).fetchall()[0][0]
        frame = self.con.execute(
            f"""SELECT id, ts, level, service, host, message, trace_id, span_id, source_file, source_line
                FROM logs WHERE {clause} ORDER BY ts DESC NULLS LAST, id DESC LIMIT ? OFFSET ?""",
            params + [int(limit), int(offset)],
        ).df()
        return frame, int(total)

    # ---------------------------------------------------------------- incidents
    _INCIDENT_COLS = ("id", "title", "status", "severity", "services", "window_start", "window_end", "fingerprint",
                      "created_ts", "resolved_ts", "approved_by", "approved_ts", "details", "source", "read_only")

    def _row_to_incident(self, row: Sequence[Any]) -> Incident:
        values = dict(zip(self._INCIDENT_COLS, row))
        values["services"] = list(values["services"] or [])
        values["details"] = json.loads(values["details"]) if values["details"] else {}
        return Incident(**values)

    def create_incident(
        self,
        title: str,
        *,
        severity: str = "sev3",
        services: Sequence[str] = (),
        window_start: datetime | None = None,
        window_end: datetime | None = None,
        fingerprint: str | None = None,
        details: dict[str, Any] | None = None,
        source: str = "manual",
        incident_id: str | None = None,
        actor: str | None = None,
    ) -> Incident:
        """Open an incident. ``details`` keeps business fields (order_id, eta_delta_hours, problem_type)."""
        self.require_writable()
        if not title.strip():
            raise InputError("an incident needs a title", hint="describe what is broken, e.g. 'checkout 500s'")
        if severity not in SEVERITIES:
            raise InputError(f"unknown severity {severity!r}", hint=f"use one of {', '.join(SEVERITIES)}")
        if window_start and window_end and window_end < window_start:
            raise InputError("incident window ends before it starts", hint="swap --from and --to")
        now = utcnow()
        inc_id = incident_id or str(uuid.uuid4())
        with self.transaction():
            self.con.execute(
                """INSERT INTO incidents (id, title, status, severity, services, window_start, window_end, fingerprint,
                                          created_ts, updated_ts, details, source, read_only)
                   VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, false)""",
                [inc_id, title.strip(), severity, list(services), window_start, window_end, fingerprint, now, now,
                 json.dumps(details or {}, sort_keys=True, default=str), source],
            )
            self.con.execute("INSERT INTO incident_events VALUES (?, ?, NULL, 'open', ?, ?)", [inc_id, now, actor, f"created ({source})"])
        return self.get_incident(inc_id)

    MIN_ID_PREFIX = 4  # shorter prefixes would match by accident as incidents accumulate

    def get_incident(self, id_or_prefix: str) -> Incident:
        """The incident with this id, or the only one whose id starts with it (at least 4 characters,
        as the pages and ``crashlens incidents show`` accept from a shortened link or listing).

        Raises ``NotFound`` when nothing matches and ``InputError`` when the prefix is ambiguous,
        naming the candidates so the next try can be exact.
        """
        wanted = (id_or_prefix or "").strip()
        cols = ", ".join(self._INCIDENT_COLS)
        row = self.con.execute(f"SELECT {cols} FROM incidents WHERE id = ?", [wanted]).fetchall()
        if row:
            return self._row_to_incident(row[0])
        if len(wanted) < self.MIN_ID_PREFIX:
            raise NotFound(f"no incident {wanted!r}",
                           hint=f"give the full id or at least {self.MIN_ID_PREFIX} of its first characters; "
                                "`crashlens incidents list` shows the ids")
        # one more than shown, to say whether the list was cut
        matches = self.con.execute(f"SELECT {cols} FROM incidents WHERE starts_with(id, ?) ORDER BY id LIMIT 6",
                                   [wanted]).fetchall()
        if len(matches) == 1:
            return self._row_to_incident(matches[0])
        if not matches:
            raise NotFound(f"no incident {wanted!r}", hint="`crashlens incidents list` shows the ids")
        shown = ", ".join(r[0] for r in matches[:5]) + (", …" if len(matches) > 5 else "")
        raise InputError(f"incident id prefix {wanted!r} matches more than one incident: {shown}",
                         hint="give more characters of the id")

    def list_incidents(self, status: str | None = None, limit: int = 500) -> list[Incident]:
        cols = ", ".join(self._INCIDENT_COLS)
        if status is not None and status not in INCIDENT_STATUSES:
            raise InputError(f"unknown status {status!r}", hint=f"use one of {', '.join(INCIDENT_STATUSES)}")
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self.con.execute(
            f"SELECT {cols} FROM incidents {where} ORDER BY coalesce(window_start, created_ts) DESC LIMIT ?", params + [limit]
        ).fetchall()
        return [self._row_to_incident(r) for r in rows]

    def set_incident_status(self, incident_id: str, status: str, actor: str | None = None, note: str = "") -> Incident:
        """Move an incident along its workflow; approving records who and when."""
        self.require_writable()
        inc = self.get_incident(incident_id)
        if status not in INCIDENT_STATUSES:
            raise InputError(f"unknown status {status!r}", hint=f"use one of {', '.join(INCIDENT_STATUSES)}")
        if inc.read_only:
            raise InvalidTransition(f"incident {inc.id} was imported from a bundle and is read-only", hint="it cannot change status here")
        if status == inc.status:
            return inc
        if status not in STATUS_TRANSITIONS[inc.status]:
            allowed = ", ".join(STATUS_TRANSITIONS[inc.status])
            raise InvalidTransition(f"cannot move incident from {inc.status} to {status}", hint=f"from {inc.status} it can go to: {allowed}")
        if status == "approved" and not (actor or "").strip():
            raise InputError("approving needs the approver's name", hint="pass --by NAME")
        now = utcnow()
        sets = ["status = ?", "updated_ts = ?"]
        params: list[Any] = [status, now]
        if status == "approved":
            sets += ["approved_by = ?", "approved_ts = ?"]
            params += [actor, now]
        if status == "resolved":
            sets.append("resolved_ts = ?")
            params.append(now)
        elif inc.status == "resolved":
            sets.append("resolved_ts = NULL")
        with self.transaction():
            self.con.execute(f"UPDATE incidents SET {', '.join(sets)} WHERE id = ?", params + [inc.id])
            self.con.execute("INSERT INTO incident_events VALUES (?, ?, ?, ?, ?, ?)", [inc.id, now, inc.status, status, actor, note])
        return self.get_incident(inc.id)

    def incident_events(self, incident_id: str) -> list[dict[str, Any]]:
        rows = self.con.execute(
            "SELECT ts, from_status, to_status, actor, note FROM incident_events WHERE incident_id = ? ORDER BY ts", [incident_id]
        ).fetchall()
        return [dict(zip(("ts", "from_status", "to_status", "actor", "note"), r)) for r in rows]

    # ---------------------------------------------------------------- artifacts
    def artifact_path(self, digest: str) -> Path:
        """Where the content of artifact ``digest`` lives (``artifacts/ab/abcd…``), whether or not it exists."""
        return self.folder / "artifacts" / digest[:2] / digest

    def put_artifact(self, content: bytes, mime: str = "application/octet-stream", *, pii_masked: bool = False, name: str = "") -> Artifact:
        """Store content by its sha256; storing the same bytes again returns the existing artifact."""
        self.require_writable()
        digest = hashlib.sha256(content).hexdigest()
        path = self.artifact_path(digest)
        if not path.exists():
            atomic_write_bytes(path, content)
        with self.transaction():
            self.con.execute(
                "INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                [digest, mime, len(content), pii_masked, utcnow(), name],
            )
        return self.get_artifact(digest)

    def get_artifact(self, digest: str) -> Artifact:
        row = self.con.execute("SELECT digest, mime, length, pii_masked, created_ts, name FROM artifacts WHERE digest = ?", [digest]).fetchall()
        row = row[0] if row else None
        if row is None:
            raise NotFound(f"no artifact {digest}", hint="artifacts are addressed by the sha256 of their content")
        return Artifact(*row[:5], name=row[5] or "")

    def read_artifact(self, digest: str) -> bytes:
        """The artifact's bytes, checked against its digest (a damaged file is an error, not data)."""
        art = self.get_artifact(digest)
        try:
            data = self.artifact_path(art.digest).read_bytes()
        except FileNotFoundError:
            raise WorkspaceError(f"artifact {digest} is registered but its file is missing", hint="re-import the source") from None
        if hashlib.sha256(data).hexdigest() != art.digest:
            raise WorkspaceError(f"artifact {digest} is damaged (content does not match its digest)", hint="re-import the source")
        return data
