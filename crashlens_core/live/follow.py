"""Live mode: follow growing log files, ingest what they grow by, keep signals current, tell Slack.

An orchestrator over the layers below it: ``ingest.tail`` reads the files like ``tail -F`` and
ingests each stretch of appended lines as a normal batch; here appended lines gather until
``interval`` seconds passed or ``batch_lines`` lines are waiting, then each flush ingests them and
runs :func:`~crashlens_core.signals.refresh.refresh_signals` so templates, fingerprints and
incidents follow. A new incident can be posted to Slack (``crashlens_core.slack``).

DuckDB allows one writing process per file, and the app opens the workspace for every script
run; so the workspace is opened for each flush and closed right after it. A flush that finds
the workspace busy keeps its lines and tries again at the next step.

Where each file was committed to is kept in ``follow-state.json`` in the workspace, so a
restarted follower goes on where the last one stopped; the batches' digests (``ingest.tail``)
keep lines committed just before a crash from being added twice.

>>> # f = Follower(["app.log"], settings)     # crashlens ingest logs --follow app.log
>>> # f.poll(); batch = f.flush()            # one step, as the tests drive it
>>> # f.run(print)                           # until Ctrl-C; the batch in flight commits or rolls back whole
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import Settings
from ..errors import ConfigError, CrashLensError, InputError, WorkspaceInUse
from ..ingest.driver import formats_for
from ..ingest.tail import Chunk, TailedFile, check_followable, chunk_format, ingest_stretch, stretches
from ..models import IngestError, IngestReport, Incident
from ..signals.refresh import refresh_signals
from ..slack import post_slack
from ..store import Workspace

__all__ = ["FileBatch", "FollowBatch", "FollowSummary", "Follower", "DOCKER_PREFIX", "STATE_FILE",
           "docker_unavailable", "incident_summary"]

DOCKER_PREFIX = "docker:"
STATE_FILE = "follow-state.json"


@dataclass
class FileBatch:
    """One ingest batch of a flush: a stretch of lines of one file."""

    name: str
    first_line: int
    last_line: int
    report: IngestReport

    def to_json(self) -> dict[str, Any]:
        return {**self.report.to_json(), "first_line": self.first_line, "last_line": self.last_line}


@dataclass
class FollowBatch:
    """What one flush did: the ingest batches, the signals refresh, the incidents it opened."""

    files: list[FileBatch] = field(default_factory=list)
    signals: Any = None  # SignalsReport
    new_incidents: list[Incident] = field(default_factory=list)
    notified: int = 0
    notes: list[str] = field(default_factory=list)
    waiting: bool = False  # the workspace was busy: the lines are kept for the next step

    @property
    def loaded(self) -> int:
        return sum(f.report.loaded for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.report.rejected for f in self.files)

    def summary(self) -> str:
        """One line for the terminal, e.g. ``app.log 101–250: 150 loaded, 0 rejected; 1 new incident: …``."""
        if self.waiting or not self.files:
            return "; ".join(self.notes) or "no new lines"
        parts = []
        for f in self.files:
            r = f.report
            what = "skipped (already ingested)" if r.skipped else f"{r.loaded:,} loaded, {r.rejected:,} rejected"
            if r.note == "lines not ingested" and r.errors:
                what = f"not ingested: {r.errors[0].reason}"
            parts.append(f"{f.name} {f.first_line:,}–{f.last_line:,}: {what}")
        text = "; ".join(parts) or "no new lines"
        if self.signals is not None:
            n = self.signals.labels.templates_new
            text += f"; {n} new template{'' if n == 1 else 's'}"
        if self.new_incidents:
            text += f"; {len(self.new_incidents)} new incident{'s' if len(self.new_incidents) > 1 else ''}: " + \
                ", ".join(f"{i.severity} {i.title}" for i in self.new_incidents)
        if self.notified:
            text += f" (posted to Slack: {self.notified})"
        if self.notes:
            text += " [" + "; ".join(self.notes) + "]"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"files": [f.to_json() for f in self.files], "loaded": self.loaded, "rejected": self.rejected,
                "new_incidents": [{"id": i.id, "title": i.title, "severity": i.severity, "services": i.services}
                                  for i in self.new_incidents],
                "notified": self.notified, "notes": self.notes, "waiting": self.waiting}


@dataclass
class FollowSummary:
    """How a follow run ended."""

    batches: int = 0
    loaded: int = 0
    rejected: int = 0
    interrupted: bool = False
    rolled_back: bool = False  # Ctrl-C came during a flush: that batch is not in the workspace

    def summary(self) -> str:
        end = "stopped" if self.interrupted else "done"
        text = f"{end}: {self.batches} batches, {self.loaded:,} lines loaded, {self.rejected:,} rejected"
        if self.rolled_back:
            text += "; the batch in flight was rolled back (it is read again next time)"
        return text


def incident_summary(inc: Incident, files: list[str]) -> dict[str, Any]:
    """The Slack summary of a newly detected incident (``slack.post_slack`` redacts and escapes it)."""
    window = f"{inc.window_start:%Y-%m-%d %H:%M:%S}–{inc.window_end:%H:%M:%S} UTC" if inc.window_start and inc.window_end else "no window"
    return {
        "title": f"New incident ({inc.severity}): {inc.title}",
        "root_cause": f"not analysed yet. Window {window}; services {', '.join(inc.services) or 'unknown'}; "
                      f"detected while following {', '.join(files)}. Incident id {inc.id}.",
        "confidence": "not analysed",
        "suspects": [{"service": s} for s in inc.services],
    }


# ---------------------------------------------------------------- the follower

class Follower:
    """Follow ``paths`` and ingest what they grow by into ``settings.workspace``.

    ``poll`` reads, ``flush`` ingests what was read, ``step`` does both when a batch is due,
    ``run`` steps until Ctrl-C. ``clock`` is injectable so tests decide when a batch is due.
    """

    def __init__(self, paths: list[str], settings: Settings, *, fmt: str = "auto", mapping: dict[str, str] | None = None,
                 defaults: dict[str, str] | None = None, interval: float | None = None, batch_lines: int | None = None,
                 from_end: bool = False, detect: bool = True, notify: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if fmt != "auto" and fmt not in formats_for("logs"):
            raise InputError(f"unknown logs format {fmt!r}", hint=f"use one of auto, {', '.join(formats_for('logs'))}")
        if fmt == "otlp":
            raise InputError("OTLP logs files are whole JSON documents and cannot be followed line by line",
                             hint="ingest them without --follow, or follow a JSON Lines export")
        if not paths:
            raise InputError("nothing to follow", hint="name one or more log files")
        for p in paths:
            if p.startswith(DOCKER_PREFIX) and not Path(p).exists():
                raise docker_unavailable(p[len(DOCKER_PREFIX):])
            check_followable(p)
        self.settings = settings
        self.folder = Path(settings.workspace)
        self.fmt = fmt
        self.mapping = mapping
        self.defaults = defaults or {}
        self.interval = settings.follow_interval_s if interval is None else float(interval)
        self.batch_lines = settings.follow_batch_lines if batch_lines is None else int(batch_lines)
        if self.interval <= 0 or self.batch_lines <= 0:
            raise InputError("--interval and the batch size must be positive", hint="e.g. --interval 2")
        self.detect = detect
        self.notify = notify and bool(settings.slack_webhook_url)
        self.clock = clock
        self._state = self._load_state()
        self.files = [TailedFile(p, from_end=from_end, resume=self._state.get(str(Path(p).resolve())))
                      for p in dict.fromkeys(paths)]
        self._formats: dict[str, str] = {}
        self._pending: list[Chunk] = []
        self._pending_since: float | None = None
        self._flushing = False

    # ------------------------------------------------------------ state
    def _load_state(self) -> dict[str, Any]:
        try:
            state = json.loads((self.folder / STATE_FILE).read_text())
            return state if isinstance(state, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, chunk: Chunk) -> None:
        self._state[chunk.key] = {"dev": chunk.ident[0], "ino": chunk.ident[1], "gen": chunk.ident[2],
                                  "offset": chunk.end, "line": chunk.first_line + chunk.lines, "head": chunk.head_digest}
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{STATE_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self._state, indent=1, sort_keys=True))
        tmp.replace(self.folder / STATE_FILE)

    # ------------------------------------------------------------ steps
    @property
    def pending_lines(self) -> int:
        return sum(c.lines for c in self._pending)

    def poll(self) -> int:
        """Read what every file grew by; returns how many complete lines are now waiting."""
        max_bytes = self.settings.ingest_block_mb << 20
        for f in self.files:
            got = f.read(max_bytes)
            if got and self._pending_since is None:
                self._pending_since = self.clock()
            self._pending += got
        return self.pending_lines

    def due(self) -> bool:
        if not self._pending:
            return False
        return self.pending_lines >= self.batch_lines or self.clock() - (self._pending_since or 0.0) >= self.interval

    def step(self) -> FollowBatch | None:
        """Poll, then flush if a batch is due (enough lines, or ``interval`` seconds since the first waiting line)."""
        self.poll()
        if self.due():
            return self.flush()
        notes = self._take_notes()
        return FollowBatch(notes=notes) if notes else None

    def _take_notes(self) -> list[str]:
        notes = [n for f in self.files for n in f.notes]
        for f in self.files:
            f.notes.clear()
        return notes

    def flush(self) -> FollowBatch | None:
        """Ingest every waiting line: one ingest batch per file stretch, then refresh signals, then notify."""
        batch = FollowBatch(notes=self._take_notes())
        if not self._pending:
            return batch if batch.notes else None
        try:
            ws = Workspace.open(self.folder, lock_timeout=self.settings.lock_timeout_s)
        except WorkspaceInUse as exc:
            batch.waiting = True
            batch.notes.append(f"{exc.message}; {self.pending_lines:,} lines wait for the next try")
            return batch
        with ws:
            self._flushing = True  # Ctrl-C now rolls the stretch being ingested back whole
            try:
                for group in stretches(self._pending):
                    fb = self._ingest(ws, group)
                    # committed: these lines are in the workspace, never to be read again
                    self._pending = self._pending[len(group):]
                    self._save_state(group[-1])
                    batch.files.append(fb)
            finally:
                self._flushing = False
            self._pending_since = None
            if any(f.report.loaded for f in batch.files):
                # Interrupted here, the lines stay committed and unlabelled: the next ingest labels them.
                batch.signals = refresh_signals(ws, self.settings, detect=self.detect)
                if batch.signals.detection is not None:
                    batch.new_incidents = list(batch.signals.detection.created)
        # Network after the workspace is closed: Slack's latency never holds the app's lock.
        if self.notify and batch.new_incidents:
            self._notify(batch)
        return batch

    def _notify(self, batch: FollowBatch) -> None:
        for inc in batch.new_incidents:
            try:
                post_slack(self.settings.slack_webhook_url, incident_summary(inc, [f.name for f in self.files]))
                batch.notified += 1
            except CrashLensError as exc:  # following goes on; the terminal says why Slack heard nothing
                batch.notes.append(f"Slack: {exc.one_line()}")

    def _format_of(self, chunk: Chunk) -> str:
        if self.fmt != "auto":
            return self.fmt
        # detected once per file: later stretches may start mid-way and look like something else
        if chunk.key not in self._formats:
            self._formats[chunk.key] = chunk_format(chunk)
        return self._formats[chunk.key]

    def _ingest(self, ws: Workspace, group: list[Chunk]) -> FileBatch:
        first, last = group[0], group[-1]
        fmt = self._format_of(first)
        lines = FileBatch(first.name, first.first_line, last.first_line + last.lines - 1,
                          IngestReport(path=first.name, format=fmt, kind="logs"))
        try:
            lines.report = ingest_stretch(ws, group, fmt, self.mapping, self.defaults, self.settings)
        except CrashLensError as exc:  # unusable as a whole (say, a CSV without its columns): said, then passed
            lines.report.errors = [IngestError(None, exc.one_line())]
            lines.report.note = "lines not ingested"
        return lines

    def run(self, on_batch: Callable[[FollowBatch], None] | None = None, *, stop: Callable[[], bool] | None = None,
            sleep: Callable[[float], None] = time.sleep) -> FollowSummary:
        """Step until ``stop()`` is true or Ctrl-C; then commit what was read, unless Ctrl-C hit a flush.

        A flush interrupted by Ctrl-C rolls back whole (the transaction); its lines stay
        uncommitted in the resume state, so the next run reads them again.
        """
        done = FollowSummary()

        def account(batch: FollowBatch | None) -> None:
            if batch is None:
                return
            if batch.files:
                done.batches += 1
                done.loaded += batch.loaded
                done.rejected += batch.rejected
            if on_batch is not None:
                on_batch(batch)

        poll_s = min(self.interval, 1.0)
        try:
            while not (stop and stop()):
                account(self.step())
                sleep(poll_s)
            account(self.flush())
        except KeyboardInterrupt:
            done.interrupted = True
            if self._flushing:
                done.rolled_back = True
            else:
                try:
                    self.poll()
                    account(self.flush())
                except KeyboardInterrupt:  # a second Ctrl-C: that flush rolled back whole
                    done.rolled_back = True
        finally:
            self.close()
        return done

    def close(self) -> None:
        for f in self.files:
            f.close()


def docker_unavailable(container: str) -> CrashLensError:
    """Why ``docker:CONTAINER`` cannot be followed here, as an error with the next step."""
    import importlib.util

    workaround = f"or follow a file instead: docker logs -f -t {container or 'CONTAINER'} >> {container or 'container'}.log"
    if importlib.util.find_spec("docker") is None:
        return ConfigError(f"cannot follow container {container!r}: the Docker SDK for Python is not installed and no Docker daemon is used",
                           hint=f"pip install docker, on a machine where a Docker daemon is reachable; {workaround}")
    return ConfigError(f"cannot follow container {container!r}: following containers directly is not built into this CrashLens",
                       hint=workaround)
