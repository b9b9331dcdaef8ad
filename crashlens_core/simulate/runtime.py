"""The in-process recorder the simulator installs into the sample shop.

Owns the simulated clock, the tracer (spans with parent/child links, exception
events, OpenTelemetry ``code.*`` attributes), the logging handler that turns the
shop's standard ``logging`` calls into structured records, and the up/down
counter meter. Everything is stamped with simulated time in integer
microseconds, so no wall-clock value can leak into an output file.
"""

from __future__ import annotations

import logging
import random
import sys
import traceback
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable, Literal, Mapping

__all__ = ["SimClock", "SpanRecord", "Tracer", "LogCapture", "LogEntry", "Meter", "exception_type"]

# Source files whose frames are plumbing, not the code that issued a call: a
# CLIENT span's code.* attributes name the first frame outside them.
_PLUMBING_FILES = ("/shop/telemetry.py", "/shop/db.py")


class SimClock:
    """Simulated time in integer microseconds since the epoch."""

    __slots__ = ("now_us",)

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def now_ms(self) -> float:
        return self.now_us / 1000.0

    def sleep_ms(self, ms: float) -> None:
        # Waiting is free in simulated time: the clock just moves on.
        self.now_us += int(round(ms * 1000.0))


@dataclass(slots=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    host: str
    version: str
    kind: str
    start_us: int
    end_us: int = 0
    status: str = "ok"
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


def exception_type(exc: BaseException, scrub: Callable[[str], str]) -> str:
    """The exception's type as the last traceback line names it (module-qualified)."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return scrub(f"{cls.__module__}.{cls.__qualname__}")


class _ActiveSpan:
    """The handle the shop gets from telemetry.span(): a context manager."""

    __slots__ = ("_tracer", "record", "_recorded")

    def __init__(self, tracer: "Tracer", record: SpanRecord) -> None:
        self._tracer = tracer
        self.record = record
        self._recorded: list[BaseException] = []

    def __enter__(self) -> "_ActiveSpan":
        tracer = self._tracer
        tracer._stack.append(self)
        # Every unit of work costs a little CPU; without it nested spans would
        # start and end on the same microsecond.
        tracer.clock.now_us += tracer._cpu_us()
        self.record.start_us = tracer.clock.now_us
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        tracer = self._tracer
        if exc is not None:
            self.record_exception(exc)
        tracer.clock.now_us += tracer._cpu_us()
        self.record.end_us = tracer.clock.now_us
        tracer._stack.pop()
        tracer.spans.append(self.record)
        if self.record.parent_id is None:
            tracer.last_trace_id = self.record.trace_id
        return False

    def set_attribute(self, key: str, value: Any) -> None:
        self.record.attributes[key] = value

    def record_exception(self, exc: BaseException) -> None:
        # OpenTelemetry semantics: every span the exception leaves records it once.
        if any(seen is exc for seen in self._recorded):
            return
        self._recorded.append(exc)
        tracer = self._tracer
        type_name = exception_type(exc, tracer.scrub)
        self.record.events.append({
            "name": "exception",
            "time_us": tracer.clock.now_us,
            "attributes": {
                "exception.type": type_name,
                "exception.message": str(exc),
                "exception.stacktrace": tracer.format_exception(exc),
            },
        })
        self.record.status = "error"
        self.record.status_message = f"{type_name.rsplit('.', 1)[-1]}: {exc}"


class Tracer:
    """Records spans; the driver sets ``host`` and ``version`` before each request."""

    def __init__(self, clock: SimClock, rng: random.Random, scrub: Callable[[str], str],
                 roots: Callable[[], tuple[str, ...]]) -> None:
        self.clock = clock
        self.scrub = scrub
        self._roots = roots
        self._rng = rng
        self._stack: list[_ActiveSpan] = []
        self.spans: list[SpanRecord] = []
        self.host = ""
        self.version = ""
        self.last_trace_id = ""

    def _cpu_us(self) -> int:
        return 20 + int(self._rng.random() * 180)

    def new_id(self, bits: int) -> str:
        value = self._rng.getrandbits(bits) or 1
        return format(value, "032x" if bits == 128 else "016x")

    @property
    def current(self) -> SpanRecord | None:
        return self._stack[-1].record if self._stack else None

    def span(self, name: str, service: str | None = None, kind: str = "INTERNAL",
             attributes: Mapping[str, Any] | None = None) -> _ActiveSpan:
        parent = self._stack[-1].record if self._stack else None
        attrs = dict(attributes) if attributes else {}
        if kind == "CLIENT":
            attrs.update(self._caller_code())
        record = SpanRecord(
            trace_id=parent.trace_id if parent else self.new_id(128),
            span_id=self.new_id(64),
            parent_id=parent.span_id if parent else None,
            name=name,
            service=service or (parent.service if parent else "shop"),
            host=self.host,
            version=self.version,
            kind=kind,
            start_us=self.clock.now_us,
            attributes=attrs,
        )
        return _ActiveSpan(self, record)

    def _caller_code(self) -> dict[str, Any]:
        """OpenTelemetry code.* attributes of the shop frame that issued the call."""
        roots = self._roots()
        frame: FrameType | None = sys._getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(roots) and not filename.endswith(_PLUMBING_FILES):
                return {
                    "code.filepath": self.scrub(filename),
                    "code.lineno": frame.f_lineno,
                    "code.function": frame.f_code.co_name,
                }
            frame = frame.f_back
        return {}

    def format_exception(self, exc: BaseException) -> str:
        text = "".join(traceback.format_exception(exc)).rstrip("\n")
        return self.scrub(text)


# Attributes every LogRecord has; anything else on a record came in through extra=.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


@dataclass(slots=True)
class LogEntry:
    ts_us: int
    seq: int
    level: str
    service: str
    host: str
    version: str
    logger: str
    message: str
    trace_id: str
    span_id: str
    extra: dict[str, Any]
    exc_type: str | None
    traceback: str | None


class LogCapture(logging.Handler):
    """Turns the shop's log records into LogEntry rows stamped with simulated time."""

    def __init__(self, tracer: Tracer) -> None:
        super().__init__(level=logging.DEBUG)
        self._tracer = tracer
        self.entries: list[LogEntry] = []

    def emit(self, record: logging.LogRecord) -> None:
        tracer = self._tracer
        span = tracer.current
        exc_type = tb_text = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            exc_type = exception_type(exc, tracer.scrub)
            tb_text = tracer.format_exception(exc)
        extra = {key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRS}
        self.entries.append(LogEntry(
            ts_us=tracer.clock.now_us,
            seq=len(self.entries),
            level=record.levelname,
            service=span.service if span else "shop",
            host=tracer.host,
            version=tracer.version,
            logger=tracer.scrub(record.name),
            message=record.getMessage(),
            trace_id=span.trace_id if span else "",
            span_id=span.span_id if span else "",
            extra=extra,
            exc_type=exc_type,
            traceback=tb_text,
        ))


class Meter:
    """Up/down counters, kept as (time, host, name, delta) events for later sampling."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self.events: list[tuple[int, str, str, float]] = []

    def add(self, name: str, delta: float) -> None:
        tracer = self._tracer
        self.events.append((tracer.clock.now_us, tracer.host, name, delta))
