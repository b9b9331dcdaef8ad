"""Building blocks shared by the format parsers of logs, spans and metrics.

JSON records from a document or JSON Lines (with line numbers where known), CSV tables,
OTLP AnyValue decoding, column-mapping resolution, exact epoch conversions, and guards that
turn a malformed item into an ``IngestError`` instead of a crash.
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
import re
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

from ..errors import InputError
from ..models import IngestError
from .source import Source

__all__ = [
    "MALFORMED", "as_list", "as_object", "guarded_walk", "json_records", "json_keys_in", "otlp_value",
    "otlp_attributes", "otlp_resources", "ns_to_dt", "us_to_dt", "to_int", "sniff_delimiter", "csv_table", "resolve_mapping",
    "parse_field_map", "otlp_scopes",
]

_EPOCH = datetime(1970, 1, 1)
_JSON_KEY = re.compile(r'"([^"\\]{1,80})"\s*:')


def ns_to_dt(value: Any) -> datetime:
    """Epoch nanoseconds (int or decimal string) → naive UTC datetime, exactly (µs precision)."""
    return _EPOCH + timedelta(microseconds=to_int(value) // 1000)


def us_to_dt(value: Any) -> datetime:
    """Epoch microseconds → naive UTC datetime (Jaeger startTime, Zipkin timestamp)."""
    return _EPOCH + timedelta(microseconds=to_int(value))


def to_int(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return int(float(value))


def otlp_value(value: Any) -> Any:
    """An OTLP JSON AnyValue → plain JSON value (intValue is a string in OTLP JSON)."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        try:
            return to_int(value["intValue"])
        except ValueError:
            return str(value["intValue"])
    if "doubleValue" in value:
        d = value["doubleValue"]
        return d if isinstance(d, (int, float)) and d == d and abs(d) != float("inf") else str(d)
    if "boolValue" in value:
        b = value["boolValue"]
        return b if isinstance(b, bool) else str(b).lower() == "true"
    if "arrayValue" in value:
        return [otlp_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return otlp_attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        try:
            return base64.b64decode(value["bytesValue"], validate=True).hex()
        except (binascii.Error, ValueError, TypeError):
            return str(value["bytesValue"])
    return None


def otlp_attributes(items: Any) -> dict[str, Any]:
    """An OTLP KeyValue list → dict."""
    if not isinstance(items, list):
        return {}
    return {str(kv["key"]): otlp_value(kv.get("value")) for kv in items if isinstance(kv, dict) and "key" in kv}


MALFORMED = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


def as_list(value: Any, what: str) -> list[Any]:
    """A JSON array; [] for null or absent; TypeError naming ``what`` for anything else."""
    if value is None or isinstance(value, list):
        return value or []
    raise TypeError(f"{what} is not a list")


def as_object(value: Any, what: str) -> dict[str, Any]:
    """A JSON object; {} for null or absent; TypeError naming ``what`` for anything else."""
    if value is None or isinstance(value, dict):
        return value or {}
    raise TypeError(f"{what} is not an object")


def guarded_walk(walk: Iterator[Any], line: int | None, where: str) -> Iterator[Any]:
    """Yield from a walk over one JSON container; a structural surprise ends it as an IngestError."""
    try:
        yield from walk
    except MALFORMED as exc:
        yield IngestError(line, f"{where}: malformed ({type(exc).__name__}: {exc})")


def json_keys_in(head: str) -> set[str]:
    """Object keys that occur in the first part of a JSON file (for format detection)."""
    return set(_JSON_KEY.findall(head))


def json_records(source: Source) -> Iterator[tuple[int | None, Any]]:
    """``(line, value)`` per JSON Lines line, or ``(None, document)`` for one JSON document.

    A JSON Lines line that is not valid JSON is yielded as ``(line, IngestError)``.
    """
    if not _is_json_lines(source.head()):
        yield None, source.read_json_document()
        return
    for line_no, text in source.lines():
        text = text.strip().lstrip("\ufeff")
        if not text:
            continue
        try:
            yield line_no, json.loads(text)
        except ValueError as exc:
            yield line_no, IngestError(line_no, f"not valid JSON ({getattr(exc, 'msg', exc)})")


def _is_json_lines(head: str) -> bool:
    text = head.lstrip("\ufeff \t\r\n")
    end = text.find("\n")
    end = len(text) if end < 0 else end
    first = text[:end].strip()
    if not first or first[0] not in "{[":
        return False
    try:
        return isinstance(json.loads(first), (dict, list))
    except ValueError:  # a pretty-printed document, or a first line longer than the head
        return end == len(text) and len(head) >= 32 << 10


def sniff_delimiter(line: str) -> str | None:
    counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def csv_table(source: Source) -> tuple[list[str], Iterator[tuple[int, list[str] | IngestError]]]:
    """The header of a delimited file and an iterator of ``(first line, cells)`` per record.

    The delimiter (comma, tab, semicolon or pipe) is taken from the header line. Blank
    records are skipped; a record that the csv module cannot read, or whose cell count is not the
    header's, becomes an IngestError.
    """
    first_line = next((t for t in source.head().splitlines() if t.strip()), "")
    delimiter = sniff_delimiter(first_line) or ","
    reader = csv.reader((text + "\n" for _, text in source.lines()), delimiter=delimiter)
    header = next(reader, None)
    while header is not None and not any(h.strip() for h in header):
        header = next(reader, None)
    if header is None:
        raise InputError(f"{source.name}: empty file, no CSV header", hint="check the file")
    header = [h.strip().lstrip("\ufeff") for h in header]

    def records() -> Iterator[tuple[int, list[str] | IngestError]]:
        last = reader.line_num
        while True:
            start = last + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, IngestError(start, f"unreadable CSV record ({exc})")
                last = reader.line_num
                continue
            last = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield start, IngestError(start, f"expected {len(header)} columns, found {len(cells)}")
                continue
            yield start, cells

    return header, records()


def otlp_scopes(res: Any, line: int | None, path: str, kind: str,
                items: str) -> Iterator[tuple[dict[str, Any], dict[str, Any], list[Any], str] | IngestError]:
    """Per scope of one OTLP resource entry: (resource attributes, the scope entry, its ``items``, its path).

    ``kind`` is ``Logs`` or ``Spans``: ``scope<kind>``, or the older ``instrumentationLibrary<kind>``.
    A scope entry that is not an object is reported and the others go on.
    """
    res = as_object(res, path)
    attrs = otlp_attributes(as_object(res.get("resource"), f"{path}.resource").get("attributes"))
    key = f"scope{kind}" if f"scope{kind}" in res else f"instrumentationLibrary{kind}"
    for i, scope in enumerate(as_list(res.get(key), f"{path}.{key}")):
        where = f"{path}.{key}[{i}]"
        if not isinstance(scope, dict):
            yield IngestError(line, f"{where}: not an object")
            continue
        yield attrs, scope, as_list(scope.get(items), f"{where}.{items}"), where


def parse_field_map(items: Any, fields: Any, example: str) -> dict[str, str]:
    """``--map col=field`` → {field: column}; ``field=col`` is accepted too when unambiguous.

    ``fields`` are the names the mapping may fill; ``example`` is shown in the hint.

    >>> parse_field_map(["deploy_time=ts", "svc=service"], ("ts", "service"), "deployed=ts")
    {'ts': 'deploy_time', 'service': 'svc'}
    """
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--map {item!r} is not COLUMN=FIELD", hint=f"e.g. --map {example}")
        left, right = (s.strip() for s in item.split("=", 1))
        if right in fields:
            out[right] = left
        elif left in fields:
            out[left] = right
        else:
            raise InputError(f"--map {item!r}: neither side is a field CrashLens knows here",
                             hint=f"fields: {', '.join(sorted(fields))}")
    return out


def resolve_mapping(header: list[str], mapping: dict[str, str] | None, fields: tuple[str, ...],
                    aliases: dict[str, tuple[str, ...]], source_name: str) -> dict[str, str]:
    """field → header column, from an explicit mapping or by matching aliases case-insensitively."""
    lower = {h.strip().lower(): h for h in header}
    out: dict[str, str] = {}
    for field, column in (mapping or {}).items():
        if field not in fields:
            raise InputError(f"unknown field {field!r} in --map", hint=f"map columns to: {', '.join(fields)}")
        col = column.split(":", 1)[1] if column.startswith("pod:") else column
        if col not in header and col.lower() not in lower:
            raise InputError(f"{source_name}: column {col!r} is not in the header", hint=f"the header has: {', '.join(header)}")
        out[field] = column if col in header else column.replace(col, lower[col.lower()])
    for field in fields:
        if field in out:
            continue
        for alias in (field, *aliases.get(field, ())):
            if alias.lower() in lower and lower[alias.lower()] not in out.values():
                out[field] = lower[alias.lower()]
                break
    return out


def otlp_resources(source: Source, top_key: str, signal: str,
                   walk: Callable[[Any, int | None, str], Iterator[Any]]) -> Iterator[Any]:
    """Every resource of every OTLP export request in ``source`` (one document, or JSON Lines).

    ``walk(resource, line, path)`` yields the rows of one resource; a malformed resource
    becomes an IngestError and the next one goes on.
    """
    for line, doc in json_records(source):
        if isinstance(doc, IngestError):
            yield doc
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get(top_key, 0), (list, type(None))):
            if line is None:
                raise InputError(f"{source.name}: not an OTLP {signal} document (no {top_key} list)",
                                 hint="pass --format to choose another format")
            yield IngestError(line, f"not an OTLP export request (no {top_key} list)")
            continue
        for i, resource in enumerate(as_list(doc.get(top_key), top_key)):
            yield from guarded_walk(walk(resource, line, f"{top_key}[{i}]"), line, f"{top_key}[{i}]")
