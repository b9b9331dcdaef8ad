"""The batch writer: one thread that moves spooled requests into the workspace, a batch at a time.

DuckDB lets one process write a workspace file and the app and the CLI open it for every
action, so the workspace is opened for each round of batches and closed right after it, as
``live.follow`` does: between rounds the app and ``crashlens`` work as usual. Under sustained
load a round holds the workspace at most ``hold_s`` seconds (writing what keeps arriving), and
once it was held ``max_duty`` of the last ``window_s`` seconds the writer lets go for ``yield_s``
seconds, so another process's open gets in. Under a backlog, labelling (templates, incidents)
and jobs each take a round of their own rather than the end of a write round that used its hold
time. A round that finds the workspace busy leaves the requests in the spool and tries again
shortly.

Requests that arrive while a round is being written wait for the next one, so under load the
batches grow by themselves; ``max_batch_bytes`` bounds one batch. Each request can be waited on
(:meth:`Batcher.expect`) to answer its client with what ingest made of its items.

Heavy work a request asks for (the offline RCA of an incident an alert opened) is a job
(:meth:`Batcher.submit`): the same thread runs it in a round, after the records that were
waiting are written (the analysis sees them), while the round holds the workspace; what it
does next off the machine (posting to Slack) runs after the workspace is let go.

>>> # b = Batcher(settings, spool, lock); b.start(); fut = b.expect(rid); spool.put(rid, ...); b.wake()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from ..config import Settings
from ..errors import CrashLensError, WorkspaceInUse
from ..signals.refresh import refresh_signals
from ..store import Workspace
from .otlp import SIGNALS
from .spool import RequestResult, Spool, SpoolBatch, ingest_batch

__all__ = ["Batcher", "BatcherStats", "wait_idle"]

log = logging.getLogger("crashlens.serve")
_MAX_TRIES = 3
_FIRST_BATCH_BYTES = 64 << 10  # before any write was timed: a small first batch (it also pays one-time costs)
_MIN_BATCH_BYTES = 64 << 10


@dataclass
class BatcherStats:
    """Counters since start, for /healthz and the benchmark."""

    rounds: int = 0
    batches: int = 0
    requests: int = 0
    loaded: int = 0
    rejected: int = 0
    busy_retries: int = 0
    yields: int = 0  # pauses that let another process have the workspace under sustained load
    set_aside: int = 0
    last_error: str = ""
    new_incidents: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "batches": self.batches, "requests": self.requests, "loaded": self.loaded,
                "rejected": self.rejected, "busy_retries": self.busy_retries, "yields": self.yields, "set_aside": self.set_aside,
                "last_error": self.last_error, "new_incidents": self.new_incidents[-20:]}


class Batcher:
    """Drain ``spool`` into ``settings.workspace``; ``workspace_lock`` is held while the workspace is open.

    The server's REST handlers take the same lock, so within the process one connection at a
    time holds the file (DuckDB refuses a second one); other processes see it free between rounds.
    """

    def __init__(self, settings: Settings, spool: Spool, workspace_lock: threading.Lock, *,
                 max_batch_bytes: int = 32 << 20, busy_retry_s: float = 0.5, detect: bool = True,
                 signals_every_s: float = 2.0, hold_s: float = 2.0, yield_s: float = 0.8, window_s: float = 3.0,
                 max_duty: float = 0.75) -> None:
        self.settings = settings
        self.spool = spool
        self.lock = workspace_lock
        self.max_batch_bytes = max_batch_bytes
        self.busy_retry_s = busy_retry_s
        self.detect = detect
        self.signals_every_s = signals_every_s
        self.hold_s = hold_s
        self.yield_s = yield_s
        self.window_s = window_s
        self.max_duty = max_duty
        self._held: deque[tuple[float, float]] = deque()  # (opened, closed) of recent rounds
        self._labels_due = False
        self._last_signals = time.monotonic()
        self._bytes_per_s: float | None = None  # the recent write rate (batch_cap)
        self._signals_s = 0.0  # how long the last labelling took, and the last job (what _work expects next)
        self._job_s = 0.0
        self._job_turn = False  # a job may take a backlogged round once a write round ran since the last one
        self.stats = BatcherStats()
        self._waiters: dict[str, Future] = {}
        self._waiters_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[str, int] = {}
        self._jobs: deque[tuple[Callable[[Workspace], Any], Callable[[Any], None] | None, Future]] = deque()
        self._after: list[tuple[Callable[[Any], None], Future, Any]] = []
        self._leftover = spool.recover()  # batches a crash left: written before anything new
        self.pending_requests = len(spool.pending())
        self.pending_bytes = sum(i.size for i in spool.pending())

    # ------------------------------------------------------------ callers
    def expect(self, request_id: str) -> Future:
        """A future for the result of a request about to be spooled (register before ``put``)."""
        fut: Future = Future()
        with self._waiters_lock:
            self._waiters[request_id] = fut
        return fut

    def forget(self, request_id: str) -> None:
        with self._waiters_lock:
            self._waiters.pop(request_id, None)

    def accepted(self, size: int) -> None:
        with self._waiters_lock:
            self.pending_requests += 1
            self.pending_bytes += size
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def submit(self, work: Callable[[Workspace], Any], after: Callable[[Any], None] | None = None) -> Future:
        """Run ``work(ws)`` in the writer thread while it holds the workspace (after what waits in the
        spool is written), then ``after(result)`` once the workspace is let go; the future has the result."""
        fut: Future = Future()
        self._jobs.append((work, after, fut))
        self._wake.set()
        return fut

    def mark_written(self) -> None:
        """A job (a file uploaded whole) wrote logs or spans: label them in the writer's labelling step.

        Called from a job, in the writer thread, like the flag a written batch sets.
        """
        self._labels_due = True

    @property
    def jobs_waiting(self) -> int:
        return len(self._jobs)

    # ------------------------------------------------------------ the thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="crashlens-batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the round in flight (and the requests already spooled), then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                state = self.run_round()
            except Exception as exc:  # a bug must not end the thread: the spool keeps the data
                log.exception("batch round failed")
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                state = "busy"
            if stopping and state != "backlog":  # all written; or the workspace is busy: the spool waits for the next start
                return
            if state == "backlog":
                continue  # run_round pauses first if the workspace was held long enough
            self._wake.wait(self.busy_retry_s if state == "busy" else 1.0)
            self._wake.clear()

    def run_round(self) -> str:
        """Write what waits, in batches, holding the workspace at most ``hold_s`` seconds.

        Returns ``"idle"`` (all written), ``"backlog"`` (more waits: the hold time ran out) or
        ``"busy"`` (another process holds the workspace: try again later).
        """
        if not self._leftover and not self.spool.pending() and not self._labels_due and not self._jobs:
            return "idle"
        self._let_others_in()
        opened = time.monotonic()
        try:
            return self._round(opened)
        finally:
            self._held.append((opened, time.monotonic()))
            self._run_after()

    def held_fraction(self, now: float | None = None) -> float:
        """The share of the last ``window_s`` seconds during which this server held the workspace."""
        now = time.monotonic() if now is None else now
        start = now - self.window_s
        while self._held and self._held[0][1] < start:
            self._held.popleft()
        return sum(min(end, now) - max(begin, start) for begin, end in self._held) / self.window_s

    def _let_others_in(self) -> None:
        """Pause ``yield_s`` seconds when the workspace was held more than ``max_duty`` of the recent past.

        Under sustained load one round follows another within milliseconds, and a process
        waiting for the workspace (the app, ``crashlens``) would rarely hit a gap. Its
        Workspace.open retries at most 0.5 s apart, so a pause longer than that (0.8 s by
        default: margin for a loaded machine) is certain to let it in. Moderate load leaves
        gaps of its own and is not slowed.
        """
        if self.held_fraction() >= self.max_duty:
            self.stats.yields += 1
            self._stop.wait(self.yield_s)

    def _round(self, opened: float) -> str:
        with self.lock:
            try:
                ws = Workspace.open(self.settings.workspace, lock_timeout=self.settings.lock_timeout_s)
            except WorkspaceInUse as exc:
                self.stats.busy_retries += 1
                self.stats.last_error = exc.one_line()
                return "busy"
            with ws:
                self.stats.rounds += 1
                return self._work(ws, opened + self.hold_s)

    def _work(self, ws: Workspace, until: float) -> str:
        """What one round does while it holds the workspace, within the hold time ``until``.

        Every step (a batch, labelling, a job) is started only when its expected duration (the
        last one measured) fits what is left of the hold time, except the round's first step,
        so that each round makes progress. Under a backlog, labelling and jobs take rounds of
        their own: labelling at most every ``signals_every_s`` seconds, one job per write round,
        so neither starves and neither is added to a write round that used its hold time.
        """
        if self._backlog():
            if self._labels_due and time.monotonic() - self._last_signals >= self.signals_every_s:
                self._refresh_signals(ws)
                return "backlog"
            if self._jobs and self._job_turn:
                self._job_turn = False
                self._run_jobs(ws, 1)
                return "backlog"
        busy = False  # a step ran in this round
        while True:
            busy |= self._write_waiting(ws, until, busy)
            self._job_turn = True
            if self._backlog():
                now = time.monotonic()
                # the duty counts this open too: a long round cannot outlast another process's lock timeout
                held = self.held_fraction(now) + (now - max(until - self.hold_s, now - self.window_s)) / self.window_s
                if now >= until or held >= self.max_duty:
                    return "backlog"
                continue
            # drained: label, then the jobs (they see every record that waited)
            if self._labels_due:
                if busy and not self._fits(self._signals_s, until):
                    return "backlog"  # the next round, after others had their turn
                self._refresh_signals(ws)
                busy = True
            while self._jobs:
                if busy and not self._fits(self._job_s, until):
                    return "backlog"
                self._run_jobs(ws, 1)
                busy = True
            return "idle"

    @staticmethod
    def _fits(seconds: float, until: float) -> bool:
        return time.monotonic() + seconds <= until

    def _backlog(self) -> bool:
        return bool(self._leftover or self.spool.pending())

    def _write_waiting(self, ws: Workspace, until: float, busy: bool) -> bool:
        """One pass: batches a crash or a bug left, then waiting requests, one batch per group.

        A batch is started only while its expected write time (its bytes at the measured rate)
        fits before ``until``, unless it is the round's first step: under a backlog one pass over
        every waiting group could otherwise hold the workspace longer than another process
        waits. True when something was written.
        """
        wrote = False
        for batch in list(self._leftover):  # written first, whatever the time: they are the oldest
            self._leftover.remove(batch)
            self._labels_due |= self._write_or_keep(ws, batch)
            busy = wrote = True
        for signal in SIGNALS:
            for items in self._groups(signal):
                size = sum(i.size for i in items)
                if busy and not self._fits(size / self._bytes_per_s if self._bytes_per_s else 0.0, until):
                    return wrote
                batch = self.spool.make_batch(signal, items)
                started = time.monotonic()
                self._labels_due |= self._write_or_keep(ws, batch)
                self._measure(size, time.monotonic() - started)
                busy = wrote = True
                with self._waiters_lock:  # counted as waiting until written (or kept for a retry)
                    self.pending_requests -= len(items)
                    self.pending_bytes -= size
        return wrote

    def _refresh_signals(self, ws: Workspace) -> None:
        # Labelling is work per distinct template, cheaper in bulk: while more requests wait, they
        # are written first, for at most signals_every_s seconds of staleness (see _work).
        self._labels_due = False
        started = self._last_signals = time.monotonic()
        try:
            signals = refresh_signals(ws, self.settings, detect=self.detect)
            if signals.detection is not None:
                self.stats.new_incidents += [i.id for i in signals.detection.created]
        except CrashLensError as exc:  # the records are committed; labelling catches up next time
            self.stats.last_error = exc.one_line()
        finally:
            self._signals_s = time.monotonic() - started

    def _run_jobs(self, ws: Workspace, count: int) -> None:
        for _ in range(count):
            if not self._jobs:
                return
            work, after, fut = self._jobs.popleft()
            started = time.monotonic()
            try:
                result = work(ws)
            except Exception as exc:  # said on the future and in /healthz; the next job still runs
                log.exception("job failed")
                self.stats.last_error = exc.one_line() if isinstance(exc, CrashLensError) else f"{type(exc).__name__}: {exc}"
                fut.set_exception(exc)
                continue
            finally:
                self._job_s = time.monotonic() - started
            if after is None:
                fut.set_result(result)
            else:
                self._after.append((after, fut, result))

    def _run_after(self) -> None:
        """What jobs do once the workspace is let go (they talk to the network)."""
        todo, self._after = self._after, []
        for after, fut, result in todo:
            try:
                after(result)
            except Exception as exc:
                log.exception("after-job step failed")
                self.stats.last_error = exc.one_line() if isinstance(exc, CrashLensError) else f"{type(exc).__name__}: {exc}"
            finally:
                fut.set_result(result)

    def _groups(self, signal: str) -> list[list[Any]]:
        groups: list[list[Any]] = []
        size = 0
        cap = self.batch_cap()
        for item in self.spool.pending(signal):
            if not groups or size + item.size > cap:
                groups.append([])
                size = 0
            groups[-1].append(item)
            size += item.size
        return groups

    def batch_cap(self) -> int:
        """The bytes one batch may hold: what the measured write rate writes in half the hold time.

        A round writes at least one batch, so a batch that takes longer than the hold time to
        write would keep the workspace past it, and past another process's lock timeout (on a
        loaded machine ingest is several times slower than on a quiet one). Write time grows
        with a batch's bytes, so the cap follows the recent rate; ``max_batch_bytes`` bounds it
        and a floor keeps batches large enough that the fixed cost per batch does not dominate.
        """
        if self._bytes_per_s is None:
            return min(self.max_batch_bytes, _FIRST_BATCH_BYTES)
        return int(min(self.max_batch_bytes, max(_MIN_BATCH_BYTES, self._bytes_per_s * self.hold_s / 2)))

    def _measure(self, size: int, seconds: float) -> None:
        rate = size / max(seconds, 1e-3)
        # a moving average: one slow batch (a checkpoint, a first open) does not halve the cap at once
        self._bytes_per_s = rate if self._bytes_per_s is None else 0.7 * self._bytes_per_s + 0.3 * rate

    def _write_or_keep(self, ws: Workspace, batch: SpoolBatch) -> bool:
        """``_write``, but a batch that hits a bug stays on disk and is tried again next round.

        Three failures in a row set it aside under ``spool/failed/`` (kept, not retried forever):
        the cause is a bug to report, and the requests after it must not wait behind it.
        """
        try:
            return self._write(ws, batch)
        except Exception as exc:
            failures = self._failures.get(batch.id, 0) + 1
            self._failures[batch.id] = failures
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("batch %s failed (%d of %d tries)", batch.id, failures, _MAX_TRIES)
            if failures >= _MAX_TRIES:
                self.spool.set_aside(batch, self.stats.last_error)
                self.stats.set_aside += 1
            else:
                self._leftover.append(batch)
            return False

    def _write(self, ws: Workspace, batch: SpoolBatch) -> bool:
        """Ingest one batch; answer its waiting requests; True when logs or spans were added."""
        try:
            report, results = ingest_batch(ws, batch, self.settings)
        except CrashLensError as exc:
            # Refused whole (cannot happen for documents the receiver decoded): kept, said, not retried forever.
            self.spool.set_aside(batch, exc.one_line())
            self.stats.set_aside += 1
            self.stats.last_error = exc.one_line()
            results = [RequestResult(rid, batch.signal, items=n, rejected=n, errors=[exc.one_line()])
                       for rid, n in zip(batch.requests, batch.items)]
            self._answer(results)
            return False
        self.spool.done(batch)
        self.stats.batches += 1
        self.stats.requests += len(batch.requests)
        self.stats.loaded += report.loaded
        self.stats.rejected += report.rejected
        self._answer(results)
        return report.loaded > 0 and batch.signal in ("logs", "traces")

    def _answer(self, results: list[RequestResult]) -> None:
        with self._waiters_lock:
            futures = [(self._waiters.pop(r.request_id, None), r) for r in results]
        for fut, result in futures:
            if fut is not None and not fut.done():
                fut.set_result(result)

    @property
    def signals_due(self) -> bool:
        """Records were written whose templates and incidents are not refreshed yet (soon: a backlog goes first)."""
        return self._labels_due

    def idle(self) -> bool:
        """Nothing waits in the spool (for tests and the benchmark: everything accepted is written)."""
        return not self._leftover and self.pending_requests <= 0 and not self.spool.pending() and not self._jobs


def wait_idle(batcher: Batcher, timeout: float) -> bool:
    """Wait until everything spooled is written (True), or ``timeout`` seconds (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if batcher.idle():
            return True
        time.sleep(0.02)
    return batcher.idle()
