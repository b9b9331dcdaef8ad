"""Ground truth: where a simulated incident really comes from, read off the run.

Nothing here is hard-coded per scenario: the faulting file, function and line
come from the genuine traceback of the first failure (or from the ``code.*``
attributes of the slowest query / the stale tool call), and the commit from
``git blame`` on the version that was running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from .loader import DEPLOY_PREFIX
from .runtime import SpanRecord

__all__ = ["RootCause", "EtaOutcome", "InjectedSite", "InjectedCall", "last_frame", "from_exception",
           "from_slowest_query", "from_stale_tool_call", "worst_eta_outcome", "first_injected_call", "from_injected_call"]

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)', re.MULTILINE)


@dataclass(frozen=True)
class RootCause:
    service: str
    file: str  # repository-relative, e.g. shop/payments.py
    function: str
    line: int
    host: str
    version: str
    trace_id: str

    def as_dict(self, *, commit: str | None, host: str | None, version: str | None) -> dict[str, Any]:
        return {"service": self.service, "file": self.file, "function": self.function,
                "line": self.line, "commit": commit, "host": host, "version": version}


@dataclass(frozen=True)
class EtaOutcome:
    at_us: int
    order_id: str
    predicted_eta_us: int
    true_eta_us: int
    trace_id: str
    carrier: str
    tracking: str

    @property
    def delta_hours(self) -> float:
        return (self.true_eta_us - self.predicted_eta_us) / 3_600_000_000


def last_frame(stacktrace: str) -> tuple[str, int, str]:
    """(file, line, function) of the frame that raised: the last frame printed.

    In a chained traceback the final block is the exception that was logged, and
    its last frame is where that exception was raised.
    """
    frames = list(_FRAME.finditer(stacktrace))
    if not frames:
        raise ValueError("no Python frames in the stack trace")
    match = frames[-1]
    return match.group("file"), int(match.group("line")), match.group("function")


def _repo_path(path: str) -> str:
    return path[len(DEPLOY_PREFIX):] if path.startswith(DEPLOY_PREFIX) else path


def _depth(span: SpanRecord, by_id: dict[str, SpanRecord]) -> int:
    depth = 0
    while span.parent_id is not None and span.parent_id in by_id:
        span = by_id[span.parent_id]
        depth += 1
    return depth


def from_exception(spans: list[SpanRecord], exception_type: str) -> RootCause:
    """The innermost span of the first trace that failed with exception_type."""
    def matching(span: SpanRecord) -> dict[str, Any] | None:
        for event in span.events:
            if event["attributes"]["exception.type"] == exception_type:
                return event
        return None

    failed = [s for s in spans if matching(s) is not None]
    if not failed:
        raise RuntimeError(f"the scenario raised no {exception_type}")
    first = min(failed, key=lambda s: (s.start_us, s.span_id))
    by_id = {s.span_id: s for s in spans if s.trace_id == first.trace_id}
    innermost = max((s for s in failed if s.trace_id == first.trace_id),
                    key=lambda s: (_depth(s, by_id), s.start_us))
    event = matching(innermost)
    assert event is not None
    path, line, function = last_frame(event["attributes"]["exception.stacktrace"])
    return RootCause(innermost.service, _repo_path(path), function, line, innermost.host,
                     innermost.version, innermost.trace_id)


def _from_code_attributes(span: SpanRecord) -> RootCause:
    attrs = span.attributes
    return RootCause(span.service, _repo_path(attrs["code.filepath"]), attrs["code.function"],
                     int(attrs["code.lineno"]), span.host, span.version, span.trace_id)


def from_slowest_query(spans: Iterable[SpanRecord], window: tuple[int, int]) -> RootCause:
    """The statement behind the slowest database call in the fault window."""
    queries = [s for s in spans if "db.system" in s.attributes and window[0] <= s.start_us < window[1]]
    if not queries:
        raise RuntimeError("the scenario issued no database queries in the fault window")
    slowest = max(queries, key=lambda s: (s.end_us - s.start_us, s.span_id))
    return _from_code_attributes(slowest)


def from_stale_tool_call(spans: Iterable[SpanRecord], outcome: EtaOutcome, peer: str) -> RootCause:
    """The outbound call to peer inside the trace of the worst ETA answer."""
    for span in spans:
        if span.trace_id == outcome.trace_id and span.attributes.get("peer.service") == peer:
            return _from_code_attributes(span)
    raise RuntimeError(f"no {peer} call in trace {outcome.trace_id}")


def worst_eta_outcome(outcomes: Iterable[EtaOutcome], window: tuple[int, int]) -> EtaOutcome:
    """The answer in the window that missed the real arrival time by the most."""
    inside = [o for o in outcomes if window[0] <= o.at_us < window[1]]
    if not inside:
        raise RuntimeError("the scenario answered no ETA questions in the fault window")
    return max(inside, key=lambda o: (o.true_eta_us - o.predicted_eta_us, -o.at_us))


@dataclass(frozen=True)
class InjectedSite:
    """The method a return-value fault replaced: where its code is."""

    service: str
    file: str  # deployed path, /app/shop/...
    function: str
    line: int  # the def line


@dataclass(frozen=True)
class InjectedCall:
    """One call the fault answered instead of the method's body."""

    at_us: int
    site: InjectedSite
    host: str
    version: str
    trace_id: str
    str_args: tuple[str, ...]


def first_injected_call(calls: Iterable[InjectedCall], window: tuple[int, int]) -> InjectedCall:
    inside = [c for c in calls if window[0] <= c.at_us < window[1]]
    if not inside:
        raise RuntimeError("the injected method was never called in the fault window")
    return min(inside, key=lambda c: (c.at_us, c.trace_id))


def from_injected_call(call: InjectedCall) -> RootCause:
    """The replaced method itself: its service, file, function and def line."""
    site = call.site
    return RootCause(site.service, _repo_path(site.file), site.function, site.line, call.host, call.version, call.trace_id)
