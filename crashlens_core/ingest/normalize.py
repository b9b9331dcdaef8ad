"""Normalization shared by every parser: timestamps, levels, field aliases, ids.

The SQL fast paths in ``store.linesql`` implement the same rules in DuckDB; both read the
field aliases from ``models.LOG_ALIASES``.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Iterator

from ..canonical import canonical_digest, json_default  # re-exported: the parsers take them from here
from ..models import LEVEL_WORDS, LOG_ALIASES

__all__ = [
    "LOG_ALIASES",
    "parse_ts",
    "parse_iso_time",
    "naive_times_in",
    "epoch_to_dt",
    "normalize_level",
    "unwrap_docker",
    "canonical_digest",
    "pod_to_service",
    "json_default",
]

# syslog severities 0..7 and OTLP severity numbers 1..24
_SYSLOG_SEVERITY = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")


def normalize_level(value: Any, *, otlp_number: bool = False) -> str | None:
    """Map a level in any common dialect onto TRACE/DEBUG/INFO/WARN/ERROR/FATAL.

    >>> normalize_level("warning"), normalize_level("Information"), normalize_level(17, otlp_number=True)
    ('WARN', 'INFO', 'ERROR')
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        n = int(value)
        if otlp_number:  # OTLP: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL
            return ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")[min(max(n - 1, 0) // 4, 5)] if n > 0 else None
        if 10 <= n <= 60:  # pino / bunyan
            return ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")[n // 10 - 1]
        return _SYSLOG_SEVERITY[n] if 0 <= n < 8 else None
    text = str(value).strip().upper()
    if text.isdigit():
        return normalize_level(int(text), otlp_number=otlp_number)
    if len(text) == 1:  # klog / glog single-letter levels
        return {"I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL", "D": "DEBUG"}.get(text)
    return LEVEL_WORDS.get(text) or LEVEL_WORDS.get(text.split()[0] if text.split() else "")


_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?$"
)
_FORMATS = ("%d/%b/%Y:%H:%M:%S %z", "%a %b %d %H:%M:%S %Y", "%b %d %H:%M:%S %Y", "%Y/%m/%d %H:%M:%S", "%d.%m.%Y %H:%M:%S")


# The zone of timestamps written without an offset, while a file is parsed (None: UTC).
_NAIVE_TZ: ContextVar[tzinfo | None] = ContextVar("crashlens_naive_tz", default=None)
@contextmanager
def naive_times_in(zone: tzinfo | None) -> Iterator[None]:
    """While parsing, read timestamps that carry no offset as times in ``zone`` (stored as UTC)."""
    token = _NAIVE_TZ.set(None if zone is timezone.utc else zone)
    try:
        yield
    finally:
        _NAIVE_TZ.reset(token)


def _from_naive(dt: datetime) -> datetime:
    zone = _NAIVE_TZ.get()
    # fold=1: a local time that occurs twice (the hour repeated when DST ends) is read as the
    # later one, as DuckDB's cast does, so SQL and Python parsers agree.
    return dt if zone is None else dt.replace(tzinfo=zone, fold=1).astimezone(timezone.utc).replace(tzinfo=None)


def epoch_to_dt(value: float) -> datetime:
    """Epoch in s, ms, µs or ns (told apart by magnitude) → naive UTC datetime."""
    v = float(value)
    magnitude = abs(v)
    if magnitude >= 1e17:
        v /= 1e9
    elif magnitude >= 1e14:
        v /= 1e6
    elif magnitude >= 1e11:
        v /= 1e3
    return datetime.fromtimestamp(v, tz=timezone.utc).replace(tzinfo=None)


def parse_ts(value: Any, default_year: int | None = None) -> datetime | None:
    """Parse ISO 8601, epoch numbers and a few classic log formats; None when unparseable.

    >>> parse_ts("2024-05-14T10:03:21,5+02:00")
    datetime.datetime(2024, 5, 14, 8, 3, 21, 500000)
    >>> parse_ts(1715680000123)
    datetime.datetime(2024, 5, 14, 9, 46, 40, 123000)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, (int, float)):
        try:
            return epoch_to_dt(value)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    if not text:
        return None
    m = _ISO_RE.match(text)
    if m:
        year, month, day, hour, minute, second, frac, tz = m.groups()
        try:
            dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                          int((frac or "0").ljust(6, "0")[:6]))
        except ValueError:
            return None
        if tz and tz not in ("Z", "z", "UTC"):
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
            dt -= timedelta(minutes=offset)
            return dt
        return dt if tz else _from_naive(dt)
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return parse_ts(float(text))
    for fmt in _FORMATS:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else _from_naive(dt)
    if default_year is not None:
        try:  # syslog RFC 3164 has no year
            return _from_naive(datetime.strptime(f"{text} {default_year}", "%b %d %H:%M:%S %Y"))
        except ValueError:
            return None
    return None



def parse_iso_time(text: str | None, what: str = "") -> datetime | None:
    """A time a person typed (a CLI flag, a request field, a page's box), or None when empty;
    anything unreadable is an ``InputError`` naming ``what`` when given.

    >>> parse_iso_time("2024-05-14T10:00:00Z")
    datetime.datetime(2024, 5, 14, 10, 0)
    >>> parse_iso_time("soon", "from")
    Traceback (most recent call last):
    crashlens_core.errors.InputError: from: not an ISO 8601 time: 'soon'
    """
    from ..errors import InputError

    if not text or not text.strip():
        return None
    ts = parse_ts(text.strip())
    if ts is None:
        raise InputError(f"{what + ': ' if what else ''}not an ISO 8601 time: {text.strip()!r}",
                         hint="e.g. 2024-05-14T10:00:00Z (naive times are UTC)")
    return ts

def unwrap_docker(message: str) -> tuple[str, dict[str, Any]]:
    """A Docker json-file line carried inside another format (e.g. a CSV column) → its text.

    >>> unwrap_docker('{"log":"boom\\\\n","stream":"stderr","time":"2024-01-01T00:00:00Z"}')
    ('boom', {'stream': 'stderr'})
    """
    if not message.startswith('{"log"'):
        return message, {}
    try:
        obj = json.loads(message)
    except ValueError:
        return message, {}
    if not isinstance(obj, dict) or not isinstance(obj.get("log"), str):
        return message, {}
    extra = {"stream": obj["stream"]} if "stream" in obj else {}
    return obj["log"].rstrip("\r\n"), extra


# Deployment pods end in -<pod-template-hash>-<5 chars>; the hash uses Kubernetes' safe
# alphabet (not only hex), older clusters used hex: accept both.
_POD_SUFFIX = re.compile(r"-[0-9a-z]{5,10}-[0-9a-z]{5}$")


def pod_to_service(pod: str) -> str:
    """A Kubernetes pod name → its workload (strips the ReplicaSet hash and pod suffix).

    >>> pod_to_service("ts-travel-service-64469b5b48-5rjvb"), pod_to_service("api-7bx8zk9w4-q2xkz")
    ('ts-travel-service', 'api')
    """
    return _POD_SUFFIX.sub("", pod)
