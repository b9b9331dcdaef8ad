"""OTLP/HTTP bodies: from the bytes a client posts to the OTLP JSON document file ingest reads.

The receiver does no mapping of its own. A protobuf body is decoded with ``opentelemetry-proto``
and turned into OTLP JSON as the OTLP specification writes it (camelCase keys, enums as
integers, trace and span ids as hex); a JSON body is taken as it is. The document then goes
through the same OTLP parsers as ``crashlens ingest logs|spans|metrics --format otlp`` (see
``serve.spool``), so a record pushed here and a record in a file land as the same row.

Bodies are capped before and after gzip: a small compressed body cannot expand past the cap.

>>> doc = decode_body("logs", b'{"resourceLogs": []}', "application/json", None, max_bytes=1024)
>>> doc
{'resourceLogs': []}
>>> encode_response("logs", 0, "", as_json=True)
b'{}'
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from ..errors import InputError

__all__ = ["SIGNALS", "TOP_KEYS", "KIND_OF", "BodyTooLarge", "decode_body", "encode_response", "count_items", "is_json", "request_class",
           "inflate_body"]

# The OTLP signal of a path (/v1/logs …) → the top-level key of its export request and the ingest kind.
SIGNALS = ("logs", "traces", "metrics")
TOP_KEYS = {"logs": "resourceLogs", "traces": "resourceSpans", "metrics": "resourceMetrics"}
KIND_OF = {"logs": "logs", "traces": "spans", "metrics": "metrics"}
# Id fields that protobuf's JSON mapping writes as base64 but OTLP JSON writes as hex.
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})
_REJECTED_FIELD = {"logs": "rejectedLogRecords", "traces": "rejectedSpans", "metrics": "rejectedDataPoints"}


class BodyTooLarge(InputError):
    """The body (or what it inflates to) is larger than the server accepts: HTTP 413."""


def is_json(content_type: str | None) -> bool:
    """OTLP/HTTP says protobuf unless the client says JSON."""
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def inflate_body(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """``body`` as sent under Content-Encoding ``encoding`` (identity, gzip, deflate), never more than ``max_bytes``."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "deflate"):
        raise InputError(f"unsupported Content-Encoding {encoding!r}", hint="send gzip or no compression")
    # wbits 32+15 reads gzip and zlib headers alike; max_length bounds what one body may become
    inflater = zlib.decompressobj(32 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise InputError(f"body is not valid {enc} data ({exc})", hint="compress the whole body, or drop Content-Encoding") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise BodyTooLarge(f"body inflates to more than {max_bytes:,} bytes", hint="send smaller export requests")
    if not inflater.eof:
        raise InputError(f"{enc} body ends early", hint="send the whole compressed body")
    return out


def _hex_ids(value: Any) -> Any:
    """Protobuf JSON writes bytes as base64; OTLP JSON writes trace and span ids as hex."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _ID_KEYS and isinstance(item, str):
                try:
                    item = base64.b64decode(item, validate=True).hex()
                except (binascii.Error, ValueError):
                    pass
            out[key] = _hex_ids(item)
        return out
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


def request_class(signal: str) -> Any:
    # imported here: protobuf and the generated classes load only when a protobuf body arrives
    if signal == "logs":
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

        return ExportLogsServiceRequest
    if signal == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        return ExportTraceServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    return ExportMetricsServiceRequest


def _response_class(signal: str) -> Any:
    if signal == "logs":
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse as cls
    elif signal == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse as cls
    else:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse as cls
    return cls


def decode_body(signal: str, body: bytes, content_type: str | None, content_encoding: str | None, *,
                max_bytes: int) -> dict[str, Any]:
    """The OTLP JSON export request in ``body`` (protobuf or JSON, maybe gzip), or InputError saying why not."""
    if signal not in SIGNALS:
        raise InputError(f"unknown OTLP signal {signal!r}", hint="POST to /v1/logs, /v1/traces or /v1/metrics")
    if len(body) > max_bytes:
        raise BodyTooLarge(f"body of {len(body):,} bytes is larger than {max_bytes:,}", hint="send smaller export requests")
    raw = inflate_body(body, content_encoding, max_bytes)
    top = TOP_KEYS[signal]
    if is_json(content_type):
        try:
            doc = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"body is not valid JSON ({getattr(exc, 'msg', exc)})", hint="send an OTLP JSON export request") from None
        if not isinstance(doc, dict) or not isinstance(doc.get(top, []), list):
            raise InputError(f"not an OTLP {signal} export request (no {top} list)", hint=f"POST a {top} document to /v1/{signal}")
        return {top: doc.get(top) or []}
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype not in ("", "application/x-protobuf", "application/protobuf", "application/octet-stream"):
        raise InputError(f"unsupported Content-Type {content_type!r}", hint="send application/x-protobuf or application/json")
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError

    message = request_class(signal)()
    try:
        message.ParseFromString(raw)
    except (DecodeError, ValueError) as exc:
        raise InputError(f"body is not a protobuf OTLP {signal} export request ({exc})",
                         hint="send application/x-protobuf bodies from an OTLP exporter, or JSON with Content-Type application/json") from None
    doc = _hex_ids(MessageToDict(message, use_integers_for_enums=True))
    return {top: doc.get(top) or []}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def count_items(signal: str, doc: dict[str, Any]) -> int:
    """Log records, spans or metric data points in an export request (what OTLP counts as rejected).

    Malformed parts count as nothing here; the ingest parsers report them, item by item.
    """
    n = 0
    for res in _listed(doc.get(TOP_KEYS[signal])):
        if not isinstance(res, dict):
            continue
        if signal == "logs":
            n += sum(len(_listed(s.get("logRecords"))) for s in _listed(res.get("scopeLogs")) if isinstance(s, dict))
        elif signal == "traces":
            n += sum(len(_listed(s.get("spans"))) for s in _listed(res.get("scopeSpans")) if isinstance(s, dict))
        else:
            for scope in _listed(res.get("scopeMetrics")):
                for metric in _listed(scope.get("metrics")) if isinstance(scope, dict) else []:
                    for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
                        if isinstance(metric, dict) and isinstance(metric.get(kind), dict):
                            n += len(_listed(metric[kind].get("dataPoints")))
    return n


def encode_response(signal: str, rejected: int, message: str, *, as_json: bool) -> bytes:
    """The Export…ServiceResponse, with ``partialSuccess`` when items were rejected, in the request's encoding."""
    if as_json:
        if not rejected and not message:
            return b"{}"
        return json.dumps({"partialSuccess": {_REJECTED_FIELD[signal]: str(rejected), "errorMessage": message}}).encode()
    response = _response_class(signal)()
    if rejected or message:
        part = response.partial_success
        setattr(part, {"logs": "rejected_log_records", "traces": "rejected_spans", "metrics": "rejected_data_points"}[signal], rejected)
        part.error_message = message
    return response.SerializeToString()
