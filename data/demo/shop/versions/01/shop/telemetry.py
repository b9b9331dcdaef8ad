"""Tracing, clock and metric hooks for the shop.

The process hosting the shop installs real implementations with install(); until
then spans are no-ops and the clock is the wall clock, so every module runs
anywhere (a test, a REPL, a batch job) without a tracing backend.
"""

from __future__ import annotations

import time
from typing import Any, Mapping


class _NoopSpan:
    def __enter__(self) -> "_NoopSpan":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def record_exception(self, exc: BaseException) -> None:
        pass


class _NoopTracer:
    def span(self, name: str, service: str | None = None, kind: str = "INTERNAL",
             attributes: Mapping[str, Any] | None = None) -> _NoopSpan:
        return _NoopSpan()


class _WallClock:
    def now_ms(self) -> float:
        return time.time() * 1000.0

    def sleep_ms(self, ms: float) -> None:
        time.sleep(ms / 1000.0)


class _NoopMeter:
    def add(self, name: str, delta: float) -> None:
        pass


_tracer: Any = _NoopTracer()
_clock: Any = _WallClock()
_meter: Any = _NoopMeter()


def install(tracer: Any = None, clock: Any = None, meter: Any = None) -> None:
    """Route spans, time and metrics to the host process's implementations."""
    global _tracer, _clock, _meter
    if tracer is not None:
        _tracer = tracer
    if clock is not None:
        _clock = clock
    if meter is not None:
        _meter = meter


def span(name: str, service: str | None = None, kind: str = "INTERNAL",
         attributes: Mapping[str, Any] | None = None) -> Any:
    """A context manager for one unit of work; child spans inherit the service."""
    return _tracer.span(name, service=service, kind=kind, attributes=attributes)


def now_ms() -> float:
    return _clock.now_ms()


def sleep_ms(ms: float) -> None:
    _clock.sleep_ms(ms)


def iso(ms: float) -> str:
    """A time in epoch milliseconds as ISO 8601 UTC, the format every table stores."""
    whole = int(ms)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole // 1000)) + ".%03dZ" % (whole % 1000)


def now_iso() -> str:
    return iso(now_ms())


def add(name: str, delta: float) -> None:
    """Add to an up/down counter such as db.pool.in_use."""
    _meter.add(name, delta)
