"""Exploring logs Honeycomb-style: a small query language, group-by counts, the volume histogram.

A query is whitespace-separated terms::

    service=payments level=ERROR,FATAL host!=web-3 "connection reset" user.tier=gold

- ``FIELD=V`` / ``FIELD!=V`` on a log field (service, host, level, template, fingerprint,
  trace_id, span_id); ``V1,V2`` means any of them;
- any other ``KEY=V`` (or ``attr.KEY=V``) compares the JSON attribute ``KEY`` as text;
- a bare word or a ``"quoted phrase"`` must occur in the message (case-insensitive).

Group-by keys are the same names (a field or an attribute key). Parsing is pure; the SQL reads
one scan of ``logs`` per call, its parameters always bound (never spliced into the text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import InputError
from .files import time_window

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["LogFilter", "LogQuery", "parse_log_query", "parse_group_by", "group_logs", "log_histogram",
           "histogram_step", "search_logs", "where_clause", "attribute_keys", "LOG_FIELDS"]

# the log columns a term or a group-by may name; everything else is a JSON attribute key
LOG_FIELDS = {"service": "service", "host": "host", "level": "level", "template": "template_id",
              "fingerprint": "fingerprint", "trace_id": "trace_id", "span_id": "span_id"}
_FIELD_ALIASES = {"template_id": "template", "trace": "trace_id", "span": "span_id"}
_KEY = re.compile(r"[A-Za-z_@][\w.\-@/:]*")
_SYNTAX_HINT = 'e.g. service=payments level=ERROR "timed out" user.tier=gold (group by with --by service)'


@dataclass(frozen=True)
class LogFilter:
    key: str                   # a LOG_FIELDS name, or "attr.KEY"
    values: tuple[str, ...]    # any of these
    negate: bool = False

    @property
    def is_attribute(self) -> bool:
        return self.key.startswith("attr.")


@dataclass(frozen=True)
class LogQuery:
    filters: tuple[LogFilter, ...] = ()
    text: tuple[str, ...] = ()          # each must occur in the message
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"query": self.source, "filters": [{"key": f.key, "values": list(f.values), "negate": f.negate}
                                                  for f in self.filters], "text": list(self.text)}


def _key_name(raw: str, at: int, source: str) -> str:
    """A field name (aliases folded) or ``attr.KEY``; anything else is a clear error."""
    name = raw[5:] if raw.startswith("attr.") else raw
    if not name or not _KEY.fullmatch(name):
        raise InputError(f"query: {raw!r} at column {at + 1} is not a field or attribute name in {source!r}",
                         hint="names are letters, digits and _ . - @ / : (e.g. service, user.tier); " + _SYNTAX_HINT)
    if raw.startswith("attr."):
        return raw
    name = _FIELD_ALIASES.get(name, name)
    return name if name in LOG_FIELDS else f"attr.{name}"


def _tokens(source: str) -> list[tuple[int, str, bool]]:
    """``(column, text, starts quoted)`` per term; a quote may open anywhere in a term (``msg="a b"``)."""
    out: list[tuple[int, str, bool]] = []
    i, n = 0, len(source)
    while i < n:
        if source[i].isspace():
            i += 1
            continue
        start, buf = i, []
        while i < n and not source[i].isspace():
            if source[i] in "\"'":
                quote, close = source[i], source.find(source[i], i + 1)
                if close < 0:
                    raise InputError(f"query: the quote {quote} at column {i + 1} is never closed in {source!r}",
                                     hint="close the phrase with the same quote; " + _SYNTAX_HINT)
                buf.append(source[i + 1:close])
                i = close + 1
            else:
                buf.append(source[i])
                i += 1
        out.append((start, "".join(buf), source[start] in "\"'"))
    return out


def parse_log_query(source: str) -> LogQuery:
    """The terms of ``source`` as a LogQuery; bad input names the column and the fix.

    >>> q = parse_log_query('service=pay,cart level!=DEBUG "timed out" tier=gold')
    >>> [(f.key, f.values, f.negate) for f in q.filters], q.text
    ([('service', ('pay', 'cart'), False), ('level', ('DEBUG',), True), ('attr.tier', ('gold',), False)], ('timed out',))
    """
    filters: list[LogFilter] = []
    text: list[str] = []
    for at, term, quoted in _tokens(source or ""):
        # a term opening with a quote is a phrase even if it holds "=" ("a=b" searches the message)
        m = None if quoted else re.match(r"([^=!]*)(!?=)(.*)", term, re.S)
        if m is None:
            if term:
                text.append(term)
            continue
        raw_key, op, value = m.group(1), m.group(2), m.group(3)
        if not raw_key:
            raise InputError(f"query: {term!r} at column {at + 1} has no field name before {op!r}",
                             hint=_SYNTAX_HINT)
        key = _key_name(raw_key, at, source)
        values = tuple(v for v in value.split(",")) if value else ()
        if not values or any(v == "" for v in values):
            raise InputError(f"query: {term!r} at column {at + 1} has no value after {op!r}",
                             hint=f"write {raw_key}{op}VALUE (several: {raw_key}{op}A,B); " + _SYNTAX_HINT)
        if key == "level":  # levels are stored normalised to upper case (ingest.normalize)
            values = tuple(v.upper() for v in values)
        filters.append(LogFilter(key, values, op == "!="))
    return LogQuery(tuple(filters), tuple(text), source or "")


def parse_group_by(keys: Sequence[str] | str | None) -> tuple[str, ...]:
    """Group-by names (``"service,host"`` or a list) folded like query keys; duplicates dropped."""
    if keys is None:
        return ()
    items = keys.split(",") if isinstance(keys, str) else [k for part in keys for k in str(part).split(",")]
    out: list[str] = []
    for raw in (k.strip() for k in items):
        if raw:
            key = _key_name(raw, 0, raw)
            if key not in out:
                out.append(key)
    return tuple(out)


def _column(key: str, params: list[Any]) -> str:
    """The SQL expression of a field or attribute (the attribute path is a bound parameter)."""
    if key in LOG_FIELDS:
        return LOG_FIELDS[key]
    params.append('$."' + key[5:] + '"')  # _KEY admits no double quote, so the path is well-formed
    return "json_extract_string(attributes, ?)"


def where_clause(query: LogQuery | None, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    """The SQL condition on ``logs`` of a query in ``[start, end)``, and its parameters."""
    clause, params = time_window("ts", start, end)
    parts = [clause]
    for f in (query.filters if query else ()):
        col = _column(f.key, params)
        marks = ", ".join("?" for _ in f.values)
        params += list(f.values)
        # != keeps rows without the key (a person asking "not web-3" means every other line)
        parts.append(f"coalesce({col} NOT IN ({marks}), true)" if f.negate else f"{col} IN ({marks})")
    for t in (query.text if query else ()):
        parts.append("contains(lower(message), lower(?))")
        params.append(t)
    return " AND ".join(parts), params


def group_logs(ws: Workspace, query: LogQuery | None = None, by: Sequence[str] = (), *, start: datetime | None = None,
               end: datetime | None = None, limit: int = 100) -> dict[str, Any]:
    """Matching lines counted per distinct value of ``by`` (none: just the total), busiest first.

    Returns ``{"total", "by", "groups": [{<key>: value, ..., "count"}], "truncated"}`` (``by``: the
    keys as folded, an attribute as ``attr.KEY``); a missing field or attribute groups as None.
    """
    by = parse_group_by(by)  # "tier" and "attr.tier" name the same attribute
    where, params = where_clause(query, start, end)
    total = int(ws.con.execute(f"SELECT count(*) FROM logs WHERE {where}", params).fetchall()[0][0])
    if not by:
        return {"total": total, "by": [], "groups": [], "truncated": False}
    cols: list[str] = []
    col_params: list[Any] = []
    for i, key in enumerate(by):
        cols.append(f"{_column(key, col_params)} AS g{i}")
    rows = ws.con.execute(
        f"""SELECT {', '.join(cols)}, count(*) AS n FROM logs WHERE {where}
            GROUP BY ALL ORDER BY n DESC, {', '.join(f'g{i} NULLS LAST' for i in range(len(by)))} LIMIT ?""",
        col_params + params + [int(limit) + 1]).fetchall()
    groups = [{**{key: r[i] for i, key in enumerate(by)}, "count": int(r[-1])} for r in rows[:limit]]
    return {"total": total, "by": list(by), "groups": groups, "truncated": len(rows) > limit}


def search_logs(ws: Workspace, query: LogQuery | None = None, *, start: datetime | None = None,
                end: datetime | None = None, limit: int = 200, offset: int = 0) -> Any:
    """The matching lines themselves (newest first) as a DataFrame."""
    where, params = where_clause(query, start, end)
    return ws.con.execute(
        f"""SELECT id, ts, level, service, host, message, template_id, fingerprint, trace_id, span_id, source_file,
                   source_line FROM logs WHERE {where} ORDER BY ts DESC NULLS LAST, id DESC LIMIT ? OFFSET ?""",
        params + [int(limit), int(offset)]).df()


def attribute_keys(ws: Workspace, *, start: datetime | None = None, end: datetime | None = None,
                   limit: int = 40, sample: int = 20000) -> list[str]:
    """The JSON attribute keys of the range's lines, commonest first (read from a sample of lines:
    keys come from the few shapes a program logs, so a sample finds every common one)."""
    clause, params = time_window("ts", start, end)
    rows = ws.con.execute(
        f"""SELECT k FROM (SELECT unnest(json_keys(attributes)) AS k FROM (
              SELECT attributes FROM logs WHERE {clause} AND attributes IS NOT NULL AND json_valid(attributes)
                AND json_type(attributes) = 'OBJECT' LIMIT {int(sample)}))
            WHERE NOT contains(k, '"') GROUP BY k ORDER BY count(*) DESC, k LIMIT {int(limit)}""", params).fetchall()
    return [str(r[0]) for r in rows]


# steps a person reads at a glance; the histogram takes the smallest giving at most ~`bars` bars
_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)


def histogram_step(start: datetime, end: datetime, bars: int = 120) -> int:
    """The bucket width in seconds for ``[start, end)``: the smallest round step with ≤ ``bars`` bars."""
    span = max((end - start).total_seconds(), 1.0)
    return next((s for s in _STEPS_S if span / s <= bars), _STEPS_S[-1])


def log_histogram(ws: Workspace, query: LogQuery | None = None, *, start: datetime, end: datetime,
                  bars: int = 120) -> tuple[int, list[tuple[datetime, str, int]]]:
    """``(step seconds, [(bucket start, level, count)])`` of the matching lines in ``[start, end)``."""
    step = histogram_step(start, end, bars)
    where, params = where_clause(query, start, end)
    rows = ws.con.execute(
        f"""SELECT time_bucket(to_seconds({step}), ts) AS b, coalesce(level, '(none)'), count(*)
            FROM logs WHERE {where} GROUP BY ALL ORDER BY b""", params).fetchall()
    return step, [(b, str(lv), int(n)) for b, lv, n in rows]
