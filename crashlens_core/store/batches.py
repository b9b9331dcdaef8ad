"""Ingest batches and the rows they load: registering a batch, the SQL fast paths for lines,
appending parsed rows, span graph flags, and the batch history with its rejected lines.

Every write here runs inside the caller's batch transaction, so a failed file leaves no trace.
"""

from __future__ import annotations

from typing import Any, Sequence

from . import linesql
from .connection import WorkspaceCore
from .files import registered, utcnow

__all__ = ["BatchesMixin"]


class BatchesMixin(WorkspaceCore):
    """What ingest writes: batches, log lines (SQL parsing), parsed rows, span flags."""

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
