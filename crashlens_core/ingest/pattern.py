"""User-defined line formats: a regular expression with named groups, or Grok patterns.

Logstash and Fluent Bit users already describe their formats this way, so CrashLens reads
the same three spellings:

- a Python regular expression with named groups: ``(?P<ts>\\S+ \\S+) (?P<level>\\w+) (?P<message>.*)``;
- Fluent Bit / Ruby (Oniguruma) named groups: ``(?<time>[^ ]*) (?<log>.*)`` (rewritten to Python's);
- Grok: ``%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{GREEDYDATA:message}``, with the core
  patterns of Logstash's ``grok-patterns`` file (``GROK_PATTERNS`` below) and ``%{NAME:field:type}``.

Group names map onto the canonical fields through ``models.LOG_ALIASES`` (``time``,
``@timestamp``, ``log.level``, ``msg``, ``log``… all work); every other named group is kept as
an attribute. A line that does not match belongs to the record before it, as Logstash's
``multiline`` codec configured with ``negate => true, what => previous`` treats it (stack
traces and wrapped messages), up to ``MAX_CONTINUATION_LINES``; a line that matches nothing
before the first record, or beyond that cap, is rejected with its line number.

>>> p = compile_pattern("%{TIMESTAMP_ISO8601:ts} \\\\[%{LOGLEVEL:level}\\\\] %{GREEDYDATA:message}")
>>> p.fields(p.regex.match("2024-05-14 10:00:00 [error] disk full"))
{'ts': '2024-05-14 10:00:00', 'level': 'error', 'message': 'disk full'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

from ..errors import InputError
from ..models import LOG_ALIASES, IngestError
from .normalize import parse_ts
from .source import Source

__all__ = ["GROK_PATTERNS", "MAX_CONTINUATION_LINES", "LinePattern", "compile_pattern", "parse_with_pattern"]

# Logstash's multiline codec stops joining after 500 lines (its max_lines default): the same
# bound keeps one unmatched stretch of a file from becoming a single giant record.
MAX_CONTINUATION_LINES = 500

# The core of Logstash's grok-patterns (legacy set), the names users copy from its docs.
GROK_PATTERNS: dict[str, str] = {
    "USERNAME": r"[a-zA-Z0-9._-]+",
    "USER": r"%{USERNAME}",
    "EMAILLOCALPART": r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    "EMAILADDRESS": r"%{EMAILLOCALPART}@%{HOSTNAME}",
    "INT": r"(?:[+-]?(?:[0-9]+))",
    "BASE10NUM": r"(?<![0-9.+-])(?>[+-]?(?:(?:[0-9]+(?:\.[0-9]+)?)|(?:\.[0-9]+)))",
    "NUMBER": r"(?:%{BASE10NUM})",
    "BASE16NUM": r"(?<![0-9A-Fa-f])(?:[+-]?(?:0x)?(?:[0-9A-Fa-f]+))",
    "POSINT": r"\b(?:[1-9][0-9]*)\b",
    "NONNEGINT": r"\b(?:[0-9]+)\b",
    "WORD": r"\b\w+\b",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "QUOTEDSTRING": r"(?>(?<!\\)(?>\"(?>\\.|[^\\\"]+)+\"|\"\"|(?>'(?>\\.|[^\\']+)+')|''|(?>`(?>\\.|[^\\`]+)+`)|``))",
    "QS": r"%{QUOTEDSTRING}",
    "UUID": r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}",
    "IPV4": r"(?<![0-9])(?:(?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])[.](?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])[.]"
            r"(?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])[.](?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]))(?![0-9])",
    # IPv6 simplified to its character set and shape: the full Logstash expression is a page long.
    "IPV6": r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?",
    "IP": r"(?:%{IPV6}|%{IPV4})",
    "HOSTNAME": r"\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*(?:\.?|\b)",
    "IPORHOST": r"(?:%{IP}|%{HOSTNAME})",
    "HOSTPORT": r"%{IPORHOST}:%{POSINT}",
    "UNIXPATH": r"(?:/[\w_%!$@:.,+~-]*)+",
    "WINPATH": r"(?>[A-Za-z]+:|\\)(?:\\[^\\?*]*)+",
    "PATH": r"(?:%{UNIXPATH}|%{WINPATH})",
    "URIPROTO": r"[A-Za-z][A-Za-z0-9+\-.]+",
    "URIHOST": r"%{IPORHOST}(?::%{POSINT})?",
    "URIPATH": r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+",
    "URIPARAM": r"\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*",
    "URIPATHPARAM": r"%{URIPATH}(?:%{URIPARAM})?",
    "URI": r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?",
    "MONTH": r"\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?|[Mm]a(?:y|i)?|"
             r"[Jj]un(?:e|i)?|[Jj]ul(?:y|i)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo](?:c|k)?t(?:ober)?|[Nn]ov(?:ember)?|"
             r"[Dd]e(?:c|z)(?:ember)?)\b",
    "MONTHNUM": r"(?:0?[1-9]|1[0-2])",
    "MONTHNUM2": r"(?:0[1-9]|1[0-2])",
    "MONTHDAY": r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])",
    "DAY": r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)",
    "YEAR": r"(?>\d\d){1,2}",
    "HOUR": r"(?:2[0123]|[01]?[0-9])",
    "MINUTE": r"(?:[0-5][0-9])",
    "SECOND": r"(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)",
    "TIME": r"(?<![0-9])%{HOUR}:%{MINUTE}(?::%{SECOND})(?![0-9])",
    "DATE_US": r"%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}",
    "DATE_EU": r"%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}",
    "ISO8601_TIMEZONE": r"(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))",
    "ISO8601_SECOND": r"(?:%{SECOND}|60)",
    "TIMESTAMP_ISO8601": r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?",
    "DATE": r"%{DATE_US}|%{DATE_EU}",
    "DATESTAMP": r"%{DATE}[- ]%{TIME}",
    "TZ": r"(?:[APMCE][SD]T|UTC)",
    "DATESTAMP_RFC822": r"%{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}",
    "DATESTAMP_OTHER": r"%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{TZ} %{YEAR}",
    "SYSLOGTIMESTAMP": r"%{MONTH} +%{MONTHDAY} %{TIME}",
    "PROG": r"[\x21-\x5a\x5c\x5e-\x7e]+",
    "SYSLOGPROG": r"%{PROG:program}(?:\[%{POSINT:pid}\])?",
    "SYSLOGHOST": r"%{IPORHOST}",
    "HTTPDATE": r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}",
    "HTTPDERROR_DATE": r"%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{YEAR}",
    "LOGLEVEL": r"(?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo(?:rmation)?|INFO(?:RMATION)?|"
                r"[Ww]arn(?:ing)?|WARN(?:ING)?|[Ee]rr(?:or)?|ERR(?:OR)?|[Cc]rit(?:ical)?|CRIT(?:ICAL)?|[Ff]atal|FATAL|"
                r"[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?)",
    "JAVACLASS": r"(?:[a-zA-Z$_][a-zA-Z$_0-9]*\.)*[a-zA-Z$_][a-zA-Z$_0-9]*",
    "JAVATHREAD": r"(?:[A-Z]{2}-Processor[\d]+)",
    "JAVAFILE": r"(?:[a-zA-Z$_0-9. -]+)",
    "COMMONAPACHELOG": r"%{IPORHOST:clientip} %{HTTPDUSER:ident} %{USER:auth} \[%{HTTPDATE:timestamp}\] "
                       r"\"(?:%{WORD:verb} %{NOTSPACE:request}(?: HTTP/%{NUMBER:httpversion})?|%{DATA:rawrequest})\" "
                       r"%{NUMBER:response} (?:%{NUMBER:bytes}|-)",
    "COMBINEDAPACHELOG": r"%{COMMONAPACHELOG} %{QS:referrer} %{QS:agent}",
    "HTTPDUSER": r"%{EMAILADDRESS}|%{USER}",
}

_GROK_REF = re.compile(r"%\{(\w+)(?::([\w@.\[\]\-]+))?(?::(int|float|string))?\}")
# Oniguruma/Ruby named groups (Fluent Bit parsers): (?<name>…) but not the look-behinds (?<= (?<!
_RUBY_GROUP = re.compile(r"\(\?<(?![=!])([A-Za-z_@][\w@.\-]*)>")
_MAX_DEPTH = 20  # grok definitions nest a few levels; a cycle would recurse forever
_CANONICAL = {alias: canon for canon, aliases in LOG_ALIASES.items() for alias in aliases}


@dataclass
class LinePattern:
    """A compiled user pattern: the regex and, per group, the field it fills."""

    source: str
    regex: re.Pattern[str]
    groups: dict[str, str] = field(default_factory=dict)  # regex group name -> user field name
    types: dict[str, str] = field(default_factory=dict)  # user field name -> int | float

    def fields(self, match: re.Match[str]) -> dict[str, Any]:
        """The named values of one match (unmatched optional groups left out), typed as asked."""
        out: dict[str, Any] = {}
        for group, value in match.groupdict().items():
            if value is None or group not in self.groups:
                continue
            name = self.groups[group]
            kind = self.types.get(name)
            try:
                out[name] = int(value) if kind == "int" else float(value) if kind == "float" else value
            except ValueError:
                out[name] = value
        return out


def compile_pattern(text: str) -> LinePattern:
    """Compile a regex with named groups or a Grok expression; InputError says what is wrong."""
    text = (text or "").strip("\r\n")
    if not text.strip():
        raise InputError("the log pattern is empty", hint="give a regular expression with named groups, or Grok such as "
                                                        "'%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{GREEDYDATA:message}'")
    groups: dict[str, str] = {}
    types: dict[str, str] = {}

    def name_group(user_name: str) -> str:
        # Python group names must be identifiers; Grok and Fluent Bit allow @, dots and brackets.
        user_name = user_name.replace("][", ".").strip("[]")
        group = f"g{len(groups)}"
        groups[group] = user_name
        return group

    def expand(pattern: str, depth: int) -> str:
        if depth > _MAX_DEPTH:
            raise InputError("Grok patterns nest too deeply (a pattern that refers to itself?)", hint="check the %{...} names")

        def sub(m: re.Match[str]) -> str:
            name, field_name, kind = m.groups()
            if name not in GROK_PATTERNS:
                raise InputError(f"unknown Grok pattern %{{{name}}}",
                                 hint="use a named regex group instead, e.g. (?P<field>...), or one of "
                                      + ", ".join(sorted(GROK_PATTERNS)[:12]) + ", …")
            body = expand(GROK_PATTERNS[name], depth + 1)
            if not field_name:
                return f"(?:{body})"
            if kind in ("int", "float"):
                types[field_name.replace("][", ".").strip("[]")] = kind
            return f"(?P<{name_group(field_name)}>{body})"

        return _GROK_REF.sub(sub, pattern)

    expanded = expand(text, 0)
    expanded = _RUBY_GROUP.sub(lambda m: f"(?P<{name_group(m.group(1))}>", expanded)
    # Python-style groups the user wrote themselves keep their names.
    try:
        regex = re.compile(expanded)
    except re.error as exc:
        raise InputError(f"the log pattern is not a valid regular expression: {exc}",
                         hint="Python syntax: named groups as (?P<name>...) or (?<name>...)") from None
    for group in regex.groupindex:
        groups.setdefault(group, group)
    if not groups:
        raise InputError("the log pattern has no named groups, so no field can be read",
                         hint="name at least the message: (?P<message>.*) or %{GREEDYDATA:message}")
    return LinePattern(source=text, regex=regex, groups=groups, types=types)


def _canonical(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a match's fields into canonical ones (first alias wins) and attributes."""
    canon: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    for name, value in fields.items():
        target = _CANONICAL.get(name, name)
        if target in LOG_ALIASES and target not in canon and value not in ("", None):
            canon[target] = value
        elif value not in ("", None):
            attrs[name] = value
    return canon, attrs


def parse_with_pattern(source: Source, pattern: LinePattern) -> Iterator[dict | IngestError]:
    """Rows (``logs.LOG_ROW_KEYS``) and rejects of a file read with a user pattern."""
    from .logs import make_row  # the row shape of every log parser (logs imports nothing of this module)

    # A timestamp without a year (syslog's) takes the file's, as the syslog parser does.
    year = datetime.fromtimestamp(source.path.stat().st_mtime).year
    current: dict[str, Any] | None = None
    extra = 0
    for line_no, line in source.lines():
        match = pattern.regex.match(line)
        if match is None:
            if not line.strip():
                continue
            if current is not None and extra < MAX_CONTINUATION_LINES:
                current["message"] += "\n" + line
                extra += 1
                continue
            why = ("more than %d lines follow the last matching line" % MAX_CONTINUATION_LINES if current is not None
                   else "does not match the log pattern (and no matching line before it)")
            yield IngestError(line_no, why)
            continue
        if current is not None:
            yield current
        current, extra = None, 0
        canon, attrs = _canonical(pattern.fields(match))
        raw_ts = canon.get("ts")
        ts = parse_ts(raw_ts, default_year=year) if raw_ts is not None else None
        if raw_ts is not None and ts is None:
            yield IngestError(line_no, f"unparseable timestamp {str(raw_ts)[:40]!r} in the pattern's time group")
            continue
        message = canon.get("message")
        current = make_row(line_no, ts, str(message) if message is not None else line, level=canon.get("level"),
                           service=canon.get("service"), host=canon.get("host"), trace_id=canon.get("trace_id"),
                           span_id=canon.get("span_id"), attributes=attrs)
    if current is not None:
        yield current
