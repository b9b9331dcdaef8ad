"""Variable masking of log messages in bulk, inside DuckDB, for the template miner.

The template miner (``crashlens_core.signals.templates``) clusters once per *distinct masked
message*; everything that has to touch every line happens here, in SQL: keep the first line
of the message (the rest of a multi-line record is a stack trace, fingerprinted elsewhere),
run the masks (``regexp_replace`` passes), and number the distinct results.

* :func:`mask_distinct` works on an Arrow column (or a list of str) in an in-memory database
  or on a given connection, and returns for each message the index of its masked form (an
  int32 NumPy array) with the distinct masked strings: mapping templates back to a million
  lines is then one NumPy fancy-index, not a Python loop.
* :func:`masked_messages_for_batch`, :func:`assign_template_ids` and
  :func:`relabel_templates` do the same for the workspace's ``logs`` table, where the rows
  never leave DuckDB: distinct masked messages of a batch with counts out, one UPDATE in.

Masks are ``(pattern, replacement[, guard])`` in RE2 syntax (DuckDB's regex engine: no
look-around, so boundaries are ``\\b``/``\\B`` or a captured delimiter that the replacement
puts back as ``\\1``), applied in order, each over the whole message (flag ``g``).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .files import registered

__all__ = ["masked_sql", "first_line_expression", "as_string_array", "mask_distinct", "masked_messages_for_batch",
           "assign_template_ids", "relabel_templates"]

# Bigger inputs are cut into slices of this many messages: DuckDB runs the masks in parallel
# over each slice, and memory for the intermediate strings stays bounded.
_SLICE = 2_000_000
_BATCH = 50_000


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_BACKREF = re.compile(r"\\[0-9]")


def first_line_expression(column: str) -> str:
    """SQL for the first line of ``column`` (NULL becomes '')."""
    # split_part only when needed: most messages are one line. Trailing blanks and \r are left
    # alone (the miner splits on whitespace): rtrim alone would double the cost of this step.
    return f"CASE WHEN contains({column}, E'\\n') THEN split_part({column}, E'\\n', 1) ELSE coalesce({column}, '') END"


def masked_sql(source: str, keep: str, column: str, masks: Sequence[Sequence[str | None]]) -> str:
    """A query over ``source`` giving the ``keep`` columns and ``k``, the masked first line of ``column``.

    One nested SELECT per mask, so each step reads the previous ``k`` once. A mask is
    ``(pattern, replacement)`` or ``(pattern, replacement, guard)``: with a guard (an RE2
    pattern that matches at least wherever ``pattern`` does) the replacement only runs on the
    rows ``regexp_matches(k, guard)`` picks, which pays off for rare shapes. A replacement that
    uses a group (``\\1``) makes RE2 track submatches, several times slower than a plain match,
    so such a mask is always guarded (by its own pattern when no guard is given).
    """
    sql = f"SELECT {keep}, {first_line_expression(column)} AS k FROM {source}"
    for mask in masks:
        pattern, replacement = mask[0], mask[1]
        if pattern is None or replacement is None:  # only the guard is optional
            raise ValueError(f"a mask needs a pattern and a replacement, got {mask!r}")
        guard = mask[2] if len(mask) > 2 else None
        if guard is None and _BACKREF.search(replacement or ""):
            guard = pattern
        step = f"regexp_replace(k, {_q(pattern)}, {_q(replacement)}, 'g')"
        if guard:
            step = f"CASE WHEN regexp_matches(k, {_q(guard)}) THEN {step} ELSE k END"
        sql = f"SELECT {keep}, {step} AS k FROM ({sql})"
    return sql


def _connect(con: Any) -> tuple[Any, bool]:
    if con is not None:
        return con.cursor(), True
    import duckdb

    return duckdb.connect(":memory:"), False


def as_string_array(messages: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array:
    """Messages as one Arrow string array (zero-copy when they already are one)."""
    if not isinstance(messages, (pa.Array, pa.ChunkedArray)):
        messages = _list_to_arrow(messages if isinstance(messages, list) else list(messages))
    if isinstance(messages, pa.ChunkedArray):
        messages = messages.combine_chunks() if messages.num_chunks != 1 else messages.chunk(0)
    if not (pa.types.is_string(messages.type) or pa.types.is_large_string(messages.type)
            or pa.types.is_string_view(messages.type)):
        messages = messages.cast(pa.string())
    return messages


def _list_to_arrow(messages: list) -> pa.Array:
    """A Python list of str as an Arrow string array.

    ASCII text (the common case) is joined once and cut by offsets from the lengths: steadier
    and, on a cold process, several times faster than ``pa.array`` converting str by str.
    """
    try:
        joined = "".join(messages)
    except TypeError:  # None or non-str entries
        joined = None
    if joined is None or not joined.isascii():
        return pa.array(messages, type=pa.string())
    offsets = np.zeros(len(messages) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, messages), dtype=np.int64, count=len(messages)), out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(messages), pa.py_buffer(offsets), pa.py_buffer(joined.encode("ascii")))


def mask_distinct(messages: pa.Array | pa.ChunkedArray | Sequence[str | None], masks: Sequence[Sequence[str | None]],
                  con: Any = None) -> tuple[np.ndarray, list[str]]:
    """Mask every message in SQL and number the distinct results.

    Returns ``(codes, distinct)``: ``distinct[codes[i]]`` is the masked first line of
    ``messages[i]`` (int32 codes). ``distinct`` is in order of first occurrence, so an online
    clusterer fed with it sees the shapes in the order the log did. ``None`` counts as an
    empty message. ``con`` is an open DuckDB connection to work on (through a cursor of it);
    without one an in-memory database is opened and closed here.
    """
    messages = as_string_array(messages)
    n = len(messages)
    codes = np.empty(n, dtype=np.int32)
    if n == 0:
        return codes, []
    cur, borrowed = _connect(con)
    distinct: list[str] = []
    index: dict[str, int] = {}
    try:
        for start in range(0, n, _SLICE):
            part = messages.slice(start, _SLICE)
            tbl = pa.table({"i": pa.array(np.arange(len(part), dtype=np.int32)), "msg": part})
            # Record batches are DuckDB's unit of parallel scan: one big batch would use one core.
            tbl = pa.Table.from_batches(tbl.to_batches(max_chunksize=_BATCH))
            with registered(cur, "cl_mask_in", tbl):
                res = cur.sql(masked_sql("cl_mask_in", "i", "msg", masks)).to_arrow_table()
            keys = res.column("k").combine_chunks()
            rows = res.column("i").to_numpy()
            # Numbering the distinct strings is Arrow's hash kernel (C++, first-occurrence
            # order), so Python only sees each distinct masked message once.
            if len(rows) > 1 and not bool(np.all(rows[1:] > rows[:-1])):
                order = np.argsort(rows, kind="stable")  # the connection did not keep row order
                keys, rows = keys.take(pa.array(order)), rows[order]
            encoded = pc.dictionary_encode(keys)
            local = np.empty(len(encoded.dictionary), dtype=np.int32)
            for j, key in enumerate(encoded.dictionary.to_pylist()):
                code = index.get(key)
                if code is None:
                    code = index[key] = len(distinct)
                    distinct.append(key)
                local[j] = code
            codes[start + rows] = local[encoded.indices.to_numpy(zero_copy_only=False)]
    finally:
        if not borrowed:
            cur.close()
    return codes, distinct


_BATCH_LOGS = "(SELECT id, message FROM logs WHERE batch_id = ?) cl_batch"


def masked_messages_for_batch(con: Any, batch_id: int,
                              masks: Sequence[Sequence[str | None]]) -> list[tuple[str, int, int, str]]:
    """The distinct masked messages of one ingest batch: ``(masked, count, first_log_id, example)``.

    For labelling the ``logs`` table without moving its rows through Python: the caller mines
    templates from these (few) distinct strings and hands ``masked -> template id`` to
    :func:`assign_template_ids`. ``example`` is the message of ``first_log_id``. Ordered by
    first occurrence (log id).
    """
    rows = con.execute(
        f"""SELECT k, count(*) AS n, min(id) AS first, arg_min(message, id) AS example
            FROM ({masked_sql(_BATCH_LOGS, "id, message", "message", masks)})
            GROUP BY k ORDER BY first""",
        [int(batch_id)],
    ).fetchall()
    return [(str(k), int(n), int(f), e or "") for k, n, f, e in rows]


def assign_template_ids(con: Any, batch_id: int, masks: Sequence[Sequence[str | None]],
                        masked_to_id: dict[str, str]) -> int:
    """Set ``logs.template_id`` for one batch from a ``masked message -> template id`` map.

    The map is small (one row per distinct masked message); the per-row work is the same
    masking as :func:`masked_messages_for_batch`, joined in one UPDATE. Returns the number of
    rows updated.
    """
    if not masked_to_id:
        return 0
    tbl = pa.table({"k": pa.array(list(masked_to_id), pa.string()),
                    "tid": pa.array(list(masked_to_id.values()), pa.string())})
    with registered(con, "cl_tpl_map", tbl):
        res = con.execute(
            f"""UPDATE logs SET template_id = x.tid
                FROM (SELECT r.id, m.tid
                      FROM ({masked_sql(_BATCH_LOGS, "id", "message", masks)}) r
                      JOIN cl_tpl_map m ON m.k = r.k) x
                WHERE logs.id = x.id AND logs.batch_id = ?""",
            [int(batch_id), int(batch_id)],
        ).fetchall()
    return int(res[0][0]) if res else 0


def relabel_templates(con: Any, mapping: dict[str, str]) -> int:
    """Move rows from old template ids to the ids that replaced them (``old -> new``)."""
    if not mapping:
        return 0
    tbl = pa.table({"old": pa.array(list(mapping), pa.string()), "new": pa.array(list(mapping.values()), pa.string())})
    with registered(con, "cl_tpl_relabel", tbl):
        res = con.execute(
            "UPDATE logs SET template_id = m.new FROM cl_tpl_relabel m WHERE logs.template_id = m.old").fetchall()
    return int(res[0][0]) if res else 0
