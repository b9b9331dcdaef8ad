"""Log formats: detection from a file's head, and the parsers that run in Python.

The high-volume formats (``jsonl``, ``text``, ``docker``) are parsed in DuckDB by
``store.linesql``; this module only recognises them. The rest are parsed here into row
dicts with the keys of ``LOG_ROW_KEYS``: logfmt, syslog (RFC 3164 and 5424), CSV with a
column mapping, and OTLP logs JSON.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from typing import Any, Iterator

from ..errors import InputError
from ..models import LOG_ALIASES, IngestError
from .normalize import normalize_level, parse_ts, pod_to_service, unwrap_docker
from .records import MALFORMED, ns_to_dt, otlp_attributes, otlp_resources, otlp_scopes, otlp_value, resolve_mapping
from .source import Source
from .spanrow import guarded, otlp_id

__all__ = ["LOG_FORMATS", "SQL_LOG_FORMATS", "LOG_ROW_KEYS", "detect_log_format", "parse_logs", "make_row"]

LOG_FORMATS = ("jsonl", "logfmt", "syslog", "text", "docker", "csv", "otlp", "access")
SQL_LOG_FORMATS = ("jsonl", "text", "docker", "access")
LOG_ROW_KEYS = ("ts", "level", "service", "host", "message", "trace_id", "span_id", "attributes", "line")

_SYSLOG_RE = re.compile(r"^<\d{1,3}>|^[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \S+ [^:\[\s]+(?:\[\d+\])?: ")
# nginx / Apache Common and Combined Log Format: client ident user [time] "request" status bytes ...
_ACCESS_RE = re.compile(r'^\S+ \S+ \S+ \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "[^"]*" \d{3} (?:\d+|-)')
_LOGFMT_PAIR = re.compile(r'([A-Za-z_][\w.\-/@]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_CSV_FIELDS = tuple(LOG_ALIASES)
# logfmt quotes values as Go's strconv.Quote does (go-logfmt, logrus): backslash escapes.
_LOGFMT_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_BACKSLASH_ESCAPE = re.compile(r"\\(.)", re.S)


def _unescape(text: str, table: dict[str, str]) -> str:
    """Backslash escapes resolved in one left-to-right pass; an escape not in ``table`` stays as written.

    One pass matters: chained ``str.replace`` calls re-read what an earlier call produced, so
    ``C:\\\\new`` became ``C:`` + newline + ``ew``.

    >>> _unescape(r'C:\\\\new \\"q\\" \\x', _LOGFMT_ESCAPES)
    'C:\\\\new "q" \\\\x'
    """
    return _BACKSLASH_ESCAPE.sub(lambda m: table.get(m.group(1), m.group(0)), text)


def _first_lines(source: Source, n: int = 20) -> list[str]:
    lines = [ln for ln in source.head().splitlines() if ln.strip()]
    return lines[:n]


def detect_log_format(source: Source) -> str:
    """Guess a log file's format from its first lines.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.log"; _ = p.write_text('ts=1 level=info msg="hi there"\\n')
    >>> detect_log_format(Source.from_path(p))
    'logfmt'
    """
    lines = _first_lines(source)
    if not lines:
        return "text"
    first = lines[0].lstrip("\ufeff").strip()
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            obj = None
        if obj is None:  # a pretty-printed document
            return "otlp" if '"resourceLogs"' in source.head() else "jsonl"
        if isinstance(obj, dict):
            if "resourceLogs" in obj:
                return "otlp"
            if "log" in obj and "time" in obj and set(obj) <= {"log", "stream", "time", "attrs"}:
                return "docker"
        return "jsonl"
    if _SYSLOG_RE.match(first):
        return "syslog"
    if _ACCESS_RE.match(first):
        return "access"
    pairs = _LOGFMT_PAIR.findall(first)
    if len(pairs) >= 3 and len("".join(k + "=" + v for k, v in pairs)) >= 0.6 * len(first.replace(" ", "")):
        return "logfmt"
    if len(lines) >= 2 and "," in first:
        try:
            dialect = csv.Sniffer().sniff("\n".join(lines[:10]), delimiters=",;\t")
            header = next(csv.reader([first], dialect))
            if csv.Sniffer().has_header("\n".join(lines[:10])) or any(h.strip().lower() in _CSV_FIELDS for h in header):
                return "csv"
        except csv.Error:
            pass
    return "text"


# ---------------------------------------------------------------------------- rows


def make_row(line: int | None, ts: datetime | None, message: str, *, level: Any = None, service: Any = None,
             host: Any = None, trace_id: Any = None, span_id: Any = None, attributes: dict | None = None) -> dict[str, Any]:
    """One log row of the shape every log parser yields (``LOG_ROW_KEYS``)."""
    return {
        "ts": ts, "level": normalize_level(level), "service": service or None, "host": host or None,
        "message": message, "trace_id": (str(trace_id).lower() or None) if trace_id else None,
        "span_id": (str(span_id).lower() or None) if span_id else None, "attributes": attributes or {}, "line": line,
    }


def _pick(record: dict[str, Any], field: str) -> Any:
    for key in LOG_ALIASES[field]:
        if key in record and record[key] not in (None, ""):
            return record.pop(key)
    return None


def _parse_logfmt(source: Source) -> Iterator[dict | IngestError]:
    for line_no, line in source.lines():
        if not line.strip():
            continue
        pairs = _LOGFMT_PAIR.findall(line)
        if not pairs:
            yield IngestError(line_no, "no key=value pairs")
            continue
        rec: dict[str, Any] = {}
        for key, value in pairs:
            if value.startswith('"'):
                value = _unescape(value[1:-1], _LOGFMT_ESCAPES)
            rec[key] = value
        raw_ts = _pick(rec, "ts")
        ts = parse_ts(raw_ts)
        if ts is None:
            yield IngestError(line_no, "no timestamp" if raw_ts is None else f"unparseable timestamp {str(raw_ts)[:40]}")
            continue
        message = _pick(rec, "message")
        yield make_row(line_no, ts, message if message is not None else line, level=_pick(rec, "level"),
                   service=_pick(rec, "service"), host=_pick(rec, "host"), trace_id=_pick(rec, "trace_id"),
                   span_id=_pick(rec, "span_id"), attributes=rec)


_RFC5424 = re.compile(r"^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?$", re.S)
# The <PRI> is optional: files written by syslog daemons (/var/log/messages, auth.log) drop it.
_RFC3164 = re.compile(r"^(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (\S+) +(?:-- )?([^:\[\s]+)(?:\[(\d+)\])?:? ?(.*)$", re.S)
# RFC 5424 §6.3: SD-ELEMENT = "[" SD-ID *(SP PARAM-NAME="PARAM-VALUE") "]"; names are printable
# ASCII without "=", space, "]" and '"'. Inside a value only '"', "\\" and "]" are escaped (§6.3.3).
_SD_ELEMENT = re.compile(r'\[([^\s=\]"]+)((?:\s+[^\s=\]"]+="(?:[^"\\]|\\.)*")*)\s*\]', re.S)
_SD_PARAM = re.compile(r'([^\s=\]"]+)="((?:[^"\\]|\\.)*)"', re.S)
_SD_ESCAPES = {'"': '"', "\\": "\\", "]": "]"}


def _structured_data(sd: str) -> dict[str, str]:
    """RFC 5424 structured data → ``{"sdid.param": value}``, values unescaped.

    The SD-ID stays in the key: two elements may carry the same parameter name
    (``[origin ip=…][meta ip=…]``) and neither may overwrite the other.

    >>> _structured_data(r'[origin ip="10.0.0.1"][meta ip="10.0.0.2" app="App\\"x\\" [1\\]"]')
    {'origin.ip': '10.0.0.1', 'meta.ip': '10.0.0.2', 'meta.app': 'App"x" [1]'}
    """
    out: dict[str, str] = {}
    for element in _SD_ELEMENT.finditer(sd):
        for name, value in _SD_PARAM.findall(element.group(2)):
            out[f"{element.group(1)}.{name}"] = _unescape(value, _SD_ESCAPES)
    return out


def _parse_syslog(source: Source) -> Iterator[dict | IngestError]:
    # RFC 3164 has no year: the file's, unless that puts a line after the file was last written
    # (a December line in a file written in January is last year's)
    written = datetime.fromtimestamp(source.path.stat().st_mtime)
    year = written.year
    for line_no, line in source.lines():
        if not line.strip():
            continue
        m = _RFC5424.match(line)
        if m:
            pri, ts_txt, host, app, procid, msgid, sd, msg = m.groups()
            ts = parse_ts(ts_txt)
            if ts is None:
                yield IngestError(line_no, f"unparseable RFC 5424 timestamp {ts_txt[:40]}")
                continue
            attrs: dict[str, Any] = {"facility": int(pri) // 8}
            if procid != "-":
                attrs["procid"] = procid
            if msgid != "-":
                attrs["msgid"] = msgid
            if sd != "-":
                attrs.update(_structured_data(sd))
            yield make_row(line_no, ts, (msg or "").lstrip("\ufeff"), level=int(pri) % 8,
                       service=None if app == "-" else app, host=None if host == "-" else host, attributes=attrs)
            continue
        m = _RFC3164.match(line)
        if m:
            pri, ts_txt, host, tag, pid, msg = m.groups()
            ts = parse_ts(re.sub(r"\s+", " ", ts_txt), default_year=year)
            if ts is None:
                yield IngestError(line_no, f"unparseable syslog timestamp {ts_txt}")
                continue
            if ts > written + timedelta(days=2):
                ts = parse_ts(re.sub(r"\s+", " ", ts_txt), default_year=year - 1) or ts
            attrs = {"facility": int(pri) // 8} if pri else {}
            if pid:
                attrs["pid"] = int(pid)
            yield make_row(line_no, ts, msg, level=int(pri) % 8 if pri else None, service=tag, host=host, attributes=attrs)
            continue
        yield IngestError(line_no, "not an RFC 3164 or RFC 5424 syslog line")


def _parse_csv(source: Source, mapping: dict[str, str] | None) -> Iterator[dict | IngestError]:
    fields = ("ts", "level", "service", "host", "message", "trace_id", "span_id")
    with source.open_binary() as fh:
        # utf-8-sig: Excel and other Windows tools start a CSV with a byte-order mark, which must not
        # become part of the first column's name
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        cols = resolve_mapping(header, mapping, fields, LOG_ALIASES, source.name)
        if "ts" not in cols:
            raise InputError(f"{source.name}: no timestamp column found", hint="name it with --map COLUMN=ts")
        if "message" not in cols:
            raise InputError(f"{source.name}: no message column found", hint="name it with --map COLUMN=message")
        index = {h: i for i, h in enumerate(header)}
        pod_fields = {f for f, c in cols.items() if c.startswith("pod:")}
        plain = {f: (c.split(":", 1)[1] if f in pod_fields else c) for f, c in cols.items()}
        used = set(plain.values())
        line_no = 1
        for record in reader:
            start_line = line_no + 1
            line_no = reader.line_num
            if not record or all(not v.strip() for v in record):
                continue
            if len(record) != len(header):
                yield IngestError(start_line, f"expected {len(header)} columns, found {len(record)}")
                continue
            value = {f: record[index[c]] for f, c in plain.items()}
            ts = parse_ts(value["ts"])
            if ts is None:
                yield IngestError(start_line, f"unparseable timestamp {value['ts'][:40]!r}")
                continue
            message, extra = unwrap_docker(value["message"])
            attrs = {h: record[i] for h, i in index.items() if h not in used and record[i] != ""}
            attrs.update(extra)
            for f in pod_fields:
                value[f] = pod_to_service(value[f])
            # a row without a level is completed from its message when it is stored (linesql.fill_from_message)
            yield make_row(start_line, ts, message, level=value.get("level"), service=value.get("service"),
                       host=value.get("host"), trace_id=value.get("trace_id"), span_id=value.get("span_id"), attributes=attrs)


def _parse_otlp(source: Source) -> Iterator[dict | IngestError]:
    # One walk per resource (otlp_resources): a malformed resourceLogs entry is reported by its
    # path and the other resources load. Ids and times are read as the span parser reads them
    # (otlp_id, ns_to_dt), so a log record joins its span and keeps its microseconds.
    return otlp_resources(source, "resourceLogs", "logs", _otlp_log_resource)


def _otlp_log_resource(res: Any, line: int | None, path: str) -> Iterator[dict | IngestError]:
    for scope in otlp_scopes(res, line, path, "Logs", "logRecords"):
        if isinstance(scope, IngestError):
            yield scope
            continue
        res_attrs, _, records, scope_path = scope
        for l_i, rec in enumerate(records):
            where = f"logRecord {l_i} of {scope_path}"
            yield guarded(_otlp_log, line, where, rec, res_attrs, line, where)


def _otlp_log(rec: Any, res_attrs: dict[str, Any], line: int | None, where: str) -> dict | IngestError:
    if not isinstance(rec, dict):
        return IngestError(line, f"{where}: not an object")
    # 0 means "unknown" in OTLP: then the collector's observed time is the record's time
    ts_raw = next((rec[k] for k in ("timeUnixNano", "observedTimeUnixNano") if rec.get(k) not in (None, "", "0", 0)), None)
    try:
        ts = ns_to_dt(ts_raw) if ts_raw is not None else None
    except MALFORMED:
        ts = None
    if ts is None:
        return IngestError(line, f"{where}: missing or bad timeUnixNano")
    body = otlp_value(rec.get("body") or {})
    attrs = {k: v for k, v in res_attrs.items() if k not in ("service.name", "host.name")}
    attrs.update(otlp_attributes(rec.get("attributes")))
    level = rec.get("severityText") or normalize_level(rec.get("severityNumber"), otlp_number=True)
    trace_id, span_id = otlp_id(rec.get("traceId")), otlp_id(rec.get("spanId"))
    return make_row(line, ts, body if isinstance(body, str) else json.dumps(body, sort_keys=True), level=level,
                service=res_attrs.get("service.name"), host=res_attrs.get("host.name"),
                trace_id=trace_id if trace_id and trace_id.strip("0") else None,  # all zeros: no trace (OTLP)
                span_id=span_id if span_id and span_id.strip("0") else None, attributes=attrs)


def parse_logs(source: Source, fmt: str, mapping: dict[str, str] | None = None) -> Iterator[dict | IngestError]:
    """Rows (dicts with ``LOG_ROW_KEYS``) and rejects for the formats parsed in Python."""
    if fmt == "logfmt":
        return _parse_logfmt(source)
    if fmt == "syslog":
        return _parse_syslog(source)
    if fmt == "csv":
        return _parse_csv(source, mapping)
    if fmt == "otlp":
        return _parse_otlp(source)
    raise ValueError(f"{fmt} is parsed in SQL, not here")
