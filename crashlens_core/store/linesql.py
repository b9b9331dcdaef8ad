"""Vectorised parsing of line-oriented log formats inside DuckDB.

The ingest driver hands over a chunk of raw lines as an Arrow table ``(line_no, raw)``
built zero-copy from the file's bytes; everything per line happens here, in SQL, so a
million lines cost about what DuckDB's own ``read_json`` costs. Three formats:

* ``jsonl``  one JSON object per line, keys found through the alias table;
* ``text``   a line starting with a timestamp starts a record, other lines (stack traces)
             continue it;
* ``docker`` Docker json-file lines, whose ``log`` text is joined the same way, except
             that a continuation is recognised by its shape (indentation, ``Traceback``…).

Multi-line records can straddle chunks: the last record of a chunk is handed back as a
*carry* and parsed with the next chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..models import LEVEL_WORDS, LOG_ALIASES, LOG_LEVELS
from .linepatterns import (
    CONTINUATION_RE, EMBEDDED_LINE_RE, EMBEDDED_LOGGER_LINE_RE, HEADER_LEVEL_RE, LEVEL_WORDS_RE, LINE_RE, LOGGER_GROUPS,
    LOGGER_LINE_RE, PREFIX_TOKENS, PREFIXED_LINE_RE, PREFIXED_LOGGER_LINE_RE, PREFIXED_START_RE, SPAN_RE, START_RE, TRACE_RE,
    TS_ANY, TS_FORMATS,
)

__all__ = ["LineChunkResult", "LINE_FORMATS", "load_log_chunk", "create_macros", "sniff_text_has_timestamps",
           "sample_jsonl_keys", "insert_jsonl", "jsonl_rejects", "fill_from_message"]

LINE_FORMATS = ("jsonl", "text", "docker", "access")


def create_macros(con: Any) -> None:
    """Per-connection SQL helpers: level mapping and time parsing shared by all formats."""
    # Numbers: pino/bunyan 10..60, syslog severities 0..7; words through the shared level map.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP MACRO cl_level(x) AS CASE
          -- Canonical spellings, by far the most common, skip the map lookup (~4x cheaper).
          WHEN x IN ({", ".join(_q(lv) for lv in LOG_LEVELS)}) THEN x
          ELSE coalesce({_LEVEL_MAP}[upper(trim(x))],
          CASE
            WHEN try_cast(x AS INTEGER) BETWEEN 10 AND 60 THEN
              ['TRACE','DEBUG','INFO','WARN','ERROR','FATAL'][try_cast(x AS INTEGER) // 10]
            WHEN try_cast(x AS INTEGER) BETWEEN 0 AND 7 THEN
              ['FATAL','FATAL','FATAL','ERROR','WARN','INFO','INFO','DEBUG'][try_cast(x AS INTEGER) + 1]
          END) END
        """
    )
    # ISO 8601 strings first (naive = UTC); then epoch numbers told apart by magnitude.
    con.execute(
        """
        CREATE OR REPLACE TEMP MACRO cl_epoch(d) AS (
          CASE
            WHEN abs(d) >= 1e17 THEN make_timestamp(CAST(d / 1000 AS BIGINT))
            WHEN abs(d) >= 1e14 THEN make_timestamp(CAST(d AS BIGINT))
            WHEN abs(d) >= 1e11 THEN make_timestamp(CAST(d * 1000 AS BIGINT))
            ELSE make_timestamp(CAST(d * 1000000 AS BIGINT)) END)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP MACRO cl_ts(x) AS coalesce(
            -- "…Z" is UTC already: a plain TIMESTAMP cast is exact and much cheaper. (That cast
            -- would drop any other offset, so those go through TIMESTAMPTZ.)
            CASE WHEN ends_with(x, 'Z') THEN try_cast(x AS TIMESTAMP) END,
            CASE WHEN substr(x, 5, 1) = '-' THEN
              CAST(try_cast(replace(x, ',', '.') AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) END,
            cl_epoch(try_cast(x AS DOUBLE)),
            -- the other shapes of TS_RE, before DuckDB's own guess (which reads "17/06/09" as year 17);
            -- naive, so read in the session time zone like ISO text
            CAST(CAST(try_strptime(regexp_replace(x, '  +', ' '), {TS_FORMATS}) AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP),
            CAST(try_cast(replace(x, ',', '.') AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP))
        """
    )


@dataclass
class LineChunkResult:
    loaded: int
    rejected: int
    errors: list[tuple[int, str]]  # the first ones, up to the cap
    carry_from: int | None  # line number where the held-back record starts (None: nothing held)


_LEVEL_MAP = "MAP {" + ", ".join(f"'{k}': '{v}'" for k, v in LEVEL_WORDS.items()) + "}"

# DuckDB evaluates both sides of AND, and json_type() raises on invalid JSON: guard it.
# An object starts with "{" (cheap); json_valid then parses once.
_IS_OBJECT = "(starts_with(ltrim(raw, E' \\t'), '{') AND json_valid(raw))"
# Not blank: one non-space character found (RE2 stops at the first, ~15x cheaper than trim()).
_NOT_BLANK = "regexp_matches(raw, '[^ \\t\\r\\n]')"


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_path(key: str) -> str:
    return "$." + (f'"{key}"' if not key.replace("_", "").replace("@", "").isalnum() or "@" in key else key)


def _alias_exprs(values: str, present: set[str] | None = None) -> tuple[str, list[str]]:
    """One json_extract_string over the alias keys (parses each line once) + per-field coalesce.

    ``present`` limits the paths to keys seen in the chunk's first lines: most files use one
    spelling throughout, and every path costs a lookup per line.
    """
    paths: list[str] = []
    exprs: list[str] = []
    for field_name, keys in LOG_ALIASES.items():
        slots = []
        for key in keys:
            if present is not None and key not in present:
                continue
            paths.append(_json_path(key))
            slots.append(f"{values}[{len(paths)}]")
        exprs.append(f"coalesce({', '.join(slots)}) AS {field_name}" if slots else f"NULL::VARCHAR AS {field_name}")
    if not paths:
        paths.append("$.ts")
    path_list = "[" + ", ".join(_q(p) for p in paths) + "]"
    return path_list, exprs


def _insert_records(con: Any, records_sql: str, ctx: dict[str, Any]) -> int:
    return con.execute(
        f"""
        INSERT INTO logs (id, ts, service, host, level, message, trace_id, span_id, attributes,
                          source_file, source_line, batch_id)
        SELECT {int(ctx['base_id'])} + line_no,
               ts, coalesce(service, $service), coalesce(host, $host), level, message,
               lower(trace_id), lower(span_id), attributes, $source, line_no, {ctx['batch_id']}
        FROM ({records_sql}) r
        """,
        {"service": ctx.get("service"), "host": ctx.get("host"), "source": ctx["source"]},
    ).fetchall()[0][0]


def _rejects(con: Any, sql: str, cap: int) -> tuple[int, list[tuple[int, str]]]:
    con.execute(f"CREATE OR REPLACE TEMP TABLE cl_rej AS {sql}")
    total = con.execute("SELECT count(*) FROM cl_rej").fetchall()[0][0]
    rows = con.execute(f"SELECT line_no, reason FROM cl_rej ORDER BY line_no LIMIT {int(cap)}").fetchall() if total else []
    con.execute("DROP TABLE cl_rej")
    return total, [(int(a), str(b)) for a, b in rows]


_ALL_KEYS = {k: None for keys in LOG_ALIASES.values() for k in keys if "." not in k}
_STRIP = _q(json.dumps(_ALL_KEYS))


def sample_jsonl_keys(con: Any, limit: int = 2000) -> set[str]:
    """Top-level keys of the first JSON objects staged in ``cl_stage``: the paths worth extracting."""
    return {r[0] for r in con.execute(
        f"SELECT DISTINCT unnest(json_keys(raw)) FROM (SELECT raw FROM cl_stage WHERE {_IS_OBJECT} LIMIT {int(limit)})").fetchall()}


def _jsonl_records(present: set[str]) -> str:
    """Records of the JSON objects in ``cl_stage``, exact for every line whatever ``present`` holds.

    Extracting every alias path costs 3x extracting the ~6 a file really uses, so lines are
    split in two by their top-level key count (json_keys: one cheap parse):

    * *simple* lines, whose keys are exactly the sampled alias keys found, are read through the
      sampled paths and have no attributes;
    * every other line (extra keys, an alias the sample did not show, a null value) is read
      through every alias path, its other keys kept as attributes (json_merge_patch, which
      re-parses and re-serialises, is paid only here).

    CASE evaluates each branch only on the rows that take it.
    """
    fast_paths, fast = _alias_exprs("v", present)
    full_paths, full = _alias_exprs("w", None)
    found = " + ".join(f"CASE WHEN {f} IS NULL THEN 0 ELSE 1 END" for f in (e.rsplit(" AS ", 1)[0] for e in fast))
    fields = ", ".join(f"CASE WHEN simple THEN {f.rsplit(' AS ', 1)[0]} ELSE {g.rsplit(' AS ', 1)[0]} END AS {name}"
                       for f, g, name in zip(fast, full, LOG_ALIASES))
    # json_valid first, as a filter: the extraction below it then never meets invalid JSON.
    # (try() instead would save that parse on a clean file, ~4%, but costs 5x on a file with
    # 1% bad lines: DuckDB redoes a whole vector row by row after an error.) Lines left out
    # are explained by jsonl_rejects.
    records = f"""
        SELECT line_no, raw, cl_ts(ts) AS ts, service, host, cl_level(level) AS level, message, trace_id, span_id,
               CASE WHEN simple THEN NULL ELSE nullif(json_merge_patch(raw, {_STRIP}), '{{}}') END AS attributes
        FROM (
          SELECT line_no, raw, simple, {fields}
          FROM (
            SELECT line_no, raw, v, simple,
                   CASE WHEN simple THEN NULL ELSE json_extract_string(raw, {full_paths}) END AS w
            FROM (
              SELECT line_no, raw, v, len(json_keys(raw)) = ({found}) AS simple
              FROM (SELECT line_no, raw, json_extract_string(raw, {fast_paths}) AS v
                    FROM cl_stage WHERE (starts_with(raw, '{{') OR starts_with(ltrim(raw, E' \\t'), '{{')) AND json_valid(raw)))))"""
    return f"""
        SELECT line_no, ts, service, host, level, coalesce(message, rtrim(raw, E'\\r\\n')) AS message, trace_id, span_id, attributes
        FROM ({fill_from_message(records)})
        WHERE ts IS NOT NULL"""


def fill_from_message(records: str) -> str:
    """``records`` (ts, service, host, level, message, trace_id, span_id, attributes, …) with what a
    record without a level leaves out read from its message, by the text format's rules.

    Container and collector logs are JSON records whose message is a raw application line
    (``{"log": "16:42:22.382 ERROR o.a.c.…"}``): for a record with no level, the level, and the
    service, host, trace and span ids, thread, logger and timestamp that the record itself lacks,
    come from the line (``_first_line_parts(embedded=True)``). The record's own fields win; the
    message stays as the application wrote it (the record, not the line, is what was shipped).
    Records with a level pay nothing: their first line is NULL.
    """
    inner = f"SELECT *, CASE WHEN level IS NULL THEN message END AS first_line FROM ({records})"
    return f"""
        SELECT * EXCLUDE (first_line, p, j, jm, jlogger, lvl_ok, pts, psvc, phost, plvl, pbody, ptrace, pspan, pattrs)
               REPLACE (coalesce(ts, cl_ts(nullif(pts, ''))) AS ts, coalesce(service, psvc) AS service,
                        coalesce(host, phost) AS host, coalesce(level, cl_level(plvl)) AS level,
                        coalesce(trace_id, lower(ptrace)) AS trace_id, coalesce(span_id, lower(pspan)) AS span_id,
                        CASE WHEN pattrs IS NULL THEN attributes
                             ELSE json_merge_patch(pattrs, coalesce(attributes, '{{}}')) END AS attributes)
        FROM ({_first_line_parts(inner, embedded=True)})"""


def insert_jsonl(con: Any, ctx: dict[str, Any], present: set[str]) -> int:
    """Append the records of every staged line that holds one; the others are left for ``jsonl_rejects``."""
    return _insert_records(con, _jsonl_records(present), ctx)


def jsonl_rejects(con: Any, cap: int, batch_id: int) -> tuple[int, list[tuple[int, str]]]:
    """Why staged lines hold no record: (count, first ``cap`` (line, reason)). Blank lines are not rejects.

    Only the lines batch ``batch_id`` has no row for are looked at (an anti-join first), so the
    cost follows the number of bad lines, not the size of the block.
    """
    ts_keys = ", ".join(LOG_ALIASES["ts"])
    path_list, exprs = _alias_exprs("v", None)
    ts_expr = next(e for e in exprs if e.endswith(" AS ts")).rsplit(" AS ", 1)[0]
    todo = f"""(SELECT s.line_no, s.raw FROM cl_stage s ANTI JOIN (
                  SELECT source_line FROM logs WHERE batch_id = {int(batch_id)}
                    AND source_line BETWEEN (SELECT min(line_no) FROM cl_stage) AND (SELECT max(line_no) FROM cl_stage)
                ) l ON s.line_no = l.source_line
                WHERE {_NOT_BLANK})"""
    return _rejects(
        con,
        f"""
        WITH todo AS MATERIALIZED {todo}
        SELECT line_no, CASE WHEN NOT json_valid(raw) THEN 'not valid JSON' ELSE 'JSON value is not an object' END AS reason
        FROM todo WHERE NOT coalesce({_IS_OBJECT}, false)
        UNION ALL
        SELECT line_no, CASE WHEN ts IS NULL THEN 'no timestamp (looked for {ts_keys})'
                             ELSE 'unparseable timestamp ' || left(ts, 40) END
        FROM (SELECT line_no, {ts_expr} AS ts
              FROM (SELECT line_no, json_extract_string(raw, {path_list}) AS v FROM todo WHERE {_IS_OBJECT}))
        WHERE cl_ts(ts) IS NULL
        """,
        cap,
    )


def _load_jsonl(con: Any, ctx: dict[str, Any], cap: int) -> LineChunkResult:
    loaded = insert_jsonl(con, ctx, sample_jsonl_keys(con))
    blank, total = _blank_and_total(con, loaded)
    if loaded + blank == total:
        return LineChunkResult(loaded, 0, [], None)
    rejected, errors = jsonl_rejects(con, cap, ctx["batch_id"])
    return LineChunkResult(loaded, rejected, errors, None)


def _blank_and_total(con: Any, loaded: int) -> tuple[int, int]:
    """(blank lines, staged lines); blank lines are only counted when something is missing."""
    total = con.execute("SELECT count(*) FROM cl_stage").fetchall()[0][0]
    if loaded == total:
        return 0, int(total)
    blank = con.execute(f"SELECT count(*) FROM cl_stage WHERE NOT {_NOT_BLANK}").fetchall()[0][0]
    return int(blank), int(total)


def _grouped(con: Any, ctx: dict[str, Any], cap: int, is_last: bool, line_expr: str, start_expr: str,
             extra_cols: str, where_ok: str, bad_sql: str | None) -> LineChunkResult:
    """Shared multi-line machinery: mark record starts, hold back the last record, group."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cl_lines AS
            SELECT *, {start_expr} AS is_start
            FROM (SELECT line_no, {line_expr} AS line, {extra_cols} FROM cl_stage WHERE {where_ok})"""
    )
    carry_from = None
    if not is_last:
        carry_from = con.execute("SELECT max(line_no) FROM cl_lines WHERE is_start").fetchall()[0][0]
        if carry_from is None:  # no record starts here at all: hold everything (bounded by caller)
            carry_from = con.execute("SELECT min(line_no) FROM cl_stage").fetchall()[0][0]
    cut = f"line_no < {int(carry_from)}" if carry_from is not None else "true"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cl_grouped AS
            SELECT *, sum(CASE WHEN is_start THEN 1 ELSE 0 END) OVER (ORDER BY line_no ROWS UNBOUNDED PRECEDING) AS grp
            FROM cl_lines WHERE {cut}"""
    )
    ctx_records = f"""
        SELECT min(line_no) AS line_no, arg_min(line, line_no) AS first_line,
               string_agg(line, E'\\n' ORDER BY line_no) FILTER (WHERE NOT is_start) AS cont,
               {ctx['first_cols']}
        FROM cl_grouped WHERE grp > 0 GROUP BY grp"""
    loaded = _insert_records(con, ctx["records_sql"].replace("__RECORDS__", ctx_records), ctx)
    orphan = """SELECT line_no, 'continuation line with no record before it (no timestamp at line start)' AS reason
                 FROM cl_grouped WHERE grp = 0 AND trim(line) <> ''"""
    rejected, errors = _rejects(con, orphan + (f" UNION ALL {bad_sql} AND {cut}" if bad_sql else ""), cap)
    con.execute("DROP TABLE cl_lines; DROP TABLE cl_grouped")
    return LineChunkResult(loaded, rejected, errors, carry_from)


def _first_line_parts(records: str, embedded: bool = False, prefixed: bool = False) -> str:
    """Each record's first line read into parts: pts, psvc, phost, plvl, pbody, ptrace, pspan, pattrs.

    LINE_RE first (one regex per record); LOGGER_LINE_RE only for the records it leaves
    without a level, or with Spring Boot's "pid ---" (CASE evaluates it on those rows only).
    A SkyWalking context gives service, instance (host: the part after "@"), trace id and span
    id (segment.index, as SkyWalking's span export writes it); thread and logger go to attributes.

    ``embedded``: the line is an application line inside a JSON record (the EMBEDDED_ patterns:
    its timestamp may be absent or a time of day). The parts count only when a level was found,
    and, without a timestamp before it, only a level written in capitals: log layouts write the
    level as an upper-case token (%p, %(levelname)s), while "Error connecting…" or "[api] …" at
    the start of a message is prose or a tag. A NULL first line yields NULL parts cheaply.

    ``prefixed``: the first line has a short prefix before its timestamp (PREFIXED_START_RE);
    the prefix is cut off the message and kept as the attribute ``line_prefix``.
    """
    def val(x: str) -> str:
        return f"nullif(nullif({x}, ''), 'N/A')"

    line_re, logger_re = (EMBEDDED_LINE_RE, EMBEDDED_LOGGER_LINE_RE) if embedded else (LINE_RE, LOGGER_LINE_RE)
    if prefixed:
        line_re, logger_re = PREFIXED_LINE_RE, PREFIXED_LOGGER_LINE_RE
        # The prefix is what comes before the leftmost timestamp when that is a valid prefix (a
        # search and a full match, both DFA-only); the lazy capture of PREFIXED_START_RE, which
        # needs RE2's slow engine (12x on 1M lines), only for the rest.
        fast = (f"rtrim(substr(first_line, 1, strpos(first_line, regexp_extract(first_line, {_q(TS_ANY)}, 0)) - 1), '[')")
        records = f"""
            SELECT * EXCLUDE (prefix) REPLACE (substr(first_line, length(prefix) + 1) AS first_line),
                   nullif(trim(prefix), '') AS line_prefix
            FROM (SELECT *, CASE WHEN regexp_full_match({fast}, {_q(PREFIX_TOKENS)}) THEN {fast}
                                 ELSE regexp_extract(first_line, {_q(PREFIXED_START_RE)}, 1) END AS prefix
                  FROM ({records}))"""
    parts = f"""
        SELECT *,
          CASE WHEN jm THEN j.ts ELSE p.ts END AS pts,
          -- a bracket before the level is a thread when a logger name follows (logback), else
          -- the service, as LINE_RE reads "ts [api] …"
          CASE WHEN jm THEN coalesce({val('j.sw_svc')}, nullif(j.sb_app, ''), CASE WHEN jlogger IS NULL THEN nullif(p.svc, '') END)
               ELSE nullif(p.svc, '') END AS psvc,
          CASE WHEN jm THEN {val("regexp_extract(j.sw_inst, '([^@]*)$', 1)")} END AS phost,
          CASE WHEN jm THEN j.lvl
               ELSE coalesce(nullif(p.lvl, ''),
                             nullif(regexp_extract(coalesce(nullif(p.body, ''), first_line), {_q(HEADER_LEVEL_RE)}, 1), ''))
          END AS plvl,
          CASE WHEN jm THEN j.body ELSE p.body END AS pbody,
          coalesce(CASE WHEN jm THEN coalesce({val('j.sw_trace')}, {val('j.tid')}, nullif(j.sb_trace, '')) END,
                   nullif(regexp_extract(first_line, {_q(TRACE_RE)}, 1), '')) AS ptrace,
          coalesce(CASE WHEN jm AND {val('j.sw_seg')} IS NOT NULL THEN j.sw_seg || '.' || j.sw_idx END,
                   CASE WHEN jm THEN nullif(j.sb_span, '') END,
                   nullif(regexp_extract(first_line, {_q(SPAN_RE)}, 1), '')) AS pspan,
          CASE WHEN jm AND jlogger IS NOT NULL THEN nullif(json_merge_patch('{{}}', json_object(
                 'thread', nullif(trim(coalesce(nullif(j.thread, ''), j.thread2)), ''),
                 'logger', jlogger)), '{{}}') END AS pattrs
        FROM (SELECT *, coalesce(j.lvl, '') <> '' AS jm, coalesce(nullif(j.logger, ''), nullif(j.pylogger, '')) AS jlogger
              FROM (SELECT *, CASE WHEN p.lvl = '' OR regexp_matches(p.body, '^\\d+ +--- ')
                                   THEN regexp_extract(first_line, {_q(logger_re)}, {LOGGER_GROUPS}) END AS j
                    FROM (SELECT *, regexp_extract(first_line, {_q(line_re)}, ['ts', 'lvl', 'svc', 'body']) AS p
                          FROM ({records}))))"""
    if not embedded:
        return parts
    kept = ", ".join(f"CASE WHEN lvl_ok THEN {c} END AS {c}" for c in ("pts", "psvc", "phost", "plvl", "pbody", "pattrs"))
    return f"""
        SELECT * REPLACE ({kept})
        FROM (SELECT *, plvl IS NOT NULL AND (pts <> '' OR plvl = upper(plvl)) AS lvl_ok FROM ({parts}))"""


# Blank and whitespace-only lines after a record are continuation lines too (they start no
# record), but they carry nothing: trailing ones are trimmed so "msg" + blank lines stays "msg".
_MESSAGE_FROM_PARTS = """
    CASE WHEN cont IS NULL THEN coalesce(NULLIF(pbody, ''), first_line)
         ELSE rtrim(coalesce(NULLIF(pbody, ''), first_line) || E'\\n' || cont, E' \\t\\r\\n') END"""


def _sniff_prefixed(con: Any, sample: int = 2000) -> bool:
    """Whether most record-like lines of the staged chunk have a timestamp behind a short prefix.

    Lines that start with whitespace (stack frames, wrapped text) are left out of the count:
    they continue records in any layout. Most, not any: a file's records share one header
    layout, so its timestamp shows on most lines, while a date mentioned in prose shows on few.
    """
    hits, total = con.execute(f"""
        SELECT count(*) FILTER (WHERE regexp_matches(raw, {_q(PREFIXED_START_RE)})), count(*)
        FROM (SELECT raw FROM cl_stage WHERE regexp_matches(raw, '^[^ \t\r\n]') ORDER BY line_no LIMIT {int(sample)})""").fetchall()[0]
    return bool(total) and hits * 2 >= total


def _load_text(con: Any, ctx: dict[str, Any], cap: int, is_last: bool) -> LineChunkResult:
    if ctx.get("no_timestamps") and "prefixed" not in ctx:  # decided on the first chunk, for the whole file
        ctx["prefixed"] = _sniff_prefixed(con)
        ctx["no_timestamps"] = not ctx["prefixed"]
    prefixed = bool(ctx.get("prefixed"))
    if ctx.get("no_timestamps"):
        # A file with no recognisable timestamps: every line is its own record, kept without time.
        loaded = _insert_records(
            con,
            f"""SELECT line_no, NULL::TIMESTAMP AS ts, NULL AS service, NULL AS host,
                       cl_level(regexp_extract(line, '\\b((?i:{LEVEL_WORDS_RE}))\\b', 1)) AS level,
                       line AS message, NULLIF(regexp_extract(line, {_q(TRACE_RE)}, 1), '') AS trace_id,
                       NULLIF(regexp_extract(line, {_q(SPAN_RE)}, 1), '') AS span_id, NULL::JSON AS attributes
                FROM (SELECT line_no, rtrim(raw, E'\\r\\n') AS line FROM cl_stage) WHERE trim(line) <> ''""",
            ctx,
        )
        return LineChunkResult(loaded, 0, [], None)
    ctx = dict(ctx)
    ctx["first_cols"] = "NULL AS unused"
    ctx["records_sql"] = f"""
        SELECT line_no, cl_ts(pts) AS ts, psvc AS service, phost AS host, cl_level(plvl) AS level,
               {_MESSAGE_FROM_PARTS} AS message, ptrace AS trace_id, pspan AS span_id,
               {"nullif(json_merge_patch(coalesce(pattrs, '{}'), json_object('line_prefix', line_prefix)), '{}')"
                if prefixed else "pattrs"} AS attributes
        FROM ({_first_line_parts('__RECORDS__', prefixed=prefixed)})"""
    return _grouped(con, ctx, cap, is_last, "rtrim(raw, E'\\r\\n')",
                    f"regexp_matches(line, {_q(PREFIXED_START_RE if prefixed else START_RE)})", "NULL AS unused", "true", None)


def _load_docker(con: Any, ctx: dict[str, Any], cap: int, is_last: bool) -> LineChunkResult:
    ctx = dict(ctx)
    ctx["first_cols"] = "arg_min(dtime, line_no) AS dtime, arg_min(stream, line_no) AS stream"
    ctx["records_sql"] = f"""
        SELECT line_no, coalesce(cl_ts(dtime), cl_ts(NULLIF(pts, ''))) AS ts, psvc AS service, phost AS host,
               cl_level(plvl) AS level, {_MESSAGE_FROM_PARTS} AS message, ptrace AS trace_id, pspan AS span_id,
               json_merge_patch(json_object('stream', stream), coalesce(pattrs, '{{}}')) AS attributes
        FROM ({_first_line_parts('__RECORDS__', embedded=True)})"""
    ok = ("coalesce(CASE WHEN json_valid(raw) THEN json_extract_string(raw, '$.log') IS NOT NULL"
          " AND json_extract_string(raw, '$.time') IS NOT NULL END, false)")
    bad = f"""SELECT line_no, CASE WHEN NOT json_valid(raw) THEN 'not valid JSON'
                                   ELSE 'not a Docker json-file line (needs log and time)' END AS reason
              FROM cl_stage WHERE {_NOT_BLANK} AND NOT ({ok})"""
    return _grouped(
        con, ctx, cap, is_last,
        "rtrim(CASE WHEN json_valid(raw) THEN json_extract_string(raw, '$.log') END, E'\\r\\n')",
        # A continuation must look like one and stay on the stream of the line before it: a
        # crash printed to stderr after a stdout line starts a record of its own.
        f"NOT (regexp_matches(line, {_q(CONTINUATION_RE)}) AND stream IS NOT DISTINCT FROM prev_stream)",
        "CASE WHEN json_valid(raw) THEN json_extract_string(raw, '$.time') END AS dtime, "
        "CASE WHEN json_valid(raw) THEN json_extract_string(raw, '$.stream') END AS stream, "
        "lag(CASE WHEN json_valid(raw) THEN json_extract_string(raw, '$.stream') END) OVER (ORDER BY line_no) AS prev_stream",
        ok, bad,
    )


# nginx's and Apache's access log, Combined Log Format (the referer and user agent optional:
# Common Log Format), with anything after them (request time, upstream…) kept as "extra".
ACCESS_RE = (
    r'^(\S+) (\S+) (\S+) \[(\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?:(\S+) (\S+)(?: (HTTP/[\d.]+))?|([^"]*))" (\d{3}) (\d+|-)(?: "([^"]*)" "([^"]*)")?\s*(.*?)\s*$'
)
_ACCESS_GROUPS = ["client", "ident", "user", "ts", "method", "path", "protocol", "request", "status", "bytes", "referer",
                  "agent", "extra"]
# Reason phrases: templates mask the number, so "502 Bad Gateway" keeps what the status was in an incident's title.
_REASONS = {"200": "OK", "201": "Created", "204": "No Content", "301": "Moved Permanently", "302": "Found",
            "304": "Not Modified", "400": "Bad Request", "401": "Unauthorized", "403": "Forbidden", "404": "Not Found",
            "405": "Method Not Allowed", "408": "Request Timeout", "409": "Conflict", "413": "Payload Too Large",
            "429": "Too Many Requests", "499": "Client Closed Request", "500": "Internal Server Error", "502": "Bad Gateway",
            "503": "Service Unavailable", "504": "Gateway Timeout"}
_REASON_MAP = "MAP {" + ", ".join(f"'{k}': '{v}'" for k, v in _REASONS.items()) + "}"


def _load_access(con: Any, ctx: dict[str, Any], cap: int) -> LineChunkResult:
    """One request per line; 5xx is an ERROR, 4xx a WARN, the rest INFO; the fields go to attributes."""
    # Materialized: otherwise the optimizer copies the regexp into the filter and into each field
    # taken from the struct, and a line is matched several times (5.1 s against 1.9 s per 1M lines).
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cl_access AS
                    SELECT line_no, a, try_strptime(a.ts, '%d/%b/%Y:%H:%M:%S %z') AS t FROM (
                      SELECT line_no, regexp_extract(rtrim(raw, E'\\r\\n'), {_q(ACCESS_RE)}, {_ACCESS_GROUPS}) AS a
                      FROM cl_stage WHERE {_NOT_BLANK})""")
    result = _insert_access(con, ctx, cap)
    con.execute("DROP TABLE cl_access")  # (after a failure it stays till the next CREATE OR REPLACE)
    return result


def _insert_access(con: Any, ctx: dict[str, Any], cap: int) -> LineChunkResult:
    def val(x: str) -> str:
        return f"nullif(nullif(a.{x}, ''), '-')"

    loaded = _insert_records(con, f"""
        SELECT line_no, CAST(t AT TIME ZONE 'UTC' AS TIMESTAMP) AS ts,
               NULL AS service, NULL AS host,
               CASE WHEN a.status >= '500' THEN 'ERROR' WHEN a.status >= '400' THEN 'WARN' ELSE 'INFO' END AS level,
               coalesce(nullif(a.method, '') || ' ' || a.path, nullif(a.request, ''), '-') || ' ' || a.status
                 || coalesce(' ' || {_REASON_MAP}[a.status], '') AS message,
               NULL AS trace_id, NULL AS span_id,
               json_merge_patch('{{}}', json_object(
                   'client.address', {val('client')}, 'user', {val('user')}, 'http.method', {val('method')},
                   'url.path', {val('path')}, 'http.protocol', {val('protocol')}, 'http.request', {val('request')},
                   'http.status_code', try_cast(a.status AS INTEGER), 'http.response.bytes', try_cast({val('bytes')} AS BIGINT),
                   'http.referer', {val('referer')}, 'user_agent', {val('agent')}, 'extra', {val('extra')})) AS attributes
        FROM cl_access WHERE a.status <> '' AND t IS NOT NULL""", ctx)
    blank, total = _blank_and_total(con, loaded)
    if loaded + blank == total:
        return LineChunkResult(loaded, 0, [], None)
    rejected, errors = _rejects(con, """
        SELECT line_no, CASE WHEN a.status = '' THEN 'not an access log line (Common or Combined Log Format)'
                             ELSE 'unparseable time ' || a.ts END AS reason
        FROM cl_access WHERE a.status = '' OR t IS NULL""", cap)
    return LineChunkResult(loaded, rejected, errors, None)


def _load_rows(con: Any) -> LineChunkResult:
    """Rows the Python parsers made (logfmt, syslog, CSV, OTLP), staged with the columns of ``logs``.

    Their records may be JSON-wrapped application lines too (a CSV column of Docker lines, an
    OTLP body): a row without a level is completed from its message as JSON Lines records are.
    """
    loaded = con.execute(f"""
        INSERT INTO logs (id, ts, service, host, level, message, trace_id, span_id, attributes,
                          source_file, source_line, batch_id)
        SELECT id, ts, service, host, level, message, trace_id, span_id, attributes, source_file, source_line, batch_id
        FROM ({fill_from_message('SELECT * FROM cl_stage')})""").fetchall()[0][0]
    return LineChunkResult(int(loaded), 0, [], None)


def load_log_chunk(con: Any, fmt: str, ctx: dict[str, Any], cap: int, is_last: bool) -> LineChunkResult:
    """Parse the registered ``cl_stage`` table (line_no, raw) and append its records to ``logs``.

    ``ctx``: batch_id, base_id (the batch's id base: a record's id is base_id + its line number), source (file name), optional
    service/host defaults, no_timestamps (text only). ``fmt="rows"``: ``cl_stage`` holds finished
    rows of a Python parser (the columns of ``logs``), appended as they are except what
    ``fill_from_message`` completes; ``ctx`` is unused.
    """
    if fmt == "jsonl":
        return _load_jsonl(con, ctx, cap)
    if fmt == "text":
        return _load_text(con, ctx, cap, is_last)
    if fmt == "docker":
        return _load_docker(con, ctx, cap, is_last)
    if fmt == "access":
        return _load_access(con, ctx, cap)
    if fmt == "rows":
        return _load_rows(con)
    raise ValueError(f"not a line format: {fmt}")


def sniff_text_has_timestamps(con: Any) -> bool:
    """Whether any staged line starts with a timestamp (decides the no-timestamp fallback)."""
    return bool(con.execute(f"SELECT count(*) FROM cl_stage WHERE regexp_matches(raw, {_q(START_RE)})").fetchall()[0][0])
