"""The span row every trace format is mapped onto, and the rules of its fields.

This module owns ``SPAN_ROW_KEYS`` and how a parser fills them: ids are lower-case hex
where they are hex (OTLP base64 ids are decoded: ``otlp_id``), roots have ``parent_id``
None ("", "root", "null" and all-zero ids count as none), ``status`` is ok|error|unset,
``kind`` is server|client|internal|producer|consumer or None, times are naive UTC and
``end_ts >= start_ts`` (``ends_before_start`` is the reject; a span with no end or duration
gets ``end_ts = start_ts`` and ``attributes["duration_unknown"]``). Plus the per-item guard
(``guarded``) that turns a malformed item into an ``IngestError`` and lets parsing go on.
The format parsers (``spans``, ``otlp_spans``, ``jaeger_spans``, ``zipkin_spans``) and the
OTLP logs parser build on it.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any, Callable, TypeVar

from ..models import IngestError
from .records import MALFORMED

__all__ = [
    "SPAN_ROW_KEYS", "MAX_EVENTS", "MAX_INLINE_JSON", "norm_key", "norm_id", "otlp_id", "status_of", "span_kind",
    "iso_or_none", "span_row", "guarded", "ends_before_start", "trimmed_into",
]

SPAN_ROW_KEYS = ("trace_id", "span_id", "parent_id", "service", "name", "start_ts", "end_ts", "status", "kind",
                 "args_digest", "result_digest", "attributes", "incident_id", "line")
MAX_EVENTS = 20  # events / logs / annotations kept per span
MAX_INLINE_JSON = 4 << 10  # args/result kept in attributes only below this size

_HEX = re.compile(r"[0-9a-fA-F]+")
_KINDS = ("internal", "server", "client", "producer", "consumer")  # OTLP SpanKind 1..5
_NO_PARENT = {"", "root", "null", "none", "nil", "-1"}  # -1: SkyWalking's ParentSpan of a root
_ERROR_WORDS = {"error", "err", "failed", "fail", "failure", "exception", "timeout", "timedout", "aborted",
                "crashed", "fatal", "statuscodeerror"}
_OK_WORDS = {"ok", "success", "succeeded", "successful", "completed", "complete", "done", "passed", "pass",
             "statuscodeok"}


def norm_key(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())



def norm_id(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.lower() if _HEX.fullmatch(text) else text


def otlp_id(value: Any) -> str | None:
    """OTLP ids are hex in OTLP JSON; some exporters write protobuf-JSON base64 instead."""
    text = norm_id(value)
    if text is None or _HEX.fullmatch(text):
        return text
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text
    return raw.hex() if len(raw) in (8, 16) else text


def _parent(value: str | None) -> str | None:
    if value is None or value.lower() in _NO_PARENT or (_HEX.fullmatch(value) and not value.strip("0")):
        return None
    return value


def _status(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "unset"
    word = norm_key(str(value))
    return "error" if word in _ERROR_WORDS else "ok" if word in _OK_WORDS else "unset"


_TRUE_WORDS = {"true", "1", "yes", "y", "t"}
_FALSE_WORDS = {"false", "0", "no", "n", "f"}
# SkyWalking span types, mapped onto OTLP kinds
_KIND_WORDS = {"entry": "server", "exit": "client", "local": "internal"}


def status_of(status: Any, error_flag: Any) -> str:
    """``status`` when it says something, else a boolean error flag (True/False, 1/0, yes/no)."""
    state = _status(status)
    if state != "unset" or error_flag in (None, ""):
        return state
    word = str(error_flag).strip().lower()
    return "error" if error_flag is True or word in _TRUE_WORDS else "ok" if error_flag is False or word in _FALSE_WORDS else state


def span_kind(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return _KINDS[value - 1] if 1 <= value <= 5 else None
    if not isinstance(value, str):
        return None
    word = value.strip().lower().removeprefix("span_kind_")
    if word.isdigit():
        return span_kind(int(word))
    return word if word in _KINDS else _KIND_WORDS.get(word)


def iso_or_none(convert: Callable[[Any], datetime], value: Any) -> str | None:
    """An event's time as ISO text for attributes; None when absent or unreadable."""
    try:
        return convert(value).isoformat() if value not in (None, "", 0, "0") else None
    except (ValueError, TypeError, OverflowError):
        return None


def span_row(*, trace_id: str, span_id: str, parent_id: str | None, service: Any, name: str, start: datetime,
         end: datetime | None, status: str, kind: str | None, attributes: dict[str, Any], line: int | None,
         args_digest: Any = None, result_digest: Any = None, incident_id: Any = None) -> dict[str, Any]:
    if end is None:
        end = start
        attributes["duration_unknown"] = True
    return {
        "trace_id": trace_id, "span_id": span_id, "parent_id": _parent(parent_id),
        "service": str(service) if service not in (None, "") else None, "name": str(name),
        "start_ts": start, "end_ts": end, "status": status, "kind": kind,
        "args_digest": str(args_digest) if args_digest else None,
        "result_digest": str(result_digest) if result_digest else None,
        "attributes": attributes, "incident_id": str(incident_id) if incident_id not in (None, "") else None,
        "line": line,
    }


_Built = TypeVar("_Built")


def guarded(build: Callable[..., _Built | IngestError], line: int | None, where: str,
            *args: Any) -> _Built | IngestError:
    """Run one item's builder; anything unexpected in the item becomes an IngestError."""
    try:
        return build(*args)
    except MALFORMED as exc:
        return IngestError(line, f"{where}: malformed ({type(exc).__name__}: {exc})")


def ends_before_start(line: int | None, where: str) -> IngestError:
    return IngestError(line, f"{where}: ends before it starts")


def trimmed_into(items: list[Any], attrs: dict[str, Any], key: str) -> None:
    if items:
        attrs[key] = items[:MAX_EVENTS]
        if len(items) > MAX_EVENTS:
            attrs[f"{key}_dropped"] = len(items) - MAX_EVENTS
