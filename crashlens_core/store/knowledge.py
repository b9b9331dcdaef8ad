"""SQL of the knowledge concern: sources, Merkle file hashes, chunks, the embedding cache, PDF images.

Functions take a ``Workspace``; writes happen inside ``ws.transaction()``. Chunk ids come
from the ``kn_chunk_ids`` sequence and are the FAISS ids; ``kn_state['generation']`` goes up
on every change to the chunk set, so in-memory and on-disk indexes know when they are stale.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from .files import registered
from .workspace import Workspace, utcnow

__all__ = [
    "SOURCE_COLS", "CHUNK_COLS", "get_source", "list_sources", "upsert_source", "update_source", "delete_source",
    "file_rows", "replace_files", "insert_chunks", "delete_chunks_for", "chunk_rows", "chunks_by_ids",
    "chunk_id_summary", "pending_embeddings", "count_pending", "embedded_chunk_ids", "chunk_count", "distinct_texts",
    "set_chunk_commit", "cached_vectors", "store_vectors", "vectors_for_chunks",
    "generation", "bump_generation", "get_state", "set_state", "add_images", "list_images", "template_rows", "templates_signature",
    "source_counts",
]

SOURCE_COLS = ("name", "kind", "origin", "url_display", "location", "root", "commit", "merkle_root", "files", "chunks",
               "added_ts", "synced_ts", "status", "error", "details")
CHUNK_COLS = ("id", "source", "kind", "path", "commit", "start_line", "end_line", "page", "symbol", "header", "text",
              "literals", "content_hash")


def _source(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(SOURCE_COLS, row))
    out["details"] = json.loads(out["details"]) if out["details"] else {}
    return out


def get_source(ws: Workspace, name: str) -> dict[str, Any] | None:
    rows = ws.con.execute(f"SELECT {', '.join(SOURCE_COLS)} FROM kn_sources WHERE name = ?", [name]).fetchall()
    return _source(rows[0]) if rows else None


def list_sources(ws: Workspace, kind: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
    rows = ws.con.execute(f"SELECT {', '.join(SOURCE_COLS)} FROM kn_sources {where} ORDER BY kind, name", params).fetchall()
    return [_source(r) for r in rows]


def upsert_source(ws: Workspace, name: str, kind: str, origin: str, **fields: Any) -> None:
    """Create the source row, or reset its identity fields if it exists (callable inside a transaction)."""
    ws.con.execute(
        """INSERT INTO kn_sources (name, kind, origin, added_ts, status) VALUES (?, ?, ?, ?, 'new')
           ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, origin = excluded.origin""",
        [name, kind, origin, utcnow()])
    if fields:
        update_source(ws, name, **fields)


def update_source(ws: Workspace, name: str, **fields: Any) -> None:
    unknown = set(fields) - set(SOURCE_COLS)
    if unknown:
        raise ValueError(sorted(unknown))
    if "details" in fields and not isinstance(fields["details"], (str, type(None))):
        fields["details"] = json.dumps(fields["details"], sort_keys=True, default=str)
    sets = ", ".join(f'"{k}" = ?' for k in fields)
    # One statement: atomic on its own, and callable inside a caller's transaction.
    ws.con.execute(f"UPDATE kn_sources SET {sets} WHERE name = ?", [*fields.values(), name])


def delete_source(ws: Workspace, name: str) -> None:
    """Delete a source's rows (call inside a transaction). Cached vectors stay: they are by content."""
    for table in ("kn_chunks", "kn_files", "kn_images"):
        ws.con.execute(f"DELETE FROM {table} WHERE source = ?", [name])
    ws.con.execute("DELETE FROM kn_sources WHERE name = ?", [name])
    _bump(ws)


def source_counts(ws: Workspace) -> dict[str, dict[str, int]]:
    """Per source: chunks, and how many of them have a vector for any model."""
    rows = ws.con.execute(
        """SELECT c.source, count(*), count(v.content_hash)
           FROM kn_chunks c LEFT JOIN (SELECT DISTINCT content_hash FROM kn_vectors) v USING (content_hash)
           GROUP BY 1"""
    ).fetchall()
    return {r[0]: {"chunks": int(r[1]), "embedded": int(r[2])} for r in rows}


# ---------------------------------------------------------------- files (Merkle leaves and folders)
def file_rows(ws: Workspace, source: str) -> dict[str, dict[str, Any]]:
    rows = ws.con.execute(
        "SELECT path, is_dir, hash, size, mtime_ns, chunks, note FROM kn_files WHERE source = ?", [source]).fetchall()
    return {r[0]: dict(zip(("path", "is_dir", "hash", "size", "mtime_ns", "chunks", "note"), r)) for r in rows}


def replace_files(ws: Workspace, source: str, rows: Iterable[Sequence[Any]]) -> None:
    """Replace the source's file table with ``(path, is_dir, hash, size, mtime_ns, chunks, note)`` rows."""
    rows = [[source, *r] for r in rows]
    ws.con.execute("DELETE FROM kn_files WHERE source = ?", [source])
    if rows:
        ws.con.executemany("INSERT INTO kn_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


# ---------------------------------------------------------------- chunks
def insert_chunks(ws: Workspace, rows: Sequence[dict[str, Any]]) -> int:
    """Insert chunk dicts (CHUNK_COLS without id); call inside a transaction. Returns how many."""
    if not rows:
        return 0
    import pyarrow as pa

    cols = CHUNK_COLS[1:]
    table = pa.table({c: [r.get(c) for r in rows] for c in cols}, schema=pa.schema([
        ("source", pa.string()), ("kind", pa.string()), ("path", pa.string()), ("commit", pa.string()),
        ("start_line", pa.int32()), ("end_line", pa.int32()), ("page", pa.int32()), ("symbol", pa.string()),
        ("header", pa.string()), ("text", pa.string()), ("literals", pa.string()), ("content_hash", pa.string())]))
    with registered(ws.con, "kn_stage", table):
        ws.con.execute(f"INSERT INTO kn_chunks SELECT nextval('kn_chunk_ids'), {', '.join(cols)} FROM kn_stage")
    _bump(ws)
    return len(rows)


def delete_chunks_for(ws: Workspace, source: str, paths: Iterable[str] | None = None) -> int:
    """Delete a source's chunks (only those of ``paths`` when given); call inside a transaction."""
    if paths is None:
        n = ws.con.execute("DELETE FROM kn_chunks WHERE source = ?", [source]).fetchall()[0][0]
    else:
        paths = list(paths)
        if not paths:
            return 0
        import pyarrow as pa

        with registered(ws.con, "kn_del", pa.table({"path": pa.array(paths, pa.string())})):
            n = ws.con.execute("DELETE FROM kn_chunks WHERE source = ? AND path IN (SELECT path FROM kn_del)", [source]).fetchall()[0][0]
    if n:
        _bump(ws)
    return int(n)


def chunk_rows(ws: Workspace, columns: Sequence[str] = CHUNK_COLS, source: str | None = None, kind: str | None = None) -> Any:
    """Chunk columns as an Arrow table ordered by id (for building indexes)."""
    bad = set(columns) - set(CHUNK_COLS)
    if bad:
        raise ValueError(sorted(bad))
    where, params = ["true"], []
    if source:
        where.append("source = ?")
        params.append(source)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    cur = ws.cursor()
    try:
        return cur.sql(f"SELECT {', '.join(columns)} FROM kn_chunks WHERE {' AND '.join(where)} ORDER BY id", params=params).to_arrow_table()
    finally:
        cur.close()


def chunks_by_ids(ws: Workspace, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Chunk rows by id (on the caller's connection: this is on the search path, ~1 ms)."""
    if not ids:
        return {}
    rows = ws.con.execute(f"SELECT {', '.join(CHUNK_COLS)} FROM kn_chunks WHERE id IN (SELECT unnest(?::BIGINT[]))",
                          [[int(i) for i in ids]]).fetchall()
    return {r[0]: dict(zip(CHUNK_COLS, r)) for r in rows}


def chunk_id_summary(ws: Workspace, model: str) -> tuple[int, int]:
    """(count, sum of ids) of chunks that have a vector for ``model``: what the FAISS file must hold."""
    row = ws.con.execute(
        """SELECT count(*), coalesce(sum(c.id), 0) FROM kn_chunks c
           WHERE EXISTS (SELECT 1 FROM kn_vectors v WHERE v.content_hash = c.content_hash AND v.model = ?)""", [model]
    ).fetchall()[0]
    return int(row[0]), int(row[1])


# ---------------------------------------------------------------- embedding cache
def pending_embeddings(ws: Workspace, model: str, limit: int | None = None) -> list[tuple[str, str]]:
    """Distinct (content_hash, text to embed) with no vector for ``model`` yet, code first."""
    lim = f"LIMIT {int(limit)}" if limit else ""
    return [tuple(r) for r in ws.con.execute(
        f"""SELECT content_hash, any_value(coalesce(header || chr(10), '') || text) FROM kn_chunks c
            WHERE NOT EXISTS (SELECT 1 FROM kn_vectors v WHERE v.content_hash = c.content_hash AND v.model = ?)
            GROUP BY content_hash ORDER BY min(id) {lim}""", [model]).fetchall()]


def count_pending(ws: Workspace, model: str) -> int:
    return int(ws.con.execute(
        """SELECT count(DISTINCT content_hash) FROM kn_chunks c
           WHERE NOT EXISTS (SELECT 1 FROM kn_vectors v WHERE v.content_hash = c.content_hash AND v.model = ?)""",
        [model]).fetchall()[0][0])


def cached_vectors(ws: Workspace, model: str, hashes: Sequence[str]) -> dict[str, bytes]:
    if not hashes:
        return {}
    import pyarrow as pa

    with registered(ws.con, "kn_h", pa.table({"h": pa.array(list(hashes), pa.string())})):
        rows = ws.con.execute("SELECT content_hash, vec FROM kn_vectors JOIN kn_h ON content_hash = h WHERE model = ?", [model]).fetchall()
    return {r[0]: r[1] for r in rows}


def store_vectors(ws: Workspace, model: str, items: Sequence[tuple[str, bytes]]) -> None:
    if not items:
        return
    import pyarrow as pa

    table = pa.table({"content_hash": [h for h, _ in items], "vec": pa.array([v for _, v in items], pa.binary())})
    with ws.transaction():
        with registered(ws.con, "kn_vec", table):
            ws.con.execute("INSERT INTO kn_vectors SELECT content_hash, ?, vec FROM kn_vec ON CONFLICT DO NOTHING", [model])


def embedded_chunk_ids(ws: Workspace, model: str):
    """Ids (numpy int64) of the chunks that have a vector for ``model``: what FAISS must hold."""
    import numpy as np

    cur = ws.cursor()
    try:
        col = cur.sql(
            """SELECT c.id FROM kn_chunks c WHERE EXISTS
               (SELECT 1 FROM kn_vectors v WHERE v.content_hash = c.content_hash AND v.model = ?)""", params=[model]
        ).to_arrow_table().column("id")
    finally:
        cur.close()
    return np.asarray(col.to_numpy(), dtype=np.int64)


def vectors_for_chunks(ws: Workspace, model: str, ids: Iterable[int] | None = None) -> tuple[list[int], list[bytes]]:
    """(chunk ids, vectors) of the chunks embedded with ``model`` (only ``ids`` when given), by id."""
    import pyarrow as pa

    cur = ws.cursor()
    try:
        join = ""
        if ids is not None:
            cur.register("kn_want", pa.table({"id": pa.array([int(i) for i in ids], pa.int64())}))
            join = "JOIN kn_want USING (id)"
        tbl = cur.sql(
            f"""SELECT c.id, v.vec FROM kn_chunks c {join}
                JOIN kn_vectors v ON v.content_hash = c.content_hash AND v.model = ? ORDER BY c.id""",
            params=[model]).to_arrow_table()
    finally:
        cur.close()
    return tbl.column("id").to_pylist(), tbl.column("vec").to_pylist()


def chunk_count(ws: Workspace, source: str | None = None) -> int:
    where, params = ("WHERE source = ?", [source]) if source else ("", [])
    return int(ws.con.execute(f"SELECT count(*) FROM kn_chunks {where}", params).fetchall()[0][0])


def distinct_texts(ws: Workspace) -> int:
    return int(ws.con.execute("SELECT count(DISTINCT content_hash) FROM kn_chunks").fetchall()[0][0])


def set_chunk_commit(ws: Workspace, source: str, commit: str | None) -> None:
    """Unchanged files of a re-synced repo are the same at the new commit: re-stamp them."""
    ws.con.execute("UPDATE kn_chunks SET commit = ? WHERE source = ? AND commit IS DISTINCT FROM ?", [commit, source, commit])


# ---------------------------------------------------------------- state
def get_state(ws: Workspace, key: str, default: str = "") -> str:
    rows = ws.con.execute("SELECT value FROM kn_state WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else default


def set_state(ws: Workspace, key: str, value: str) -> None:
    ws.con.execute("INSERT INTO kn_state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])


def generation(ws: Workspace) -> int:
    return int(get_state(ws, "generation", "0"))


def _bump(ws: Workspace) -> None:
    set_state(ws, "generation", str(generation(ws) + 1))


def bump_generation(ws: Workspace) -> None:
    with ws.transaction():
        _bump(ws)


# ---------------------------------------------------------------- images and log templates
def add_images(ws: Workspace, source: str, path: str, rows: Sequence[tuple[int, str, str]]) -> None:
    """Record ``(page, digest, near_text)`` images of one document (replacing earlier ones)."""
    ws.con.execute("DELETE FROM kn_images WHERE source = ? AND path = ?", [source, path])
    if rows:
        ws.con.executemany("INSERT INTO kn_images VALUES (?, ?, ?, ?, ?)", [[source, path, *r] for r in rows])


def list_images(ws: Workspace, source: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE source = ?", [source]) if source else ("", [])
    rows = ws.con.execute(f"SELECT source, path, page, digest, near_text FROM kn_images {where} ORDER BY source, path, page", params).fetchall()
    return [dict(zip(("source", "path", "page", "digest", "near_text"), r)) for r in rows]


def template_rows(ws: Workspace) -> list[tuple[str, str, str | None, int, list[str] | None]]:
    """(template_id, template, example, count, services) of every live log template (not replaced by a wider one)."""
    return [tuple(r) for r in ws.con.execute(
        "SELECT template_id, template, example, count, services FROM templates WHERE replaced_by IS NULL ORDER BY template_id"
    ).fetchall()]


def templates_signature(ws: Workspace) -> str:
    """Changes whenever a template is added, removed, or its text or example changes (not its count)."""
    row = ws.con.execute(
        """SELECT count(*), coalesce(bit_xor(hash(template_id || chr(0) || template || chr(0) || coalesce(example, ''))), 0)
           FROM templates WHERE replaced_by IS NULL""").fetchall()[0]
    return f"{row[0]}:{row[1]}"
