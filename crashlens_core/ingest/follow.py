"""Live mode: follow growing log files like ``tail -F`` and ingest what is appended.

Owns reading files that other programs are still writing: new bytes are read from where the
last read stopped, a last line without its newline is kept until the newline arrives, a
rotated file (renamed or removed, a new one at the path) is drained to its end before the new
file is read from its start, and a truncated file is read again from the start. Appended
lines gather until ``interval`` seconds passed or ``batch_lines`` lines are waiting, then go
into the workspace as normal ingest batches (one per file and stretch of lines, one
transaction each, the same parsers, per-line rejects with the lines' real numbers in the
file), followed by :func:`~crashlens_core.signals.refresh.refresh_signals` so templates,
fingerprints and incidents follow. A new incident can be posted to Slack.

DuckDB allows one writing process per file, and the app opens the workspace for every script
run; so the workspace is opened for each flush and closed right after it. A flush that finds
the workspace busy keeps its lines and tries again at the next step.

Where each file was committed to is kept in ``follow-state.json`` in the workspace, so a
restarted follower goes on where the last one stopped. Batches carry a digest of the file
identity, the byte offset and the bytes, so lines committed just before a crash (and before
the state was saved) are recognised and not added twice.

>>> # f = Follower(["app.log"], settings)     # crashlens ingest logs --follow app.log
>>> # f.poll(); batch = f.flush()            # one step, as the tests drive it
>>> # f.run(print)                           # until Ctrl-C; the batch in flight commits or rolls back whole
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config import Settings
from ..errors import ConfigError, CrashLensError, InputError, WorkspaceInUse
from ..models import IngestError, IngestReport, Incident
from ..store import Workspace
from .driver import formats_for, ingest_rows, log_times
from .lines import arrow_lines
from .source import Source

__all__ = ["Chunk", "TailedFile", "FileBatch", "FollowBatch", "FollowSummary", "Follower", "DOCKER_PREFIX", "STATE_FILE",
           "docker_unavailable", "incident_summary"]

DOCKER_PREFIX = "docker:"
STATE_FILE = "follow-state.json"
_HEAD_BYTES = 4096          # the start of a file that identifies it when resuming (inode numbers are reused)
_MAX_PARTIAL_BYTES = 8 << 20  # a "line" this long without a newline is taken as it is


@dataclass
class Chunk:
    """Complete lines read from one file: ``data`` ends with a newline, its first line is ``first_line``."""

    name: str            # the path as the user gave it (what reports and source_file show)
    key: str             # the absolute path (the resume state's key)
    ident: tuple[int, int, int]  # (device, inode, truncation generation) of the file read
    start: int           # byte offset of data in the file
    first_line: int
    data: bytes
    header: bytes = b""  # the file's first line (CSV needs it for every stretch)
    head_digest: str = ""  # sha256 of the file's first bytes up to min(end, 4 KiB)

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    @property
    def lines(self) -> int:
        return self.data.count(b"\n")


class TailedFile:
    """One followed path, read like ``tail -F``: rotation, truncation and partial lines handled."""

    def __init__(self, path: str, *, from_end: bool = False, resume: dict[str, Any] | None = None) -> None:
        self.name = str(path)
        self.key = str(Path(path).resolve())
        self.fh: io.BufferedReader | None = None
        self.ident: tuple[int, int, int] = (0, 0, 0)
        self.offset = 0       # bytes of complete lines read so far
        self.line = 1         # number of the next complete line
        self.partial = b""    # the last line, still waiting for its newline
        self.header = b""     # the file's first line
        self.head = b""       # the file's first bytes (up to 4 KiB)
        self.notes: list[str] = []
        self._from_end = from_end
        self._resume = resume
        self._missing_said = False

    # ------------------------------------------------------------ opening
    def _open(self, st: os.stat_result) -> None:
        self.fh = open(self.key, "rb")  # noqa: SIM115 — kept open across polls, closed on rotation
        gen = self.ident[2] + 1 if self.ident[:2] == (st.st_dev, st.st_ino) else 0
        self.ident = (st.st_dev, st.st_ino, gen)
        self.offset, self.line, self.partial = 0, 1, b""
        self.head = os.pread(self.fh.fileno(), _HEAD_BYTES, 0)
        self.header = self.head.split(b"\n", 1)[0] + b"\n" if b"\n" in self.head else b""
        if not (self._resume and self._resume_at(st, self._resume)) and self._from_end:
            self._skip_to_end(st.st_size)
        self._resume, self._from_end = None, False  # both apply to the file found at start only

    def _resume_at(self, st: os.stat_result, state: dict[str, Any]) -> bool:
        offset = int(state.get("offset", 0))
        same = (state.get("dev"), state.get("ino")) == (st.st_dev, st.st_ino) and 0 < offset <= st.st_size
        if not same or hashlib.sha256(self.head[:offset]).hexdigest() != state.get("head"):
            self.notes.append(f"{self.name}: not the file followed before, reading it from the start")
            return False
        assert self.fh is not None
        self.ident = (st.st_dev, st.st_ino, int(state.get("gen", 0)))
        self.offset, self.line = offset, int(state.get("line", 1))
        self.fh.seek(offset)
        self.notes.append(f"{self.name}: resuming at line {self.line:,}")
        return True

    def _skip_to_end(self, size: int) -> None:
        """Start after the last complete line (``tail -n 0``), counting lines so numbers stay true."""
        assert self.fh is not None
        newlines, last_nl, pos = 0, -1, 0
        while pos < size:
            block = self.fh.read(min(1 << 20, size - pos))
            if not block:
                break
            newlines += block.count(b"\n")
            nl = block.rfind(b"\n")
            if nl >= 0:
                last_nl = pos + nl
            pos += len(block)
        self.offset, self.line = last_nl + 1, newlines + 1
        self.fh.seek(self.offset)

    # ------------------------------------------------------------ reading
    def read(self, max_bytes: int) -> list[Chunk]:
        """Complete lines appended since the last read (about ``max_bytes`` at most per file)."""
        try:
            st: os.stat_result | None = os.stat(self.key)
        except FileNotFoundError:
            st = None
        chunks: list[Chunk] = []
        if self.fh is not None:
            own = os.fstat(self.fh.fileno())
            if st is not None and (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
                if st.st_size < self.offset + len(self.partial):
                    chunks += self._take_partial()
                    self.notes.append(f"{self.name}: truncated, reading it again from the start")
                    self.fh.close()
                    self._open(st)
                return chunks + self._drain(max_bytes)[0]
            # Renamed or removed: what was written to the old file before the switch comes first.
            got, at_eof = self._drain(max_bytes)
            chunks += got
            if not at_eof:
                return chunks
            chunks += self._take_partial()
            self.fh.close()
            self.fh = None
            self.notes.append(f"{self.name}: rotated, following the new file" if st is not None
                              else f"{self.name}: removed, waiting for it to appear again")
        if st is None:
            if not self._missing_said and not chunks:
                self.notes.append(f"{self.name}: no such file yet, waiting for it")
            self._missing_said = True
            return chunks
        try:
            self._open(st)
        except OSError as exc:  # say it once and keep trying: permissions get fixed, files get recreated
            if not self._missing_said:
                self.notes.append(f"{self.name}: cannot read it ({exc.strerror}), waiting")
            self._missing_said = True
            return chunks
        return chunks + self._drain(max_bytes)[0]

    def _drain(self, max_bytes: int) -> tuple[list[Chunk], bool]:
        """The complete lines in the next ``max_bytes``, and whether the end of the file was reached."""
        assert self.fh is not None
        data = self.fh.read(max_bytes)
        at_eof = len(data) < max_bytes
        if not data:
            return [], at_eof
        buf = self.partial + data
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            self.partial = buf
            return (self._take_partial() if len(buf) > _MAX_PARTIAL_BYTES else []), at_eof
        self.partial = buf[cut:]
        return [self._chunk(buf[:cut])], at_eof

    def _take_partial(self) -> list[Chunk]:
        """The unfinished last line of a file its writer has left (rotated, truncated): a line of its own."""
        if not self.partial:
            return []
        data, self.partial = self.partial + b"\n", b""
        chunk = self._chunk(data)
        self.offset -= 1  # that newline was added here, not read from the file
        return [chunk]

    def _chunk(self, data: bytes) -> Chunk:
        end = self.offset + len(data)
        if len(self.head) < min(end, _HEAD_BYTES) and self.fh is not None:  # the file was shorter when opened
            self.head = os.pread(self.fh.fileno(), _HEAD_BYTES, 0)
        if self.line == 1:
            self.header = data.split(b"\n", 1)[0] + b"\n"
        chunk = Chunk(self.name, self.key, self.ident, self.offset, self.line, data, self.header,
                      hashlib.sha256(self.head[:end]).hexdigest())
        self.offset = end
        self.line += data.count(b"\n")
        return chunk

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


# ---------------------------------------------------------------- one flush

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
            _check_followable(p)
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
                for group in _stretches(self._pending):
                    fb = self._ingest(ws, group)
                    # committed: these lines are in the workspace, never to be read again
                    self._pending = self._pending[len(group):]
                    self._save_state(group[-1])
                    batch.files.append(fb)
            finally:
                self._flushing = False
            self._pending_since = None
            if any(f.report.loaded for f in batch.files):
                from ..signals.refresh import refresh_signals

                # Interrupted here, the lines stay committed and unlabelled: the next ingest labels them.
                batch.signals = refresh_signals(ws, self.settings, detect=self.detect)
                if batch.signals.detection is not None:
                    batch.new_incidents = list(batch.signals.detection.created)
        # Network after the workspace is closed: Slack's latency never holds the app's lock.
        if self.notify and batch.new_incidents:
            self._notify(batch)
        return batch

    def _notify(self, batch: FollowBatch) -> None:
        from ..slack import post_slack

        for inc in batch.new_incidents:
            try:
                post_slack(self.settings.slack_webhook_url, incident_summary(inc, [f.name for f in self.files]))
                batch.notified += 1
            except CrashLensError as exc:  # following goes on; the terminal says why Slack heard nothing
                batch.notes.append(f"Slack: {exc.one_line()}")

    def _format_of(self, chunk: Chunk) -> str:
        if self.fmt != "auto":
            return self.fmt
        fmt = self._formats.get(chunk.key)
        if fmt is None:
            from .logs import detect_log_format

            data = chunk.data if chunk.first_line == 1 else chunk.header + chunk.data
            fmt = detect_log_format(_BytesSource(path=Path(chunk.key), name=chunk.name, data=data))
            if fmt == "otlp":  # a pretty-printed document: the JSON Lines parser reports its lines
                fmt = "jsonl"
            self._formats[chunk.key] = fmt
        return fmt

    def _ingest(self, ws: Workspace, group: list[Chunk]) -> FileBatch:
        first, last = group[0], group[-1]
        data = b"".join(c.data for c in group)
        fmt = self._format_of(first)
        lines = FileBatch(first.name, first.first_line, last.first_line + last.lines - 1,
                          IngestReport(path=first.name, format=fmt, kind="logs"))
        try:
            lines.report = _ingest_stretch(ws, first, data, fmt, self.mapping, self.defaults, self.settings)
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


# ---------------------------------------------------------------- helpers

def _check_followable(path: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path} is a folder, not a file", hint="follow the files inside it")
    if p.exists():
        try:
            with open(p, "rb") as fh:
                magic = fh.read(2)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}", hint="check the file's permissions") from None
        if magic == b"\x1f\x8b":
            raise InputError(f"{path} is gzip-compressed and cannot be followed",
                             hint=f"ingest it without --follow: crashlens ingest logs {path}")


def _stretches(chunks: list[Chunk]) -> Iterator[list[Chunk]]:
    """Runs of chunks that continue each other in one file: each becomes one ingest batch."""
    group: list[Chunk] = []
    for c in chunks:
        if group and (c.key != group[-1].key or c.ident != group[-1].ident or c.start != group[-1].end):
            yield group
            group = []
        group.append(c)
    if group:
        yield group


@dataclass
class _BytesSource(Source):
    """A stretch of a followed file in memory, as the parsers see a file."""

    data: bytes = b""

    def open_binary(self) -> io.BytesIO:  # type: ignore[override]
        return io.BytesIO(self.data)

    def size(self) -> int:
        return len(self.data)


def _digest(first: Chunk, data: bytes) -> str:
    """The whole file from its start is the plain sha256 (so a file ingested before is skipped,
    as `crashlens ingest` would); a later stretch is keyed by file, position and bytes, so the
    same lines written again later are new lines, and a stretch committed twice is not."""
    if first.start == 0:
        return hashlib.sha256(data).hexdigest()
    h = hashlib.sha256(f"crashlens-follow\0{first.key}\0{first.ident}\0{first.start}\0".encode())
    h.update(data)
    return h.hexdigest()


def _ingest_stretch(ws: Workspace, first: Chunk, data: bytes, fmt: str, mapping: dict[str, str] | None,
                    defaults: dict[str, str], settings: Settings) -> IngestReport:
    """One stretch of lines → one ingest batch in one transaction, line numbers as in the file."""
    from .logs import SQL_LOG_FORMATS, parse_logs

    started = time.perf_counter()
    report = IngestReport(path=first.name, format=fmt, kind="logs")
    digest = _digest(first, data)
    earlier = ws.find_batch("logs", digest)
    if earlier is not None:
        report.skipped, report.batch_id = True, earlier["id"]
        report.note = f"same lines already ingested as batch {earlier['id']}; nothing added"
        return report
    cap = settings.max_reported_errors
    with log_times(ws, settings), ws.transaction():
        batch_id = ws.begin_batch("logs", first.name, fmt, digest, len(data))
        report.batch_id = batch_id
        if fmt in SQL_LOG_FORMATS:
            ctx: dict[str, Any] = {"batch_id": batch_id, "base_id": ws.log_id_base(), "source": first.name,
                                   "service": defaults.get("service"), "host": defaults.get("host")}
            result = ws.load_log_lines(arrow_lines(data, first.first_line), fmt, ctx, cap, True)
            report.loaded, report.rejected = result.loaded, result.rejected
            report.errors = [IngestError(line, reason) for line, reason in result.errors]
            if ctx.get("no_timestamps"):
                report.note = "no timestamps recognised at line starts: each line loaded as a record without time"
        else:
            # CSV needs its header row in every stretch: it goes first, and every line number shifts back by it
            with_header = fmt == "csv" and first.first_line > 1
            body = first.header + data if with_header else data
            shift = first.first_line - (2 if with_header else 1)
            path = Path(first.key) if Path(first.key).exists() else Path(os.curdir)  # syslog reads a year from its mtime
            rows = _shifted(parse_logs(_BytesSource(path=path, name=first.name, data=body), fmt, mapping), shift)
            ingest_rows(ws, "logs", rows, batch_id, first.name, report, cap, defaults, None)
        ws.finish_batch(batch_id, report.loaded, report.rejected, [(e.line, e.reason) for e in report.errors])
    ws.checkpoint()
    report.seconds = time.perf_counter() - started
    return report


def _shifted(rows: Iterator[dict | IngestError], shift: int) -> Iterator[dict | IngestError]:
    for item in rows:
        if isinstance(item, IngestError):
            yield IngestError(item.line + shift if item.line is not None else None, item.reason)
        else:
            if item.get("line") is not None:
                item["line"] += shift
            yield item


def docker_unavailable(container: str) -> CrashLensError:
    """Why ``docker:CONTAINER`` cannot be followed here, as an error with the next step."""
    import importlib.util

    workaround = f"or follow a file instead: docker logs -f -t {container or 'CONTAINER'} >> {container or 'container'}.log"
    if importlib.util.find_spec("docker") is None:
        return ConfigError(f"cannot follow container {container!r}: the Docker SDK for Python is not installed and no Docker daemon is used",
                           hint=f"pip install docker, on a machine where a Docker daemon is reachable; {workaround}")
    return ConfigError(f"cannot follow container {container!r}: following containers directly is not built into this CrashLens",
                       hint=workaround)
